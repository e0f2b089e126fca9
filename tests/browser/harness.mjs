// Starts a real `wrangler dev` on free loopback ports with fresh state, and a
// headless Chromium (Debian's package) driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function startEdge() {
  for (const artefact of ['worker/build/index.js', 'portal/dist/index.html']) {
    if (!existsSync(join(ROOT, artefact))) {
      throw new Error(`${artefact} is missing: run \`bash scripts/edge.sh build\` first`);
    }
  }
  const state = mkdtempSync(join(tmpdir(), 'pe-browser-'));
  const envFile = join(state, 'test.env');
  // HEALTH_CACHE_SECONDS=0: the portal's "Check again" is tested for re-fetching,
  // which the edge's 5 s health cache would otherwise answer from cache.
  // WEBHOOK_ALLOW_LOOPBACK=true, as in .dev.vars: the console subscribes to
  // inboxes on this loopback edge. LATENCY_FLUSH_SECONDS=0: the status page's
  // latency charts show this run's own traffic at once.
  writeFileSync(
    envFile,
    'ADMIN_API_KEY=test-admin-key-0123456789abcdef-0123456789\nPARTNER_KEY_MASTER=' + '5a'.repeat(32) +
      '\nEDGE_ENV=local\nHEALTH_CACHE_SECONDS=0\nWEBHOOK_ALLOW_LOOPBACK=true\nLATENCY_FLUSH_SECONDS=0\n',
  );
  const logFile = join(state, 'wrangler.log');
  const port = await freePort();
  const inspectorPort = await freePort();
  const log = openSync(logFile, 'w');
  const child = spawn(join(ROOT, 'node_modules/.bin/wrangler'), [
    'dev', '--local', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspectorPort), '--persist-to', join(state, 'persist'),
    '--env-file', envFile, '--show-interactive-dev-session=false',
  ], {
    cwd: ROOT,
    detached: true, // own process group, so workerd goes down with wrangler
    stdio: ['ignore', log, log],
    env: { ...process.env, PE_SKIP_BUILD: '1', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler exited early:\n${readFileSync(logFile, 'utf8')}`);
    try {
      const res = await fetch(`${baseUrl}/openapi.json`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`wrangler not ready:\n${readFileSync(logFile, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    baseUrl,
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const exited = new Promise((r) => child.once('exit', r));
      const timeout = new Promise((r) => setTimeout(r, 10_000));
      await Promise.race([exited, timeout]);
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      rmSync(state, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  // Playwright gives each launch its own fresh, temporary profile.
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return browser;
}

/// A page that records console errors and uncaught exceptions.
export async function trackedPage(browser) {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  return { page, problems };
}


const AXE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now. */
export async function axe(page) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}

/** Starts an edge and a browser before this file's tests and stops both after them. */
export function edgeAndBrowser() {
  const live = {};
  before(async () => {
    live.edge = await startEdge();
    live.browser = await launchBrowser();
  });
  after(async () => {
    await live.browser?.close();
    await live.edge?.stop();
  });
  return live;
}

/** The local edge's demo key (EDGE_ENV=local offers it). */
export const DEMO = { id: 'pk_sandbox_de30de30de30de30de30de30', secret: `sk_sandbox_${'de30'.repeat(16)}` };

/** A page whose tab already holds the demo key (as after the wizard, with the
 * opt-in); `problems` collects console errors and page errors; dialogs are accepted. */
export async function pageWithDemoKey(browser, options = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript((demo) => {
    sessionStorage.setItem('partner-edge.key', JSON.stringify({ key_id: demo.id, secret: demo.secret }));
  }, DEMO);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('dialog', (dialog) => dialog.accept());
  return { context, page, problems };
}
