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
    admission_kept_until, admit, complete, restored_window, window_start, Admission, AdmissionRequest, Completion,
    CompletionEffect, GateCommand, IdempotencyRecord, IdempotencyState, KeyUsage, RateWindow, ReadDeprecatedUsage,
};
use partner_edge::lifecycle::{day_of, USAGE_DAYS};
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{parse_message, read_window, reply_text, rpc_only, sql_int, SchemaOnce};

const SCHEMA: &[&str] = &[
    // One row per admitted request: its nonce (a replay is refused while the
    // row lasts) and what rate window it counted in (so the window can be
    // counted again after a restart). Kept until `admission_kept_until`.
    "CREATE TABLE IF NOT EXISTS admissions (
        nonce TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        class TEXT NOT NULL,
        admitted_at INTEGER NOT NULL
    )",
    // The older layout kept nonces and windows apart: its nonces move over
    // (counting in no window), and its windows are read once, on restore.
    "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO admissions (nonce, expires_at, class, admitted_at)
        SELECT nonce, expires_at, '', 0 FROM nonces",
    "DROP INDEX IF EXISTS nonces_by_expiry",
    "DELETE FROM nonces",
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

crate::durable::object_over_state! {
    /// The object. Its state sits behind an `Rc`, so a command can hold the
    /// object past the call that started it and the common admission (no
    /// I/O) is answered on the spot (`commands_over_rpc!(polled_first …)`).
    PartnerGate => GateState
}

/// What a `PartnerGate` holds.
pub struct GateState {
    state: State,
    sql: SqlStorage,
    schema: SchemaOnce,
    /// Whether this instance knows a purge alarm is set.
    purge_armed: std::cell::Cell<bool>,
    /// The current rate window per class. Every admission goes through this
    /// one instance and leaves its row in `admissions` first, so the count
    /// is exact; after a restart it is counted again from those rows.
    windows: std::cell::RefCell<std::collections::HashMap<String, RateWindow>>,
}

impl DurableObject for PartnerGate {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        Self(std::rc::Rc::new(GateState {
            state,
            sql,
            schema: SchemaOnce::default(),
            purge_armed: std::cell::Cell::new(false),
            windows: std::cell::RefCell::default(),
        }))
    }

    /// Purges what has expired, so a key that goes quiet does not keep its
    /// nonces and stored answers for ever, and re-arms while any remain.
    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        self.purge_armed.set(false);
        let now = sql_int(crate::http::now_ms() / 1000)?;
        self.sql.exec("DELETE FROM admissions WHERE expires_at <= ?", vec![now.clone()])?;
        self.sql.exec("DELETE FROM idempotency WHERE expires_at <= ?", vec![now])?;
        self.arm_purge().await?;
        Response::ok("purged")
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("PartnerGate")
    }
}

crate::durable::commands_over_rpc!(polled_first PartnerGate);

#[derive(Deserialize)]
struct IdempotencyRow {
    fingerprint: String,
    expires_at: i64,
    state: String,
}

impl PartnerGate {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let command: GateCommand = parse_message("PartnerGate", message)?;
        match command {
            GateCommand::Admit(request) => {
                let admission = self.admit(&request)?;
                if !self.purge_armed.get() {
                    self.arm_purge().await?;
                }
                reply_text::<AdmissionRequest>(&admission)
            }
            GateCommand::Complete(completion) => {
                self.complete(&completion)?;
                reply_text::<Completion>(&true)
            }
            GateCommand::DeprecatedUsage(query) => {
                reply_text::<ReadDeprecatedUsage>(&self.deprecated_usage(query.now)?)
            }
        }
    }

    /// Sets the alarm for the earliest expiry among stored rows, if any.
    async fn arm_purge(&self) -> Result<()> {
        let next = crate::durable::earliest(
            &self.sql,
            "SELECT MIN(at) AS at FROM (SELECT MIN(expires_at) AS at FROM admissions
                UNION ALL SELECT MIN(expires_at) FROM idempotency)",
        )?;
        if let Some(at) = next {
            crate::durable::set_alarm_at(&self.state, at * 1000).await?;
            self.purge_armed.set(true);
        }
        Ok(())
    }

    /// One admission. On the common path (a fresh nonce within the limit)
    /// this is one indexed write and no read: the rate window is in memory,
    /// and recording the nonce is the replay check. Reads happen only for a
    /// mutation's idempotency record, on a refusal (to tell a replay from a
    /// rate or scope refusal), and on the first request after a restart.
    fn admit(&self, request: &AdmissionRequest) -> Result<Admission> {
        let class = request.rate_class.as_str();
        let window = self.window(class, request)?;
        // Decided as if the nonce were fresh and the idempotency key free;
        // the writes below settle both.
        let (mut admission, effects) = admit(request, false, Some(window), None);
        if !effects.record_nonce {
            // Refused for its scope or rate, so nothing is recorded; a replay
            // is still answered as one.
            return Ok(if self.nonce_seen(request)? { Admission::NonceReused } else { admission });
        }
        if !self.record_admission(request)? {
            return Ok(Admission::NonceReused);
        }
        if let (Some(record), Some(claim)) = (&effects.reserve, &request.idempotency) {
            let key = claim.key.as_str();
            if !self.reserve_if_free(key, record, request.now)? {
                // The key is held: decide again with its record. Scope, rate
                // and nonce came first and stand as decided.
                let stored = self.idempotency_record(key)?;
                let (again, effects) = admit(request, false, Some(window), stored.as_ref());
                admission = again;
                if let Some(record) = effects.reserve {
                    self.store_idempotency(key, &record)?;
                }
            }
        }
        if let Some(window) = effects.window {
            self.windows.borrow_mut().insert(class.to_owned(), window);
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

    /// The class's window: from memory (`take` starts a new one when it is
    /// over: this instance has seen every admission since), or counted again
    /// from the stored admissions when this instance has not seen the class.
    fn window(&self, class: &str, request: &AdmissionRequest) -> Result<RateWindow> {
        if let Some(window) = self.windows.borrow().get(class) {
            return Ok(*window);
        }
        let start = window_start(request.now, request.rate_window_secs);
        #[derive(Deserialize)]
        struct Count {
            admitted: i64,
        }
        let admitted = self
            .sql
            .exec(
                "SELECT COUNT(*) AS admitted FROM admissions WHERE class = ? AND admitted_at >= ?",
                vec![class.into(), sql_int(start)?],
            )?
            .one::<Count>()?
            .admitted;
        let carried = read_window(
            &self.sql,
            "SELECT started_at, admitted FROM rate_windows WHERE class = ?",
            vec![class.into()],
        )?;
        let window = restored_window(request.now, request.rate_window_secs, admitted.unsigned_abs(), carried);
        self.windows.borrow_mut().insert(class.to_owned(), window);
        Ok(window)
    }

    /// Records an admitted request's nonce; `false` when the nonce is already
    /// recorded and unexpired (a replay). An expired row is taken over.
    fn record_admission(&self, request: &AdmissionRequest) -> Result<bool> {
        let fresh = self.sql.exec(
            "INSERT INTO admissions (nonce, expires_at, class, admitted_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (nonce) DO UPDATE SET
                expires_at = excluded.expires_at, class = excluded.class, admitted_at = excluded.admitted_at
             WHERE admissions.expires_at <= excluded.admitted_at",
            vec![
                request.nonce.as_str().into(),
                sql_int(admission_kept_until(request))?,
                request.rate_class.as_str().into(),
                sql_int(request.now)?,
            ],
        )?;
        // A nonce still held makes the upsert a no-op: nothing written.
        Ok(fresh.rows_written() > 0)
    }

    fn nonce_seen(&self, request: &AdmissionRequest) -> Result<bool> {
        let rows = self.sql.exec(
            "SELECT 1 AS seen FROM admissions WHERE nonce = ? AND expires_at > ?",
            vec![request.nonce.as_str().into(), sql_int(request.now)?],
        )?;
        Ok(!rows.to_array::<serde_json::Value>()?.is_empty())
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

    /// Writes the reservation unless the key holds an unexpired record;
    /// `false` when it does (then nothing was written).
    fn reserve_if_free(&self, key: &str, record: &IdempotencyRecord, now: u64) -> Result<bool> {
        let state = serde_json::to_string(&record.state).map_err(|e| worker::Error::from(e.to_string()))?;
        let written = self.sql.exec(
            "INSERT INTO idempotency (key, fingerprint, expires_at, state) VALUES (?, ?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET
                fingerprint = excluded.fingerprint, expires_at = excluded.expires_at, state = excluded.state
             WHERE idempotency.expires_at <= ?",
            vec![
                key.into(),
                record.fingerprint.as_str().into(),
                sql_int(record.expires_at)?,
                state.into(),
                sql_int(now)?,
            ],
        )?;
        // A key still held makes the upsert a no-op: nothing written.
        Ok(written.rows_written() > 0)
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
