//! Partner Edge's domain logic and payload types.
//!
//! This crate knows no runtime: it never reads the clock, draws random
//! numbers or calls into JavaScript. Callers pass `now`, secrets and ids in,
//! so everything here runs natively under `cargo test`, deterministically.
//! The worker and the portal both depend on it; payload types live here so
//! neither redeclares what the other reads.

pub mod api;
#[cfg(feature = "openapi")]
pub mod changelog;
pub mod contract;
pub mod error;
pub mod gate;
pub mod health;
pub mod incidents;
pub mod latency;
pub mod lifecycle;
pub mod object;
pub mod origin;
pub mod partner;
pub mod public;
pub mod routes;
pub mod sandbox;
pub mod signing;
pub mod status;
pub mod time;
pub mod trust;
pub mod webhooks;

#[cfg(feature = "openapi")]
pub mod openapi;
