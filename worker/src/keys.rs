//! Partner key records in KV (read-mostly state), under `partner-key:{key_id}`.
//! Each value is the sealed record; its KV metadata is the client view, so
//! listing needs no second read per key.

use partner_edge::partner::{demo_key, KeyId, PartnerKeyOut, PartnerKeyRecord, DEMO_KEY_ID};
use worker::{kv::KvStore, Env};

use crate::error::ApiError;
use crate::http::random_bytes;
use crate::{bindings, config};

const PREFIX: &str = "partner-key:";

fn store(env: &Env) -> Result<KvStore, ApiError> {
    env.kv(bindings::KV).map_err(|e| ApiError::internal(format!("KV binding {}: {e}", bindings::KV)))
}

fn kv_error(action: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("KV {action} failed: {error}"))
}

pub async fn load(env: &Env, key_id: &KeyId) -> Result<Option<PartnerKeyRecord>, ApiError> {
    let text = store(env)?.get(&format!("{PREFIX}{key_id}")).text().await.map_err(|e| kv_error("read", e))?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| ApiError::internal(format!("stored key {key_id} unreadable: {e}")))
    })
    .transpose()
}

/// As [`load`], except that on a local edge (`EDGE_ENV=local`) the published
/// demo key is created on its first use, so the quickstart needs no setup.
pub async fn load_for_gate(env: &Env, key_id: &KeyId, now: u64) -> Result<Option<PartnerKeyRecord>, ApiError> {
    let found = load(env, key_id).await?;
    if found.is_some() || key_id.as_str() != DEMO_KEY_ID || !config::is_local(env) {
        return Ok(found);
    }
    let record = demo_key(now, &config::master_key(env)?, random_bytes()?)?;
    save(env, &record).await?;
    Ok(Some(record))
}

pub async fn save(env: &Env, record: &PartnerKeyRecord) -> Result<(), ApiError> {
    let value = serde_json::to_string(record).map_err(|e| ApiError::internal(e.to_string()))?;
    store(env)?
        .put(&format!("{PREFIX}{}", record.key_id), value)
        .map_err(|e| kv_error("write", e))?
        .metadata(record.to_out())
        .map_err(|e| kv_error("write", e))?
        .execute()
        .await
        .map_err(|e| kv_error("write", e))
}

pub async fn delete(env: &Env, key_id: &KeyId) -> Result<(), ApiError> {
    store(env)?.delete(&format!("{PREFIX}{key_id}")).await.map_err(|e| kv_error("delete", e))
}

/// Every key's client view, oldest first.
pub async fn list(env: &Env) -> Result<Vec<PartnerKeyOut>, ApiError> {
    let kv = store(env)?;
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = kv.list().prefix(PREFIX.to_owned());
        if let Some(c) = cursor.take() {
            request = request.cursor(c);
        }
        let page = request.execute().await.map_err(|e| kv_error("list", e))?;
        for key in page.keys {
            if let Some(meta) = key.metadata {
                let out: PartnerKeyOut =
                    serde_json::from_value(meta).map_err(|e| ApiError::internal(format!("{}: {e}", key.name)))?;
                keys.push(out);
            }
        }
        if page.list_complete {
            break;
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    keys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.key_id.as_str().cmp(b.key_id.as_str())));
    Ok(keys)
}
