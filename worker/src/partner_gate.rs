//! A key's gate state: its replay cache, rate-limit windows, idempotency
//! records and deprecated-route counts. [`GateStore`] keeps them in the
//! key's object (`PartnerSandbox`, one per key, which also holds the key's
//! sandbox) and answers each signed request's admission in that object's
//! one round trip: nonce check, rate-limit take and idempotency reservation
//! together, and for a credit or debit the entry as well.
//!
//! The decisions are `partner_edge::gate::admit` and `complete`; the store
//! reads and writes SQLite around them. Durable Objects run one request at
//! a time and nothing here awaits between the read and the write, so counts
//! and reservations are exact under any concurrency.
//!
//! Earlier versions kept this state in a `PartnerGate` object of its own
//! per key. That object remains only to hand its state over
//! ([`PartnerGate`], [`GateStore::import`]).

use partner_edge::gate::{
    admission_kept_until, admit, complete, next_purge_at, restored_window, window_start, Admission, AdmissionRequest,
    Completion, CompletionEffect, ExportGateState, GateStatePage, IdempotencyRecord, IdempotencyState, KeyUsage,
    RateWindow, RetiredGateCommand, TablePage,
};
use partner_edge::lifecycle::{day_of, USAGE_DAYS};
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{parse_message, read_window, reply_text, rpc_only, sql_int};

/// The admissions and idempotency tables, as the earlier object created
/// them; the key's object creates them keyed once (`WITHOUT ROWID`).
macro_rules! admissions_table {
    () => {
        "CREATE TABLE IF NOT EXISTS admissions (
        nonce TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        class TEXT NOT NULL,
        admitted_at INTEGER NOT NULL
    )"
    };
}

macro_rules! idempotency_table {
    () => {
        "CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        state TEXT NOT NULL
    )"
    };
}

const RATE_WINDOWS: &str = "CREATE TABLE IF NOT EXISTS rate_windows (
    class TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    admitted INTEGER NOT NULL
)";

const DEPRECATED_CALLS: &str = "CREATE TABLE IF NOT EXISTS deprecated_calls (
    deprecation_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (deprecation_id, day)
)";

/// The gate's tables, in the key's object.
pub const SCHEMA: &[&str] = &[
    // One row per admitted request: its nonce (a replay is refused while the
    // row lasts) and what rate window it counted in (so the window can be
    // counted again after a restart). Kept until `admission_kept_until`.
    // Keyed by the nonce alone (`WITHOUT ROWID`): an admission writes one
    // b-tree, not a table and an index.
    concat!(admissions_table!(), " WITHOUT ROWID"),
    // Windows carried over from an earlier layout, read once, on restore.
    RATE_WINDOWS,
    concat!(idempotency_table!(), " WITHOUT ROWID"),
    "CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at)",
    DEPRECATED_CALLS,
    // One row once the earlier layout's state has been read in (`GateStore::import`).
    "CREATE TABLE IF NOT EXISTS gate_imported (at INTEGER NOT NULL)",
];

/// The schema of the earlier, separate `PartnerGate` object, which also
/// moves that object's oldest layout (nonces apart from windows) forward
/// before its state is handed over.
const RETIRED_SCHEMA: &[&str] = &[
    admissions_table!(),
    "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO admissions (nonce, expires_at, class, admitted_at)
        SELECT nonce, expires_at, '', 0 FROM nonces",
    "DELETE FROM nonces",
    RATE_WINDOWS,
    idempotency_table!(),
    DEPRECATED_CALLS,
    // Set once the state has been handed over: the object admits nothing since.
    "CREATE TABLE IF NOT EXISTS retired (at INTEGER NOT NULL)",
];

/// A key's gate state, over the key's object's SQLite.
pub struct GateStore {
    sql: SqlStorage,
    /// The current rate window per class. Every admission goes through this
    /// one instance and leaves its row in `admissions` first, so the count
    /// is exact; after a restart it is counted again from those rows.
    windows: std::cell::RefCell<std::collections::HashMap<String, RateWindow>>,
}

#[derive(Deserialize)]
struct IdempotencyRow {
    fingerprint: String,
    expires_at: i64,
    state: String,
}

impl GateStore {
    pub fn new(sql: SqlStorage) -> Self {
        GateStore { sql, windows: std::cell::RefCell::default() }
    }

    /// Deletes expired nonces and stored answers, so a key that goes quiet
    /// does not keep them for ever.
    pub fn purge(&self, now: u64) -> Result<()> {
        let now = sql_int(now)?;
        self.sql.exec("DELETE FROM admissions WHERE expires_at <= ?", vec![now.clone()])?;
        self.sql.exec("DELETE FROM idempotency WHERE expires_at <= ?", vec![now])?;
        Ok(())
    }

    /// The earliest expiry among stored rows (unix seconds), if any.
    pub fn next_expiry(&self) -> Result<Option<u64>> {
        crate::durable::earliest(
            &self.sql,
            "SELECT MIN(at) AS at FROM (SELECT MIN(expires_at) AS at FROM admissions
                UNION ALL SELECT MIN(expires_at) FROM idempotency)",
        )
    }

    /// One admission. On the common path (a fresh nonce within the limit)
    /// this is one indexed write and no read: the rate window is in memory,
    /// and recording the nonce is the replay check. Reads happen only for a
    /// mutation's idempotency record, on a refusal (to tell a replay from a
    /// rate or scope refusal), and on the first request after a restart.
    ///
    /// With the admission comes whether this call reserved a free
    /// idempotency key (no live record held it, so no earlier request under
    /// the key is still remembered by the gate).
    pub fn admit(&self, request: &AdmissionRequest) -> Result<(Admission, bool)> {
        let class = request.rate_class.as_str();
        let window = self.window(class, request)?;
        // Decided as if the nonce were fresh and the idempotency key free;
        // the writes below settle both.
        let (mut admission, effects) = admit(request, false, Some(window), None);
        if !effects.record_nonce {
            // Refused for its scope or rate, so nothing is recorded; a replay
            // is still answered as one.
            return Ok((if self.nonce_seen(request)? { Admission::NonceReused } else { admission }, false));
        }
        if !self.record_admission(request)? {
            return Ok((Admission::NonceReused, false));
        }
        let mut reserved = false;
        if let (Some(record), Some(claim)) = (&effects.reserve, &request.idempotency) {
            let key = claim.key.as_str();
            reserved = self.reserve_if_free(key, record, request.now)?;
            if !reserved {
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
        Ok((admission, reserved))
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

    pub fn deprecated_usage(&self, now: u64) -> Result<Vec<KeyUsage>> {
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

    pub fn complete(&self, completion: &Completion) -> Result<()> {
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

impl GateStore {
    /// Whether this key's gate state from an earlier layout has been read in.
    pub fn imported(&self) -> Result<bool> {
        let rows = self.sql.exec("SELECT 1 AS done FROM gate_imported LIMIT 1", None)?;
        Ok(!rows.to_array::<serde_json::Value>()?.is_empty())
    }

    /// Reads the gate state the earlier layout kept in the key's own
    /// `PartnerGate` object into `sql`, page by page, then marks it read. A
    /// read cut short is started again from the top next time (every row is
    /// inserted only if absent), so nothing is lost or counted twice.
    pub async fn import(sql: SqlStorage, env: Env, key_id: String, now: u64) -> Result<()> {
        let mut asked = ExportGateState::first(now);
        loop {
            let stub = crate::bindings::stub(&env, crate::bindings::PARTNER_GATE, &key_id)?;
            let page: GateStatePage = crate::durable::send(stub, asked.clone()).await?;
            let tables = [
                (Some(&page.admissions), "admissions (nonce, expires_at, class, admitted_at)", 4),
                (Some(&page.idempotency), "idempotency (key, fingerprint, expires_at, state)", 4),
                (page.windows.as_ref(), "rate_windows (class, started_at, admitted)", 3),
                (page.deprecated_calls.as_ref(), "deprecated_calls (deprecation_id, day, calls)", 3),
            ];
            for (table, into, columns) in tables {
                let Some(table) = table.filter(|table| table.rows > 0) else { continue };
                let values: Vec<String> = (0..columns).map(|i| format!("json_extract(value, '$[{i}]')")).collect();
                sql.exec(
                    &format!("INSERT OR IGNORE INTO {into} SELECT {} FROM json_each(?)", values.join(", ")),
                    vec![table.doc.as_str().into()],
                )?;
            }
            match page.next(&asked) {
                Some(next) => asked = next,
                None => break,
            }
        }
        sql.exec("INSERT INTO gate_imported (at) VALUES (?)", vec![sql_int(now)?])?;
        Ok(())
    }
}

/// The separate per-key gate object of earlier versions. Its state now
/// lives in the key's `PartnerSandbox`; this object only hands it over
/// (`RetiredGateCommand::Export`) and purges what expires. Once it has
/// handed its state over it takes nothing else, so a worker of the earlier
/// version still running during a deploy is refused rather than admitting
/// beside the new layout.
#[worker::durable_object(alarm)]
pub struct PartnerGate {
    state: State,
    sql: SqlStorage,
    schema: crate::durable::SchemaOnce,
}

impl DurableObject for PartnerGate {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        Self { state, sql, schema: crate::durable::SchemaOnce::default() }
    }

    /// Purges what has expired and re-arms while any remains, paced as the
    /// key's object paces its own purge (`next_purge_at`): each pass scans
    /// the nonces, so it does not follow every expiry.
    async fn alarm(&self) -> Result<Response> {
        if self.has_state()? {
            self.schema.ensure(&self.sql, RETIRED_SCHEMA)?;
            let store = GateStore::new(self.sql.clone());
            let now = crate::http::now_secs(crate::http::now_ms());
            store.purge(now)?;
            if let Some(at) = next_purge_at(store.next_expiry()?, Some(now)) {
                crate::durable::set_alarm_at(&self.state, at * 1000).await?;
            }
        }
        Response::ok("purged")
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("PartnerGate")
    }
}

/// The `command` RPC method. Handing over needs no I/O but SQLite, so it
/// answers at once, as text.
#[worker::wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = worker::wasm_bindgen)]
impl PartnerGate {
    pub fn command(&self, message: String) -> std::result::Result<String, worker::wasm_bindgen::JsValue> {
        self.run(&message).map_err(worker::wasm_bindgen::JsValue::from)
    }
}

impl PartnerGate {
    fn run(&self, message: &str) -> Result<String> {
        let command: RetiredGateCommand = parse_message(
            "PartnerGate (its state has moved into the key's PartnerSandbox; the calling worker is older than its objects)",
            message,
        )?;
        match command {
            RetiredGateCommand::Export(asked) => reply_text::<ExportGateState>(&self.export(&asked)?),
        }
    }

    /// Whether this object ever stored anything. Asked for a key it never
    /// served, it answers an empty page and writes nothing.
    fn has_state(&self) -> Result<bool> {
        let rows = self
            .sql
            .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('admissions', 'nonces')", None)?;
        Ok(!rows.to_array::<serde_json::Value>()?.is_empty())
    }

    fn export(&self, asked: &ExportGateState) -> Result<GateStatePage> {
        if !self.has_state()? {
            return Ok(GateStatePage::default());
        }
        self.schema.ensure(&self.sql, RETIRED_SCHEMA)?;
        self.sql.exec(
            "INSERT INTO retired (at) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM retired)",
            vec![sql_int(asked.now)?],
        )?;
        let (now, limit) = (sql_int(asked.now)?, i64::from(asked.limit));
        let admissions = self.table_page(
            "nonce",
            "nonce, expires_at, class, admitted_at",
            "admissions WHERE nonce > ? AND expires_at > ? ORDER BY nonce LIMIT ?",
            vec![asked.after_nonce.as_str().into(), now.clone(), limit.into()],
        )?;
        let idempotency = self.table_page(
            "key",
            "key, fingerprint, expires_at, state",
            "idempotency WHERE key > ? AND expires_at > ? ORDER BY key LIMIT ?",
            vec![asked.after_key.as_str().into(), now, limit.into()],
        )?;
        let (windows, deprecated_calls) = if asked.is_first() {
            (
                Some(self.table_page("class", "class, started_at, admitted", "rate_windows", vec![])?),
                Some(self.table_page("deprecation_id", "deprecation_id, day, calls", "deprecated_calls", vec![])?),
            )
        } else {
            (None, None)
        };
        Ok(GateStatePage { admissions, idempotency, windows, deprecated_calls })
    }

    /// Rows of `from` (a table and any clauses) as one [`TablePage`], written
    /// out by SQLite: `columns` in order, and the largest `key`.
    fn table_page(
        &self,
        key: &str,
        columns: &str,
        from: &str,
        bindings: Vec<worker::SqlStorageValue>,
    ) -> Result<TablePage> {
        let query = format!(
            "SELECT COUNT(*) AS \"rows\", MAX({key}) AS last, json_group_array(json_array({columns})) AS doc
             FROM (SELECT {columns} FROM {from})"
        );
        self.sql.exec(&query, bindings)?.one::<TablePage>()
    }
}
