//! The schema explorer, read live from `/openapi.json`: operations grouped
//! by tag with a search box, a page per operation (`/reference/{operationId}`)
//! with its parameters, request and response schemas as trees, the example
//! body, error codes linked to the taxonomy, its scope, rate limit and
//! sunset, a try-it form (signed in the browser for partner routes) and code
//! samples in five languages.

use leptos::prelude::*;
use serde_json::Value;

use crate::api::{self, Exchange};
use crate::components::{load, loaded, CodeBlock, ExchangeView, JsonTree};
use crate::key::{self, use_key};
use crate::samples::{self, Auth, Sample};

/// One operation, flattened out of the OpenAPI document.
#[derive(Clone, Debug, PartialEq)]
struct Operation {
    id: String,
    tag: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    auth: Auth,
    rate_limited: bool,
    deprecated: bool,
    sunset: Option<String>,
    /// (name, in, required, description, schema)
    parameters: Vec<(String, String, bool, String, Value)>,
    request_schema: Option<Value>,
    example: Option<Value>,
    /// (status, schema, example) of the success answer.
    success: Option<(String, Value, Option<Value>)>,
    errors: Vec<String>,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// Replaces `$ref`s with the schemas they name, `depth` levels deep.
fn resolve(schema: &Value, doc: &Value, depth: usize) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(name) =
                map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                return if depth == 0 {
                    Value::String(format!("→ {name}"))
                } else {
                    resolve(&doc["components"]["schemas"][name], doc, depth - 1)
                };
            }
            Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, doc, depth))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, doc, depth)).collect()),
        other => other.clone(),
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, methods) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in methods.as_object().into_iter().flatten() {
            let security = op["security"].as_array().cloned().unwrap_or_default();
            let auth = if security.iter().any(|s| s.get("partnerSignature").is_some()) {
                Auth::Partner
            } else if security.iter().any(|s| s.get("adminKey").is_some()) {
                Auth::Admin
            } else {
                Auth::Public
            };
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            let mut errors: Vec<String> = responses
                .values()
                .filter_map(|r| r["content"]["application/json"]["x-error-codes"].as_array())
                .flatten()
                .map(text)
                .collect();
            errors.sort();
            let success = responses.iter().find(|(status, _)| status.starts_with('2')).map(|(status, r)| {
                let media = r["content"].as_object().and_then(|c| c.values().next());
                let schema = media.map(|m| m["schema"].clone()).unwrap_or_default();
                (status.clone(), resolve(&schema, doc, 3), media.and_then(|m| m.get("example").cloned()))
            });
            let rate_limited = responses.values().any(|r| r["headers"].get("X-RateLimit-Limit").is_some());
            let body = &op["requestBody"]["content"]["application/json"];
            found.push(Operation {
                id: text(&op["operationId"]),
                tag: op["tags"][0].as_str().unwrap_or("other").to_owned(),
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                auth,
                rate_limited,
                deprecated: op["deprecated"].as_bool().unwrap_or(false),
                sunset: op["x-sunset"].as_str().map(str::to_owned),
                parameters: op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] != "header")
                    .map(|p| {
                        (
                            text(&p["name"]),
                            text(&p["in"]),
                            p["required"].as_bool().unwrap_or(false),
                            text(&p["description"]),
                            p["schema"].clone(),
                        )
                    })
                    .collect(),
                request_schema: body.get("schema").map(|s| resolve(s, doc, 3)),
                example: body.get("example").cloned(),
                success,
                errors,
            });
        }
    }
    found
}

#[component]
pub fn Reference() -> impl IntoView {
    let (document, _) = load(api::openapi_document);
    let location = crate::nav::use_location();
    let selected = Memo::new(move |_| location.path.with(|p| crate::nav::sub_path(p).map(str::to_owned)));
    let search = RwSignal::new(String::new());
    view! {
        <section class="intro">
            <h1>"API reference"</h1>
            <p>"Read live from " <a href="/openapi.json">"/openapi.json"</a> ", the contract the edge enforces."</p>
        </section>
        {loaded(document, "Loading the OpenAPI document…", move |doc: Value| {
                        let version = doc["info"]["version"].as_str().unwrap_or("?").to_owned();
                        let ops = operations(&doc);
                        let count = ops.len();
                        match selected.get() {
                            Some(id) => match ops.into_iter().find(|op| op.id == id) {
                                Some(op) => view! { <OperationPage op /> }.into_any(),
                                None => view! {
                                    <p class="notice error" role="alert">"No operation " <code>{id}</code> " in this document."</p>
                                    <a href="/reference">"All operations"</a>
                                }.into_any(),
                            },
                            None => view! {
                                <p class="muted" data-testid="api-version">"Version " {version} " · " {count} " operations"</p>
                                <label for="reference-search">"Search operations"</label>
                                <input id="reference-search" type="search" class="search"
                                    prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev)) />
                                <OperationIndex ops search />
                            }.into_any(),
                        }
        })}
    }
}

#[component]
fn OperationIndex(ops: Vec<Operation>, search: RwSignal<String>) -> impl IntoView {
    let mut tags: Vec<String> = ops.iter().map(|op| op.tag.clone()).collect();
    tags.sort();
    tags.dedup();
    move || {
        let needle = search.get().to_ascii_lowercase();
        let matches = |op: &Operation| {
            needle.is_empty()
                || [&op.path, &op.summary, &op.id, &op.method].iter().any(|f| f.to_ascii_lowercase().contains(&needle))
        };
        tags.iter()
            .filter_map(|tag| {
                let listed: Vec<Operation> = ops.iter().filter(|op| &op.tag == tag && matches(op)).cloned().collect();
                (!listed.is_empty()).then(|| {
                    view! {
                        <section class="card" aria-label=format!("{tag} operations")>
                            <h2>{tag.clone()}</h2>
                            <ul class="operations">
                                {listed.into_iter().map(|op| view! {
                                    <li>
                                        <span class=format!("method {}", op.method.to_ascii_lowercase())>{op.method.clone()}</span>
                                        " " <a href=format!("/reference/{}", op.id)><code>{op.path.clone()}</code></a>
                                        " " {op.summary.clone()}
                                        {op.deprecated.then_some(" (deprecated)")}
                                    </li>
                                }).collect::<Vec<_>>()}
                            </ul>
                        </section>
                    }
                })
            })
            .collect::<Vec<_>>()
    }
}

#[component]
fn OperationPage(op: Operation) -> impl IntoView {
    let keys = use_key();
    let scope = op.description.split("Requires scope `").nth(1).and_then(|r| r.split('`').next()).map(str::to_owned);
    let access = match (op.auth, &scope) {
        (Auth::Partner, Some(scope)) => format!("Signed partner request, scope `{scope}`"),
        (Auth::Partner, None) => "Signed partner request, any valid key".to_owned(),
        (Auth::Admin, _) => "Operators, with X-Admin-Key".to_owned(),
        (Auth::Public, _) => "Public".to_owned(),
    };
    // Try-it state: one field per path and query parameter, and the body.
    let values: Vec<(String, String, bool, RwSignal<String>)> = op
        .parameters
        .iter()
        .map(|(name, place, required, _, schema)| {
            let start = schema["enum"][0].as_str().map(str::to_owned).unwrap_or_else(|| match name.as_str() {
                "user_id" => "4".to_owned(),
                "hours" if *required => "24".to_owned(),
                _ => String::new(),
            });
            (name.clone(), place.clone(), *required, RwSignal::new(start))
        })
        .collect();
    let body =
        RwSignal::new(op.example.as_ref().map(|e| serde_json::to_string(e).unwrap_or_default()).unwrap_or_default());
    let admin_key = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<Result<Exchange, String>>);
    let template = op.path.clone();
    let fields = values.clone();
    let target = Memo::new(move |_| {
        let mut path = template.clone();
        let mut query = Vec::new();
        for (name, place, _, value) in &fields {
            let value = value.get();
            if place == "path" {
                path = path.replace(&format!("{{{name}}}"), &value);
            } else if !value.is_empty() {
                query.push(format!("{name}={value}"));
            }
        }
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        }
    });
    // The body as sent: compact JSON when it parses, as typed otherwise.
    let sent_body = Memo::new(move |_| {
        let raw = body.get();
        serde_json::from_str::<Value>(&raw).map(|v| v.to_string()).unwrap_or(raw)
    });
    let (method, auth) = (op.method.clone(), op.auth);
    let send = {
        let method = method.clone();
        move |_| {
            let (path, body) = (target.get_untracked(), sent_body.get_untracked());
            let mut headers = Vec::new();
            match auth {
                Auth::Partner => match keys.key.get_untracked() {
                    Some(key) => {
                        let idem = format!("portal-{}", key::random_token());
                        headers =
                            key::sign(&key, &method, &path, &body, key::unix_now(), &key::random_token(), Some(&idem))
                                .headers;
                    }
                    None => {
                        answer.set(Some(Err(
                            "partner routes are signed: choose a key in the wizard (/start) first".to_owned()
                        )));
                        return;
                    }
                },
                Auth::Admin => headers.push(("X-Admin-Key".to_owned(), admin_key.get_untracked())),
                Auth::Public => {}
            }
            if !body.is_empty() && auth != Auth::Partner {
                headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            }
            let method = method.clone();
            leptos::task::spawn_local(async move {
                let body = (!body.is_empty()).then_some(body);
                answer.set(Some(api::exchange(&method, &path, &headers, body).await.map_err(|e| e.to_string())));
            });
        }
    };
    let code_method = op.method.clone();
    let code = move || {
        let (origin, key_id) = (key::origin(), keys.key.get().map(|k| k.key_id).unwrap_or_else(|| "pk_…".to_owned()));
        let (path, body) = (target.get(), sent_body.get());
        let sample =
            Sample { origin: &origin, method: &code_method, path_and_query: &path, body: &body, key_id: &key_id, auth };
        view! {
            <h3>"curl"</h3> <CodeBlock code=samples::curl(&sample) label="curl sample" />
            <h3>"CLI"</h3> <CodeBlock code=samples::cli(&sample) label="CLI sample" />
            <h3>"Python"</h3> <CodeBlock code=samples::python(&sample) label="Python sample" />
            <h3>"JavaScript"</h3> <CodeBlock code=samples::javascript(&sample) label="JavaScript sample" />
            <h3>"Rust"</h3> <CodeBlock code=samples::rust(&sample) label="Rust sample" />
        }
    };
    view! {
        <p><a href="/reference">"All operations"</a></p>
        <section class="card" aria-labelledby="operation-heading">
            <h2 id="operation-heading">
                <span class=format!("method {}", op.method.to_ascii_lowercase())>{op.method.clone()}</span>
                " " <code>{op.path.clone()}</code>
            </h2>
            <p><strong>{op.summary.clone()}</strong></p>
            <p>{op.description.clone()}</p>
            {op.deprecated.then(|| view! {
                <p class="notice error" data-testid="deprecated">"Deprecated"
                    {op.sunset.clone().map(|s| format!("; sunset {s}"))}"."</p>
            })}
            <table class="data">
                <tbody>
                    <tr><th scope="row">"Operation id"</th><td><code>{op.id.clone()}</code></td></tr>
                    <tr><th scope="row">"Access"</th><td>{access}</td></tr>
                    <tr><th scope="row">"Rate limit"</th><td>{if op.rate_limited { "Counted: answers carry X-RateLimit-*" } else { "Not rate-limited" }}</td></tr>
                </tbody>
            </table>
            <h3>"Errors"</h3>
            <p>{op.errors.iter().map(|code| view! { <a class="error-code" href=format!("/#error-{code}")>{code.clone()}</a> " " }).collect::<Vec<_>>()}</p>
            {(!op.parameters.is_empty()).then(|| view! {
                <h3>"Parameters"</h3>
                <ul>{op.parameters.iter().map(|(name, place, required, description, schema)| view! {
                    <li><code>{name.clone()}</code> " (" {place.clone()} {required.then_some(", required")} ") " {description.clone()}
                        " " <code>{schema.to_string()}</code></li>
                }).collect::<Vec<_>>()}</ul>
            })}
            {op.request_schema.clone().map(|schema| view! { <h3>"Request body"</h3> <JsonTree value=schema /> })}
            {op.example.clone().map(|example| view! { <h3>"Example body"</h3> <JsonTree value=example /> })}
            {op.success.clone().map(|(status, schema, example)| view! {
                <h3>{format!("Answer ({status})")}</h3> <JsonTree value=schema />
                {example.map(|example| view! { <h3>"Example answer"</h3> <div data-testid="example-answer"><JsonTree value=example /></div> })}
            })}
        </section>

        <section class="card" aria-labelledby="try-heading">
            <h2 id="try-heading">"Try it"</h2>
            <div class="form-grid">
                {values.into_iter().map(|(name, place, _, value)| {
                    let id = format!("param-{name}");
                    view! {
                        <label for=id.clone()>{format!("{name} ({place})")}</label>
                        <input id=id type="text" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
                    }
                }).collect::<Vec<_>>()}
                {(auth == Auth::Admin).then(|| view! {
                    <label for="admin-key">"Admin key"</label>
                    <input id="admin-key" type="password" autocomplete="off"
                        prop:value=move || admin_key.get() on:input=move |ev| admin_key.set(event_target_value(&ev)) />
                })}
                {body_fields(op.request_schema.as_ref(), op.example.as_ref(), body)}
                {op.example.is_some().then(|| view! {
                    <label for="try-body">"Body (JSON)"</label>
                    <textarea id="try-body" rows="6" spellcheck="false"
                        prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                })}
            </div>
            <p><code>{method.clone()} " " {move || target.get()}</code></p>
            <button type="button" on:click=send>"Send"</button>
            <div aria-live="polite">
                {move || answer.get().map(|outcome| match outcome {
                    Ok(exchange) => view! { <ExchangeView exchange /> }.into_any(),
                    Err(message) => view! { <div class="notice error" role="alert">{message}</div> }.into_any(),
                })}
            </div>
        </section>

        <section class="card" aria-labelledby="samples-heading">
            <h2 id="samples-heading">"Code samples"</h2>
            <p class="muted">"Complete with signing; the secret comes from the environment."</p>
            {code}
        </section>
    }
}

/// A value as a form shows it: strings bare, anything else as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a field's text means under its schema: a number, a boolean or JSON
/// where the schema says so; text the edge should judge stays text.
fn typed(raw: &str, schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("integer" | "number" | "boolean" | "array" | "object") => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        _ => Value::String(raw.to_owned()),
    }
}

/// One field per property of the request body, prefilled from the example.
/// Editing a field rewrites that property in the JSON body (an empty field
/// leaves it out).
fn body_fields(schema: Option<&Value>, example: Option<&Value>, body: RwSignal<String>) -> impl IntoView {
    let required: Vec<String> = schema
        .and_then(|s| s["required"].as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let properties = schema.and_then(|s| s["properties"].as_object()).cloned().unwrap_or_default();
    properties
        .into_iter()
        .map(|(name, property)| {
            let id = format!("body-{name}");
            let value = RwSignal::new(example.map(|e| shown(&e[&name])).unwrap_or_default());
            let kind = property["type"].as_str().unwrap_or("json").to_owned();
            let label = format!("{name} ({kind}{})", if required.contains(&name) { ", required" } else { "" });
            let key = name.clone();
            let description = property["description"].as_str().unwrap_or_default().to_owned();
            let apply = move |raw: String| {
                value.set(raw.clone());
                body.update(|text| {
                    let mut object =
                        serde_json::from_str::<Value>(text).ok().filter(Value::is_object).unwrap_or_default();
                    if raw.is_empty() {
                        if let Some(map) = object.as_object_mut() {
                            map.remove(&key);
                        }
                    } else {
                        object[&key] = typed(&raw, &property);
                    }
                    *text = serde_json::to_string(&object).unwrap_or_default();
                });
            };
            view! {
                <label for=id.clone()>{label}</label>
                <input id=id type="text" spellcheck="false" title=description
                    prop:value=move || value.get() on:input=move |ev| apply(event_target_value(&ev)) />
            }
        })
        .collect::<Vec<_>>()
}
