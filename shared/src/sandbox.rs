//! The sandbox backend's resources: partner users with linked wallets, salute
//! balances with a ledger, and donation claims. The edge serves them itself
//! when no `ORIGIN_URL` is configured, so an integration can be built and
//! tested end to end against the edge alone.
//!
//! Everything that can be decided without storage is decided here: input
//! validation (naming the field), balance arithmetic (never below zero),
//! cursors, and what a key's capabilities are. The `PartnerSandbox` Durable
//! Object stores the rows.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{parse_cursor, parse_page_limit, split_page, Page, DEFAULT_PAGE};
use crate::error::Refusal;
use crate::partner::{Environment, FieldError, Scope};
use crate::routes::{Access, ROUTES};

/// Every partner's sandbox starts with these users, so the documented flows
/// (such as crediting user `"4"`) work on a fresh edge without setup.
pub const DEMO_USER_COUNT: u64 = 5;

/// Largest single credit or debit.
pub const MAX_AMOUNT: u64 = 1_000_000_000;

/// A partner's user as the sandbox keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SandboxUser {
    /// Assigned by the sandbox: `"1"`, `"2"`, …
    pub user_id: String,
    /// Your own id for this user, unique per partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Free-form string values you attach to the user.
    pub metadata: Map<String, Value>,
    pub wallets: Vec<Wallet>,
    /// Salute balance; never negative.
    pub balance: u64,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
}

/// A wallet linked to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Wallet {
    pub address: String,
    pub chain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub linked_at: u64,
}

/// `GET /api/partner/wallet-info/{address}`: a wallet and the user it is linked to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct WalletOwner {
    pub user_id: String,
    pub wallet: Wallet,
}

/// `POST /api/partner/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// 1 to 100 characters, not only spaces, no control characters.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 100), pattern(crate::contract::text_pattern())))]
    pub display_name: String,
    /// Your id for the user: 1 to 64 of `[A-Za-z0-9_.:-]`, unique per partner.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::ID)))]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(max = 254), pattern(crate::contract::email_pattern()))
    )]
    pub email: Option<String>,
    /// Up to 20 string values (at most 500 characters each) under keys of 1 to 40 characters.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::contract::metadata_schema"))]
    pub metadata: Option<Map<String, Value>>,
}

/// `PATCH /api/partner/users/{user_id}`: absent fields stay as they are;
/// name at least one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(extend("minProperties" = 1)))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(min = 1, max = 100), pattern(crate::contract::text_pattern()))
    )]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(max = 254), pattern(crate::contract::email_pattern()))
    )]
    pub email: Option<String>,
    /// Replaces the whole metadata object.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::contract::metadata_schema"))]
    pub metadata: Option<Map<String, Value>>,
}

/// `POST /api/partner/users/{user_id}/wallets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WalletIn {
    /// 8 to 128 letters and digits (an `0x…` address, for example).
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::WALLET_ADDRESS)))]
    pub address: String,
    /// 1 to 16 lowercase letters and digits; `evm` when absent.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::CHAIN)))]
    pub chain: Option<String>,
    /// 1 to 64 characters.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(min = 1, max = 64), pattern(crate::contract::text_pattern()))
    )]
    pub label: Option<String>,
}

/// `POST /api/salutes/credit` and `/debit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SalutesIn {
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::ID)))]
    pub user_id: String,
    /// Whole salutes, 1 to 1 000 000 000.
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 1_000_000_000)))]
    pub amount: u64,
    /// Why: 1 to 64 of `[a-z0-9_]`, such as `event_participation`.
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::REASON)))]
    pub reason: String,
    /// Where the action came from, such as `partner_portal`.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::ID)))]
    pub source: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Credit,
    Debit,
}

impl EntryKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::Credit => "credit",
            EntryKind::Debit => "debit",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "credit" => Some(EntryKind::Credit),
            "debit" => Some(EntryKind::Debit),
            _ => None,
        }
    }
}

/// One ledger row: a credit or a debit and the balance it left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LedgerEntry {
    /// `le_` and a sequence number; also the ledger's cursor.
    pub entry_id: String,
    pub user_id: String,
    pub kind: EntryKind,
    pub amount: u64,
    pub balance_after: u64,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The request's Idempotency-Key; the sandbox applies each key once.
    pub idempotency_key: String,
    pub created_at: u64,
}

/// `GET /api/salutes/balance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Balance {
    pub user_id: String,
    pub balance: u64,
    /// Ledger entries behind the balance.
    pub entries: u64,
}

/// `POST /api/partner/donation-claim`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DonationClaimIn {
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::ID)))]
    pub user_id: String,
    /// 1 to 64 of `[A-Za-z0-9_.:-]`.
    #[cfg_attr(feature = "openapi", schemars(pattern(crate::contract::ID)))]
    pub campaign_id: String,
    /// Whole salutes pledged, 1 to 1 000 000 000.
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 1_000_000_000)))]
    pub amount: u64,
    /// 1 to 280 characters.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(min = 1, max = 280), pattern(crate::contract::text_pattern()))
    )]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DonationClaim {
    /// `dc_` and a sequence number.
    pub claim_id: String,
    pub user_id: String,
    pub campaign_id: String,
    pub amount: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `claimed` when recorded.
    pub status: String,
    pub idempotency_key: String,
    pub created_at: u64,
}

/// The balance after applying an entry, or why it cannot be applied.
pub fn apply_entry(user_id: &str, kind: EntryKind, balance: u64, amount: u64) -> Result<u64, Refusal> {
    match kind {
        EntryKind::Credit => balance
            .checked_add(amount)
            .ok_or_else(|| Refusal::conflict(format!("user {user_id}'s balance would overflow"))),
        EntryKind::Debit => balance.checked_sub(amount).ok_or_else(|| Refusal::InsufficientBalance {
            user_id: user_id.into(),
            balance,
            amount,
        }),
    }
}

fn check_id(field: &'static str, raw: &str) -> Result<(), FieldError> {
    if !crate::contract::is_id(raw) {
        return Err(FieldError::new(field, "must be 1 to 64 of A-Z a-z 0-9 _ . : -"));
    }
    Ok(())
}

/// A user id in a path or body: what the sandbox assigns, or anything id-shaped.
pub fn check_user_id(raw: &str) -> Result<(), FieldError> {
    check_id("user_id", raw)
}

fn check_text(field: &'static str, raw: &str, max: usize) -> Result<(), FieldError> {
    if !crate::contract::is_text(raw, max) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters, not only spaces, with no control characters"),
        ));
    }
    Ok(())
}

fn check_email(raw: &str) -> Result<(), FieldError> {
    if !crate::contract::is_email(raw) {
        return Err(FieldError::new("email", "must be an address like name@example.com"));
    }
    Ok(())
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<(), FieldError> {
    if metadata.len() > 20 {
        return Err(FieldError::new("metadata", "holds at most 20 keys"));
    }
    for (key, value) in metadata {
        if !(1..=40).contains(&key.chars().count()) {
            return Err(FieldError::new("metadata", "keys must be 1 to 40 characters"));
        }
        match value {
            Value::String(text) if text.chars().count() <= 500 => {}
            _ => {
                return Err(FieldError::new("metadata", format!("`{key}` must be a string of at most 500 characters")))
            }
        }
    }
    Ok(())
}

fn check_amount(amount: u64) -> Result<(), FieldError> {
    if amount == 0 || amount > MAX_AMOUNT {
        return Err(FieldError::new("amount", format!("must be a whole number from 1 to {MAX_AMOUNT}")));
    }
    Ok(())
}

impl UserIn {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("display_name", &self.display_name, 100)?;
        if let Some(external_id) = &self.external_id {
            check_id("external_id", external_id)?;
        }
        if let Some(email) = &self.email {
            check_email(email)?;
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata)?;
        }
        Ok(())
    }
}

impl UserPatch {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.display_name.is_none() && self.email.is_none() && self.metadata.is_none() {
            return Err(FieldError::new("body", "name at least one of display_name, email, metadata"));
        }
        if let Some(name) = &self.display_name {
            check_text("display_name", name, 100)?;
        }
        if let Some(email) = &self.email {
            check_email(email)?;
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata)?;
        }
        Ok(())
    }

    pub fn apply(self, user: &mut SandboxUser, now: u64) {
        if let Some(name) = self.display_name {
            user.display_name = name;
        }
        if let Some(email) = self.email {
            user.email = Some(email);
        }
        if let Some(metadata) = self.metadata {
            user.metadata = metadata;
        }
        user.updated_at = now;
    }
}

impl WalletIn {
    /// Validates and fills defaults.
    pub fn into_wallet(self, now: u64) -> Result<Wallet, FieldError> {
        if !(8..=128).contains(&self.address.len()) || !self.address.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(FieldError::new("address", "must be 8 to 128 letters and digits"));
        }
        let chain = self.chain.unwrap_or_else(|| "evm".to_owned());
        if chain.is_empty() || chain.len() > 16 || !chain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(FieldError::new("chain", "must be 1 to 16 lowercase letters and digits"));
        }
        if let Some(label) = &self.label {
            check_text("label", label, 64)?;
        }
        Ok(Wallet { address: self.address, chain, label: self.label, linked_at: now })
    }
}

impl SalutesIn {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_user_id(&self.user_id)?;
        check_amount(self.amount)?;
        if self.reason.is_empty()
            || self.reason.len() > 64
            || !self.reason.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(FieldError::new("reason", "must be 1 to 64 of a-z 0-9 _"));
        }
        if let Some(source) = &self.source {
            check_id("source", source)?;
        }
        Ok(())
    }
}

impl DonationClaimIn {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_user_id(&self.user_id)?;
        check_id("campaign_id", &self.campaign_id)?;
        check_amount(self.amount)?;
        if let Some(note) = &self.note {
            check_text("note", note, 280)?;
        }
        Ok(())
    }
}

/// The demo users a fresh sandbox holds.
pub fn demo_users(now: u64) -> Vec<SandboxUser> {
    (1..=DEMO_USER_COUNT)
        .map(|n| SandboxUser {
            user_id: n.to_string(),
            external_id: None,
            display_name: format!("Demo user {n}"),
            email: None,
            metadata: Map::new(),
            wallets: Vec::new(),
            balance: 0,
            created_at: now,
            updated_at: now,
        })
        .collect()
}

impl SandboxUser {
    /// A new user with the next id after the highest one assigned so far.
    pub fn create(input: UserIn, highest_id: u64, now: u64) -> Self {
        Self {
            user_id: (highest_id + 1).to_string(),
            external_id: input.external_id,
            display_name: input.display_name,
            email: input.email,
            metadata: input.metadata.unwrap_or_default(),
            wallets: Vec::new(),
            balance: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// `GET /api/salutes/ledger?user_id=&kind=&cursor=&limit=`, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerQuery {
    pub user_id: Option<String>,
    pub kind: Option<EntryKind>,
    /// Entries strictly older than this sequence number.
    pub before_seq: Option<u64>,
    pub limit: u32,
}

/// Entry ids double as cursors: `le_{seq}`.
pub fn entry_id(seq: u64) -> String {
    format!("le_{seq}")
}

impl LedgerQuery {
    /// Parses the query string's pairs (already percent-decoded).
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, FieldError> {
        let mut query = LedgerQuery { user_id: None, kind: None, before_seq: None, limit: DEFAULT_PAGE };
        for (name, value) in pairs {
            match name {
                "user_id" => {
                    check_user_id(value)?;
                    query.user_id = Some(value.to_owned());
                }
                "kind" => {
                    query.kind = Some(
                        EntryKind::parse(value).ok_or_else(|| FieldError::new("kind", "must be credit or debit"))?,
                    );
                }
                "cursor" => query.before_seq = Some(parse_cursor(value, "le_")?),
                "limit" => query.limit = parse_page_limit(value)?,
                other => {
                    return Err(FieldError::new("query", format!("unknown parameter `{other}`")));
                }
            }
        }
        Ok(query)
    }

    /// Given up to `limit + 1` rows fetched newest first, the page and its next cursor.
    pub fn page(&self, rows: Vec<LedgerEntry>) -> Page<LedgerEntry> {
        let (entries, next_cursor) = split_page(rows, self.limit, |entry| entry.entry_id.clone());
        Page { entries, meta: crate::api::PageMeta { next_cursor, limit: self.limit } }
    }
}

/// Which backend answers the partner resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The edge's own Durable Objects.
    Sandbox,
    /// Forwarded to `ORIGIN_URL` with the verified identity.
    Origin,
}

/// `GET /api/partner/capabilities`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Capabilities {
    pub environment: Environment,
    pub backend: Backend,
    pub capabilities: Vec<Capability>,
}

/// One scope, whether the calling key holds it, and what it opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Capability {
    pub scope: Scope,
    pub granted: bool,
    /// `METHOD /path` of every route that needs the scope.
    pub endpoints: Vec<String>,
}

/// The capability matrix for a key, read from the route table.
pub fn capabilities(environment: Environment, backend: Backend, granted: &[Scope]) -> Capabilities {
    let capabilities = Scope::ALL
        .iter()
        .map(|&scope| Capability {
            scope,
            granted: granted.contains(&scope),
            endpoints: ROUTES
                .iter()
                .filter(|route| route.access == Access::Partner(Some(scope)))
                .map(|route| format!("{} {}", route.method.as_str(), route.path))
                .collect(),
        })
        .collect();
    Capabilities { environment, backend, capabilities }
}

/// One operation on a partner's sandbox, as the worker sends it to the
/// `PartnerSandbox` object. Inputs arrive validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUser {
    pub input: UserIn,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetUser {
    pub user_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchUser {
    pub user_id: String,
    pub patch: UserPatch,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkWallet {
    pub user_id: String,
    pub wallet: Wallet,
}

/// One wallet of one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetUserWallet {
    pub user_id: String,
    pub address: String,
}

/// The user a wallet is linked to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindWallet {
    pub address: String,
}

/// A credit or debit, applied once per [`OnceKey`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyEntry {
    pub kind: EntryKind,
    pub input: SalutesIn,
    pub once: OnceKey,
    /// The key the sandbox belongs to and the edge's clock in milliseconds:
    /// the entry's webhook event is written to the sandbox's outbox with them.
    pub key_id: String,
    pub at_ms: u64,
    /// How long a refusal is kept for its retries, in seconds (the
    /// idempotency TTL); an entry is kept for good, as the ledger.
    #[serde(default = "default_refusal_keep_secs")]
    pub refusal_keep_secs: u64,
}

fn default_refusal_keep_secs() -> u64 {
    crate::gate::GateConfig::default().idempotency_ttl_secs
}

/// What a new ledger entry leaves in its sandbox's outbox: the webhook event
/// for the key's hub and the anonymised record for the public figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outboxed {
    pub key_id: String,
    pub event: crate::webhooks::Event,
    /// Absent in rows written before the outbox carried it (the entry was
    /// recorded publicly when it was answered then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<crate::public::RecordTransaction>,
}

/// The webhook event of a new ledger entry (`salutes.credit` or
/// `salutes.debit`), with an id derived from the key and the entry, so a
/// second hand-over of the same entry is a duplicate the hub drops; and its
/// public record, deduplicated by the same id.
pub fn entry_event(key_id: &str, entry: &LedgerEntry, at_ms: u64) -> Result<Outboxed, String> {
    use crate::webhooks::{derived_event_id, Event, EventType};
    let event_type = match entry.kind {
        EntryKind::Credit => EventType::SalutesCredit,
        EntryKind::Debit => EventType::SalutesDebit,
    };
    let data = serde_json::to_value(entry).map_err(|e| e.to_string())?;
    let event_id = derived_event_id(key_id, &entry.entry_id);
    let activity = crate::public::RecordTransaction {
        transaction: crate::public::PublicTransaction::from_entry(entry),
        dedupe: event_id.clone(),
    };
    let event = Event { event_id, event_type, occurred_at_ms: at_ms, data };
    Ok(Outboxed { key_id: key_id.to_owned(), event, activity: Some(activity) })
}

/// How many outboxed events one hand-over to the hub carries. Under load a
/// hand-over takes what the gather time collected in one go.
pub const OUTBOX_BATCH: u32 = 500;
/// How long the first event waiting in an empty outbox waits for others,
/// in milliseconds, so that entries written together go to the hub (and to
/// the public feed and the event index) in one hand-over. Each hand-over
/// costs about nine commits whatever its size (the hub, four index shards,
/// the public feed, the outbox's delete, the alarm set and cleared), each
/// with an fsync on `wrangler dev`: at 100 ms and batches of 100 they cost
/// a signed credit under load a tenth of its throughput. A webhook leaves
/// at most this much later; retries are counted in seconds.
pub const OUTBOX_GATHER_MS: u64 = 250;
/// How long a failed hand-over waits before the next try, in milliseconds.
pub const OUTBOX_RETRY_MS: u64 = 5_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBalance {
    pub user_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListLedger {
    pub query: LedgerQuery,
}

/// A donation claim, recorded once per [`OnceKey`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDonation {
    pub input: DonationClaimIn,
    pub once: OnceKey,
}

/// What the sandbox refuses a partner can act on; anything else is a failure of the edge.
pub type SandboxReply<T> = Result<T, Refusal>;

/// A credit or debit as the sandbox answered it. The sandbox keeps each
/// answer, entry or refusal, under its `OnceKey`; `replayed` says this is
/// the kept answer of an earlier identical request (so the edge marks it
/// `Idempotent-Replayed`), not a new one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub outcome: SandboxReply<LedgerEntry>,
    pub replayed: bool,
}

crate::object_commands! {
    /// Everything the worker asks a partner's `PartnerSandbox` object.
    pub enum SandboxCommand {
        CreateUser(CreateUser) => SandboxReply<SandboxUser>,
        GetUser(GetUser) => SandboxReply<SandboxUser>,
        PatchUser(PatchUser) => SandboxReply<SandboxUser>,
        LinkWallet(LinkWallet) => SandboxReply<SandboxUser>,
        GetUserWallet(GetUserWallet) => SandboxReply<Wallet>,
        FindWallet(FindWallet) => SandboxReply<WalletOwner>,
        Balance(GetBalance) => SandboxReply<Balance>,
        Ledger(ListLedger) => SandboxReply<Page<LedgerEntry>>,
        ClaimDonation(ClaimDonation) => SandboxReply<DonationClaim>,
    }
}

/// Makes a mutation apply once even if the edge's idempotency record was
/// lost or taken over: the sandbox keeps the first result under this key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnceKey {
    pub idempotency_key: String,
    /// `request_fingerprint` of the request, so a key reused for a different
    /// request after its 24 h never returns the old result.
    pub fingerprint: String,
}

impl OnceKey {
    pub fn storage_key(&self) -> String {
        format!("{}\n{}", self.fingerprint, self.idempotency_key)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxRequest {
    pub now: u64,
    pub command: SandboxCommand,
}

/// A signed request's admission and, for a sandbox credit or debit, the
/// entry it guards: the key's object admits the request and, only if it is
/// admitted, applies the entry, in one call and one write. (A mutation's
/// nonce, rate window, idempotency reservation and ledger entry are then
/// never split across objects.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmitAndApply {
    pub admission: crate::gate::AdmissionRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<Box<ApplyEntry>>,
}

/// The admission, and the entry's answer when it was admitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdmittedAndApplied {
    pub admission: crate::gate::Admission,
    pub applied: Option<Applied>,
}

impl AdmittedAndApplied {
    /// Whether the entry must be applied for `admission`: only a request let
    /// through to its handler (`Admitted`) runs it; a stored answer, a
    /// replay or a refusal does not.
    pub fn applies(admission: &crate::gate::Admission) -> bool {
        matches!(admission, crate::gate::Admission::Admitted { .. })
    }
}

/// Everything a key's object (`PartnerSandbox`, one per partner key) takes.
/// It holds the key's gate state (nonces, rate windows, idempotency records,
/// deprecated-route counts) and its sandbox (users, ledger, outbox), so a
/// signed mutation is one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KeyMessage {
    Gate(crate::gate::GateCommand),
    Sandbox(SandboxRequest),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn credit(user_id: &str, amount: u64, reason: &str) -> SalutesIn {
        SalutesIn { user_id: user_id.into(), amount, reason: reason.into(), source: Some("partner_portal".into()) }
    }

    #[test]
    fn a_new_entry_outboxes_its_event_under_an_id_derived_from_key_and_entry() {
        let entry = LedgerEntry {
            entry_id: "le_7".into(),
            user_id: "4".into(),
            kind: EntryKind::Debit,
            amount: 3,
            balance_after: 97,
            reason: "event_participation".into(),
            source: None,
            idempotency_key: "idem-1".into(),
            created_at: 1_700_000_000,
        };
        let outboxed = entry_event("pk_sandbox_a", &entry, 1_700_000_000_123).unwrap();
        assert_eq!(outboxed.key_id, "pk_sandbox_a");
        assert_eq!(outboxed.event.event_type, crate::webhooks::EventType::SalutesDebit);
        assert_eq!(outboxed.event.event_id, crate::webhooks::derived_event_id("pk_sandbox_a", "le_7"));
        assert_eq!(outboxed.event.occurred_at_ms, 1_700_000_000_123);
        assert_eq!(outboxed.event.data["balance_after"], 97);
        assert_eq!(outboxed.event.event_type.check_data(&outboxed.event.data), Ok(()), "the data fits its event type");
        let again = entry_event("pk_sandbox_a", &entry, 1_700_000_009_999).unwrap();
        assert_eq!(again.event.event_id, outboxed.event.event_id, "a second hand-over is the same event");
        let activity = outboxed.activity.expect("the public record travels with the event");
        assert_eq!(activity.dedupe, outboxed.event.event_id, "counted once however often it is handed over");
        assert_eq!(activity.transaction, crate::public::PublicTransaction::from_entry(&entry));
        let json = serde_json::to_string(&activity.transaction).unwrap();
        assert!(!json.contains("pk_sandbox_a") && !json.contains("idem-1"), "nothing names the partner: {json}");
        let older: Outboxed =
            serde_json::from_str(&serde_json::to_string(&Outboxed { activity: None, ..again }).unwrap()).unwrap();
        assert_eq!(older.activity, None, "a row from before still reads");
    }

    #[test]
    fn the_seed_credit_body_is_valid() {
        let body = r#"{"user_id":"4","amount":100,"reason":"event_participation","source":"partner_portal"}"#;
        let input: SalutesIn = serde_json::from_str(body).unwrap();
        assert_eq!(input.validate(), Ok(()));
        assert!(demo_users(0).iter().any(|user| user.user_id == "4"), "user 4 exists in a fresh sandbox");
    }

    #[test]
    fn invalid_bodies_name_their_field() {
        assert_eq!(credit("4", 0, "x").validate().unwrap_err().field, "amount");
        assert_eq!(credit("4", MAX_AMOUNT + 1, "x").validate().unwrap_err().field, "amount");
        assert_eq!(credit("4", 1, "Not Snake").validate().unwrap_err().field, "reason");
        assert_eq!(credit("", 1, "x").validate().unwrap_err().field, "user_id");
        assert_eq!(credit("a/b", 1, "x").validate().unwrap_err().field, "user_id");
        let unknown = serde_json::from_str::<SalutesIn>(r#"{"user_id":"4","amount":1,"reason":"x","extra":1}"#);
        assert!(unknown.unwrap_err().to_string().contains("extra"));
        let negative = serde_json::from_str::<SalutesIn>(r#"{"user_id":"4","amount":-5,"reason":"x"}"#);
        assert!(negative.is_err());

        let user = UserIn { display_name: " ".into(), external_id: None, email: None, metadata: None };
        assert_eq!(user.validate().unwrap_err().field, "display_name");
        let user = UserIn { display_name: "Ada".into(), external_id: None, email: Some("nope".into()), metadata: None };
        assert_eq!(user.validate().unwrap_err().field, "email");
        let mut metadata = Map::new();
        metadata.insert("tier".into(), Value::from(3));
        let user = UserIn { display_name: "Ada".into(), external_id: None, email: None, metadata: Some(metadata) };
        assert_eq!(user.validate().unwrap_err().field, "metadata");
        assert_eq!(UserPatch::default().validate().unwrap_err().field, "body");
    }

    #[test]
    fn balances_never_go_negative() {
        assert_eq!(apply_entry("4", EntryKind::Credit, 0, 100), Ok(100));
        assert_eq!(apply_entry("4", EntryKind::Debit, 100, 100), Ok(0));
        let error = apply_entry("4", EntryKind::Debit, 99, 100).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InsufficientBalance);
        assert_eq!(error.code().http_status(), 409);
        assert!(apply_entry("4", EntryKind::Credit, u64::MAX, 1).is_err());
    }

    #[test]
    fn wallets_get_a_default_chain_and_refuse_junk() {
        let wallet = WalletIn { address: "0xAbC0123456789".into(), chain: None, label: None }.into_wallet(7).unwrap();
        assert_eq!((wallet.chain.as_str(), wallet.linked_at), ("evm", 7));
        let bad = WalletIn { address: "0x 12".into(), chain: None, label: None }.into_wallet(7);
        assert_eq!(bad.unwrap_err().field, "address");
        let bad = WalletIn { address: "0x1234567890".into(), chain: Some("EVM".into()), label: None }.into_wallet(7);
        assert_eq!(bad.unwrap_err().field, "chain");
    }

    #[test]
    fn ledger_queries_parse_and_page_with_a_cursor() {
        let query = LedgerQuery::parse([("user_id", "4"), ("cursor", "le_10"), ("limit", "2")]).unwrap();
        assert_eq!(query.before_seq, Some(10));
        assert_eq!(query.limit, 2);
        for (name, value) in [("limit", "0"), ("limit", "201"), ("cursor", "10"), ("kind", "refund"), ("x", "1")] {
            assert!(LedgerQuery::parse([(name, value)]).is_err(), "{name}={value}");
        }
        let entry = |seq| LedgerEntry {
            entry_id: entry_id(seq),
            user_id: "4".into(),
            kind: EntryKind::Credit,
            amount: 1,
            balance_after: seq,
            reason: "x".into(),
            source: None,
            idempotency_key: format!("k{seq}"),
            created_at: 0,
        };
        let page = query.page(vec![entry(9), entry(8), entry(7)]);
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.meta.next_cursor.as_deref(), Some("le_8"));
        let page = query.page(vec![entry(2)]);
        assert_eq!((page.entries.len(), page.meta.next_cursor), (1, None));
    }

    #[test]
    fn once_keys_differ_by_request_and_by_key() {
        let a = OnceKey { idempotency_key: "k".into(), fingerprint: "f1".into() };
        let b = OnceKey { idempotency_key: "k".into(), fingerprint: "f2".into() };
        let c = OnceKey { idempotency_key: "k2".into(), fingerprint: "f1".into() };
        assert_ne!(a.storage_key(), b.storage_key());
        assert_ne!(a.storage_key(), c.storage_key());
    }

    #[test]
    fn replies_round_trip_through_json() {
        let refusals = [
            Refusal::not_found("user", "9"),
            Refusal::conflict("wallet taken"),
            Refusal::InsufficientBalance { user_id: "4".into(), balance: 1, amount: 2 },
            Refusal::from(FieldError::new("amount", "too big")),
        ];
        for refusal in refusals {
            let reply: SandboxReply<Balance> = Err(refusal);
            let json = serde_json::to_string(&reply).expect("every refusal crosses the Durable Object boundary");
            assert_eq!(serde_json::from_str::<SandboxReply<Balance>>(&json).unwrap(), reply);
        }
        let ok: SandboxReply<Balance> = Ok(Balance { user_id: "4".into(), balance: 100, entries: 1 });
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<SandboxReply<Balance>>(&json).unwrap(), ok);
    }

    #[test]
    fn capabilities_follow_the_route_table_and_the_keys_scopes() {
        let caps = capabilities(Environment::Sandbox, Backend::Sandbox, &[Scope::Credit]);
        assert_eq!(caps.capabilities.len(), Scope::ALL.len());
        let credit = caps.capabilities.iter().find(|c| c.scope == Scope::Credit).unwrap();
        assert!(credit.granted);
        assert_eq!(credit.endpoints, vec!["POST /api/salutes/credit".to_owned()]);
        let debit = caps.capabilities.iter().find(|c| c.scope == Scope::Debit).unwrap();
        assert!(!debit.granted);
    }
}
