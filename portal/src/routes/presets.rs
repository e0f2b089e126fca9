//! Query presets: the seed's four public questions and the partner's own,
//! each run live, with a deep link (`/presets?preset=<id>`) that restores
//! and runs it, and copies as curl or as a CLI command.

use leptos::prelude::*;

use crate::api::{self, Exchange};
use crate::components::{CodeBlock, ExchangeView};
use crate::key::{self, use_key};
use crate::samples::{self, Auth, Sample};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub id: &'static str,
    pub title: &'static str,
    pub path: &'static str,
    /// Signed with the key in this tab.
    pub signed: bool,
    pub what: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        id: "uptime-24h",
        title: "Uptime, 24 h",
        path: "/api/public/system-status/uptime?hours=24",
        signed: false,
        what: "Availability and per-check degraded rates over the last day.",
    },
    Preset {
        id: "incidents-7d",
        title: "Incidents, 7 days",
        path: "/api/public/system-status/incidents?hours=168&limit=30",
        signed: false,
        what: "Incident windows, active and resolved, with their updates.",
    },
    Preset {
        id: "latency-24h",
        title: "Latency percentiles",
        path: "/api/public/latency-percentiles?hours=24",
        signed: false,
        what: "p50, p95 and p99 of real traffic, per route family, and webhook delivery latency.",
    },
    Preset {
        id: "trust",
        title: "Trust manifest",
        path: "/trust.json",
        signed: false,
        what: "The controls the edge runs with, from its live settings.",
    },
    Preset {
        id: "identity",
        title: "Identity",
        path: "/api/partner/me",
        signed: true,
        what: "The key that signed: its environment, scopes and limit.",
    },
    Preset {
        id: "balance",
        title: "Balance",
        path: "/api/salutes/balance?user_id=4",
        signed: true,
        what: "Sandbox user 4's salute balance.",
    },
    Preset {
        id: "ledger",
        title: "Ledger",
        path: "/api/salutes/ledger?user_id=4&limit=10",
        signed: true,
        what: "Sandbox user 4's latest ledger entries, cursor-paginated.",
    },
    Preset {
        id: "event-types",
        title: "Event types",
        path: "/api/public/webhooks/event-types",
        signed: false,
        what: "Every webhook event type with its schema and an example.",
    },
    Preset {
        id: "errors",
        title: "Error catalogue",
        path: "/developers/api-errors.json",
        signed: false,
        what: "Every error code with its HTTP status, retry class and client action.",
    },
];

/// Runs `preset`, signed with `key` when it needs one.
pub async fn run(preset: Preset, key: Option<key::Credentials>) -> Result<Exchange, String> {
    let headers = if preset.signed {
        let key = key.ok_or("this preset is signed: choose a key in the wizard first")?;
        key::sign(&key, "GET", preset.path, "", key::unix_now(), &key::random_token(), None).headers
    } else {
        Vec::new()
    };
    api::exchange("GET", preset.path, &headers, None).await.map_err(|e| e.to_string())
}

#[component]
pub fn Presets() -> impl IntoView {
    let location = crate::nav::use_location();
    let selected = Memo::new(move |_| {
        let id = location.query.with(|q| crate::nav::query_value(q, "preset"));
        PRESETS.iter().copied().find(|p| Some(p.id) == id.as_deref())
    });
    view! {
        <section class="intro">
            <h1>"Query presets"</h1>
            <p>"Each preset runs live against this edge. Its link restores and runs it; copy it as curl or as a CLI command."</p>
        </section>
        <div class="presets">
            <nav aria-label="Presets" class="preset-list">
                <ul>
                    {PRESETS.iter().map(|p| {
                        let href = format!("/presets?preset={}", p.id);
                        let id = p.id;
                        let current = move || (selected.get().map(|s| s.id) == Some(id)).then_some("page");
                        view! { <li><a href=href aria-current=current>{p.title}</a>{p.signed.then_some(" (signed)")}</li> }
                    }).collect::<Vec<_>>()}
                </ul>
            </nav>
            <div class="preset-detail">
                {move || match selected.get() {
                    Some(preset) => view! { <PresetRunner preset /> }.into_any(),
                    None => view! { <p class="muted">"Choose a preset."</p> }.into_any(),
                }}
            </div>
        </div>
    }
}

/// The preset as the code samples send it.
fn sample<'a>(preset: Preset, origin: &'a str, key_id: &'a str) -> Sample<'a> {
    let auth = if preset.signed { Auth::Partner } else { Auth::Public };
    Sample { origin, method: "GET", path_and_query: preset.path, body: "", key_id, auth }
}

#[component]
fn PresetRunner(preset: Preset) -> impl IntoView {
    let keys = use_key();
    let result = RwSignal::new(None::<Result<Exchange, String>>);
    let running = RwSignal::new(false);
    let go = move || {
        running.set(true);
        let key = keys.key.get_untracked();
        leptos::task::spawn_local(async move {
            let outcome = run(preset, key).await;
            result.set(Some(outcome));
            running.set(false);
        });
    };
    // A deep link runs what it restores, unless it needs a key the tab lacks.
    if !preset.signed || keys.key.get_untracked().is_some() {
        go();
    }
    let origin = key::origin();
    // A signed preset copies with a fresh signature: good once, within the timestamp window.
    let curl = {
        let origin = origin.clone();
        Signal::derive(move || match (preset.signed, keys.key.get()) {
            (false, _) => samples::curl(&sample(preset, &origin, "")),
            (true, Some(key)) => {
                let signed = key::sign(&key, "GET", preset.path, "", key::unix_now(), &key::random_token(), None);
                format!(
                    "# signed now: works once, within the timestamp window\n{}",
                    samples::curl_signed(&sample(preset, &origin, &key.key_id), &signed.headers)
                )
            }
            (true, None) => "# choose a key in the wizard to get a signed curl command".to_owned(),
        })
    };
    let key_id = keys.key.get_untracked().map(|k| k.key_id).unwrap_or_else(|| "pk_…".to_owned());
    let cli = samples::cli(&sample(preset, &origin, &key_id));
    view! {
        <section class="card" aria-labelledby="preset-heading">
            <h2 id="preset-heading">{preset.title}</h2>
            <p>{preset.what}</p>
            <p><code>"GET " {preset.path}</code></p>
            <button type="button" on:click=move |_| go() disabled=move || running.get()>
                {move || if running.get() { "Running…" } else { "Run" }}
            </button>
            <h3>"curl"</h3>
            <CodeBlock code=curl label="curl command" />
            <h3>"CLI"</h3>
            <CodeBlock code=cli label="CLI command" />
            <div aria-live="polite">
                {move || match result.get() {
                    None if running.get() => view! { <p class="muted">"Running…"</p> }.into_any(),
                    None => view! { <p class="muted">"Not run yet."</p> }.into_any(),
                    Some(Ok(exchange)) => view! { <ExchangeView exchange /> }.into_any(),
                    Some(Err(message)) => view! { <div class="notice error" role="alert">{message}</div> }.into_any(),
                }}
            </div>
        </section>
    }
}
