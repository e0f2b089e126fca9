//! `PartnerGate`: one Durable Object per partner key (named by key id). It
//! owns that key's replay cache, rate-limit windows and idempotency records,
//! and answers each signed request's admission in a single round trip:
//! nonce check, rate-limit take and idempotency reservation together.
//!
//! The decisions are `partner_edge::gate::admit` and `complete`; this object
//! reads and writes SQLite around them. Durable Objects run one request at a
//! time and nothing here awaits between the read and the write, so counts
//! and reservations are exact under any concurrency.

use partner_edge::gate::{
    admit, complete, Admission, AdmissionRequest, Completion, CompletionEffect, GateCommand, IdempotencyRecord,
    IdempotencyState, KeyUsage, RateWindow, ReadDeprecatedUsage,
};
use partner_edge::lifecycle::{day_of, USAGE_DAYS};
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{read_window, reply, serve, sql_int, SchemaOnce};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at)",
    "CREATE TABLE IF NOT EXISTS rate_windows (
        class TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        admitted INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        state TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at)",
    "CREATE TABLE IF NOT EXISTS deprecated_calls (
        deprecation_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        PRIMARY KEY (deprecation_id, day)
    )",
];

#[durable_object]
pub struct PartnerGate {
    state: State,
    sql: SqlStorage,
    schema: SchemaOnce,
    /// Whether this instance knows a purge alarm is set.
    purge_armed: std::cell::Cell<bool>,
    /// The rate windows this instance has read or written. Every write goes
    /// through this one instance (and SQLite first), so the copy is exact;
    /// after a restart it starts empty and reads SQLite again. It saves the
    /// window's `SELECT` on every admission.
    windows: std::cell::RefCell<std::collections::HashMap<String, Option<RateWindow>>>,
}

impl DurableObject for PartnerGate {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        Self {
            state,
            sql,
            schema: SchemaOnce::default(),
            purge_armed: std::cell::Cell::new(false),
            windows: std::cell::RefCell::default(),
        }
    }

    /// Purges what has expired, so a key that goes quiet does not keep its
    /// nonces and stored answers for ever, and re-arms while any remain.
    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        self.purge_armed.set(false);
        let now = sql_int(worker::Date::now().as_millis() / 1000)?;
        self.sql.exec("DELETE FROM nonces WHERE expires_at <= ?", vec![now.clone()])?;
        self.sql.exec("DELETE FROM idempotency WHERE expires_at <= ?", vec![now])?;
        self.arm_purge().await?;
        Response::ok("purged")
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        serve(req, "PartnerGate", |command| async move {
            match command {
                GateCommand::Admit(request) => {
                    let admission = self.admit(&request)?;
                    if !self.purge_armed.get() {
                        self.arm_purge().await?;
                    }
                    reply::<AdmissionRequest>(&admission)
                }
                GateCommand::Complete(completion) => {
                    self.complete(&completion)?;
                    reply::<Completion>(&true)
                }
                GateCommand::DeprecatedUsage(query) => reply::<ReadDeprecatedUsage>(&self.deprecated_usage(query.now)?),
            }
        })
        .await
    }
}

#[derive(Deserialize)]
struct IdempotencyRow {
    fingerprint: String,
    expires_at: i64,
    state: String,
}

impl PartnerGate {
    /// Sets the alarm for the earliest expiry among stored rows, if any.
    async fn arm_purge(&self) -> Result<()> {
        let next = crate::durable::earliest(
            &self.sql,
            "SELECT MIN(at) AS at FROM (SELECT MIN(expires_at) AS at FROM nonces
                UNION ALL SELECT MIN(expires_at) FROM idempotency)",
        )?;
        if let Some(at) = next {
            crate::durable::set_alarm_at(&self.state, at * 1000).await?;
            self.purge_armed.set(true);
        }
        Ok(())
    }

    fn admit(&self, request: &AdmissionRequest) -> Result<Admission> {
        #[derive(Deserialize)]
        struct Seen {
            #[allow(dead_code)]
            seen: i64,
        }

        let now = sql_int(request.now)?;
        // An expired nonce is no longer seen; the purge alarm deletes it
        // later, and recording the nonce again replaces its row.
        let seen = !self
            .sql
            .exec(
                "SELECT 1 AS seen FROM nonces WHERE nonce = ? AND expires_at > ?",
                vec![request.nonce.as_str().into(), now.clone()],
            )?
            .to_array::<Seen>()?
            .is_empty();
        let class = request.rate_class.as_str();
        let known = self.windows.borrow().get(class).copied();
        let window = match known {
            Some(window) => window,
            None => read_window(
                &self.sql,
                "SELECT started_at, admitted FROM rate_windows WHERE class = ?",
                vec![class.into()],
            )?,
        };
        let stored = match &request.idempotency {
            // An expired record counts as absent (`admit` filters it), a new
            // reservation replaces its row, and the purge alarm deletes the rest.
            Some(claim) => self.idempotency_record(claim.key.as_str())?,
            None => None,
        };

        let (admission, effects) = admit(request, seen, window, stored.as_ref());

        if effects.record_nonce {
            self.sql.exec(
                "INSERT OR REPLACE INTO nonces (nonce, expires_at) VALUES (?, ?)",
                vec![request.nonce.as_str().into(), sql_int(request.nonce_expires_at)?],
            )?;
        }
        if let Some(window) = effects.window {
            self.sql.exec(
                "INSERT OR REPLACE INTO rate_windows (class, started_at, admitted) VALUES (?, ?, ?)",
                vec![class.into(), sql_int(window.started_at)?, i64::from(window.admitted).into()],
            )?;
            self.windows.borrow_mut().insert(class.to_owned(), Some(window));
        } else if known.is_none() {
            self.windows.borrow_mut().insert(class.to_owned(), window);
        }
        if let (Some(record), Some(claim)) = (effects.reserve, &request.idempotency) {
            self.store_idempotency(claim.key.as_str(), &record)?;
        }
        let admitted = matches!(admission, Admission::Admitted { .. } | Admission::StoredAnswer { .. });
        if let Some(id) = request.deprecated.as_deref().filter(|_| admitted) {
            let day = day_of(request.now);
            self.sql.exec(
                "INSERT INTO deprecated_calls (deprecation_id, day, calls) VALUES (?, ?, 1)
                 ON CONFLICT (deprecation_id, day) DO UPDATE SET calls = calls + 1",
                vec![id.into(), sql_int(day)?],
            )?;
            self.sql
                .exec("DELETE FROM deprecated_calls WHERE day < ?", vec![sql_int(day.saturating_sub(USAGE_DAYS))?])?;
        }
        Ok(admission)
    }

    fn deprecated_usage(&self, now: u64) -> Result<Vec<KeyUsage>> {
        #[derive(Deserialize)]
        struct Row {
            deprecation_id: String,
            calls: i64,
            last_day: i64,
        }
        let since = day_of(now).saturating_sub(USAGE_DAYS);
        Ok(self
            .sql
            .exec(
                "SELECT deprecation_id, SUM(calls) AS calls, MAX(day) AS last_day FROM deprecated_calls
                 WHERE day >= ? GROUP BY deprecation_id",
                vec![sql_int(since)?],
            )?
            .to_array::<Row>()?
            .into_iter()
            .map(|row| KeyUsage {
                deprecation_id: row.deprecation_id,
                calls: row.calls.unsigned_abs(),
                last_day: row.last_day.unsigned_abs(),
            })
            .collect())
    }

    fn complete(&self, completion: &Completion) -> Result<()> {
        let key = completion.claim.key.as_str();
        let stored = self.idempotency_record(key)?;
        match complete(stored.as_ref(), completion) {
            CompletionEffect::Store(record) => self.store_idempotency(key, &record),
            CompletionEffect::Release => {
                self.sql.exec("DELETE FROM idempotency WHERE key = ?", vec![key.into()])?;
                Ok(())
            }
            CompletionEffect::Ignore => Ok(()),
        }
    }

    fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>> {
        let row = self
            .sql
            .exec("SELECT fingerprint, expires_at, state FROM idempotency WHERE key = ?", vec![key.into()])?
            .to_array::<IdempotencyRow>()?
            .into_iter()
            .next();
        row.map(|row| {
            let state: IdempotencyState =
                serde_json::from_str(&row.state).map_err(|e| worker::Error::from(format!("idempotency row: {e}")))?;
            Ok(IdempotencyRecord { fingerprint: row.fingerprint, expires_at: row.expires_at.unsigned_abs(), state })
        })
        .transpose()
    }

    fn store_idempotency(&self, key: &str, record: &IdempotencyRecord) -> Result<()> {
        let state = serde_json::to_string(&record.state).map_err(|e| worker::Error::from(e.to_string()))?;
        self.sql.exec(
            "INSERT OR REPLACE INTO idempotency (key, fingerprint, expires_at, state) VALUES (?, ?, ?, ?)",
            vec![key.into(), record.fingerprint.as_str().into(), sql_int(record.expires_at)?, state.into()],
        )?;
        Ok(())
    }
}
