//! Incidents: windows in which the status monitor saw a check degraded,
//! and incidents an operator posts. Both move through the same phases,
//! `degraded → investigating → monitoring → resolved`, with a timestamped
//! update for every step.
//!
//! The monitor keeps at most one open incident of its own. Each probe
//! either opens one (a check is degraded or worse), extends it (still
//! degraded; new checks and a worse impact are noted), or resolves it (all
//! checks operational again). An operator may take a monitor's incident
//! over by posting an update; from then on recovery moves it to
//! `monitoring` and the operator resolves it. A stretch in which the
//! monitor did not probe at all is recorded as a resolved incident of the
//! `monitor` check. Pure: the caller passes samples, ids and the clock.

use serde::{Deserialize, Serialize};

use crate::partner::FieldError;
use crate::status::{Check, ComponentStatus, Sample};

/// The seed's incident phases, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentPhase {
    /// Detected: a check is degraded and nobody has said more yet.
    Degraded,
    Investigating,
    /// A fix is in; the edge is being watched.
    Monitoring,
    Resolved,
}

impl IncidentPhase {
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentPhase::Degraded => "degraded",
            IncidentPhase::Investigating => "investigating",
            IncidentPhase::Monitoring => "monitoring",
            IncidentPhase::Resolved => "resolved",
        }
    }

    /// Statuspage's incident status for the phase (it has no `degraded`).
    pub const fn statuspage(self) -> &'static str {
        match self {
            IncidentPhase::Degraded | IncidentPhase::Investigating => "investigating",
            IncidentPhase::Monitoring => "monitoring",
            IncidentPhase::Resolved => "resolved",
        }
    }
}

/// Who opened an incident, or wrote an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    /// The status monitor, from its probes.
    Monitor,
    /// An operator, through the admin API.
    Operator,
}

/// One step of an incident, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRecord {
    pub phase: IncidentPhase,
    pub message: String,
    pub at_ms: u64,
    pub by: IncidentSource,
}

/// An incident as the monitor stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub source: IncidentSource,
    pub title: String,
    pub phase: IncidentPhase,
    /// The worst state seen of any affected check.
    pub impact: ComponentStatus,
    pub affected: Vec<Check>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub resolved_ms: Option<u64>,
    /// Set when an operator has posted an update: the monitor no longer resolves it.
    pub taken_over: bool,
    pub updates: Vec<UpdateRecord>,
}

impl IncidentRecord {
    pub fn is_open(&self) -> bool {
        self.phase != IncidentPhase::Resolved
    }

    fn push(&mut self, phase: IncidentPhase, message: String, at_ms: u64, by: IncidentSource) {
        self.phase = phase;
        if phase == IncidentPhase::Resolved {
            self.resolved_ms = Some(at_ms);
        }
        self.updates.push(UpdateRecord { phase, message, at_ms, by });
    }
}

/// The checks of `sample` that are degraded or worse, and the worst state.
fn degraded(sample: &Sample) -> (Vec<Check>, ComponentStatus) {
    let mut checks: Vec<Check> =
        sample.checks.iter().filter(|(_, s)| *s > ComponentStatus::Operational).map(|(c, _)| *c).collect();
    checks.sort();
    checks.dedup();
    (checks, sample.overall())
}

fn names(checks: &[Check]) -> String {
    checks.iter().map(|c| c.label().0).collect::<Vec<_>>().join(", ")
}

fn state_words(state: ComponentStatus) -> &'static str {
    match state {
        ComponentStatus::Operational => "operational",
        ComponentStatus::DegradedPerformance => "degraded performance",
        ComponentStatus::PartialOutage => "partial outage",
        ComponentStatus::MajorOutage => "major outage",
    }
}

fn minutes(from_ms: u64, to_ms: u64) -> String {
    let secs = to_ms.saturating_sub(from_ms) / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        _ => format!("{} min", secs.div_ceil(60)),
    }
}

/// What a probe does to the monitor's open incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Nothing to store.
    Unchanged,
    /// A new incident to store.
    Opened(IncidentRecord),
    /// The open incident, changed.
    Changed(IncidentRecord),
}

/// Applies a probe to the monitor's open incident, if any.
pub fn observe(open: Option<&IncidentRecord>, sample: &Sample) -> Observation {
    let (checks, worst) = degraded(sample);
    let at = sample.at_ms;
    match open {
        None if checks.is_empty() => Observation::Unchanged,
        None => {
            let mut record = IncidentRecord {
                source: IncidentSource::Monitor,
                title: format!("{} degraded", names(&checks)),
                phase: IncidentPhase::Degraded,
                impact: worst,
                affected: checks.clone(),
                first_seen_ms: at,
                last_seen_ms: at,
                resolved_ms: None,
                taken_over: false,
                updates: Vec::new(),
            };
            record.push(
                IncidentPhase::Degraded,
                format!("[degraded] The status monitor sees {}: {}.", names(&checks), state_words(worst)),
                at,
                IncidentSource::Monitor,
            );
            Observation::Opened(record)
        }
        Some(open) if checks.is_empty() => {
            let mut record = open.clone();
            let after = minutes(open.first_seen_ms, at);
            if open.taken_over {
                if open.phase == IncidentPhase::Monitoring {
                    return Observation::Unchanged;
                }
                record.push(
                    IncidentPhase::Monitoring,
                    format!(
                        "[monitoring] Every check is operational again after {after}; an operator will resolve this."
                    ),
                    at,
                    IncidentSource::Monitor,
                );
            } else {
                record.push(
                    IncidentPhase::Resolved,
                    format!("[resolved] Every check is operational again after {after}."),
                    at,
                    IncidentSource::Monitor,
                );
            }
            Observation::Changed(record)
        }
        Some(open) => {
            let mut record = open.clone();
            record.last_seen_ms = at;
            let joined: Vec<Check> = checks.iter().copied().filter(|c| !open.affected.contains(c)).collect();
            let worse = worst > open.impact;
            if !joined.is_empty() || worse {
                record.affected.extend(&joined);
                record.affected.sort();
                record.impact = open.impact.max(worst);
                // Worse while an operator watched the recovery: investigating again.
                let phase =
                    if open.phase == IncidentPhase::Monitoring { IncidentPhase::Investigating } else { open.phase };
                let message = if joined.is_empty() {
                    format!("[{}] Now {}.", phase.as_str(), state_words(worst))
                } else {
                    format!("[{}] Now also {}: {}.", phase.as_str(), names(&joined), state_words(worst))
                };
                record.push(phase, message, at, IncidentSource::Monitor);
            } else if open.phase == IncidentPhase::Monitoring {
                // Degraded again while an operator watches: say so, once.
                record.push(
                    IncidentPhase::Investigating,
                    format!("[investigating] {} degraded again.", names(&checks)),
                    at,
                    IncidentSource::Monitor,
                );
            }
            Observation::Changed(record)
        }
    }
}

/// A probe that came much later than due: the monitor was not running in
/// between. Gives that stretch as a resolved incident of the `monitor` check.
pub fn missed_probes(previous_probe_ms: Option<u64>, at_ms: u64, interval_secs: u64) -> Option<IncidentRecord> {
    let previous = previous_probe_ms?;
    let due = previous + interval_secs * 1000;
    if at_ms.saturating_sub(previous) <= interval_secs * 2_000 + 5_000 {
        return None;
    }
    let mut record = IncidentRecord {
        source: IncidentSource::Monitor,
        title: "Status monitor stopped probing".to_owned(),
        phase: IncidentPhase::Degraded,
        impact: ComponentStatus::DegradedPerformance,
        affected: vec![Check::Monitor],
        first_seen_ms: due,
        last_seen_ms: at_ms,
        resolved_ms: None,
        taken_over: false,
        updates: Vec::new(),
    };
    record.push(
        IncidentPhase::Degraded,
        "[degraded] The status monitor missed its probes; the edge's state in this stretch is unknown.".to_owned(),
        due,
        IncidentSource::Monitor,
    );
    record.push(
        IncidentPhase::Resolved,
        format!("[resolved] The monitor probed again after {}.", minutes(previous, at_ms)),
        at_ms,
        IncidentSource::Monitor,
    );
    Some(record)
}

/// `POST /api/admin/incidents`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentIn {
    /// 1 to 200 characters, not only spaces.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 200), pattern(crate::contract::text_pattern())))]
    pub title: String,
    /// The first update: 1 to 2000 characters, not only spaces.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 2000), pattern(crate::contract::text_pattern())))]
    pub message: String,
    /// `investigating` when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "IncidentPhase"))]
    pub phase: Option<IncidentPhase>,
    /// `degraded_performance` when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "ComponentStatus"))]
    pub impact: Option<ComponentStatus>,
    /// The checks it concerns; repeats are ignored. None when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Vec<Check>"))]
    pub affected: Option<Vec<Check>>,
}

/// `POST /api/admin/incidents/{incident_id}/updates`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdateIn {
    pub phase: IncidentPhase,
    /// 1 to 2000 characters, not only spaces.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 2000), pattern(crate::contract::text_pattern())))]
    pub message: String,
}

fn check_message(message: &str) -> Result<(), FieldError> {
    if crate::contract::is_text(message, 2000) {
        Ok(())
    } else {
        Err(FieldError::new("message", "must be 1 to 2000 characters, not only spaces, with no control characters"))
    }
}

impl IncidentIn {
    /// The incident an operator opens at `now_ms`.
    pub fn open(self, now_ms: u64) -> Result<IncidentRecord, FieldError> {
        if !crate::contract::is_text(&self.title, 200) {
            return Err(FieldError::new(
                "title",
                "must be 1 to 200 characters, not only spaces, with no control characters",
            ));
        }
        check_message(&self.message)?;
        let mut affected = self.affected.unwrap_or_default();
        affected.sort();
        affected.dedup();
        let phase = self.phase.unwrap_or(IncidentPhase::Investigating);
        let mut record = IncidentRecord {
            source: IncidentSource::Operator,
            title: self.title,
            phase,
            impact: self.impact.unwrap_or(ComponentStatus::DegradedPerformance),
            affected,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            resolved_ms: None,
            taken_over: true,
            updates: Vec::new(),
        };
        record.push(phase, self.message, now_ms, IncidentSource::Operator);
        Ok(record)
    }
}

/// Why an update was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateRefused {
    Invalid(FieldError),
    /// A resolved incident is closed; open a new one instead.
    AlreadyResolved,
}

impl IncidentUpdateIn {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_message(&self.message)
    }

    /// Posts this update to `record` at `now_ms`. Any phase may follow any
    /// open one (an incident under monitoring can need investigating again).
    pub fn apply(self, record: &mut IncidentRecord, now_ms: u64) -> Result<(), UpdateRefused> {
        check_message(&self.message).map_err(UpdateRefused::Invalid)?;
        if !record.is_open() {
            return Err(UpdateRefused::AlreadyResolved);
        }
        record.taken_over = true;
        record.last_seen_ms = record.last_seen_ms.max(now_ms);
        record.push(self.phase, self.message, now_ms, IncidentSource::Operator);
        Ok(())
    }
}

/// An incident as the edge publishes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Incident {
    /// `inc_` and a number.
    pub id: String,
    pub source: IncidentSource,
    pub title: String,
    pub phase: IncidentPhase,
    /// Not yet resolved.
    pub active: bool,
    pub impact: ComponentStatus,
    pub affected_checks: Vec<Check>,
    /// RFC 3339.
    pub first_seen_at: String,
    /// RFC 3339: the last probe that saw it, or its last update.
    pub last_seen_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// From first seen to resolved, or to now while active.
    pub duration_seconds: u64,
    /// Oldest first.
    pub updates: Vec<IncidentUpdate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IncidentUpdate {
    pub phase: IncidentPhase,
    pub message: String,
    /// RFC 3339.
    pub at: String,
    pub by: IncidentSource,
}

/// The id the edge publishes for stored incident number `seq`.
pub fn incident_id(seq: u64) -> String {
    format!("inc_{seq}")
}

/// The stored number of a published id; `None` for anything else.
pub fn parse_incident_id(raw: &str) -> Option<u64> {
    let digits = raw.strip_prefix("inc_")?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Renders stored incident `seq` as of `now_ms`.
pub fn render(seq: u64, record: &IncidentRecord, now_ms: u64) -> Incident {
    let end = record.resolved_ms.unwrap_or(now_ms.max(record.last_seen_ms));
    Incident {
        id: incident_id(seq),
        source: record.source,
        title: record.title.clone(),
        phase: record.phase,
        active: record.is_open(),
        impact: record.impact,
        affected_checks: record.affected.clone(),
        first_seen_at: crate::time::rfc3339(record.first_seen_ms / 1000),
        last_seen_at: crate::time::rfc3339(record.last_seen_ms / 1000),
        resolved_at: record.resolved_ms.map(|ms| crate::time::rfc3339(ms / 1000)),
        duration_seconds: end.saturating_sub(record.first_seen_ms) / 1000,
        updates: record
            .updates
            .iter()
            .map(|u| IncidentUpdate {
                phase: u.phase,
                message: u.message.clone(),
                at: crate::time::rfc3339(u.at_ms / 1000),
                by: u.by,
            })
            .collect(),
    }
}

/// `GET /api/public/system-status/incidents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IncidentList {
    pub hours: u64,
    /// Incidents still open, whenever they began.
    pub active: u64,
    /// Newest first: every incident open during the window, at most `limit`.
    pub incidents: Vec<Incident>,
}

/// The default and bounds of the incident list's query.
pub const INCIDENT_HOURS_DEFAULT: u64 = 168;
pub const INCIDENT_LIMIT_DEFAULT: u32 = 30;
pub const INCIDENT_LIMIT_MAX: u32 = 100;
/// Resolved incidents are kept this long, and at most this many in all.
pub const INCIDENTS_KEPT_SECS: u64 = 366 * 24 * 3600;
pub const INCIDENTS_KEPT: u64 = 1_000;

/// `?hours=&limit=` of the incident list: hours 1 to 8760 (168 when
/// absent), limit 1 to 100 (30 when absent).
pub fn parse_incident_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ReadIncidents, FieldError> {
    use crate::contract::bounded_number;
    use crate::status::MAX_WINDOW_HOURS;
    let mut query = ReadIncidents { hours: INCIDENT_HOURS_DEFAULT, limit: INCIDENT_LIMIT_DEFAULT };
    for (name, value) in pairs {
        match name {
            "hours" => {
                query.hours = bounded_number(value, 1..=MAX_WINDOW_HOURS)
                    .ok_or_else(|| FieldError::new("hours", format!("must be 1 to {MAX_WINDOW_HOURS}")))?;
            }
            "limit" => {
                query.limit = bounded_number(value, 1..=INCIDENT_LIMIT_MAX)
                    .ok_or_else(|| FieldError::new("limit", format!("must be 1 to {INCIDENT_LIMIT_MAX}")))?;
            }
            other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
        }
    }
    Ok(query)
}

/// Reads the incidents open at any time in the last `hours`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIncidents {
    pub hours: u64,
    pub limit: u32,
}

/// Opens an operator's incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    pub record: IncidentRecord,
}

/// Posts an update to incident number `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostIncidentUpdate {
    pub seq: u64,
    pub update: IncidentUpdateIn,
}

/// The monitor's answer to an update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum UpdateOutcome {
    Updated(Incident),
    NotFound,
    AlreadyResolved,
    Invalid { field: String, reason: String },
}

/// Statuspage's impact words for a component state.
pub const fn statuspage_impact(state: ComponentStatus) -> &'static str {
    match state {
        ComponentStatus::Operational => "none",
        ComponentStatus::DegradedPerformance => "minor",
        ComponentStatus::PartialOutage => "major",
        ComponentStatus::MajorOutage => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    fn sample(at_ms: u64, checks: &[(Check, ComponentStatus)]) -> Sample {
        Sample { at_ms, checks: checks.to_vec() }
    }

    fn apply(open: Option<IncidentRecord>, sample: &Sample) -> Option<IncidentRecord> {
        match observe(open.as_ref(), sample) {
            Observation::Unchanged => open,
            Observation::Opened(record) | Observation::Changed(record) => Some(record),
        }
    }

    #[test]
    fn a_degraded_span_opens_an_incident_that_resolves_when_every_check_recovers() {
        let fine = sample(0, &[(Check::Kv, Operational), (Check::Origin, Operational)]);
        assert_eq!(observe(None, &fine), Observation::Unchanged);

        let down = sample(60_000, &[(Check::Kv, Operational), (Check::Origin, MajorOutage)]);
        let open = apply(None, &down).unwrap();
        assert_eq!(
            (open.phase, open.impact, open.affected.clone()),
            (IncidentPhase::Degraded, MajorOutage, vec![Check::Origin])
        );
        assert_eq!(open.title, "Origin API degraded");

        // Still down: only the last-seen time moves, no new update.
        let still = apply(Some(open.clone()), &sample(120_000, &[(Check::Origin, MajorOutage)])).unwrap();
        assert_eq!((still.last_seen_ms, still.updates.len()), (120_000, 1));

        // Another check joins: noted once.
        let wider =
            apply(Some(still), &sample(180_000, &[(Check::Origin, MajorOutage), (Check::Kv, DegradedPerformance)]))
                .unwrap();
        assert_eq!(wider.affected, vec![Check::Kv, Check::Origin]);
        assert_eq!(wider.updates.len(), 2);
        assert!(wider.updates[1].message.contains("KV storage"), "{:?}", wider.updates);

        let back =
            apply(Some(wider), &sample(300_000, &[(Check::Origin, Operational), (Check::Kv, Operational)])).unwrap();
        assert_eq!((back.phase, back.resolved_ms), (IncidentPhase::Resolved, Some(300_000)));
        assert!(!back.is_open());
        let shown = render(7, &back, 900_000);
        assert_eq!((shown.id.as_str(), shown.duration_seconds, shown.active), ("inc_7", 240, false));
        assert_eq!(shown.first_seen_at, "1970-01-01T00:01:00Z");
        assert_eq!(shown.updates.last().unwrap().phase, IncidentPhase::Resolved);
    }

    #[test]
    fn an_incident_an_operator_took_over_waits_for_the_operator_to_resolve_it() {
        let open = apply(None, &sample(0, &[(Check::Kv, PartialOutage)])).unwrap();
        let mut taken = open.clone();
        IncidentUpdateIn { phase: IncidentPhase::Investigating, message: "Looking into KV errors.".into() }
            .apply(&mut taken, 30_000)
            .unwrap();
        assert!(taken.taken_over);

        let recovered = apply(Some(taken), &sample(60_000, &[(Check::Kv, Operational)])).unwrap();
        assert_eq!(recovered.phase, IncidentPhase::Monitoring, "{:?}", recovered.updates);
        assert!(recovered.is_open());
        assert_eq!(observe(Some(&recovered), &sample(120_000, &[(Check::Kv, Operational)])), Observation::Unchanged);

        // Degraded again while monitoring: back to investigating, said once.
        let again = apply(Some(recovered), &sample(180_000, &[(Check::Kv, PartialOutage)])).unwrap();
        assert_eq!(again.phase, IncidentPhase::Investigating);
        let same = apply(Some(again.clone()), &sample(240_000, &[(Check::Kv, PartialOutage)])).unwrap();
        assert_eq!(same.updates.len(), again.updates.len());

        let mut closed = same;
        IncidentUpdateIn { phase: IncidentPhase::Resolved, message: "Fixed and verified.".into() }
            .apply(&mut closed, 300_000)
            .unwrap();
        assert_eq!((closed.phase, closed.resolved_ms), (IncidentPhase::Resolved, Some(300_000)));
        let late = IncidentUpdateIn { phase: IncidentPhase::Monitoring, message: "more".into() }.apply(&mut closed, 1);
        assert_eq!(late, Err(UpdateRefused::AlreadyResolved));
    }

    #[test]
    fn operators_open_incidents_with_checked_text() {
        let input = |title: &str, message: &str| IncidentIn {
            title: title.into(),
            message: message.into(),
            phase: None,
            impact: None,
            affected: Some(vec![Check::Origin, Check::Kv, Check::Origin]),
        };
        let record = input("Origin maintenance", "Planned work on the origin.").open(5_000).unwrap();
        assert_eq!(
            (record.phase, record.impact, record.affected.clone(), record.source),
            (
                IncidentPhase::Investigating,
                DegradedPerformance,
                vec![Check::Kv, Check::Origin],
                IncidentSource::Operator
            )
        );
        assert_eq!(input("  ", "x").open(0).unwrap_err().field, "title");
        assert_eq!(input(&"t".repeat(201), "x").open(0).unwrap_err().field, "title");
        assert!(input(&"t".repeat(200), "x").open(0).is_ok());
        assert_eq!(input("t", "a\u{7}b").open(0).unwrap_err().field, "message");
        let mut open = record;
        let refused = IncidentUpdateIn { phase: IncidentPhase::Monitoring, message: String::new() }.apply(&mut open, 9);
        assert!(matches!(refused, Err(UpdateRefused::Invalid(FieldError { field: "message", .. }))));
        assert_eq!(open.updates.len(), 1, "a refused update changes nothing");
    }

    #[test]
    fn a_stretch_without_probes_is_an_incident_of_the_monitor() {
        assert_eq!(missed_probes(None, 1_000_000, 60), None);
        assert_eq!(missed_probes(Some(0), 125_000, 60), None, "two intervals and a little slack are fine");
        let gap = missed_probes(Some(0), 600_000, 60).unwrap();
        assert_eq!((gap.affected.clone(), gap.phase), (vec![Check::Monitor], IncidentPhase::Resolved));
        assert_eq!((gap.first_seen_ms, gap.resolved_ms), (60_000, Some(600_000)));
        assert_eq!(render(1, &gap, 700_000).duration_seconds, 540);
    }

    #[test]
    fn incident_ids_and_queries_are_bounded() {
        assert_eq!(parse_incident_id(&incident_id(42)), Some(42));
        for bad in ["inc_", "inc_x", "42", "inc_-1", "inc_12345678901234567890"] {
            assert_eq!(parse_incident_id(bad), None, "{bad}");
        }
        assert_eq!(parse_incident_query([]).unwrap(), ReadIncidents { hours: 168, limit: 30 });
        assert_eq!(
            parse_incident_query([("hours", "8760"), ("limit", "100")]).unwrap(),
            ReadIncidents { hours: 8760, limit: 100 }
        );
        for (name, value) in [("hours", "0"), ("hours", "8761"), ("limit", "0"), ("limit", "101"), ("limit", "+1")] {
            assert_eq!(parse_incident_query([(name, value)]).unwrap_err().field, name, "{name}={value}");
        }
        assert_eq!(parse_incident_query([("page", "1")]).unwrap_err().field, "query");
    }
}
