// Webhook delivery benchmark: event-to-receiver latency and deliveries per
// second, on workerd through Miniflare, to a receiver on loopback.
//
//   bash scripts/edge.sh bench-webhooks [--events N] [--concurrency C] [--subscriptions M] [--rounds R]
//
// Each event is published through the operator route (POST /api/admin/events)
// by C concurrent publishers; its latency runs from just before that request
// is sent to the moment the receiver has the delivery (so it includes the
// ingest, the queue, the alarm, signing and the HTTP attempt). Figures are
// medians across rounds; the machine is noisy, so compare medians.
import { createServer } from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ADMIN_KEY, median, mintKey, percentile, startEdge } from './edge.mjs';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '8' },
    subscriptions: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
  },
});
const EVENTS = Number(values.events);
const CONCURRENCY = Number(values.concurrency);
const SUBSCRIPTIONS = Number(values.subscriptions);
const ROUNDS = Number(values.rounds);

// The receiver: records when each (event, subscription) arrived.
const arrivals = new Map();
const receiver = createServer((req, res) => {
  const at = performance.now();
  req.resume();
  req.on('end', () => {
    arrivals.set(`${req.headers['x-webhook-id']} ${req.url}`, at);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverPort = receiver.address().port;

function signed(method, path, body, key) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString('hex');
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const canonical = ['v1', timestamp, method, path, nonce, bodyHash].join('\n');
  return {
    'content-type': 'application/json',
    'x-partner-key': key.key_id,
    'x-partner-timestamp': timestamp,
    'x-partner-nonce': nonce,
    'x-partner-signature': `v1=${createHmac('sha256', key.secret).update(canonical).digest('hex')}`,
    'idempotency-key': `bench-${nonce}`,
  };
}

const { mf, dispose } = startEdge({ WEBHOOK_ALLOW_LOOPBACK: 'true' });
try {
  const base = (await mf.ready).toString().replace(/\/$/, '');
  const key = await mintKey(base, ['webhooks']);
  for (let m = 0; m < SUBSCRIPTIONS; m++) {
    const body = JSON.stringify({ url: `http://127.0.0.1:${receiverPort}/hook/${m}`, receive_all: true });
    const created = await fetch(`${base}/api/partner/webhooks`, {
      method: 'POST', headers: signed('POST', '/api/partner/webhooks', body, key), body,
    });
    if (created.status !== 201) throw new Error(`subscribing answered ${created.status}: ${await created.text()}`);
  }
  const data = { claim_id: 'dc_1', user_id: '4', campaign_id: 'bench', amount: 1, status: 'claimed', idempotency_key: 'k', created_at: 0 };

  async function round(label, count) {
    arrivals.clear();
    const sentAt = new Map();
    let next = 0;
    const started = performance.now();
    async function publisher() {
      while (next < count) {
        const n = next++;
        const eventId = `evt_${label}-${String(n).padStart(6, '0')}`;
        const body = JSON.stringify({ key_id: key.key_id, event_type: 'donation.claim', data, event_id: eventId });
        sentAt.set(eventId, performance.now());
        const reply = await fetch(`${base}/api/admin/events`, {
          method: 'POST', headers: { 'x-admin-key': ADMIN_KEY, 'content-type': 'application/json' }, body,
        });
        if (reply.status !== 202) throw new Error(`publishing answered ${reply.status}: ${await reply.text()}`);
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, publisher));
    const published = performance.now();
    const expected = count * SUBSCRIPTIONS;
    const deadline = Date.now() + 120_000;
    while (arrivals.size < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (arrivals.size < expected) throw new Error(`only ${arrivals.size} of ${expected} deliveries arrived`);
    const latencies = [...arrivals].map(([id, at]) => at - sentAt.get(id.split(' ')[0]));
    const last = Math.max(...arrivals.values());
    return {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      deliveriesPerSec: expected / ((last - started) / 1000),
      publishPerSec: count / ((published - started) / 1000),
    };
  }

  await round('warm', 20);
  const results = [];
  for (let r = 0; r < ROUNDS; r++) results.push(await round(`r${r}`, EVENTS));
  const m = (field) => median(results.map((x) => x[field]));
  console.log(`webhooks: ${EVENTS} events x ${SUBSCRIPTIONS} subscription(s), ${CONCURRENCY} publishers, ${ROUNDS} rounds (medians)\n`);
  console.log('event-to-receiver latency   p50 ms   p95 ms   p99 ms   deliveries/s   publishes/s');
  console.log(
    `${''.padEnd(27)} ${m('p50').toFixed(1).padStart(7)} ${m('p95').toFixed(1).padStart(8)} ${m('p99').toFixed(1).padStart(8)}` +
    ` ${m('deliveriesPerSec').toFixed(0).padStart(14)} ${m('publishPerSec').toFixed(0).padStart(13)}`,
  );
  console.log('\nseed SLO: p50 < 250 ms, p95 < 1000 ms, p99 < 3000 ms; loopback target ten times lower');
} finally {
  await dispose();
  receiver.close();
}
