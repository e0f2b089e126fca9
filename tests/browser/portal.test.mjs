// The portal in headless Chromium against a real edge: the hub renders live
// health, client-side navigation works, and nothing logs an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trackedPage, edgeAndBrowser } from './harness.mjs';

const live = edgeAndBrowser();

test('the hub renders the live health from the edge', async () => {
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/`);
  await page.getByRole('heading', { name: 'Partner Edge developer hub' }).waitFor();
  const status = page.getByTestId('health-status');
  await status.waitFor({ timeout: 15_000 });
  assert.match(await status.innerText(), /ok · \d+ probes? recorded/);
  const kvRow = page.getByRole('row', { name: /KV write and read/ });
  assert.match(await kvRow.innerText(), /passing/);
  const doRow = page.getByRole('row', { name: /Durable Object round trip/ });
  assert.match(await doRow.innerText(), /passing/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('"Check again" fetches a new probe', async () => {
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/`);
  const status = page.getByTestId('health-status');
  await status.waitFor({ timeout: 15_000 });
  const count = async () => Number((await status.innerText()).match(/(\d+) probes?/)[1]);
  const before = await count();
  await page.getByRole('button', { name: 'Check again' }).click();
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="health-status"]')?.innerText.match(/(\d+) probes?/)?.[1]) > n,
    before,
    { timeout: 15_000 },
  );
  assert.ok((await count()) > before);
  assert.deepEqual(problems, []);
  await page.close();
});

test('client-side navigation reaches the API reference without a page load', async () => {
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/`);
  await page.getByRole('heading', { name: 'Partner Edge developer hub' }).waitFor();
  // A marker on window survives client-side navigation but not a full load.
  await page.evaluate(() => { window.__stillSamePage = true; });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API reference' }).click();
  await page.getByRole('heading', { name: 'API reference' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/reference');
  assert.equal(await page.evaluate(() => window.__stillSamePage), true, 'the navigation reloaded the page');
  // The reference is read live from /openapi.json.
  await page.getByTestId('api-version').waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('api-version').innerText(), /Version \d+\.\d+\.\d+ · \d+ operations/);
  await page.getByRole('link', { name: '/api/public/health', exact: true }).click();
  // Wait for the operation page to render before reading it (isVisible does not wait).
  await page.getByRole('heading', { name: 'Try it' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/reference/getHealth');
  await page.getByRole('link', { name: 'dependency_unavailable' }).waitFor();
  assert.equal(await page.evaluate(() => window.__stillSamePage), true, 'still no page load');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a deep link to a client route loads the portal, and unknown pages say so', async () => {
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/reference`);
  await page.getByRole('heading', { name: 'API reference' }).waitFor();
  await page.goto(`${live.edge.baseUrl}/no/such/page`);
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  await page.getByRole('link', { name: 'Back to the hub' }).click();
  await page.getByRole('heading', { name: 'Partner Edge developer hub' }).waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
