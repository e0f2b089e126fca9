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
