//! The error catalogue: every error code the edge can answer with, its HTTP
//! status, and the advice a client needs to react to it.
//!
//! This enum is the single source for three things: the status the worker
//! answers with, the error responses in `/openapi.json`, and the published
//! catalogue. Adding a code here is enough for all three to follow.

use serde::{Deserialize, Serialize};

/// How a client should treat a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RetryClass {
    /// Retrying the same call later may succeed.
    Retryable,
    /// Retrying unchanged cannot succeed; fix the request or credentials first.
    FailFast,
    /// The work already happened; treat as success and read the latest state.
    SafeNoop,
}

/// One row of the published catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorCatalogueEntry {
    pub code: ErrorCode,
    pub http_status: u16,
    pub retry_class: RetryClass,
    pub client_action: String,
    pub remediation: String,
}

/// Declares the catalogue once: the enum, its list, and each code's facts.
macro_rules! error_catalogue {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $wire:literal, $status:literal, $retry:ident,
            action: $action:literal,
            remediation: $remediation:literal;
    )+) => {
        /// A machine-readable error code. Clients branch on this, never on `message`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The wire form, as it appears in the `error` field.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire,)+ }
            }

            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)+ }
            }

            pub const fn retry_class(self) -> RetryClass {
                match self { $(ErrorCode::$variant => RetryClass::$retry,)+ }
            }

            /// What a client program should do when it sees this code.
            pub const fn client_action(self) -> &'static str {
                match self { $(ErrorCode::$variant => $action,)+ }
            }

            /// What a human should look at to make the error go away.
            pub const fn remediation(self) -> &'static str {
                match self { $(ErrorCode::$variant => $remediation,)+ }
            }
        }
    };
}

error_catalogue! {
    /// The body, query or a header failed validation; the message names the field.
    InvalidRequest = "invalid_request", 400, FailFast,
        action: "Do not retry as is. Correct the field named in the message and send again.",
        remediation: "Validate the body and query against the operation's schema before sending.";
    /// Missing, unknown, disabled or expired key, or a malformed signature header.
    Unauthorized = "unauthorized", 401, FailFast,
        action: "Do not retry as is. Check the key id, its secret and every signed input.",
        remediation: "Re-sign with the current secret over the exact method, path?query, nonce and body bytes sent.";
    /// `X-Partner-Timestamp` is outside the accepted window.
    StaleTimestamp = "stale_timestamp", 401, Retryable,
        action: "Re-sign with the current time and a fresh nonce, then retry.",
        remediation: "Sync the client clock (NTP); the window is +-300 s unless the operator changed it.";
    /// The signature does not match the request; the body carries the canonical string the edge computed.
    SignatureMismatch = "signature_mismatch", 401, FailFast,
        action: "Do not retry as is. Compare `signature_diagnostics.canonical_request` with the string you signed.",
        remediation: "Sign the exact method, path?query, timestamp, nonce and body bytes sent, with the current secret.";
    /// The signature uses a version whose cutoff has passed.
    SignatureVersionRetired = "signature_version_retired", 401, FailFast,
        action: "Do not retry. Upgrade the signing code to the version named in the message.",
        remediation: "Retired signature versions are announced with a cutoff date; sign with the current version.";
    /// The key lacks the scope the route needs.
    Forbidden = "forbidden", 403, FailFast,
        action: "Do not retry. Use a key that holds the scope named in the message.",
        remediation: "Ask the operator to add the scope to the key, or use the key meant for this endpoint.";
    /// The nonce was already used inside the replay window.
    ReplayDetected = "replay_detected", 409, Retryable,
        action: "Regenerate the nonce (and idempotency key) and retry once.",
        remediation: "Every signed request needs a nonce never used before within the timestamp window.";
    /// The Idempotency-Key is still being executed by an earlier request.
    #[serde(rename = "idempotency_replay")]
    IdempotencyInFlight = "idempotency_replay", 409, SafeNoop,
        action: "Treat as a duplicate of the call in flight; wait, then read the latest state or resend to get its stored answer.",
        remediation: "Another request with this Idempotency-Key has not finished yet; never run two retries at once.";
    /// The Idempotency-Key was first used for a different request.
    IdempotencyMismatch = "idempotency_mismatch", 422, FailFast,
        action: "Do not retry. Use a fresh Idempotency-Key for a different method, path or body.",
        remediation: "An Idempotency-Key is bound to the method, path?query and body hash of its first use for 24 h.";
    /// The debit is larger than the balance; balances never go negative.
    InsufficientBalance = "insufficient_balance", 409, FailFast,
        action: "Do not retry as is. Read the balance, then debit at most that amount.",
        remediation: "Balances never go below zero; credit the user first or lower the amount.";
    /// The request conflicts with the resource's current state (for example a duplicate).
    Conflict = "conflict", 409, FailFast,
        action: "Do not retry as is. Read the resource's current state and reconcile.",
        remediation: "The message names the conflicting field, such as an external id or wallet already in use.";
    /// A well-formed webhook URL the edge will not deliver to (not https in
    /// production, an internal or special-purpose address, credentials in it).
    UrlNotAllowed = "url_not_allowed", 422, FailFast,
        action: "Do not retry as is. Use a public https URL; the message says what this one breaks.",
        remediation: "Webhook receivers must be public https endpoints; loopback is allowed only on a local edge.";
    /// A configured cap was reached: subscriptions per key, live secrets per subscription.
    LimitExceeded = "limit_exceeded", 409, FailFast,
        action: "Do not retry as is. Remove something first (delete a subscription, let a rotation overlap end).",
        remediation: "The message names the cap and its value; operators set it with a WEBHOOK_* variable.";
    /// The endpoint passed its sunset date; the message names its replacement.
    EndpointSunset = "endpoint_sunset", 410, FailFast,
        action: "Do not retry. Call the replacement named in the message (and in the Link header).",
        remediation: "See /developers/deprecations.json and the playbook for the migration steps.";
    /// The body is larger than the edge accepts.
    PayloadTooLarge = "payload_too_large", 413, FailFast,
        action: "Do not retry as is. Reduce the payload or split it.",
        remediation: "The limit is in the message; it applies to the raw body bytes.";
    /// Over the key's (or the client's) rate limit.
    RateLimited = "rate_limited", 429, Retryable,
        action: "Back off; honour Retry-After and X-RateLimit-Reset before retrying.",
        remediation: "Spread requests over the window or ask the operator for a higher per-key limit.";
    /// No route or resource at this path.
    NotFound = "not_found", 404, FailFast,
        action: "Do not retry. Check the path against /openapi.json.",
        remediation: "The route or resource does not exist. Resource ids are case-sensitive.";
    /// The path exists, but not with this method.
    MethodNotAllowed = "method_not_allowed", 405, FailFast,
        action: "Do not retry. Use one of the methods listed in the Allow header.",
        remediation: "The path exists but not with this method; the Allow header lists the valid ones.";
    /// A storage dependency (KV or a Durable Object) is failing.
    DependencyUnavailable = "dependency_unavailable", 503, Retryable,
        action: "Retry with jittered exponential backoff (1 s, 2 s, 4 s ... capped at 30 s).",
        remediation: "A storage dependency of the edge failed. /api/public/health names which one.";
    /// The operator has not configured this part of the edge safely yet.
    NotConfigured = "not_configured", 503, FailFast,
        action: "Do not retry until the operator has fixed the setting named in the message.",
        remediation: "Operators: the message names the variable or secret; see .dev.vars.example for each one.";
    /// An unexpected failure inside the edge.
    ServerError = "server_error", 500, Retryable,
        action: "Retry with capped backoff; if it persists, report the request_id.",
        remediation: "Operators can find the failure in the worker logs by its request_id.";
}

impl ErrorCode {
    pub fn catalogue_entry(self) -> ErrorCatalogueEntry {
        ErrorCatalogueEntry {
            code: self,
            http_status: self.http_status(),
            retry_class: self.retry_class(),
            client_action: self.client_action().to_owned(),
            remediation: self.remediation().to_owned(),
        }
    }

    /// The whole catalogue, in a stable order.
    pub fn catalogue() -> Vec<ErrorCatalogueEntry> {
        Self::ALL.iter().map(|code| code.catalogue_entry()).collect()
    }
}

/// A request a Durable Object refused for a reason the client can act on
/// (the sandbox's and the webhook hub's), sent back to the worker, which
/// answers with its catalogue code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("no {what} {id}")]
    NotFound { what: String, id: String },
    #[error("user {user_id} has {balance} salutes; a debit of {amount} would take the balance below zero")]
    InsufficientBalance { user_id: String, balance: u64, amount: u64 },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    LimitExceeded { message: String },
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::Invalid { .. } => ErrorCode::InvalidRequest,
            Refusal::NotFound { .. } => ErrorCode::NotFound,
            Refusal::InsufficientBalance { .. } => ErrorCode::InsufficientBalance,
            Refusal::Conflict { .. } => ErrorCode::Conflict,
            Refusal::LimitExceeded { .. } => ErrorCode::LimitExceeded,
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Refusal::NotFound { what: what.into(), id: id.into() }
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Refusal::LimitExceeded { message: message.into() }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Refusal::Conflict { message: message.into() }
    }
}

impl From<crate::partner::FieldError> for Refusal {
    fn from(error: crate::partner::FieldError) -> Self {
        Refusal::Invalid { field: error.field.into(), reason: error.reason }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn every_code_maps_to_an_error_status() {
        for &code in ErrorCode::ALL {
            let status = code.http_status();
            assert!((400..600).contains(&status), "{code} has status {status}");
        }
    }

    #[test]
    fn catalogue_lists_each_code_once() {
        let catalogue = ErrorCode::catalogue();
        assert_eq!(catalogue.len(), ErrorCode::ALL.len());
        let mut codes: Vec<&str> = catalogue.iter().map(|e| e.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn server_side_failures_are_retryable_and_client_mistakes_are_not() {
        assert_eq!(ErrorCode::ServerError.retry_class(), RetryClass::Retryable);
        assert_eq!(ErrorCode::DependencyUnavailable.retry_class(), RetryClass::Retryable);
        assert_eq!(ErrorCode::InvalidRequest.retry_class(), RetryClass::FailFast);
    }
}
