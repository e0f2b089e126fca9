//! The foundation: health, the OpenAPI document, the error shape, the portal
//! being served, and state surviving a restart.

use partner_edge::routes::ROUTES;
use partner_edge_tests::{Edge, Reply};
use serde_json::Value;

use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    ("health_reports_passing_kv_and_durable_object_checks", health_reports_passing_kv_and_durable_object_checks),
    ("head_on_health_has_headers_and_no_body", head_on_health_has_headers_and_no_body),
    ("unknown_api_route_is_a_taxonomy_404", unknown_api_route_is_a_taxonomy_404),
    (
        "unknown_paths_the_worker_owns_are_404_json_not_the_portal",
        unknown_paths_the_worker_owns_are_404_json_not_the_portal,
    ),
    ("wrong_method_is_a_405_listing_allowed_methods", wrong_method_is_a_405_listing_allowed_methods),
    ("every_response_carries_a_fresh_request_id", every_response_carries_a_fresh_request_id),
    (
        "openapi_document_is_valid_3_1_and_matches_the_route_table",
        openapi_document_is_valid_3_1_and_matches_the_route_table,
    ),
    ("portal_is_served_at_the_root_with_its_wasm", portal_is_served_at_the_root_with_its_wasm),
    ("client_routes_fall_back_to_the_portal", client_routes_fall_back_to_the_portal),
];

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[
    ("restart_keeps_kv_and_durable_object_state", restart_keeps_kv_and_durable_object_state),
    ("setup_finds_every_tool_already_installed", setup_finds_every_tool_already_installed),
];

fn is_request_id(value: &str) -> bool {
    value.len() == 36
        && value.starts_with("req_")
        && value[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn health(edge: &Edge) -> (Reply, Value) {
    let reply = edge.get("/api/public/health");
    assert_eq!(reply.status, 200, "health: {}", reply.text());
    let body = reply.json();
    (reply, body)
}

fn health_reports_passing_kv_and_durable_object_checks(edge: &Edge) {
    let (reply, body) = health(edge);
    assert!(reply.header("content-type").unwrap_or_default().starts_with("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(body["success"], true);
    let data = &body["data"];
    assert_eq!(data["status"], "ok");
    assert_eq!(data["checks"]["kv"]["ok"], true, "{data}");
    assert_eq!(data["checks"]["durable_object"]["ok"], true, "{data}");
    assert!(data["checks"]["kv"]["latency_ms"].is_u64());
    assert!(data["probes_recorded"].as_u64().unwrap() >= 1);
    assert!(data["checked_at_ms"].as_u64().unwrap() > 1_600_000_000_000, "checked_at_ms is unix ms");
}

fn head_on_health_has_headers_and_no_body(edge: &Edge) {
    let reply = edge.request("HEAD", "/api/public/health", &[], None);
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty(), "HEAD returned a body");
    assert!(is_request_id(reply.header("x-request-id").unwrap_or_default()));
}

fn unknown_api_route_is_a_taxonomy_404(edge: &Edge) {
    let reply = edge.get("/api/no/such/route?x=1");
    let body = reply.assert_error(404, "not_found");
    assert!(body["message"].as_str().unwrap().contains("/api/no/such/route"), "{body}");
}

fn unknown_paths_the_worker_owns_are_404_json_not_the_portal(edge: &Edge) {
    for path in ["/api/", "/api/public/health/extra", "/developers/nothing-here.json"] {
        let reply = edge.request("GET", path, &[("accept", "text/html"), ("sec-fetch-mode", "navigate")], None);
        reply.assert_error(404, "not_found");
    }
}

fn wrong_method_is_a_405_listing_allowed_methods(edge: &Edge) {
    let reply = edge.request("DELETE", "/api/public/health", &[], None);
    reply.assert_error(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
}

fn every_response_carries_a_fresh_request_id(edge: &Edge) {
    let ids: Vec<String> = ["/api/public/health", "/api/nope", "/openapi.json"]
        .iter()
        .map(|path| edge.get(path).header("x-request-id").unwrap_or_default().to_owned())
        .collect();
    for id in &ids {
        assert!(is_request_id(id), "bad request id {id:?}");
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "request ids repeat: {ids:?}");
}

fn openapi_document_is_valid_3_1_and_matches_the_route_table(edge: &Edge) {
    let reply = edge.get("/openapi.json");
    assert_eq!(reply.status, 200);
    let served = reply.json();
    // Structurally valid OpenAPI 3.1, as a third-party parser reads it.
    let spec = oas3::from_json(reply.text()).unwrap_or_else(|e| panic!("not valid OpenAPI 3.1: {e}"));
    assert!(spec.openapi.starts_with("3.1"), "openapi version {}", spec.openapi);
    // Exactly what the shared route table renders: no second copy can drift.
    assert_eq!(served, partner_edge::openapi::document());
    for route in ROUTES {
        let method = route.method.as_str().to_ascii_lowercase();
        assert_eq!(served["paths"][route.path][&method]["operationId"], route.operation_id);
    }
}

fn portal_is_served_at_the_root_with_its_wasm(edge: &Edge) {
    let index = edge.get("/");
    assert_eq!(index.status, 200);
    assert!(index.header("content-type").unwrap_or_default().starts_with("text/html"));
    let html = index.text();
    assert!(html.contains("Partner Edge"), "not the portal's index.html");
    let wasm = html
        .split(['"', '\''])
        .find(|part| part.ends_with(".wasm") && part.starts_with('/'))
        .unwrap_or_else(|| panic!("index.html references no .wasm: {html}"))
        .to_owned();
    let module = edge.get(&wasm);
    assert_eq!(module.status, 200, "{wasm}");
    assert_eq!(module.header("content-type"), Some("application/wasm"));
    assert_eq!(&module.body[..4], b"\0asm", "not a wasm module");
}

fn client_routes_fall_back_to_the_portal(edge: &Edge) {
    let index = edge.get("/").text();
    for path in ["/reference", "/a/page/only/the/portal/knows"] {
        let reply = edge.request("GET", path, &[("accept", "text/html"), ("sec-fetch-mode", "navigate")], None);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.text(), index, "{path} did not get index.html");
    }
}

fn restart_keeps_kv_and_durable_object_state() {
    let state = tempfile::tempdir().unwrap();

    let edge = Edge::spawn_with_state(state.path());
    let (first_reply, first) = health(&edge);
    // Fresh state: this is the first probe ever recorded, with none before it.
    assert_eq!(first["data"]["probes_recorded"], 1, "state was not fresh: {first}");
    assert!(first["data"].get("previous_probe").is_none(), "state was not fresh: {first}");
    let first_id = first_reply.header("x-request-id").unwrap().to_owned();
    edge.stop();

    let edge = Edge::spawn_with_state(state.path());
    let (_, after) = health(&edge);
    assert_eq!(after["data"]["probes_recorded"], 2, "Durable Object state lost: {after}");
    assert_eq!(after["data"]["previous_probe"]["request_id"], first_id, "KV state lost: {after}");
}

/// After the test command's own setup, a second setup must install nothing.
/// (worker-build prints its bare version, which an earlier check missed,
/// so every run reinstalled it.)
fn setup_finds_every_tool_already_installed() {
    let output = std::process::Command::new("bash")
        .args(["scripts/edge.sh", "setup", "--check"])
        .current_dir(partner_edge_tests::repo_root())
        .output()
        .expect("run scripts/edge.sh setup --check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "setup --check wants to install something:\n{stderr}");
    assert!(!stderr.contains("would install"), "{stderr}");
}
