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
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Set to `true` on an answer replayed from the idempotency store.
pub const HEADER_IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

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
    /// `RATE_LIMIT_PUBLIC_API_PER_MIN`: public `/api/public/*` routes, per client IP.
    pub public_per_minute: u32,
    /// `RATE_LIMIT_WEBHOOK_PER_MIN`: a key's webhook-management routes.
    pub webhook_per_minute: u32,
    /// `IDEMPOTENCY_TTL_SECONDS`: how long a stored answer replays.
    pub idempotency_ttl_secs: u64,
    /// `RATE_LIMIT_WINDOW_SECONDS`: the length of every fixed rate window
    /// (60 s, so the limits above are per minute; tests lengthen it so a
    /// window never ends mid-test).
    pub rate_window_secs: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            timestamp_tolerance_secs: 300,
            max_body_bytes: 64 * 1024,
            sandbox_per_minute: 30,
            live_default_per_minute: 600,
            public_per_minute: 90,
            webhook_per_minute: 120,
            idempotency_ttl_secs: 24 * 60 * 60,
            rate_window_secs: RATE_WINDOW_SECS,
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
            public_per_minute: read(&lookup, "RATE_LIMIT_PUBLIC_API_PER_MIN", defaults.public_per_minute)?,
            webhook_per_minute: read(&lookup, "RATE_LIMIT_WEBHOOK_PER_MIN", defaults.webhook_per_minute)?,
            idempotency_ttl_secs: read(&lookup, "IDEMPOTENCY_TTL_SECONDS", defaults.idempotency_ttl_secs)?,
            rate_window_secs: read(&lookup, "RATE_LIMIT_WINDOW_SECONDS", defaults.rate_window_secs)?,
        };
        if !(1..=86_400).contains(&config.rate_window_secs) {
            return Err(format!("RATE_LIMIT_WINDOW_SECONDS must be 1 to 86400, not {}", config.rate_window_secs));
        }
        let limits = [
            config.sandbox_per_minute,
            config.live_default_per_minute,
            config.public_per_minute,
            config.webhook_per_minute,
        ];
        if limits.contains(&0) {
            return Err("rate limits must be at least 1 per minute".to_owned());
        }
        if config.idempotency_ttl_secs < 60 {
            return Err("IDEMPOTENCY_TTL_SECONDS must be at least 60".to_owned());
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
    NonceReused,
    #[error("the key lacks the `{}` scope this route needs", .0.as_str())]
    MissingScope(Scope),
    #[error("over the limit of {} requests in this window; retry after {} s", .0.limit, .0.retry_after)]
    RateLimited(RateVerdict),
    #[error("mutations need an Idempotency-Key header (1 to 255 visible ASCII characters)")]
    MissingIdempotencyKey,
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    MalformedIdempotencyKey,
    #[error("this Idempotency-Key was first used for a different method, path or body")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still in flight")]
    IdempotencyInFlight,
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
            GateError::Signature(SignatureError::Mismatch) => ErrorCode::SignatureMismatch,
            GateError::Signature(_) => ErrorCode::Unauthorized,
            GateError::NonceReused => ErrorCode::ReplayDetected,
            GateError::MissingScope(_) => ErrorCode::Forbidden,
            GateError::RateLimited(_) => ErrorCode::RateLimited,
            GateError::MissingIdempotencyKey | GateError::MalformedIdempotencyKey => ErrorCode::InvalidRequest,
            GateError::IdempotencyMismatch => ErrorCode::IdempotencyMismatch,
            GateError::IdempotencyInFlight => ErrorCode::IdempotencyInFlight,
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

fn default_window_secs() -> u64 {
    RATE_WINDOW_SECS
}

/// Where the fixed window holding `now` starts.
pub fn window_start(now: u64, window_secs: u64) -> u64 {
    now - now % window_secs.max(1)
}

/// The current window rebuilt from what was stored: the admissions recorded
/// since it started (each admitted request leaves exactly one row, its
/// nonce, which is kept at least until the window ends; see
/// [`admission_kept_until`]), plus a count carried over from an older
/// layout that kept the window itself.
pub fn restored_window(
    now: u64,
    window_secs: u64,
    admitted_since_start: u64,
    carried: Option<RateWindow>,
) -> RateWindow {
    let started_at = window_start(now, window_secs);
    let carried = carried.filter(|w| w.started_at == started_at).map_or(0, |w| u64::from(w.admitted));
    let admitted = u32::try_from(admitted_since_start.saturating_add(carried)).unwrap_or(u32::MAX);
    RateWindow { started_at, admitted }
}

/// How long an admitted request's row is kept: while its nonce could be
/// replayed, and at least until its rate window ends, so the window can be
/// counted again from the rows after the object restarts.
pub fn admission_kept_until(request: &AdmissionRequest) -> u64 {
    let window_end = window_start(request.now, request.rate_window_secs) + request.rate_window_secs.max(1);
    request.nonce_expires_at.max(window_end)
}

/// The least time between two purges of a key's expired gate rows. An
/// expired row already counts as absent (a nonce or key past it is taken
/// over), so deleting it is housekeeping: paced like this it costs one pass
/// per interval however busy the key is, where following the earliest
/// expiry would mean a pass on every alarm under load.
pub const PURGE_EVERY_SECS: u64 = 60;

/// When the key's expired gate rows are next deleted (unix seconds): at the
/// earliest expiry among them, but not within [`PURGE_EVERY_SECS`] of the
/// last purge. `None` when nothing is stored.
pub fn next_purge_at(earliest_expiry: Option<u64>, last_purge: Option<u64>) -> Option<u64> {
    let not_before = last_purge.map_or(0, |at| at.saturating_add(PURGE_EVERY_SECS));
    earliest_expiry.map(|at| at.max(not_before))
}

/// Takes one request from the window at `now`, if the limit allows.
/// Returns the window to store and the verdict; a refused request does not count.
pub fn take(window: Option<RateWindow>, now: u64, limit: u32, window_secs: u64) -> (RateWindow, RateVerdict, bool) {
    let window_secs = window_secs.max(1);
    let current_start = window_start(now, window_secs);
    let mut window = match window {
        Some(w) if w.started_at == current_start => w,
        _ => RateWindow { started_at: current_start, admitted: 0 },
    };
    let allowed = window.admitted < limit;
    if allowed {
        window.admitted += 1;
    }
    let reset_at = current_start + window_secs;
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

/// Which of a key's windows a route draws from. Webhook management has its
/// own budget (`RATE_LIMIT_WEBHOOK_PER_MIN`), so a busy integration cannot
/// starve its own subscription changes, and the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateClass {
    Partner,
    Webhooks,
}

impl RateClass {
    pub fn of(scope: Option<Scope>) -> Self {
        if scope == Some(Scope::Webhooks) {
            RateClass::Webhooks
        } else {
            RateClass::Partner
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RateClass::Partner => "partner",
            RateClass::Webhooks => "webhooks",
        }
    }
}

/// The per-minute limit for a key under `config`, for a route of `class`.
pub fn rate_limit_for(key: &PartnerKeyRecord, config: &GateConfig, class: RateClass) -> u32 {
    match (class, key.key_id.environment()) {
        (RateClass::Webhooks, _) => config.webhook_per_minute,
        (RateClass::Partner, Environment::Sandbox) => config.sandbox_per_minute,
        (RateClass::Partner, Environment::Live) => key.rate_limit_per_minute.unwrap_or(config.live_default_per_minute),
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters, chosen by the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, GateError> {
        if (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(GateError::MalformedIdempotencyKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = GateError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> Self {
        key.0
    }
}

/// Whether a request with this method must carry an `Idempotency-Key`.
pub fn needs_idempotency_key(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// What an idempotency key is bound to: lowercase hex SHA-256 of
/// `METHOD\npath?query\nsha256(body)`.
pub fn request_fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let body_hash = hex::encode(Sha256::digest(body));
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), b"\n", path_and_query.as_bytes(), b"\n", body_hash.as_bytes()] {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// How long past its timestamp window a nonce is kept, in seconds: a margin
/// for clocks that disagree by a little, so a replay is refused by its
/// nonce even where the timestamp check alone would let it through.
pub const NONCE_SAFETY_MARGIN_SECS: u64 = 60;

/// Until when (unix seconds) a nonce signed at `signed_at` must be kept.
pub fn nonce_expires_at(signed_at: u64, tolerance_secs: u64) -> u64 {
    signed_at.saturating_add(tolerance_secs).saturating_add(NONCE_SAFETY_MARGIN_SECS)
}

/// How long a reservation holds before a retry may take it over, in seconds.
/// Longer than any request the edge serves; a reservation this old belongs to
/// a request that died before it could record its answer.
pub const IDEMPOTENCY_LEASE_SECS: u64 = 360;

/// A mutation's claim on its idempotency key, sent with the admission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyClaim {
    pub key: IdempotencyKey,
    pub fingerprint: String,
    /// The object that serves the route keeps the answer itself, once per
    /// key and fingerprint, and answers a retry with it (the sandbox's credit
    /// and debit). The gate then only pins the key to its first fingerprint,
    /// and the mutation needs no second call to record its answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delegated: bool,
}

/// An answer kept for replay: status, content type and body, as first sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl StoredResponse {
    /// The body to send when replaying. A stored error body gets the
    /// replaying request's id, so the body's `request_id` always matches the
    /// answer's `X-Request-Id`; every other body is sent as stored.
    pub fn replay_body(&self, request_id: &str) -> String {
        if let Ok(serde_json::Value::Object(mut body)) = serde_json::from_str(&self.body) {
            if body.get("success") == Some(&serde_json::Value::Bool(false)) && body.contains_key("request_id") {
                body.insert("request_id".to_owned(), request_id.into());
                return serde_json::Value::Object(body).to_string();
            }
        }
        self.body.clone()
    }

    /// The answer as it may be kept: a `data.secret` (a secret shown on
    /// creation or rotation) and `data.generated_secrets` (the simulator's) are removed, so secrets are shown once and never
    /// rest in the idempotency store. A replay says so in `data.secret_redacted`.
    pub fn without_secrets(mut self) -> Self {
        if let Ok(serde_json::Value::Object(mut body)) = serde_json::from_str(&self.body) {
            if let Some(serde_json::Value::Object(data)) = body.get_mut("data") {
                let secret = data.remove("secret").is_some();
                if data.remove("generated_secrets").is_some() || secret {
                    data.insert("secret_redacted".to_owned(), true.into());
                    self.body = serde_json::Value::Object(body).to_string();
                }
            }
        }
        self
    }

    /// Answers of 500 and above are not kept: the work may not have happened,
    /// so the client must be able to retry it with the same key.
    pub fn is_final(&self) -> bool {
        self.status < 500
    }
}

/// One stored idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// Unix seconds after which the key may be reused for anything.
    pub expires_at: u64,
    pub state: IdempotencyState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdempotencyState {
    /// Reserved by a request that has not finished; taken over after `lease_expires_at`.
    InFlight {
        lease_expires_at: u64,
    },
    Completed {
        response: StoredResponse,
    },
    /// Held for a delegated claim: the serving object keeps the answer.
    Delegated,
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
    pub rate_class: RateClass,
    pub rate_limit: u32,
    /// The rate window's length.
    #[serde(default = "default_window_secs")]
    pub rate_window_secs: u64,
    /// Present on mutations.
    #[serde(default)]
    pub idempotency: Option<IdempotencyClaim>,
    /// How long a completed answer replays.
    pub idempotency_ttl_secs: u64,
    /// The deprecation id, when the route is deprecated: an admitted call is
    /// counted for the key, in the same round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// Which deprecated routes a key called, and how often, over the last days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadDeprecatedUsage {
    pub now: u64,
}

/// One deprecated route's calls by one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUsage {
    pub deprecation_id: String,
    pub calls: u64,
    /// Days since 1970-01-01 of the last call.
    pub last_day: u64,
}

/// The Durable Object's answer. Externally tagged, like the other
/// worker-to-object messages: serde then needs no buffering to decode it,
/// which keeps the wasm smaller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// Go ahead. On a mutation, the idempotency key is now reserved for this request.
    Admitted {
        rate: RateVerdict,
    },
    /// Same key, same request, already answered: send this instead of executing.
    StoredAnswer {
        rate: RateVerdict,
        response: StoredResponse,
    },
    NonceReused,
    Forbidden,
    RateLimited {
        rate: RateVerdict,
    },
    IdempotencyMismatch {
        rate: RateVerdict,
    },
    IdempotencyInFlight {
        rate: RateVerdict,
    },
}

/// What the Durable Object must store after deciding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionEffects {
    pub record_nonce: bool,
    pub window: Option<RateWindow>,
    /// Write this record under the claim's key.
    pub reserve: Option<IdempotencyRecord>,
}

/// Decides a request from the stored state: whether the nonce was seen, the
/// current window of its rate class, and the record under its idempotency key.
/// The nonce is consumed by any validly signed request that is not itself a replay.
pub fn admit(
    request: &AdmissionRequest,
    nonce_seen: bool,
    window: Option<RateWindow>,
    stored: Option<&IdempotencyRecord>,
) -> (Admission, AdmissionEffects) {
    let mut effects = AdmissionEffects { record_nonce: false, window: None, reserve: None };
    if nonce_seen {
        return (Admission::NonceReused, effects);
    }
    // A request refused for its scope or its rate stores nothing a partner
    // could grow at will: its nonce is not kept (the request did nothing, so
    // sending it again is harmless) and a full window is not rewritten.
    if !request.scope_granted {
        return (Admission::Forbidden, effects);
    }
    let (window, rate, allowed) = take(window, request.now, request.rate_limit, request.rate_window_secs);
    if !allowed {
        return (Admission::RateLimited { rate }, effects);
    }
    effects.window = Some(window);
    effects.record_nonce = true;
    let Some(claim) = &request.idempotency else {
        return (Admission::Admitted { rate }, effects);
    };
    let live = stored.filter(|record| record.expires_at > request.now);
    let admission = match live {
        Some(record) if record.fingerprint != claim.fingerprint => Admission::IdempotencyMismatch { rate },
        Some(IdempotencyRecord { state: IdempotencyState::Completed { response }, .. }) => {
            Admission::StoredAnswer { rate, response: response.clone() }
        }
        Some(IdempotencyRecord { state: IdempotencyState::InFlight { lease_expires_at }, .. })
            if *lease_expires_at > request.now =>
        {
            Admission::IdempotencyInFlight { rate }
        }
        // The same request again: the serving object answers it with what it kept.
        Some(IdempotencyRecord { state: IdempotencyState::Delegated, .. }) => Admission::Admitted { rate },
        // Free, expired, or a reservation whose request died: reserve it.
        _ => {
            let state = if claim.delegated {
                IdempotencyState::Delegated
            } else {
                IdempotencyState::InFlight { lease_expires_at: request.now + IDEMPOTENCY_LEASE_SECS }
            };
            effects.reserve = Some(IdempotencyRecord {
                fingerprint: claim.fingerprint.clone(),
                expires_at: request.now + request.idempotency_ttl_secs,
                state,
            });
            Admission::Admitted { rate }
        }
    };
    (admission, effects)
}

/// After a reserved mutation ran: keep its answer, or release the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub claim: IdempotencyClaim,
    pub response: StoredResponse,
}

crate::object_commands! {
    /// The gate's commands to a key's object (`PartnerSandbox`, which holds
    /// the key's gate state and its sandbox), over its `gate` RPC method.
    pub enum GateCommand {
        /// Nonce, scope, rate and idempotency reservation, and for a sandbox
        /// credit or debit the entry it guards: one round trip, one write.
        AdmitAndApply(crate::sandbox::AdmitAndApply) => crate::sandbox::AdmittedAndApplied,
        /// Keeps a reserved mutation's answer, or releases the key.
        Complete(Completion) => bool,
        /// The key's calls to deprecated routes over the usage window.
        DeprecatedUsage(ReadDeprecatedUsage) => Vec<KeyUsage>,
    }
}

/// A page of the gate state an earlier layout kept in its own `PartnerGate`
/// object per key. The key's object reads it once, on first use, so an
/// upgrade still refuses a nonce admitted before it and still replays the
/// answers kept before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportGateState {
    pub now: u64,
    /// Rows after these keys (empty: from the start).
    pub after_nonce: String,
    pub after_key: String,
    /// At most this many rows of each table.
    pub limit: u32,
}

impl ExportGateState {
    pub const PAGE: u32 = 200;

    pub fn first(now: u64) -> Self {
        ExportGateState { now, after_nonce: String::new(), after_key: String::new(), limit: Self::PAGE }
    }

    /// Whether this is the first page, which also carries the small tables.
    pub fn is_first(&self) -> bool {
        self.after_nonce.is_empty() && self.after_key.is_empty()
    }
}

/// One table's rows in a page of an earlier gate's state, as SQLite wrote
/// them: `doc` is a JSON array of rows, each an array of the row's columns
/// in the table's order, read back by SQLite's `json_each` on import. The
/// rows pass through untouched, with no per-table type to decode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablePage {
    pub rows: u32,
    /// The key of the last row, where the next page starts.
    pub last: Option<String>,
    pub doc: String,
}

/// One page of an earlier gate's state, each table ordered by its key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateStatePage {
    /// Unexpired admissions: nonce, expires_at, class, admitted_at.
    pub admissions: TablePage,
    /// Unexpired idempotency records: key, fingerprint, expires_at, state.
    pub idempotency: TablePage,
    /// On the first page only: the stored windows (class, started_at,
    /// admitted) and the deprecated-route counts (deprecation_id, day, calls).
    pub windows: Option<TablePage>,
    pub deprecated_calls: Option<TablePage>,
}

impl GateStatePage {
    /// The request for the page after this one, or `None` when this page
    /// was the last (every table came back short).
    pub fn next(&self, asked: &ExportGateState) -> Option<ExportGateState> {
        let full = |table: &TablePage| table.rows >= asked.limit;
        if !full(&self.admissions) && !full(&self.idempotency) {
            return None;
        }
        // A table that came back short is done: its cursor moves past any
        // key (`\u{10FFFF}` sorts after every stored one), so it adds nothing.
        let past = |table: &TablePage| match &table.last {
            Some(last) if full(table) => last.clone(),
            _ => DONE.to_owned(),
        };
        Some(ExportGateState {
            now: asked.now,
            after_nonce: past(&self.admissions),
            after_key: past(&self.idempotency),
            limit: asked.limit,
        })
    }
}

/// A cursor past every key: that table has been read to its end.
const DONE: &str = "\u{10FFFF}";

crate::object_commands! {
    /// What a key's `PartnerGate` object takes since its state moved into the
    /// key's `PartnerSandbox`: a request to hand that state over.
    pub enum RetiredGateCommand {
        Export(ExportGateState) => GateStatePage,
    }
}

/// A client's fixed rate window: how many it may take, and how long the window is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRequest {
    pub now: u64,
    pub limit: u32,
    pub window_secs: u64,
}

/// Takes one from the window if it has room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeFromWindow(pub WindowRequest);

/// Says whether the window has room, taking nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeekAtWindow(pub WindowRequest);

/// Whether a take was (or would be) allowed, and the window's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowAnswer {
    pub allowed: bool,
    pub rate: RateVerdict,
}

crate::object_commands! {
    /// What the worker asks a `ClientRateLimit` object (one per client IP and purpose).
    pub enum ClientWindowCommand {
        Take(TakeFromWindow) => WindowAnswer,
        Peek(PeekAtWindow) => WindowAnswer,
    }
}

/// What to do with the stored record once the request holding the reservation has its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompletionEffect {
    /// Keep the answer for replay.
    Store(IdempotencyRecord),
    /// Delete the reservation: a 5xx may be retried with the same key.
    Release,
    /// The reservation is no longer this request's (expired and taken over,
    /// or never made): change nothing.
    Ignore,
}

pub fn complete(stored: Option<&IdempotencyRecord>, completion: &Completion) -> CompletionEffect {
    match stored {
        Some(record @ IdempotencyRecord { state: IdempotencyState::InFlight { .. }, .. })
            if record.fingerprint == completion.claim.fingerprint =>
        {
            if completion.response.is_final() {
                CompletionEffect::Store(IdempotencyRecord {
                    fingerprint: record.fingerprint.clone(),
                    expires_at: record.expires_at,
                    state: IdempotencyState::Completed { response: completion.response.clone() },
                })
            } else {
                CompletionEffect::Release
            }
        }
        _ => CompletionEffect::Ignore,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_window_rebuilt_from_stored_admissions_goes_on_where_it_was() {
        use super::{restored_window, take, RateWindow};
        // 7 admitted since 120 (the window of 60 s holding 150), 3 more carried from the old layout.
        let carried = Some(RateWindow { started_at: 120, admitted: 3 });
        let window = restored_window(150, 60, 7, carried);
        assert_eq!(window, RateWindow { started_at: 120, admitted: 10 });
        let (_, verdict, allowed) = take(Some(window), 150, 10, 60);
        assert!(!allowed, "the limit of 10 was reached before the restart");
        assert_eq!(verdict.remaining, 0);
        // A count carried from another window is not this window's.
        let stale = Some(RateWindow { started_at: 60, admitted: 9 });
        assert_eq!(restored_window(150, 60, 2, stale).admitted, 2);
    }

    #[test]
    fn expired_rows_are_purged_at_most_once_per_interval() {
        use super::{next_purge_at, PURGE_EVERY_SECS};
        assert_eq!(next_purge_at(None, Some(1_000)), None, "nothing stored, nothing to purge");
        assert_eq!(next_purge_at(Some(1_300), None), Some(1_300), "never purged: at the earliest expiry");
        // Under load the earliest row always expires within the second: the
        // next purge still waits out the interval, not one pass per alarm.
        assert_eq!(next_purge_at(Some(1_001), Some(1_000)), Some(1_000 + PURGE_EVERY_SECS));
        assert_eq!(next_purge_at(Some(5_000), Some(1_000)), Some(5_000), "a far expiry is not brought forward");
    }

    #[test]
    fn an_admission_is_kept_while_its_nonce_or_its_window_lasts() {
        let mut request = super::tests::request(1_000, true, 10);
        request.rate_window_secs = 60;
        request.nonce_expires_at = 1_360;
        assert_eq!(super::admission_kept_until(&request), 1_360, "the nonce outlives a one-minute window");
        request.rate_window_secs = 3_600;
        assert_eq!(super::admission_kept_until(&request), 3_600, "an hour's window outlives the nonce");
    }

    use super::*;

    pub(super) fn request(now: u64, scope_granted: bool, limit: u32) -> AdmissionRequest {
        AdmissionRequest {
            nonce: Nonce::parse("abcdefghijklmnop").unwrap(),
            nonce_expires_at: now + 301,
            now,
            scope_granted,
            rate_class: RateClass::Partner,
            rate_limit: limit,
            rate_window_secs: 60,
            idempotency: None,
            deprecated: None,
            idempotency_ttl_secs: 86_400,
        }
    }

    fn mutation(now: u64, key: &str, body: &[u8]) -> AdmissionRequest {
        AdmissionRequest {
            idempotency: Some(IdempotencyClaim {
                key: IdempotencyKey::parse(key).unwrap(),
                fingerprint: request_fingerprint("POST", "/api/salutes/credit", body),
                delegated: false,
            }),
            ..request(now, true, 100)
        }
    }

    fn delegated(now: u64, key: &str, body: &[u8]) -> AdmissionRequest {
        let mut request = mutation(now, key, body);
        if let Some(claim) = request.idempotency.as_mut() {
            claim.delegated = true;
        }
        request
    }

    #[test]
    fn a_delegated_key_is_pinned_to_its_request_and_its_retries_go_to_the_serving_object() {
        let (admission, effects) = admit(&delegated(1000, "idem-d", b"{\"amount\":1}"), false, None, None);
        assert!(matches!(admission, Admission::Admitted { .. }));
        let held = effects.reserve.expect("the key is held at once");
        assert_eq!(held.state, IdempotencyState::Delegated, "no lease: nothing comes back to complete it");
        // A retry, even at once and in parallel, goes on to the object that kept the answer.
        let (retry, effects) = admit(&delegated(1001, "idem-d", b"{\"amount\":1}"), false, None, Some(&held));
        assert!(matches!(retry, Admission::Admitted { .. }), "{retry:?}");
        assert_eq!(effects.reserve, None, "the record stays as it is");
        // Another request under the key is still refused.
        let (other, _) = admit(&delegated(1002, "idem-d", b"{\"amount\":2}"), false, None, Some(&held));
        assert!(matches!(other, Admission::IdempotencyMismatch { .. }), "{other:?}");
        // And a completion never touches a delegated record.
        let claim = delegated(1003, "idem-d", b"{\"amount\":1}").idempotency.unwrap();
        assert_eq!(complete(Some(&held), &Completion { claim, response: stored_ok() }), CompletionEffect::Ignore);
        // The record lapses with the TTL like any other.
        let (late, effects) = admit(&delegated(1000 + 86_400, "idem-d", b"{\"amount\":2}"), false, None, Some(&held));
        assert!(matches!(late, Admission::Admitted { .. }));
        assert!(effects.reserve.is_some());
    }

    fn stored_ok() -> StoredResponse {
        StoredResponse { status: 201, content_type: "application/json".into(), body: "{\"success\":true}".into() }
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
            let (w, verdict, allowed) = take(window, 120 + i, 3, 60);
            window = Some(w);
            if allowed {
                admitted += 1;
            }
            assert_eq!(verdict.reset_at, 180);
            assert_eq!(verdict.retry_after, 180 - (120 + i));
        }
        assert_eq!(admitted, 3);
        let (w, verdict, allowed) = take(window, 180, 3, 60);
        assert!(allowed);
        assert_eq!((w.admitted, verdict.remaining, verdict.reset_at), (1, 2, 240));
    }

    #[test]
    fn nonces_outlive_the_timestamp_window_by_a_margin() {
        // A request signed at 1000 is accepted until 1300; its nonce is kept past that.
        assert_eq!(nonce_expires_at(1_000, 300), 1_360);
        assert!(nonce_expires_at(1_000, 300) > 1_000 + 300);
        assert_eq!(nonce_expires_at(u64::MAX - 5, 300), u64::MAX);
    }

    #[test]
    fn admission_checks_replay_then_scope_then_rate() {
        let (outcome, effects) = admit(&request(60, false, 1), true, None, None);
        assert_eq!(outcome, Admission::NonceReused, "replay comes before a missing scope");
        assert!(!effects.record_nonce);

        let (outcome, effects) = admit(&request(60, false, 1), false, None, None);
        assert_eq!(outcome, Admission::Forbidden);
        assert_eq!(
            effects,
            AdmissionEffects { record_nonce: false, window: None, reserve: None },
            "a 403 takes no rate token and stores no nonce"
        );

        let full = RateWindow { started_at: 60, admitted: 1 };
        let (outcome, effects) = admit(&request(61, true, 1), false, Some(full), None);
        assert!(matches!(outcome, Admission::RateLimited { rate } if rate.remaining == 0 && rate.retry_after == 59));
        assert_eq!(
            effects,
            AdmissionEffects { record_nonce: false, window: None, reserve: None },
            "a rate-limited request writes nothing"
        );

        let (outcome, _) = admit(&request(61, true, 2), false, Some(full), None);
        assert!(matches!(outcome, Admission::Admitted { rate } if rate.remaining == 0));
    }

    #[test]
    fn a_first_mutation_reserves_its_key_and_a_second_sees_it_in_flight() {
        let (outcome, effects) = admit(&mutation(1000, "idem-1", b"{}"), false, None, None);
        assert!(matches!(outcome, Admission::Admitted { .. }));
        let reserved = effects.reserve.expect("the key is reserved");
        assert_eq!(reserved.expires_at, 1000 + 86_400);
        assert_eq!(reserved.state, IdempotencyState::InFlight { lease_expires_at: 1000 + IDEMPOTENCY_LEASE_SECS });

        let (outcome, effects) = admit(&mutation(1001, "idem-1", b"{}"), false, None, Some(&reserved));
        assert!(matches!(outcome, Admission::IdempotencyInFlight { .. }));
        assert_eq!(effects.reserve, None);
        assert!(effects.record_nonce, "the duplicate's nonce is spent too");
    }

    #[test]
    fn a_completed_key_replays_for_the_same_request_and_refuses_a_different_one() {
        let claim = mutation(1000, "idem-1", b"{\"amount\":1}").idempotency.unwrap();
        let (_, effects) = admit(&mutation(1000, "idem-1", b"{\"amount\":1}"), false, None, None);
        let reserved = effects.reserve.unwrap();
        let CompletionEffect::Store(done) = complete(Some(&reserved), &Completion { claim, response: stored_ok() })
        else {
            panic!("a 201 is stored");
        };

        let (outcome, effects) = admit(&mutation(1005, "idem-1", b"{\"amount\":1}"), false, None, Some(&done));
        assert!(matches!(outcome, Admission::StoredAnswer { response, .. } if response == stored_ok()));
        assert_eq!(effects.reserve, None);

        let (outcome, _) = admit(&mutation(1005, "idem-1", b"{\"amount\":2}"), false, None, Some(&done));
        assert!(matches!(outcome, Admission::IdempotencyMismatch { .. }), "a different body is refused");

        let (outcome, effects) = admit(&mutation(1000 + 86_400, "idem-1", b"{\"amount\":2}"), false, None, Some(&done));
        assert!(matches!(outcome, Admission::Admitted { .. }), "after the TTL the key is free again");
        assert!(effects.reserve.is_some());
    }

    #[test]
    fn a_dead_reservation_is_taken_over_after_its_lease() {
        let (_, effects) = admit(&mutation(1000, "idem-1", b""), false, None, None);
        let reserved = effects.reserve.unwrap();
        let later = 1000 + IDEMPOTENCY_LEASE_SECS;
        let (outcome, effects) = admit(&mutation(later, "idem-1", b""), false, None, Some(&reserved));
        assert!(matches!(outcome, Admission::Admitted { .. }));
        assert!(effects.reserve.is_some());
    }

    #[test]
    fn server_errors_release_the_key_and_stale_completions_change_nothing() {
        let claim = mutation(1000, "idem-1", b"").idempotency.unwrap();
        let (_, effects) = admit(&mutation(1000, "idem-1", b""), false, None, None);
        let reserved = effects.reserve.unwrap();
        let failed = StoredResponse { status: 503, ..stored_ok() };
        let release = complete(Some(&reserved), &Completion { claim: claim.clone(), response: failed });
        assert_eq!(release, CompletionEffect::Release);
        let gone = complete(None, &Completion { claim: claim.clone(), response: stored_ok() });
        assert_eq!(gone, CompletionEffect::Ignore);
        let other = IdempotencyClaim { fingerprint: "other".into(), ..claim };
        assert_eq!(
            complete(Some(&reserved), &Completion { claim: other, response: stored_ok() }),
            CompletionEffect::Ignore
        );
    }

    #[test]
    fn stored_answers_never_keep_a_secret() {
        let created = StoredResponse {
            status: 201,
            content_type: "application/json".into(),
            body: r#"{"success":true,"data":{"subscription_id":"wh_1","secret":"whsec_abc"}}"#.into(),
        };
        let kept = created.without_secrets();
        assert!(!kept.body.contains("whsec_abc"), "{}", kept.body);
        assert!(kept.body.contains(r#""secret_redacted":true"#));
        assert_eq!(stored_ok().without_secrets(), stored_ok());
        // The simulator's generated secrets are shown once too.
        let simulated = StoredResponse {
            status: 200,
            content_type: "application/json".into(),
            body: r#"{"success":true,"data":{"generated_secrets":{"secret":"whsec_def"},"sends":[]}}"#.into(),
        };
        let kept = simulated.without_secrets();
        assert!(!kept.body.contains("whsec_def"), "{}", kept.body);
        assert!(kept.body.contains(r#""secret_redacted":true"#));
    }

    #[test]
    fn replayed_error_bodies_carry_the_replaying_request_id() {
        let error = StoredResponse {
            status: 409,
            content_type: "application/json".into(),
            body: r#"{"success":false,"error":"insufficient_balance","message":"m","request_id":"req_old"}"#.into(),
        };
        let replayed: serde_json::Value = serde_json::from_str(&error.replay_body("req_new")).unwrap();
        assert_eq!(replayed["request_id"], "req_new");
        assert_eq!(replayed["error"], "insufficient_balance");
        assert_eq!(stored_ok().replay_body("req_new"), stored_ok().body, "success bodies are sent as stored");
    }

    #[test]
    fn fingerprints_bind_method_path_and_body() {
        let base = request_fingerprint("POST", "/a?x=1", b"{}");
        assert_eq!(base.len(), 64);
        assert_eq!(base, request_fingerprint("POST", "/a?x=1", b"{}"));
        for other in [
            request_fingerprint("PATCH", "/a?x=1", b"{}"),
            request_fingerprint("POST", "/a?x=2", b"{}"),
            request_fingerprint("POST", "/a?x=1", b"{ }"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("idem-1700000000").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["".to_owned(), "k".repeat(256), "has space".into(), "tab\t".into(), "é".into()] {
            assert_eq!(IdempotencyKey::parse(&bad), Err(GateError::MalformedIdempotencyKey), "{bad:?}");
        }
        assert!(needs_idempotency_key("POST") && needs_idempotency_key("DELETE"));
        assert!(!needs_idempotency_key("GET") && !needs_idempotency_key("HEAD"));
    }

    #[test]
    fn webhook_routes_draw_from_their_own_window() {
        assert_eq!(RateClass::of(Some(Scope::Webhooks)), RateClass::Webhooks);
        assert_eq!(RateClass::of(Some(Scope::Credit)), RateClass::Partner);
        assert_eq!(RateClass::of(None), RateClass::Partner);
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
            (GateError::Signature(SignatureError::Mismatch), ErrorCode::SignatureMismatch),
            (
                GateError::Signature(SignatureError::Retired { version: "v1", cutoff: 5, upgrade: "v2" }),
                ErrorCode::SignatureVersionRetired,
            ),
            (GateError::NonceReused, ErrorCode::ReplayDetected),
            (GateError::MissingScope(Scope::Credit), ErrorCode::Forbidden),
            (GateError::RateLimited(rate), ErrorCode::RateLimited),
            (GateError::MissingIdempotencyKey, ErrorCode::InvalidRequest),
            (GateError::IdempotencyMismatch, ErrorCode::IdempotencyMismatch),
            (GateError::IdempotencyInFlight, ErrorCode::IdempotencyInFlight),
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
        assert_eq!(json["admitted"]["rate"]["remaining"], 29, "externally tagged: {json}");
        assert_eq!(serde_json::from_value::<Admission>(json).unwrap(), Admission::Admitted { rate });
        let replay = serde_json::to_value(Admission::NonceReused).unwrap();
        assert_eq!(serde_json::from_value::<Admission>(replay).unwrap(), Admission::NonceReused);
    }

    fn table(rows: u32, last: &str) -> TablePage {
        TablePage { rows, last: Some(last.into()), doc: "[]".into() }
    }

    #[test]
    fn an_earlier_gate_is_read_page_by_page_until_every_table_comes_back_short() {
        let first = ExportGateState { limit: 2, ..ExportGateState::first(500) };
        assert!(first.is_first());
        let page =
            GateStatePage { admissions: table(2, "n2"), idempotency: table(1, "k1"), ..GateStatePage::default() };
        // Admissions came back full: read on after the last; idempotency is done.
        let second = page.next(&first).expect("admissions may have more");
        assert_eq!(second.after_nonce, "n2");
        assert_eq!(second.after_key, DONE);
        assert_eq!((second.now, second.limit), (500, 2));
        assert!(!second.is_first(), "the small tables come with the first page only");
        let last = GateStatePage { admissions: table(1, "n3"), ..GateStatePage::default() };
        assert_eq!(last.next(&second), None);
        assert_eq!(GateStatePage::default().next(&first), None, "an empty gate is one page");
        // The done cursor sorts after any stored key.
        assert!(DONE > "~~~~~~~~" && DONE > "n_zzzzzzzzzzzzzzzz");
    }
}
