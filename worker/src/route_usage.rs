//! `RouteUsage`: one Durable Object (named `global`) counting, per day, the
//! successful calls to each deprecated route and to its replacement, across
//! partners, for `/developers/migration-status.json`. The worker records a
//! call after answering it (`waitUntil`), so partners never wait on it.
//! Only the last 30 days are kept.

use partner_edge::lifecycle::{ReadMigration, RecordCall, Side, UsageCommand, USAGE_DAYS};
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{parse_message, reply_text, rpc_only, sql_int, SchemaOnce};

const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS calls (
    deprecation_id TEXT NOT NULL,
    side TEXT NOT NULL,
    day INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (deprecation_id, side, day)
)"];

crate::durable::object_over_state! {
    fetch RouteUsage => RouteUsageState
}

/// What a `RouteUsage` holds.
pub struct RouteUsageState {
    sql: SqlStorage,
    schema: SchemaOnce,
}

crate::durable::commands_over_rpc!(RouteUsage);

impl RouteUsage {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let command: UsageCommand = parse_message("RouteUsage", message)?;
        match command {
            UsageCommand::Record(call) => reply_text::<RecordCall>(&self.record(&call)?),
            UsageCommand::Read(query) => reply_text::<ReadMigration>(&self.read(&query)?),
        }
    }
}

impl DurableObject for RouteUsage {
    fn new(state: State, _env: Env) -> Self {
        Self(std::rc::Rc::new(RouteUsageState { sql: state.storage().sql(), schema: SchemaOnce::default() }))
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("RouteUsage")
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Deprecated => "deprecated",
        Side::Replacement => "replacement",
    }
}

impl RouteUsage {
    fn record(&self, call: &RecordCall) -> Result<bool> {
        self.sql.exec(
            "INSERT INTO calls (deprecation_id, side, day, calls) VALUES (?, ?, ?, 1)
             ON CONFLICT (deprecation_id, side, day) DO UPDATE SET calls = calls + 1",
            vec![call.deprecation_id.as_str().into(), side_name(call.side).into(), sql_int(call.day)?],
        )?;
        self.sql.exec("DELETE FROM calls WHERE day < ?", vec![sql_int(call.day.saturating_sub(USAGE_DAYS))?])?;
        Ok(true)
    }

    fn read(&self, query: &ReadMigration) -> Result<Vec<(u64, Side, u64)>> {
        #[derive(Deserialize)]
        struct Row {
            side: String,
            day: i64,
            calls: i64,
        }
        let rows = self
            .sql
            .exec(
                "SELECT side, day, calls FROM calls WHERE deprecation_id = ? AND day >= ? ORDER BY day",
                vec![query.deprecation_id.as_str().into(), sql_int(query.since_day)?],
            )?
            .to_array::<Row>()?;
        rows.into_iter()
            .map(|row| {
                let side = match row.side.as_str() {
                    "deprecated" => Side::Deprecated,
                    "replacement" => Side::Replacement,
                    other => return Err(worker::Error::from(format!("RouteUsage: stored side {other:?} is unknown"))),
                };
                Ok((row.day.unsigned_abs(), side, row.calls.unsigned_abs()))
            })
            .collect()
    }
}
