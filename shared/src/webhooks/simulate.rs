//! The webhook simulator: canned scenarios and receiver drills, signed like
//! real deliveries, and the report card that grades a receiver's answers.
//!
//! Everything here is pure: the worker passes in the clock, the secrets and
//! the random seed of the event ids, sends what [`plan`] returns, and hands
//! what came back to [`grade`]. Simulated events carry ids that start with
//! `evt_sim_`; they are never stored as events nor counted in metrics.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{example_envelope, signature_headers, Envelope, EventType, WebhookSecret};
use crate::partner::FieldError;

/// Every simulated event id starts with this.
pub const SIMULATED_ID_PREFIX: &str = "evt_sim_";
/// How far the stale and future drills move the timestamp: twice the
/// five-minute skew guard receivers are told to apply.
pub const SKEW_DRILL_SECS: u64 = 600;
/// The event type of the unknown-type drill: never in the catalogue.
pub const UNKNOWN_EVENT_TYPE: &str = "simulator.unknown_event";
/// The envelope version the newer-schema drill announces.
pub const NEWER_SCHEMA_VERSION: &str = "2";
/// How long the simulator waits for one answer.
pub const SEND_TIMEOUT_SECS: u64 = 10;
/// The user agent of simulated sends.
pub const USER_AGENT: &str = "PartnerEdge-Webhooks/1 (simulator)";

/// The seed's canned scenarios, and a multi-step one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NamedScenario {
    /// A donation claim was recorded (`donation.claim`).
    ClaimCreated,
    /// A donation claim was redeemed (`donation.claim_redeemed`).
    ClaimRedeemed,
    /// A delivery was dead-lettered (`webhook.delivery_failed`).
    DeliveryFailed,
    /// A claim, then its redemption: two events about the same claim, in order.
    ClaimLifecycle,
}

/// A named scenario, or any catalogue event type by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Scenario {
    Named(NamedScenario),
    Event(EventType),
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::Named(NamedScenario::ClaimCreated)
    }
}

impl Scenario {
    /// The event types it sends, in order.
    pub fn steps(self) -> Vec<EventType> {
        match self {
            Scenario::Named(NamedScenario::ClaimCreated) => vec![EventType::DonationClaim],
            Scenario::Named(NamedScenario::ClaimRedeemed) => vec![EventType::DonationClaimRedeemed],
            Scenario::Named(NamedScenario::DeliveryFailed) => vec![EventType::DeliveryFailed],
            Scenario::Named(NamedScenario::ClaimLifecycle) => {
                vec![EventType::DonationClaim, EventType::DonationClaimRedeemed]
            }
            Scenario::Event(event_type) => vec![event_type],
        }
    }
}

macro_rules! drills {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $expect:expr, $expected:literal; )+) => {
        /// One receiver pattern, put to the test.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
        pub enum Drill {
            $($(#[$doc])* #[serde(rename = $wire)] $variant,)+
        }

        impl Drill {
            /// The whole suite, in the order it runs.
            pub const ALL: &'static [Drill] = &[$(Drill::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self { $(Drill::$variant => $wire,)+ }
            }

            const fn expectation(self) -> Expect {
                match self { $(Drill::$variant => $expect,)+ }
            }

            /// What a receiver written to the patterns answers, in words.
            pub const fn expected(self) -> &'static str {
                match self { $(Drill::$variant => $expected,)+ }
            }
        }
    };
}

drills! {
    /// A correctly signed delivery: the baseline every other drill builds on.
    Signed = "signed", Expect::Accept,
        "2xx: a correctly signed, fresh delivery is accepted";
    /// The same event id twice.
    Duplicate = "duplicate", Expect::Duplicate,
        "2xx twice; the second answer's JSON says \"duplicate\": true (or \"replayed\": true) and changes nothing";
    /// Signed correctly, ten minutes ago.
    StaleTimestamp = "stale_timestamp", Expect::Refuse,
        "4xx (401 stale_timestamp): the timestamp is 600 s old, outside a 300 s skew guard";
    /// Signed correctly, ten minutes ahead.
    FutureTimestamp = "future_timestamp", Expect::Refuse,
        "4xx (401 stale_timestamp): the timestamp is 600 s ahead, outside a 300 s skew guard";
    /// The body changed after signing.
    TamperedBody = "tampered_body", Expect::Refuse,
        "4xx (401): the body no longer matches its signature";
    /// Signed with a secret the receiver never had.
    WrongSecret = "wrong_secret", Expect::Refuse,
        "4xx (401): no secret the receiver holds made the signature";
    /// Signed as during a rotation: the previous secret in the seed header, both in `webhook-signature`.
    RotationOverlap = "rotation_overlap", Expect::Accept,
        "2xx: during an overlap either the current or the previous secret verifies";
    /// Signed only with a secret whose overlap has ended.
    RetiredSecret = "retired_secret", Expect::Refuse,
        "4xx (401): a secret is dropped from the verifier list once its overlap ends";
    /// An event type the receiver does not know.
    UnknownEventType = "unknown_event_type", Expect::Accept,
        "2xx: unknown event types are acknowledged without side effects (\"ignored\": true)";
    /// A newer envelope version with fields the receiver has never seen.
    NewerSchemaVersion = "newer_schema_version", Expect::Accept,
        "2xx: unknown fields are ignored, required ones are still there";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Accept,
    Refuse,
    Duplicate,
}

/// `POST /api/partner/webhooks/simulate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schemars(extend("oneOf" = [
    { "required": ["subscription_id"], "not": { "anyOf": [
        { "required": ["url"] }, { "required": ["secret"] }, { "required": ["previous_secret"] }, { "required": ["retired_secret"] }
    ] } },
    { "required": ["url"], "not": { "required": ["subscription_id"] } },
])))]
pub struct SimulateIn {
    /// Send to one of your subscriptions, signed with its live secrets.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::SUBSCRIPTION_ID)))]
    pub subscription_id: Option<String>,
    /// Or send to this URL, under the same rules as a subscription's URL.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", length(max = 2048), extend("format" = "uri")))]
    pub url: Option<String>,
    /// With `url`: the secret (`whsec_…`) your receiver holds. When absent
    /// the edge makes one and shows it in `generated_secrets`, once.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::WEBHOOK_SECRET)))]
    pub secret: Option<String>,
    /// With `url`: the previous secret, as during a rotation overlap. Made and shown when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::WEBHOOK_SECRET)))]
    pub previous_secret: Option<String>,
    /// With `url`: a secret your receiver has retired; the `retired_secret` drill is skipped without it.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::WEBHOOK_SECRET)))]
    pub retired_secret: Option<String>,
    /// What to send: a named scenario or any catalogue event type. `claim_created` when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Scenario"))]
    pub scenario: Option<Scenario>,
    /// Fields laid over the scenario's example `data`; the result must still
    /// have each event type's shape (see the catalogue).
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Map<String, Value>"))]
    pub data: Option<Map<String, Value>>,
    /// Run these drills with the scenario's first event instead of sending
    /// the scenario; the answer then carries a report card.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Vec<Drill>", length(min = 1, max = 10), extend("uniqueItems" = true)))]
    pub drills: Option<Vec<Drill>>,
}

/// Where a simulation goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetRef<'a> {
    Subscription(&'a str),
    /// A URL with the secrets the caller gave, read.
    Url {
        url: &'a str,
        secrets: GivenSecrets,
    },
}

/// The secrets a url target's caller passed in; `None` where it gave none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GivenSecrets {
    pub secret: Option<WebhookSecret>,
    pub previous: Option<WebhookSecret>,
    pub retired: Option<WebhookSecret>,
}

impl SimulateIn {
    /// The checks the schema cannot make, in the order a reader would.
    pub fn target(&self) -> Result<TargetRef<'_>, FieldError> {
        let url_only = [
            ("secret", &self.secret),
            ("previous_secret", &self.previous_secret),
            ("retired_secret", &self.retired_secret),
        ];
        match (&self.subscription_id, &self.url) {
            (Some(_), Some(_)) => Err(FieldError::new("url", "give subscription_id or url, not both")),
            (None, None) => Err(FieldError::new("subscription_id", "give subscription_id or url")),
            (Some(id), None) => match url_only.iter().find(|(_, value)| value.is_some()) {
                Some((field, _)) => {
                    Err(FieldError::new(field, "only with url: a subscription signs with its own secrets"))
                }
                None => Ok(TargetRef::Subscription(id)),
            },
            (None, Some(url)) => {
                let read = |(field, value): (&'static str, &Option<String>)| {
                    value
                        .as_deref()
                        .map(WebhookSecret::parse)
                        .transpose()
                        .map_err(|reason| FieldError::new(field, reason))
                };
                let [secret, previous, retired] = url_only;
                let secrets =
                    GivenSecrets { secret: read(secret)?, previous: read(previous)?, retired: read(retired)? };
                Ok(TargetRef::Url { url, secrets })
            }
        }
    }

    pub fn drills(&self) -> Result<Option<&[Drill]>, FieldError> {
        let Some(drills) = &self.drills else { return Ok(None) };
        if drills.is_empty() || drills.len() > Drill::ALL.len() {
            return Err(FieldError::new("drills", format!("1 to {} drills", Drill::ALL.len())));
        }
        if drills.iter().enumerate().any(|(i, drill)| drills[..i].contains(drill)) {
            return Err(FieldError::new("drills", "each drill at most once"));
        }
        Ok(Some(drills))
    }

    /// The scenario's events, with the overrides laid over each `data`.
    pub fn events(&self, occurred_at_ms: u64) -> Result<Vec<Envelope>, FieldError> {
        self.scenario
            .unwrap_or_default()
            .steps()
            .into_iter()
            .map(|event_type| {
                let mut envelope = example_envelope(event_type);
                envelope.occurred_at = crate::time::rfc3339_millis(occurred_at_ms);
                if let (Some(overrides), Value::Object(data)) = (&self.data, &mut envelope.data) {
                    data.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                event_type.check_data(&envelope.data).map_err(|reason| {
                    FieldError::new("data", format!("the {event_type} payload no longer fits its schema: {reason}"))
                })?;
                Ok(envelope)
            })
            .collect()
    }
}

/// A secret the simulator signs with, and the name it reports it under
/// (a slot id such as `whk_2`, or `secret` / `previous_secret` / `retired_secret`).
#[derive(Clone, Debug)]
pub struct NamedSecret {
    pub name: String,
    pub secret: WebhookSecret,
}

/// The secrets a run may use.
#[derive(Clone, Debug)]
pub struct SimSecrets {
    pub current: NamedSecret,
    pub previous: Option<NamedSecret>,
    pub retired: Option<NamedSecret>,
    /// Made for this run and never shown: the receiver cannot hold it.
    pub stranger: WebhookSecret,
}

/// One request the simulator is about to send.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedSend {
    pub drill: Option<Drill>,
    pub event_id: String,
    pub event_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub signed_with: Vec<String>,
}

/// Why a drill cannot run against this target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped(pub String);

/// The id of the `n`th send of a run.
pub fn simulated_event_id(seed: [u8; 16], n: usize) -> String {
    format!("{SIMULATED_ID_PREFIX}{}{:02x}", hex::encode(&seed[..15]), n % 256)
}

pub fn is_simulated(event_id: &str) -> bool {
    event_id.starts_with(SIMULATED_ID_PREFIX)
}

fn send(
    drill: Option<Drill>,
    secrets: &[&NamedSecret],
    event_id: &str,
    event_type: &str,
    timestamp: u64,
    body: String,
) -> PlannedSend {
    let refs: Vec<(&str, &WebhookSecret)> = secrets.iter().map(|s| (s.name.as_str(), &s.secret)).collect();
    let (signature, signed_with) = signature_headers(&refs, event_id, event_type, timestamp, &body);
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), USER_AGENT.to_owned()),
    ];
    headers.extend(signature.into_iter().map(|(name, value)| (name.to_owned(), value)));
    PlannedSend { drill, event_id: event_id.to_owned(), event_type: event_type.to_owned(), headers, body, signed_with }
}

fn with_id(envelope: &Envelope, event_id: &str) -> Envelope {
    Envelope { event_id: event_id.to_owned(), ..envelope.clone() }
}

/// The sends of a plain scenario run: each event once, signed with the current secret.
pub fn plan_scenario(events: &[Envelope], secrets: &SimSecrets, now: u64, seed: [u8; 16]) -> Vec<PlannedSend> {
    events
        .iter()
        .enumerate()
        .map(|(n, envelope)| {
            let envelope = with_id(envelope, &simulated_event_id(seed, n));
            send(None, &[&secrets.current], &envelope.event_id, envelope.event_type.as_str(), now, envelope.body())
        })
        .collect()
}

/// The sends of one drill (in order), or why it cannot run here. `n` numbers
/// the drill in its run, so every drill has its own event id.
pub fn plan_drill(
    drill: Drill,
    event: &Envelope,
    secrets: &SimSecrets,
    now: u64,
    seed: [u8; 16],
    n: usize,
) -> Result<Vec<PlannedSend>, Skipped> {
    let envelope = with_id(event, &simulated_event_id(seed, n));
    let id = envelope.event_id.as_str();
    let kind = envelope.event_type.as_str();
    let body = envelope.body();
    let current = &secrets.current;
    let one = |secret: &NamedSecret, timestamp: u64, body: String| {
        vec![send(Some(drill), &[secret], id, kind, timestamp, body)]
    };
    Ok(match drill {
        Drill::Signed => one(current, now, body),
        Drill::Duplicate => {
            let first = send(Some(drill), &[current], id, kind, now, body);
            vec![first.clone(), first]
        }
        Drill::StaleTimestamp => one(current, now.saturating_sub(SKEW_DRILL_SECS), body),
        Drill::FutureTimestamp => one(current, now + SKEW_DRILL_SECS, body),
        Drill::TamperedBody => {
            let mut sent = send(Some(drill), &[current], id, kind, now, body);
            let mut value: Value = serde_json::from_str(&sent.body).unwrap_or_default();
            value["data"]["tampered_after_signing"] = Value::Bool(true);
            sent.body = value.to_string();
            vec![sent]
        }
        Drill::WrongSecret => {
            let stranger = NamedSecret { name: "unknown".into(), secret: secrets.stranger.clone() };
            one(&stranger, now, body)
        }
        Drill::RotationOverlap => {
            let previous = secrets.previous.as_ref().ok_or_else(|| {
                Skipped("no rotation overlap: rotate the subscription's secret first, then run this drill".into())
            })?;
            vec![send(Some(drill), &[current, previous], id, kind, now, body)]
        }
        Drill::RetiredSecret => {
            let retired = secrets
                .retired
                .as_ref()
                .ok_or_else(|| Skipped("no retired secret is known: with a url target, pass retired_secret".into()))?;
            one(retired, now, body)
        }
        Drill::UnknownEventType => {
            let mut value = serde_json::to_value(&envelope).unwrap_or_default();
            value["event_type"] = Value::String(UNKNOWN_EVENT_TYPE.into());
            vec![send(Some(drill), &[current], id, UNKNOWN_EVENT_TYPE, now, value.to_string())]
        }
        Drill::NewerSchemaVersion => {
            let mut value = serde_json::to_value(&envelope).unwrap_or_default();
            value["schema_version"] = Value::String(NEWER_SCHEMA_VERSION.into());
            value["extensions"] = serde_json::json!({ "added_in_schema_version": NEWER_SCHEMA_VERSION });
            value["data"]["field_added_later"] = Value::String("receivers ignore fields they do not know".into());
            vec![send(Some(drill), &[current], id, kind, now, value.to_string())]
        }
    })
}

/// What came back from one send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Observed {
    /// The HTTP status, when an answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The first 512 characters of the answer's body.
    pub body_excerpt: String,
    /// Why no answer came (timeout, connection refused, URL refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

/// A drill's grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Passed,
    Failed,
    Skipped,
}

/// One line of the report card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DrillResult {
    pub drill: Drill,
    pub grade: Grade,
    /// What a receiver written to the patterns answers.
    pub expected: String,
    /// What this receiver answered, or why the drill was skipped.
    pub observed: String,
}

/// The report card of a drill run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReportCard {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub drills: Vec<DrillResult>,
}

impl ReportCard {
    pub fn new(drills: Vec<DrillResult>) -> Self {
        let count = |grade| drills.iter().filter(|d| d.grade == grade).count() as u32;
        Self { passed: count(Grade::Passed), failed: count(Grade::Failed), skipped: count(Grade::Skipped), drills }
    }
}

pub fn skipped(drill: Drill, why: Skipped) -> DrillResult {
    DrillResult { drill, grade: Grade::Skipped, expected: drill.expected().into(), observed: why.0 }
}

fn describe(observed: &Observed) -> String {
    match (observed.status, &observed.error) {
        (Some(status), _) => {
            let excerpt: String = observed.body_excerpt.chars().take(120).collect();
            if excerpt.is_empty() {
                status.to_string()
            } else {
                format!("{status} {excerpt}")
            }
        }
        (None, Some(error)) => format!("no answer: {error}"),
        (None, None) => "no answer".into(),
    }
}

fn says_duplicate(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .is_ok_and(|value| value["duplicate"] == Value::Bool(true) || value["replayed"] == Value::Bool(true))
}

/// Grades a drill from what its sends brought back, in order.
pub fn grade(drill: Drill, observed: &[Observed]) -> DrillResult {
    let ok = |o: &Observed| o.status.is_some_and(super::is_success);
    let refused = |o: &Observed| o.status.is_some_and(|s| (400..500).contains(&s));
    let passed = match (drill.expectation(), observed) {
        (Expect::Accept, [only]) => ok(only),
        (Expect::Refuse, [only]) => refused(only),
        (Expect::Duplicate, [first, second]) => ok(first) && ok(second) && says_duplicate(&second.body_excerpt),
        _ => false,
    };
    let observed = observed.iter().map(describe).collect::<Vec<_>>().join(" | then ");
    DrillResult {
        drill,
        grade: if passed { Grade::Passed } else { Grade::Failed },
        expected: drill.expected().into(),
        observed,
    }
}

/// The request as it went out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SentRequest {
    pub method: String,
    pub url: String,
    /// In the order sent; names as sent.
    pub headers: Vec<[String; 2]>,
    pub body: String,
}

/// One send and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SimulatedSend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Drill>,
    /// `evt_sim_…`: never a real event.
    pub event_id: String,
    pub event_type: String,
    /// Which secrets signed it: slot ids (`whk_2`) or the field that named the secret.
    pub signed_with: Vec<String>,
    pub request: SentRequest,
    pub response: Observed,
    /// The answer's headers (names lowercased).
    pub response_headers: Vec<[String; 2]>,
}

/// Secrets the edge made for a url run: shown here once. Configure the
/// receiver with them and pass them back to sign the same way again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct GeneratedSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
}

/// The target as resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SimulationTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub url: String,
}

/// The answer of `POST /api/partner/webhooks/simulate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Simulation {
    pub target: SimulationTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_secrets: Option<GeneratedSecrets>,
    pub sends: Vec<SimulatedSend>,
    /// Present on a drill run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportCard>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{verify_delivery, HEADER_SIGNATURE, HEADER_TIMESTAMP};

    const NOW: u64 = 1_800_000_000;
    const SEED: [u8; 16] = [7; 16];

    fn secret(byte: u8) -> WebhookSecret {
        WebhookSecret::new([byte; 32])
    }

    fn named(name: &str, byte: u8) -> NamedSecret {
        NamedSecret { name: name.into(), secret: secret(byte) }
    }

    fn secrets() -> SimSecrets {
        SimSecrets {
            current: named("secret", 1),
            previous: Some(named("previous_secret", 2)),
            retired: Some(named("retired_secret", 3)),
            stranger: secret(9),
        }
    }

    fn header(sent: &PlannedSend, name: &str) -> Option<String> {
        sent.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    /// What a receiver holding `held` concludes: the seed scheme with a skew guard of 300 s.
    fn verifies(sent: &PlannedSend, held: &[WebhookSecret]) -> bool {
        held.iter()
            .any(|secret| verify_delivery(secret, |name| header(sent, name), &sent.body, NOW, 300).seed_scheme.is_ok())
    }

    fn event() -> Envelope {
        SimulateIn::default().events(NOW * 1000).unwrap().remove(0)
    }

    fn drill(d: Drill) -> Vec<PlannedSend> {
        plan_drill(d, &event(), &secrets(), NOW, SEED, 3).unwrap()
    }

    #[test]
    fn scenarios_follow_the_seed_and_the_lifecycle_keeps_its_claim() {
        let steps = |s| Scenario::Named(s).steps();
        assert_eq!(steps(NamedScenario::ClaimCreated), [EventType::DonationClaim]);
        assert_eq!(steps(NamedScenario::ClaimRedeemed), [EventType::DonationClaimRedeemed]);
        assert_eq!(steps(NamedScenario::DeliveryFailed), [EventType::DeliveryFailed]);
        let input = SimulateIn {
            scenario: Some(Scenario::Named(NamedScenario::ClaimLifecycle)),
            data: Some(serde_json::from_str(r#"{"claim_id":"dc_99","amount":40}"#).unwrap()),
            ..SimulateIn::default()
        };
        let events = input.events(NOW * 1000).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.data["claim_id"] == "dc_99" && e.data["amount"] == 40));
        let sends = plan_scenario(&events, &secrets(), NOW, SEED);
        assert_eq!(sends[0].event_type, "donation.claim");
        assert_eq!(sends[1].event_type, "donation.claim_redeemed");
        assert_ne!(sends[0].event_id, sends[1].event_id);
        assert!(sends.iter().all(|s| is_simulated(&s.event_id) && verifies(s, &[secret(1)])));
        // Every catalogue type is a scenario of its own.
        for &event_type in EventType::ALL {
            let parsed: Scenario = serde_json::from_value(serde_json::json!(event_type.as_str())).unwrap();
            assert_eq!(parsed.steps(), [event_type]);
        }
    }

    #[test]
    fn overrides_that_break_the_payload_are_refused_by_name() {
        let input =
            SimulateIn { data: Some(serde_json::from_str(r#"{"amount":"lots"}"#).unwrap()), ..SimulateIn::default() };
        let error = input.events(NOW * 1000).unwrap_err();
        assert_eq!(error.field, "data");
        assert!(error.reason.contains("donation.claim"), "{}", error.reason);
    }

    #[test]
    fn the_target_is_a_subscription_or_a_url_and_secrets_go_with_urls() {
        let base = || SimulateIn::default();
        assert!(base().target().is_err());
        let both = SimulateIn { subscription_id: Some("wh_1".into()), url: Some("https://x.example".into()), ..base() };
        assert_eq!(both.target().unwrap_err().field, "url");
        let sub_with_secret =
            SimulateIn { subscription_id: Some("wh_1".into()), secret: Some(secret(1).expose().into()), ..base() };
        assert_eq!(sub_with_secret.target().unwrap_err().field, "secret");
        let bad_secret =
            SimulateIn { url: Some("https://x.example".into()), previous_secret: Some("whsec_x".into()), ..base() };
        assert_eq!(bad_secret.target().unwrap_err().field, "previous_secret");
        let url =
            SimulateIn { url: Some("https://x.example".into()), secret: Some(secret(1).expose().into()), ..base() };
        let read = GivenSecrets { secret: Some(secret(1)), ..GivenSecrets::default() };
        assert_eq!(url.target().unwrap(), TargetRef::Url { url: "https://x.example", secrets: read });
        let twice = SimulateIn { drills: Some(vec![Drill::Signed, Drill::Signed]), ..base() };
        assert!(twice.drills().is_err());
        let none = SimulateIn { drills: Some(vec![]), ..base() };
        assert!(none.drills().is_err());
    }

    #[test]
    fn each_drill_sends_what_it_says() {
        let held = [secret(1), secret(2)];
        assert!(verifies(&drill(Drill::Signed)[0], &held));
        let duplicate = drill(Drill::Duplicate);
        assert_eq!(duplicate.len(), 2);
        assert_eq!(duplicate[0], duplicate[1]);
        for skewed in [Drill::StaleTimestamp, Drill::FutureTimestamp] {
            let sent = &drill(skewed)[0];
            let ts: u64 = header(sent, HEADER_TIMESTAMP).unwrap().parse().unwrap();
            assert_eq!(ts.abs_diff(NOW), SKEW_DRILL_SECS);
            // Signed correctly for its own timestamp: only the skew guard refuses it.
            assert_eq!(header(sent, HEADER_SIGNATURE).unwrap(), secret(1).sign_seed(ts, &sent.body));
            assert!(!verifies(sent, &held));
        }
        assert!(!verifies(&drill(Drill::TamperedBody)[0], &held));
        assert!(!verifies(&drill(Drill::WrongSecret)[0], &held));
        // During an overlap the seed header carries the previous secret; a
        // receiver holding both verifies, one holding only the new one does
        // through the standard header's second entry.
        let overlap = &drill(Drill::RotationOverlap)[0];
        assert_eq!(overlap.signed_with, ["secret", "previous_secret"]);
        assert!(verifies(overlap, &held));
        assert!(verify_delivery(&secret(1), |n| header(overlap, n), &overlap.body, NOW, 300).standard_webhooks.is_ok());
        let retired = &drill(Drill::RetiredSecret)[0];
        assert!(!verifies(retired, &held));
        assert!(verifies(retired, &[secret(3)]));
        let unknown = &drill(Drill::UnknownEventType)[0];
        assert_eq!(unknown.event_type, UNKNOWN_EVENT_TYPE);
        assert!(unknown.body.contains(UNKNOWN_EVENT_TYPE) && verifies(unknown, &held));
        let newer = &drill(Drill::NewerSchemaVersion)[0];
        let body: Value = serde_json::from_str(&newer.body).unwrap();
        assert_eq!(body["schema_version"], NEWER_SCHEMA_VERSION);
        assert_eq!(body["data"]["claim_id"], "dc_7");
        assert!(verifies(newer, &held));
    }

    #[test]
    fn rotation_drills_are_skipped_when_the_target_has_no_such_secret() {
        let bare = SimSecrets { previous: None, retired: None, ..secrets() };
        for d in [Drill::RotationOverlap, Drill::RetiredSecret] {
            let why = plan_drill(d, &event(), &bare, NOW, SEED, 0).unwrap_err();
            assert!(!why.0.is_empty());
        }
    }

    #[test]
    fn drills_are_graded_on_what_came_back() {
        let answer = |status: u16, body: &str| Observed {
            status: Some(status),
            body_excerpt: body.into(),
            error: None,
            latency_ms: 3,
        };
        let silence =
            Observed { status: None, body_excerpt: String::new(), error: Some("timed out".into()), latency_ms: 10_000 };
        assert_eq!(grade(Drill::Signed, &[answer(200, "")]).grade, Grade::Passed);
        assert_eq!(grade(Drill::Signed, &[answer(500, "")]).grade, Grade::Failed);
        assert_eq!(grade(Drill::Signed, std::slice::from_ref(&silence)).grade, Grade::Failed);
        assert_eq!(grade(Drill::StaleTimestamp, &[answer(401, "")]).grade, Grade::Passed);
        assert_eq!(grade(Drill::StaleTimestamp, &[answer(200, "")]).grade, Grade::Failed);
        assert_eq!(grade(Drill::StaleTimestamp, &[silence]).grade, Grade::Failed, "silence is not a refusal");
        let dedupe = grade(Drill::Duplicate, &[answer(200, "{}"), answer(200, r#"{"success":true,"duplicate":true}"#)]);
        assert_eq!(dedupe.grade, Grade::Passed);
        let naive = grade(Drill::Duplicate, &[answer(200, "{}"), answer(200, r#"{"success":true}"#)]);
        assert_eq!(naive.grade, Grade::Failed);
        assert!(naive.observed.contains("then"), "{}", naive.observed);
        let card = ReportCard::new(vec![dedupe, naive, skipped(Drill::RetiredSecret, Skipped("no".into()))]);
        assert_eq!((card.passed, card.failed, card.skipped), (1, 1, 1));
    }

    #[test]
    fn simulated_ids_say_so_and_differ_per_send() {
        let a = simulated_event_id(SEED, 0);
        let b = simulated_event_id(SEED, 1);
        assert!(a.starts_with("evt_sim_") && a != b);
        assert!(crate::webhooks::check_event_id(&a).is_ok());
    }
}
