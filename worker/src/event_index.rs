//! `EventIndex`: which key's `WebhookHub` stores each webhook event, so the
//! operator's replay route can find an event by its id alone. Ids are spread
//! over `partner_edge::webhooks::index::SHARDS` objects (named `events-N`);
//! hubs hand over their new events after answering, one call and one
//! insert per shard.
//!
//! Replaces a KV entry per event: a Durable Object call costs less than a KV
//! write, and an entry can be read back as soon as it is written.

use partner_edge::webhooks::index::{shard_of, IndexCommand, IndexEvents, LocateEvent};
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::bindings;
use crate::durable::{first_doc, parse_message, reply_text, rpc_only, send, sql_int, SchemaOnce};

const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    )"];

/// Rows one alarm deletes; a full batch brings the next purge forward.
const PURGE_BATCH: u32 = 1_000;

crate::durable::object_over_state! {
    alarm EventIndex => EventIndexState
}

/// What an `EventIndex` holds.
pub struct EventIndexState {
    state: State,
    sql: SqlStorage,
    schema: SchemaOnce,
    /// Whether this instance knows a purge alarm is set.
    purge_armed: std::cell::Cell<bool>,
}

crate::durable::commands_over_rpc!(EventIndex);

impl EventIndex {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        match parse_message::<IndexCommand>("EventIndex", message)? {
            IndexCommand::Index(batch) => {
                let added = self.index(&batch)?;
                if !self.purge_armed.get() {
                    self.arm_purge(0).await?;
                }
                reply_text::<IndexEvents>(&added)
            }
            IndexCommand::Locate(query) => reply_text::<LocateEvent>(&first_doc(
                &self.sql,
                "SELECT key_id AS doc FROM events WHERE event_id = ? AND expires_at > ?",
                vec![query.event_id.as_str().into(), sql_int(query.now)?],
            )?),
        }
    }

    /// Adds the entries not already there; answers how many it was given.
    /// The batch goes to SQLite as one JSON text that SQLite reads itself
    /// (`json_each`): each bound value crosses into the runtime on its own,
    /// three per entry when bound one by one.
    fn index(&self, batch: &IndexEvents) -> Result<u32> {
        let events = serde_json::to_string(&batch.events).map_err(|e| worker::Error::from(e.to_string()))?;
        self.sql.exec(
            "INSERT INTO events (event_id, key_id, expires_at)
             SELECT json_extract(value, '$.event_id'), json_extract(value, '$.key_id'), ?
             FROM json_each(?) WHERE true
             ON CONFLICT (event_id) DO NOTHING",
            vec![sql_int(batch.expires_at)?, events.into()],
        )?;
        Ok(u32::try_from(batch.events.len()).unwrap_or(u32::MAX))
    }

    /// Sets the alarm for the earliest expiry (or `at_least_ms` from now if later).
    async fn arm_purge(&self, at_least_ms: u64) -> Result<()> {
        let next = crate::durable::earliest(&self.sql, "SELECT MIN(expires_at) AS at FROM events")?;
        if let Some(at) = next {
            let at_ms = (at * 1000).max(crate::http::now_ms() + at_least_ms);
            crate::durable::set_alarm_at(&self.state, at_ms).await?;
            self.purge_armed.set(true);
        }
        Ok(())
    }
}

impl DurableObject for EventIndex {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        Self(std::rc::Rc::new(EventIndexState {
            state,
            sql,
            schema: SchemaOnce::default(),
            purge_armed: std::cell::Cell::new(false),
        }))
    }

    /// Forgets what has expired, at most a batch at a time.
    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        self.purge_armed.set(false);
        let now = sql_int(crate::http::now_ms() / 1000)?;
        let deleted = self
            .sql
            .exec(
                "DELETE FROM events WHERE event_id IN
                    (SELECT event_id FROM events WHERE expires_at <= ? LIMIT ?)",
                vec![now, i64::from(PURGE_BATCH).into()],
            )?
            .rows_written();
        // A full batch may leave more behind: come back in a second.
        let full = deleted >= usize::try_from(PURGE_BATCH).unwrap_or(usize::MAX);
        self.arm_purge(if full { 1_000 } else { 0 }).await?;
        Response::ok("purged")
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("EventIndex")
    }
}

/// Records that `key_id`'s hub stores `event_ids`, kept until `expires_at`.
pub async fn index(env: &Env, key_id: &str, event_ids: &[String], expires_at: u64) -> Result<()> {
    for (shard, events) in partner_edge::webhooks::index::by_shard(event_ids, key_id) {
        let stub = bindings::stub(env, bindings::EVENT_INDEX, &shard)?;
        send(stub, IndexEvents { events, expires_at }).await?;
    }
    Ok(())
}

/// The key whose hub stores `event_id`, if the index knows it.
pub async fn locate(env: &Env, event_id: &str, now: u64) -> Result<Option<String>> {
    let stub = bindings::stub(env, bindings::EVENT_INDEX, &shard_of(event_id))?;
    send(stub, LocateEvent { event_id: event_id.to_owned(), now }).await
}
