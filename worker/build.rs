//! Renders `/openapi.json` (and the webhook event catalogue) from the shared route table at compile time, so the
//! document served is exactly the table the worker dispatches from, and no
//! schema generator ships in the wasm.

use std::{env, fs, path::PathBuf};

fn main() {
    let document = partner_edge::openapi::document();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    let text = serde_json::to_string(&document).expect("a serde_json::Value always serialises");
    fs::write(out.join("openapi.json"), text).expect("OUT_DIR is writable");
    let catalogue = serde_json::to_string(&partner_edge::webhooks::event_catalogue()).expect("a Value serialises");
    fs::write(out.join("event-types.json"), catalogue).expect("OUT_DIR is writable");
    // The error catalogue, enveloped: served as bytes, never serialised per request.
    let errors = partner_edge::api::Success::new(partner_edge::error::ErrorCode::catalogue());
    let errors = serde_json::to_string(&errors).expect("the catalogue serialises");
    fs::write(out.join("api-errors.json"), errors).expect("OUT_DIR is writable");

    // The changelog against the committed baseline, so the baseline itself never ships.
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir.parent().expect("worker/ sits in the workspace");
    let baseline_path = workspace.join("shared").join("openapi-baseline.json");
    println!("cargo:rerun-if-changed={}", baseline_path.display());
    let baseline: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&baseline_path).expect("shared/openapi-baseline.json is committed"))
            .expect("the baseline is JSON");
    let changelog = partner_edge::changelog::diff(&baseline, &document);
    let text = serde_json::to_string(&partner_edge::api::Success::new(&changelog)).expect("a changelog serialises");
    fs::write(out.join("openapi-changelog.json"), text).expect("OUT_DIR is writable");
    fs::write(out.join("openapi-changelog.md"), partner_edge::changelog::markdown(&changelog))
        .expect("OUT_DIR is writable");
}
