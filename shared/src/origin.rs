//! What the edge forwards to an origin (`ORIGIN_URL`), and how the origin
//! proves a request came through the edge.
//!
//! The edge forwards exactly what it authorised: the path of the route it
//! matched, rebuilt from the route's template and its checked parameters;
//! no hop-by-hop header and no header that asks a proxy or framework to
//! rewrite the URL or method. It then signs the forwarded request with
//! `ORIGIN_SIGNING_SECRET`, a secret the operator shares with the origin:
//!
//! ```text
//! X-Edge-Timestamp: {unix seconds}
//! X-Edge-Signature: v1=<lowercase hex HMAC-SHA256(secret as UTF-8, canonical)>
//!
//! canonical = "edge-v1\n{timestamp}\n{METHOD}\n{path?query as forwarded}\n{hex SHA-256 of body}\n{X-Partner-Id}\n{X-Request-Id}"
//! ```
//!
//! The origin recomputes it ([`verify_forwarded`], or `partner-edge
//! verify-origin`), compares in constant time and refuses timestamps outside
//! its window. Binding the partner id and request id means an origin can
//! trust the identity headers the edge adds.

use hmac::{Hmac, Mac};

use crate::signing::{body_sha256_hex, secrets_equal};

pub const HEADER_EDGE_TIMESTAMP: &str = "X-Edge-Timestamp";
pub const HEADER_EDGE_SIGNATURE: &str = "X-Edge-Signature";

/// The longest `ORIGIN_TIMEOUT_SECONDS` the edge accepts. An idempotency
/// reservation outlives it (see [`crate::gate::IDEMPOTENCY_LEASE_SECS`]), so
/// a retry can never forward a mutation while the first is still in flight.
pub const MAX_ORIGIN_TIMEOUT_SECS: u64 = 300;

/// Headers never forwarded: hop-by-hop ones (RFC 9110 §7.6.1), the ones that
/// make proxies and frameworks rewrite the URL, method or client address,
/// the partner's signature (the edge already checked it) and the identity
/// headers the edge sets itself. Compared case-insensitively.
pub const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "forwarded",
    "via",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-partner-key",
    "x-partner-timestamp",
    "x-partner-nonce",
    "x-partner-signature",
    "x-partner-id",
    "x-partner-scopes",
    "x-partner-environment",
    "x-request-id",
    "x-edge-timestamp",
    "x-edge-signature",
];

/// Prefixes of header families never forwarded (`X-Forwarded-For`,
/// `X-Forwarded-Host`, Cloudflare's own `CF-*`, …).
pub const NOT_FORWARDED_PREFIXES: &[&str] = &["x-forwarded-", "cf-"];

/// Whether a request header may go to the origin. `connection_tokens` are
/// the names the request's own `Connection` header lists: hop-by-hop too.
pub fn is_forwarded(name: &str, connection_tokens: &[String]) -> bool {
    let name = name.to_ascii_lowercase();
    !NOT_FORWARDED.contains(&name.as_str())
        && !NOT_FORWARDED_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        && !connection_tokens.iter().any(|token| token.eq_ignore_ascii_case(&name))
}

/// The names a `Connection` header lists.
pub fn connection_tokens(connection: Option<&str>) -> Vec<String> {
    connection
        .unwrap_or_default()
        .split(',')
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// What the edge's signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forwarded<'a> {
    pub timestamp: u64,
    pub method: &'a str,
    /// The path and query as forwarded (the origin's base path included).
    pub path_and_query: &'a str,
    pub body: &'a [u8],
    pub partner_id: &'a str,
    pub request_id: &'a str,
}

pub fn canonical(parts: &Forwarded<'_>) -> String {
    format!(
        "edge-v1\n{}\n{}\n{}\n{}\n{}\n{}",
        parts.timestamp,
        parts.method,
        parts.path_and_query,
        body_sha256_hex(parts.body),
        parts.partner_id,
        parts.request_id
    )
}

/// `v1=` and the hex HMAC of the canonical string.
pub fn sign_forwarded(secret: &str, parts: &Forwarded<'_>) -> String {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(canonical(parts).as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why an origin refuses a forwarded request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginCheckError {
    #[error("the timestamp is {skew} s away from now, outside the {tolerance} s window")]
    Stale { skew: u64, tolerance: u64 },
    #[error("the signature does not match: the request did not come through the edge, or was changed")]
    Mismatch,
}

/// What an origin runs: recompute, compare in constant time, check freshness.
pub fn verify_forwarded(
    secret: &str,
    parts: &Forwarded<'_>,
    signature: &str,
    now: u64,
    tolerance: u64,
) -> Result<(), OriginCheckError> {
    let skew = now.abs_diff(parts.timestamp);
    if skew > tolerance {
        return Err(OriginCheckError::Stale { skew, tolerance });
    }
    if secrets_equal(signature.trim(), &sign_forwarded(secret, parts)) {
        Ok(())
    } else {
        Err(OriginCheckError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(body: &[u8]) -> Forwarded<'_> {
        Forwarded {
            timestamp: 1_700_000_000,
            method: "POST",
            path_and_query: "/base/api/salutes/credit?trace=1",
            body,
            partner_id: "pk_sandbox_0123456789abcdef01234567",
            request_id: "req_0123456789abcdef0123456789abcdef",
        }
    }

    #[test]
    fn the_signature_matches_an_independent_hmac() {
        // python3 -c 'import hmac,hashlib;b=hashlib.sha256(b"{}").hexdigest();
        //   m="edge-v1\n1700000000\nPOST\n/base/api/salutes/credit?trace=1\n"+b+
        //   "\npk_sandbox_0123456789abcdef01234567\nreq_0123456789abcdef0123456789abcdef";
        //   print(hmac.new(b"origin-secret",m.encode(),hashlib.sha256).hexdigest())'
        assert_eq!(
            sign_forwarded("origin-secret", &parts(b"{}")),
            "v1=e10d6f9531afa87a1126d1b700cebb273dd7253b43959f72d3f73d8ae5c3f0db"
        );
    }

    #[test]
    fn an_origin_accepts_what_the_edge_signed_and_refuses_any_change() {
        let signed = sign_forwarded("origin-secret", &parts(b"{}"));
        assert_eq!(verify_forwarded("origin-secret", &parts(b"{}"), &signed, 1_700_000_010, 300), Ok(()));
        let changed = [
            Forwarded { method: "PUT", ..parts(b"{}") },
            Forwarded { path_and_query: "/base/api/salutes/debit?trace=1", ..parts(b"{}") },
            Forwarded { partner_id: "pk_sandbox_ffffffffffffffffffffffff", ..parts(b"{}") },
            Forwarded { request_id: "req_x", ..parts(b"{}") },
            Forwarded { timestamp: 1_700_000_001, ..parts(b"{}") },
            parts(b"{\"amount\":1}"),
        ];
        for forged in changed {
            assert_eq!(
                verify_forwarded("origin-secret", &forged, &signed, 1_700_000_000, 300),
                Err(OriginCheckError::Mismatch),
                "{forged:?}"
            );
        }
        assert_eq!(
            verify_forwarded("other-secret", &parts(b"{}"), &signed, 1_700_000_000, 300),
            Err(OriginCheckError::Mismatch)
        );
        assert!(matches!(
            verify_forwarded("origin-secret", &parts(b"{}"), &signed, 1_700_000_301, 300),
            Err(OriginCheckError::Stale { skew: 301, .. })
        ));
    }

    #[test]
    fn rewriting_and_hop_by_hop_headers_are_never_forwarded() {
        let connection = connection_tokens(Some("keep-alive, X-Secret-Hop"));
        for name in [
            "Connection",
            "X-Original-URL",
            "x-rewrite-url",
            "X-HTTP-Method-Override",
            "X-Method-Override",
            "Forwarded",
            "X-Forwarded-For",
            "X-Forwarded-Host",
            "X-Forwarded-Proto",
            "X-Real-IP",
            "Transfer-Encoding",
            "Upgrade",
            "TE",
            "Proxy-Authorization",
            "X-Secret-Hop",
            "CF-Connecting-IP",
            "X-Partner-Signature",
            "X-Partner-Id",
            "X-Edge-Signature",
            "Host",
        ] {
            assert!(!is_forwarded(name, &connection), "{name} was forwarded");
        }
        for name in ["Content-Type", "Idempotency-Key", "Accept", "User-Agent", "X-Custom-Trace"] {
            assert!(is_forwarded(name, &connection), "{name} was dropped");
        }
    }

    #[test]
    fn a_reservation_outlives_the_longest_origin_timeout() {
        const { assert!(crate::gate::IDEMPOTENCY_LEASE_SECS > MAX_ORIGIN_TIMEOUT_SECS) };
    }
}
