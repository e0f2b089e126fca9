//! `StatusMonitor`: one Durable Object (named `global`) that records every
//! health probe in its SQLite storage. The count it returns proves a real
//! round trip to durable state, and survives restarts.
//!
//! The object only stores: deciding what a probe means is `partner_edge::health`'s job.

use partner_edge::health::{DurableObjectProbe, MonitorCommand, ProbeRecord};
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::bindings;
use crate::durable::{reply, send, serve, SchemaOnce};

/// Probes older than this many are pruned; the count keeps growing regardless.
const PROBES_KEPT: i64 = 1000;

const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS probes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL
)"];

#[durable_object]
pub struct StatusMonitor {
    sql: SqlStorage,
    schema: SchemaOnce,
}

impl DurableObject for StatusMonitor {
    fn new(state: State, _env: Env) -> Self {
        Self { sql: state.storage().sql(), schema: SchemaOnce::default() }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        serve(req, "StatusMonitor", |command| async move {
            match command {
                MonitorCommand::RecordProbe(record) => reply::<ProbeRecord>(&self.record(&record)?),
            }
        })
        .await
    }
}

impl StatusMonitor {
    fn record(&self, record: &ProbeRecord) -> Result<DurableObjectProbe> {
        #[derive(Deserialize)]
        struct Inserted {
            seq: i64,
        }
        let at_ms = i64::try_from(record.at_ms).map_err(|_| worker::Error::from("probe time out of range"))?;
        let inserted: Inserted = self
            .sql
            .exec(
                "INSERT INTO probes (request_id, at_ms) VALUES (?, ?) RETURNING seq",
                vec![record.request_id.as_str().into(), at_ms.into()],
            )?
            .one()?;
        self.sql.exec("DELETE FROM probes WHERE seq <= ?", vec![(inserted.seq - PROBES_KEPT).into()])?;
        Ok(DurableObjectProbe { probes_recorded: inserted.seq.unsigned_abs() })
    }
}

/// The worker side of the round trip: records `record` in the global monitor.
pub async fn record_probe(env: &Env, record: &ProbeRecord) -> std::result::Result<DurableObjectProbe, String> {
    let round_trip = async {
        let stub = env.durable_object(bindings::STATUS_MONITOR)?.get_by_name("global")?;
        send(&stub, record.clone()).await
    };
    round_trip.await.map_err(|e| e.to_string())
}
