//! Routes for signed partner requests. The router has run the gate; each
//! handler gets the verified key in `edge.partner`.
//!
//! The partner resources (users, salutes, donation claims) are answered by
//! the origin when `ORIGIN_URL` is set, and by the edge's own sandbox
//! (the `PartnerSandbox` Durable Object) otherwise.

use partner_edge::gate::PartnerIdentity;
use partner_edge::object::Command;
use partner_edge::origin;
use partner_edge::routes::RouteId;
use partner_edge::sandbox::{
    capabilities, check_user_id, Applied, Backend, ClaimDonation, CreateUser, DonationClaimIn, EntryKind, FindWallet,
    GetBalance, GetUser, GetUserWallet, KeyMessage, LedgerQuery, LinkWallet, ListLedger, OnceKey, PatchUser, SalutesIn,
    SandboxCommand, SandboxReply, SandboxRequest, UserIn, UserPatch, WalletIn,
};
use partner_edge::webhooks::{derived_event_id, Event, EventType};
use worker::{Headers, Method, Request, RequestInit, Response, ResponseBuilder};

use crate::durable::send_in;
use crate::error::ApiError;
use crate::gate::VerifiedPartner;
use crate::http::{fetch_bounded, json_body, now_secs, paginated, query_pairs, success, Incoming};
use crate::router::Edge;
use crate::{bindings, config};

fn verified<'a>(edge: &'a Edge<'_>) -> Result<&'a VerifiedPartner, ApiError> {
    edge.partner.as_ref().ok_or_else(|| ApiError::internal("partner route reached without the gate"))
}

pub async fn me(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let partner = verified(&edge)?;
    success(200, PartnerIdentity::of(&partner.key, partner.rate))
}

pub async fn capabilities_of(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let partner = verified(&edge)?;
    let backend = if config::origin(edge.env)?.is_some() { Backend::Origin } else { Backend::Sandbox };
    success(200, capabilities(partner.key.key_id.environment(), backend, &partner.key.scopes))
}

/// `GET /api/partner/deprecations`: the deprecated routes this key called
/// in the last 30 days, as its gate counted them.
pub async fn deprecations(_req: &Incoming, edge: Edge<'_>) -> Result<Response, ApiError> {
    let partner = verified(&edge)?;
    let now = now_secs(edge.now_ms);
    let counted = crate::gate::deprecated_usage(edge.env, &partner.key.key_id, now).await?;
    let counted: Vec<(String, u64, u64)> =
        counted.into_iter().map(|usage| (usage.deprecation_id, usage.calls, usage.last_day)).collect();
    let lifecycle_now = config::lifecycle_now(edge.env, now)?;
    success(200, partner_edge::lifecycle::partner_usage(&counted, lifecycle_now))
}

/// Whether the route's mutations keep their own idempotent answers: the
/// sandbox's credit and debit do (under their `OnceKey`, entry or refusal),
/// so the gate only pins the key and no second call records the answer.
pub fn keeps_own_answers(env: &worker::Env, id: RouteId) -> Result<bool, ApiError> {
    Ok(matches!(id, RouteId::CreditSalutes | RouteId::DebitSalutes) && config::origin(env)?.is_none())
}

/// A credit or debit the sandbox keeps ([`keeps_own_answers`]) with a
/// valid body, to be applied in the admission's call (`GateInput::apply`).
/// `None` for a body the handler will refuse: that request is admitted
/// alone, as the gate's refusals come before the body's.
pub fn entry_to_apply(id: RouteId, body: &[u8]) -> Option<(EntryKind, SalutesIn)> {
    let kind = match id {
        RouteId::CreditSalutes => EntryKind::Credit,
        RouteId::DebitSalutes => EntryKind::Debit,
        _ => return None,
    };
    json_body::<SalutesIn>(body).ok().filter(|input| input.validate().is_ok()).map(|input| (kind, input))
}

/// A partner resource route: forwarded to the origin, or run on the sandbox.
pub async fn resource(req: &Incoming, edge: Edge<'_>, id: RouteId) -> Result<Response, ApiError> {
    match config::origin(edge.env)? {
        Some(origin) => forward(req, &edge, origin, id).await,
        None => sandbox(req, &edge, id).await,
    }
}

fn user_id_param(edge: &Edge<'_>) -> Result<String, ApiError> {
    let raw = edge.params.get("user_id").unwrap_or_default();
    check_user_id(raw)
        .map_err(|_| ApiError::new(partner_edge::error::ErrorCode::NotFound, format!("no user {raw}")))?;
    Ok(raw.to_owned())
}

/// The `{address}` path parameter: a wallet address, or no such wallet.
fn wallet_param(edge: &Edge<'_>) -> Result<String, ApiError> {
    let raw = edge.params.get("address").unwrap_or_default();
    if !(8..=128).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::new(partner_edge::error::ErrorCode::NotFound, format!("no wallet {raw}")));
    }
    Ok(raw.to_owned())
}

/// A query parameter the route needs.
fn required_query(req: &Incoming, name: &str) -> Result<String, ApiError> {
    query_pairs(req)?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .ok_or_else(|| ApiError::invalid_request(format!("{name}: the query parameter is required")))
}

fn once_key(partner: &VerifiedPartner) -> Result<OnceKey, ApiError> {
    let claim = partner.claim.as_ref().ok_or_else(|| ApiError::internal("mutation reached without a claim"))?;
    Ok(OnceKey { idempotency_key: claim.key.as_str().to_owned(), fingerprint: claim.fingerprint.clone() })
}

/// Sends one command to the partner's sandbox; the reply is the type the command names.
async fn ask_sandbox<C>(edge: &Edge<'_>, partner: &VerifiedPartner, command: C) -> Result<C::Reply, ApiError>
where
    C: Command<Envelope = SandboxCommand>,
    SandboxCommand: From<C>,
{
    let stub = bindings::stub(edge.env, bindings::PARTNER_SANDBOX, partner.key.key_id.as_str())?;
    let request = SandboxRequest { now: now_secs(edge.now_ms), command: SandboxCommand::from(command) };
    Ok(send_in::<C, _>(stub, &KeyMessage::Sandbox(request)).await?)
}

/// As [`ask_sandbox`], for a command whose reply is a value or a refusal.
async fn run<C, T>(edge: &Edge<'_>, partner: &VerifiedPartner, command: C) -> Result<T, ApiError>
where
    C: Command<Envelope = SandboxCommand, Reply = SandboxReply<T>>,
    SandboxCommand: From<C>,
{
    Ok(ask_sandbox(edge, partner, command).await??)
}

async fn sandbox(req: &Incoming, edge: &Edge<'_>, id: RouteId) -> Result<Response, ApiError> {
    let partner = verified(edge)?;
    let status = id.route().success_status;
    match id {
        RouteId::CreatePartnerUser => {
            let input: UserIn = json_body(&edge.body)?;
            input.validate()?;
            success(status, run(edge, partner, CreateUser { input }).await?)
        }
        RouteId::GetPartnerUser => {
            success(status, run(edge, partner, GetUser { user_id: user_id_param(edge)? }).await?)
        }
        RouteId::PatchPartnerUser => {
            let user_id = user_id_param(edge)?;
            let patch: UserPatch = json_body(&edge.body)?;
            patch.validate()?;
            success(status, run(edge, partner, PatchUser { user_id, patch }).await?)
        }
        RouteId::LinkUserWallet => {
            let user_id = user_id_param(edge)?;
            let input: WalletIn = json_body(&edge.body)?;
            let wallet = input.into_wallet(now_secs(edge.now_ms))?;
            success(status, run(edge, partner, LinkWallet { user_id, wallet }).await?)
        }
        RouteId::CreditSalutes | RouteId::DebitSalutes => {
            // Applied in the admission's call (`entry_to_apply`), which
            // leaves out only a body refused here.
            let Some(applied) = &partner.applied else {
                let input: SalutesIn = json_body(&edge.body)?;
                input.validate()?;
                return Err(ApiError::internal("a valid credit or debit reached its handler unapplied"));
            };
            let applied = Applied::clone(applied);
            // The kept answer of an earlier identical request is marked as a
            // replay, as the gate marks the answers it keeps.
            let mut response = match applied.outcome {
                Ok(entry) => success(status, entry)?,
                Err(refusal) => ApiError::from(refusal).into_response(edge.request_id),
            };
            if applied.replayed {
                response.headers_mut().set(partner_edge::gate::HEADER_IDEMPOTENT_REPLAYED, "true")?;
            }
            Ok(response)
        }
        RouteId::LookupPartnerUser => {
            let user_id = required_query(req, "user_id")?;
            check_user_id(&user_id)?;
            success(status, run(edge, partner, GetUser { user_id }).await?)
        }
        RouteId::WalletInfo => {
            let address = wallet_param(edge)?;
            success(status, run(edge, partner, FindWallet { address }).await?)
        }
        RouteId::GetUserWallet => {
            let user_id = user_id_param(edge)?;
            let address = wallet_param(edge)?;
            success(status, run(edge, partner, GetUserWallet { user_id, address }).await?)
        }
        RouteId::GetBalance => {
            let user_id = query_pairs(req)?
                .into_iter()
                .find(|(name, _)| name == "user_id")
                .map(|(_, value)| value)
                .ok_or_else(|| ApiError::invalid_request("user_id: the query parameter is required"))?;
            check_user_id(&user_id)?;
            success(status, run(edge, partner, GetBalance { user_id }).await?)
        }
        RouteId::ListLedger => {
            let pairs = query_pairs(req)?;
            let query = LedgerQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
            let page = run(edge, partner, ListLedger { query }).await?;
            paginated(status, page.entries, page.meta)
        }
        RouteId::CreateDonationClaim => {
            let input: DonationClaimIn = json_body(&edge.body)?;
            input.validate()?;
            let claim = run(edge, partner, ClaimDonation { input, once: once_key(partner)? }).await?;
            emit_event(edge, &partner.key.key_id, EventType::DonationClaim, &claim.claim_id, &claim).await?;
            success(status, claim)
        }
        other => Err(ApiError::internal(format!("{other:?} is not a sandbox route"))),
    }
}

/// Queues the webhook event a sandbox mutation causes, before its answer
/// goes out. The event id derives from the ledger entry or claim, so a
/// mutation answered twice (say, after a lost idempotency record) queues once.
async fn emit_event(
    edge: &Edge<'_>,
    key_id: &partner_edge::partner::KeyId,
    event_type: EventType,
    local_id: &str,
    data: &impl serde::Serialize,
) -> Result<(), ApiError> {
    let data = serde_json::to_value(data).map_err(|e| ApiError::internal(e.to_string()))?;
    let event =
        Event { event_id: derived_event_id(key_id.as_str(), local_id), event_type, occurred_at_ms: edge.now_ms, data };
    crate::routes::webhooks::publish_event(edge.env, key_id, event).await
}

/// The largest origin answer passed back (and stored for idempotent replay).
const ORIGIN_ANSWER_LIMIT: usize = 10 * 1024 * 1024;

/// Sends the verified request to the origin with the identity the gate
/// established, and passes the origin's answer back. What goes out is what
/// the gate authorised: the matched route's canonical path, no hop-by-hop or
/// URL-rewriting header, and the edge's own signature over all of it.
async fn forward(req: &Incoming, edge: &Edge<'_>, origin: url::Url, id: RouteId) -> Result<Response, ApiError> {
    let partner = verified(edge)?;
    let signing_secret = config::origin_signing_secret(edge.env)?;
    let incoming = req.url()?;
    let mut target = origin.clone();
    let base = origin.path().trim_end_matches('/');
    target.set_path(&format!("{base}{}", edge.params.fill(id.route().path)));
    target.set_query(incoming.query());

    let connection = origin::connection_tokens(req.headers().get("connection")?.as_deref());
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if origin::is_forwarded(&name, &connection) {
            headers.append(&name, &value)?;
        }
    }
    let scopes: Vec<&str> = partner.key.scopes.iter().map(|scope| scope.as_str()).collect();
    headers.set("X-Partner-Id", partner.key.key_id.as_str())?;
    headers.set("X-Partner-Scopes", &scopes.join(","))?;
    headers.set("X-Partner-Environment", partner.key.key_id.environment().as_str())?;
    headers.set("X-Request-Id", edge.request_id.as_str())?;
    let method = req.inner().method();
    let path_and_query = &target[url::Position::BeforePath..url::Position::AfterQuery];
    let timestamp = now_secs(edge.now_ms);
    let signature = origin::sign_forwarded(
        &signing_secret,
        &origin::Forwarded {
            timestamp,
            method: &method,
            path_and_query,
            body: &edge.body,
            partner_id: partner.key.key_id.as_str(),
            request_id: edge.request_id.as_str(),
        },
    );
    headers.set(origin::HEADER_EDGE_TIMESTAMP, &timestamp.to_string())?;
    headers.set(origin::HEADER_EDGE_SIGNATURE, &signature)?;

    let method = Method::from(method);
    let mut init = RequestInit::new();
    // A proxy hands a redirect back rather than following it somewhere the
    // gate never authorised.
    init.with_method(method.clone()).with_headers(headers).with_redirect(worker::RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(Some(worker::js_sys::Uint8Array::from(edge.body.as_slice()).into()));
    }
    let outbound = Request::new_with_init(target.as_str(), &init)?;
    let answer =
        fetch_bounded(outbound, config::origin_timeout(edge.env)?, ORIGIN_ANSWER_LIMIT).await.map_err(|failure| {
            ApiError::new(partner_edge::error::ErrorCode::DependencyUnavailable, "the origin did not answer")
                .with_detail(format!("{target}: {failure}"))
        })?;
    if answer.truncated {
        return Err(ApiError::new(
            partner_edge::error::ErrorCode::DependencyUnavailable,
            "the origin's answer is larger than the edge passes on",
        )
        .with_detail(format!("{target}: answer over {ORIGIN_ANSWER_LIMIT} bytes")));
    }
    let status = answer.status;
    let answer_headers = Headers::new();
    for (name, value) in answer.headers.entries() {
        if !matches!(name.as_str(), "connection" | "keep-alive" | "transfer-encoding" | "content-length") {
            answer_headers.append(&name, &value)?;
        }
    }
    let body = answer.body;
    Ok(ResponseBuilder::new().with_status(status).with_headers(answer_headers).fixed(body))
}
