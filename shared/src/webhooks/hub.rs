//! What the worker asks a partner's `WebhookHub` Durable Object, and what it
//! answers. Inputs arrive validated (URLs already checked against the SSRF
//! rules); the object draws ids and secrets, stores, and delivers.

use serde::{Deserialize, Serialize};

use super::{
    Attempt, Delivery, DeliveryState, Event, EventType, Published, Redrive, Replayed, Subscription, SubscriptionIn,
    SubscriptionPatch, SubscriptionWithSecret,
};
use crate::api::{parse_cursor, parse_page_limit, DEFAULT_PAGE};
use crate::error::Refusal;
use crate::partner::FieldError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubCommand {
    CreateSubscription {
        input: SubscriptionIn,
    },
    ListSubscriptions,
    GetSubscription {
        subscription_id: String,
    },
    PatchSubscription {
        subscription_id: String,
        patch: SubscriptionPatch,
    },
    DeleteSubscription {
        subscription_id: String,
    },
    RotateSecret {
        subscription_id: String,
    },
    /// Ingests an event and queues one delivery per matching subscription
    /// (or only to `only_subscription`, for a test ping).
    Publish {
        event: Event,
        only_subscription: Option<String>,
    },
    Deliveries {
        subscription_id: String,
        query: LogQuery,
    },
    Failures {
        subscription_id: String,
        query: LogQuery,
    },
    RetryDelivery {
        subscription_id: String,
        delivery_id: String,
    },
    Replay {
        event_id: String,
    },
    Redrive {
        subscription_id: Option<String>,
        batch_size: u32,
        cooldown_seconds: u64,
    },
    Metrics,
}

/// A delivery with its attempts, newest attempt last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeliveryLogEntry {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempt_log: Vec<Attempt>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubOk {
    Subscription(Subscription),
    WithSecret(SubscriptionWithSecret),
    Subscriptions(Vec<Subscription>),
    Published(Published),
    Deliveries { entries: Vec<DeliveryLogEntry>, next_cursor: Option<String>, limit: u32 },
    Failures { attempts: Vec<Attempt>, next_cursor: Option<String>, limit: u32 },
    Delivery(Delivery),
    Replayed(Replayed),
    Redrive(Redrive),
    Metrics(super::metrics::MetricsSnapshot),
}

pub type HubReply = Result<HubOk, Refusal>;

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
    fn hub_replies_round_trip() {
        for error in [
            Refusal::not_found("subscription", "wh_1"),
            Refusal::Conflict { message: "m".into() },
            Refusal::from(FieldError::new("url", "bad")),
        ] {
            let reply: HubReply = Err(error);
            let json = serde_json::to_string(&reply).unwrap();
            assert_eq!(serde_json::from_str::<HubReply>(&json).unwrap(), reply);
        }
    }
}
