//! Partner keys: ids, scopes, environments, the stored record, and how secrets
//! are generated (from bytes the caller draws) and sealed at rest.

use crate::error::Refusal;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};

/// Where a key may be used. The key id shows it: `pk_sandbox_…`, `pk_live_…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Sandbox,
    Live,
}

impl Environment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Live => "live",
        }
    }
}

/// What a key may do. Each route names the one scope it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read partner data: users, balances, identity.
    Read,
    /// Credit balances.
    Credit,
    /// Debit balances.
    Debit,
    /// Read the transaction ledger.
    Ledger,
    /// Trigger donation claims.
    Donation,
    /// Create and update partner users and their wallets.
    Users,
    /// Manage webhook subscriptions.
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 7] =
        [Scope::Read, Scope::Credit, Scope::Debit, Scope::Ledger, Scope::Donation, Scope::Users, Scope::Webhooks];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Credit => "credit",
            Scope::Debit => "debit",
            Scope::Ledger => "ledger",
            Scope::Donation => "donation",
            Scope::Users => "users",
            Scope::Webhooks => "webhooks",
        }
    }
}

/// A partner key id: `pk_{environment}_{24 lowercase hex}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a key id looks like pk_sandbox_<24 hex digits> or pk_live_<24 hex digits>")]
pub struct InvalidKeyId;

impl KeyId {
    pub fn new(environment: Environment, random: [u8; 12]) -> Self {
        Self(format!("pk_{}_{}", environment.as_str(), hex::encode(random)))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidKeyId> {
        let rest = raw.strip_prefix("pk_").ok_or(InvalidKeyId)?;
        let (env, tail) = rest.split_once('_').ok_or(InvalidKeyId)?;
        let env_ok = env == "sandbox" || env == "live";
        let tail_ok = tail.len() == 24 && tail.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if env_ok && tail_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidKeyId)
        }
    }

    pub fn environment(&self) -> Environment {
        if self.0.starts_with("pk_live_") {
            Environment::Live
        } else {
            Environment::Sandbox
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = InvalidKeyId;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> Self {
        id.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signing secret, `sk_{environment}_{64 hex}` (256 random bits). Shown
/// once at creation or rotation; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(environment: Environment, random: [u8; 32]) -> Self {
        Self(format!("sk_{}_{}", environment.as_str(), hex::encode(random)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The AES-256-GCM key that seals secrets at rest; from a Worker secret.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be 64 hex digits (32 bytes)")]
    BadMasterKey,
    #[error("the sealed secret is damaged or was sealed under another master key")]
    Unreadable,
}

impl MasterKey {
    pub fn parse_hex(raw: &str) -> Result<Self, SealError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(raw.trim(), &mut key).map_err(|_| SealError::BadMasterKey)?;
        Ok(Self(key))
    }

    /// Seals `secret` for `key_id` (bound as associated data, so a sealed
    /// secret cannot be moved to another key). Returns `hex(nonce ‖ ciphertext)`.
    pub fn seal(&self, key_id: &KeyId, secret: &Secret, nonce: [u8; 12]) -> String {
        self.seal_text(key_id.as_str(), &secret.0, nonce)
    }

    pub fn open(&self, key_id: &KeyId, sealed: &str) -> Result<Secret, SealError> {
        self.open_text(key_id.as_str(), sealed).map(Secret)
    }

    /// Seals any secret text, bound to `aad` (the id of what owns it), as hex
    /// of nonce || ciphertext || tag.
    pub fn seal_text(&self, aad: &str, plaintext: &str, nonce: [u8; 12]) -> String {
        let cipher = Aes256Gcm::new(&self.0.into());
        let payload = Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() };
        // Encryption fails only past 64 GiB of plaintext; secrets are tiny.
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        hex::encode(out)
    }

    /// Opens what [`MasterKey::seal_text`] sealed under the same `aad`.
    pub fn open_text(&self, aad: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = hex::decode(sealed).map_err(|_| SealError::Unreadable)?;
        if bytes.len() < 12 + 16 {
            return Err(SealError::Unreadable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let cipher = Aes256Gcm::new(&self.0.into());
        let payload = Payload { msg: ciphertext, aad: aad.as_bytes() };
        let plain = cipher.decrypt(Nonce::from_slice(nonce), payload).map_err(|_| SealError::Unreadable)?;
        String::from_utf8(plain).map_err(|_| SealError::Unreadable)
    }
}

/// A sealed secret with the time it stops being accepted (for a previous
/// secret during rotation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub sealed: String,
    /// Unix seconds; `None` for the current secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u64>,
}

/// A partner key as stored. Never serialised to clients: see [`PartnerKeyOut`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerKeyRecord {
    pub key_id: KeyId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Requests per minute; `None` takes the environment's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    pub current_secret: SealedSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<SealedSecret>,
}

impl PartnerKeyRecord {
    /// Why this key cannot be used at `now`, if it cannot.
    pub fn unusable_reason(&self, now: u64) -> Option<&'static str> {
        if self.disabled {
            Some("the key is disabled")
        } else if self.expires_at.is_some_and(|at| now >= at) {
            Some("the key has expired")
        } else {
            None
        }
    }

    /// The sealed secrets that verify signatures at `now`: current first.
    pub fn live_secrets(&self, now: u64) -> Vec<&SealedSecret> {
        let previous = self.previous_secret.as_ref().filter(|p| p.valid_until.is_some_and(|until| now < until));
        std::iter::once(&self.current_secret).chain(previous).collect()
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn to_out(&self) -> PartnerKeyOut {
        PartnerKeyOut {
            key_id: self.key_id.clone(),
            name: self.name.clone(),
            environment: self.key_id.environment(),
            scopes: self.scopes.clone(),
            disabled: self.disabled,
            created_at: self.created_at,
            expires_at: self.expires_at,
            rate_limit_per_minute: self.rate_limit_per_minute,
            previous_secret_valid_until: self.previous_secret.as_ref().and_then(|p| p.valid_until),
        }
    }
}

/// A key as clients see it: never any secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PartnerKeyOut {
    pub key_id: KeyId,
    pub name: String,
    pub environment: Environment,
    pub scopes: Vec<Scope>,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    /// While a rotation overlap runs: when the previous secret stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<u64>,
}

/// A key with its secret: the one answer that shows the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PartnerKeyWithSecret {
    #[serde(flatten)]
    pub key: PartnerKeyOut,
    /// Shown once. Store it in a secret manager; it cannot be read again.
    pub secret: String,
}

/// `POST /api/admin/partner-keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schemars(extend("if" = {
    "properties": { "environment": { "const": "sandbox" } }, "required": ["environment"]
}, "then" = { "not": { "required": ["rate_limit_per_minute"] } })))]
pub struct PartnerKeyIn {
    /// 1 to 100 characters, not only spaces; stored trimmed.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 100), pattern(crate::contract::text_pattern())))]
    pub name: String,
    pub environment: Environment,
    /// At least one; repeats are ignored.
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::contract::scopes_schema"))]
    pub scopes: Vec<Scope>,
    /// Unix seconds, at most the end of year 9999; a time already past is refused (409 `conflict`).
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "u64", range(max = crate::contract::MAX_UNIX_SECONDS)))]
    pub expires_at: Option<u64>,
    /// Live keys only, 1 to 100000; sandbox keys always get the sandbox limit.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "u32", range(min = 1, max = 100_000)))]
    pub rate_limit_per_minute: Option<u32>,
}

/// `PATCH /api/admin/partner-keys/{key_id}`: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerKeyPatch {
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(min = 1, max = 100), pattern(crate::contract::text_pattern()))
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::contract::scopes_schema"))]
    pub scopes: Option<Vec<Scope>>,
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "bool"))]
    pub disabled: Option<bool>,
    /// Unix seconds, at most the end of year 9999; `null` is not accepted, set a far date instead.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "u64", range(max = crate::contract::MAX_UNIX_SECONDS)))]
    pub expires_at: Option<u64>,
    /// Live keys only, 1 to 100000: on a sandbox key it is refused (409 `conflict`).
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "u32", range(min = 1, max = 100_000)))]
    pub rate_limit_per_minute: Option<u32>,
}

/// A field that failed validation, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

fn field(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError::new(field, reason)
}

fn check_name(name: &str) -> Result<(), FieldError> {
    if !crate::contract::is_text(name, 100) {
        return Err(field("name", "must be 1 to 100 characters, not only spaces, with no control characters"));
    }
    Ok(())
}

fn check_scopes(scopes: &[Scope]) -> Result<(), FieldError> {
    if scopes.is_empty() {
        return Err(field("scopes", "must name at least one scope"));
    }
    Ok(())
}

fn check_expiry(expires_at: Option<u64>) -> Result<(), FieldError> {
    if expires_at.is_some_and(|at| at > crate::contract::MAX_UNIX_SECONDS) {
        return Err(field("expires_at", "must be unix seconds, at most the end of year 9999"));
    }
    Ok(())
}

fn check_rate(rate: Option<u32>) -> Result<(), FieldError> {
    match rate {
        Some(r) if r == 0 || r > 100_000 => Err(field("rate_limit_per_minute", "must be between 1 and 100000")),
        _ => Ok(()),
    }
}

fn dedup(mut scopes: Vec<Scope>) -> Vec<Scope> {
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// Everything needed to mint a key, drawn by the caller.
pub struct KeyMaterial {
    pub id_bytes: [u8; 12],
    pub secret_bytes: [u8; 32],
    pub seal_nonce: [u8; 12],
}

impl PartnerKeyIn {
    /// Validates the request and mints the record plus the one-time secret.
    pub fn mint(
        self,
        now: u64,
        master: &MasterKey,
        material: KeyMaterial,
    ) -> Result<(PartnerKeyRecord, Secret), Refusal> {
        check_name(&self.name)?;
        check_scopes(&self.scopes)?;
        check_rate(self.rate_limit_per_minute)?;
        check_expiry(self.expires_at)?;
        if self.environment == Environment::Sandbox && self.rate_limit_per_minute.is_some() {
            return Err(field("rate_limit_per_minute", "sandbox keys always use the sandbox limit").into());
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(Refusal::conflict(format!("expires_at {} is not in the future", self.expires_at.unwrap_or(0))));
        }
        let key_id = KeyId::new(self.environment, material.id_bytes);
        let secret = Secret::new(self.environment, material.secret_bytes);
        let record = PartnerKeyRecord {
            current_secret: SealedSecret {
                sealed: master.seal(&key_id, &secret, material.seal_nonce),
                valid_until: None,
            },
            key_id,
            name: self.name.trim().to_owned(),
            scopes: dedup(self.scopes),
            disabled: false,
            created_at: now,
            expires_at: self.expires_at,
            rate_limit_per_minute: self.rate_limit_per_minute,
            previous_secret: None,
        };
        Ok((record, secret))
    }
}

impl PartnerKeyPatch {
    pub fn apply(self, record: &mut PartnerKeyRecord) -> Result<(), Refusal> {
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        if let Some(scopes) = &self.scopes {
            check_scopes(scopes)?;
        }
        check_rate(self.rate_limit_per_minute)?;
        check_expiry(self.expires_at)?;
        if record.key_id.environment() == Environment::Sandbox && self.rate_limit_per_minute.is_some() {
            return Err(Refusal::conflict(format!(
                "{} is a sandbox key; sandbox keys always use the sandbox limit",
                record.key_id
            )));
        }
        if let Some(name) = self.name {
            record.name = name.trim().to_owned();
        }
        if let Some(scopes) = self.scopes {
            record.scopes = dedup(scopes);
        }
        if let Some(disabled) = self.disabled {
            record.disabled = disabled;
        }
        if let Some(expires_at) = self.expires_at {
            record.expires_at = Some(expires_at);
        }
        if let Some(rate) = self.rate_limit_per_minute {
            record.rate_limit_per_minute = Some(rate);
        }
        Ok(())
    }
}

/// How long a rotated-out secret keeps working, by default.
pub const DEFAULT_ROTATION_OVERLAP_SECS: u64 = 24 * 60 * 60;

impl PartnerKeyRecord {
    /// Replaces the current secret; the old one verifies until `now + overlap`.
    pub fn rotate(
        &mut self,
        now: u64,
        overlap_secs: u64,
        master: &MasterKey,
        secret_bytes: [u8; 32],
        nonce: [u8; 12],
    ) -> Secret {
        let secret = Secret::new(self.key_id.environment(), secret_bytes);
        let previous = std::mem::replace(
            &mut self.current_secret,
            SealedSecret { sealed: master.seal(&self.key_id, &secret, nonce), valid_until: None },
        );
        self.previous_secret = Some(SealedSecret { sealed: previous.sealed, valid_until: Some(now + overlap_secs) });
        secret
    }
}

/// The local demo key: a sandbox key with every scope whose id and secret
/// are published in the README, so the quickstart's first signed call works
/// with no setup. The worker creates it on first use, and only when
/// `EDGE_ENV` is `local`; anywhere else the id is an unknown key.
pub const DEMO_KEY_ID: &str = "pk_sandbox_de30de30de30de30de30de30";
/// Public by design: see [`DEMO_KEY_ID`].
pub const DEMO_KEY_SECRET: &str = "sk_sandbox_de30de30de30de30de30de30de30de30de30de30de30de30de30de30de30de30";

/// `de30de30…`: the demo key's id and secret bytes.
const fn demo_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if i % 2 == 0 { 0xde } else { 0x30 };
        i += 1;
    }
    out
}

/// The demo key's record, its secret sealed under `master`.
pub fn demo_key(now: u64, master: &MasterKey, seal_nonce: [u8; 12]) -> Result<PartnerKeyRecord, Refusal> {
    let request = PartnerKeyIn {
        name: "Local demo key".to_owned(),
        environment: Environment::Sandbox,
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        rate_limit_per_minute: None,
    };
    let material = KeyMaterial { id_bytes: demo_bytes(), secret_bytes: demo_bytes(), seal_nonce };
    request.mint(now, master, material).map(|(record, _)| record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::parse_hex(&"11".repeat(32)).unwrap()
    }

    fn material(seed: u8) -> KeyMaterial {
        KeyMaterial { id_bytes: [seed; 12], secret_bytes: [seed; 32], seal_nonce: [seed; 12] }
    }

    fn request(environment: Environment) -> PartnerKeyIn {
        PartnerKeyIn {
            name: " Acme sandbox ".into(),
            environment,
            scopes: vec![Scope::Read, Scope::Credit, Scope::Read],
            expires_at: None,
            rate_limit_per_minute: None,
        }
    }

    #[test]
    fn key_ids_show_their_environment_and_parse_back() {
        let id = KeyId::new(Environment::Live, [0xab; 12]);
        assert_eq!(id.as_str(), "pk_live_abababababababababababab");
        assert_eq!(KeyId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.environment(), Environment::Live);
        for bad in [
            "",
            "pk_test_abababababababababababab",
            "pk_live_ABABABABABABABABABABABAB",
            "pk_live_abab",
            "sk_live_abababababababababababab",
        ] {
            assert_eq!(KeyId::parse(bad), Err(InvalidKeyId), "{bad}");
        }
    }

    #[test]
    fn minting_validates_dedups_and_seals_a_256_bit_secret() {
        let (record, secret) = request(Environment::Sandbox).mint(1000, &master(), material(7)).unwrap();
        assert_eq!(record.name, "Acme sandbox");
        assert_eq!(record.scopes, vec![Scope::Read, Scope::Credit]);
        assert!(record.key_id.as_str().starts_with("pk_sandbox_"));
        assert!(secret.expose().starts_with("sk_sandbox_"));
        assert_eq!(secret.expose().len(), "sk_sandbox_".len() + 64);
        assert!(!record.current_secret.sealed.contains(&secret.expose()[11..]), "stored in the clear");
        assert_eq!(master().open(&record.key_id, &record.current_secret.sealed).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn invalid_requests_name_their_field() {
        let mut empty_name = request(Environment::Live);
        empty_name.name = "  ".into();
        let field_of = |refusal: Refusal| match refusal {
            Refusal::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field_of(empty_name.mint(0, &master(), material(1)).unwrap_err()), "name");
        let mut no_scopes = request(Environment::Live);
        no_scopes.scopes.clear();
        assert_eq!(field_of(no_scopes.mint(0, &master(), material(1)).unwrap_err()), "scopes");
        let mut sandbox_rate = request(Environment::Sandbox);
        sandbox_rate.rate_limit_per_minute = Some(500);
        assert_eq!(field_of(sandbox_rate.mint(0, &master(), material(1)).unwrap_err()), "rate_limit_per_minute");
        let mut past = request(Environment::Live);
        past.expires_at = Some(10);
        let mut far = request(Environment::Live);
        far.expires_at = Some(u64::MAX - 1);
        assert_eq!(field_of(far.mint(0, &master(), material(1)).unwrap_err()), "expires_at");
        let refusal = past.mint(10, &master(), material(1)).unwrap_err();
        assert_eq!(
            refusal.code(),
            crate::error::ErrorCode::Conflict,
            "a past expiry is a conflict with the clock, not malformed"
        );
    }

    #[test]
    fn sealed_secrets_are_bound_to_their_key_and_master() {
        let (record, _) = request(Environment::Sandbox).mint(0, &master(), material(3)).unwrap();
        let other = KeyId::new(Environment::Sandbox, [9; 12]);
        assert_eq!(master().open(&other, &record.current_secret.sealed), Err(SealError::Unreadable));
        let wrong_master = MasterKey::parse_hex(&"22".repeat(32)).unwrap();
        assert_eq!(wrong_master.open(&record.key_id, &record.current_secret.sealed), Err(SealError::Unreadable));
        assert!(MasterKey::parse_hex("abc").is_err());
    }

    #[test]
    fn rotation_keeps_the_previous_secret_until_the_overlap_ends() {
        let (mut record, old) = request(Environment::Live).mint(0, &master(), material(4)).unwrap();
        let new = record.rotate(1_000, 3_600, &master(), [5; 32], [5; 12]);
        assert_ne!(old, new);
        let open = |s: &SealedSecret| master().open(&record.key_id, &s.sealed).unwrap();
        let during: Vec<Secret> = record.live_secrets(4_599).into_iter().map(open).collect();
        assert_eq!(during, vec![new.clone(), old]);
        let after: Vec<Secret> = record.live_secrets(4_600).into_iter().map(open).collect();
        assert_eq!(after, vec![new]);
        assert_eq!(record.to_out().previous_secret_valid_until, Some(4_600));
    }

    #[test]
    fn disabled_and_expired_keys_say_why() {
        let mut req = request(Environment::Live);
        req.expires_at = Some(50);
        let (mut record, _) = req.mint(0, &master(), material(6)).unwrap();
        assert_eq!(record.unusable_reason(49), None);
        assert_eq!(record.unusable_reason(50), Some("the key has expired"));
        PartnerKeyPatch { disabled: Some(true), expires_at: Some(1_000), ..Default::default() }
            .apply(&mut record)
            .unwrap();
        assert_eq!(record.unusable_reason(0), Some("the key is disabled"));
    }

    #[test]
    fn client_view_never_contains_a_secret() {
        let (record, secret) = request(Environment::Sandbox).mint(0, &master(), material(8)).unwrap();
        let json = serde_json::to_string(&record.to_out()).unwrap();
        assert!(!json.contains("sk_") && !json.contains(&record.current_secret.sealed));
        let shown = PartnerKeyWithSecret { key: record.to_out(), secret: secret.expose().to_owned() };
        let value = serde_json::to_value(shown).unwrap();
        assert_eq!(value["secret"], secret.expose());
        assert_eq!(value["key_id"], record.key_id.as_str());
    }

    #[test]
    fn the_demo_key_is_the_published_one() {
        let master = MasterKey::parse_hex(&"11".repeat(32)).unwrap();
        let record = demo_key(5, &master, [7; 12]).unwrap();
        assert_eq!(record.key_id.as_str(), DEMO_KEY_ID);
        assert_eq!(KeyId::parse(DEMO_KEY_ID).unwrap().environment(), Environment::Sandbox);
        assert_eq!(master.open(&record.key_id, &record.current_secret.sealed).unwrap().expose(), DEMO_KEY_SECRET);
        assert_eq!(record.scopes, Scope::ALL.to_vec());
    }
}
