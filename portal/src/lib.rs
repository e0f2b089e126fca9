//! The Partner Edge developer portal. Pages live under `routes/`, one file
//! each; `api.rs` is the only place that talks to the edge.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

pub mod api;
mod components;
mod key;
mod routes;
mod samples;

use routes::{
    developer_hub::DeveloperHub, not_found::NotFound, presets::Presets, reference::Reference, sign::SigningHelper,
    start::Start,
};

#[component]
pub fn App() -> impl IntoView {
    provide_context(key::KeyContext::restore());
    view! {
        <Router>
            <a class="skip-link" href="#content">"Skip to content"</a>
            <header class="site-header">
                <A href="/" attr:class="brand">"Partner Edge"</A>
                <nav aria-label="Main">
                    <A href="/">"Hub"</A>
                    <A href="/start">"Start"</A>
                    <A href="/presets">"Presets"</A>
                    <A href="/sign">"Signing"</A>
                    <A href="/reference">"API reference"</A>
                </nav>
                <ThemeToggle />
            </header>
            <main id="content" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=DeveloperHub />
                    <Route path=path!("/start") view=Start />
                    <Route path=path!("/presets") view=Presets />
                    <Route path=path!("/sign") view=SigningHelper />
                    <Route path=path!("/reference") view=Reference />
                    <Route path=path!("/reference/:operation_id") view=Reference />
                </Routes>
            </main>
            <footer class="site-footer">
                <a href="/openapi.json">"openapi.json"</a>
            </footer>
        </Router>
    }
}

const THEME_KEY: &str = "partner-edge.theme";

/// Dark mode: follows `prefers-color-scheme` until toggled; the choice (not a
/// secret) is kept in `localStorage` and set as `data-theme` on `<html>`.
#[component]
fn ThemeToggle() -> impl IntoView {
    let window = web_sys::window();
    let stored = window
        .as_ref()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(THEME_KEY).ok().flatten());
    let prefers_dark = window
        .as_ref()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    let dark = RwSignal::new(stored.map_or(prefers_dark, |t| t == "dark"));
    Effect::new(move |first: Option<()>| {
        let is_dark = dark.get();
        let Some(window) = web_sys::window() else { return };
        if let Some(root) = window.document().and_then(|d| d.document_element()) {
            let _ = root.set_attribute("data-theme", if is_dark { "dark" } else { "light" });
        }
        // Only an explicit toggle is remembered.
        if first.is_some() {
            if let Some(storage) = window.local_storage().ok().flatten() {
                let _ = storage.set_item(THEME_KEY, if is_dark { "dark" } else { "light" });
            }
        }
    });
    view! {
        <button type="button" class="theme-toggle" aria-pressed=move || dark.get().to_string()
            on:click=move |_| dark.update(|d| *d = !*d)>
            "Dark mode"
        </button>
    }
}
