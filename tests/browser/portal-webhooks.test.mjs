// The webhook console and the simulator against a real edge, driven as a
// partner would: with the key in the tab, by role and label.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { axe, edgeAndBrowser, pageWithDemoKey } from './harness.mjs';

const live = edgeAndBrowser();

test('the console: subscribe to an inbox, test, read the log, rotate, and both signatures verify', async () => {
  const { context, page, problems } = await pageWithDemoKey(live.browser);
  await page.goto(`${live.edge.baseUrl}/webhooks`);
  await page.getByRole('heading', { name: 'Webhook console' }).waitFor();
  const subscriptions = page.getByTestId('subscriptions');
  await subscriptions.getByText(/No subscriptions yet/).waitFor({ timeout: 15_000 });
  // The event types come from the live catalogue.
  await page.getByRole('checkbox', { name: 'webhook.test' }).waitFor({ timeout: 15_000 });

  // A new inbox fills the form's URL; the subscription delivers there.
  await page.getByRole('button', { name: 'Deliver to a new inbox' }).click();
  await page.waitForFunction(() => /\/api\/public\/webhook-inbox\/inb_[0-9a-f]{32}$/.test(document.getElementById('sub-url').value));
  await page.getByRole('checkbox', { name: 'webhook.test' }).check();
  await page.getByRole('button', { name: 'Create subscription' }).click();
  const secret = page.getByTestId('secret-value');
  await secret.waitFor({ timeout: 15_000 });
  const first = await secret.innerText();
  assert.match(first, /^whsec_/);
  const row = subscriptions.getByRole('row', { name: /wh_/ });
  await row.waitFor();
  const id = (await row.innerText()).match(/wh_[0-9a-f]+/)[0];
  await page.getByRole('button', { name: 'I have stored it' }).click();
  assert.equal(await secret.count(), 0, 'the secret is shown once');

  // A test ping: the log shows the delivered attempt, the inbox the capture, verified.
  await page.getByRole('button', { name: `Send test ${id}` }).click();
  const log = page.getByTestId('delivery-log');
  await log.getByText('succeeded').waitFor({ timeout: 15_000 });
  assert.match(await log.innerText(), /webhook\.test[\s\S]*Attempt 1 at .*HTTP 200 in \d+ ms, signed by whk_1/);
  const captures = page.getByTestId('captures');
  await captures.getByText('verified by whk_1').nth(1).waitFor({ timeout: 15_000 });

  // A manual retry: a second attempt, on a fresh budget.
  const delivery = (await log.innerText()).match(/dlv_[0-9a-f]+/)[0];
  await page.getByRole('button', { name: `Retry ${delivery}` }).click();
  await page.getByTestId('console-notice').getByText(`Delivery ${delivery} is queued again.`).waitFor({ timeout: 15_000 });
  await log.getByText(/Attempt 2 at .*HTTP 200/).waitFor({ timeout: 15_000 });

  // Filters and paging.
  await page.getByLabel('State').selectOption('failed_dead_letter');
  await log.getByText('Nothing matches on this page.').waitFor({ timeout: 15_000 });
  await page.getByLabel('State').selectOption('');
  await page.getByLabel('Show', { exact: true }).selectOption('failures');
  await log.getByText('Nothing matches on this page.').waitFor({ timeout: 15_000 });
  await page.getByLabel('Show', { exact: true }).selectOption('deliveries');
  await log.getByText('succeeded').waitFor({ timeout: 15_000 });
  assert.ok(await page.getByRole('button', { name: 'Next page' }).isDisabled(), 'one page only');

  // Rotation: a new secret, shown once; both secrets sign during the overlap.
  await page.getByRole('button', { name: `Rotate secret ${id}` }).click();
  await secret.waitFor({ timeout: 15_000 });
  const second = await secret.innerText();
  assert.match(second, /^whsec_/);
  assert.notEqual(second, first);
  await page.getByRole('button', { name: `Send test ${id}` }).click();
  await captures.getByText('verified by whk_2').waitFor({ timeout: 15_000 });
  const newest = captures.getByRole('listitem').first();
  assert.match(await newest.innerText(), /X-Webhook-Signature: verified by whk_1[\s\S]*webhook-signature \(Standard Webhooks\): verified by whk_2/);

  // The in-browser verifier agrees: the new secret alone verifies the Standard Webhooks header,
  // and with the previous one too, both.
  await newest.getByRole('button', { name: /Check in the verifier/ }).click();
  await page.getByLabel('Signing secret').fill(second);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  const verdict = page.getByTestId('verifier-result');
  await verdict.getByText(/verified by the secret/).waitFor();
  assert.match(await verdict.innerText(), /X-Webhook-Signature: not verified/);
  await page.getByLabel('Previous secret (during a rotation)').fill(first);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await verdict.getByText('verified by the previous secret').waitFor();
  await page.getByLabel('Body, exactly as received').fill('{"tampered":true}');
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.waitForFunction(() => !document.querySelector('[data-testid="verifier-result"]').innerText.includes('verified by'));

  // With a subscription, its log, an inbox and captures on screen: axe, light mode.
  assert.deepEqual(await axe(page), [], 'the console, filled, in light mode');

  // Edit, disable and delete.
  await page.getByRole('button', { name: `Edit ${id}` }).click();
  await page.getByRole('heading', { name: 'Edit the subscription' }).waitFor();
  assert.ok(await page.getByRole('checkbox', { name: 'webhook.test' }).isChecked(), 'the form holds its event types');
  await page.getByRole('checkbox', { name: 'salutes.credit' }).check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await row.getByText('salutes.credit').waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: `Disable ${id}` }).click();
  await row.getByText('disabled', { exact: true }).waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: `Delete ${id}` }).click();
  await subscriptions.getByText(/No subscriptions yet/).waitFor({ timeout: 15_000 });
  assert.deepEqual(problems, []);
  await context.close();
});

test('the console and the simulator ask for a key, and the catalogue shows without one', async () => {
  const page = await live.browser.newPage();
  await page.goto(`${live.edge.baseUrl}/webhooks`);
  await page.getByRole('heading', { name: 'Choose a key first' }).waitFor();
  await page.getByRole('link', { name: 'Choose a key in the wizard' }).waitFor();
  const catalogue = page.getByTestId('event-catalogue');
  await catalogue.getByRole('heading', { name: /donation\.claim v1/ }).waitFor({ timeout: 15_000 });
  const catalogueNow = await (await fetch(`${live.edge.baseUrl}/api/public/webhooks/event-types`)).json();
  assert.equal(await catalogue.getByRole('heading').count(), catalogueNow.data.event_types.length);
  // The simulator says the same, with the way to a key.
  await page.goto(`${live.edge.baseUrl}/simulator`);
  await page.getByTestId('sim-form').getByRole('link', { name: 'Choose a key in the wizard' }).waitFor({ timeout: 15_000 });
  await page.close();
});

test('the filled console passes axe in dark mode, fits 375 px and works from the keyboard', async () => {
  const { context, page, problems } = await pageWithDemoKey(live.browser, { colorScheme: 'dark', viewport: { width: 375, height: 800 } });
  await page.goto(`${live.edge.baseUrl}/webhooks`);
  await page.getByRole('checkbox', { name: 'webhook.test' }).waitFor({ timeout: 15_000 });
  // From the keyboard: the inbox button, the URL it fills, a type, and Enter on the submit button.
  await page.getByRole('button', { name: 'Deliver to a new inbox' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('sub-url').value.includes('/api/public/webhook-inbox/'));
  await page.getByRole('checkbox', { name: 'webhook.test' }).focus();
  await page.keyboard.press('Space');
  await page.getByRole('button', { name: 'Create subscription' }).focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('secret-value').waitFor({ timeout: 15_000 });
  const row = page.getByTestId('subscriptions').getByRole('row', { name: /wh_/ });
  const id = (await row.innerText()).match(/wh_[0-9a-f]+/)[0];
  await page.getByRole('button', { name: `Send test ${id}` }).focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('captures').getByText('verified by whk_1').first().waitFor({ timeout: 15_000 });
  await page.getByTestId('delivery-log').getByText('succeeded').waitFor({ timeout: 15_000 });
  await page.waitForLoadState('networkidle');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  assert.deepEqual(await axe(page), [], 'the console, filled, in dark mode');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `the filled console is ${width} px wide at 375 px`);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the simulator sends a scenario and the drill suite to an inbox and grades it', async () => {
  const { context, page, problems } = await pageWithDemoKey(live.browser);
  // An inbox to send to, made in the console.
  await page.goto(`${live.edge.baseUrl}/webhooks`);
  await page.getByRole('button', { name: 'New inbox', exact: true }).click();
  await page.getByTestId('console-notice').getByText(/Created inbox inb_/).waitFor({ timeout: 15_000 });
  const inbox = (await page.getByTestId('console-notice').innerText()).match(/inb_[0-9a-f]{32}/)[0];

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Simulator' }).click();
  await page.getByRole('heading', { name: 'Webhook simulator' }).waitFor();
  await page.getByLabel('Target').selectOption({ label: `Inbox ${inbox}` });
  // A two-step scenario; the data starts from the example and can be edited.
  await page.getByLabel('Scenario').selectOption('claim_lifecycle');
  await page.waitForFunction(() => JSON.parse(document.getElementById('sim-data').value).campaign_id !== undefined);
  await page.getByLabel('Data laid over the example').fill('[1]');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByTestId('sim-result').getByRole('alert').getByText('The data must be a JSON object.').waitFor();
  await page.getByLabel('Data laid over the example').fill('{"amount": 40}');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const result = page.getByTestId('sim-result');
  await result.getByRole('heading', { name: /Send 2/ }).waitFor({ timeout: 20_000 });
  const run = await result.innerText();
  assert.match(run, /Send 1 · donation\.claim[\s\S]*x-webhook-signature: [0-9a-f]{64}[\s\S]*"amount": 40[\s\S]*HTTP 200/i);
  assert.match(run, /Send 2 · donation\.claim_redeemed/);
  assert.match(run, /evt_sim_/);
  assert.match(run, /shown once/, 'the secrets the edge made are shown');
  const commands = page.getByTestId('sim-commands');
  assert.match(await commands.getByLabel('CLI command', { exact: true }).innerText(), /partner-edge simulate --base-url '.*' \\\n  --url '.*\/api\/public\/webhook-inbox\/inb_[0-9a-f]{32}' \\\n  --scenario 'claim_lifecycle' \\\n  --data '\{"amount":40\}'/);
  assert.match(await commands.getByLabel('curl command', { exact: true }).innerText(), /curl -sS -X POST '.*\/api\/partner\/webhooks\/simulate'[\s\S]*X-Partner-Signature: v1=/);

  // The drill suite against the inbox, which answers 200 to anything: a naive receiver.
  await page.getByLabel('Send', { exact: true }).selectOption('drills');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByTestId('report-summary').waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId('report-summary').innerText(), /^\d+ passed, [1-9]\d* failed, \d+ skipped$/);
  const card = page.getByRole('table', { name: 'Report card' });
  assert.match(await card.getByRole('row', { name: /^duplicate/ }).innerText(), /failed/);
  assert.match(await card.getByRole('row', { name: /^tampered_body/ }).innerText(), /failed/);
  assert.match(await card.getByRole('row', { name: /^signed/ }).innerText(), /passed/);
  assert.deepEqual(await axe(page), [], 'the simulator with a report card, light mode');
  assert.deepEqual(problems, []);
  await context.close();
});
