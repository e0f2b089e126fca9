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

use partner_edge::api::split_page;
use partner_edge::error::Refusal;
use partner_edge::partner::MasterKey;
use partner_edge::webhooks::hub::{cursor, DeliveryLogEntry, HubCommand, HubOk, HubReply, LogQuery};
use partner_edge::webhooks::metrics::{latency_bucket, MetricsSnapshot, Window, LATENCY_BUCKETS_MS};
use partner_edge::webhooks::retry::{parse_retry_after, RetryPolicy};
use partner_edge::webhooks::ssrf::check_webhook_url;
use partner_edge::webhooks::{
    excerpt, honours_retry_after, is_success, live_slots, new_delivery_id, new_event_id, new_subscription_id,
    signature_headers, Attempt, Delivery, DeliveryFailed, DeliveryState, EndpointDisabled, Envelope, Event, EventType,
    Published, Redrive, Replayed, SecretSlot, Subscription, SubscriptionWithSecret, TestPing, WebhookSecret,
};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Headers, Method, Request, RequestInit, Response, Result, ScheduledTime,
    SqlStorage, SqlStorageValue, State,
};

use crate::durable::{first_doc, from_json, sql_int, to_json, Doc, SchemaOnce};
use crate::http::{fetch_with_timeout, now_ms, random_bytes};
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
    "CREATE TABLE IF NOT EXISTS redrive (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        subscription_id TEXT,
        batch_size INTEGER NOT NULL,
        cooldown_ms INTEGER NOT NULL,
        cutoff INTEGER NOT NULL,
        next_at INTEGER NOT NULL
    )",
];

/// How many due deliveries one alarm attempts, concurrently.
const BATCH: u32 = 100;

/// What the worker sends.
#[derive(Serialize, Deserialize)]
pub struct HubRequest {
    pub key_id: String,
    pub command: HubCommand,
}

#[durable_object]
pub struct WebhookHub {
    state: State,
    env: Env,
    sql: SqlStorage,
    schema: SchemaOnce,
    /// When the stored alarm is due, as this instance last set or read it.
    alarm_at: std::cell::Cell<Option<u64>>,
}

impl DurableObject for WebhookHub {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        Self { state, env, sql, schema: SchemaOnce::default(), alarm_at: std::cell::Cell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/command") => {
                let request: HubRequest = req.json().await?;
                self.remember_key(&request.key_id)?;
                let reply = self.run(request.command).await?;
                Response::from_json(&reply)
            }
            (method, path) => Response::error(format!("WebhookHub has no {method} {path}"), 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        // This alarm has fired; `schedule` below records the next one.
        self.alarm_at.set(None);
        self.run_redrive_batch(now_ms())?;
        self.deliver_due().await?;
        self.schedule().await?;
        Response::ok("done")
    }
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

#[derive(Deserialize, Clone)]
struct DeliveryRow {
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

impl DeliveryRow {
    fn to_delivery(&self) -> Delivery {
        Delivery {
            delivery_id: self.delivery_id.clone(),
            subscription_id: self.subscription_id.clone(),
            event_id: self.event_id.clone(),
            event_type: EventType::parse(&self.event_type).unwrap_or(EventType::Test),
            state: DeliveryState::parse(&self.state).unwrap_or(DeliveryState::Queued),
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            next_attempt_at_ms: self.next_at.map(i64::unsigned_abs),
            last_status: self.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: self.last_error.clone(),
            created_at_ms: self.created_at.unsigned_abs(),
            updated_at_ms: self.updated_at.unsigned_abs(),
        }
    }
}

fn api_to_worker(error: crate::error::ApiError) -> worker::Error {
    worker::Error::from(format!("{error:?}"))
}

/// What every attempt of one alarm's batch shares, read from the environment once.
struct AttemptContext {
    policy: RetryPolicy,
    url_policy: partner_edge::webhooks::ssrf::UrlPolicy,
    master: MasterKey,
}

/// One attempt's outcome before it is recorded.
struct Outcome {
    row: DeliveryRow,
    started_at: u64,
    status: Option<u16>,
    retry_after: Option<u64>,
    latency_ms: u64,
    body_excerpt: String,
    kids: Vec<String>,
    error: Option<String>,
}

impl WebhookHub {
    fn remember_key(&self, key_id: &str) -> Result<()> {
        self.sql.exec("INSERT OR IGNORE INTO meta (name, value) VALUES ('key_id', ?)", vec![key_id.into()])?;
        Ok(())
    }

    fn key_id(&self) -> Result<String> {
        Ok(first_doc(&self.sql, "SELECT value AS doc FROM meta WHERE name = 'key_id'", vec![])?.unwrap_or_default())
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

    async fn run(&self, command: HubCommand) -> Result<HubReply> {
        let now = now_ms();
        Ok(match command {
            HubCommand::CreateSubscription { input } => self.create(input, now).await?,
            HubCommand::ListSubscriptions => Ok(HubOk::Subscriptions(self.subscriptions()?)),
            HubCommand::GetSubscription { subscription_id } => {
                self.subscription(&subscription_id)?.map(HubOk::Subscription)
            }
            HubCommand::PatchSubscription { subscription_id, patch } => match self.subscription(&subscription_id)? {
                Ok(mut subscription) => match patch.apply(&mut subscription, now / 1000) {
                    Ok(()) => {
                        self.save_subscription(&subscription)?;
                        Ok(HubOk::Subscription(subscription))
                    }
                    Err(error) => Err(error.into()),
                },
                Err(error) => Err(error),
            },
            HubCommand::DeleteSubscription { subscription_id } => match self.subscription(&subscription_id)? {
                Ok(subscription) => {
                    for table in [
                        "subscriptions WHERE id",
                        "secrets WHERE subscription_id",
                        "deliveries WHERE subscription_id",
                        "attempts WHERE subscription_id",
                    ] {
                        self.sql.exec(&format!("DELETE FROM {table} = ?"), vec![subscription_id.as_str().into()])?;
                    }
                    Ok(HubOk::Subscription(subscription))
                }
                Err(error) => Err(error),
            },
            HubCommand::RotateSecret { subscription_id } => self.rotate(&subscription_id, now)?,
            HubCommand::Publish { event, only_subscription } => {
                let published = self.publish(&event, only_subscription.as_deref(), None, now).await?;
                match published {
                    Some(published) => Ok(HubOk::Published(published)),
                    None => Err(Refusal::not_found("webhook", only_subscription.as_deref().unwrap_or_default())),
                }
            }
            HubCommand::Deliveries { subscription_id, query } => match self.subscription(&subscription_id)? {
                Ok(_) => self.deliveries(&subscription_id, &query)?,
                Err(error) => Err(error),
            },
            HubCommand::Failures { subscription_id, query } => match self.subscription(&subscription_id)? {
                Ok(_) => self.failures(&subscription_id, &query)?,
                Err(error) => Err(error),
            },
            HubCommand::RetryDelivery { subscription_id, delivery_id } => {
                let rows = self.delivery_rows(
                    "delivery_id = ? AND subscription_id = ?",
                    vec![delivery_id.as_str().into(), subscription_id.as_str().into()],
                )?;
                match rows.into_iter().next() {
                    Some(row) => {
                        self.requeue(&row, now)?;
                        self.ensure_alarm(now).await?;
                        let row = self.delivery_rows("delivery_id = ?", vec![delivery_id.as_str().into()])?;
                        Ok(HubOk::Delivery(row.first().map(DeliveryRow::to_delivery).ok_or("delivery vanished")?))
                    }
                    None => Err(Refusal::not_found("delivery", &delivery_id)),
                }
            }
            HubCommand::Replay { event_id } => self.replay(&event_id, now).await?,
            HubCommand::Redrive { subscription_id, batch_size, cooldown_seconds } => {
                self.start_redrive(subscription_id, batch_size, cooldown_seconds, now).await?
            }
            HubCommand::Metrics => Ok(HubOk::Metrics(self.metrics(now)?)),
        })
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
            &format!("{subscription_id}:{kid}"),
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

    async fn create(&self, input: partner_edge::webhooks::SubscriptionIn, now: u64) -> Result<HubReply> {
        let id = new_subscription_id(random_bytes().map_err(api_to_worker)?);
        let (slot, secret) = self.new_slot(&id, "whk_1", now)?;
        let mut event_types = input.event_types;
        event_types.sort_unstable();
        event_types.dedup();
        let subscription = Subscription {
            subscription_id: id,
            url: input.url,
            description: input.description,
            event_types,
            receive_all: input.receive_all,
            active: true,
            disabled_reason: None,
            consecutive_failures: 0,
            current_secret_id: slot.kid,
            previous_secret_valid_until: None,
            created_at: now / 1000,
            updated_at: now / 1000,
        };
        self.save_subscription(&subscription)?;
        // Lets /metrics find this hub without waking every partner's.
        let key_id = self.key_id()?;
        self.env
            .kv(bindings::KV)?
            .put(&format!("webhook-hub:{key_id}"), "1")?
            .execute()
            .await
            .map_err(|e| worker::Error::from(e.to_string()))?;
        Ok(Ok(HubOk::WithSecret(SubscriptionWithSecret { subscription, secret: secret.expose().to_owned() })))
    }

    fn rotate(&self, subscription_id: &str, now: u64) -> Result<HubReply> {
        let mut subscription = match self.subscription(subscription_id)? {
            Ok(subscription) => subscription,
            Err(error) => return Ok(Err(error)),
        };
        let overlap = self.policy()?.rotation_overlap_secs;
        let now_secs = now / 1000;
        let mut highest = 0;
        for mut slot in self.slots(subscription_id)? {
            highest = highest.max(slot.kid.trim_start_matches("whk_").parse::<u32>().unwrap_or(0));
            match slot.valid_until {
                Some(until) if until <= now_secs => {
                    self.sql.exec(
                        "DELETE FROM secrets WHERE subscription_id = ? AND kid = ?",
                        vec![subscription_id.into(), slot.kid.as_str().into()],
                    )?;
                }
                Some(_) => {}
                None => {
                    slot.valid_until = Some(now_secs + overlap);
                    self.sql.exec(
                        "UPDATE secrets SET doc = ? WHERE subscription_id = ? AND kid = ?",
                        vec![to_json(&slot)?.into(), subscription_id.into(), slot.kid.as_str().into()],
                    )?;
                }
            }
        }
        let kid = format!("whk_{}", highest + 1);
        let (_, secret) = self.new_slot(subscription_id, &kid, now)?;
        subscription.current_secret_id = kid;
        subscription.previous_secret_valid_until = (overlap > 0).then_some(now_secs + overlap);
        subscription.updated_at = now_secs;
        self.save_subscription(&subscription)?;
        Ok(Ok(HubOk::WithSecret(SubscriptionWithSecret { subscription, secret: secret.expose().to_owned() })))
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
        if first_doc(
            &self.sql,
            "SELECT event_id AS doc FROM events WHERE event_id = ?",
            vec![event.event_id.as_str().into()],
        )?
        .is_some()
        {
            return Ok(Some(Published { event_id: event.event_id.clone(), deliveries: 0, duplicate: true }));
        }
        let targets: Vec<Subscription> = match only {
            Some(id) => match self.subscription(id)? {
                Ok(subscription) => vec![subscription],
                Err(_) => return Ok(None),
            },
            None => self
                .subscriptions()?
                .into_iter()
                .filter(|s| s.wants(event.event_type) && Some(s.subscription_id.as_str()) != exclude)
                .collect(),
        };
        self.sql.exec(
            "INSERT INTO events (event_id, doc) VALUES (?, ?)",
            vec![event.event_id.as_str().into(), to_json(event)?.into()],
        )?;
        for subscription in &targets {
            let delivery_id = new_delivery_id(random_bytes().map_err(api_to_worker)?);
            self.sql.exec(
                "INSERT INTO deliveries (delivery_id, subscription_id, event_id, event_type, state, attempts, budget_base,
                    next_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', 0, 0, ?, ?, ?)",
                vec![
                    delivery_id.into(),
                    subscription.subscription_id.as_str().into(),
                    event.event_id.as_str().into(),
                    event.event_type.as_str().into(),
                    sql_int(now)?,
                    sql_int(now)?,
                    sql_int(now)?,
                ],
            )?;
            self.transition(DeliveryState::Queued, now)?;
        }
        // Lets the operator's replay route find the event's partner. The
        // event itself is already stored; the index is written after the answer.
        let key_id = self.key_id()?;
        let put = self.env.kv(bindings::KV)?.put(&format!("webhook-event:{}", event.event_id), key_id)?;
        self.state.wait_until(async move {
            if let Err(error) = put.expiration_ttl(30 * 86_400).execute().await {
                worker::console_error!("could not index a webhook event for replay: {error}");
            }
        });
        if !targets.is_empty() {
            self.ensure_alarm(now).await?;
        }
        Ok(Some(Published { event_id: event.event_id.clone(), deliveries: targets.len() as u32, duplicate: false }))
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
        self.bump(&format!("events_total:{}", state.as_str()), 1)?;
        self.sql
            .exec("INSERT INTO transitions (at, state) VALUES (?, ?)", vec![sql_int(now)?, state.as_str().into()])?;
        Ok(())
    }

    fn bump(&self, name: &str, by: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            vec![name.into(), sql_int(by)?],
        )?;
        Ok(())
    }

    fn delivery_rows(&self, condition: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<DeliveryRow>> {
        self.sql
            .exec(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE {condition}"), bindings)?
            .to_array::<DeliveryRow>()
    }

    /// Back to the queue, due now, with a fresh attempt budget.
    fn requeue(&self, row: &DeliveryRow, now: u64) -> Result<()> {
        self.sql.exec(
            "UPDATE deliveries SET state = 'queued', next_at = ?, lease_until = NULL, budget_base = attempts,
                dead_at = NULL, updated_at = ? WHERE delivery_id = ?",
            vec![sql_int(now)?, sql_int(now)?, row.delivery_id.as_str().into()],
        )?;
        self.transition(DeliveryState::Queued, now)
    }

    /// Sets the alarm for `at` unless one is already due sooner.
    async fn ensure_alarm(&self, at: u64) -> Result<()> {
        if self.alarm_at.get().is_some_and(|current| current <= at) {
            return Ok(());
        }
        let storage = self.state.storage();
        let current = storage.get_alarm().await?;
        if current.is_none_or(|current| current.unsigned_abs() > at) {
            storage.set_alarm(ScheduledTime::new(worker::js_sys::Date::new(&(at as f64).into()))).await?;
            self.alarm_at.set(Some(at));
        } else {
            self.alarm_at.set(current.map(i64::unsigned_abs));
        }
        Ok(())
    }

    /// Sets the alarm for the next thing due: a delivery, a lease running out, a re-drive batch.
    async fn schedule(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Next {
            at: Option<i64>,
        }
        let next = self
            .sql
            .exec(
                "SELECT MIN(at) AS at FROM (
                    SELECT MIN(next_at) AS at FROM deliveries WHERE state IN ('queued', 'retrying')
                    UNION ALL SELECT MIN(lease_until) FROM deliveries WHERE state = 'processing'
                    UNION ALL SELECT next_at FROM redrive WHERE id = 1)",
                None,
            )?
            .one::<Next>()?
            .at;
        if let Some(at) = next {
            self.state.storage().set_alarm(ScheduledTime::new(worker::js_sys::Date::new(&(at as f64).into()))).await?;
        }
        self.alarm_at.set(next.map(i64::unsigned_abs));
        Ok(())
    }

    /// Attempts every due delivery (up to a batch), concurrently.
    async fn deliver_due(&self) -> Result<()> {
        let policy = self.policy()?;
        let now = now_ms();
        let due = self.delivery_rows(
            &format!(
                "((state IN ('queued', 'retrying') AND next_at <= ?1) OR (state = 'processing' AND lease_until <= ?1))
                 ORDER BY next_at LIMIT {BATCH}"
            ),
            vec![sql_int(now)?],
        )?;
        if due.is_empty() {
            return Ok(());
        }
        let lease = now + policy.timeout_secs * 1000 + 30_000;
        for row in &due {
            self.sql.exec(
                "UPDATE deliveries SET state = 'processing', lease_until = ?, updated_at = ? WHERE delivery_id = ?",
                vec![sql_int(lease)?, sql_int(now)?, row.delivery_id.as_str().into()],
            )?;
            self.transition(DeliveryState::Processing, now)?;
        }
        // Read once per batch. If the configuration is broken, the batch stays
        // `processing` and is tried again when its lease runs out.
        let context = match (config::webhook_url_policy(&self.env), self.master()) {
            (Ok(url_policy), Ok(master)) => AttemptContext { policy, url_policy, master },
            (Err(error), _) => {
                worker::console_error!("webhook attempts cannot run: {error:?}");
                return Ok(());
            }
            (_, Err(error)) => {
                worker::console_error!("webhook attempts cannot run: {error}");
                return Ok(());
            }
        };
        let jobs: Vec<_> = due.into_iter().map(|row| self.attempt(row, &context)).collect();
        let outcomes = futures_util::future::join_all(jobs).await;
        for outcome in outcomes {
            match outcome {
                Ok(Some(outcome)) => self.record(outcome, &context.policy).await?,
                Ok(None) => {}
                Err(error) => worker::console_error!("webhook attempt could not run: {error}"),
            }
        }
        Ok(())
    }

    /// Sends one attempt. `None` when there is nothing to send (the subscription is gone).
    async fn attempt(&self, row: DeliveryRow, context: &AttemptContext) -> Result<Option<Outcome>> {
        let started_at = now_ms();
        let subscription = match self.subscription(&row.subscription_id)? {
            Ok(subscription) => subscription,
            Err(_) => {
                self.sql.exec("DELETE FROM deliveries WHERE delivery_id = ?", vec![row.delivery_id.as_str().into()])?;
                return Ok(None);
            }
        };
        let fail = |error: String| Outcome {
            row: row.clone(),
            started_at,
            status: None,
            retry_after: None,
            latency_ms: 0,
            body_excerpt: String::new(),
            kids: Vec::new(),
            error: Some(error),
        };
        let event_type = EventType::parse(&row.event_type).unwrap_or(EventType::Test);
        if !subscription.active && event_type != EventType::Test {
            return Ok(Some(fail("the subscription is disabled".into())));
        }
        let url = match check_webhook_url(&subscription.url, context.url_policy) {
            Ok(url) => url,
            Err(reason) => return Ok(Some(fail(format!("url refused at delivery: {reason}")))),
        };
        let Some(doc) =
            first_doc(&self.sql, "SELECT doc FROM events WHERE event_id = ?", vec![row.event_id.as_str().into()])?
        else {
            return Ok(Some(fail("the event is missing".into())));
        };
        let event: Event = from_json(&doc)?;
        let envelope = Envelope::new(&event);
        let body = envelope.body();

        let slots = self.slots(&row.subscription_id)?;
        let live = live_slots(&slots, started_at / 1000);
        let mut secrets = Vec::new();
        for slot in &live {
            let aad = format!("{}:{}", row.subscription_id, slot.kid);
            let text = context.master.open_text(&aad, &slot.sealed).map_err(|e| worker::Error::from(e.to_string()))?;
            secrets.push((slot.kid.as_str(), WebhookSecret::parse(&text).map_err(worker::Error::from)?));
        }
        let refs: Vec<(&str, &WebhookSecret)> = secrets.iter().map(|(kid, secret)| (*kid, secret)).collect();
        let (signature, kids) = signature_headers(&refs, &envelope, started_at / 1000, &body);

        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set("user-agent", "PartnerEdge-Webhooks/1")?;
        for (name, value) in signature {
            headers.set(name, &value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
        let request = Request::new_with_init(url.as_str(), &init)?;
        let result = fetch_with_timeout(request, Duration::from_secs(context.policy.timeout_secs)).await;
        let latency_ms = now_ms().saturating_sub(started_at);
        Ok(Some(match result {
            Ok(answer) => {
                let retry_after = honours_retry_after(answer.status)
                    .then(|| answer.headers.get("retry-after").ok().flatten())
                    .flatten()
                    .and_then(|raw| parse_retry_after(&raw, started_at / 1000));
                Outcome {
                    row,
                    started_at,
                    status: Some(answer.status),
                    retry_after,
                    latency_ms,
                    body_excerpt: excerpt(&String::from_utf8_lossy(&answer.body)),
                    kids,
                    error: None,
                }
            }
            Err(failure) => Outcome { latency_ms, kids, ..fail(failure.to_string()) },
        }))
    }

    /// Records an attempt and moves its delivery on: succeeded, retrying or dead-lettered.
    async fn record(&self, outcome: Outcome, policy: &RetryPolicy) -> Result<()> {
        let now = now_ms();
        let row = &outcome.row;
        let attempt_no = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
        let succeeded = outcome.status.is_some_and(is_success);
        let event_type = EventType::parse(&row.event_type).unwrap_or(EventType::Test);
        let attempt = Attempt {
            delivery_id: row.delivery_id.clone(),
            event_id: row.event_id.clone(),
            event_type,
            attempt: attempt_no,
            started_at_ms: outcome.started_at,
            status: outcome.status,
            latency_ms: outcome.latency_ms,
            response_excerpt: outcome.body_excerpt.clone(),
            signing_key_ids: outcome.kids.clone(),
            error: outcome.error.clone(),
            succeeded,
        };
        self.sql.exec(
            "INSERT INTO attempts (delivery_id, subscription_id, event_type, succeeded, doc) VALUES (?, ?, ?, ?, ?)",
            vec![
                row.delivery_id.as_str().into(),
                row.subscription_id.as_str().into(),
                row.event_type.as_str().into(),
                i64::from(succeeded).into(),
                to_json(&attempt)?.into(),
            ],
        )?;
        if outcome.status.is_some() || outcome.error.as_deref().is_some_and(|e| e.starts_with("no answer")) {
            self.bump(&format!("latency_bucket:{}", latency_bucket(outcome.latency_ms)), 1)?;
            self.bump("latency_sum_ms", outcome.latency_ms)?;
            self.bump("latency_count", 1)?;
        }

        // The delivery may have been retried by hand or deleted meanwhile.
        let still_ours = self.count(
            "SELECT COUNT(*) AS n FROM deliveries WHERE delivery_id = ? AND state = 'processing'",
            vec![row.delivery_id.as_str().into()],
        )? == 1;
        let last_status: SqlStorageValue = outcome.status.map_or(SqlStorageValue::Null, |s| i64::from(s).into());
        let last_error: SqlStorageValue = outcome.error.as_deref().map_or(SqlStorageValue::Null, Into::into);
        if !still_ours {
            return Ok(());
        }
        let mut subscription = self.subscription(&row.subscription_id)?.ok();
        let counts_for_endpoint = event_type != EventType::Test;
        if succeeded {
            self.sql.exec(
                "UPDATE deliveries SET state = 'succeeded', attempts = ?, next_at = NULL, lease_until = NULL,
                    last_status = ?, last_error = NULL, updated_at = ? WHERE delivery_id = ?",
                vec![i64::from(attempt_no).into(), last_status, sql_int(now)?, row.delivery_id.as_str().into()],
            )?;
            self.transition(DeliveryState::Succeeded, now)?;
            if let Some(subscription) =
                subscription.as_mut().filter(|s| counts_for_endpoint && s.consecutive_failures > 0)
            {
                subscription.consecutive_failures = 0;
                self.save_subscription(subscription)?;
            }
            return Ok(());
        }

        let in_budget = attempt_no.saturating_sub(u32::try_from(row.budget_base).unwrap_or(0));
        let draw = f64::from(u32::from_le_bytes(random_bytes().map_err(api_to_worker)?)) / (f64::from(u32::MAX) + 1.0);
        let disabled = outcome.error.as_deref() == Some("the subscription is disabled");
        let next = if disabled { None } else { policy.next_retry_ms(in_budget, outcome.retry_after, draw) };
        match next {
            Some(wait) => {
                self.sql.exec(
                    "UPDATE deliveries SET state = 'retrying', attempts = ?, next_at = ?, lease_until = NULL,
                        last_status = ?, last_error = ?, updated_at = ? WHERE delivery_id = ?",
                    vec![
                        i64::from(attempt_no).into(),
                        sql_int(now + wait)?,
                        last_status,
                        last_error,
                        sql_int(now)?,
                        row.delivery_id.as_str().into(),
                    ],
                )?;
                self.transition(DeliveryState::Retrying, now)
            }
            None => {
                self.sql.exec(
                    "UPDATE deliveries SET state = 'failed_dead_letter', attempts = ?, next_at = NULL, lease_until = NULL,
                        last_status = ?, last_error = ?, updated_at = ?, dead_at = ? WHERE delivery_id = ?",
                    vec![
                        i64::from(attempt_no).into(),
                        last_status,
                        last_error,
                        sql_int(now)?,
                        sql_int(now)?,
                        row.delivery_id.as_str().into(),
                    ],
                )?;
                self.transition(DeliveryState::FailedDeadLetter, now)?;
                // Tell the partner's other endpoints, except about webhook.* events
                // themselves, so failing endpoints cannot feed each other forever.
                let is_meta = event_type.as_str().starts_with("webhook.");
                if !is_meta && !disabled {
                    let data = serde_json::to_value(DeliveryFailed {
                        subscription_id: row.subscription_id.clone(),
                        delivery_id: row.delivery_id.clone(),
                        event_id: row.event_id.clone(),
                        event_type,
                        attempts: attempt_no,
                        last_status: outcome.status,
                        last_error: outcome.error.clone(),
                    })
                    .map_err(|e| worker::Error::from(e.to_string()))?;
                    self.emit(EventType::DeliveryFailed, data, Some(&row.subscription_id), now).await?;
                }
                if let Some(mut subscription) = subscription.filter(|_| counts_for_endpoint && !disabled) {
                    subscription.consecutive_failures += 1;
                    let limit = policy.auto_disable_after;
                    let disable_now = subscription.active && subscription.consecutive_failures >= limit;
                    if disable_now {
                        subscription.active = false;
                        subscription.disabled_reason =
                            Some(format!("{limit} consecutive events failed; PATCH active=true to re-enable"));
                    }
                    self.save_subscription(&subscription)?;
                    if disable_now {
                        let data = serde_json::to_value(EndpointDisabled {
                            subscription_id: subscription.subscription_id.clone(),
                            url: subscription.url.clone(),
                            consecutive_failures: subscription.consecutive_failures,
                            disabled_at: now / 1000,
                        })
                        .map_err(|e| worker::Error::from(e.to_string()))?;
                        self.emit(EventType::EndpointDisabled, data, Some(&subscription.subscription_id), now).await?;
                    }
                }
                Ok(())
            }
        }
    }

    // ---------------------------------------------------------------- the log

    fn attempts_of(&self, delivery_id: &str) -> Result<Vec<Attempt>> {
        self.sql
            .exec("SELECT doc FROM attempts WHERE delivery_id = ? ORDER BY seq", vec![delivery_id.into()])?
            .to_array::<Doc>()?
            .iter()
            .map(|row| from_json(&row.doc))
            .collect()
    }

    fn deliveries(&self, subscription_id: &str, query: &LogQuery) -> Result<HubReply> {
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
        let (rows, next_cursor) = split_page(rows, query.limit, |row| cursor(row.seq.unsigned_abs()));
        let entries = rows
            .iter()
            .map(|row| {
                Ok(DeliveryLogEntry { delivery: row.to_delivery(), attempt_log: self.attempts_of(&row.delivery_id)? })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Ok(HubOk::Deliveries { entries, next_cursor, limit: query.limit }))
    }

    fn failures(&self, subscription_id: &str, query: &LogQuery) -> Result<HubReply> {
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
        Ok(Ok(HubOk::Failures { attempts, next_cursor, limit: query.limit }))
    }

    // -------------------------------------------------------------- re-drive

    async fn replay(&self, event_id: &str, now: u64) -> Result<HubReply> {
        let rows = self.delivery_rows("event_id = ?", vec![event_id.into()])?;
        let known =
            first_doc(&self.sql, "SELECT event_id AS doc FROM events WHERE event_id = ?", vec![event_id.into()])?;
        if known.is_none() {
            return Ok(Err(Refusal::not_found("event", event_id)));
        }
        // Already delivered everywhere: acknowledge, and send nothing twice.
        let pending: Vec<&DeliveryRow> =
            rows.iter().filter(|row| matches!(row.state.as_str(), "failed_dead_letter" | "retrying")).collect();
        for row in &pending {
            self.requeue(row, now)?;
        }
        if !pending.is_empty() {
            self.ensure_alarm(now).await?;
        }
        Ok(Ok(HubOk::Replayed(Replayed {
            success: true,
            event_id: event_id.to_owned(),
            requeued: !pending.is_empty(),
            deliveries_requeued: pending.len() as u32,
        })))
    }

    async fn start_redrive(
        &self,
        subscription_id: Option<String>,
        batch_size: u32,
        cooldown_seconds: u64,
        now: u64,
    ) -> Result<HubReply> {
        if let Some(id) = &subscription_id {
            if let Err(error) = self.subscription(id)? {
                return Ok(Err(error));
            }
        }
        self.sql.exec(
            "INSERT OR REPLACE INTO redrive (id, subscription_id, batch_size, cooldown_ms, cutoff, next_at)
                VALUES (1, ?, ?, ?, ?, ?)",
            vec![
                subscription_id.as_deref().map_or(SqlStorageValue::Null, Into::into),
                i64::from(batch_size).into(),
                sql_int(cooldown_seconds * 1000)?,
                sql_int(now)?,
                sql_int(now)?,
            ],
        )?;
        let (requeued, remaining) = self.run_redrive_batch(now)?;
        self.ensure_alarm(now).await?;
        Ok(Ok(HubOk::Redrive(Redrive {
            requeued,
            remaining,
            batch_size,
            cooldown_seconds,
            next_batch_at_ms: (remaining > 0).then_some(now + cooldown_seconds * 1000),
        })))
    }

    /// Runs the re-drive's batch if one is due: requeues up to `batch_size`
    /// dead letters from before the re-drive began. Returns (requeued, remaining).
    fn run_redrive_batch(&self, now: u64) -> Result<(u32, u32)> {
        #[derive(Deserialize)]
        struct Job {
            subscription_id: Option<String>,
            batch_size: i64,
            cooldown_ms: i64,
            cutoff: i64,
            next_at: i64,
        }
        let Some(job) = self
            .sql
            .exec("SELECT subscription_id, batch_size, cooldown_ms, cutoff, next_at FROM redrive WHERE id = 1", None)?
            .to_array::<Job>()?
            .into_iter()
            .next()
        else {
            return Ok((0, 0));
        };
        if job.next_at.unsigned_abs() > now {
            return Ok((0, 0));
        }
        let mut condition = String::from("state = 'failed_dead_letter' AND dead_at <= ?");
        let mut bindings: Vec<SqlStorageValue> = vec![job.cutoff.into()];
        if let Some(id) = &job.subscription_id {
            condition.push_str(" AND subscription_id = ?");
            bindings.push(id.as_str().into());
        }
        let batch = self
            .delivery_rows(&format!("{condition} ORDER BY dead_at, seq LIMIT {}", job.batch_size), bindings.clone())?;
        for row in &batch {
            self.requeue(row, now)?;
        }
        let remaining = self.count(&format!("SELECT COUNT(*) AS n FROM deliveries WHERE {condition}"), bindings)?;
        if remaining == 0 {
            self.sql.exec("DELETE FROM redrive WHERE id = 1", None)?;
        } else {
            self.sql.exec(
                "UPDATE redrive SET next_at = ? WHERE id = 1",
                vec![sql_int(now + job.cooldown_ms.unsigned_abs())?],
            )?;
        }
        Ok((batch.len() as u32, u32::try_from(remaining).unwrap_or(u32::MAX)))
    }

    // ---------------------------------------------------------------- metrics

    fn metrics(&self, now: u64) -> Result<MetricsSnapshot> {
        #[derive(Deserialize)]
        struct Counter {
            name: String,
            value: i64,
        }
        self.sql.exec("DELETE FROM transitions WHERE at < ?", vec![sql_int(now.saturating_sub(86_400_000))?])?;
        let mut snapshot =
            MetricsSnapshot { latency_buckets: vec![0; LATENCY_BUCKETS_MS.len() + 1], ..MetricsSnapshot::default() };
        for counter in self.sql.exec("SELECT name, value FROM counters", None)?.to_array::<Counter>()? {
            let value = counter.value.unsigned_abs();
            if let Some(state) = counter.name.strip_prefix("events_total:").and_then(DeliveryState::parse) {
                snapshot.events_total.insert(state, value);
            } else if let Some(index) =
                counter.name.strip_prefix("latency_bucket:").and_then(|i| i.parse::<usize>().ok())
            {
                if let Some(bucket) = snapshot.latency_buckets.get_mut(index) {
                    *bucket = value;
                }
            } else if counter.name == "latency_sum_ms" {
                snapshot.latency_sum_ms = value;
            } else if counter.name == "latency_count" {
                snapshot.latency_count = value;
            }
        }
        snapshot.queue_depth = self.count(
            "SELECT COUNT(*) AS n FROM deliveries WHERE state IN ('queued', 'retrying', 'processing')",
            vec![],
        )?;
        #[derive(Deserialize)]
        struct Oldest {
            at: Option<i64>,
        }
        snapshot.oldest_created_at_ms = self
            .sql
            .exec(
                "SELECT MIN(created_at) AS at FROM deliveries WHERE state IN ('queued', 'retrying', 'processing')",
                None,
            )?
            .one::<Oldest>()?
            .at
            .map(i64::unsigned_abs);
        let since = sql_int(now.saturating_sub(300_000))?;
        snapshot.last_5m = Window {
            total: self.count("SELECT COUNT(*) AS n FROM transitions WHERE at >= ?", vec![since.clone()])?,
            succeeded: self.count(
                "SELECT COUNT(*) AS n FROM transitions WHERE at >= ? AND state = 'succeeded'",
                vec![since.clone()],
            )?,
            retried: self
                .count("SELECT COUNT(*) AS n FROM transitions WHERE at >= ? AND state = 'retrying'", vec![since])?,
        };
        snapshot.dead_letters_24h =
            self.count("SELECT COUNT(*) AS n FROM transitions WHERE state = 'failed_dead_letter'", vec![])?;
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
