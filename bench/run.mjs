// Benchmarks the built worker on workerd through Miniflare's Node API (not
// `wrangler dev`, whose local proxy caps throughput), driving load from a
// second process (bench/load.mjs, autocannon) over loopback.
//
//   bash scripts/edge.sh bench [--duration S] [--rounds N] [--connections C] [route ...]
//
// A route is a path (an unsigned GET) or a named scenario:
//   health  GET /api/public/health (KV + Durable Object probe, per-IP limit)
//   me      signed GET /api/partner/me (the gate: KV key read, HMAC, one
//           round trip to the key's object)
//   credit  signed POST /api/salutes/credit with a fresh Idempotency-Key
//           (the gate, the sandbox's ledger write, the idempotent answer stored)
// The default compares health, me and credit, the figures.
//
// Each route is measured in N rounds after a warm-up; the table reports the
// median of each figure across rounds, and each route's p50 ratio to the
// first route. The machine is noisy: compare medians and ratios, not single runs.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, load, median, mintKey, startEdge } from './edge.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
  },
});
const routes = positionals.length > 0 ? positionals : ['health', 'me', 'credit'];


function gzipSize(path) {
  return gzipSync(readFileSync(path), { level: 9 }).length;
}

function artefactSizes() {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const worker = join(ROOT, 'worker/build/index_bg.wasm');
  const dist = join(ROOT, 'portal/dist');
  const portalWasm = readdirSync(dist).find((f) => f.endsWith('_bg.wasm'));
  const portalJs = readdirSync(dist).find((f) => f.endsWith('.js'));
  return [
    ['worker wasm', kb(readFileSync(worker).length), kb(gzipSize(worker))],
    ['portal wasm', kb(readFileSync(join(dist, portalWasm)).length), kb(gzipSize(join(dist, portalWasm)))],
    ['portal js', kb(readFileSync(join(dist, portalJs)).length), kb(gzipSize(join(dist, portalJs)))],
  ];
}

const { mf, dispose } = startEdge({
  // The limits stay on (each request still takes its token); they are
  // raised so that the load measures the work, not the 429s.
  RATE_LIMIT_PUBLIC_API_PER_MIN: '100000000',
});

try {
  const base = (await mf.ready).toString().replace(/\/$/, '');
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  console.log(`workerd via Miniflare at ${base}; ${connections} connections, ${rounds} rounds of ${seconds} s per route\n`);

  const { key_id, secret } = await mintKey(base, ['read', 'credit', 'debit', 'ledger', 'donation', 'users']);
  const named = {
    health: { url: `${base}/api/public/health`, method: 'GET' },
    me: { url: `${base}/api/partner/me`, method: 'GET', key_id, secret },
    credit: {
      url: `${base}/api/salutes/credit`, method: 'POST', key_id, secret,
      body: JSON.stringify({ user_id: '4', amount: 1, reason: 'bench', source: 'bench' }),
    },
  };

  const rows = [];
  for (const route of routes) {
    const scenario = named[route] ?? { url: `${base}${route}`, method: 'GET' };
    await load(scenario, 2, connections); // warm-up: JIT, caches, Durable Object instantiation
    const warm = await load(scenario, 1, 1);
    if (warm.non2xx + warm.errors > 0) throw new Error(`${route} does not answer 2xx: fix it before measuring`);
    const results = [];
    for (let i = 0; i < rounds; i++) results.push(await load(scenario, seconds, connections));
    const failures = results.reduce((n, r) => n + r.non2xx + r.errors, 0);
    rows.push({
      route,
      rps: median(results.map((r) => r.rps)),
      p50: median(results.map((r) => r.p50)),
      p99: median(results.map((r) => r.p99)),
      failures,
    });
  }

  const baseline = rows[0].p50;
  console.log('route                              req/s     p50 ms   p99 ms   p50 ratio   non-2xx/errors');
  for (const r of rows) {
    console.log(
      `${r.route.padEnd(32)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)}` +
      `   ${(r.p50 / baseline).toFixed(2).padStart(6)}x   ${String(r.failures).padStart(8)}`,
    );
  }
  console.log('\nartefact          raw        gzip -9');
  for (const [name, raw, gz] of artefactSizes()) console.log(`${name.padEnd(16)} ${raw.padStart(11)} ${gz.padStart(11)}`);
  if (rows.some((r) => r.failures > 0)) {
    console.error('\nsome requests failed: the figures above are not comparable');
    process.exitCode = 1;
  }
} finally {
  await dispose();
}
