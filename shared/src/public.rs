//! The seed's small public routes: a deterministic key check for bootstrap
//! scripts, a strict-validation canary, aggregate figures and the latest
//! sandbox ledger activity with no partner or user identity in it.

use serde::{Deserialize, Serialize};

use crate::partner::{Environment, KeyId, PartnerKeyRecord, DEMO_KEY_ID};
use crate::sandbox::{EntryKind, LedgerEntry};

/// The seed's alias for the published demo key.
pub const DEMO_KEY_ALIAS: &str = "sandbox_demo_key";

/// `GET /api/public/quickstart/verify-key`: what a bootstrap script learns
/// about a key id. Never anything secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KeyCheck {
    /// The key as asked about.
    pub api_key: String,
    /// The client that asked (`cli` when absent).
    pub client: String,
    pub status: KeyStatus,
    /// The key id it resolved to, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// What to do next, in one sentence.
    pub next_step: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// A sandbox key that signs requests today.
    Ready,
    /// A sandbox key that is disabled or expired.
    Unusable,
    /// A live key: not checked here.
    LiveKey,
    /// Shaped like a key id, but this edge has no such key.
    Unknown,
    /// Not a key id at all (a secret pasted by mistake is refused without echoing it).
    Malformed,
}

/// Classifies the asked key. `record` is the stored key, if `api_key` named one.
pub fn check_key(
    api_key: &str,
    client: &str,
    record: Option<&PartnerKeyRecord>,
    demo_available: bool,
    now: u64,
) -> KeyCheck {
    let client = client.to_owned();
    let looks_secret = api_key.starts_with("sk_") || api_key.starts_with("whsec_");
    let shown = if looks_secret { "[a secret: never send it anywhere]".to_owned() } else { api_key.to_owned() };
    let resolved = if api_key == DEMO_KEY_ALIAS { DEMO_KEY_ID } else { api_key };
    let Ok(key_id) = KeyId::parse(resolved) else {
        let next_step = if looks_secret {
            "That is a secret, not a key id: rotate it now, and pass the pk_… key id instead."
        } else {
            "Pass a key id (pk_sandbox_… or pk_live_…), or sandbox_demo_key on a local edge."
        };
        return KeyCheck {
            api_key: shown,
            client,
            status: KeyStatus::Malformed,
            key_id: None,
            environment: None,
            next_step: next_step.to_owned(),
        };
    };
    let environment = key_id.environment();
    let (status, next_step) = if environment == Environment::Live {
        (KeyStatus::LiveKey, "Live keys are not checked here; sign a GET /api/partner/me with it instead.")
    } else {
        match record {
            Some(record) => match record.unusable_reason(now) {
                None => (KeyStatus::Ready, "Sign GET /api/partner/me with this key to make your first call."),
                Some(_) => (KeyStatus::Unusable, "This key is disabled or expired: ask the operator for a new one."),
            },
            None if key_id.as_str() == DEMO_KEY_ID && demo_available => {
                (KeyStatus::Ready, "The local demo key: its secret is in the README; sign GET /api/partner/me.")
            }
            None => (KeyStatus::Unknown, "This edge has no such key: check the id, or ask the operator for one."),
        }
    };
    KeyCheck {
        api_key: shown,
        client,
        status,
        key_id: Some(key_id.as_str().to_owned()),
        environment: Some(environment),
        next_step: next_step.to_owned(),
    }
}

/// `POST /api/canary/echo`: strictly validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CanaryIn {
    /// 1 to 1000 characters, not only spaces.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 1000), pattern(crate::contract::text_pattern())))]
    pub message: String,
    /// Your own correlation id: 1 to 64 of `[A-Za-z0-9_.:-]`.
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::ID)))]
    pub request_id: String,
}

impl CanaryIn {
    pub fn validate(&self) -> Result<(), crate::partner::FieldError> {
        if !crate::contract::is_text(&self.message, 1000) {
            return Err(crate::partner::FieldError::new(
                "message",
                "must be 1 to 1000 characters, not only spaces, with no control characters",
            ));
        }
        if !crate::contract::is_id(&self.request_id) {
            return Err(crate::partner::FieldError::new("request_id", "must be 1 to 64 of A-Z a-z 0-9 _ . : -"));
        }
        Ok(())
    }
}

/// The canary's answer: what it was sent, and the edge's own request id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CanaryEcho {
    pub message: String,
    pub request_id: String,
    pub edge_request_id: String,
    pub strict_validation: bool,
}

/// One ledger entry as the public sees it: no partner, no user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PublicTransaction {
    /// A sequence number of the edge's own, unrelated to any partner's ids.
    pub seq: u64,
    pub kind: EntryKind,
    pub amount: u64,
    pub reason: String,
    /// Unix seconds.
    pub created_at: u64,
}

impl PublicTransaction {
    /// Strips a ledger entry of everything that identifies a partner or a user.
    pub fn from_entry(entry: &LedgerEntry) -> Self {
        Self {
            seq: 0,
            kind: entry.kind,
            amount: entry.amount,
            reason: entry.reason.clone(),
            created_at: entry.created_at,
        }
    }
}

/// `GET /api/public-stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PublicStats {
    /// Partner keys issued, sandbox and live.
    pub partner_keys: u64,
    /// Sandbox ledger entries across partners.
    pub transactions: u64,
    pub credited_total: u64,
    pub debited_total: u64,
    /// Unix seconds of the latest entry, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transaction_at: Option<u64>,
}

/// How many anonymised entries the public feed keeps.
pub const LATEST_KEPT: u64 = 100;

/// One entry for the public figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTransaction {
    pub transaction: PublicTransaction,
    /// An opaque digest of the partner and entry (the entry's event id), so
    /// an entry answered twice is counted once. Never published.
    pub dedupe: String,
}

/// Records a batch of entries, each at most once; answers how many were new.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTransactions {
    pub records: Vec<RecordTransaction>,
}

/// The running totals (the partner-key count is the worker's to add).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {}

/// The newest entries, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadLatest {
    pub limit: u32,
}

crate::object_commands! {
    /// What the worker asks the global `PublicActivity` object.
    pub enum ActivityCommand {
        RecordBatch(RecordTransactions) => u32,
        Stats(ReadStats) => PublicStats,
        Latest(ReadLatest) => Vec<PublicTransaction>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_check_never_echoes_a_secret() {
        let check = check_key("sk_sandbox_0123", "cli", None, false, 0);
        assert_eq!(check.status, KeyStatus::Malformed);
        assert!(!check.api_key.contains("sk_sandbox_0123"), "{check:?}");
        let whsec = check_key("whsec_abc", "cli", None, false, 0);
        assert!(!serde_json::to_string(&whsec).unwrap().contains("whsec_abc"));
    }

    #[test]
    fn a_key_check_says_what_a_key_is() {
        assert_eq!(check_key("nonsense", "cli", None, false, 0).status, KeyStatus::Malformed);
        assert_eq!(check_key("pk_live_0123456789abcdef01234567", "cli", None, false, 0).status, KeyStatus::LiveKey);
        assert_eq!(check_key("pk_sandbox_0123456789abcdef01234567", "cli", None, false, 0).status, KeyStatus::Unknown);
        let demo = check_key(DEMO_KEY_ALIAS, "cli", None, true, 0);
        assert_eq!((demo.status, demo.key_id.as_deref()), (KeyStatus::Ready, Some(DEMO_KEY_ID)));
        assert_eq!(
            check_key(DEMO_KEY_ALIAS, "cli", None, false, 0).status,
            KeyStatus::Unknown,
            "no demo key off local"
        );
    }

    #[test]
    fn the_canary_refuses_what_it_does_not_know() {
        assert!(serde_json::from_str::<CanaryIn>(r#"{"message":"hello","request_id":"canary-1","extra":1}"#).is_err());
        let ok: CanaryIn = serde_json::from_str(r#"{"message":"hello","request_id":"canary-1"}"#).unwrap();
        assert_eq!(ok.validate(), Ok(()));
        let blank = CanaryIn { message: "  ".into(), request_id: "x".into() };
        assert_eq!(blank.validate().unwrap_err().field, "message");
    }

    #[test]
    fn public_transactions_carry_no_identity() {
        let entry = LedgerEntry {
            entry_id: "le_9".into(),
            user_id: "4".into(),
            kind: EntryKind::Credit,
            amount: 100,
            balance_after: 100,
            reason: "event_participation".into(),
            source: Some("partner_portal".into()),
            idempotency_key: "k".into(),
            created_at: 5,
        };
        let public = serde_json::to_string(&PublicTransaction::from_entry(&entry)).unwrap();
        for private in ["le_9", "\"4\"", "partner_portal", "\"k\"", "balance"] {
            assert!(!public.contains(private), "{private} leaked: {public}");
        }
    }
}
