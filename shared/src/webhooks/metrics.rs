//! Delivery metrics: what each partner's delivery queue counts, how the
//! snapshots of many queues add up, and the Prometheus text `/metrics` serves.
//!
//! The derived figures follow the seed's definitions over delivery state
//! transitions: success rate (5 min) = transitions to `succeeded` / all
//! transitions; retry rate (5 min) = transitions to `retrying` / all;
//! dead letters (24 h) = transitions to `failed_dead_letter`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::DeliveryState;

/// Upper bounds of the latency histogram's buckets, in milliseconds.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000];

/// Which bucket (index into [`LATENCY_BUCKETS_MS`], or its length for +Inf) a latency falls in.
pub fn latency_bucket(latency_ms: u64) -> usize {
    LATENCY_BUCKETS_MS.iter().position(|&bound| latency_ms <= bound).unwrap_or(LATENCY_BUCKETS_MS.len())
}

/// Transitions within a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub total: u64,
    pub succeeded: u64,
    pub retried: u64,
}

/// One queue's figures, or the sum of many.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Transitions into each state since the queue began.
    pub events_total: BTreeMap<DeliveryState, u64>,
    /// Attempt latencies per bucket (not cumulative), +Inf last.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_ms: u64,
    pub latency_count: u64,
    /// Deliveries queued, retrying or processing.
    pub queue_depth: u64,
    /// Unix milliseconds when the oldest of those was created.
    #[serde(default)]
    pub oldest_created_at_ms: Option<u64>,
    pub last_5m: Window,
    pub dead_letters_24h: u64,
}

/// One stored counter of a hub. The names are how they are stored; a name
/// that no longer parses is reported, never guessed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Transitions into a state.
    EventsTotal(DeliveryState),
    /// Attempt latencies that fell in one bucket.
    LatencyBucket(usize),
    LatencySumMs,
    LatencyCount,
}

impl Counter {
    /// The name the counter is stored under.
    pub fn name(self) -> String {
        match self {
            Counter::EventsTotal(state) => format!("events_total:{}", state.as_str()),
            Counter::LatencyBucket(index) => format!("latency_bucket:{index}"),
            Counter::LatencySumMs => "latency_sum_ms".to_owned(),
            Counter::LatencyCount => "latency_count".to_owned(),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        if let Some(state) = name.strip_prefix("events_total:") {
            return DeliveryState::parse(state).map(Counter::EventsTotal);
        }
        if let Some(index) = name.strip_prefix("latency_bucket:") {
            return index.parse().ok().filter(|i| *i <= LATENCY_BUCKETS_MS.len()).map(Counter::LatencyBucket);
        }
        match name {
            "latency_sum_ms" => Some(Counter::LatencySumMs),
            "latency_count" => Some(Counter::LatencyCount),
            _ => None,
        }
    }
}

impl MetricsSnapshot {
    /// The counter part of a snapshot, from a hub's stored counters.
    pub fn from_counters(counters: impl IntoIterator<Item = (Counter, u64)>) -> Self {
        let mut snapshot = Self { latency_buckets: vec![0; LATENCY_BUCKETS_MS.len() + 1], ..Self::default() };
        for (counter, value) in counters {
            match counter {
                Counter::EventsTotal(state) => {
                    snapshot.events_total.insert(state, value);
                }
                Counter::LatencyBucket(index) => {
                    if let Some(bucket) = snapshot.latency_buckets.get_mut(index) {
                        *bucket = value;
                    }
                }
                Counter::LatencySumMs => snapshot.latency_sum_ms = value,
                Counter::LatencyCount => snapshot.latency_count = value,
            }
        }
        snapshot
    }

    /// Adds another queue's figures to these.
    pub fn merge(&mut self, other: &MetricsSnapshot) {
        for (state, count) in &other.events_total {
            *self.events_total.entry(*state).or_default() += count;
        }
        if self.latency_buckets.len() < other.latency_buckets.len() {
            self.latency_buckets.resize(other.latency_buckets.len(), 0);
        }
        for (mine, theirs) in self.latency_buckets.iter_mut().zip(&other.latency_buckets) {
            *mine += theirs;
        }
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency_count += other.latency_count;
        self.queue_depth += other.queue_depth;
        self.oldest_created_at_ms = match (self.oldest_created_at_ms, other.oldest_created_at_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_5m.total += other.last_5m.total;
        self.last_5m.succeeded += other.last_5m.succeeded;
        self.last_5m.retried += other.last_5m.retried;
        self.dead_letters_24h += other.dead_letters_24h;
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self, now_ms: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP webhook_events_total Delivery state transitions, by the state entered.");
        let _ = writeln!(out, "# TYPE webhook_events_total counter");
        for state in DeliveryState::ALL {
            let count = self.events_total.get(&state).copied().unwrap_or(0);
            let _ = writeln!(out, "webhook_events_total{{state=\"{}\"}} {count}", state.as_str());
        }
        let _ = writeln!(
            out,
            "# HELP webhook_delivery_latency_seconds Time from sending an attempt to its answer or failure."
        );
        let _ = writeln!(out, "# TYPE webhook_delivery_latency_seconds histogram");
        let mut cumulative = 0;
        for (index, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            cumulative += self.latency_buckets.get(index).copied().unwrap_or(0);
            let _ = writeln!(out, "webhook_delivery_latency_seconds_bucket{{le=\"{}\"}} {cumulative}", seconds(*bound));
        }
        let _ = writeln!(out, "webhook_delivery_latency_seconds_bucket{{le=\"+Inf\"}} {}", self.latency_count);
        let _ = writeln!(out, "webhook_delivery_latency_seconds_sum {}", seconds(self.latency_sum_ms));
        let _ = writeln!(out, "webhook_delivery_latency_seconds_count {}", self.latency_count);
        let gauge = |out: &mut String, name: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        };
        gauge(
            &mut out,
            "webhook_queue_depth",
            "Deliveries queued, retrying or in flight.",
            self.queue_depth.to_string(),
        );
        let age = self.oldest_created_at_ms.map_or(0, |at| now_ms.saturating_sub(at));
        gauge(
            &mut out,
            "webhook_oldest_message_age_seconds",
            "Age of the oldest delivery not yet finished.",
            seconds(age),
        );
        let ratio = |part: u64| {
            if self.last_5m.total == 0 {
                "NaN".to_owned()
            } else {
                format!("{:.4}", part as f64 / self.last_5m.total as f64)
            }
        };
        gauge(
            &mut out,
            "webhook_success_rate_5m",
            "Transitions to succeeded over all transitions, last 5 minutes.",
            ratio(self.last_5m.succeeded),
        );
        gauge(
            &mut out,
            "webhook_retry_rate_5m",
            "Transitions to retrying over all transitions, last 5 minutes.",
            ratio(self.last_5m.retried),
        );
        gauge(
            &mut out,
            "webhook_dead_letter_count_24h",
            "Deliveries dead-lettered in the last 24 hours.",
            self.dead_letters_24h.to_string(),
        );
        out
    }
}

fn seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_through_their_stored_names_and_fold_into_a_snapshot() {
        let mut all = vec![Counter::LatencySumMs, Counter::LatencyCount];
        all.extend(DeliveryState::ALL.map(Counter::EventsTotal));
        all.extend((0..=LATENCY_BUCKETS_MS.len()).map(Counter::LatencyBucket));
        for counter in &all {
            assert_eq!(Counter::parse(&counter.name()), Some(*counter), "{}", counter.name());
        }
        for unknown in ["events_total:lost", "latency_bucket:99", "latency_bucket:x", "webhook.test", ""] {
            assert_eq!(Counter::parse(unknown), None, "{unknown}");
        }
        let snapshot = MetricsSnapshot::from_counters([
            (Counter::EventsTotal(DeliveryState::Succeeded), 7),
            (Counter::LatencyBucket(0), 3),
            (Counter::LatencySumMs, 42),
            (Counter::LatencyCount, 3),
        ]);
        assert_eq!(snapshot.events_total.get(&DeliveryState::Succeeded), Some(&7));
        assert_eq!((snapshot.latency_buckets[0], snapshot.latency_sum_ms, snapshot.latency_count), (3, 42, 3));
        assert_eq!(snapshot.latency_buckets.len(), LATENCY_BUCKETS_MS.len() + 1);
    }

    fn snapshot(succeeded: u64, latencies: &[u64]) -> MetricsSnapshot {
        let mut buckets = vec![0; LATENCY_BUCKETS_MS.len() + 1];
        for &latency in latencies {
            buckets[latency_bucket(latency)] += 1;
        }
        MetricsSnapshot {
            events_total: BTreeMap::from([(DeliveryState::Succeeded, succeeded), (DeliveryState::Queued, succeeded)]),
            latency_buckets: buckets,
            latency_sum_ms: latencies.iter().sum(),
            latency_count: latencies.len() as u64,
            queue_depth: 1,
            oldest_created_at_ms: Some(1_000),
            last_5m: Window { total: 4, succeeded: 3, retried: 1 },
            dead_letters_24h: 0,
        }
    }

    #[test]
    fn latencies_land_in_their_bucket() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(25), 0);
        assert_eq!(latency_bucket(26), 1);
        assert_eq!(latency_bucket(30_001), LATENCY_BUCKETS_MS.len());
    }

    #[test]
    fn snapshots_add_up() {
        let mut total = snapshot(2, &[10, 300]);
        total.merge(&snapshot(1, &[40]));
        total.merge(&MetricsSnapshot { oldest_created_at_ms: Some(500), ..MetricsSnapshot::default() });
        assert_eq!(total.events_total[&DeliveryState::Succeeded], 3);
        assert_eq!(total.latency_count, 3);
        assert_eq!(total.latency_buckets[0], 1);
        assert_eq!(total.queue_depth, 2);
        assert_eq!(total.oldest_created_at_ms, Some(500));
        assert_eq!(total.last_5m, Window { total: 8, succeeded: 6, retried: 2 });
    }

    #[test]
    fn the_text_format_has_every_series() {
        let text = snapshot(2, &[10, 300, 40_000]).render(3_000);
        for line in [
            "webhook_events_total{state=\"succeeded\"} 2",
            "webhook_events_total{state=\"failed_dead_letter\"} 0",
            "webhook_delivery_latency_seconds_bucket{le=\"0.025\"} 1",
            "webhook_delivery_latency_seconds_bucket{le=\"0.5\"} 2",
            "webhook_delivery_latency_seconds_bucket{le=\"+Inf\"} 3",
            "webhook_delivery_latency_seconds_count 3",
            "webhook_queue_depth 1",
            "webhook_oldest_message_age_seconds 2",
            "webhook_success_rate_5m 0.7500",
            "webhook_retry_rate_5m 0.2500",
            "webhook_dead_letter_count_24h 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(MetricsSnapshot::default().render(0).contains("webhook_success_rate_5m NaN"));
    }
}
