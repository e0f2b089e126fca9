//! Read-only views written as escaped HTML text.
//!
//! Every `view!` tree is its own type with its own build, rebuild and mount
//! code in the wasm, and the portal must fit in 300 kB. Long tables, logs,
//! charts and captures change only when fresh data arrives, so they are
//! written as text here (every value through [`esc`]) and set once per
//! answer with `inner_html`. Their buttons carry `data-action` and
//! `data-id`, and one delegated click handler per page reads them
//! ([`action_of`]): real buttons, so the keyboard works as usual.

use std::fmt::Write;

use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::JsCast;

/// `text` safe inside an element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as text: strings bare, everything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `[[name, value], …]` (how the edge lists headers) as `name: value` lines.
pub fn header_lines(pairs: &Value) -> String {
    pairs.as_array().into_iter().flatten().map(|p| format!("{}: {}\n", text(&p[0]), text(&p[1]))).collect()
}

/// `value` pretty-printed (a string that holds JSON is parsed first).
pub fn pretty(value: &Value) -> String {
    let parsed = value.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok());
    let shown = parsed.as_ref().unwrap_or(value);
    match shown {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// A table: `head` cells, then rows of already-escaped cells.
pub fn table(out: &mut String, caption: &str, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ =
        // The wrapper scrolls a wide table sideways, so it takes focus (for the keyboard) and has a name.
        write!(
            out,
            "<div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{0}\"><table class=\"data\"><caption>{0}</caption><thead><tr>",
            esc(caption)
        );
    for cell in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(cell));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

/// A button the page's delegated handler acts on.
pub fn button(action: &str, id: &str, label: &str, described: &str) -> String {
    format!(
        "<button type=\"button\" data-action=\"{}\" data-id=\"{}\" aria-label=\"{} {}\">{}</button>",
        esc(action),
        esc(id),
        esc(label),
        esc(described),
        esc(label)
    )
}

/// A badge: green when `ok`.
pub fn badge(ok: bool, label: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", if ok { "ok" } else { "bad" }, esc(label))
}

/// A `<pre>` that can take focus, so it scrolls from the keyboard.
pub fn pre(label: &str, body: &str) -> String {
    format!("<pre class=\"raw-body\" tabindex=\"0\" aria-label=\"{}\">{}</pre>", esc(label), esc(body))
}

/// Markup set as the inner HTML of a `div`.
#[component]
pub fn Markup(#[prop(into)] html: Signal<String>, #[prop(optional)] testid: &'static str) -> impl IntoView {
    view! { <div data-testid=testid inner_html=move || html.get()></div> }
}

/// The `data-action` and `data-id` of the button a click landed on.
pub fn action_of(event: &web_sys::Event) -> Option<(String, String)> {
    let target = event.target()?.dyn_into::<web_sys::Element>().ok()?;
    let button = target.closest("[data-action]").ok()??;
    Some((button.get_attribute("data-action")?, button.get_attribute("data-id").unwrap_or_default()))
}

/// What a page knows of one JSON fetch: `None` while loading.
pub type Answer = RwSignal<Option<Result<Value, String>>>;

/// Reads what `state` holds once it has loaded, without tracking it.
pub fn read_loaded<R>(state: Answer, read: impl FnOnce(&Value) -> Option<R>) -> Option<R> {
    state.with_untracked(|s| s.as_ref()?.as_ref().ok().and_then(read))
}

/// Renders an [`Answer`] as markup: a loading line, an alert, or `render(data)`.
pub fn shown(
    state: Answer,
    loading: &'static str,
    testid: &'static str,
    render: impl Fn(&Value) -> String + Send + Sync + 'static,
) -> AnyView {
    shown_dyn(state, loading, testid, std::sync::Arc::new(render))
}

type Render = std::sync::Arc<dyn Fn(&Value) -> String + Send + Sync>;

fn shown_dyn(state: Answer, loading: &'static str, testid: &'static str, render: Render) -> AnyView {
    // A memo: a live refresh that brings nothing new leaves the DOM (and the focus in it) alone.
    let html = Memo::new(move |_| match state.get() {
        None => format!("<p class=\"muted\">{}</p>", esc(loading)),
        Some(Err(message)) => format!("<div class=\"notice error\" role=\"alert\">{}</div>", esc(&message)),
        Some(Ok(value)) => render(&value),
    });
    view! { <Markup html=html testid /> }.into_any()
}

/// Fills `state` from `call`, keeping the old answer on screen meanwhile.
pub fn fill(state: Answer, call: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>>>>) {
    leptos::task::spawn_local(async move {
        let outcome = call.await;
        state.set(Some(outcome));
    });
}

fn by_id(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}

fn property(id: &str, name: &str) -> Option<wasm_bindgen::JsValue> {
    js_sys::Reflect::get(by_id(id)?.as_ref(), &name.into()).ok()
}

fn set_property(id: &str, name: &str, value: wasm_bindgen::JsValue) {
    if let Some(element) = by_id(id) {
        let _ = js_sys::Reflect::set(&element, &name.into(), &value);
    }
}

/// The current value of the form control `id` (empty when there is none).
pub fn value(id: &str) -> String {
    property(id, "value").and_then(|v| v.as_string()).unwrap_or_default()
}

pub fn set_value(id: &str, value: &str) {
    set_property(id, "value", value.into());
}

/// Whether the checkbox `id` is ticked.
pub fn checked(id: &str) -> bool {
    property(id, "checked").and_then(|v| v.as_bool()).unwrap_or(false)
}

pub fn set_checked(id: &str, on: bool) {
    set_property(id, "checked", on.into());
}

/// Replaces the text of element `id`.
pub fn set_text(id: &str, text: &str) {
    if let Some(element) = by_id(id) {
        element.set_text_content(Some(text));
    }
}

/// The text of element `id`.
pub fn text_content(id: &str) -> String {
    by_id(id).and_then(|e| e.text_content()).unwrap_or_default()
}

/// Moves the view (and the keyboard focus, for focusable elements) to `id`.
pub fn reveal(id: &str) {
    if let Some(element) = by_id(id) {
        element.scroll_into_view();
        let _ = js_sys::Reflect::get(&element, &"focus".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .map(|f| f.call0(&element));
    }
}

/// Copies `text` to the clipboard.
pub fn copy(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}

/// `<label>` and `<input>` (or any other control) as one grid row.
pub fn field(id: &str, label: &str, control: &str) -> String {
    format!("<label for=\"{}\">{}</label>{}", esc(id), esc(label), control)
}

/// A checkbox with its label.
pub fn checkbox(id: &str, label: &str) -> String {
    format!("<label class=\"check\"><input type=\"checkbox\" id=\"{}\"> {}</label>", esc(id), label)
}
