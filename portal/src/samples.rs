//! Code samples for one request, complete with signing: curl, the CLI,
//! Python, JavaScript and Rust. Each reads the secret from the environment
//! (`PARTNER_SECRET`, or `ADMIN_API_KEY` for operator routes); the browser
//! suite runs the Python and JavaScript ones against a live edge.

/// Who may call the operation, and so how a sample authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Public,
    Admin,
    Partner,
}

/// One request, as the samples send it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    pub origin: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a str,
    pub key_id: &'a str,
    pub auth: Auth,
}

pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A string literal that Python, JavaScript and Rust all read the same way.
fn literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

pub fn curl(s: &Sample<'_>) -> String {
    let url = quote(&format!("{}{}", s.origin, s.path_and_query));
    let data = if s.body.is_empty() {
        String::new()
    } else {
        format!(" \\\n  -H 'Content-Type: application/json' --data-binary {}", quote(s.body))
    };
    // curl sends GET unless told otherwise.
    let method = if s.method == "GET" { String::new() } else { format!(" -X {}", s.method) };
    match s.auth {
        Auth::Public => format!("curl -sS{method} {url}{data}"),
        Auth::Admin => format!("curl -sS{method} {url} \\\n  -H \"X-Admin-Key: $ADMIN_API_KEY\"{data}"),
        Auth::Partner => format!(
            "# curl cannot sign: use the CLI below, or the signing helper (/sign) for one-off headers.\n{}",
            cli(s)
        ),
    }
}

/// A curl command carrying `headers` already signed for `s`: it works once
/// (the nonce is spent), within the timestamp window.
pub fn curl_signed(s: &Sample<'_>, headers: &[(String, String)]) -> String {
    let mut words = vec![format!("curl -sS -X {} {}", s.method, quote(&format!("{}{}", s.origin, s.path_and_query)))];
    for (name, value) in headers {
        words.push(format!("-H {}", quote(&format!("{name}: {value}"))));
    }
    if !s.body.is_empty() {
        words.push(format!("--data-binary {}", quote(s.body)));
    }
    words.join(" ")
}

pub fn cli(s: &Sample<'_>) -> String {
    let body = if s.body.is_empty() { String::new() } else { format!(" \\\n  --json {}", quote(s.body)) };
    format!(
        "PARTNER_KEY_ID={} PARTNER_SECRET=… \\\npartner-edge send --base-url {} --method {} --path {}{body}",
        quote(s.key_id),
        quote(s.origin),
        s.method,
        quote(s.path_and_query)
    )
}

pub fn python(s: &Sample<'_>) -> String {
    format!(
        r#"import hashlib, hmac, os, secrets, time, urllib.error, urllib.request

BASE = {origin}
METHOD, PATH, BODY = {method}, {path}, {body}.encode()
AUTH = {auth}

headers = {{"Content-Type": "application/json"}} if BODY else {{}}
if AUTH == "partner":
    key_id, secret = os.environ.get("PARTNER_KEY_ID", {key_id}), os.environ["PARTNER_SECRET"]
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    canonical = "\n".join(["v1", timestamp, METHOD, PATH, nonce, hashlib.sha256(BODY).hexdigest()])
    signature = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    headers.update({{"X-Partner-Key": key_id, "X-Partner-Timestamp": timestamp,
                    "X-Partner-Nonce": nonce, "X-Partner-Signature": "v1=" + signature}})
    if METHOD in ("POST", "PUT", "PATCH", "DELETE"):
        headers["Idempotency-Key"] = "py-" + nonce
elif AUTH == "admin":
    headers["X-Admin-Key"] = os.environ["ADMIN_API_KEY"]

request = urllib.request.Request(BASE + PATH, data=BODY or None, method=METHOD, headers=headers)
try:
    with urllib.request.urlopen(request) as answer:
        print(answer.status, answer.read().decode())
except urllib.error.HTTPError as answer:
    print(answer.code, answer.read().decode())
"#,
        origin = literal(s.origin),
        method = literal(s.method),
        path = literal(s.path_and_query),
        body = literal(s.body),
        auth = literal(auth_name(s.auth)),
        key_id = literal(s.key_id),
    )
}

pub fn javascript(s: &Sample<'_>) -> String {
    format!(
        r#"// Node 18 or later: node sample.mjs
import {{ createHash, createHmac, randomBytes }} from 'node:crypto';

const BASE = {origin};
const [METHOD, PATH, BODY] = [{method}, {path}, {body}];
const AUTH = {auth};

const headers = BODY ? {{ 'Content-Type': 'application/json' }} : {{}};
if (AUTH === 'partner') {{
  const keyId = process.env.PARTNER_KEY_ID ?? {key_id};
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString('hex');
  const bodyHash = createHash('sha256').update(BODY).digest('hex');
  const canonical = ['v1', timestamp, METHOD, PATH, nonce, bodyHash].join('\n');
  const signature = createHmac('sha256', process.env.PARTNER_SECRET).update(canonical).digest('hex');
  Object.assign(headers, {{
    'X-Partner-Key': keyId, 'X-Partner-Timestamp': timestamp,
    'X-Partner-Nonce': nonce, 'X-Partner-Signature': `v1=${{signature}}`,
  }});
  if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(METHOD)) headers['Idempotency-Key'] = `js-${{nonce}}`;
}} else if (AUTH === 'admin') {{
  headers['X-Admin-Key'] = process.env.ADMIN_API_KEY;
}}

const answer = await fetch(BASE + PATH, {{ method: METHOD, headers, body: BODY || undefined }});
console.log(answer.status, await answer.text());
"#,
        origin = literal(s.origin),
        method = literal(s.method),
        path = literal(s.path_and_query),
        body = literal(s.body),
        auth = literal(auth_name(s.auth)),
        key_id = literal(s.key_id),
    )
}

pub fn rust(s: &Sample<'_>) -> String {
    format!(
        r#"// Cargo.toml: hmac = "0.12", sha2 = "0.10", hex = "0.4", getrandom = "0.3", ureq = "3"
use hmac::{{Hmac, Mac}};
use sha2::{{Digest, Sha256}};

const BASE: &str = {origin};
const METHOD: &str = {method};
const PATH: &str = {path};
const BODY: &str = {body};
const AUTH: &str = {auth};

fn main() -> Result<(), Box<dyn std::error::Error>> {{
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder().method(METHOD).uri(format!("{{BASE}}{{PATH}}"));
    if !BODY.is_empty() {{
        request = request.header("Content-Type", "application/json");
    }}
    if AUTH == "partner" {{
        let key_id = std::env::var("PARTNER_KEY_ID").unwrap_or_else(|_| {key_id}.to_owned());
        let secret = std::env::var("PARTNER_SECRET")?;
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs().to_string();
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        let nonce = hex::encode(random);
        let body_hash = hex::encode(Sha256::digest(BODY.as_bytes()));
        let canonical = ["v1", &timestamp, METHOD, PATH, &nonce, &body_hash].join("\n");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
        mac.update(canonical.as_bytes());
        let signature = format!("v1={{}}", hex::encode(mac.finalize().into_bytes()));
        request = request
            .header("X-Partner-Key", key_id)
            .header("X-Partner-Timestamp", timestamp)
            .header("X-Partner-Nonce", nonce.as_str())
            .header("X-Partner-Signature", signature);
        if ["POST", "PUT", "PATCH", "DELETE"].contains(&METHOD) {{
            request = request.header("Idempotency-Key", format!("rs-{{nonce}}"));
        }}
    }} else if AUTH == "admin" {{
        request = request.header("X-Admin-Key", std::env::var("ADMIN_API_KEY")?);
    }}
    let mut answer = agent.run(request.body(BODY.as_bytes().to_vec())?)?;
    println!("{{}} {{}}", answer.status().as_u16(), answer.body_mut().read_to_string()?);
    Ok(())
}}
"#,
        origin = literal(s.origin),
        method = literal(s.method),
        path = literal(s.path_and_query),
        body = literal(s.body),
        auth = literal(auth_name(s.auth)),
        key_id = literal(s.key_id),
    )
}

fn auth_name(auth: Auth) -> &'static str {
    match auth {
        Auth::Public => "public",
        Auth::Admin => "admin",
        Auth::Partner => "partner",
    }
}

/// `partner-edge simulate` with the flags that make the same request body.
pub fn cli_simulate(origin: &str, key_id: &str, body: &serde_json::Value) -> String {
    let mut words = vec![format!(
        "PARTNER_KEY_ID={} PARTNER_SECRET=… \\\npartner-edge simulate --base-url {}",
        quote(key_id),
        quote(origin)
    )];
    for (field, flag) in [
        ("subscription_id", "--subscription-id"),
        ("url", "--url"),
        ("secret", "--webhook-secret"),
        ("previous_secret", "--previous-secret"),
        ("retired_secret", "--retired-secret"),
        ("scenario", "--scenario"),
    ] {
        if let Some(value) = body[field].as_str() {
            words.push(format!("{flag} {}", quote(value)));
        }
    }
    if let Some(data) = body.get("data") {
        words.push(format!("--data {}", quote(&data.to_string())));
    }
    if let Some(drills) = body["drills"].as_array() {
        let names: Vec<&str> = drills.iter().filter_map(serde_json::Value::as_str).collect();
        words.push(format!("--drills {}", quote(&names.join(","))));
    }
    words.join(" \\\n  ")
}
