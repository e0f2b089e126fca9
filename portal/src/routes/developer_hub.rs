//! The developer hub: what the edge is, how to make a first call, and its
//! live rules: the error taxonomy, rate limits, scopes and security
//! controls, all read from the edge itself.

use leptos::prelude::*;
use partner_edge::error::ErrorCatalogueEntry;
use partner_edge::gate::{HEADER_IDEMPOTENCY_KEY, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use partner_edge::health::{CheckResult, HealthReport};
use partner_edge::status::SystemStatus;
use partner_edge::trust::TrustManifest;

use crate::api;
use crate::components::{load, loaded};

#[component]
pub fn DeveloperHub() -> impl IntoView {
    let (health, check_again) = load(api::health);
    let (status, _) = load(api::system_status);
    let (catalogue, _) = load(api::error_catalogue);
    let (trust, _) = load(api::trust_manifest);
    let (document, _) = load(api::openapi_document);

    view! {
        <section class="intro">
            <h1>"Partner Edge developer hub"</h1>
            <p>
                "The edge in front of the partner API: it verifies signed partner requests, "
                "enforces rate limits, delivers signed webhooks and publishes its own status."
            </p>
            <p>
                "Every route, with its schemas and error codes, is in the "
                <a href="/reference">"API reference"</a> ", generated from the same table the edge "
                "dispatches from."
            </p>
        </section>

        <section class="card" aria-labelledby="build-heading">
            <h2 id="build-heading">"What you can build"</h2>
            <ul>
                <li>"Sign in your backend and call partner routes: identity, users, salutes (credit, debit, balance, ledger) and donation claims."</li>
                <li>"Receive signed webhooks for what happens to your users, with retries, a delivery log and replay."</li>
                <li>"Watch the edge: live status, incidents, latency percentiles and the deprecation calendar."</li>
            </ul>
        </section>

        <section class="card" aria-labelledby="quickstart-heading">
            <h2 id="quickstart-heading">"Quick start"</h2>
            <ol>
                <li>"Get a key id and secret from your operator (a local edge offers a demo key)."</li>
                <li>"Sign " <code>"GET /api/partner/me"</code> " and send it: the " <a href="/start">"integration wizard"</a> " does it in the browser."</li>
                <li>"Make a first idempotent credit, then wire the signing into your code."</li>
            </ol>
        </section>

        <section class="card" aria-labelledby="headers-heading">
            <h2 id="headers-heading">"Authentication headers"</h2>
            <table class="data">
                <thead><tr><th scope="col">"Header"</th><th scope="col">"What it carries"</th></tr></thead>
                <tbody>
                    <tr><th scope="row"><code>{HEADER_KEY}</code></th><td>"Your key id."</td></tr>
                    <tr><th scope="row"><code>{HEADER_TIMESTAMP}</code></th><td>"Unix seconds when you signed."</td></tr>
                    <tr><th scope="row"><code>{HEADER_NONCE}</code></th><td>"16 to 64 characters, never reused."</td></tr>
                    <tr><th scope="row"><code>{HEADER_SIGNATURE}</code></th><td><code>"v1=hex(HMAC-SHA256(secret, v1\\ntimestamp\\nMETHOD\\npath?query\\nnonce\\nsha256(body)))"</code></td></tr>
                    <tr><th scope="row"><code>{HEADER_IDEMPOTENCY_KEY}</code></th><td>"On mutations: one per logical operation; a retry with the same key gets the stored answer."</td></tr>
                </tbody>
            </table>
        </section>

        <section class="card" aria-labelledby="status-heading">
            <h2 id="status-heading">"Live status"</h2>
            {loaded(status, "Loading the status…", |status| view! { <StatusSummary status /> })}
        </section>

        <section class="card" aria-labelledby="errors-heading">
            <h2 id="errors-heading">"Error taxonomy"</h2>
            <p class="muted">"Every error is " <code>"{\"success\":false,\"error\":code,\"message\",\"request_id\"}"</code> "; branch on the code."</p>
            {loaded(catalogue, "Loading the error catalogue…", |entries| view! { <ErrorTable entries /> })}
        </section>

        <section class="card" aria-labelledby="limits-heading">
            <h2 id="limits-heading">"Rate limits and security"</h2>
            {loaded(trust, "Loading the trust manifest…", |manifest| view! { <TrustTables manifest /> })}
        </section>

        <section class="card" aria-labelledby="scopes-heading">
            <h2 id="scopes-heading">"Scopes and endpoints"</h2>
            {loaded(document, "Loading the OpenAPI document…", |doc| view! { <ScopeMatrix doc /> })}
        </section>

        <section class="card" aria-labelledby="health-heading">
            <div class="card-head">
                <h2 id="health-heading">"Live health"</h2>
                <button type="button" on:click=move |_| check_again()>"Check again"</button>
            </div>
            {loaded(health, "Checking the edge…", |report| view! { <HealthSummary report /> })}
        </section>
    }
}

#[component]
fn HealthSummary(report: HealthReport) -> impl IntoView {
    let HealthReport { status, checks, probes_recorded, previous_probe, .. } = report;
    view! {
        <p class="status-line" data-testid="health-status">
            <span class="badge ok">{status}</span>
            " · " {probes_recorded} {if probes_recorded == 1 { " probe recorded" } else { " probes recorded" }}
        </p>
        <table class="checks">
            <thead>
                <tr><th scope="col">"Check"</th><th scope="col">"Result"</th><th scope="col">"Latency"</th></tr>
            </thead>
            <tbody>
                <CheckRow name="KV write and read" result=checks.kv />
                <CheckRow name="Durable Object round trip" result=checks.durable_object />
            </tbody>
        </table>
        {previous_probe.map(|probe| view! {
            <p class="muted">"Previous probe: " <code>{probe.request_id.to_string()}</code></p>
        })}
    }
}

#[component]
fn CheckRow(name: &'static str, result: CheckResult) -> impl IntoView {
    let (label, class) = if result.ok { ("passing", "badge ok") } else { ("failing", "badge bad") };
    view! {
        <tr>
            <th scope="row">{name}</th>
            <td><span class=class>{label}</span>{result.error.map(|e| format!(" {e}"))}</td>
            <td>{result.latency_ms} " ms"</td>
        </tr>
    }
}

#[component]
fn StatusSummary(status: SystemStatus) -> impl IntoView {
    let word = |s: partner_edge::status::ComponentStatus| {
        serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    };
    let badge = if status.indicator.is_up() { "badge ok" } else { "badge bad" };
    view! {
        <p data-testid="status-indicator"><span class=badge>{word(status.indicator)}</span>
            {status.last_probe_at.map(|at| format!(" · last probe {at}"))}</p>
        <ul class="inline-list">
            {status.components.into_iter().map(|c| view! {
                <li><code>{c.check.column()}</code> " " {word(c.status)}</li>
            }).collect::<Vec<_>>()}
        </ul>
        <p><a href="/api/public/system-status/incidents">"Incidents"</a> " · "
           <a href="/api/public/latency-percentiles">"Latency percentiles"</a> " · "
           <a href="/api/v2/summary.json">"summary.json"</a></p>
    }
}

#[component]
fn ErrorTable(entries: Vec<ErrorCatalogueEntry>) -> impl IntoView {
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Error codes">
            <table class="data" data-testid="error-taxonomy">
                <thead><tr>
                    <th scope="col">"Code"</th><th scope="col">"HTTP"</th>
                    <th scope="col">"Retry"</th><th scope="col">"What to do"</th>
                </tr></thead>
                <tbody>
                    {entries.into_iter().map(|e| {
                        let retry = serde_json::to_value(e.retry_class).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                        let code = e.code.as_str();
                        view! {
                            <tr id=format!("error-{code}")>
                                <th scope="row"><code>{code}</code></th>
                                <td>{e.http_status}</td>
                                <td>{retry}</td>
                                <td>{e.client_action}</td>
                            </tr>
                        }
                    }).collect::<Vec<_>>()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn TrustTables(manifest: TrustManifest) -> impl IntoView {
    let limits = manifest.controls.iter().find(|c| c.id == "rate_limits").cloned();
    let rows = |value: &serde_json::Value| {
        value
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(name, v)| view! { <tr><th scope="row">{name.replace('_', " ")}</th><td>{v.to_string()}</td></tr> })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    view! {
        {limits.map(|control| view! {
            <h3>"Rate limits"</h3>
            <p class="muted">{control.summary.clone()}</p>
            <table class="data" data-testid="rate-limits"><tbody>{rows(&control.value)}</tbody></table>
        })}
        <h3>"Security controls"</h3>
        <p class="muted">"From " <a href="/trust.json">"/trust.json"</a> ", generated from the edge's live settings."</p>
        <ul class="controls">
            {manifest.controls.into_iter().map(|c| view! {
                <li><strong>{c.id.replace('_', " ")}</strong> ": " {c.summary}</li>
            }).collect::<Vec<_>>()}
        </ul>
    }
}

/// Scopes from the OpenAPI descriptions ("Requires scope `x`.").
fn scope_rows(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for (path, methods) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in methods.as_object().into_iter().flatten() {
            let secured =
                op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("partnerSignature").is_some()));
            if !secured {
                continue;
            }
            let description = op["description"].as_str().unwrap_or_default();
            let scope = description
                .split("Requires scope `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .unwrap_or("any valid key")
                .to_owned();
            rows.push((scope, format!("{} {path}", method.to_ascii_uppercase())));
        }
    }
    rows.sort();
    rows
}

#[component]
fn ScopeMatrix(doc: serde_json::Value) -> impl IntoView {
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Scopes and endpoints">
            <table class="data" data-testid="scope-matrix">
                <thead><tr><th scope="col">"Scope"</th><th scope="col">"Endpoint"</th></tr></thead>
                <tbody>
                    {scope_rows(&doc).into_iter().map(|(scope, endpoint)| view! {
                        <tr><td><code>{scope}</code></td><td><code>{endpoint}</code></td></tr>
                    }).collect::<Vec<_>>()}
                </tbody>
            </table>
        </div>
    }
}
