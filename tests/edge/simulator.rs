//! The webhook simulator against real local receivers (one written to the
//! seed's receiver patterns, one naive; the edge grades both), and webhook
//! inboxes fed by real deliveries, the simulator and plain HTTP.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use partner_edge::webhooks::{verify_delivery, EventType, WebhookSecret, HEADER_ID};
use partner_edge_tests::{fresh_idempotency_key, unix_now, Answer, Edge, PartnerClient, TestServer};
use serde_json::{json, Value};

use crate::webhooks::{rotate, subscribe};
use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("a_receiver_written_to_the_patterns_passes_every_drill", a_receiver_written_to_the_patterns_passes_every_drill),
    ("a_naive_receiver_fails_exactly_the_drills_it_should", a_naive_receiver_fails_exactly_the_drills_it_should),
    ("scenarios_reach_a_subscription_and_are_never_stored", scenarios_reach_a_subscription_and_are_never_stored),
    (
        "simulation_requests_are_checked_before_anything_is_sent",
        simulation_requests_are_checked_before_anything_is_sent,
    ),
    (
        "an_inbox_captures_real_deliveries_in_place_and_verifies_them",
        an_inbox_captures_real_deliveries_in_place_and_verifies_them,
    ),
    ("an_inbox_takes_posts_from_anyone_and_is_bounded", an_inbox_takes_posts_from_anyone_and_is_bounded),
];

const ALL_DRILLS: [&str; 10] = [
    "signed",
    "duplicate",
    "stale_timestamp",
    "future_timestamp",
    "tampered_body",
    "wrong_secret",
    "rotation_overlap",
    "retired_secret",
    "unknown_event_type",
    "newer_schema_version",
];

fn json_answer(status: u16, body: Value) -> Answer {
    Answer { body: body.to_string(), ..Answer::status(status) }
}

/// A receiver that follows the seed: the seed signature checked against each
/// secret it holds with a 300 s skew guard, event ids deduplicated before
/// side effects, unknown event types acknowledged and ignored.
fn pattern_receiver(held: Vec<WebhookSecret>) -> TestServer {
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    TestServer::start(move |request, _| {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let header = |name: &str| request.header(name).map(str::to_owned);
        let valid =
            held.iter().any(|secret| verify_delivery(secret, header, &body, unix_now(), 300).seed_scheme.is_ok());
        if !valid {
            return json_answer(401, json!({"success": false, "error": "unauthorized"}));
        }
        let event: Value = serde_json::from_str(&body).unwrap_or_default();
        if EventType::parse(event["event_type"].as_str().unwrap_or_default()).is_none() {
            return json_answer(200, json!({"success": true, "ignored": true}));
        }
        let id = request.header(HEADER_ID).unwrap_or_default().to_owned();
        if !seen.lock().unwrap().insert(id) {
            return json_answer(200, json!({"success": true, "duplicate": true}));
        }
        json_answer(200, json!({"success": true}))
    })
}

/// Accepts everything, checks nothing.
fn naive_receiver() -> TestServer {
    TestServer::start(|_, _| json_answer(200, json!({"success": true})))
}

fn partner(edge: &Edge) -> PartnerClient<'_> {
    edge.partner("live", &["webhooks"])
}

fn simulate(client: &PartnerClient<'_>, body: &Value) -> partner_edge_tests::Reply {
    client.mutate("POST", "/api/partner/webhooks/simulate", body, &fresh_idempotency_key())
}

fn grades(data: &Value) -> Vec<(String, String)> {
    data["report"]["drills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["drill"].as_str().unwrap().to_owned(), d["grade"].as_str().unwrap().to_owned()))
        .collect()
}

fn secrets() -> (WebhookSecret, WebhookSecret, WebhookSecret) {
    (WebhookSecret::new([11; 32]), WebhookSecret::new([12; 32]), WebhookSecret::new([13; 32]))
}

/// Runs every drill against `url`, signed with the three secrets of [`secrets`].
fn run_every_drill(edge: &Edge, url: &str) -> Value {
    let (current, previous, retired) = secrets();
    let reply = simulate(
        &partner(edge),
        &json!({
            "url": url,
            "secret": current.expose(),
            "previous_secret": previous.expose(),
            "retired_secret": retired.expose(),
            "drills": ALL_DRILLS,
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"].clone()
}

fn a_receiver_written_to_the_patterns_passes_every_drill(edge: &Edge) {
    let (current, previous, _) = secrets();
    let receiver = pattern_receiver(vec![current, previous]);
    let data = run_every_drill(edge, &receiver.url("/hooks"));
    let report = &data["report"];
    assert_eq!((report["passed"].as_u64(), report["failed"].as_u64()), (Some(10), Some(0)), "{report:#}");
    assert!(data.get("generated_secrets").is_none(), "every secret was given: none is made");
    // What was sent is shown exactly, and the receiver got exactly that.
    let sends = data["sends"].as_array().unwrap();
    assert_eq!(sends.len(), 11, "ten drills, the duplicate sends twice");
    let received = receiver.requests();
    assert_eq!(received.len(), 11);
    for send in sends {
        let id = send["event_id"].as_str().unwrap();
        assert!(id.starts_with("evt_sim_"), "{id}");
        let body = send["request"]["body"].as_str().unwrap();
        assert!(received.iter().any(|r| r.body == body.as_bytes()), "{id} was not received as shown");
        assert!(send["response"]["latency_ms"].is_u64());
    }
    let stale = sends.iter().find(|s| s["drill"] == "stale_timestamp").unwrap();
    assert_eq!(stale["response"]["status"], 401);
}

fn a_naive_receiver_fails_exactly_the_drills_it_should(edge: &Edge) {
    let receiver = naive_receiver();
    let data = run_every_drill(edge, &receiver.url("/naive"));
    let failed: Vec<String> = grades(&data).into_iter().filter(|(_, g)| g == "failed").map(|(d, _)| d).collect();
    assert_eq!(
        failed,
        ["duplicate", "stale_timestamp", "future_timestamp", "tampered_body", "wrong_secret", "retired_secret"],
        "{:#}",
        data["report"]
    );
    assert_eq!(data["report"]["passed"], 4);
    let duplicate = data["report"]["drills"].as_array().unwrap().iter().find(|d| d["drill"] == "duplicate").unwrap();
    assert!(duplicate["expected"].as_str().unwrap().contains("duplicate"));
    assert!(duplicate["observed"].as_str().unwrap().contains("then 200"), "{duplicate}");

    // Without secrets the edge makes them and shows them once; the retired drill is skipped.
    let reply =
        simulate(&partner(edge), &json!({"url": receiver.url("/naive-2"), "drills": ["signed", "retired_secret"]}));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = reply.json()["data"].clone();
    let made = &data["generated_secrets"];
    WebhookSecret::parse(made["secret"].as_str().unwrap()).unwrap();
    WebhookSecret::parse(made["previous_secret"].as_str().unwrap()).unwrap();
    assert_eq!(grades(&data), [("signed".into(), "passed".into()), ("retired_secret".into(), "skipped".into())]);
}

fn scenarios_reach_a_subscription_and_are_never_stored(edge: &Edge) {
    let client = partner(edge);
    // The subscription's secret is only known once it exists: the receiver reads it from here.
    let held: Arc<Mutex<Vec<WebhookSecret>>> = Arc::default();
    let keys = Arc::clone(&held);
    let receiver = TestServer::start(move |request, _| {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let ok = keys.lock().unwrap().iter().any(|secret| {
            verify_delivery(secret, |n| request.header(n).map(str::to_owned), &body, unix_now(), 300)
                .standard_webhooks
                .is_ok()
        });
        json_answer(if ok { 200 } else { 401 }, json!({"success": ok}))
    });
    let (id, secret) = subscribe(&client, &receiver.url("/sub"), json!({"receive_all": true}));
    held.lock().unwrap().push(WebhookSecret::parse(&secret).unwrap());

    let reply = simulate(
        &client,
        &json!({"subscription_id": id, "scenario": "claim_lifecycle", "data": {"claim_id": "dc_sim_1", "amount": 40}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = reply.json()["data"].clone();
    assert_eq!(data["target"]["subscription_id"], id.as_str());
    assert!(data.get("report").is_none() && data.get("generated_secrets").is_none());
    let sends = data["sends"].as_array().unwrap();
    let types: Vec<&str> = sends.iter().map(|s| s["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["donation.claim", "donation.claim_redeemed"]);
    for send in sends {
        assert_eq!(send["response"]["status"], 200, "{send:#}");
        assert_eq!(send["signed_with"], json!(["whk_1"]));
        let body: Value = serde_json::from_str(send["request"]["body"].as_str().unwrap()).unwrap();
        assert_eq!((body["data"]["claim_id"].as_str(), body["data"]["amount"].as_u64()), (Some("dc_sim_1"), Some(40)));
    }
    assert_eq!(receiver.requests().len(), 2);
    // Simulated events never enter the delivery log.
    let log = client.send("GET", &format!("/api/partner/webhooks/{id}/deliveries"), b"");
    assert_eq!(log.status, 200, "{}", log.text());
    assert_eq!(log.json()["data"], json!([]));

    // No overlap yet: the rotation drill says how to run it. After a rotation it runs and passes.
    let drills = json!({"subscription_id": id, "drills": ["signed", "rotation_overlap"]});
    let before = simulate(&client, &drills).json()["data"].clone();
    assert_eq!(grades(&before)[1], ("rotation_overlap".into(), "skipped".into()));
    let rotated = rotate(&client, &id);
    held.lock().unwrap().push(WebhookSecret::parse(rotated["secret"].as_str().unwrap()).unwrap());
    let after = simulate(&client, &drills).json()["data"].clone();
    assert_eq!(grades(&after), [("signed".into(), "passed".into()), ("rotation_overlap".into(), "passed".into())]);
    let overlap = after["sends"].as_array().unwrap().iter().find(|s| s["drill"] == "rotation_overlap").unwrap();
    assert_eq!(overlap["signed_with"], json!(["whk_2", "whk_1"]));
}

fn simulation_requests_are_checked_before_anything_is_sent(edge: &Edge) {
    let client = partner(edge);
    let receiver = naive_receiver();
    let url = receiver.url("/never");
    simulate(&client, &json!({"url": url, "subscription_id": "wh_0123456789abcdef01234567"}))
        .assert_error(400, "invalid_request");
    simulate(&client, &json!({"scenario": "claim_created"})).assert_error(400, "invalid_request");
    simulate(&client, &json!({"url": url, "drills": ["signed", "signed"]})).assert_error(400, "invalid_request");
    simulate(&client, &json!({"url": url, "drills": ["fire_drill"]})).assert_error(400, "invalid_request");
    simulate(&client, &json!({"url": url, "secret": "whsec_short"})).assert_error(400, "invalid_request");
    let broken = simulate(&client, &json!({"url": url, "data": {"amount": "lots"}}));
    let body = broken.assert_error(400, "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("donation.claim"), "{body}");
    simulate(&client, &json!({"subscription_id": "wh_0123456789abcdef01234567"})).assert_error(404, "not_found");
    simulate(&client, &json!({"url": "https://10.0.0.1/hook"})).assert_error(422, "url_not_allowed");
    assert!(receiver.requests().is_empty(), "nothing reaches a receiver from a refused simulation");
    // The path is POST only, not a subscription called "simulate".
    let get = client.send("GET", "/api/partner/webhooks/simulate", b"");
    get.assert_error(405, "method_not_allowed");
    assert_eq!(get.header("allow"), Some("POST"));
    // Other scopes may not simulate.
    let reader = edge.partner("live", &["read"]);
    reader
        .mutate("POST", "/api/partner/webhooks/simulate", &json!({"url": url}), &fresh_idempotency_key())
        .assert_error(403, "forbidden");
}

fn captures(client: &PartnerClient<'_>, inbox: &str, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let reply = client.send("GET", &format!("/api/partner/webhooks/inboxes/{inbox}/captures"), b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let list = reply.json()["data"].as_array().unwrap().clone();
        if list.len() >= count || std::time::Instant::now() > deadline {
            assert_eq!(list.len(), count, "{list:#?}");
            return list;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn an_inbox_captures_real_deliveries_in_place_and_verifies_them(edge: &Edge) {
    let client = partner(edge);
    let parking = naive_receiver();
    let (subscription, _) = subscribe(&client, &parking.url("/parked"), json!({"event_types": ["webhook.test"]}));
    let inbox = client.mutate(
        "POST",
        "/api/partner/webhooks/inboxes",
        &json!({"subscription_id": subscription, "description": "local inbox"}),
        &fresh_idempotency_key(),
    );
    assert_eq!(inbox.status, 201, "{}", inbox.text());
    let inbox = inbox.json()["data"].clone();
    let inbox_id = inbox["inbox_id"].as_str().unwrap().to_owned();
    let capture_url = edge.url(inbox["capture_path"].as_str().unwrap());
    let listed = client.send("GET", "/api/partner/webhooks/inboxes", b"").json();
    assert!(listed["data"].as_array().unwrap().iter().any(|i| i["inbox_id"] == inbox_id.as_str()));

    // The subscription now delivers to the edge's own inbox: captured in place.
    let patched = client.mutate(
        "PATCH",
        &format!("/api/partner/webhooks/{subscription}"),
        &json!({"url": capture_url}),
        &fresh_idempotency_key(),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    let ping = client.mutate(
        "POST",
        &format!("/api/partner/webhooks/{subscription}/test"),
        &json!({}),
        &fresh_idempotency_key(),
    );
    assert_eq!(ping.status, 202, "{}", ping.text());
    let first = captures(&client, &inbox_id, 1).remove(0);
    assert_eq!(first["in_process"], true);
    let check = &first["verification"];
    assert_eq!(
        (check["seed_scheme"]["valid"].as_bool(), check["standard_webhooks"]["valid"].as_bool()),
        (Some(true), Some(true)),
        "{check}"
    );
    assert_eq!(check["seed_scheme"]["secret_id"], "whk_1");
    assert!(first["body"].as_str().unwrap().contains("webhook.test"));
    assert!(parking.requests().is_empty(), "nothing went over the network");
    // The delivery log records it as delivered.
    let log = client.send("GET", &format!("/api/partner/webhooks/{subscription}/deliveries"), b"").json();
    assert_eq!(log["data"][0]["state"], "succeeded", "{log:#}");

    // After a rotation both secrets sign, and the capture says which verified which scheme.
    rotate(&client, &subscription);
    client.mutate("POST", &format!("/api/partner/webhooks/{subscription}/test"), &json!({}), &fresh_idempotency_key());
    let newest = captures(&client, &inbox_id, 2).remove(0);
    let check = &newest["verification"];
    assert_eq!(check["seed_scheme"]["secret_id"], "whk_1", "the seed header carries the previous secret: {check}");
    assert_eq!(check["standard_webhooks"]["secret_id"], "whk_2", "{check}");

    // The simulator fills the inbox in place too.
    let simulated = simulate(&client, &json!({"url": capture_url, "drills": ["signed", "tampered_body"]}));
    assert_eq!(simulated.status, 200, "{}", simulated.text());
    let sends = simulated.json()["data"]["sends"].as_array().unwrap().clone();
    assert!(sends.iter().all(|s| s["response"]["status"] == 200), "{sends:#?}");
    let all = captures(&client, &inbox_id, 4);
    assert!(all[..2].iter().all(|c| c["body"].as_str().unwrap().contains("evt_sim_") && c["in_process"] == true));
}

fn an_inbox_takes_posts_from_anyone_and_is_bounded(edge: &Edge) {
    let client = partner(edge);
    let inbox = client.mutate("POST", "/api/partner/webhooks/inboxes", &json!({}), &fresh_idempotency_key());
    assert_eq!(inbox.status, 201, "{}", inbox.text());
    let inbox = inbox.json()["data"].clone();
    let inbox_id = inbox["inbox_id"].as_str().unwrap().to_owned();
    let path = inbox["capture_path"].as_str().unwrap().to_owned();
    let headers = [("content-type", "text/plain"), ("X-Custom", "yes"), ("Authorization", "Bearer sender-secret")];
    let posted = edge.request("POST", &path, &headers, Some(b"hello inbox"));
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert!(posted.json()["data"]["capture_id"].as_str().unwrap().starts_with("cap_"));
    let capture = captures(&client, &inbox_id, 1).remove(0);
    assert_eq!((capture["body"].as_str(), capture["in_process"].as_bool()), (Some("hello inbox"), Some(false)));
    assert!(capture["headers"].as_array().unwrap().iter().any(|h| h[0] == "x-custom" && h[1] == "yes"));
    assert!(
        capture["headers"].as_array().unwrap().iter().any(|h| h[0] == "authorization" && h[1] == "[redacted]"),
        "a sender's credentials are never stored: {capture}"
    );
    assert!(capture.get("verification").is_none(), "no subscription named, nothing to verify against");
    // Another key cannot read it; unknown and deleted inboxes are 404.
    let other = partner(edge);
    other
        .send("GET", &format!("/api/partner/webhooks/inboxes/{inbox_id}/captures"), b"")
        .assert_error(404, "not_found");
    edge.request("POST", "/api/public/webhook-inbox/inb_00000000000000000000000000000000", &[], Some(b"x"))
        .assert_error(404, "not_found");
    let delete_key = fresh_idempotency_key();
    let deleted = client.send_with(
        "DELETE",
        &format!("/api/partner/webhooks/inboxes/{inbox_id}"),
        b"",
        &[("Idempotency-Key", delete_key.as_str())],
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    edge.request("POST", &path, &[], Some(b"late")).assert_error(404, "not_found");
    // Ten inboxes per key.
    let fresh = partner(edge);
    // Bodies are JSON objects: serde alone would read `[]` as an empty InboxIn.
    fresh
        .mutate("POST", "/api/partner/webhooks/inboxes", &json!([]), &fresh_idempotency_key())
        .assert_error(400, "invalid_request");
    for _ in 0..10 {
        let made = fresh.mutate("POST", "/api/partner/webhooks/inboxes", &json!({}), &fresh_idempotency_key());
        assert_eq!(made.status, 201, "{}", made.text());
    }
    fresh
        .mutate("POST", "/api/partner/webhooks/inboxes", &json!({}), &fresh_idempotency_key())
        .assert_error(409, "limit_exceeded");
    fresh
        .mutate(
            "POST",
            "/api/partner/webhooks/inboxes",
            &json!({"subscription_id": "wh_0123456789abcdef01234567"}),
            &fresh_idempotency_key(),
        )
        .assert_error(404, "not_found");
}
