//! Webhook inboxes: capture endpoints a partner creates, so a developer with
//! no public URL can watch real (and simulated) deliveries arrive and see
//! whether they verify under both signature schemes.
//!
//! An inbox lives in its partner's `WebhookHub` object. Deliveries to an
//! inbox of the same hub are captured in place, without a network hop (a
//! Worker cannot fetch its own hostname on Cloudflare); anything else reaches
//! it over HTTP at `POST /api/public/webhook-inbox/{inbox_id}`.

use serde::{Deserialize, Serialize};

use super::{verify_delivery, WebhookSecret};
use crate::partner::FieldError;

/// The public capture path, before the inbox id.
pub const CAPTURE_PATH_PREFIX: &str = "/api/public/webhook-inbox/";
/// Captures kept per inbox; the oldest go first.
pub const CAPTURES_KEPT: u32 = 100;
/// Captures older than this are dropped: 7 days.
pub const CAPTURE_MAX_AGE_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Inboxes per partner key.
pub const INBOXES_PER_KEY: usize = 10;
/// Body characters kept per capture.
pub const CAPTURE_BODY_CHARS: usize = 64 * 1024;
/// Headers kept per capture, and characters per header value.
pub const CAPTURE_HEADERS_KEPT: usize = 64;
pub const CAPTURE_HEADER_CHARS: usize = 1024;
/// The skew a capture's timestamps are verified with: the receivers' guard.
pub const VERIFY_TOLERANCE_SECS: u64 = 300;

/// `POST /api/partner/webhooks/inboxes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InboxIn {
    /// Verify captures against this subscription's live secrets. When absent, the
    /// oldest of your subscriptions whose URL is this inbox's is used.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", pattern(crate::contract::SUBSCRIPTION_ID)))]
    pub subscription_id: Option<String>,
    /// At most 200 characters, no control characters.
    #[serde(default, deserialize_with = "crate::contract::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "String", length(max = 200), pattern(crate::contract::plain_pattern()))
    )]
    pub description: Option<String>,
}

impl InboxIn {
    pub fn validate(&self) -> Result<(), FieldError> {
        super::check_description(self.description.as_ref())
    }
}

/// An inbox as partners see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Inbox {
    /// `inb_` and 32 hex digits; the capture URL's last segment.
    pub inbox_id: String,
    /// Where to send webhooks: `/api/public/webhook-inbox/{inbox_id}` on this edge.
    pub capture_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
}

impl Inbox {
    pub fn create(input: InboxIn, inbox_id: String, now: u64) -> Self {
        Self {
            capture_path: format!("{CAPTURE_PATH_PREFIX}{inbox_id}"),
            inbox_id,
            subscription_id: input.subscription_id,
            description: input.description,
            created_at: now,
        }
    }
}

impl Inbox {
    /// The subscription whose secrets check this inbox's captures: the one
    /// it names, or else the oldest of `subscriptions` (the key's own) that
    /// delivers to it, so an inbox made before its subscription still
    /// verifies what that subscription sends.
    pub fn verifying_subscription<'a>(&'a self, subscriptions: &'a [super::Subscription]) -> Option<&'a str> {
        self.subscription_id.as_deref().or_else(|| {
            subscriptions
                .iter()
                .filter(|s| inbox_in_url(&s.url) == Some(self.inbox_id.as_str()))
                .min_by_key(|s| s.created_at)
                .map(|s| s.subscription_id.as_str())
        })
    }
}

/// `inb_` and 32 hex digits, from 128 random bits drawn by the caller.
pub fn new_inbox_id(random: [u8; 16]) -> String {
    format!("inb_{}", hex::encode(random))
}

pub fn is_inbox_id(raw: &str) -> bool {
    raw.strip_prefix("inb_")
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The inbox a URL points at, if it is a capture URL (whatever its host:
/// the hub captures in place only for inboxes it holds).
pub fn inbox_in_url(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map(|at| &after_scheme[at..])?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.strip_prefix(CAPTURE_PATH_PREFIX).filter(|id| is_inbox_id(id))
}

/// One scheme's verdict on a capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SchemeCheck {
    pub valid: bool,
    /// The secret slot that verified it (`whk_2`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_id: Option<String>,
    /// Why it did not verify, for the last secret tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A capture checked against a subscription's live secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CaptureVerification {
    pub subscription_id: String,
    /// `X-Webhook-Signature`: hex HMAC over `"{timestamp}.{body}"`.
    pub seed_scheme: SchemeCheck,
    /// Standard Webhooks: `webhook-signature`.
    pub standard_webhooks: SchemeCheck,
}

/// Checks a capture under both schemes with each live secret, current first.
pub fn verify_capture(
    subscription_id: &str,
    secrets: &[(&str, &WebhookSecret)],
    header: impl Fn(&str) -> Option<String>,
    body: &str,
    now: u64,
) -> CaptureVerification {
    let mut seed =
        SchemeCheck { valid: false, secret_id: None, reason: Some("the subscription has no live secret".into()) };
    let mut standard = seed.clone();
    for (kid, secret) in secrets {
        let report = verify_delivery(secret, &header, body, now, VERIFY_TOLERANCE_SECS);
        for (check, result) in [(&mut seed, report.seed_scheme), (&mut standard, report.standard_webhooks)] {
            if check.valid {
                continue;
            }
            *check = match result {
                Ok(()) => SchemeCheck { valid: true, secret_id: Some((*kid).to_owned()), reason: None },
                Err(reason) => SchemeCheck { valid: false, secret_id: None, reason: Some(reason) },
            };
        }
    }
    CaptureVerification { subscription_id: subscription_id.to_owned(), seed_scheme: seed, standard_webhooks: standard }
}

/// One request an inbox received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Capture {
    /// `cap_` and a number that grows with every capture of the hub.
    pub capture_id: String,
    pub inbox_id: String,
    /// RFC 3339, UTC, milliseconds.
    pub received_at: String,
    pub method: String,
    /// As received (names lowercased), at most 64, values cut at 1024
    /// characters; credentials (`authorization`, `proxy-authorization`,
    /// `cookie`, `x-api-key`) are kept as `[redacted]`.
    pub headers: Vec<[String; 2]>,
    /// The body as text, cut at 65,536 characters.
    pub body: String,
    pub body_truncated: bool,
    /// Delivered by this edge in place, without a network hop.
    pub in_process: bool,
    /// Present when the inbox names a subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<CaptureVerification>,
}

/// Headers that carry a sender's credentials. An inbox's capture URL is
/// public and its captures are kept for days, so these are never stored:
/// a capture shows that the header came, not what it said.
pub const REDACTED_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-api-key"];
pub const REDACTED: &str = "[redacted]";

impl Capture {
    /// Builds a capture from what arrived, within the bounds above.
    pub fn new(
        inbox_id: &str,
        received_at_ms: u64,
        method: &str,
        headers: impl IntoIterator<Item = (String, String)>,
        body: &[u8],
        in_process: bool,
    ) -> Self {
        let text = String::from_utf8_lossy(body);
        let body_truncated = text.chars().count() > CAPTURE_BODY_CHARS;
        Self {
            capture_id: String::new(),
            inbox_id: inbox_id.to_owned(),
            received_at: crate::time::rfc3339_millis(received_at_ms),
            method: method.to_owned(),
            headers: headers
                .into_iter()
                .take(CAPTURE_HEADERS_KEPT)
                .map(|(name, value)| {
                    let name = name.to_ascii_lowercase();
                    let value = if REDACTED_HEADERS.contains(&name.as_str()) {
                        REDACTED.to_owned()
                    } else {
                        value.chars().take(CAPTURE_HEADER_CHARS).collect()
                    };
                    [name, value]
                })
                .collect(),
            body: text.chars().take(CAPTURE_BODY_CHARS).collect(),
            body_truncated,
            in_process,
            verification: None,
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|[n, _]| n.eq_ignore_ascii_case(name)).map(|[_, v]| v.clone())
    }
}

/// What the capture endpoint answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Captured {
    pub capture_id: String,
    pub inbox_id: String,
}

impl Captured {
    /// The capture route's answer, as an in-place delivery records it.
    pub fn answer_body(&self) -> String {
        serde_json::json!({ "success": true, "data": self }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{example_envelope, signature_headers, EventType};

    #[test]
    fn capture_urls_are_recognised_whatever_the_host() {
        let id = new_inbox_id([0xab; 16]);
        assert!(is_inbox_id(&id));
        for url in [
            format!("https://edge.example.com{CAPTURE_PATH_PREFIX}{id}"),
            format!("http://127.0.0.1:8787{CAPTURE_PATH_PREFIX}{id}?x=1"),
        ] {
            assert_eq!(inbox_in_url(&url), Some(id.as_str()), "{url}");
        }
        for url in [
            "https://edge.example.com/api/public/webhook-inbox/inb_short".to_owned(),
            format!("https://edge.example.com/other/{id}"),
            format!("https://edge.example.com{CAPTURE_PATH_PREFIX}{id}/more"),
        ] {
            assert_eq!(inbox_in_url(&url), None, "{url}");
        }
    }

    #[test]
    fn an_inbox_is_checked_with_the_subscription_it_names_or_else_the_oldest_that_delivers_to_it() {
        let inbox_id = new_inbox_id([0xcd; 16]);
        let subscription = |id: &str, url: String, at: u64| {
            let input = crate::webhooks::SubscriptionIn {
                url,
                event_types: vec![EventType::Test],
                receive_all: false,
                description: None,
            };
            crate::webhooks::Subscription::create(input, id.to_owned(), "whk_1".to_owned(), at)
        };
        let capture_url = format!("https://edge.example.com{CAPTURE_PATH_PREFIX}{inbox_id}");
        let subscriptions = [
            subscription("wh_elsewhere", "https://receiver.example.com/hook".to_owned(), 1),
            subscription("wh_newer", capture_url.clone(), 30),
            subscription("wh_older", capture_url, 20),
        ];
        let unnamed = Inbox::create(InboxIn::default(), inbox_id.clone(), 0);
        assert_eq!(unnamed.verifying_subscription(&subscriptions), Some("wh_older"));
        assert_eq!(unnamed.verifying_subscription(&subscriptions[..1]), None, "nothing delivers to it");
        let named =
            Inbox::create(InboxIn { subscription_id: Some("wh_elsewhere".into()), description: None }, inbox_id, 0);
        assert_eq!(named.verifying_subscription(&subscriptions), Some("wh_elsewhere"), "a named subscription wins");
    }

    #[test]
    fn captures_never_keep_a_senders_credentials() {
        let headers = [
            ("Authorization", "Bearer sk_live_secret"),
            ("Cookie", "session=abc"),
            ("X-Api-Key", "key"),
            ("Proxy-Authorization", "Basic xyz"),
            ("X-Webhook-Signature", "abcdef"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        let capture = Capture::new("inb_1", 1_700_000_000_000, "POST", headers, b"{}", false);
        for name in REDACTED_HEADERS {
            assert_eq!(capture.header(name).as_deref(), Some(REDACTED), "{name}");
        }
        assert_eq!(capture.header("x-webhook-signature").as_deref(), Some("abcdef"), "signatures are kept to verify");
        assert!(!serde_json::to_string(&capture).unwrap().contains("secret"));
    }

    #[test]
    fn captures_are_bounded_and_keep_lowercased_headers() {
        let headers = (0..100).map(|n| (format!("X-H{n}"), "v".repeat(2000)));
        let body = vec![b'a'; CAPTURE_BODY_CHARS + 10];
        let capture = Capture::new("inb_1", 1_700_000_000_000, "POST", headers, &body, false);
        assert_eq!(capture.headers.len(), CAPTURE_HEADERS_KEPT);
        assert_eq!(capture.headers[0][0], "x-h0");
        assert_eq!(capture.headers[0][1].len(), CAPTURE_HEADER_CHARS);
        assert_eq!(capture.body.len(), CAPTURE_BODY_CHARS);
        assert!(capture.body_truncated);
        assert_eq!(capture.received_at, "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn verification_names_the_secret_that_verified_each_scheme() {
        let old = WebhookSecret::new([1; 32]);
        let new = WebhookSecret::new([2; 32]);
        let envelope = example_envelope(EventType::SalutesCredit);
        let body = envelope.body();
        let now = 1_800_000_000;
        // During an overlap: the seed header by the old secret, both in the standard one.
        let (headers, _) = signature_headers(
            &[("whk_2", &new), ("whk_1", &old)],
            &envelope.event_id,
            envelope.event_type.as_str(),
            now,
            &body,
        );
        let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let both = verify_capture("wh_1", &[("whk_2", &new), ("whk_1", &old)], header, &body, now);
        assert_eq!(both.seed_scheme.secret_id.as_deref(), Some("whk_1"));
        assert_eq!(both.standard_webhooks.secret_id.as_deref(), Some("whk_2"));
        let only_new = verify_capture("wh_1", &[("whk_2", &new)], header, &body, now);
        assert!(!only_new.seed_scheme.valid && only_new.seed_scheme.reason.is_some());
        assert!(only_new.standard_webhooks.valid);
        let tampered = verify_capture("wh_1", &[("whk_2", &new), ("whk_1", &old)], header, "{}", now);
        assert!(!tampered.seed_scheme.valid && !tampered.standard_webhooks.valid);
        let none = verify_capture("wh_1", &[], header, &body, now);
        assert!(!none.seed_scheme.valid);
    }
}
