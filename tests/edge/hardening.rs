//! Hostile input and hostile peers, against a real edge: bodies with no
//! length, methods the runtime does not know, query values out of range,
//! receivers that redirect, flood or drip, secrets that will not unseal,
//! storage that must not grow, and operators' and probes' entry points.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use partner_edge_tests::{fresh_idempotency_key, try_request, Edge, PartnerClient, TEST_ADMIN_KEY, TEST_MASTER_KEY};
use serde_json::{json, Value};

use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("an_unknown_method_is_405_and_never_served_as_a_read", an_unknown_method_is_405_and_never_served_as_a_read),
    (
        "a_chunked_body_over_the_cap_is_413_without_being_buffered",
        a_chunked_body_over_the_cap_is_413_without_being_buffered,
    ),
    ("query_values_out_of_range_are_400_naming_the_parameter", query_values_out_of_range_are_400_naming_the_parameter),
    ("health_serves_a_recent_probe_again_instead_of_writing", health_serves_a_recent_probe_again_instead_of_writing),
];

/// Tests on the shared webhook edge (fast retries, 2 s timeout).
pub const WEBHOOK_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("a_redirect_is_a_failed_attempt_and_never_followed", a_redirect_is_a_failed_attempt_and_never_followed),
    (
        "a_flooding_receiver_costs_one_attempt_and_a_bounded_read",
        a_flooding_receiver_costs_one_attempt_and_a_bounded_read,
    ),
    ("a_dripping_receiver_times_out_while_others_are_served", a_dripping_receiver_times_out_while_others_are_served),
];

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[
    ("a_secret_that_will_not_unseal_still_ends_its_delivery", a_secret_that_will_not_unseal_still_ends_its_delivery),
    ("webhook_storage_is_capped_and_pruned", webhook_storage_is_capped_and_pruned),
    ("failed_admin_logins_are_rate_limited_per_client", failed_admin_logins_are_rate_limited_per_client),
    ("a_weak_admin_key_keeps_the_admin_api_off_in_production", a_weak_admin_key_keeps_the_admin_api_off_in_production),
    ("health_probes_again_once_its_cache_is_stale", health_probes_again_once_its_cache_is_stale),
];

const WEBHOOK_VARS: &[(&str, &str)] = &[("WEBHOOK_ALLOW_LOOPBACK", "true"), ("WEBHOOK_RETRY_SCHEDULE_SECONDS", "1")];

// ------------------------------------------------------------------ input

/// Sends one request with any method over a raw connection; returns the
/// status code and the whole answer as text.
fn raw_request(edge: &Edge, method: &str, path: &str) -> (u16, String) {
    let address = edge.base_url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

fn an_unknown_method_is_405_and_never_served_as_a_read(edge: &Edge) {
    // workerd itself answers 501 to a method it cannot parse at all.
    let (status, answer) = raw_request(edge, "BREW", "/api/public/health");
    assert!(status == 405 || status == 501, "BREW: {answer}");
    for method in ["PROPFIND", "PURGE", "MKCOL"] {
        let (status, answer) = raw_request(edge, method, "/api/public/health");
        assert_eq!(status, 405, "{method}: {answer}");
        assert!(answer.contains("\"method_not_allowed\""), "{method}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("allow: get"), "{method}: the Allow header lists GET: {answer}");
        let (status, answer) = raw_request(edge, method, "/api/partner/me");
        assert_eq!(status, 405, "{method} on a partner route: {answer}");
    }
    let reply = try_request(&edge.url("/api/public/health"), "GET", &[], None).unwrap();
    assert_eq!(reply.status, 200, "GET itself still reads");
}

/// Streams `total` bytes as a chunked body to `path` with no
/// `Content-Length`, reading the answer on another thread. Returns the
/// status line, the body, and how many bytes had been written when the
/// answer arrived.
fn send_chunked(edge: &Edge, path: &str, total: usize) -> (String, String, u64) {
    let address = edge.base_url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let answered_at = Arc::new(AtomicU64::new(u64::MAX));
    let reader = {
        let stream = stream.try_clone().unwrap();
        let written = Arc::clone(&written);
        let answered_at = Arc::clone(&answered_at);
        thread::spawn(move || {
            stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut status = String::new();
            reader.read_line(&mut status).unwrap();
            answered_at.store(written.load(Ordering::SeqCst), Ordering::SeqCst);
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            (status, rest)
        })
    };
    let chunk = vec![b' '; 64 * 1024];
    while (written.load(Ordering::SeqCst) as usize) < total && answered_at.load(Ordering::SeqCst) == u64::MAX {
        let frame = format!("{:x}\r\n", chunk.len());
        if stream
            .write_all(frame.as_bytes())
            .and_then(|()| stream.write_all(&chunk))
            .and_then(|()| stream.write_all(b"\r\n"))
            .is_err()
        {
            break; // the edge closed the connection: it stopped reading
        }
        written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let (status, rest) = reader.join().unwrap();
    (status, rest, answered_at.load(Ordering::SeqCst))
}

fn a_chunked_body_over_the_cap_is_413_without_being_buffered(edge: &Edge) {
    const TOTAL: usize = 40 * 1024 * 1024;
    let (status, rest, written_when_answered) = send_chunked(edge, "/api/salutes/credit", TOTAL);
    assert!(status.contains(" 413 "), "a 40 MB body with no Content-Length: {status}{rest}");
    assert!(rest.contains("\"payload_too_large\""), "{rest}");
    assert!(written_when_answered > 0, "the answer came once the body was refused");
    // A small chunked body is read whole and reaches the gate.
    let (status, rest, _) = send_chunked(edge, "/api/salutes/credit", 64 * 1024 - 1);
    assert!(status.contains(" 401 "), "a body under the cap goes on to the gate: {status}{rest}");
}

fn query_values_out_of_range_are_400_naming_the_parameter(edge: &Edge) {
    let client = edge.partner("live", &["read", "ledger", "webhooks"]);
    let created = client.mutate(
        "POST",
        "/api/partner/webhooks",
        &json!({"url": "https://hooks.example.com/q", "receive_all": true}),
        &fresh_idempotency_key(),
    );
    let webhook = created.json()["data"]["subscription_id"].as_str().unwrap_or("wh_missing").to_owned();
    let deliveries = format!("/api/partner/webhooks/{webhook}/deliveries");
    let failures = format!("/api/partner/webhooks/{webhook}/failures");
    let cases: Vec<(String, &str)> = vec![
        ("/api/salutes/ledger?limit=abc".into(), "limit"),
        ("/api/salutes/ledger?limit=0".into(), "limit"),
        ("/api/salutes/ledger?limit=99999999999999999999".into(), "limit"),
        ("/api/salutes/ledger?cursor=nope".into(), "cursor"),
        ("/api/salutes/ledger?cursor=le_18446744073709551615".into(), "cursor"),
        (format!("{deliveries}?cursor=c_18446744073709551615"), "cursor"),
        (format!("{deliveries}?status=lost"), "status"),
        (format!("{deliveries}?event_type=nope.nope"), "event_type"),
        (format!("{deliveries}?limit=-1"), "limit"),
        (format!("{failures}?cursor=c_99999999999999999999999"), "cursor"),
        (format!("{failures}?limit=1.5"), "limit"),
    ];
    // Any cursor the document's pattern allows is answered, even past the
    // largest sequence number SQLite holds: not a 400, not a 500.
    for path in [
        format!("{deliveries}?cursor=c_9223372036854775807"),
        format!("{deliveries}?cursor=c_9570700349297300670"),
        format!("{failures}?cursor=c_420016041560466324"),
    ] {
        let reply = client.send("GET", &path, b"");
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    for cursor in ["le_9223372036854775807", "le_9999999999999999999"] {
        let reply = client.send("GET", &format!("/api/salutes/ledger?cursor={cursor}"), b"");
        assert_eq!(reply.status, 200, "{cursor}: {}", reply.text());
    }
    for (path, parameter) in cases {
        let reply = client.send("GET", &path, b"");
        let error = reply.assert_error(400, "invalid_request");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(parameter), "{path}: the message names {parameter}: {message}");
    }
}

// ------------------------------------------------------------------ probes

fn health_serves_a_recent_probe_again_instead_of_writing(edge: &Edge) {
    let first = edge.get("/api/public/health").json();
    let second = edge.get("/api/public/health").json();
    assert_eq!(first["data"]["checked_at_ms"], second["data"]["checked_at_ms"], "{first} then {second}");
    assert_eq!(first["data"]["probes_recorded"], second["data"]["probes_recorded"], "the second call wrote nothing");
}

fn health_probes_again_once_its_cache_is_stale() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("HEALTH_CACHE_SECONDS", "1")]);
    let first = edge.get("/api/public/health").json()["data"]["probes_recorded"].as_u64().unwrap();
    let started = Instant::now();
    loop {
        let now = edge.get("/api/public/health").json()["data"]["probes_recorded"].as_u64().unwrap();
        if now > first {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "health never probed again");
        thread::sleep(Duration::from_millis(250));
    }
}

// --------------------------------------------------------------- operators

fn failed_admin_logins_are_rate_limited_per_client() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("ADMIN_AUTH_FAILURES_PER_MIN", "3")]);
    let as_client = |ip: &str, key: &str| {
        edge.request("GET", "/api/admin/partner-keys", &[("X-Admin-Key", key), ("cf-connecting-ip", ip)], None)
    };
    for _ in 0..3 {
        as_client("203.0.113.7", "guess").assert_error(401, "unauthorized");
    }
    let locked = as_client("203.0.113.7", "guess");
    locked.assert_error(429, "rate_limited");
    assert!(locked.header("retry-after").is_some(), "the lockout says when it ends");
    as_client("203.0.113.7", TEST_ADMIN_KEY).assert_error(429, "rate_limited");
    let other = as_client("203.0.113.8", TEST_ADMIN_KEY);
    assert_eq!(other.status, 200, "another client is not locked out: {}", other.text());
}

fn a_weak_admin_key_keeps_the_admin_api_off_in_production() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("EDGE_ENV", "production"), ("ADMIN_API_KEY", "short-admin-key")]);
    let reply = edge.request("GET", "/api/admin/partner-keys", &[("X-Admin-Key", "short-admin-key")], None);
    let error = reply.assert_error(503, "not_configured");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("ADMIN_API_KEY") && message.contains("32"), "{message}");
    assert!(!message.contains("short-admin-key"), "the key itself is never echoed");
}

// ---------------------------------------------------------------- webhooks

/// A receiver that misbehaves by path: `redirect` answers 302 to its own
/// `target`; `flood` streams 256 MB; `drip` sends a byte every 100 ms; `ok`
/// answers 200. It counts what it wrote per path and what reached `target`.
struct HostileReceiver {
    port: u16,
    written: Arc<Mutex<Vec<(String, u64)>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl HostileReceiver {
    fn start() -> HostileReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let written: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (sink, log) = (Arc::clone(&written), Arc::clone(&seen));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sink, log) = (Arc::clone(&sink), Arc::clone(&log));
                thread::spawn(move || serve_hostile(stream, port, &sink, &log));
            }
        });
        HostileReceiver { port, written, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|p| p.as_str() == path).count()
    }

    fn written_to(&self, path: &str) -> Vec<u64> {
        self.written.lock().unwrap().iter().filter(|(p, _)| p == path).map(|(_, n)| *n).collect()
    }
}

fn serve_hostile(stream: TcpStream, port: u16, written: &Mutex<Vec<(String, u64)>>, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    seen.lock().unwrap().push(path.clone());
    let mut stream = stream;
    let behaviour = path.rsplit('/').next().unwrap_or_default().to_owned();
    let mut sent = 0u64;
    match behaviour.as_str() {
        "redirect" => {
            let target = format!("http://127.0.0.1:{port}{}", path.replace("/redirect", "/target"));
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
        "flood" => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n");
            let chunk = vec![b'x'; 64 * 1024];
            while sent < 256 * 1024 * 1024 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
        }
        "drip" => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if stream.write_all(b".").and_then(|()| stream.flush()).is_err() {
                    break;
                }
                sent += 1;
                thread::sleep(Duration::from_millis(100));
            }
        }
        _ => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    }
    written.lock().unwrap().push((path, sent));
}

fn hostile() -> &'static HostileReceiver {
    static RECEIVER: std::sync::OnceLock<HostileReceiver> = std::sync::OnceLock::new();
    RECEIVER.get_or_init(HostileReceiver::start)
}

fn unique(test: &str, behaviour: &str) -> String {
    format!("/{test}-{}/{behaviour}", partner_edge_tests::fresh_nonce())
}

fn subscribe(client: &PartnerClient<'_>, url: &str) -> String {
    let reply = client.mutate(
        "POST",
        "/api/partner/webhooks",
        &json!({"url": url, "event_types": ["donation.claim"]}),
        &fresh_idempotency_key(),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["data"]["subscription_id"].as_str().unwrap().to_owned()
}

fn publish_claim(edge: &Edge, key_id: &str, n: u64) {
    let data = json!({"claim_id": format!("dc_{n}"), "user_id": "4", "campaign_id": "drive", "amount": n,
                      "status": "claimed", "idempotency_key": format!("k{n}"), "created_at": 1_700_000_000});
    let reply = edge.admin(
        "POST",
        "/api/admin/events",
        Some(&json!({"key_id": key_id, "event_type": "donation.claim", "data": data})),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
}

/// Polls a subscription's delivery log until `done` holds for its first entry.
fn wait_first(client: &PartnerClient<'_>, subscription: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let reply = client.send("GET", &format!("/api/partner/webhooks/{subscription}/deliveries"), b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let entry = reply.json()["data"][0].clone();
        if done(&entry) {
            return entry;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "the delivery never got there: {entry:#}");
        thread::sleep(Duration::from_millis(200));
    }
}

fn first_attempt_recorded(entry: &Value) -> bool {
    entry["attempt_log"].as_array().is_some_and(|log| !log.is_empty())
}

fn a_redirect_is_a_failed_attempt_and_never_followed(edge: &Edge) {
    let client = edge.partner("live", &["webhooks"]);
    let route = unique("redirect", "redirect");
    let subscription = subscribe(&client, &hostile().url(&route));
    publish_claim(edge, &client.key_id, 11);
    let entry = wait_first(&client, &subscription, first_attempt_recorded);
    let attempt = &entry["attempt_log"][0];
    assert_eq!(attempt["status"], 302, "{attempt}");
    assert_eq!(attempt["succeeded"], false);
    assert_eq!(attempt["error_kind"], "redirected", "{attempt}");
    let target = route.replace("/redirect", "/target");
    assert!(attempt["error"].as_str().unwrap().contains(&target), "the Location is recorded: {attempt}");
    // The attempt is recorded only once its fetch has finished: had it followed
    // the redirect, the target would already have been hit.
    assert_eq!(hostile().hits(&target), 0, "nothing was fetched from the redirect's target");
}

fn a_flooding_receiver_costs_one_attempt_and_a_bounded_read(edge: &Edge) {
    let client = edge.partner("live", &["webhooks"]);
    let route = unique("flood", "flood");
    let subscription = subscribe(&client, &hostile().url(&route));
    publish_claim(edge, &client.key_id, 12);
    let entry = wait_first(&client, &subscription, |e| e["state"] == "succeeded");
    let attempt = &entry["attempt_log"][0];
    assert_eq!(attempt["status"], 200, "{attempt}");
    assert!(attempt["response_excerpt"].as_str().unwrap().len() <= 512);
    let started = Instant::now();
    while hostile().written_to(&route).is_empty() && started.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(100));
    }
    let written = hostile().written_to(&route);
    assert_eq!(written.len(), 1, "one attempt: {written:?}");
    assert!(written[0] < 64 * 1024 * 1024, "the edge kept reading: {} bytes of 256 MB", written[0]);
}

fn a_dripping_receiver_times_out_while_others_are_served(edge: &Edge) {
    let client = edge.partner("live", &["webhooks"]);
    let drip = subscribe(&client, &hostile().url(&unique("drip", "drip")));
    let ok_route = unique("drip-neighbour", "ok");
    let neighbour = subscribe(&client, &hostile().url(&ok_route));
    publish_claim(edge, &client.key_id, 13);
    let served = wait_first(&client, &neighbour, |e| e["state"] == "succeeded");
    assert_eq!(served["attempts"], 1, "{served}");
    let entry = wait_first(&client, &drip, first_attempt_recorded);
    let attempt = &entry["attempt_log"][0];
    assert_eq!(attempt["error_kind"], "timed_out", "{attempt}");
    assert!(attempt["latency_ms"].as_u64().unwrap() >= 1_900, "{attempt}");
}

/// The master key changes under a queued retry: the retry cannot unseal its
/// secret, is recorded as a failed attempt, and the delivery ends as a dead
/// letter instead of cycling through `processing`.
fn a_secret_that_will_not_unseal_still_ends_its_delivery() {
    let state = tempfile::tempdir().unwrap();
    let other_master = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
    assert_ne!(other_master, TEST_MASTER_KEY);
    let vars = [WEBHOOK_VARS, &[("WEBHOOK_RETRY_SCHEDULE_SECONDS", "4"), ("WEBHOOK_MAX_ATTEMPTS", "2")]].concat();
    let route = unique("unseal", "fail");
    let (key_id, secret, subscription) = {
        let edge = Edge::spawn_with_state_and_vars(state.path(), &vars);
        let client = edge.partner("live", &["webhooks"]);
        let subscription = subscribe(&client, &hostile().url(&route.replace("/fail", "/redirect")));
        publish_claim(&edge, &client.key_id, 14);
        wait_first(&client, &subscription, first_attempt_recorded);
        (client.key_id.clone(), client.secret.clone(), subscription)
    };
    {
        let vars = [vars.as_slice(), &[("PARTNER_KEY_MASTER", other_master)]].concat();
        let edge = Edge::spawn_with_state_and_vars(state.path(), &vars);
        let started = Instant::now();
        loop {
            let metrics = edge.admin("GET", "/metrics", None).text();
            if metrics.contains("webhook_events_total{state=\"failed_dead_letter\"} 1") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the delivery never ended:\n{metrics}");
            thread::sleep(Duration::from_millis(250));
        }
    }
    let edge = Edge::spawn_with_state_and_vars(state.path(), &vars);
    let client = PartnerClient { edge: &edge, key_id, secret };
    let entry = wait_first(&client, &subscription, |e| e["state"] == "failed_dead_letter");
    let kinds: Vec<&str> =
        entry["attempt_log"].as_array().unwrap().iter().map(|a| a["error_kind"].as_str().unwrap_or("none")).collect();
    assert_eq!(kinds, ["redirected", "secret_unreadable"], "{entry:#}");
}

fn webhook_storage_is_capped_and_pruned() {
    let vars = [
        WEBHOOK_VARS,
        &[
            ("WEBHOOK_MAX_SUBSCRIPTIONS", "2"),
            ("WEBHOOK_MAX_LIVE_SECRETS", "2"),
            ("WEBHOOK_LOG_ATTEMPTS_PER_DELIVERY", "2"),
            ("WEBHOOK_MAX_ATTEMPTS", "3"),
            ("WEBHOOK_RETENTION_SECONDS", "3"),
            ("WEBHOOK_PRUNE_INTERVAL_SECONDS", "1"),
        ],
    ]
    .concat();
    let (edge, _state) = Edge::spawn_fresh_with(&vars);
    let client = edge.partner("live", &["webhooks"]);
    let failing = subscribe(&client, &hostile().url(&unique("caps", "redirect")));
    subscribe(&client, &hostile().url(&unique("caps", "ok")));
    let third = client.mutate(
        "POST",
        "/api/partner/webhooks",
        &json!({"url": hostile().url("/caps/ok"), "receive_all": true}),
        &fresh_idempotency_key(),
    );
    let error = third.assert_error(409, "limit_exceeded");
    assert!(error["message"].as_str().unwrap().contains("WEBHOOK_MAX_SUBSCRIPTIONS"), "{error}");

    let rotate = format!("/api/partner/webhooks/{failing}/rotate-secret");
    let first = client.mutate("POST", &rotate, &json!({}), &fresh_idempotency_key());
    assert_eq!(first.status, 200, "{}", first.text());
    let second = client.mutate("POST", &rotate, &json!({}), &fresh_idempotency_key());
    let error = second.assert_error(409, "limit_exceeded");
    assert!(error["message"].as_str().unwrap().contains("WEBHOOK_MAX_LIVE_SECRETS"), "{error}");

    // Three failed attempts; the log lists the newest two.
    publish_claim(&edge, &client.key_id, 15);
    let dead = wait_first(&client, &failing, |e| e["state"] == "failed_dead_letter");
    assert_eq!(dead["attempts"], 3, "{dead:#}");
    let listed: Vec<u64> =
        dead["attempt_log"].as_array().unwrap().iter().map(|a| a["attempt"].as_u64().unwrap()).collect();
    assert_eq!(listed, [2, 3], "{dead:#}");

    // Finished deliveries, their attempts and their events are pruned by the alarm.
    let started = Instant::now();
    loop {
        let log = client.send("GET", &format!("/api/partner/webhooks/{failing}/deliveries"), b"").json();
        let failures = client.send("GET", &format!("/api/partner/webhooks/{failing}/failures"), b"").json();
        if log["data"].as_array().unwrap().is_empty() && failures["data"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "nothing was pruned: {log:#}");
        thread::sleep(Duration::from_millis(250));
    }
    let replay = edge.admin("POST", "/api/admin/webhook-events/evt_missing00/replay", None);
    assert_eq!(replay.status, 404, "{}", replay.text());
}
