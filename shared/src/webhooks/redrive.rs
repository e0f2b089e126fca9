//! An operator's batched re-drive of dead letters: which dead letters a
//! batch takes, and when the next batch runs. Pure: the `WebhookHub` object
//! loads the candidates and the clock, and stores what comes back.

use serde::{Deserialize, Serialize};

/// A re-drive in progress: at most one per hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedriveJob {
    /// Only this subscription's dead letters, if set.
    pub subscription_id: Option<String>,
    pub batch_size: u32,
    pub cooldown_ms: u64,
    /// Only dead letters from before the re-drive began: a delivery that
    /// dies again while it runs is not picked up again by the same re-drive.
    pub cutoff_ms: u64,
    pub next_at_ms: u64,
}

/// A dead letter as a candidate for a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub delivery_id: String,
    pub subscription_id: String,
    pub dead_at_ms: u64,
}

/// What one batch does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedriveBatch {
    /// Delivery ids to requeue, oldest dead letter first.
    pub requeue: Vec<String>,
    /// Dead letters the job still has to take after this batch.
    pub remaining: u32,
    /// The job after this batch; `None` once nothing remains.
    pub next: Option<RedriveJob>,
}

impl RedriveJob {
    pub fn start(subscription_id: Option<String>, batch_size: u32, cooldown_seconds: u64, now_ms: u64) -> Self {
        Self {
            subscription_id,
            batch_size,
            cooldown_ms: cooldown_seconds.saturating_mul(1000),
            cutoff_ms: now_ms,
            next_at_ms: now_ms,
        }
    }

    pub fn is_due(&self, now_ms: u64) -> bool {
        self.next_at_ms <= now_ms
    }

    /// Whether this job re-drives a dead letter.
    pub fn takes(&self, dead: &DeadLetter) -> bool {
        dead.dead_at_ms <= self.cutoff_ms
            && self.subscription_id.as_ref().is_none_or(|only| *only == dead.subscription_id)
    }

    /// Runs one batch over `candidates` (the hub passes the oldest matches
    /// it has, at most a batch of them) given `matching`, how many dead
    /// letters match in all.
    pub fn run_batch(&self, candidates: &[DeadLetter], matching: u64, now_ms: u64) -> RedriveBatch {
        let mut taken: Vec<&DeadLetter> = candidates.iter().filter(|dead| self.takes(dead)).collect();
        taken.sort_by(|a, b| a.dead_at_ms.cmp(&b.dead_at_ms).then_with(|| a.delivery_id.cmp(&b.delivery_id)));
        taken.truncate(self.batch_size as usize);
        let remaining = u32::try_from(matching.saturating_sub(taken.len() as u64)).unwrap_or(u32::MAX);
        let next =
            (remaining > 0).then(|| RedriveJob { next_at_ms: now_ms.saturating_add(self.cooldown_ms), ..self.clone() });
        RedriveBatch { requeue: taken.into_iter().map(|dead| dead.delivery_id.clone()).collect(), remaining, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(id: &str, subscription: &str, at: u64) -> DeadLetter {
        DeadLetter { delivery_id: id.into(), subscription_id: subscription.into(), dead_at_ms: at }
    }

    #[test]
    fn a_redrive_filtered_by_subscription_takes_only_that_subscriptions_dead_letters() {
        let job = RedriveJob::start(Some("wh_a".into()), 10, 60, 1_000);
        let candidates = [dead("d1", "wh_a", 300), dead("d2", "wh_b", 100), dead("d3", "wh_a", 200)];
        let batch = job.run_batch(&candidates, 2, 1_000);
        assert_eq!(batch.requeue, vec!["d3".to_owned(), "d1".to_owned()], "oldest first, wh_b untouched");
        assert_eq!((batch.remaining, batch.next), (0, None));
    }

    #[test]
    fn batches_follow_one_another_after_the_cooldown_until_none_remain() {
        let job = RedriveJob::start(None, 2, 60, 1_000);
        assert!(job.is_due(1_000));
        let all = [dead("d1", "wh_a", 10), dead("d2", "wh_b", 20), dead("d3", "wh_a", 30)];
        let first = job.run_batch(&all, 3, 1_000);
        assert_eq!(first.requeue, vec!["d1".to_owned(), "d2".to_owned()]);
        assert_eq!(first.remaining, 1);
        let next = first.next.expect("one remains");
        assert_eq!(next.next_at_ms, 61_000);
        assert!(!next.is_due(60_999) && next.is_due(61_000));
        let second = next.run_batch(&all[2..], 1, 61_000);
        assert_eq!((second.requeue, second.remaining, second.next), (vec!["d3".to_owned()], 0, None));
    }

    #[test]
    fn dead_letters_newer_than_the_redrive_are_left_alone() {
        let job = RedriveJob::start(None, 10, 0, 1_000);
        let batch = job.run_batch(&[dead("old", "wh_a", 999), dead("new", "wh_a", 1_001)], 1, 1_000);
        assert_eq!(batch.requeue, vec!["old".to_owned()]);
    }
}
