//! The status page: the overall and per-check state, 90 daily uptime bars
//! and the 24 h, 7 d and 30 d figures, the incident timeline with its
//! phases, p50/p95/p99 per route family over time as SVG, the monitor's
//! freshness, and links to the JSON behind each. Refreshes every 30 s.

use std::fmt::Write;

use leptos::prelude::*;
use serde_json::{json, Value};

use crate::api;
use crate::markup::{self, action_of, badge, esc, fill, shown, text, Answer};

const DAYS: u64 = 90;

fn ok_state(state: &str) -> bool {
    state == "operational"
}

#[component]
pub fn Status() -> impl IntoView {
    let status: Answer = RwSignal::new(None);
    let windows: Answer = RwSignal::new(None);
    let daily: Answer = RwSignal::new(None);
    let incidents: Answer = RwSignal::new(None);
    let latency: Answer = RwSignal::new(None);
    let latency_hours = StoredValue::new(24u64);
    let load_latency = move || {
        let path = format!("/api/public/latency-percentiles?hours={}", latency_hours.get_value());
        fill(latency, Box::pin(async move { api::public(&path).await }));
    };
    let refresh = move || {
        fill(status, Box::pin(api::public("/api/public/system-status")));
        fill(
            windows,
            Box::pin(async {
                let mut figures = Vec::new();
                for hours in [24, 168, 720] {
                    figures.push(
                        api::public(&format!("/api/public/system-status/uptime?hours={hours}")).await?["data"].take(),
                    );
                }
                Ok(Value::Array(figures))
            }),
        );
        fill(daily, Box::pin(api::public("/api/public/system-status/uptime?hours=2160")));
        fill(incidents, Box::pin(api::public("/api/public/system-status/incidents?hours=2160&limit=20")));
        load_latency();
    };
    refresh();
    if let Ok(timer) = set_interval_with_handle(refresh, std::time::Duration::from_secs(30)) {
        on_cleanup(move || timer.clear());
    }
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if let Some(("latency", hours)) = action_of(&ev).as_ref().map(|(a, h)| (a.as_str(), h.as_str())) {
            if let Ok(hours) = hours.parse() {
                latency_hours.set_value(hours);
                load_latency();
            }
        }
    };
    view! {
        <section class="intro">
            <h1>"Edge status"</h1>
            <p>"Live from the edge's own monitor, which probes its dependencies every minute. Refreshed every 30 seconds."</p>
        </section>
        <div on:click=on_click>
            <section class="card" aria-labelledby="now-heading">
                <h2 id="now-heading">"Now"</h2>
                {shown(status, "Loading the status…", "status-now", now_markup)}
            </section>
            <section class="card" aria-labelledby="uptime-heading">
                <h2 id="uptime-heading">"Uptime"</h2>
                {shown(windows, "Loading the uptime…", "uptime-figures", windows_markup)}
                {shown(daily, "Loading 90 days of uptime…", "uptime-bars", bars_markup)}
            </section>
            <section class="card" aria-labelledby="latency-heading">
                <h2 id="latency-heading">"Latency"</h2>
                <div class="button-row" role="group" aria-label="Latency window">
                    <button type="button" data-action="latency" data-id="24">"24 hours"</button>
                    <button type="button" data-action="latency" data-id="168">"7 days"</button>
                    <button type="button" data-action="latency" data-id="720">"30 days"</button>
                </div>
                {shown(latency, "Loading the latency percentiles…", "latency", latency_markup)}
            </section>
            <section class="card" aria-labelledby="incidents-heading">
                <h2 id="incidents-heading">"Incidents, last 90 days"</h2>
                {shown(incidents, "Loading the incidents…", "incidents", incidents_markup)}
            </section>
            <section class="card" aria-labelledby="feeds-heading">
                <h2 id="feeds-heading">"The data behind this page"</h2>
                <ul class="inline-list">
                    <li><a href="/api/public/system-status">"System status"</a></li>
                    <li><a href="/status.json">"status.json"</a></li>
                    <li><a href="/api/v2/summary.json">"Statuspage summary.json"</a></li>
                    <li><a href="/api/public/system-status/uptime?hours=2160">"Uptime, 90 days"</a></li>
                    <li><a href="/api/public/system-status/trend">"Per-minute trend"</a></li>
                    <li><a href="/api/public/system-status/incidents">"Incidents"</a></li>
                    <li><a href="/api/public/latency-percentiles">"Latency percentiles"</a></li>
                    <li><a href="/trust.json">"Trust manifest"</a></li>
                </ul>
            </section>
        </div>
    }
}

fn now_markup(answer: &Value) -> String {
    let data = &answer["data"];
    let indicator = text(&data["indicator"]);
    let mut out =
        format!("<p class=\"overall\">Overall: {}</p>", badge(ok_state(&indicator), &indicator.replace('_', " ")));
    let rows = data["components"].as_array().into_iter().flatten().map(|c| {
        let state = text(&c["status"]);
        vec![format!("<code>{}</code>", esc(&text(&c["check"]))), badge(ok_state(&state), &state.replace('_', " "))]
    });
    markup::table(&mut out, "Checks", &["Check", "State"], rows);
    let _ = write!(
        out,
        "<p data-testid=\"monitor-freshness\">Monitor: last probe {} ({} s ago), every {} s; {}.</p>",
        esc(&text(&data["last_probe_at"])),
        data["probe_age_seconds"].as_u64().unwrap_or(0),
        data["probe_interval_seconds"].as_u64().unwrap_or(0),
        if data["alarm_running"].as_bool().unwrap_or(false) {
            "its alarm is running"
        } else {
            "its alarm is not running"
        }
    );
    out
}

fn windows_markup(answer: &Value) -> String {
    let mut out = String::from("<ul class=\"figures\">");
    for (label, figures) in ["24 hours", "7 days", "30 days"].iter().zip(answer.as_array().into_iter().flatten()) {
        let _ = write!(
            out,
            "<li><strong>{:.2} %</strong> <span class=\"muted\">{} ({} samples)</span></li>",
            figures["availability_percent"].as_f64().unwrap_or(0.0),
            label,
            figures["samples"].as_u64().unwrap_or(0)
        );
    }
    out.push_str("</ul>");
    out
}

/// 90 bars, one per UTC day ending today; days without samples are grey.
fn bars_markup(answer: &Value) -> String {
    let days = answer["data"]["days"].as_array().cloned().unwrap_or_default();
    let today = (js_sys::Date::now() / 86_400_000.0) as u64;
    let mut bars = String::new();
    let mut worst: Option<f64> = None;
    for n in 0..DAYS {
        let day =
            partner_edge::lifecycle::rfc3339((today + 1 + n - DAYS) * 86_400).chars().take(10).collect::<String>();
        let found = days.iter().find(|d| d["day"] == day.as_str());
        let (class, label) = match found {
            Some(d) => {
                let percent = d["availability_percent"].as_f64().unwrap_or(0.0);
                worst = Some(worst.map_or(percent, |w: f64| w.min(percent)));
                let class = if percent >= 99.9 {
                    "bar-ok"
                } else if percent >= 99.0 {
                    "bar-minor"
                } else {
                    "bar-bad"
                };
                (class, format!("{day}: {percent:.2} % up ({} samples)", d["samples"].as_u64().unwrap_or(0)))
            }
            None => ("bar-none", format!("{day}: no data")),
        };
        let _ = write!(
            bars,
            "<rect x=\"{}\" y=\"0\" width=\"4\" height=\"30\" class=\"{class}\"><title>{}</title></rect>",
            n * 6,
            esc(&label)
        );
    }
    let summary = match worst {
        Some(worst) => format!(
            "{} of the last {DAYS} days have data; the lowest day was {worst:.2} % up.",
            days.len().min(DAYS as usize)
        ),
        None => format!("No data yet for the last {DAYS} days."),
    };
    format!(
        "<figure class=\"bars\"><svg viewBox=\"0 0 {} 30\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"Daily uptime, last {DAYS} days. {}\">{bars}</svg>\
         <figcaption><span>{DAYS} days ago</span><span>{}</span><span>Today</span></figcaption></figure>",
        DAYS * 6 - 2,
        esc(&summary),
        esc(&summary)
    )
}

/// One family's p50/p95/p99 over time, as lines.
fn chart(family: &str, points: &[Value]) -> String {
    let series = ["p50_ms", "p95_ms", "p99_ms"];
    let max = points.iter().flat_map(|p| series.iter().filter_map(|s| p[*s].as_f64())).fold(0.0f64, f64::max).max(1.0);
    let (width, height) = (300.0, 100.0);
    let step = if points.len() > 1 { width / (points.len() - 1) as f64 } else { 0.0 };
    let mut lines = String::new();
    for (n, name) in series.iter().enumerate() {
        let coords: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p[*name].as_f64().map(|v| (i as f64 * step, height - v / max * height)))
            .collect();
        // A single point is drawn as a level line across the chart.
        let shape = match coords.as_slice() {
            [(_, y)] => format!("0,{y:.1} {width:.1},{y:.1}"),
            many => many.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" "),
        };
        let _ = write!(lines, "<polyline class=\"line-{n}\" points=\"{shape}\"/>");
    }
    let last = points.last().cloned().unwrap_or(json!({}));
    let figure = |s: &str| last[s].as_f64().map_or_else(|| "none".to_owned(), |v| format!("{v:.1} ms"));
    let label = format!(
        "{family} latency over the window, {} points, peak {max:.1} ms; latest p50 {}, p95 {}, p99 {}",
        points.len(),
        figure("p50_ms"),
        figure("p95_ms"),
        figure("p99_ms")
    );
    format!(
        "<figure class=\"chart\"><figcaption><code>{}</code> <span class=\"muted\">peak {max:.1} ms</span></figcaption>\
         <svg viewBox=\"-2 -2 304 104\" role=\"img\" aria-label=\"{}\">{lines}</svg></figure>",
        esc(family),
        esc(&label)
    )
}

fn latency_markup(answer: &Value) -> String {
    let data = &answer["data"];
    let families = data["families"].as_array().cloned().unwrap_or_default();
    let ms = |v: &Value| v.as_f64().map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    let mut out = format!(
        "<p class=\"muted\">Last {} hours, per {} since {}, within {} % relative accuracy. \
         <span class=\"legend\"><span class=\"key-0\">p50</span> <span class=\"key-1\">p95</span> <span class=\"key-2\">p99</span></span></p>",
        data["hours"].as_u64().unwrap_or(0),
        esc(&text(&data["resolution"])),
        esc(&text(&data["from"])),
        data["relative_accuracy"].as_f64().unwrap_or(0.0) * 100.0
    );
    if families.is_empty() {
        out.push_str("<p class=\"muted\">No traffic recorded in this window yet.</p>");
    }
    out.push_str("<div class=\"charts\">");
    for family in &families {
        out.push_str(&chart(
            &text(&family["family"]),
            family["points"].as_array().map(Vec::as_slice).unwrap_or_default(),
        ));
    }
    out.push_str("</div>");
    let webhooks = &data["webhooks"];
    let mut rows: Vec<Vec<String>> = families
        .iter()
        .map(|f| {
            vec![
                format!("<code>{}</code>", esc(&text(&f["family"]))),
                f["count"].as_u64().unwrap_or(0).to_string(),
                ms(&f["p50_ms"]),
                ms(&f["p95_ms"]),
                ms(&f["p99_ms"]),
            ]
        })
        .collect();
    rows.push(vec![
        format!(
            "webhook deliveries {}",
            match webhooks["within_slo"].as_bool() {
                Some(within) => badge(within, if within { "within SLO" } else { "outside SLO" }),
                None => String::new(),
            }
        ),
        webhooks["count"].as_u64().unwrap_or(0).to_string(),
        ms(&webhooks["p50_ms"]),
        ms(&webhooks["p95_ms"]),
        ms(&webhooks["p99_ms"]),
    ]);
    markup::table(&mut out, "Percentiles over the window, in ms", &["Family", "Requests", "p50", "p95", "p99"], rows);
    out
}

fn incidents_markup(answer: &Value) -> String {
    let list = answer["data"]["incidents"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p>No incidents in the last 90 days.</p>".to_owned();
    }
    let mut out = String::from("<ol class=\"timeline\">");
    for incident in &list {
        let phase = text(&incident["phase"]);
        let checks =
            incident["affected_checks"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ");
        let _ = write!(
            out,
            "<li><h3>{} {}</h3><p>{} · {} · affects {} · from {} {} · {} min</p><ol class=\"updates\">",
            esc(&text(&incident["title"])),
            badge(phase == "resolved", &phase),
            esc(&text(&incident["impact"]).replace('_', " ")),
            esc(&text(&incident["source"])),
            esc(&checks),
            esc(&text(&incident["first_seen_at"])),
            incident["resolved_at"]
                .as_str()
                .map(|at| format!("to {}", esc(at)))
                .unwrap_or_else(|| "(ongoing)".to_owned()),
            incident["duration_seconds"].as_u64().unwrap_or(0) / 60,
        );
        for update in incident["updates"].as_array().into_iter().flatten() {
            let _ = write!(
                out,
                "<li><strong>{}</strong> {} <span class=\"muted\">by {}</span><br>{}</li>",
                esc(&text(&update["phase"])),
                esc(&text(&update["at"])),
                esc(&text(&update["by"])),
                esc(&text(&update["message"]))
            );
        }
        out.push_str("</ol></li>");
    }
    out.push_str("</ol>");
    out
}
