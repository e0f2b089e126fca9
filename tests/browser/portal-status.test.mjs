// The status and deprecation pages against a real edge: live figures, the
// 90 daily bars, latency charts from this run's own traffic, an operator's
// incident through its phases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { trackedPage, axe, edgeAndBrowser, DEMO, pageWithDemoKey } from './harness.mjs';

const ADMIN = { 'X-Admin-Key': 'test-admin-key-0123456789abcdef-0123456789', 'Content-Type': 'application/json' };

const live = edgeAndBrowser();

async function admin(path, body) {
  const answer = await fetch(`${live.edge.baseUrl}${path}`, { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });
  const text = await answer.text();
  assert.ok(answer.ok, `${path}: ${answer.status} ${text}`);
  return JSON.parse(text).data;
}

test('the status page shows the checks, 90 daily bars, latency over time and the incident timeline', async () => {
  const incident = await admin('/api/admin/incidents', {
    title: 'Webhook deliveries delayed',
    message: '[investigating] deliveries are queueing; next update in 15 minutes.',
    affected: ['webhook_queue'],
    impact: 'partial_outage',
  });
  await admin(`/api/admin/incidents/${incident.id}/updates`, { phase: 'resolved', message: '[resolved] the queue has drained.' });
  // Some traffic of the status family to chart.
  for (let i = 0; i < 5; i++) await fetch(`${live.edge.baseUrl}/api/public/system-status`);

  // The monitor's first probe names every check.
  let status;
  for (let tries = 0; tries < 50; tries++) {
    status = await (await fetch(`${live.edge.baseUrl}/api/public/system-status`)).json();
    if (status.data.components.length >= 4) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const { page, problems } = await trackedPage(live.browser);
  await page.goto(`${live.edge.baseUrl}/status`);
  await page.getByRole('heading', { name: 'Edge status' }).waitFor();
  const now = page.getByTestId('status-now');
  await now.getByText(/^Overall:/).waitFor({ timeout: 15_000 });
  assert.equal(await now.getByRole('table', { name: 'Checks' }).locator('tbody tr').count(), status.data.components.length);
  assert.match(await page.getByTestId('monitor-freshness').innerText(), /^Monitor: last probe \d{4}-\d\d-\d\dT.* s ago\), every 60 s; its alarm is running\.$/);

  const figures = page.getByTestId('uptime-figures');
  await figures.getByText('24 hours').waitFor({ timeout: 15_000 });
  assert.match(await figures.innerText(), /\d+\.\d\d %\s+24 hours[\s\S]*7 days[\s\S]*30 days/);
  const bars = page.getByRole('img', { name: /^Daily uptime, last 90 days/ });
  await bars.waitFor({ timeout: 15_000 });
  assert.equal(await bars.locator('rect').count(), 90);
  assert.equal(await bars.locator('rect.bar-none').count(), 89, 'today has samples, the 89 days before it none');
  assert.match(await bars.locator('rect').last().locator('title').textContent(), /^\d{4}-\d\d-\d\d: 100\.00 % up \(\d+ samples\)$/);

  const chart = page.getByRole('img', { name: /^status latency over the window/ });
  await chart.waitFor({ timeout: 15_000 });
  assert.equal(await chart.locator('polyline').count(), 3, 'p50, p95 and p99');
  assert.match(await page.getByRole('table', { name: 'Percentiles over the window, in ms' }).innerText(), /status\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+/);
  await page.getByRole('button', { name: '7 days' }).click();
  await page.getByTestId('latency').getByText(/^Last 168 hours, per day/).waitFor({ timeout: 15_000 });

  const timeline = page.getByTestId('incidents');
  await timeline.getByRole('heading', { name: /Webhook deliveries delayed/ }).waitFor({ timeout: 15_000 });
  assert.match(await timeline.innerText(), /Webhook deliveries delayed resolved\s+partial outage · operator · affects webhook_queue[\s\S]*investigating[\s\S]*deliveries are queueing[\s\S]*resolved[\s\S]*the queue has drained/);
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(problems, []);
  await page.close();
});

/** A signed GET with the demo key, as any partner client sends it. */
async function signedGet(path) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString('hex');
  const canonical = ['v1', timestamp, 'GET', path, nonce, createHash('sha256').update('').digest('hex')].join('\n');
  const signature = createHmac('sha256', DEMO.secret).update(canonical).digest('hex');
  const headers = { 'X-Partner-Key': DEMO.id, 'X-Partner-Timestamp': timestamp, 'X-Partner-Nonce': nonce, 'X-Partner-Signature': `v1=${signature}` };
  return fetch(`${live.edge.baseUrl}${path}`, { headers });
}

test('the deprecations page: calendar, your usage, header simulator, playbooks, changelog and the feed', async () => {
  // The demo key calls a deprecated route twice.
  for (let i = 0; i < 2; i++) assert.equal((await signedGet('/api/partner/user-lookup?user_id=4')).status, 200);
  const { context, page, problems } = await pageWithDemoKey(live.browser);
  await page.goto(`${live.edge.baseUrl}/deprecations`);
  await page.getByRole('heading', { name: 'Deprecations', exact: true }).waitFor();
  const calendarNow = await (await fetch(`${live.edge.baseUrl}/developers/deprecations.json`)).json();
  const calendar = page.getByRole('table', { name: 'Deprecated endpoints' });
  await calendar.waitFor({ timeout: 15_000 });
  assert.equal(await calendar.locator('tbody tr').count(), calendarNow.data.deprecations.length);
  assert.match(await calendar.getByRole('row', { name: /user-lookup/ }).innerText(), /GET \/api\/partner\/users\/\{user_id\}\s+2026-11-01\s+2027-06-30\s+deprecated \d+ days left/);

  const yours = page.getByRole('table', { name: 'Deprecated routes your key called' });
  await yours.waitFor({ timeout: 15_000 });
  assert.match(await yours.getByRole('row', { name: /user-lookup/ }).innerText(), /user-lookup\s+2\s+\d{4}-\d\d-\d\d/);

  // Before the sunset: 200 with the headers; after it: 410.
  await page.getByLabel('Endpoint', { exact: true }).selectOption({ label: 'GET /api/partner/user-lookup' });
  await page.getByLabel('Date', { exact: true }).fill('2027-01-15');
  await page.getByRole('button', { name: 'Show the headers' }).click();
  const simulated = page.getByTestId('simulated-headers');
  await simulated.getByText('HTTP 200').waitFor({ timeout: 15_000 });
  assert.match(await simulated.innerText(), /Sunset\s+Wed, 30 Jun 2027 00:00:00 GMT/);
  await page.getByLabel('Date', { exact: true }).fill('2027-07-01');
  await page.getByRole('button', { name: 'Show the headers' }).click();
  await simulated.getByText('HTTP 410').waitFor({ timeout: 15_000 });
  assert.match(await simulated.innerText(), /sunset/);

  const playbooks = page.getByTestId('playbooks');
  assert.match(await playbooks.innerText(), /T-30 2027-05-31 scheduled\s+T-14 2027-06-16 scheduled\s+T-7 2027-06-23 scheduled\s+T-1 2027-06-29 scheduled/);
  assert.equal(await page.getByRole('link', { name: 'RSS feed' }).getAttribute('href'), '/developers/deprecations.rss');
  const changes = (await (await fetch(`${live.edge.baseUrl}/developers/openapi-changelog.json`)).json()).data.changes;
  const changelog = page.getByRole('table', { name: 'Changes' });
  await changelog.waitFor({ timeout: 15_000 });
  assert.equal(await changelog.locator('tbody tr').count(), changes.length);
  await page.waitForLoadState('networkidle');
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(problems, []);
  await context.close();
});
