//! The seed's small public routes: the quickstart key check, the
//! strict-validation canary, aggregate figures and the latest anonymised
//! sandbox activity.

use partner_edge::partner::KeyId;
use partner_edge::public::{check_key, CanaryEcho, CanaryIn, ReadLatest, ReadStats, DEMO_KEY_ALIAS};
use worker::{Env, Response};

use crate::error::ApiError;
use crate::http::{json_body, now_secs, query_pairs, success, Incoming};
use crate::router::Edge;
use crate::{bindings, config, keys};

/// The global `PublicActivity` object.
pub fn activity(env: &Env) -> Result<worker::Stub, ApiError> {
    Ok(bindings::stub(env, bindings::PUBLIC_ACTIVITY, "global")?)
}

/// `GET /api/public/quickstart/verify-key?api_key=&client=`.
pub async fn verify_key(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut api_key = None;
    let mut client = "cli".to_owned();
    for (name, value) in query_pairs(req)? {
        match name.as_str() {
            "api_key" if (1..=256).contains(&value.chars().count()) => api_key = Some(value),
            "api_key" => return Err(ApiError::invalid_request("api_key: must be 1 to 256 characters")),
            "client" if partner_edge::contract::is_client(&value) => client = value,
            "client" => return Err(ApiError::invalid_request("client: must be 1 to 32 of a-z 0-9 _ -")),
            other => return Err(ApiError::invalid_request(format!("query: unknown parameter `{other}`"))),
        }
    }
    let api_key = api_key.ok_or_else(|| ApiError::invalid_request("api_key: the query parameter is required"))?;
    let resolved = if api_key == DEMO_KEY_ALIAS { partner_edge::partner::DEMO_KEY_ID } else { api_key.as_str() };
    let record = match KeyId::parse(resolved) {
        Ok(key_id) => keys::load(edge.env, &key_id).await?,
        Err(_) => None,
    };
    let check = check_key(&api_key, &client, record.as_ref(), config::is_local(edge.env), now_secs(edge.now_ms));
    success(200, check)
}

/// `POST /api/canary/echo`.
pub fn canary_echo(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let input: CanaryIn = json_body(&edge.body)?;
    input.validate()?;
    success(
        200,
        CanaryEcho {
            message: input.message,
            request_id: input.request_id,
            edge_request_id: edge.request_id.as_str().to_owned(),
            strict_validation: true,
        },
    )
}

/// `GET /api/public-stats`.
pub async fn stats(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut stats = crate::durable::send(activity(edge.env)?, ReadStats {}).await?;
    stats.partner_keys = keys::list(edge.env).await?.len() as u64;
    success(200, stats)
}

/// `GET /api/transactions/latest?limit=`.
pub async fn latest(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut limit = 20;
    for (name, value) in query_pairs(req)? {
        match name.as_str() {
            "limit" => {
                limit = partner_edge::api::parse_page_limit(&value)
                    .ok()
                    .filter(|l| u64::from(*l) <= partner_edge::public::LATEST_KEPT)
                    .ok_or_else(|| ApiError::invalid_request("limit: must be 1 to 100"))?;
            }
            other => return Err(ApiError::invalid_request(format!("query: unknown parameter `{other}`"))),
        }
    }
    success(200, crate::durable::send(activity(edge.env)?, ReadLatest { limit }).await?)
}
