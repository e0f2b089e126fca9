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

/// The public documents the portal reads, typed by the shared crate.
pub async fn trust_manifest() -> Result<partner_edge::trust::TrustManifest, PortalError> {
    plain(Request::get("/trust.json").send().await?).await
}

pub async fn error_catalogue() -> Result<Vec<partner_edge::error::ErrorCatalogueEntry>, PortalError> {
    enveloped(Request::get("/developers/api-errors.json").send().await?).await
}

pub async fn system_status() -> Result<partner_edge::status::SystemStatus, PortalError> {
    enveloped(Request::get("/api/public/system-status").send().await?).await
}

/// Whether this edge offers the local demo key (it says so through the quickstart check).
pub async fn demo_key_offered() -> Result<bool, PortalError> {
    let check: partner_edge::public::KeyCheck = enveloped(
        Request::get("/api/public/quickstart/verify-key?api_key=sandbox_demo_key&client=portal").send().await?,
    )
    .await?;
    Ok(check.status == partner_edge::public::KeyStatus::Ready)
}

async fn plain<T: DeserializeOwned>(response: Response) -> Result<T, PortalError> {
    if response.ok() {
        Ok(response.json::<T>().await?)
    } else {
        Err(error_from(response).await)
    }
}

/// The answer headers worth showing a developer.
pub const SHOWN_HEADERS: &[&str] = &[
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "deprecation",
    "sunset",
    "idempotent-replayed",
];

/// One request and its answer, as the presets, the wizard and try-it show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub elapsed_ms: f64,
    /// [`SHOWN_HEADERS`] that were present, in that order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Exchange {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or_else(js_sys::Date::now, |p| p.now())
}

/// Sends any request to the edge and keeps the whole answer, errors included.
pub async fn exchange(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<String>,
) -> Result<Exchange, PortalError> {
    let verb = gloo_net::http::Method::from_bytes(method.as_bytes())
        .map_err(|_| PortalError::Transport(format!("{method} is not an HTTP method")))?;
    let mut builder = gloo_net::http::RequestBuilder::new(path).method(verb);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let request = match body {
        Some(body) => builder.body(body)?,
        None => builder.build()?,
    };
    let started = now_ms();
    let response = request.send().await?;
    let status = response.status();
    let answer_headers = response.headers();
    let text = response.text().await?;
    let elapsed_ms = now_ms() - started;
    let headers = SHOWN_HEADERS
        .iter()
        .filter_map(|name| answer_headers.get(name).map(|value| ((*name).to_owned(), value)))
        .collect();
    Ok(Exchange { method: method.to_owned(), path: path.to_owned(), status, elapsed_ms, headers, body: text })
}

/// Sends a request signed with `key` (mutations get a fresh Idempotency-Key)
/// and returns the whole success envelope (`data` and any `meta`), or the
/// edge's error as one line.
pub async fn signed(
    key: &crate::key::Credentials,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<serde_json::Value, String> {
    let idempotency_key = format!("portal-{}", crate::key::random_token());
    let sent = crate::key::sign(
        key,
        method,
        path,
        body.as_deref().unwrap_or_default(),
        crate::key::unix_now(),
        &crate::key::random_token(),
        Some(&idempotency_key),
    );
    let answer = exchange(method, path, &sent.headers, body).await.map_err(|e| e.to_string())?;
    envelope(&answer)
}

/// An unsigned GET of a public route, as [`signed`] returns it.
pub async fn public(path: &str) -> Result<serde_json::Value, String> {
    envelope(&exchange("GET", path, &[], None).await.map_err(|e| e.to_string())?)
}

fn envelope(answer: &Exchange) -> Result<serde_json::Value, String> {
    let json = answer.json();
    if (200..300).contains(&answer.status) {
        return json.ok_or_else(|| format!("HTTP {} without a JSON body", answer.status));
    }
    match json.and_then(|j| serde_json::from_value::<ErrorBody>(j).ok()) {
        Some(body) => {
            Err(format!("{} ({}, HTTP {}, request {})", body.message, body.error, answer.status, body.request_id))
        }
        None => Err(format!("HTTP {} without an error body", answer.status)),
    }
}
