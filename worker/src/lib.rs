//! The Partner Edge worker: a thin adapter between HTTP, KV and Durable
//! Objects on one side and the runtime-free `partner_edge` crate on the other.
//!
//! Every request gets a fresh request id, goes through [`router::dispatch`],
//! and leaves with `X-Request-Id` set. Failures become the error taxonomy's
//! JSON in exactly one place, [`error::ApiError::into_response`].

use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{event, web_sys, worker_sys, Context, Env, Response, ScheduleContext, ScheduledEvent};

mod bindings;
mod client_rate_limit;
mod config;
mod durable;
mod error;
mod event_index;
mod gate;
mod http;
mod keys;
mod latency;
mod partner_gate;
mod partner_sandbox;
mod public_activity;
mod public_limit;
mod route_usage;
mod router;
mod routes;
mod status_monitor;
mod webhook_hub;

pub use client_rate_limit::ClientRateLimit;
pub use event_index::EventIndex;
pub use partner_gate::PartnerGate;
pub use partner_sandbox::PartnerSandbox;
pub use public_activity::PublicActivity;
pub use route_usage::RouteUsage;
pub use status_monitor::StatusMonitor;
pub use webhook_hub::WebhookHub;

/// The fetch entry point, in place of `#[event(fetch)]`: the answer is
/// polled once right here ([`http::now_or_later`]), and one that needs no
/// I/O (the catalogues, the OpenAPI document, most refusals) goes back as a
/// `Response` at once. Every failure is already an answer, so it never throws.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker_sys::Context) -> Result<JsValue, JsValue> {
    http::now_or_later(async move { Ok::<_, JsValue>(http::into_runtime(answer(req, env, Context::new(ctx)).await)) })
}

async fn answer(req: web_sys::Request, env: Env, ctx: Context) -> Response {
    let request_id = http::fresh_request_id();
    let started_ms = http::now_ms();
    let mut family = partner_edge::latency::UNMATCHED_FAMILY;
    let response = match router::dispatch(http::Incoming::new(req), &env, &ctx, &request_id, &mut family).await {
        Ok(response) => response,
        Err(error) => {
            error.log_once(&request_id);
            error.into_response(&request_id)
        }
    };
    latency::record(&env, &ctx, family, response.status_code(), started_ms);
    http::with_request_id(response, &request_id)
}

/// The cron trigger (`wrangler.toml`): re-arms the status monitor if its alarm ever stopped.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    routes::status::arm(&env, true).await;
}
