//! The OpenAPI changelog: what changed between the committed baseline
//! (`shared/openapi-baseline.json`) and the current document, each change
//! graded breaking or not the way oasdiff grades them: a client built
//! against the baseline breaks if an operation, a parameter or a response
//! field it uses goes away, or if a request it sends would now be refused.
//!
//! The worker's build script renders it (`/developers/openapi-changelog.json`
//! and `.md`), so no baseline ships in the wasm; a test fails when a breaking
//! change appears for an operation the lifecycle has not deprecated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a change affects clients built against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Breaking,
    NonBreaking,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Change {
    pub level: Level,
    /// `operation-added`, `request-parameter-removed`, …
    pub kind: String,
    /// `GET /api/partner/me`, or `components/schemas/X`.
    pub location: String,
    pub detail: String,
    /// The operation's id, when the change is to an operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Changelog {
    pub baseline_version: String,
    pub current_version: String,
    pub breaking: u32,
    pub non_breaking: u32,
    pub changes: Vec<Change>,
}

/// A schema with its `#/components/schemas/…` references inlined (to a depth).
fn resolve(doc: &Value, schema: &Value, depth: u8) -> Value {
    if depth > 8 {
        return schema.clone();
    }
    match schema {
        Value::Object(map) => {
            if let Some(name) =
                map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                return resolve(doc, &doc["components"]["schemas"][name], depth + 1);
            }
            Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(doc, v, depth + 1))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(doc, v, depth + 1)).collect()),
        other => other.clone(),
    }
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// A schema with its prose removed: descriptions and examples do not change a contract.
fn without_prose(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "description" | "summary" | "title" | "example" | "examples"))
                .map(|(k, v)| (k.clone(), without_prose(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_prose).collect()),
        other => other.clone(),
    }
}

fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut found = BTreeMap::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(*method) {
                    found.insert((method.to_ascii_uppercase(), path.clone()), op.clone());
                }
            }
        }
    }
    found
}

fn parameters(op: &Value) -> BTreeMap<(String, String), Value> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                (p["in"].as_str().unwrap_or_default().to_owned(), p["name"].as_str().unwrap_or_default().to_owned()),
                p.clone(),
            )
        })
        .collect()
}

/// Whether `new` accepts less than `old`: a constraint added or
/// tightened, a property or enum value dropped, a field newly required.
/// Conservative: a change it cannot read counts as tighter.
fn tighter(old: &Value, new: &Value) -> bool {
    let (old, new) = (without_prose(old), without_prose(new));
    narrower(&old, &new)
}

fn narrower(old: &Value, new: &Value) -> bool {
    if old == new {
        return false;
    }
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return true;
    };
    let number = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    n.iter().any(|(key, now)| match (key.as_str(), o.get(key)) {
        (_, Some(before)) if before == now => false,
        ("properties", Some(before)) => before.as_object().is_some_and(|props| {
            props.iter().any(|(name, schema)| now.get(name).is_none_or(|ns| narrower(schema, ns)))
        }),
        ("required", before) => {
            let was: Vec<&Value> = before.and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
            now.as_array().is_some_and(|names| names.iter().any(|name| !was.contains(&name)))
        }
        ("enum", Some(Value::Array(was))) => now.as_array().is_none_or(|is| was.iter().any(|v| !is.contains(v))),
        ("maxLength" | "maximum" | "maxItems" | "maxProperties", Some(before)) => number(now) < number(before),
        ("minLength" | "minimum" | "minItems" | "minProperties", Some(before)) => number(now) > number(before),
        ("items" | "additionalProperties", Some(before)) if before.is_object() && now.is_object() => {
            narrower(before, now)
        }
        ("additionalProperties", Some(Value::Bool(false))) => false,
        _ => true,
    })
}

pub fn diff(baseline: &Value, current: &Value) -> Changelog {
    let mut changes = Vec::new();
    let mut push = |level, kind: &str, location: String, detail: String, operation_id: Option<String>| {
        changes.push(Change { level, kind: kind.to_owned(), location, detail, operation_id });
    };
    let (old_ops, new_ops) = (operations(baseline), operations(current));
    for (key, old) in &old_ops {
        let location = format!("{} {}", key.0, key.1);
        let id = old["operationId"].as_str().map(str::to_owned);
        let Some(new) = new_ops.get(key) else {
            push(Level::Breaking, "operation-removed", location, "the operation is gone".into(), id);
            continue;
        };
        if new["deprecated"] == true && old["deprecated"] != true {
            push(
                Level::NonBreaking,
                "operation-deprecated",
                location.clone(),
                format!("sunset {}", new["x-sunset"]),
                id.clone(),
            );
        }
        let (old_params, new_params) = (parameters(old), parameters(new));
        for (name, param) in &old_params {
            match new_params.get(name) {
                None => push(
                    Level::Breaking,
                    "request-parameter-removed",
                    location.clone(),
                    format!("{} `{}`", name.0, name.1),
                    id.clone(),
                ),
                Some(now) => {
                    if now["required"] == true && param["required"] != true {
                        push(
                            Level::Breaking,
                            "request-parameter-became-required",
                            location.clone(),
                            format!("`{}`", name.1),
                            id.clone(),
                        );
                    }
                    if tighter(&param["schema"], &now["schema"]) {
                        push(
                            Level::Breaking,
                            "request-parameter-schema-tightened",
                            location.clone(),
                            format!("`{}`", name.1),
                            id.clone(),
                        );
                    } else if without_prose(&param["schema"]) != without_prose(&now["schema"]) {
                        push(
                            Level::NonBreaking,
                            "request-parameter-schema-loosened",
                            location.clone(),
                            format!("`{}`", name.1),
                            id.clone(),
                        );
                    }
                }
            }
        }
        for (name, param) in &new_params {
            if !old_params.contains_key(name) {
                let (level, kind) = if param["required"] == true {
                    (Level::Breaking, "new-required-request-parameter")
                } else {
                    (Level::NonBreaking, "new-optional-request-parameter")
                };
                push(level, kind, location.clone(), format!("{} `{}`", name.0, name.1), id.clone());
            }
        }
        let body =
            |doc: &Value, op: &Value| resolve(doc, &op["requestBody"]["content"]["application/json"]["schema"], 0);
        if tighter(&body(baseline, old), &body(current, new)) {
            push(
                Level::Breaking,
                "request-body-changed",
                location.clone(),
                "the request body schema accepts less".into(),
                id.clone(),
            );
        }
        if let Some(responses) = old["responses"].as_object() {
            for (status, _) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                if new["responses"].get(status).is_none() {
                    push(
                        Level::Breaking,
                        "response-success-status-removed",
                        location.clone(),
                        status.to_string(),
                        id.clone(),
                    );
                }
            }
        }
    }
    for (key, new) in &new_ops {
        if !old_ops.contains_key(key) {
            push(
                Level::NonBreaking,
                "operation-added",
                format!("{} {}", key.0, key.1),
                new["summary"].as_str().unwrap_or_default().to_owned(),
                new["operationId"].as_str().map(str::to_owned),
            );
        }
    }
    let schemas = |doc: &Value| doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let (old_schemas, new_schemas) = (schemas(baseline), schemas(current));
    for (name, old) in &old_schemas {
        let location = format!("components/schemas/{name}");
        match new_schemas.get(name) {
            None => push(Level::NonBreaking, "schema-removed", location, "no longer referenced by name".into(), None),
            Some(new) if without_prose(old) != without_prose(new) => {
                // Graded where it is used: a request that accepts less is caught
                // at its operation (bodies are compared with references resolved).
                push(Level::NonBreaking, "schema-changed", location, "its definition changed".into(), None);
            }
            Some(_) => {}
        }
    }
    for name in new_schemas.keys().filter(|n| !old_schemas.contains_key(*n)) {
        push(Level::NonBreaking, "schema-added", format!("components/schemas/{name}"), String::new(), None);
    }
    let breaking = changes.iter().filter(|c| c.level == Level::Breaking).count();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Changelog {
        baseline_version: baseline["info"]["version"].as_str().unwrap_or_default().to_owned(),
        current_version: current["info"]["version"].as_str().unwrap_or_default().to_owned(),
        breaking: count(breaking),
        non_breaking: count(changes.len() - breaking),
        changes,
    }
}

/// The changelog as Markdown.
pub fn markdown(log: &Changelog) -> String {
    let mut text = format!(
        "# OpenAPI changelog\n\nFrom the baseline {} to {}: {} breaking, {} non-breaking.\n",
        log.baseline_version, log.current_version, log.breaking, log.non_breaking
    );
    if log.changes.is_empty() {
        text.push_str("\nNo changes since the baseline.\n");
    }
    for (title, level) in [("Breaking", Level::Breaking), ("Non-breaking", Level::NonBreaking)] {
        let rows: Vec<&Change> = log.changes.iter().filter(|c| c.level == level).collect();
        if rows.is_empty() {
            continue;
        }
        text.push_str(&format!("\n## {title}\n\n"));
        for change in rows {
            text.push_str(&format!("- `{}` {}: {}\n", change.kind, change.location, change.detail));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(paths: Value) -> Value {
        json!({ "info": { "version": "1" }, "paths": paths, "components": { "schemas": {} } })
    }

    fn op(params: Value) -> Value {
        json!({ "operationId": "op", "summary": "s", "parameters": params, "responses": { "200": {} } })
    }

    #[test]
    fn added_operations_and_optional_parameters_are_not_breaking() {
        let base = doc(json!({ "/a": { "get": op(json!([])) } }));
        let now = doc(json!({
            "/a": { "get": op(json!([{ "in": "query", "name": "q", "required": false, "schema": { "type": "string" } }])) },
            "/b": { "get": op(json!([])) },
        }));
        let log = diff(&base, &now);
        assert_eq!(log.breaking, 0, "{log:#?}");
        let kinds: Vec<&str> = log.changes.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["new-optional-request-parameter", "operation-added"]);
    }

    #[test]
    fn removals_new_required_parameters_and_tightening_are_breaking() {
        let param = |schema: Value, required: bool| json!([{ "in": "query", "name": "q", "required": required, "schema": schema }]);
        let base = doc(json!({
            "/a": { "get": op(param(json!({ "type": "string", "maxLength": 10 }), false)) },
            "/gone": { "get": op(json!([])) },
        }));
        let now = doc(json!({ "/a": { "get": op(param(json!({ "type": "string", "maxLength": 5 }), true)) } }));
        let log = diff(&base, &now);
        let kinds: Vec<&str> =
            log.changes.iter().filter(|c| c.level == Level::Breaking).map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["request-parameter-became-required", "request-parameter-schema-tightened", "operation-removed"]
        );
    }

    #[test]
    fn request_bodies_are_compared_through_their_references() {
        let with_body = |schema: Value| {
            json!({
                "info": { "version": "1" },
                "paths": { "/a": { "post": {
                    "operationId": "op", "responses": { "201": {} },
                    "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/In" } } } },
                } } },
                "components": { "schemas": { "In": schema } },
            })
        };
        let base = with_body(json!({ "type": "object", "properties": { "a": { "type": "string" } } }));
        let grown = with_body(
            json!({ "type": "object", "properties": { "a": { "type": "string" }, "b": { "type": "string" } } }),
        );
        assert_eq!(diff(&base, &grown).breaking, 0, "an optional property is not breaking");
        let required =
            with_body(json!({ "type": "object", "required": ["a"], "properties": { "a": { "type": "string" } } }));
        assert_eq!(diff(&base, &required).breaking, 1, "a newly required field is");
        let narrowed =
            with_body(json!({ "type": "object", "properties": { "a": { "type": "string", "maxLength": 3 } } }));
        assert_eq!(diff(&base, &narrowed).breaking, 1, "a tighter field is");
    }

    #[test]
    fn loosening_and_prose_are_not_breaking() {
        let param = |schema: Value| json!([{ "in": "query", "name": "q", "required": false, "schema": schema }]);
        let base =
            doc(json!({ "/a": { "get": op(param(json!({ "enum": ["x"], "maxLength": 5, "description": "old" }))) } }));
        let now = doc(
            json!({ "/a": { "get": op(param(json!({ "enum": ["x", "y"], "maxLength": 9, "description": "new" }))) } }),
        );
        let log = diff(&base, &now);
        assert_eq!(log.breaking, 0, "{log:#?}");
        assert_eq!(log.changes[0].kind, "request-parameter-schema-loosened");
        assert!(diff(&now, &now).changes.is_empty());
        assert!(markdown(&diff(&now, &now)).contains("No changes"));
    }

    /// The committed baseline against the document the edge serves: every
    /// breaking change must concern an operation the lifecycle declares
    /// deprecated (and so announced with a sunset).
    #[test]
    fn no_breaking_change_appears_without_a_deprecation() {
        let baseline: Value = serde_json::from_str(include_str!("../openapi-baseline.json")).unwrap();
        let log = diff(&baseline, &crate::openapi::document());
        let deprecated: Vec<&str> =
            crate::lifecycle::DEPRECATIONS.iter().map(|d| d.route.route().operation_id).collect();
        for change in log.changes.iter().filter(|c| c.level == Level::Breaking) {
            let covered = change.operation_id.as_deref().is_some_and(|id| deprecated.contains(&id));
            assert!(covered, "a breaking change with no deprecation entry: {change:?}");
        }
    }
}
