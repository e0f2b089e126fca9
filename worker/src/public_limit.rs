//! The public API's rate limit: `RATE_LIMIT_PUBLIC_API_PER_MIN` requests a
//! minute per client IP (90 by default) on the public routes the table marks
//! rate-limited (`/api/public/*`), counted exactly by one `ClientRateLimit`
//! Durable Object per IP.
//!
//! The client IP is `CF-Connecting-IP`, which Cloudflare sets on every
//! request and which a client cannot override there. Locally, `wrangler dev`
//! sets it too; a request without it shares one `unknown` bucket.

use partner_edge::gate::{GateConfig, GateError, PeekAtWindow, RateVerdict, TakeFromWindow, WindowRequest};
use worker::{Env, Stub};

use crate::bindings;
use crate::durable::send;
use crate::error::ApiError;
use crate::http::Incoming;

/// The client's window object for one purpose (`public`, `admin-auth-failures`).
pub fn client_window(req: &Incoming, env: &Env, purpose: &str) -> Result<Stub, ApiError> {
    let ip = req.headers().get("cf-connecting-ip")?.filter(|ip| !ip.is_empty()).unwrap_or_else(|| "unknown".into());
    Ok(bindings::stub(env, bindings::CLIENT_RATE_LIMIT, &format!("{purpose}:{ip}"))?)
}

/// Takes one request from the client's public-API window, or refuses with 429.
pub async fn take(req: &Incoming, env: &Env, config: &GateConfig, now: u64) -> Result<RateVerdict, ApiError> {
    take_from(client_window(req, env, "public")?, now, config.public_per_minute, config.rate_window_secs).await
}

/// Takes one from a window, or refuses with 429.
pub async fn take_from(window: Stub, now: u64, limit: u32, window_secs: u64) -> Result<RateVerdict, ApiError> {
    let answer = send(window, TakeFromWindow(WindowRequest { now, limit, window_secs })).await?;
    if answer.allowed {
        Ok(answer.rate)
    } else {
        Err(GateError::RateLimited(answer.rate).into())
    }
}

/// Refuses with 429 if the window is already spent, without taking from it.
pub async fn refuse_if_spent(window: Stub, now: u64, limit: u32, window_secs: u64) -> Result<(), ApiError> {
    let answer = send(window, PeekAtWindow(WindowRequest { now, limit, window_secs })).await?;
    if answer.allowed {
        Ok(())
    } else {
        Err(GateError::RateLimited(answer.rate).into())
    }
}
