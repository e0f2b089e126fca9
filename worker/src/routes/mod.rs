//! One module per route family. Handlers share one signature:
//! `(Request, Edge) -> Result<Response, ApiError>`.

pub mod admin;
pub mod docs;
pub mod partner;
pub mod status;
pub mod webhooks;
