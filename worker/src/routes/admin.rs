//! Operator API for partner keys. The router has already checked
//! `X-Admin-Key` (see [`authorize`]) before any handler here runs.

use partner_edge::error::ErrorCode;
use partner_edge::partner::{
    KeyId, KeyMaterial, PartnerKeyIn, PartnerKeyPatch, PartnerKeyRecord, PartnerKeyWithSecret,
};
use partner_edge::signing::secrets_equal;
use worker::{Env, Request, Response};

use crate::error::ApiError;
use crate::http::{json_body, now_secs, random_bytes, success};
use crate::router::Edge;
use crate::{config, keys};

pub const ADMIN_HEADER: &str = "X-Admin-Key";

/// Compares `X-Admin-Key` with the `ADMIN_API_KEY` secret in constant time.
pub fn authorize(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = config::lookup(env, "ADMIN_API_KEY")
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the admin API is off: ADMIN_API_KEY is not set"))?;
    let presented = req.headers().get(ADMIN_HEADER)?.unwrap_or_default();
    if presented.is_empty() || !secrets_equal(&presented, &expected) {
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

pub async fn create(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    let request: PartnerKeyIn = json_body(&edge.body)?;
    let master = config::master_key(edge.env)?;
    let material =
        KeyMaterial { id_bytes: random_bytes()?, secret_bytes: random_bytes()?, seal_nonce: random_bytes()? };
    let (record, secret) = request.mint(now_secs(edge.now_ms), &master, material)?;
    keys::save(edge.env, &record).await?;
    success(201, PartnerKeyWithSecret { key: record.to_out(), secret: secret.expose().to_owned() })
}

pub async fn list(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    success(200, keys::list(edge.env).await?)
}

pub async fn get(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    success(200, existing(&edge).await?.to_out())
}

pub async fn patch(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    let changes: PartnerKeyPatch = json_body(&edge.body)?;
    let mut record = existing(&edge).await?;
    changes.apply(&mut record)?;
    keys::save(edge.env, &record).await?;
    success(200, record.to_out())
}

pub async fn delete(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    let record = existing(&edge).await?;
    keys::delete(edge.env, &record.key_id).await?;
    success(200, record.to_out())
}

pub async fn rotate_secret(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    let mut record = existing(&edge).await?;
    let master = config::master_key(edge.env)?;
    let overlap = config::rotation_overlap_secs(edge.env)?;
    let secret = record.rotate(now_secs(edge.now_ms), overlap, &master, random_bytes()?, random_bytes()?);
    keys::save(edge.env, &record).await?;
    success(200, PartnerKeyWithSecret { key: record.to_out(), secret: secret.expose().to_owned() })
}
