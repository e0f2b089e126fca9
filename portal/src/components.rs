//! Pieces every page uses: an answer shown with its status, time and
//! headers; JSON as a collapsible tree; a copy button.

use leptos::prelude::*;
use serde_json::Value;

use crate::api::Exchange;

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>, #[prop(into)] label: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let aria = format!("Copy {label}");
    let copy = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text.get_untracked());
            copied.set(true);
        }
    };
    view! {
        <button type="button" class="copy" aria-label=aria on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// A block of code with a copy button.
#[component]
pub fn CodeBlock(#[prop(into)] code: Signal<String>, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <div class="code-block">
            <pre tabindex="0" aria-label=label.clone()><code>{move || code.get()}</code></pre>
            <CopyButton text=code label />
        </div>
    }
}

/// JSON as nested `<details>`: objects and arrays open at the top two levels.
#[component]
pub fn JsonTree(value: Value) -> impl IntoView {
    view! { <div class="json-tree">{node(None, &value, 0)}</div> }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

fn node(name: Option<String>, value: &Value, depth: usize) -> AnyView {
    let label = name.map(|n| view! { <span class="json-key">{n}</span> ": " });
    let branch = match value {
        Value::Object(map) if !map.is_empty() => Some((
            map.iter().map(|(k, v)| node(Some(k.clone()), v, depth + 1)).collect::<Vec<_>>(),
            format!("{{…}} {} keys", map.len()),
        )),
        Value::Array(items) if !items.is_empty() => Some((
            items.iter().enumerate().map(|(i, v)| node(Some(i.to_string()), v, depth + 1)).collect(),
            format!("[…] {} items", items.len()),
        )),
        _ => None,
    };
    if let Some((children, summary)) = branch {
        return view! {
            <details open=depth < 2>
                <summary>{label}<span class="muted">{summary}</span></summary>
                <div class="json-children">{children}</div>
            </details>
        }
        .into_any();
    }
    let class = match value {
        Value::String(_) => "json-string",
        Value::Number(_) => "json-number",
        _ => "json-literal",
    };
    view! { <div class="json-leaf">{label}<span class=class>{scalar(value)}</span></div> }.into_any()
}

/// An answer: status, time, the headers that matter and the body.
#[component]
pub fn ExchangeView(exchange: Exchange) -> impl IntoView {
    let ok = (200..300).contains(&exchange.status);
    let badge = if ok { "badge ok" } else { "badge bad" };
    let status = format!("HTTP {}", exchange.status);
    let time = format!("{} ms", exchange.elapsed_ms.max(0.0).round() as u64);
    let line = format!("{} {}", exchange.method, exchange.path);
    let body = match exchange.json() {
        Some(json) => view! { <JsonTree value=json /> }.into_any(),
        None => view! { <pre class="raw-body" tabindex="0">{exchange.body.clone()}</pre> }.into_any(),
    };
    let headers = exchange.headers.clone();
    view! {
        <div class="exchange" data-testid="exchange">
            <p class="status-line">
                <span class=badge data-testid="exchange-status">{status}</span>
                " " <span data-testid="exchange-time">{time}</span>
                " · " <code>{line}</code>
            </p>
            <table class="headers">
                <caption class="visually-hidden">"Response headers"</caption>
                <tbody>
                    {headers
                        .into_iter()
                        .map(|(name, value)| view! { <tr><th scope="row"><code>{name}</code></th><td><code>{value}</code></td></tr> })
                        .collect::<Vec<_>>()}
                </tbody>
            </table>
            {body}
        </div>
    }
}

/// What a page knows of one fetch: `None` while loading, then the data or
/// why there is none.
pub type Loaded<T> = RwSignal<Option<Result<T, String>>>;

/// Starts `fetch` now; the returned closure fetches again (keeping the old
/// answer on screen until the new one arrives).
pub fn load<T, Fut>(fetch: impl Fn() -> Fut + Copy + 'static) -> (Loaded<T>, impl Fn() + Copy + 'static)
where
    T: Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, crate::api::PortalError>> + 'static,
{
    let state: Loaded<T> = RwSignal::new(None);
    let reload = move || {
        leptos::task::spawn_local(async move {
            let outcome = fetch().await.map_err(|e| e.to_string());
            state.set(Some(outcome));
        });
    };
    reload();
    (state, reload)
}

/// Renders a [`Loaded`]: a loading line, an alert, or `render(data)`.
pub fn loaded<T, V>(
    state: Loaded<T>,
    loading: &'static str,
    render: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    move || match state.get() {
        None => view! { <p class="muted">{loading}</p> }.into_any(),
        Some(Err(message)) => view! { <div class="notice error" role="alert">{message}</div> }.into_any(),
        Some(Ok(data)) => render(data).into_any(),
    }
}
