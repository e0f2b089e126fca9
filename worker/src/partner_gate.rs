//! `PartnerGate`: one Durable Object per partner key (named by key id). It
//! owns that key's replay cache and rate-limit window, and answers each
//! signed request's admission in a single round trip.
//!
//! The decision is `partner_edge::gate::admit`; this object reads and writes
//! SQLite around it. Durable Objects run one request at a time and nothing
//! here awaits between the read and the write, so counts are exact under
//! any concurrency.

use partner_edge::gate::{admit, Admission, AdmissionRequest, RateWindow};
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State};

use crate::durable::SchemaOnce;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at)",
    "CREATE TABLE IF NOT EXISTS rate_window (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        started_at INTEGER NOT NULL,
        admitted INTEGER NOT NULL
    )",
];

#[durable_object]
pub struct PartnerGate {
    sql: SqlStorage,
    schema: SchemaOnce,
}

impl DurableObject for PartnerGate {
    fn new(state: State, _env: Env) -> Self {
        Self { sql: state.storage().sql(), schema: SchemaOnce::default() }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/admit") => {
                let request: AdmissionRequest = req.json().await?;
                Response::from_json(&self.admit(&request)?)
            }
            (method, path) => Response::error(format!("PartnerGate has no {method} {path}"), 404),
        }
    }
}

fn sql_int(value: u64) -> Result<worker::SqlStorageValue> {
    i64::try_from(value).map(Into::into).map_err(|_| worker::Error::from("value out of SQLite's range"))
}

impl PartnerGate {
    fn admit(&self, request: &AdmissionRequest) -> Result<Admission> {
        #[derive(Deserialize)]
        struct Seen {
            #[allow(dead_code)]
            seen: i64,
        }
        #[derive(Deserialize)]
        struct WindowRow {
            started_at: i64,
            admitted: i64,
        }

        self.sql.exec("DELETE FROM nonces WHERE expires_at <= ?", vec![sql_int(request.now)?])?;
        let seen = !self
            .sql
            .exec("SELECT 1 AS seen FROM nonces WHERE nonce = ?", vec![request.nonce.as_str().into()])?
            .to_array::<Seen>()?
            .is_empty();
        let window = self
            .sql
            .exec("SELECT started_at, admitted FROM rate_window WHERE id = 1", None)?
            .to_array::<WindowRow>()?
            .into_iter()
            .next()
            .map(|row| RateWindow {
                started_at: row.started_at.unsigned_abs(),
                admitted: u32::try_from(row.admitted).unwrap_or(u32::MAX),
            });

        let (admission, effects) = admit(request, seen, window);

        if effects.record_nonce {
            self.sql.exec(
                "INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)",
                vec![request.nonce.as_str().into(), sql_int(request.nonce_expires_at)?],
            )?;
        }
        if let Some(window) = effects.window {
            self.sql.exec(
                "INSERT OR REPLACE INTO rate_window (id, started_at, admitted) VALUES (1, ?, ?)",
                vec![sql_int(window.started_at)?, i64::from(window.admitted).into()],
            )?;
        }
        Ok(admission)
    }
}
