//! `/trust.json`: the controls this edge runs with, generated from its live
//! configuration and its code (never copied text), each with an evidence
//! pointer: the route, document or test that shows it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::gate::{GateConfig, IDEMPOTENCY_LEASE_SECS, NONCE_SAFETY_MARGIN_SECS};
use crate::lifecycle::{rfc3339, DEPRECATIONS};
use crate::signing::SignaturePolicy;
use crate::webhooks::limits::{WebhookLimits, TRANSITIONS_KEPT_MS};
use crate::webhooks::retry::RetryPolicy;
use crate::webhooks::ssrf::{UrlPolicy, IPV6_SPECIAL_PURPOSE};

/// Bumped when the manifest's shape changes.
pub const MANIFEST_VERSION: &str = "1";

/// One control: what it is, its value on this edge, and where to see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Control {
    pub id: String,
    pub summary: String,
    /// The value in force, as data.
    #[cfg_attr(feature = "openapi", schemars(with = "serde_json::Value"))]
    pub value: serde_json::Value,
    /// A route, document or test path that shows it.
    pub evidence: Vec<String>,
}

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TrustManifest {
    pub manifest_version: String,
    /// The API version (`/openapi.json` `info.version`).
    pub api_version: String,
    /// `production` or `local`.
    pub environment: String,
    pub controls: Vec<Control>,
}

/// What the manifest is generated from: the edge's parsed settings.
pub struct TrustInputs<'a> {
    pub api_version: &'a str,
    pub local: bool,
    pub gate: &'a GateConfig,
    pub signatures: &'a SignaturePolicy,
    pub retry: &'a RetryPolicy,
    pub limits: &'a WebhookLimits,
    pub urls: UrlPolicy,
    pub origin_signed: bool,
    pub health_cache_secs: u64,
    pub admin_failures_per_window: u32,
    /// How long an isolate keeps a verified key record (`KEY_CACHE_SECONDS`).
    pub key_cache_secs: u64,
    pub now: u64,
}

fn control(id: &str, summary: &str, value: serde_json::Value, evidence: &[&str]) -> Control {
    Control {
        id: id.to_owned(),
        summary: summary.to_owned(),
        value,
        evidence: evidence.iter().map(|e| (*e).to_owned()).collect(),
    }
}

pub fn manifest(inputs: &TrustInputs<'_>) -> TrustManifest {
    use serde_json::json;
    let gate = inputs.gate;
    let versions: Vec<serde_json::Value> = inputs
        .signatures
        .accepted
        .iter()
        .map(|v| json!({ "version": v.version.as_str(), "cutoff": v.cutoff.map(rfc3339) }))
        .collect();
    let sunsets: Vec<serde_json::Value> = DEPRECATIONS
        .iter()
        .map(|d| json!({ "id": d.id, "endpoint": d.endpoint(), "sunset_at": rfc3339(d.sunset_at), "replacement": d.replacement_endpoint() }))
        .collect();
    let controls = vec![
        control(
            "request_signing",
            "Partner requests are signed with HMAC-SHA256 over version, timestamp, method, path?query, nonce and body hash; secrets compared in constant time.",
            json!({ "scheme": "HMAC-SHA256", "versions": versions }),
            &["/openapi.json#/components/securitySchemes/partnerSignature", "tests/vectors/signing-v1.json", "tests/edge/gate.rs"],
        ),
        control(
            "timestamp_tolerance",
            "X-Partner-Timestamp must be within this many seconds of the edge's clock.",
            json!({ "seconds": gate.timestamp_tolerance_secs }),
            &["/developers/api-errors.json", "tests/edge/gate.rs"],
        ),
        control(
            "replay_protection",
            "Each nonce is accepted once; it is kept past the timestamp window by a safety margin.",
            json!({ "nonce_kept_seconds": gate.timestamp_tolerance_secs + NONCE_SAFETY_MARGIN_SECS }),
            &["shared/src/gate.rs", "tests/edge/gate.rs"],
        ),
        control(
            "idempotency",
            "Mutations need an Idempotency-Key; the first answer replays for the same request and a reservation outlives the longest origin timeout.",
            json!({ "answer_kept_seconds": gate.idempotency_ttl_secs, "reservation_lease_seconds": IDEMPOTENCY_LEASE_SECS }),
            &["tests/edge/backend.rs", "shared/src/origin.rs"],
        ),
        control(
            "rate_limits",
            "Fixed windows, counted exactly in Durable Objects.",
            json!({
                "window_seconds": gate.rate_window_secs,
                "sandbox_key": gate.sandbox_per_minute,
                "live_key_default": gate.live_default_per_minute,
                "public_per_client": gate.public_per_minute,
                "webhook_routes_per_key": gate.webhook_per_minute,
                "failed_admin_logins_per_client": inputs.admin_failures_per_window,
            }),
            &["tests/edge/gate.rs", "tests/edge/backend.rs", "tests/edge/hardening.rs"],
        ),
        control(
            "request_bodies",
            "Bodies are read through a cap, with or without Content-Length; the excess is never buffered.",
            json!({ "max_bytes": gate.max_body_bytes }),
            &["tests/edge/hardening.rs"],
        ),
        control(
            "encryption_at_rest",
            "Partner key secrets and webhook secrets are sealed with AES-256-GCM, bound to their key or subscription; secrets are shown once.",
            json!({ "algorithm": "AES-256-GCM" }),
            &["shared/src/partner.rs", "tests/edge/webhooks.rs"],
        ),
        control(
            "ssrf_policy",
            "Webhook URLs are checked at creation and before every attempt; redirects are never followed and at most 4 KiB of an answer is read.",
            json!({
                "https_required": inputs.urls.require_https,
                "loopback_allowed": inputs.urls.allow_loopback,
                "ipv6_special_purpose_rows": IPV6_SPECIAL_PURPOSE.len(),
                "redirects_followed": false,
                "answer_bytes_read": 4096,
            }),
            &["shared/src/webhooks/ssrf.rs", "tests/edge/hardening.rs"],
        ),
        control(
            "webhook_signatures",
            "Every delivery is signed twice: X-Webhook-Signature (hex HMAC over timestamp.body) and Standard Webhooks.",
            json!({ "schemes": ["X-Webhook-Signature", "standard-webhooks-v1"], "rotation_overlap_seconds": inputs.retry.rotation_overlap_secs }),
            &["/api/public/webhooks/event-types", "tests/edge/webhooks.rs"],
        ),
        control(
            "webhook_retries",
            "Failed attempts are retried on a schedule with jitter (or the receiver's Retry-After, clamped), then dead-lettered; consecutive dead letters disable an endpoint.",
            json!({
                "schedule_seconds": inputs.retry.schedule_secs,
                "max_attempts": inputs.retry.max_attempts,
                "jitter_percent": inputs.retry.jitter_percent,
                "timeout_seconds": inputs.retry.timeout_secs,
                "auto_disable_after": inputs.retry.auto_disable_after,
            }),
            &["shared/src/webhooks/delivery.rs", "tests/edge/webhooks.rs"],
        ),
        control(
            "retention",
            "What the edge keeps, and for how long.",
            json!({
                "webhook_deliveries_seconds": inputs.limits.retention_secs,
                "webhook_metric_transitions_seconds": TRANSITIONS_KEPT_MS / 1000,
                "deprecated_route_usage_days": crate::lifecycle::USAGE_DAYS,
                "max_subscriptions_per_key": inputs.limits.max_subscriptions,
                "max_live_secrets_per_subscription": inputs.limits.max_live_secrets,
            }),
            &["ARCHITECTURE.md#retention-and-caps", "tests/edge/hardening.rs"],
        ),
        control(
            "origin_signing",
            "Requests forwarded to an origin carry X-Edge-Signature, so the origin can prove they came through the edge.",
            json!({ "enabled": inputs.origin_signed }),
            &["shared/src/origin.rs", "tests/edge/backend.rs"],
        ),
        control(
            "key_revocation",
            "A disabled, deleted or rotated key stops working at once where it was changed, and everywhere within this many seconds.",
            json!({ "seconds": inputs.key_cache_secs }),
            &["worker/src/keys.rs", "tests/edge/gate.rs"],
        ),
        control(
            "operator_access",
            "The admin API is off until ADMIN_API_KEY is at least 32 characters (outside local), and failed logins are rate-limited per client.",
            json!({ "min_admin_key_chars": 32, "health_probe_cache_seconds": inputs.health_cache_secs }),
            &["tests/edge/hardening.rs"],
        ),
        control(
            "sunsets",
            "Deprecated endpoints, their sunsets and replacements.",
            json!(sunsets),
            &["/developers/deprecations.json", "/developers/deprecations.rss"],
        ),
        control(
            "contract",
            "/openapi.json is the exact contract: strictly valid, and property-tested against the running edge.",
            json!({ "openapi": "3.1.0" }),
            &["/openapi.json", "tests/contract/test_contract.py"],
        ),
    ];
    let _ = inputs.now;
    TrustManifest {
        manifest_version: MANIFEST_VERSION.to_owned(),
        api_version: inputs.api_version.to_owned(),
        environment: if inputs.local { "local" } else { "production" }.to_owned(),
        controls,
    }
}

/// A strong ETag of the manifest's bytes.
pub fn etag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether an `If-None-Match` header matches `etag` (a list, `*`, or weak tags).
pub fn not_modified(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(
        gate: &'a GateConfig,
        signatures: &'a SignaturePolicy,
        retry: &'a RetryPolicy,
        limits: &'a WebhookLimits,
    ) -> TrustInputs<'a> {
        TrustInputs {
            api_version: "0.1.0",
            local: false,
            gate,
            signatures,
            retry,
            limits,
            urls: UrlPolicy::PRODUCTION,
            origin_signed: false,
            health_cache_secs: 5,
            admin_failures_per_window: 10,
            key_cache_secs: 30,
            now: 0,
        }
    }

    #[test]
    fn the_manifest_reports_the_settings_in_force_with_evidence() {
        let gate = GateConfig { timestamp_tolerance_secs: 120, ..GateConfig::default() };
        let (signatures, retry, limits) =
            (SignaturePolicy::default(), RetryPolicy::default(), WebhookLimits::default());
        let manifest = manifest(&inputs(&gate, &signatures, &retry, &limits));
        let by_id = |id: &str| manifest.controls.iter().find(|c| c.id == id).unwrap().clone();
        assert_eq!(by_id("timestamp_tolerance").value["seconds"], 120, "read from the settings, not copied");
        assert_eq!(by_id("webhook_retries").value["max_attempts"], retry.max_attempts);
        assert_eq!(by_id("ssrf_policy").value["https_required"], true);
        assert!(manifest.controls.iter().all(|c| !c.evidence.is_empty()), "every control has evidence");
        let ids: std::collections::HashSet<&str> = manifest.controls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), manifest.controls.len());
    }

    #[test]
    fn etags_change_with_the_bytes_and_if_none_match_reads_lists_and_weak_tags() {
        let tag = etag("{}");
        assert_ne!(tag, etag("{ }"));
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(not_modified(&tag, &tag));
        assert!(not_modified(&format!("\"x\", W/{tag}"), &tag));
        assert!(not_modified("*", &tag));
        assert!(!not_modified("\"other\"", &tag));
    }
}
