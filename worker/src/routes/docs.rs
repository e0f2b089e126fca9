//! Machine-readable descriptions of the edge.

use partner_edge::error::ErrorCode;
use worker::{Request, Response};

use crate::error::ApiError;
use crate::http::success;
use crate::router::Edge;

/// Rendered by `build.rs` from the shared route table.
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Rendered by `build.rs` from the event types and their data schemas.
const EVENT_TYPES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/event-types.json"));

pub fn openapi(_req: Request, _edge: Edge<'_>) -> Result<Response, ApiError> {
    static_json(OPENAPI_JSON)
}

pub fn event_types(_req: Request, _edge: Edge<'_>) -> Result<Response, ApiError> {
    static_json(EVENT_TYPES_JSON)
}

fn static_json(text: &'static str) -> Result<Response, ApiError> {
    let mut response = Response::ok(text)?;
    let headers = response.headers_mut();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "public, max-age=300")?;
    Ok(response)
}

/// The error catalogue, straight from the enum the edge maps its errors with.
pub fn error_catalogue(_req: Request, _edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut response = success(200, ErrorCode::catalogue())?;
    response.headers_mut().set("cache-control", "public, max-age=300")?;
    Ok(response)
}
