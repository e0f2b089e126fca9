// The baseline the edge must beat (issue: "the gate at native speed"): the
// same gate rules written the simple way, in plain JavaScript.
//   - the key record, secret included, read from KV on every request;
//   - HMAC-SHA256 over the same v1 canonical string, checked with WebCrypto;
//   - one Durable Object call per request for the nonce, the rate window and
//     the idempotency reservation, with the nonce map in memory.
// It answers signed GET /api/partner/me and POST /api/salutes/credit, and
// GET /developers/api-errors.json (no I/O), in the edge's shapes. The
// catalogue is the edge's own document, given as a string binding
// (ERRORS_JSON) by the harness, so both serve the same bytes.

const TOLERANCE_SECS = 300;
const WINDOW_SECS = 60;
const encoder = new TextEncoder();

function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'req_' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function answer(status, body, id, extra = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': id, ...extra },
  });
}

function refuse(status, error, message, id, extra) {
  return answer(status, { success: false, error, message, request_id: id }, id, extra);
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function unhex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

async function gate(request, env, route, id) {
  const url = new URL(request.url);
  const keyId = request.headers.get('x-partner-key');
  const timestamp = request.headers.get('x-partner-timestamp') ?? '';
  const nonce = request.headers.get('x-partner-nonce');
  const signature = request.headers.get('x-partner-signature') ?? '';
  if (!keyId || !nonce) return refuse(401, 'unauthorized', 'missing credentials', id);
  const record = await env.KEYS.get(`key:${keyId}`, 'json');
  if (!record || record.disabled) return refuse(401, 'unauthorized', 'unknown key', id);
  const now = Math.floor(Date.now() / 1000);
  if (!/^[0-9]{1,19}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > TOLERANCE_SECS) {
    return refuse(401, 'stale_timestamp', 'timestamp outside the window', id);
  }
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) return refuse(401, 'unauthorized', 'malformed nonce', id);
  if (!/^v1=[0-9a-f]{64}$/.test(signature)) return refuse(401, 'unauthorized', 'malformed signature', id);
  const body = new Uint8Array(await request.arrayBuffer());
  const bodyHash = hex(await crypto.subtle.digest('SHA-256', body));
  const canonical = ['v1', timestamp, request.method, url.pathname + url.search, nonce, bodyHash].join('\n');
  const key = await crypto.subtle.importKey('raw', encoder.encode(record.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const valid = await crypto.subtle.verify('HMAC', key, unhex(signature.slice(3)), encoder.encode(canonical));
  if (!valid) return refuse(401, 'signature_mismatch', 'the signature does not match the request', id);
  if (route.scope && !record.scopes.includes(route.scope)) return refuse(403, 'forbidden', `needs scope ${route.scope}`, id);
  let idempotencyKey = null;
  if (request.method === 'POST') {
    idempotencyKey = request.headers.get('idempotency-key');
    if (!idempotencyKey || !/^[\x21-\x7E]{1,255}$/.test(idempotencyKey)) {
      return refuse(400, 'invalid_request', 'mutations need an Idempotency-Key', id);
    }
  }
  const stub = env.GATE.get(env.GATE.idFromName(keyId));
  const admitted = await stub.fetch('https://gate/admit', {
    method: 'POST',
    body: JSON.stringify({
      nonce, expires: Number(timestamp) + TOLERANCE_SECS + 60, now, limit: record.rate_limit_per_minute,
      idempotencyKey, fingerprint: `${request.method} ${url.pathname}${url.search} ${bodyHash}`,
      credit: route.credit ? JSON.parse(new TextDecoder().decode(body) || '{}') : null, requestId: id,
    }),
  });
  const verdict = await admitted.json();
  const rate = {
    'x-ratelimit-limit': String(record.rate_limit_per_minute),
    'x-ratelimit-remaining': String(verdict.remaining ?? 0),
    'x-ratelimit-reset': String(verdict.reset ?? now),
  };
  if (verdict.error === 'replay_detected') return refuse(409, 'replay_detected', 'nonce reused', id);
  if (verdict.error === 'rate_limited') return refuse(429, 'rate_limited', 'over the limit', id, { ...rate, 'retry-after': '1' });
  if (verdict.error === 'idempotency_mismatch') return refuse(422, 'idempotency_mismatch', 'key reused', id, rate);
  if (verdict.stored) return answer(verdict.stored.status, verdict.stored.body, id, { ...rate, 'idempotent-replayed': 'true' });
  if (route.credit) return answer(201, { success: true, data: verdict.entry }, id, rate);
  return answer(200, {
    success: true,
    data: { key_id: keyId, name: record.name, environment: record.environment, scopes: record.scopes },
  }, id, rate);
}

const ROUTES = {
  'GET /api/partner/me': { scope: null },
  'POST /api/salutes/credit': { scope: 'credit', credit: true },
};

export default {
  async fetch(request, env) {
    const id = requestId();
    const url = new URL(request.url);
    if (request.method === 'GET' && url.pathname === '/developers/api-errors.json') {
      return new Response(env.ERRORS_JSON, {
        headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': id, 'cache-control': 'public, max-age=300' },
      });
    }
    const route = ROUTES[`${request.method} ${url.pathname}`];
    if (!route) return refuse(404, 'not_found', 'no such route', id);
    return gate(request, env, route, id);
  },
};

// One per key: nonces and the rate window in memory, idempotent answers and balances too.
export class Gate {
  constructor() {
    this.nonces = new Map();
    this.window = { started: 0, admitted: 0 };
    this.answers = new Map();
    this.balances = new Map();
    this.entries = 0;
  }

  async fetch(request) {
    const r = await request.json();
    // Oldest first (a Map keeps insertion order): stop at the first live one,
    // so a request costs the same however many nonces are held.
    for (const [nonce, expires] of this.nonces) {
      if (expires >= r.now) break;
      this.nonces.delete(nonce);
    }
    if (this.nonces.has(r.nonce)) return Response.json({ error: 'replay_detected' });
    this.nonces.set(r.nonce, r.expires);
    const start = r.now - (r.now % WINDOW_SECS);
    if (this.window.started !== start) this.window = { started: start, admitted: 0 };
    const reset = start + WINDOW_SECS;
    if (this.window.admitted >= r.limit) return Response.json({ error: 'rate_limited', remaining: 0, reset });
    this.window.admitted += 1;
    const remaining = r.limit - this.window.admitted;
    if (r.idempotencyKey) {
      const stored = this.answers.get(r.idempotencyKey);
      if (stored && stored.fingerprint !== r.fingerprint) return Response.json({ error: 'idempotency_mismatch', remaining, reset });
      if (stored) return Response.json({ stored: stored.answer, remaining, reset });
    }
    let entry = null;
    if (r.credit) {
      const balance = (this.balances.get(r.credit.user_id) ?? 0) + r.credit.amount;
      this.balances.set(r.credit.user_id, balance);
      this.entries += 1;
      entry = { entry_id: `le_${this.entries}`, user_id: r.credit.user_id, kind: 'credit', amount: r.credit.amount,
        balance_after: balance, reason: r.credit.reason, source: r.credit.source ?? null };
      this.answers.set(r.idempotencyKey, { fingerprint: r.fingerprint, answer: { status: 201, body: { success: true, data: entry } } });
    }
    return Response.json({ remaining, reset, entry });
  }
}
