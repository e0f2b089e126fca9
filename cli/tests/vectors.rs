//! The built binary against the published known-answer vectors: what a
//! partner copying its output would send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn headers_match_every_published_vector() {
    let vectors: serde_json::Value = serde_json::from_str(include_str!("../../tests/vectors/signing-v1.json")).unwrap();
    for vector in vectors.as_array().unwrap() {
        let field = |name: &str| vector[name].as_str().unwrap().to_owned();
        let mut command = Command::new(env!("CARGO_BIN_EXE_partner-edge"));
        command
            .args(["headers", "--method", &field("method"), "--path", &field("path_and_query")])
            .args(["--timestamp", &field("timestamp"), "--nonce", &field("nonce")])
            .args(["--key-id", "pk_sandbox_000000000000000000000001", "--idempotency-key", "idem-fixed"])
            .env("PARTNER_SECRET", field("secret"));
        let body = field("body");
        if !body.is_empty() {
            command.args(["--json", &body]);
        }
        let output = command.output().expect("run partner-edge");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        let expected = format!("X-Partner-Signature: {}", field("signature"));
        assert!(stdout.lines().any(|line| line == expected), "{}: {stdout}", field("name"));
    }
}

#[test]
fn a_missing_secret_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_partner-edge"))
        .args(["headers", "--path", "/api/partner/me", "--key-id", "pk_x"])
        .env_remove("PARTNER_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--secret"));
}

#[test]
fn verify_accepts_a_signed_delivery_and_refuses_a_tampered_one() {
    use partner_edge::webhooks::{example_envelope, signature_headers, EventType, WebhookSecret};
    let secret = WebhookSecret::new([9; 32]);
    let envelope = example_envelope(EventType::SalutesCredit);
    let body = envelope.body();
    let (headers, _) = signature_headers(
        &[("whk_1", &secret)],
        &envelope.event_id,
        envelope.event_type.as_str(),
        1_700_000_000,
        &body,
    );
    let dir = tempfile::tempdir().unwrap();
    let headers_file = dir.path().join("headers.txt");
    let lines: Vec<String> = headers.iter().map(|(name, value)| format!("{name}: {value}")).collect();
    std::fs::write(&headers_file, lines.join("\n")).unwrap();
    let run = |body: &str| {
        let body_file = dir.path().join("body.json");
        std::fs::write(&body_file, body).unwrap();
        Command::new(env!("CARGO_BIN_EXE_partner-edge"))
            .args(["verify", "--now", "1700000010", "--headers-file"])
            .arg(&headers_file)
            .arg("--body-file")
            .arg(&body_file)
            .env("WEBHOOK_SECRET", secret.expose())
            .output()
            .unwrap()
    };
    let good = run(&body);
    let out = String::from_utf8_lossy(&good.stdout).to_string();
    assert!(good.status.success(), "{out}");
    assert!(out.contains("X-Webhook-Signature: valid") && out.contains("Standard Webhooks: valid"), "{out}");
    let bad = run(&body.replace("100", "101"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("INVALID"));
}
