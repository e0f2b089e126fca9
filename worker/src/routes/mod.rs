//! One module per route family. Handlers share one signature:
//! `(Request, Edge) -> Result<Response, ApiError>` (plus the `RouteId` where
//! one handler serves a family of routes through one Durable Object).

pub mod admin;
pub mod docs;
pub mod partner;
pub mod public;
pub mod simulate;
pub mod status;
pub mod webhooks;
