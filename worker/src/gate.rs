//! `verify_partner_request`: the partner gate as the worker runs it. Header
//! parsing and every rule come from `partner_edge::gate` and
//! `partner_edge::signing`; this module only fetches the key, opens its
//! secrets and makes the one round trip to the key's object
//! (`PartnerSandbox`), which for a sandbox credit or debit also applies it.

use partner_edge::gate::{
    self, needs_idempotency_key, rate_limit_for, request_fingerprint, Admission, AdmissionRequest, Completion,
    GateCommand, GateConfig, GateError, IdempotencyClaim, IdempotencyKey, Nonce, RateClass, RateVerdict,
    StoredResponse, HEADER_IDEMPOTENCY_KEY, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use partner_edge::object::Command;
use partner_edge::partner::{KeyId, PartnerKeyRecord, Scope};
use partner_edge::sandbox::{
    AdmitAndApply, AdmittedAndApplied, Applied, ApplyEntry, EntryKind, KeyMessage, OnceKey, SalutesIn,
};
use partner_edge::signing::{SignatureHeader, SignedParts};
use worker::Env;

use crate::durable::send_in;
use crate::error::ApiError;
use crate::http::Incoming;
use crate::{bindings, config, keys};

/// A request that passed the gate: its key, the rate headroom left, and on
/// a mutation the idempotency key it now holds.
pub struct VerifiedPartner {
    pub key: PartnerKeyRecord,
    pub rate: RateVerdict,
    pub claim: Option<IdempotencyClaim>,
    /// The credit or debit the admission applied in the same call
    /// ([`GateInput::apply`]), if it did.
    pub applied: Option<Box<Applied>>,
}

/// What the gate decided for a request it let through.
pub enum Passed {
    /// Run the handler.
    Proceed(VerifiedPartner),
    /// An identical request already ran under this Idempotency-Key: send its answer again.
    StoredAnswer { rate: RateVerdict, response: StoredResponse },
}

/// The headers the gate reads, in the order of [`GateHeaders`]' fields.
const GATE_HEADERS: [&str; 5] = [HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_IDEMPOTENCY_KEY];

thread_local! {
    /// [`GATE_HEADERS`] as the runtime's strings, made once per isolate.
    static GATE_HEADER_NAMES: worker::js_sys::Array =
        GATE_HEADERS.iter().map(|name| worker::wasm_bindgen::JsValue::from_str(name)).collect();
}

/// The gate's headers, read in one call into the runtime rather than one
/// each; an empty value counts as absent.
struct GateHeaders {
    key: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    signature: Option<String>,
    idempotency_key: Option<String>,
}

impl GateHeaders {
    fn read(req: &Incoming) -> Result<Self, ApiError> {
        let values = GATE_HEADER_NAMES.with(|names| req.header_values(names))?;
        let mut values = values.into_iter();
        let mut next = || values.next().flatten();
        Ok(GateHeaders { key: next(), timestamp: next(), nonce: next(), signature: next(), idempotency_key: next() })
    }
}

pub struct GateInput<'a> {
    /// The route's deprecation id, if it is deprecated: the admission counts the call for the key.
    pub deprecated: Option<&'static str>,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
    pub now_ms: u64,
    pub now_secs: u64,
    pub scope: Option<Scope>,
    /// Parsed once per request by the router, which has also applied the body limit.
    pub config: &'a GateConfig,
    /// The object serving the route keeps a mutation's answer under its
    /// Idempotency-Key itself (`IdempotencyClaim::delegated`).
    pub delegated: bool,
    /// A sandbox credit or debit whose body is valid: applied by the key's
    /// object in the admission's call, if admitted with its Idempotency-Key.
    pub apply: Option<(EntryKind, SalutesIn)>,
}

pub async fn verify_partner_request(req: &Incoming, env: &Env, input: GateInput<'_>) -> Result<Passed, ApiError> {
    let gate_config = input.config;

    // 401 unauthorized: missing, malformed, unknown, disabled or expired key.
    let headers = GateHeaders::read(req)?;
    let raw_key = headers.key.ok_or(GateError::MissingCredential(HEADER_KEY))?;
    let key_id = KeyId::parse(&raw_key)
        .map_err(|_| GateError::MalformedCredential { header: HEADER_KEY, reason: "not a partner key id" })?;
    let key = keys::load_for_gate(env, &key_id, input.now_secs).await?.ok_or(GateError::UnknownKey)?;
    if let Some(reason) = key.unusable_reason(input.now_secs) {
        return Err(GateError::UnusableKey(reason).into());
    }

    // 401 stale_timestamp.
    let timestamp = headers.timestamp.unwrap_or_default();
    let signed_at = gate::check_timestamp(&timestamp, input.now_secs, gate_config)?;

    // 401 unauthorized / signature_version_retired.
    let raw_nonce = headers.nonce.ok_or(GateError::MissingCredential(HEADER_NONCE))?;
    let nonce = Nonce::parse(&raw_nonce)?;
    let raw_signature = headers.signature.ok_or(GateError::MissingCredential(HEADER_SIGNATURE))?;
    let signature = SignatureHeader::parse(&raw_signature).map_err(GateError::Signature)?;
    let master = config::master_key(env)?;
    let secrets = key
        .live_secrets(input.now_secs)
        .into_iter()
        .map(|sealed| keys::unseal(&master, &key.key_id, &sealed.sealed))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(format!("key {}: {e}", key.key_id)))?;
    let secret_refs: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
    let parts = SignedParts {
        timestamp: &timestamp,
        method: input.method,
        path_and_query: input.path_and_query,
        nonce: nonce.as_str(),
        body: input.body,
    };
    config::signature_policy(env)?.verify(&signature, &secret_refs, &parts, input.now_secs).map_err(|error| {
        let mismatch = error == partner_edge::signing::SignatureError::Mismatch;
        let api = ApiError::from(GateError::Signature(error));
        if mismatch {
            api.with_diagnostics(partner_edge::signing::SignatureDiagnostics::of(&parts))
        } else {
            api
        }
    })?;

    // Mutations name their Idempotency-Key. A missing or malformed one is a
    // 400, but only after the replay, scope and rate checks, which come first.
    let idempotency = needs_idempotency_key(input.method).then(|| {
        let raw = headers.idempotency_key.as_deref().ok_or(GateError::MissingIdempotencyKey)?;
        let key = IdempotencyKey::parse(raw)?;
        let fingerprint = request_fingerprint(input.method, input.path_and_query, input.body);
        Ok::<_, ApiError>(IdempotencyClaim { key, fingerprint, delegated: input.delegated })
    });
    let (claim, claim_error) = match idempotency {
        None => (None, None),
        Some(Ok(claim)) => (Some(claim), None),
        Some(Err(error)) => (None, Some(error)),
    };

    // 409 replay_detected, 403 forbidden, 429 rate_limited, then the
    // idempotency reservation: one round trip.
    let scope_granted = input.scope.is_none_or(|scope| key.has_scope(scope));
    let rate_class = RateClass::of(input.scope);
    let request = AdmissionRequest {
        nonce,
        nonce_expires_at: partner_edge::gate::nonce_expires_at(signed_at, gate_config.timestamp_tolerance_secs),
        now: input.now_secs,
        scope_granted,
        rate_class,
        rate_limit: rate_limit_for(&key, gate_config, rate_class),
        rate_window_secs: gate_config.rate_window_secs,
        deprecated: input.deprecated.map(str::to_owned),
        idempotency: claim.clone(),
        idempotency_ttl_secs: gate_config.idempotency_ttl_secs,
    };
    let apply = match (input.apply, &claim) {
        (Some((kind, body)), Some(claim)) => Some(Box::new(ApplyEntry {
            kind,
            input: body,
            once: OnceKey { idempotency_key: claim.key.as_str().to_owned(), fingerprint: claim.fingerprint.clone() },
            key_id: key.key_id.as_str().to_owned(),
            at_ms: input.now_ms,
            refusal_keep_secs: gate_config.idempotency_ttl_secs,
        })),
        _ => None,
    };
    let AdmittedAndApplied { admission, applied } =
        ask_key(env, &key.key_id, AdmitAndApply { admission: request, apply }).await?;
    let applied = applied.map(Box::new);
    match admission {
        Admission::Admitted { rate } => match claim_error {
            Some(error) => Err(error.with_rate(rate)),
            None => Ok(Passed::Proceed(VerifiedPartner { key, rate, claim, applied })),
        },
        Admission::StoredAnswer { rate, response } => Ok(Passed::StoredAnswer { rate, response }),
        Admission::NonceReused => Err(GateError::NonceReused.into()),
        Admission::Forbidden => Err(match input.scope {
            Some(scope) => GateError::MissingScope(scope).into(),
            // A route without a scope always grants; the object cannot refuse it.
            None => ApiError::internal("gate refused a scope-free route"),
        }),
        Admission::RateLimited { rate } => Err(GateError::RateLimited(rate).into()),
        Admission::IdempotencyMismatch { rate } => Err(ApiError::from(GateError::IdempotencyMismatch).with_rate(rate)),
        Admission::IdempotencyInFlight { rate } => Err(ApiError::from(GateError::IdempotencyInFlight).with_rate(rate)),
    }
}

/// Sends one of the gate's commands to the key's object.
async fn ask_key<C: Command<Envelope = GateCommand>>(
    env: &Env,
    key_id: &KeyId,
    command: C,
) -> Result<C::Reply, ApiError>
where
    GateCommand: From<C>,
{
    let stub = bindings::stub(env, bindings::PARTNER_SANDBOX, key_id.as_str())?;
    Ok(send_in::<C, _>(stub, &KeyMessage::Gate(GateCommand::from(command))).await?)
}

/// Records a reserved mutation's answer (or releases the key after a 5xx).
pub async fn complete(env: &Env, key_id: &KeyId, completion: &Completion) -> Result<(), ApiError> {
    let _: bool = ask_key(env, key_id, completion.clone()).await?;
    Ok(())
}

/// The key's calls to deprecated routes over the usage window, as its gate counted them.
pub async fn deprecated_usage(
    env: &Env,
    key_id: &KeyId,
    now: u64,
) -> Result<Vec<partner_edge::gate::KeyUsage>, ApiError> {
    ask_key(env, key_id, partner_edge::gate::ReadDeprecatedUsage { now }).await
}
