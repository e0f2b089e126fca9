//! The status monitor against a real edge: it arms itself on the first
//! request and keeps probing on its own alarm; the status, trend and uptime
//! routes answer from what it stored; a dependency that goes down shows as
//! an outage and recovers; the cron trigger re-arms it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partner_edge_tests::{Answer, Edge, TestServer};
use serde_json::Value;

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[
    (
        "the_monitor_probes_by_itself_and_the_status_routes_report_it",
        the_monitor_probes_by_itself_and_the_status_routes_report_it,
    ),
    ("a_failing_origin_shows_as_an_outage_and_recovers", a_failing_origin_shows_as_an_outage_and_recovers),
    ("operators_post_incidents_through_their_phases", operators_post_incidents_through_their_phases),
    ("latency_percentiles_come_from_real_traffic", latency_percentiles_come_from_real_traffic),
];

fn incidents(edge: &Edge, query: &str) -> Value {
    let reply = edge.get(&format!("/api/public/system-status/incidents{query}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"].clone()
}

fn status(edge: &Edge) -> Value {
    let reply = edge.get("/api/public/system-status");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"].clone()
}

fn component(status: &Value, check: &str) -> Option<String> {
    status["components"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == check)
        .map(|c| c["status"].as_str().unwrap().to_owned())
}

/// Polls the status until `done` holds.
fn wait_status(edge: &Edge, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let now = status(edge);
        if done(&now) {
            return now;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "the status never showed {what}: {now:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn the_monitor_probes_by_itself_and_the_status_routes_report_it() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("STATUS_PROBE_INTERVAL_SECONDS", "5")]);
    // Any request arms the monitor; nothing else is sent until it has probed twice.
    let first = wait_status(&edge, "a first probe", |s| s["last_probe_at"].is_string());
    assert_eq!(first["probe_interval_seconds"], 5);
    assert_eq!(first["alarm_running"], true);
    for check in ["kv", "durable_object", "webhook_queue"] {
        assert_eq!(component(&first, check).as_deref(), Some("operational"), "{check}: {first:#}");
    }
    assert_eq!(component(&first, "origin"), None, "no origin is configured");
    assert_eq!(component(&first, "monitor").as_deref(), Some("operational"));
    assert_eq!(first["indicator"], "operational");
    let alias = edge.get("/status.json").json()["data"].clone();
    assert_eq!(alias["components"], first["components"], "/status.json is the same answer");

    // Statuspage tooling reads the same state at the path it already knows.
    let summary = edge.get("/api/v2/summary.json");
    assert_eq!(summary.status, 200);
    let summary = summary.json();
    assert_eq!(summary["page"]["url"], edge.base_url.trim_end_matches('/'));
    assert_eq!(summary["status"]["indicator"], "none", "{summary:#}");
    let components: Vec<(String, String)> = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect();
    assert!(components.contains(&("webhook_queue".to_owned(), "operational".to_owned())), "{summary:#}");
    assert!(components.contains(&("monitor".to_owned(), "operational".to_owned())), "{summary:#}");
    assert!(summary["incidents"].is_array() && summary["scheduled_maintenances"].is_array());

    // It keeps going with no further traffic of ours.
    let first_at = first["last_probe_at"].clone();
    let later = wait_status(&edge, "a second probe", |s| s["last_probe_at"] != first_at);
    assert_eq!(later["alarm_running"], true);
    let trend = edge.get("/api/public/system-status/trend?limit=10").json()["data"].clone();
    assert!(!trend.as_array().unwrap().is_empty());
    assert_eq!(trend[0]["overall"], "operational");

    let day = edge.get("/api/public/system-status/uptime?hours=24").json()["data"].clone();
    assert!(day["samples"].as_u64().unwrap() >= 1, "{day}");
    assert_eq!(
        (day["availability_percent"].clone(), day["resolution"].clone()),
        (serde_json::json!(100.0), serde_json::json!("minute"))
    );
    assert_eq!(edge.get("/api/public/system-status/uptime?hours=720").json()["data"]["resolution"], "hour");
    let year = edge.get("/api/public/system-status/uptime?hours=8760").json()["data"].clone();
    assert_eq!(year["resolution"], "day");
    assert!(year["samples"].as_u64().unwrap() >= 2, "the daily aggregate counts every probe: {year}");
    edge.get("/api/public/system-status/uptime?hours=8761").assert_error(400, "invalid_request");
    edge.get("/api/public/system-status/trend?limit=0").assert_error(400, "invalid_request");

    // The cron trigger re-arms it and is reported.
    let cron = edge.get("/__scheduled?cron=*/5+*+*+*+*");
    assert!(cron.status < 400, "{}", cron.text());
    wait_status(&edge, "the cron's visit", |s| s["cron_last_seen_at"].is_string());
}

fn a_failing_origin_shows_as_an_outage_and_recovers() {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&healthy);
    let origin = TestServer::start(move |_, _| Answer::status(if flag.load(Ordering::SeqCst) { 200 } else { 503 }));
    let (edge, _state) = Edge::spawn_fresh_with(&[
        ("STATUS_PROBE_INTERVAL_SECONDS", "5"),
        ("ORIGIN_URL", &origin.url("")),
        ("ORIGIN_SIGNING_SECRET", "origin-signing-secret-for-the-tests-0123"),
    ]);
    wait_status(&edge, "the origin up", |s| component(s, "origin").as_deref() == Some("operational"));
    healthy.store(false, Ordering::SeqCst);
    let down = wait_status(&edge, "the origin down", |s| component(s, "origin").as_deref() == Some("major_outage"));
    assert_eq!(down["indicator"], "major_outage");
    assert!(origin.requests().iter().any(|r| r.path_and_query == "/health"), "the default health path is probed");

    // The outage is an incident, active while it lasts, in both feeds.
    let during = incidents(&edge, "");
    assert_eq!(during["active"], 1, "{during:#}");
    let incident = during["incidents"][0].clone();
    assert_eq!(
        (&incident["source"], &incident["phase"], &incident["active"], &incident["impact"]),
        (&"monitor".into(), &"degraded".into(), &true.into(), &"major_outage".into()),
        "{incident:#}"
    );
    assert_eq!(incident["affected_checks"], serde_json::json!(["origin"]));
    let summary = edge.get("/api/v2/summary.json").json();
    assert_eq!(summary["incidents"][0]["id"], incident["id"], "{summary:#}");
    assert_eq!(summary["incidents"][0]["impact"], "critical");

    healthy.store(true, Ordering::SeqCst);
    let back = wait_status(&edge, "the origin back", |s| component(s, "origin").as_deref() == Some("operational"));
    assert_eq!(back["indicator"], "operational");
    let after = incidents(&edge, "?hours=1&limit=5");
    assert_eq!(after["active"], 0, "{after:#}");
    let resolved = &after["incidents"][0];
    assert_eq!((&resolved["id"], &resolved["phase"]), (&incident["id"], &"resolved".into()), "{after:#}");
    assert!(resolved["resolved_at"].is_string() && resolved["duration_seconds"].as_u64().unwrap() >= 1, "{after:#}");
    let phases: Vec<&str> =
        resolved["updates"].as_array().unwrap().iter().map(|u| u["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["degraded", "resolved"], "{after:#}");
    assert_eq!(edge.get("/api/v2/summary.json").json()["incidents"], serde_json::json!([]));
    let uptime = edge.get("/api/public/system-status/uptime?hours=1").json()["data"].clone();
    assert!(
        uptime["availability_percent"].as_f64().unwrap() < 100.0,
        "the outage counts against availability: {uptime}"
    );
}

fn operators_post_incidents_through_their_phases() {
    let (edge, _state) = Edge::spawn_fresh();
    let opened = edge.admin(
        "POST",
        "/api/admin/incidents",
        Some(&serde_json::json!({
            "title": "Webhook delivery latency elevated",
            "message": "[investigating] webhook delivery latency elevated; next update in 15 minutes.",
            "affected": ["webhook_queue", "webhook_queue"],
            "impact": "partial_outage",
        })),
    );
    assert_eq!(opened.status, 201, "{}", opened.text());
    let incident = opened.json()["data"].clone();
    let id = incident["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("inc_"), "{incident:#}");
    assert_eq!((&incident["source"], &incident["phase"]), (&"operator".into(), &"investigating".into()));
    assert_eq!(incident["affected_checks"], serde_json::json!(["webhook_queue"]), "repeats are dropped");

    let listed = incidents(&edge, "?hours=1");
    assert_eq!((listed["active"].clone(), listed["incidents"][0]["id"].clone()), (1.into(), id.clone().into()));
    let summary = edge.get("/api/v2/summary.json").json();
    assert_eq!(summary["incidents"][0]["name"], "Webhook delivery latency elevated", "{summary:#}");
    assert_eq!(summary["incidents"][0]["status"], "investigating");

    let path = format!("/api/admin/incidents/{id}/updates");
    let update = |phase: &str, message: &str| {
        edge.admin("POST", &path, Some(&serde_json::json!({ "phase": phase, "message": message })))
    };
    let monitoring = update("monitoring", "[monitoring] queue draining.");
    assert_eq!(monitoring.status, 200, "{}", monitoring.text());
    assert_eq!(monitoring.json()["data"]["phase"], "monitoring");
    update("monitoring", "   ").assert_error(400, "invalid_request");
    update("paused", "x").assert_error(400, "invalid_request");
    let resolved = update("resolved", "[resolved] latency back under the SLO.");
    assert_eq!(resolved.status, 200, "{}", resolved.text());
    let resolved = resolved.json()["data"].clone();
    assert_eq!((&resolved["active"], &resolved["phase"]), (&false.into(), &"resolved".into()));
    let phases: Vec<&str> =
        resolved["updates"].as_array().unwrap().iter().map(|u| u["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["investigating", "monitoring", "resolved"]);
    update("investigating", "again").assert_error(409, "conflict");
    assert_eq!(edge.get("/api/v2/summary.json").json()["incidents"], serde_json::json!([]));
    assert_eq!(incidents(&edge, "")["incidents"][0]["phase"], "resolved");

    edge.admin(
        "POST",
        "/api/admin/incidents/inc_9999999999999999999/updates",
        Some(&serde_json::json!({
            "phase": "resolved", "message": "x",
        })),
    )
    .assert_error(404, "not_found");
    edge.admin(
        "POST",
        "/api/admin/incidents",
        Some(&serde_json::json!({ "title": "x", "message": "y", "color": "red" })),
    )
    .assert_error(400, "invalid_request");
    edge.request("POST", "/api/admin/incidents", &[("content-type", "application/json")], Some(b"{}"))
        .assert_error(401, "unauthorized");
    incidents(&edge, "?limit=100");
    edge.get("/api/public/system-status/incidents?limit=101").assert_error(400, "invalid_request");
    edge.get("/api/public/system-status/incidents?hours=0").assert_error(400, "invalid_request");
}

fn family<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["families"].as_array()?.iter().find(|f| f["family"] == name)
}

fn latency_percentiles_come_from_real_traffic() {
    let (edge, _state) = Edge::spawn_fresh_with(&[("LATENCY_FLUSH_SECONDS", "0"), ("WEBHOOK_ALLOW_LOOPBACK", "true")]);
    let receiver = TestServer::start(|_, _| Answer::status(200));
    let client = edge.partner("live", &["read", "credit", "webhooks"]);
    let body = serde_json::json!({ "url": receiver.url("/hook"), "description": "latency", "receive_all": true });
    let subscribed =
        client.mutate("POST", "/api/partner/webhooks", &body, &partner_edge_tests::fresh_idempotency_key());
    assert_eq!(subscribed.status, 201, "{}", subscribed.text());
    for _ in 0..5 {
        assert_eq!(client.send("GET", "/api/partner/me", b"").status, 200);
    }
    let credit = serde_json::json!({ "user_id": "4", "amount": 1, "reason": "latency_test" });
    let credited = client.mutate("POST", "/api/salutes/credit", &credit, &partner_edge_tests::fresh_idempotency_key());
    assert_eq!(credited.status, 201, "{}", credited.text());
    assert_eq!(edge.get("/api/public/no-such-route").status, 404);
    receiver.wait_for("/hook", 1, Duration::from_secs(20));

    // Batches are handed over after the answers; wait until the figures are in.
    let started = Instant::now();
    let report = loop {
        let reply = edge.get("/api/public/latency-percentiles?hours=1");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let report = reply.json()["data"].clone();
        let partner_ok =
            family(&report, "partner").map_or(0, |f| f["by_status_class"]["2xx"]["count"].as_u64().unwrap());
        if partner_ok >= 5 && report["webhooks"]["count"].as_u64() >= Some(1) && family(&report, "unmatched").is_some()
        {
            break report;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the traffic never showed: {report:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!((report["hours"].clone(), report["resolution"].clone()), (1.into(), "hour".into()));
    assert_eq!(report["relative_accuracy"], 0.01);
    let partner = family(&report, "partner").unwrap();
    for p in ["p50_ms", "p95_ms", "p99_ms"] {
        assert!(partner[p].as_f64().is_some_and(|v| v >= 0.0), "{p}: {partner:#}");
    }
    assert!(partner["p50_ms"].as_f64() <= partner["p99_ms"].as_f64(), "{partner:#}");
    let salutes = family(&report, "salutes").expect("the credit is recorded");
    assert_eq!(salutes["by_status_class"]["2xx"]["count"], 1, "{report:#}");
    assert_eq!(family(&report, "unmatched").unwrap()["by_status_class"]["4xx"]["count"], 1, "{report:#}");
    let all: u64 = report["families"].as_array().unwrap().iter().map(|f| f["count"].as_u64().unwrap()).sum();
    assert_eq!(report["overall"]["count"].as_u64(), Some(all), "overall merges every family");

    let webhooks = &report["webhooks"];
    assert_eq!(webhooks["count"], 1, "one delivered event: {webhooks:#}");
    assert!(webhooks["p50_ms"].as_f64().unwrap() > 0.0, "publication to receipt takes time: {webhooks:#}");
    assert_eq!(webhooks["slo"], serde_json::json!({ "p50_ms": 250.0, "p95_ms": 1000.0, "p99_ms": 3000.0 }));
    assert!(webhooks["within_slo"].is_boolean(), "{webhooks:#}");

    assert_eq!(edge.get("/api/public/latency-percentiles?hours=720").json()["data"]["resolution"], "day");
    edge.get("/api/public/latency-percentiles?hours=721").assert_error(400, "invalid_request");
    edge.get("/api/public/latency-percentiles?hours=0").assert_error(400, "invalid_request");
}
