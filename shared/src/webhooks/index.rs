//! Where each stored webhook event lives, for the operator's replay route
//! (`POST /api/admin/webhook-events/{event_id}/replay`), which names only the
//! event. Events are stored in their key's `WebhookHub`; the index maps an
//! event id to that key, spread over [`SHARDS`] `EventIndex` objects by a
//! hash of the id, so the route finds the shard from the id alone.
//!
//! The hub hands its new events to their shards after answering. An entry
//! lives as long as the hub keeps the event (`WEBHOOK_RETENTION_SECONDS`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many index objects the ids are spread over. Each hand-over from a
/// hub is one call per shard its events fall in, and an object takes a
/// batch in one statement per 30 entries, so a few shards carry a great
/// many events. Changing it moves every id to another shard, so it is
/// fixed for the life of a deployment.
pub const SHARDS: u8 = 4;

/// The name of the index object that holds `event_id`: `events-0` to `events-3`.
pub fn shard_of(event_id: &str) -> String {
    let digest = Sha256::digest(event_id.as_bytes());
    format!("events-{}", digest[0] % SHARDS)
}

/// One event and the key whose hub stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedEvent {
    pub event_id: String,
    pub key_id: String,
}

/// Records where events live; an entry already there is kept as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexEvents {
    pub events: Vec<IndexedEvent>,
    /// Unix seconds after which these entries may be forgotten.
    pub expires_at: u64,
}

/// The key whose hub stores `event_id`, if it is indexed and not expired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocateEvent {
    pub event_id: String,
    /// Unix seconds now.
    pub now: u64,
}

crate::object_commands! {
    /// What the worker and the hubs ask an `EventIndex` object.
    pub enum IndexCommand {
        /// Answers how many entries it took (all of them: one already
        /// there is kept as it is).
        Index(IndexEvents) => u32,
        Locate(LocateEvent) => Option<String>,
    }
}

/// Groups new events by the shard that indexes them, in a stable order.
pub fn by_shard(event_ids: &[String], key_id: &str) -> Vec<(String, Vec<IndexedEvent>)> {
    let mut shards: std::collections::BTreeMap<String, Vec<IndexedEvent>> = std::collections::BTreeMap::new();
    for event_id in event_ids {
        shards
            .entry(shard_of(event_id))
            .or_default()
            .push(IndexedEvent { event_id: event_id.clone(), key_id: key_id.to_owned() });
    }
    shards.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_always_maps_to_the_same_shard() {
        // Pinned: a change here would orphan every entry already indexed.
        assert_eq!(shard_of("evt_order-42-created"), "events-2");
        assert_eq!(shard_of("evt_0123456789abcdef0123456789abcdef"), "events-0");
    }

    #[test]
    fn ids_spread_over_every_shard() {
        let shards: std::collections::HashSet<String> =
            (0..200).map(|n| shard_of(&crate::webhooks::new_event_id((n as u128).to_be_bytes()))).collect();
        assert_eq!(shards.len(), usize::from(SHARDS));
        assert!(shards
            .iter()
            .all(|s| s.strip_prefix("events-").and_then(|n| n.parse::<u8>().ok()).is_some_and(|n| n < SHARDS)));
    }

    #[test]
    fn a_batch_is_split_by_shard_and_keeps_its_key() {
        let ids: Vec<String> = (0..50u128).map(|n| crate::webhooks::new_event_id(n.to_be_bytes())).collect();
        let groups = by_shard(&ids, "pk_sandbox_0123456789abcdef01234567");
        assert_eq!(groups.iter().map(|(_, events)| events.len()).sum::<usize>(), ids.len());
        for (shard, events) in &groups {
            assert!(events.iter().all(|e| &shard_of(&e.event_id) == shard && e.key_id.ends_with("01234567")));
        }
        assert!(groups.windows(2).all(|pair| pair[0].0 < pair[1].0), "one call per shard, in order");
    }
}
