//! Operator API for partner keys. The router has already checked
//! `X-Admin-Key` (see [`authorize`]) before any handler here runs.

use partner_edge::error::ErrorCode;
use partner_edge::partner::{
    KeyId, KeyMaterial, PartnerKeyIn, PartnerKeyPatch, PartnerKeyRecord, PartnerKeyWithSecret,
};
use partner_edge::signing::secrets_equal;
use worker::{Env, Response};

use crate::error::ApiError;
use crate::http::{json_body, now_secs, random_bytes, success, Incoming};
use crate::router::Edge;
use crate::{config, keys, public_limit};

pub const ADMIN_HEADER: &str = "X-Admin-Key";

/// Compares `X-Admin-Key` with the `ADMIN_API_KEY` secret in constant time.
///
/// The admin API stays off (503) while the key is unset, or, outside
/// `EDGE_ENV=local`, shorter than 32 characters. A client that has failed
/// `ADMIN_AUTH_FAILURES_PER_MIN` times this minute is refused (429) before
/// its key is even compared, so the key cannot be guessed at speed.
pub async fn authorize(req: &Incoming, env: &Env, now_secs: u64) -> Result<(), ApiError> {
    let expected = config::lookup(env, "ADMIN_API_KEY")
        .ok_or_else(|| ApiError::new(ErrorCode::NotConfigured, "the admin API is off: ADMIN_API_KEY is not set"))?;
    if !config::is_local(env) && expected.chars().count() < config::ADMIN_KEY_MIN_CHARS {
        return Err(ApiError::new(
            ErrorCode::NotConfigured,
            format!(
                "the admin API is off: ADMIN_API_KEY is shorter than {} characters; set a strong one with \
                 `openssl rand -hex 32 | npx wrangler secret put ADMIN_API_KEY`",
                config::ADMIN_KEY_MIN_CHARS
            ),
        ));
    }
    let limit = config::admin_failures_per_min(env)?;
    let window_secs = config::gate(env)?.rate_window_secs;
    let failures = || public_limit::client_window(req, env, "admin-auth-failures");
    public_limit::refuse_if_spent(failures()?, now_secs, limit, window_secs).await?;
    let presented = req.headers().get(ADMIN_HEADER)?.unwrap_or_default();
    if presented.is_empty() || !secrets_equal(&presented, &expected) {
        public_limit::take_from(failures()?, now_secs, limit, window_secs).await?;
        return Err(ApiError::new(ErrorCode::Unauthorized, format!("{ADMIN_HEADER} is missing or wrong")));
    }
    Ok(())
}

fn key_id_param(edge: &Edge<'_>) -> Result<KeyId, ApiError> {
    let raw = edge.params.get("key_id").unwrap_or_default();
    KeyId::parse(raw).map_err(|_| ApiError::new(ErrorCode::NotFound, format!("no partner key {raw}")))
}

async fn existing(edge: &Edge<'_>) -> Result<PartnerKeyRecord, ApiError> {
    let key_id = key_id_param(edge)?;
    keys::load(edge.env, &key_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no partner key {key_id}")))
}

pub async fn create(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let request: PartnerKeyIn = json_body(&edge.body)?;
    let master = config::master_key(edge.env)?;
    let material =
        KeyMaterial { id_bytes: random_bytes()?, secret_bytes: random_bytes()?, seal_nonce: random_bytes()? };
    let (record, secret) = request.mint(now_secs(edge.now_ms), &master, material)?;
    keys::save(edge.env, &record).await?;
    success(201, PartnerKeyWithSecret { key: record.to_out(), secret: secret.expose().to_owned() })
}

pub async fn list(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    success(200, keys::list(edge.env).await?)
}

pub async fn get(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    success(200, existing(&edge).await?.to_out())
}

pub async fn patch(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let changes: PartnerKeyPatch = json_body(&edge.body)?;
    let mut record = existing(&edge).await?;
    changes.apply(&mut record)?;
    keys::save(edge.env, &record).await?;
    success(200, record.to_out())
}

pub async fn delete(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let record = existing(&edge).await?;
    keys::delete(edge.env, &record.key_id).await?;
    success(200, record.to_out())
}

pub async fn rotate_secret(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut record = existing(&edge).await?;
    let master = config::master_key(edge.env)?;
    let overlap = config::rotation_overlap_secs(edge.env)?;
    let secret = record.rotate(now_secs(edge.now_ms), overlap, &master, random_bytes()?, random_bytes()?);
    keys::save(edge.env, &record).await?;
    success(200, PartnerKeyWithSecret { key: record.to_out(), secret: secret.expose().to_owned() })
}
