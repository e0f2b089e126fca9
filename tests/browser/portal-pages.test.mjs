// The portal's pages against a real edge: the hub's live sections, the
// wizard from a fresh load to a signed call and an idempotent replay, the
// presets' deep links, and every page under axe-core in light and dark, from
// the keyboard, and at 375 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startEdge, launchBrowser, trackedPage } from './harness.mjs';

const AXE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
const PAGES = [
  ['/', 'Partner Edge developer hub'],
  ['/start', 'Integration wizard'],
  ['/presets?preset=uptime-24h', 'Query presets'],
  ['/reference', 'API reference'],
  ['/sign', 'Signing helper'],
];

let edge;
let browser;

before(async () => {
  edge = await startEdge();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await edge?.stop();
});

test('the hub reads its taxonomy, limits, scopes and status from the edge', async () => {
  const { page, problems } = await trackedPage(browser);
  await page.goto(`${edge.baseUrl}/`);
  const taxonomy = page.getByTestId('error-taxonomy');
  await taxonomy.waitFor({ timeout: 15_000 });
  const catalogue = await (await fetch(`${edge.baseUrl}/developers/api-errors.json`)).json();
  assert.equal(await taxonomy.locator('tbody tr').count(), catalogue.data.length, 'one row per catalogue code');
  assert.match(await page.getByRole('row', { name: /signature_mismatch/ }).innerText(), /401\s+fail-fast/);
  const limits = page.getByTestId('rate-limits');
  await limits.waitFor();
  assert.match(await limits.innerText(), /sandbox key\s+\d+/);
  assert.match(await page.getByTestId('scope-matrix').innerText(), /credit\s+POST \/api\/salutes\/credit/);
  await page.getByTestId('status-indicator').waitFor({ timeout: 15_000 });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the wizard goes from a fresh load to a signed call and an idempotent replay', async () => {
  const { page, problems } = await trackedPage(browser);
  const started = Date.now();
  await page.goto(`${edge.baseUrl}/start`);
  await page.getByRole('button', { name: 'Use the demo key' }).click();
  assert.match(await page.getByTestId('signature').innerText(), /^v1=[0-9a-f]{64}$/);
  assert.match(await page.getByTestId('canonical').innerText(), /path and query\s+\/api\/partner\/me/);
  await page.getByRole('button', { name: 'Send the signed request' }).click();
  const status = page.getByTestId('exchange-status').first();
  await status.waitFor({ timeout: 15_000 });
  assert.equal(await status.innerText(), 'HTTP 200');
  const tookMs = Date.now() - started;
  console.log(`wizard: fresh load to a successful signed call in ${tookMs} ms`);
  const checks = await page.getByTestId('checks').innerText();
  assert.equal((checks.match(/passed/g) ?? []).length, 5, checks);

  await page.getByRole('button', { name: 'Credit', exact: true }).click();
  await page.getByRole('heading', { name: 'First answer' }).waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: 'Send it again' }).click();
  await page.getByTestId('replayed').waitFor({ timeout: 15_000 });
  const answers = page.getByTestId('exchange-status');
  assert.deepEqual(await answers.allInnerTexts(), ['HTTP 200', 'HTTP 201', 'HTTP 201']);
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('key')).length), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('partner-edge.key')), null, 'not kept without opt-in');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a wrong secret is diagnosed from the canonical string the edge sends back', async () => {
  const { page } = await trackedPage(browser);
  await page.goto(`${edge.baseUrl}/start`);
  await page.getByRole('button', { name: 'Use the demo key' }).click();
  await page.getByLabel('Secret').fill('sk_sandbox_not-the-right-secret');
  await page.getByRole('button', { name: 'Send the signed request' }).click();
  const status = page.getByTestId('exchange-status').first();
  await status.waitFor({ timeout: 15_000 });
  assert.equal(await status.innerText(), 'HTTP 401');
  assert.match(await page.getByTestId('checks').innerText(), /failed signature: the edge signed the same string: the secret is not this key's/);
  await page.close();
});

test('a preset deep link restores and runs it, and signed presets ask for a key', async () => {
  const { page, problems } = await trackedPage(browser);
  await page.goto(`${edge.baseUrl}/presets?preset=incidents-7d`);
  await page.getByRole('heading', { name: 'Incidents, 7 days' }).waitFor();
  const status = page.getByTestId('exchange-status');
  await status.waitFor({ timeout: 15_000 });
  assert.equal(await status.innerText(), 'HTTP 200');
  assert.match(await page.getByTestId('exchange').innerText(), /x-request-id/);
  assert.match(await page.getByLabel('curl command', { exact: true }).innerText(), /curl -sS '.*\/api\/public\/system-status\/incidents\?hours=168&limit=30'/);
  await page.getByRole('navigation', { name: 'Presets' }).getByRole('link', { name: 'Identity' }).click();
  await page.getByRole('heading', { name: 'Identity' }).waitFor();
  assert.equal(new URL(page.url()).search, '?preset=identity');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /choose a key in the wizard/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the portal's signer produces the published signing vectors", async () => {
  const vectors = JSON.parse(readFileSync(join(ROOT, 'tests/vectors/signing-v1.json'), 'utf8'));
  const { page, problems } = await trackedPage(browser);
  await page.goto(`${edge.baseUrl}/sign`);
  await page.getByRole('heading', { name: 'Signing helper' }).waitFor();
  for (const v of vectors) {
    await page.getByLabel('Secret').fill(v.secret);
    await page.getByLabel('Method').selectOption(v.method);
    await page.getByLabel('Path and query').fill(v.path_and_query);
    await page.getByLabel('Timestamp').fill(v.timestamp);
    await page.getByLabel('Nonce').fill(v.nonce);
    await page.getByLabel('Body').fill(v.body);
    assert.equal(await page.getByTestId('canonical-string').innerText(), v.canonical, v.name);
    assert.equal(await page.getByTestId('body-hash').innerText(), v.body_sha256, v.name);
    assert.equal(await page.getByTestId('signature').innerText(), v.signature, v.name);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

async function axe(page) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}

for (const scheme of ['light', 'dark']) {
  test(`every page passes axe-core in ${scheme} mode`, async () => {
    const context = await browser.newContext({ colorScheme: scheme });
    const page = await context.newPage();
    for (const [path, heading] of PAGES) {
      await page.goto(`${edge.baseUrl}${path}`);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await page.waitForLoadState('networkidle');
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), scheme);
      assert.deepEqual(await axe(page), [], `${path} in ${scheme}`);
    }
    await context.close();
  });
}

test('at 375 px nothing scrolls sideways, and the keyboard reaches the controls', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  for (const [path, heading] of PAGES) {
    await page.goto(`${edge.baseUrl}${path}`);
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    await page.waitForLoadState('networkidle');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `${path} is ${width} px wide at 375 px`);
  }
  await page.goto(`${edge.baseUrl}/start`);
  await page.getByRole('heading', { name: 'Integration wizard' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  const toggle = page.getByRole('button', { name: 'Dark mode' });
  await toggle.focus();
  const before = await toggle.getAttribute('aria-pressed');
  await page.keyboard.press('Enter');
  assert.notEqual(await toggle.getAttribute('aria-pressed'), before, 'Enter toggles dark mode');
  await context.close();
});

test('the whole portal stays within its first-load budget', async () => {
  const { readdirSync } = await import('node:fs');
  const { gzipSync } = await import('node:zlib');
  const dist = join(ROOT, 'portal/dist');
  const loaded = readdirSync(dist).filter((f) => /\.(wasm|js|css)$/.test(f));
  const sizes = loaded.map((f) => [f, gzipSync(readFileSync(join(dist, f)), { level: 9 }).length]);
  const total = sizes.reduce((n, [, size]) => n + size, 0);
  console.log(`first load, gzip -9: ${total} bytes (${sizes.map(([f, s]) => `${f.split('-').pop()} ${s}`).join(', ')})`);
  assert.ok(total <= 300_000, `the portal's first load is ${total} bytes gzip, over 300 kB`);
});
