//! The backend behind the gate against a real edge: the sandbox resources,
//! idempotency, the scope matrix, the public rate limit and forwarding to an
//! origin.

use std::collections::HashSet;
use std::thread;

use partner_edge::partner::{DEMO_KEY_ID, DEMO_KEY_SECRET};
use partner_edge::routes::{Access, ROUTES};
use partner_edge_tests::{fresh_idempotency_key, unix_now, Edge, PartnerClient, TestOrigin};
use serde_json::{json, Value};

use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("the_seed_credit_flow_works_as_written", the_seed_credit_flow_works_as_written),
    ("the_local_demo_key_works_with_no_setup", the_local_demo_key_works_with_no_setup),
    ("the_signing_cli_sends_the_seed_flow", the_signing_cli_sends_the_seed_flow),
    ("debits_never_take_a_balance_below_zero", debits_never_take_a_balance_below_zero),
    ("the_ledger_pages_with_a_cursor_newest_first", the_ledger_pages_with_a_cursor_newest_first),
    ("users_and_wallets_have_a_full_lifecycle", users_and_wallets_have_a_full_lifecycle),
    ("donation_claims_apply_once", donation_claims_apply_once),
    ("capabilities_reflect_the_keys_scopes", capabilities_reflect_the_keys_scopes),
    ("a_repeated_idempotency_key_replays_the_first_answer", a_repeated_idempotency_key_replays_the_first_answer),
    ("mutations_without_an_idempotency_key_are_refused", mutations_without_an_idempotency_key_are_refused),
    (
        "fifty_concurrent_credits_with_one_key_make_one_ledger_entry",
        fifty_concurrent_credits_with_one_key_make_one_ledger_entry,
    ),
    (
        "concurrent_credits_and_debits_on_one_user_make_one_unbroken_chain",
        concurrent_credits_and_debits_on_one_user_make_one_unbroken_chain,
    ),
    ("every_scoped_route_refuses_a_key_without_its_scope", every_scoped_route_refuses_a_key_without_its_scope),
    ("invalid_bodies_are_400_naming_the_field", invalid_bodies_are_400_naming_the_field),
];

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[
    ("public_routes_are_limited_per_client_exactly", public_routes_are_limited_per_client_exactly),
    ("an_origin_gets_the_verified_identity_and_no_signature", an_origin_gets_the_verified_identity_and_no_signature),
    (
        "an_entry_still_answers_its_retry_after_the_gate_forgets_the_key",
        an_entry_still_answers_its_retry_after_the_gate_forgets_the_key,
    ),
];

const CREDIT: &str = "/api/salutes/credit";
const DEBIT: &str = "/api/salutes/debit";

/// A live key: the sandbox limit (30 a minute) is too tight for tests that
/// make many calls with one key.
fn everything(edge: &Edge) -> PartnerClient<'_> {
    edge.partner("live", &["read", "credit", "debit", "ledger", "donation", "users"])
}

fn balance(client: &PartnerClient<'_>, user_id: &str) -> u64 {
    let reply = client.send("GET", &format!("/api/salutes/balance?user_id={user_id}"), b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"]["balance"].as_u64().unwrap()
}

fn new_user(client: &PartnerClient<'_>) -> String {
    let reply =
        client.mutate("POST", "/api/partner/users", &json!({"display_name": "Test user"}), &fresh_idempotency_key());
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["data"]["user_id"].as_str().unwrap().to_owned()
}

fn the_seed_credit_flow_works_as_written(edge: &Edge) {
    // The seed's "Partner Mutation End-to-End" body, byte for byte, on a sandbox key.
    let client = edge.partner("sandbox", &["credit", "read"]);
    let body = br#"{"user_id":"4","amount":100,"reason":"event_participation","source":"partner_portal"}"#;
    let key = format!("idem-{}", unix_now());
    let reply = client.send_with("POST", CREDIT, body, &[("Idempotency-Key", &key)]);
    assert_eq!(reply.status, 201, "{}", reply.text());
    let entry = &reply.json()["data"];
    assert_eq!(entry["user_id"], "4");
    assert_eq!(entry["kind"], "credit");
    assert_eq!(entry["amount"], 100);
    assert_eq!(entry["balance_after"], 100);
    assert_eq!(entry["reason"], "event_participation");
    assert_eq!(entry["source"], "partner_portal");
    assert_eq!(entry["idempotency_key"], key.as_str());
    assert!(reply.header("x-ratelimit-remaining").is_some());
    assert_eq!(balance(&client, "4"), 100);
}

fn the_local_demo_key_works_with_no_setup(edge: &Edge) {
    let demo = PartnerClient { edge, key_id: DEMO_KEY_ID.to_owned(), secret: DEMO_KEY_SECRET.to_owned() };
    let reply = demo.send("GET", "/api/partner/me", b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = &reply.json()["data"];
    assert_eq!(data["key_id"], DEMO_KEY_ID);
    assert_eq!(data["scopes"].as_array().unwrap().len(), 7, "the demo key holds every scope");
    let wrong = PartnerClient { secret: DEMO_KEY_SECRET.replace("de30", "0000"), ..demo };
    wrong.send("GET", "/api/partner/me", b"").assert_error(401, "signature_mismatch");
}

fn the_signing_cli_sends_the_seed_flow(edge: &Edge) {
    use partner_edge_cli::{random_token, send, RequestSpec};
    let client = edge.partner("sandbox", &["credit"]);
    let spec = |nonce: String| RequestSpec {
        method: "POST".into(),
        path_and_query: CREDIT.into(),
        key_id: client.key_id.clone(),
        secret: client.secret.clone(),
        body: br#"{"user_id":"4","amount":100,"reason":"event_participation","source":"partner_portal"}"#.to_vec(),
        timestamp: unix_now(),
        nonce,
        idempotency_key: Some("idem-cli-1".into()),
    };
    let first = send(&edge.base_url, &spec(random_token().unwrap())).unwrap();
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.headers.iter().any(|(name, _)| name == "x-request-id"));
    // A retry with a fresh nonce and the same Idempotency-Key: the same entry, replayed.
    let retry = send(&edge.base_url, &spec(random_token().unwrap())).unwrap();
    assert_eq!(retry.status, 201);
    assert!(retry.headers.iter().any(|(name, value)| name == "idempotent-replayed" && value == "true"));
    let entry = |body: &str| serde_json::from_str::<Value>(body).unwrap()["data"]["entry_id"].clone();
    assert_eq!(entry(&first.body), entry(&retry.body));
}

fn debits_never_take_a_balance_below_zero(edge: &Edge) {
    let client = everything(edge);
    let user = new_user(&client);
    let credit = json!({"user_id": user, "amount": 50, "reason": "signup_bonus"});
    assert_eq!(client.mutate("POST", CREDIT, &credit, &fresh_idempotency_key()).status, 201);
    let debit = json!({"user_id": user, "amount": 30, "reason": "redemption"});
    let reply = client.mutate("POST", DEBIT, &debit, &fresh_idempotency_key());
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["data"]["balance_after"], 20);

    let overdraft = json!({"user_id": user, "amount": 21, "reason": "redemption"});
    let body =
        client.mutate("POST", DEBIT, &overdraft, &fresh_idempotency_key()).assert_error(409, "insufficient_balance");
    assert!(body["message"].as_str().unwrap().contains("20"), "{body}");
    assert_eq!(balance(&client, &user), 20, "a refused debit changes nothing");

    // Concurrent debits that together exceed the balance: exactly the ones that fit succeed.
    let replies: Vec<u16> = thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let debit = json!({"user_id": user, "amount": 5, "reason": "redemption"});
                let client = &client;
                scope.spawn(move || client.mutate("POST", DEBIT, &debit, &fresh_idempotency_key()).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replies.iter().filter(|&&s| s == 201).count(), 4, "{replies:?}");
    assert_eq!(replies.iter().filter(|&&s| s == 409).count(), 2, "{replies:?}");
    assert_eq!(balance(&client, &user), 0);
}

fn the_ledger_pages_with_a_cursor_newest_first(edge: &Edge) {
    let client = everything(edge);
    let user = new_user(&client);
    for amount in 1..=5 {
        let credit = json!({"user_id": user, "amount": amount, "reason": "test"});
        assert_eq!(client.mutate("POST", CREDIT, &credit, &fresh_idempotency_key()).status, 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/salutes/ledger?user_id={user}&limit=2&cursor={c}"),
            None => format!("/api/salutes/ledger?user_id={user}&limit=2"),
        };
        let reply = client.send("GET", &path, b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        pages += 1;
        for entry in body["data"].as_array().unwrap() {
            seen.push(entry["amount"].as_u64().unwrap());
        }
        assert_eq!(body["meta"]["limit"], 2);
        match body["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec![5, 4, 3, 2, 1], "newest first, each once");
    client.send("GET", "/api/salutes/ledger?cursor=bogus", b"").assert_error(400, "invalid_request");
    let debits = client.send("GET", &format!("/api/salutes/ledger?user_id={user}&kind=debit"), b"");
    assert_eq!(debits.json()["data"], json!([]));
}

fn users_and_wallets_have_a_full_lifecycle(edge: &Edge) {
    let client = everything(edge);
    let reply = client.mutate(
        "POST",
        "/api/partner/users",
        &json!({"display_name": "Ada", "external_id": "crm-42", "email": "ada@example.com", "metadata": {"tier": "gold"}}),
        &fresh_idempotency_key(),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let user = reply.json()["data"].clone();
    let id = user["user_id"].as_str().unwrap();
    assert_eq!(id, "6", "a fresh sandbox holds demo users 1 to 5");
    assert_eq!(user["balance"], 0);

    let again = client.mutate(
        "POST",
        "/api/partner/users",
        &json!({"display_name": "Ada again", "external_id": "crm-42"}),
        &fresh_idempotency_key(),
    );
    again.assert_error(409, "conflict");

    let path = format!("/api/partner/users/{id}");
    let reply = client.mutate("PATCH", &path, &json!({"display_name": "Ada L."}), &fresh_idempotency_key());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["data"]["display_name"], "Ada L.");
    assert_eq!(reply.json()["data"]["email"], "ada@example.com", "absent fields stay");

    let wallet = json!({"address": "0x52908400098527886E0F7030069857D2E4169EE7", "label": "main"});
    let reply = client.mutate("POST", &format!("{path}/wallets"), &wallet, &fresh_idempotency_key());
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["data"]["wallets"][0]["chain"], "evm");
    let other = new_user(&client);
    client
        .mutate("POST", &format!("/api/partner/users/{other}/wallets"), &wallet, &fresh_idempotency_key())
        .assert_error(409, "conflict");

    let reply = client.send("GET", &path, b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"]["wallets"].as_array().unwrap().len(), 1);
    client.send("GET", "/api/partner/users/999", b"").assert_error(404, "not_found");
    client
        .mutate("PATCH", "/api/partner/users/999", &json!({"display_name": "x"}), &fresh_idempotency_key())
        .assert_error(404, "not_found");

    // Each partner has its own sandbox.
    let stranger = everything(edge);
    let reply = stranger.send("GET", &path, b"");
    reply.assert_error(404, "not_found");
}

fn donation_claims_apply_once(edge: &Edge) {
    let client = everything(edge);
    let claim = json!({"user_id": "2", "campaign_id": "winter-drive", "amount": 25});
    let key = fresh_idempotency_key();
    let first = client.mutate("POST", "/api/partner/donation-claim", &claim, &key);
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["data"]["status"], "claimed");
    let again = client.mutate("POST", "/api/partner/donation-claim", &claim, &key);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["data"]["claim_id"], first.json()["data"]["claim_id"]);
    let unknown = json!({"user_id": "404", "campaign_id": "winter-drive", "amount": 25});
    client
        .mutate("POST", "/api/partner/donation-claim", &unknown, &fresh_idempotency_key())
        .assert_error(404, "not_found");
}

fn capabilities_reflect_the_keys_scopes(edge: &Edge) {
    let client = edge.partner("sandbox", &["credit"]);
    let reply = client.send("GET", "/api/partner/capabilities", b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = reply.json()["data"].clone();
    assert_eq!(data["backend"], "sandbox");
    let caps = data["capabilities"].as_array().unwrap();
    let credit = caps.iter().find(|c| c["scope"] == "credit").unwrap();
    assert_eq!(credit["granted"], true);
    assert_eq!(credit["endpoints"], json!(["POST /api/salutes/credit"]));
    assert_eq!(caps.iter().filter(|c| c["granted"] == true).count(), 1);
}

fn a_repeated_idempotency_key_replays_the_first_answer(edge: &Edge) {
    let client = everything(edge);
    let user = new_user(&client);
    let key = fresh_idempotency_key();
    let credit = json!({"user_id": user, "amount": 7, "reason": "retry_test"});
    let first = client.mutate("POST", CREDIT, &credit, &key);
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = client.mutate("POST", CREDIT, &credit, &key);
    assert_eq!(second.status, 201, "{}", second.text());
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json()["data"], first.json()["data"], "the stored answer, not a second credit");
    assert!(second.header("x-ratelimit-limit").is_some());
    assert_eq!(balance(&client, &user), 7);

    let different = json!({"user_id": user, "amount": 8, "reason": "retry_test"});
    client.mutate("POST", CREDIT, &different, &key).assert_error(422, "idempotency_mismatch");
    client.mutate("POST", DEBIT, &credit, &key).assert_error(422, "idempotency_mismatch");

    // A refusal is an answer too: replayed, not re-run.
    let overdraft = json!({"user_id": user, "amount": 1000, "reason": "x"});
    let refusal_key = fresh_idempotency_key();
    client.mutate("POST", DEBIT, &overdraft, &refusal_key).assert_error(409, "insufficient_balance");
    // Even once the funds are there, the retry gets the first answer.
    let funds = json!({"user_id": user, "amount": 5000, "reason": "retry_test"});
    assert_eq!(client.mutate("POST", CREDIT, &funds, &fresh_idempotency_key()).status, 201);
    let replay = client.mutate("POST", DEBIT, &overdraft, &refusal_key);
    let error = replay.assert_error(409, "insufficient_balance");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(error["request_id"].as_str(), replay.header("x-request-id"), "the retry's own request id");
    assert_eq!(balance(&client, &user), 5007, "the debit never ran");
}

/// The gate remembers an Idempotency-Key for `IDEMPOTENCY_TTL_SECONDS`; the
/// ledger keeps each entry under its key and body for good. Once the gate
/// has forgotten a key, a retry of the same request still gets its entry
/// (even a debit the balance could no longer pay), never a second one;
/// another body under that key is a new request. A kept refusal lasts as
/// long as the gate's record, so its retry runs again.
fn an_entry_still_answers_its_retry_after_the_gate_forgets_the_key() {
    const TTL_SECS: u64 = 60;
    let (edge, _state) = Edge::spawn_fresh_with(&[("IDEMPOTENCY_TTL_SECONDS", "60")]);
    let client = everything(&edge);
    let user = new_user(&client);
    let (credit_key, debit_key, reused_key, refused_key) =
        (fresh_idempotency_key(), fresh_idempotency_key(), fresh_idempotency_key(), fresh_idempotency_key());
    let credit = json!({"user_id": user, "amount": 10, "reason": "ttl_test"});
    let debit = json!({"user_id": user, "amount": 6, "reason": "ttl_test"});
    let overdraft = json!({"user_id": user, "amount": 100, "reason": "ttl_test"});
    let credited = client.mutate("POST", CREDIT, &credit, &credit_key);
    assert_eq!(credited.status, 201, "{}", credited.text());
    let debited = client.mutate("POST", DEBIT, &debit, &debit_key);
    assert_eq!(debited.status, 201, "{}", debited.text());
    let first_use = json!({"user_id": user, "amount": 1, "reason": "ttl_test"});
    let first = client.mutate("POST", CREDIT, &first_use, &reused_key);
    assert_eq!(first.status, 201, "{}", first.text());
    client.mutate("POST", DEBIT, &overdraft, &refused_key).assert_error(409, "insufficient_balance");
    assert_eq!(balance(&client, &user), 5);

    thread::sleep(std::time::Duration::from_secs(TTL_SECS + 2));

    // The debit again: 6 is more than the 5 left, yet it is the same
    // request, so its entry answers and nothing is refused or taken.
    let again = client.mutate("POST", DEBIT, &debit, &debit_key);
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["data"], debited.json()["data"]);
    let again = client.mutate("POST", CREDIT, &credit, &credit_key);
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["data"], credited.json()["data"]);
    assert_eq!(balance(&client, &user), 5, "no entry applied twice");

    // Another body under the forgotten key is a request of its own.
    let other = json!({"user_id": user, "amount": 3, "reason": "ttl_test"});
    let fresh = client.mutate("POST", CREDIT, &other, &reused_key);
    assert_eq!(fresh.status, 201, "{}", fresh.text());
    assert_eq!(fresh.header("idempotent-replayed"), None);
    assert_ne!(fresh.json()["data"]["entry_id"], first.json()["data"]["entry_id"]);
    // (A retry renews the gate's record: the credit's key is held again.)
    client.mutate("POST", CREDIT, &other, &credit_key).assert_error(422, "idempotency_mismatch");
    // The refusal lapsed with the gate's record: the debit runs again, and
    // is refused again on its own merits.
    let rerun = client.mutate("POST", DEBIT, &overdraft, &refused_key);
    rerun.assert_error(409, "insufficient_balance");
    assert_eq!(rerun.header("idempotent-replayed"), None);
    assert_eq!(balance(&client, &user), 8);
}

fn mutations_without_an_idempotency_key_are_refused(edge: &Edge) {
    let client = everything(edge);
    let credit = serde_json::to_vec(&json!({"user_id": "1", "amount": 1, "reason": "x"})).unwrap();
    let body = client.send("POST", CREDIT, &credit).assert_error(400, "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("Idempotency-Key"), "{body}");
    let long = "k".repeat(256);
    client.send_with("POST", CREDIT, &credit, &[("Idempotency-Key", &long)]).assert_error(400, "invalid_request");
    // Scope comes first: a key without `credit` gets 403 even without an Idempotency-Key.
    let reader = edge.partner("live", &["read"]);
    reader.send("POST", CREDIT, &credit).assert_error(403, "forbidden");
    assert_eq!(balance(&client, "1"), 0, "nothing was credited");
}

fn fifty_concurrent_credits_with_one_key_make_one_ledger_entry(edge: &Edge) {
    let client = everything(edge);
    let user = new_user(&client);
    let key = fresh_idempotency_key();
    let credit = json!({"user_id": user, "amount": 10, "reason": "concurrency"});
    let replies: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..50).map(|_| scope.spawn(|| client.mutate("POST", CREDIT, &credit, &key))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let fresh = replies.iter().filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none()).count();
    assert_eq!(fresh, 1, "exactly one request executed: {statuses:?}");
    for reply in &replies {
        match reply.status {
            201 => {}
            409 => {
                reply.assert_error(409, "idempotency_replay");
            }
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    let ledger = client.send("GET", &format!("/api/salutes/ledger?user_id={user}"), b"");
    assert_eq!(ledger.json()["data"].as_array().unwrap().len(), 1, "{}", ledger.text());
    assert_eq!(balance(&client, &user), 10);
}

/// The key's object takes the commands that reach it together in one turn
/// and commits them at once. Each must still see the balance the one before
/// it left: the ledger, read oldest first, is one chain from zero, holding
/// exactly the entries that were answered 201.
fn concurrent_credits_and_debits_on_one_user_make_one_unbroken_chain(edge: &Edge) {
    let client = everything(edge);
    let user = new_user(&client);
    let opening = json!({"user_id": user, "amount": 30, "reason": "signup_bonus"});
    assert_eq!(client.mutate("POST", CREDIT, &opening, &fresh_idempotency_key()).status, 201);
    let replies: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let (path, amount) = if i % 2 == 0 { (CREDIT, 7) } else { (DEBIT, 9) };
                let body = json!({"user_id": user, "amount": amount, "reason": "concurrency"});
                let client = &client;
                scope.spawn(move || client.mutate("POST", path, &body, &fresh_idempotency_key()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut answered = HashSet::new();
    for reply in &replies {
        match reply.status {
            201 => assert!(answered.insert(reply.json()["data"]["entry_id"].as_str().unwrap().to_owned())),
            409 => {
                reply.assert_error(409, "insufficient_balance");
            }
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    assert_eq!(replies.iter().filter(|r| r.status == 201 && r.json()["data"]["kind"] == "credit").count(), 20);

    let ledger = client.send("GET", &format!("/api/salutes/ledger?user_id={user}&limit=200"), b"");
    assert_eq!(ledger.status, 200, "{}", ledger.text());
    let mut entries = ledger.json()["data"].as_array().unwrap().clone();
    entries.reverse();
    assert_eq!(entries.len(), answered.len() + 1, "the opening credit and every 201, nothing else");
    let mut running: u64 = 0;
    for entry in &entries {
        let amount = entry["amount"].as_u64().unwrap();
        running = match entry["kind"].as_str().unwrap() {
            "credit" => running + amount,
            _ => running.checked_sub(amount).expect("a debit below zero"),
        };
        assert_eq!(entry["balance_after"].as_u64().unwrap(), running, "the chain breaks at {entry}");
        let id = entry["entry_id"].as_str().unwrap();
        assert!(id == entries[0]["entry_id"] || answered.contains(id), "{id} was never answered");
    }
    assert_eq!(balance(&client, &user), running);
}

/// A body every scoped route accepts well enough to get past the gate.
fn probe_body(path: &str) -> Value {
    match path {
        "/api/salutes/credit" | "/api/salutes/debit" => json!({"user_id": "1", "amount": 1, "reason": "probe"}),
        "/api/partner/donation-claim" => json!({"user_id": "1", "campaign_id": "c", "amount": 1}),
        "/api/partner/users" => json!({"display_name": "Probe"}),
        "/api/partner/users/{user_id}/wallets" => json!({"address": "0x00000000000000000000000000000000000000aa"}),
        "/api/partner/webhooks" => json!({"url": "https://hooks.example.com/probe", "receive_all": true}),
        "/api/partner/webhooks/{webhook_id}" => json!({"active": true}),
        _ => json!({"display_name": "Probe"}),
    }
}

fn every_scoped_route_refuses_a_key_without_its_scope(edge: &Edge) {
    let scoped: Vec<_> = ROUTES
        .iter()
        .filter_map(|route| match route.access {
            Access::Partner(Some(scope)) => Some((route, scope)),
            _ => None,
        })
        .collect();
    let scopes: HashSet<&str> = scoped.iter().map(|(_, scope)| scope.as_str()).collect();
    assert!(scopes.len() >= 6, "the matrix covers read, credit, debit, ledger, donation, users: {scopes:?}");
    for &held in &["read", "credit", "debit", "ledger", "donation", "users", "webhooks"] {
        let client = edge.partner("live", &[held]);
        for (route, needed) in &scoped {
            let path = route
                .path
                .replace("{user_id}", "1")
                .replace("{webhook_id}", "wh_1")
                .replace("{delivery_id}", "dlv_1")
                .replace("{inbox_id}", "inb_1")
                .replace("{address}", "0x52908400098527886E0F7030069857D2E4169EE7");
            let path = if route.path == "/api/salutes/balance" { format!("{path}?user_id=1") } else { path };
            let body = if route.method.as_str() == "GET" {
                Vec::new()
            } else {
                serde_json::to_vec(&probe_body(route.path)).unwrap()
            };
            let reply =
                client.send_with(route.method.as_str(), &path, &body, &[("Idempotency-Key", &fresh_idempotency_key())]);
            if needed.as_str() == held {
                assert_ne!(reply.status, 403, "{} {path} with `{held}`: {}", route.method.as_str(), reply.text());
                assert!(reply.status < 500, "{} {path}: {}", route.method.as_str(), reply.text());
            } else {
                let body = reply.assert_error(403, "forbidden");
                assert!(body["message"].as_str().unwrap().contains(needed.as_str()), "{body}");
            }
        }
    }
}

fn invalid_bodies_are_400_naming_the_field(edge: &Edge) {
    let client = everything(edge);
    let cases = [
        (CREDIT, json!({"user_id": "1", "amount": 0, "reason": "x"}), "amount"),
        (CREDIT, json!({"user_id": "1", "reason": "x"}), "amount"),
        (CREDIT, json!({"user_id": "1", "amount": 5, "reason": "Bad Reason"}), "reason"),
        (CREDIT, json!({"user_id": "1", "amount": 5, "reason": "x", "bonus": true}), "bonus"),
        ("/api/partner/users", json!({"display_name": ""}), "display_name"),
        ("/api/partner/users", json!({"display_name": "A", "email": "nope"}), "email"),
        ("/api/partner/donation-claim", json!({"user_id": "1", "campaign_id": "bad id!", "amount": 1}), "campaign_id"),
    ];
    for (path, body, field) in cases {
        let error = client.mutate("POST", path, &body, &fresh_idempotency_key()).assert_error(400, "invalid_request");
        assert!(error["message"].as_str().unwrap().contains(field), "{path} {body}: {error}");
    }
    let reply = client.send_with("POST", CREDIT, b"{not json", &[("Idempotency-Key", &fresh_idempotency_key())]);
    reply.assert_error(400, "invalid_request");
    client.send("GET", "/api/salutes/balance", b"").assert_error(400, "invalid_request");
}

fn public_routes_are_limited_per_client_exactly() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("RATE_LIMIT_PUBLIC_API_PER_MIN", "5")]);
    let replies: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..12).map(|_| scope.spawn(|| edge.get("/api/public/health"))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 5, "{statuses:?}");
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(limited.len(), 7, "{statuses:?}");
    limited[0].assert_error(429, "rate_limited");
    assert!(limited[0].header("retry-after").is_some());
    assert_eq!(replies.iter().find(|r| r.status == 200).unwrap().header("x-ratelimit-limit"), Some("5"));
    // Documentation routes are not counted.
    assert_eq!(edge.get("/openapi.json").status, 200);
    assert_eq!(edge.get("/developers/api-errors.json").status, 200);
}

const ORIGIN_SECRET: &str = "origin-signing-secret-for-the-tests-0123";

fn an_origin_gets_the_verified_identity_and_no_signature() {
    let origin = TestOrigin::start();
    let origin_url = format!("http://127.0.0.1:{}/base", origin.port);
    let (edge, _state) = Edge::spawn_fresh_with(&[
        ("ORIGIN_URL", &origin_url),
        ("ORIGIN_TIMEOUT_SECONDS", "2"),
        ("ORIGIN_SIGNING_SECRET", ORIGIN_SECRET),
    ]);
    let client = edge.partner("sandbox", &["credit", "read", "users"]);

    let body = json!({"user_id": "4", "amount": 100, "reason": "event_participation"});
    let key = fresh_idempotency_key();
    let bytes = serde_json::to_vec(&body).unwrap();
    let rewriting = [
        ("Idempotency-Key", key.as_str()),
        ("X-Original-URL", "/api/admin/partner-keys"),
        ("X-Rewrite-URL", "/api/admin/partner-keys"),
        ("X-HTTP-Method-Override", "DELETE"),
        ("Forwarded", "for=10.0.0.1;host=internal"),
        ("X-Forwarded-Host", "internal.example"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Partner-Id", "pk_live_ffffffffffffffffffffffff"),
        ("X-Custom-Trace", "kept"),
    ];
    let reply = client.send_with("POST", "/api/salutes/credit?trace=1", &bytes, &rewriting);
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.header("x-origin"), Some("yes"), "the origin's answer is passed back");
    assert_eq!(reply.json()["origin"], true);
    assert!(reply.header("x-ratelimit-remaining").is_some());
    let request_id = reply.header("x-request-id").unwrap().to_owned();

    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    let forwarded = &seen[0];
    assert_eq!(forwarded.method, "POST");
    assert_eq!(forwarded.path_and_query, "/base/api/salutes/credit?trace=1");
    assert_eq!(forwarded.header("x-partner-id"), Some(client.key_id.as_str()));
    assert_eq!(forwarded.header("x-partner-scopes"), Some("read,credit,users"));
    assert_eq!(forwarded.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(forwarded.header("idempotency-key"), Some(key.as_str()));
    for stripped in [
        "x-partner-signature",
        "x-partner-nonce",
        "x-partner-timestamp",
        "x-partner-key",
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "forwarded",
        "x-forwarded-host",
        "x-forwarded-for",
    ] {
        assert_eq!(forwarded.header(stripped), None, "{stripped} must not reach the origin");
    }
    assert_eq!(forwarded.header("x-custom-trace"), Some("kept"), "end-to-end headers pass");
    assert_eq!(serde_json::from_slice::<Value>(&forwarded.body).unwrap(), body);

    // The origin can prove the request came through the edge, unchanged.
    let check = |request: &partner_edge_tests::OriginRequest| {
        partner_edge_cli::verify_origin(
            ORIGIN_SECRET,
            &request.method,
            &request.path_and_query,
            &request.headers,
            &request.body,
            unix_now(),
            300,
        )
    };
    assert_eq!(check(forwarded), Ok(()));
    let mut tampered = forwarded.clone();
    tampered.path_and_query = "/base/api/salutes/debit?trace=1".into();
    assert!(check(&tampered).is_err(), "a changed path fails the origin's check");

    // Parameters that could mean another path never reach the origin.
    for path in ["/api/partner/users/..%2F..%2Fadmin", "/api/partner/users/a%5Cb", "/api/partner/users/a%2fb"] {
        let error = client.send("GET", path, b"").assert_error(400, "invalid_request");
        assert!(error["message"].as_str().unwrap().starts_with("user_id"), "{path}: {error}");
    }
    // `%2e%2e` is a dot segment to the URL parser itself: it resolves away before routing.
    client.send("GET", "/api/partner/users/%2e%2e", b"").assert_error(404, "not_found");
    assert_eq!(origin.requests().len(), 1, "refused paths were not forwarded");

    // The edge's idempotency covers the origin too: a retry does not reach it.
    let again = client.mutate("POST", "/api/salutes/credit?trace=1", &body, &key);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(origin.requests().len(), 1);

    let caps = client.send("GET", "/api/partner/capabilities", b"");
    assert_eq!(caps.json()["data"]["backend"], "origin");
    // The gate still runs first.
    client.send("POST", "/api/salutes/debit", b"{}").assert_error(403, "forbidden");
    assert_eq!(origin.requests().len(), 1);

    // An origin that does not answer within ORIGIN_TIMEOUT_SECONDS (2 s here;
    // this one would answer 201 after 10 s) is a 503, not a hung request.
    let reply = client.send("GET", "/api/salutes/balance?user_id=hang", b"");
    reply.assert_error(503, "dependency_unavailable");
}
