//! The API reference, read live from `/openapi.json`: every operation with its
//! method, path, description and the error codes it can answer with.

use leptos::prelude::*;
use serde_json::Value;

use crate::{api, ErrorNotice};

/// One operation, flattened out of the OpenAPI document for display.
#[derive(Clone, Debug, PartialEq)]
struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    errors: Vec<String>,
}

fn operations(document: &Value) -> Vec<Operation> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut found = Vec::new();
    let Some(paths) = document["paths"].as_object() else {
        return found;
    };
    for (path, methods) in paths {
        let Some(methods) = methods.as_object() else {
            continue;
        };
        for (method, op) in methods {
            let mut errors: Vec<String> = op["responses"]
                .as_object()
                .into_iter()
                .flat_map(|responses| responses.values())
                .filter_map(|response| response["content"]["application/json"]["x-error-codes"].as_array())
                .flatten()
                .map(text)
                .collect();
            errors.sort();
            found.push(Operation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                errors,
            });
        }
    }
    found
}

#[component]
pub fn Reference() -> impl IntoView {
    let document = LocalResource::new(api::openapi_document);
    view! {
        <section class="intro">
            <h1>"API reference"</h1>
            <p>"Read live from " <a href="/openapi.json">"/openapi.json"</a> "."</p>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Loading the OpenAPI document…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorNotice errors /> }>
                {move || Suspend::new(async move {
                    document.await.map(|doc| {
                        let version = doc["info"]["version"].as_str().unwrap_or("?").to_owned();
                        let ops = operations(&doc);
                        view! {
                            <p class="muted" data-testid="api-version">
                                "Version " {version} " · " {ops.len()} " operations"
                            </p>
                            <ul class="operations">
                                {ops.into_iter().map(|op| view! { <OperationCard op /> }).collect::<Vec<_>>()}
                            </ul>
                        }
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn OperationCard(op: Operation) -> impl IntoView {
    let method_class = format!("method {}", op.method.to_ascii_lowercase());
    view! {
        <li class="card operation">
            <h2>
                <span class=method_class>{op.method}</span>
                " " <code>{op.path}</code>
            </h2>
            <p><strong>{op.summary}</strong></p>
            <p>{op.description}</p>
            <p class="muted">
                "Errors: "
                {op.errors.into_iter().map(|code| view! { <code class="error-code">{code}</code> " " }).collect::<Vec<_>>()}
            </p>
        </li>
    }
}
