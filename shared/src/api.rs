//! The JSON envelope every API response uses, and the request id that ties a
//! response to the edge's logs.
//!
//! Success: `{"success":true,"data":…}` (plus `meta` on paginated lists).
//! Failure: `{"success":false,"error":"<code>","message":…,"request_id":…}`.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// The header that carries the request id on every response.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// A successful response body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Success<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
    /// Present on paginated lists only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<PageMeta>,
}

impl<T> Success<T> {
    pub fn new(data: T) -> Self {
        Self { success: true, data, meta: None }
    }

    pub fn paginated(data: T, meta: PageMeta) -> Self {
        Self { success: true, data, meta: Some(meta) }
    }
}

/// One page of a list, as an object hands it to the worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub meta: PageMeta,
}

/// Cursor pagination details for list responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PageMeta {
    /// Pass as `cursor` to fetch the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    pub limit: u32,
}

/// Page size bounds for cursor-paginated lists.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// Reads a `limit` query parameter: 1 to [`MAX_PAGE`].
pub fn parse_page_limit(raw: &str) -> Result<u32, crate::partner::FieldError> {
    crate::contract::bounded_number(raw, 1..=MAX_PAGE)
        .ok_or_else(|| crate::partner::FieldError::new("limit", format!("must be 1 to {MAX_PAGE}")))
}

/// Reads a `cursor` query parameter: `prefix` and 1 to 19 digits, exactly
/// what the document's pattern allows (`contract::LOG_CURSOR`, `LEDGER_CURSOR`).
pub fn parse_cursor(raw: &str, prefix: &str) -> Result<u64, crate::partner::FieldError> {
    // Pages run newest first, each from the rows before the cursor. Sequence
    // numbers are SQLite integers, so a cursor past i64::MAX has every row
    // before it, the same as i64::MAX; clamping keeps the query in range.
    raw.strip_prefix(prefix)
        .filter(|n| (1..=19).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok())
        .map(|n| n.min(i64::MAX as u64))
        .ok_or_else(|| crate::partner::FieldError::new("cursor", "pass next_cursor from the previous page"))
}

/// Given up to `limit + 1` rows fetched newest first, the page and the
/// cursor of its last row if more remain.
pub fn split_page<T>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(cursor_of);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// An error response body. The same shape for every failure the edge returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// The catalogue code; branch on this.
    pub error: ErrorCode,
    /// A human-readable explanation, for logs and UIs.
    pub message: String,
    /// The same value as the `X-Request-Id` response header.
    pub request_id: RequestId,
    /// With `signature_mismatch` only: what the edge signed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_diagnostics: Option<crate::signing::SignatureDiagnostics>,
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>, request_id: RequestId) -> Self {
        Self { success: false, error, message: message.into(), request_id, signature_diagnostics: None }
    }
}

/// A request id: `req_` followed by 32 lowercase hex digits.
///
/// The worker draws the 128 random bits; this type only formats and parses,
/// so it stays deterministic and testable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

const REQUEST_ID_PREFIX: &str = "req_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request id is `req_` followed by 32 lowercase hex digits")]
pub struct InvalidRequestId;

impl RequestId {
    /// Builds an id from 16 random bytes supplied by the caller.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        let mut id = String::with_capacity(REQUEST_ID_PREFIX.len() + 32);
        id.push_str(REQUEST_ID_PREFIX);
        id.push_str(&hex::encode(bytes));
        Self(id)
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidRequestId> {
        let hex = raw.strip_prefix(REQUEST_ID_PREFIX).ok_or(InvalidRequestId)?;
        let well_formed = hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidRequestId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestId {
    type Error = InvalidRequestId;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_limits_out_of_range_are_refused_by_name() {
        assert_eq!(parse_cursor("c_9", "c_").unwrap(), 9);
        assert_eq!(parse_cursor("c_9223372036854775807", "c_").unwrap(), i64::MAX as u64);
        // Past the largest sequence number SQLite holds: every row is before it.
        assert_eq!(parse_cursor("c_9223372036854775808", "c_").unwrap(), i64::MAX as u64);
        assert_eq!(parse_cursor("c_9999999999999999999", "c_").unwrap(), i64::MAX as u64);
        for raw in ["c_18446744073709551615", "c_99999999999999999999", "c_-1", "c_+1", "9", "c_", "c_1 "] {
            assert_eq!(parse_cursor(raw, "c_").unwrap_err().field, "cursor", "{raw}");
        }
        for raw in ["0", "-1", "+5", "abc", "", "1e3", "4294967296", "99999999999999999999", "201"] {
            assert_eq!(parse_page_limit(raw).unwrap_err().field, "limit", "{raw}");
        }
    }

    #[test]
    fn request_id_formats_all_128_bits_with_prefix() {
        let id = RequestId::from_random_bytes([0xab; 16]);
        assert_eq!(id.as_str(), "req_abababababababababababababababab");
        let zero = RequestId::from_random_bytes([0; 16]);
        assert_eq!(zero.as_str(), "req_00000000000000000000000000000000");
    }

    #[test]
    fn request_id_parse_round_trips_and_rejects_malformed() {
        let id = RequestId::from_random_bytes([7; 16]);
        assert_eq!(RequestId::parse(id.as_str()), Ok(id));
        for bad in ["", "req_", "req_ABABABABABABABABABABABABABABABAB", "abc_0000", "req_123"] {
            assert_eq!(RequestId::parse(bad), Err(InvalidRequestId), "{bad:?} was accepted");
        }
    }

    #[test]
    fn error_body_has_the_taxonomy_shape() {
        let body =
            ErrorBody::new(ErrorCode::NotFound, "no route for GET /api/nope", RequestId::from_random_bytes([1; 16]));
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "success": false,
                "error": "not_found",
                "message": "no route for GET /api/nope",
                "request_id": "req_01010101010101010101010101010101",
            })
        );
    }

    #[test]
    fn success_omits_meta_unless_paginated() {
        let plain = serde_json::to_value(Success::new(5)).unwrap();
        assert_eq!(plain, serde_json::json!({"success": true, "data": 5}));
        let page = Success::paginated(vec![1], PageMeta { next_cursor: Some("c2".into()), limit: 1 });
        let json = serde_json::to_value(page).unwrap();
        assert_eq!(json["meta"], serde_json::json!({"next_cursor": "c2", "limit": 1}));
    }
}
