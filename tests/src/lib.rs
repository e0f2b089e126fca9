//! Helpers for the end-to-end tests: start a real `wrangler dev` (workerd) on
//! free loopback ports with its own state folder, wait for it, and talk HTTP
//! to it.
//!
//! The worker and portal must be built first; `bash scripts/edge.sh test`
//! does that before running these tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Secrets the test edges run with, instead of a developer's `.dev.vars`.
pub const TEST_ADMIN_KEY: &str = "test-admin-key-0123456789abcdef-0123456789";
pub const TEST_MASTER_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits inside the repo").to_path_buf()
}

/// A port the OS just handed out on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind an ephemeral port").port()
}

/// A running `wrangler dev`. Stopped (its whole process group) on drop.
pub struct Edge {
    pub base_url: String,
    child: Mutex<Option<Child>>,
    log_path: PathBuf,
}

impl Edge {
    /// Starts an edge on fresh, empty state that is deleted afterwards.
    pub fn spawn_fresh() -> (Edge, tempfile::TempDir) {
        Edge::spawn_fresh_with(&[])
    }

    /// As [`Edge::spawn_fresh`], with extra variables (`NAME`, `value`) in its env file.
    pub fn spawn_fresh_with(vars: &[(&str, &str)]) -> (Edge, tempfile::TempDir) {
        let mut state = tempfile::tempdir().expect("create a temp state dir");
        if std::env::var_os("PE_KEEP_STATE").is_some() {
            state.disable_cleanup(true);
            eprintln!("keeping edge state and wrangler log in {}", state.path().display());
        }
        let edge = Edge::spawn_with_state_and_vars(state.path(), vars);
        (edge, state)
    }

    /// Starts an edge whose KV and Durable Object state persist in `state_dir`.
    pub fn spawn_with_state(state_dir: &Path) -> Edge {
        Edge::spawn_with_state_and_vars(state_dir, &[])
    }

    /// As [`Edge::spawn_with_state`], with extra variables in its env file.
    pub fn spawn_with_state_and_vars(state_dir: &Path, vars: &[(&str, &str)]) -> Edge {
        let root = repo_root();
        for artefact in ["worker/build/index.js", "portal/dist/index.html"] {
            assert!(
                root.join(artefact).exists(),
                "{artefact} is missing: run `bash scripts/edge.sh build` (or the README's test command) first"
            );
        }
        let env_file = state_dir.join("test.env");
        // Rate windows last an hour, so no test straddles a window's end and
        // none waits for the clock; the limits a test checks it sets itself.
        let mut env_text = format!(
            "ADMIN_API_KEY={TEST_ADMIN_KEY}\nPARTNER_KEY_MASTER={TEST_MASTER_KEY}\nEDGE_ENV=local\n\
             RATE_LIMIT_WINDOW_SECONDS=3600\nRATE_LIMIT_PUBLIC_API_PER_MIN=100000\nRATE_LIMIT_WEBHOOK_PER_MIN=100000\n"
        );
        for (name, value) in vars {
            env_text.push_str(&format!("{name}={value}\n"));
        }
        fs::write(&env_file, env_text).expect("write env file");
        let log_path = state_dir.join(format!("wrangler-{}.log", free_port()));
        let log = fs::File::create(&log_path).expect("create wrangler log");

        let port = free_port();
        let inspector_port = free_port();
        let child = Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args(["dev", "--local", "--ip", "127.0.0.1", "--show-interactive-dev-session=false", "--test-scheduled"])
            .args(["--port", &port.to_string(), "--inspector-port", &inspector_port.to_string()])
            .arg("--persist-to")
            .arg(state_dir.join("persist"))
            .arg("--env-file")
            .arg(&env_file)
            .env("PE_SKIP_BUILD", "1")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start wrangler dev (run `npm ci` via scripts/edge.sh setup)");

        let edge = Edge { base_url: format!("http://127.0.0.1:{port}"), child: Mutex::new(Some(child)), log_path };
        edge.wait_until_ready();
        edge
    }

    fn wait_until_ready(&self) {
        let started = Instant::now();
        loop {
            // A read-only route: probing /api/public/health would record a probe
            // and the state would no longer be fresh.
            if let Ok(reply) = try_request(&self.url("/openapi.json"), "GET", &[], None) {
                if reply.status > 0 {
                    return;
                }
            }
            if let Some(status) = self.child.lock().unwrap().as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("wrangler dev exited early ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "wrangler dev not ready after {READY_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// What wrangler has printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
        try_request(&self.url(path), method, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}\n--- wrangler log ---\n{}", self.log()))
    }

    /// Stops wrangler and workerd: SIGTERM to the process group, then SIGKILL.
    pub fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = child.wait();
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP answer, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    /// Asserts the taxonomy's error shape, the status and the code, and that
    /// `request_id` matches the header. Returns the body.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        let body = self.json();
        let mut keys: Vec<&str> =
            body.as_object().expect("error body is an object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        // A signature that does not match also says what the edge signed over.
        let expected: &[&str] = if code == "signature_mismatch" {
            &["error", "message", "request_id", "signature_diagnostics", "success"]
        } else {
            &["error", "message", "request_id", "success"]
        };
        assert_eq!(keys, expected, "error body shape: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], code, "{body}");
        assert!(!body["message"].as_str().unwrap_or_default().is_empty(), "empty message: {body}");
        assert_eq!(body["request_id"].as_str(), self.header("x-request-id"), "request_id differs from header");
        body
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_redirects(0)
        .build()
        .into()
}

/// One request, whatever its status. Errors only when no HTTP answer came back.
pub fn try_request(url: &str, method: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<Reply, String> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.map(<[u8]>::to_vec).unwrap_or_default()).map_err(|e| e.to_string())?;
    let response = agent().run(request).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let mut bytes = Vec::new();
    // A HEAD, 204 or 304 answer has no body, even when its headers announce
    // a gzip encoding.
    if method != "HEAD" && status != 204 && status != 304 {
        response.into_body().into_reader().read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    }
    Ok(Reply { status, headers, body: bytes })
}

/// A partner key minted through the admin API, and a client that signs with it.
pub struct PartnerClient<'a> {
    pub edge: &'a Edge,
    pub key_id: String,
    pub secret: String,
}

static NONCE_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A nonce unique within this test process.
pub fn fresh_nonce() -> String {
    let n = NONCE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("n-{t:x}-{n:06}")
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

impl Edge {
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        self.request(
            method,
            path,
            &[("X-Admin-Key", TEST_ADMIN_KEY), ("content-type", "application/json")],
            bytes.as_deref(),
        )
    }

    /// Mints a key with `scopes` in `environment` and returns a client for it.
    pub fn partner(&self, environment: &str, scopes: &[&str]) -> PartnerClient<'_> {
        let reply = self.admin(
            "POST",
            "/api/admin/partner-keys",
            Some(&serde_json::json!({"name": "test partner", "environment": environment, "scopes": scopes})),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
        let data = &reply.json()["data"];
        PartnerClient {
            edge: self,
            key_id: data["key_id"].as_str().unwrap().to_owned(),
            secret: data["secret"].as_str().unwrap().to_owned(),
        }
    }
}

/// The signed headers for one request.
pub struct Signed {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl PartnerClient<'_> {
    pub fn sign(&self, method: &str, path_and_query: &str, body: &[u8], timestamp: u64, nonce: &str) -> Signed {
        let timestamp = timestamp.to_string();
        let parts = partner_edge::signing::SignedParts { timestamp: &timestamp, method, path_and_query, nonce, body };
        let signature = partner_edge::signing::sign_v1(&self.secret, &parts);
        Signed { timestamp, nonce: nonce.to_owned(), signature }
    }

    /// Sends a request with the given signed headers (which a test may have tampered with).
    pub fn send_signed(&self, method: &str, path: &str, body: &[u8], signed: &Signed) -> Reply {
        self.edge.request(
            method,
            path,
            &[
                ("X-Partner-Key", &self.key_id),
                ("X-Partner-Timestamp", &signed.timestamp),
                ("X-Partner-Nonce", &signed.nonce),
                ("X-Partner-Signature", &signed.signature),
                ("content-type", "application/json"),
            ],
            Some(body),
        )
    }

    /// Signs with the current time and a fresh nonce, and sends.
    pub fn send(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        self.send_with(method, path, body, &[])
    }

    /// As [`PartnerClient::send`], with extra headers.
    pub fn send_with(&self, method: &str, path: &str, body: &[u8], extra: &[(&str, &str)]) -> Reply {
        let signed = self.sign(method, path, body, unix_now(), &fresh_nonce());
        let mut headers = vec![
            ("X-Partner-Key", self.key_id.as_str()),
            ("X-Partner-Timestamp", signed.timestamp.as_str()),
            ("X-Partner-Nonce", signed.nonce.as_str()),
            ("X-Partner-Signature", signed.signature.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        self.edge.request(method, path, &headers, Some(body))
    }

    /// A signed mutation with a JSON body and an Idempotency-Key.
    pub fn mutate(&self, method: &str, path: &str, body: &Value, idempotency_key: &str) -> Reply {
        let bytes = serde_json::to_vec(body).unwrap();
        self.send_with(method, path, &bytes, &[("Idempotency-Key", idempotency_key)])
    }
}

/// A fresh Idempotency-Key.
pub fn fresh_idempotency_key() -> String {
    format!("idem-{}", fresh_nonce())
}

/// A request the test origin received.
#[derive(Clone, Debug)]
pub struct OriginRequest {
    pub method: String,
    pub path_and_query: String,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OriginRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What a test server answers one request with.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (to outlast a client's timeout).
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer { status, headers: Vec::new(), body: format!("{{\"status\":{status}}}"), delay: Duration::ZERO }
    }
}

type Handler = dyn Fn(&OriginRequest, usize) -> Answer + Send + Sync;

/// A real HTTP/1.1 server on a loopback port, a thread per connection. It
/// records every request (with when it arrived) and answers through
/// `handler`, which also gets how many earlier requests had the same path.
pub struct TestServer {
    pub port: u16,
    received: std::sync::Arc<Mutex<Vec<(OriginRequest, std::time::SystemTime)>>>,
}

impl TestServer {
    pub fn start(handler: impl Fn(&OriginRequest, usize) -> Answer + Send + Sync + 'static) -> TestServer {
        use std::io::{BufRead, BufReader, Write};
        let handler: std::sync::Arc<Handler> = std::sync::Arc::new(handler);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a test server");
        let port = listener.local_addr().unwrap().port();
        let received: std::sync::Arc<Mutex<Vec<(OriginRequest, std::time::SystemTime)>>> =
            std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = std::sync::Arc::clone(&sink);
                let handler = std::sync::Arc::clone(&handler);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let path_and_query = parts.next().unwrap_or_default().to_owned();
                    let mut headers = Vec::new();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.trim_end().split_once(':') {
                            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                        }
                    }
                    let length: usize = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    let _ = std::io::Read::read_exact(&mut reader, &mut body);
                    let request = OriginRequest { method, path_and_query, headers, body };
                    let seen = {
                        let mut log = sink.lock().unwrap();
                        let seen = log.iter().filter(|(r, _)| r.path_and_query == request.path_and_query).count();
                        log.push((request.clone(), std::time::SystemTime::now()));
                        seen
                    };
                    let answer = handler(&request, seen);
                    std::thread::sleep(answer.delay);
                    let mut head = format!("HTTP/1.1 {} Answer\r\ncontent-type: application/json\r\n", answer.status);
                    for (name, value) in &answer.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", answer.body.len()));
                    let mut stream = stream;
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(answer.body.as_bytes());
                });
            }
        });
        TestServer { port, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<OriginRequest> {
        self.received.lock().unwrap().iter().map(|(r, _)| r.clone()).collect()
    }

    /// Requests to paths starting with `prefix`, with when each arrived.
    pub fn requests_to(&self, prefix: &str) -> Vec<(OriginRequest, std::time::SystemTime)> {
        self.received.lock().unwrap().iter().filter(|(r, _)| r.path_and_query.starts_with(prefix)).cloned().collect()
    }

    /// Waits until `count` requests to paths starting with `prefix` arrived,
    /// or `limit` passed (then returns what there is).
    pub fn wait_for(&self, prefix: &str, count: usize, limit: Duration) -> Vec<OriginRequest> {
        let started = Instant::now();
        loop {
            let seen = self.requests_to(prefix);
            if seen.len() >= count || started.elapsed() > limit {
                return seen.into_iter().map(|(r, _)| r).collect();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A real HTTP origin: answers 201 with a JSON echo of what it received
/// (after 10 s if the path says `hang`).
pub struct TestOrigin {
    pub port: u16,
    server: TestServer,
}

impl TestOrigin {
    pub fn start() -> TestOrigin {
        let server = TestServer::start(|request, _| {
            let echo = serde_json::json!({
                "origin": true,
                "method": request.method,
                "path": request.path_and_query,
                "partner": request.header("x-partner-id"),
                "body": String::from_utf8_lossy(&request.body),
            })
            .to_string();
            Answer {
                status: 201,
                headers: vec![("x-origin".into(), "yes".into())],
                body: echo,
                delay: if request.path_and_query.contains("hang") { Duration::from_secs(10) } else { Duration::ZERO },
            }
        });
        TestOrigin { port: server.port, server }
    }

    pub fn requests(&self) -> Vec<OriginRequest> {
        self.server.requests()
    }
}
