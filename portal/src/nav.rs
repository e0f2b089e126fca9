//! Client-side navigation: the path and query as signals, `pushState` for
//! links to portal pages, `popstate` for back and forward. It is all the
//! routing the portal needs (a page per first path segment, one optional
//! segment after it), at a fraction of a router crate's wasm.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Where the tab is: the path and the query string (with its `?`).
#[derive(Clone, Copy)]
pub struct Location {
    pub path: RwSignal<String>,
    pub query: RwSignal<String>,
}

/// The first path segment of every portal page; anything else (documents
/// the worker serves, such as `/openapi.json`) is a full navigation.
const PAGES: &[&str] =
    &["", "start", "presets", "sign", "reference", "webhooks", "simulator", "status", "deprecations"];

fn current() -> (String, String) {
    let location = web_sys::window().map(|w| w.location());
    let read = |f: fn(&web_sys::Location) -> Result<String, wasm_bindgen::JsValue>| {
        location.as_ref().and_then(|l| f(l).ok()).unwrap_or_default()
    };
    (read(web_sys::Location::pathname), read(web_sys::Location::search))
}

/// The page a path belongs to: its first segment.
pub fn page_of(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or_default()
}

/// The segment after the page's, as in `/reference/{operation_id}`.
pub fn sub_path(path: &str) -> Option<&str> {
    path.trim_start_matches('/').split('/').nth(1).filter(|s| !s.is_empty())
}

/// `name`'s value in a query string (`?a=1&b=2`), percent-decoding not needed
/// for the portal's own links.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.trim_start_matches('?').split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| value.to_owned())
    })
}

/// Starts tracking the tab's location; call once, at the top of the app.
pub fn provide() -> Location {
    let (path, query) = current();
    let location = Location { path: RwSignal::new(path), query: RwSignal::new(query) };
    provide_context(location);
    let sync = move || {
        let (path, query) = current();
        location.path.set(path);
        location.query.set(query);
    };
    let popstate = window_event_listener_untyped("popstate", move |_| sync());
    let click = window_event_listener(leptos::ev::click, move |ev| {
        if let Some(href) = portal_link(&ev) {
            ev.prevent_default();
            if let Some(window) = web_sys::window() {
                if let Ok(history) = window.history() {
                    let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&href));
                }
                window.scroll_to_with_x_and_y(0.0, 0.0);
            }
            sync();
        }
    });
    on_cleanup(move || {
        popstate.remove();
        click.remove();
    });
    location
}

pub fn use_location() -> Location {
    expect_context::<Location>()
}

/// The href of a plain left click on a link to a portal page, if that is what `ev` is.
fn portal_link(ev: &web_sys::MouseEvent) -> Option<String> {
    if ev.default_prevented() || ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
        return None;
    }
    let target = ev.target()?.dyn_into::<web_sys::Element>().ok()?;
    let link = target.closest("a[href]").ok()??;
    if link.has_attribute("target") || link.has_attribute("download") {
        return None;
    }
    let href = link.get_attribute("href")?;
    let path = href.split(['?', '#']).next().unwrap_or_default();
    (href.starts_with('/') && !href.starts_with("//") && PAGES.contains(&page_of(path))).then_some(href)
}

/// `aria-current="page"` for the nav link to `href` while its page is shown.
pub fn current_for(href: &'static str) -> impl Fn() -> Option<&'static str> + Send + Sync + 'static {
    let location = use_location();
    move || location.path.with(|p| page_of(p) == page_of(href)).then_some("page")
}
