//! Machine-readable descriptions of the edge.

use worker::{Request, Response};

use crate::error::ApiError;
use crate::router::Edge;

/// Rendered by `build.rs` from the shared route table.
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

pub fn openapi(_req: Request, _edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut response = Response::ok(OPENAPI_JSON)?;
    let headers = response.headers_mut();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "public, max-age=300")?;
    Ok(response)
}
