//! Partner key records in KV (read-mostly state), under `partner-key:{key_id}`.
//! Each value is the sealed record; its KV metadata is the client view, so
//! listing needs no second read per key.

use std::cell::RefCell;
use std::collections::HashMap;

use partner_edge::partner::{demo_key, KeyId, PartnerKeyOut, PartnerKeyRecord, Secret, DEMO_KEY_ID};
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

/// A key record the gate read recently, and the secrets it has unsealed.
struct Cached {
    until_ms: u64,
    record: PartnerKeyRecord,
    /// Sealed text -> the secret it opens to.
    unsealed: HashMap<String, Secret>,
}

/// At most this many keys are held; past it the cache starts over.
const CACHED_KEYS: usize = 1_000;

thread_local! {
    /// Verified key records per isolate, for `KEY_CACHE_SECONDS` (30 s by
    /// default; KV itself may take up to 60 s to show a change everywhere).
    /// A save or delete in this isolate drops the entry at once.
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
}

fn forget(key_id: &KeyId) {
    CACHE.with_borrow_mut(|cache| cache.remove(key_id.as_str()));
}

/// As [`load`], except that on a local edge (`EDGE_ENV=local`) the published
/// demo key is created on its first use, so the quickstart needs no setup,
/// and that a record read in the last `KEY_CACHE_SECONDS` is served from
/// this isolate's memory.
pub async fn load_for_gate(env: &Env, key_id: &KeyId, now: u64) -> Result<Option<PartnerKeyRecord>, ApiError> {
    let now_ms = now * 1000;
    let cached =
        CACHE.with_borrow(|cache| cache.get(key_id.as_str()).filter(|c| c.until_ms > now_ms).map(|c| c.record.clone()));
    if cached.is_some() {
        return Ok(cached);
    }
    let found = match load(env, key_id).await? {
        Some(record) => Some(record),
        None if key_id.as_str() == DEMO_KEY_ID && config::is_local(env) => {
            let record = demo_key(now, &config::master_key(env)?, random_bytes()?)?;
            save(env, &record).await?;
            Some(record)
        }
        None => None,
    };
    let ttl_ms = config::key_cache_secs(env)? * 1000;
    if let (Some(record), true) = (&found, ttl_ms > 0) {
        CACHE.with_borrow_mut(|cache| {
            if cache.len() >= CACHED_KEYS {
                cache.clear();
            }
            cache.insert(
                key_id.as_str().to_owned(),
                Cached { until_ms: now_ms + ttl_ms, record: record.clone(), unsealed: HashMap::new() },
            );
        });
    }
    Ok(found)
}

/// Opens `sealed` (a secret of `key_id`) with `master`, or returns the secret
/// this isolate opened before for the cached record.
pub fn unseal(
    master: &partner_edge::partner::MasterKey,
    key_id: &KeyId,
    sealed: &str,
) -> Result<Secret, partner_edge::partner::SealError> {
    let known = CACHE.with_borrow(|cache| cache.get(key_id.as_str()).and_then(|c| c.unsealed.get(sealed).cloned()));
    if let Some(secret) = known {
        return Ok(secret);
    }
    let secret = master.open(key_id, sealed)?;
    CACHE.with_borrow_mut(|cache| {
        if let Some(cached) = cache.get_mut(key_id.as_str()) {
            cached.unsealed.insert(sealed.to_owned(), secret.clone());
        }
    });
    Ok(secret)
}

pub async fn save(env: &Env, record: &PartnerKeyRecord) -> Result<(), ApiError> {
    forget(&record.key_id);
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
    forget(key_id);
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
