//! The Partner Edge developer portal. Pages live under `routes/`, one file
//! each; `api.rs` is the only place that talks to the edge.

use leptos::prelude::*;

pub mod api;
mod components;
mod key;
mod markup;
mod nav;
mod routes;
mod samples;

use routes::{
    deprecations::Deprecations, developer_hub::DeveloperHub, not_found::NotFound, presets::Presets,
    reference::Reference, sign::SigningHelper, simulator::Simulator, start::Start, status::Status, webhooks::Webhooks,
};

#[component]
pub fn App() -> impl IntoView {
    provide_context(key::KeyContext::restore());
    let location = nav::provide();
    // A page per first path segment; only the reference takes one more.
    let page = Memo::new(move |_| {
        location.path.with(|path| {
            let page = nav::page_of(path);
            if page == "reference" {
                page.to_owned()
            } else {
                path.trim_matches('/').to_owned()
            }
        })
    });
    let link = |href: &'static str, label: &'static str| view! { <a href=href aria-current=nav::current_for(href)>{label}</a> };
    view! {
        <a class="skip-link" href="#content">"Skip to content"</a>
        <header class="site-header">
            <a href="/" class="brand">"Partner Edge"</a>
            <nav aria-label="Main">
                {link("/", "Hub")}
                {link("/start", "Start")}
                {link("/presets", "Presets")}
                {link("/sign", "Signing")}
                {link("/reference", "API reference")}
                {link("/webhooks", "Webhooks")}
                {link("/simulator", "Simulator")}
                {link("/status", "Status")}
                {link("/deprecations", "Deprecations")}
            </nav>
            <ThemeToggle />
        </header>
        <main id="content" tabindex="-1">
            {move || match page.get().as_str() {
                "" => view! { <DeveloperHub /> }.into_any(),
                "start" => view! { <Start /> }.into_any(),
                "presets" => view! { <Presets /> }.into_any(),
                "sign" => view! { <SigningHelper /> }.into_any(),
                "reference" => view! { <Reference /> }.into_any(),
                "webhooks" => view! { <Webhooks /> }.into_any(),
                "simulator" => view! { <Simulator /> }.into_any(),
                "status" => view! { <Status /> }.into_any(),
                "deprecations" => view! { <Deprecations /> }.into_any(),
                _ => view! { <NotFound /> }.into_any(),
            }}
        </main>
        <footer class="site-footer">
            <a href="/openapi.json">"openapi.json"</a>
        </footer>
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
