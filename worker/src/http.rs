//! Small HTTP helpers shared by every handler: request ids, JSON envelopes.

use partner_edge::api::{RequestId, Success, REQUEST_ID_HEADER};
use serde::Serialize;
use worker::{console_error, Date, Response};

use crate::error::ApiError;

/// 128 random bits from the runtime's CSPRNG, formatted by the shared crate.
pub fn fresh_request_id() -> RequestId {
    let mut bytes = [0u8; 16];
    if let Err(error) = getrandom::fill(&mut bytes) {
        // crypto.getRandomValues does not fail on workerd; if it ever did, a
        // time-derived id still lets the request be answered and traced.
        console_error!("getrandom failed ({error}); deriving the request id from the clock");
        bytes = (u128::from(now_ms()) << 32).to_be_bytes();
    }
    RequestId::from_random_bytes(bytes)
}

/// Wall-clock unix milliseconds. On workerd it advances only across I/O.
pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// Sets `X-Request-Id`, leaving the response unchanged if its headers are immutable.
pub fn with_request_id(mut response: Response, request_id: &RequestId) -> Response {
    if let Err(error) = response.headers_mut().set(REQUEST_ID_HEADER, request_id.as_str()) {
        console_error!("{request_id} could not set {REQUEST_ID_HEADER}: {error}");
    }
    response
}

/// `{"success":true,"data":…}` with the given status, never cached.
pub fn success<T: Serialize>(status: u16, data: T) -> Result<Response, ApiError> {
    let mut response = Response::from_json(&Success::new(data))?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}
