//! `WebhookHub`: one Durable Object per partner key (named by key id). It owns
//! that partner's webhook subscriptions and their sealed secrets, the events
//! published to it, one delivery per (event, subscription), every attempt,
//! and the delivery metrics. An alarm drives the queue.
//!
//! Nothing is lost: an event and its deliveries are written before a publish
//! is acknowledged; a delivery is marked `processing` with a lease before its
//! attempt, so if the worker dies mid-attempt the lease runs out and the next
//! alarm picks it up again; alarms are stored with the object and survive
//! restarts. Retry timing, signing, URL rules and metrics arithmetic live in
//! `partner_edge::webhooks`.

use std::time::Duration;

use partner_edge::api::{split_page, Page, PageMeta};
use partner_edge::error::Refusal;
use partner_edge::partner::MasterKey;
use partner_edge::webhooks::commands::{
    cursor, CaptureRequest, CreateInbox, CreateSubscription, DeleteInbox, DeleteSubscription, DeliveryLogEntry,
    GetSubscription, HubCommand, HubReply, HubRequest, ListCaptures, ListDeliveries, ListFailures, ListInboxes,
    ListSubscriptions, LogQuery, PatchSubscription, Publish, ReadMetrics, RedriveDeadLetters, ResendEvent,
    RetryDelivery, RotateSecret, SealedTarget, SimulationTarget,
};
use partner_edge::webhooks::delivery::{
    plan_rotation, replay_requeues, settle_attempt, AttemptError, AttemptErrorKind, AttemptOutcome, DeliveryProgress,
    EndpointHealth, FollowUp, NextStep,
};
use partner_edge::webhooks::inbox::{
    inbox_in_url, new_inbox_id, verify_capture, Capture, Captured, Inbox, InboxIn, CAPTURES_KEPT, CAPTURE_MAX_AGE_MS,
    INBOXES_PER_KEY,
};
use partner_edge::webhooks::limits::{WebhookLimits, TRANSITIONS_KEPT_MS};
use partner_edge::webhooks::metrics::{latency_bucket, Counter, MetricsSnapshot, Window};
use partner_edge::webhooks::redrive::{DeadLetter, RedriveJob};
use partner_edge::webhooks::retry::{parse_retry_after, RetryPolicy};
use partner_edge::webhooks::ssrf::check_webhook_url;
use partner_edge::webhooks::{
    excerpt, live_slots, new_delivery_id, new_event_id, new_subscription_id, signature_headers, Attempt, Delivery,
    DeliveryFailed, DeliveryState, EndpointDisabled, Envelope, Event, EventType, Published, Redrive, Resent,
    SecretSlot, Subscription, SubscriptionWithSecret, TestPing, WebhookSecret, FIRST_SECRET_ID,
};
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::durable::{first_doc, from_json, parse_message, reply_text, rpc_only, sql_int, to_json, Doc, SchemaOnce};
use crate::error::api_to_worker;
use crate::http::{fetch_bounded, now_ms, random_bytes, webhook_post};
use crate::{bindings, config};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS secrets (
        subscription_id TEXT NOT NULL,
        kid TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (subscription_id, kid)
    )",
    "CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL UNIQUE,
        subscription_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        budget_base INTEGER NOT NULL,
        next_at INTEGER,
        lease_until INTEGER,
        last_status INTEGER,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        dead_at INTEGER,
        UNIQUE (event_id, subscription_id)
    )",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, seq)",
    "CREATE TABLE IF NOT EXISTS attempts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        succeeded INTEGER NOT NULL,
        doc TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS attempts_by_delivery ON attempts (delivery_id, seq)",
    "CREATE INDEX IF NOT EXISTS attempts_failed ON attempts (subscription_id, succeeded, seq)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS transitions (at INTEGER NOT NULL, state TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS transitions_by_time ON transitions (at)",
    "CREATE TABLE IF NOT EXISTS inboxes (inbox_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS captures (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        inbox_id TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS captures_by_inbox ON captures (inbox_id, seq)",
    "CREATE TABLE IF NOT EXISTS redrive (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        subscription_id TEXT,
        batch_size INTEGER NOT NULL,
        cooldown_ms INTEGER NOT NULL,
        cutoff INTEGER NOT NULL,
        next_at INTEGER NOT NULL
    )",
];

/// The KV entry that leads the public capture route to an inbox's hub.
pub fn inbox_kv_key(inbox_id: &str) -> String {
    format!("webhook-inbox:{inbox_id}")
}

/// How many due deliveries one alarm attempts, concurrently.
const BATCH: u32 = 100;

/// How much of a receiver's answer is read; the rest is cancelled unread.
const ANSWER_PREFIX_BYTES: usize = 4 * 1024;

/// Rows one prune deletes per table; a full batch brings the next prune forward.
const PRUNE_BATCH: u32 = 1_000;

crate::durable::object_over_state! {
    alarm WebhookHub => WebhookHubState
}

/// What a `WebhookHub` holds.
pub struct WebhookHubState {
    state: State,
    env: Env,
    sql: SqlStorage,
    schema: SchemaOnce,
    /// When the stored alarm is due, as this instance last set or read it.
    alarm: crate::durable::AlarmSlot,
    /// Event-to-receiver latencies of this alarm run's deliveries, for the status monitor.
    latencies: std::cell::RefCell<partner_edge::latency::Recorder>,
    /// The key this hub belongs to, once this instance has stored or read
    /// it: it never changes, so later calls skip the write and the read.
    key: std::cell::RefCell<Option<String>>,
    /// Events stored by the current call and not yet handed to the event index.
    unindexed: std::cell::RefCell<Vec<String>>,
}

crate::durable::commands_over_rpc!(WebhookHub);

impl WebhookHub {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let request: HubRequest = parse_message("WebhookHub", message)?;
        self.remember_key(&request.key_id)?;
        let now = now_ms();
        let reply = self.answer(request.command, now).await;
        // Events this call stored are indexed even if a later step failed.
        self.index_new_events(now)?;
        reply
    }

    async fn answer(&self, command: HubCommand, now: u64) -> Result<String> {
        match command {
            HubCommand::CreateSubscription(c) => reply_text::<CreateSubscription>(&self.create(c.input, now).await?),
            HubCommand::ListSubscriptions(_) => reply_text::<ListSubscriptions>(&self.subscriptions()?),
            HubCommand::GetSubscription(c) => reply_text::<GetSubscription>(&self.subscription(&c.subscription_id)?),
            HubCommand::PatchSubscription(c) => reply_text::<PatchSubscription>(&self.patch(c, now)?),
            HubCommand::DeleteSubscription(c) => reply_text::<DeleteSubscription>(&self.delete(&c.subscription_id)?),
            HubCommand::RotateSecret(c) => reply_text::<RotateSecret>(&self.rotate(&c.subscription_id, now)?),
            HubCommand::Publish(c) => {
                let only = c.only_subscription.as_deref();
                let published = self
                    .publish(&c.event, only, None, now)
                    .await?
                    .ok_or_else(|| Refusal::not_found("webhook", c.only_subscription.as_deref().unwrap_or_default()));
                reply_text::<Publish>(&published)
            }
            HubCommand::PublishBatch(batch) => reply_text::<partner_edge::webhooks::commands::PublishBatch>(
                &self.publish_batch(&batch.events, now).await?,
            ),
            HubCommand::ListDeliveries(c) => {
                reply_text::<ListDeliveries>(&self.deliveries(&c.subscription_id, &c.query)?)
            }
            HubCommand::ListFailures(c) => reply_text::<ListFailures>(&self.failures(&c.subscription_id, &c.query)?),
            HubCommand::RetryDelivery(c) => reply_text::<RetryDelivery>(&self.retry_delivery(&c, now).await?),
            HubCommand::ResendEvent(c) => reply_text::<ResendEvent>(&self.resend(&c.event_id, now).await?),
            HubCommand::RedriveDeadLetters(c) => reply_text::<RedriveDeadLetters>(
                &self.start_redrive(c.subscription_id, c.batch_size, c.cooldown_seconds, now).await?,
            ),
            HubCommand::ReadMetrics(_) => reply_text::<ReadMetrics>(&self.metrics(now)?),
            HubCommand::CreateInbox(c) => reply_text::<CreateInbox>(&self.create_inbox(c.input, now).await?),
            HubCommand::ListInboxes(_) => reply_text::<ListInboxes>(&self.inboxes()?),
            HubCommand::DeleteInbox(c) => reply_text::<DeleteInbox>(&self.delete_inbox(&c.inbox_id).await?),
            HubCommand::ListCaptures(c) => reply_text::<ListCaptures>(&self.captures(&c.inbox_id, c.limit)?),
            HubCommand::CaptureRequest(c) => reply_text::<CaptureRequest>(&self.capture(c.capture, now)?),
            HubCommand::SimulationTarget(c) => {
                let target = match self.subscription(&c.subscription_id)? {
                    Ok(subscription) => Ok(SealedTarget { slots: self.slots(&c.subscription_id)?, subscription }),
                    Err(refusal) => Err(refusal),
                };
                reply_text::<SimulationTarget>(&target)
            }
        }
    }
}

impl DurableObject for WebhookHub {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        Self(std::rc::Rc::new(WebhookHubState {
            state,
            env,
            sql,
            schema: SchemaOnce::default(),
            alarm: crate::durable::AlarmSlot::default(),
            latencies: std::cell::RefCell::default(),
            key: std::cell::RefCell::default(),
            unindexed: std::cell::RefCell::default(),
        }))
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("WebhookHub")
    }

    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        // This alarm has fired; `schedule` below records the next one.
        self.alarm.forget();
        let limits = self.limits()?;
        self.run_redrive_batch(now_ms())?;
        let delivered = self.deliver_due().await;
        // The notices a run emits (a dead letter, an auto-disable) are events too.
        self.index_new_events(now_ms())?;
        delivered?;
        self.prune_if_due(now_ms(), &limits)?;
        self.schedule(&limits).await?;
        Response::ok("done")
    }
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// A delivery row as SQLite hands it over; [`DeliveryRow`] is the parsed form.
#[derive(Deserialize)]
struct StoredDelivery {
    seq: i64,
    delivery_id: String,
    subscription_id: String,
    event_id: String,
    event_type: String,
    state: String,
    attempts: i64,
    budget_base: i64,
    next_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const DELIVERY_COLUMNS: &str =
    "seq, delivery_id, subscription_id, event_id, event_type, state, attempts, budget_base, \
    next_at, last_status, last_error, created_at, updated_at";

#[derive(Clone)]
struct DeliveryRow {
    seq: u64,
    delivery_id: String,
    subscription_id: String,
    event_id: String,
    event_type: EventType,
    state: DeliveryState,
    progress: DeliveryProgress,
    next_at: Option<u64>,
    last_status: Option<u16>,
    last_error: Option<String>,
    created_at: u64,
    updated_at: u64,
}

impl TryFrom<StoredDelivery> for DeliveryRow {
    type Error = String;

    /// A stored value that no longer parses is an error naming the row,
    /// never a guess (an unknown event type is not a test ping).
    fn try_from(row: StoredDelivery) -> std::result::Result<Self, String> {
        let event_type = EventType::parse(&row.event_type).ok_or_else(|| {
            format!("delivery {}: stored event type {:?} is not in the catalogue", row.delivery_id, row.event_type)
        })?;
        let state = DeliveryState::parse(&row.state)
            .ok_or_else(|| format!("delivery {}: stored state {:?} is unknown", row.delivery_id, row.state))?;
        let count = |n: i64| {
            u32::try_from(n).map_err(|_| format!("delivery {}: attempt count {n} is out of range", row.delivery_id))
        };
        Ok(Self {
            seq: row.seq.unsigned_abs(),
            progress: DeliveryProgress { attempts: count(row.attempts)?, budget_base: count(row.budget_base)? },
            delivery_id: row.delivery_id,
            subscription_id: row.subscription_id,
            event_id: row.event_id,
            event_type,
            state,
            next_at: row.next_at.map(i64::unsigned_abs),
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            created_at: row.created_at.unsigned_abs(),
            updated_at: row.updated_at.unsigned_abs(),
        })
    }
}

impl DeliveryRow {
    fn to_delivery(&self) -> Delivery {
        Delivery {
            delivery_id: self.delivery_id.clone(),
            subscription_id: self.subscription_id.clone(),
            event_id: self.event_id.clone(),
            event_type: self.event_type,
            state: self.state,
            attempts: self.progress.attempts,
            next_attempt_at_ms: self.next_at,
            last_status: self.last_status,
            last_error: self.last_error.clone(),
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        }
    }
}

/// A state as a SQL literal, from the enum's one spelling of it.
fn lit(state: DeliveryState) -> String {
    format!("'{}'", state.as_str())
}

/// States as a SQL list: `'queued', 'retrying'`.
fn lits(states: &[DeliveryState]) -> String {
    states.iter().map(|state| lit(*state)).collect::<Vec<_>>().join(", ")
}

/// Deliveries still on their way.
const WAITING: [DeliveryState; 2] = [DeliveryState::Queued, DeliveryState::Retrying];
const PENDING: [DeliveryState; 3] = [DeliveryState::Queued, DeliveryState::Retrying, DeliveryState::Processing];
const FINISHED: [DeliveryState; 2] = [DeliveryState::Succeeded, DeliveryState::FailedDeadLetter];

/// What every attempt of one alarm's batch shares, read from the environment
/// once. A broken setting fails each attempt (and spends its budget) rather
/// than leaving the batch `processing` for ever.
struct AttemptContext {
    policy: RetryPolicy,
    url_policy: std::result::Result<partner_edge::webhooks::ssrf::UrlPolicy, String>,
    master: std::result::Result<MasterKey, String>,
}

/// One attempt's outcome before it is settled.
struct Outcome {
    row: DeliveryRow,
    started_at: u64,
    result: AttemptOutcome,
    latency_ms: u64,
    body_excerpt: String,
    kids: Vec<String>,
}

impl Outcome {
    fn failed(row: &DeliveryRow, started_at: u64, kind: AttemptErrorKind, message: impl Into<String>) -> Self {
        Self {
            row: row.clone(),
            started_at,
            result: AttemptOutcome::Failed(AttemptError::new(kind, message)),
            latency_ms: 0,
            body_excerpt: String::new(),
            kids: Vec::new(),
        }
    }
}

impl WebhookHub {
    fn remember_key(&self, key_id: &str) -> Result<()> {
        if self.key.borrow().is_some() {
            return Ok(());
        }
        self.sql.exec("INSERT OR IGNORE INTO meta (name, value) VALUES ('key_id', ?)", vec![key_id.into()])?;
        self.key_id().map(|_| ())
    }

    /// Hands the events stored since the last hand-over to the event index,
    /// after the answer (`waitUntil`): the operator's replay route finds an
    /// event's hub there. Kept as long as the hub keeps the event.
    fn index_new_events(&self, now_ms: u64) -> Result<()> {
        let event_ids = std::mem::take(&mut *self.unindexed.borrow_mut());
        if event_ids.is_empty() {
            return Ok(());
        }
        let key_id = self.key_id()?;
        let expires_at = (now_ms / 1000).saturating_add(self.limits()?.retention_secs);
        let env = self.env.clone();
        self.state.wait_until(async move {
            if let Err(error) = crate::event_index::index(&env, &key_id, &event_ids, expires_at).await {
                worker::console_error!("could not index {} webhook events for replay: {error}", event_ids.len());
            }
        });
        Ok(())
    }

    fn key_id(&self) -> Result<String> {
        if let Some(key) = self.key.borrow().as_ref() {
            return Ok(key.clone());
        }
        let stored = first_doc(&self.sql, "SELECT value AS doc FROM meta WHERE name = 'key_id'", vec![])?;
        if let Some(key) = &stored {
            *self.key.borrow_mut() = Some(key.clone());
        }
        Ok(stored.unwrap_or_default())
    }

    fn count(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<u64> {
        Ok(self.sql.exec(query, bindings)?.one::<Count>()?.n.unsigned_abs())
    }

    fn master(&self) -> Result<MasterKey> {
        config::master_key(&self.env).map_err(api_to_worker)
    }

    fn policy(&self) -> Result<RetryPolicy> {
        config::retry_policy(&self.env).map_err(api_to_worker)
    }

    fn limits(&self) -> Result<WebhookLimits> {
        config::webhook_limits(&self.env).map_err(api_to_worker)
    }

    fn patch(&self, command: PatchSubscription, now: u64) -> Result<HubReply<Subscription>> {
        let mut subscription = match self.subscription(&command.subscription_id)? {
            Ok(subscription) => subscription,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if let Err(error) = command.patch.apply(&mut subscription, now / 1000) {
            return Ok(Err(error));
        }
        self.save_subscription(&subscription)?;
        Ok(Ok(subscription))
    }

    /// Deletes a subscription with everything stored for it.
    fn delete(&self, subscription_id: &str) -> Result<HubReply<Subscription>> {
        let subscription = match self.subscription(subscription_id)? {
            Ok(subscription) => subscription,
            Err(refusal) => return Ok(Err(refusal)),
        };
        for table in [
            "subscriptions WHERE id",
            "secrets WHERE subscription_id",
            "deliveries WHERE subscription_id",
            "attempts WHERE subscription_id",
        ] {
            self.sql.exec(&format!("DELETE FROM {table} = ?"), vec![subscription_id.into()])?;
        }
        Ok(Ok(subscription))
    }

    /// A partner's manual retry: back to the queue with a fresh budget.
    async fn retry_delivery(&self, command: &RetryDelivery, now: u64) -> Result<HubReply<Delivery>> {
        let rows = self.delivery_rows(
            "delivery_id = ? AND subscription_id = ?",
            vec![command.delivery_id.as_str().into(), command.subscription_id.as_str().into()],
        )?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(Err(Refusal::not_found("delivery", &command.delivery_id)));
        };
        self.requeue(&row.delivery_id, now)?;
        self.alarm.ensure_by(&self.state, now).await?;
        let row = self.delivery_rows("delivery_id = ?", vec![command.delivery_id.as_str().into()])?;
        Ok(Ok(row.first().map(DeliveryRow::to_delivery).ok_or("the delivery vanished while it was requeued")?))
    }

    // ------------------------------------------------------------ subscriptions

    fn subscriptions(&self) -> Result<Vec<Subscription>> {
        self.sql
            .exec("SELECT doc FROM subscriptions ORDER BY created_at, id", None)?
            .to_array::<Doc>()?
            .iter()
            .map(|row| from_json(&row.doc))
            .collect()
    }

    fn subscription(&self, id: &str) -> Result<std::result::Result<Subscription, Refusal>> {
        Ok(match first_doc(&self.sql, "SELECT doc FROM subscriptions WHERE id = ?", vec![id.into()])? {
            Some(doc) => Ok(from_json(&doc)?),
            None => Err(Refusal::not_found("webhook", id)),
        })
    }

    fn save_subscription(&self, subscription: &Subscription) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO subscriptions (id, created_at, doc) VALUES (?, ?, ?)",
            vec![
                subscription.subscription_id.as_str().into(),
                sql_int(subscription.created_at)?,
                to_json(subscription)?.into(),
            ],
        )?;
        Ok(())
    }

    /// Draws a secret, seals it under the master key bound to the subscription and slot.
    fn new_slot(&self, subscription_id: &str, kid: &str, now: u64) -> Result<(SecretSlot, WebhookSecret)> {
        let secret = WebhookSecret::new(random_bytes().map_err(api_to_worker)?);
        let sealed = self.master()?.seal_text(
            &SecretSlot::aad(subscription_id, kid),
            secret.expose(),
            random_bytes().map_err(api_to_worker)?,
        );
        let slot = SecretSlot { kid: kid.to_owned(), sealed, created_at: now / 1000, valid_until: None };
        self.sql.exec(
            "INSERT OR REPLACE INTO secrets (subscription_id, kid, doc) VALUES (?, ?, ?)",
            vec![subscription_id.into(), kid.into(), to_json(&slot)?.into()],
        )?;
        Ok((slot, secret))
    }

    fn slots(&self, subscription_id: &str) -> Result<Vec<SecretSlot>> {
        self.sql
            .exec("SELECT doc FROM secrets WHERE subscription_id = ?", vec![subscription_id.into()])?
            .to_array::<Doc>()?
            .iter()
            .map(|row| from_json(&row.doc))
            .collect()
    }

    /// The subscription's live secrets, unsealed, current first; `Err` names
    /// a secret that cannot be opened.
    fn live_secrets(
        &self,
        master: &MasterKey,
        subscription_id: &str,
        now_secs: u64,
    ) -> Result<std::result::Result<Vec<(String, WebhookSecret)>, String>> {
        let slots = self.slots(subscription_id)?;
        let mut secrets = Vec::new();
        for slot in live_slots(&slots, now_secs) {
            match slot.open(master, subscription_id) {
                Ok(secret) => secrets.push((slot.kid.clone(), secret)),
                Err(error) => return Ok(Err(error)),
            }
        }
        Ok(Ok(secrets))
    }

    fn inbox(&self, inbox_id: &str) -> Result<Option<Inbox>> {
        first_doc(&self.sql, "SELECT doc FROM inboxes WHERE inbox_id = ?", vec![inbox_id.into()])?
            .map(|doc| from_json(&doc))
            .transpose()
    }

    fn inboxes(&self) -> Result<Vec<Inbox>> {
        self.sql
            .exec("SELECT doc FROM inboxes ORDER BY created_at, inbox_id", None)?
            .to_array::<Doc>()?
            .iter()
            .map(|row| from_json(&row.doc))
            .collect()
    }

    async fn create_inbox(&self, input: InboxIn, now: u64) -> Result<HubReply<Inbox>> {
        if let Some(subscription_id) = &input.subscription_id {
            if let Err(refusal) = self.subscription(subscription_id)? {
                return Ok(Err(refusal));
            }
        }
        if self.count("SELECT COUNT(*) AS n FROM inboxes", vec![])? >= INBOXES_PER_KEY as u64 {
            return Ok(Err(Refusal::limit_exceeded(format!(
                "this key already has {INBOXES_PER_KEY} inboxes, the most allowed; delete one first"
            ))));
        }
        let inbox = Inbox::create(input, new_inbox_id(random_bytes().map_err(api_to_worker)?), now / 1000);
        self.sql.exec(
            "INSERT INTO inboxes (inbox_id, created_at, doc) VALUES (?, ?, ?)",
            vec![inbox.inbox_id.as_str().into(), sql_int(now)?, to_json(&inbox)?.into()],
        )?;
        // The public capture route finds this hub by the inbox id.
        let key_id = self.key_id()?;
        self.env
            .kv(bindings::KV)?
            .put(&inbox_kv_key(&inbox.inbox_id), key_id)?
            .execute()
            .await
            .map_err(|e| worker::Error::from(e.to_string()))?;
        Ok(Ok(inbox))
    }

    async fn delete_inbox(&self, inbox_id: &str) -> Result<HubReply<Inbox>> {
        let Some(inbox) = self.inbox(inbox_id)? else {
            return Ok(Err(Refusal::not_found("inbox", inbox_id)));
        };
        self.sql.exec("DELETE FROM captures WHERE inbox_id = ?", vec![inbox_id.into()])?;
        self.sql.exec("DELETE FROM inboxes WHERE inbox_id = ?", vec![inbox_id.into()])?;
        self.env
            .kv(bindings::KV)?
            .delete(&inbox_kv_key(inbox_id))
            .await
            .map_err(|e| worker::Error::from(e.to_string()))?;
        Ok(Ok(inbox))
    }

    fn captures(&self, inbox_id: &str, limit: u32) -> Result<HubReply<Vec<Capture>>> {
        if self.inbox(inbox_id)?.is_none() {
            return Ok(Err(Refusal::not_found("inbox", inbox_id)));
        }
        let rows = self
            .sql
            .exec(
                "SELECT doc FROM captures WHERE inbox_id = ? ORDER BY seq DESC LIMIT ?",
                vec![inbox_id.into(), i64::from(limit).into()],
            )?
            .to_array::<Doc>()?;
        Ok(Ok(rows.iter().map(|row| from_json(&row.doc)).collect::<Result<Vec<Capture>>>()?))
    }

    /// Stores a capture (verified with the subscription the inbox names, or
    /// else the key's subscription that delivers to it) and
    /// keeps the inbox within its bounds.
    fn capture(&self, mut capture: Capture, now: u64) -> Result<HubReply<Captured>> {
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        let Some(inbox) = self.inbox(&capture.inbox_id)? else {
            return Ok(Err(Refusal::not_found("inbox", &capture.inbox_id)));
        };
        let subscriptions = if inbox.subscription_id.is_some() { Vec::new() } else { self.subscriptions()? };
        if let Some(subscription_id) = inbox.verifying_subscription(&subscriptions) {
            if let (Ok(master), Ok(_)) = (self.master(), self.subscription(subscription_id)?) {
                if let Ok(secrets) = self.live_secrets(&master, subscription_id, now / 1000)? {
                    let refs: Vec<(&str, &WebhookSecret)> =
                        secrets.iter().map(|(kid, secret)| (kid.as_str(), secret)).collect();
                    let header = |name: &str| capture.header(name);
                    capture.verification =
                        Some(verify_capture(subscription_id, &refs, header, &capture.body, now / 1000));
                }
            }
        }
        let seq = self
            .sql
            .exec(
                "INSERT INTO captures (inbox_id, received_at, doc) VALUES (?, ?, '') RETURNING seq",
                vec![capture.inbox_id.as_str().into(), sql_int(now)?],
            )?
            .one::<Seq>()?
            .seq;
        capture.capture_id = format!("cap_{seq}");
        self.sql.exec("UPDATE captures SET doc = ? WHERE seq = ?", vec![to_json(&capture)?.into(), seq.into()])?;
        self.sql.exec(
            "DELETE FROM captures WHERE inbox_id = ? AND (received_at < ? OR seq <= ?)",
            vec![
                capture.inbox_id.as_str().into(),
                sql_int(now.saturating_sub(CAPTURE_MAX_AGE_MS))?,
                (seq - i64::from(CAPTURES_KEPT)).into(),
            ],
        )?;
        Ok(Ok(Captured { capture_id: capture.capture_id, inbox_id: capture.inbox_id }))
    }

    async fn create(
        &self,
        input: partner_edge::webhooks::SubscriptionIn,
        now: u64,
    ) -> Result<HubReply<SubscriptionWithSecret>> {
        let cap = self.limits()?.max_subscriptions;
        if self.count("SELECT COUNT(*) AS n FROM subscriptions", vec![])? >= u64::from(cap) {
            return Ok(Err(Refusal::limit_exceeded(format!(
                "this key already has {cap} webhook subscriptions, the most WEBHOOK_MAX_SUBSCRIPTIONS allows; delete one first"
            ))));
        }
        let id = new_subscription_id(random_bytes().map_err(api_to_worker)?);
        let (slot, secret) = self.new_slot(&id, FIRST_SECRET_ID, now)?;
        let subscription = Subscription::create(input, id, slot.kid, now / 1000);
        self.save_subscription(&subscription)?;
        // Lets /metrics find this hub without waking every partner's.
        let key_id = self.key_id()?;
        self.env
            .kv(bindings::KV)?
            .put(&format!("webhook-hub:{key_id}"), "1")?
            .execute()
            .await
            .map_err(|e| worker::Error::from(e.to_string()))?;
        Ok(Ok(SubscriptionWithSecret { subscription, secret: secret.expose().to_owned() }))
    }

    fn rotate(&self, subscription_id: &str, now: u64) -> Result<HubReply<SubscriptionWithSecret>> {
        let mut subscription = match self.subscription(subscription_id)? {
            Ok(subscription) => subscription,
            Err(error) => return Ok(Err(error)),
        };
        let overlap = self.policy()?.rotation_overlap_secs;
        let cap = self.limits()?.max_live_secrets;
        let now_secs = now / 1000;
        let slots = self.slots(subscription_id)?;
        let plan = match plan_rotation(&slots, now_secs, overlap, cap as usize) {
            Ok(plan) => plan,
            Err(refused) => {
                return Ok(Err(Refusal::limit_exceeded(format!(
                    "{} secrets are still signing, the most WEBHOOK_MAX_LIVE_SECRETS ({}) allows; \
                     rotate again once the oldest overlap ends",
                    refused.live, refused.cap
                ))))
            }
        };
        for kid in &plan.expired {
            self.sql.exec(
                "DELETE FROM secrets WHERE subscription_id = ? AND kid = ?",
                vec![subscription_id.into(), kid.as_str().into()],
            )?;
        }
        for (kid, until) in &plan.retiring {
            if let Some(mut slot) = slots.iter().find(|slot| &slot.kid == kid).cloned() {
                slot.valid_until = Some(*until);
                self.sql.exec(
                    "UPDATE secrets SET doc = ? WHERE subscription_id = ? AND kid = ?",
                    vec![to_json(&slot)?.into(), subscription_id.into(), kid.as_str().into()],
                )?;
            }
        }
        let (_, secret) = self.new_slot(subscription_id, &plan.new_kid, now)?;
        subscription.current_secret_id = plan.new_kid;
        subscription.previous_secret_valid_until = plan.previous_valid_until;
        subscription.updated_at = now_secs;
        self.save_subscription(&subscription)?;
        Ok(Ok(SubscriptionWithSecret { subscription, secret: secret.expose().to_owned() }))
    }

    // ------------------------------------------------------------------ events

    /// Stores an event and queues its deliveries. `None` if `only` names no subscription.
    async fn publish(
        &self,
        event: &Event,
        only: Option<&str>,
        exclude: Option<&str>,
        now: u64,
    ) -> Result<Option<Published>> {
        let targets: Vec<Subscription> = match only {
            Some(id) => match self.subscription(id)? {
                Ok(subscription) => vec![subscription],
                // A duplicate is one whatever it names.
                Err(_) if self.is_stored(&event.event_id)? => return Ok(Some(Published::duplicate(event))),
                Err(_) => return Ok(None),
            },
            None => wanting(&self.subscriptions()?, event, exclude),
        };
        self.store_and_queue(event, &targets, now).await.map(Some)
    }

    /// Publishes a batch (a sandbox's outbox), reading the subscriptions
    /// once; answers how many events were new. The batch is stored in one
    /// statement: SQLite reads the events from one JSON text (`json_each`)
    /// and names the ones it did not already hold (`RETURNING`), where one
    /// insert per event costs a statement and a cursor each.
    async fn publish_batch(&self, events: &[Event], now: u64) -> Result<u32> {
        let docs = events.iter().map(to_json).collect::<Result<Vec<String>>>()?;
        let rows: Vec<[&str; 2]> =
            events.iter().zip(&docs).map(|(event, doc)| [event.event_id.as_str(), doc]).collect();
        let mut stored = self
            .sql
            .exec(
                "INSERT INTO events (event_id, doc)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
                 ON CONFLICT (event_id) DO NOTHING RETURNING event_id AS doc",
                vec![to_json(&rows)?.into()],
            )?
            .to_array::<Doc>()?;
        stored.reverse();
        let subscriptions = self.subscriptions()?;
        let mut new = 0;
        for event in events {
            // SQLite names the new events in the batch's order (reversed
            // above, so the match is nearly always the last one left). Each
            // is taken out as it is queued: an event twice in a batch counts once.
            let Some(at) = stored.iter().rposition(|row| row.doc == event.event_id) else { continue };
            stored.remove(at);
            self.queue(event, &wanting(&subscriptions, event, None), now).await?;
            new += 1;
        }
        Ok(new)
    }

    fn is_stored(&self, event_id: &str) -> Result<bool> {
        Ok(first_doc(&self.sql, "SELECT event_id AS doc FROM events WHERE event_id = ?", vec![event_id.into()])?
            .is_some())
    }

    /// Stores `event` and queues a delivery to each of `targets`; an event
    /// already stored is a duplicate and queues nothing. The insert is the
    /// duplicate check: one statement, no read.
    async fn store_and_queue(&self, event: &Event, targets: &[Subscription], now: u64) -> Result<Published> {
        let stored = self
            .sql
            .exec(
                "INSERT INTO events (event_id, doc) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
                vec![event.event_id.as_str().into(), to_json(event)?.into()],
            )?
            .rows_written()
            > 0;
        if !stored {
            return Ok(Published::duplicate(event));
        }
        self.queue(event, targets, now).await
    }

    /// Queues a delivery of `event`, just stored, to each of `targets`.
    async fn queue(&self, event: &Event, targets: &[Subscription], now: u64) -> Result<Published> {
        for subscription in targets {
            let delivery_id = new_delivery_id(random_bytes().map_err(api_to_worker)?);
            self.sql.exec(
                "INSERT INTO deliveries (delivery_id, subscription_id, event_id, event_type, state, attempts, budget_base,
                    next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
                vec![
                    delivery_id.into(),
                    subscription.subscription_id.as_str().into(),
                    event.event_id.as_str().into(),
                    event.event_type.as_str().into(),
                    DeliveryState::Queued.as_str().into(),
                    sql_int(now)?,
                    sql_int(now)?,
                    sql_int(now)?,
                ],
            )?;
            self.transition(DeliveryState::Queued, now)?;
        }
        self.unindexed.borrow_mut().push(event.event_id.clone());
        if !targets.is_empty() {
            self.alarm.ensure_by(&self.state, now).await?;
        }
        Ok(Published { event_id: event.event_id.clone(), deliveries: targets.len() as u32, duplicate: false })
    }

    async fn emit(
        &self,
        event_type: EventType,
        data: serde_json::Value,
        exclude: Option<&str>,
        now: u64,
    ) -> Result<()> {
        let event = Event {
            event_id: new_event_id(random_bytes().map_err(api_to_worker)?),
            event_type,
            occurred_at_ms: now,
            data,
        };
        self.publish(&event, None, exclude, now).await?;
        Ok(())
    }

    // -------------------------------------------------------------- the queue

    fn transition(&self, state: DeliveryState, now: u64) -> Result<()> {
        self.bump(Counter::EventsTotal(state), 1)?;
        self.sql
            .exec("INSERT INTO transitions (at, state) VALUES (?, ?)", vec![sql_int(now)?, state.as_str().into()])?;
        Ok(())
    }

    fn bump(&self, counter: Counter, by: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            vec![counter.name().into(), sql_int(by)?],
        )?;
        Ok(())
    }

    /// Delivery rows, parsed. A row that no longer parses fails the read with
    /// its id and the bad value, logged where the caller surfaces it.
    fn delivery_rows(&self, condition: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<DeliveryRow>> {
        self.stored_deliveries(condition, bindings)?
            .into_iter()
            .map(|row| DeliveryRow::try_from(row).map_err(worker::Error::from))
            .collect()
    }

    fn stored_deliveries(&self, condition: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<StoredDelivery>> {
        self.sql
            .exec(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE {condition}"), bindings)?
            .to_array::<StoredDelivery>()
    }

    /// Back to the queue, due now, with a fresh attempt budget.
    fn requeue(&self, delivery_id: &str, now: u64) -> Result<()> {
        self.sql.exec(
            "UPDATE deliveries SET state = ?, next_at = ?, lease_until = NULL, budget_base = attempts,
                dead_at = NULL, updated_at = ? WHERE delivery_id = ?",
            vec![DeliveryState::Queued.as_str().into(), sql_int(now)?, sql_int(now)?, delivery_id.into()],
        )?;
        self.transition(DeliveryState::Queued, now)
    }

    /// Sets the alarm for the next thing due: a delivery, a lease running
    /// out, a re-drive batch, or the next prune while anything is stored.
    async fn schedule(&self, limits: &WebhookLimits) -> Result<()> {
        let next = crate::durable::earliest(
            &self.sql,
            &format!(
                "SELECT MIN(at) AS at FROM (
                    SELECT MIN(next_at) AS at FROM deliveries WHERE state IN ({})
                    UNION ALL SELECT MIN(lease_until) FROM deliveries WHERE state = {}
                    UNION ALL SELECT next_at FROM redrive WHERE id = 1)",
                lits(&WAITING),
                lit(DeliveryState::Processing)
            ),
        )?;
        let next = match (next, self.next_prune_at(limits)?) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.alarm.replace(&self.state, next).await
    }

    // ---------------------------------------------------------------- retention

    fn meta_number(&self, name: &str) -> Result<Option<u64>> {
        Ok(first_doc(&self.sql, "SELECT value AS doc FROM meta WHERE name = ?", vec![name.into()])?
            .and_then(|value| value.parse().ok()))
    }

    fn set_meta_number(&self, name: &str, value: u64) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
            vec![name.into(), value.to_string().into()],
        )?;
        Ok(())
    }

    /// When the next prune is due, if anything is stored that could need one.
    fn next_prune_at(&self, limits: &WebhookLimits) -> Result<Option<u64>> {
        let stored = self.count(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries LIMIT 1))
                  + (SELECT COUNT(*) FROM (SELECT 1 FROM events LIMIT 1))
                  + (SELECT COUNT(*) FROM (SELECT 1 FROM transitions LIMIT 1)) AS n",
            vec![],
        )?;
        if stored == 0 {
            return Ok(None);
        }
        let last = match self.meta_number("last_pruned_at")? {
            Some(last) => last,
            None => {
                // Nothing has been pruned yet: the clock starts now.
                let now = now_ms();
                self.set_meta_number("last_pruned_at", now)?;
                now
            }
        };
        Ok(Some(last.saturating_add(limits.prune_interval_secs.saturating_mul(1000))))
    }

    /// Deletes what is past its retention: finished deliveries with their
    /// attempts, events no delivery refers to any more, and metric
    /// transitions older than the windows that read them. In batches, so one
    /// alarm never runs long; a full batch brings the next prune forward.
    fn prune_if_due(&self, now: u64, limits: &WebhookLimits) -> Result<()> {
        let interval = limits.prune_interval_secs.saturating_mul(1000);
        if self.meta_number("last_pruned_at")?.is_some_and(|last| now < last.saturating_add(interval)) {
            return Ok(());
        }
        let before = sql_int(limits.prune_before_ms(now))?;
        let finished = format!(
            "SELECT delivery_id FROM deliveries WHERE state IN ({}) AND updated_at < ?
             ORDER BY updated_at LIMIT {PRUNE_BATCH}",
            lits(&FINISHED)
        );
        self.sql.exec(&format!("DELETE FROM attempts WHERE delivery_id IN ({finished})"), vec![before.clone()])?;
        let deleted = self
            .sql
            .exec(&format!("DELETE FROM deliveries WHERE delivery_id IN ({finished})"), vec![before.clone()])?
            .rows_written();
        let orphaned = self
            .sql
            .exec(
                &format!(
                    "DELETE FROM events WHERE event_id IN (
                    SELECT e.event_id FROM events e
                    WHERE CAST(json_extract(e.doc, '$.occurred_at_ms') AS INTEGER) < ?
                      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.event_id)
                    LIMIT {PRUNE_BATCH})"
                ),
                vec![before],
            )?
            .rows_written();
        self.sql
            .exec("DELETE FROM transitions WHERE at < ?", vec![sql_int(now.saturating_sub(TRANSITIONS_KEPT_MS))?])?;
        let full = deleted >= PRUNE_BATCH as usize || orphaned >= PRUNE_BATCH as usize;
        // A full batch: prune again soon rather than an interval from now.
        let stamp = if full { now.saturating_sub(interval).saturating_add(1_000) } else { now };
        self.set_meta_number("last_pruned_at", stamp)
    }

    // -------------------------------------------------------------- attempts

    /// Attempts every due delivery (up to a batch), concurrently. A delivery
    /// whose lease ran out lost its attempt (the worker died or hung): that
    /// counts as a failed attempt, so no delivery can cycle through
    /// `processing` without spending budget.
    async fn deliver_due(&self) -> Result<()> {
        let policy = self.policy()?;
        let now = now_ms();
        let due = self.stored_deliveries(
            &format!(
                "((state IN ({}) AND next_at <= ?1) OR (state = {} AND lease_until <= ?1))
                 ORDER BY next_at LIMIT {BATCH}",
                lits(&WAITING),
                lit(DeliveryState::Processing)
            ),
            vec![sql_int(now)?],
        )?;
        if due.is_empty() {
            return Ok(());
        }
        let context = AttemptContext {
            policy,
            url_policy: config::webhook_url_policy(&self.env).map_err(|e| format!("{e:?}")),
            master: self.master().map_err(|e| e.to_string()),
        };
        let lease = now + context.policy.timeout_secs * 1000 + 30_000;
        let mut to_send = Vec::new();
        for stored in due {
            let id = stored.delivery_id.clone();
            let row = match DeliveryRow::try_from(stored) {
                Ok(row) => row,
                Err(reason) => {
                    // Surfaced in the log and ended: it can never be sent.
                    worker::console_error!("webhook delivery dead-lettered, its row is unreadable: {reason}");
                    self.sql.exec(
                        "UPDATE deliveries SET state = ?, next_at = NULL, lease_until = NULL,
                            last_error = ?, updated_at = ?, dead_at = ? WHERE delivery_id = ?",
                        vec![
                            DeliveryState::FailedDeadLetter.as_str().into(),
                            reason.into(),
                            sql_int(now)?,
                            sql_int(now)?,
                            id.into(),
                        ],
                    )?;
                    self.transition(DeliveryState::FailedDeadLetter, now)?;
                    continue;
                }
            };
            if row.state == DeliveryState::Processing {
                let lost = Outcome::failed(
                    &row,
                    row.updated_at,
                    AttemptErrorKind::LeaseExpired,
                    "the attempt did not finish within its lease",
                );
                self.record(lost, &context.policy).await?;
                continue;
            }
            self.sql.exec(
                "UPDATE deliveries SET state = ?, lease_until = ?, updated_at = ? WHERE delivery_id = ?",
                vec![
                    DeliveryState::Processing.as_str().into(),
                    sql_int(lease)?,
                    sql_int(now)?,
                    row.delivery_id.as_str().into(),
                ],
            )?;
            self.transition(DeliveryState::Processing, now)?;
            to_send.push(DeliveryRow { state: DeliveryState::Processing, ..row });
        }
        let jobs: Vec<_> = to_send.into_iter().map(|row| self.attempt(row, &context)).collect();
        for outcome in futures_util::future::join_all(jobs).await.into_iter().flatten() {
            self.record(outcome, &context.policy).await?;
        }
        self.hand_over_latencies().await;
        Ok(())
    }

    /// Hands the run's event-to-receiver latencies to the status monitor,
    /// which publishes them; a failure is logged, never fails the run.
    async fn hand_over_latencies(&self) {
        let batch = self.latencies.borrow_mut().take();
        if batch.cells.is_empty() {
            return;
        }
        let sent = async {
            let stub = bindings::stub(&self.env, bindings::STATUS_MONITOR, "global")?;
            crate::durable::send(stub, batch).await
        };
        if let Err(error) = sent.await {
            worker::console_error!("webhook latencies lost: {error}");
        }
    }

    /// One attempt, always settled: `None` only when the subscription is gone
    /// (and the delivery with it). Whatever fails before or while sending is
    /// a failed attempt of the matching kind.
    async fn attempt(&self, row: DeliveryRow, context: &AttemptContext) -> Option<Outcome> {
        let started_at = now_ms();
        match self.send(&row, context, started_at).await {
            Ok(outcome) => outcome,
            Err(error) => Some(Outcome::failed(
                &row,
                started_at,
                AttemptErrorKind::RequestUnbuildable,
                format!("the attempt could not be prepared: {error}"),
            )),
        }
    }

    async fn send(&self, row: &DeliveryRow, context: &AttemptContext, started_at: u64) -> Result<Option<Outcome>> {
        let fail = |kind, message: String| Ok(Some(Outcome::failed(row, started_at, kind, message)));
        let subscription = match self.subscription(&row.subscription_id)? {
            Ok(subscription) => subscription,
            Err(_) => {
                self.sql.exec("DELETE FROM deliveries WHERE delivery_id = ?", vec![row.delivery_id.as_str().into()])?;
                return Ok(None);
            }
        };
        if !subscription.active && row.event_type != EventType::Test {
            return fail(AttemptErrorKind::SubscriptionDisabled, "the subscription is disabled".into());
        }
        let url_policy = match &context.url_policy {
            Ok(policy) => *policy,
            Err(error) => {
                return fail(AttemptErrorKind::UrlRefused, format!("the URL rules are misconfigured: {error}"))
            }
        };
        let url = match check_webhook_url(&subscription.url, url_policy) {
            Ok(url) => url,
            Err(reason) => return fail(AttemptErrorKind::UrlRefused, format!("url refused at delivery: {reason}")),
        };
        let Some(doc) =
            first_doc(&self.sql, "SELECT doc FROM events WHERE event_id = ?", vec![row.event_id.as_str().into()])?
        else {
            return fail(AttemptErrorKind::EventUnreadable, "the event is missing".into());
        };
        let event: Event = match serde_json::from_str(&doc) {
            Ok(event) => event,
            Err(error) => {
                return fail(AttemptErrorKind::EventUnreadable, format!("the stored event does not parse: {error}"))
            }
        };
        let master = match &context.master {
            Ok(master) => master,
            Err(error) => {
                return fail(AttemptErrorKind::SecretUnreadable, format!("no master key to unseal with: {error}"))
            }
        };
        let envelope = Envelope::new(&event);
        let body = envelope.body();
        let secrets = match self.live_secrets(master, &row.subscription_id, started_at / 1000)? {
            Ok(secrets) if !secrets.is_empty() => secrets,
            Ok(_) => return fail(AttemptErrorKind::SecretUnreadable, "the subscription has no live secret".into()),
            Err(error) => return fail(AttemptErrorKind::SecretUnreadable, error),
        };
        let refs: Vec<(&str, &WebhookSecret)> = secrets.iter().map(|(kid, secret)| (kid.as_str(), secret)).collect();
        let (signature, kids) =
            signature_headers(&refs, &envelope.event_id, envelope.event_type.as_str(), started_at / 1000, &body);

        // An inbox of this hub is captured in place: no network hop (a Worker
        // cannot fetch its own hostname on Cloudflare).
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), "PartnerEdge-Webhooks/1".to_owned()),
        ];
        headers.extend(signature.into_iter().map(|(name, value)| (name.to_owned(), value)));
        if let Some(inbox_id) = inbox_in_url(url.as_str()) {
            let capture = Capture::new(inbox_id, started_at, "POST", headers.iter().cloned(), body.as_bytes(), true);
            if let Ok(captured) = self.capture(capture, started_at)? {
                let answered = AttemptOutcome::Answered { status: 200, retry_after_secs: None, location: None };
                let body_excerpt = excerpt(&captured.answer_body());
                let latency_ms = now_ms().saturating_sub(started_at);
                return Ok(Some(Outcome {
                    row: row.clone(),
                    started_at,
                    result: answered,
                    latency_ms,
                    body_excerpt,
                    kids,
                }));
            }
        }

        let request = webhook_post(url.as_str(), &headers, &body)?;
        let timeout = Duration::from_secs(context.policy.timeout_secs);
        let result = fetch_bounded(request, timeout, ANSWER_PREFIX_BYTES).await;
        let latency_ms = now_ms().saturating_sub(started_at);
        let (result, body_excerpt) = match result {
            Ok(answer) => {
                let header = |name: &str| answer.headers.get(name).ok().flatten();
                let retry_after = header("retry-after").and_then(|raw| parse_retry_after(&raw, started_at / 1000));
                let location = header("location").map(|l| l.chars().take(512).collect());
                let result =
                    AttemptOutcome::Answered { status: answer.status, retry_after_secs: retry_after, location };
                (result, excerpt(&String::from_utf8_lossy(&answer.body)))
            }
            Err(crate::http::FetchFailure::TimedOut(limit)) => (
                AttemptOutcome::Failed(AttemptError::new(
                    AttemptErrorKind::TimedOut,
                    format!("no answer within {} s", limit.as_secs()),
                )),
                String::new(),
            ),
            Err(crate::http::FetchFailure::Failed(reason)) => {
                (AttemptOutcome::Failed(AttemptError::new(AttemptErrorKind::ConnectionFailed, reason)), String::new())
            }
        };
        Ok(Some(Outcome { row: row.clone(), started_at, result, latency_ms, body_excerpt, kids }))
    }

    /// Records an attempt and stores what `settle_attempt` decided.
    async fn record(&self, outcome: Outcome, policy: &RetryPolicy) -> Result<()> {
        let now = now_ms();
        let row = &outcome.row;
        let mut subscription = self.subscription(&row.subscription_id)?.ok();
        let health = subscription
            .as_ref()
            .map(|s| EndpointHealth { active: s.active, consecutive_failures: s.consecutive_failures });
        let draw = f64::from(u32::from_le_bytes(random_bytes().map_err(api_to_worker)?)) / (f64::from(u32::MAX) + 1.0);
        let settled = settle_attempt(row.progress, row.event_type, health, &outcome.result, policy, now, draw);

        let attempt = Attempt {
            delivery_id: row.delivery_id.clone(),
            event_id: row.event_id.clone(),
            event_type: row.event_type,
            attempt: settled.attempt_no,
            started_at_ms: outcome.started_at,
            status: outcome.result.status(),
            latency_ms: outcome.latency_ms,
            response_excerpt: outcome.body_excerpt.clone(),
            signing_key_ids: outcome.kids.clone(),
            error: settled.error.as_ref().map(|e| e.message.clone()),
            error_kind: settled.error.as_ref().map(|e| e.kind),
            succeeded: settled.succeeded,
        };
        self.sql.exec(
            "INSERT INTO attempts (delivery_id, subscription_id, event_type, succeeded, doc) VALUES (?, ?, ?, ?, ?)",
            vec![
                row.delivery_id.as_str().into(),
                row.subscription_id.as_str().into(),
                row.event_type.as_str().into(),
                i64::from(settled.succeeded).into(),
                to_json(&attempt)?.into(),
            ],
        )?;
        if settled.succeeded && row.event_type != EventType::Test {
            // End to end: from the event's publication to the receiver's 2xx.
            let waited = now.saturating_sub(row.created_at) as f64;
            self.latencies.borrow_mut().record(partner_edge::latency::WEBHOOK_SERIES, waited, now);
        }
        if outcome.result.counts_latency() {
            self.bump(Counter::LatencyBucket(latency_bucket(outcome.latency_ms)), 1)?;
            self.bump(Counter::LatencySumMs, outcome.latency_ms)?;
            self.bump(Counter::LatencyCount, 1)?;
        }

        // The delivery may have been retried by hand or deleted meanwhile.
        let still_ours = self.count(
            "SELECT COUNT(*) AS n FROM deliveries WHERE delivery_id = ? AND state = ?",
            vec![row.delivery_id.as_str().into(), DeliveryState::Processing.as_str().into()],
        )? == 1;
        if !still_ours {
            return Ok(());
        }
        let last_status: SqlStorageValue =
            outcome.result.status().map_or(SqlStorageValue::Null, |s| i64::from(s).into());
        let last_error: SqlStorageValue =
            settled.error.as_ref().map_or(SqlStorageValue::Null, |e| e.message.as_str().into());
        let (next_at, dead_at): (SqlStorageValue, SqlStorageValue) = match settled.next {
            NextStep::Succeeded => (SqlStorageValue::Null, SqlStorageValue::Null),
            NextStep::RetryAt { at_ms } => (sql_int(at_ms)?, SqlStorageValue::Null),
            NextStep::DeadLetter => (SqlStorageValue::Null, sql_int(now)?),
        };
        let state = settled.next.state();
        self.sql.exec(
            "UPDATE deliveries SET state = ?, attempts = ?, next_at = ?, lease_until = NULL, last_status = ?,
                last_error = ?, updated_at = ?, dead_at = ? WHERE delivery_id = ?",
            vec![
                state.as_str().into(),
                i64::from(settled.attempt_no).into(),
                next_at,
                last_status,
                last_error,
                sql_int(now)?,
                dead_at,
                row.delivery_id.as_str().into(),
            ],
        )?;
        self.transition(state, now)?;

        if let (Some(subscription), Some(health)) = (subscription.as_mut(), settled.endpoint) {
            subscription.consecutive_failures = health.consecutive_failures;
            if subscription.active && !health.active {
                subscription.active = false;
                subscription.disabled_reason = Some(format!(
                    "{} consecutive events failed; PATCH active=true to re-enable",
                    health.consecutive_failures
                ));
            }
            self.save_subscription(subscription)?;
        }
        for follow_up in settled.follow_ups {
            let (event_type, data) = match follow_up {
                FollowUp::DeliveryFailed => (
                    EventType::DeliveryFailed,
                    serde_json::to_value(DeliveryFailed {
                        subscription_id: row.subscription_id.clone(),
                        delivery_id: row.delivery_id.clone(),
                        event_id: row.event_id.clone(),
                        event_type: row.event_type,
                        attempts: settled.attempt_no,
                        last_status: outcome.result.status(),
                        last_error: settled.error.as_ref().map(|e| e.message.clone()),
                    }),
                ),
                FollowUp::EndpointDisabled { consecutive_failures } => (
                    EventType::EndpointDisabled,
                    serde_json::to_value(EndpointDisabled {
                        subscription_id: row.subscription_id.clone(),
                        url: subscription.as_ref().map(|s| s.url.clone()).unwrap_or_default(),
                        consecutive_failures,
                        disabled_at: now / 1000,
                    }),
                ),
            };
            let data = data.map_err(|e| worker::Error::from(e.to_string()))?;
            // Tell the partner's other endpoints, not the one that failed.
            self.emit(event_type, data, Some(&row.subscription_id), now).await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- the log

    /// The newest attempts of a delivery (at most `WEBHOOK_LOG_ATTEMPTS_PER_DELIVERY`), oldest first.
    fn attempts_of(&self, delivery_id: &str, listed: u32) -> Result<Vec<Attempt>> {
        self.sql
            .exec(
                &format!(
                    "SELECT doc FROM (SELECT seq, doc FROM attempts WHERE delivery_id = ? ORDER BY seq DESC LIMIT {listed})
                     ORDER BY seq"
                ),
                vec![delivery_id.into()],
            )?
            .to_array::<Doc>()?
            .iter()
            .map(|row| from_json(&row.doc))
            .collect()
    }

    fn deliveries(&self, subscription_id: &str, query: &LogQuery) -> Result<HubReply<Page<DeliveryLogEntry>>> {
        if let Err(refusal) = self.subscription(subscription_id)? {
            return Ok(Err(refusal));
        }
        let mut condition = String::from("subscription_id = ?");
        let mut bindings: Vec<SqlStorageValue> = vec![subscription_id.into()];
        if let Some(state) = query.state {
            condition.push_str(" AND state = ?");
            bindings.push(state.as_str().into());
        }
        if let Some(event_type) = query.event_type {
            condition.push_str(" AND event_type = ?");
            bindings.push(event_type.as_str().into());
        }
        if let Some(before) = query.before_seq {
            condition.push_str(" AND seq < ?");
            bindings.push(sql_int(before)?);
        }
        condition.push_str(&format!(" ORDER BY seq DESC LIMIT {}", query.limit + 1));
        let rows = self.delivery_rows(&condition, bindings)?;
        let (rows, next_cursor) = split_page(rows, query.limit, |row| cursor(row.seq));
        let listed = self.limits()?.attempts_listed;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(DeliveryLogEntry {
                    delivery: row.to_delivery(),
                    attempt_log: self.attempts_of(&row.delivery_id, listed)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Ok(Page { entries, meta: PageMeta { next_cursor, limit: query.limit } }))
    }

    fn failures(&self, subscription_id: &str, query: &LogQuery) -> Result<HubReply<Page<Attempt>>> {
        if let Err(refusal) = self.subscription(subscription_id)? {
            return Ok(Err(refusal));
        }
        #[derive(Deserialize)]
        struct Row {
            seq: i64,
            doc: String,
        }
        let mut sql = String::from("SELECT seq, doc FROM attempts WHERE subscription_id = ? AND succeeded = 0");
        let mut bindings: Vec<SqlStorageValue> = vec![subscription_id.into()];
        if let Some(event_type) = query.event_type {
            sql.push_str(" AND event_type = ?");
            bindings.push(event_type.as_str().into());
        }
        if let Some(before) = query.before_seq {
            sql.push_str(" AND seq < ?");
            bindings.push(sql_int(before)?);
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", query.limit + 1));
        let rows = self.sql.exec(&sql, bindings)?.to_array::<Row>()?;
        let (rows, next_cursor) = split_page(rows, query.limit, |row| cursor(row.seq.unsigned_abs()));
        let attempts = rows.iter().map(|row| from_json(&row.doc)).collect::<Result<Vec<Attempt>>>()?;
        Ok(Ok(Page { entries: attempts, meta: PageMeta { next_cursor, limit: query.limit } }))
    }

    // -------------------------------------------------------------- re-drive

    /// An operator's re-send: every delivery of the event that has not
    /// succeeded goes back to the queue; one that has is never sent twice.
    async fn resend(&self, event_id: &str, now: u64) -> Result<HubReply<Resent>> {
        let rows = self.delivery_rows("event_id = ?", vec![event_id.into()])?;
        let known =
            first_doc(&self.sql, "SELECT event_id AS doc FROM events WHERE event_id = ?", vec![event_id.into()])?;
        if known.is_none() {
            return Ok(Err(Refusal::not_found("event", event_id)));
        }
        // Already delivered everywhere: acknowledge, and send nothing twice.
        let pending: Vec<&DeliveryRow> = rows.iter().filter(|row| replay_requeues(row.state)).collect();
        for row in &pending {
            self.requeue(&row.delivery_id, now)?;
        }
        if !pending.is_empty() {
            self.alarm.ensure_by(&self.state, now).await?;
        }
        Ok(Ok(Resent {
            success: true,
            event_id: event_id.to_owned(),
            requeued: !pending.is_empty(),
            deliveries_requeued: pending.len() as u32,
        }))
    }

    async fn start_redrive(
        &self,
        subscription_id: Option<String>,
        batch_size: u32,
        cooldown_seconds: u64,
        now: u64,
    ) -> Result<HubReply<Redrive>> {
        if let Some(id) = &subscription_id {
            if let Err(error) = self.subscription(id)? {
                return Ok(Err(error));
            }
        }
        self.save_redrive_job(Some(&RedriveJob::start(subscription_id, batch_size, cooldown_seconds, now)))?;
        let (requeued, remaining) = self.run_redrive_batch(now)?;
        self.alarm.ensure_by(&self.state, now).await?;
        Ok(Ok(Redrive {
            requeued,
            remaining,
            batch_size,
            cooldown_seconds,
            next_batch_at_ms: (remaining > 0).then_some(now + cooldown_seconds * 1000),
        }))
    }

    fn redrive_job(&self) -> Result<Option<RedriveJob>> {
        #[derive(Deserialize)]
        struct Stored {
            subscription_id: Option<String>,
            batch_size: i64,
            cooldown_ms: i64,
            cutoff: i64,
            next_at: i64,
        }
        Ok(self
            .sql
            .exec("SELECT subscription_id, batch_size, cooldown_ms, cutoff, next_at FROM redrive WHERE id = 1", None)?
            .to_array::<Stored>()?
            .into_iter()
            .next()
            .map(|job| RedriveJob {
                subscription_id: job.subscription_id,
                batch_size: u32::try_from(job.batch_size).unwrap_or(1),
                cooldown_ms: job.cooldown_ms.unsigned_abs(),
                cutoff_ms: job.cutoff.unsigned_abs(),
                next_at_ms: job.next_at.unsigned_abs(),
            }))
    }

    fn save_redrive_job(&self, job: Option<&RedriveJob>) -> Result<()> {
        match job {
            None => self.sql.exec("DELETE FROM redrive WHERE id = 1", None)?,
            Some(job) => self.sql.exec(
                "INSERT OR REPLACE INTO redrive (id, subscription_id, batch_size, cooldown_ms, cutoff, next_at)
                    VALUES (1, ?, ?, ?, ?, ?)",
                vec![
                    job.subscription_id.as_deref().map_or(SqlStorageValue::Null, Into::into),
                    i64::from(job.batch_size).into(),
                    sql_int(job.cooldown_ms)?,
                    sql_int(job.cutoff_ms)?,
                    sql_int(job.next_at_ms)?,
                ],
            )?,
        };
        Ok(())
    }

    /// Runs the re-drive's batch if one is due (`partner_edge::webhooks::redrive`
    /// decides which and when). Returns (requeued, remaining).
    fn run_redrive_batch(&self, now: u64) -> Result<(u32, u32)> {
        let Some(job) = self.redrive_job()?.filter(|job| job.is_due(now)) else {
            return Ok((0, 0));
        };
        #[derive(Deserialize)]
        struct Candidate {
            delivery_id: String,
            subscription_id: String,
            dead_at: i64,
        }
        let filter = format!(
            "state = {} AND dead_at <= ?1 AND (?2 IS NULL OR subscription_id = ?2)",
            lit(DeliveryState::FailedDeadLetter)
        );
        let bindings = || -> Result<Vec<SqlStorageValue>> {
            Ok(vec![sql_int(job.cutoff_ms)?, job.subscription_id.as_deref().map_or(SqlStorageValue::Null, Into::into)])
        };
        let candidates: Vec<DeadLetter> = self
            .sql
            .exec(
                &format!(
                    "SELECT delivery_id, subscription_id, dead_at FROM deliveries WHERE {filter}
                     ORDER BY dead_at, seq LIMIT {}",
                    job.batch_size
                ),
                bindings()?,
            )?
            .to_array::<Candidate>()?
            .into_iter()
            .map(|c| DeadLetter {
                delivery_id: c.delivery_id,
                subscription_id: c.subscription_id,
                dead_at_ms: c.dead_at.unsigned_abs(),
            })
            .collect();
        let matching = self.count(&format!("SELECT COUNT(*) AS n FROM deliveries WHERE {filter}"), bindings()?)?;
        let batch = job.run_batch(&candidates, matching, now);
        for delivery_id in &batch.requeue {
            self.requeue(delivery_id, now)?;
        }
        self.save_redrive_job(batch.next.as_ref())?;
        Ok((batch.requeue.len() as u32, batch.remaining))
    }

    // ---------------------------------------------------------------- metrics

    fn metrics(&self, now: u64) -> Result<MetricsSnapshot> {
        #[derive(Deserialize)]
        struct Stored {
            name: String,
            value: i64,
        }
        let mut counters = Vec::new();
        for stored in self.sql.exec("SELECT name, value FROM counters", None)?.to_array::<Stored>()? {
            match Counter::parse(&stored.name) {
                Some(counter) => counters.push((counter, stored.value.unsigned_abs())),
                None => worker::console_error!("webhook metrics: stored counter {:?} is unknown", stored.name),
            }
        }
        let mut snapshot = MetricsSnapshot::from_counters(counters);
        snapshot.queue_depth =
            self.count(&format!("SELECT COUNT(*) AS n FROM deliveries WHERE state IN ({})", lits(&PENDING)), vec![])?;
        #[derive(Deserialize)]
        struct Oldest {
            at: Option<i64>,
        }
        snapshot.oldest_created_at_ms = self
            .sql
            .exec(&format!("SELECT MIN(created_at) AS at FROM deliveries WHERE state IN ({})", lits(&PENDING)), None)?
            .one::<Oldest>()?
            .at
            .map(i64::unsigned_abs);
        let since = sql_int(now.saturating_sub(300_000))?;
        snapshot.last_5m = Window {
            total: self.count("SELECT COUNT(*) AS n FROM transitions WHERE at >= ?", vec![since.clone()])?,
            succeeded: self.count(
                "SELECT COUNT(*) AS n FROM transitions WHERE at >= ? AND state = ?",
                vec![since.clone(), DeliveryState::Succeeded.as_str().into()],
            )?,
            retried: self.count(
                "SELECT COUNT(*) AS n FROM transitions WHERE at >= ? AND state = ?",
                vec![since, DeliveryState::Retrying.as_str().into()],
            )?,
        };
        snapshot.dead_letters_24h = self.count(
            "SELECT COUNT(*) AS n FROM transitions WHERE state = ? AND at >= ?",
            vec![DeliveryState::FailedDeadLetter.as_str().into(), sql_int(now.saturating_sub(TRANSITIONS_KEPT_MS))?],
        )?;
        Ok(snapshot)
    }
}

/// A test ping's data.
pub fn test_ping(subscription_id: &str) -> serde_json::Value {
    serde_json::to_value(TestPing {
        subscription_id: subscription_id.to_owned(),
        message: "Test ping from Partner Edge: your endpoint is reachable and verifying signatures.".to_owned(),
    })
    .unwrap_or_default()
}

/// The subscriptions that want `event`, less `exclude`.
fn wanting(subscriptions: &[Subscription], event: &Event, exclude: Option<&str>) -> Vec<Subscription> {
    subscriptions
        .iter()
        .filter(|s| s.wants(event.event_type) && Some(s.subscription_id.as_str()) != exclude)
        .cloned()
        .collect()
}
