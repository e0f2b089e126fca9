//! What the worker asks a partner's `WebhookHub` Durable Object, and what it
//! answers. Inputs arrive validated (URLs already checked against the SSRF
//! rules); the object draws ids and secrets, stores, and delivers.

use serde::{Deserialize, Serialize};

use super::{
    Attempt, Delivery, DeliveryState, Event, EventType, Published, Redrive, Resent, Subscription, SubscriptionIn,
    SubscriptionPatch, SubscriptionWithSecret,
};
use crate::api::{parse_cursor, parse_page_limit, Page, DEFAULT_PAGE};
use crate::error::Refusal;
use crate::partner::FieldError;

/// Creates a subscription and its first secret, shown once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateSubscription {
    pub input: SubscriptionIn,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListSubscriptions {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetSubscription {
    pub subscription_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchSubscription {
    pub subscription_id: String,
    pub patch: SubscriptionPatch,
}

/// Deletes a subscription with its secrets, deliveries and attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteSubscription {
    pub subscription_id: String,
}

/// Starts a secret rotation; the new secret is shown once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RotateSecret {
    pub subscription_id: String,
}

/// Ingests an event and queues one delivery per matching subscription
/// (or only to `only_subscription`, for a test ping).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    pub event: Event,
    pub only_subscription: Option<String>,
}

/// Ingests a batch of events, in order, as `Publish` does each (a sandbox's
/// outbox hands its events over this way); answers with how many were new.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishBatch {
    pub events: Vec<Event>,
}

/// One subscription's delivery log, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListDeliveries {
    pub subscription_id: String,
    pub query: LogQuery,
}

/// One subscription's failed attempts, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListFailures {
    pub subscription_id: String,
    pub query: LogQuery,
}

/// A partner's manual retry of one delivery, with a fresh budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryDelivery {
    pub subscription_id: String,
    pub delivery_id: String,
}

/// An operator's re-send of one event to every endpoint it has not reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResendEvent {
    pub event_id: String,
}

/// An operator's batched re-drive of dead letters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedriveDeadLetters {
    pub subscription_id: Option<String>,
    pub batch_size: u32,
    pub cooldown_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadMetrics {}

/// What the simulator needs of a subscription: its URL and sealed secrets.
/// The worker unseals them, signs and sends; the hub stores nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulationTarget {
    pub subscription_id: String,
}

/// Creates an inbox; `subscription_id`, when given, must exist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateInbox {
    pub input: super::inbox::InboxIn,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListInboxes {}

/// Deletes an inbox with its captures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteInbox {
    pub inbox_id: String,
}

/// An inbox's captures, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListCaptures {
    pub inbox_id: String,
    pub limit: u32,
}

/// Stores what an inbox received, verified against its subscription's secrets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureRequest {
    pub capture: super::inbox::Capture,
}

/// A subscription with every secret slot it still stores (live or past its overlap).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SealedTarget {
    pub subscription: Subscription,
    pub slots: Vec<super::SecretSlot>,
}

/// What the hub refuses a partner can act on; anything else is a failure of the edge.
pub type HubReply<T> = Result<T, Refusal>;

crate::object_commands! {
    /// Everything the worker asks a partner's `WebhookHub` object.
    pub enum HubCommand {
        CreateSubscription(CreateSubscription) => HubReply<SubscriptionWithSecret>,
        ListSubscriptions(ListSubscriptions) => Vec<Subscription>,
        GetSubscription(GetSubscription) => HubReply<Subscription>,
        PatchSubscription(PatchSubscription) => HubReply<Subscription>,
        DeleteSubscription(DeleteSubscription) => HubReply<Subscription>,
        RotateSecret(RotateSecret) => HubReply<SubscriptionWithSecret>,
        Publish(Publish) => HubReply<Published>,
        PublishBatch(PublishBatch) => u32,
        ListDeliveries(ListDeliveries) => HubReply<Page<DeliveryLogEntry>>,
        ListFailures(ListFailures) => HubReply<Page<Attempt>>,
        RetryDelivery(RetryDelivery) => HubReply<Delivery>,
        ResendEvent(ResendEvent) => HubReply<Resent>,
        RedriveDeadLetters(RedriveDeadLetters) => HubReply<Redrive>,
        ReadMetrics(ReadMetrics) => super::metrics::MetricsSnapshot,
        SimulationTarget(SimulationTarget) => HubReply<SealedTarget>,
        CreateInbox(CreateInbox) => HubReply<super::inbox::Inbox>,
        ListInboxes(ListInboxes) => Vec<super::inbox::Inbox>,
        DeleteInbox(DeleteInbox) => HubReply<super::inbox::Inbox>,
        ListCaptures(ListCaptures) => HubReply<Vec<super::inbox::Capture>>,
        CaptureRequest(CaptureRequest) => HubReply<super::inbox::Captured>,
    }
}

/// A command and the partner key whose hub it is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HubRequest {
    pub key_id: String,
    pub command: HubCommand,
}

/// A delivery with its attempts, newest attempt last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeliveryLogEntry {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempt_log: Vec<Attempt>,
}

/// `?status=&event_type=&cursor=&limit=` for the delivery log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    pub state: Option<DeliveryState>,
    pub event_type: Option<EventType>,
    /// Rows strictly older than this sequence number.
    pub before_seq: Option<u64>,
    pub limit: u32,
}

/// Cursors are opaque to clients: `c_` and a sequence number.
pub fn cursor(seq: u64) -> String {
    format!("c_{seq}")
}

impl LogQuery {
    /// Parses the query string's pairs (already percent-decoded).
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, FieldError> {
        let mut query = LogQuery { limit: DEFAULT_PAGE, ..LogQuery::default() };
        for (name, value) in pairs {
            match name {
                "status" => {
                    query.state = Some(DeliveryState::parse(value).ok_or_else(|| {
                        FieldError::new(
                            "status",
                            "must be queued, processing, succeeded, retrying or failed_dead_letter",
                        )
                    })?);
                }
                "event_type" => {
                    query.event_type = Some(
                        EventType::parse(value)
                            .ok_or_else(|| FieldError::new("event_type", "is not in the event catalogue"))?,
                    );
                }
                "cursor" => query.before_seq = Some(parse_cursor(value, "c_")?),
                "limit" => query.limit = parse_page_limit(value)?,
                other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
            }
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_queries_parse_filters_and_cursors() {
        let query =
            LogQuery::parse([("status", "failed_dead_letter"), ("event_type", "salutes.credit"), ("cursor", "c_9")])
                .unwrap();
        assert_eq!(query.state, Some(DeliveryState::FailedDeadLetter));
        assert_eq!(query.event_type, Some(EventType::SalutesCredit));
        assert_eq!(query.before_seq, Some(9));
        for (name, value) in [("status", "lost"), ("event_type", "x.y"), ("cursor", "9"), ("limit", "0"), ("q", "1")] {
            assert!(LogQuery::parse([(name, value)]).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn hub_refusals_round_trip() {
        for error in [
            Refusal::not_found("subscription", "wh_1"),
            Refusal::Conflict { message: "m".into() },
            Refusal::limit_exceeded("m"),
            Refusal::from(FieldError::new("url", "bad")),
        ] {
            let reply: HubReply<Subscription> = Err(error);
            let json = serde_json::to_string(&reply).unwrap();
            assert_eq!(serde_json::from_str::<HubReply<Subscription>>(&json).unwrap(), reply);
        }
    }
}
