//! Outbound webhooks: the event catalogue, the delivery envelope, signing
//! under both schemes, subscriptions, deliveries and their attempts.
//!
//! Signing, per delivery attempt, with every live secret of the subscription:
//!
//! - `X-Webhook-Signature`: lowercase hex HMAC-SHA256 keyed with the secret
//!   string exactly as shown (`whsec_…`, as UTF-8), over `"{timestamp}.{body}"`.
//!   It carries ONE signature: made with the previous secret while a rotation
//!   overlap lasts, with the current one otherwise. A receiver following the
//!   seed's pattern (compare against each secret it holds) therefore keeps
//!   verifying through a rotation whether or not it has installed the new
//!   secret yet. After the overlap, only the new secret signs.
//! - Standard Webhooks: `webhook-id`, `webhook-timestamp`, and
//!   `webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`
//!   keyed with the base64-decoded bytes after `whsec_`; one space-separated
//!   `v1,…` entry per live secret, current first.

pub mod commands;
pub mod delivery;
pub mod inbox;
pub mod index;
pub mod limits;
pub mod metrics;
pub mod redrive;
pub mod retry;
pub mod simulate;
pub mod ssrf;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::partner::FieldError;
use crate::sandbox::{DonationClaim, LedgerEntry};

/// The envelope's `schema_version`. Bumped only by a breaking change.
pub const SCHEMA_VERSION: &str = "1";
/// The catalogue's version, published with `/api/public/webhooks/event-types`.
pub const CATALOGUE_VERSION: &str = "2026-11-22";

pub const HEADER_ID: &str = "X-Webhook-Id";
pub const HEADER_EVENT: &str = "X-Webhook-Event";
pub const HEADER_TIMESTAMP: &str = "X-Webhook-Timestamp";
pub const HEADER_SIGNATURE: &str = "X-Webhook-Signature";
pub const HEADER_SW_ID: &str = "webhook-id";
pub const HEADER_SW_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SW_SIGNATURE: &str = "webhook-signature";

macro_rules! event_types {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $data:ty, $summary:literal; )+) => {
        /// Every event the edge emits.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
        pub enum EventType {
            $($(#[$doc])* #[serde(rename = $wire)] $variant,)+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $wire,)+ }
            }

            pub const fn summary(self) -> &'static str {
                match self { $(EventType::$variant => $summary,)+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($wire => Some(EventType::$variant),)+ _ => None }
            }

            /// Checks that `data` has this event's shape, naming what is wrong.
            pub fn check_data(self, data: &Value) -> Result<(), String> {
                match self {
                    $(EventType::$variant => serde_json::from_value::<$data>(data.clone()).map(|_| ()).map_err(|e| e.to_string()),)+
                }
            }

            /// The schema of this event's `data`, registered with `generator`
            /// (nested types land in its definitions, where references point).
            #[cfg(feature = "openapi")]
            pub fn data_subschema(self, generator: &mut schemars::SchemaGenerator) -> Value {
                match self {
                    $(EventType::$variant => generator.subschema_for::<$data>().to_value(),)+
                }
            }

            /// The JSON Schema of this event's `data`.
            #[cfg(feature = "openapi")]
            pub fn data_schema(self) -> Value {
                match self {
                    $(EventType::$variant => serde_json::to_value(schemars::schema_for!($data)).unwrap_or_default(),)+
                }
            }
        }
    };
}

event_types! {
    /// A donation claim was recorded.
    DonationClaim = "donation.claim", DonationClaim, "A donation claim was recorded for a user and campaign.";
    /// A recorded claim was redeemed.
    DonationClaimRedeemed = "donation.claim_redeemed", ClaimRedeemed, "A donation claim was redeemed.";
    /// Salutes were credited.
    SalutesCredit = "salutes.credit", LedgerEntry, "Salutes were credited to a user; `data` is the ledger entry.";
    /// Salutes were debited.
    SalutesDebit = "salutes.debit", LedgerEntry, "Salutes were debited from a user; `data` is the ledger entry.";
    /// A delivery to one of the partner's endpoints was dead-lettered.
    DeliveryFailed = "webhook.delivery_failed", DeliveryFailed, "A delivery exhausted its retries and was dead-lettered.";
    /// One of the partner's endpoints was disabled after repeated failures.
    EndpointDisabled = "webhook.endpoint_disabled", EndpointDisabled, "A subscription was disabled after consecutive failed events.";
    /// A test ping, sent on request.
    Test = "webhook.test", TestPing, "A test ping sent through the real pipeline by POST /api/partner/webhooks/{id}/test.";
}

impl EventType {
    /// `webhook.*` events report on deliveries themselves; a failure to
    /// deliver one never emits another, so failing endpoints cannot feed each other.
    pub const fn is_about_deliveries(self) -> bool {
        matches!(self, EventType::DeliveryFailed | EventType::EndpointDisabled | EventType::Test)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `donation.claim_redeemed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ClaimRedeemed {
    pub claim_id: String,
    pub user_id: String,
    pub campaign_id: String,
    pub amount: u64,
    /// Unix seconds.
    pub redeemed_at: u64,
}

/// `webhook.delivery_failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeliveryFailed {
    pub subscription_id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub attempts: u32,
    #[serde(default)]
    pub last_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// `webhook.endpoint_disabled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EndpointDisabled {
    pub subscription_id: String,
    pub url: String,
    pub consecutive_failures: u32,
    /// Unix seconds.
    pub disabled_at: u64,
}

/// `webhook.test`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TestPing {
    pub subscription_id: String,
    pub message: String,
}

/// One entry of `GET /api/public/webhooks/event-types`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EventTypeEntry {
    pub event_type: EventType,
    pub version: u32,
    pub summary: String,
    /// JSON Schema (2020-12) of the envelope's `data`.
    pub data_schema: Value,
    /// A complete delivery body.
    pub example: Value,
}

/// A sample envelope for each event type, for the catalogue and the simulator.
pub fn example_envelope(event_type: EventType) -> Envelope {
    use crate::sandbox::EntryKind;
    let entry = |kind: EntryKind| LedgerEntry {
        entry_id: "le_42".into(),
        user_id: "4".into(),
        kind,
        amount: 100,
        balance_after: if kind == EntryKind::Credit { 100 } else { 0 },
        reason: "event_participation".into(),
        source: Some("partner_portal".into()),
        idempotency_key: "idem-1700000000".into(),
        created_at: 1_700_000_000,
    };
    let data = match event_type {
        EventType::DonationClaim => serde_json::to_value(DonationClaim {
            claim_id: "dc_7".into(),
            user_id: "4".into(),
            campaign_id: "winter-drive".into(),
            amount: 25,
            note: None,
            status: "claimed".into(),
            idempotency_key: "idem-1700000000".into(),
            created_at: 1_700_000_000,
        }),
        EventType::DonationClaimRedeemed => serde_json::to_value(ClaimRedeemed {
            claim_id: "dc_7".into(),
            user_id: "4".into(),
            campaign_id: "winter-drive".into(),
            amount: 25,
            redeemed_at: 1_700_000_600,
        }),
        EventType::SalutesCredit => serde_json::to_value(entry(EntryKind::Credit)),
        EventType::SalutesDebit => serde_json::to_value(entry(EntryKind::Debit)),
        EventType::DeliveryFailed => serde_json::to_value(DeliveryFailed {
            subscription_id: "wh_0123456789abcdef01234567".into(),
            delivery_id: "dlv_0123456789abcdef0123456789abcdef".into(),
            event_id: "evt_0123456789abcdef0123456789abcdef".into(),
            event_type: EventType::SalutesCredit,
            attempts: 5,
            last_status: Some(500),
            last_error: None,
        }),
        EventType::EndpointDisabled => serde_json::to_value(EndpointDisabled {
            subscription_id: "wh_0123456789abcdef01234567".into(),
            url: "https://hooks.example.com/partner-edge".into(),
            consecutive_failures: 20,
            disabled_at: 1_700_000_000,
        }),
        EventType::Test => serde_json::to_value(TestPing {
            subscription_id: "wh_0123456789abcdef01234567".into(),
            message: "Test ping from Partner Edge".into(),
        }),
    }
    .unwrap_or_default();
    Envelope::new(&Event {
        event_id: "evt_0123456789abcdef0123456789abcdef".into(),
        event_type,
        occurred_at_ms: 1_700_000_000_000,
        data,
    })
}

/// The catalogue, with schemas; rendered at build time (native only).
#[cfg(feature = "openapi")]
pub fn event_catalogue() -> Value {
    let entries: Vec<EventTypeEntry> = EventType::ALL
        .iter()
        .map(|&event_type| EventTypeEntry {
            event_type,
            version: 1,
            summary: event_type.summary().to_owned(),
            data_schema: event_type.data_schema(),
            example: serde_json::to_value(example_envelope(event_type)).unwrap_or_default(),
        })
        .collect();
    serde_json::json!({
        "success": true,
        "data": {
            "catalogue_version": CATALOGUE_VERSION,
            "schema_version": SCHEMA_VERSION,
            "signature_headers": [HEADER_ID, HEADER_EVENT, HEADER_TIMESTAMP, HEADER_SIGNATURE, HEADER_SW_ID, HEADER_SW_TIMESTAMP, HEADER_SW_SIGNATURE],
            "event_types": entries,
        }
    })
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub event_type: EventType,
    pub occurred_at_ms: u64,
    pub data: Value,
}

/// The delivery body: documented and stable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Envelope {
    /// `"1"`.
    pub schema_version: String,
    /// Also sent as `X-Webhook-Id` and `webhook-id`; the same on every retry. Deduplicate on it.
    pub event_id: String,
    pub event_type: EventType,
    /// RFC 3339, UTC, milliseconds.
    pub occurred_at: String,
    /// The event type's payload; its schema is in the event catalogue.
    #[cfg_attr(feature = "openapi", schemars(with = "serde_json::Map<String, Value>"))]
    pub data: Value,
}

impl Envelope {
    pub fn new(event: &Event) -> Self {
        Self {
            schema_version: SCHEMA_VERSION.to_owned(),
            event_id: event.event_id.clone(),
            event_type: event.event_type,
            occurred_at: crate::time::rfc3339_millis(event.occurred_at_ms),
            data: event.data.clone(),
        }
    }

    /// The exact bytes delivered (and signed).
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A subscription's signing secret: `whsec_` and the base64 of 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

pub const SECRET_PREFIX: &str = "whsec_";

impl WebhookSecret {
    pub fn new(random: [u8; 32]) -> Self {
        Self(format!("{SECRET_PREFIX}{}", BASE64.encode(random)))
    }

    /// Accepts a secret as shown to the partner; its key material must be 24 bytes or more.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let encoded = raw.strip_prefix(SECRET_PREFIX).ok_or("a webhook secret starts with whsec_")?;
        let bytes = BASE64.decode(encoded).map_err(|_| "the part after whsec_ must be base64")?;
        if bytes.len() < 24 {
            return Err("the secret must hold at least 24 bytes".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key_bytes(&self) -> Vec<u8> {
        self.0.strip_prefix(SECRET_PREFIX).and_then(|encoded| BASE64.decode(encoded).ok()).unwrap_or_default()
    }

    /// The seed scheme: hex HMAC-SHA256(secret string, "{timestamp}.{body}").
    pub fn sign_seed(&self, timestamp: u64, body: &str) -> String {
        let mut mac = mac(self.0.as_bytes());
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Standard Webhooks: `v1,` + base64 HMAC-SHA256(key bytes, "{id}.{timestamp}.{body}").
    pub fn sign_standard(&self, id: &str, timestamp: u64, body: &str) -> String {
        let mut mac = mac(&self.key_bytes());
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// A secret slot of a subscription, as stored (sealed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSlot {
    /// `whk_1`, `whk_2`, …: which secret signed an attempt.
    pub kid: String,
    pub sealed: String,
    pub created_at: u64,
    /// Set when the slot was rotated out: it signs until then.
    #[serde(default)]
    pub valid_until: Option<u64>,
}

impl SecretSlot {
    /// What a slot's secret is sealed with besides the master key: it binds
    /// the ciphertext to its subscription and slot.
    pub fn aad(subscription_id: &str, kid: &str) -> String {
        format!("{subscription_id}:{kid}")
    }

    /// Opens this slot's secret; `Err` says why it cannot be read.
    pub fn open(&self, master: &crate::partner::MasterKey, subscription_id: &str) -> Result<WebhookSecret, String> {
        master
            .open_text(&Self::aad(subscription_id, &self.kid), &self.sealed)
            .map_err(|e| format!("secret {} cannot be unsealed: {e}", self.kid))
            .and_then(|text| WebhookSecret::parse(&text))
    }
}

/// The secrets that sign at `now`, current (newest) first.
pub fn live_slots(slots: &[SecretSlot], now: u64) -> Vec<&SecretSlot> {
    let mut live: Vec<&SecretSlot> =
        slots.iter().filter(|slot| slot.valid_until.is_none_or(|until| now < until)).collect();
    live.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.kid.cmp(&a.kid)));
    live
}

/// The signature headers of one attempt. `secrets` are the live ones, current first.
/// `event_type` is a string so the simulator can sign types the catalogue lacks.
pub fn signature_headers(
    secrets: &[(&str, &WebhookSecret)],
    event_id: &str,
    event_type: &str,
    timestamp: u64,
    body: &str,
) -> (Vec<(&'static str, String)>, Vec<String>) {
    let mut headers = vec![
        (HEADER_ID, event_id.to_owned()),
        (HEADER_EVENT, event_type.to_owned()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SW_ID, event_id.to_owned()),
        (HEADER_SW_TIMESTAMP, timestamp.to_string()),
    ];
    // The seed header: the oldest live secret (the previous one during an overlap).
    if let Some((_, oldest)) = secrets.last() {
        headers.push((HEADER_SIGNATURE, oldest.sign_seed(timestamp, body)));
    }
    let standard: Vec<String> =
        secrets.iter().map(|(_, secret)| secret.sign_standard(event_id, timestamp, body)).collect();
    headers.push((HEADER_SW_SIGNATURE, standard.join(" ")));
    let kids = secrets.iter().map(|(kid, _)| (*kid).to_owned()).collect();
    (headers, kids)
}

/// What a receiver's check of one delivery found, per scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub seed_scheme: Result<(), String>,
    pub standard_webhooks: Result<(), String>,
}

/// Verifies a received delivery the way a receiver should: constant-time
/// comparison, and a timestamp within `tolerance_secs` of `now`.
pub fn verify_delivery(
    secret: &WebhookSecret,
    header: impl Fn(&str) -> Option<String>,
    body: &str,
    now: u64,
    tolerance_secs: u64,
) -> VerifyReport {
    let fresh = |name: &str| -> Result<u64, String> {
        let raw = header(name).ok_or(format!("{name} is missing"))?;
        let timestamp: u64 = raw.trim().parse().map_err(|_| format!("{name} is not unix seconds"))?;
        if timestamp.abs_diff(now) > tolerance_secs {
            return Err(format!(
                "{name} is {} s from now; the tolerance is {tolerance_secs} s",
                timestamp.abs_diff(now)
            ));
        }
        Ok(timestamp)
    };
    let seed_scheme = fresh(HEADER_TIMESTAMP).and_then(|timestamp| {
        let presented = header(HEADER_SIGNATURE).ok_or(format!("{HEADER_SIGNATURE} is missing"))?;
        let expected = secret.sign_seed(timestamp, body);
        if crate::signing::secrets_equal(presented.trim(), &expected) {
            Ok(())
        } else {
            Err(format!("{HEADER_SIGNATURE} does not match this secret"))
        }
    });
    let standard_webhooks = fresh(HEADER_SW_TIMESTAMP).and_then(|timestamp| {
        let id = header(HEADER_SW_ID).ok_or(format!("{HEADER_SW_ID} is missing"))?;
        let presented = header(HEADER_SW_SIGNATURE).ok_or(format!("{HEADER_SW_SIGNATURE} is missing"))?;
        let expected = secret.sign_standard(&id, timestamp, body);
        if presented.split(' ').any(|candidate| crate::signing::secrets_equal(candidate, &expected)) {
            Ok(())
        } else {
            Err(format!("no {HEADER_SW_SIGNATURE} entry matches this secret"))
        }
    });
    VerifyReport { seed_scheme, standard_webhooks }
}

/// `POST /api/partner/webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schemars(extend("anyOf" = [
    { "required": ["event_types"], "properties": { "event_types": { "minItems": 1 } } },
    { "required": ["receive_all"], "properties": { "receive_all": { "const": true } } },
])))]
pub struct SubscriptionIn {
    /// Where deliveries go: public https only (loopback only on a local edge
    /// that allows it). A well-formed URL the edge will not deliver to is
    /// 422 `url_not_allowed`, with the reason.
    #[cfg_attr(feature = "openapi", schemars(length(max = 2048), extend("format" = "uri")))]
    pub url: String,
    /// Which events to receive; or set `receive_all`.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// Every event type, including ones added to the catalogue later.
    #[serde(default)]
    pub receive_all: bool,
    /// At most 200 characters, no control characters.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(max = 200), pattern(crate::contract::plain_pattern()))
    )]
    pub description: Option<String>,
}

/// `PATCH /api/partner/webhooks/{id}`: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schemars(extend("minProperties" = 1, "not" = {
    "required": ["event_types", "receive_all"],
    "properties": { "event_types": { "maxItems": 0 }, "receive_all": { "const": false } }
})))]
pub struct SubscriptionPatch {
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", length(max = 2048), extend("format" = "uri")))]
    pub url: Option<String>,
    /// If the subscription would then receive nothing, the patch is 409 `conflict`.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Vec<EventType>"))]
    pub event_types: Option<Vec<EventType>>,
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "bool"))]
    pub receive_all: Option<bool>,
    /// `true` re-enables a disabled subscription and resets its failure count.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "bool"))]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(max = 200), pattern(crate::contract::plain_pattern()))
    )]
    pub description: Option<String>,
}

/// A subscription as partners see it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Subscription {
    /// `wh_` and 24 hex digits.
    pub subscription_id: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub event_types: Vec<EventType>,
    pub receive_all: bool,
    pub active: bool,
    /// Why the edge disabled it, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Dead-lettered events in a row; reaching the limit disables the subscription.
    pub consecutive_failures: u32,
    /// The key id of the current secret (`whk_…`); attempts record which signed.
    pub current_secret_id: String,
    /// While a rotation overlap lasts: when the previous secret stops signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// The only answers that show a webhook secret: create and rotate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `whsec_…`: shown once. Sign checks with it exactly as shown.
    pub secret: String,
}

/// The first secret slot of every subscription; rotations count up from it.
pub const FIRST_SECRET_ID: &str = "whk_1";

impl Subscription {
    /// A new, active subscription from a validated request, with its first
    /// secret slot. Event types are kept sorted and without repeats.
    pub fn create(input: SubscriptionIn, subscription_id: String, current_secret_id: String, now: u64) -> Self {
        let mut event_types = input.event_types;
        event_types.sort_unstable();
        event_types.dedup();
        Self {
            subscription_id,
            url: input.url,
            description: input.description,
            event_types,
            receive_all: input.receive_all,
            active: true,
            disabled_reason: None,
            consecutive_failures: 0,
            current_secret_id,
            previous_secret_valid_until: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether an event of this type goes to this subscription.
    pub fn wants(&self, event_type: EventType) -> bool {
        self.active && (self.receive_all || self.event_types.contains(&event_type))
    }
}

pub(crate) fn check_description(description: Option<&String>) -> Result<(), FieldError> {
    if description.is_some_and(|d| !crate::contract::is_plain(d, 200)) {
        return Err(FieldError::new("description", "must be at most 200 printable characters"));
    }
    Ok(())
}

fn check_types(event_types: &[EventType], receive_all: bool) -> Result<(), FieldError> {
    if event_types.is_empty() && !receive_all {
        return Err(FieldError::new("event_types", "name at least one event type, or set receive_all"));
    }
    Ok(())
}

impl SubscriptionIn {
    /// Validates everything but the URL, which the caller checks under its [`ssrf::UrlPolicy`].
    pub fn validate(&self) -> Result<(), FieldError> {
        check_types(&self.event_types, self.receive_all)?;
        check_description(self.description.as_ref())
    }
}

impl SubscriptionPatch {
    pub fn validate(&self) -> Result<(), FieldError> {
        if *self == Self::default() {
            return Err(FieldError::new(
                "body",
                "name at least one of url, event_types, receive_all, active, description",
            ));
        }
        if self.event_types.as_ref().is_some_and(Vec::is_empty) && self.receive_all == Some(false) {
            return Err(FieldError::new("event_types", "name at least one event type, or set receive_all"));
        }
        check_description(self.description.as_ref())
    }

    /// Applies the patch; the result must still name what it receives (a
    /// conflict with the stored subscription otherwise).
    pub fn apply(self, subscription: &mut Subscription, now: u64) -> Result<(), crate::error::Refusal> {
        if let Some(url) = self.url {
            subscription.url = url;
        }
        if let Some(types) = self.event_types {
            let mut types = types;
            types.sort_unstable();
            types.dedup();
            subscription.event_types = types;
        }
        if let Some(all) = self.receive_all {
            subscription.receive_all = all;
        }
        if let Some(description) = self.description {
            subscription.description = Some(description);
        }
        if let Some(active) = self.active {
            subscription.active = active;
            if active {
                subscription.disabled_reason = None;
                subscription.consecutive_failures = 0;
            }
        }
        if subscription.event_types.is_empty() && !subscription.receive_all {
            return Err(crate::error::Refusal::conflict(
                "after this patch the subscription would receive nothing: name an event type or set receive_all",
            ));
        }
        subscription.updated_at = now;
        Ok(())
    }
}

/// Where a delivery is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    Processing,
    Succeeded,
    Retrying,
    FailedDeadLetter,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Queued,
        DeliveryState::Processing,
        DeliveryState::Succeeded,
        DeliveryState::Retrying,
        DeliveryState::FailedDeadLetter,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Processing => "processing",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Retrying => "retrying",
            DeliveryState::FailedDeadLetter => "failed_dead_letter",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

/// One event on its way to one subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Delivery {
    /// `dlv_` and 32 hex digits.
    pub delivery_id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Unix milliseconds of the next attempt, while one is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// One HTTP attempt of a delivery, as the delivery log records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Attempt {
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: EventType,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub started_at_ms: u64,
    /// The receiver's status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// At most 512 characters of the answer.
    pub response_excerpt: String,
    /// Which secrets signed (`whk_…`), current first.
    pub signing_key_ids: Vec<String>,
    /// What went wrong, in words: a status, a timeout, a redirect and its `Location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong, as a stable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<delivery::AttemptErrorKind>,
    pub succeeded: bool,
}

/// How much of an answer the log keeps.
pub const EXCERPT_CHARS: usize = 512;

/// The first [`EXCERPT_CHARS`] characters of an answer.
pub fn excerpt(body: &str) -> String {
    body.chars().take(EXCERPT_CHARS).collect()
}

/// Any 2xx is a success.
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Whether a receiver's `Retry-After` applies to this status.
pub fn honours_retry_after(status: u16) -> bool {
    status == 429 || status == 503
}

/// `POST /api/admin/events`: an origin publishes an event for one partner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    /// The partner key whose subscriptions receive it.
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::KEY_ID)))]
    pub key_id: String,
    pub event_type: EventType,
    /// Must have the event type's shape (see the catalogue).
    #[cfg_attr(feature = "openapi", schemars(with = "serde_json::Map<String, Value>"))]
    pub data: Value,
    /// Your own id, to publish idempotently: `evt_` and 8 to 64 of `[A-Za-z0-9_-]`.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::EVENT_ID)))]
    pub event_id: Option<String>,
}

/// `evt_` and 32 hex digits, from 128 random bits drawn by the caller.
pub fn new_event_id(random: [u8; 16]) -> String {
    format!("evt_{}", hex::encode(random))
}

/// `wh_` and 24 hex digits.
pub fn new_subscription_id(random: [u8; 12]) -> String {
    format!("wh_{}", hex::encode(random))
}

/// `dlv_` and 32 hex digits.
pub fn new_delivery_id(random: [u8; 16]) -> String {
    format!("dlv_{}", hex::encode(random))
}

/// The event id of something that happened once, such as a ledger entry:
/// the same inputs give the same id, so emitting it twice queues it once.
pub fn derived_event_id(key_id: &str, local_id: &str) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(format!("{key_id}\n{local_id}").as_bytes());
    format!("evt_{}", hex::encode(&digest[..16]))
}

/// Checks a caller-chosen event id.
pub fn check_event_id(raw: &str) -> Result<(), FieldError> {
    let ok = raw.strip_prefix("evt_").is_some_and(|rest| {
        (8..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("event_id", "must be evt_ followed by 8 to 64 of A-Z a-z 0-9 _ -"))
    }
}

/// What ingesting an event did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Published {
    pub event_id: String,
    /// Deliveries queued, one per matching active subscription.
    pub deliveries: u32,
    /// `true` if this event id was already ingested (nothing new was queued).
    pub duplicate: bool,
}

impl Published {
    /// The answer for an event already stored: nothing new queued.
    pub fn duplicate(event: &Event) -> Self {
        Self { event_id: event.event_id.clone(), deliveries: 0, duplicate: true }
    }
}

/// `POST /api/admin/webhook-events/{event_id}/replay`: the seed's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Resent {
    pub success: bool,
    pub event_id: String,
    /// `false` when every delivery of the event had already succeeded.
    pub requeued: bool,
    /// Deliveries sent back to the queue.
    pub deliveries_requeued: u32,
}

/// `POST /api/admin/webhook-dead-letters/redrive`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RedriveIn {
    /// The partner key whose dead letters to re-drive.
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::KEY_ID)))]
    pub key_id: String,
    /// Only this subscription's.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::SUBSCRIPTION_ID)))]
    pub subscription_id: Option<String>,
    /// 1 to 1000; 100 when absent (the seed's runbook).
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "u32", range(min = 1, max = 1000)))]
    pub batch_size: Option<u32>,
    /// 0 to 3600 s between batches; 60 when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "u64", range(min = 0, max = 3600)))]
    pub cooldown_seconds: Option<u64>,
}

impl RedriveIn {
    pub fn batch_size(&self) -> Result<u32, FieldError> {
        let size = self.batch_size.unwrap_or(100);
        if (1..=1000).contains(&size) {
            Ok(size)
        } else {
            Err(FieldError::new("batch_size", "must be 1 to 1000"))
        }
    }

    pub fn cooldown_seconds(&self) -> Result<u64, FieldError> {
        let cooldown = self.cooldown_seconds.unwrap_or(60);
        if cooldown <= 3600 {
            Ok(cooldown)
        } else {
            Err(FieldError::new("cooldown_seconds", "must be 0 to 3600"))
        }
    }
}

/// A re-drive's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Redrive {
    /// Dead letters requeued by the first batch, now.
    pub requeued: u32,
    /// Dead letters left for later batches.
    pub remaining: u32,
    pub batch_size: u32,
    pub cooldown_seconds: u64,
    /// Unix milliseconds of the next batch, if any remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_batch_at_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::new([7; 32])
    }

    #[test]
    fn secrets_are_whsec_base64_of_32_bytes() {
        let secret = secret();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(secret.expose()), Ok(secret.clone()));
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
        assert!(WebhookSecret::parse("sk_nope").is_err());
        assert_eq!(format!("{secret:?}"), "WebhookSecret(…)", "never printed");
    }

    #[test]
    fn the_seed_signature_is_hex_hmac_of_timestamp_dot_body_keyed_by_the_whole_string() {
        // Independent oracle: Python's hmac.new(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b"1614265330.{\"test\": 2432232314}", sha256).hexdigest()
        let secret = WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign_seed(1_614_265_330, body),
            "2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"
        );
    }

    #[test]
    fn the_standard_signature_matches_the_specifications_example() {
        // The Standard Webhooks specification's published example.
        let secret = WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign_standard("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn during_an_overlap_both_secrets_sign_and_the_seed_header_uses_the_previous() {
        let previous = WebhookSecret::new([1; 32]);
        let current = WebhookSecret::new([2; 32]);
        let envelope = example_envelope(EventType::Test);
        let body = envelope.body();
        let (headers, kids) = signature_headers(
            &[("whk_2", &current), ("whk_1", &previous)],
            &envelope.event_id,
            envelope.event_type.as_str(),
            1_700_000_000,
            &body,
        );
        assert_eq!(kids, vec!["whk_2", "whk_1"]);
        let get = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        assert_eq!(get(HEADER_SW_SIGNATURE).unwrap().split(' ').count(), 2);
        for secret in [&previous, &current] {
            let report = verify_delivery(secret, |n| get(n), &body, 1_700_000_010, 300);
            assert_eq!(report.standard_webhooks, Ok(()), "standard verifies with either secret");
        }
        assert_eq!(verify_delivery(&previous, |n| get(n), &body, 1_700_000_010, 300).seed_scheme, Ok(()));
        assert!(verify_delivery(&current, |n| get(n), &body, 1_700_000_010, 300).seed_scheme.is_err());

        let (headers, _) = signature_headers(
            &[("whk_2", &current)],
            &envelope.event_id,
            envelope.event_type.as_str(),
            1_700_000_000,
            &body,
        );
        let get = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        assert_eq!(verify_delivery(&current, |n| get(n), &body, 1_700_000_010, 300).seed_scheme, Ok(()));
    }

    #[test]
    fn verification_refuses_tampering_and_stale_timestamps() {
        let secret = secret();
        let envelope = example_envelope(EventType::SalutesCredit);
        let body = envelope.body();
        let (headers, _) =
            signature_headers(&[("whk_1", &secret)], &envelope.event_id, envelope.event_type.as_str(), 1_000, &body);
        let get = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let tampered = body.replace("100", "900");
        let report = verify_delivery(&secret, |n| get(n), &tampered, 1_000, 300);
        assert!(report.seed_scheme.is_err() && report.standard_webhooks.is_err());
        let report = verify_delivery(&secret, |n| get(n), &body, 2_000, 300);
        assert!(report.seed_scheme.unwrap_err().contains("tolerance"));
    }

    #[test]
    fn live_slots_drop_expired_secrets_and_put_the_newest_first() {
        let slots = vec![
            SecretSlot { kid: "whk_1".into(), sealed: String::new(), created_at: 10, valid_until: Some(100) },
            SecretSlot { kid: "whk_2".into(), sealed: String::new(), created_at: 50, valid_until: None },
        ];
        let kids = |now| live_slots(&slots, now).iter().map(|s| s.kid.clone()).collect::<Vec<_>>();
        assert_eq!(kids(99), vec!["whk_2", "whk_1"]);
        assert_eq!(kids(100), vec!["whk_2"]);
    }

    #[test]
    fn every_event_type_has_an_example_of_its_own_shape() {
        for &event_type in EventType::ALL {
            let envelope = example_envelope(event_type);
            assert_eq!(envelope.event_type, event_type);
            assert_eq!(event_type.check_data(&envelope.data), Ok(()), "{event_type}");
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
        }
        assert!(EventType::SalutesCredit.check_data(&serde_json::json!({"amount": "lots"})).is_err());
        let body = example_envelope(EventType::Test).body();
        assert!(body.starts_with(r#"{"schema_version":"1","event_id":"evt_"#), "{body}");
        assert!(body.contains(r#""occurred_at":"2023-11-14T22:13:20.000Z""#), "{body}");
    }

    #[test]
    fn a_new_subscription_is_active_with_sorted_unique_event_types() {
        let input = SubscriptionIn {
            url: "https://hooks.example.com/h".into(),
            description: None,
            event_types: vec![EventType::SalutesDebit, EventType::DonationClaim, EventType::SalutesDebit],
            receive_all: false,
        };
        let subscription = Subscription::create(input, "wh_1".into(), FIRST_SECRET_ID.into(), 1_000);
        assert_eq!(subscription.event_types, vec![EventType::DonationClaim, EventType::SalutesDebit]);
        assert!(subscription.active && subscription.consecutive_failures == 0);
        assert_eq!((subscription.created_at, subscription.updated_at), (1_000, 1_000));
        assert_eq!(subscription.current_secret_id, "whk_1");
    }

    #[test]
    fn subscriptions_receive_what_they_asked_for_while_active() {
        let mut subscription = Subscription {
            subscription_id: "wh_1".into(),
            url: "https://hooks.example.com".into(),
            description: None,
            event_types: vec![EventType::SalutesCredit],
            receive_all: false,
            active: true,
            disabled_reason: None,
            consecutive_failures: 0,
            current_secret_id: "whk_1".into(),
            previous_secret_valid_until: None,
            created_at: 0,
            updated_at: 0,
        };
        assert!(subscription.wants(EventType::SalutesCredit));
        assert!(!subscription.wants(EventType::SalutesDebit));
        subscription.receive_all = true;
        assert!(subscription.wants(EventType::SalutesDebit));
        subscription.active = false;
        assert!(!subscription.wants(EventType::SalutesCredit));

        subscription.consecutive_failures = 20;
        subscription.disabled_reason = Some("failing".into());
        let patch = SubscriptionPatch { active: Some(true), ..SubscriptionPatch::default() };
        patch.apply(&mut subscription, 5).unwrap();
        assert!(subscription.active && subscription.disabled_reason.is_none());
        assert_eq!(subscription.consecutive_failures, 0);

        let clear = SubscriptionPatch { event_types: Some(vec![]), receive_all: Some(false), ..Default::default() };
        assert_eq!(clear.validate().unwrap_err().field, "event_types", "malformed on its own");
        subscription.receive_all = false;
        let only_types = SubscriptionPatch { event_types: Some(vec![]), ..Default::default() };
        assert_eq!(only_types.validate(), Ok(()), "well-formed on its own");
        let refusal = only_types.apply(&mut subscription, 6).unwrap_err();
        assert_eq!(refusal.code(), crate::error::ErrorCode::Conflict, "a conflict with the stored subscription");
        assert_eq!(SubscriptionPatch::default().validate().unwrap_err().field, "body");
    }

    #[test]
    fn fresh_ids_have_their_prefix_and_length() {
        assert_eq!(new_event_id([0xab; 16]), format!("evt_{}", "ab".repeat(16)));
        assert_eq!(new_subscription_id([1; 12]).len(), 3 + 24);
        assert!(new_delivery_id([2; 16]).starts_with("dlv_02"));
        assert!(check_event_id(&new_event_id([3; 16])).is_ok(), "a fresh id is a valid caller id too");
    }

    #[test]
    fn derived_event_ids_are_stable_and_distinct_per_partner() {
        let a = derived_event_id("pk_sandbox_a", "le_1");
        assert_eq!(a, derived_event_id("pk_sandbox_a", "le_1"));
        assert_ne!(a, derived_event_id("pk_sandbox_b", "le_1"));
        assert_eq!(a.len(), 4 + 32);
    }

    #[test]
    fn event_ids_and_redrive_settings_are_checked() {
        assert!(check_event_id("evt_order-42-created").is_ok());
        assert!(check_event_id("evt_short").is_err(), "at least 8 characters after evt_");
        assert!(check_event_id("evt_bad id!").is_err());
        assert!(check_event_id("order-42").is_err());
        let redrive = RedriveIn { key_id: "k".into(), subscription_id: None, batch_size: None, cooldown_seconds: None };
        assert_eq!((redrive.batch_size(), redrive.cooldown_seconds()), (Ok(100), Ok(60)));
        let bad = RedriveIn { batch_size: Some(0), ..redrive };
        assert_eq!(bad.batch_size().unwrap_err().field, "batch_size");
    }
}
