// Load generator, run as its own process so it does not share an event loop
// with workerd's host: `node bench/load.mjs URL SECONDS CONNECTIONS`.
// Prints one JSON line: req/s, latency p50/p99 (ms), non-2xx and errors.
import autocannon from 'autocannon';

const [url, seconds, connections] = process.argv.slice(2);
const result = await autocannon({ url, duration: Number(seconds), connections: Number(connections) });
process.stdout.write(JSON.stringify({
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
}));
