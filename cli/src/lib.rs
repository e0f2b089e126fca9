//! The signing CLI's logic, kept in a library so the end-to-end suite can
//! drive it against a real edge. `main.rs` only parses arguments.
//!
//! Signing itself is `partner_edge::signing` (signature v1), the same code
//! the edge verifies with.

use partner_edge::gate::{
    needs_idempotency_key, HEADER_IDEMPOTENCY_KEY, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use partner_edge::signing::{sign_v1, SignedParts};

/// One request to sign. The CLI draws `timestamp`, `nonce` and, for a
/// mutation without one, the idempotency key; tests may fix them.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub method: String,
    /// Path and query exactly as they will be sent, e.g. `/api/salutes/balance?user_id=4`.
    pub path_and_query: String,
    pub key_id: String,
    pub secret: String,
    pub body: Vec<u8>,
    pub timestamp: u64,
    pub nonce: String,
    pub idempotency_key: Option<String>,
}

/// The headers to send, in a stable order.
pub fn headers(spec: &RequestSpec) -> Vec<(&'static str, String)> {
    let timestamp = spec.timestamp.to_string();
    let parts = SignedParts {
        timestamp: &timestamp,
        method: &spec.method,
        path_and_query: &spec.path_and_query,
        nonce: &spec.nonce,
        body: &spec.body,
    };
    let mut headers = vec![
        (HEADER_KEY, spec.key_id.clone()),
        (HEADER_TIMESTAMP, timestamp.clone()),
        (HEADER_NONCE, spec.nonce.clone()),
        (HEADER_SIGNATURE, sign_v1(&spec.secret, &parts)),
    ];
    if let Some(key) = &spec.idempotency_key {
        headers.push((HEADER_IDEMPOTENCY_KEY, key.clone()));
    }
    if !spec.body.is_empty() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    headers
}

/// Quotes a word for a POSIX shell.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A ready-to-paste curl command for the signed request.
pub fn curl_command(base_url: &str, spec: &RequestSpec) -> String {
    let url = format!("{}{}", base_url.trim_end_matches('/'), spec.path_and_query);
    let mut words = vec!["curl".to_owned(), "-sS".to_owned(), "-X".to_owned(), spec.method.clone(), shell_quote(&url)];
    for (name, value) in headers(spec) {
        words.push("-H".to_owned());
        words.push(shell_quote(&format!("{name}: {value}")));
    }
    if !spec.body.is_empty() {
        words.push("--data-binary".to_owned());
        words.push(shell_quote(&String::from_utf8_lossy(&spec.body)));
    }
    words.join(" ")
}

/// What the edge answered.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    /// The headers worth showing: request id, rate limit, replay marker.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Sends the signed request and reads the whole answer. Non-2xx answers are
/// answers too; only transport failures are errors.
pub fn send(base_url: &str, spec: &RequestSpec) -> Result<Answer, String> {
    let url = format!("{}{}", base_url.trim_end_matches('/'), spec.path_and_query);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder().method(spec.method.as_str()).uri(&url);
    for (name, value) in headers(spec) {
        request = request.header(name, value);
    }
    let request = request.body(spec.body.clone()).map_err(|e| format!("cannot build the request: {e}"))?;
    let mut response = agent.run(request).map_err(|e| format!("{} {url}: {e}", spec.method))?;
    let status = response.status().as_u16();
    let shown = |name: &str| {
        name == "x-request-id"
            || name.starts_with("x-ratelimit-")
            || name == "retry-after"
            || name == "idempotent-replayed"
    };
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| shown(name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body_mut().read_to_string().map_err(|e| format!("reading the answer: {e}"))?;
    Ok(Answer { status, headers, body })
}

/// The canonical string this CLI signed for `spec`.
pub fn canonical(spec: &RequestSpec) -> String {
    let timestamp = spec.timestamp.to_string();
    partner_edge::signing::canonical_v1(&SignedParts {
        timestamp: &timestamp,
        method: &spec.method,
        path_and_query: &spec.path_and_query,
        nonce: &spec.nonce,
        body: &spec.body,
    })
}

/// For a `signature_mismatch` answer: which parts the edge saw differently
/// from what this CLI signed, and both canonical strings. `None` for any
/// other answer.
pub fn explain_mismatch(spec: &RequestSpec, answer_body: &str) -> Option<String> {
    let body: partner_edge::api::ErrorBody = serde_json::from_str(answer_body).ok()?;
    let theirs = body.signature_diagnostics?.canonical_request;
    let mine = canonical(spec);
    let differs = partner_edge::signing::canonical_differences(&mine, &theirs);
    let verdict = if differs.is_empty() {
        "the edge signed over the same string: the secret is not the key's current one".to_owned()
    } else {
        format!("the edge saw a different {}", differs.join(", "))
    };
    let show = |s: &str| s.replace('\n', "\\n");
    Some(format!("signature mismatch: {verdict}\n  signed:   {}\n  the edge: {}", show(&mine), show(&theirs)))
}

/// A nonce from the OS's randomness: 32 hex characters.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// One scheme's verdict: its name and whether the signature holds.
pub type SchemeCheck = (&'static str, Result<(), String>);

/// Checks a received webhook under each scheme whose headers are present:
/// `("X-Webhook-Signature", result)` and `("Standard Webhooks", result)`.
/// `headers` are (lowercase name, value) pairs.
pub fn verify_webhook(
    secret: &str,
    headers: &[(String, String)],
    body: &str,
    now: u64,
    tolerance: u64,
) -> Result<Vec<SchemeCheck>, String> {
    use partner_edge::webhooks::{verify_delivery, WebhookSecret, HEADER_SIGNATURE, HEADER_SW_SIGNATURE};
    let secret = WebhookSecret::parse(secret)?;
    let lookup = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let report = verify_delivery(&secret, lookup, body, now, tolerance);
    let mut results = Vec::new();
    if lookup(HEADER_SIGNATURE).is_some() {
        results.push(("X-Webhook-Signature", report.seed_scheme));
    }
    if lookup(HEADER_SW_SIGNATURE).is_some() {
        results.push(("Standard Webhooks", report.standard_webhooks));
    }
    if results.is_empty() {
        return Err("no signature headers: pass X-Webhook-Signature and/or webhook-signature".to_owned());
    }
    Ok(results)
}

/// What an origin behind the edge runs on each request it receives: checks
/// `X-Edge-Signature` over the request as received, with the
/// `ORIGIN_SIGNING_SECRET` it shares with the edge. `headers` are
/// (lowercase name, value) pairs.
pub fn verify_origin(
    secret: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), String> {
    use partner_edge::origin::{verify_forwarded, Forwarded, HEADER_EDGE_SIGNATURE, HEADER_EDGE_TIMESTAMP};
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("the request has no {name} header: it did not come through the edge"))
    };
    let timestamp = header(HEADER_EDGE_TIMESTAMP)?
        .parse::<u64>()
        .map_err(|_| format!("{HEADER_EDGE_TIMESTAMP} is not unix seconds"))?;
    let parts = Forwarded {
        timestamp,
        method,
        path_and_query,
        body,
        partner_id: header("x-partner-id")?,
        request_id: header("x-request-id")?,
    };
    verify_forwarded(secret, &parts, header(HEADER_EDGE_SIGNATURE)?, now, tolerance).map_err(|e| e.to_string())
}

/// Whether this method needs an Idempotency-Key (mutations do).
/// What `partner-edge simulate` asks for, before it becomes the request body.
#[derive(Clone, Debug, Default)]
pub struct SimulateSpec {
    pub subscription_id: Option<String>,
    pub url: Option<String>,
    pub webhook_secret: Option<String>,
    pub previous_secret: Option<String>,
    pub retired_secret: Option<String>,
    pub scenario: Option<String>,
    /// A JSON object laid over the scenario's data.
    pub data: Option<String>,
    /// Drill names, comma-separated, or `all`.
    pub drills: Option<String>,
}

/// The body of `POST /api/partner/webhooks/simulate`; the edge checks the rest.
pub fn simulate_body(spec: &SimulateSpec) -> Result<String, String> {
    use partner_edge::webhooks::simulate::Drill;
    let mut body = serde_json::Map::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            body.insert(name.to_owned(), value.clone().into());
        }
    };
    put("subscription_id", &spec.subscription_id);
    put("url", &spec.url);
    put("secret", &spec.webhook_secret);
    put("previous_secret", &spec.previous_secret);
    put("retired_secret", &spec.retired_secret);
    put("scenario", &spec.scenario);
    if let Some(data) = &spec.data {
        let data: serde_json::Value = serde_json::from_str(data).map_err(|e| format!("--data is not JSON: {e}"))?;
        if !data.is_object() {
            return Err("--data must be a JSON object".into());
        }
        body.insert("data".into(), data);
    }
    if let Some(drills) = &spec.drills {
        let names: Vec<serde_json::Value> = if drills.trim() == "all" {
            Drill::ALL.iter().map(|d| d.as_str().into()).collect()
        } else {
            drills.split(',').map(|d| d.trim().into()).collect()
        };
        body.insert("drills".into(), names.into());
    }
    Ok(serde_json::Value::Object(body).to_string())
}

/// A simulation answer for people: one line per send, then the report card.
/// The flag is whether everything went as a correct receiver would have it.
pub fn render_simulation(answer: &serde_json::Value) -> (String, bool) {
    let data = &answer["data"];
    let mut out = format!("target: {}\n", data["target"]["url"].as_str().unwrap_or("?"));
    if let Some(made) = data["generated_secrets"].as_object() {
        out.push_str("secrets made for this run (shown once; configure your receiver, then pass them back):\n");
        for (name, value) in made {
            out.push_str(&format!("  {name}: {}\n", value.as_str().unwrap_or_default()));
        }
    }
    let mut all_ok = true;
    for send in data["sends"].as_array().into_iter().flatten() {
        let answer = &send["response"];
        let status = answer["status"].as_u64();
        if !data["report"].is_object() && !status.is_some_and(|s| (200..300).contains(&s)) {
            all_ok = false;
        }
        let outcome = match status {
            Some(status) => status.to_string(),
            None => format!("no answer ({})", answer["error"].as_str().unwrap_or("unknown")),
        };
        out.push_str(&format!(
            "{:<22} {:<26} {} in {} ms\n",
            send["drill"].as_str().unwrap_or("scenario"),
            send["event_type"].as_str().unwrap_or_default(),
            outcome,
            answer["latency_ms"].as_u64().unwrap_or_default()
        ));
    }
    if let Some(report) = data["report"].as_object() {
        out.push_str(&format!(
            "\nreport card: {} passed, {} failed, {} skipped\n",
            report["passed"], report["failed"], report["skipped"]
        ));
        for drill in report["drills"].as_array().into_iter().flatten() {
            let grade = drill["grade"].as_str().unwrap_or_default();
            if grade == "failed" {
                all_ok = false;
            }
            out.push_str(&format!("  {:<7} {}\n", grade.to_uppercase(), drill["drill"].as_str().unwrap_or_default()));
            if grade != "passed" {
                out.push_str(&format!("          expected: {}\n", drill["expected"].as_str().unwrap_or_default()));
                out.push_str(&format!("          observed: {}\n", drill["observed"].as_str().unwrap_or_default()));
            }
        }
    }
    (out, all_ok)
}

pub fn is_mutation(method: &str) -> bool {
    needs_idempotency_key(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RequestSpec {
        RequestSpec {
            method: "POST".into(),
            path_and_query: "/api/salutes/credit".into(),
            key_id: "pk_sandbox_000000000000000000000001".into(),
            secret: "sk_sandbox_x".into(),
            body: br#"{"note":"it's"}"#.to_vec(),
            timestamp: 1_700_000_000,
            nonce: "n0nce-0002-abcdef".into(),
            idempotency_key: Some("idem-1".into()),
        }
    }

    #[test]
    fn headers_carry_the_signature_and_the_idempotency_key() {
        let headers = headers(&spec());
        let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "X-Partner-Key",
                "X-Partner-Timestamp",
                "X-Partner-Nonce",
                "X-Partner-Signature",
                "Idempotency-Key",
                "Content-Type"
            ]
        );
        assert!(headers[3].1.starts_with("v1=") && headers[3].1.len() == 67);
    }

    #[test]
    fn an_origin_verifies_what_the_edge_signed_and_nothing_else() {
        use partner_edge::origin::{sign_forwarded, Forwarded};
        let parts = Forwarded {
            timestamp: 1_700_000_000,
            method: "POST",
            path_and_query: "/base/api/salutes/credit",
            body: b"{}",
            partner_id: "pk_live_0123456789abcdef01234567",
            request_id: "req_1",
        };
        let secret = "an-origin-signing-secret-of-32-chars!";
        let headers = vec![
            ("x-edge-timestamp".to_owned(), "1700000000".to_owned()),
            ("x-edge-signature".to_owned(), sign_forwarded(secret, &parts)),
            ("x-partner-id".to_owned(), parts.partner_id.to_owned()),
            ("x-request-id".to_owned(), "req_1".to_owned()),
        ];
        let check = |method, path, body: &[u8], headers: &[(String, String)]| {
            verify_origin(secret, method, path, headers, body, 1_700_000_005, 300)
        };
        assert_eq!(check("POST", "/base/api/salutes/credit", b"{}", &headers), Ok(()));
        assert!(check("POST", "/base/api/salutes/debit", b"{}", &headers).is_err());
        assert!(check("POST", "/base/api/salutes/credit", b"{\"a\":1}", &headers).is_err());
        let mut spoofed = headers.clone();
        spoofed[2].1 = "pk_live_ffffffffffffffffffffffff".to_owned();
        assert!(check("POST", "/base/api/salutes/credit", b"{}", &spoofed).is_err(), "a forged identity fails");
        let error = check("POST", "/base/api/salutes/credit", b"{}", &headers[1..]).unwrap_err();
        assert!(error.contains("X-Edge-Timestamp"), "{error}");
    }

    #[test]
    fn simulate_bodies_carry_what_was_asked_and_all_means_every_drill() {
        let spec = SimulateSpec {
            url: Some("https://hooks.example/in".into()),
            drills: Some("all".into()),
            data: Some(r#"{"amount":40}"#.into()),
            ..SimulateSpec::default()
        };
        let body: serde_json::Value = serde_json::from_str(&simulate_body(&spec).unwrap()).unwrap();
        assert_eq!(body["url"], "https://hooks.example/in");
        assert_eq!(body["data"]["amount"], 40);
        assert_eq!(body["drills"].as_array().unwrap().len(), partner_edge::webhooks::simulate::Drill::ALL.len());
        assert!(body.get("subscription_id").is_none());
        let listed = SimulateSpec { drills: Some("signed, duplicate".into()), ..SimulateSpec::default() };
        let body: serde_json::Value = serde_json::from_str(&simulate_body(&listed).unwrap()).unwrap();
        assert_eq!(body["drills"], serde_json::json!(["signed", "duplicate"]));
        let bad = SimulateSpec { data: Some("[1]".into()), ..SimulateSpec::default() };
        assert!(simulate_body(&bad).is_err());
    }

    #[test]
    fn a_failed_drill_is_shown_with_what_was_expected_and_fails_the_run() {
        let answer = serde_json::json!({"success": true, "data": {
            "target": {"url": "https://hooks.example/in"},
            "sends": [{"drill": "stale_timestamp", "event_type": "donation.claim", "response": {"status": 200, "latency_ms": 4}}],
            "report": {"passed": 0, "failed": 1, "skipped": 0, "drills": [
                {"drill": "stale_timestamp", "grade": "failed", "expected": "4xx", "observed": "200"}
            ]}
        }});
        let (text, ok) = render_simulation(&answer);
        assert!(!ok);
        assert!(text.contains("FAILED  stale_timestamp") && text.contains("expected: 4xx"), "{text}");
        let scenario = serde_json::json!({"data": {"target": {"url": "u"}, "sends": [
            {"event_type": "donation.claim", "response": {"status": 500, "latency_ms": 1}}
        ]}});
        assert!(!render_simulation(&scenario).1, "a scenario send that is not 2xx fails the run");
    }

    #[test]
    fn curl_quotes_single_quotes_in_the_body() {
        let command = curl_command("https://edge.example/", &spec());
        assert!(command.starts_with("curl -sS -X POST 'https://edge.example/api/salutes/credit'"), "{command}");
        assert!(command.contains(r#"--data-binary '{"note":"it'\''s"}'"#), "{command}");
    }

    #[test]
    fn a_mismatch_names_the_part_the_edge_saw_differently() {
        let spec = spec();
        let mut edge_saw = spec.clone();
        edge_saw.path_and_query.push_str("?page=2");
        let answer = serde_json::json!({
            "success": false, "error": "signature_mismatch", "message": "the signature does not match the request",
            "request_id": "req_0123456789abcdef0123456789abcdef",
            "signature_diagnostics": partner_edge::signing::SignatureDiagnostics::of(&partner_edge::signing::SignedParts {
                timestamp: &edge_saw.timestamp.to_string(),
                method: &edge_saw.method,
                path_and_query: &edge_saw.path_and_query,
                nonce: &edge_saw.nonce,
                body: &edge_saw.body,
            }),
        });
        let explained = explain_mismatch(&spec, &answer.to_string()).unwrap();
        assert!(explained.starts_with("signature mismatch: the edge saw a different path and query"), "{explained}");
        let same = serde_json::json!({
            "success": false, "error": "signature_mismatch", "message": "m",
            "request_id": "req_0123456789abcdef0123456789abcdef",
            "signature_diagnostics": { "canonical_request": canonical(&spec), "version": "v1", "timestamp": "",
                "method": "", "path_and_query": "", "nonce": "", "body_sha256": "" },
        });
        assert!(explain_mismatch(&spec, &same.to_string()).unwrap().contains("the secret is not"));
        assert_eq!(explain_mismatch(&spec, r#"{"success":true,"data":{}}"#), None);
    }
}
