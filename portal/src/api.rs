//! Calls to the edge. Payload types come from the shared crate, so the portal
//! reads exactly what the worker writes.

use gloo_net::http::{Request, Response};
use partner_edge::api::{ErrorBody, Success};
use partner_edge::health::HealthReport;
use serde::de::DeserializeOwned;

/// Why a call to the edge did not produce data.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PortalError {
    /// The edge answered with the error taxonomy.
    #[error("{message} ({code}, HTTP {status}, request {request_id})")]
    Api { status: u16, code: String, message: String, request_id: String },
    /// The request did not complete, or the answer was not what the edge sends.
    #[error("could not reach the edge: {0}")]
    Transport(String),
}

impl From<gloo_net::Error> for PortalError {
    fn from(error: gloo_net::Error) -> Self {
        PortalError::Transport(error.to_string())
    }
}

/// The live health report, or the edge's explanation of why it is unhealthy.
pub async fn health() -> Result<HealthReport, PortalError> {
    enveloped(Request::get("/api/public/health").send().await?).await
}

/// The OpenAPI document the worker serves.
pub async fn openapi_document() -> Result<serde_json::Value, PortalError> {
    let response = Request::get("/openapi.json").send().await?;
    if !response.ok() {
        return Err(error_from(response).await);
    }
    Ok(response.json().await?)
}

/// Unwraps `{"success":true,"data":…}`, or turns the error envelope into a [`PortalError`].
async fn enveloped<T: DeserializeOwned>(response: Response) -> Result<T, PortalError> {
    if response.ok() {
        Ok(response.json::<Success<T>>().await?.data)
    } else {
        Err(error_from(response).await)
    }
}

async fn error_from(response: Response) -> PortalError {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => PortalError::Api {
            status,
            code: body.error.to_string(),
            message: body.message,
            request_id: body.request_id.to_string(),
        },
        Err(_) => PortalError::Transport(format!("HTTP {status} without an error body")),
    }
}
