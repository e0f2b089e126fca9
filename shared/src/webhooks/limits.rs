//! How much a partner's webhook state may hold, and for how long. Every
//! table the hub writes is bounded by one of these: a cap refused with a
//! clear 4xx, or a retention the hub's alarm enforces.

/// Webhook storage bounds; the worker reads them from variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookLimits {
    /// `WEBHOOK_MAX_SUBSCRIPTIONS`: subscriptions per partner key.
    pub max_subscriptions: u32,
    /// `WEBHOOK_MAX_LIVE_SECRETS`: secrets signing at once per subscription
    /// (the current one and those still in a rotation overlap).
    pub max_live_secrets: u32,
    /// `WEBHOOK_LOG_ATTEMPTS_PER_DELIVERY`: the newest attempts the delivery log lists per delivery.
    pub attempts_listed: u32,
    /// `WEBHOOK_RETENTION_SECONDS`: finished deliveries, their attempts and
    /// their events are pruned after this; so is the KV event index.
    pub retention_secs: u64,
    /// `WEBHOOK_PRUNE_INTERVAL_SECONDS`: how often the hub's alarm prunes.
    pub prune_interval_secs: u64,
}

/// Metric transitions feed 5-minute rates and a 24-hour dead-letter count;
/// nothing older is read, so nothing older is kept.
pub const TRANSITIONS_KEPT_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for WebhookLimits {
    fn default() -> Self {
        Self {
            max_subscriptions: 20,
            max_live_secrets: 3,
            attempts_listed: 20,
            retention_secs: 30 * 86_400,
            prune_interval_secs: 3_600,
        }
    }
}

impl WebhookLimits {
    /// Reads the settings; an unset variable keeps its default, a bad one is an error naming it.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults = Self::default();
        Ok(Self {
            max_subscriptions: number(&lookup, "WEBHOOK_MAX_SUBSCRIPTIONS", defaults.max_subscriptions, 1..=1_000)?,
            max_live_secrets: number(&lookup, "WEBHOOK_MAX_LIVE_SECRETS", defaults.max_live_secrets, 1..=10)?,
            attempts_listed: number(&lookup, "WEBHOOK_LOG_ATTEMPTS_PER_DELIVERY", defaults.attempts_listed, 1..=100)?,
            retention_secs: number(&lookup, "WEBHOOK_RETENTION_SECONDS", defaults.retention_secs, 1..=366 * 86_400)?,
            prune_interval_secs: number(
                &lookup,
                "WEBHOOK_PRUNE_INTERVAL_SECONDS",
                defaults.prune_interval_secs,
                1..=86_400,
            )?,
        })
    }

    /// Rows finished before this (unix ms) are pruned.
    pub fn prune_before_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.retention_secs.saturating_mul(1000))
    }
}

/// A whole number in `range` from a variable, or an error naming it.
pub fn number<T: std::str::FromStr + PartialOrd + Copy>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, String> {
    match lookup(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .ok()
            .filter(|value| range.contains(value))
            .ok_or_else(|| format!("{name} is out of range or not a whole number: {raw:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bound_every_table() {
        let limits = WebhookLimits::from_vars(|_| None).unwrap();
        assert_eq!(limits, WebhookLimits::default());
        assert_eq!(limits.retention_secs, 30 * 86_400);
    }

    #[test]
    fn bad_settings_are_named() {
        for (name, raw) in [
            ("WEBHOOK_MAX_SUBSCRIPTIONS", "0"),
            ("WEBHOOK_MAX_LIVE_SECRETS", "lots"),
            ("WEBHOOK_RETENTION_SECONDS", "-1"),
            ("WEBHOOK_LOG_ATTEMPTS_PER_DELIVERY", "1000"),
        ] {
            let error = WebhookLimits::from_vars(|n| (n == name).then(|| raw.to_owned())).unwrap_err();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn the_prune_cutoff_never_underflows() {
        let limits = WebhookLimits { retention_secs: 366 * 86_400, ..WebhookLimits::default() };
        assert_eq!(limits.prune_before_ms(5), 0);
        assert_eq!(WebhookLimits { retention_secs: 2, ..limits }.prune_before_ms(10_000), 8_000);
    }
}
