//! When to try a delivery again: the schedule, jitter, `Retry-After`, and
//! when to give up (dead letter). Pure: the caller passes the random jitter
//! draw and the clock in.

use serde::{Deserialize, Serialize};

use super::limits::number;

/// Delivery settings; the worker reads them from variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// `WEBHOOK_RETRY_SCHEDULE_SECONDS`: the wait after failed attempt n is
    /// `schedule[n-1]` (the last entry repeats if attempts outrun it).
    pub schedule_secs: Vec<u64>,
    /// `WEBHOOK_MAX_ATTEMPTS`: attempts in all, the first included.
    pub max_attempts: u32,
    /// `WEBHOOK_RETRY_JITTER_PERCENT`: each wait is moved by up to this much either way.
    pub jitter_percent: u32,
    /// `WEBHOOK_TIMEOUT_SECONDS`: per attempt.
    pub timeout_secs: u64,
    /// A receiver's `Retry-After` (on 429 and 503) is honoured up to this.
    pub retry_after_cap_secs: u64,
    /// `WEBHOOK_AUTO_DISABLE_AFTER`: consecutive dead-lettered events that disable a subscription.
    pub auto_disable_after: u32,
    /// `WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS`.
    pub rotation_overlap_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            schedule_secs: vec![5, 15, 60, 300, 900],
            max_attempts: 5,
            jitter_percent: 20,
            timeout_secs: 10,
            retry_after_cap_secs: 3600,
            auto_disable_after: 20,
            rotation_overlap_secs: 24 * 60 * 60,
        }
    }
}

impl RetryPolicy {
    /// Reads the settings; an unset variable keeps its default, a bad one is an error naming it.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults = Self::default();
        let schedule_secs = match lookup("WEBHOOK_RETRY_SCHEDULE_SECONDS") {
            None => defaults.schedule_secs,
            Some(raw) => {
                let steps: Result<Vec<u64>, _> = raw.split(',').map(|step| step.trim().parse::<u64>()).collect();
                match steps {
                    Ok(steps) if !steps.is_empty() && steps.iter().all(|s| (1..=86_400).contains(s)) => steps,
                    _ => {
                        return Err(format!(
                            "WEBHOOK_RETRY_SCHEDULE_SECONDS must be comma-separated seconds (1 to 86400), not {raw:?}"
                        ))
                    }
                }
            }
        };
        Ok(Self {
            schedule_secs,
            max_attempts: number(&lookup, "WEBHOOK_MAX_ATTEMPTS", defaults.max_attempts, 1..=50)?,
            jitter_percent: number(&lookup, "WEBHOOK_RETRY_JITTER_PERCENT", defaults.jitter_percent, 0..=50)?,
            timeout_secs: number(&lookup, "WEBHOOK_TIMEOUT_SECONDS", defaults.timeout_secs, 1..=60)?,
            retry_after_cap_secs: defaults.retry_after_cap_secs,
            auto_disable_after: number(&lookup, "WEBHOOK_AUTO_DISABLE_AFTER", defaults.auto_disable_after, 1..=10_000)?,
            rotation_overlap_secs: number(
                &lookup,
                "WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS",
                defaults.rotation_overlap_secs,
                0..=30 * 86_400,
            )?,
        })
    }

    /// After failed attempt number `attempts` (1-based): the wait in
    /// milliseconds before the next one, or `None` to dead-letter.
    /// `jitter_draw` is uniform in `[0, 1)`; `retry_after` is the receiver's
    /// request (429 and 503 only), which replaces the schedule within the cap.
    pub fn next_retry_ms(&self, attempts: u32, retry_after: Option<u64>, jitter_draw: f64) -> Option<u64> {
        if attempts >= self.max_attempts {
            return None;
        }
        if let Some(wait) = retry_after {
            return Some(wait.clamp(1, self.retry_after_cap_secs) * 1000);
        }
        let index = (attempts as usize).saturating_sub(1).min(self.schedule_secs.len().saturating_sub(1));
        let base_ms = self.schedule_secs.get(index).copied().unwrap_or(60) as f64 * 1000.0;
        let spread = f64::from(self.jitter_percent) / 100.0;
        let factor = 1.0 + spread * (2.0 * jitter_draw.clamp(0.0, 1.0) - 1.0);
        Some((base_ms * factor).round().max(1.0) as u64)
    }
}

/// Parses `Retry-After`: delay-seconds or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), as seconds from `now`.
pub fn parse_retry_after(raw: &str, now_secs: u64) -> Option<u64> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(seconds);
    }
    let at = crate::time::parse_http_date(raw)?;
    Some(at.saturating_sub(now_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_the_seeds_with_five_attempts() {
        let policy = RetryPolicy::default();
        let waits: Vec<Option<u64>> = (1..=5).map(|n| policy.next_retry_ms(n, None, 0.5)).collect();
        assert_eq!(waits, vec![Some(5_000), Some(15_000), Some(60_000), Some(300_000), None]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_retry_ms(2, None, 0.0), Some(12_000));
        assert_eq!(policy.next_retry_ms(2, None, 0.999_999_9), Some(18_000));
        for draw in [0.1, 0.3, 0.7, 0.9] {
            let wait = policy.next_retry_ms(3, None, draw).unwrap();
            assert!((48_000..=72_000).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn retry_after_replaces_the_schedule_within_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_retry_ms(1, Some(2), 0.5), Some(2_000));
        assert_eq!(policy.next_retry_ms(1, Some(0), 0.5), Some(1_000));
        assert_eq!(policy.next_retry_ms(1, Some(999_999), 0.5), Some(3_600_000));
        assert_eq!(policy.next_retry_ms(5, Some(2), 0.5), None, "the last attempt still dead-letters");
    }

    #[test]
    fn settings_come_from_variables_and_bad_ones_are_named() {
        let policy = RetryPolicy::from_vars(|name| match name {
            "WEBHOOK_RETRY_SCHEDULE_SECONDS" => Some("1, 2,3".into()),
            "WEBHOOK_MAX_ATTEMPTS" => Some("3".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((policy.schedule_secs.clone(), policy.max_attempts), (vec![1, 2, 3], 3));
        assert_eq!(policy.next_retry_ms(3, None, 0.5), None);
        let error = RetryPolicy::from_vars(|n| (n == "WEBHOOK_RETRY_SCHEDULE_SECONDS").then(|| "5,soon".into()));
        assert!(error.unwrap_err().contains("WEBHOOK_RETRY_SCHEDULE_SECONDS"));
        let error = RetryPolicy::from_vars(|n| (n == "WEBHOOK_TIMEOUT_SECONDS").then(|| "0".into()));
        assert!(error.unwrap_err().contains("WEBHOOK_TIMEOUT_SECONDS"));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120", 0), Some(120));
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(10));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_of_any_size_or_form_is_clamped_without_overflow() {
        let policy = RetryPolicy::default();
        let now = 1_700_000_000;
        for raw in [
            "18446744073709551615",
            "99999999999999999999999",
            "-5",
            "+5",
            "1e9",
            "",
            "  ",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Fri, 31 Dec 99999999999999 23:59:59 GMT",
            "Fri, 99 Dec 2026 23:59:59 GMT",
            "Fri, 31 Dec 2026 99999999999999999:59:59 GMT",
            "Fri, 31 Dec 2026 23:59:59 PST",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "\u{0}\u{ffff}",
        ] {
            let parsed = parse_retry_after(raw, now);
            let wait = policy.next_retry_ms(1, parsed, 0.5).unwrap();
            assert!((1_000..=3_600_000).contains(&wait), "{raw:?} gave {wait} ms");
        }
        assert_eq!(parse_retry_after("18446744073709551615", now), Some(u64::MAX));
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(253_402_300_799 - now));
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
