//! Settings read from the Worker's variables and secrets. Parsing lives in
//! the shared crate; this only looks the names up.

use partner_edge::gate::GateConfig;
use partner_edge::partner::{MasterKey, DEFAULT_ROTATION_OVERLAP_SECS};
use partner_edge::signing::SignaturePolicy;
use partner_edge::webhooks::limits::WebhookLimits;
use partner_edge::webhooks::retry::RetryPolicy;
use partner_edge::webhooks::ssrf::UrlPolicy;
use worker::Env;

use crate::error::ApiError;

/// A variable or secret, if set and non-empty.
pub fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Whether this is a developer's local edge (`EDGE_ENV=local`, set by
/// `.dev.vars`). Deployments get `production` from `wrangler.toml`.
pub fn is_local(env: &Env) -> bool {
    lookup(env, "EDGE_ENV").as_deref() == Some("local")
}

/// `ORIGIN_URL`: when set, partner resource routes are forwarded there
/// instead of being served by the sandbox. Parsed once per isolate (below).
pub fn origin(env: &Env) -> Result<Option<url::Url>, ApiError> {
    ORIGIN.with(|cell| cell.get_or_init(|| parse_origin(env)).clone()).map_err(misconfigured)
}

fn parse_origin(env: &Env) -> Result<Option<url::Url>, String> {
    let Some(raw) = lookup(env, "ORIGIN_URL") else {
        return Ok(None);
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("ORIGIN_URL {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(format!("ORIGIN_URL must be an http(s) URL, not {raw:?}"));
    }
    if url.scheme() == "http" && !is_local(env) {
        return Err("ORIGIN_URL must use https outside EDGE_ENV=local".to_owned());
    }
    Ok(Some(url))
}

/// `ORIGIN_TIMEOUT_SECONDS`: how long the origin has to answer (30 s by default).
pub fn origin_timeout(env: &Env) -> Result<std::time::Duration, ApiError> {
    let secs = match lookup(env, "ORIGIN_TIMEOUT_SECONDS") {
        None => 30,
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=partner_edge::origin::MAX_ORIGIN_TIMEOUT_SECS).contains(s))
            .ok_or_else(|| {
                misconfigured(format!(
                    "ORIGIN_TIMEOUT_SECONDS must be 1 to {}, not {raw:?}",
                    partner_edge::origin::MAX_ORIGIN_TIMEOUT_SECS
                ))
            })?,
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// `ORIGIN_SIGNING_SECRET`: the secret the edge signs forwarded requests
/// with and the origin verifies them with. Required once `ORIGIN_URL` is set,
/// and at least 32 characters, so an origin can always tell the edge's
/// requests from anyone else's.
pub fn origin_signing_secret(env: &Env) -> Result<String, ApiError> {
    let secret = lookup(env, "ORIGIN_SIGNING_SECRET")
        .ok_or_else(|| misconfigured("ORIGIN_SIGNING_SECRET must be set when ORIGIN_URL is".to_owned()))?;
    if secret.chars().count() < 32 {
        return Err(misconfigured("ORIGIN_SIGNING_SECRET must be at least 32 characters".to_owned()));
    }
    Ok(secret)
}

/// Webhook delivery settings (`WEBHOOK_*`).
pub fn retry_policy(env: &Env) -> Result<RetryPolicy, ApiError> {
    RetryPolicy::from_vars(|name| lookup(env, name)).map_err(misconfigured)
}

/// Webhook storage caps and retention (`WEBHOOK_MAX_*`, `WEBHOOK_RETENTION_SECONDS`, …).
pub fn webhook_limits(env: &Env) -> Result<WebhookLimits, ApiError> {
    WebhookLimits::from_vars(|name| lookup(env, name)).map_err(misconfigured)
}

/// Which receiver URLs are allowed. `WEBHOOK_ALLOW_LOOPBACK=true` lets a
/// local edge deliver to loopback receivers; any other deployment refuses
/// to start webhook work with it set, rather than quietly ignoring it.
pub fn webhook_url_policy(env: &Env) -> Result<UrlPolicy, ApiError> {
    let local = is_local(env);
    let allow_loopback = match lookup(env, "WEBHOOK_ALLOW_LOOPBACK").as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") if local => true,
        Some("true") => {
            return Err(misconfigured("WEBHOOK_ALLOW_LOOPBACK=true is refused outside EDGE_ENV=local".to_owned()))
        }
        Some(other) => {
            return Err(misconfigured(format!("WEBHOOK_ALLOW_LOOPBACK must be true or false, not {other:?}")))
        }
    };
    Ok(UrlPolicy { require_https: !local, allow_loopback })
}

/// `HEALTH_CACHE_SECONDS`: how long one health probe answers for (5 s by default, 0 to 60).
pub fn health_cache_secs(env: &Env) -> Result<u64, ApiError> {
    partner_edge::webhooks::limits::number(&|name| lookup(env, name), "HEALTH_CACHE_SECONDS", 5, 0..=60)
        .map_err(misconfigured)
}

/// `ADMIN_AUTH_FAILURES_PER_MIN`: failed admin logins a client may make a minute (10 by default).
pub fn admin_failures_per_min(env: &Env) -> Result<u32, ApiError> {
    partner_edge::webhooks::limits::number(&|name| lookup(env, name), "ADMIN_AUTH_FAILURES_PER_MIN", 10, 1..=1_000)
        .map_err(misconfigured)
}

/// The time deprecations are judged by: now, shifted by
/// `LIFECYCLE_CLOCK_OFFSET_SECONDS` on a local edge, so a developer (and the
/// tests) can see a route's headers and its 410 at any date. Any other
/// deployment refuses the setting rather than quietly ignoring it.
pub fn lifecycle_now(env: &Env, now_secs: u64) -> Result<u64, ApiError> {
    let Some(raw) = lookup(env, "LIFECYCLE_CLOCK_OFFSET_SECONDS") else {
        return Ok(now_secs);
    };
    if !is_local(env) {
        return Err(misconfigured("LIFECYCLE_CLOCK_OFFSET_SECONDS is refused outside EDGE_ENV=local".to_owned()));
    }
    let offset: i64 = raw
        .trim()
        .parse()
        .map_err(|_| misconfigured(format!("LIFECYCLE_CLOCK_OFFSET_SECONDS must be whole seconds, not {raw:?}")))?;
    Ok(now_secs.saturating_add_signed(offset))
}

/// `STATUS_PROBE_INTERVAL_SECONDS`: how often the status monitor probes (60 s by default, 5 to 3600).
pub fn status_probe_interval_secs(env: &Env) -> Result<u64, ApiError> {
    partner_edge::webhooks::limits::number(&|name| lookup(env, name), "STATUS_PROBE_INTERVAL_SECONDS", 60, 5..=3_600)
        .map_err(misconfigured)
}

/// How the isolate records request latencies: `LATENCY_RECORDING` (`on` by
/// default, or `off`) and `LATENCY_FLUSH_SECONDS`, how long an isolate
/// aggregates before handing its batch to storage (10 s by default, 0 for
/// every request).
pub fn latency_recording(env: &Env) -> Result<Option<u64>, ApiError> {
    let on = match lookup(env, "LATENCY_RECORDING").as_deref().map(str::trim) {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => return Err(misconfigured(format!("LATENCY_RECORDING must be on or off, not {other:?}"))),
    };
    let flush = partner_edge::webhooks::limits::number(&|name| lookup(env, name), "LATENCY_FLUSH_SECONDS", 10, 0..=300)
        .map_err(misconfigured)?;
    Ok(on.then_some(flush))
}

/// `KEY_CACHE_SECONDS`: how long an isolate serves a partner key record
/// (and the secrets it unsealed) from memory: 30 s by default, at most 60
/// (KV's own propagation delay), 0 to read KV on every request.
pub fn key_cache_secs(env: &Env) -> Result<u64, ApiError> {
    thread_local! {
        static KEY_CACHE: std::cell::OnceCell<Result<u64, String>> = const { std::cell::OnceCell::new() };
    }
    KEY_CACHE
        .with(|cell| {
            cell.get_or_init(|| {
                partner_edge::webhooks::limits::number(&|name| lookup(env, name), "KEY_CACHE_SECONDS", 30, 0..=60)
            })
            .clone()
        })
        .map_err(misconfigured)
}

/// `ORIGIN_HEALTH_TIMEOUT_SECONDS`: how long the origin's health path has to answer (5 s by default).
pub fn origin_health_timeout(env: &Env) -> Result<std::time::Duration, ApiError> {
    partner_edge::webhooks::limits::number(&|name| lookup(env, name), "ORIGIN_HEALTH_TIMEOUT_SECONDS", 5, 1..=60)
        .map(std::time::Duration::from_secs)
        .map_err(misconfigured)
}

/// The shortest `ADMIN_API_KEY` a deployment accepts.
pub const ADMIN_KEY_MIN_CHARS: usize = 32;

fn misconfigured(detail: String) -> ApiError {
    ApiError::internal(format!("misconfigured: {detail}"))
}

// Settings read on every partner request are parsed once per isolate: a
// Worker's variables and secrets cannot change while an isolate lives (a
// deploy, or an edited `.dev.vars`, starts new ones), and each lookup is
// two calls across the JS boundary. `bash scripts/edge.sh bench-profile`
// shows what they cost.
thread_local! {
    static GATE: std::cell::OnceCell<Result<GateConfig, String>> = const { std::cell::OnceCell::new() };
    static SIGNATURES: std::cell::OnceCell<Result<SignaturePolicy, String>> = const { std::cell::OnceCell::new() };
    static MASTER: std::cell::OnceCell<Result<MasterKey, String>> = const { std::cell::OnceCell::new() };
    static ORIGIN: std::cell::OnceCell<Result<Option<url::Url>, String>> = const { std::cell::OnceCell::new() };
}

pub fn gate(env: &Env) -> Result<GateConfig, ApiError> {
    GATE.with(|cell| cell.get_or_init(|| GateConfig::from_vars(|name| lookup(env, name))).clone())
        .map_err(misconfigured)
}

pub fn signature_policy(env: &Env) -> Result<SignaturePolicy, ApiError> {
    SIGNATURES
        .with(|cell| cell.get_or_init(|| SignaturePolicy::from_vars(|name| lookup(env, name))).clone())
        .map_err(misconfigured)
}

pub fn rotation_overlap_secs(env: &Env) -> Result<u64, ApiError> {
    match lookup(env, "PARTNER_KEY_ROTATION_OVERLAP_SECONDS") {
        None => Ok(DEFAULT_ROTATION_OVERLAP_SECS),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| misconfigured(format!("PARTNER_KEY_ROTATION_OVERLAP_SECONDS is not a number: {raw:?}"))),
    }
}

/// The key that seals partner secrets at rest (secret `PARTNER_KEY_MASTER`, 64 hex digits).
pub fn master_key(env: &Env) -> Result<MasterKey, ApiError> {
    MASTER
        .with(|cell| {
            cell.get_or_init(|| {
                let raw = lookup(env, "PARTNER_KEY_MASTER").ok_or("PARTNER_KEY_MASTER is not set")?;
                MasterKey::parse_hex(&raw).map_err(|e| format!("PARTNER_KEY_MASTER: {e}"))
            })
            .clone()
        })
        .map_err(misconfigured)
}
