//! The partner gate's rules, in the order the edge applies them:
//!
//! | check | code |
//! |---|---|
//! | body over the limit | 413 `payload_too_large` |
//! | missing, unknown, disabled or expired key | 401 `unauthorized` |
//! | timestamp outside the window | 401 `stale_timestamp` |
//! | bad signature (or a retired version) | 401 `unauthorized` / `signature_version_retired` |
//! | nonce already seen inside the window | 409 `replay_detected` |
//! | scope missing | 403 `forbidden` |
//! | over the rate limit | 429 `rate_limited` |
//!
//! The stateful checks (replay, rate) are decided here by [`admit`], a pure
//! function the per-key Durable Object applies to what it has stored, so the
//! whole stateful part costs one round trip.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::partner::{Environment, KeyId, PartnerKeyRecord, Scope};
use crate::signing::SignatureError;

pub const HEADER_KEY: &str = "X-Partner-Key";
pub const HEADER_TIMESTAMP: &str = "X-Partner-Timestamp";
pub const HEADER_NONCE: &str = "X-Partner-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Partner-Signature";

/// Gate settings; the worker reads them from variables named like the seed's config keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateConfig {
    /// Accepted clock skew either way, in seconds.
    pub timestamp_tolerance_secs: u64,
    pub max_body_bytes: usize,
    /// `PARTNER_SANDBOX_RATE_LIMIT_PER_MINUTE`.
    pub sandbox_per_minute: u32,
    /// Live keys without their own limit.
    pub live_default_per_minute: u32,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            timestamp_tolerance_secs: 300,
            max_body_bytes: 64 * 1024,
            sandbox_per_minute: 30,
            live_default_per_minute: 600,
        }
    }
}

impl GateConfig {
    /// Reads the settings from variables named like the seed's config keys;
    /// an unset variable keeps its default, a malformed one is an error naming it.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        fn read<T: std::str::FromStr>(
            lookup: &impl Fn(&str) -> Option<String>,
            name: &str,
            default: T,
        ) -> Result<T, String> {
            match lookup(name) {
                None => Ok(default),
                Some(raw) => {
                    raw.trim().parse().map_err(|_| format!("{name} must be a positive whole number, not {raw:?}"))
                }
            }
        }
        let defaults = Self::default();
        let config = Self {
            timestamp_tolerance_secs: read(
                &lookup,
                "PARTNER_TIMESTAMP_TOLERANCE_SECONDS",
                defaults.timestamp_tolerance_secs,
            )?,
            max_body_bytes: read(&lookup, "PARTNER_MAX_BODY_BYTES", defaults.max_body_bytes)?,
            sandbox_per_minute: read(&lookup, "PARTNER_SANDBOX_RATE_LIMIT_PER_MINUTE", defaults.sandbox_per_minute)?,
            live_default_per_minute: read(
                &lookup,
                "PARTNER_LIVE_RATE_LIMIT_PER_MINUTE",
                defaults.live_default_per_minute,
            )?,
        };
        if config.sandbox_per_minute == 0 || config.live_default_per_minute == 0 {
            return Err("rate limits must be at least 1 per minute".to_owned());
        }
        Ok(config)
    }
}

/// Why the gate refused a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("the body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("{0} is missing")]
    MissingCredential(&'static str),
    #[error("{header} is malformed: {reason}")]
    MalformedCredential { header: &'static str, reason: &'static str },
    #[error("the key is not known")]
    UnknownKey,
    #[error("{0}")]
    UnusableKey(&'static str),
    #[error("X-Partner-Timestamp must be unix seconds")]
    MalformedTimestamp,
    #[error("X-Partner-Timestamp is {skew} s from the edge's clock; the window is +-{tolerance} s")]
    StaleTimestamp { skew: u64, tolerance: u64 },
    #[error("{0}")]
    Signature(SignatureError),
    #[error("this nonce was already used inside the replay window")]
    Replay,
    #[error("the key lacks the `{}` scope this route needs", .0.as_str())]
    MissingScope(Scope),
    #[error("over the limit of {} requests per minute; retry after {} s", .0.limit, .0.retry_after)]
    RateLimited(RateVerdict),
}

impl GateError {
    pub fn code(&self) -> ErrorCode {
        match self {
            GateError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            GateError::MissingCredential(_)
            | GateError::MalformedCredential { .. }
            | GateError::UnknownKey
            | GateError::UnusableKey(_) => ErrorCode::Unauthorized,
            GateError::MalformedTimestamp | GateError::StaleTimestamp { .. } => ErrorCode::StaleTimestamp,
            GateError::Signature(SignatureError::Retired { .. }) => ErrorCode::SignatureVersionRetired,
            GateError::Signature(_) => ErrorCode::Unauthorized,
            GateError::Replay => ErrorCode::ReplayDetected,
            GateError::MissingScope(_) => ErrorCode::Forbidden,
            GateError::RateLimited(_) => ErrorCode::RateLimited,
        }
    }
}

/// Refuses bodies over the limit before anything else is read.
pub fn check_body_size(size: usize, config: &GateConfig) -> Result<(), GateError> {
    if size > config.max_body_bytes {
        return Err(GateError::PayloadTooLarge { size, limit: config.max_body_bytes });
    }
    Ok(())
}

/// Parses `X-Partner-Timestamp` and checks it against `now` (unix seconds).
pub fn check_timestamp(raw: &str, now: u64, config: &GateConfig) -> Result<u64, GateError> {
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GateError::MalformedTimestamp);
    }
    let timestamp: u64 = raw.parse().map_err(|_| GateError::MalformedTimestamp)?;
    let skew = timestamp.abs_diff(now);
    if skew > config.timestamp_tolerance_secs {
        return Err(GateError::StaleTimestamp { skew, tolerance: config.timestamp_tolerance_secs });
    }
    Ok(timestamp)
}

/// `X-Partner-Nonce`: 16 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nonce(String);

impl Nonce {
    pub fn parse(raw: &str) -> Result<Self, GateError> {
        let ok =
            (16..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(GateError::MalformedCredential {
                header: HEADER_NONCE,
                reason: "use 16 to 64 characters of A-Z a-z 0-9 _ -",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Nonce {
    type Error = GateError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Nonce> for String {
    fn from(nonce: Nonce) -> Self {
        nonce.0
    }
}

/// A fixed one-minute window of admitted requests, aligned to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateWindow {
    /// Unix seconds at which the window opened (a multiple of 60).
    pub started_at: u64,
    pub admitted: u32,
}

/// The rate-limit state to report in `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RateVerdict {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the window resets (`X-RateLimit-Reset`).
    pub reset_at: u64,
    /// Seconds until then (`Retry-After` on a 429).
    pub retry_after: u64,
}

pub const RATE_WINDOW_SECS: u64 = 60;

/// Takes one request from the window at `now`, if the limit allows.
/// Returns the window to store and the verdict; a refused request does not count.
pub fn take(window: Option<RateWindow>, now: u64, limit: u32) -> (RateWindow, RateVerdict, bool) {
    let current_start = now - now % RATE_WINDOW_SECS;
    let mut window = match window {
        Some(w) if w.started_at == current_start => w,
        _ => RateWindow { started_at: current_start, admitted: 0 },
    };
    let allowed = window.admitted < limit;
    if allowed {
        window.admitted += 1;
    }
    let reset_at = current_start + RATE_WINDOW_SECS;
    let verdict =
        RateVerdict { limit, remaining: limit.saturating_sub(window.admitted), reset_at, retry_after: reset_at - now };
    (window, verdict, allowed)
}

/// `GET /api/partner/me`: the calling key as the edge sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PartnerIdentity {
    pub key_id: KeyId,
    pub name: String,
    pub environment: Environment,
    pub scopes: Vec<Scope>,
    /// Headroom after this request.
    pub rate_limit: RateVerdict,
}

impl PartnerIdentity {
    pub fn of(key: &PartnerKeyRecord, rate_limit: RateVerdict) -> Self {
        Self {
            key_id: key.key_id.clone(),
            name: key.name.clone(),
            environment: key.key_id.environment(),
            scopes: key.scopes.clone(),
            rate_limit,
        }
    }
}

/// The per-minute limit for a key under `config`.
pub fn rate_limit_for(key: &PartnerKeyRecord, config: &GateConfig) -> u32 {
    match key.key_id.environment() {
        Environment::Sandbox => config.sandbox_per_minute,
        Environment::Live => key.rate_limit_per_minute.unwrap_or(config.live_default_per_minute),
    }
}

/// What the worker asks the key's Durable Object, once per signed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionRequest {
    pub nonce: Nonce,
    /// Keep the nonce until then (unix seconds): after it, the timestamp check
    /// alone refuses a replay.
    pub nonce_expires_at: u64,
    pub now: u64,
    /// Whether the key holds the route's scope (decided by the worker, applied
    /// here so the replay check comes first).
    pub scope_granted: bool,
    pub rate_limit: u32,
}

/// The Durable Object's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Admission {
    Admitted { rate: RateVerdict },
    Replay,
    Forbidden,
    RateLimited { rate: RateVerdict },
}

/// What the Durable Object must store after deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionEffects {
    pub record_nonce: bool,
    pub window: Option<RateWindow>,
}

/// Decides a request from the stored state: whether the nonce was seen, and the current window.
/// The nonce is consumed by any validly signed request that is not itself a replay.
pub fn admit(
    request: &AdmissionRequest,
    nonce_seen: bool,
    window: Option<RateWindow>,
) -> (Admission, AdmissionEffects) {
    if nonce_seen {
        return (Admission::Replay, AdmissionEffects { record_nonce: false, window: None });
    }
    if !request.scope_granted {
        return (Admission::Forbidden, AdmissionEffects { record_nonce: true, window: None });
    }
    let (window, rate, allowed) = take(window, request.now, request.rate_limit);
    let admission = if allowed { Admission::Admitted { rate } } else { Admission::RateLimited { rate } };
    (admission, AdmissionEffects { record_nonce: true, window: Some(window) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(now: u64, scope_granted: bool, limit: u32) -> AdmissionRequest {
        AdmissionRequest {
            nonce: Nonce::parse("abcdefghijklmnop").unwrap(),
            nonce_expires_at: now + 301,
            now,
            scope_granted,
            rate_limit: limit,
        }
    }

    #[test]
    fn config_reads_seed_named_variables_and_rejects_garbage() {
        let vars = |name: &str| match name {
            "PARTNER_SANDBOX_RATE_LIMIT_PER_MINUTE" => Some("12".to_owned()),
            "PARTNER_TIMESTAMP_TOLERANCE_SECONDS" => Some(" 60 ".to_owned()),
            _ => None,
        };
        let config = GateConfig::from_vars(vars).unwrap();
        assert_eq!(config.sandbox_per_minute, 12);
        assert_eq!(config.timestamp_tolerance_secs, 60);
        assert_eq!(config.max_body_bytes, GateConfig::default().max_body_bytes);
        let bad = GateConfig::from_vars(|name| (name == "PARTNER_MAX_BODY_BYTES").then(|| "lots".to_owned()));
        assert!(bad.unwrap_err().contains("PARTNER_MAX_BODY_BYTES"));
        assert!(GateConfig::from_vars(|n| (n == "PARTNER_LIVE_RATE_LIMIT_PER_MINUTE").then(|| "0".into())).is_err());
    }

    #[test]
    fn body_limit_is_inclusive() {
        let config = GateConfig { max_body_bytes: 10, ..GateConfig::default() };
        assert_eq!(check_body_size(10, &config), Ok(()));
        assert_eq!(check_body_size(11, &config), Err(GateError::PayloadTooLarge { size: 11, limit: 10 }));
    }

    #[test]
    fn timestamps_inside_the_window_pass_and_outside_are_stale() {
        let config = GateConfig::default();
        assert_eq!(check_timestamp("1000", 1300, &config), Ok(1000));
        assert_eq!(check_timestamp("1600", 1300, &config), Ok(1600));
        assert_eq!(check_timestamp("999", 1300, &config), Err(GateError::StaleTimestamp { skew: 301, tolerance: 300 }));
        assert_eq!(
            check_timestamp("1601", 1300, &config),
            Err(GateError::StaleTimestamp { skew: 301, tolerance: 300 }),
            "future timestamps are refused too"
        );
        for bad in ["", "-5", "12.5", "1e9", " 1000", "9999999999999"] {
            assert_eq!(check_timestamp(bad, 1300, &config), Err(GateError::MalformedTimestamp), "{bad:?}");
        }
    }

    #[test]
    fn nonces_are_16_to_64_safe_characters() {
        assert!(Nonce::parse("abcdefghijklmnop").is_ok());
        assert!(Nonce::parse(&"a".repeat(64)).is_ok());
        assert!(Nonce::parse("Ab0_-Ab0_-Ab0_-Ab0_").is_ok());
        for bad in ["short".to_owned(), "a".repeat(65), "abcdefghijklmno!".into(), "abcdefghijklmnop ".into()] {
            assert!(Nonce::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_window_admits_exactly_the_limit_then_resets_on_the_minute() {
        let mut window = None;
        let mut admitted = 0;
        for i in 0..10 {
            let (w, verdict, allowed) = take(window, 120 + i, 3);
            window = Some(w);
            if allowed {
                admitted += 1;
            }
            assert_eq!(verdict.reset_at, 180);
            assert_eq!(verdict.retry_after, 180 - (120 + i));
        }
        assert_eq!(admitted, 3);
        let (w, verdict, allowed) = take(window, 180, 3);
        assert!(allowed);
        assert_eq!((w.admitted, verdict.remaining, verdict.reset_at), (1, 2, 240));
    }

    #[test]
    fn admission_checks_replay_then_scope_then_rate() {
        let (outcome, effects) = admit(&request(60, false, 1), true, None);
        assert_eq!(outcome, Admission::Replay, "replay comes before a missing scope");
        assert!(!effects.record_nonce);

        let (outcome, effects) = admit(&request(60, false, 1), false, None);
        assert_eq!(outcome, Admission::Forbidden);
        assert_eq!(effects, AdmissionEffects { record_nonce: true, window: None }, "a 403 takes no rate token");

        let full = RateWindow { started_at: 60, admitted: 1 };
        let (outcome, effects) = admit(&request(61, true, 1), false, Some(full));
        assert!(matches!(outcome, Admission::RateLimited { rate } if rate.remaining == 0 && rate.retry_after == 59));
        assert!(effects.record_nonce, "a rate-limited request still consumed its nonce");

        let (outcome, _) = admit(&request(61, true, 2), false, Some(full));
        assert!(matches!(outcome, Admission::Admitted { rate } if rate.remaining == 0));
    }

    #[test]
    fn every_refusal_maps_to_its_catalogue_code() {
        let rate = RateVerdict { limit: 1, remaining: 0, reset_at: 60, retry_after: 5 };
        let cases = [
            (GateError::PayloadTooLarge { size: 2, limit: 1 }, ErrorCode::PayloadTooLarge),
            (GateError::MissingCredential(HEADER_KEY), ErrorCode::Unauthorized),
            (GateError::UnknownKey, ErrorCode::Unauthorized),
            (GateError::UnusableKey("the key is disabled"), ErrorCode::Unauthorized),
            (GateError::MalformedTimestamp, ErrorCode::StaleTimestamp),
            (GateError::StaleTimestamp { skew: 400, tolerance: 300 }, ErrorCode::StaleTimestamp),
            (GateError::Signature(SignatureError::Mismatch), ErrorCode::Unauthorized),
            (
                GateError::Signature(SignatureError::Retired { version: "v1", cutoff: 5, upgrade: "v2" }),
                ErrorCode::SignatureVersionRetired,
            ),
            (GateError::Replay, ErrorCode::ReplayDetected),
            (GateError::MissingScope(Scope::Credit), ErrorCode::Forbidden),
            (GateError::RateLimited(rate), ErrorCode::RateLimited),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
        }
        assert_eq!(
            GateError::MissingScope(Scope::Credit).to_string(),
            "the key lacks the `credit` scope this route needs"
        );
    }

    #[test]
    fn admission_round_trips_as_tagged_json() {
        let rate = RateVerdict { limit: 30, remaining: 29, reset_at: 120, retry_after: 50 };
        let json = serde_json::to_value(Admission::Admitted { rate }).unwrap();
        assert_eq!(json["outcome"], "admitted");
        assert_eq!(serde_json::from_value::<Admission>(json).unwrap(), Admission::Admitted { rate });
    }
}
