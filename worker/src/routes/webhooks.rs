//! Webhook routes: partners manage subscriptions and read the delivery log;
//! operators publish events, re-drive them and read metrics. Every route is
//! a thin call to the partner's `WebhookHub` Durable Object.

use futures_util::future::join_all;
use partner_edge::api::{parse_page_limit, DEFAULT_PAGE};
use partner_edge::error::ErrorCode;
use partner_edge::object::Command;
use partner_edge::partner::KeyId;
use partner_edge::webhooks::commands::{CaptureRequest, CreateInbox, DeleteInbox, ListCaptures, ListInboxes};
use partner_edge::webhooks::commands::{
    CreateSubscription, DeleteSubscription, GetSubscription, HubCommand, HubReply, HubRequest, ListDeliveries,
    ListFailures, ListSubscriptions, LogQuery, PatchSubscription, Publish, ReadMetrics, RedriveDeadLetters,
    ResendEvent, RetryDelivery, RotateSecret,
};
use partner_edge::webhooks::inbox::{is_inbox_id, Capture, InboxIn};
use partner_edge::webhooks::metrics::MetricsSnapshot;
use partner_edge::webhooks::ssrf::{check_webhook_url, MAX_URL_CHARS};
use partner_edge::webhooks::{
    check_event_id, Event, EventType, PublishEvent, RedriveIn, SubscriptionIn, SubscriptionPatch,
};
use worker::{Env, Response};

use crate::durable::send_in;
use crate::error::ApiError;
use crate::http::{json_body, now_secs, paginated, query_pairs, random_bytes, success, Incoming};
use crate::router::Edge;
use crate::webhook_hub::{inbox_kv_key, test_ping};
use crate::{bindings, config, keys};

/// Sends one command to a partner's hub; the answer is the type the command names.
pub async fn call_webhook_hub<C>(env: &Env, key_id: &str, command: C) -> Result<C::Reply, ApiError>
where
    C: Command<Envelope = HubCommand>,
    HubCommand: From<C>,
{
    let stub = bindings::stub(env, bindings::WEBHOOK_HUB, key_id)?;
    let request = HubRequest { key_id: key_id.to_owned(), command: HubCommand::from(command) };
    Ok(send_in::<C, _>(stub, &request).await?)
}

/// As [`call_webhook_hub`], for commands the hub may refuse.
pub async fn ask_webhook_hub<C, T>(env: &Env, key_id: &str, command: C) -> Result<T, ApiError>
where
    C: Command<Envelope = HubCommand, Reply = HubReply<T>>,
    HubCommand: From<C>,
{
    Ok(call_webhook_hub(env, key_id, command).await??)
}

pub fn partner_key(edge: &Edge<'_>) -> Result<String, ApiError> {
    edge.partner
        .as_ref()
        .map(|p| p.key.key_id.as_str().to_owned())
        .ok_or_else(|| ApiError::internal("partner route reached without the gate"))
}

fn webhook_id(edge: &Edge<'_>) -> String {
    edge.params.get("webhook_id").unwrap_or_default().to_owned()
}

/// A URL over the length limit is malformed (400, as the document says);
/// any other URL the edge will not deliver to is 422 `url_not_allowed`.
pub fn check_url(env: &Env, url: &str) -> Result<(), ApiError> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::invalid_request(format!("url: must be at most {MAX_URL_CHARS} characters")));
    }
    let policy = config::webhook_url_policy(env)?;
    check_webhook_url(url, policy)
        .map(|_| ())
        .map_err(|reason| ApiError::new(ErrorCode::UrlNotAllowed, format!("url: {reason}")))
}

/// A fresh event id: `evt_` and 128 random bits.
pub fn new_event_id() -> Result<String, ApiError> {
    Ok(partner_edge::webhooks::new_event_id(random_bytes()?))
}

fn log_query(req: &Incoming) -> Result<LogQuery, ApiError> {
    let pairs = query_pairs(req)?;
    Ok(LogQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
}

/// Every partner webhook route.
pub async fn partner(req: &Incoming, edge: Edge<'_>, id: partner_edge::routes::RouteId) -> Result<Response, ApiError> {
    use partner_edge::routes::RouteId;
    let key_id = partner_key(&edge)?;
    let key_id = key_id.as_str();
    let env = edge.env;
    let status = id.route().success_status;
    match id {
        RouteId::CreateWebhook => {
            let input: SubscriptionIn = json_body(&edge.body)?;
            input.validate()?;
            check_url(env, &input.url)?;
            success(status, ask_webhook_hub(env, key_id, CreateSubscription { input }).await?)
        }
        RouteId::ListWebhooks => success(status, call_webhook_hub(env, key_id, ListSubscriptions {}).await?),
        RouteId::GetWebhook => {
            success(status, ask_webhook_hub(env, key_id, GetSubscription { subscription_id: webhook_id(&edge) }).await?)
        }
        RouteId::PatchWebhook => {
            let patch: SubscriptionPatch = json_body(&edge.body)?;
            patch.validate()?;
            if let Some(url) = &patch.url {
                check_url(env, url)?;
            }
            let command = PatchSubscription { subscription_id: webhook_id(&edge), patch };
            success(status, ask_webhook_hub(env, key_id, command).await?)
        }
        RouteId::DeleteWebhook => success(
            status,
            ask_webhook_hub(env, key_id, DeleteSubscription { subscription_id: webhook_id(&edge) }).await?,
        ),
        RouteId::RotateWebhookSecret => {
            success(status, ask_webhook_hub(env, key_id, RotateSecret { subscription_id: webhook_id(&edge) }).await?)
        }
        RouteId::TestWebhook => {
            let subscription_id = webhook_id(&edge);
            let event = Event {
                event_id: new_event_id()?,
                event_type: EventType::Test,
                occurred_at_ms: edge.now_ms,
                data: test_ping(&subscription_id),
            };
            success(
                status,
                ask_webhook_hub(env, key_id, Publish { event, only_subscription: Some(subscription_id) }).await?,
            )
        }
        RouteId::ListWebhookDeliveries => {
            let command = ListDeliveries { subscription_id: webhook_id(&edge), query: log_query(req)? };
            let page = ask_webhook_hub(env, key_id, command).await?;
            paginated(status, page.entries, page.meta)
        }
        RouteId::ListWebhookFailures => {
            let query = log_query(req)?;
            if query.state.is_some() {
                return Err(ApiError::invalid_request("status: the failure log has no status filter"));
            }
            let page = ask_webhook_hub(env, key_id, ListFailures { subscription_id: webhook_id(&edge), query }).await?;
            paginated(status, page.entries, page.meta)
        }
        RouteId::RetryWebhookDelivery => {
            let command = RetryDelivery {
                subscription_id: webhook_id(&edge),
                delivery_id: edge.params.get("delivery_id").unwrap_or_default().to_owned(),
            };
            success(status, ask_webhook_hub(env, key_id, command).await?)
        }
        RouteId::CreateInbox => {
            let input: InboxIn = json_body(&edge.body)?;
            input.validate()?;
            success(status, ask_webhook_hub(env, key_id, CreateInbox { input }).await?)
        }
        RouteId::ListInboxes => success(status, call_webhook_hub(env, key_id, ListInboxes {}).await?),
        RouteId::DeleteInbox => {
            success(status, ask_webhook_hub(env, key_id, DeleteInbox { inbox_id: inbox_id(&edge) }).await?)
        }
        RouteId::ListInboxCaptures => {
            let mut limit = DEFAULT_PAGE;
            for (name, value) in query_pairs(req)? {
                if name == "limit" {
                    limit = parse_page_limit(&value)?;
                }
            }
            success(status, ask_webhook_hub(env, key_id, ListCaptures { inbox_id: inbox_id(&edge), limit }).await?)
        }
        other => Err(ApiError::internal(format!("{other:?} is not a webhook route"))),
    }
}

fn inbox_id(edge: &Edge<'_>) -> String {
    edge.params.get("inbox_id").unwrap_or_default().to_owned()
}

/// `POST /api/public/webhook-inbox/{inbox_id}`: anyone may post; the inbox's
/// hub keeps the request. Cloudflare's own `cf-*` headers are left out.
pub async fn capture(req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let inbox_id = inbox_id(&edge);
    let missing = || ApiError::new(ErrorCode::NotFound, format!("no inbox {inbox_id}"));
    if !is_inbox_id(&inbox_id) {
        return Err(missing());
    }
    let key_id = edge
        .env
        .kv(bindings::KV)?
        .get(&inbox_kv_key(&inbox_id))
        .text()
        .await
        .map_err(|e| ApiError::internal(format!("KV read failed: {e}")))?
        .ok_or_else(missing)?;
    let headers = req.headers().entries().filter(|(name, _)| !name.starts_with("cf-"));
    let capture = Capture::new(&inbox_id, edge.now_ms, "POST", headers, &edge.body, false);
    success(200, ask_webhook_hub(edge.env, &key_id, CaptureRequest { capture }).await?)
}

/// Queues an event for every matching subscription of a partner; stored before this returns.
pub async fn publish_event(env: &Env, key_id: &KeyId, event: Event) -> Result<(), ApiError> {
    ask_webhook_hub(env, key_id.as_str(), Publish { event, only_subscription: None }).await.map(|_| ())
}

/// `POST /api/admin/events`.
pub async fn publish(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let input: PublishEvent = json_body(&edge.body)?;
    let key_id = KeyId::parse(&input.key_id).map_err(|_| ApiError::invalid_request("key_id: not a partner key id"))?;
    if keys::load(edge.env, &key_id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no partner key {key_id}")));
    }
    input
        .event_type
        .check_data(&input.data)
        .map_err(|reason| ApiError::invalid_request(format!("data: not a {} payload: {reason}", input.event_type)))?;
    let event_id = match input.event_id {
        Some(id) => {
            check_event_id(&id)?;
            id
        }
        None => new_event_id()?,
    };
    let event = Event { event_id, event_type: input.event_type, occurred_at_ms: edge.now_ms, data: input.data };
    success(202, ask_webhook_hub(edge.env, key_id.as_str(), Publish { event, only_subscription: None }).await?)
}

/// `POST /api/admin/webhook-events/{event_id}/replay`: sends an event again
/// to every endpoint it has not reached. The seed's answer shape is top-level.
pub async fn resend(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let event_id = edge.params.get("event_id").unwrap_or_default().to_owned();
    let key_id = match crate::event_index::locate(edge.env, &event_id, now_secs(edge.now_ms)).await? {
        Some(key_id) => key_id,
        // Events stored before the index existed were indexed in KV; those
        // entries expire with the events.
        None => edge
            .env
            .kv(bindings::KV)?
            .get(&format!("webhook-event:{event_id}"))
            .text()
            .await
            .map_err(|e| ApiError::internal(format!("KV read failed: {e}")))?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no webhook event {event_id}")))?,
    };
    let resent = ask_webhook_hub(edge.env, &key_id, ResendEvent { event_id }).await?;
    let mut response = Response::from_json(&resent)?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// `POST /api/admin/webhook-dead-letters/redrive`.
pub async fn redrive(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let input: RedriveIn = json_body(&edge.body)?;
    let key_id = KeyId::parse(&input.key_id).map_err(|_| ApiError::invalid_request("key_id: not a partner key id"))?;
    let command = RedriveDeadLetters {
        subscription_id: input.subscription_id.clone(),
        batch_size: input.batch_size()?,
        cooldown_seconds: input.cooldown_seconds()?,
    };
    success(202, ask_webhook_hub(edge.env, key_id.as_str(), command).await?)
}

/// `GET /metrics`: every hub's figures, summed.
pub async fn metrics(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let kv = edge.env.kv(bindings::KV)?;
    let mut hubs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix("webhook-hub:".to_owned());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await.map_err(|e| ApiError::internal(format!("KV list failed: {e}")))?;
        hubs.extend(page.keys.into_iter().filter_map(|k| k.name.strip_prefix("webhook-hub:").map(str::to_owned)));
        if page.list_complete || page.cursor.is_none() {
            break;
        }
        cursor = page.cursor;
    }
    let mut total = MetricsSnapshot::default();
    for chunk in hubs.chunks(16) {
        let answers = join_all(chunk.iter().map(|key_id| call_webhook_hub(edge.env, key_id, ReadMetrics {}))).await;
        for snapshot in answers {
            total.merge(&snapshot?);
        }
    }
    let mut response = Response::ok(total.render(edge.now_ms))?;
    response.headers_mut().set("content-type", "text/plain; version=0.0.4; charset=utf-8")?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}
