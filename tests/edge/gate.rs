//! The partner gate against a real edge: every refusal with its code, key
//! management, rotation, and exactness under concurrency.

use std::thread;

use partner_edge_tests::{fresh_nonce, unix_now, Edge, PartnerClient};
use serde_json::json;

use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("signed_me_returns_identity_and_rate_headers", signed_me_returns_identity_and_rate_headers),
    ("missing_unknown_and_malformed_keys_are_unauthorized", missing_unknown_and_malformed_keys_are_unauthorized),
    ("stale_and_future_timestamps_are_refused", stale_and_future_timestamps_are_refused),
    ("tampered_requests_fail_the_signature", tampered_requests_fail_the_signature),
    ("a_reused_nonce_is_a_replay", a_reused_nonce_is_a_replay),
    ("one_signed_request_sent_in_parallel_is_admitted_once", one_signed_request_sent_in_parallel_is_admitted_once),
    ("disabled_and_deleted_keys_stop_working", disabled_and_deleted_keys_stop_working),
    ("an_oversized_body_is_413_before_anything_else", an_oversized_body_is_413_before_anything_else),
    ("admin_api_needs_the_admin_key_and_never_lists_secrets", admin_api_needs_the_admin_key_and_never_lists_secrets),
    ("invalid_key_requests_name_the_field", invalid_key_requests_name_the_field),
    ("rotation_keeps_the_old_secret_during_the_overlap", rotation_keeps_the_old_secret_during_the_overlap),
    ("error_catalogue_lists_every_code_the_gate_uses", error_catalogue_lists_every_code_the_gate_uses),
    ("fifty_identical_signed_requests_admit_exactly_one", fifty_identical_signed_requests_admit_exactly_one),
    (
        "a_burst_over_the_sandbox_limit_admits_exactly_the_limit",
        a_burst_over_the_sandbox_limit_admits_exactly_the_limit,
    ),
];

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[
    (
        "a_restarted_gate_still_refuses_a_replay_and_keeps_counting_its_window",
        a_restarted_gate_still_refuses_a_replay_and_keeps_counting_its_window,
    ),
    ("expired_keys_and_retired_secrets_stop_working", expired_keys_and_retired_secrets_stop_working),
    ("a_misconfigured_edge_fails_closed_without_leaking", a_misconfigured_edge_fails_closed_without_leaking),
];

const ME: &str = "/api/partner/me";

fn signed_me_returns_identity_and_rate_headers(edge: &Edge) {
    let client = edge.partner("sandbox", &["read", "credit"]);
    let reply = client.send("GET", ME, b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = &reply.json()["data"];
    assert_eq!(data["key_id"], client.key_id.as_str());
    assert_eq!(data["environment"], "sandbox");
    assert_eq!(data["scopes"], json!(["read", "credit"]));
    assert_eq!(reply.header("x-ratelimit-limit"), Some("30"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("29"));
    let reset: u64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
    // Test edges run hour-long windows (RATE_LIMIT_WINDOW_SECONDS=3600).
    assert!(reset > unix_now() && reset <= unix_now() + 3601, "reset {reset}");
}

fn missing_unknown_and_malformed_keys_are_unauthorized(edge: &Edge) {
    edge.get(ME).assert_error(401, "unauthorized");
    let mut client = edge.partner("sandbox", &["read"]);
    client.key_id = "pk_sandbox_000000000000000000000000".into();
    client.send("GET", ME, b"").assert_error(401, "unauthorized");
    client.key_id = "not-a-key".into();
    client.send("GET", ME, b"").assert_error(401, "unauthorized");
}

fn stale_and_future_timestamps_are_refused(edge: &Edge) {
    let client = edge.partner("sandbox", &["read"]);
    for timestamp in [unix_now() - 400, unix_now() + 400] {
        let signed = client.sign("GET", ME, b"", timestamp, &fresh_nonce());
        client.send_signed("GET", ME, b"", &signed).assert_error(401, "stale_timestamp");
    }
    let mut signed = client.sign("GET", ME, b"", unix_now(), &fresh_nonce());
    signed.timestamp = "yesterday".into();
    client.send_signed("GET", ME, b"", &signed).assert_error(401, "stale_timestamp");
}

fn tampered_requests_fail_the_signature(edge: &Edge) {
    let client = edge.partner("sandbox", &["read"]);
    let now = unix_now();
    // Signed for a different path, query, method, timestamp or nonce than sent.
    // The 401 carries the canonical string the edge computed, and the
    // shared diff names the part the client signed differently.
    let cases = [
        ("GET", "/api/partner/other", now, None, "path and query"),
        ("GET", "/api/partner/me?x=1", now, None, "path and query"),
        ("POST", ME, now, None, "method"),
        ("GET", ME, now - 1, None, "timestamp"),
        ("GET", ME, now, Some("another-nonce-000001"), "nonce"),
    ];
    for (method, path, timestamp, nonce, differs) in cases {
        let sent_nonce = fresh_nonce();
        let signed_nonce = nonce.unwrap_or(&sent_nonce).to_owned();
        let mut signed = client.sign(method, path, b"", timestamp, &signed_nonce);
        signed.timestamp = now.to_string();
        signed.nonce = sent_nonce.clone();
        let refused = client.send_signed("GET", ME, b"", &signed).assert_error(401, "signature_mismatch");
        let diagnostics = &refused["signature_diagnostics"];
        let theirs = diagnostics["canonical_request"].as_str().expect("the canonical string is sent back");
        let stamp = timestamp.to_string();
        let mine = partner_edge::signing::canonical_v1(&partner_edge::signing::SignedParts {
            timestamp: &stamp,
            method,
            path_and_query: path,
            nonce: &signed_nonce,
            body: b"",
        });
        assert_eq!(partner_edge::signing::canonical_differences(&mine, theirs), [differs], "{refused:#}");
        assert_eq!(
            (diagnostics["method"].as_str(), diagnostics["nonce"].as_str()),
            (Some("GET"), Some(sent_nonce.as_str()))
        );
        let text = refused.to_string();
        assert!(!text.contains(&client.secret) && !text.contains(&signed.signature[3..]), "no secret, no signature");
    }
    let mut signed = client.sign("GET", ME, b"", now, &fresh_nonce());
    signed.signature.truncate(signed.signature.len() - 4);
    client.send_signed("GET", ME, b"", &signed).assert_error(401, "unauthorized");
    let mut wrong = edge.partner("sandbox", &["read"]);
    wrong.secret = client.secret.clone();
    let refused = wrong.send("GET", ME, b"").assert_error(401, "signature_mismatch");
    assert!(refused["signature_diagnostics"]["canonical_request"].as_str().unwrap().starts_with("v1\n"));
}

fn a_reused_nonce_is_a_replay(edge: &Edge) {
    let client = edge.partner("sandbox", &["read"]);
    let signed = client.sign("GET", ME, b"", unix_now(), &fresh_nonce());
    assert_eq!(client.send_signed("GET", ME, b"", &signed).status, 200);
    client.send_signed("GET", ME, b"", &signed).assert_error(409, "replay_detected");
}

/// The same signed request, twelve times at once: one answer, eleven
/// replays, and only the one counted against the rate window. Once the
/// window is full, a replay is still answered as a replay.
fn one_signed_request_sent_in_parallel_is_admitted_once(edge: &Edge) {
    let client = edge.partner("sandbox", &["read"]);
    let signed = client.sign("GET", ME, b"", unix_now(), &fresh_nonce());
    let replies: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..12).map(|_| scope.spawn(|| client.send_signed("GET", ME, b"", &signed))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    for replay in replies.iter().filter(|r| r.status != 200) {
        replay.assert_error(409, "replay_detected");
    }
    let next = client.send("GET", ME, b"");
    assert_eq!(next.header("x-ratelimit-remaining"), Some("28"), "the replays took nothing from the window");
    let over = (0..40).map(|_| client.send("GET", ME, b"")).find(|reply| reply.status != 200);
    over.expect("the window fills within 40 requests").assert_error(429, "rate_limited");
    client.send_signed("GET", ME, b"", &signed).assert_error(409, "replay_detected");
}

fn disabled_and_deleted_keys_stop_working(edge: &Edge) {
    let client = edge.partner("live", &["read"]);
    assert_eq!(client.send("GET", ME, b"").status, 200);
    let path = format!("/api/admin/partner-keys/{}", client.key_id);
    let patched = edge.admin("PATCH", &path, Some(&json!({"disabled": true})));
    assert_eq!(patched.json()["data"]["disabled"], true);
    let refused = client.send("GET", ME, b"").assert_error(401, "unauthorized");
    assert!(refused["message"].as_str().unwrap().contains("disabled"));
    edge.admin("PATCH", &path, Some(&json!({"disabled": false})));
    assert_eq!(client.send("GET", ME, b"").status, 200);
    assert_eq!(edge.admin("DELETE", &path, None).status, 200);
    client.send("GET", ME, b"").assert_error(401, "unauthorized");
    edge.admin("GET", &path, None).assert_error(404, "not_found");
}

fn an_oversized_body_is_413_before_anything_else(edge: &Edge) {
    let body = vec![b'x'; 64 * 1024 + 1];
    // No credentials at all: the size check still comes before the 401.
    edge.request("POST", "/api/admin/partner-keys", &[], Some(&body)).assert_error(413, "payload_too_large");
    // And on a signed route, before the key is even looked up.
    let client = edge.partner("sandbox", &["read"]);
    client.send("GET", ME, &body).assert_error(413, "payload_too_large");
}

fn admin_api_needs_the_admin_key_and_never_lists_secrets(edge: &Edge) {
    edge.get("/api/admin/partner-keys").assert_error(401, "unauthorized");
    edge.request("GET", "/api/admin/partner-keys", &[("X-Admin-Key", "wrong")], None).assert_error(401, "unauthorized");
    let client = edge.partner("sandbox", &["read"]);
    let listed = edge.admin("GET", "/api/admin/partner-keys", None);
    assert_eq!(listed.status, 200);
    let text = listed.text();
    assert!(text.contains(&client.key_id));
    assert!(!text.contains("sk_sandbox_") && !text.contains(&client.secret), "a secret was listed");
    let one = edge.admin("GET", &format!("/api/admin/partner-keys/{}", client.key_id), None);
    assert!(!one.text().contains("sk_"), "a secret was shown: {}", one.text());
}

fn invalid_key_requests_name_the_field(edge: &Edge) {
    let cases = [
        (json!({"environment": "sandbox", "scopes": ["read"]}), "name"),
        (json!({"name": "x", "environment": "staging", "scopes": ["read"]}), "staging"),
        (json!({"name": "x", "environment": "sandbox", "scopes": []}), "scopes"),
        (json!({"name": "x", "environment": "sandbox", "scopes": ["admin"]}), "admin"),
        (json!({"name": "x", "environment": "sandbox", "scopes": ["read"], "colour": 1}), "colour"),
    ];
    for (body, named) in cases {
        let reply = edge.admin("POST", "/api/admin/partner-keys", Some(&body));
        let error = reply.assert_error(400, "invalid_request");
        assert!(error["message"].as_str().unwrap().contains(named), "{named}: {error}");
    }
    let not_json = edge.request(
        "POST",
        "/api/admin/partner-keys",
        &[("X-Admin-Key", partner_edge_tests::TEST_ADMIN_KEY)],
        Some(b"{"),
    );
    not_json.assert_error(400, "invalid_request");
}

fn rotation_keeps_the_old_secret_during_the_overlap(edge: &Edge) {
    let mut client = edge.partner("live", &["read"]);
    let old = client.secret.clone();
    let rotated = edge.admin("POST", &format!("/api/admin/partner-keys/{}/rotate-secret", client.key_id), None);
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let data = rotated.json()["data"].clone();
    let new = data["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until = data["previous_secret_valid_until"].as_u64().unwrap();
    assert!(until >= unix_now() + 86_000, "overlap too short: {until}");
    assert_eq!(client.send("GET", ME, b"").status, 200, "old secret refused during the overlap");
    client.secret = new;
    assert_eq!(client.send("GET", ME, b"").status, 200, "new secret refused");
}

fn error_catalogue_lists_every_code_the_gate_uses(edge: &Edge) {
    let reply = edge.get("/developers/api-errors.json");
    assert_eq!(reply.status, 200);
    let entries = reply.json()["data"].as_array().unwrap().clone();
    let find =
        |code: &str| entries.iter().find(|e| e["code"] == code).cloned().unwrap_or_else(|| panic!("{code} missing"));
    for (code, status) in [
        ("unauthorized", 401),
        ("stale_timestamp", 401),
        ("signature_version_retired", 401),
        ("forbidden", 403),
        ("replay_detected", 409),
        ("payload_too_large", 413),
        ("rate_limited", 429),
        ("invalid_request", 400),
    ] {
        let entry = find(code);
        assert_eq!(entry["http_status"], status, "{code}");
        assert!(!entry["remediation"].as_str().unwrap().is_empty());
    }
}

fn fifty_identical_signed_requests_admit_exactly_one(edge: &Edge) {
    let client = edge.partner("live", &["read"]);
    let signed = client.sign("GET", ME, b"", unix_now(), &fresh_nonce());
    let statuses: Vec<u16> = thread::scope(|scope| {
        let handles: Vec<_> = (0..50).map(|_| scope.spawn(|| client.send_signed("GET", ME, b"", &signed))).collect();
        handles.into_iter().map(|h| h.join().unwrap().status).collect()
    });
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 49, "{statuses:?}");
}

fn a_burst_over_the_sandbox_limit_admits_exactly_the_limit(edge: &Edge) {
    let client = edge.partner("sandbox", &["read"]);
    let replies: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..40).map(|_| scope.spawn(|| client.send("GET", ME, b""))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let admitted = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(admitted, 30, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(limited.len(), 10);
    let first = limited[0];
    first.assert_error(429, "rate_limited");
    assert!(first.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(first.header("x-ratelimit-remaining"), Some("0"));
}

/// On an edge whose rotation overlap is 2 s: a key past its `expires_at`, and
/// a rotated-out secret past its overlap, are both refused.
fn expired_keys_and_retired_secrets_stop_working() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("PARTNER_KEY_ROTATION_OVERLAP_SECONDS", "2")]);
    let expires_at = unix_now() + 2;
    let reply = edge.admin(
        "POST",
        "/api/admin/partner-keys",
        Some(&json!({"name": "short", "environment": "live", "scopes": ["read"], "expires_at": expires_at})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let short = partner_edge_tests::PartnerClient {
        edge: &edge,
        key_id: reply.json()["data"]["key_id"].as_str().unwrap().to_owned(),
        secret: reply.json()["data"]["secret"].as_str().unwrap().to_owned(),
    };
    assert_eq!(short.send("GET", ME, b"").status, 200, "usable before it expires");

    let mut rotated = edge.partner("live", &["read"]);
    let old = rotated.secret.clone();
    let answer = edge.admin("POST", &format!("/api/admin/partner-keys/{}/rotate-secret", rotated.key_id), None);
    let new = answer.json()["data"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated.send("GET", ME, b"").status, 200, "the old secret works during the overlap");

    while unix_now() <= expires_at + 1 {
        thread::sleep(std::time::Duration::from_millis(250));
    }
    let refused = short.send("GET", ME, b"").assert_error(401, "unauthorized");
    assert!(refused["message"].as_str().unwrap().contains("expired"), "{refused}");
    rotated.secret = old;
    rotated.send("GET", ME, b"").assert_error(401, "signature_mismatch");
    rotated.secret = new;
    assert_eq!(rotated.send("GET", ME, b"").status, 200, "the new secret still works");
}

/// A broken master key: key creation is a 500 in the taxonomy's shape, and
/// the answer names neither the variable nor its value.
fn a_misconfigured_edge_fails_closed_without_leaking() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("PARTNER_KEY_MASTER", "not-hex-at-all")]);
    let reply = edge.admin(
        "POST",
        "/api/admin/partner-keys",
        Some(&json!({"name": "x", "environment": "sandbox", "scopes": ["read"]})),
    );
    let body = reply.assert_error(500, "server_error");
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("PARTNER_KEY_MASTER") && !message.contains("not-hex"), "{message}");
    assert!(message.contains("request_id"), "{message}");
    // wrangler writes its log asynchronously; give the line a moment to land.
    let request_id = body["request_id"].as_str().unwrap();
    for _ in 0..40 {
        if edge.log().contains(request_id) {
            break;
        }
        thread::sleep(std::time::Duration::from_millis(250));
    }
    let log = edge.log();
    assert!(log.contains(request_id), "the operator's log has the request id:\n{log}");
    assert!(!log.contains("not-hex-at-all"), "the log does not echo the bad value");
    assert_eq!(edge.get("/api/public/health").status, 200, "routes that do not need the key keep working");
}

/// The gate object keeps the rate window in memory as well as in SQLite:
/// after a restart (memory gone), a replayed nonce is still refused and the
/// window goes on from where it was, not from a fresh one.
fn a_restarted_gate_still_refuses_a_replay_and_keeps_counting_its_window() {
    let state = tempfile::tempdir().unwrap();
    let edge = Edge::spawn_with_state(state.path());
    let client = edge.partner("sandbox", &["read", "credit"]);
    let (key_id, secret) = (client.key_id.clone(), client.secret.clone());
    let credit = json!({"user_id": "1", "amount": 3, "reason": "restart_check"});
    let before = client.mutate("POST", "/api/salutes/credit", &credit, &partner_edge_tests::fresh_idempotency_key());
    assert_eq!(before.status, 201, "{}", before.text());
    let signed = client.sign("GET", ME, b"", unix_now(), &fresh_nonce());
    let first = client.send_signed("GET", ME, b"", &signed);
    assert_eq!(first.status, 200, "{}", first.text());
    let remaining =
        |reply: &partner_edge_tests::Reply| -> u64 { reply.header("x-ratelimit-remaining").unwrap().parse().unwrap() };
    let second = client.send("GET", ME, b"");
    assert_eq!(remaining(&second), remaining(&first) - 1);
    edge.stop();

    let edge = Edge::spawn_with_state(state.path());
    let client = PartnerClient { edge: &edge, key_id, secret };
    client.send_signed("GET", ME, b"", &signed).assert_error(409, "replay_detected");
    let third = client.send("GET", ME, b"");
    assert_eq!(third.status, 200, "{}", third.text());
    // In the same minute, the window continues (a replay takes nothing from it);
    // across a minute boundary it starts again at the limit less one.
    let limit: u64 = third.header("x-ratelimit-limit").unwrap().parse().unwrap();
    let same_window = second.header("x-ratelimit-reset") == third.header("x-ratelimit-reset");
    let expected = if same_window { remaining(&second) - 1 } else { limit - 1 };
    assert_eq!(remaining(&third), expected, "same window: {same_window}");
    // The restarted sandbox goes on numbering its ledger after the last entry.
    let after = client.mutate("POST", "/api/salutes/credit", &credit, &partner_edge_tests::fresh_idempotency_key());
    assert_eq!(after.status, 201, "{}", after.text());
    let id = |reply: &partner_edge_tests::Reply| -> u64 {
        reply.json()["data"]["entry_id"]
            .as_str()
            .unwrap()
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap()
    };
    assert_eq!(id(&after), id(&before) + 1, "{} then {}", before.text(), after.text());
}
