//! `partner-edge`: sign Partner Edge requests.
//!
//! ```text
//! partner-edge headers --method GET --path /api/partner/me
//! partner-edge curl    --method POST --path /api/salutes/credit --json '{"user_id":"4",…}'
//! partner-edge send    --method POST --path /api/salutes/credit --json '{"user_id":"4",…}'
//! partner-edge verify  --secret whsec_… --headers-file h.txt --body-file body.json
//! partner-edge simulate --url https://hooks.example/in --drills all
//! partner-edge verify-origin --method POST --path /api/salutes/credit --headers-file h.txt --body-file body.json
//! ```
//!
//! The key id and secret come from `--key-id`/`--secret` or, better (no shell
//! history), `PARTNER_KEY_ID`/`PARTNER_SECRET`. Mutations get a fresh
//! Idempotency-Key unless one is given; reuse one with `--idempotency-key` to
//! retry safely.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use partner_edge_cli::{curl_command, headers, is_mutation, random_token, send, RequestSpec};

#[derive(Parser)]
#[command(name = "partner-edge", version, about = "Sign, print and send Partner Edge requests (signature v1).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the signed headers, one per line.
    Headers(Common),
    /// Print a ready-to-run curl command.
    Curl(WithBase),
    /// Send the request and print the status, the edge's headers and the body.
    /// Exits 0 on 2xx, 1 on any other status, 2 if nothing was answered.
    Send(WithBase),
    /// Check a received webhook delivery under both signature schemes (the
    /// X-Webhook-Signature hex HMAC and Standard Webhooks). Exits 0 when every
    /// scheme present verifies, 1 otherwise.
    Verify(VerifyArgs),
    /// Send a signed scenario or drill suite to one of your subscriptions or
    /// a URL through the edge's simulator, and print what went out, what came
    /// back and the report card. Exits 0 when every drill passed (or every
    /// scenario send got a 2xx), 1 otherwise, 2 if the edge did not answer.
    Simulate(SimulateArgs),
    /// For an origin behind the edge: check that a request it received came
    /// through the edge (X-Edge-Signature, keyed with ORIGIN_SIGNING_SECRET)
    /// and was not changed. Exits 0 when it verifies, 1 otherwise.
    VerifyOrigin(VerifyOriginArgs),
}

#[derive(Args)]
struct SimulateArgs {
    /// Where the edge runs.
    #[arg(long, env = "PARTNER_EDGE_URL", default_value = "http://127.0.0.1:8787")]
    base_url: String,
    #[arg(long, env = "PARTNER_KEY_ID")]
    key_id: String,
    #[arg(long, env = "PARTNER_SECRET", hide_env_values = true)]
    secret: String,
    /// One of your subscriptions (signed with its own secrets).
    #[arg(long, conflicts_with = "url")]
    subscription_id: Option<String>,
    /// Or any URL the edge may deliver to.
    #[arg(long, required_unless_present = "subscription_id")]
    url: Option<String>,
    /// With --url: the whsec_ secret your receiver holds (made and shown when absent).
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true, requires = "url")]
    webhook_secret: Option<String>,
    /// With --url: the previous secret, as during a rotation.
    #[arg(long, requires = "url")]
    previous_secret: Option<String>,
    /// With --url: a secret your receiver has retired.
    #[arg(long, requires = "url")]
    retired_secret: Option<String>,
    /// claim_created, claim_redeemed, delivery_failed, claim_lifecycle, or any event type.
    #[arg(long)]
    scenario: Option<String>,
    /// A JSON object laid over the scenario's data.
    #[arg(long)]
    data: Option<String>,
    /// Drills, comma-separated, or `all`.
    #[arg(long)]
    drills: Option<String>,
    /// Print the edge's JSON answer as is.
    #[arg(long)]
    json: bool,
}

fn simulate(args: SimulateArgs) -> Result<ExitCode, String> {
    let body = partner_edge_cli::simulate_body(&partner_edge_cli::SimulateSpec {
        subscription_id: args.subscription_id,
        url: args.url,
        webhook_secret: args.webhook_secret,
        previous_secret: args.previous_secret,
        retired_secret: args.retired_secret,
        scenario: args.scenario,
        data: args.data,
        drills: args.drills,
    })?;
    let spec = RequestSpec {
        method: "POST".into(),
        path_and_query: "/api/partner/webhooks/simulate".into(),
        key_id: args.key_id,
        secret: args.secret,
        body: body.into_bytes(),
        timestamp: unix_now()?,
        nonce: random_token()?,
        idempotency_key: Some(format!("idem-{}", random_token()?)),
    };
    let answer = send(&args.base_url, &spec)?;
    let parsed: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
    if args.json || !(200..300).contains(&answer.status) {
        println!("HTTP {}\n{}", answer.status, answer.body);
        return Ok(if (200..300).contains(&answer.status) { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let (text, all_ok) = partner_edge_cli::render_simulation(&parsed);
    print!("{text}");
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Args)]
struct VerifyOriginArgs {
    /// The secret shared with the edge (`ORIGIN_SIGNING_SECRET`).
    #[arg(long, env = "ORIGIN_SIGNING_SECRET", hide_env_values = true)]
    secret: String,
    /// The method as received.
    #[arg(long)]
    method: String,
    /// The path and query as received.
    #[arg(long)]
    path: String,
    /// A received header, `Name: value`; repeat for each.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A file of received headers, one `Name: value` per line.
    #[arg(long)]
    headers_file: Option<std::path::PathBuf>,
    /// The raw body as received; none means empty.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Accepted clock skew, in seconds.
    #[arg(long, default_value_t = 300)]
    tolerance: u64,
}

#[derive(Args)]
struct VerifyArgs {
    /// The subscription's secret, `whsec_…`, exactly as shown.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// A received header, `Name: value`; repeat for each.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A file of received headers, one `Name: value` per line.
    #[arg(long)]
    headers_file: Option<std::path::PathBuf>,
    /// The raw body, byte for byte as received.
    #[arg(long)]
    body_file: std::path::PathBuf,
    /// Accepted clock skew, in seconds.
    #[arg(long, default_value_t = 300)]
    tolerance: u64,
    /// Check as if it were this unix time (to verify a stored delivery).
    #[arg(long)]
    now: Option<u64>,
}

#[derive(Args)]
struct WithBase {
    /// Where the edge runs.
    #[arg(long, env = "PARTNER_EDGE_URL", default_value = "http://127.0.0.1:8787")]
    base_url: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct Common {
    #[arg(long, default_value = "GET", value_parser = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])]
    method: String,
    /// Path and query exactly as sent, e.g. /api/salutes/balance?user_id=4.
    #[arg(long)]
    path: String,
    #[arg(long, env = "PARTNER_KEY_ID")]
    key_id: String,
    #[arg(long, env = "PARTNER_SECRET", hide_env_values = true)]
    secret: String,
    /// The JSON body, sent byte for byte as given.
    #[arg(long, conflicts_with = "body_file")]
    json: Option<String>,
    /// Read the body from a file.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Reuse an Idempotency-Key (to retry a mutation safely); a fresh one is drawn otherwise.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Unix seconds to sign with; now by default.
    #[arg(long)]
    timestamp: Option<u64>,
    /// The nonce to sign with; 32 random hex characters by default.
    #[arg(long)]
    nonce: Option<String>,
}

impl Common {
    fn into_spec(self) -> Result<RequestSpec, String> {
        let body = match (self.json, self.body_file) {
            (Some(json), _) => json.into_bytes(),
            (None, Some(path)) => std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            (None, None) => Vec::new(),
        };
        if !self.path.starts_with('/') {
            return Err(format!("--path must start with /, not {:?}", self.path));
        }
        let timestamp = match self.timestamp {
            Some(t) => t,
            None => unix_now()?,
        };
        let nonce = match self.nonce {
            Some(n) => n,
            None => random_token()?,
        };
        let idempotency_key = match self.idempotency_key {
            Some(key) => Some(key),
            None if is_mutation(&self.method) => Some(format!("idem-{}", random_token()?)),
            None => None,
        };
        Ok(RequestSpec {
            method: self.method,
            path_and_query: self.path,
            key_id: self.key_id,
            secret: self.secret,
            body,
            timestamp,
            nonce,
            idempotency_key,
        })
    }
}

fn unix_now() -> Result<u64, String> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| format!("the clock is before 1970: {e}"))
}

/// `Name: value` lines from `--header` and `--headers-file`, names lowercased.
fn read_headers(mut lines: Vec<String>, file: Option<&std::path::Path>) -> Result<Vec<(String, String)>, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        lines.extend(text.lines().map(str::to_owned));
    }
    Ok(lines
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect())
}

fn verify_origin(args: VerifyOriginArgs) -> Result<ExitCode, String> {
    let headers = read_headers(args.headers, args.headers_file.as_deref())?;
    let body = match &args.body_file {
        Some(path) => std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => Vec::new(),
    };
    match partner_edge_cli::verify_origin(
        &args.secret,
        &args.method,
        &args.path,
        &headers,
        &body,
        unix_now()?,
        args.tolerance,
    ) {
        Ok(()) => {
            println!("X-Edge-Signature: valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("X-Edge-Signature: INVALID ({reason})");
            Ok(ExitCode::from(1))
        }
    }
}

fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let headers = read_headers(args.headers, args.headers_file.as_deref())?;
    let body = std::fs::read(&args.body_file).map_err(|e| format!("{}: {e}", args.body_file.display()))?;
    let body = String::from_utf8(body).map_err(|_| "the body is not UTF-8 JSON".to_owned())?;
    let now = match args.now {
        Some(now) => now,
        None => unix_now()?,
    };
    let report = partner_edge_cli::verify_webhook(&args.secret, &headers, &body, now, args.tolerance)?;
    let mut all_good = true;
    for (scheme, result) in &report {
        match result {
            Ok(()) => println!("{scheme}: valid"),
            Err(reason) => {
                all_good = false;
                println!("{scheme}: INVALID ({reason})");
            }
        }
    }
    Ok(if all_good && !report.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Verify(args) => verify(args),
        Command::VerifyOrigin(args) => verify_origin(args),
        Command::Simulate(args) => simulate(args),
        Command::Headers(common) => {
            for (name, value) in headers(&common.into_spec()?) {
                println!("{name}: {value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Curl(args) => {
            println!("{}", curl_command(&args.base_url, &args.common.into_spec()?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(args) => {
            let spec = args.common.into_spec()?;
            let answer = send(&args.base_url, &spec)?;
            println!("HTTP {}", answer.status);
            for (name, value) in &answer.headers {
                println!("{name}: {value}");
            }
            if let Some(key) = &spec.idempotency_key {
                println!("(sent Idempotency-Key: {key})");
            }
            println!();
            println!("{}", answer.body);
            if let Some(explained) = partner_edge_cli::explain_mismatch(&spec, &answer.body) {
                eprintln!("{explained}");
            }
            Ok(if (200..300).contains(&answer.status) { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("partner-edge: {message}");
            ExitCode::from(2)
        }
    }
}
