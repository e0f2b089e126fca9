// The edge against a plain JavaScript gate (bench/baseline/worker.mjs), on
// workerd through Miniflare, with the same load generator, in alternating
// rounds. First both must give the same answers to the same signed
// requests (valid, tampered, stale, replayed, idempotent, mismatched);
// then each scenario is measured.
//
//   bash scripts/edge.sh bench-versus [--duration S] [--rounds N] [--connections C] [--front assets|none]
//                                     [--state disk|memory] [scenario ...]
//
// Scenarios: me (signed GET /api/partner/me), credit (signed idempotent
// POST /api/salutes/credit), errors (unsigned GET /developers/api-errors.json).
// Both run behind the same platform front. By default that is the edge's
// as deployed (`--front assets`): its portal is served as static assets, so
// Miniflare's assets router takes every request first (about 230 µs of
// workerd CPU per request on this machine, whatever the worker), and the
// baseline is given the identical router and routing rules. `--front none`
// runs both bare, which is what the gate code alone costs.
// Both keep their persisted state (KV, Durable Object SQLite) in the temp
// directory, on disk by default, as `wrangler dev` does; `--state memory`
// moves both to /dev/shm. Only the edge writes per request (nonces, ledger,
// outbox), so on a disk whose fsync stalls workerd's thread the gap between
// the two shows what the machine's storage, rather than the code, costs.
// Prints median req/s, p50 and p99 for each and the edge/baseline ratios,
// and the median CPU time the runtime (all workerd processes) spent per
// request: steadier than req/s on a small machine, where the load generator
// competes for the same cores.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { assetsFront, errorCatalogue, load, median, mintKey, seedBaselineKey, startBaseline, startEdge } from './edge.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
    front: { type: 'string', default: 'assets' },
    state: { type: 'string', default: 'disk' },
  },
});
if (!['assets', 'none'].includes(values.front)) throw new Error('--front is assets or none');
if (!['disk', 'memory'].includes(values.state)) throw new Error('--state is disk or memory');
// os.tmpdir() reads TMPDIR on every call, so this applies to both sides.
if (values.state === 'memory') process.env.TMPDIR = '/dev/shm';
const scenarios = positionals.length > 0 ? positionals : ['me', 'credit', 'errors'];

/**
 * Of every workerd process so far: CPU time (user + system, in clock ticks
 * of 10 ms) and bytes sent to storage (`write_bytes`: WAL frames,
 * checkpoints, the file system's journal).
 */
function workerdUsage() {
  let ticks = 0;
  let written = 0;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(workerd)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      written += Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      // the process ended between the listing and the read
    }
  }
  return { ticks, written };
}

function signed(key, method, path, body, { timestamp = Math.floor(Date.now() / 1000), nonce, secret, idem } = {}) {
  nonce ??= randomBytes(16).toString('hex');
  const hash = createHash('sha256').update(body).digest('hex');
  const canonical = ['v1', String(timestamp), method, path, nonce, hash].join('\n');
  const headers = {
    'x-partner-key': key.key_id, 'x-partner-timestamp': String(timestamp), 'x-partner-nonce': nonce,
    'x-partner-signature': `v1=${createHmac('sha256', secret ?? key.secret).update(canonical).digest('hex')}`,
  };
  if (body) headers['content-type'] = 'application/json';
  if (idem) headers['idempotency-key'] = idem;
  return headers;
}

/** The same requests to both; each answer reduced to status, code and replay marker. */
async function probe(base, key) {
  const credit = JSON.stringify({ user_id: '4', amount: 1, reason: 'bench', source: 'bench' });
  const other = JSON.stringify({ user_id: '4', amount: 2, reason: 'bench', source: 'bench' });
  const send = async (method, path, headers, body) => {
    const res = await fetch(`${base}${path}`, { method, headers, body: body || undefined });
    const json = await res.json().catch(() => ({}));
    return `${res.status} ${json.error ?? 'ok'}${res.headers.get('idempotent-replayed') ? ' replayed' : ''}`;
  };
  const nonce = randomBytes(16).toString('hex');
  const idem = `probe-${randomBytes(8).toString('hex')}`;
  return {
    'signed me': await send('GET', '/api/partner/me', signed(key, 'GET', '/api/partner/me', '', { nonce })),
    'same nonce again': await send('GET', '/api/partner/me', signed(key, 'GET', '/api/partner/me', '', { nonce })),
    'wrong secret': await send('GET', '/api/partner/me', signed(key, 'GET', '/api/partner/me', '', { secret: 'nope' })),
    'stale timestamp': await send('GET', '/api/partner/me', signed(key, 'GET', '/api/partner/me', '', { timestamp: 1 })),
    'signed for another path': await send('GET', '/api/partner/me', signed(key, 'GET', '/api/partner/other', '')),
    'credit without Idempotency-Key': await send('POST', '/api/salutes/credit', signed(key, 'POST', '/api/salutes/credit', credit), credit),
    'credit': await send('POST', '/api/salutes/credit', signed(key, 'POST', '/api/salutes/credit', credit, { idem }), credit),
    'credit again': await send('POST', '/api/salutes/credit', signed(key, 'POST', '/api/salutes/credit', credit, { idem }), credit),
    'same key, other body': await send('POST', '/api/salutes/credit', signed(key, 'POST', '/api/salutes/credit', other, { idem }), other),
    'error catalogue': await fetch(`${base}/developers/api-errors.json`).then(async (res) => {
      const body = await res.text();
      return `${res.status} ${res.headers.get('content-type').split(';')[0]} sha256:${createHash('sha256').update(body).digest('hex').slice(0, 12)}`;
    }),
  };
}

const front = { assets: values.front === 'assets' ? assetsFront() : undefined };
const edge = startEdge({ RATE_LIMIT_PUBLIC_API_PER_MIN: '100000000' }, front);
let baseline;
try {
  const bases = { edge: (await edge.mf.ready).toString().replace(/\/$/, '') };
  baseline = startBaseline({ ...front, bindings: { ERRORS_JSON: await errorCatalogue(bases.edge) } });
  bases.baseline = (await baseline.mf.ready).toString().replace(/\/$/, '');
  const scopes = ['read', 'credit', 'debit', 'ledger', 'donation', 'users'];
  const key = await mintKey(bases.edge, scopes);
  await seedBaselineKey(baseline.mf, key, scopes);

  const answers = { edge: await probe(bases.edge, key), baseline: await probe(bases.baseline, key) };
  let agree = true;
  console.log('request                          edge                         baseline');
  for (const name of Object.keys(answers.edge)) {
    const same = answers.edge[name] === answers.baseline[name];
    agree &&= same;
    console.log(`${name.padEnd(32)} ${answers.edge[name].padEnd(28)} ${answers.baseline[name]}${same ? '' : '   <- differs'}`);
  }
  if (!agree) throw new Error('the baseline does not apply the same checks as the edge: fix it before measuring');

  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  const scenario = (name, base) => ({
    me: { url: `${base}/api/partner/me`, method: 'GET', key_id: key.key_id, secret: key.secret },
    credit: {
      url: `${base}/api/salutes/credit`, method: 'POST', key_id: key.key_id, secret: key.secret,
      body: JSON.stringify({ user_id: '4', amount: 1, reason: 'bench', source: 'bench' }),
    },
    errors: { url: `${base}/developers/api-errors.json`, method: 'GET' },
  })[name];
  const fronted = values.front === 'assets' ? 'both behind the assets router' : 'both without a front';
  const stored = `state kept in ${tmpdir()}`;
  console.log(`\n${connections} connections, ${rounds} alternating rounds of ${seconds} s per scenario, ${fronted}, ${stored}\n`);
  const rows = [];
  for (const name of scenarios) {
    const results = { edge: [], baseline: [] };
    for (const side of ['edge', 'baseline']) await load(scenario(name, bases[side]), 2, connections); // warm-up
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? ['edge', 'baseline'] : ['baseline', 'edge'];
      for (const side of order) {
        // Only one side is under load at a time, so all workerd CPU is its.
        const before = workerdUsage();
        const r = await load(scenario(name, bases[side]), seconds, connections);
        const after = workerdUsage();
        r.cpuMicros = ((after.ticks - before.ticks) * 10_000) / (r.rps * seconds);
        r.diskKib = (after.written - before.written) / 1024 / (r.rps * seconds);
        if (r.non2xx + r.errors > 0) throw new Error(`${name} on the ${side}: ${r.non2xx + r.errors} failed requests`);
        results[side].push(r);
      }
    }
    const figures = (rs) => ({
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      cpu: median(rs.map((r) => r.cpuMicros)),
      disk: median(rs.map((r) => r.diskKib)),
    });
    rows.push({ name, edge: figures(results.edge), baseline: figures(results.baseline) });
  }
  console.log('scenario   edge req/s  p50   p99  cpu µs  disk | baseline req/s  p50   p99  cpu µs  disk | edge/baseline req/s   cpu');
  for (const { name, edge: e, baseline: b } of rows) {
    console.log(
      `${name.padEnd(9)} ${e.rps.toFixed(0).padStart(11)} ${e.p50.toFixed(0).padStart(4)} ${e.p99.toFixed(0).padStart(5)} ${e.cpu.toFixed(0).padStart(7)} ${e.disk.toFixed(1).padStart(5)} |` +
      ` ${b.rps.toFixed(0).padStart(14)} ${b.p50.toFixed(0).padStart(4)} ${b.p99.toFixed(0).padStart(5)} ${b.cpu.toFixed(0).padStart(7)} ${b.disk.toFixed(1).padStart(5)} |` +
      ` ${(e.rps / b.rps).toFixed(2).padStart(8)}x ${(e.cpu / b.cpu).toFixed(2).padStart(12)}x`,
    );
  }
  console.log('(p50 and p99 in ms; cpu µs: workerd CPU time per request, all threads; disk: KiB workerd sent to storage per request)');
} finally {
  await Promise.all([edge.dispose(), baseline?.dispose()]);
}
