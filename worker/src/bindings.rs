//! Names of the bindings declared in `wrangler.toml`. Kept in one place so a
//! rename there is a one-line change here.

/// Read-mostly state: the health probe record today; partner key metadata later.
pub const KV: &str = "EDGE_KV";

/// The status Durable Object namespace; see [`crate::status_monitor`].
pub const STATUS_MONITOR: &str = "STATUS_MONITOR";

/// Per-key partner gate objects; see [`crate::partner_gate`].
pub const PARTNER_GATE: &str = "PARTNER_GATE";

/// Per-partner sandbox resources; see [`crate::partner_sandbox`].
pub const PARTNER_SANDBOX: &str = "PARTNER_SANDBOX";

/// Per-client-IP windows for the public API; see [`crate::client_rate_limit`].
pub const CLIENT_RATE_LIMIT: &str = "CLIENT_RATE_LIMIT";

/// Per-partner webhook subscriptions, queues and logs; see [`crate::webhook_hub`].
pub const WEBHOOK_HUB: &str = "WEBHOOK_HUB";

/// The global counter of calls to deprecated routes and their replacements; see [`crate::route_usage`].
pub const ROUTE_USAGE: &str = "ROUTE_USAGE";

/// Where each webhook event is stored, by event id; see [`crate::event_index`].
pub const EVENT_INDEX: &str = "EVENT_INDEX";

/// The global public view of sandbox activity; see [`crate::public_activity`].
pub const PUBLIC_ACTIVITY: &str = "PUBLIC_ACTIVITY";
