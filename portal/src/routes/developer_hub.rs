//! The developer hub: what the edge is, and whether it is healthy right now.

use leptos::prelude::*;
use leptos_router::components::A;
use partner_edge::health::{CheckResult, HealthReport};

use crate::{api, ErrorNotice};

#[component]
pub fn DeveloperHub() -> impl IntoView {
    let health = LocalResource::new(api::health);

    view! {
        <section class="intro">
            <h1>"Partner Edge developer hub"</h1>
            <p>
                "The edge in front of the partner API: it verifies signed partner requests, "
                "enforces rate limits, delivers signed webhooks and publishes its own status."
            </p>
            <p>
                "Every route, with its schemas and error codes, is in the "
                <A href="/reference">"API reference"</A> ", generated from the same table the edge "
                "dispatches from."
            </p>
        </section>

        <section class="card" aria-labelledby="health-heading">
            <div class="card-head">
                <h2 id="health-heading">"Live health"</h2>
                <button type="button" on:click=move |_| health.refetch()>"Check again"</button>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Checking the edge…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <ErrorNotice errors /> }>
                    {move || Suspend::new(async move {
                        health.await.map(|report| view! { <HealthSummary report /> })
                    })}
                </ErrorBoundary>
            </Transition>
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
