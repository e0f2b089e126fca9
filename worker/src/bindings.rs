//! Names of the bindings declared in `wrangler.toml`. Kept in one place so a
//! rename there is a one-line change here.

/// Read-mostly state: the health probe record today; partner key metadata later.
pub const KV: &str = "EDGE_KV";

/// The status Durable Object namespace; see [`crate::status_monitor`].
pub const STATUS_MONITOR: &str = "STATUS_MONITOR";

/// The earlier layout's per-key gate objects, kept only to hand their
/// state to the key's object; see [`crate::partner_gate::PartnerGate`].
pub const PARTNER_GATE: &str = "PARTNER_GATE";

/// The key's objects: each key's gate state and sandbox resources; see
/// [`crate::partner_sandbox`].
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

thread_local! {
    /// Durable Object namespaces, looked up once per isolate: a binding is
    /// the same object for every request, and workers-rs's lookup checks its
    /// constructor's name through four runtime calls (about 20 µs).
    static NAMESPACES: std::cell::RefCell<Vec<(&'static str, worker::ObjectNamespace)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The stub of the object called `name` in the namespace bound as `binding`.
pub fn stub(env: &worker::Env, binding: &'static str, name: &str) -> worker::Result<worker::Stub> {
    NAMESPACES.with_borrow_mut(|namespaces| {
        if let Some((_, namespace)) = namespaces.iter().find(|(known, _)| *known == binding) {
            return namespace.get_by_name(name);
        }
        let namespace = env.durable_object(binding)?;
        let stub = namespace.get_by_name(name);
        namespaces.push((binding, namespace));
        stub
    })
}
