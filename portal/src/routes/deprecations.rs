//! The deprecations page: the calendar with dates and replacements, each
//! endpoint's playbook with its T-30/14/7/1 notices, a header simulator
//! (an endpoint and a date: the status and headers it answers with then),
//! the signed-in key's own calls to deprecated routes, how far partners
//! have migrated, the RSS feed and the OpenAPI changelog.

use std::fmt::Write;

use leptos::prelude::*;
use serde_json::Value;

use crate::api;
use crate::key::use_key;
use crate::markup::{self, badge, esc, field, fill, shown, text, Answer, Markup};

#[component]
pub fn Deprecations() -> impl IntoView {
    let keys = use_key();
    let calendar: Answer = RwSignal::new(None);
    let usage: Answer = RwSignal::new(None);
    let migration: Answer = RwSignal::new(None);
    let changelog: Answer = RwSignal::new(None);
    let headers = RwSignal::new(String::new());
    fill(calendar, Box::pin(api::public("/developers/deprecations.json")));
    fill(migration, Box::pin(api::public("/developers/migration-status.json")));
    fill(changelog, Box::pin(api::public("/developers/openapi-changelog.json")));
    match keys.key.get_untracked() {
        Some(key) => {
            fill(usage, Box::pin(async move { api::signed(&key, "GET", "/api/partner/deprecations", None).await }))
        }
        None => usage.set(Some(Ok(Value::Null))),
    }
    let simulate = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = markup::value("sim-endpoint");
        let date = markup::value("sim-date");
        let millis = js_sys::Date::parse(&date);
        if date.is_empty() || millis.is_nan() {
            headers.set("<div class=\"notice error\" role=\"alert\">Pick a date.</div>".to_owned());
            return;
        }
        let path =
            format!("/api/public/deprecations/header-simulator?id={id}&at={}", (millis / 1000.0).max(0.0) as u64);
        headers.set("<p class=\"muted\">Asking the edge…</p>".to_owned());
        leptos::task::spawn_local(async move {
            headers.set(match api::public(&path).await {
                Ok(answer) => simulated_markup(&answer),
                Err(message) => format!("<div class=\"notice error\" role=\"alert\">{}</div>", esc(&message)),
            });
        });
    };
    view! {
        <section class="intro">
            <h1>"Deprecations"</h1>
            <p>
                "What is going away, when, and what replaces it. Deprecated routes answer with "
                <code>"Deprecation"</code> ", " <code>"Sunset"</code> " and " <code>"Link"</code>
                " headers until their sunset, then 410 naming the replacement. Subscribe to the "
                <a href="/developers/deprecations.rss">"RSS feed"</a> " for every notice."
            </p>
        </section>
        <section class="card" aria-labelledby="calendar-heading">
            <h2 id="calendar-heading">"Calendar"</h2>
            {shown(calendar, "Loading the calendar…", "calendar", calendar_markup)}
        </section>
        <section class="card" aria-labelledby="yours-heading">
            <h2 id="yours-heading">"Your key's calls to deprecated routes"</h2>
            {shown(usage, "Loading your key's usage…", "your-usage", usage_markup)}
        </section>
        <section class="card" aria-labelledby="simulator-heading" on:submit=simulate>
            <h2 id="simulator-heading">"Header simulator"</h2>
            <p class="muted">"What a deprecated endpoint answers with on any date: before, during and after its notices and sunset."</p>
            {shown(calendar, "Loading the endpoints…", "header-form", form_markup)}
            <div aria-live="polite"><Markup html=headers testid="simulated-headers" /></div>
        </section>
        <section class="card" aria-labelledby="playbook-heading">
            <h2 id="playbook-heading">"Playbooks"</h2>
            <p class="muted">
                "Also as " <a href="/developers/deprecations-playbook.md">"Markdown"</a> " and "
                <a href="/developers/deprecations-playbook.json">"JSON"</a> "."
            </p>
            {shown(calendar, "Loading the playbooks…", "playbooks", playbooks_markup)}
        </section>
        <section class="card" aria-labelledby="migration-heading">
            <h2 id="migration-heading">"Migration across partners"</h2>
            {shown(migration, "Loading the migration status…", "migration", migration_markup)}
        </section>
        <section class="card" aria-labelledby="changelog-heading">
            <h2 id="changelog-heading">"OpenAPI changelog"</h2>
            <p class="muted">"Against the last released document. Also as " <a href="/developers/openapi-changelog.md">"Markdown"</a> "."</p>
            {shown(changelog, "Loading the changelog…", "changelog", changelog_markup)}
        </section>
    }
}

fn day(at: &Value) -> String {
    text(at).chars().take(10).collect()
}

fn calendar_markup(answer: &Value) -> String {
    let list = answer["data"]["deprecations"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p>Nothing is deprecated.</p>".to_owned();
    }
    let mut out = String::new();
    let rows = list.iter().map(|d| {
        let phase = text(&d["phase"]);
        vec![
            format!("<code>{}</code>", esc(&text(&d["endpoint"]))),
            format!("<code>{}</code>", esc(&text(&d["replacement"]))),
            esc(&day(&d["deprecated_at"])),
            esc(&day(&d["sunset_at"])),
            format!(
                "{} {} days left",
                badge(phase != "sunset", &phase),
                d["days_until_sunset"].as_i64().unwrap_or(0).max(0)
            ),
        ]
    });
    markup::table(
        &mut out,
        "Deprecated endpoints",
        &["Endpoint", "Replacement", "Deprecated", "Sunset", "Phase"],
        rows,
    );
    out
}

fn usage_markup(answer: &Value) -> String {
    if answer.is_null() {
        return "<p>Choose a key in the <a href=\"/start\">wizard</a> to see which deprecated routes it still calls.</p>".to_owned();
    }
    let list = answer["data"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p>Your key called no deprecated route in the last 30 days.</p>".to_owned();
    }
    let mut out = String::new();
    let rows = list.iter().map(|u| {
        vec![
            format!("<code>{}</code>", esc(&text(&u["endpoint"]))),
            u["calls_30d"].as_u64().unwrap_or(0).to_string(),
            esc(&text(&u["last_called_on"])),
            format!("<code>{}</code>", esc(&text(&u["replacement"]))),
            format!("{} ({} days)", esc(&day(&u["sunset_at"])), u["days_until_sunset"].as_i64().unwrap_or(0).max(0)),
        ]
    });
    markup::table(
        &mut out,
        "Deprecated routes your key called",
        &["Endpoint", "Calls, 30 days", "Last call", "Move to", "Sunset"],
        rows,
    );
    out
}

fn form_markup(answer: &Value) -> String {
    let mut endpoints = String::from("<select id=\"sim-endpoint\">");
    for d in answer["data"]["deprecations"].as_array().into_iter().flatten() {
        let _ = write!(endpoints, "<option value=\"{}\">{}</option>", esc(&text(&d["id"])), esc(&text(&d["endpoint"])));
    }
    endpoints.push_str("</select>");
    let mut out = String::from("<form id=\"header-form\"><div class=\"form-grid\">");
    out.push_str(&field("sim-endpoint", "Endpoint", &endpoints));
    out.push_str(&field("sim-date", "Date", "<input id=\"sim-date\" type=\"date\" required>"));
    out.push_str("</div><button type=\"submit\">Show the headers</button></form>");
    out
}

fn simulated_markup(answer: &Value) -> String {
    let mut out = String::new();
    for d in answer["data"].as_array().into_iter().flatten() {
        let status = d["status"].as_u64().unwrap_or(0);
        let _ = write!(
            out,
            "<p><code>{}</code> on {}: {} {}</p>",
            esc(&text(&d["endpoint"])),
            esc(&day(&d["at"])),
            badge(status < 400, &format!("HTTP {status}")),
            esc(&text(&d["phase"]))
        );
        let rows = d["headers"].as_array().into_iter().flatten().map(|h| {
            vec![
                format!("<code>{}</code>", esc(&text(&h["name"]))),
                format!("<code>{}</code>", esc(&text(&h["value"]))),
            ]
        });
        markup::table(&mut out, "Headers on that date", &["Header", "Value"], rows);
    }
    out
}

fn playbooks_markup(answer: &Value) -> String {
    let mut out = String::new();
    for d in answer["data"]["deprecations"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<article class=\"playbook\" id=\"{}\"><h3><code>{}</code></h3><p>{}</p><h4>Notices</h4><ul class=\"inline-list\">",
            esc(&text(&d["id"])),
            esc(&text(&d["endpoint"])),
            esc(&text(&d["reason"]))
        );
        for notice in d["notices"].as_array().into_iter().flatten() {
            let sent = notice["sent"].as_bool().unwrap_or(false);
            let _ = write!(
                out,
                "<li><strong>{}</strong> {} {}</li>",
                esc(&text(&notice["label"])),
                esc(&day(&notice["at"])),
                if sent { badge(true, "sent") } else { "<span class=\"badge neutral\">scheduled</span>".to_owned() }
            );
        }
        out.push_str("</ul><h4>Migrating</h4><ol>");
        for step in d["migration"].as_array().into_iter().flatten() {
            let _ = write!(out, "<li>{}</li>", esc(&text(step)));
        }
        let _ = write!(
            out,
            "</ol><p><a href=\"/reference/{}\">The replacement in the API reference</a></p></article>",
            esc(&text(&d["replacement_operation_id"]))
        );
    }
    out
}

fn migration_markup(answer: &Value) -> String {
    let mut out = String::new();
    let rows = answer["data"].as_array().into_iter().flatten().map(|m| {
        let calls: u64 =
            m["days"].as_array().into_iter().flatten().map(|d| d["deprecated_calls"].as_u64().unwrap_or(0)).sum();
        vec![
            format!("<code>{}</code>", esc(&text(&m["endpoint"]))),
            format!("{:.0} %", m["migrated_share"].as_f64().unwrap_or(0.0) * 100.0),
            calls.to_string(),
        ]
    });
    markup::table(
        &mut out,
        "Share of calls already on the replacement",
        &["Endpoint", "Migrated", "Calls still to the old route"],
        rows,
    );
    out
}

fn changelog_markup(answer: &Value) -> String {
    let data = &answer["data"];
    let mut out = format!(
        "<p>From {} to {}: {} breaking, {} non-breaking changes.</p>",
        esc(&text(&data["baseline_version"])),
        esc(&text(&data["current_version"])),
        data["breaking"].as_u64().unwrap_or(0),
        data["non_breaking"].as_u64().unwrap_or(0)
    );
    let rows = data["changes"].as_array().into_iter().flatten().map(|c| {
        let level = text(&c["level"]);
        vec![
            badge(level != "breaking", &level.replace('_', "-")),
            esc(&text(&c["kind"])),
            format!("<code>{}</code>", esc(&text(&c["location"]))),
            esc(&text(&c["detail"])),
        ]
    });
    markup::table(&mut out, "Changes", &["Level", "Kind", "Where", "What"], rows);
    out
}
