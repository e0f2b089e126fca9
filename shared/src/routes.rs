//! The route table: every path the worker owns, with what OpenAPI needs to
//! describe it. The worker dispatches from this table (an exhaustive `match`
//! on [`RouteId`]), and `/openapi.json` is rendered from it, so the two cannot
//! drift apart.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::partner::Scope;

/// HTTP methods the edge routes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    /// Parses a method token as it arrives on the wire. Unknown tokens give `None`.
    pub fn parse(raw: &str) -> Option<Method> {
        Some(match raw {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// Whether a request with this method may be served by a route declared with `declared`.
    /// HEAD is answered by every GET route, without the body.
    fn is_served_by(self, declared: Method) -> bool {
        self == declared || (self == Method::Head && declared == Method::Get)
    }
}

/// Public routes under this prefix are rate-limited per client IP
/// (`RATE_LIMIT_PUBLIC_API_PER_MIN`); documentation routes are not.
pub const PUBLIC_RATE_LIMITED_PREFIX: &str = "/api/public/";

/// Other public API routes counted in the same per-client window.
pub const PUBLIC_RATE_LIMITED_ROUTES: &[&str] = &["/api/canary/echo", "/api/public-stats", "/api/transactions/latest"];

impl Route {
    /// Whether answers carry `X-RateLimit-*` and the route can answer 429.
    pub fn is_rate_limited(&self) -> bool {
        match self.access {
            Access::Partner(_) => true,
            Access::Public => {
                self.path.starts_with(PUBLIC_RATE_LIMITED_PREFIX) || PUBLIC_RATE_LIMITED_ROUTES.contains(&self.path)
            }
            Access::Admin => false,
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone; no credentials.
    Public,
    /// Operators, with `X-Admin-Key`.
    Admin,
    /// A signed partner request; `Some(scope)` if the route needs one beyond a valid key.
    Partner(Option<Scope>),
}

/// One query-string parameter, for the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryParam {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
}

/// The JSON body a route reads. The OpenAPI generator maps each to its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    CanaryIn,
    PartnerKeyIn,
    PartnerKeyPatch,
    UserIn,
    UserPatch,
    WalletIn,
    SalutesIn,
    DonationClaimIn,
    SubscriptionIn,
    SubscriptionPatch,
    SimulateIn,
    InboxIn,
    PublishEvent,
    RedriveIn,
    IncidentIn,
    IncidentUpdateIn,
}

/// The body a route answers with on success. The OpenAPI generator maps each
/// kind to its schema and media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `Success<HealthReport>`.
    Health,
    /// `Success<Calendar>`.
    DeprecationCalendar,
    /// `TrustManifest`, top level.
    TrustManifest,
    /// `Success<SystemStatus>`.
    SystemStatus,
    /// `Success<Vec<TrendPoint>>`.
    StatusTrend,
    /// `Success<Uptime>`.
    StatusUptime,
    /// `StatuspageSummary`, top level.
    StatuspageSummary,
    /// `Success<IncidentList>`.
    StatusIncidents,
    /// `Success<Incident>`.
    Incident,
    /// `Success<LatencyReport>`.
    LatencyPercentiles,
    /// `Success<Changelog>`.
    OpenApiChangelog,
    /// `Success<KeyCheck>`.
    KeyCheck,
    /// `Success<CanaryEcho>`.
    CanaryEcho,
    /// `Success<PublicStats>`.
    PublicStats,
    /// `Success<Vec<PublicTransaction>>`.
    LatestTransactions,
    /// `Success<Vec<PartnerUsage>>`.
    PartnerDeprecations,
    /// `Success<Vec<MigrationStatus>>`.
    MigrationStatus,
    /// `Success<Vec<SimulatedHeaders>>`.
    SimulatedHeaders,
    /// RSS 2.0.
    Rss,
    /// Markdown.
    Markdown,
    /// `Success<Wallet>`.
    Wallet,
    /// `Success<WalletOwner>`.
    WalletOwner,
    /// The OpenAPI document itself.
    OpenApiDocument,
    /// `Success<Vec<ErrorCatalogueEntry>>`.
    ErrorCatalogue,
    /// `Success<PartnerKeyOut>`.
    PartnerKey,
    /// `Success<Vec<PartnerKeyOut>>`.
    PartnerKeyList,
    /// `Success<PartnerKeyWithSecret>`: the only answers that show a secret.
    PartnerKeyWithSecret,
    /// `Success<PartnerIdentity>`.
    PartnerIdentity,
    /// `Success<Capabilities>`.
    Capabilities,
    /// `Success<SandboxUser>`.
    User,
    /// `Success<LedgerEntry>`.
    LedgerEntry,
    /// `Success<Vec<LedgerEntry>>` with `meta.next_cursor`.
    LedgerPage,
    /// `Success<Balance>`.
    Balance,
    /// `Success<DonationClaim>`.
    DonationClaim,
    /// `Success<Subscription>`.
    Subscription,
    /// `Success<SubscriptionWithSecret>`: shows the webhook secret, once.
    SubscriptionWithSecret,
    /// `Success<Vec<Subscription>>`.
    SubscriptionList,
    /// `Success<Published>`.
    Published,
    /// `Success<Simulation>`.
    Simulation,
    /// `Success<Inbox>`.
    Inbox,
    /// `Success<Vec<Inbox>>`.
    InboxList,
    /// `Success<Vec<Capture>>`.
    CaptureList,
    /// `Success<Captured>`.
    Captured,
    /// `Success<Vec<DeliveryLogEntry>>` with `meta.next_cursor`.
    DeliveryLog,
    /// `Success<Vec<Attempt>>` with `meta.next_cursor`.
    FailureLog,
    /// `Success<Delivery>`.
    Delivery,
    /// `Resent`, the seed's top-level shape.
    Resent,
    /// `Success<Redrive>`.
    Redrive,
    /// The event catalogue with schemas and examples.
    EventCatalogue,
    /// Prometheus text.
    Metrics,
}

/// One row of the route table.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub id: RouteId,
    pub method: Method,
    /// A path template: literal segments and `{name}` parameters.
    pub path: &'static str,
    pub operation_id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub access: Access,
    pub request: Option<RequestBody>,
    /// Query-string parameters the route reads.
    pub query: &'static [QueryParam],
    pub success_status: u16,
    pub response: Payload,
    /// Errors this route can answer with besides the ones every route shares
    /// (`server_error`) and, on partner routes, the gate's (which the OpenAPI
    /// generator adds from `access` and the method).
    pub errors: &'static [ErrorCode],
}

/// Declares the route ids and the table together, so every id has exactly one row.
macro_rules! route_table {
    ($(
        $(#[$doc:meta])*
        $variant:ident => { $($field:ident: $value:expr),+ $(,)? }
    )+) => {
        /// Identifies a route. The worker matches on it exhaustively, so a route
        /// without a handler does not compile.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum RouteId {
            $($(#[$doc])* $variant,)+
        }

        /// Every route the worker serves, in documentation order.
        pub const ROUTES: &[Route] = &[
            $(Route { id: RouteId::$variant, $($field: $value,)+ },)+
        ];
    };
}

route_table! {
    /// Checks the edge's storage: a KV write and read, and a Durable Object round trip.
    PublicHealth => {
        method: Method::Get,
        path: "/api/public/health",
        operation_id: "getHealth",
        tag: "status",
        summary: "Health of the edge and its storage",
        description: "Writes and reads back a KV key and records a probe in the status \
            Durable Object. Answers 200 when both work, or 503 `dependency_unavailable` \
            naming each failing check. Suitable as an uptime probe.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Health,
        errors: &[ErrorCode::DependencyUnavailable],
    }
    /// This document.
    OpenApiDocument => {
        method: Method::Get,
        path: "/openapi.json",
        operation_id: "getOpenApiDocument",
        tag: "docs",
        summary: "OpenAPI 3.1 description of every route",
        description: "Generated at build time from the same route table the edge \
            dispatches from, so it always matches the running worker.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::OpenApiDocument,
        errors: &[],
    }
    /// The error catalogue.
    SystemStatus => {
        method: Method::Get,
        path: "/api/public/system-status",
        operation_id: "getSystemStatus",
        tag: "status",
        summary: "The edge's status now, per component",
        description: "The overall indicator and each check's state in Statuspage's vocabulary \
            (operational, degraded_performance, partial_outage, major_outage), from the monitor's latest probe; \
            a monitor that has not probed on time is itself a degraded component.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::SystemStatus,
        errors: &[ErrorCode::DependencyUnavailable],
    }
    StatusJson => {
        method: Method::Get,
        path: "/status.json",
        operation_id: "getStatusJson",
        tag: "status",
        summary: "The same answer as /api/public/system-status",
        description: "An alias for status pages and uptime checkers that look at the site root.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::SystemStatus,
        errors: &[ErrorCode::DependencyUnavailable],
    }
    StatusTrend => {
        method: Method::Get,
        path: "/api/public/system-status/trend",
        operation_id: "getStatusTrend",
        tag: "status",
        summary: "The latest per-minute samples, oldest first",
        description: "One point per probe (per minute by default) for the last 24 hours at most.",
        access: Access::Public,
        request: None,
        query: &[QueryParam { name: "limit", required: false, description: "1 to 1440; 288 when absent." }],
        success_status: 200,
        response: Payload::StatusTrend,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::DependencyUnavailable],
    }
    StatusUptime => {
        method: Method::Get,
        path: "/api/public/system-status/uptime",
        operation_id: "getStatusUptime",
        tag: "status",
        summary: "Availability and per-check degraded rates over a window",
        description: "From per-minute samples up to 24 h, hourly aggregates up to 30 days and daily ones up to a year. \
            `days` splits the window per UTC day with samples, oldest first: `hours=2160` gives a status page's 90 daily bars.",
        access: Access::Public,
        request: None,
        query: &[QueryParam { name: "hours", required: false, description: "1 to 8760; 24 when absent." }],
        success_status: 200,
        response: Payload::StatusUptime,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::DependencyUnavailable],
    }
    /// Incident windows, derived and posted.
    StatusIncidents => {
        method: Method::Get,
        path: "/api/public/system-status/incidents",
        operation_id: "listStatusIncidents",
        tag: "status",
        summary: "Incidents open at any time in a window, newest first",
        description: "Windows in which the status monitor saw a check degraded (first and last seen, duration, \
            affected checks), merged with incidents operators post. Each moves through `degraded`, `investigating`, \
            `monitoring` and `resolved`, with a timestamped update per step. Active incidents are listed whenever they began.",
        access: Access::Public,
        request: None,
        query: &[
            QueryParam { name: "hours", required: false, description: "1 to 8760; 168 (a week) when absent." },
            QueryParam { name: "limit", required: false, description: "1 to 100; 30 when absent." },
        ],
        success_status: 200,
        response: Payload::StatusIncidents,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::DependencyUnavailable],
    }
    /// Latency percentiles from real traffic.
    LatencyPercentiles => {
        method: Method::Get,
        path: "/api/public/latency-percentiles",
        operation_id: "getLatencyPercentiles",
        tag: "status",
        summary: "p50, p95 and p99 of the edge's own traffic, per route family",
        description: "Every request the edge answers is recorded per route family (the route's tag) and status \
            class in a DDSketch with 1 % relative accuracy; windows up to 48 h merge hourly buckets, longer ones daily \
            buckets. `webhooks` gives each delivery's time from the event's publication to the receiver's 2xx, \
            judged against the webhook latency SLO (p50 250 ms, p95 1 s, p99 3 s). Each family's `points` give its \
            figures per bucket, oldest first: its latency over time. Isolates hand their figures over \
            every `LATENCY_FLUSH_SECONDS` (10 s by default), so the newest seconds may not be in yet.",
        access: Access::Public,
        request: None,
        query: &[QueryParam { name: "hours", required: false, description: "1 to 720; 24 when absent." }],
        success_status: 200,
        response: Payload::LatencyPercentiles,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::DependencyUnavailable],
    }
    StatuspageSummary => {
        method: Method::Get,
        path: "/api/v2/summary.json",
        operation_id: "getStatuspageSummary",
        tag: "status",
        summary: "The status in Statuspage API v2's summary.json shape",
        description: "Page, overall indicator (none, minor, major, critical) and one component per check, at the \
            path Statuspage clients already ask for, so existing status tooling reads the edge unchanged.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::StatuspageSummary,
        errors: &[ErrorCode::DependencyUnavailable],
    }
    OpenApiChangelog => {
        method: Method::Get,
        path: "/developers/openapi-changelog.json",
        operation_id: "getOpenApiChangelog",
        tag: "lifecycle",
        summary: "What changed in this document since the last release",
        description: "Added, removed and changed operations, parameters and schemas between the committed \
            baseline and this document, each graded breaking or non-breaking.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::OpenApiChangelog,
        errors: &[],
    }
    OpenApiChangelogMarkdown => {
        method: Method::Get,
        path: "/developers/openapi-changelog.md",
        operation_id: "getOpenApiChangelogMarkdown",
        tag: "lifecycle",
        summary: "The OpenAPI changelog, as Markdown",
        description: "The same changes as /developers/openapi-changelog.json, for people.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Markdown,
        errors: &[],
    }
    TrustManifest => {
        method: Method::Get,
        path: "/trust.json",
        operation_id: "getTrustManifest",
        tag: "transparency",
        summary: "The controls this edge runs with, and where to see each",
        description: "Generated from the edge's live configuration and code: signing, replay and idempotency \
            windows, rate limits, encryption at rest, SSRF policy, webhook signing and retries, retention and \
            sunsets, each with an evidence pointer. Carries an ETag; send If-None-Match to get 304.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::TrustManifest,
        errors: &[],
    }
    VerifyQuickstartKey => {
        method: Method::Get,
        path: "/api/public/quickstart/verify-key",
        operation_id: "verifyQuickstartKey",
        tag: "quickstart",
        summary: "Check a key id before the first signed call",
        description: "A deterministic check for bootstrap scripts: whether a sandbox key id is ready to sign \
            with, unusable, unknown, a live key (not checked here) or not a key id at all. Answers never \
            contain a secret; a pasted secret is not echoed. `sandbox_demo_key` names the local demo key.",
        access: Access::Public,
        request: None,
        query: &[
            QueryParam { name: "api_key", required: true, description: "A key id, or `sandbox_demo_key`." },
            QueryParam { name: "client", required: false, description: "Who is asking (`cli` when absent)." },
        ],
        success_status: 200,
        response: Payload::KeyCheck,
        errors: &[ErrorCode::InvalidRequest],
    }
    CanaryEcho => {
        method: Method::Post,
        path: "/api/canary/echo",
        operation_id: "canaryEcho",
        tag: "quickstart",
        summary: "Echo a message through strict validation",
        description: "For early adopters testing strict validation: unknown fields are refused with the field \
            named, types are checked, and the answer echoes the message, your request_id and the edge's.",
        access: Access::Public,
        request: Some(RequestBody::CanaryIn),
        query: &[],
        success_status: 200,
        response: Payload::CanaryEcho,
        errors: &[ErrorCode::InvalidRequest],
    }
    PublicStats => {
        method: Method::Get,
        path: "/api/public-stats",
        operation_id: "getPublicStats",
        tag: "transparency",
        summary: "Aggregate figures of the edge and its sandbox",
        description: "Partner keys issued and the sandbox ledger's totals across partners.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PublicStats,
        errors: &[],
    }
    LatestTransactions => {
        method: Method::Get,
        path: "/api/transactions/latest",
        operation_id: "getLatestTransactions",
        tag: "transparency",
        summary: "The latest sandbox ledger entries, anonymised",
        description: "Newest first, with no partner or user identity: kind, amount, reason and time only.",
        access: Access::Public,
        request: None,
        query: &[QueryParam { name: "limit", required: false, description: "1 to 100; 20 when absent." }],
        success_status: 200,
        response: Payload::LatestTransactions,
        errors: &[ErrorCode::InvalidRequest],
    }
    PartnerDeprecations => {
        method: Method::Get,
        path: "/api/partner/deprecations",
        operation_id: "listPartnerDeprecations",
        tag: "lifecycle",
        summary: "The deprecated routes your key called in the last 30 days",
        description: "Each deprecated endpoint this key called over the last 30 days: how often, when last, \
            its replacement and its sunset. An empty list means nothing to migrate.",
        access: Access::Partner(None),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PartnerDeprecations,
        errors: &[],
    }
    MigrationStatus => {
        method: Method::Get,
        path: "/developers/migration-status.json",
        operation_id: "getMigrationStatus",
        tag: "lifecycle",
        summary: "Calls to each deprecated route and its replacement, per day",
        description: "Across all partners, the last 30 days: how much traffic still uses the deprecated \
            endpoint and how much has moved to its replacement.",
        access: Access::Public,
        request: None,
        query: &[QueryParam { name: "id", required: false, description: "Only this deprecation." }],
        success_status: 200,
        response: Payload::MigrationStatus,
        errors: &[ErrorCode::InvalidRequest],
    }
    DeprecationCalendar => {
        method: Method::Get,
        path: "/developers/deprecations.json",
        operation_id: "getDeprecationCalendar",
        tag: "lifecycle",
        summary: "Every deprecated endpoint, its sunset and its replacement",
        description: "Generated from the edge's one lifecycle declaration: dates, phase, the T-30/14/7/1 \
            notices and the migration steps of each deprecated endpoint.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::DeprecationCalendar,
        errors: &[],
    }
    DeprecationFeed => {
        method: Method::Get,
        path: "/developers/deprecations.rss",
        operation_id: "getDeprecationFeed",
        tag: "lifecycle",
        summary: "Deprecations and their notices as an RSS 2.0 feed",
        description: "One item per deprecation and per notice whose date has come, for feed readers.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Rss,
        errors: &[],
    }
    DeprecationPlaybookMarkdown => {
        method: Method::Get,
        path: "/developers/deprecations-playbook.md",
        operation_id: "getDeprecationPlaybookMarkdown",
        tag: "lifecycle",
        summary: "The migration playbook, as Markdown",
        description: "One section per deprecated endpoint (anchored by its id) with its notices and checklist.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Markdown,
        errors: &[],
    }
    DeprecationPlaybookJson => {
        method: Method::Get,
        path: "/developers/deprecations-playbook.json",
        operation_id: "getDeprecationPlaybook",
        tag: "lifecycle",
        summary: "The migration playbook, as JSON",
        description: "Per endpoint: the notices with their dates and whether each has gone out, and the checklist.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::DeprecationCalendar,
        errors: &[],
    }
    DeprecationHeaderSimulator => {
        method: Method::Get,
        path: "/api/public/deprecations/header-simulator",
        operation_id: "simulateDeprecationHeaders",
        tag: "lifecycle",
        summary: "The headers and status a deprecated endpoint answers with at any date",
        description: "Filter by `id` and/or `endpoint`; `at` is the moment to simulate, in unix seconds \
            (now when absent). An id and an endpoint that name different deprecations give an empty list.",
        access: Access::Public,
        request: None,
        query: &[
            QueryParam { name: "id", required: false, description: "A deprecation id from the calendar." },
            QueryParam { name: "endpoint", required: false, description: "`METHOD /path` of a deprecated endpoint." },
            QueryParam { name: "at", required: false, description: "Unix seconds; now when absent." },
        ],
        success_status: 200,
        response: Payload::SimulatedHeaders,
        errors: &[ErrorCode::InvalidRequest],
    }
    ErrorCatalogue => {
        method: Method::Get,
        path: "/developers/api-errors.json",
        operation_id: "getErrorCatalogue",
        tag: "docs",
        summary: "Every error code with its status, retry class and remedy",
        description: "Generated from the same enum the edge maps its errors with. Branch on \
            `error`; `retry_class` says whether retrying can help.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::ErrorCatalogue,
        errors: &[],
    }
    /// Mints a partner key and shows its secret, once.
    CreatePartnerKey => {
        method: Method::Post,
        path: "/api/admin/partner-keys",
        operation_id: "createPartnerKey",
        tag: "admin",
        summary: "Create a partner key",
        description: "Returns the key with its signing secret. The secret (256 random bits) is \
            shown only in this answer and in rotate-secret's; it is stored sealed with AES-256-GCM.",
        access: Access::Admin,
        request: Some(RequestBody::PartnerKeyIn),
        query: &[],
        success_status: 201,
        response: Payload::PartnerKeyWithSecret,
        errors: &[ErrorCode::Unauthorized, ErrorCode::InvalidRequest, ErrorCode::PayloadTooLarge, ErrorCode::Conflict],
    }
    /// Lists keys, never with secrets.
    ListPartnerKeys => {
        method: Method::Get,
        path: "/api/admin/partner-keys",
        operation_id: "listPartnerKeys",
        tag: "admin",
        summary: "List partner keys",
        description: "Every key with its scopes and status. Secrets are never listed.",
        access: Access::Admin,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PartnerKeyList,
        errors: &[ErrorCode::Unauthorized],
    }
    /// One key, without its secret.
    GetPartnerKey => {
        method: Method::Get,
        path: "/api/admin/partner-keys/{key_id}",
        operation_id: "getPartnerKey",
        tag: "admin",
        summary: "Get a partner key",
        description: "The key's scopes, status, expiry and rate limit. Never its secret.",
        access: Access::Admin,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PartnerKey,
        errors: &[ErrorCode::Unauthorized, ErrorCode::NotFound],
    }
    /// Changes scopes, name, expiry, rate limit, or disables the key.
    PatchPartnerKey => {
        method: Method::Patch,
        path: "/api/admin/partner-keys/{key_id}",
        operation_id: "patchPartnerKey",
        tag: "admin",
        summary: "Update a partner key",
        description: "Absent fields stay as they are. `disabled: true` refuses the key's \
            requests with 401 `unauthorized` from then on.",
        access: Access::Admin,
        request: Some(RequestBody::PartnerKeyPatch),
        query: &[],
        success_status: 200,
        response: Payload::PartnerKey,
        errors: &[ErrorCode::Unauthorized, ErrorCode::NotFound, ErrorCode::InvalidRequest, ErrorCode::PayloadTooLarge, ErrorCode::Conflict],
    }
    /// Deletes a key for good.
    DeletePartnerKey => {
        method: Method::Delete,
        path: "/api/admin/partner-keys/{key_id}",
        operation_id: "deletePartnerKey",
        tag: "admin",
        summary: "Delete a partner key",
        description: "The key stops working at once. Answers with the deleted key.",
        access: Access::Admin,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PartnerKey,
        errors: &[ErrorCode::Unauthorized, ErrorCode::NotFound],
    }
    /// Replaces the secret; the previous one keeps working during the overlap.
    RotatePartnerKeySecret => {
        method: Method::Post,
        path: "/api/admin/partner-keys/{key_id}/rotate-secret",
        operation_id: "rotatePartnerKeySecret",
        tag: "admin",
        summary: "Rotate a partner key's secret",
        description: "Returns the new secret, once. The previous secret keeps verifying until \
            `previous_secret_valid_until` (24 h by default, `PARTNER_KEY_ROTATION_OVERLAP_SECONDS`).",
        access: Access::Admin,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PartnerKeyWithSecret,
        errors: &[ErrorCode::Unauthorized, ErrorCode::NotFound],
    }
    /// The calling key's identity.
    PartnerMe => {
        method: Method::Get,
        path: "/api/partner/me",
        operation_id: "getPartnerIdentity",
        tag: "partner",
        summary: "Who am I: identity, scopes and rate-limit headroom",
        description: "Any valid key may call it. Useful as the first signed call of an integration.",
        access: Access::Partner(None),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::PartnerIdentity,
        errors: &[],
    }
    /// What the calling key may do, scope by scope.
    PartnerCapabilities => {
        method: Method::Get,
        path: "/api/partner/capabilities",
        operation_id: "getPartnerCapabilities",
        tag: "partner",
        summary: "Scopes, granted or not, and the endpoints each opens",
        description: "Read from the same route table the edge dispatches with. `backend` says whether \
            the edge's sandbox or your origin answers the partner resources.",
        access: Access::Partner(None),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Capabilities,
        errors: &[],
    }
    /// Creates a partner user.
    CreatePartnerUser => {
        method: Method::Post,
        path: "/api/partner/users",
        operation_id: "createPartnerUser",
        tag: "users",
        summary: "Create a user",
        description: "The sandbox assigns the next numeric `user_id`; a fresh sandbox already holds \
            demo users 1 to 5. `external_id` is your own id and must be unique.",
        access: Access::Partner(Some(Scope::Users)),
        request: Some(RequestBody::UserIn),
        query: &[],
        success_status: 201,
        response: Payload::User,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::Conflict],
    }
    /// Reads a partner user.
    GetPartnerUser => {
        method: Method::Get,
        path: "/api/partner/users/{user_id}",
        operation_id: "getPartnerUser",
        tag: "users",
        summary: "Get a user with wallets and balance",
        description: "The user's profile, linked wallets and current salute balance.",
        access: Access::Partner(Some(Scope::Read)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::User,
        errors: &[ErrorCode::NotFound],
    }
    /// Updates a partner user.
    PatchPartnerUser => {
        method: Method::Patch,
        path: "/api/partner/users/{user_id}",
        operation_id: "patchPartnerUser",
        tag: "users",
        summary: "Update a user",
        description: "Absent fields stay as they are; `metadata` replaces the whole object.",
        access: Access::Partner(Some(Scope::Users)),
        request: Some(RequestBody::UserPatch),
        query: &[],
        success_status: 200,
        response: Payload::User,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// Links a wallet to a partner user.
    LinkUserWallet => {
        method: Method::Post,
        path: "/api/partner/users/{user_id}/wallets",
        operation_id: "linkUserWallet",
        tag: "users",
        summary: "Link a wallet to a user",
        description: "A wallet address can be linked to one user of a partner only; linking it \
            again answers 409 `conflict`.",
        access: Access::Partner(Some(Scope::Users)),
        request: Some(RequestBody::WalletIn),
        query: &[],
        success_status: 201,
        response: Payload::User,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::Conflict],
    }
    /// Credits salutes to a user.
    CreditSalutes => {
        method: Method::Post,
        path: "/api/salutes/credit",
        operation_id: "creditSalutes",
        tag: "salutes",
        summary: "Credit salutes",
        description: "Adds `amount` to the user's balance and records a ledger entry. Applied \
            exactly once per Idempotency-Key.",
        access: Access::Partner(Some(Scope::Credit)),
        request: Some(RequestBody::SalutesIn),
        query: &[],
        success_status: 201,
        response: Payload::LedgerEntry,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// Debits salutes from a user.
    DebitSalutes => {
        method: Method::Post,
        path: "/api/salutes/debit",
        operation_id: "debitSalutes",
        tag: "salutes",
        summary: "Debit salutes",
        description: "Takes `amount` from the user's balance. A balance never goes below zero: a \
            larger debit answers 409 `insufficient_balance` and changes nothing.",
        access: Access::Partner(Some(Scope::Debit)),
        request: Some(RequestBody::SalutesIn),
        query: &[],
        success_status: 201,
        response: Payload::LedgerEntry,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::InsufficientBalance],
    }
    /// One wallet of a user: the replacement for `wallet-info`.
    GetUserWallet => {
        method: Method::Get,
        path: "/api/partner/users/{user_id}/wallets/{address}",
        operation_id: "getUserWallet",
        tag: "users",
        summary: "Get one of a user's wallets",
        description: "The wallet linked to this user at this address; 404 if the user has no such wallet.",
        access: Access::Partner(Some(Scope::Read)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Wallet,
        errors: &[ErrorCode::NotFound],
    }
    /// The older way to read a user, kept until its sunset.
    LookupPartnerUser => {
        method: Method::Get,
        path: "/api/partner/user-lookup",
        operation_id: "lookupPartnerUser",
        tag: "users",
        summary: "Look a user up (deprecated)",
        description: "Reads a user by `user_id`. Deprecated in favour of `GET /api/partner/users/{user_id}`; \
            see /developers/deprecations.json for its sunset.",
        access: Access::Partner(Some(Scope::Read)),
        request: None,
        query: &[QueryParam { name: "user_id", required: true, description: "The user to read." }],
        success_status: 200,
        response: Payload::User,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::EndpointSunset],
    }
    /// The older way to find a wallet's owner, kept until its sunset.
    WalletInfo => {
        method: Method::Get,
        path: "/api/partner/wallet-info/{address}",
        operation_id: "walletInfo",
        tag: "users",
        summary: "Find a wallet and its owner (deprecated)",
        description: "The wallet at this address and the user it is linked to. Deprecated in favour of \
            `GET /api/partner/users/{user_id}/wallets/{address}`; see /developers/deprecations.json.",
        access: Access::Partner(Some(Scope::Read)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::WalletOwner,
        errors: &[ErrorCode::NotFound, ErrorCode::EndpointSunset],
    }
    /// A user's balance.
    GetBalance => {
        method: Method::Get,
        path: "/api/salutes/balance",
        operation_id: "getSaluteBalance",
        tag: "salutes",
        summary: "A user's salute balance",
        description: "The current balance and how many ledger entries make it up.",
        access: Access::Partner(Some(Scope::Read)),
        request: None,
        query: &[QueryParam { name: "user_id", required: true, description: "The user to read." }],
        success_status: 200,
        response: Payload::Balance,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// The ledger, newest first.
    ListLedger => {
        method: Method::Get,
        path: "/api/salutes/ledger",
        operation_id: "listLedger",
        tag: "salutes",
        summary: "Ledger entries, newest first, with cursor pagination",
        description: "Pass `meta.next_cursor` as `cursor` for the next page; the last page has none.",
        access: Access::Partner(Some(Scope::Ledger)),
        request: None,
        query: &[
            QueryParam { name: "user_id", required: false, description: "Only this user's entries." },
            QueryParam { name: "kind", required: false, description: "`credit` or `debit`." },
            QueryParam { name: "cursor", required: false, description: "`meta.next_cursor` of the previous page." },
            QueryParam { name: "limit", required: false, description: "1 to 200; 50 when absent." },
        ],
        success_status: 200,
        response: Payload::LedgerPage,
        errors: &[ErrorCode::InvalidRequest],
    }
    /// Records a donation claim.
    CreateDonationClaim => {
        method: Method::Post,
        path: "/api/partner/donation-claim",
        operation_id: "createDonationClaim",
        tag: "donations",
        summary: "Claim a donation for a user and campaign",
        description: "Records the claim with status `claimed`. Applied exactly once per Idempotency-Key.",
        access: Access::Partner(Some(Scope::Donation)),
        request: Some(RequestBody::DonationClaimIn),
        query: &[],
        success_status: 201,
        response: Payload::DonationClaim,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// Lists the webhook event catalogue.
    WebhookEventTypes => {
        method: Method::Get,
        path: "/api/public/webhooks/event-types",
        operation_id: "listWebhookEventTypes",
        tag: "webhooks",
        summary: "Every webhook event type, with its data schema and an example",
        description: "The versioned catalogue subscriptions filter on. Each entry has the JSON Schema \
            of the envelope's `data` and a complete example delivery body.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::EventCatalogue,
        errors: &[],
    }
    /// Creates a webhook subscription.
    CreateWebhook => {
        method: Method::Post,
        path: "/api/partner/webhooks",
        operation_id: "createWebhook",
        tag: "webhooks",
        summary: "Subscribe an endpoint to events",
        description: "Returns the subscription with its signing secret (`whsec_…`), shown only here \
            and on rotate-secret. The URL must be public https; it is checked again before every delivery.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: Some(RequestBody::SubscriptionIn),
        query: &[],
        success_status: 201,
        response: Payload::SubscriptionWithSecret,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::UrlNotAllowed, ErrorCode::LimitExceeded],
    }
    /// Lists the partner's subscriptions.
    ListWebhooks => {
        method: Method::Get,
        path: "/api/partner/webhooks",
        operation_id: "listWebhooks",
        tag: "webhooks",
        summary: "List webhook subscriptions",
        description: "Every subscription of the calling key, oldest first. Secrets are never listed.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::SubscriptionList,
        errors: &[],
    }
    /// One subscription.
    GetWebhook => {
        method: Method::Get,
        path: "/api/partner/webhooks/{webhook_id}",
        operation_id: "getWebhook",
        tag: "webhooks",
        summary: "Get a webhook subscription",
        description: "Its filter, state, failure count and secret ids. Never the secret.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Subscription,
        errors: &[ErrorCode::NotFound],
    }
    /// Changes a subscription, or re-enables it.
    PatchWebhook => {
        method: Method::Patch,
        path: "/api/partner/webhooks/{webhook_id}",
        operation_id: "patchWebhook",
        tag: "webhooks",
        summary: "Update a webhook subscription",
        description: "Change the URL, event types or `receive_all`; `active: true` re-enables a \
            subscription the edge disabled and resets its failure count.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: Some(RequestBody::SubscriptionPatch),
        query: &[],
        success_status: 200,
        response: Payload::Subscription,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::UrlNotAllowed, ErrorCode::Conflict],
    }
    /// Deletes a subscription.
    DeleteWebhook => {
        method: Method::Delete,
        path: "/api/partner/webhooks/{webhook_id}",
        operation_id: "deleteWebhook",
        tag: "webhooks",
        summary: "Delete a webhook subscription",
        description: "Stops deliveries at once and drops its queue and log. Answers with the deleted subscription.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Subscription,
        errors: &[ErrorCode::NotFound],
    }
    /// Sends a test ping through the real pipeline.
    TestWebhook => {
        method: Method::Post,
        path: "/api/partner/webhooks/{webhook_id}/test",
        operation_id: "testWebhook",
        tag: "webhooks",
        summary: "Send a test event",
        description: "Queues a `webhook.test` event for this subscription only, signed and retried like \
            any other. Answers with its event id; follow it in the delivery log.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 202,
        response: Payload::Published,
        errors: &[ErrorCode::NotFound],
    }
    /// Rotates a subscription's signing secret.
    RotateWebhookSecret => {
        method: Method::Post,
        path: "/api/partner/webhooks/{webhook_id}/rotate-secret",
        operation_id: "rotateWebhookSecret",
        tag: "webhooks",
        summary: "Rotate the signing secret",
        description: "Returns the new secret, once. The previous one keeps signing alongside it until \
            `previous_secret_valid_until` (24 h by default), so receivers can switch without losing a delivery.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::SubscriptionWithSecret,
        errors: &[ErrorCode::NotFound, ErrorCode::LimitExceeded],
    }
    /// The delivery log.
    ListWebhookDeliveries => {
        method: Method::Get,
        path: "/api/partner/webhooks/{webhook_id}/deliveries",
        operation_id: "listWebhookDeliveries",
        tag: "webhooks",
        summary: "Deliveries with every attempt, newest first",
        description: "Each attempt records its status, latency, a response excerpt, the secret ids \
            that signed it and any error. Cursor-paginated.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[
            QueryParam { name: "status", required: false, description: "queued, processing, succeeded, retrying or failed_dead_letter." },
            QueryParam { name: "event_type", required: false, description: "An event type from the catalogue." },
            QueryParam { name: "cursor", required: false, description: "`meta.next_cursor` of the previous page." },
            QueryParam { name: "limit", required: false, description: "1 to 200; 50 when absent." },
        ],
        success_status: 200,
        response: Payload::DeliveryLog,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// Failed attempts.
    ListWebhookFailures => {
        method: Method::Get,
        path: "/api/partner/webhooks/{webhook_id}/failures",
        operation_id: "listWebhookFailures",
        tag: "webhooks",
        summary: "Failed attempts, newest first",
        description: "The failure audit: every attempt that did not get a 2xx, cursor-paginated.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[
            QueryParam { name: "event_type", required: false, description: "An event type from the catalogue." },
            QueryParam { name: "cursor", required: false, description: "`meta.next_cursor` of the previous page." },
            QueryParam { name: "limit", required: false, description: "1 to 200; 50 when absent." },
        ],
        success_status: 200,
        response: Payload::FailureLog,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// Retries one delivery now.
    RetryWebhookDelivery => {
        method: Method::Post,
        path: "/api/partner/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        operation_id: "retryWebhookDelivery",
        tag: "webhooks",
        summary: "Retry one delivery now",
        description: "Queues the delivery for an immediate attempt, whatever its state, with a fresh \
            attempt budget. Receivers deduplicate on the event id.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 202,
        response: Payload::Delivery,
        errors: &[ErrorCode::NotFound],
    }
    /// Sends a signed scenario or a drill suite to a receiver, and grades it.
    SimulateWebhook => {
        method: Method::Post,
        path: "/api/partner/webhooks/simulate",
        operation_id: "simulateWebhook",
        tag: "webhooks",
        summary: "Send a signed scenario or drill suite to a receiver",
        description: "Sends, synchronously, to one of your subscriptions or to a URL, under the same signing, URL \
            rules, 10 s timeout and no-redirect policy as real deliveries. Answers with every request exactly as sent \
            and what came back. With `drills`, each receiver pattern is put to the test and graded in `report`. \
            Simulated events have `evt_sim_` ids and are never stored or counted.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: Some(RequestBody::SimulateIn),
        query: &[],
        success_status: 200,
        response: Payload::Simulation,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::UrlNotAllowed],
    }
    /// Creates a webhook inbox.
    CreateInbox => {
        method: Method::Post,
        path: "/api/partner/webhooks/inboxes",
        operation_id: "createWebhookInbox",
        tag: "webhooks",
        summary: "Create a webhook inbox",
        description: "A capture endpoint on this edge, at `capture_path`, that keeps the last 100 requests it \
            receives (7 days at most), each verified under both signature schemes against `subscription_id`'s \
            live secrets when one is named. Point a subscription or the simulator at it to watch deliveries \
            without a public URL; deliveries from this edge to its own inbox need no network hop. 10 per key.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: Some(RequestBody::InboxIn),
        query: &[],
        success_status: 201,
        response: Payload::Inbox,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::LimitExceeded],
    }
    /// Lists the partner's inboxes.
    ListInboxes => {
        method: Method::Get,
        path: "/api/partner/webhooks/inboxes",
        operation_id: "listWebhookInboxes",
        tag: "webhooks",
        summary: "List webhook inboxes",
        description: "Every inbox of the calling key, oldest first.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::InboxList,
        errors: &[],
    }
    /// Deletes an inbox.
    DeleteInbox => {
        method: Method::Delete,
        path: "/api/partner/webhooks/inboxes/{inbox_id}",
        operation_id: "deleteWebhookInbox",
        tag: "webhooks",
        summary: "Delete a webhook inbox",
        description: "Drops the inbox and its captures; its capture path answers 404 from then on.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Inbox,
        errors: &[ErrorCode::NotFound],
    }
    /// What an inbox received.
    ListInboxCaptures => {
        method: Method::Get,
        path: "/api/partner/webhooks/inboxes/{inbox_id}/captures",
        operation_id: "listWebhookInboxCaptures",
        tag: "webhooks",
        summary: "An inbox's captured requests, newest first",
        description: "Headers, body and, when the inbox names a subscription, the verdict of each signature scheme \
            with the secret id that verified it.",
        access: Access::Partner(Some(Scope::Webhooks)),
        request: None,
        query: &[QueryParam { name: "limit", required: false, description: "1 to 200; 50 when absent." }],
        success_status: 200,
        response: Payload::CaptureList,
        errors: &[ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// Captures a webhook request into an inbox.
    CaptureWebhook => {
        method: Method::Post,
        path: "/api/public/webhook-inbox/{inbox_id}",
        operation_id: "captureWebhook",
        tag: "webhooks",
        summary: "Send a webhook to an inbox",
        description: "Accepts any POST (any body within the size limit) to an inbox that exists and keeps it. \
            Rate-limited per client address like every public route.",
        access: Access::Public,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Captured,
        errors: &[ErrorCode::NotFound, ErrorCode::PayloadTooLarge],
    }
    /// An origin publishes an event.
    PublishEvent => {
        method: Method::Post,
        path: "/api/admin/events",
        operation_id: "publishEvent",
        tag: "admin",
        summary: "Publish an event to a partner's subscriptions",
        description: "For origins behind the edge. The event is stored before this answers, then \
            delivered to every matching active subscription of `key_id`. Pass your own `event_id` to publish idempotently.",
        access: Access::Admin,
        request: Some(RequestBody::PublishEvent),
        query: &[],
        success_status: 202,
        response: Payload::Published,
        errors: &[ErrorCode::Unauthorized, ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::PayloadTooLarge],
    }
    /// Re-drives one event.
    ResendWebhookEvent => {
        method: Method::Post,
        path: "/api/admin/webhook-events/{event_id}/replay",
        operation_id: "replayWebhookEvent",
        tag: "admin",
        summary: "Re-drive an event's deliveries",
        description: "Requeues every delivery of the event that has not succeeded. If all had, \
            nothing is sent again and `requeued` is false.",
        access: Access::Admin,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Resent,
        errors: &[ErrorCode::Unauthorized, ErrorCode::NotFound],
    }
    /// Re-drives dead letters in batches.
    RedriveDeadLetters => {
        method: Method::Post,
        path: "/api/admin/webhook-dead-letters/redrive",
        operation_id: "redriveDeadLetters",
        tag: "admin",
        summary: "Re-drive a partner's dead letters in batches",
        description: "Requeues `batch_size` dead letters now and the rest in further batches \
            `cooldown_seconds` apart (defaults 100 and 60, the DLQ-drain runbook's).",
        access: Access::Admin,
        request: Some(RequestBody::RedriveIn),
        query: &[],
        success_status: 202,
        response: Payload::Redrive,
        errors: &[ErrorCode::Unauthorized, ErrorCode::InvalidRequest, ErrorCode::NotFound],
    }
    /// An operator opens an incident.
    OpenIncident => {
        method: Method::Post,
        path: "/api/admin/incidents",
        operation_id: "openIncident",
        tag: "admin",
        summary: "Open an incident on the public status",
        description: "The incident is listed by the incidents route and in `summary.json` until an update resolves it.",
        access: Access::Admin,
        request: Some(RequestBody::IncidentIn),
        query: &[],
        success_status: 201,
        response: Payload::Incident,
        errors: &[ErrorCode::Unauthorized, ErrorCode::InvalidRequest],
    }
    /// An operator moves an incident on.
    UpdateIncident => {
        method: Method::Post,
        path: "/api/admin/incidents/{incident_id}/updates",
        operation_id: "updateIncident",
        tag: "admin",
        summary: "Post an update to an open incident",
        description: "Any phase may follow an open one. An update to an incident the monitor opened takes it over: \
            the monitor then moves it to `monitoring` when the checks recover, and an operator resolves it. \
            A resolved incident takes no more updates (409 `conflict`).",
        access: Access::Admin,
        request: Some(RequestBody::IncidentUpdateIn),
        query: &[],
        success_status: 200,
        response: Payload::Incident,
        errors: &[ErrorCode::Unauthorized, ErrorCode::InvalidRequest, ErrorCode::NotFound, ErrorCode::Conflict],
    }
    /// Prometheus metrics.
    Metrics => {
        method: Method::Get,
        path: "/metrics",
        operation_id: "getMetrics",
        tag: "admin",
        summary: "Delivery metrics in the Prometheus text format",
        description: "webhook_events_total by state, the delivery latency histogram, queue depth and \
            oldest-message age, and the 5-minute success and retry rates and 24-hour dead-letter count.",
        access: Access::Admin,
        request: None,
        query: &[],
        success_status: 200,
        response: Payload::Metrics,
        errors: &[ErrorCode::Unauthorized],
    }
}

impl RouteId {
    /// The table row for this id. `route_table!` emits the variants and the rows
    /// in the same order, so the discriminant is the row's index.
    pub fn route(self) -> &'static Route {
        &ROUTES[self as usize]
    }
}

/// Path parameters captured by a match, in template order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams<'a>(Vec<(&'static str, &'a str)>);

impl<'a> PathParams<'a> {
    /// The raw (still percent-encoded) value of a parameter.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0.iter().find(|(key, _)| *key == name).map(|(_, value)| *value)
    }

    /// Refuses a parameter that could mean another path once something
    /// downstream decodes or normalises it: empty, a dot segment (`.`, `..`,
    /// or their `%2E` spellings), or an encoded slash or backslash.
    pub fn check(&self) -> Result<(), crate::partner::FieldError> {
        for (name, value) in &self.0 {
            let lower = value.to_ascii_lowercase();
            let decoded_dots = lower.replace("%2e", ".");
            let reason = if value.is_empty() {
                Some("must not be empty")
            } else if decoded_dots == "." || decoded_dots == ".." {
                Some("must not be a dot segment")
            } else if lower.contains("%2f") || lower.contains("%5c") || value.contains('\\') {
                Some("must not contain an encoded slash or backslash")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(crate::partner::FieldError::new(name, reason));
            }
        }
        Ok(())
    }

    /// The route's path with these parameters in place: what the edge
    /// matched and authorised, and all it forwards.
    pub fn fill(&self, template: &str) -> String {
        template
            .split('/')
            .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => self.get(name).unwrap_or_default(),
                None => segment,
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What the table says about a request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    Found {
        id: RouteId,
        params: PathParams<'a>,
    },
    /// The path exists but not with this method; `allow` lists the methods that do.
    MethodNotAllowed {
        allow: Vec<Method>,
    },
    NotFound,
}

/// Finds the route for a method and a path (without query string).
///
/// The path is resolved first: when several templates match it, the one
/// whose literal segments come first wins, so `/things/export` beats
/// `/things/{id}`. Only then is the method looked up, among the routes of
/// that template: `GET /things/export` is 405 when only `POST` serves
/// `/things/export`, never `/things/{id}` with the id `export`.
pub fn match_route<'a>(method: &str, path: &'a str) -> RouteMatch<'a> {
    // A template with no parameter that equals the path is literal in
    // every segment, so no other template can outrank it or tie with it
    // (one that ties is the same path, for another method). Comparing whole
    // strings first answers the common case without splitting a path per
    // route. (A runtime URL has no raw `{`: it is percent-encoded in paths.)
    let mut literal = ROUTES.iter().filter(|route| route.path == path && !route.path.contains('{')).peekable();
    if literal.peek().is_some() {
        return by_method(method, literal.map(|route| (route, PathParams::default())));
    }
    match_templates(method, path)
}

/// [`match_route`] by matching every template segment by segment.
fn match_templates<'a>(method: &str, path: &'a str) -> RouteMatch<'a> {
    let mut best: Option<u64> = None;
    let mut candidates: Vec<(&Route, PathParams<'a>)> = Vec::new();

    for route in ROUTES {
        let Some((specificity, params)) = match_template(route.path, path) else {
            continue;
        };
        match best.map(|current| specificity.cmp(&current)) {
            Some(std::cmp::Ordering::Less) => continue,
            Some(std::cmp::Ordering::Equal) => candidates.push((route, params)),
            _ => {
                best = Some(specificity);
                candidates.clear();
                candidates.push((route, params));
            }
        }
    }
    by_method(method, candidates)
}

/// Among the routes of the winning template, the one serving `method`, or
/// the methods that would be allowed.
fn by_method<'a>(
    method: &str,
    candidates: impl IntoIterator<Item = (&'static Route, PathParams<'a>)>,
) -> RouteMatch<'a> {
    let method = Method::parse(method);
    let mut allow: Vec<Method> = Vec::new();
    for (route, params) in candidates {
        if method.is_some_and(|m| m.is_served_by(route.method)) {
            return RouteMatch::Found { id: route.id, params };
        }
        if !allow.contains(&route.method) {
            allow.push(route.method);
        }
    }
    if allow.is_empty() {
        return RouteMatch::NotFound;
    }
    if allow.contains(&Method::Get) {
        allow.push(Method::Head);
    }
    RouteMatch::MethodNotAllowed { allow }
}

/// The path and `?query` of an absolute URL as the runtime serialises it
/// (WHATWG), without parsing the rest: in an http(s) serialisation the path
/// begins at the first `/` after `scheme://` and is never empty, and `?` and
/// `#` cannot appear before it. A fragment, never sent by clients, is cut.
pub fn path_and_query(url: &str) -> &str {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let rest = url[authority..].find('/').map_or("", |i| &url[authority + i..]);
    rest.split_once('#').map_or(rest, |(before, _)| before)
}

/// The path alone of a [`path_and_query`].
pub fn path_of(path_and_query: &str) -> &str {
    path_and_query.split_once('?').map_or(path_and_query, |(path, _)| path)
}

/// Matches one template against the request path, segment by segment,
/// without allocating unless it captures a parameter. Returns the
/// specificity (one bit per segment, the first segment highest, set where
/// the template is literal there: of two matching templates the one that
/// is literal earlier wins) and the captured params.
fn match_template<'a>(template: &'static str, path: &'a str) -> Option<(u64, PathParams<'a>)> {
    let mut specificity = 0u64;
    let mut params = Vec::new();
    let mut pattern = template.split('/');
    for (depth, actual) in path.split('/').enumerate() {
        let expected = pattern.next()?;
        if depth >= 64 {
            return None; // no template is this deep
        }
        specificity <<= 1;
        match expected.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
            Some(name) if !actual.is_empty() => params.push((name, actual)),
            Some(_) => return None,
            None if expected == actual => specificity |= 1,
            None => return None,
        }
    }
    pattern.next().is_none().then_some((specificity, PathParams(params)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn literal_paths_match_as_the_template_scan_would() {
        let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "get", "BREW"];
        let mut checked = 0;
        for route in ROUTES.iter().filter(|route| !route.path.contains('{')) {
            for method in methods {
                assert_eq!(
                    match_route(method, route.path),
                    match_templates(method, route.path),
                    "{method} {}",
                    route.path
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} literal cases");
        // Paths no literal template equals still go through the scan.
        for path in ["/api/partner/users/u_1", "/api/partner/me/", "/", "/nope", "/api//partner/me"] {
            assert_eq!(match_route("GET", path), match_templates("GET", path), "{path}");
        }
    }

    fn params_of(path: &str) -> PathParams<'_> {
        match match_route("GET", path) {
            RouteMatch::Found { params, .. } => params,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn path_parameters_that_could_mean_another_path_are_refused() {
        for path in [
            "/api/partner/users/..",
            "/api/partner/users/.",
            "/api/partner/users/%2e%2E",
            "/api/partner/users/%2E",
            "/api/partner/users/a%2Fb",
            "/api/partner/users/a%2fb",
            "/api/partner/users/a%5cb",
            "/api/partner/users/a\\b",
            "/api/partner/webhooks/..%2F..%2Fadmin",
        ] {
            let error = params_of(path).check().unwrap_err();
            assert!(["user_id", "webhook_id"].contains(&error.field), "{path}: {error:?}");
        }
        assert_eq!(params_of("/api/partner/users/user-42").check(), Ok(()));
        assert_eq!(params_of("/api/partner/users/a.b..c").check(), Ok(()), "dots inside a value are fine");
    }

    #[test]
    fn the_canonical_path_is_the_template_filled_with_its_parameters() {
        let params = params_of("/api/partner/users/u-7");
        assert_eq!(params.fill("/api/partner/users/{user_id}"), "/api/partner/users/u-7");
        let params = params_of("/api/salutes/ledger");
        assert_eq!(params.fill("/api/salutes/ledger"), "/api/salutes/ledger");
    }

    #[test]
    fn every_route_id_has_exactly_one_row_and_unique_operation() {
        let ids: HashSet<RouteId> = ROUTES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), ROUTES.len());
        let operations: HashSet<&str> = ROUTES.iter().map(|r| r.operation_id).collect();
        assert_eq!(operations.len(), ROUTES.len());
        let lines: HashSet<(Method, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(lines.len(), ROUTES.len(), "two rows share a method and path");
        for route in ROUTES {
            assert_eq!(route.id.route().path, route.path);
        }
    }

    #[test]
    fn templates_are_absolute_and_well_formed() {
        for route in ROUTES {
            assert!(route.path.starts_with('/'), "{} is not absolute", route.path);
            assert!(!route.path.ends_with('/'), "{} ends with a slash", route.path);
            for segment in route.path.split('/').skip(1) {
                assert!(!segment.is_empty(), "{} has an empty segment", route.path);
                let opens = segment.starts_with('{');
                assert_eq!(opens, segment.ends_with('}'), "{} has a broken parameter", route.path);
            }
        }
    }

    #[test]
    fn health_matches_get_and_head_only() {
        assert_eq!(
            match_route("GET", "/api/public/health"),
            RouteMatch::Found { id: RouteId::PublicHealth, params: PathParams::default() }
        );
        assert!(matches!(
            match_route("HEAD", "/api/public/health"),
            RouteMatch::Found { id: RouteId::PublicHealth, .. }
        ));
        assert_eq!(
            match_route("POST", "/api/public/health"),
            RouteMatch::MethodNotAllowed { allow: vec![Method::Get, Method::Head] }
        );
        assert_eq!(
            match_route("BREW", "/api/public/health"),
            RouteMatch::MethodNotAllowed { allow: vec![Method::Get, Method::Head] }
        );
    }

    #[test]
    fn unknown_paths_and_near_misses_are_not_found() {
        for path in ["/api/nope", "/api/public/health/", "/api/public", "", "/", "/API/public/health"] {
            assert_eq!(match_route("GET", path), RouteMatch::NotFound, "{path:?}");
        }
    }

    #[test]
    fn the_path_and_query_come_from_the_serialised_url_without_parsing_it() {
        for (url, expected, path) in [
            ("https://edge.example/api/partner/me", "/api/partner/me", "/api/partner/me"),
            ("http://127.0.0.1:8787/api/x?a=1&b=%2F", "/api/x?a=1&b=%2F", "/api/x"),
            ("https://edge.example/", "/", "/"),
            ("https://user:pw@edge.example:443/p?q#frag", "/p?q", "/p"),
            ("https://edge.example/a/b?next=https://x.example/y", "/a/b?next=https://x.example/y", "/a/b"),
        ] {
            assert_eq!(path_and_query(url), expected, "{url}");
            assert_eq!(path_of(path_and_query(url)), path, "{url}");
        }
    }

    #[test]
    fn templates_capture_params_and_prefer_literal_segments() {
        let (spec, params) = match_template("/things/{id}/parts", "/things/42/parts").unwrap();
        assert_eq!(params.get("id"), Some("42"));
        assert_eq!(spec, 0b1101, "literal, literal, parameter, literal");
        let (literal_spec, _) = match_template("/things/export", "/things/export").unwrap();
        let (param_spec, _) = match_template("/things/{id}", "/things/export").unwrap();
        assert!(literal_spec > param_spec);
        assert!(match_template("/things/{id}/parts", "/things//parts").is_none());
        assert!(match_template("/things/{id}", "/things/42/parts").is_none(), "a longer path");
        assert!(match_template("/things/{id}/parts", "/things/42").is_none(), "a shorter path");
        let deep = "/x".repeat(70);
        assert!(match_template("/x", &deep).is_none());
    }

    #[test]
    fn a_literal_path_answers_405_for_methods_it_lacks_instead_of_falling_back_to_a_template() {
        assert!(matches!(
            match_route("POST", "/api/partner/webhooks/simulate"),
            RouteMatch::Found { id: RouteId::SimulateWebhook, .. }
        ));
        assert_eq!(
            match_route("GET", "/api/partner/webhooks/simulate"),
            RouteMatch::MethodNotAllowed { allow: vec![Method::Post] }
        );
        assert!(matches!(
            match_route("GET", "/api/partner/webhooks/wh_0123456789abcdef01234567"),
            RouteMatch::Found { id: RouteId::GetWebhook, .. }
        ));
    }

    #[test]
    fn method_tokens_round_trip() {
        for method in
            [Method::Get, Method::Head, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Options]
        {
            assert_eq!(Method::parse(method.as_str()), Some(method));
        }
        assert_eq!(Method::parse("get"), None);
    }
}
