//! The one place where failures become HTTP: [`ApiError`] carries a catalogue
//! code and a client-safe message, and renders the taxonomy's JSON with the
//! catalogue's status.

use partner_edge::api::{ErrorBody, RequestId};
use partner_edge::error::{ErrorCode, Refusal};
use partner_edge::gate::{GateError, RateVerdict};
use partner_edge::partner::FieldError;
use partner_edge::routes::Method;
use worker::{console_error, Headers, Response, ResponseBuilder};

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    /// Shown to the client. Never contains secrets or internal detail.
    message: String,
    /// For the operator's log only.
    detail: Option<String>,
    /// Methods for the `Allow` header of a 405.
    allow: Vec<Method>,
    /// Rate-limit state, when the request got as far as its key's limiter.
    rate: Option<RateVerdict>,
    /// With `signature_mismatch`: what the edge signed over, for the client to compare.
    diagnostics: Option<Box<partner_edge::signing::SignatureDiagnostics>>,
}

impl ApiError {
    /// What the client is told.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), detail: None, allow: Vec::new(), rate: None, diagnostics: None }
    }

    pub fn not_found(method: &str, path: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no route for {method} {path}; see /openapi.json"))
    }

    pub fn method_not_allowed(method: &str, path: &str, allow: Vec<Method>) -> Self {
        let names: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
        let mut error = Self::new(
            ErrorCode::MethodNotAllowed,
            format!("{path} does not accept {method}; use {}", names.join(", ")),
        );
        error.allow = allow;
        error
    }

    /// An unexpected failure: the client sees a generic message, the log gets the detail.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut error = Self::new(ErrorCode::ServerError, "the edge failed unexpectedly; report the request_id");
        error.detail = Some(detail.into());
        error
    }

    /// Adds operator-only detail (logged for 5xx answers, never shown).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A request body that is not what the route reads; the message names the field.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// Attaches the rate-limit state, for the `X-RateLimit-*` headers.
    pub fn with_rate(mut self, rate: RateVerdict) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Attaches what the edge signed over to a signature that did not match.
    pub fn with_diagnostics(mut self, diagnostics: partner_edge::signing::SignatureDiagnostics) -> Self {
        self.diagnostics = Some(Box::new(diagnostics));
        self
    }

    /// Logs server-side failures, once, at the boundary. Client mistakes are not logged.
    pub fn log_once(&self, request_id: &RequestId) {
        if self.code.http_status() >= 500 {
            let detail = self.detail.as_deref().unwrap_or(&self.message);
            console_error!("{request_id} {}: {detail}", self.code);
        }
    }

    pub fn into_response(self, request_id: &RequestId) -> Response {
        let status = self.code.http_status();
        let mut body = ErrorBody::new(self.code, self.message, request_id.clone());
        body.signature_diagnostics = self.diagnostics.map(|d| *d);
        // Serialising a struct of strings cannot fail; the fallback keeps this total.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let headers = Headers::new();
        let allow: Vec<&str> = self.allow.iter().map(|m| m.as_str()).collect();
        let allow = allow.join(", ");
        let mut pairs = vec![("content-type", "application/json; charset=utf-8"), ("cache-control", "no-store")];
        if !allow.is_empty() {
            pairs.push(("allow", allow.as_str()));
        }
        let rate_headers =
            self.rate.map(|rate| crate::http::rate_limit_headers(&rate, self.code == ErrorCode::RateLimited));
        for (name, value) in rate_headers.iter().flatten() {
            pairs.push((name, value.as_str()));
        }
        for (name, value) in pairs {
            // These are valid header names and values; a failure here would only
            // drop the header, never the answer.
            let _ = headers.set(name, value);
        }
        ResponseBuilder::new().with_status(status).with_headers(headers).fixed(bytes)
    }
}

impl From<GateError> for ApiError {
    fn from(error: GateError) -> Self {
        let rate = match &error {
            GateError::RateLimited(rate) => Some(*rate),
            _ => None,
        };
        let mut api = ApiError::new(error.code(), error.to_string());
        api.rate = rate;
        api
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::new(refusal.code(), refusal.to_string())
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::invalid_request(error.to_string())
    }
}

/// For objects, whose handlers return `worker::Result`: the error as text.
pub fn api_to_worker(error: ApiError) -> worker::Error {
    worker::Error::from(format!("{error:?}"))
}

impl From<worker::Error> for ApiError {
    fn from(error: worker::Error) -> Self {
        ApiError::internal(error.to_string())
    }
}
