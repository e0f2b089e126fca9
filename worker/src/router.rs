//! Dispatch: the shared route table says which route a request line is and
//! who may call it; this module enforces that access, then an exhaustive
//! `match` picks the handler. A route added to the table without a handler
//! does not compile, and no handler can forget its access check.

use partner_edge::api::RequestId;
use partner_edge::error::ErrorCode;
use partner_edge::gate::{self, Completion, GateConfig, StoredResponse, HEADER_IDEMPOTENT_REPLAYED};
use partner_edge::lifecycle::{Deprecation, Phase, RecordCall};
use partner_edge::routes::{match_route, Access, PathParams, RouteId, RouteMatch};
use worker::{js_sys, wasm_bindgen, wasm_bindgen_futures, Context, Env, Headers, Response, ResponseBuilder};

use crate::error::ApiError;
use crate::gate::{verify_partner_request, GateInput, Passed, VerifiedPartner};
use crate::http::{now_ms, now_secs, with_rate, Incoming};
use crate::routes::{admin, docs, partner, public, simulate, status, webhooks};
use crate::{config, public_limit};

/// What every handler gets besides the request.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub request_id: &'a RequestId,
    pub params: PathParams<'a>,
    /// Unix milliseconds when the request arrived.
    pub now_ms: u64,
    /// The raw body, read once and within the size limit.
    pub body: Vec<u8>,
    /// Set on partner routes: the key that signed the request.
    pub partner: Option<VerifiedPartner>,
}

pub async fn dispatch(
    req: Incoming,
    env: &Env,
    ctx: &Context,
    request_id: &RequestId,
    family: &mut &'static str,
) -> Result<Response, ApiError> {
    // The raw method: an unknown method must be refused, never served as a read.
    let method = req.method().to_owned();
    let path = req.path();

    let (id, params) = match match_route(&method, path) {
        RouteMatch::Found { id, params } => (id, params),
        RouteMatch::MethodNotAllowed { allow } => return Err(ApiError::method_not_allowed(&method, path, allow)),
        RouteMatch::NotFound => return Err(ApiError::not_found(&method, path)),
    };
    *family = id.route().tag;
    // A parameter that could mean another path once decoded goes no further.
    params.check()?;
    status::arm_once(env, ctx);
    let now_ms = now_ms();
    // A deprecated route answers with its lifecycle headers; after its sunset, 410.
    let deprecation = match Deprecation::of(id) {
        Some(deprecation) => Some((deprecation, config::lifecycle_now(env, now_secs(now_ms))?)),
        None => None,
    };
    if let Some((deprecation, at)) = deprecation.filter(|(d, at)| d.phase(*at) == Phase::Sunset) {
        let error = ApiError::new(
            ErrorCode::EndpointSunset,
            format!(
                "{} was sunset on {}; use {} instead",
                deprecation.endpoint(),
                partner_edge::lifecycle::rfc3339(deprecation.sunset_at),
                deprecation.replacement_endpoint()
            ),
        );
        return with_lifecycle(error.into_response(request_id), deprecation, at);
    }
    let gate_config = config::gate(env)?;
    let body = read_body(&req, &gate_config).await?;

    let mut rate = None;
    let partner = match id.route().access {
        Access::Public => {
            if id.route().is_rate_limited() {
                rate = Some(public_limit::take(&req, env, &gate_config, now_secs(now_ms)).await?);
            }
            None
        }
        Access::Admin => {
            admin::authorize(&req, env, now_secs(now_ms)).await?;
            None
        }
        Access::Partner(scope) => {
            let path_and_query = req.path_and_query();
            let delegated = crate::routes::partner::keeps_own_answers(env, id)?;
            let input = GateInput {
                deprecated: Deprecation::of(id).map(|d| d.id),
                method: &method,
                path_and_query,
                body: &body,
                now_ms,
                now_secs: now_secs(now_ms),
                scope,
                config: &gate_config,
                delegated,
                apply: if delegated { crate::routes::partner::entry_to_apply(id, &body) } else { None },
            };
            match verify_partner_request(&req, env, input).await? {
                Passed::Proceed(verified) => {
                    rate = Some(verified.rate);
                    Some(verified)
                }
                Passed::StoredAnswer { rate, response } => return stored_answer(&response, &rate, request_id),
            }
        }
    };
    // A delegated claim's answer is kept by the object that served it.
    let completion_target = partner
        .as_ref()
        .and_then(|p| p.claim.clone().filter(|claim| !claim.delegated).map(|claim| (p.key.key_id.clone(), claim)));
    let edge = Edge { env, request_id, params, now_ms, body, partner };

    let result = match id {
        RouteId::PublicHealth => status::health(&req, edge).await,
        RouteId::OpenApiDocument => docs::openapi(&req, edge),
        RouteId::ErrorCatalogue => docs::error_catalogue(&req, edge),
        RouteId::CreatePartnerKey => admin::create(&req, edge).await,
        RouteId::ListPartnerKeys => admin::list(&req, edge).await,
        RouteId::GetPartnerKey => admin::get(&req, edge).await,
        RouteId::PatchPartnerKey => admin::patch(&req, edge).await,
        RouteId::DeletePartnerKey => admin::delete(&req, edge).await,
        RouteId::RotatePartnerKeySecret => admin::rotate_secret(&req, edge).await,
        RouteId::PartnerMe => partner::me(&req, edge).await,
        RouteId::PartnerCapabilities => partner::capabilities_of(&req, edge).await,
        RouteId::CreatePartnerUser
        | RouteId::GetPartnerUser
        | RouteId::PatchPartnerUser
        | RouteId::LinkUserWallet
        | RouteId::CreditSalutes
        | RouteId::DebitSalutes
        | RouteId::GetBalance
        | RouteId::ListLedger
        | RouteId::CreateDonationClaim
        | RouteId::LookupPartnerUser
        | RouteId::WalletInfo
        | RouteId::GetUserWallet => partner::resource(&req, edge, id).await,
        RouteId::DeprecationCalendar => docs::deprecation_calendar(&req, edge),
        RouteId::MigrationStatus => docs::migration_status(&req, edge).await,
        RouteId::VerifyQuickstartKey => public::verify_key(&req, edge).await,
        RouteId::TrustManifest => docs::trust_manifest(&req, edge),
        RouteId::SystemStatus | RouteId::StatusJson => status::system_status(&req, edge).await,
        RouteId::StatuspageSummary => status::statuspage_summary(&req, edge).await,
        RouteId::StatusTrend => status::trend(&req, edge).await,
        RouteId::StatusIncidents => status::incidents(&req, edge).await,
        RouteId::LatencyPercentiles => status::latency_percentiles(&req, edge).await,
        RouteId::OpenIncident => status::open_incident(&req, edge).await,
        RouteId::UpdateIncident => status::update_incident(&req, edge).await,
        RouteId::StatusUptime => status::uptime(&req, edge).await,
        RouteId::OpenApiChangelog => docs::changelog(&req, edge),
        RouteId::OpenApiChangelogMarkdown => docs::changelog_markdown(&req, edge),
        RouteId::CanaryEcho => public::canary_echo(&req, edge),
        RouteId::PublicStats => public::stats(&req, edge).await,
        RouteId::LatestTransactions => public::latest(&req, edge).await,
        RouteId::PartnerDeprecations => partner::deprecations(&req, edge).await,
        RouteId::DeprecationFeed => docs::deprecation_feed(&req, edge),
        RouteId::DeprecationPlaybookMarkdown => docs::playbook_markdown(&req, edge),
        RouteId::DeprecationPlaybookJson => docs::deprecation_calendar(&req, edge),
        RouteId::DeprecationHeaderSimulator => docs::header_simulator(&req, edge),
        RouteId::WebhookEventTypes => docs::event_types(&req, edge),
        RouteId::CreateWebhook
        | RouteId::ListWebhooks
        | RouteId::GetWebhook
        | RouteId::PatchWebhook
        | RouteId::DeleteWebhook
        | RouteId::TestWebhook
        | RouteId::RotateWebhookSecret
        | RouteId::ListWebhookDeliveries
        | RouteId::ListWebhookFailures
        | RouteId::RetryWebhookDelivery
        | RouteId::CreateInbox
        | RouteId::ListInboxes
        | RouteId::DeleteInbox
        | RouteId::ListInboxCaptures => webhooks::partner(&req, edge, id).await,
        RouteId::CaptureWebhook => webhooks::capture(&req, edge).await,
        RouteId::SimulateWebhook => simulate::simulate(&req, edge).await,
        RouteId::PublishEvent => webhooks::publish(&req, edge).await,
        RouteId::ResendWebhookEvent => webhooks::resend(&req, edge).await,
        RouteId::RedriveDeadLetters => webhooks::redrive(&req, edge).await,
        RouteId::Metrics => webhooks::metrics(&req, edge).await,
    };

    let response = match completion_target {
        // A reserved mutation: its answer, success or refusal, is recorded
        // before it is sent, so a retry after this response replays it.
        Some((key_id, claim)) => {
            let response = match result {
                Ok(response) => response,
                Err(error) => {
                    error.log_once(request_id);
                    error.into_response(request_id)
                }
            };
            remember(env, &key_id, claim, response).await?
        }
        None => match (result, rate) {
            (Err(error), Some(rate)) => return Err(error.with_rate(rate)),
            (result, _) => result?,
        },
    };
    let response = match rate {
        Some(rate) => with_rate(response, &rate)?,
        None => response,
    };
    let response = match deprecation {
        Some((deprecation, at)) => with_lifecycle(response, deprecation, at)?,
        None => response,
    };
    if (200..300).contains(&response.status_code()) {
        count_migration_call(env, ctx, id, now_secs(now_ms));
    }
    Ok(if method == "HEAD" { without_body(response) } else { response })
}

/// Stores a mutation's answer under its idempotency key and hands it on.
/// If the store fails, the answer still goes out: the reservation lapses
/// after its lease, and the sandbox applies each key once regardless.
async fn remember(
    env: &Env,
    key_id: &partner_edge::partner::KeyId,
    claim: partner_edge::gate::IdempotencyClaim,
    mut response: Response,
) -> Result<Response, ApiError> {
    let status = response.status_code();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let stored = StoredResponse {
        status,
        content_type: headers.get("content-type")?.unwrap_or_else(|| "application/json".to_owned()),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let completion = Completion { claim, response: stored.without_secrets() };
    if let Err(error) = crate::gate::complete(env, key_id, &completion).await {
        worker::console_error!("could not record the idempotent answer for {key_id}: {error:?}");
    }
    Ok(ResponseBuilder::new().with_status(status).with_headers(headers).fixed(body))
}

/// The stored answer of an earlier identical request, marked as a replay.
fn stored_answer(
    stored: &StoredResponse,
    rate: &partner_edge::gate::RateVerdict,
    request_id: &RequestId,
) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("content-type", &stored.content_type)?;
    headers.set("cache-control", "no-store")?;
    headers.set(HEADER_IDEMPOTENT_REPLAYED, "true")?;
    let response = ResponseBuilder::new()
        .with_status(stored.status)
        .with_headers(headers)
        .fixed(stored.replay_body(request_id.as_str()).into_bytes());
    with_rate(response, rate)
}

/// Reads the body through the size cap (413 once it is over), whether or
/// not `Content-Length` was sent: a declared size over the cap is refused
/// before anything is read, and a streamed body is copied into memory only
/// up to the cap. Past it, the rest is read and dropped in JS without being
/// copied anywhere (up to [`DISCARD_LIMIT`], then cancelled), so the client
/// gets its 413 instead of a reset connection. Every route goes through
/// here, so the gate need not check the size again.
async fn read_body(req: &Incoming, limit: &GateConfig) -> Result<Vec<u8>, ApiError> {
    // A read rarely has a body, so the cheaper question comes first for it;
    // a write nearly always declares its length, and is then read without
    // the runtime building a stream object for `body` at all.
    let reads = matches!(req.method(), "GET" | "HEAD");
    if reads && req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let declared = req.headers().get("content-length")?.and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(size) = declared {
        gate::check_body_size(size, limit)?;
    }
    let cap = limit.max_body_bytes;
    if declared.is_some() {
        // Within the limit, as checked above, and no longer than declared (the
        // runtime holds a body to its Content-Length): one call reads it all,
        // where the stream would cross into JS for every chunk's read and
        // releaseLock.
        let buffer = worker::wasm_bindgen_futures::JsFuture::from(
            req.inner().array_buffer().map_err(|e| ApiError::invalid_request(format!("unreadable body: {e:?}")))?,
        )
        .await
        .map_err(|e| ApiError::invalid_request(format!("unreadable body: {e:?}")))?;
        return Ok(worker::js_sys::Uint8Array::new(&buffer).to_vec());
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let (body, over) =
        read_capped(stream, cap).await.map_err(|e| ApiError::invalid_request(format!("unreadable body: {e:?}")))?;
    if over {
        return Err(ApiError::new(
            partner_edge::error::ErrorCode::PayloadTooLarge,
            format!("the body is larger than the {cap}-byte limit"),
        ));
    }
    Ok(body)
}

/// How much of an over-limit body is read and dropped before the stream is
/// cancelled instead.
const DISCARD_LIMIT: usize = 64 * 1024 * 1024;

/// Reads a body stream, copying at most `cap` bytes into wasm memory.
/// Returns the bytes and whether the body was longer than `cap`.
async fn read_capped(
    stream: worker::web_sys::ReadableStream,
    cap: usize,
) -> Result<(Vec<u8>, bool), wasm_bindgen::JsValue> {
    use wasm_bindgen::JsCast;
    let reader: worker::web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    let mut seen = 0usize;
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read()).await?;
        if js_sys::Reflect::get(&chunk, &"done".into())?.as_bool().unwrap_or(true) {
            return Ok((body, seen > cap));
        }
        let value: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into())?.unchecked_into();
        let length = value.length() as usize;
        seen = seen.saturating_add(length);
        if seen <= cap {
            let start = body.len();
            body.resize(start + length, 0);
            value.copy_to(&mut body[start..]);
        } else if body.capacity() > 0 {
            body = Vec::new(); // over the cap: what was kept is not needed
        }
        if seen > DISCARD_LIMIT {
            let _ = wasm_bindgen_futures::JsFuture::from(reader.cancel()).await;
            return Ok((Vec::new(), true));
        }
    }
}

/// Counts a successful call to a route on either side of a migration, after
/// the answer has gone: the global `RouteUsage` object is never waited on.
fn count_migration_call(env: &Env, ctx: &Context, id: RouteId, now: u64) {
    let Some((deprecation, side)) = partner_edge::lifecycle::tracked(id) else {
        return;
    };
    let env = env.clone();
    let call =
        RecordCall { deprecation_id: deprecation.id.to_owned(), side, day: partner_edge::lifecycle::day_of(now) };
    ctx.wait_until(async move {
        let recorded = async {
            let stub = crate::bindings::stub(&env, crate::bindings::ROUTE_USAGE, "global")?;
            crate::durable::send(stub, call).await
        };
        if let Err(error) = recorded.await {
            worker::console_error!("could not count a call for the migration status: {error}");
        }
    });
}

/// Adds `Deprecation`, `Sunset` and `Link` as the lifecycle declares them.
fn with_lifecycle(mut response: Response, deprecation: &Deprecation, at: u64) -> Result<Response, ApiError> {
    for (name, value) in deprecation.headers(at) {
        response.headers_mut().append(name, &value)?;
    }
    Ok(response)
}

/// HEAD answers carry the GET answer's status and headers, and no body.
fn without_body(response: Response) -> Response {
    ResponseBuilder::new().with_status(response.status_code()).with_headers(response.headers().clone()).empty()
}
