//! Small HTTP helpers shared by every handler: request ids, JSON envelopes.

use partner_edge::api::{RequestId, Success, REQUEST_ID_HEADER};
use partner_edge::gate::RateVerdict;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{console_error, js_sys, wasm_bindgen, web_sys, Headers, Response, ResponseBody};

use crate::error::ApiError;

/// Random bytes from the runtime's CSPRNG (crypto.getRandomValues).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("getrandom failed: {e}")))?;
    Ok(bytes)
}

/// Random bytes for request ids, drawn from the CSPRNG a page at a time:
/// one runtime call (about 14 µs with its copy) serves 256 requests. Each
/// id takes bytes no earlier id took.
struct IdPool {
    bytes: [u8; 4096],
    used: usize,
}

thread_local! {
    static ID_POOL: std::cell::RefCell<IdPool> =
        const { std::cell::RefCell::new(IdPool { bytes: [0; 4096], used: 4096 }) };
}

/// 128 random bits from the runtime's CSPRNG, formatted by the shared crate.
pub fn fresh_request_id() -> RequestId {
    ID_POOL.with_borrow_mut(|pool| {
        if pool.used + 16 > pool.bytes.len() {
            if let Err(error) = getrandom::fill(&mut pool.bytes) {
                // crypto.getRandomValues does not fail on workerd; if it ever
                // did, a time-derived id still lets the request be answered and traced.
                console_error!("getrandom failed: {error}; deriving the request id from the clock");
                return RequestId::from_random_bytes((u128::from(now_ms()) << 32).to_be_bytes());
            }
            pool.used = 0;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&pool.bytes[pool.used..pool.used + 16]);
        pool.used += 16;
        RequestId::from_random_bytes(bytes)
    })
}

/// Wall-clock unix milliseconds. On workerd it advances only across I/O.
/// (`Date.now()` itself: workers-rs's `Date::now` builds a `Date` object.)
pub fn now_ms() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// Polls `run` once: an answer that is ready goes back to the runtime at
/// once, with no promise, task or microtask; one still waiting on I/O
/// becomes a promise that the wasm-bindgen executor drives from here on
/// (re-polling a future under a new waker is what the `Future` contract
/// allows). The fetch entry point and the objects' `command` answer this way.
pub fn now_or_later<T, E>(
    run: impl std::future::Future<Output = Result<T, E>> + 'static,
) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>
where
    T: Into<wasm_bindgen::JsValue>,
    E: Into<wasm_bindgen::JsValue>,
{
    use std::task::{Context, Poll, Waker};
    let mut run = Box::pin(run);
    match run.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(answer) => answer.map(Into::into).map_err(Into::into),
        Poll::Pending => Ok(promise_of(Box::pin(async move { run.await.map(Into::into).map_err(Into::into) })).into()),
    }
}

/// A future the runtime waits on, as a promise. Every caller goes through
/// this one instance of wasm-bindgen's executor glue, which is large, rather
/// than one per future type.
pub fn promise_of(
    run: std::pin::Pin<Box<dyn std::future::Future<Output = Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>>>>,
) -> worker::js_sys::Promise {
    worker::wasm_bindgen_futures::future_to_promise(run)
}

/// Sets `X-Request-Id`, leaving the response unchanged if its headers are immutable.
pub fn with_request_id(mut response: Response, request_id: &RequestId) -> Response {
    if let Err(error) = response.headers_mut().set(REQUEST_ID_HEADER, request_id.as_str()) {
        console_error!("{request_id} could not set {REQUEST_ID_HEADER}: {error}");
    }
    response
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "export function respond(body, status, headers) {
  return new Response(body, { status, headers });
}
export function header_lines(request, names) {
  const headers = request.headers;
  return names.map((name) => headers.get(name) ?? '').join('\\n');
}")]
extern "C" {
    /// The values of the headers `names`, one per line ("" for an absent one).
    #[wasm_bindgen(catch)]
    fn header_lines(request: &web_sys::Request, names: &js_sys::Array) -> Result<String, wasm_bindgen::JsValue>;

    /// `new Response(body, { status, headers })` in one call, where building
    /// the init object field by field takes three more.
    #[wasm_bindgen(catch)]
    fn respond(
        body: &[u8],
        status: u16,
        headers: &web_sys::Headers,
    ) -> Result<web_sys::Response, wasm_bindgen::JsValue>;
}

/// Hands a response to the runtime. A body goes over as a view of wasm
/// memory, which the runtime's `Response` copies once, where workers-rs
/// would first copy it into a separately allocated `Uint8Array`. (The edge
/// sets no WebSocket, `cf` or body encoding on a response, the rest of
/// what workers-rs's init carries.)
pub fn into_runtime(response: Response) -> web_sys::Response {
    let (status, headers) = (response.status_code(), response.headers().0.clone());
    let (init, body) = response.into_parts();
    let built = match body {
        ResponseBody::Body(bytes) => respond(&bytes, status, &headers),
        ResponseBody::Stream(stream) => {
            web_sys::Response::new_with_opt_readable_stream_and_init(Some(&stream), &init.into())
        }
        // A null body: the only kind a 204 or 304 may have.
        ResponseBody::Empty => web_sys::Response::new_with_opt_str_and_init(None, &init.into()),
    };
    built.unwrap_or_else(|refused| {
        // Only a status the runtime refuses (or a body on a null-body status)
        // gets here: a bug, answered in the taxonomy rather than dropped.
        console_error!("the runtime refused a response: {refused:?}");
        let fallback = web_sys::ResponseInit::new();
        fallback.set_status(500);
        let body = r#"{"success":false,"error":"server_error","message":"the edge built an answer it could not send","request_id":null}"#;
        web_sys::Response::new_with_opt_str_and_init(Some(body), &fallback).unwrap_or_else(|_| {
            web_sys::Response::new().unwrap_or_else(|_| wasm_bindgen::JsCast::unchecked_into(wasm_bindgen::JsValue::NULL))
        })
    })
}

/// `{"success":true,"data":…}` with the given status, never cached.
pub fn success<T: Serialize>(status: u16, data: T) -> Result<Response, ApiError> {
    let mut response = Response::from_json(&Success::new(data))?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// `{"success":true,"data":[…],"meta":{next_cursor,limit}}`, never cached.
pub fn paginated<T: Serialize>(status: u16, data: T, meta: partner_edge::api::PageMeta) -> Result<Response, ApiError> {
    let mut response = Response::from_json(&Success::paginated(data, meta))?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// The request as the runtime hands it over, read lazily. The method and URL
/// are copied out once; headers, body and the parsed URL only when a handler
/// asks. (workers-rs's `Request` also parses the `cf` object on arrival,
/// which no route here reads and which costs as much as the whole route
/// table lookup.)
pub struct Incoming {
    raw: web_sys::Request,
    method: String,
    url: String,
}

impl Incoming {
    pub fn new(raw: web_sys::Request) -> Self {
        let method = raw.method();
        let url = raw.url();
        Self { raw, method, url }
    }

    /// The method exactly as sent (upper-case for the standard ones).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, percent-encoded as the runtime serialised it.
    pub fn path(&self) -> &str {
        partner_edge::routes::path_of(self.path_and_query())
    }

    /// The path and `?query`, as signed by partners.
    pub fn path_and_query(&self) -> &str {
        partner_edge::routes::path_and_query(&self.url)
    }

    /// The whole URL, parsed.
    pub fn url(&self) -> Result<url::Url, ApiError> {
        url::Url::parse(&self.url).map_err(|e| ApiError::internal(format!("the runtime gave an unparsable URL: {e}")))
    }

    pub fn headers(&self) -> worker::Headers {
        worker::Headers(self.raw.headers())
    }

    /// Several headers' values in one call into the runtime, in the order
    /// of `names` (a JS array of header names, built once by the caller);
    /// `None` for one that is absent or empty. A header value cannot hold a
    /// line break (the runtime refuses one), so the values travel as one
    /// text, a line each.
    pub fn header_values(&self, names: &js_sys::Array) -> Result<Vec<Option<String>>, ApiError> {
        let lines = header_lines(&self.raw, names).map_err(|e| ApiError::internal(format!("headers: {e:?}")))?;
        let values: Vec<Option<String>> =
            lines.split('\n').map(|value| (!value.is_empty()).then(|| value.to_owned())).collect();
        if values.len() != names.length() as usize {
            return Err(ApiError::internal("a header value held a line break".to_owned()));
        }
        Ok(values)
    }

    /// The runtime's request, for its body.
    pub fn inner(&self) -> &web_sys::Request {
        &self.raw
    }
}

/// The query string's pairs, percent-decoded, in order.
pub fn query_pairs(req: &Incoming) -> Result<Vec<(String, String)>, ApiError> {
    Ok(req.url()?.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}

/// Unix seconds, for the gate and key records.
pub fn now_secs(now_ms: u64) -> u64 {
    now_ms / 1000
}

/// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (unix seconds), plus `Retry-After` on a 429.
pub fn rate_limit_headers(rate: &RateVerdict, limited: bool) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-ratelimit-limit", rate.limit.to_string()),
        ("x-ratelimit-remaining", rate.remaining.to_string()),
        ("x-ratelimit-reset", rate.reset_at.to_string()),
    ];
    if limited {
        headers.push(("retry-after", rate.retry_after.max(1).to_string()));
    }
    headers
}

/// Adds the rate-limit headers to a successful answer.
pub fn with_rate(mut response: Response, rate: &RateVerdict) -> Result<Response, ApiError> {
    let headers: &mut Headers = response.headers_mut();
    for (name, value) in rate_limit_headers(rate, false) {
        headers.set(name, &value)?;
    }
    Ok(response)
}

/// Parses a JSON request body; serde's message names the offending field.
/// Integral numbers spelled as floats (`5.0`) read as integers, as the
/// document's JSON Schema says they are.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid_request("this route needs a JSON body"));
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))?;
    partner_edge::contract::check_object_body(&value).map_err(ApiError::invalid_request)?;
    partner_edge::contract::integral_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.into_inner();
        if path == "." {
            ApiError::invalid_request(format!("body: {reason}"))
        } else {
            ApiError::invalid_request(format!("{path}: {reason}"))
        }
    })
}

/// A webhook POST as deliveries and simulations send it: these headers and
/// body, and a redirect answered, never followed.
pub fn webhook_post(url: &str, headers: &[(String, String)], body: &str) -> worker::Result<worker::Request> {
    let outgoing = worker::Headers::new();
    for (name, value) in headers {
        outgoing.set(name, value)?;
    }
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(outgoing)
        .with_body(Some(body.into()))
        .with_redirect(worker::RequestRedirect::Manual);
    worker::Request::new_with_init(url, &init)
}

/// Why an outbound request got no answer.
#[derive(Debug)]
pub enum FetchFailure {
    TimedOut(std::time::Duration),
    Failed(String),
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchFailure::TimedOut(limit) => write!(f, "no answer within {} s", limit.as_secs()),
            FetchFailure::Failed(reason) => f.write_str(reason),
        }
    }
}

/// An outbound answer: status, headers and at most the body limit's worth of bytes.
pub struct Fetched {
    pub status: u16,
    pub headers: worker::Headers,
    pub body: Vec<u8>,
    /// The answer had more than the limit; the rest was cancelled unread.
    pub truncated: bool,
}

/// Reads at most `limit` bytes of a body stream, then cancels the rest, so a
/// peer that streams without end costs `limit` bytes of memory and no more.
/// `None` when the body is not a stream (empty, or already buffered).
pub async fn read_prefix(stream: worker::Result<worker::ByteStream>, limit: usize) -> worker::Result<(Vec<u8>, bool)> {
    use futures_util::StreamExt;
    let Ok(mut stream) = stream else {
        return Ok((Vec::new(), false));
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            // Dropping the stream cancels it: nothing more is read.
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Sends `request` without following redirects and reads at most
/// `body_limit` bytes of the answer, giving up (and aborting the request)
/// after `timeout`, which covers the body too. A 3xx comes back as it is.
pub async fn fetch_bounded(
    request: worker::Request,
    timeout: std::time::Duration,
    body_limit: usize,
) -> Result<Fetched, FetchFailure> {
    use futures_util::future::{select, Either};
    let controller = worker::AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut answer = worker::Fetch::Request(request).send_with_signal(&signal).await?;
        let (body, truncated) = read_prefix(answer.stream(), body_limit).await?;
        Ok::<_, worker::Error>(Fetched {
            status: answer.status_code(),
            headers: answer.headers().clone(),
            body,
            truncated,
        })
    };
    let deadline = worker::Delay::from(timeout);
    futures_util::pin_mut!(exchange);
    let result = match select(exchange, deadline).await {
        Either::Left((result, _)) => result.map_err(|e| FetchFailure::Failed(e.to_string())),
        Either::Right(_) => Err(FetchFailure::TimedOut(timeout)),
    };
    // Whatever is still open (a truncated body, a hung peer) is closed now.
    controller.abort();
    result
}
