//! Dispatch: the shared route table says which route a request line is and
//! who may call it; this module enforces that access, then an exhaustive
//! `match` picks the handler. A route added to the table without a handler
//! does not compile, and no handler can forget its access check.

use partner_edge::api::RequestId;
use partner_edge::gate::{self, GateConfig};
use partner_edge::routes::{match_route, Access, PathParams, RouteId, RouteMatch};
use worker::{Env, Request, Response, ResponseBuilder};

use crate::config;
use crate::error::ApiError;
use crate::gate::{verify_partner_request, GateInput, VerifiedPartner};
use crate::http::{now_ms, now_secs, with_rate};
use crate::routes::{admin, docs, partner, status};

/// What every handler gets besides the request.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub request_id: &'a RequestId,
    pub params: PathParams<'a>,
    /// Unix milliseconds when the request arrived.
    pub now_ms: u64,
    /// The raw body, read once and within the size limit.
    pub body: Vec<u8>,
    /// Set on partner routes: the key that signed the request.
    pub partner: Option<VerifiedPartner>,
}

pub async fn dispatch(mut req: Request, env: &Env, request_id: &RequestId) -> Result<Response, ApiError> {
    let url = req.url()?;
    let method = req.method().to_string();
    let path = url.path();

    let (id, params) = match match_route(&method, path) {
        RouteMatch::Found { id, params } => (id, params),
        RouteMatch::MethodNotAllowed { allow } => return Err(ApiError::method_not_allowed(&method, path, allow)),
        RouteMatch::NotFound => return Err(ApiError::not_found(&method, path)),
    };
    let now_ms = now_ms();
    let gate_config = config::gate(env)?;
    let body = read_body(&mut req, &gate_config).await?;

    let partner = match id.route().access {
        Access::Public => None,
        Access::Admin => {
            admin::authorize(&req, env)?;
            None
        }
        Access::Partner(scope) => {
            let path_and_query = &url[url::Position::BeforePath..];
            let input = GateInput {
                method: &method,
                path_and_query,
                body: &body,
                now_secs: now_secs(now_ms),
                scope,
                config: &gate_config,
            };
            Some(verify_partner_request(&req, env, input).await?)
        }
    };
    let rate = partner.as_ref().map(|p| p.rate);
    let edge = Edge { env, request_id, params, now_ms, body, partner };

    let result = match id {
        RouteId::PublicHealth => status::health(req, edge).await,
        RouteId::OpenApiDocument => docs::openapi(req, edge),
        RouteId::ErrorCatalogue => docs::error_catalogue(req, edge),
        RouteId::CreatePartnerKey => admin::create(req, edge).await,
        RouteId::ListPartnerKeys => admin::list(req, edge).await,
        RouteId::GetPartnerKey => admin::get(req, edge).await,
        RouteId::PatchPartnerKey => admin::patch(req, edge).await,
        RouteId::DeletePartnerKey => admin::delete(req, edge).await,
        RouteId::RotatePartnerKeySecret => admin::rotate_secret(req, edge).await,
        RouteId::PartnerMe => partner::me(req, edge).await,
    };
    let response = match (result, rate) {
        (Ok(response), Some(rate)) => with_rate(response, &rate)?,
        (Err(error), Some(rate)) => return Err(error.with_rate(rate)),
        (result, None) => result?,
    };

    Ok(if method == "HEAD" { without_body(response) } else { response })
}

/// Reads the body, refusing it (413) once it is over the limit. A declared
/// Content-Length over the limit is refused before anything is read. Every
/// route goes through here, so the gate need not check the size again.
async fn read_body(req: &mut Request, limit: &GateConfig) -> Result<Vec<u8>, ApiError> {
    let declared = req.headers().get("content-length")?.and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(size) = declared {
        gate::check_body_size(size, limit)?;
    }
    let body = req.bytes().await.map_err(|e| ApiError::invalid_request(format!("unreadable body: {e}")))?;
    gate::check_body_size(body.len(), limit)?;
    Ok(body)
}

/// HEAD answers carry the GET answer's status and headers, and no body.
fn without_body(response: Response) -> Response {
    ResponseBuilder::new().with_status(response.status_code()).with_headers(response.headers().clone()).empty()
}
