//! The public API's rate limit: `RATE_LIMIT_PUBLIC_API_PER_MIN` requests a
//! minute per client IP (90 by default) on the public routes the table marks
//! rate-limited (`/api/public/*`), counted exactly by one `ClientRateLimit`
//! Durable Object per IP.
//!
//! The client IP is `CF-Connecting-IP`, which Cloudflare sets on every
//! request and which a client cannot override there. Locally, `wrangler dev`
//! sets it too; a request without it shares one `unknown` bucket.

use partner_edge::gate::{GateConfig, GateError, RateVerdict};
use worker::{Env, Request};

use crate::bindings;
use crate::client_rate_limit::{TakeAnswer, TakeRequest};
use crate::durable::call;
use crate::error::ApiError;

/// Takes one request from the client's window, or refuses with 429.
pub async fn take(req: &Request, env: &Env, config: &GateConfig, now: u64) -> Result<RateVerdict, ApiError> {
    let ip = req.headers().get("cf-connecting-ip")?.filter(|ip| !ip.is_empty()).unwrap_or_else(|| "unknown".into());
    let stub = env.durable_object(bindings::CLIENT_RATE_LIMIT)?.get_by_name(&format!("public:{ip}"))?;
    let answer: TakeAnswer = call(&stub, "/take", &TakeRequest { now, limit: config.public_per_minute }).await?;
    if answer.allowed {
        Ok(answer.rate)
    } else {
        Err(GateError::RateLimited(answer.rate).into())
    }
}
