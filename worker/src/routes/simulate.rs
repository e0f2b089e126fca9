//! `POST /api/partner/webhooks/simulate`: sends what
//! `partner_edge::webhooks::simulate` plans, signed like a real delivery,
//! and grades what comes back. Nothing is stored: simulated events never
//! reach the hub's tables or its metrics.

use std::time::Duration;

use futures_util::future::join_all;
use partner_edge::webhooks::commands::{CaptureRequest, ListInboxes, SimulationTarget as TargetCommand};
use partner_edge::webhooks::inbox::{inbox_in_url, Capture};
use partner_edge::webhooks::simulate::{
    grade, plan_drill, plan_scenario, skipped, DrillResult, GeneratedSecrets, NamedSecret, Observed, PlannedSend,
    ReportCard, SentRequest, SimSecrets, SimulateIn, SimulatedSend, Simulation, SimulationTarget, TargetRef,
    SEND_TIMEOUT_SECS,
};
use partner_edge::webhooks::ssrf::check_webhook_url;
use partner_edge::webhooks::{excerpt, live_slots, SecretSlot, WebhookSecret};
use worker::Response;

use crate::config;
use crate::error::ApiError;
use crate::http::{fetch_bounded, json_body, now_ms, random_bytes, success, webhook_post, FetchFailure, Incoming};
use crate::router::Edge;
use crate::routes::webhooks::{ask_webhook_hub, call_webhook_hub, check_url, partner_key};
use partner_edge::error::ErrorCode;

/// How much of an answer is read: the excerpt keeps 512 characters of it.
const ANSWER_PREFIX_BYTES: usize = 4 * 1024;
/// Answer headers kept per send.
const ANSWER_HEADERS_KEPT: usize = 50;

pub async fn simulate(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let key_id = partner_key(&edge)?;
    let env = edge.env;
    let input: SimulateIn = json_body(&edge.body)?;
    let target = input.target()?;
    let drills = input.drills()?;
    let now = edge.now_ms / 1000;
    let stranger = WebhookSecret::new(random_bytes()?);

    let (resolved, secrets, generated) = match target {
        TargetRef::Subscription(subscription_id) => {
            let command = TargetCommand { subscription_id: subscription_id.to_owned() };
            let sealed = ask_webhook_hub(env, &key_id, command).await?;
            // The stored URL is checked again now, as before every real delivery.
            check_webhook_url(&sealed.subscription.url, config::webhook_url_policy(env)?)
                .map_err(|reason| ApiError::new(ErrorCode::UrlNotAllowed, format!("url: {reason}")))?;
            let (current, previous, retired) = unseal(env, subscription_id, &sealed.slots, now)?;
            let resolved =
                SimulationTarget { subscription_id: Some(subscription_id.to_owned()), url: sealed.subscription.url };
            (resolved, SimSecrets { current, previous, retired, stranger }, None)
        }
        TargetRef::Url { url, secrets: given } => {
            check_url(env, url)?;
            let mut generated = GeneratedSecrets::default();
            let given_or_new = |name: &str, given: Option<WebhookSecret>, shown: &mut Option<String>| {
                let secret = match given {
                    Some(secret) => secret,
                    None => {
                        let secret = WebhookSecret::new(random_bytes()?);
                        *shown = Some(secret.expose().to_owned());
                        secret
                    }
                };
                Ok::<_, ApiError>(NamedSecret { name: name.to_owned(), secret })
            };
            let current = given_or_new("secret", given.secret, &mut generated.secret)?;
            let previous = given_or_new("previous_secret", given.previous, &mut generated.previous_secret)?;
            let retired = given.retired.map(|secret| NamedSecret { name: "retired_secret".into(), secret });
            let shown = (generated.secret.is_some() || generated.previous_secret.is_some()).then_some(generated);
            let resolved = SimulationTarget { subscription_id: None, url: url.to_owned() };
            (resolved, SimSecrets { current, previous: Some(previous), retired, stranger }, shown)
        }
    };
    let events = input.events(edge.now_ms)?;
    let seed: [u8; 16] = random_bytes()?;
    // An inbox of this key is filled in place, as real deliveries to it are.
    let mut inbox = None;
    if let Some(id) = inbox_in_url(&resolved.url) {
        if call_webhook_hub(env, &key_id, ListInboxes {}).await?.iter().any(|i| i.inbox_id == id) {
            inbox = Some(id.to_owned());
        }
    }
    let sink = Sink { env, key_id: &key_id, url: &resolved.url, inbox: inbox.as_deref() };

    let (sends, report) = match drills {
        None => {
            let mut sends = Vec::new();
            for planned in plan_scenario(&events, &secrets, now, seed) {
                sends.push(send(&sink, planned).await);
            }
            (sends, None)
        }
        Some(drills) => {
            let event = events.first().ok_or_else(|| ApiError::internal("a scenario without events"))?;
            // Drills run side by side; the sends of one drill (a duplicate) go in order.
            let runs = join_all(drills.iter().enumerate().map(|(n, &drill)| {
                let planned = plan_drill(drill, event, &secrets, now, seed, n);
                let sink = &sink;
                async move {
                    match planned {
                        Err(why) => (Vec::new(), skipped(drill, why)),
                        Ok(plan) => {
                            let mut sends = Vec::new();
                            for planned in plan {
                                sends.push(send(sink, planned).await);
                            }
                            let observed: Vec<Observed> = sends.iter().map(|s| s.response.clone()).collect();
                            (sends, grade(drill, &observed))
                        }
                    }
                }
            }))
            .await;
            let mut sends = Vec::new();
            let mut results: Vec<DrillResult> = Vec::new();
            for (drill_sends, result) in runs {
                sends.extend(drill_sends);
                results.push(result);
            }
            (sends, Some(ReportCard::new(results)))
        }
    };
    success(200, Simulation { target: resolved, generated_secrets: generated, sends, report })
}

type Unsealed = (NamedSecret, Option<NamedSecret>, Option<NamedSecret>);

/// The subscription's current secret, the previous one while an overlap
/// lasts, and the newest one whose overlap has ended, if still stored.
fn unseal(env: &worker::Env, subscription_id: &str, slots: &[SecretSlot], now: u64) -> Result<Unsealed, ApiError> {
    let master = config::master_key(env)?;
    let open = |slot: &SecretSlot| -> Result<NamedSecret, ApiError> {
        let secret = slot.open(&master, subscription_id).map_err(ApiError::internal)?;
        Ok(NamedSecret { name: slot.kid.clone(), secret })
    };
    let live = live_slots(slots, now);
    let current = live.first().ok_or_else(|| ApiError::internal("the subscription has no live secret"))?;
    let previous = live.get(1).map(|slot| open(slot)).transpose()?;
    let retired = slots
        .iter()
        .filter(|slot| slot.valid_until.is_some_and(|until| until <= now))
        .max_by_key(|slot| slot.valid_until)
        .map(open)
        .transpose()?;
    Ok((open(current)?, previous, retired))
}

/// Where the sends go: a URL, or an inbox of the calling key, filled in place.
struct Sink<'a> {
    env: &'a worker::Env,
    key_id: &'a str,
    url: &'a str,
    inbox: Option<&'a str>,
}

/// Sends one planned request, never failing: whatever goes wrong is what was observed.
async fn send(sink: &Sink<'_>, planned: PlannedSend) -> SimulatedSend {
    let started = now_ms();
    let url = sink.url;
    let exchanged = match sink.inbox {
        Some(inbox_id) => {
            let capture =
                Capture::new(inbox_id, started, "POST", planned.headers.clone(), planned.body.as_bytes(), true);
            match ask_webhook_hub(sink.env, sink.key_id, CaptureRequest { capture }).await {
                Ok(captured) => {
                    let headers = vec![["content-type".to_owned(), "application/json".to_owned()]];
                    Ok((200, headers, excerpt(&captured.answer_body())))
                }
                Err(error) => Err(format!("the inbox refused the capture: {}", error.message())),
            }
        }
        None => exchange(url, &planned).await,
    };
    let (response, response_headers) = match exchanged {
        Ok((status, headers, body)) => (
            Observed { status: Some(status), body_excerpt: body, error: None, latency_ms: now_ms() - started },
            headers,
        ),
        Err(error) => (
            Observed { status: None, body_excerpt: String::new(), error: Some(error), latency_ms: now_ms() - started },
            Vec::new(),
        ),
    };
    SimulatedSend {
        drill: planned.drill,
        event_id: planned.event_id,
        event_type: planned.event_type,
        signed_with: planned.signed_with,
        request: SentRequest {
            method: "POST".into(),
            url: url.to_owned(),
            headers: planned.headers.into_iter().map(|(name, value)| [name, value]).collect(),
            body: planned.body,
        },
        response,
        response_headers,
    }
}

type Exchanged = (u16, Vec<[String; 2]>, String);

async fn exchange(url: &str, planned: &PlannedSend) -> Result<Exchanged, String> {
    let request = webhook_post(url, &planned.headers, &planned.body).map_err(|e| e.to_string())?;
    let answer = fetch_bounded(request, Duration::from_secs(SEND_TIMEOUT_SECS), ANSWER_PREFIX_BYTES).await.map_err(
        |failure| match failure {
            FetchFailure::TimedOut(limit) => format!("no answer within {} s", limit.as_secs()),
            FetchFailure::Failed(reason) => format!("connection failed: {reason}"),
        },
    )?;
    let headers = answer.headers.entries().take(ANSWER_HEADERS_KEPT).map(|(name, value)| [name, value]).collect();
    Ok((answer.status, headers, excerpt(&String::from_utf8_lossy(&answer.body))))
}
