//! Machine-readable descriptions of the edge.

use worker::Response;

use partner_edge::lifecycle;

use crate::config;
use crate::error::ApiError;
use crate::http::{now_secs, query_pairs, success, Incoming};
use crate::router::Edge;

/// Rendered by `build.rs` from the shared route table.
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Rendered by `build.rs`: the committed baseline against this document.
const CHANGELOG_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi-changelog.json"));
const CHANGELOG_MD: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi-changelog.md"));

/// Rendered by `build.rs` from the error enum: `{"success":true,"data":[…]}`.
const ERRORS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/api-errors.json"));

/// Rendered by `build.rs` from the event types and their data schemas.
const EVENT_TYPES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/event-types.json"));

pub fn openapi(_req: &Incoming, _edge: Edge<'_>) -> Result<Response, ApiError> {
    static_json(OPENAPI_JSON)
}

pub fn event_types(_req: &Incoming, _edge: Edge<'_>) -> Result<Response, ApiError> {
    static_json(EVENT_TYPES_JSON)
}

fn static_json(document: &'static str) -> Result<Response, ApiError> {
    text(document.into(), "application/json; charset=utf-8")
}

/// The error catalogue, straight from the enum the edge maps its errors with
/// (rendered at build time, so the answer costs no serialisation).
pub fn error_catalogue(_req: &Incoming, _edge: Edge<'_>) -> Result<Response, ApiError> {
    static_json(ERRORS_JSON)
}

/// `/developers/deprecations.json` and `/developers/deprecations-playbook.json`.
pub fn deprecation_calendar(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let now = config::lifecycle_now(edge.env, now_secs(edge.now_ms))?;
    success(200, lifecycle::calendar(now))
}

/// `/developers/deprecations.rss`, with links on this edge's own origin.
pub fn deprecation_feed(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let now = config::lifecycle_now(edge.env, now_secs(edge.now_ms))?;
    let base = req.url()?.origin().ascii_serialization();
    text(lifecycle::rss_feed(now, &base), "application/rss+xml; charset=utf-8")
}

/// `/developers/deprecations-playbook.md`.
pub fn playbook_markdown(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let now = config::lifecycle_now(edge.env, now_secs(edge.now_ms))?;
    text(lifecycle::playbook_markdown(now), "text/markdown; charset=utf-8")
}

/// `GET /api/public/deprecations/header-simulator?id=&endpoint=&at=`.
pub fn header_simulator(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let pairs = query_pairs(req)?;
    let query = lifecycle::SimulatorQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let now = config::lifecycle_now(edge.env, now_secs(edge.now_ms))?;
    success(200, query.run(now))
}

/// A public, cacheable answer: its type and `Cache-Control`, nothing else.
fn text(body: String, content_type: &'static str) -> Result<Response, ApiError> {
    Ok(worker::ResponseBuilder::new().with_headers(public_headers(content_type)?).fixed(body.into_bytes()))
}

thread_local! {
    /// Per content type, the headers every public document carries, built
    /// once per isolate: each answer copies them in one runtime call
    /// (`Headers::clone` is `new Headers(template)`), where building them is
    /// three calls and four strings decoded.
    static PUBLIC_HEADERS: std::cell::RefCell<Vec<(&'static str, worker::Headers)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A fresh copy of the public headers for `content_type`.
fn public_headers(content_type: &'static str) -> Result<worker::Headers, ApiError> {
    PUBLIC_HEADERS.with_borrow_mut(|templates| {
        if let Some((_, template)) = templates.iter().find(|(known, _)| *known == content_type) {
            return Ok(template.clone());
        }
        let template = worker::Headers::new();
        template.set("content-type", content_type)?;
        template.set("cache-control", "public, max-age=300")?;
        let copy = template.clone();
        templates.push((content_type, template));
        Ok(copy)
    })
}

/// `/developers/migration-status.json?id=`: per day, calls to each deprecated
/// route and to its replacement, across partners.
pub async fn migration_status(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let pairs = query_pairs(req)?;
    let selected = lifecycle::parse_migration_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let today = lifecycle::day_of(now_secs(edge.now_ms));
    let mut statuses = Vec::new();
    for deprecation in selected {
        let stub = crate::bindings::stub(edge.env, crate::bindings::ROUTE_USAGE, "global")?;
        let query = lifecycle::ReadMigration {
            deprecation_id: deprecation.id.to_owned(),
            since_day: today.saturating_sub(lifecycle::USAGE_DAYS),
        };
        let counts = crate::durable::send(stub, query).await?;
        statuses.push(lifecycle::migration_status(deprecation, &counts));
    }
    success(200, statuses)
}

/// `/trust.json`: generated from the settings in force, with an ETag.
pub fn trust_manifest(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    use partner_edge::trust;
    let env = edge.env;
    let manifest = trust::manifest(&trust::TrustInputs {
        api_version: env!("CARGO_PKG_VERSION"),
        local: config::is_local(env),
        gate: &config::gate(env)?,
        signatures: &config::signature_policy(env)?,
        retry: &config::retry_policy(env)?,
        limits: &config::webhook_limits(env)?,
        urls: config::webhook_url_policy(env)?,
        origin_signed: config::origin(env)?.is_some(),
        health_cache_secs: config::health_cache_secs(env)?,
        admin_failures_per_window: config::admin_failures_per_min(env)?,
        key_cache_secs: config::key_cache_secs(env)?,
        now: now_secs(edge.now_ms),
    });
    let body = serde_json::to_string(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let etag = trust::etag(&body);
    let matched = req.headers().get("if-none-match")?.is_some_and(|tags| trust::not_modified(&tags, &etag));
    let mut response = if matched { Response::empty()?.with_status(304) } else { Response::ok(body)? };
    let headers = response.headers_mut();
    if !matched {
        headers.set("content-type", "application/json; charset=utf-8")?;
    }
    headers.set("etag", &etag)?;
    headers.set("cache-control", "public, max-age=60")?;
    Ok(response)
}

/// `/developers/openapi-changelog.json`.
pub fn changelog(_req: &Incoming, _edge: Edge<'_>) -> Result<Response, ApiError> {
    static_json(CHANGELOG_JSON)
}

/// `/developers/openapi-changelog.md`.
pub fn changelog_markdown(_req: &Incoming, _edge: Edge<'_>) -> Result<Response, ApiError> {
    text(CHANGELOG_MD.to_owned(), "text/markdown; charset=utf-8")
}
