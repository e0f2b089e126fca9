// Load generator, run as its own process so it does not share an event loop
// with workerd's host: `node bench/load.mjs SCENARIO_JSON SECONDS CONNECTIONS`.
// Prints one JSON line: req/s, latency p50/p99/mean (ms), non-2xx and errors.
//
// A scenario is {url, method, body?, key_id?, secret?}. With a key, every
// request is signed (signature v1) with a fresh nonce and the current time,
// and mutations carry a fresh Idempotency-Key, as a real partner would send.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import autocannon from 'autocannon';

const [scenarioJson, seconds, connections] = process.argv.slice(2);
const scenario = JSON.parse(scenarioJson);
const { pathname, search } = new URL(scenario.url);
const pathAndQuery = pathname + search;
const body = scenario.body ?? '';
const bodyHash = createHash('sha256').update(body).digest('hex');
const mutation = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(scenario.method);

function signedHeaders() {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString('hex');
  const canonical = ['v1', timestamp, scenario.method, pathAndQuery, nonce, bodyHash].join('\n');
  const signature = createHmac('sha256', scenario.secret).update(canonical).digest('hex');
  const headers = {
    'content-type': 'application/json',
    'x-partner-key': scenario.key_id,
    'x-partner-timestamp': timestamp,
    'x-partner-nonce': nonce,
    'x-partner-signature': `v1=${signature}`,
  };
  if (mutation) headers['idempotency-key'] = `bench-${nonce}`;
  return headers;
}

const options = { url: scenario.url, duration: Number(seconds), connections: Number(connections) };
if (scenario.key_id) {
  options.requests = [{
    method: scenario.method,
    body: body || undefined,
    setupRequest: (request) => ({ ...request, headers: { ...request.headers, ...signedHeaders() } }),
  }];
}
const result = await autocannon(options);
process.stdout.write(JSON.stringify({
  rps: result.requests.average,
  p50: result.latency.p50,
  mean: result.latency.average,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
}));
