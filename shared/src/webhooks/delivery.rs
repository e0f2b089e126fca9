//! The delivery state machine: what one attempt's outcome does to its
//! delivery, its subscription and the partner's other endpoints. Pure: the
//! `WebhookHub` object reads the rows, calls [`settle_attempt`] with `now` and
//! a jitter draw, and stores the [`Settlement`] it gets back.
//!
//! Every attempt ends in a settlement, including one that never reached the
//! network (a secret that will not unseal, a stored event that no longer
//! parses, a request that cannot be built): it is recorded as a failed
//! attempt and spends retry budget like any other, so no delivery can loop.

use serde::{Deserialize, Serialize};

use super::retry::RetryPolicy;
use super::{is_success, DeliveryState, EventType};

/// Why an attempt did not succeed, as stored and shown in the delivery log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttemptErrorKind {
    /// The receiver answered, but not with a 2xx (3xx has its own kind).
    BadStatus,
    /// The receiver answered with a redirect, which is never followed.
    Redirected,
    /// No answer within the attempt's timeout.
    TimedOut,
    /// The connection failed, or the answer could not be read.
    ConnectionFailed,
    /// The subscription was disabled before the attempt.
    SubscriptionDisabled,
    /// The URL is refused by the current SSRF rules.
    UrlRefused,
    /// The stored event is missing or no longer parses.
    EventUnreadable,
    /// A signing secret could not be unsealed.
    SecretUnreadable,
    /// The outbound request could not be built.
    RequestUnbuildable,
    /// An earlier attempt's lease ran out before it was recorded (the worker
    /// died or hung mid-attempt); it counts as a failed attempt.
    LeaseExpired,
}

impl AttemptErrorKind {
    pub const ALL: [AttemptErrorKind; 10] = [
        AttemptErrorKind::BadStatus,
        AttemptErrorKind::Redirected,
        AttemptErrorKind::TimedOut,
        AttemptErrorKind::ConnectionFailed,
        AttemptErrorKind::SubscriptionDisabled,
        AttemptErrorKind::UrlRefused,
        AttemptErrorKind::EventUnreadable,
        AttemptErrorKind::SecretUnreadable,
        AttemptErrorKind::RequestUnbuildable,
        AttemptErrorKind::LeaseExpired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptErrorKind::BadStatus => "bad_status",
            AttemptErrorKind::Redirected => "redirected",
            AttemptErrorKind::TimedOut => "timed_out",
            AttemptErrorKind::ConnectionFailed => "connection_failed",
            AttemptErrorKind::SubscriptionDisabled => "subscription_disabled",
            AttemptErrorKind::UrlRefused => "url_refused",
            AttemptErrorKind::EventUnreadable => "event_unreadable",
            AttemptErrorKind::SecretUnreadable => "secret_unreadable",
            AttemptErrorKind::RequestUnbuildable => "request_unbuildable",
            AttemptErrorKind::LeaseExpired => "lease_expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// Whether the attempt reached a receiver (its latency means something).
    pub const fn reached_receiver(self) -> bool {
        matches!(self, AttemptErrorKind::BadStatus | AttemptErrorKind::Redirected | AttemptErrorKind::TimedOut)
    }
}

/// A failed attempt's kind and what happened, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    pub kind: AttemptErrorKind,
    pub message: String,
}

impl AttemptError {
    pub fn new(kind: AttemptErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What one attempt came to, before it is settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered. `retry_after_secs` is its `Retry-After`, already parsed.
    Answered { status: u16, retry_after_secs: Option<u64>, location: Option<String> },
    /// Nothing usable came back, or nothing was sent.
    Failed(AttemptError),
}

impl AttemptOutcome {
    /// The status, if the receiver answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Answered { status, .. } => Some(*status),
            AttemptOutcome::Failed(_) => None,
        }
    }

    /// Why it failed, or `None` for a 2xx.
    pub fn error(&self) -> Option<AttemptError> {
        match self {
            AttemptOutcome::Answered { status, .. } if is_success(*status) => None,
            AttemptOutcome::Answered { status, location, .. } if (300..400).contains(status) => {
                let to = location.as_deref().map_or_else(|| "no Location".to_owned(), |l| format!("Location {l}"));
                Some(AttemptError::new(
                    AttemptErrorKind::Redirected,
                    format!("answered {status} ({to}); redirects are not followed"),
                ))
            }
            AttemptOutcome::Answered { status, .. } => {
                Some(AttemptError::new(AttemptErrorKind::BadStatus, format!("answered {status}")))
            }
            AttemptOutcome::Failed(error) => Some(error.clone()),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AttemptOutcome::Answered { status, retry_after_secs, .. } if super::honours_retry_after(*status) => {
                *retry_after_secs
            }
            _ => None,
        }
    }

    /// Whether its latency belongs in the latency histogram.
    pub fn counts_latency(&self) -> bool {
        match self {
            AttemptOutcome::Answered { .. } => true,
            AttemptOutcome::Failed(error) => error.kind.reached_receiver(),
        }
    }
}

/// A delivery's attempt count and the count its current budget started at
/// (a manual retry or re-drive gives a fresh budget without forgetting history).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryProgress {
    pub attempts: u32,
    pub budget_base: u32,
}

impl DeliveryProgress {
    /// Back in the queue with a fresh budget (manual retry, replay, re-drive).
    pub fn requeued(self) -> Self {
        Self { attempts: self.attempts, budget_base: self.attempts }
    }
}

/// The subscription fields an attempt can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointHealth {
    pub active: bool,
    pub consecutive_failures: u32,
}

/// Where the delivery goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt { at_ms: u64 },
    DeadLetter,
}

impl NextStep {
    pub fn state(self) -> DeliveryState {
        match self {
            NextStep::Succeeded => DeliveryState::Succeeded,
            NextStep::RetryAt { .. } => DeliveryState::Retrying,
            NextStep::DeadLetter => DeliveryState::FailedDeadLetter,
        }
    }
}

/// An event the hub emits because of this attempt, to the partner's other endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowUp {
    /// `webhook.delivery_failed` about this delivery.
    DeliveryFailed,
    /// `webhook.endpoint_disabled` about this subscription.
    EndpointDisabled { consecutive_failures: u32 },
}

/// Everything to store after one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// This attempt's number, 1 for the first ever.
    pub attempt_no: u32,
    pub succeeded: bool,
    pub error: Option<AttemptError>,
    pub next: NextStep,
    /// The subscription's new health, when it changes.
    pub endpoint: Option<EndpointHealth>,
    pub follow_ups: Vec<FollowUp>,
}

/// Settles one attempt. `endpoint` is `None` when the subscription is gone;
/// `jitter_draw` is uniform in `[0, 1)`.
pub fn settle_attempt(
    progress: DeliveryProgress,
    event_type: EventType,
    endpoint: Option<EndpointHealth>,
    outcome: &AttemptOutcome,
    policy: &RetryPolicy,
    now_ms: u64,
    jitter_draw: f64,
) -> Settlement {
    let attempt_no = progress.attempts.saturating_add(1);
    let error = outcome.error();
    let succeeded = error.is_none();
    // Test pings do not speak for the endpoint's health.
    let counts_for_endpoint = event_type != EventType::Test;
    if succeeded {
        let endpoint = endpoint
            .filter(|e| counts_for_endpoint && e.consecutive_failures > 0)
            .map(|e| EndpointHealth { consecutive_failures: 0, ..e });
        return Settlement { attempt_no, succeeded, error, next: NextStep::Succeeded, endpoint, follow_ups: vec![] };
    }

    let disabled = error.as_ref().is_some_and(|e| e.kind == AttemptErrorKind::SubscriptionDisabled);
    let in_budget = attempt_no.saturating_sub(progress.budget_base);
    let wait = if disabled { None } else { policy.next_retry_ms(in_budget, outcome.retry_after(), jitter_draw) };
    if let Some(wait) = wait {
        let next = NextStep::RetryAt { at_ms: now_ms.saturating_add(wait) };
        return Settlement { attempt_no, succeeded, error, next, endpoint: None, follow_ups: vec![] };
    }

    // Dead letter. A disabled endpoint is not failing: it was switched off,
    // so it neither counts a failure nor tells the other endpoints.
    let mut follow_ups = Vec::new();
    if !disabled && !event_type.is_about_deliveries() {
        follow_ups.push(FollowUp::DeliveryFailed);
    }
    let endpoint = endpoint.filter(|_| counts_for_endpoint && !disabled).map(|e| {
        let consecutive_failures = e.consecutive_failures.saturating_add(1);
        let disable_now = e.active && consecutive_failures >= policy.auto_disable_after;
        if disable_now {
            follow_ups.push(FollowUp::EndpointDisabled { consecutive_failures });
        }
        EndpointHealth { active: e.active && !disable_now, consecutive_failures }
    });
    Settlement { attempt_no, succeeded, error, next: NextStep::DeadLetter, endpoint, follow_ups }
}

/// Whether a manual retry or replay may requeue a delivery in this state.
/// One already in flight keeps its lease; a succeeded one is sent again only
/// by an explicit manual retry.
pub fn replay_requeues(state: DeliveryState) -> bool {
    matches!(state, DeliveryState::FailedDeadLetter | DeliveryState::Retrying)
}

/// Secret slots on a rotation: which to drop, which to let run out, and the new slot's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationPlan {
    /// Slots whose overlap has ended: delete them.
    pub expired: Vec<String>,
    /// Slots that were current until now: they sign until `until`.
    pub retiring: Vec<(String, u64)>,
    /// The new current slot, `whk_{n+1}` after the highest ever used.
    pub new_kid: String,
    /// When the previous secret stops signing, if there is an overlap.
    pub previous_valid_until: Option<u64>,
}

/// Why a rotation is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManySecrets {
    pub live: usize,
    pub cap: usize,
}

/// Plans a rotation at `now` (unix seconds). Slot numbers never repeat, so
/// an attempt's `signing_key_ids` always name one secret. Refused when the
/// subscription already has `max_live` secrets signing.
pub fn plan_rotation(
    slots: &[super::SecretSlot],
    now: u64,
    overlap_secs: u64,
    max_live: usize,
) -> Result<RotationPlan, TooManySecrets> {
    let highest = slots.iter().filter_map(|slot| slot.kid.strip_prefix("whk_")?.parse::<u32>().ok()).max();
    let mut plan = RotationPlan {
        expired: vec![],
        retiring: vec![],
        new_kid: format!("whk_{}", highest.unwrap_or(0).saturating_add(1)),
        previous_valid_until: (overlap_secs > 0).then_some(now.saturating_add(overlap_secs)),
    };
    let mut live_after = 1; // the new one
    for slot in slots {
        match slot.valid_until {
            Some(until) if until <= now => plan.expired.push(slot.kid.clone()),
            Some(_) => live_after += 1,
            None if overlap_secs == 0 => plan.expired.push(slot.kid.clone()),
            None => {
                live_after += 1;
                plan.retiring.push((slot.kid.clone(), now.saturating_add(overlap_secs)));
            }
        }
    }
    if live_after > max_live {
        return Err(TooManySecrets { live: live_after - 1, cap: max_live });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::SecretSlot;

    const NOW: u64 = 1_700_000_000_000;

    fn policy() -> RetryPolicy {
        RetryPolicy { auto_disable_after: 3, ..RetryPolicy::default() }
    }

    fn answered(status: u16) -> AttemptOutcome {
        AttemptOutcome::Answered { status, retry_after_secs: None, location: None }
    }

    fn healthy(failures: u32) -> Option<EndpointHealth> {
        Some(EndpointHealth { active: true, consecutive_failures: failures })
    }

    fn fresh() -> DeliveryProgress {
        DeliveryProgress { attempts: 0, budget_base: 0 }
    }

    #[test]
    fn success_resets_the_endpoints_failure_count() {
        let s = settle_attempt(fresh(), EventType::SalutesCredit, healthy(2), &answered(204), &policy(), NOW, 0.5);
        assert_eq!(s.next, NextStep::Succeeded);
        assert!(s.succeeded && s.error.is_none() && s.follow_ups.is_empty());
        assert_eq!(s.endpoint, Some(EndpointHealth { active: true, consecutive_failures: 0 }));
    }

    #[test]
    fn success_with_no_failures_to_reset_changes_nothing() {
        let s = settle_attempt(fresh(), EventType::SalutesCredit, healthy(0), &answered(200), &policy(), NOW, 0.5);
        assert_eq!(s.endpoint, None);
    }

    #[test]
    fn a_failure_within_budget_is_retried_on_the_schedule() {
        let s = settle_attempt(fresh(), EventType::SalutesCredit, healthy(0), &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.next, NextStep::RetryAt { at_ms: NOW + 5_000 });
        assert_eq!(s.error.unwrap().kind, AttemptErrorKind::BadStatus);
        assert_eq!(s.endpoint, None, "only dead letters count against the endpoint");
    }

    #[test]
    fn a_failure_before_sending_spends_budget_like_any_other() {
        let outcome =
            AttemptOutcome::Failed(AttemptError::new(AttemptErrorKind::SecretUnreadable, "cannot unseal whk_1"));
        let mut progress = fresh();
        let mut steps = vec![];
        loop {
            let s = settle_attempt(progress, EventType::SalutesCredit, healthy(0), &outcome, &policy(), NOW, 0.5);
            steps.push(s.next);
            progress.attempts = s.attempt_no;
            if s.next == NextStep::DeadLetter {
                assert_eq!(s.follow_ups, vec![FollowUp::DeliveryFailed]);
                break;
            }
            assert!(steps.len() < 10, "a delivery that fails before sending must still end");
        }
        assert_eq!(steps.len(), policy().max_attempts as usize);
    }

    #[test]
    fn a_redirect_is_a_failed_attempt_that_names_its_location() {
        let outcome =
            AttemptOutcome::Answered { status: 302, retry_after_secs: None, location: Some("http://10.0.0.1/".into()) };
        let s = settle_attempt(fresh(), EventType::SalutesCredit, healthy(0), &outcome, &policy(), NOW, 0.5);
        let error = s.error.unwrap();
        assert_eq!(error.kind, AttemptErrorKind::Redirected);
        assert!(error.message.contains("http://10.0.0.1/"), "{}", error.message);
        assert!(!s.succeeded);
    }

    #[test]
    fn retry_after_is_honoured_only_on_429_and_503() {
        let with = |status| AttemptOutcome::Answered { status, retry_after_secs: Some(2), location: None };
        let s = settle_attempt(fresh(), EventType::SalutesCredit, healthy(0), &with(429), &policy(), NOW, 0.5);
        assert_eq!(s.next, NextStep::RetryAt { at_ms: NOW + 2_000 });
        let s = settle_attempt(fresh(), EventType::SalutesCredit, healthy(0), &with(500), &policy(), NOW, 0.5);
        assert_eq!(s.next, NextStep::RetryAt { at_ms: NOW + 5_000 });
    }

    #[test]
    fn a_manual_retry_gets_a_fresh_budget() {
        let spent = DeliveryProgress { attempts: 5, budget_base: 0 };
        let s = settle_attempt(spent, EventType::SalutesCredit, healthy(0), &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.next, NextStep::DeadLetter, "the sixth attempt on the first budget dead-letters");
        let retried = spent.requeued();
        let s = settle_attempt(retried, EventType::SalutesCredit, healthy(0), &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.attempt_no, 6);
        assert_eq!(s.next, NextStep::RetryAt { at_ms: NOW + 5_000 }, "a fresh budget starts at the first wait");
    }

    #[test]
    fn the_endpoint_is_disabled_when_dead_letters_reach_the_threshold() {
        let last = DeliveryProgress { attempts: 4, budget_base: 0 };
        let s = settle_attempt(last, EventType::SalutesCredit, healthy(1), &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.endpoint, Some(EndpointHealth { active: true, consecutive_failures: 2 }));
        assert_eq!(s.follow_ups, vec![FollowUp::DeliveryFailed]);
        let s = settle_attempt(last, EventType::SalutesCredit, healthy(2), &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.endpoint, Some(EndpointHealth { active: false, consecutive_failures: 3 }));
        assert_eq!(
            s.follow_ups,
            vec![FollowUp::DeliveryFailed, FollowUp::EndpointDisabled { consecutive_failures: 3 }]
        );
    }

    #[test]
    fn an_already_disabled_endpoint_is_not_disabled_again() {
        let last = DeliveryProgress { attempts: 4, budget_base: 0 };
        let off = Some(EndpointHealth { active: false, consecutive_failures: 7 });
        let s = settle_attempt(last, EventType::SalutesCredit, off, &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.endpoint, Some(EndpointHealth { active: false, consecutive_failures: 8 }));
        assert_eq!(s.follow_ups, vec![FollowUp::DeliveryFailed]);
    }

    #[test]
    fn a_delivery_to_a_disabled_subscription_is_dead_lettered_quietly() {
        let outcome = AttemptOutcome::Failed(AttemptError::new(AttemptErrorKind::SubscriptionDisabled, "disabled"));
        let off = Some(EndpointHealth { active: false, consecutive_failures: 3 });
        let s = settle_attempt(fresh(), EventType::SalutesCredit, off, &outcome, &policy(), NOW, 0.5);
        assert_eq!(s.next, NextStep::DeadLetter, "no retries for a switched-off endpoint");
        assert_eq!(s.endpoint, None, "switching off is not a failure");
        assert!(s.follow_ups.is_empty(), "nobody is told about a delivery the partner turned off");
    }

    #[test]
    fn failures_about_deliveries_never_emit_more_failure_events() {
        let last = DeliveryProgress { attempts: 4, budget_base: 0 };
        for event_type in [EventType::DeliveryFailed, EventType::EndpointDisabled] {
            let s = settle_attempt(last, event_type, healthy(0), &answered(500), &policy(), NOW, 0.5);
            assert!(!s.follow_ups.contains(&FollowUp::DeliveryFailed), "{event_type}");
        }
    }

    #[test]
    fn test_pings_do_not_count_for_or_against_the_endpoint() {
        let last = DeliveryProgress { attempts: 4, budget_base: 0 };
        let s = settle_attempt(last, EventType::Test, healthy(2), &answered(500), &policy(), NOW, 0.5);
        assert_eq!(s.endpoint, None);
        let s = settle_attempt(fresh(), EventType::Test, healthy(2), &answered(200), &policy(), NOW, 0.5);
        assert_eq!(s.endpoint, None);
    }

    #[test]
    fn a_vanished_subscription_still_settles_the_delivery() {
        let last = DeliveryProgress { attempts: 4, budget_base: 0 };
        let s = settle_attempt(last, EventType::SalutesCredit, None, &answered(500), &policy(), NOW, 0.5);
        assert_eq!((s.next, s.endpoint), (NextStep::DeadLetter, None));
    }

    #[test]
    fn latency_counts_only_when_a_receiver_was_reached() {
        assert!(answered(500).counts_latency());
        let timed_out = AttemptOutcome::Failed(AttemptError::new(AttemptErrorKind::TimedOut, "no answer"));
        assert!(timed_out.counts_latency());
        let unsealed = AttemptOutcome::Failed(AttemptError::new(AttemptErrorKind::SecretUnreadable, "x"));
        assert!(!unsealed.counts_latency());
    }

    #[test]
    fn attempt_error_kinds_round_trip_through_their_stored_names() {
        for kind in AttemptErrorKind::ALL {
            assert_eq!(AttemptErrorKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(AttemptErrorKind::parse("test"), None);
    }

    fn slot(kid: &str, valid_until: Option<u64>) -> SecretSlot {
        SecretSlot { kid: kid.into(), sealed: String::new(), created_at: 0, valid_until }
    }

    #[test]
    fn a_first_rotation_retires_the_current_secret_for_the_overlap() {
        let plan = plan_rotation(&[slot("whk_1", None)], 1_000, 60, 3).unwrap();
        assert_eq!(plan.new_kid, "whk_2");
        assert_eq!(plan.retiring, vec![("whk_1".to_owned(), 1_060)]);
        assert!(plan.expired.is_empty());
        assert_eq!(plan.previous_valid_until, Some(1_060));
    }

    #[test]
    fn a_second_rotation_after_the_overlap_drops_the_expired_secret() {
        let plan = plan_rotation(&[slot("whk_1", Some(1_060)), slot("whk_2", None)], 2_000, 60, 3).unwrap();
        assert_eq!(plan.new_kid, "whk_3");
        assert_eq!(plan.expired, vec!["whk_1".to_owned()]);
        assert_eq!(plan.retiring, vec![("whk_2".to_owned(), 2_060)]);
    }

    #[test]
    fn a_third_rotation_inside_the_overlap_keeps_numbering_and_respects_the_cap() {
        let slots = [slot("whk_1", Some(1_060)), slot("whk_2", Some(1_070)), slot("whk_3", None)];
        let refused = plan_rotation(&slots, 1_010, 60, 3).unwrap_err();
        assert_eq!(refused, TooManySecrets { live: 3, cap: 3 });
        let plan = plan_rotation(&slots, 1_010, 60, 4).unwrap();
        assert_eq!(plan.new_kid, "whk_4");
        assert_eq!(plan.retiring, vec![("whk_3".to_owned(), 1_070)]);
    }

    #[test]
    fn slot_numbers_never_repeat_even_after_slots_are_deleted() {
        let plan = plan_rotation(&[slot("whk_7", None)], 1_000, 0, 3).unwrap();
        assert_eq!(plan.new_kid, "whk_8");
        assert_eq!(plan.expired, vec!["whk_7".to_owned()], "no overlap: the old secret stops at once");
        assert_eq!(plan.previous_valid_until, None);
    }

    #[test]
    fn replays_requeue_only_undelivered_deliveries() {
        let requeued: Vec<_> = DeliveryState::ALL.into_iter().filter(|s| replay_requeues(*s)).collect();
        assert_eq!(requeued, vec![DeliveryState::Retrying, DeliveryState::FailedDeadLetter]);
    }
}
