//! `/openapi.json` is the exact contract: a strict OpenAPI 3.1 validator
//! accepts it, and schemathesis (tests/contract/) draws valid and invalid
//! requests from it against a fresh edge of its own. Both tools live in
//! `.tools/venv`, installed by `scripts/edge.sh` from
//! tests/contract/requirements.txt.

use std::process::Command;

use partner_edge_tests::{repo_root, Edge, TEST_ADMIN_KEY};

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[(
    "the_served_document_is_strict_openapi_and_the_edge_keeps_it",
    the_served_document_is_strict_openapi_and_the_edge_keeps_it,
)];

/// Generous limits: the contract test sends thousands of requests from one
/// key and one address, and a 429 would only hide what it is looking for.
const VARS: &[(&str, &str)] = &[
    ("PARTNER_LIVE_RATE_LIMIT_PER_MINUTE", "1000000"),
    ("ADMIN_AUTH_FAILURES_PER_MIN", "1000"),
    ("WEBHOOK_ALLOW_LOOPBACK", "true"),
];

fn venv_tool(name: &str) -> std::path::PathBuf {
    let path = repo_root().join(".tools/venv/bin").join(name);
    assert!(path.exists(), "{} is missing: run `bash scripts/edge.sh setup`", path.display());
    path
}

fn the_served_document_is_strict_openapi_and_the_edge_keeps_it() {
    let (edge, state) = Edge::spawn_fresh_with(VARS);

    let document = edge.get("/openapi.json");
    assert_eq!(document.status, 200);
    let file = state.path().join("openapi.json");
    std::fs::write(&file, &document.body).unwrap();
    let validated = Command::new(venv_tool("openapi-spec-validator")).arg(&file).output().unwrap();
    assert!(
        validated.status.success(),
        "the served document is not strict OpenAPI 3.1:\n{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    let key = edge.partner("live", &["read", "credit", "debit", "ledger", "donation", "users", "webhooks"]);
    let examples = std::env::var("PE_CONTRACT_EXAMPLES").unwrap_or_else(|_| "40".to_owned());
    let run = Command::new(venv_tool("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/contract"])
        .current_dir(repo_root())
        .env("PE_EDGE_URL", &edge.base_url)
        .env("PE_KEY_ID", &key.key_id)
        .env("PE_KEY_SECRET", &key.secret)
        .env("PE_ADMIN_KEY", TEST_ADMIN_KEY)
        .env("PE_CONTRACT_EXAMPLES", &examples)
        .env("HYPOTHESIS_STORAGE_DIRECTORY", state.path().join("hypothesis"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    eprintln!("contract: {summary}");
    assert!(run.status.success(), "the edge broke its contract:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(summary.contains("passed") && !summary.contains("failed"), "{summary}");
}
