//! Latency percentiles from real traffic. Every API request the edge
//! serves is recorded, per route family and status class, into a DDSketch
//! (1 % relative accuracy, mergeable). An isolate aggregates in memory and
//! hands a batch over after answering; the `StatusMonitor` merges batches
//! into hourly and daily buckets; a read merges the buckets of its window.
//! The webhook hubs add each delivery's event-to-receiver latency the same
//! way, judged against the seed's webhook latency SLO.
//!
//! Pure: the caller passes the clock and the measured latencies.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

use crate::partner::FieldError;

/// The sketches' relative accuracy: a reported percentile is within 1 % of a
/// value actually observed at that rank.
pub const RELATIVE_ACCURACY: f64 = 0.01;

fn config() -> Config {
    // 2048 bins at 1 % cover 1 µs to far past an hour before collapsing.
    Config::new(RELATIVE_ACCURACY, 2048, 1.0e-9)
}

/// A mergeable quantile sketch of latencies in milliseconds.
#[derive(Clone)]
pub struct Sketch(DDSketch);

impl Default for Sketch {
    fn default() -> Self {
        Sketch(DDSketch::new(config()))
    }
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch({} values)", self.0.count())
    }
}

impl Sketch {
    pub fn add(&mut self, latency_ms: f64) {
        if latency_ms.is_finite() && latency_ms >= 0.0 {
            self.0.add(latency_ms);
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        // Every sketch here is built from the same configuration.
        let _ = self.0.merge(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    /// The `q` quantile (0 to 1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }

    /// DataDog's portable binary encoding, in base64.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.to_java_bytes())
    }

    pub fn decode(encoded: &str) -> Result<Sketch, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("a stored sketch is not base64: {e}"))?;
        let decoded =
            DDSketch::from_java_bytes(&bytes).map_err(|e| format!("a stored sketch does not decode: {e:?}"))?;
        // Re-add into our configuration so merges never meet a foreign one.
        let mut sketch = Sketch::default();
        sketch.0.merge(&decoded).map_err(|_| "a stored sketch has another configuration".to_owned())?;
        Ok(sketch)
    }
}

/// The HTTP status class of an answer.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The family of requests that matched no route.
pub const UNMATCHED_FAMILY: &str = "unmatched";

/// The series of webhook event-to-receiver latencies.
pub const WEBHOOK_SERIES: &str = "webhook:event_to_receiver";

/// The series an API request is recorded in: `api:<family>:<class>`.
pub fn api_series(family: &str, status: u16) -> String {
    format!("api:{family}:{}", status_class(status))
}

/// A bucket's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 2] = [Resolution::Hour, Resolution::Day];

    pub const fn seconds(self) -> u64 {
        match self {
            Resolution::Hour => 3_600,
            Resolution::Day => 86_400,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }

    /// How long buckets of this width are kept: the longest window (30
    /// days) plus the bucket the window starts in.
    pub const fn kept_seconds(self) -> u64 {
        MAX_HOURS * 3_600 + self.seconds()
    }
}

/// One bucket's sketch of one series.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cell {
    /// Unix hour (seconds / 3600) the values were recorded in.
    pub hour: u64,
    pub series: String,
    /// [`Sketch::encode`].
    pub sketch: String,
}

/// Cells to merge into storage.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MergeLatency {
    pub cells: Vec<Cell>,
}

/// An isolate's latencies not yet handed to storage.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Per hour, per series.
    cells: BTreeMap<u64, BTreeMap<String, Sketch>>,
    values: u64,
    /// When the current batch was started (the first value after a take).
    opened_ms: Option<u64>,
}

impl Recorder {
    pub fn record(&mut self, series: &str, latency_ms: f64, now_ms: u64) {
        let hour = self.cells.entry(now_ms / 3_600_000).or_default();
        // The hot path finds its series without allocating a key.
        match hour.get_mut(series) {
            Some(sketch) => sketch.add(latency_ms),
            None => {
                let mut sketch = Sketch::default();
                sketch.add(latency_ms);
                hour.insert(series.to_owned(), sketch);
            }
        }
        self.values += 1;
        self.opened_ms.get_or_insert(now_ms);
    }

    /// Whether the batch should be handed over: it is older than
    /// `interval_ms`, or holds `max_values`.
    pub fn is_due(&self, now_ms: u64, interval_ms: u64, max_values: u64) -> bool {
        self.opened_ms.is_some_and(|opened| now_ms.saturating_sub(opened) >= interval_ms || self.values >= max_values)
    }

    /// Takes the batch, leaving the recorder empty.
    pub fn take(&mut self) -> MergeLatency {
        self.values = 0;
        self.opened_ms = None;
        MergeLatency {
            cells: std::mem::take(&mut self.cells)
                .into_iter()
                .flat_map(|(hour, series)| {
                    series.into_iter().map(move |(series, sketch)| Cell { hour, series, sketch: sketch.encode() })
                })
                .collect(),
        }
    }
}

/// The bucket a cell is merged into, per resolution.
pub fn bucket_of(hour: u64, resolution: Resolution) -> u64 {
    hour * 3_600 / resolution.seconds()
}

/// The longest window, in hours.
pub const MAX_HOURS: u64 = 720;

/// `?hours=` of the latency percentiles: 1 to 720, 24 when absent.
pub fn parse_latency_hours<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<ReadLatency, FieldError> {
    let mut hours = 24;
    for (name, value) in pairs {
        match name {
            "hours" => {
                hours = crate::contract::bounded_number(value, 1..=MAX_HOURS)
                    .ok_or_else(|| FieldError::new("hours", format!("must be 1 to {MAX_HOURS}")))?;
            }
            other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
        }
    }
    Ok(ReadLatency { hours })
}

/// Reads the percentiles of the last `hours`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadLatency {
    pub hours: u64,
}

/// Windows up to two days answer from hourly buckets; longer ones from daily.
pub fn resolution_for(hours: u64) -> Resolution {
    if hours <= 48 {
        Resolution::Hour
    } else {
        Resolution::Day
    }
}

/// The first bucket a window of `hours` ending at `now_secs` reads.
pub fn first_bucket(hours: u64, now_secs: u64, resolution: Resolution) -> u64 {
    now_secs.saturating_sub(hours * 3_600) / resolution.seconds()
}

/// The seed's webhook latency SLO, end to end.
pub const WEBHOOK_SLO_MS: Slo = Slo { p50_ms: 250.0, p95_ms: 1_000.0, p99_ms: 3_000.0 };

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Slo {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Three percentiles and the count they are drawn from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Percentiles {
    pub count: u64,
    /// Milliseconds, within 1 %; absent with no values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
}

impl Percentiles {
    pub fn of(sketch: &Sketch) -> Percentiles {
        let at = |q| sketch.quantile(q).map(|v| (v * 100.0).round() / 100.0);
        Percentiles { count: sketch.count(), p50_ms: at(0.5), p95_ms: at(0.95), p99_ms: at(0.99) }
    }
}

/// One route family's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FamilyLatency {
    /// The route table's tag (`partner`, `salutes`, `status`, …), or `unmatched`.
    pub family: String,
    #[serde(flatten)]
    pub all: Percentiles,
    /// Per status class (`2xx`, `4xx`, …).
    pub by_status_class: BTreeMap<String, Percentiles>,
    /// The same figures per bucket (hour or day) that has values, oldest
    /// first: the family's latency over the window.
    pub points: Vec<LatencyPoint>,
}

/// One bucket's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LatencyPoint {
    /// RFC 3339: the bucket's start.
    pub at: String,
    #[serde(flatten)]
    pub figures: Percentiles,
}

/// Webhook deliveries, from the event's publication to the receiver's 2xx.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct WebhookLatency {
    #[serde(flatten)]
    pub all: Percentiles,
    pub slo: Slo,
    /// Whether every percentile is within its target; absent with no deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_slo: Option<bool>,
}

/// `GET /api/public/latency-percentiles`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LatencyReport {
    pub hours: u64,
    /// `hour` or `day`: the buckets the answer merged.
    pub resolution: String,
    /// RFC 3339: the start of the first bucket read (at or before the window's start).
    pub from: String,
    /// 1 % for every figure.
    pub relative_accuracy: f64,
    /// Every API request the edge answered in the window.
    pub overall: Percentiles,
    pub families: Vec<FamilyLatency>,
    pub webhooks: WebhookLatency,
}

/// Merges the stored cells of a window (bucket, series, sketch) into the report.
pub fn report(hours: u64, resolution: Resolution, first_bucket: u64, cells: &[(u64, String, Sketch)]) -> LatencyReport {
    let mut overall = Sketch::default();
    let mut webhook = Sketch::default();
    type Family<'a> = (Sketch, BTreeMap<&'a str, Sketch>, BTreeMap<u64, Sketch>);
    let mut families: BTreeMap<&str, Family<'_>> = BTreeMap::new();
    for (bucket, series, sketch) in cells {
        if series == WEBHOOK_SERIES {
            webhook.merge(sketch);
            continue;
        }
        let Some((family, class)) = series.strip_prefix("api:").and_then(|rest| rest.rsplit_once(':')) else {
            continue;
        };
        overall.merge(sketch);
        let (all, by_class, by_bucket) = families.entry(family).or_default();
        all.merge(sketch);
        by_class.entry(class).or_default().merge(sketch);
        by_bucket.entry(*bucket).or_default().merge(sketch);
    }
    let webhook_figures = Percentiles::of(&webhook);
    let within_slo = match (webhook_figures.p50_ms, webhook_figures.p95_ms, webhook_figures.p99_ms) {
        (Some(p50), Some(p95), Some(p99)) => {
            Some(p50 <= WEBHOOK_SLO_MS.p50_ms && p95 <= WEBHOOK_SLO_MS.p95_ms && p99 <= WEBHOOK_SLO_MS.p99_ms)
        }
        _ => None,
    };
    LatencyReport {
        hours,
        resolution: resolution.as_str().to_owned(),
        from: crate::time::rfc3339(first_bucket * resolution.seconds()),
        relative_accuracy: RELATIVE_ACCURACY,
        overall: Percentiles::of(&overall),
        families: families
            .into_iter()
            .map(|(family, (all, by_class, by_bucket))| FamilyLatency {
                family: family.to_owned(),
                all: Percentiles::of(&all),
                by_status_class: by_class.iter().map(|(c, s)| ((*c).to_owned(), Percentiles::of(s))).collect(),
                points: by_bucket
                    .iter()
                    .map(|(bucket, sketch)| LatencyPoint {
                        at: crate::time::rfc3339(bucket * resolution.seconds()),
                        figures: Percentiles::of(sketch),
                    })
                    .collect(),
            })
            .collect(),
        webhooks: WebhookLatency { all: webhook_figures, slo: WEBHOOK_SLO_MS, within_slo },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of latencies: a log-normal-ish body and a long tail.
    fn generated(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                if u > 0.97 {
                    200.0 + u * 5_000.0
                } else {
                    0.2 + (u * 6.0).exp()
                }
            })
            .collect()
    }

    fn exact(values: &[f64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[(q * (sorted.len() - 1) as f64) as usize]
    }

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_ones() {
        let values = generated(50_000, 7);
        let mut sketch = Sketch::default();
        values.iter().for_each(|v| sketch.add(*v));
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let (got, want) = (sketch.quantile(q).unwrap(), exact(&values, q));
            assert!((got - want).abs() <= want * RELATIVE_ACCURACY, "q={q}: sketch {got}, exact {want}");
        }
        assert_eq!(sketch.count(), 50_000);
    }

    #[test]
    fn merged_sketches_answer_like_one_over_all_values_and_survive_storage() {
        let (a, b) = (generated(10_000, 1), generated(30_000, 2));
        let (mut left, mut right, mut whole) = (Sketch::default(), Sketch::default(), Sketch::default());
        a.iter().for_each(|v| left.add(*v));
        b.iter().for_each(|v| right.add(*v));
        a.iter().chain(&b).for_each(|v| whole.add(*v));
        let mut stored = Sketch::decode(&left.encode()).unwrap();
        stored.merge(&Sketch::decode(&right.encode()).unwrap());
        let all: Vec<f64> = a.iter().chain(&b).copied().collect();
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(stored.quantile(q), whole.quantile(q), "q={q}");
            let want = exact(&all, q);
            assert!((stored.quantile(q).unwrap() - want).abs() <= want * RELATIVE_ACCURACY);
        }
        assert_eq!(stored.count(), 40_000);
        assert!(stored.encode().len() < 4_000, "a stored sketch stays small: {}", stored.encode().len());
        assert!(Sketch::decode("not base64!").is_err());
        assert!(Sketch::decode("AAAA").is_err());
    }

    #[test]
    fn zero_and_nonsense_latencies() {
        let mut sketch = Sketch::default();
        sketch.add(0.0);
        sketch.add(f64::NAN);
        sketch.add(-1.0);
        sketch.add(f64::INFINITY);
        assert_eq!((sketch.count(), sketch.quantile(0.5)), (1, Some(0.0)));
    }

    #[test]
    fn the_recorder_batches_per_hour_and_series_until_due() {
        let mut recorder = Recorder::default();
        assert!(!recorder.is_due(0, 0, 1), "nothing to hand over");
        recorder.record(&api_series("partner", 200), 3.0, 3_599_000);
        recorder.record(&api_series("partner", 204), 5.0, 3_599_500);
        recorder.record(&api_series("partner", 429), 1.0, 3_600_000);
        assert!(!recorder.is_due(3_605_000, 10_000, 1_000));
        assert!(recorder.is_due(3_609_000, 10_000, 1_000));
        assert!(recorder.is_due(3_600_001, 10_000, 3), "full");
        let batch = recorder.take();
        let keys: Vec<(u64, &str)> = batch.cells.iter().map(|c| (c.hour, c.series.as_str())).collect();
        assert_eq!(keys, [(0, "api:partner:2xx"), (1, "api:partner:4xx")]);
        assert_eq!(Sketch::decode(&batch.cells[0].sketch).unwrap().count(), 2);
        assert!(!recorder.is_due(u64::MAX, 0, 0), "taken: empty again");
        assert!(recorder.take().cells.is_empty());
    }

    #[test]
    fn reports_merge_families_classes_and_webhooks() {
        let cell = |series: &str, values: &[f64]| {
            let mut sketch = Sketch::default();
            values.iter().for_each(|v| sketch.add(*v));
            (10, series.to_owned(), sketch)
        };
        let mut later = cell("api:partner:2xx", &[10.0]);
        later.0 = 12;
        let cells = [
            cell("api:partner:2xx", &[10.0, 10.0, 10.0]),
            later,
            cell("api:partner:4xx", &[1.0]),
            cell("api:status:2xx", &[100.0]),
            cell(WEBHOOK_SERIES, &[120.0, 200.0, 900.0]),
            cell("something:else", &[1.0]),
        ];
        let report = report(24, Resolution::Hour, 10, &cells);
        assert_eq!((report.overall.count, report.families.len()), (6, 2));
        let partner = &report.families[0];
        assert_eq!((partner.family.as_str(), partner.all.count), ("partner", 5));
        assert_eq!(partner.by_status_class["2xx"].count, 4);
        let p50 = partner.by_status_class["2xx"].p50_ms.unwrap();
        assert!((p50 - 10.0).abs() <= 0.1, "{p50}");
        assert_eq!(report.from, "1970-01-01T10:00:00Z");
        // Over time: one point per bucket with values, oldest first.
        let points: Vec<(&str, u64)> = partner.points.iter().map(|p| (p.at.as_str(), p.figures.count)).collect();
        assert_eq!(points, [("1970-01-01T10:00:00Z", 4), ("1970-01-01T12:00:00Z", 1)]);
        assert_eq!((report.webhooks.all.count, report.webhooks.within_slo), (3, Some(true)));

        let slow = report_within(&[cell(WEBHOOK_SERIES, &[5_000.0])]);
        assert_eq!(slow, Some(false));
        assert_eq!(report_within(&[]), None, "no deliveries, no verdict");
    }

    fn report_within(cells: &[(u64, String, Sketch)]) -> Option<bool> {
        report(1, Resolution::Hour, 0, cells).webhooks.within_slo
    }

    #[test]
    fn windows_pick_their_buckets() {
        assert_eq!(resolution_for(48), Resolution::Hour);
        assert_eq!(resolution_for(49), Resolution::Day);
        assert_eq!(first_bucket(24, 100 * 3_600 + 5, Resolution::Hour), 76);
        assert_eq!(first_bucket(720, 40 * 86_400, Resolution::Day), 10);
        assert_eq!(bucket_of(49, Resolution::Day), 2);
        assert_eq!(parse_latency_hours([]).unwrap().hours, 24);
        assert_eq!(parse_latency_hours([("hours", "720")]).unwrap().hours, 720);
        for bad in ["0", "721", "1.5", "-1", ""] {
            assert_eq!(parse_latency_hours([("hours", bad)]).unwrap_err().field, "hours", "{bad}");
        }
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(api_series("salutes", 410), "api:salutes:4xx");
    }
}
