// The status and deprecation pages against a real edge: live figures, the
// 90 daily bars, latency charts from this run's own traffic, an operator's
// incident through its phases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, launchBrowser, trackedPage, axe } from './harness.mjs';

const ADMIN = { 'X-Admin-Key': 'test-admin-key-0123456789abcdef-0123456789', 'Content-Type': 'application/json' };

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

async function admin(path, body) {
  const answer = await fetch(`${edge.baseUrl}${path}`, { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });
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
  for (let i = 0; i < 5; i++) await fetch(`${edge.baseUrl}/api/public/system-status`);

  // The monitor's first probe names every check.
  let live;
  for (let tries = 0; tries < 50; tries++) {
    live = await (await fetch(`${edge.baseUrl}/api/public/system-status`)).json();
    if (live.data.components.length >= 4) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const { page, problems } = await trackedPage(browser);
  await page.goto(`${edge.baseUrl}/status`);
  await page.getByRole('heading', { name: 'Edge status' }).waitFor();
  const now = page.getByTestId('status-now');
  await now.getByText(/^Overall:/).waitFor({ timeout: 15_000 });
  assert.equal(await now.getByRole('table', { name: 'Checks' }).locator('tbody tr').count(), live.data.components.length);
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
