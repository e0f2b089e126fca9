//! Public status of the edge itself.

use partner_edge::error::ErrorCode;
use partner_edge::health::{self, KvProbe, Measured, ProbeRecord, KV_PROBE_KEY};
use partner_edge::incidents::{
    IncidentIn, IncidentUpdateIn, OpenIncident, PostIncidentUpdate, ReadIncidents, UpdateOutcome,
};
use worker::{Env, Response};

use crate::bindings;
use crate::error::ApiError;
use crate::http::{json_body, now_ms, success, Incoming};
use crate::router::Edge;
use crate::{config, status_monitor};

type Assessed = Result<health::HealthReport, String>;

thread_local! {
    /// This isolate's latest probe result and when it was taken.
    static LAST_PROBE: std::cell::RefCell<Option<(u64, Assessed)>> = const { std::cell::RefCell::new(None) };
}

/// Runs the KV and Durable Object probes concurrently; the shared crate
/// decides whether the edge is healthy. A result younger than
/// `HEALTH_CACHE_SECONDS` (5 s by default) is served again instead, so an
/// unauthenticated caller cannot turn health checks into storage writes or
/// race them into a false 503.
pub async fn health(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let max_age_ms = config::health_cache_secs(edge.env)? * 1000;
    let cached = LAST_PROBE.with_borrow(|last| {
        last.as_ref().filter(|(at, _)| edge.now_ms.saturating_sub(*at) < max_age_ms).map(|(_, result)| result.clone())
    });
    let result = match cached {
        Some(result) => result,
        None => {
            let record = ProbeRecord { request_id: edge.request_id.clone(), at_ms: edge.now_ms };
            let (kv, durable_object) = futures_util::join!(
                measure(probe_kv(edge.env, &record)),
                measure(status_monitor::record_probe(edge.env, &record)),
            );
            let result = health::assess(edge.now_ms, kv, durable_object).map_err(|unhealthy| unhealthy.to_string());
            LAST_PROBE.set(Some((edge.now_ms, result.clone())));
            result
        }
    };
    match result {
        Ok(report) => success(200, report),
        Err(unhealthy) => Err(ApiError::new(ErrorCode::DependencyUnavailable, unhealthy)),
    }
}

async fn measure<T>(probe: impl std::future::Future<Output = Result<T, String>>) -> Measured<T> {
    let started = now_ms();
    let outcome = probe.await;
    let latency_ms = u32::try_from(now_ms().saturating_sub(started)).unwrap_or(u32::MAX);
    Measured { outcome, latency_ms }
}

/// Reads the previous probe, writes this one, and reads the key back.
async fn probe_kv(env: &Env, record: &ProbeRecord) -> Result<KvProbe, String> {
    let kv = env.kv(bindings::KV).map_err(|e| format!("binding {} unavailable: {e}", bindings::KV))?;
    let read = |text: Option<String>| text.and_then(|t| serde_json::from_str::<ProbeRecord>(&t).ok());

    let previous = kv.get(KV_PROBE_KEY).text().await.map_err(|e| format!("read failed: {e}"))?;
    let value = serde_json::to_string(record).map_err(|e| format!("could not encode the probe: {e}"))?;
    kv.put(KV_PROBE_KEY, value)
        .map_err(|e| format!("write failed: {e}"))?
        .execute()
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let read_back = kv.get(KV_PROBE_KEY).text().await.map_err(|e| format!("read-back failed: {e}"))?;

    Ok(KvProbe { previous: read(previous), read_back_found: read(read_back).is_some() })
}

/// `GET /api/public/system-status` and `/status.json`.
pub async fn system_status(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    success(200, status_monitor::ask(edge.env, partner_edge::status::ReadStatus {}).await?)
}

/// `GET /api/v2/summary.json`: the same answer in Statuspage's shape, unwrapped.
pub async fn statuspage_summary(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let open = ReadIncidents { hours: 1, limit: partner_edge::incidents::INCIDENT_LIMIT_MAX };
    let (status, incidents) = futures_util::join!(
        status_monitor::ask(edge.env, partner_edge::status::ReadStatus {}),
        status_monitor::ask(edge.env, open),
    );
    let url = req.url()?;
    let page_url = url.origin().ascii_serialization();
    let summary = partner_edge::status::statuspage_summary(
        &status?,
        &incidents?.incidents,
        &page_url,
        crate::http::now_secs(edge.now_ms),
    );
    let mut response = Response::from_json(&summary)?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// `GET /api/public/system-status/trend?limit=`.
pub async fn trend(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let pairs = crate::http::query_pairs(req)?;
    let limit = partner_edge::status::parse_trend_limit(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    success(200, status_monitor::ask(edge.env, partner_edge::status::ReadTrend { limit }).await?)
}

/// `GET /api/public/system-status/uptime?hours=`.
pub async fn uptime(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let pairs = crate::http::query_pairs(req)?;
    let hours = partner_edge::status::parse_uptime_hours(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    success(200, status_monitor::ask(edge.env, partner_edge::status::ReadUptime { hours }).await?)
}

/// `GET /api/public/system-status/incidents?hours=&limit=`.
pub async fn incidents(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let pairs = crate::http::query_pairs(req)?;
    let query = partner_edge::incidents::parse_incident_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    success(200, status_monitor::ask(edge.env, query).await?)
}

/// `GET /api/public/latency-percentiles?hours=`.
pub async fn latency_percentiles(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let pairs = crate::http::query_pairs(req)?;
    let query = partner_edge::latency::parse_latency_hours(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    success(200, status_monitor::ask(edge.env, query).await?)
}

/// `POST /api/admin/incidents`.
pub async fn open_incident(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let input: IncidentIn = json_body(&edge.body)?;
    let record = input.open(edge.now_ms)?;
    success(201, status_monitor::ask(edge.env, OpenIncident { record }).await?)
}

/// `POST /api/admin/incidents/{incident_id}/updates`.
pub async fn update_incident(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let raw = edge.params.get("incident_id").unwrap_or_default();
    let missing = || ApiError::new(ErrorCode::NotFound, format!("no incident {raw}"));
    let seq = partner_edge::incidents::parse_incident_id(raw).ok_or_else(missing)?;
    let update: IncidentUpdateIn = json_body(&edge.body)?;
    update.validate()?;
    match status_monitor::ask(edge.env, PostIncidentUpdate { seq, update }).await? {
        UpdateOutcome::Updated(incident) => success(200, incident),
        UpdateOutcome::NotFound => Err(missing()),
        UpdateOutcome::AlreadyResolved => {
            Err(ApiError::new(ErrorCode::Conflict, format!("{raw} is resolved; open a new incident instead")))
        }
        UpdateOutcome::Invalid { field, reason } => Err(ApiError::invalid_request(format!("{field}: {reason}"))),
    }
}

thread_local! {
    /// Whether this isolate has asked the monitor to arm itself.
    static ARMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The first request an isolate serves arms the monitor, after answering.
pub fn arm_once(env: &Env, ctx: &worker::Context) {
    if ARMED.get() {
        return;
    }
    ARMED.set(true);
    let env = env.clone();
    ctx.wait_until(async move { arm(&env, false).await });
}

/// Arms the monitor (a no-op when its alarm is already set).
pub async fn arm(env: &Env, by_cron: bool) {
    if let Err(error) = status_monitor::ask(env, partner_edge::status::EnsureArmed { by_cron }).await {
        worker::console_error!("could not arm the status monitor: {error:?}");
        ARMED.set(false);
    }
}
