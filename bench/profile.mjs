// Where a request's CPU time goes: the edge on workerd through Miniflare,
// with the V8 inspector open, sampled by the Profiler while load.mjs drives
// one scenario. Prints self time per function (wasm functions carry their
// Rust names) and per stage, and writes the raw .cpuprofile for DevTools.
//
//   bash scripts/edge.sh bench-profile [--seconds S] [--connections C] [--baseline] [me|credit|errors]
//
// With --baseline it profiles the plain JavaScript gate (bench/baseline/)
// under the same load instead, so both sides' costs can be set side by side.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { ROOT, errorCatalogue, load, mintKey, seedBaselineKey, startBaseline, startEdge } from './edge.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    baseline: { type: 'boolean', default: false },
  },
});
const scenarioName = positionals[0] ?? 'me';

const port = await new Promise((resolve) => {
  const server = createServer();
  server.listen(0, '127.0.0.1', () => { const { port: p } = server.address(); server.close(() => resolve(p)); });
});

// Stages, matched against function names in this order; the first match wins.
const STAGES = [
  ['HMAC and SHA-256', /sha2|hmac|digest|Sha256|compress256/i],
  ['AES (unsealing secrets)', /aes|gcm|ghash|polyval/i],
  ['JSON (serde)', /serde_json|serde::|serde_core|Deserialize|Serialize/],
  ['URL parsing', /url::|idna/],
  ['Durable Object storage (SQLite)', /sql|SqlStorage|exec/i],
  ['JS-Wasm boundary (wasm-bindgen)', /wasm_bindgen|__wbg|__wbindgen|js_sys|web_sys|worker::/],
  ['allocation', /dlmalloc|malloc|free|realloc|alloc::/],
  ['formatting', /fmt::|core::fmt|format/],
  ['other Rust', /partner_edge|::/],
];
const IDLE = /^\((idle|root)\)$/;

const side = values.baseline ? 'baseline' : 'edge';
/** The edge's error catalogue, for the baseline to serve (from an edge started for the purpose). */
async function catalogueForBaseline() {
  const edge = startEdge();
  try {
    return await errorCatalogue((await edge.mf.ready).toString().replace(/\/$/, ''));
  } finally {
    await edge.dispose();
  }
}

const { mf, dispose } = values.baseline
  ? startBaseline({ inspectorPort: port, bindings: { ERRORS_JSON: await catalogueForBaseline() } })
  : startEdge({ RATE_LIMIT_PUBLIC_API_PER_MIN: '100000000' }, { inspectorPort: port });
try {
  const base = (await mf.ready).toString().replace(/\/$/, '');
  let key;
  if (values.baseline) {
    key = { key_id: `pk_live_${randomBytes(12).toString('hex')}`, secret: `sk_live_${randomBytes(32).toString('hex')}` };
    await seedBaselineKey(mf, key, ['read', 'credit']);
  } else {
    key = await mintKey(base, ['read', 'credit']);
  }
  const scenario = {
    me: { url: `${base}/api/partner/me`, method: 'GET', key_id: key.key_id, secret: key.secret },
    credit: {
      url: `${base}/api/salutes/credit`, method: 'POST', key_id: key.key_id, secret: key.secret,
      body: JSON.stringify({ user_id: '4', amount: 1, reason: 'bench', source: 'bench' }),
    },
    errors: { url: `${base}/developers/api-errors.json`, method: 'GET' },
  }[scenarioName];
  await load(scenario, 2, Number(values.connections)); // warm-up

  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl && (values.baseline || /partner-edge/.test(t.id + t.title))) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const pending = new Map();
  ws.on('message', (raw) => {
    const message = JSON.parse(raw);
    if (message.id && pending.has(message.id)) { pending.get(message.id)(message); pending.delete(message.id); }
  });
  const call = (method, params = {}) => new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  const result = await load(scenario, Number(values.seconds), Number(values.connections));
  const { result: { profile } } = await call('Profiler.stop');
  ws.close();

  const out = join(ROOT, `target/profile-${side}-${scenarioName}.cpuprofile`);
  writeFileSync(out, JSON.stringify(profile));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const name = node.callFrame.functionName || `(anonymous ${node.callFrame.url.split('/').pop()})`;
    self.set(name, (self.get(name) ?? 0) + (deltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const busy = [...self.entries()].filter(([n]) => !IDLE.test(n)).reduce((a, [, t]) => a + t, 0);
  const requests = result.rps * Number(values.seconds);
  console.log(`${side}, ${scenarioName}: ${result.rps.toFixed(0)} req/s while profiled; ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms sampled`);
  console.log(`≈ ${(busy / requests).toFixed(1)} µs of isolate CPU per request\n`);
  const stages = new Map();
  for (const [name, t] of self) {
    if (IDLE.test(name)) continue;
    const stage = /^\((program|garbage collector)\)$/.test(name)
      ? 'V8 (program, GC)'
      : STAGES.find(([, re]) => re.test(name))?.[0] ?? 'JS (workerd, Miniflare glue, builtins)';
    stages.set(stage, (stages.get(stage) ?? 0) + t);
  }
  console.log('stage                                   µs/request   share of busy');
  for (const [stage, t] of [...stages].sort((a, b) => b[1] - a[1])) {
    console.log(`${stage.padEnd(40)} ${(t / requests).toFixed(1).padStart(9)}   ${((t / busy) * 100).toFixed(1).padStart(6)} %`);
  }
  console.log('\ntop functions by self time');
  for (const [name, t] of [...self].filter(([n]) => !IDLE.test(n)).sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${((t / busy) * 100).toFixed(1).padStart(6)} %  ${(t / requests).toFixed(1).padStart(7)} µs  ${name.slice(0, 110)}`);
  }
  console.log(`\nraw profile: ${out} (open in Chrome DevTools > Performance)`);
} finally {
  await dispose();
}
