// Shared by the benchmarks: the built worker on workerd through Miniflare's
// Node API, configured from wrangler.toml by wrangler's own converter, on
// fresh temporary state.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

export function median(numbers) {
  const sorted = [...numbers].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(numbers, p) {
  const sorted = [...numbers].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * The platform's front for a worker with static assets, as wrangler.toml
 * configures it for the edge: Miniflare's assets router, which takes every
 * request and passes the `run_worker_first` paths to the worker. It runs in
 * its own isolate and costs the same whatever the worker behind it does.
 */
export function assetsFront() {
  return unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml')).workerOptions.assets;
}

/**
 * Starts the edge with extra bindings (and Miniflare options); returns the
 * instance and a dispose(). As deployed, behind its assets front; pass
 * `{ assets: undefined }` in `options` to serve it without.
 */
export function startEdge(bindings = {}, options = {}) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'));
  const state = mkdtempSync(join(tmpdir(), 'pe-bench-'));
  const mf = new Miniflare({
    ...workerOptions,
    name: 'partner-edge',
    modules: true,
    scriptPath: join(ROOT, 'worker/entry.mjs'),
    // worker-build's output is ES modules; wrangler bundles it, Miniflare reads it as it is.
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }, { type: 'CompiledWasm', include: ['**/*.wasm'] }],
    bindings: {
      ...workerOptions.bindings,
      EDGE_ENV: 'local',
      ADMIN_API_KEY: ADMIN_KEY,
      PARTNER_KEY_MASTER: '5a'.repeat(32),
      ...bindings,
    },
    kvPersist: join(state, 'kv'),
    durableObjectsPersist: join(state, 'do'),
    host: '127.0.0.1',
    port: 0,
    ...options,
  });
  return {
    mf,
    dispose: async () => {
      await mf.dispose();
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the plain JavaScript gate (bench/baseline/worker.mjs) on fresh
 * state. Pass `{ assets: assetsFront() }` to put it behind the same front as
 * the edge.
 */
export function startBaseline(options = {}) {
  const state = mkdtempSync(join(tmpdir(), 'pe-baseline-'));
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(ROOT, 'bench/baseline/worker.mjs'),
    kvNamespaces: ['KEYS'],
    durableObjects: { GATE: 'Gate' },
    kvPersist: join(state, 'kv'),
    durableObjectsPersist: join(state, 'do'),
    host: '127.0.0.1',
    port: 0,
    ...options,
  });
  return { mf, dispose: async () => { await mf.dispose(); rmSync(state, { recursive: true, force: true }); } };
}

/**
 * The edge's error catalogue, as served at `base`: the baseline serves the
 * same bytes (its `ERRORS_JSON` binding), the simplest way to serve a fixed
 * document, so the two `errors` answers are the same work.
 */
export async function errorCatalogue(base) {
  const res = await fetch(`${base}/developers/api-errors.json`);
  if (res.status !== 200) throw new Error(`the edge's error catalogue answered ${res.status}`);
  return res.text();
}

/** Gives the baseline the same key the edge minted, the simple way: the record, secret included, in KV. */
export async function seedBaselineKey(mf, key, scopes) {
  const kv = await mf.getKVNamespace('KEYS');
  await kv.put(`key:${key.key_id}`, JSON.stringify({
    secret: key.secret, scopes, rate_limit_per_minute: 100000, name: 'bench', environment: 'live',
  }));
}

/** Mints a live key with the given scopes and the highest per-key limit. */
export async function mintKey(base, scopes) {
  const minted = await fetch(`${base}/api/admin/partner-keys`, {
    method: 'POST',
    headers: { 'x-admin-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', environment: 'live', rate_limit_per_minute: 100000, scopes }),
  });
  if (minted.status !== 201) throw new Error(`minting a key answered ${minted.status}: ${await minted.text()}`);
  return (await minted.json()).data;
}

/** Runs bench/load.mjs against `scenario` in its own process; resolves with its figures. */
export function load(scenario, seconds, connections) {
  return new Promise((resolve, reject) => {
    const args = [join(ROOT, 'bench/load.mjs'), JSON.stringify(scenario), String(seconds), String(connections)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load.mjs exited ${code}`))));
  });
}
