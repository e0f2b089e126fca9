//! Prints the OpenAPI document the edge serves, to cut a new changelog
//! baseline at a release:
//!
//! ```sh
//! cargo run -q -p partner-edge-shared --features openapi --example openapi-baseline > shared/openapi-baseline.json
//! ```

fn main() {
    let document = partner_edge::openapi::document();
    println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
}
