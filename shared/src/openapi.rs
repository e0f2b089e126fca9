//! Renders the OpenAPI 3.1 document from the route table and the payload
//! types. Native only: the worker's build script calls [`document`] and embeds
//! the result, so no schema machinery ships in the wasm.

use std::collections::BTreeMap;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

use crate::api::ErrorBody;
use crate::contract;
use crate::error::{ErrorCatalogueEntry, ErrorCode};
use crate::gate::{
    needs_idempotency_key, PartnerIdentity, HEADER_IDEMPOTENCY_KEY, HEADER_IDEMPOTENT_REPLAYED, HEADER_KEY,
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use crate::health::HealthReport;
use crate::partner::{PartnerKeyIn, PartnerKeyOut, PartnerKeyPatch, PartnerKeyWithSecret};
use crate::routes::{Access, Payload, RequestBody, Route, ROUTES};
use crate::sandbox::{
    Balance, Capabilities, DonationClaim, DonationClaimIn, LedgerEntry, SalutesIn, SandboxUser, UserIn, UserPatch,
    WalletIn,
};
use crate::webhooks::commands::DeliveryLogEntry;
use crate::webhooks::{
    Attempt, Delivery, DeliveryState, Envelope, PublishEvent, Published, Redrive, RedriveIn, Resent, Subscription,
    SubscriptionIn, SubscriptionPatch, SubscriptionWithSecret,
};

/// The errors every signed partner route can answer with, in gate order.
const GATE_ERRORS: &[ErrorCode] = &[
    ErrorCode::PayloadTooLarge,
    ErrorCode::Unauthorized,
    ErrorCode::StaleTimestamp,
    ErrorCode::SignatureMismatch,
    ErrorCode::SignatureVersionRetired,
    ErrorCode::ReplayDetected,
    ErrorCode::RateLimited,
];

/// What the admin gate answers: wrong key, the admin API off, too many failures.
const ADMIN_ERRORS: &[ErrorCode] = &[ErrorCode::Unauthorized, ErrorCode::NotConfigured, ErrorCode::RateLimited];

/// What a signed mutation adds: a missing Idempotency-Key, and its conflicts.
const IDEMPOTENCY_ERRORS: &[ErrorCode] =
    &[ErrorCode::InvalidRequest, ErrorCode::IdempotencyInFlight, ErrorCode::IdempotencyMismatch];

/// Every error a route can answer with: its own, the gate's, and `server_error`.
pub fn route_errors(route: &Route) -> Vec<ErrorCode> {
    let mut codes: Vec<ErrorCode> = Vec::new();
    if let Access::Partner(scope) = route.access {
        codes.extend_from_slice(GATE_ERRORS);
        if scope.is_some() {
            codes.push(ErrorCode::Forbidden);
        }
        if needs_idempotency_key(route.method.as_str()) {
            codes.extend_from_slice(IDEMPOTENCY_ERRORS);
        }
    }
    if let Access::Admin = route.access {
        codes.extend_from_slice(ADMIN_ERRORS);
    }
    if route.is_rate_limited() {
        codes.push(ErrorCode::RateLimited);
    }
    if route.path.contains('{') {
        // A path parameter that could mean another path once decoded.
        codes.push(ErrorCode::InvalidRequest);
    }
    codes.extend_from_slice(route.errors);
    // Every body is read through the size cap.
    codes.push(ErrorCode::PayloadTooLarge);
    codes.push(ErrorCode::ServerError);
    let mut unique = Vec::with_capacity(codes.len());
    for code in codes {
        if !unique.contains(&code) {
            unique.push(code);
        }
    }
    unique
}

/// The version the document advertises: the shared crate's, which moves with
/// every change of the API surface.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "#/components/schemas".into())
        .into_generator();

    let error_schema = generator.subschema_for::<ErrorBody>().to_value();
    let examples = response_examples();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for route in ROUTES {
        let operation = operation(route, &mut generator, &error_schema, &examples);
        paths.entry(route.path).or_default().insert(route.method.as_str().to_ascii_lowercase(), operation);
    }

    let mut tags: Vec<&str> = Vec::new();
    for route in ROUTES {
        if !tags.contains(&route.tag) {
            tags.push(route.tag);
        }
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Partner Edge",
            "version": API_VERSION,
            "description": "The partner-facing edge: signed partner requests, webhooks, \
                status feeds and this description. Every error has the shape \
                {success:false, error, message, request_id}; the `error` codes, their \
                HTTP statuses and retry advice are listed under x-error-catalogue.",
        },
        "servers": [{ "url": "/" }],
        "tags": tags.iter().map(|tag| json!({ "name": tag })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": with_event_data_rules(generator),
            "securitySchemes": {
                "adminKey": {
                    "type": "apiKey", "in": "header", "name": "X-Admin-Key",
                    "description": "The operator key (Worker secret ADMIN_API_KEY), compared in constant time.",
                },
                "partnerSignature": {
                    "type": "apiKey", "in": "header", "name": HEADER_KEY,
                    "description": "A partner key id plus an HMAC-SHA256 signature, version 1. Canonical \
                        string: v1, X-Partner-Timestamp, METHOD, path?query as sent, X-Partner-Nonce and \
                        the lowercase hex SHA-256 of the body, joined by newlines. Send \
                        `X-Partner-Signature: v1=<hex HMAC(secret, canonical)>`. Vectors: \
                        tests/vectors/signing-v1.json.",
                },
            },
        },
        "x-error-catalogue": ErrorCode::catalogue(),
    })
}

/// The components, with `PublishEvent` saying which `data` each event type takes.
fn with_event_data_rules(mut generator: SchemaGenerator) -> Map<String, Value> {
    let rules: Vec<Value> = crate::webhooks::EventType::ALL
        .iter()
        .map(|event_type| {
            json!({
                "if": { "properties": { "event_type": { "const": event_type.as_str() } }, "required": ["event_type"] },
                "then": { "properties": { "data": event_type.data_subschema(&mut generator) } },
            })
        })
        .collect();
    let mut schemas = generator.take_definitions(true);
    for schema in schemas.values_mut() {
        drop_impossible_defaults(schema);
    }
    if let Some(publish) = schemas.get_mut("PublishEvent").and_then(Value::as_object_mut) {
        publish.insert("allOf".to_owned(), Value::Array(rules));
    }
    schemas
}

/// An absent optional field is described by its not being required, not by
/// `"default": null`, which its own type forbids (`serde(default)` on an
/// `Option` makes schemars write one). And an unsigned integer gets its
/// type's maximum, so a client never sends a number the edge cannot hold.
fn drop_impossible_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let allows_null = match map.get("type") {
                Some(Value::String(t)) => t == "null",
                Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
                _ => true,
            };
            if !allows_null && map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            // An unsigned field holds what its Rust type holds, and no more.
            let maximum = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some(json!(u8::MAX)),
                Some("uint16") => Some(json!(u16::MAX)),
                Some("uint32") => Some(json!(u32::MAX)),
                Some("uint64") => Some(json!(u64::MAX)),
                _ => None,
            };
            if let Some(maximum) = maximum {
                map.entry("maximum").or_insert(maximum);
            }
            map.values_mut().for_each(drop_impossible_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_impossible_defaults),
        _ => {}
    }
}

/// A path parameter's schema, by its name.
fn path_param_schema(name: &str) -> Value {
    let pattern = match name {
        "user_id" => contract::ID,
        "webhook_id" => contract::SUBSCRIPTION_ID,
        "delivery_id" => contract::DELIVERY_ID,
        "key_id" => contract::KEY_ID,
        "event_id" => contract::EVENT_ID,
        "incident_id" => contract::INCIDENT_ID,
        "inbox_id" => contract::INBOX_ID,
        "address" => contract::WALLET_ADDRESS,
        other => panic!("path parameter {other} has no schema in openapi.rs"),
    };
    json!({ "type": "string", "pattern": pattern })
}

/// A query parameter's schema, by its name and route.
fn query_param_schema(route: &Route, name: &str) -> Value {
    let names = |values: Vec<&str>| json!({ "type": "string", "enum": values });
    match name {
        "user_id" => json!({ "type": "string", "pattern": contract::ID }),
        "kind" => names(vec!["credit", "debit"]),
        "status" => names(DeliveryState::ALL.iter().map(|s| s.as_str()).collect()),
        "event_type" => names(crate::webhooks::EventType::ALL.iter().map(|t| t.as_str()).collect()),
        "limit" if route.path == "/api/public/system-status/trend" => {
            json!({ "type": "integer", "minimum": 1, "maximum": crate::status::TREND_MAX })
        }
        "hours" if route.path == "/api/public/latency-percentiles" => {
            json!({ "type": "integer", "minimum": 1, "maximum": crate::latency::MAX_HOURS })
        }
        "hours" => json!({ "type": "integer", "minimum": 1, "maximum": crate::status::MAX_WINDOW_HOURS }),
        "limit" if route.path == "/api/public/system-status/incidents" => {
            json!({ "type": "integer", "minimum": 1, "maximum": crate::incidents::INCIDENT_LIMIT_MAX })
        }
        "limit" if route.path == "/api/transactions/latest" => {
            json!({ "type": "integer", "minimum": 1, "maximum": crate::public::LATEST_KEPT })
        }
        "limit" => json!({ "type": "integer", "minimum": 1, "maximum": crate::api::MAX_PAGE }),
        "cursor" if route.path.starts_with("/api/salutes/") => {
            json!({ "type": "string", "pattern": contract::LEDGER_CURSOR })
        }
        "cursor" => json!({ "type": "string", "pattern": contract::LOG_CURSOR }),
        "id" => names(crate::lifecycle::DEPRECATIONS.iter().map(|d| d.id).collect()),
        "api_key" => json!({ "type": "string", "minLength": 1, "maxLength": 256 }),
        "client" => json!({ "type": "string", "pattern": contract::CLIENT }),
        "endpoint" => json!({
            "type": "string",
            "enum": crate::lifecycle::DEPRECATIONS.iter().map(|d| d.endpoint()).collect::<Vec<_>>(),
        }),
        "at" => json!({ "type": "integer", "minimum": 0, "maximum": contract::MAX_UNIX_SECONDS }),
        other => panic!("query parameter {other} has no schema in openapi.rs"),
    }
}

/// Example answers, one per success schema, in `shared/response-examples.json`.
/// A test reads each into its Rust type and writes it back unchanged.
pub fn response_examples() -> Map<String, Value> {
    serde_json::from_str(include_str!("../response-examples.json")).unwrap_or_default()
}

fn operation(
    route: &Route,
    generator: &mut SchemaGenerator,
    error_schema: &Value,
    examples: &Map<String, Value>,
) -> Value {
    let schema = payload_schema(route.response, generator);
    let mut content = json!({ "schema": schema });
    let component = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/"));
    if let Some(example) = component.and_then(|name| examples.get(name)) {
        content["example"] = example.clone();
    }
    let mut responses = Map::new();
    responses.insert(
        route.success_status.to_string(),
        json!({
            "description": route.summary,
            "headers": { "X-Request-Id": request_id_header() },
            "content": { media_type(route.response): content },
        }),
    );

    // Group error codes by status: one response per status, listing its codes.
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in route_errors(route) {
        by_status.entry(code.http_status()).or_default().push(code);
    }
    for (status, codes) in by_status {
        let names: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("Error: {}", names.join(", ")),
                "headers": { "X-Request-Id": request_id_header() },
                "content": { "application/json": {
                    "schema": error_schema,
                    "x-error-codes": names,
                }},
            }),
        );
    }

    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_param_schema(name) }))
        .collect();
    for param in route.query {
        parameters.push(json!({
            "name": param.name, "in": "query", "required": param.required,
            "description": param.description, "schema": query_param_schema(route, param.name),
        }));
    }

    let security = match route.access {
        Access::Public => json!([]),
        Access::Admin => json!([{ "adminKey": [] }]),
        Access::Partner(_) => {
            for (name, description, pattern) in [
                (
                    HEADER_TIMESTAMP,
                    "Unix seconds; must be within the accepted skew of the edge's clock.",
                    contract::TIMESTAMP,
                ),
                (HEADER_NONCE, "16-64 characters of [A-Za-z0-9_-], never reused within the window.", contract::NONCE),
                (HEADER_SIGNATURE, "`v1=` followed by 64 lowercase hex digits.", contract::SIGNATURE),
            ] {
                parameters.push(json!({
                    "name": name, "in": "header", "required": true,
                    "description": description, "schema": { "type": "string", "pattern": pattern },
                }));
            }
            if needs_idempotency_key(route.method.as_str()) {
                parameters.push(json!({
                    "name": HEADER_IDEMPOTENCY_KEY, "in": "header", "required": true,
                    "description": "1-255 visible ASCII characters, unique per logical operation. The first \
                        answer is kept for 24 h and replayed for the same method, path and body.",
                    "schema": { "type": "string", "pattern": contract::IDEMPOTENCY_KEY },
                }));
                if let Some(success) = responses.get_mut(&route.success_status.to_string()) {
                    success["headers"][HEADER_IDEMPOTENT_REPLAYED] = json!({
                        "description": "`true` when this is the stored answer of an earlier identical request.",
                        "schema": { "type": "string", "enum": ["true"] },
                    });
                }
            }
            json!([{ "partnerSignature": [] }])
        }
    };
    if route.is_rate_limited() {
        for response in responses.values_mut() {
            response["headers"]["X-RateLimit-Limit"] = json!({ "schema": { "type": "integer" } });
            response["headers"]["X-RateLimit-Remaining"] = json!({ "schema": { "type": "integer" } });
            response["headers"]["X-RateLimit-Reset"] =
                json!({ "description": "Unix seconds.", "schema": { "type": "integer" } });
        }
    }
    let description = match route.access {
        Access::Partner(Some(scope)) => format!("{}\n\nRequires scope `{}`.", route.description, scope.as_str()),
        _ => route.description.to_owned(),
    };

    let mut operation = json!({
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": description,
        "tags": [route.tag],
        "security": security,
        "responses": responses,
    });
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    if route.response == Payload::TrustManifest {
        let mut params = operation["parameters"].as_array().cloned().unwrap_or_default();
        params.push(json!({
            "name": "If-None-Match", "in": "header", "required": false,
            "description": "The ETag of a manifest you hold: 304 if it is still current. Any other value, \
                well-formed or not, gets the manifest.",
            "schema": { "type": "string" },
        }));
        operation["parameters"] = Value::Array(params);
        let etag = json!({ "description": "A strong tag of this manifest's bytes.", "schema": { "type": "string" } });
        operation["responses"]["200"]["headers"]["ETag"] = etag.clone();
        operation["responses"]["304"] =
            json!({ "description": "The manifest you hold is current.", "headers": { "ETag": etag } });
    }
    if let Some(deprecation) = crate::lifecycle::Deprecation::of(route.id) {
        use crate::lifecycle::rfc3339;
        operation["deprecated"] = json!(true);
        operation["x-deprecated-at"] = json!(rfc3339(deprecation.deprecated_at));
        operation["x-sunset"] = json!(rfc3339(deprecation.sunset_at));
        operation["x-replacement"] = json!(deprecation.replacement.route().operation_id);
        operation["description"] = json!(format!(
            "{}\n\nDeprecated since {}; answers 410 `endpoint_sunset` from {}. Use `{}` instead.",
            operation["description"].as_str().unwrap_or_default(),
            rfc3339(deprecation.deprecated_at),
            rfc3339(deprecation.sunset_at),
            deprecation.replacement_endpoint()
        ));
        if let Some(success) = operation["responses"].get_mut(route.success_status.to_string()) {
            success["headers"]["Deprecation"] = json!({
                "description": "RFC 9745: when this endpoint was deprecated, as a structured-field date (`@` unix seconds).",
                "schema": { "type": "string", "pattern": "^@[0-9]{1,15}$" },
            });
            success["headers"]["Sunset"] = json!({
                "description": "RFC 8594: when this endpoint stops answering, as an HTTP-date.",
                "schema": { "type": "string" },
            });
            success["headers"]["Link"] = json!({
                "description": "The deprecation notice (rel=\"deprecation\") and the migration playbook (rel=\"sunset\").",
                "schema": { "type": "string" },
            });
        }
    }
    if let Some(body) = route.request {
        let schema = match body {
            RequestBody::CanaryIn => generator.subschema_for::<crate::public::CanaryIn>(),
            RequestBody::PartnerKeyIn => generator.subschema_for::<PartnerKeyIn>(),
            RequestBody::PartnerKeyPatch => generator.subschema_for::<PartnerKeyPatch>(),
            RequestBody::UserIn => generator.subschema_for::<UserIn>(),
            RequestBody::UserPatch => generator.subschema_for::<UserPatch>(),
            RequestBody::WalletIn => generator.subschema_for::<WalletIn>(),
            RequestBody::SalutesIn => generator.subschema_for::<SalutesIn>(),
            RequestBody::DonationClaimIn => generator.subschema_for::<DonationClaimIn>(),
            RequestBody::SubscriptionIn => generator.subschema_for::<SubscriptionIn>(),
            RequestBody::SubscriptionPatch => generator.subschema_for::<SubscriptionPatch>(),
            RequestBody::SimulateIn => generator.subschema_for::<crate::webhooks::simulate::SimulateIn>(),
            RequestBody::InboxIn => generator.subschema_for::<crate::webhooks::inbox::InboxIn>(),
            RequestBody::PublishEvent => generator.subschema_for::<PublishEvent>(),
            RequestBody::RedriveIn => generator.subschema_for::<RedriveIn>(),
            RequestBody::IncidentIn => generator.subschema_for::<crate::incidents::IncidentIn>(),
            RequestBody::IncidentUpdateIn => generator.subschema_for::<crate::incidents::IncidentUpdateIn>(),
        };
        operation["requestBody"] = json!({ "required": true, "content": { "application/json": {
            "schema": schema.to_value(),
            "example": request_example(body),
        } } });
    }
    operation
}

/// A valid body for each request type: the explorer's try-it starts from
/// it, and a test proves each one parses into its type and passes its checks.
pub fn request_example(body: RequestBody) -> Value {
    let demo_key = crate::partner::DEMO_KEY_ID;
    match body {
        RequestBody::CanaryIn => json!({ "message": "hello from the portal", "request_id": "portal-1" }),
        RequestBody::PartnerKeyIn => {
            json!({ "name": "Acme sandbox", "environment": "sandbox", "scopes": ["read", "credit"] })
        }
        RequestBody::PartnerKeyPatch => json!({ "name": "Acme sandbox (renamed)" }),
        RequestBody::UserIn => {
            json!({ "display_name": "Ada Lovelace", "email": "ada@example.com", "external_id": "crm-1815" })
        }
        RequestBody::UserPatch => json!({ "display_name": "Ada King" }),
        RequestBody::WalletIn => json!({ "address": "ABCDEF0123456789", "chain": "eth", "label": "Main wallet" }),
        RequestBody::SalutesIn => {
            json!({ "user_id": "4", "amount": 100, "reason": "event_participation", "source": "partner_portal" })
        }
        RequestBody::DonationClaimIn => json!({ "user_id": "4", "campaign_id": "winter-drive", "amount": 25 }),
        RequestBody::SubscriptionIn => json!({
            "url": "https://receiver.example.com/webhooks", "description": "Production receiver", "receive_all": true,
        }),
        RequestBody::SubscriptionPatch => json!({ "description": "Renamed receiver" }),
        RequestBody::InboxIn => json!({ "description": "Local development inbox" }),
        RequestBody::SimulateIn => json!({
            "url": "https://receiver.example.com/webhooks",
            "scenario": "claim_created",
            "drills": ["signed", "duplicate", "stale_timestamp", "tampered_body"],
        }),
        RequestBody::PublishEvent => json!({
            "key_id": demo_key,
            "event_type": "salutes.credit",
            "data": crate::webhooks::example_envelope(crate::webhooks::EventType::SalutesCredit).data,
        }),
        RequestBody::RedriveIn => json!({ "key_id": demo_key, "batch_size": 100, "cooldown_seconds": 60 }),
        RequestBody::IncidentIn => json!({
            "title": "Webhook delivery latency elevated",
            "message": "[investigating] webhook delivery latency elevated; next update in 15 minutes.",
            "impact": "degraded_performance",
            "affected": ["webhook_queue"],
        }),
        RequestBody::IncidentUpdateIn => {
            json!({ "phase": "monitoring", "message": "[monitoring] A fix is deployed; the queue is draining." })
        }
    }
}

fn media_type(payload: Payload) -> &'static str {
    match payload {
        Payload::Metrics => "text/plain; version=0.0.4",
        Payload::Rss => "application/rss+xml",
        Payload::Markdown => "text/markdown",
        _ => "application/json",
    }
}

/// `{"success": true, "data": …}` (and `meta` on a page), registered as a
/// component named `name`, so generated clients get `PartnerIdentityResponse`
/// rather than `Success6`.
fn envelope(generator: &mut SchemaGenerator, name: &str, data: schemars::Schema, paginated: bool) -> Value {
    let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
    if generator.definitions().contains_key(name) {
        return reference;
    }
    let mut properties = json!({
        "success": { "type": "boolean", "const": true },
        "data": data.to_value(),
    });
    let mut required = vec!["success", "data"];
    if paginated {
        properties["meta"] = generator.subschema_for::<crate::api::PageMeta>().to_value();
        required.push("meta");
    }
    let schema = json!({ "type": "object", "required": required, "properties": properties });
    generator.definitions_mut().insert(name.to_owned(), schema);
    reference
}

/// The JSON Schema of a route's success body.
fn payload_schema(payload: Payload, generator: &mut SchemaGenerator) -> Value {
    macro_rules! success {
        ($name:literal, $t:ty) => {{
            let data = generator.subschema_for::<$t>();
            envelope(generator, $name, data, false)
        }};
        ($name:literal, $t:ty, paginated) => {{
            let data = generator.subschema_for::<$t>();
            envelope(generator, $name, data, true)
        }};
    }
    match payload {
        Payload::Health => success!("HealthResponse", HealthReport),
        Payload::Wallet => success!("WalletResponse", crate::sandbox::Wallet),
        Payload::DeprecationCalendar => success!("DeprecationCalendarResponse", crate::lifecycle::Calendar),
        Payload::KeyCheck => success!("KeyCheckResponse", crate::public::KeyCheck),
        Payload::TrustManifest => generator.subschema_for::<crate::trust::TrustManifest>().to_value(),
        Payload::SystemStatus => success!("SystemStatusResponse", crate::status::SystemStatus),
        Payload::StatusTrend => success!("StatusTrendResponse", Vec<crate::status::TrendPoint>),
        Payload::StatusUptime => success!("StatusUptimeResponse", crate::status::Uptime),
        Payload::StatuspageSummary => generator.subschema_for::<crate::status::StatuspageSummary>().to_value(),
        Payload::StatusIncidents => success!("StatusIncidentsResponse", crate::incidents::IncidentList),
        Payload::Incident => success!("IncidentResponse", crate::incidents::Incident),
        Payload::LatencyPercentiles => success!("LatencyPercentilesResponse", crate::latency::LatencyReport),
        Payload::OpenApiChangelog => success!("OpenApiChangelogResponse", crate::changelog::Changelog),
        Payload::CanaryEcho => success!("CanaryEchoResponse", crate::public::CanaryEcho),
        Payload::PublicStats => success!("PublicStatsResponse", crate::public::PublicStats),
        Payload::LatestTransactions => success!("LatestTransactionsResponse", Vec<crate::public::PublicTransaction>),
        Payload::PartnerDeprecations => {
            success!("PartnerDeprecationsResponse", Vec<crate::lifecycle::PartnerUsage>)
        }
        Payload::MigrationStatus => success!("MigrationStatusResponse", Vec<crate::lifecycle::MigrationStatus>),
        Payload::SimulatedHeaders => {
            success!("SimulatedHeadersResponse", Vec<crate::lifecycle::SimulatedHeaders>)
        }
        Payload::Rss => json!({ "type": "string", "description": "An RSS 2.0 document." }),
        Payload::Markdown => json!({ "type": "string", "description": "A Markdown document." }),
        Payload::WalletOwner => success!("WalletOwnerResponse", crate::sandbox::WalletOwner),
        Payload::OpenApiDocument => json!({ "type": "object", "description": "An OpenAPI 3.1 document." }),
        Payload::ErrorCatalogue => success!("ErrorCatalogueResponse", Vec<ErrorCatalogueEntry>),
        Payload::PartnerKey => success!("PartnerKeyResponse", PartnerKeyOut),
        Payload::PartnerKeyList => success!("PartnerKeyListResponse", Vec<PartnerKeyOut>),
        Payload::PartnerKeyWithSecret => success!("PartnerKeyWithSecretResponse", PartnerKeyWithSecret),
        Payload::PartnerIdentity => success!("PartnerIdentityResponse", PartnerIdentity),
        Payload::Capabilities => success!("CapabilitiesResponse", Capabilities),
        Payload::User => success!("UserResponse", SandboxUser),
        Payload::LedgerEntry => success!("LedgerEntryResponse", LedgerEntry),
        Payload::LedgerPage => success!("LedgerPageResponse", Vec<LedgerEntry>, paginated),
        Payload::Balance => success!("BalanceResponse", Balance),
        Payload::DonationClaim => success!("DonationClaimResponse", DonationClaim),
        Payload::Subscription => success!("SubscriptionResponse", Subscription),
        Payload::SubscriptionWithSecret => success!("SubscriptionWithSecretResponse", SubscriptionWithSecret),
        Payload::SubscriptionList => success!("SubscriptionListResponse", Vec<Subscription>),
        Payload::Published => success!("PublishedResponse", Published),
        Payload::Simulation => success!("SimulationResponse", crate::webhooks::simulate::Simulation),
        Payload::Inbox => success!("InboxResponse", crate::webhooks::inbox::Inbox),
        Payload::InboxList => success!("InboxListResponse", Vec<crate::webhooks::inbox::Inbox>),
        Payload::CaptureList => success!("CaptureListResponse", Vec<crate::webhooks::inbox::Capture>),
        Payload::Captured => success!("CapturedResponse", crate::webhooks::inbox::Captured),
        Payload::DeliveryLog => success!("DeliveryLogResponse", Vec<DeliveryLogEntry>, paginated),
        Payload::FailureLog => success!("FailureLogResponse", Vec<Attempt>, paginated),
        Payload::Delivery => success!("DeliveryResponse", Delivery),
        Payload::Resent => generator.subschema_for::<Resent>().to_value(),
        Payload::Redrive => success!("RedriveResponse", Redrive),
        Payload::EventCatalogue => {
            // Registers the envelope's schema under components, where the description points.
            let _ = generator.subschema_for::<Envelope>();
            json!({
                "type": "object",
                "description": "`{success, data: {catalogue_version, schema_version, signature_headers, \
                    event_types: [{event_type, version, summary, data_schema, example}]}}`. Each example \
                    is a delivery body, an `Envelope` (#/components/schemas/Envelope).",
            })
        }
        Payload::Metrics => json!({ "type": "string", "description": "Prometheus text format 0.0.4." }),
    }
}

fn request_id_header() -> Value {
    json!({
        "description": "Identifies this request in the edge's logs; the same value as `request_id` in error bodies.",
        "schema": { "type": "string", "pattern": "^req_[0-9a-f]{32}$" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects every `$ref` in a JSON value.
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        if let Value::String(target) = child {
                            found.push(target.clone());
                        }
                    }
                    refs(child, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }

    #[test]
    fn document_is_openapi_3_1_with_every_route() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for route in ROUTES {
            let method = route.method.as_str().to_ascii_lowercase();
            let op = &doc["paths"][route.path][&method];
            assert_eq!(op["operationId"], route.operation_id, "{} {}", route.method.as_str(), route.path);
            assert!(op["responses"][route.success_status.to_string()].is_object());
            assert!(op["responses"]["500"].is_object(), "every route documents server_error");
        }
    }

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} points outside components"));
            assert!(doc["components"]["schemas"][name].is_object(), "{target} does not resolve");
        }
    }

    #[test]
    fn declared_errors_appear_under_their_status() {
        let doc = document();
        let health = &doc["paths"]["/api/public/health"]["get"]["responses"];
        assert_eq!(health["503"]["content"]["application/json"]["x-error-codes"], json!(["dependency_unavailable"]));
        let catalogue = doc["x-error-catalogue"].as_array().unwrap();
        assert_eq!(catalogue.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn public_api_routes_document_their_rate_limit_and_docs_routes_do_not() {
        let doc = document();
        let health = &doc["paths"]["/api/public/health"]["get"]["responses"];
        assert_eq!(health["429"]["content"]["application/json"]["x-error-codes"], json!(["rate_limited"]));
        assert!(health["200"]["headers"]["X-RateLimit-Remaining"].is_object());
        let openapi = &doc["paths"]["/openapi.json"]["get"]["responses"];
        assert!(openapi["429"].is_null());
        assert!(openapi["200"]["headers"]["X-RateLimit-Remaining"].is_null());
    }

    #[test]
    fn signed_mutations_document_the_gate_and_idempotency() {
        let doc = document();
        let credit = &doc["paths"]["/api/salutes/credit"]["post"];
        let codes = |status: &str| credit["responses"][status]["content"]["application/json"]["x-error-codes"].clone();
        let conflict: Vec<String> = serde_json::from_value(codes("409")).unwrap();
        assert!(
            conflict.contains(&"replay_detected".to_owned()) && conflict.contains(&"idempotency_replay".to_owned())
        );
        assert_eq!(codes("422"), json!(["idempotency_mismatch"]));
        assert_eq!(codes("403"), json!(["forbidden"]));
        let params = credit["parameters"].as_array().unwrap();
        let idem = params.iter().find(|p| p["name"] == HEADER_IDEMPOTENCY_KEY).expect("Idempotency-Key documented");
        assert_eq!(idem["required"], true);
        assert!(credit["responses"]["201"]["headers"][HEADER_IDEMPOTENT_REPLAYED].is_object());

        let me = &doc["paths"]["/api/partner/me"]["get"];
        assert!(me["responses"]["403"].is_null(), "a scope-free route cannot answer forbidden");
        assert!(me["parameters"].as_array().unwrap().iter().all(|p| p["name"] != HEADER_IDEMPOTENCY_KEY));
        let ledger = &doc["paths"]["/api/salutes/ledger"]["get"]["parameters"];
        assert!(ledger.as_array().unwrap().iter().any(|p| p["name"] == "cursor" && p["in"] == "query"));
    }

    #[test]
    fn every_route_declares_its_access_as_security() {
        let doc = document();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
            let expected = match route.access {
                Access::Public => json!([]),
                Access::Admin => json!([{ "adminKey": [] }]),
                Access::Partner(_) => json!([{ "partnerSignature": [] }]),
            };
            assert_eq!(op["security"], expected, "{}", route.path);
            if let Access::Partner(_) = route.access {
                let names: Vec<&str> =
                    op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                assert!(names.contains(&HEADER_SIGNATURE) && names.contains(&HEADER_NONCE), "{}", route.path);
            }
            if route.path.contains('{') {
                assert!(op["parameters"].as_array().unwrap().iter().any(|p| p["in"] == "path"), "{}", route.path);
            }
        }
        assert!(doc["components"]["securitySchemes"]["partnerSignature"].is_object());
    }

    #[test]
    fn tags_are_unique_and_components_have_names_a_client_would_want() {
        let doc = document();
        let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        let unique: std::collections::HashSet<&&str> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len(), "{tags:?}");
        let names: Vec<&String> = doc["components"]["schemas"].as_object().unwrap().keys().collect();
        for name in &names {
            let generic = name.starts_with("Success") || name.contains("_for_") || name.contains("Array_of");
            assert!(!generic, "component {name} has a name no client would want");
        }
        assert!(names.iter().any(|n| *n == "PartnerIdentityResponse"));
        let me = &doc["paths"]["/api/partner/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(me["$ref"], "#/components/schemas/PartnerIdentityResponse");
    }

    #[test]
    fn every_parameter_states_the_format_the_edge_enforces() {
        let doc = document();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["name"] == "If-None-Match" {
                    continue; // any value is acceptable: a tag that does not match gets the manifest
                }
                let schema = &param["schema"];
                let typed = schema["pattern"].is_string()
                    || schema["enum"].is_array()
                    || schema["type"] == "integer"
                    || schema["maxLength"].is_u64();
                assert!(typed, "{} {}: {} has no format", route.method.as_str(), route.path, param["name"]);
            }
        }
    }

    #[test]
    fn unsigned_integers_state_their_maximum() {
        let doc = document();
        let mut unbounded = Vec::new();
        fn walk(value: &Value, path: String, unbounded: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if map.get("type") == Some(&json!("integer")) && map.get("maximum").is_none() {
                        unbounded.push(path.clone());
                    }
                    for (key, child) in map {
                        walk(child, format!("{path}/{key}"), unbounded);
                    }
                }
                Value::Array(items) => {
                    items.iter().enumerate().for_each(|(i, item)| walk(item, format!("{path}/{i}"), unbounded))
                }
                _ => {}
            }
        }
        walk(&doc["components"]["schemas"], String::new(), &mut unbounded);
        assert!(unbounded.is_empty(), "integers with no maximum: {unbounded:?}");
    }

    #[test]
    fn a_published_event_names_the_data_each_type_takes() {
        let doc = document();
        let rules = doc["components"]["schemas"]["PublishEvent"]["allOf"].as_array().unwrap();
        assert_eq!(rules.len(), crate::webhooks::EventType::ALL.len());
        assert_eq!(rules[0]["if"]["properties"]["event_type"]["const"], "donation.claim");
    }

    #[test]
    fn error_schema_requires_the_taxonomy_fields() {
        let doc = document();
        let schema = &doc["components"]["schemas"]["ErrorBody"];
        let mut required: Vec<&str> =
            schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        required.sort_unstable();
        assert_eq!(required, ["error", "message", "request_id", "success"]);
    }

    #[test]
    fn every_request_example_parses_into_its_type_and_passes_its_checks() {
        fn parses<T: serde::de::DeserializeOwned>(body: RequestBody) -> T {
            serde_json::from_value(request_example(body)).unwrap_or_else(|e| panic!("{body:?}: {e}"))
        }
        let now = 1_800_000_000;
        parses::<crate::public::CanaryIn>(RequestBody::CanaryIn).validate().unwrap();
        parses::<PartnerKeyIn>(RequestBody::PartnerKeyIn);
        parses::<PartnerKeyPatch>(RequestBody::PartnerKeyPatch);
        parses::<UserIn>(RequestBody::UserIn);
        parses::<UserPatch>(RequestBody::UserPatch);
        parses::<WalletIn>(RequestBody::WalletIn);
        parses::<SalutesIn>(RequestBody::SalutesIn);
        parses::<DonationClaimIn>(RequestBody::DonationClaimIn);
        parses::<SubscriptionIn>(RequestBody::SubscriptionIn);
        parses::<SubscriptionPatch>(RequestBody::SubscriptionPatch);
        parses::<crate::webhooks::inbox::InboxIn>(RequestBody::InboxIn).validate().unwrap();
        let simulate = parses::<crate::webhooks::simulate::SimulateIn>(RequestBody::SimulateIn);
        simulate.target().unwrap();
        simulate.drills().unwrap();
        simulate.events(now * 1000).unwrap();
        parses::<PublishEvent>(RequestBody::PublishEvent);
        parses::<RedriveIn>(RequestBody::RedriveIn).batch_size().unwrap();
        parses::<crate::incidents::IncidentIn>(RequestBody::IncidentIn).open(now).unwrap();
        parses::<crate::incidents::IncidentUpdateIn>(RequestBody::IncidentUpdateIn).validate().unwrap();
        // The served document carries them.
        let doc = document();
        let credit = &doc["paths"]["/api/salutes/credit"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(credit["example"]["reason"], "event_participation");
    }

    /// Each example answer is exactly what the edge's own types write: it
    /// reads into the type and writes back unchanged.
    #[test]
    fn every_response_example_is_what_the_types_write() {
        fn same<T: serde::Serialize + serde::de::DeserializeOwned>(name: &str, value: &Value) {
            let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{name}: {e}\n{value:#}"));
            assert_eq!(&serde_json::to_value(&typed).unwrap(), value, "{name} does not round-trip");
        }
        fn data<T: serde::Serialize + serde::de::DeserializeOwned>(examples: &Map<String, Value>, name: &str) {
            let body = examples.get(name).unwrap_or_else(|| panic!("no example for {name}"));
            assert_eq!(body["success"], true, "{name}");
            same::<T>(name, &body["data"]);
        }
        let e = response_examples();
        use crate::{incidents, latency, lifecycle, public, status};
        data::<HealthReport>(&e, "HealthResponse");
        data::<crate::sandbox::Wallet>(&e, "WalletResponse");
        data::<lifecycle::Calendar>(&e, "DeprecationCalendarResponse");
        data::<public::KeyCheck>(&e, "KeyCheckResponse");
        same::<crate::trust::TrustManifest>("TrustManifest", &e["TrustManifest"]);
        data::<status::SystemStatus>(&e, "SystemStatusResponse");
        data::<Vec<status::TrendPoint>>(&e, "StatusTrendResponse");
        data::<status::Uptime>(&e, "StatusUptimeResponse");
        same::<status::StatuspageSummary>("StatuspageSummary", &e["StatuspageSummary"]);
        data::<incidents::IncidentList>(&e, "StatusIncidentsResponse");
        data::<incidents::Incident>(&e, "IncidentResponse");
        data::<latency::LatencyReport>(&e, "LatencyPercentilesResponse");
        data::<crate::changelog::Changelog>(&e, "OpenApiChangelogResponse");
        data::<public::CanaryEcho>(&e, "CanaryEchoResponse");
        data::<public::PublicStats>(&e, "PublicStatsResponse");
        data::<Vec<public::PublicTransaction>>(&e, "LatestTransactionsResponse");
        data::<Vec<lifecycle::PartnerUsage>>(&e, "PartnerDeprecationsResponse");
        data::<Vec<lifecycle::MigrationStatus>>(&e, "MigrationStatusResponse");
        data::<Vec<lifecycle::SimulatedHeaders>>(&e, "SimulatedHeadersResponse");
        data::<crate::sandbox::WalletOwner>(&e, "WalletOwnerResponse");
        data::<Vec<ErrorCatalogueEntry>>(&e, "ErrorCatalogueResponse");
        data::<PartnerKeyOut>(&e, "PartnerKeyResponse");
        data::<Vec<PartnerKeyOut>>(&e, "PartnerKeyListResponse");
        data::<PartnerKeyWithSecret>(&e, "PartnerKeyWithSecretResponse");
        data::<PartnerIdentity>(&e, "PartnerIdentityResponse");
        data::<Capabilities>(&e, "CapabilitiesResponse");
        data::<SandboxUser>(&e, "UserResponse");
        data::<LedgerEntry>(&e, "LedgerEntryResponse");
        data::<Vec<LedgerEntry>>(&e, "LedgerPageResponse");
        data::<Balance>(&e, "BalanceResponse");
        data::<DonationClaim>(&e, "DonationClaimResponse");
        data::<Subscription>(&e, "SubscriptionResponse");
        data::<SubscriptionWithSecret>(&e, "SubscriptionWithSecretResponse");
        data::<Vec<Subscription>>(&e, "SubscriptionListResponse");
        data::<Published>(&e, "PublishedResponse");
        data::<crate::webhooks::simulate::Simulation>(&e, "SimulationResponse");
        data::<crate::webhooks::inbox::Inbox>(&e, "InboxResponse");
        data::<Vec<crate::webhooks::inbox::Inbox>>(&e, "InboxListResponse");
        data::<Vec<crate::webhooks::inbox::Capture>>(&e, "CaptureListResponse");
        data::<crate::webhooks::inbox::Captured>(&e, "CapturedResponse");
        data::<Vec<DeliveryLogEntry>>(&e, "DeliveryLogResponse");
        data::<Vec<Attempt>>(&e, "FailureLogResponse");
        data::<Delivery>(&e, "DeliveryResponse");
        same::<Resent>("Resent", &e["Resent"]);
        data::<Redrive>(&e, "RedriveResponse");
        for paged in ["LedgerPageResponse", "DeliveryLogResponse", "FailureLogResponse"] {
            same::<crate::api::PageMeta>(paged, &e[paged]["meta"]);
        }
        // Every success answer with a schema component carries its example.
        let doc = document();
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for (method, op) in methods.as_object().unwrap() {
                for (status, answer) in op["responses"].as_object().unwrap() {
                    let Some(media) = answer["content"].as_object().and_then(|c| c.values().next()) else { continue };
                    if status.starts_with('2') && media["schema"].get("$ref").is_some() {
                        assert!(media.get("example").is_some(), "{method} {path} {status} has no example");
                    }
                }
            }
        }
    }
}
