//! Dispatch: the shared route table says which route a request line is, and
//! this exhaustive `match` says which handler serves it. A route added to the
//! table without a handler here does not compile.

use partner_edge::api::RequestId;
use partner_edge::routes::{match_route, PathParams, RouteId, RouteMatch};
use worker::{Env, Request, Response, ResponseBuilder};

use crate::error::ApiError;
use crate::http::now_ms;
use crate::routes::{docs, status};

/// What every handler gets besides the request.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub request_id: &'a RequestId,
    #[allow(dead_code)] // read by the first route with a path parameter
    pub params: PathParams<'a>,
    /// Unix milliseconds when the request arrived.
    pub now_ms: u64,
}

pub async fn dispatch(req: Request, env: &Env, request_id: &RequestId) -> Result<Response, ApiError> {
    let url = req.url()?;
    let method = req.method().to_string();
    let path = url.path();

    let (id, params) = match match_route(&method, path) {
        RouteMatch::Found { id, params } => (id, params),
        RouteMatch::MethodNotAllowed { allow } => return Err(ApiError::method_not_allowed(&method, path, allow)),
        RouteMatch::NotFound => return Err(ApiError::not_found(&method, path)),
    };
    let edge = Edge { env, request_id, params, now_ms: now_ms() };

    let response = match id {
        RouteId::PublicHealth => status::health(req, edge).await?,
        RouteId::OpenApiDocument => docs::openapi(req, edge)?,
    };

    Ok(if method == "HEAD" { without_body(response) } else { response })
}

/// HEAD answers carry the GET answer's status and headers, and no body.
fn without_body(response: Response) -> Response {
    ResponseBuilder::new().with_status(response.status_code()).with_headers(response.headers().clone()).empty()
}
