use leptos::prelude::*;

/// Client-side 404: the worker serves index.html for unknown paths and this page says so.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p>"There is no portal page at this address."</p>
            <p><a href="/">"Back to the hub"</a></p>
        </section>
    }
}
