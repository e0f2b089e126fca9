//! Public status: what the `StatusMonitor` probes on its own alarm, how a
//! probe's results become Statuspage-style component states, and how samples
//! roll up (per minute for 24 h, per hour for 30 days, per day for a year)
//! so every window up to a year answers from aggregates. Pure: the object
//! passes the clock and the probe results in.

use serde::{Deserialize, Serialize};

/// Every check the monitor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A KV write and read-back.
    Kv,
    /// A round trip to another Durable Object.
    DurableObject,
    /// Webhook queue depth and oldest-message age, summed over partners.
    WebhookQueue,
    /// The origin's health path, when `ORIGIN_URL` is set.
    Origin,
    /// The monitor itself: stale when its alarm has not run on time.
    Monitor,
}

impl Check {
    pub const ALL: [Check; 5] = [Check::Kv, Check::DurableObject, Check::WebhookQueue, Check::Origin, Check::Monitor];

    pub const fn column(self) -> &'static str {
        match self {
            Check::Kv => "kv",
            Check::DurableObject => "durable_object",
            Check::WebhookQueue => "webhook_queue",
            Check::Origin => "origin",
            Check::Monitor => "monitor",
        }
    }
}

/// Statuspage's component states, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        [Self::Operational, Self::DegradedPerformance, Self::PartialOutage, Self::MajorOutage]
            .get(code as usize)
            .copied()
    }

    /// Whether the edge served its purpose: degraded still counts as up.
    pub fn is_up(self) -> bool {
        self <= ComponentStatus::DegradedPerformance
    }
}

/// The seed's webhook backlog targets: steady state below these, page above the alert ones.
pub const QUEUE_DEPTH_TARGET: u64 = 500;
pub const QUEUE_AGE_TARGET_SECS: u64 = 120;
pub const QUEUE_DEPTH_ALERT: u64 = 2_000;
pub const QUEUE_AGE_ALERT_SECS: u64 = 600;

/// Judges the webhook backlog against the seed's targets.
pub fn judge_queue(depth: u64, oldest_age_secs: u64) -> ComponentStatus {
    if depth > QUEUE_DEPTH_ALERT || oldest_age_secs > QUEUE_AGE_ALERT_SECS {
        ComponentStatus::PartialOutage
    } else if depth >= QUEUE_DEPTH_TARGET || oldest_age_secs >= QUEUE_AGE_TARGET_SECS {
        ComponentStatus::DegradedPerformance
    } else {
        ComponentStatus::Operational
    }
}

/// A probe that succeeded or failed, with its latency: slow is degraded, failed is an outage.
pub fn judge_probe(ok: bool, latency_ms: u64, slow_ms: u64) -> ComponentStatus {
    match (ok, latency_ms > slow_ms) {
        (false, _) => ComponentStatus::MajorOutage,
        (true, true) => ComponentStatus::DegradedPerformance,
        (true, false) => ComponentStatus::Operational,
    }
}

/// Whether the monitor is running on time: stale after two missed intervals.
pub fn judge_freshness(last_probe_ms: Option<u64>, now_ms: u64, interval_secs: u64) -> ComponentStatus {
    match last_probe_ms {
        Some(at) if now_ms.saturating_sub(at) <= interval_secs * 2_000 + 5_000 => ComponentStatus::Operational,
        _ => ComponentStatus::DegradedPerformance,
    }
}

/// One probe run: each check's state (absent: not run, e.g. no origin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: u64,
    pub checks: Vec<(Check, ComponentStatus)>,
}

impl Sample {
    /// Two probes in the same minute: the minute keeps each check's worst
    /// state, so an outage between two good probes is never overwritten.
    pub fn worst_of(&self, other: &Sample) -> Sample {
        let mut checks = self.checks.clone();
        for (check, state) in &other.checks {
            match checks.iter_mut().find(|(c, _)| c == check) {
                Some((_, mine)) => *mine = (*mine).max(*state),
                None => checks.push((*check, *state)),
            }
        }
        Sample { at_ms: self.at_ms.max(other.at_ms), checks }
    }

    /// The worst state of any check: the edge's overall indicator.
    pub fn overall(&self) -> ComponentStatus {
        self.checks.iter().map(|(_, s)| *s).max().unwrap_or(ComponentStatus::Operational)
    }
}

/// A window's counts: samples, and per check how many were up and how many degraded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    pub samples: u64,
    /// Samples whose overall state was up (operational or degraded).
    pub up: u64,
    /// Per check: samples in which it was degraded or worse.
    pub degraded: Vec<(Check, u64)>,
}

impl Rollup {
    pub fn add(&mut self, sample: &Sample) {
        self.samples += 1;
        if sample.overall().is_up() {
            self.up += 1;
        }
        for (check, state) in &sample.checks {
            if *state > ComponentStatus::Operational {
                match self.degraded.iter_mut().find(|(c, _)| c == check) {
                    Some((_, n)) => *n += 1,
                    None => self.degraded.push((*check, 1)),
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Rollup) {
        self.samples += other.samples;
        self.up += other.up;
        for (check, n) in &other.degraded {
            match self.degraded.iter_mut().find(|(c, _)| c == check) {
                Some((_, m)) => *m += n,
                None => self.degraded.push((*check, *n)),
            }
        }
    }
}

/// Which stored resolution answers a window of `hours`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

pub fn resolution_for(hours: u64) -> Resolution {
    if hours <= 24 {
        Resolution::Minute
    } else if hours <= 720 {
        Resolution::Hour
    } else {
        Resolution::Day
    }
}

/// How long each resolution is kept, in seconds.
pub const MINUTES_KEPT_SECS: u64 = 24 * 3600;
pub const HOURS_KEPT_SECS: u64 = 30 * 24 * 3600;
pub const DAYS_KEPT_SECS: u64 = 366 * 24 * 3600;

/// `GET /api/public/system-status/uptime?hours=`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Uptime {
    pub hours: u64,
    pub samples: u64,
    /// Percent of samples in which the edge was up (operational or degraded); 100 with no samples.
    pub availability_percent: f64,
    /// Per check: percent of samples in which it was degraded or worse.
    pub degraded_percent: Vec<CheckRate>,
    /// `minute`, `hour` or `day`: the aggregates the answer came from.
    pub resolution: String,
    /// Per UTC day of the window that has samples, oldest first: what a
    /// status page draws as daily bars (ask for `hours=2160` for 90 days).
    pub days: Vec<DayUptime>,
}

/// One UTC day's availability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DayUptime {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub samples: u64,
    /// Percent of the day's samples in which the edge was up.
    pub availability_percent: f64,
    /// Per check: percent of the day's samples in which it was degraded or worse (checks never degraded are left out).
    pub degraded_percent: Vec<CheckRate>,
}

/// Per-day rollups of a window: `add` each stored row with the UTC day
/// (days since the epoch) it belongs to, then `uptime` sums them.
#[derive(Clone, Debug, Default)]
pub struct DailyRollups(std::collections::BTreeMap<u64, Rollup>);

impl DailyRollups {
    pub fn day(&mut self, day: u64) -> &mut Rollup {
        self.0.entry(day).or_default()
    }

    pub fn total(&self) -> Rollup {
        let mut total = Rollup::default();
        for rollup in self.0.values() {
            total.merge(rollup);
        }
        total
    }
}

fn percent_of(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        (n as f64 * 10_000.0 / of as f64).round() / 100.0
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CheckRate {
    pub check: Check,
    pub percent: f64,
}

pub fn uptime(hours: u64, daily: &DailyRollups, resolution: Resolution) -> Uptime {
    let rollup = daily.total();
    let percent = |n: u64| percent_of(n, rollup.samples);
    Uptime {
        hours,
        samples: rollup.samples,
        availability_percent: if rollup.samples == 0 { 100.0 } else { percent(rollup.up) },
        degraded_percent: Check::ALL
            .iter()
            .map(|check| CheckRate {
                check: *check,
                percent: percent(rollup.degraded.iter().find(|(c, _)| c == check).map_or(0, |(_, n)| *n)),
            })
            .collect(),
        resolution: match resolution {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
        .to_owned(),
        days: daily
            .0
            .iter()
            .filter(|(_, day)| day.samples > 0)
            .map(|(day, rollup)| DayUptime {
                day: crate::lifecycle::rfc3339(day * 86_400).chars().take(10).collect(),
                samples: rollup.samples,
                availability_percent: percent_of(rollup.up, rollup.samples),
                degraded_percent: rollup
                    .degraded
                    .iter()
                    .map(|(check, n)| CheckRate { check: *check, percent: percent_of(*n, rollup.samples) })
                    .collect(),
            })
            .collect(),
    }
}

/// `GET /api/public/system-status` (and `/status.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SystemStatus {
    /// The worst component state: the edge's overall indicator.
    pub indicator: ComponentStatus,
    pub components: Vec<ComponentState>,
    /// RFC 3339 of the last probe, if any has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_at: Option<String>,
    /// Seconds since the last probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_age_seconds: Option<u64>,
    pub probe_interval_seconds: u64,
    /// Whether the monitor's own alarm is set.
    pub alarm_running: bool,
    /// RFC 3339 of the last cron re-arm, if a cron trigger has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_last_seen_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ComponentState {
    pub check: Check,
    pub status: ComponentStatus,
}

/// One point of `GET /api/public/system-status/trend`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TrendPoint {
    /// RFC 3339 minute.
    pub at: String,
    pub overall: ComponentStatus,
    pub components: Vec<ComponentState>,
}

/// The status answer from the latest sample and the monitor's freshness.
pub fn system_status(
    latest: Option<&Sample>,
    now_ms: u64,
    interval_secs: u64,
    alarm_running: bool,
    cron_last_seen_ms: Option<u64>,
) -> SystemStatus {
    let freshness = judge_freshness(latest.map(|s| s.at_ms), now_ms, interval_secs);
    let mut components: Vec<ComponentState> = latest
        .map(|s| {
            s.checks
                .iter()
                .filter(|(c, _)| *c != Check::Monitor)
                .map(|(check, status)| ComponentState { check: *check, status: *status })
                .collect()
        })
        .unwrap_or_default();
    components.push(ComponentState { check: Check::Monitor, status: freshness });
    let indicator = components.iter().map(|c| c.status).max().unwrap_or(ComponentStatus::Operational);
    SystemStatus {
        indicator,
        components,
        last_probe_at: latest.map(|s| crate::lifecycle::rfc3339(s.at_ms / 1000)),
        probe_age_seconds: latest.map(|s| now_ms.saturating_sub(s.at_ms) / 1000),
        probe_interval_seconds: interval_secs,
        alarm_running,
        cron_last_seen_at: cron_last_seen_ms.map(|ms| crate::lifecycle::rfc3339(ms / 1000)),
    }
}

/// Statuspage API v2 `summary.json`: the same status in the shape existing
/// status tooling (badges, aggregators, `statuspage` clients) already reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatuspageSummary {
    pub page: StatuspagePage,
    pub status: StatuspageStatus,
    pub components: Vec<StatuspageComponent>,
    /// Incidents not yet resolved, newest first.
    pub incidents: Vec<StatuspageIncident>,
    /// Announced maintenance windows. The edge announces none, so this is empty.
    pub scheduled_maintenances: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatuspagePage {
    pub id: String,
    pub name: String,
    /// The edge's own origin.
    pub url: String,
    pub time_zone: String,
    /// RFC 3339 of the last probe, or of the answer when none has run.
    pub updated_at: String,
}

/// The page-wide roll-up in Statuspage's words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatuspageStatus {
    /// `none`, `minor`, `major` or `critical`.
    pub indicator: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatuspageComponent {
    /// The check's name, stable across releases.
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    pub description: String,
    pub position: u32,
    pub page_id: String,
    pub group: bool,
    pub group_id: Option<String>,
    pub only_show_if_degraded: bool,
    pub showcase: bool,
    pub updated_at: String,
}

/// An unresolved incident in Statuspage's words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatuspageIncident {
    pub id: String,
    pub name: String,
    /// `investigating`, `monitoring` or `resolved` (the edge's `degraded` reads as `investigating`).
    pub status: String,
    /// `none`, `minor`, `major` or `critical`.
    pub impact: String,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: String,
    pub resolved_at: Option<String>,
    pub shortlink: String,
    pub page_id: String,
    /// Newest first, as Statuspage lists them.
    pub incident_updates: Vec<StatuspageIncidentUpdate>,
    /// The affected checks' component ids.
    pub components: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatuspageIncidentUpdate {
    pub id: String,
    pub incident_id: String,
    pub status: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
    pub display_at: String,
}

impl StatuspageIncident {
    fn from_incident(incident: &crate::incidents::Incident, page_url: &str) -> Self {
        let updated_at = incident.updates.last().map_or_else(|| incident.first_seen_at.clone(), |u| u.at.clone());
        StatuspageIncident {
            id: incident.id.clone(),
            name: incident.title.clone(),
            status: incident.phase.statuspage().to_owned(),
            impact: crate::incidents::statuspage_impact(incident.impact).to_owned(),
            created_at: incident.first_seen_at.clone(),
            updated_at,
            started_at: incident.first_seen_at.clone(),
            resolved_at: incident.resolved_at.clone(),
            shortlink: format!("{}/api/public/system-status/incidents?hours=8760", page_url.trim_end_matches('/')),
            page_id: STATUSPAGE_PAGE_ID.to_owned(),
            incident_updates: incident
                .updates
                .iter()
                .enumerate()
                .rev()
                .map(|(n, update)| StatuspageIncidentUpdate {
                    id: format!("{}_{}", incident.id, n + 1),
                    incident_id: incident.id.clone(),
                    status: update.phase.statuspage().to_owned(),
                    body: update.message.clone(),
                    created_at: update.at.clone(),
                    updated_at: update.at.clone(),
                    display_at: update.at.clone(),
                })
                .collect(),
            components: incident.affected_checks.iter().map(|c| c.column().to_owned()).collect(),
        }
    }
}

/// The page id every summary carries.
pub const STATUSPAGE_PAGE_ID: &str = "partner-edge";

impl Check {
    /// What a status page calls the check.
    pub const fn label(self) -> (&'static str, &'static str) {
        match self {
            Check::Kv => ("KV storage", "A write and read-back of the edge's KV namespace."),
            Check::DurableObject => ("Durable Objects", "A round trip to another Durable Object."),
            Check::WebhookQueue => {
                ("Webhook delivery", "Queue depth and oldest-message age against the backlog targets.")
            }
            Check::Origin => ("Origin API", "The origin's health path, when an origin is configured."),
            Check::Monitor => ("Status monitor", "Whether the monitor itself has probed on time."),
        }
    }
}

/// Statuspage's page indicator and description for the worst component state.
pub const fn statuspage_indicator(worst: ComponentStatus) -> (&'static str, &'static str) {
    match worst {
        ComponentStatus::Operational => ("none", "All Systems Operational"),
        ComponentStatus::DegradedPerformance => ("minor", "Minor Service Outage"),
        ComponentStatus::PartialOutage => ("major", "Partial System Outage"),
        ComponentStatus::MajorOutage => ("critical", "Major Service Outage"),
    }
}

/// Renders `status` and the `incidents` still open as a Statuspage v2
/// summary for the page at `page_url`.
pub fn statuspage_summary(
    status: &SystemStatus,
    incidents: &[crate::incidents::Incident],
    page_url: &str,
    now_secs: u64,
) -> StatuspageSummary {
    let updated_at = status.last_probe_at.clone().unwrap_or_else(|| crate::time::rfc3339(now_secs));
    let (indicator, description) = statuspage_indicator(status.indicator);
    StatuspageSummary {
        page: StatuspagePage {
            id: STATUSPAGE_PAGE_ID.to_owned(),
            name: "Partner Edge".to_owned(),
            url: page_url.trim_end_matches('/').to_owned(),
            time_zone: "Etc/UTC".to_owned(),
            updated_at: updated_at.clone(),
        },
        status: StatuspageStatus { indicator: indicator.to_owned(), description: description.to_owned() },
        components: status
            .components
            .iter()
            .zip(1..)
            .map(|(component, position)| {
                let (name, description) = component.check.label();
                StatuspageComponent {
                    id: component.check.column().to_owned(),
                    name: name.to_owned(),
                    status: component.status,
                    description: description.to_owned(),
                    position,
                    page_id: STATUSPAGE_PAGE_ID.to_owned(),
                    group: false,
                    group_id: None,
                    only_show_if_degraded: false,
                    showcase: true,
                    updated_at: updated_at.clone(),
                }
            })
            .collect(),
        incidents: incidents
            .iter()
            .filter(|i| i.active)
            .map(|i| StatuspageIncident::from_incident(i, page_url))
            .collect(),
        scheduled_maintenances: Vec::new(),
    }
}

/// Arms the monitor (the first request an isolate serves, and the cron trigger).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnsureArmed {
    pub by_cron: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStatus {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadTrend {
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadUptime {
    pub hours: u64,
}

crate::object_commands! {
    /// What the worker asks the `StatusMonitor` object.
    pub enum StatusCommand {
        /// Records a health probe and answers with the count so far.
        RecordProbe(crate::health::ProbeRecord) => crate::health::DurableObjectProbe,
        Arm(EnsureArmed) => bool,
        Status(ReadStatus) => SystemStatus,
        Trend(ReadTrend) => Vec<TrendPoint>,
        Uptime(ReadUptime) => Uptime,
        Incidents(crate::incidents::ReadIncidents) => crate::incidents::IncidentList,
        OpenIncident(crate::incidents::OpenIncident) => crate::incidents::Incident,
        UpdateIncident(crate::incidents::PostIncidentUpdate) => crate::incidents::UpdateOutcome,
        /// Merges an isolate's (or a hub's) latency batch; answers with the cells merged.
        MergeLatency(crate::latency::MergeLatency) => u32,
        Latency(crate::latency::ReadLatency) => crate::latency::LatencyReport,
    }
}

/// The default and the bounds of `?limit=` on the trend.
pub const TREND_DEFAULT: u32 = 288;
pub const TREND_MAX: u32 = 1_440;

/// `?limit=` of the trend: 1 to 1440, 288 when absent.
pub fn parse_trend_limit<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<u32, crate::partner::FieldError> {
    use crate::partner::FieldError;
    let mut limit = TREND_DEFAULT;
    for (name, value) in pairs {
        match name {
            "limit" => {
                limit = crate::contract::bounded_number(value, 1..=TREND_MAX)
                    .ok_or_else(|| FieldError::new("limit", format!("must be 1 to {TREND_MAX}")))?;
            }
            other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
        }
    }
    Ok(limit)
}

/// The longest status window, in hours: a year, what the daily aggregates keep.
pub const MAX_WINDOW_HOURS: u64 = 8_760;

/// `?hours=` of the uptime: 1 to 8760 (a year), 24 when absent.
pub fn parse_uptime_hours<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<u64, crate::partner::FieldError> {
    use crate::partner::FieldError;
    let mut hours = 24;
    for (name, value) in pairs {
        match name {
            "hours" => {
                hours = crate::contract::bounded_number(value, 1..=MAX_WINDOW_HOURS)
                    .ok_or_else(|| FieldError::new("hours", format!("must be 1 to {MAX_WINDOW_HOURS}")))?;
            }
            other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
        }
    }
    Ok(hours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    fn sample(checks: &[(Check, ComponentStatus)]) -> Sample {
        Sample { at_ms: 0, checks: checks.to_vec() }
    }

    #[test]
    fn the_backlog_is_judged_against_the_seeds_targets() {
        assert_eq!(judge_queue(0, 0), Operational);
        assert_eq!(judge_queue(499, 119), Operational);
        assert_eq!(judge_queue(500, 0), DegradedPerformance);
        assert_eq!(judge_queue(0, 120), DegradedPerformance);
        assert_eq!(judge_queue(2_001, 0), PartialOutage);
        assert_eq!(judge_queue(0, 601), PartialOutage);
    }

    #[test]
    fn probes_and_freshness_become_states() {
        assert_eq!(judge_probe(true, 10, 1_000), Operational);
        assert_eq!(judge_probe(true, 2_000, 1_000), DegradedPerformance);
        assert_eq!(judge_probe(false, 1, 1_000), MajorOutage);
        assert_eq!(judge_freshness(Some(1_000), 61_000, 60), Operational);
        assert_eq!(judge_freshness(Some(1_000), 200_000, 60), DegradedPerformance, "two missed intervals is stale");
        assert_eq!(judge_freshness(None, 0, 60), DegradedPerformance);
    }

    #[test]
    fn a_minute_keeps_the_worst_state_of_its_probes() {
        let down = Sample { at_ms: 1_000, checks: vec![(Check::Origin, MajorOutage), (Check::Kv, Operational)] };
        let up = Sample { at_ms: 6_000, checks: vec![(Check::Origin, Operational), (Check::Kv, DegradedPerformance)] };
        let minute = down.worst_of(&up);
        assert_eq!(minute.at_ms, 6_000);
        assert_eq!(minute.checks, vec![(Check::Origin, MajorOutage), (Check::Kv, DegradedPerformance)]);
    }

    #[test]
    fn the_overall_state_is_the_worst_check() {
        assert_eq!(sample(&[(Check::Kv, Operational), (Check::Origin, PartialOutage)]).overall(), PartialOutage);
        assert_eq!(sample(&[]).overall(), Operational);
    }

    #[test]
    fn rollups_count_availability_and_degraded_rates_and_merge() {
        let mut hour = Rollup::default();
        hour.add(&sample(&[(Check::Kv, Operational)]));
        hour.add(&sample(&[(Check::Kv, DegradedPerformance)]));
        hour.add(&sample(&[(Check::Kv, MajorOutage), (Check::Origin, PartialOutage)]));
        assert_eq!((hour.samples, hour.up), (3, 2));
        let mut day = Rollup::default();
        day.merge(&hour);
        day.merge(&hour);
        assert_eq!((day.samples, day.up), (6, 4));
        let mut daily = DailyRollups::default();
        daily.day(20_000).merge(&day);
        let report = uptime(24, &daily, Resolution::Minute);
        assert_eq!(report.availability_percent, 66.67);
        let kv = report.degraded_percent.iter().find(|r| r.check == Check::Kv).unwrap();
        assert_eq!(kv.percent, 66.67);
        assert_eq!(uptime(1, &DailyRollups::default(), Resolution::Minute).availability_percent, 100.0);
    }

    #[test]
    fn the_uptime_has_one_entry_per_utc_day_with_samples_oldest_first() {
        let up = sample(&[(Check::Kv, Operational)]);
        let down = sample(&[(Check::Kv, MajorOutage)]);
        let mut daily = DailyRollups::default();
        // 2023-11-14 (day 19_675): one sample up, one down; 2023-11-13: up; a day with no samples.
        daily.day(19_675).add(&up);
        daily.day(19_675).add(&down);
        daily.day(19_674).add(&up);
        daily.day(19_673);
        let report = uptime(72, &daily, Resolution::Hour);
        assert_eq!(report.samples, 3);
        let days: Vec<(&str, u64, f64)> =
            report.days.iter().map(|d| (d.day.as_str(), d.samples, d.availability_percent)).collect();
        assert_eq!(days, [("2023-11-13", 1, 100.0), ("2023-11-14", 2, 50.0)]);
        assert_eq!(report.days[1].degraded_percent, [CheckRate { check: Check::Kv, percent: 50.0 }]);
        assert!(report.days[0].degraded_percent.is_empty(), "a day with no degradation lists no check");
    }

    #[test]
    fn every_window_up_to_a_year_answers_from_aggregates() {
        assert_eq!(resolution_for(1), Resolution::Minute);
        assert_eq!(resolution_for(24), Resolution::Minute);
        assert_eq!(resolution_for(25), Resolution::Hour);
        assert_eq!(resolution_for(720), Resolution::Hour);
        assert_eq!(resolution_for(8_760), Resolution::Day);
    }

    #[test]
    fn a_stale_monitor_is_reported_as_degraded() {
        let latest = Sample { at_ms: 1_000, checks: vec![(Check::Kv, Operational)] };
        let fresh = system_status(Some(&latest), 30_000, 60, true, None);
        assert_eq!(fresh.indicator, Operational);
        let stale = system_status(Some(&latest), 600_000, 60, false, None);
        assert_eq!(stale.indicator, DegradedPerformance);
        assert!(stale.components.iter().any(|c| c.check == Check::Monitor && c.status == DegradedPerformance));
        assert_eq!(system_status(None, 0, 60, false, None).indicator, DegradedPerformance, "never probed yet");
    }

    #[test]
    fn query_values_are_bounded_and_named() {
        assert_eq!(parse_trend_limit([]).unwrap(), 288);
        assert_eq!(parse_trend_limit([("limit", "10")]).unwrap(), 10);
        for bad in ["0", "1441", "-1", "x"] {
            assert_eq!(parse_trend_limit([("limit", bad)]).unwrap_err().field, "limit");
        }
        assert_eq!(parse_uptime_hours([("hours", "8760")]).unwrap(), 8_760);
        assert_eq!(parse_uptime_hours([("hours", "8761")]).unwrap_err().field, "hours");
        assert_eq!(parse_uptime_hours([("x", "1")]).unwrap_err().field, "query");
    }

    #[test]
    fn states_round_trip_through_their_stored_codes() {
        for state in [Operational, DegradedPerformance, PartialOutage, MajorOutage] {
            assert_eq!(ComponentStatus::from_code(state.code()), Some(state));
        }
        assert_eq!(ComponentStatus::from_code(9), None);
    }

    #[test]
    fn statuspage_summary_speaks_statuspage() {
        let status = SystemStatus {
            indicator: ComponentStatus::PartialOutage,
            components: vec![
                ComponentState { check: Check::Kv, status: ComponentStatus::Operational },
                ComponentState { check: Check::WebhookQueue, status: ComponentStatus::PartialOutage },
            ],
            last_probe_at: Some("2026-11-24T10:00:00Z".to_owned()),
            probe_age_seconds: Some(5),
            probe_interval_seconds: 60,
            alarm_running: true,
            cron_last_seen_at: None,
        };
        let summary = statuspage_summary(&status, &[], "https://edge.example/", 0);
        assert_eq!(summary.page.url, "https://edge.example");
        assert_eq!(summary.page.updated_at, "2026-11-24T10:00:00Z");
        assert_eq!(
            (summary.status.indicator.as_str(), summary.status.description.as_str()),
            ("major", "Partial System Outage")
        );
        let ids: Vec<_> = summary.components.iter().map(|c| (c.id.as_str(), c.position, c.status)).collect();
        assert_eq!(
            ids,
            [("kv", 1, ComponentStatus::Operational), ("webhook_queue", 2, ComponentStatus::PartialOutage)]
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["components"][1]["status"], "partial_outage");
        assert!(json["incidents"].as_array().is_some_and(Vec::is_empty));

        // Open incidents are listed in Statuspage's words; resolved ones are not.
        use crate::incidents::{observe, render, IncidentUpdateIn, Observation};
        let down = Sample { at_ms: 60_000, checks: vec![(Check::WebhookQueue, ComponentStatus::PartialOutage)] };
        let Observation::Opened(mut open) = observe(None, &down) else { panic!("opens") };
        IncidentUpdateIn { phase: crate::incidents::IncidentPhase::Monitoring, message: "Draining.".into() }
            .apply(&mut open, 120_000)
            .unwrap();
        let Observation::Opened(other) =
            observe(None, &Sample { at_ms: 0, checks: vec![(Check::Kv, ComponentStatus::MajorOutage)] })
        else {
            panic!("opens")
        };
        let Observation::Changed(resolved) = observe(Some(&other), &Sample { at_ms: 1, checks: vec![] }) else {
            panic!("resolves")
        };
        let listed =
            statuspage_summary(&status, &[render(2, &open, 180_000), render(1, &resolved, 180_000)], "https://e", 0);
        assert_eq!(listed.incidents.len(), 1);
        let incident = &listed.incidents[0];
        assert_eq!(
            (incident.id.as_str(), incident.status.as_str(), incident.impact.as_str()),
            ("inc_2", "monitoring", "major")
        );
        assert_eq!(incident.components, ["webhook_queue"]);
        let statuses: Vec<&str> = incident.incident_updates.iter().map(|u| u.status.as_str()).collect();
        assert_eq!(statuses, ["monitoring", "investigating"], "newest first; degraded reads as investigating");

        let never = SystemStatus { last_probe_at: None, ..status };
        assert_eq!(statuspage_summary(&never, &[], "https://e", 86_400).page.updated_at, "1970-01-02T00:00:00Z");
        assert_eq!(statuspage_indicator(ComponentStatus::Operational).0, "none");
        assert_eq!(statuspage_indicator(ComponentStatus::MajorOutage).0, "critical");
    }
}
