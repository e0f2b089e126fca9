//! Deprecations and sunsets against a real edge: the headers a deprecated
//! route answers with, the 410 after its sunset (on an edge whose lifecycle
//! clock is moved past it), the calendar, the playbooks, the header
//! simulator, the OpenAPI marks, and the RSS feed as a real feed reader
//! (Python's feedparser) reads it.

use std::process::Command;

use partner_edge_tests::{fresh_idempotency_key, repo_root, unix_now, Edge};
use serde_json::{json, Value};

use crate::EdgeTest;

pub const SHARED_EDGE_TESTS: &[(&str, EdgeTest)] = &[
    (
        "the_openapi_changelog_is_served_against_the_committed_baseline",
        the_openapi_changelog_is_served_against_the_committed_baseline,
    ),
    ("a_deprecated_route_answers_with_its_lifecycle_headers", a_deprecated_route_answers_with_its_lifecycle_headers),
    (
        "the_calendar_playbooks_and_simulator_agree_with_the_headers",
        the_calendar_playbooks_and_simulator_agree_with_the_headers,
    ),
    ("the_deprecation_feed_reads_cleanly_in_a_feed_parser", the_deprecation_feed_reads_cleanly_in_a_feed_parser),
    ("openapi_marks_deprecated_operations_with_their_sunset", openapi_marks_deprecated_operations_with_their_sunset),
    (
        "usage_of_deprecated_routes_is_counted_per_key_and_across_partners",
        usage_of_deprecated_routes_is_counted_per_key_and_across_partners,
    ),
];

pub const OWN_EDGE_TESTS: &[(&str, fn())] = &[(
    "after_its_sunset_a_route_answers_410_naming_its_replacement",
    after_its_sunset_a_route_answers_410_naming_its_replacement,
)];

const LOOKUP_DEPRECATED_AT: u64 = 1_793_491_200;
const SUNSET_AT: u64 = 1_814_313_600;
const WALLET: &str = "0x52908400098527886E0F7030069857D2E4169EE8";

fn a_deprecated_route_answers_with_its_lifecycle_headers(edge: &Edge) {
    let client = edge.partner("sandbox", &["read", "users"]);
    let old = client.send("GET", "/api/partner/user-lookup?user_id=4", b"");
    assert_eq!(old.status, 200, "{}", old.text());
    assert_eq!(old.json()["data"]["user_id"], "4");
    assert_eq!(old.header("deprecation"), Some(format!("@{LOOKUP_DEPRECATED_AT}").as_str()));
    assert_eq!(old.header("sunset"), Some("Wed, 30 Jun 2027 00:00:00 GMT"));
    let link = old.header("link").unwrap_or_default();
    assert!(link.contains("rel=\"deprecation\"") && link.contains("rel=\"sunset\""), "{link}");
    let new = client.send("GET", "/api/partner/users/4", b"");
    assert_eq!(new.json()["data"], old.json()["data"], "the replacement answers the same user");
    assert_eq!(new.header("deprecation"), None, "the replacement is not deprecated");

    let linked = client.mutate(
        "POST",
        "/api/partner/users/4/wallets",
        &json!({"address": WALLET, "label": "main"}),
        &fresh_idempotency_key(),
    );
    assert_eq!(linked.status, 201, "{}", linked.text());
    let info = client.send("GET", &format!("/api/partner/wallet-info/{WALLET}"), b"");
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["data"]["user_id"], "4");
    assert!(info.header("deprecation").is_some());
    let wallet = client.send("GET", &format!("/api/partner/users/4/wallets/{}", WALLET.to_lowercase()), b"");
    assert_eq!(wallet.status, 200, "{}", wallet.text());
    assert_eq!(wallet.json()["data"], info.json()["data"]["wallet"]);
    client.send("GET", "/api/partner/users/5/wallets/0xnotlinkedatall", b"").assert_error(404, "not_found");
}

fn the_calendar_playbooks_and_simulator_agree_with_the_headers(edge: &Edge) {
    let calendar = edge.get("/developers/deprecations.json").json();
    let entries = calendar["data"]["deprecations"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["user-lookup", "wallet-info"]);
    let lookup = &entries[0];
    assert_eq!(lookup["endpoint"], "GET /api/partner/user-lookup");
    assert_eq!(lookup["replacement"], "GET /api/partner/users/{user_id}");
    assert_eq!(lookup["sunset_at"], "2027-06-30T00:00:00Z");
    assert_eq!(lookup["phase"], "deprecated");
    let labels: Vec<&str> =
        lookup["notices"].as_array().unwrap().iter().map(|n| n["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["T-30", "T-14", "T-7", "T-1"]);
    let playbook = edge.get("/developers/deprecations-playbook.json").json();
    assert_eq!(playbook["data"]["deprecations"], calendar["data"]["deprecations"]);

    let markdown = edge.get("/developers/deprecations-playbook.md");
    assert!(markdown.header("content-type").unwrap().starts_with("text/markdown"));
    let text = markdown.text();
    assert!(text.contains("<a id=\"user-lookup\"></a>") && text.contains("T-30"), "{text}");

    let at = SUNSET_AT + 1;
    let simulated = edge.get(&format!("/api/public/deprecations/header-simulator?id=user-lookup&at={at}")).json();
    let one = &simulated["data"][0];
    assert_eq!((one["phase"].clone(), one["status"].clone()), (json!("sunset"), json!(410)));
    let now =
        edge.get("/api/public/deprecations/header-simulator?endpoint=GET%20%2Fapi%2Fpartner%2Fuser-lookup").json();
    let headers: Vec<(String, String)> = now["data"][0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_owned(), h["value"].as_str().unwrap().to_owned()))
        .collect();
    assert!(headers.contains(&("Deprecation".to_owned(), format!("@{LOOKUP_DEPRECATED_AT}"))), "{headers:?}");
    let bad = edge.get("/api/public/deprecations/header-simulator?id=nope");
    assert!(bad.assert_error(400, "invalid_request")["message"].as_str().unwrap().starts_with("id"));
}

fn the_deprecation_feed_reads_cleanly_in_a_feed_parser(edge: &Edge) {
    let feed = edge.get("/developers/deprecations.rss");
    assert_eq!(feed.status, 200);
    assert!(feed.header("content-type").unwrap().starts_with("application/rss+xml"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    std::fs::write(&file, &feed.body).unwrap();
    let script = "import feedparser, json, sys\n\
        d = feedparser.parse(sys.argv[1])\n\
        print(json.dumps({'bozo': d.bozo, 'version': d.version, 'title': d.feed.get('title'),\n\
          'entries': [{'title': e.title, 'link': e.link, 'id': e.id, 'published': bool(e.get('published_parsed'))} for e in d.entries]}))";
    let out =
        Command::new(repo_root().join(".tools/venv/bin/python")).args(["-c", script]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["bozo"], false, "feedparser found the feed malformed: {parsed}");
    assert_eq!(parsed["version"], "rss20");
    assert_eq!(parsed["title"], "Partner Edge API deprecations");
    let entries = parsed["entries"].as_array().unwrap();
    // Both deprecations are announced (2026-11-01); no notice is due yet.
    if unix_now() < SUNSET_AT - 30 * 86_400 {
        assert_eq!(entries.len(), 2, "{parsed}");
    }
    for entry in entries {
        assert!(entry["link"].as_str().unwrap().starts_with(&edge.base_url), "{entry}");
        assert_eq!(entry["published"], true, "{entry}");
    }
}

fn usage_of_deprecated_routes_is_counted_per_key_and_across_partners(edge: &Edge) {
    let migration = |edge: &Edge| {
        let status = edge.get("/developers/migration-status.json?id=user-lookup").json();
        let days = status["data"][0]["days"].as_array().cloned().unwrap_or_default();
        let sum = |field: &str| days.iter().map(|d| d[field].as_u64().unwrap()).sum::<u64>();
        (sum("deprecated_calls"), sum("replacement_calls"))
    };
    let (old_before, new_before) = migration(edge);

    let client = edge.partner("sandbox", &["read"]);
    let fresh = client.send("GET", "/api/partner/deprecations", b"");
    assert_eq!(fresh.json()["data"], json!([]), "a key that called nothing deprecated has nothing to migrate");
    for _ in 0..3 {
        assert_eq!(client.send("GET", "/api/partner/user-lookup?user_id=2", b"").status, 200);
    }
    assert_eq!(client.send("GET", "/api/partner/users/2", b"").status, 200);
    let usage = client.send("GET", "/api/partner/deprecations", b"").json();
    let rows = usage["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{usage}");
    assert_eq!(rows[0]["id"], "user-lookup");
    assert_eq!(rows[0]["calls_30d"], 3);
    assert_eq!(rows[0]["replacement"], "GET /api/partner/users/{user_id}");

    // Counted after each answer went out: poll until the counts land.
    let started = std::time::Instant::now();
    loop {
        let (old, new) = migration(edge);
        if old >= old_before + 3 && new > new_before {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "migration counts stuck at {old}/{new}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    edge.get("/developers/migration-status.json?id=nope").assert_error(400, "invalid_request");
}

fn the_openapi_changelog_is_served_against_the_committed_baseline(edge: &Edge) {
    let log = edge.get("/developers/openapi-changelog.json");
    assert_eq!(log.status, 200, "{}", log.text());
    let data = log.json()["data"].clone();
    assert_eq!(data["current_version"], edge.get("/openapi.json").json()["info"]["version"]);
    assert_eq!(data["breaking"], 0, "no breaking change without a deprecation: {data}");
    let markdown = edge.get("/developers/openapi-changelog.md");
    assert!(markdown.header("content-type").unwrap().starts_with("text/markdown"));
    assert!(markdown.text().starts_with("# OpenAPI changelog"), "{}", markdown.text());
}

fn openapi_marks_deprecated_operations_with_their_sunset(edge: &Edge) {
    let doc = edge.get("/openapi.json").json();
    let lookup = &doc["paths"]["/api/partner/user-lookup"]["get"];
    assert_eq!(lookup["deprecated"], true);
    assert_eq!(lookup["x-sunset"], "2027-06-30T00:00:00Z");
    assert_eq!(lookup["x-replacement"], "getPartnerUser");
    assert!(lookup["responses"]["410"].is_object(), "the 410 is documented");
    assert!(doc["paths"]["/api/partner/users/{user_id}"]["get"]["deprecated"].is_null());
}

fn after_its_sunset_a_route_answers_410_naming_its_replacement() {
    let offset = (SUNSET_AT + 86_400).saturating_sub(unix_now()).to_string();
    let (edge, _state) = Edge::spawn_fresh_with(&[("LIFECYCLE_CLOCK_OFFSET_SECONDS", &offset)]);
    let client = edge.partner("sandbox", &["read"]);
    let gone = client.send("GET", "/api/partner/user-lookup?user_id=4", b"");
    let error = gone.assert_error(410, "endpoint_sunset");
    assert!(error["message"].as_str().unwrap().contains("GET /api/partner/users/{user_id}"), "{error}");
    assert_eq!(gone.header("sunset"), Some("Wed, 30 Jun 2027 00:00:00 GMT"));
    assert!(gone.header("deprecation").is_some());
    assert_eq!(client.send("GET", "/api/partner/users/4", b"").status, 200, "the replacement still answers");
    let calendar = edge.get("/developers/deprecations.json").json();
    assert_eq!(calendar["data"]["deprecations"][0]["phase"], "sunset");
    let feed = edge.get("/developers/deprecations.rss").text();
    assert!(feed.contains("T-1:") && feed.contains("T-30:"), "every notice has gone out by now: {feed}");
}
