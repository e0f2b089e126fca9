// What recording latency costs a request: two edges on workerd through
// Miniflare, one with LATENCY_RECORDING=on (the default, flushing every
// 10 s) and one with it off, measured with the same load, in alternating
// rounds (on/off, then off/on, …), on a signed GET /api/partner/me.
//
//   bash scripts/edge.sh bench-latency [--duration S] [--rounds N] [--connections C]
//
// Prints the median req/s, p50 and p99 of each and the on/off ratios. The
// issue's budget is 3 %; the machine is noisy, so read the medians.
import { parseArgs } from 'node:util';
import { load, median, mintKey, startEdge } from './edge.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '6' },
    connections: { type: 'string', default: '8' },
  },
});
const seconds = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

const edges = {
  on: startEdge({ LATENCY_RECORDING: 'on' }),
  off: startEdge({ LATENCY_RECORDING: 'off' }),
};
try {
  const scenarios = {};
  for (const [name, { mf }] of Object.entries(edges)) {
    const base = (await mf.ready).toString().replace(/\/$/, '');
    const { key_id, secret } = await mintKey(base, ['read']);
    scenarios[name] = { url: `${base}/api/partner/me`, method: 'GET', key_id, secret };
    await load(scenarios[name], 2, connections); // warm-up
    const warm = await load(scenarios[name], 1, 1);
    if (warm.non2xx + warm.errors > 0) throw new Error(`recording ${name}: /api/partner/me does not answer 2xx`);
  }
  console.log(`signed GET /api/partner/me; ${connections} connections, ${rounds} alternating rounds of ${seconds} s\n`);
  const results = { on: [], off: [] };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const name of order) {
      const r = await load(scenarios[name], seconds, connections);
      if (r.non2xx + r.errors > 0) throw new Error(`recording ${name}: ${r.non2xx + r.errors} failed requests`);
      results[name].push(r);
      console.log(`round ${i + 1} recording ${name.padEnd(3)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms`);
    }
  }
  const figures = Object.fromEntries(Object.entries(results).map(([name, rs]) => [name, {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    mean: median(rs.map((r) => r.mean)),
  }]));
  console.log('\nrecording   req/s    p50 ms   mean ms   p99 ms');
  for (const [name, f] of Object.entries(figures)) {
    console.log(
      `${name.padEnd(9)} ${f.rps.toFixed(0).padStart(7)} ${f.p50.toFixed(2).padStart(9)} ${f.mean.toFixed(2).padStart(9)} ${f.p99.toFixed(2).padStart(8)}`,
    );
  }
  const ratio = (key) => (figures.on[key] / figures.off[key]).toFixed(3);
  console.log(`\non/off: req/s ${ratio('rps')}x, p50 ${ratio('p50')}x, mean ${ratio('mean')}x (budget: within 3 %;`);
  console.log('autocannon reports p50 in whole milliseconds, so the mean is the finer figure)');
} finally {
  await Promise.all(Object.values(edges).map((e) => e.dispose()));
}
