//! The seed's small public routes against a real edge: the quickstart key
//! check, the strict canary, the aggregate figures and the anonymised
//! latest transactions.

use std::time::{Duration, Instant};

use partner_edge_tests::{fresh_idempotency_key, Edge};
use serde_json::{json, Value};

use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    (
        "the_quickstart_check_says_what_a_key_is_and_never_echoes_a_secret",
        the_quickstart_check_says_what_a_key_is_and_never_echoes_a_secret,
    ),
    (
        "the_canary_echoes_valid_messages_and_names_what_is_wrong",
        the_canary_echoes_valid_messages_and_names_what_is_wrong,
    ),
    (
        "public_figures_show_sandbox_activity_without_identities",
        public_figures_show_sandbox_activity_without_identities,
    ),
    ("credits_handed_over_together_reach_the_feed_in_order", credits_handed_over_together_reach_the_feed_in_order),
    (
        "the_trust_manifest_reports_live_settings_and_answers_304_when_unchanged",
        the_trust_manifest_reports_live_settings_and_answers_304_when_unchanged,
    ),
];

fn the_trust_manifest_reports_live_settings_and_answers_304_when_unchanged(edge: &Edge) {
    let first = edge.get("/trust.json");
    assert_eq!(first.status, 200, "{}", first.text());
    let etag = first.header("etag").expect("an ETag").to_owned();
    let manifest = first.json();
    let control = |id: &str| manifest["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    // The test edges run hour-long rate windows: the manifest reads the live setting.
    assert_eq!(control("rate_limits")["value"]["window_seconds"], 3600);
    assert_eq!(control("ssrf_policy")["value"]["https_required"], false, "a local edge allows http loopback");
    assert_eq!(control("sunsets")["value"][0]["id"], "user-lookup");
    assert_eq!(control("key_revocation")["value"]["seconds"], 30, "the default KEY_CACHE_SECONDS");
    assert!(manifest["controls"].as_array().unwrap().iter().all(|c| !c["evidence"].as_array().unwrap().is_empty()));

    let again = edge.request("GET", "/trust.json", &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let stale = edge.request("GET", "/trust.json", &[("If-None-Match", "\"stale\"")], None);
    assert_eq!(stale.status, 200);
}

fn verify(edge: &Edge, query: &str) -> Value {
    let reply = edge.get(&format!("/api/public/quickstart/verify-key?{query}"));
    assert_eq!(reply.status, 200, "{query}: {}", reply.text());
    reply.json()["data"].clone()
}

fn the_quickstart_check_says_what_a_key_is_and_never_echoes_a_secret(edge: &Edge) {
    let demo = verify(edge, "api_key=sandbox_demo_key&client=cli");
    assert_eq!(
        (demo["status"].clone(), demo["key_id"].clone()),
        (json!("ready"), json!("pk_sandbox_de30de30de30de30de30de30"))
    );
    let sandbox = edge.partner("sandbox", &["read"]);
    assert_eq!(verify(edge, &format!("api_key={}", sandbox.key_id))["status"], "ready");
    let disabled = edge.partner("sandbox", &["read"]);
    let patched =
        edge.admin("PATCH", &format!("/api/admin/partner-keys/{}", disabled.key_id), Some(&json!({"disabled": true})));
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(verify(edge, &format!("api_key={}", disabled.key_id))["status"], "unusable");
    assert_eq!(verify(edge, "api_key=pk_live_0123456789abcdef01234567")["status"], "live_key");
    assert_eq!(verify(edge, "api_key=pk_sandbox_ffffffffffffffffffffffff")["status"], "unknown");
    assert_eq!(verify(edge, "api_key=hello")["status"], "malformed");
    let pasted = edge.get(&format!("/api/public/quickstart/verify-key?api_key={}", sandbox.secret));
    assert!(!pasted.text().contains(&sandbox.secret), "a pasted secret is never echoed: {}", pasted.text());
    assert_eq!(pasted.json()["data"]["status"], "malformed");
    let missing = edge.get("/api/public/quickstart/verify-key").assert_error(400, "invalid_request");
    assert!(missing["message"].as_str().unwrap().starts_with("api_key"), "{missing}");
}

fn the_canary_echoes_valid_messages_and_names_what_is_wrong(edge: &Edge) {
    let echo = |body: Value| {
        edge.request(
            "POST",
            "/api/canary/echo",
            &[("content-type", "application/json")],
            Some(&serde_json::to_vec(&body).unwrap()),
        )
    };
    let ok = echo(json!({"message": "hello", "request_id": "canary-1"}));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let data = &ok.json()["data"];
    assert_eq!((data["message"].clone(), data["request_id"].clone()), (json!("hello"), json!("canary-1")));
    assert_eq!(data["edge_request_id"].as_str(), ok.header("x-request-id"));
    for (body, field) in [
        (json!({"message": "hello", "request_id": "canary-1", "extra": true}), "extra"),
        (json!({"message": 5, "request_id": "canary-1"}), "message"),
        (json!({"message": "   ", "request_id": "canary-1"}), "message"),
        (json!({"message": "hello"}), "request_id"),
    ] {
        let error = echo(body.clone()).assert_error(400, "invalid_request");
        assert!(error["message"].as_str().unwrap().contains(field), "{body}: {error}");
    }
}

fn public_figures_show_sandbox_activity_without_identities(edge: &Edge) {
    let client = edge.partner("sandbox", &["credit", "read"]);
    let amount = 4_000_000 + (std::process::id() as u64 % 1000);
    let body = json!({"user_id": "3", "amount": amount, "reason": "public_feed_check"});
    let idempotency_key = fresh_idempotency_key();
    let credited = client.mutate("POST", "/api/salutes/credit", &body, &idempotency_key);
    assert_eq!(credited.status, 201, "{}", credited.text());
    let entry = credited.json()["data"].clone();
    let replayed = client.mutate("POST", "/api/salutes/credit", &body, &idempotency_key);
    assert_eq!(replayed.json()["data"], entry, "a retry is answered with the same entry");

    // Handed over from the sandbox's outbox after the answer went out: poll for it.
    let started = Instant::now();
    loop {
        let latest = edge.get("/api/transactions/latest?limit=100").json();
        if latest["data"].as_array().unwrap().iter().any(|t| t["amount"] == amount) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the credit never reached the public feed: {latest}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The outbox and the retry have had time to add a second copy, if they could.
    std::thread::sleep(Duration::from_millis(1500));
    let latest = edge.get("/api/transactions/latest?limit=100").json();
    let copies = latest["data"].as_array().unwrap().iter().filter(|t| t["amount"] == amount).count();
    assert_eq!(copies, 1, "an entry and its retry are one public transaction: {latest}");
    let text = latest.to_string();
    for private in
        [entry["entry_id"].as_str().unwrap(), entry["idempotency_key"].as_str().unwrap(), client.key_id.as_str()]
    {
        assert!(!text.contains(private), "{private} is in the public feed");
    }
    let first = &latest["data"].as_array().unwrap()[0];
    let fields: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["amount", "created_at", "kind", "reason", "seq"], "only these fields are public");

    let stats = edge.get("/api/public-stats").json()["data"].clone();
    assert!(stats["transactions"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["credited_total"].as_u64().unwrap() >= amount, "{stats}");
    assert!(stats["partner_keys"].as_u64().unwrap() >= 1, "{stats}");
    edge.get("/api/transactions/latest?limit=101").assert_error(400, "invalid_request");
}

/// Credits made within one outbox gathering reach the public feed in one
/// batch, and come out newest first, each once, in the order they were made.
fn credits_handed_over_together_reach_the_feed_in_order(edge: &Edge) {
    let client = edge.partner("live", &["credit"]);
    let base = 5_000_000 + (std::process::id() as u64 % 1000) * 10;
    let amounts: Vec<u64> = (0..5).map(|i| base + i).collect();
    for amount in &amounts {
        let body = json!({"user_id": "3", "amount": amount, "reason": "batch_order_check"});
        assert_eq!(client.mutate("POST", "/api/salutes/credit", &body, &fresh_idempotency_key()).status, 201);
    }
    let started = Instant::now();
    let ours = loop {
        let latest = edge.get("/api/transactions/latest?limit=100").json();
        let ours: Vec<(u64, u64)> = latest["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| amounts.contains(&t["amount"].as_u64().unwrap()))
            .map(|t| (t["amount"].as_u64().unwrap(), t["seq"].as_u64().unwrap()))
            .collect();
        if ours.len() >= amounts.len() {
            break ours;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the credits never all reached the feed: {latest}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let newest_first: Vec<u64> = amounts.iter().rev().copied().collect();
    assert_eq!(ours.iter().map(|(amount, _)| *amount).collect::<Vec<_>>(), newest_first, "{ours:?}");
    assert!(ours.windows(2).all(|pair| pair[0].1 > pair[1].1), "numbered in the order made: {ours:?}");
}
