//! Partner request signing, version 1.
//!
//! The canonical string joins six lines with `\n`:
//!
//! ```text
//! v1
//! {X-Partner-Timestamp}
//! {METHOD}
//! {path?query exactly as sent}
//! {X-Partner-Nonce}
//! {lowercase hex SHA-256 of the raw body bytes}
//! ```
//!
//! and `X-Partner-Signature: v1=<lowercase hex HMAC-SHA256(secret as UTF-8, canonical)>`.
//! The `v1=` prefix leaves room for a v2; which versions are accepted, and
//! until when, is a [`SignaturePolicy`].
//!
//! Known-answer vectors for other languages live in `tests/vectors/signing-v1.json`.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What a signature covers, taken from the request as it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedParts<'a> {
    /// `X-Partner-Timestamp`, exactly as sent.
    pub timestamp: &'a str,
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The path and query string exactly as sent (no scheme or host).
    pub path_and_query: &'a str,
    /// `X-Partner-Nonce`.
    pub nonce: &'a str,
    /// The raw body bytes; empty when there is no body.
    pub body: &'a [u8],
}

/// A signature scheme version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    V1,
}

impl SignatureVersion {
    pub const fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "v1",
        }
    }
}

/// Why a signature header was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Partner-Signature must look like `v1=<64 lowercase hex digits>`")]
    Malformed,
    #[error("signature version `{0}` is not supported; sign with v1")]
    UnsupportedVersion(String),
    #[error("signature version {version} was retired at {cutoff}; upgrade to {upgrade}")]
    Retired { version: &'static str, cutoff: u64, upgrade: &'static str },
    #[error("the signature does not match the request")]
    Mismatch,
}

/// Lowercase hex SHA-256 of the body; the empty body hashes the empty string.
pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The v1 canonical string for `parts`.
pub fn canonical_v1(parts: &SignedParts<'_>) -> String {
    format!(
        "v1\n{}\n{}\n{}\n{}\n{}",
        parts.timestamp,
        parts.method,
        parts.path_and_query,
        parts.nonce,
        body_sha256_hex(parts.body)
    )
}

/// What the edge signed over, sent back with a signature that does not
/// match (as AWS does for SigV4): every part is something the client sent,
/// so no secret and no expected signature is in it. A client compares it
/// with its own canonical string to find the part that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SignatureDiagnostics {
    /// The exact string the edge computed the HMAC over: the lines below, joined by `\n`.
    pub canonical_request: String,
    pub version: String,
    pub timestamp: String,
    pub method: String,
    pub path_and_query: String,
    pub nonce: String,
    /// Lowercase hex SHA-256 of the body bytes the edge received.
    pub body_sha256: String,
}

impl SignatureDiagnostics {
    pub fn of(parts: &SignedParts<'_>) -> Self {
        SignatureDiagnostics {
            canonical_request: canonical_v1(parts),
            version: SignatureVersion::V1.as_str().to_owned(),
            timestamp: parts.timestamp.to_owned(),
            method: parts.method.to_owned(),
            path_and_query: parts.path_and_query.to_owned(),
            nonce: parts.nonce.to_owned(),
            body_sha256: body_sha256_hex(parts.body),
        }
    }
}

/// The named lines of a v1 canonical string, in order.
pub const CANONICAL_PARTS: [&str; 6] = ["version", "timestamp", "method", "path and query", "nonce", "body hash"];

/// Names the parts in which two canonical strings differ (`method`, `path
/// and query`, `timestamp`, `nonce`, `body hash`, `version`), in order. A
/// string with the wrong number of lines differs in `layout`.
pub fn canonical_differences(mine: &str, theirs: &str) -> Vec<&'static str> {
    let (a, b): (Vec<&str>, Vec<&str>) = (mine.split('\n').collect(), theirs.split('\n').collect());
    if a.len() != CANONICAL_PARTS.len() || b.len() != CANONICAL_PARTS.len() {
        return if mine == theirs { Vec::new() } else { vec!["layout"] };
    }
    CANONICAL_PARTS.iter().zip(a.iter().zip(&b)).filter(|(_, (x, y))| x != y).map(|(name, _)| *name).collect()
}

fn mac_for(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// The full `X-Partner-Signature` value for `parts` under `secret`.
pub fn sign_v1(secret: &str, parts: &SignedParts<'_>) -> String {
    let mut mac = mac_for(secret);
    mac.update(canonical_v1(parts).as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Compares a presented secret with the expected one in constant time. Both
/// are hashed first, so not even their lengths leak through timing.
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

/// A parsed `X-Partner-Signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub version: SignatureVersion,
    mac: [u8; 32],
}

impl SignatureHeader {
    pub fn parse(raw: &str) -> Result<Self, SignatureError> {
        let (version, digest) = raw.split_once('=').ok_or(SignatureError::Malformed)?;
        let version = match version {
            "v1" => SignatureVersion::V1,
            other if !other.is_empty() && other.len() <= 8 && other.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                return Err(SignatureError::UnsupportedVersion(other.to_owned()))
            }
            _ => return Err(SignatureError::Malformed),
        };
        let lowercase_hex = digest.len() == 64 && digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lowercase_hex {
            return Err(SignatureError::Malformed);
        }
        let mut mac = [0u8; 32];
        hex::decode_to_slice(digest, &mut mac).map_err(|_| SignatureError::Malformed)?;
        Ok(Self { version, mac })
    }

    /// Whether this signature was made with `secret` over `parts`. Constant-time.
    pub fn matches(&self, secret: &str, parts: &SignedParts<'_>) -> bool {
        match self.version {
            SignatureVersion::V1 => {
                let mut mac = mac_for(secret);
                mac.update(canonical_v1(parts).as_bytes());
                mac.verify_slice(&self.mac).is_ok()
            }
        }
    }
}

/// One accepted version and the moment (unix seconds) after which it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedVersion {
    pub version: SignatureVersion,
    /// Unix seconds; `None` means no cutoff is scheduled.
    pub cutoff: Option<u64>,
}

/// Which signature versions the edge accepts, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignaturePolicy {
    pub accepted: Vec<AcceptedVersion>,
}

impl Default for SignaturePolicy {
    fn default() -> Self {
        Self { accepted: vec![AcceptedVersion { version: SignatureVersion::V1, cutoff: None }] }
    }
}

impl SignaturePolicy {
    /// v1 is accepted; `SIGNATURE_V1_CUTOFF` (unix seconds) schedules its retirement.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let cutoff = match lookup("SIGNATURE_V1_CUTOFF") {
            None => None,
            Some(raw) => {
                Some(raw.trim().parse().map_err(|_| format!("SIGNATURE_V1_CUTOFF must be unix seconds, not {raw:?}"))?)
            }
        };
        Ok(Self { accepted: vec![AcceptedVersion { version: SignatureVersion::V1, cutoff }] })
    }

    /// The newest version with no cutoff in the past, to name in upgrade messages.
    fn upgrade_target(&self, now: u64) -> &'static str {
        self.accepted
            .iter()
            .rev()
            .find(|v| v.cutoff.is_none_or(|cutoff| now < cutoff))
            .map_or("a supported version", |v| v.version.as_str())
    }

    /// Checks `header` against the policy at `now`, then against each secret
    /// in turn (current first, then a previous one still inside its overlap).
    /// Returns the index of the secret that matched.
    pub fn verify(
        &self,
        header: &SignatureHeader,
        secrets: &[&str],
        parts: &SignedParts<'_>,
        now: u64,
    ) -> Result<usize, SignatureError> {
        let Some(accepted) = self.accepted.iter().find(|v| v.version == header.version) else {
            return Err(SignatureError::UnsupportedVersion(header.version.as_str().to_owned()));
        };
        if let Some(cutoff) = accepted.cutoff.filter(|&cutoff| now >= cutoff) {
            return Err(SignatureError::Retired {
                version: header.version.as_str(),
                cutoff,
                upgrade: self.upgrade_target(now),
            });
        }
        // Try every secret even after a match, so timing does not reveal which matched.
        let mut matched = None;
        for (index, secret) in secrets.iter().enumerate() {
            if header.matches(secret, parts) && matched.is_none() {
                matched = Some(index);
            }
        }
        matched.ok_or(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        secret: String,
        timestamp: String,
        method: String,
        path_and_query: String,
        nonce: String,
        body: String,
        body_sha256: String,
        canonical: String,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(include_str!("../../tests/vectors/signing-v1.json")).unwrap()
    }

    fn parts(v: &Vector) -> SignedParts<'_> {
        SignedParts {
            timestamp: &v.timestamp,
            method: &v.method,
            path_and_query: &v.path_and_query,
            nonce: &v.nonce,
            body: v.body.as_bytes(),
        }
    }

    #[test]
    fn published_vectors_match() {
        let vectors = vectors();
        assert!(vectors.len() >= 4);
        for v in &vectors {
            assert_eq!(body_sha256_hex(v.body.as_bytes()), v.body_sha256, "{}", v.name);
            assert_eq!(canonical_v1(&parts(v)), v.canonical, "{}", v.name);
            assert_eq!(sign_v1(&v.secret, &parts(v)), v.signature, "{}", v.name);
            let header = SignatureHeader::parse(&v.signature).unwrap();
            assert!(header.matches(&v.secret, &parts(v)), "{}", v.name);
        }
    }

    #[test]
    fn secrets_equal_only_when_identical() {
        assert!(secrets_equal("admin-key", "admin-key"));
        assert!(!secrets_equal("admin-key", "admin-kez"));
        assert!(!secrets_equal("admin-key", "admin-key "));
        assert!(!secrets_equal("", "admin-key"));
    }

    #[test]
    fn empty_body_hashes_the_empty_string() {
        assert_eq!(body_sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn any_tampered_part_fails_verification() {
        let v = &vectors()[1];
        let header = SignatureHeader::parse(&v.signature).unwrap();
        let good = parts(v);
        let tampered = [
            SignedParts { body: b"{\"amount\":1000}", ..good },
            SignedParts { path_and_query: "/api/salutes/debit", ..good },
            SignedParts { path_and_query: &format!("{}&x=1", good.path_and_query), ..good },
            SignedParts { method: "PUT", ..good },
            SignedParts { timestamp: "1700000001", ..good },
            SignedParts { nonce: "another-nonce-0001", ..good },
        ];
        for parts in tampered {
            assert!(!header.matches(&v.secret, &parts), "{parts:?} verified");
        }
        assert!(!header.matches("the-wrong-secret", &good));
        assert!(header.matches(&v.secret, &good));
    }

    #[test]
    fn malformed_and_truncated_signatures_are_rejected() {
        let v = &vectors()[0];
        let truncated = &v.signature[..v.signature.len() - 2];
        let upper = v.signature.to_uppercase().replacen("V1", "v1", 1);
        for bad in ["", "v1", "v1=", truncated, &upper, &format!("{}00", v.signature), "=abcd", "v 1=ab"] {
            assert_eq!(SignatureHeader::parse(bad), Err(SignatureError::Malformed), "{bad:?}");
        }
        let v2 = format!("v2={}", &v.signature[3..]);
        assert_eq!(SignatureHeader::parse(&v2), Err(SignatureError::UnsupportedVersion("v2".into())));
        // Another scheme's prefix is named back, so the caller sees what to change.
        assert_eq!(SignatureHeader::parse("sha256=abc"), Err(SignatureError::UnsupportedVersion("sha256".into())));
    }

    #[test]
    fn previous_secret_verifies_and_reports_its_index() {
        let v = &vectors()[0];
        let header = SignatureHeader::parse(&v.signature).unwrap();
        let policy = SignaturePolicy::default();
        assert_eq!(policy.verify(&header, &["new-secret", &v.secret], &parts(v), 0), Ok(1));
        assert_eq!(policy.verify(&header, &[&v.secret], &parts(v), 0), Ok(0));
        assert_eq!(policy.verify(&header, &["new-secret"], &parts(v), 0), Err(SignatureError::Mismatch));
    }

    #[test]
    fn policy_reads_the_cutoff_variable() {
        let policy = SignaturePolicy::from_vars(|n| (n == "SIGNATURE_V1_CUTOFF").then(|| "1800000000".into())).unwrap();
        assert_eq!(policy.accepted[0].cutoff, Some(1_800_000_000));
        assert_eq!(SignaturePolicy::from_vars(|_| None).unwrap(), SignaturePolicy::default());
        assert!(SignaturePolicy::from_vars(|_| Some("soon".into())).is_err());
    }

    #[test]
    fn a_retired_version_names_its_cutoff_and_the_upgrade() {
        let v = &vectors()[0];
        let header = SignatureHeader::parse(&v.signature).unwrap();
        let policy =
            SignaturePolicy { accepted: vec![AcceptedVersion { version: SignatureVersion::V1, cutoff: Some(100) }] };
        assert_eq!(policy.verify(&header, &[&v.secret], &parts(v), 99), Ok(0));
        let retired = policy.verify(&header, &[&v.secret], &parts(v), 100).unwrap_err();
        assert!(matches!(retired, SignatureError::Retired { version: "v1", cutoff: 100, .. }), "{retired:?}");
    }

    #[test]
    fn a_mismatch_is_explained_by_the_part_that_differs_and_never_by_a_secret() {
        let body = br#"{"amount":1}"#;
        let parts = SignedParts {
            timestamp: "1700000000",
            method: "POST",
            path_and_query: "/api/salutes/credit",
            nonce: "nonce-0123456789abcdef",
            body,
        };
        let diagnostics = SignatureDiagnostics::of(&parts);
        assert_eq!(diagnostics.canonical_request, canonical_v1(&parts));
        assert_eq!(diagnostics.body_sha256, body_sha256_hex(body));
        let json = serde_json::to_string(&diagnostics).unwrap();
        let secret = "whsec-or-any-secret-0123456789";
        assert!(!json.contains(secret) && !json.contains(&sign_v1(secret, &parts)[3..]), "{json}");

        let mine = canonical_v1(&parts);
        assert_eq!(canonical_differences(&mine, &diagnostics.canonical_request), Vec::<&str>::new());
        let other_path = canonical_v1(&SignedParts { path_and_query: "/api/salutes/credit?x=1", ..parts });
        assert_eq!(canonical_differences(&other_path, &mine), ["path and query"]);
        let other_body = canonical_v1(&SignedParts { body: b"{}", method: "PUT", ..parts });
        assert_eq!(canonical_differences(&other_body, &mine), ["method", "body hash"]);
        let other_clock = canonical_v1(&SignedParts { timestamp: "1700000001", nonce: "n", ..parts });
        assert_eq!(canonical_differences(&other_clock, &mine), ["timestamp", "nonce"]);
        assert_eq!(canonical_differences("v1\nonly", &mine), ["layout"]);
    }
}
