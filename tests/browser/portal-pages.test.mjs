// The portal's pages against a real edge: the hub's live sections, the
// wizard from a fresh load to a signed call and an idempotent replay, the
// presets' deep links, and every page under axe-core in light and dark, from
// the keyboard, and at 375 px.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, trackedPage, axe, edgeAndBrowser, DEMO, pageWithDemoKey } from './harness.mjs';

const PAGES = [
  ['/', 'Partner Edge developer hub'],
  ['/start', 'Integration wizard'],
  ['/presets?preset=uptime-24h', 'Query presets'],
  ['/reference', 'API reference'],
  ['/sign', 'Signing helper'],
  ['/reference/creditSalutes', 'Try it'],
  ['/webhooks', 'Webhook console'],
  ['/simulator', 'Webhook simulator'],
  ['/status', 'Edge status'],
  ['/deprecations', 'Deprecations'],
];

const live = edgeAndBrowser();

test('the hub reads its taxonomy, limits, scopes and status from the edge', async () => {
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/`);
  const taxonomy = page.getByTestId('error-taxonomy');
  await taxonomy.waitFor({ timeout: 15_000 });
  const catalogue = await (await fetch(`${live.edge.baseUrl}/developers/api-errors.json`)).json();
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
  const { page, problems } = await trackedPage(live.browser);
  const started = Date.now();
  await page.goto(`${live.edge.baseUrl}/start`);
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
  const { page } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/start`);
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
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/presets?preset=incidents-7d`);
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
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/sign`);
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

test('the explorer groups, searches and deep-links operations', async () => {
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/reference`);
  await page.getByTestId('api-version').waitFor({ timeout: 15_000 });
  assert.ok(await page.getByRole('region', { name: 'status operations' }).isVisible());
  await page.getByLabel('Search operations').fill('latency');
  // The list re-renders after the input event: wait for it rather than count at once.
  await page.waitForFunction(() => document.querySelectorAll('ul.operations li').length === 1);
  await page.getByRole('link', { name: '/api/public/latency-percentiles' }).click();
  assert.equal(new URL(page.url()).pathname, '/reference/getLatencyPercentiles');
  await page.getByLabel('hours (query)').fill('24');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByTestId('exchange-status').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('exchange-status').innerText(), 'HTTP 200');
  assert.match(await page.getByTestId('exchange').innerText(), /x-ratelimit-remaining/);

  // A deprecated operation says so, with its sunset.
  await page.goto(`${live.edge.baseUrl}/reference/lookupPartnerUser`);
  assert.match(await page.getByTestId('deprecated').innerText(), /Deprecated; sunset \d{4}-\d{2}-\d{2}/);
  await page.goto(`${live.edge.baseUrl}/reference/noSuchOperation`);
  await page.getByRole('alert').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});

test('try-it signs partner routes in the browser, from the example body', async () => {
  const { context, page } = await pageWithDemoKey(live.browser);
  await page.goto(`${live.edge.baseUrl}/reference/creditSalutes`);
  await page.getByRole('heading', { name: 'Try it' }).waitFor({ timeout: 15_000 });
  assert.match(await page.getByRole('table').first().innerText(), /scope `credit`/);
  assert.match(await page.getByTestId('example-answer').innerText(), /entry_id: "le_42"/);
  const json = page.getByLabel('Body (JSON)');
  assert.equal(JSON.parse(await json.inputValue()).reason, 'event_participation', 'prefilled with the documented example');
  // The form has a field per body property; editing one rewrites the body.
  await page.getByLabel('amount (integer, required)').fill('7');
  await page.waitForFunction(() => JSON.parse(document.getElementById('try-body').value).amount === 7);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByTestId('exchange-status').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('exchange-status').innerText(), 'HTTP 201');
  assert.match(await page.getByTestId('exchange').innerText(), /amount: 7/);
  await context.close();
});

test('the code samples work: Python and JavaScript run against the edge, Rust compiles', async () => {
  const { context, page } = await pageWithDemoKey(live.browser);
  const dir = mkdtempSync(join(tmpdir(), 'pe-samples-'));
  try {
    const env = { ...process.env, PARTNER_KEY_ID: DEMO.id, PARTNER_SECRET: DEMO.secret };
    for (const [operation, expected] of [['creditSalutes', /^201 \{"success":true/], ['getStatusUptime', /^200 /]]) {
      await page.goto(`${live.edge.baseUrl}/reference/${operation}`);
      await page.getByRole('heading', { name: 'Code samples' }).waitFor({ timeout: 15_000 });
      const python = await page.getByLabel('Python sample', { exact: true }).innerText();
      writeFileSync(join(dir, 'sample.py'), python);
      assert.match(execFileSync('python3', [join(dir, 'sample.py')], { env, encoding: 'utf8' }), expected, python);
      const js = await page.getByLabel('JavaScript sample', { exact: true }).innerText();
      writeFileSync(join(dir, 'sample.mjs'), js);
      assert.match(execFileSync(process.execPath, [join(dir, 'sample.mjs')], { env, encoding: 'utf8' }), expected, js);
      if (operation === 'creditSalutes') writeFileSync(join(dir, 'main.rs'), await page.getByLabel('Rust sample', { exact: true }).innerText());
    }
    // The Rust sample builds against the crates it names, from the local registry cache.
    const crate = join(dir, 'rust-sample');
    execFileSync('cargo', ['new', '--quiet', '--bin', crate]);
    writeFileSync(join(crate, 'src/main.rs'), readFileSync(join(dir, 'main.rs')));
    writeFileSync(join(crate, 'Cargo.toml'), readFileSync(join(crate, 'Cargo.toml'), 'utf8') +
      'hmac = "0.12"\nsha2 = "0.10"\nhex = "0.4"\ngetrandom = "0.3"\nureq = "3"\n');
    execFileSync('cargo', ['build', '--quiet', '--offline'], {
      cwd: crate, stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: join(ROOT, 'target/rust-sample') },
    });
    const ran = execFileSync(join(ROOT, 'target/rust-sample/debug/rust-sample'), { env, encoding: 'utf8' });
    assert.match(ran, /^201 \{"success":true/, ran);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await context.close();
  }
});

for (const scheme of ['light', 'dark']) {
  test(`every page passes axe-core in ${scheme} mode`, async () => {
    const context = await live.browser.newContext({ colorScheme: scheme });
    const page = await context.newPage();
    for (const [path, heading] of PAGES) {
      await page.goto(`${live.edge.baseUrl}${path}`);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await page.waitForLoadState('networkidle');
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), scheme);
      assert.deepEqual(await axe(page), [], `${path} in ${scheme}`);
    }
    await context.close();
  });
}

test('at 375 px nothing scrolls sideways, and the keyboard reaches the controls', async () => {
  const context = await live.browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  for (const [path, heading] of PAGES) {
    await page.goto(`${live.edge.baseUrl}${path}`);
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    await page.waitForLoadState('networkidle');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `${path} is ${width} px wide at 375 px`);
  }
  await page.goto(`${live.edge.baseUrl}/start`);
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
