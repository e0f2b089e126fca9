//! The webhook console: a partner's own subscriptions, managed with the key
//! in this tab. Create (event types from the live catalogue), edit, disable,
//! delete; rotate a secret (shown once); send a test; read the delivery log
//! and the failures with filters and paging; retry a delivery; keep inboxes
//! and watch their captures arrive; check a delivery in the browser under
//! both signature schemes; read the event catalogue.
//!
//! Written the lean way of `markup`: static HTML, live sections as escaped
//! markup, and one delegated handler per event kind.

use std::fmt::Write;

use leptos::prelude::*;
use partner_edge::webhooks::inbox::{verify_capture, VERIFY_TOLERANCE_SECS};
use partner_edge::webhooks::WebhookSecret;
use serde_json::{json, Value};

use crate::api;
use crate::key::use_key;
use crate::markup::{self, action_of, badge, checkbox, esc, field, fill, pre, shown, text, Answer, Markup};

const SUBSCRIPTIONS: &str = "/api/partner/webhooks";
const INBOXES: &str = "/api/partner/webhooks/inboxes";
const EVENT_TYPES: &str = "/api/public/webhooks/event-types";
const STATES: &[&str] = &["queued", "processing", "succeeded", "retrying", "failed_dead_letter"];
const PAGE: u32 = 10;
const LIVE_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

#[component]
pub fn Webhooks() -> impl IntoView {
    let catalogue: Answer = RwSignal::new(None);
    fill(catalogue, Box::pin(api::public(EVENT_TYPES)));
    let verdict = RwSignal::new(String::new());
    let console = match use_key().key.get_untracked() {
        Some(_) => console(catalogue),
        None => view! {
            <section class="card" aria-labelledby="no-key">
                <h2 id="no-key">"Choose a key first"</h2>
                <p>"The console signs every call with your key. " <a href="/start">"Choose a key in the wizard"</a> ", then come back."</p>
            </section>
        }
        .into_any(),
    };
    let on_verify =
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            verdict.set(verify().unwrap_or_else(|message| {
                format!("<div class=\"notice error\" role=\"alert\">{}</div>", esc(&message))
            }));
        };
    view! {
        <section class="intro">
            <h1>"Webhook console"</h1>
            <p>
                "Your subscriptions, their delivery log and your inboxes, managed with the key in this tab. "
                "Secrets are shown once; the key's secret leaves the tab only as a signature."
            </p>
        </section>
        {console}
        <section class="card" aria-labelledby="verifier-heading" on:submit=on_verify>
            <h2 id="verifier-heading" tabindex="-1">"Verify a delivery"</h2>
            <p class="muted">"Checked here, in your browser, with the code the edge signs with: nothing you paste is sent anywhere."</p>
            <Markup html=Signal::stored(verifier_form()) />
            <div aria-live="polite"><Markup html=verdict testid="verifier-result" /></div>
        </section>
        <section class="card" aria-labelledby="catalogue-heading">
            <h2 id="catalogue-heading">"Event catalogue"</h2>
            {shown(catalogue, "Loading the event catalogue…", "event-catalogue", catalogue_markup)}
        </section>
    }
}

/// The part that needs a key: subscriptions, the form, the log and the inboxes.
fn console(catalogue: Answer) -> AnyView {
    let keys = use_key();
    let subs: Answer = RwSignal::new(None);
    let inboxes: Answer = RwSignal::new(None);
    let log: Answer = RwSignal::new(None);
    let captures: Answer = RwSignal::new(None);
    let notice = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<String>);
    let inbox = RwSignal::new(None::<String>);
    let editing = StoredValue::new(None::<String>);
    // The log's cursor stack: one entry per page after the first.
    let cursors = StoredValue::new(Vec::<String>::new());

    let get = move |path: String, into: Answer| {
        let Some(key) = keys.key.get_untracked() else { return };
        fill(into, Box::pin(async move { api::signed(&key, "GET", &path, None).await }));
    };
    let refresh_subs = move || get(SUBSCRIPTIONS.to_owned(), subs);
    let refresh_inboxes = move || get(INBOXES.to_owned(), inboxes);
    let refresh_log = move || {
        let Some(id) = selected.get_untracked() else { return };
        let failures = markup::value("log-view") == "failures";
        let mut path =
            format!("{SUBSCRIPTIONS}/{id}/{}?limit={PAGE}", if failures { "failures" } else { "deliveries" });
        let state = markup::value("log-state");
        if !state.is_empty() && !failures {
            let _ = write!(path, "&status={state}");
        }
        let event_type = markup::value("log-type");
        if !event_type.is_empty() {
            let _ = write!(path, "&event_type={event_type}");
        }
        if let Some(cursor) = cursors.with_value(|c| c.last().cloned()) {
            let _ = write!(path, "&cursor={cursor}");
        }
        get(path, log);
    };
    let refresh_captures = move || {
        if let Some(id) = inbox.get_untracked() {
            get(format!("{INBOXES}/{id}/captures?limit=20"), captures);
        }
    };
    refresh_subs();
    refresh_inboxes();
    // The open log and inbox refresh live; a refresh that brings nothing new
    // leaves the page (and the focus in it) alone. Every refresh is a signed
    // call from the key's webhook budget (120 a minute by default, shared
    // with the partner's own integration), so at most two per LIVE_REFRESH,
    // and none while the tab is hidden.
    let live = move || {
        let hidden = web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden());
        if !hidden {
            refresh_log();
            refresh_captures();
        }
    };
    if let Ok(timer) = set_interval_with_handle(live, LIVE_REFRESH) {
        on_cleanup(move || timer.clear());
    }

    // Every mutation: say what happened, then refresh what it may have changed.
    let act =
        move |method: &'static str, path: String, body: Option<Value>, after: Box<dyn FnOnce(&Value) -> String>| {
            let Some(key) = keys.key.get_untracked() else { return };
            notice.set(String::new());
            leptos::task::spawn_local(async move {
                notice.set(match api::signed(&key, method, &path, body.map(|b| b.to_string())).await {
                    Ok(answer) => format!("<p class=\"notice ok\" role=\"status\">{}</p>", esc(&after(&answer))),
                    Err(message) => format!("<div class=\"notice error\" role=\"alert\">{}</div>", esc(&message)),
                });
                refresh_subs();
                refresh_inboxes();
                refresh_log();
                refresh_captures();
            });
        };
    let show_secret = move |id: &str, value: &str| {
        secret.set(format!(
            "<div class=\"notice secret\"><p>Signing secret of <code>{}</code>, shown once:</p><p><code id=\"secret-value\" data-testid=\"secret-value\">{}</code></p>\
             <div class=\"button-row\"><button type=\"button\" data-action=\"copy-secret\">Copy the secret</button>\
             <button type=\"button\" data-action=\"stored\">I have stored it</button></div></div>",
            esc(id),
            esc(value)
        ));
    };
    let set_editing = move |id: Option<String>| {
        markup::set_text("form-heading", if id.is_some() { "Edit the subscription" } else { "New subscription" });
        markup::set_text("sub-submit", if id.is_some() { "Save changes" } else { "Create subscription" });
        if let Some(cancel) =
            web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("sub-cancel"))
        {
            let _ = if id.is_some() { cancel.remove_attribute("hidden") } else { cancel.set_attribute("hidden", "") };
        }
        if id.is_none() {
            for field in ["sub-url", "sub-description"] {
                markup::set_value(field, "");
            }
            markup::set_checked("sub-all", false);
            for t in catalogue_types(catalogue) {
                markup::set_checked(&format!("type-{t}"), false);
            }
        }
        editing.set_value(id);
    };

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        let form = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()).map(|e| e.id());
        if form.as_deref() != Some("sub-form") {
            return;
        }
        ev.prevent_default();
        let chosen: Vec<String> =
            catalogue_types(catalogue).into_iter().filter(|t| markup::checked(&format!("type-{t}"))).collect();
        let mut body =
            json!({"url": markup::value("sub-url"), "event_types": chosen, "receive_all": markup::checked("sub-all")});
        let description = markup::value("sub-description");
        if !description.is_empty() {
            body["description"] = json!(description);
        }
        match editing.get_value() {
            Some(id) => act(
                "PATCH",
                format!("{SUBSCRIPTIONS}/{id}"),
                Some(body),
                Box::new(move |_| {
                    set_editing(None);
                    format!("Saved {id}.")
                }),
            ),
            None => act(
                "POST",
                SUBSCRIPTIONS.to_owned(),
                Some(body),
                Box::new(move |answer| {
                    let data = &answer["data"];
                    let id = text(&data["subscription_id"]);
                    show_secret(&id, &text(&data["secret"]));
                    selected.set(Some(id.clone()));
                    set_editing(None);
                    format!("Created {id}. Copy its secret now: it is not shown again.")
                }),
            ),
        }
    };

    let on_change = move |ev: leptos::ev::Event| {
        let id = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()).map(|e| e.id());
        if matches!(id.as_deref(), Some("log-view" | "log-state" | "log-type")) {
            cursors.set_value(Vec::new());
            refresh_log();
        }
    };

    // One handler for every button of the console.
    let on_click = move |ev: leptos::ev::MouseEvent| {
        let Some((action, id)) = action_of(&ev) else { return };
        let base = format!("{SUBSCRIPTIONS}/{id}");
        match action.as_str() {
            "refresh" => {
                refresh_subs();
                refresh_inboxes();
            }
            "refresh-log" => refresh_log(),
            "log" => {
                selected.set(Some(id));
                cursors.set_value(Vec::new());
                log.set(None);
                refresh_log();
                markup::reveal("log-heading");
            }
            "next" => {
                cursors.update_value(|c| c.push(id));
                refresh_log();
            }
            "previous" => {
                cursors.update_value(|c| {
                    c.pop();
                });
                refresh_log();
            }
            "edit" => {
                let Some(found) = find(subs, "subscription_id", &id) else { return };
                markup::set_value("sub-url", &text(&found["url"]));
                markup::set_value("sub-description", &text(&found["description"]));
                markup::set_checked("sub-all", found["receive_all"].as_bool().unwrap_or(false));
                let types = found["event_types"].as_array().cloned().unwrap_or_default();
                for t in catalogue_types(catalogue) {
                    markup::set_checked(&format!("type-{t}"), types.iter().any(|x| x == t.as_str()));
                }
                set_editing(Some(id));
                markup::reveal("form-heading");
            }
            "cancel-edit" => set_editing(None),
            "enable" | "disable" => {
                let active = action == "enable";
                act(
                    "PATCH",
                    base,
                    Some(json!({"active": active})),
                    Box::new(move |_| format!("{id} {}.", if active { "enabled" } else { "disabled" })),
                );
            }
            "test" => {
                selected.set(Some(id));
                act(
                    "POST",
                    format!("{base}/test"),
                    None,
                    Box::new(|answer| format!("Test event {} sent.", text(&answer["data"]["event_id"]))),
                );
            }
            "rotate" => act(
                "POST",
                format!("{base}/rotate-secret"),
                None,
                Box::new(move |answer| {
                    let data = &answer["data"];
                    show_secret(&id, &text(&data["secret"]));
                    format!(
                        "Rotated {id}: {} signs from now on, and the previous secret still signs during the overlap. Copy the new secret now.",
                        text(&data["current_secret_id"])
                    )
                }),
            ),
            "delete" => {
                let sure = web_sys::window()
                    .and_then(|w| w.confirm_with_message(&format!("Delete {id}? Its delivery log goes with it.")).ok())
                    .unwrap_or(false);
                if sure {
                    if selected.get_untracked().as_deref() == Some(id.as_str()) {
                        selected.set(None);
                        log.set(None);
                    }
                    act("DELETE", base, None, Box::new(move |_| format!("Deleted {id}.")));
                }
            }
            "retry" => {
                let Some(webhook) = selected.get_untracked() else { return };
                act(
                    "POST",
                    format!("{SUBSCRIPTIONS}/{webhook}/deliveries/{id}/retry"),
                    None,
                    Box::new(move |_| format!("Delivery {id} is queued again.")),
                );
            }
            "new-inbox" | "new-inbox-url" => {
                let into_form = action == "new-inbox-url";
                act(
                    "POST",
                    INBOXES.to_owned(),
                    Some(json!({"description": "console"})),
                    Box::new(move |answer| {
                        let data = &answer["data"];
                        let id = text(&data["inbox_id"]);
                        inbox.set(Some(id.clone()));
                        if into_form {
                            markup::set_value(
                                "sub-url",
                                &format!("{}{}", crate::key::origin(), text(&data["capture_path"])),
                            );
                            format!("Created inbox {id}; its capture URL is in the form.")
                        } else {
                            format!("Created inbox {id}.")
                        }
                    }),
                );
            }
            "captures" => {
                inbox.set(Some(id));
                captures.set(None);
                refresh_captures();
            }
            "drop-inbox" => {
                if inbox.get_untracked().as_deref() == Some(id.as_str()) {
                    inbox.set(None);
                }
                act("DELETE", format!("{INBOXES}/{id}"), None, Box::new(move |_| format!("Deleted inbox {id}.")));
            }
            "verify" => {
                let Some(capture) = find(captures, "capture_id", &id) else { return };
                markup::set_value("verify-headers", &markup::header_lines(&capture["headers"]));
                markup::set_value("verify-body", &text(&capture["body"]));
                markup::reveal("verifier-heading");
            }
            "copy-secret" => markup::copy(&markup::text_content("secret-value")),
            "stored" => secret.set(String::new()),
            _ => {}
        }
    };

    let inbox_heading = Signal::derive(move || match inbox.get() {
        Some(id) => {
            format!("<h3>Captures of <code>{}</code> <span class=\"muted\">(refreshing live)</span></h3>", esc(&id))
        }
        None => String::new(),
    });
    let log_heading = Signal::derive(move || match selected.get() {
        Some(id) => format!("<p>Subscription <code>{}</code></p>", esc(&id)),
        None => "<p class=\"muted\">Choose “Deliveries” on a subscription to read its log.</p>".to_owned(),
    });
    let page_no = move || cursors.with_value(Vec::len) + 1;
    view! {
        <div on:click=on_click on:submit=on_submit on:change=on_change>
            <div aria-live="polite">
                <Markup html=notice testid="console-notice" />
                <Markup html=secret testid="secret-once" />
            </div>
            <section class="card" aria-labelledby="subs-heading">
                <div class="card-head">
                    <h2 id="subs-heading">"Subscriptions"</h2>
                    <button type="button" data-action="refresh">"Refresh"</button>
                </div>
                {shown(subs, "Loading your subscriptions…", "subscriptions", subscriptions_markup)}
            </section>
            <section class="card" aria-labelledby="form-heading">
                {shown(catalogue, "Loading the event types…", "subscription-form", form_markup)}
            </section>
            <section class="card" aria-labelledby="log-heading">
                <h2 id="log-heading" tabindex="-1">"Delivery log"</h2>
                <Markup html=log_heading />
                {shown(catalogue, "Loading the filters…", "log-filters", filters_markup)}
                {shown(log, "", "delivery-log", move |v| log_markup(v, page_no()))}
            </section>
            <section class="card" aria-labelledby="inbox-heading">
                <div class="card-head">
                    <h2 id="inbox-heading">"Inboxes"</h2>
                    <button type="button" data-action="new-inbox">"New inbox"</button>
                </div>
                <p class="muted">
                    "An inbox keeps the last 100 requests sent to its capture URL, for 7 days. What one of your "
                    "subscriptions delivers there is checked under both signature schemes with that subscription's secrets."
                </p>
                {shown(inboxes, "Loading your inboxes…", "inboxes", inboxes_markup)}
                <Markup html=inbox_heading />
                {shown(captures, "", "captures", captures_markup)}
            </section>
        </div>
    }
    .into_any()
}

/// The entry of `list`'s data whose `field` is `id`.
fn find(list: Answer, field: &str, id: &str) -> Option<Value> {
    markup::read_loaded(list, |l| l["data"].as_array()?.iter().find(|entry| entry[field] == id).cloned())
}

pub(crate) fn event_types(catalogue: &Value) -> Vec<String> {
    catalogue["data"]["event_types"].as_array().into_iter().flatten().map(|t| text(&t["event_type"])).collect()
}

fn catalogue_types(catalogue: Answer) -> Vec<String> {
    markup::read_loaded(catalogue, |c| Some(event_types(c))).unwrap_or_default()
}

fn time(value: &Value) -> String {
    value.as_u64().map(|ms| partner_edge::lifecycle::rfc3339(ms / 1000)).unwrap_or_default()
}

fn form_markup(catalogue: &Value) -> String {
    let mut out =
        String::from("<h2 id=\"form-heading\">New subscription</h2><form id=\"sub-form\"><div class=\"form-grid\">");
    out.push_str(&field(
        "sub-url",
        "Endpoint URL",
        "<input id=\"sub-url\" type=\"url\" required placeholder=\"https://example.com/webhooks\">",
    ));
    out.push_str(&field(
        "sub-description",
        "Description",
        "<input id=\"sub-description\" type=\"text\" maxlength=\"200\">",
    ));
    out.push_str(
        "</div><p><button type=\"button\" data-action=\"new-inbox-url\">Deliver to a new inbox</button> \
         <span class=\"muted\">No public URL? The edge keeps what it receives for you.</span></p>\
         <fieldset><legend>Event types</legend>",
    );
    out.push_str(&checkbox("sub-all", "Every event type, including ones added later"));
    for t in event_types(catalogue) {
        out.push_str(&checkbox(&format!("type-{t}"), &format!("<code>{}</code>", esc(&t))));
    }
    out.push_str(
        "</fieldset><div class=\"button-row\"><button type=\"submit\" id=\"sub-submit\">Create subscription</button>\
         <button type=\"button\" id=\"sub-cancel\" data-action=\"cancel-edit\" hidden>Cancel</button></div></form>",
    );
    out
}

fn filters_markup(catalogue: &Value) -> String {
    let mut out = String::from("<div class=\"form-grid\">");
    out.push_str(&field(
        "log-view",
        "Show",
        "<select id=\"log-view\"><option value=\"deliveries\">Deliveries, with every attempt</option>\
         <option value=\"failures\">Failed attempts only</option></select>",
    ));
    let mut states = String::from("<select id=\"log-state\"><option value=\"\">Any</option>");
    for state in STATES {
        let _ = write!(states, "<option>{state}</option>");
    }
    states.push_str("</select>");
    out.push_str(&field("log-state", "State (deliveries)", &states));
    let mut types = String::from("<select id=\"log-type\"><option value=\"\">Any</option>");
    for t in event_types(catalogue) {
        let _ = write!(types, "<option>{}</option>", esc(&t));
    }
    types.push_str("</select>");
    out.push_str(&field("log-type", "Event type", &types));
    out.push_str("</div>");
    out
}

fn subscriptions_markup(answer: &Value) -> String {
    let list = answer["data"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p class=\"muted\">No subscriptions yet: create one below.</p>".to_owned();
    }
    let mut out = String::new();
    let rows = list.iter().map(|s| {
        let id = text(&s["subscription_id"]);
        let active = s["active"].as_bool().unwrap_or(false);
        let types = if s["receive_all"].as_bool().unwrap_or(false) {
            "every type".to_owned()
        } else {
            s["event_types"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ")
        };
        let mut actions = String::from("<div class=\"button-row\">");
        for (action, label) in [
            ("log", "Deliveries"),
            ("test", "Send test"),
            ("edit", "Edit"),
            (if active { "disable" } else { "enable" }, if active { "Disable" } else { "Enable" }),
            ("rotate", "Rotate secret"),
            ("delete", "Delete"),
        ] {
            actions.push_str(&markup::button(action, &id, label, &id));
        }
        actions.push_str("</div>");
        vec![
            format!("<code>{}</code><br>{}<br>{}", esc(&id), esc(&text(&s["url"])), esc(&text(&s["description"]))),
            esc(&types),
            format!(
                "{} {} failures in a row",
                badge(active, if active { "active" } else { "disabled" }),
                s["consecutive_failures"].as_u64().unwrap_or(0)
            ),
            format!("<code>{}</code>", esc(&text(&s["current_secret_id"]))),
            actions,
        ]
    });
    markup::table(
        &mut out,
        "Your webhook subscriptions",
        &["Subscription", "Events", "State", "Signing secret", "Actions"],
        rows,
    );
    out
}

fn attempt_markup(out: &mut String, attempt: &Value) {
    let status = attempt["status"].as_u64().map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
    let _ = write!(
        out,
        "<li>Attempt {} at {}: {} in {} ms, signed by <code>{}</code>{}",
        attempt["attempt"].as_u64().unwrap_or(0),
        esc(&time(&attempt["started_at_ms"])),
        badge(attempt["succeeded"].as_bool().unwrap_or(false), &status),
        attempt["latency_ms"].as_u64().unwrap_or(0),
        esc(&attempt["signing_key_ids"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ")),
        attempt["error"].as_str().map(|e| format!(" ({})", esc(e))).unwrap_or_default(),
    );
    if let Some(excerpt) = attempt["response_excerpt"].as_str().filter(|e| !e.is_empty()) {
        out.push_str(&pre("response excerpt", excerpt));
    }
    out.push_str("</li>");
}

fn log_markup(answer: &Value, page: usize) -> String {
    let list = answer["data"].as_array().cloned().unwrap_or_default();
    let mut out = String::from("<ul class=\"log\">");
    for entry in &list {
        let id = text(&entry["delivery_id"]);
        if entry["attempt_log"].is_array() {
            let state = text(&entry["state"]);
            let _ = write!(
                out,
                "<li><p><code>{}</code> <code>{}</code> {} {} attempts, event <code>{}</code>, created {} {}</p><ol class=\"attempts\">",
                esc(&id),
                esc(&text(&entry["event_type"])),
                badge(state == "succeeded", &state),
                entry["attempts"].as_u64().unwrap_or(0),
                esc(&text(&entry["event_id"])),
                esc(&time(&entry["created_at_ms"])),
                markup::button("retry", &id, "Retry", &id),
            );
            for attempt in entry["attempt_log"].as_array().into_iter().flatten() {
                attempt_markup(&mut out, attempt);
            }
            out.push_str("</ol></li>");
        } else {
            let _ = write!(out, "<li><code>{}</code> <code>{}</code><ul>", esc(&id), esc(&text(&entry["event_type"])));
            attempt_markup(&mut out, entry);
            out.push_str("</ul></li>");
        }
    }
    out.push_str("</ul>");
    if list.is_empty() {
        out = "<p class=\"muted\">Nothing matches on this page.</p>".to_owned();
    }
    let next = answer["meta"]["next_cursor"].as_str();
    let _ = write!(
        out,
        "<div class=\"button-row\"><button type=\"button\" data-action=\"refresh-log\">Refresh</button>\
         <button type=\"button\" data-action=\"previous\"{}>Previous page</button>\
         <button type=\"button\" data-action=\"next\" data-id=\"{}\"{}>Next page</button><span class=\"muted\">Page {page}</span></div>",
        if page > 1 { "" } else { " disabled" },
        esc(next.unwrap_or_default()),
        if next.is_some() { "" } else { " disabled" },
    );
    out
}

fn inboxes_markup(answer: &Value) -> String {
    let list = answer["data"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p class=\"muted\">No inboxes yet.</p>".to_owned();
    }
    let origin = crate::key::origin();
    let mut out = String::new();
    let rows = list.iter().map(|i| {
        let id = text(&i["inbox_id"]);
        vec![
            format!("<code>{}</code><br>{}", esc(&id), esc(&text(&i["description"]))),
            format!("<code>{}{}</code>", esc(&origin), esc(&text(&i["capture_path"]))),
            format!(
                "<div class=\"button-row\">{}{}</div>",
                markup::button("captures", &id, "Show captures", &id),
                markup::button("drop-inbox", &id, "Delete", &id)
            ),
        ]
    });
    markup::table(&mut out, "Your inboxes", &["Inbox", "Capture URL", "Actions"], rows);
    out
}

fn scheme_markup(name: &str, check: &Value) -> String {
    if check["valid"].as_bool().unwrap_or(false) {
        format!("{} {}", esc(name), badge(true, &format!("verified by {}", text(&check["secret_id"]))))
    } else {
        format!("{} {} {}", esc(name), badge(false, "not verified"), esc(&text(&check["reason"])))
    }
}

fn verification_markup(check: &Value) -> String {
    format!(
        "<p data-testid=\"verification\">{}<br>{}</p>",
        scheme_markup("X-Webhook-Signature:", &check["seed_scheme"]),
        scheme_markup("webhook-signature (Standard Webhooks):", &check["standard_webhooks"])
    )
}

fn captures_markup(answer: &Value) -> String {
    let list = answer["data"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p class=\"muted\">Nothing captured yet. Send a test to a subscription that delivers here.</p>"
            .to_owned();
    }
    let mut out = String::from("<ul class=\"log\">");
    for capture in &list {
        let id = text(&capture["capture_id"]);
        let _ = write!(
            out,
            "<li><p><code>{}</code> {} {} {}</p>",
            esc(&id),
            esc(&text(&capture["received_at"])),
            esc(&text(&capture["method"])),
            if capture["in_process"].as_bool().unwrap_or(false) { "(delivered in place)" } else { "" }
        );
        if capture["verification"].is_object() {
            out.push_str(&verification_markup(&capture["verification"]));
        } else {
            out.push_str("<p class=\"muted\">Not checked: no subscription of yours delivers here.</p>");
        }
        out.push_str("<details><summary>Headers and body</summary>");
        out.push_str(&pre("captured headers", &markup::header_lines(&capture["headers"])));
        out.push_str(&pre("captured body", &markup::pretty(&capture["body"])));
        out.push_str("</details>");
        out.push_str(&markup::button("verify", &id, "Check in the verifier", &id));
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

fn catalogue_markup(answer: &Value) -> String {
    let mut out =
        format!("<p class=\"muted\">Catalogue version {}.</p>", esc(&text(&answer["data"]["catalogue_version"])));
    for entry in answer["data"]["event_types"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<article class=\"event-type\"><h3><code>{}</code> <span class=\"muted\">v{}</span></h3><p>{}</p>\
             <details><summary>Data schema</summary>{}</details><details><summary>Example event</summary>{}</details></article>",
            esc(&text(&entry["event_type"])),
            esc(&text(&entry["version"])),
            esc(&text(&entry["summary"])),
            pre("data schema", &markup::pretty(&entry["data_schema"])),
            pre("example event", &markup::pretty(&entry["example"])),
        );
    }
    out
}

fn verifier_form() -> String {
    let mut out = String::from("<form id=\"verify-form\"><div class=\"form-grid\">");
    out.push_str(&field(
        "verify-headers",
        "Headers, one per line",
        "<textarea id=\"verify-headers\" rows=\"6\" spellcheck=\"false\" placeholder=\"x-webhook-timestamp: 1700000000\"></textarea>",
    ));
    out.push_str(&field(
        "verify-body",
        "Body, exactly as received",
        "<textarea id=\"verify-body\" rows=\"6\" spellcheck=\"false\"></textarea>",
    ));
    out.push_str(&field(
        "verify-secret",
        "Signing secret",
        "<input id=\"verify-secret\" type=\"password\" autocomplete=\"off\" placeholder=\"whsec_…\">",
    ));
    out.push_str(&field(
        "verify-previous",
        "Previous secret (during a rotation)",
        "<input id=\"verify-previous\" type=\"password\" autocomplete=\"off\">",
    ));
    out.push_str("</div>");
    out.push_str(&checkbox(
        "verify-any-age",
        &format!("Ignore the {VERIFY_TOLERANCE_SECS} s timestamp window (to check an older delivery)"),
    ));
    out.push_str("<button type=\"submit\">Verify</button></form>");
    out
}

/// Checks the verifier's headers and body with its secrets.
fn verify() -> Result<String, String> {
    let headers = markup::value("verify-headers");
    let pairs: Vec<(String, String)> = headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let header = |name: &str| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let mut secrets = Vec::new();
    for (label, id) in [("the secret", "verify-secret"), ("the previous secret", "verify-previous")] {
        let raw = markup::value(id);
        if !raw.trim().is_empty() {
            secrets.push((label, WebhookSecret::parse(raw.trim()).map_err(|e| format!("{label}: {e}"))?));
        }
    }
    if secrets.is_empty() {
        return Err("Paste the signing secret (whsec_…) to verify with.".to_owned());
    }
    let signed_at = header("x-webhook-timestamp").or_else(|| header("webhook-timestamp")).and_then(|t| t.parse().ok());
    let now = signed_at.filter(|_| markup::checked("verify-any-age")).unwrap_or_else(crate::key::unix_now);
    let refs: Vec<(&str, &WebhookSecret)> = secrets.iter().map(|(label, s)| (*label, s)).collect();
    let report = verify_capture("pasted", &refs, header, &markup::value("verify-body"), now);
    Ok(verification_markup(&serde_json::to_value(&report).map_err(|e| e.to_string())?))
}
