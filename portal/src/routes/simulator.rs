//! The webhook simulator: pick a target (one of your subscriptions, one of
//! your inboxes, or any URL), a scenario with its data or the drill suite,
//! send it through the edge's simulator, and read each request beside its
//! answer, and the report card. Every run copies as curl and as a
//! `partner-edge simulate` command.

use std::fmt::Write;

use leptos::prelude::*;
use partner_edge::webhooks::simulate::{Drill, NamedScenario, Scenario};
use serde_json::{json, Value};

use crate::api;
use crate::key::use_key;
use crate::markup::{self, action_of, badge, checkbox, esc, field, fill, pre, shown, text, Answer, Markup};
use crate::routes::webhooks::event_types;
use crate::samples::{self, Auth, Sample};

const SIMULATE: &str = "/api/partner/webhooks/simulate";
const NAMED: &[(NamedScenario, &str)] = &[
    (NamedScenario::ClaimCreated, "claim_created"),
    (NamedScenario::ClaimRedeemed, "claim_redeemed"),
    (NamedScenario::DeliveryFailed, "delivery_failed"),
    (NamedScenario::ClaimLifecycle, "claim_lifecycle"),
];

#[component]
pub fn Simulator() -> impl IntoView {
    let keys = use_key();
    let catalogue: Answer = RwSignal::new(None);
    fill(catalogue, Box::pin(api::public("/api/public/webhooks/event-types")));
    // Targets: the key's subscriptions and inboxes, read once.
    let targets: Answer = RwSignal::new(None);
    match keys.key.get_untracked() {
        Some(key) => fill(
            targets,
            Box::pin(async move {
                let subs = api::signed(&key, "GET", "/api/partner/webhooks", None).await?;
                let inboxes = api::signed(&key, "GET", "/api/partner/webhooks/inboxes", None).await?;
                Ok(json!({"subscriptions": subs["data"], "inboxes": inboxes["data"]}))
            }),
        ),
        None => targets.set(Some(Ok(Value::Null))),
    }
    let result = RwSignal::new(String::new());
    let commands = RwSignal::new(String::new());
    let running = RwSignal::new(false);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(key) = keys.key.get_untracked() else { return };
        let body = match request_body() {
            Ok(body) => body,
            Err(message) => {
                result.set(format!("<div class=\"notice error\" role=\"alert\">{}</div>", esc(&message)));
                return;
            }
        };
        commands.set(commands_markup(&key, &body));
        running.set(true);
        result.set("<p class=\"muted\">Sending…</p>".to_owned());
        leptos::task::spawn_local(async move {
            result.set(match api::signed(&key, "POST", SIMULATE, Some(body.to_string())).await {
                Ok(answer) => simulation_markup(&answer["data"]),
                Err(message) => format!("<div class=\"notice error\" role=\"alert\">{}</div>", esc(&message)),
            });
            running.set(false);
        });
    };
    let on_change = move |ev: leptos::ev::Event| {
        let id = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()).map(|e| e.id());
        if id.as_deref() == Some("sim-scenario") {
            fill_example(catalogue);
        }
    };
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if let Some((action, id)) = action_of(&ev) {
            if action == "copy" {
                markup::copy(&markup::text_content(&id));
            }
        }
    };
    // The data field starts from the chosen scenario's example.
    Effect::new(move |_| {
        if catalogue.with(|c| c.as_ref().is_some_and(|r| r.is_ok())) && targets.with(Option::is_some) {
            fill_example(catalogue);
        }
    });

    view! {
        <section class="intro">
            <h1>"Webhook simulator"</h1>
            <p>
                "Send signed scenarios and the receiver drill suite to your endpoint through the edge, with the "
                "signing, URL rules, 10 s timeout and no-redirect policy of real deliveries. Simulated events have "
                <code>"evt_sim_"</code> " ids and are never stored or counted."
            </p>
        </section>
        <div on:submit=on_submit on:change=on_change on:click=on_click>
            <section class="card" aria-labelledby="sim-heading">
                <h2 id="sim-heading">"What to send, and where"</h2>
                {shown(targets, "Loading your subscriptions and inboxes…", "sim-form", move |t| {
                    let types = catalogue.with(|c| c.as_ref().and_then(|r| r.as_ref().ok()).map(event_types).unwrap_or_default());
                    form_markup(t, &types)
                })}
            </section>
            <section class="card" aria-labelledby="run-heading">
                <h2 id="run-heading">"The run"</h2>
                <div aria-live="polite" aria-busy=move || running.get().to_string()>
                    <Markup html=result testid="sim-result" />
                </div>
                <Markup html=commands testid="sim-commands" />
            </section>
        </div>
    }
}

fn form_markup(targets: &Value, types: &[String]) -> String {
    if targets.is_null() {
        return "<p>The simulator signs with your key. <a href=\"/start\">Choose a key in the wizard</a>, then come back.</p>"
            .to_owned();
    }
    let origin = crate::key::origin();
    let mut choices = String::from("<select id=\"sim-target\">");
    for s in targets["subscriptions"].as_array().into_iter().flatten() {
        let id = text(&s["subscription_id"]);
        let _ = write!(
            choices,
            "<option value=\"sub:{0}\">Subscription {0} ({1})</option>",
            esc(&id),
            esc(&text(&s["url"]))
        );
    }
    for i in targets["inboxes"].as_array().into_iter().flatten() {
        let url = format!("{origin}{}", text(&i["capture_path"]));
        let _ = write!(choices, "<option value=\"url:{}\">Inbox {}</option>", esc(&url), esc(&text(&i["inbox_id"])));
    }
    choices.push_str("<option value=\"url\">A URL (below)</option></select>");
    let mut scenarios = String::from("<select id=\"sim-scenario\">");
    for (_, name) in NAMED {
        let _ = write!(scenarios, "<option>{name}</option>");
    }
    for t in types {
        let _ = write!(scenarios, "<option>{}</option>", esc(t));
    }
    scenarios.push_str("</select>");
    let mut out = String::from("<form id=\"sim-form\"><div class=\"form-grid\">");
    out.push_str(&field("sim-target", "Target", &choices));
    out.push_str(&field(
        "sim-url",
        "URL",
        "<input id=\"sim-url\" type=\"url\" placeholder=\"https://example.com/webhooks\">",
    ));
    out.push_str(&field(
        "sim-secret",
        "Receiver's secret",
        "<input id=\"sim-secret\" type=\"password\" autocomplete=\"off\" placeholder=\"whsec_…\">",
    ));
    out.push_str(&field(
        "sim-previous",
        "Previous secret",
        "<input id=\"sim-previous\" type=\"password\" autocomplete=\"off\">",
    ));
    out.push_str(&field(
        "sim-mode",
        "Send",
        "<select id=\"sim-mode\"><option value=\"scenario\">A scenario</option><option value=\"drills\">The drill suite (ticked drills)</option></select>",
    ));
    out.push_str(&field("sim-scenario", "Scenario", &scenarios));
    out.push_str(&field(
        "sim-data",
        "Data laid over the example",
        "<textarea id=\"sim-data\" rows=\"8\" spellcheck=\"false\"></textarea>",
    ));
    out.push_str(
        "</div><p class=\"muted\">The URL is used when the target is “A URL”. For a URL or an inbox, the secrets \
         are the ones your receiver holds; the edge makes and shows any you leave empty. The previous secret signs \
         the rotation drills. The data is a JSON object laid over each step's example.</p><fieldset><legend>Drills</legend>",
    );
    for drill in Drill::ALL {
        // Every drill is ticked to begin with: the whole suite.
        out.push_str(
            &checkbox(
                &format!("drill-{}", drill.as_str()),
                &format!("<code>{}</code> <span class=\"muted\">{}</span>", drill.as_str(), esc(drill.expected())),
            )
            .replacen("type=\"checkbox\"", "type=\"checkbox\" checked", 1),
        );
    }
    out.push_str("</fieldset><button type=\"submit\">Send</button></form>");
    out
}

/// Puts the chosen scenario's example data (its first step's) in the data field.
fn fill_example(catalogue: Answer) {
    let scenario = markup::value("sim-scenario");
    let first = NAMED
        .iter()
        .find(|(_, name)| *name == scenario)
        .and_then(|(named, _)| Scenario::Named(*named).steps().first().map(|t| t.as_str().to_owned()))
        .unwrap_or(scenario);
    let example = markup::read_loaded(catalogue, |v| {
        v["data"]["event_types"]
            .as_array()?
            .iter()
            .find(|t| t["event_type"] == first.as_str())
            .map(|t| t["example"]["data"].clone())
    });
    if let Some(example) = example {
        markup::set_value("sim-data", &serde_json::to_string_pretty(&example).unwrap_or_default());
    }
}

/// The simulate request the form describes.
fn request_body() -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    let target = markup::value("sim-target");
    let url = match target.split_once(':') {
        Some(("sub", id)) => {
            body.insert("subscription_id".into(), json!(id));
            None
        }
        Some(("url", url)) => Some(url.to_owned()),
        _ => Some(markup::value("sim-url").trim().to_owned()).filter(|u| !u.is_empty()),
    };
    match url {
        Some(url) => {
            body.insert("url".into(), json!(url));
            for (id, name) in [("sim-secret", "secret"), ("sim-previous", "previous_secret")] {
                let value = markup::value(id);
                if !value.trim().is_empty() {
                    body.insert(name.into(), json!(value.trim()));
                }
            }
        }
        None if !body.contains_key("subscription_id") => return Err("Type the URL to send to.".to_owned()),
        None => {}
    }
    if markup::value("sim-mode") == "drills" {
        let drills: Vec<&str> =
            Drill::ALL.iter().map(|d| d.as_str()).filter(|d| markup::checked(&format!("drill-{d}"))).collect();
        if drills.is_empty() {
            return Err("Tick at least one drill.".to_owned());
        }
        body.insert("drills".into(), json!(drills));
    } else {
        body.insert("scenario".into(), json!(markup::value("sim-scenario")));
        let data = markup::value("sim-data");
        if !data.trim().is_empty() {
            let parsed: Value = serde_json::from_str(&data).map_err(|e| format!("The data is not JSON: {e}"))?;
            if !parsed.is_object() {
                return Err("The data must be a JSON object.".to_owned());
            }
            body.insert("data".into(), parsed);
        }
    }
    Ok(Value::Object(body))
}

fn code_block(id: &str, label: &str, code: &str) -> String {
    format!(
        "<div class=\"code-block\"><pre tabindex=\"0\" aria-label=\"{0}\"><code id=\"{1}\">{2}</code></pre>\
         <button type=\"button\" class=\"copy\" data-action=\"copy\" data-id=\"{1}\" aria-label=\"Copy {0}\">Copy</button></div>",
        esc(label),
        esc(id),
        esc(code)
    )
}

fn commands_markup(key: &crate::key::Credentials, body: &Value) -> String {
    let origin = crate::key::origin();
    let text = body.to_string();
    let sample = Sample {
        origin: &origin,
        method: "POST",
        path_and_query: SIMULATE,
        body: &text,
        key_id: &key.key_id,
        auth: Auth::Partner,
    };
    let idempotency_key = format!("portal-{}", crate::key::random_token());
    let signed = crate::key::sign(
        key,
        "POST",
        SIMULATE,
        &text,
        crate::key::unix_now(),
        &crate::key::random_token(),
        Some(&idempotency_key),
    );
    let mut out = String::from("<h3>curl</h3>");
    out.push_str(&code_block(
        "sim-curl",
        "curl command",
        &format!(
            "# signed now: works once, within the timestamp window\n{}",
            samples::curl_signed(&sample, &signed.headers)
        ),
    ));
    out.push_str("<h3>CLI</h3>");
    out.push_str(&code_block("sim-cli", "CLI command", &samples::cli_simulate(&origin, &key.key_id, body)));
    out
}

fn simulation_markup(data: &Value) -> String {
    let mut out = String::new();
    if let Some(secrets) = data["generated_secrets"].as_object() {
        out.push_str("<div class=\"notice secret\"><p>The edge made these secrets for the run, shown once: give them to your receiver.</p>");
        for (name, value) in secrets {
            let _ = write!(out, "<p>{}: <code>{}</code></p>", esc(name), esc(&text(value)));
        }
        out.push_str("</div>");
    }
    let _ = write!(out, "<p>Target: <code>{}</code></p>", esc(&text(&data["target"]["url"])));
    if let Some(report) = data["report"].as_object() {
        let _ = write!(
            out,
            "<p data-testid=\"report-summary\">{} passed, {} failed, {} skipped</p>",
            report.get("passed").and_then(Value::as_u64).unwrap_or(0),
            report.get("failed").and_then(Value::as_u64).unwrap_or(0),
            report.get("skipped").and_then(Value::as_u64).unwrap_or(0)
        );
        let rows = report.get("drills").and_then(Value::as_array).into_iter().flatten().map(|d| {
            let grade = text(&d["grade"]);
            vec![
                format!("<code>{}</code>", esc(&text(&d["drill"]))),
                badge(grade == "passed", &grade),
                esc(&text(&d["expected"])),
                esc(&text(&d["observed"])),
            ]
        });
        markup::table(&mut out, "Report card", &["Drill", "Grade", "A correct receiver", "Your receiver"], rows);
    }
    for (n, send) in data["sends"].as_array().into_iter().flatten().enumerate() {
        let request = &send["request"];
        let response = &send["response"];
        let status = response["status"].as_u64().map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
        let ok = response["status"].as_u64().is_some_and(|s| (200..300).contains(&s));
        let _ = write!(
            out,
            "<article class=\"send\"><h3>Send {} · <code>{}</code>{}</h3><div class=\"side-by-side\"><div><h4>Request</h4><p><code>{} {}</code></p><p>Signed with {}</p>{}{}</div>",
            n + 1,
            esc(&text(&send["event_type"])),
            send["drill"].as_str().map(|d| format!(" · drill <code>{}</code>", esc(d))).unwrap_or_default(),
            esc(&text(&request["method"])),
            esc(&text(&request["url"])),
            esc(&send["signed_with"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ")),
            pre("request headers", &markup::header_lines(&request["headers"])),
            pre("request body", &markup::pretty(&request["body"])),
        );
        let _ = write!(
            out,
            "<div><h4>Answer</h4><p>{} in {} ms{}</p>{}{}</div></div></article>",
            badge(ok, &status),
            response["latency_ms"].as_u64().unwrap_or(0),
            response["error"].as_str().map(|e| format!(" ({})", esc(e))).unwrap_or_default(),
            pre("answer headers", &markup::header_lines(&send["response_headers"])),
            pre("answer excerpt", &text(&response["body_excerpt"])),
        );
    }
    out
}
