//! Outbound webhooks against a real edge and a real receiver: a loopback
//! HTTP server whose answer each test picks by path (200, 500, a hang past
//! the timeout, 429 with Retry-After, or failing until healed).
//!
//! These tests share an edge with fast retries (1 s steps, 2 s timeout,
//! auto-disable after 2 dead letters); the ones that restart or reconfigure
//! an edge start their own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use partner_edge::webhooks::ssrf::SSRF_CORPUS;
use partner_edge::webhooks::{verify_delivery, WebhookSecret};
use partner_edge_tests::{fresh_idempotency_key, unix_now, Answer, Edge, OriginRequest, PartnerClient, TestServer};
use serde_json::{json, Value};

use crate::EdgeTest;

/// The shared webhook edge's settings.
pub const EDGE_VARS: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_LOOPBACK", "true"),
    ("WEBHOOK_RETRY_SCHEDULE_SECONDS", "1"),
    ("WEBHOOK_TIMEOUT_SECONDS", "2"),
    ("WEBHOOK_AUTO_DISABLE_AFTER", "2"),
];

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("event_types_are_published_with_schemas_and_examples", event_types_are_published_with_schemas_and_examples),
    ("a_delivery_is_signed_under_both_schemes", a_delivery_is_signed_under_both_schemes),
    ("a_credit_and_its_replay_deliver_one_event", a_credit_and_its_replay_deliver_one_event),
    (
        "credits_sent_together_each_deliver_their_own_event_once",
        credits_sent_together_each_deliver_their_own_event_once,
    ),
    ("a_failing_receiver_is_retried_until_it_succeeds", a_failing_receiver_is_retried_until_it_succeeds),
    ("retry_after_on_429_is_honoured", retry_after_on_429_is_honoured),
    ("a_hanging_receiver_times_out_and_is_retried", a_hanging_receiver_times_out_and_is_retried),
    ("dead_letters_are_reported_and_replayed_once", dead_letters_are_reported_and_replayed_once),
    ("rotation_signs_with_both_secrets_during_the_overlap", rotation_signs_with_both_secrets_during_the_overlap),
    ("consecutive_failures_disable_an_endpoint", consecutive_failures_disable_an_endpoint),
    ("fan_out_delivers_each_event_once_per_subscription", fan_out_delivers_each_event_once_per_subscription),
    ("test_pings_and_manual_retries_use_the_real_pipeline", test_pings_and_manual_retries_use_the_real_pipeline),
    ("bulk_redrive_runs_in_batches_with_a_cooldown", bulk_redrive_runs_in_batches_with_a_cooldown),
    ("secrets_are_shown_once_and_subscriptions_validated", secrets_are_shown_once_and_subscriptions_validated),
    ("metrics_expose_the_pipeline_to_operators_only", metrics_expose_the_pipeline_to_operators_only),
];

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[
    ("production_refuses_the_ssrf_corpus_and_loopback", production_refuses_the_ssrf_corpus_and_loopback),
    ("a_restart_during_a_retry_loses_nothing", a_restart_during_a_retry_loses_nothing),
    ("urls_are_checked_again_at_delivery", urls_are_checked_again_at_delivery),
    ("webhook_routes_have_their_own_rate_limit", webhook_routes_have_their_own_rate_limit),
];

/// The receiver all webhook tests share. Behaviour by the path's last segment:
/// `ok` 200; `fail` 500 until healed; `flaky2` 500 twice, then 200; `busy`
/// 429 with `Retry-After: 2` once, then 200; `hang` 3 s of silence once, then 200.
struct Receiver {
    server: TestServer,
    healed: Arc<Mutex<HashSet<String>>>,
}

fn receiver() -> &'static Receiver {
    static RECEIVER: OnceLock<Receiver> = OnceLock::new();
    RECEIVER.get_or_init(|| {
        let healed: Arc<Mutex<HashSet<String>>> = Arc::default();
        let cured = Arc::clone(&healed);
        let server = TestServer::start(move |request, seen| {
            let path = request.path_and_query.split('?').next().unwrap_or_default().to_owned();
            let behaviour = path.rsplit('/').next().unwrap_or_default();
            match behaviour {
                "fail" if !cured.lock().unwrap().contains(&path) => Answer::status(500),
                "flaky2" if seen < 2 => Answer::status(500),
                "busy" if seen == 0 => {
                    Answer { headers: vec![("retry-after".into(), "2".into())], ..Answer::status(429) }
                }
                "hang" if seen == 0 => Answer { delay: Duration::from_secs(3), ..Answer::status(200) },
                _ => Answer { body: "{\"received\":true}".into(), ..Answer::status(200) },
            }
        });
        Receiver { server, healed }
    })
}

impl Receiver {
    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    fn heal(&self, path: &str) {
        self.healed.lock().unwrap().insert(path.to_owned());
    }

    fn wait_for(&self, path: &str, count: usize) -> Vec<OriginRequest> {
        self.server.wait_for(path, count, Duration::from_secs(30))
    }
}

/// A unique path prefix per test run.
fn path(test: &str, behaviour: &str) -> String {
    format!("/{test}-{}/{behaviour}", partner_edge_tests::fresh_nonce())
}

fn partner(edge: &Edge) -> PartnerClient<'_> {
    edge.partner("live", &["webhooks", "credit", "read", "donation"])
}

/// Rotates a subscription's secret; the answer's data (the new secret, shown once).
pub fn rotate(client: &PartnerClient<'_>, subscription: &str) -> Value {
    let rotated = client.mutate(
        "POST",
        &format!("/api/partner/webhooks/{subscription}/rotate-secret"),
        &json!({}),
        &fresh_idempotency_key(),
    );
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    rotated.json()["data"].clone()
}

pub fn subscribe(client: &PartnerClient<'_>, url: &str, filter: Value) -> (String, String) {
    let mut body = json!({"url": url, "description": "test receiver"});
    for (name, value) in filter.as_object().unwrap() {
        body[name] = value.clone();
    }
    let reply = client.mutate("POST", "/api/partner/webhooks", &body, &fresh_idempotency_key());
    assert_eq!(reply.status, 201, "{}", reply.text());
    let data = reply.json()["data"].clone();
    (data["subscription_id"].as_str().unwrap().to_owned(), data["secret"].as_str().unwrap().to_owned())
}

fn credit(client: &PartnerClient<'_>, amount: u64) -> Value {
    let body = json!({"user_id": "4", "amount": amount, "reason": "webhook_test"});
    let reply = client.mutate("POST", "/api/salutes/credit", &body, &fresh_idempotency_key());
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["data"].clone()
}

fn publish(edge: &Edge, client: &PartnerClient<'_>, event_type: &str, data: Value) -> String {
    let reply = edge.admin(
        "POST",
        "/api/admin/events",
        Some(&json!({"key_id": client.key_id, "event_type": event_type, "data": data})),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.json()["data"]["event_id"].as_str().unwrap().to_owned()
}

fn claim_data(n: u64) -> Value {
    json!({"claim_id": format!("dc_{n}"), "user_id": "4", "campaign_id": "drive", "amount": n,
           "status": "claimed", "idempotency_key": format!("k{n}"), "created_at": 1_700_000_000})
}

fn log(client: &PartnerClient<'_>, subscription: &str, query: &str) -> Value {
    let reply = client.send("GET", &format!("/api/partner/webhooks/{subscription}/deliveries{query}"), b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// Polls the delivery log until `done` holds for it.
fn wait_log(client: &PartnerClient<'_>, subscription: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = log(client, subscription, "");
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "the delivery log never got there: {body:#}");
        thread::sleep(Duration::from_millis(200));
    }
}

fn states(body: &Value) -> Vec<String> {
    body["data"].as_array().unwrap().iter().map(|d| d["state"].as_str().unwrap().to_owned()).collect()
}

fn header_map(request: &OriginRequest) -> ureq::http::HeaderMap {
    let mut map = ureq::http::HeaderMap::new();
    for (name, value) in &request.headers {
        map.append(
            ureq::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            ureq::http::HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn body_json(request: &OriginRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn event_types_are_published_with_schemas_and_examples(edge: &Edge) {
    let reply = edge.get("/api/public/webhooks/event-types");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = reply.json()["data"].clone();
    let types: Vec<&str> =
        data["event_types"].as_array().unwrap().iter().map(|t| t["event_type"].as_str().unwrap()).collect();
    for wanted in [
        "donation.claim",
        "donation.claim_redeemed",
        "salutes.credit",
        "salutes.debit",
        "webhook.delivery_failed",
        "webhook.endpoint_disabled",
        "webhook.test",
    ] {
        assert!(types.contains(&wanted), "{wanted} missing from {types:?}");
    }
    for entry in data["event_types"].as_array().unwrap() {
        assert!(entry["data_schema"]["properties"].is_object(), "{entry}");
        assert_eq!(entry["example"]["event_type"], entry["event_type"]);
        assert_eq!(entry["example"]["schema_version"], "1");
    }
    assert!(reply.header("x-ratelimit-limit").is_some(), "a public route");
}

fn a_delivery_is_signed_under_both_schemes(edge: &Edge) {
    let client = partner(edge);
    let route = path("signed", "ok");
    let (subscription, secret) =
        subscribe(&client, &receiver().url(&route), json!({"event_types": ["salutes.credit"]}));
    let entry = credit(&client, 42);
    let arrived = receiver().wait_for(&route, 1);
    assert_eq!(arrived.len(), 1, "the credit's event never arrived");
    let request = &arrived[0];
    let body = String::from_utf8(request.body.clone()).unwrap();

    // The seed's scheme and the shared verifier.
    let secret_parsed = WebhookSecret::parse(&secret).unwrap();
    let report =
        verify_delivery(&secret_parsed, |name| request.header(name).map(str::to_owned), &body, unix_now(), 300);
    assert_eq!(report.seed_scheme, Ok(()));
    assert_eq!(report.standard_webhooks, Ok(()));
    // So does the CLI's verify.
    let received: Vec<(String, String)> = request.headers.clone();
    let checks = partner_edge_cli::verify_webhook(&secret, &received, &body, unix_now(), 300).unwrap();
    assert_eq!(checks, vec![("X-Webhook-Signature", Ok(())), ("Standard Webhooks", Ok(()))]);
    // An off-the-shelf Standard Webhooks verifier accepts it unchanged.
    standardwebhooks::Webhook::new(&secret).unwrap().verify(&request.body, &header_map(request)).unwrap();
    // And a tampered body is refused by it.
    let tampered = body.replace("42", "43");
    assert!(standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(tampered.as_bytes(), &header_map(request))
        .is_err());

    let envelope = body_json(request);
    assert_eq!(envelope["schema_version"], "1");
    assert_eq!(envelope["event_type"], "salutes.credit");
    assert_eq!(envelope["data"], entry, "the event carries the ledger entry");
    assert!(envelope["occurred_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(request.header("x-webhook-id"), envelope["event_id"].as_str());
    assert_eq!(request.header("webhook-id"), envelope["event_id"].as_str());
    assert_eq!(request.header("x-webhook-event"), Some("salutes.credit"));

    let done = wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    let attempt = &done["data"][0]["attempt_log"][0];
    assert_eq!(attempt["status"], 200);
    assert_eq!(attempt["signing_key_ids"], json!(["whk_1"]));
    assert_eq!(attempt["response_excerpt"], "{\"received\":true}");
    assert!(attempt["latency_ms"].as_u64().is_some());
}

/// The sandbox's outbox hands a credit's event to the hub after the answer,
/// and the replay of the same credit (same Idempotency-Key) adds nothing.
fn a_credit_and_its_replay_deliver_one_event(edge: &Edge) {
    let client = partner(edge);
    let route = path("outbox", "ok");
    subscribe(&client, &receiver().url(&route), json!({"event_types": ["salutes.credit"]}));
    let body = json!({"user_id": "4", "amount": 7, "reason": "webhook_test"});
    let key = fresh_idempotency_key();
    let first = client.mutate("POST", "/api/salutes/credit", &body, &key);
    let again = client.mutate("POST", "/api/salutes/credit", &body, &key);
    assert_eq!((first.status, again.status), (201, 201), "{}", again.text());
    assert_eq!(again.json()["data"], first.json()["data"], "the replay is the first answer");
    let arrived = receiver().wait_for(&route, 1);
    assert_eq!(arrived.len(), 1, "the credit's event never left the outbox");
    assert_eq!(body_json(&arrived[0])["data"], first.json()["data"]);
    // Give a wrongly doubled hand-over time to show up.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver().server.requests_to(&route).len(), 1, "one credit, one event");
    // The hub indexed the event it took from the outbox: the operator's
    // replay finds it by id alone, and finds nothing left to send.
    let event_id = body_json(&arrived[0])["event_id"].as_str().unwrap().to_owned();
    let replay = edge.admin("POST", &format!("/api/admin/webhook-events/{event_id}/replay"), None);
    assert_eq!(replay.status, 200, "{}", replay.text());
    assert_eq!(
        replay.json(),
        json!({"success": true, "event_id": event_id, "requeued": false, "deliveries_requeued": 0})
    );
}

/// Credits written within one gather time leave the outbox in one
/// hand-over, which the hub stores in one statement: every entry still
/// gets its own event, once, with its own data.
fn credits_sent_together_each_deliver_their_own_event_once(edge: &Edge) {
    let client = partner(edge);
    let route = path("outbox-batch", "ok");
    subscribe(&client, &receiver().url(&route), json!({"event_types": ["salutes.credit"]}));
    let entries: Vec<Value> = (1..=6).map(|amount| credit(&client, amount)).collect();
    receiver().wait_for(&route, entries.len());
    // Give a doubled event time to show up; then all that came, at once.
    thread::sleep(Duration::from_secs(2));
    let all = receiver().wait_for(&route, entries.len());
    assert_eq!(all.len(), entries.len(), "one event per credit, none doubled or lost");
    let mut delivered: Vec<Value> = all.iter().map(|request| body_json(request)["data"].clone()).collect();
    delivered.sort_by_key(|data| data["entry_id"].as_str().unwrap_or_default().to_owned());
    let mut expected = entries.clone();
    expected.sort_by_key(|data| data["entry_id"].as_str().unwrap_or_default().to_owned());
    assert_eq!(delivered, expected, "each event carries its own entry");
    let ids: std::collections::BTreeSet<String> =
        all.iter().map(|request| body_json(request)["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), entries.len(), "distinct event ids");
}

fn a_failing_receiver_is_retried_until_it_succeeds(edge: &Edge) {
    let client = partner(edge);
    let route = path("flaky", "flaky2");
    let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
    let event_id = publish(edge, &client, "donation.claim", claim_data(1));
    let arrived = receiver().wait_for(&route, 3);
    assert_eq!(arrived.len(), 3);
    assert!(arrived.iter().all(|r| r.header("x-webhook-id") == Some(event_id.as_str())), "retries keep the event id");
    let done = wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    let statuses: Vec<Value> =
        done["data"][0]["attempt_log"].as_array().unwrap().iter().map(|a| a["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(500), json!(500), json!(200)]);
    let failures = client.send("GET", &format!("/api/partner/webhooks/{subscription}/failures"), b"").json();
    assert_eq!(failures["data"].as_array().unwrap().len(), 2);
}

fn retry_after_on_429_is_honoured(edge: &Edge) {
    let client = partner(edge);
    let route = path("busy", "busy");
    subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
    publish(edge, &client, "donation.claim", claim_data(2));
    receiver().wait_for(&route, 2);
    let times: Vec<SystemTime> = receiver().server.requests_to(&route).into_iter().map(|(_, at)| at).collect();
    assert_eq!(times.len(), 2);
    let gap = times[1].duration_since(times[0]).unwrap();
    // The schedule alone would retry after 1 s +-20%; Retry-After asked for 2 s.
    assert!(gap >= Duration::from_millis(1_900), "retried after {gap:?}, before Retry-After allowed");
}

fn a_hanging_receiver_times_out_and_is_retried(edge: &Edge) {
    let client = partner(edge);
    let route = path("hang", "hang");
    let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
    publish(edge, &client, "donation.claim", claim_data(3));
    let done = wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    let attempts = done["data"][0]["attempt_log"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert!(attempts[0]["error"].as_str().unwrap().contains("no answer within 2 s"), "{:#}", attempts[0]);
    assert!(attempts[0].get("status").is_none());
    assert_eq!(attempts[1]["status"], 200);
}

fn dead_letters_are_reported_and_replayed_once(edge: &Edge) {
    let client = partner(edge);
    let route = path("dead", "fail");
    let watcher = path("dead-watch", "ok");
    let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"event_types": ["donation.claim"]}));
    subscribe(&client, &receiver().url(&watcher), json!({"event_types": ["webhook.delivery_failed"]}));
    let event_id = publish(edge, &client, "donation.claim", claim_data(4));

    let dead = wait_log(&client, &subscription, |b| states(b) == ["failed_dead_letter"]);
    assert_eq!(dead["data"][0]["attempts"], 5, "the default five attempts");
    assert_eq!(receiver().server.requests_to(&route).len(), 5);
    let notices = receiver().wait_for(&watcher, 1);
    let notice = body_json(&notices[0]);
    assert_eq!(notice["event_type"], "webhook.delivery_failed");
    assert_eq!(notice["data"]["event_id"], event_id.as_str());
    assert_eq!(notice["data"]["subscription_id"], subscription.as_str());
    let filtered = log(&client, &subscription, "?status=failed_dead_letter&event_type=donation.claim");
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);

    receiver().heal(&route);
    let replay = edge.admin("POST", &format!("/api/admin/webhook-events/{event_id}/replay"), None);
    assert_eq!(replay.status, 200, "{}", replay.text());
    assert_eq!(
        replay.json(),
        json!({"success": true, "event_id": event_id, "requeued": true, "deliveries_requeued": 1})
    );
    wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    assert_eq!(receiver().server.requests_to(&route).len(), 6);

    // Already delivered: a second replay queues nothing, so nothing more is sent.
    let again = edge.admin("POST", &format!("/api/admin/webhook-events/{event_id}/replay"), None);
    assert_eq!(
        (again.json()["requeued"].clone(), again.json()["deliveries_requeued"].clone()),
        (json!(false), json!(0))
    );
    let after = log(&client, &subscription, "");
    assert_eq!((states(&after), after["data"][0]["attempts"].clone()), (vec!["succeeded".to_owned()], json!(6)));
    assert_eq!(receiver().server.requests_to(&route).len(), 6);
    edge.admin("POST", "/api/admin/webhook-events/evt_unknown0000/replay", None).assert_error(404, "not_found");
}

fn rotation_signs_with_both_secrets_during_the_overlap(edge: &Edge) {
    let client = partner(edge);
    let route = path("rotate", "ok");
    let (subscription, old) = subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
    let data = rotate(&client, &subscription);
    let new = data["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(data["current_secret_id"], "whk_2");
    assert!(data["previous_secret_valid_until"].as_u64().unwrap() > unix_now() + 86_000);

    let ping = client.mutate(
        "POST",
        &format!("/api/partner/webhooks/{subscription}/test"),
        &json!({}),
        &fresh_idempotency_key(),
    );
    assert_eq!(ping.status, 202, "{}", ping.text());
    let request = receiver().wait_for(&route, 1).remove(0);
    assert_eq!(request.header("webhook-signature").unwrap().split(' ').count(), 2, "one signature per live secret");
    for secret in [&old, &new] {
        standardwebhooks::Webhook::new(secret).unwrap().verify(&request.body, &header_map(&request)).unwrap();
    }
    let body = String::from_utf8(request.body.clone()).unwrap();
    let check = |secret: &str| {
        verify_delivery(
            &WebhookSecret::parse(secret).unwrap(),
            |n| request.header(n).map(str::to_owned),
            &body,
            unix_now(),
            300,
        )
    };
    assert_eq!(check(&old).seed_scheme, Ok(()), "X-Webhook-Signature uses the previous secret during the overlap");
    assert!(check(&new).seed_scheme.is_err());
    let done = wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    assert_eq!(done["data"][0]["attempt_log"][0]["signing_key_ids"], json!(["whk_2", "whk_1"]));
}

fn consecutive_failures_disable_an_endpoint(edge: &Edge) {
    let client = partner(edge);
    let failing = path("disable", "fail");
    let watcher = path("disable-watch", "ok");
    let (subscription, _) = subscribe(&client, &receiver().url(&failing), json!({"event_types": ["donation.claim"]}));
    subscribe(&client, &receiver().url(&watcher), json!({"event_types": ["webhook.endpoint_disabled"]}));
    publish(edge, &client, "donation.claim", claim_data(5));
    publish(edge, &client, "donation.claim", claim_data(6));

    let notices = receiver().wait_for(&watcher, 1);
    let notice = body_json(&notices[0]);
    assert_eq!(notice["event_type"], "webhook.endpoint_disabled");
    assert_eq!(notice["data"]["subscription_id"], subscription.as_str());
    let reply = client.send("GET", &format!("/api/partner/webhooks/{subscription}"), b"");
    let data = reply.json()["data"].clone();
    assert_eq!(data["active"], false);
    assert_eq!(data["consecutive_failures"], 2);
    assert!(data["disabled_reason"].as_str().unwrap().contains("consecutive"));

    // Disabled: a new event is not even queued for it.
    let before = receiver().server.requests_to(&failing).len();
    let published = edge.admin(
        "POST",
        "/api/admin/events",
        Some(&json!({"key_id": client.key_id, "event_type": "donation.claim", "data": claim_data(7)})),
    );
    assert_eq!(published.json()["data"]["deliveries"], 0, "{}", published.text());
    assert_eq!(log(&client, &subscription, "")["data"].as_array().unwrap().len(), 2, "no third delivery");
    assert_eq!(receiver().server.requests_to(&failing).len(), before);

    let enabled = client.mutate(
        "PATCH",
        &format!("/api/partner/webhooks/{subscription}"),
        &json!({"active": true}),
        &fresh_idempotency_key(),
    );
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    assert_eq!(enabled.json()["data"]["active"], true);
    assert_eq!(enabled.json()["data"]["consecutive_failures"], 0);
}

fn fan_out_delivers_each_event_once_per_subscription(edge: &Edge) {
    const EVENTS: usize = 10;
    const SUBSCRIPTIONS: usize = 3;
    let client = partner(edge);
    let routes: Vec<String> = (0..SUBSCRIPTIONS).map(|m| path(&format!("fan{m}"), "ok")).collect();
    let subscriptions: Vec<String> =
        routes.iter().map(|route| subscribe(&client, &receiver().url(route), json!({"receive_all": true})).0).collect();
    let client = &client;
    let published: HashSet<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..EVENTS)
            .map(|n| scope.spawn(move || publish(edge, client, "donation.claim", claim_data(100 + n as u64))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(published.len(), EVENTS);
    for (route, subscription) in routes.iter().zip(&subscriptions) {
        let arrived = receiver().wait_for(route, EVENTS);
        // Every delivery has ended after one attempt, so nothing more can be sent.
        let done = wait_log(client, subscription, |b| states(b) == vec!["succeeded".to_owned(); EVENTS]);
        assert!(done["data"].as_array().unwrap().iter().all(|d| d["attempts"] == 1), "{done:#}");
        let arrived_now = receiver().server.requests_to(route);
        assert_eq!(arrived_now.len(), EVENTS, "{route}: {} requests, each event exactly once", arrived.len());
        let ids: HashSet<String> =
            arrived_now.iter().map(|(r, _)| r.header("x-webhook-id").unwrap().to_owned()).collect();
        assert_eq!(ids, published, "{route} got every event");
    }
}

fn test_pings_and_manual_retries_use_the_real_pipeline(edge: &Edge) {
    let client = partner(edge);
    let route = path("ping", "ok");
    let (subscription, secret) = subscribe(&client, &receiver().url(&route), json!({"event_types": ["salutes.debit"]}));
    let ping = client.mutate(
        "POST",
        &format!("/api/partner/webhooks/{subscription}/test"),
        &json!({}),
        &fresh_idempotency_key(),
    );
    assert_eq!(ping.status, 202, "{}", ping.text());
    let event_id = ping.json()["data"]["event_id"].as_str().unwrap().to_owned();
    let request = receiver().wait_for(&route, 1).remove(0);
    assert_eq!(request.header("x-webhook-event"), Some("webhook.test"));
    assert_eq!(request.header("x-webhook-id"), Some(event_id.as_str()));
    standardwebhooks::Webhook::new(&secret).unwrap().verify(&request.body, &header_map(&request)).unwrap();

    let done = wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    let delivery_id = done["data"][0]["delivery_id"].as_str().unwrap().to_owned();
    let retry = client.mutate(
        "POST",
        &format!("/api/partner/webhooks/{subscription}/deliveries/{delivery_id}/retry"),
        &json!({}),
        &fresh_idempotency_key(),
    );
    assert_eq!(retry.status, 202, "{}", retry.text());
    let both = receiver().wait_for(&route, 2);
    assert_eq!(both[1].header("x-webhook-id"), Some(event_id.as_str()), "a retry resends the same event");
    wait_log(&client, &subscription, |b| b["data"][0]["attempts"] == 2 && states(b) == ["succeeded"]);
    client
        .mutate("POST", "/api/partner/webhooks/wh_nope/test", &json!({}), &fresh_idempotency_key())
        .assert_error(404, "not_found");
}

fn bulk_redrive_runs_in_batches_with_a_cooldown(edge: &Edge) {
    let client = partner(edge);
    let route = path("redrive", "fail");
    let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"event_types": ["donation.claim"]}));
    for n in 0..3 {
        publish(edge, &client, "donation.claim", claim_data(200 + n));
    }
    wait_log(&client, &subscription, |b| states(b).iter().filter(|s| *s == "failed_dead_letter").count() == 3);
    receiver().heal(&route);
    // Three dead letters disabled the endpoint (this edge disables after two): re-enable it.
    let enabled = client.mutate(
        "PATCH",
        &format!("/api/partner/webhooks/{subscription}"),
        &json!({"active": true}),
        &fresh_idempotency_key(),
    );
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    let before = receiver().server.requests_to(&route).len();
    let reply = edge.admin(
        "POST",
        "/api/admin/webhook-dead-letters/redrive",
        Some(&json!({"key_id": client.key_id, "batch_size": 2, "cooldown_seconds": 3})),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    let data = reply.json()["data"].clone();
    assert_eq!((data["requeued"].clone(), data["remaining"].clone()), (json!(2), json!(1)), "{data}");
    let started = SystemTime::now();
    receiver().wait_for(&route, before + 3);
    let arrivals: Vec<SystemTime> =
        receiver().server.requests_to(&route).into_iter().skip(before).map(|(_, at)| at).collect();
    assert_eq!(arrivals.len(), 3);
    let third = arrivals[2].duration_since(started).unwrap_or_default();
    assert!(third >= Duration::from_millis(2_500), "the second batch waited for the cooldown: {third:?}");
    wait_log(&client, &subscription, |b| states(b).iter().all(|s| s == "succeeded"));
    let bad = edge.admin(
        "POST",
        "/api/admin/webhook-dead-letters/redrive",
        Some(&json!({"key_id": client.key_id, "batch_size": 0})),
    );
    bad.assert_error(400, "invalid_request");
}

fn secrets_are_shown_once_and_subscriptions_validated(edge: &Edge) {
    let client = partner(edge);
    let route = path("once", "ok");
    let key = fresh_idempotency_key();
    let body = json!({"url": receiver().url(&route), "receive_all": true});
    let first = client.mutate("POST", "/api/partner/webhooks", &body, &key);
    assert_eq!(first.status, 201);
    let secret = first.json()["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let replay = client.mutate("POST", "/api/partner/webhooks", &body, &key);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert!(!replay.text().contains(&secret), "a replay never shows the secret again");
    assert_eq!(replay.json()["data"]["secret_redacted"], true);
    let list = client.send("GET", "/api/partner/webhooks", b"");
    assert!(!list.text().contains("whsec_"), "{}", list.text());
    assert_eq!(list.json()["data"].as_array().unwrap().len(), 1, "the replay created nothing");

    let cases = [
        (json!({"url": receiver().url(&route)}), 400, "invalid_request", "event_types"),
        (
            json!({"url": receiver().url(&route), "event_types": ["salutes.refund"]}),
            400,
            "invalid_request",
            "salutes.refund",
        ),
        (json!({"url": "x".repeat(2049), "receive_all": true}), 400, "invalid_request", "2048"),
        (json!({"url": "http://10.1.2.3/hook", "receive_all": true}), 422, "url_not_allowed", "private"),
        (json!({"url": "http://169.254.169.254/", "receive_all": true}), 422, "url_not_allowed", "metadata"),
    ];
    for (body, status, code, needle) in cases {
        let error =
            client.mutate("POST", "/api/partner/webhooks", &body, &fresh_idempotency_key()).assert_error(status, code);
        assert!(error["message"].as_str().unwrap().contains(needle), "{body}: {error}");
    }
    let stranger = partner(edge);
    let id = first.json()["data"]["subscription_id"].as_str().unwrap().to_owned();
    stranger.send("GET", &format!("/api/partner/webhooks/{id}"), b"").assert_error(404, "not_found");
    let reader = edge.partner("live", &["read"]);
    reader.send("GET", "/api/partner/webhooks", b"").assert_error(403, "forbidden");
    let deleted = client.mutate("DELETE", &format!("/api/partner/webhooks/{id}"), &json!({}), &fresh_idempotency_key());
    assert_eq!(deleted.status, 200);
    client.send("GET", &format!("/api/partner/webhooks/{id}"), b"").assert_error(404, "not_found");
}

fn metrics_expose_the_pipeline_to_operators_only(edge: &Edge) {
    let client = partner(edge);
    let route = path("metrics", "ok");
    let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
    publish(edge, &client, "donation.claim", claim_data(300));
    wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);

    edge.get("/metrics").assert_error(401, "unauthorized");
    let reply = edge.request("GET", "/metrics", &[("X-Admin-Key", partner_edge_tests::TEST_ADMIN_KEY)], None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    let text = reply.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
    };
    assert!(value("webhook_events_total{state=\"succeeded\"}") >= 1.0);
    assert!(value("webhook_events_total{state=\"queued\"}") >= 1.0);
    assert!(value("webhook_delivery_latency_seconds_count") >= 1.0);
    assert!(value("webhook_delivery_latency_seconds_bucket{le=\"+Inf\"}") >= 1.0);
    for series in ["webhook_queue_depth", "webhook_oldest_message_age_seconds", "webhook_dead_letter_count_24h"] {
        assert!(value(series) >= 0.0);
    }
    let success = value("webhook_success_rate_5m");
    assert!(success > 0.0 && success <= 1.0, "{success}");
    assert!(value("webhook_retry_rate_5m") >= 0.0);
}

/// A production edge (`EDGE_ENV=production`): the whole SSRF corpus is
/// refused at creation, naming the field; and a production edge with the
/// loopback setting refuses webhook work instead of honouring it.
fn production_refuses_the_ssrf_corpus_and_loopback() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("EDGE_ENV", "production")]);
    let client = partner(&edge);
    for url in SSRF_CORPUS {
        let error = client
            .mutate(
                "POST",
                "/api/partner/webhooks",
                &json!({"url": url, "receive_all": true}),
                &fresh_idempotency_key(),
            )
            .assert_error(422, "url_not_allowed");
        assert!(error["message"].as_str().unwrap().starts_with("url"), "{url}: {error}");
    }
    let ok = client.mutate(
        "POST",
        "/api/partner/webhooks",
        &json!({"url": "https://hooks.example.com/partner-edge", "receive_all": true}),
        &fresh_idempotency_key(),
    );
    assert_eq!(ok.status, 201, "{}", ok.text());
    drop(edge);

    let (edge, _state) = Edge::spawn_fresh_with(&[("EDGE_ENV", "production"), ("WEBHOOK_ALLOW_LOOPBACK", "true")]);
    let client = partner(&edge);
    let refused = client.mutate(
        "POST",
        "/api/partner/webhooks",
        &json!({"url": "https://hooks.example.com/partner-edge", "receive_all": true}),
        &fresh_idempotency_key(),
    );
    refused.assert_error(500, "server_error");
    let started = Instant::now();
    while !edge.log().contains("WEBHOOK_ALLOW_LOOPBACK=true is refused") && started.elapsed() < Duration::from_secs(10)
    {
        thread::sleep(Duration::from_millis(250));
    }
    assert!(edge.log().contains("WEBHOOK_ALLOW_LOOPBACK=true is refused"), "the operator is told why:\n{}", edge.log());
}

/// The worker stops between a failed attempt and its retry; the retry still
/// happens after the restart, from the persisted queue and alarm.
fn a_restart_during_a_retry_loses_nothing() {
    let state = tempfile::tempdir().unwrap();
    let vars: &[(&str, &str)] = &[("WEBHOOK_ALLOW_LOOPBACK", "true"), ("WEBHOOK_RETRY_SCHEDULE_SECONDS", "4")];
    let route = path("restart", "flaky2");
    let (key_id, secret, subscription) = {
        let edge = Edge::spawn_with_state_and_vars(state.path(), vars);
        let client = partner(&edge);
        let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
        publish(&edge, &client, "donation.claim", claim_data(400));
        receiver().wait_for(&route, 1);
        // The first attempt failed; the retry is 4 s away. Stop the edge now.
        (client.key_id.clone(), client.secret.clone(), subscription)
    };
    assert_eq!(receiver().server.requests_to(&route).len(), 1, "stopped before the retry");
    let edge = Edge::spawn_with_state_and_vars(state.path(), vars);
    let arrived = receiver().wait_for(&route, 3);
    assert_eq!(arrived.len(), 3, "the retries resumed after the restart");
    let client = PartnerClient { edge: &edge, key_id, secret };
    let done = wait_log(&client, &subscription, |b| states(b) == ["succeeded"]);
    assert_eq!(done["data"][0]["attempts"], 3);
}

/// A URL allowed when the subscription was made is checked again before
/// each delivery: after a restart without the loopback setting, the attempt
/// is refused and logged instead of sent.
fn urls_are_checked_again_at_delivery() {
    let state = tempfile::tempdir().unwrap();
    let route = path("recheck", "ok");
    let (key_id, secret, subscription) = {
        let edge = Edge::spawn_with_state_and_vars(state.path(), &[("WEBHOOK_ALLOW_LOOPBACK", "true")]);
        let client = partner(&edge);
        let (subscription, _) = subscribe(&client, &receiver().url(&route), json!({"receive_all": true}));
        (client.key_id.clone(), client.secret.clone(), subscription)
    };
    let edge = Edge::spawn_with_state_and_vars(state.path(), &[("WEBHOOK_ALLOW_LOOPBACK", "false")]);
    let client = PartnerClient { edge: &edge, key_id, secret };
    publish(&edge, &client, "donation.claim", claim_data(500));
    let body = wait_log(&client, &subscription, |b| b["data"][0]["attempts"].as_u64().unwrap_or(0) >= 1);
    let error = body["data"][0]["attempt_log"][0]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("url refused at delivery") && error.contains("loopback"), "{error}");
    assert!(receiver().server.requests_to(&route).is_empty(), "nothing reached the receiver");
}

/// `RATE_LIMIT_WEBHOOK_PER_MIN` limits a key's webhook routes in a window of
/// their own: exhausting it leaves the key's other routes untouched.
fn webhook_routes_have_their_own_rate_limit() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("RATE_LIMIT_WEBHOOK_PER_MIN", "3")]);
    let client = partner(&edge);
    let statuses: Vec<u16> = (0..5).map(|_| client.send("GET", "/api/partner/webhooks", b"").status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let limited = client.send("GET", "/api/partner/webhooks", b"");
    limited.assert_error(429, "rate_limited");
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    let me = client.send("GET", "/api/partner/me", b"");
    assert_eq!(me.status, 200, "the partner window is separate");
    assert_eq!(me.header("x-ratelimit-limit"), Some("600"));
}
