//! The Partner Edge developer portal. Pages live under `routes/`, one file
//! each; `api.rs` is the only place that talks to the edge.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

pub mod api;
mod routes;

use routes::{developer_hub::DeveloperHub, not_found::NotFound, reference::Reference};

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="site-header">
                <A href="/" attr:class="brand">"Partner Edge"</A>
                <nav aria-label="Main">
                    <A href="/">"Hub"</A>
                    <A href="/reference">"API reference"</A>
                </nav>
            </header>
            <main>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=DeveloperHub />
                    <Route path=path!("/reference") view=Reference />
                </Routes>
            </main>
            <footer class="site-footer">
                <a href="/openapi.json">"openapi.json"</a>
            </footer>
        </Router>
    }
}

/// Renders whatever errors an `ErrorBoundary` caught, as an alert.
#[component]
fn ErrorNotice(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let messages = move || {
        errors.with(|errors| errors.iter().map(|(_, e)| view! { <li>{e.to_string()}</li> }).collect::<Vec<_>>())
    };
    view! {
        <div class="notice error" role="alert">
            <ul>{messages}</ul>
        </div>
    }
}
