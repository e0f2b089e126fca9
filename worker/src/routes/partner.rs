//! Routes for signed partner requests. The router has run the gate; each
//! handler gets the verified key in `edge.partner`.

use partner_edge::gate::PartnerIdentity;
use worker::{Request, Response};

use crate::error::ApiError;
use crate::http::success;
use crate::router::Edge;

pub async fn me(_req: Request, edge: Edge<'_>) -> Result<Response, ApiError> {
    let partner = edge.partner.as_ref().ok_or_else(|| ApiError::internal("partner route reached without the gate"))?;
    success(200, PartnerIdentity::of(&partner.key, partner.rate))
}
