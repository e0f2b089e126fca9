//! `ClientRateLimit`: one Durable Object per client IP (named `public:{ip}`),
//! holding that client's window for the public API
//! (`RATE_LIMIT_PUBLIC_API_PER_MIN`, 90 a minute by default). The arithmetic
//! is `partner_edge::gate::take`, the same fixed window partner keys use.

use partner_edge::gate::{take, RateVerdict};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State};

use crate::durable::{read_window, sql_int, SchemaOnce};

const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS rate_window (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    started_at INTEGER NOT NULL,
    admitted INTEGER NOT NULL
)"];

#[derive(Serialize, Deserialize)]
pub struct TakeRequest {
    pub now: u64,
    pub limit: u32,
}

#[derive(Serialize, Deserialize)]
pub struct TakeAnswer {
    pub allowed: bool,
    pub rate: RateVerdict,
}

#[durable_object]
pub struct ClientRateLimit {
    sql: SqlStorage,
    schema: SchemaOnce,
}

impl DurableObject for ClientRateLimit {
    fn new(state: State, _env: Env) -> Self {
        Self { sql: state.storage().sql(), schema: SchemaOnce::default() }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/take") => {
                let request: TakeRequest = req.json().await?;
                Response::from_json(&self.take(&request)?)
            }
            (method, path) => Response::error(format!("ClientRateLimit has no {method} {path}"), 404),
        }
    }
}

impl ClientRateLimit {
    fn take(&self, request: &TakeRequest) -> Result<TakeAnswer> {
        let window = read_window(&self.sql, "SELECT started_at, admitted FROM rate_window WHERE id = 1", vec![])?;
        let (window, rate, allowed) = take(window, request.now, request.limit);
        self.sql.exec(
            "INSERT OR REPLACE INTO rate_window (id, started_at, admitted) VALUES (1, ?, ?)",
            vec![sql_int(window.started_at)?, i64::from(window.admitted).into()],
        )?;
        Ok(TakeAnswer { allowed, rate })
    }
}
