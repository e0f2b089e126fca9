//! The input rules the edge enforces, as the patterns `/openapi.json`
//! publishes. Each pattern sits next to the check that enforces it, and the
//! tests at the bottom prove that both accept exactly the same strings, so a
//! client generated from the document never sends what the edge refuses as
//! malformed, and never gets accepted what the document calls invalid.
//!
//! Patterns use only what ECMA-262, Python's `re` and Rust's `regex` read
//! the same way: anchors, character classes, `\x` escapes and literal
//! characters.

use serde::{Deserialize, Deserializer};

/// Characters that are control characters (Unicode `Cc`): never accepted in text.
const CONTROL: &str = "\\x00-\\x1F\\x7F-\\x9F";

/// Whitespace that is not a control character (Unicode `White_Space`
/// outside `Cc`): text must hold something else too.
const SPACE: &str = " \u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";

/// Free text: no control characters, and at least one character that is not
/// whitespace. Lengths are given separately (`minLength`/`maxLength`).
pub fn text_pattern() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")
}

/// Text that may be empty or blank, but holds no control characters.
pub fn plain_pattern() -> String {
    format!("^[^{CONTROL}]*$")
}

/// An email address: something without `@`, `@`, then dot-separated labels.
pub fn email_pattern() -> String {
    let part = format!("[^@.{CONTROL}{SPACE}]+");
    format!("^[^@{CONTROL}{SPACE}]+@{part}(\\.{part})+$")
}

/// Ids partners choose (external ids, campaign ids, sources) and user ids:
/// 1 to 64 of `A-Z a-z 0-9 _ . : -`, but not `.` or `..` (which a URL path
/// would read as a dot segment).
pub const ID: &str =
    "^([A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,63}|\\.([A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,62}|\\.[A-Za-z0-9_.:-]{1,62}))$";
/// A ledger reason such as `event_participation`.
pub const REASON: &str = "^[a-z0-9_]{1,64}$";
/// A wallet address.
pub const WALLET_ADDRESS: &str = "^[A-Za-z0-9]{8,128}$";
/// A wallet's chain.
pub const CHAIN: &str = "^[a-z0-9]{1,16}$";
/// Who is asking the quickstart check: `cli`, `sdk-python`, …
pub const CLIENT: &str = "^[a-z0-9_-]{1,32}$";
/// A partner key id.
pub const KEY_ID: &str = "^pk_(sandbox|live)_[0-9a-f]{24}$";
/// A webhook subscription id.
pub const SUBSCRIPTION_ID: &str = "^wh_[0-9a-f]{24}$";
/// A webhook inbox id.
pub const INBOX_ID: &str = "^inb_[0-9a-f]{32}$";
/// A delivery id.
/// A webhook secret as shown: `whsec_` and canonical base64 of at least 24 bytes.
pub const WEBHOOK_SECRET: &str =
    "^whsec_(?:[A-Za-z0-9+/]{4}){8,}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";
pub const DELIVERY_ID: &str = "^dlv_[0-9a-f]{32}$";
/// An event id, drawn by the edge (`evt_` and 32 hex digits) or chosen by a publisher.
pub const EVENT_ID: &str = "^evt_[A-Za-z0-9_-]{8,64}$";
/// An incident's id: `inc_` and its number.
pub const INCIDENT_ID: &str = "^inc_[0-9]{1,19}$";
/// `X-Partner-Timestamp`: unix seconds.
pub const TIMESTAMP: &str = "^[0-9]{1,19}$";
/// `X-Partner-Nonce`.
pub const NONCE: &str = "^[A-Za-z0-9_-]{16,64}$";
/// `X-Partner-Signature`.
pub const SIGNATURE: &str = "^v1=[0-9a-f]{64}$";
/// `Idempotency-Key`: visible ASCII.
pub const IDEMPOTENCY_KEY: &str = "^[\\x21-\\x7E]{1,255}$";
/// A ledger cursor.
pub const LEDGER_CURSOR: &str = "^le_[0-9]{1,19}$";
/// A delivery-log cursor.
pub const LOG_CURSOR: &str = "^c_[0-9]{1,19}$";
/// A page size.
pub const LIMIT: &str = "^[1-9][0-9]{0,2}$";

/// The latest moment a simulation or a timestamp may name: the end of year 9999.
pub const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// Every request body the edge reads is a JSON object. serde would also read
/// a struct from an array of its fields (so `[]` would pass for a struct whose
/// fields are all optional), which the document does not allow.
pub fn check_object_body(value: &serde_json::Value) -> Result<(), String> {
    if value.is_object() {
        Ok(())
    } else {
        Err("the body must be a JSON object".to_owned())
    }
}

/// Deserialises an optional field that, when present, must not be `null`:
/// the document describes absent and present, and `null` is neither.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// JSON Schema counts `5.0` as the integer 5, so the edge does too: every
/// number in a request body with no fractional part becomes an integer
/// before the body is read into its type.
pub fn integral_numbers(value: &mut serde_json::Value) {
    use serde_json::{Number, Value};
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64().filter(|f| f.fract() == 0.0) {
                // 2^64 itself is past u64::MAX: strictly below it, or not an integer here.
                let integer = if (0.0..18_446_744_073_709_551_616.0).contains(&float) {
                    Some(Number::from(float as u64))
                } else if float < 0.0 && float >= i64::MIN as f64 {
                    Some(Number::from(float as i64))
                } else {
                    None
                };
                if let Some(integer) = integer {
                    *number = integer;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// A whole number as a query carries it: ASCII digits only (no sign, space
/// or fraction), within `range`; `None` otherwise. The document states each
/// use as an integer with that minimum and maximum.
pub fn bounded_number<T: std::str::FromStr + PartialOrd>(raw: &str, range: std::ops::RangeInclusive<T>) -> Option<T> {
    raw.bytes().all(|b| b.is_ascii_digit()).then(|| raw.parse::<T>().ok()).flatten().filter(|n| range.contains(n))
}

/// Whether `c` is whitespace that text may hold but not consist of.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

/// Free text of 1 to `max` characters: no control characters, not only whitespace.
pub fn is_text(raw: &str, max: usize) -> bool {
    (1..=max).contains(&raw.chars().count()) && !raw.chars().any(char::is_control) && raw.chars().any(|c| !is_space(c))
}

/// At most `max` characters and no control characters.
pub fn is_plain(raw: &str, max: usize) -> bool {
    raw.chars().count() <= max && !raw.chars().any(char::is_control)
}

/// An email address of at most 254 characters, as [`email_pattern`] says.
pub fn is_email(raw: &str) -> bool {
    let bad = |c: char| c.is_control() || is_space(c);
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    raw.chars().count() <= 254
        && !local.is_empty()
        && !local.chars().any(bad)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty() && !label.chars().any(|c| bad(c) || c == '@'))
}

/// 1 to 32 of `a-z 0-9 _ -`, as [`CLIENT`] says.
pub fn is_client(raw: &str) -> bool {
    (1..=32).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// 1 to 64 of `A-Z a-z 0-9 _ . : -`, not `.` or `..`.
pub fn is_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw != "."
        && raw != ".."
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// `metadata`: up to 20 string values under keys of 1 to 40 characters.
#[cfg(feature = "openapi")]
pub fn metadata_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 20,
        "propertyNames": { "minLength": 1, "maxLength": 40 },
        "additionalProperties": { "type": "string", "maxLength": 500 },
    })
}

/// Scopes: at least one.
#[cfg(feature = "openapi")]
pub fn scopes_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = generator.subschema_for::<crate::partner::Scope>();
    schemars::json_schema!({ "type": "array", "minItems": 1, "items": item })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_objects_are_request_bodies() {
        assert!(check_object_body(&serde_json::json!({})).is_ok());
        for other in [serde_json::json!([]), serde_json::json!(null), serde_json::json!("x"), serde_json::json!(1)] {
            assert!(check_object_body(&other).is_err(), "{other}");
        }
        // The reason it exists: serde reads an all-optional struct from `[]`.
        let read: Result<crate::webhooks::inbox::InboxIn, _> = serde_json::from_value(serde_json::json!([]));
        assert!(read.is_ok(), "serde no longer reads structs from arrays; the check can go");
    }

    use super::*;

    /// A small deterministic generator of awkward strings: pieces near every
    /// boundary the rules draw, glued together at random.
    struct Strings(u64);

    impl Strings {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn string(&mut self) -> String {
            const PIECES: &[&str] = &[
                "a", "Z", "0", "9", "_", ".", ":", "-", "@", " ", "\u{a0}", "\u{2003}", "\u{3000}", "\u{feff}", "\t",
                "\n", "\r", "\u{0}", "\u{7f}", "\u{85}", "\u{9f}", "é", "ß", "日", "😀", "..", "@@", "x.y", "le_",
                "c_", "v1=", "pk_live_", "wh_", "!", "~", "\u{2028}", "\u{200b}", "A", "f",
            ];
            let len = (self.next() % 8) as usize;
            (0..len).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
        }
    }

    fn agree(pattern: &str, check: impl Fn(&str) -> bool, max_chars: usize, fixed: &[&str]) {
        let regex = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let by_pattern = |s: &str| s.chars().count() <= max_chars && regex.is_match(s);
        let mut strings = Strings(0x9e37_79b9_7f4a_7c15);
        let mut samples: Vec<String> = fixed.iter().map(|s| (*s).to_owned()).collect();
        samples.extend((0..20_000).map(|_| strings.string()));
        samples.push("x".repeat(max_chars));
        samples.push("x".repeat(max_chars + 1));
        for sample in samples {
            assert_eq!(by_pattern(&sample), check(&sample), "{pattern} and the check disagree on {sample:?}");
        }
    }

    #[test]
    fn text_rules_and_their_pattern_agree() {
        agree(&text_pattern(), |s| is_text(s, 100), 100, &["", " ", "\u{a0}", "a", " a ", "a\n", "\u{feff}"]);
        agree(&plain_pattern(), |s| is_plain(s, 200), 200, &["", " ", "a\n", "ok"]);
    }

    #[test]
    fn email_rule_and_its_pattern_agree() {
        agree(
            &email_pattern(),
            is_email,
            254,
            &["a@b.c", "a@b", "@b.c", "a@.b", "a@b.", "a@b..c", "a b@c.d", "a@b@c.d", "é@日.本", "a@b.c\n"],
        );
    }

    #[test]
    fn id_rules_and_their_patterns_agree() {
        agree(ID, is_id, 64, &["", "a", "user-1", "a b", "a/b", "ABC.def:0-9_", ".", "..", "...", ".a", "..a", "a.."]);
        agree(
            REASON,
            |s| {
                (1..=64).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            },
            64,
            &["event_participation", "Bad", ""],
        );
    }

    /// A client generated from the document may send any cursor the pattern
    /// allows; the edge must accept exactly those (the contract test once
    /// drew `c_9570700349297300670`, past i64::MAX, and got a 400).
    #[test]
    fn cursor_rules_and_their_patterns_agree() {
        let fixed = [
            "c_0",
            "c_9",
            "c_9223372036854775807",
            "c_9223372036854775808",
            "c_9999999999999999999",
            "c_18446744073709551615",
            "c_",
            "c_-1",
            "c_+1",
            "c_1 ",
            "le_5",
            "le_9999999999999999999",
            "le_10000000000000000000",
        ];
        agree(LOG_CURSOR, |s| crate::api::parse_cursor(s, "c_").is_ok(), 64, &fixed);
        agree(LEDGER_CURSOR, |s| crate::api::parse_cursor(s, "le_").is_ok(), 64, &fixed);
        let incidents = ["inc_0", "inc_9999999999999999999", "inc_10000000000000000000", "inc_", "inc_x", "inc_1 "];
        agree(INCIDENT_ID, |s| crate::incidents::parse_incident_id(s).is_some(), 64, &incidents);
    }

    /// Every input type crosses the Durable Object boundary as JSON: what the
    /// worker sends, the object must read back, absent fields included.
    #[test]
    fn inputs_with_absent_fields_round_trip_to_the_objects() {
        fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
        }
        use crate::sandbox::{DonationClaimIn, SalutesIn, UserIn, UserPatch};
        use crate::webhooks::{SubscriptionIn, SubscriptionPatch};
        round_trip(UserIn { display_name: "a".into(), external_id: None, email: None, metadata: None });
        round_trip(UserPatch { display_name: Some("a".into()), ..UserPatch::default() });
        round_trip(SalutesIn { user_id: "4".into(), amount: 1, reason: "r".into(), source: None });
        round_trip(DonationClaimIn { user_id: "4".into(), campaign_id: "c".into(), amount: 1, note: None });
        round_trip(SubscriptionIn {
            url: "https://a.example/".into(),
            event_types: vec![],
            receive_all: true,
            description: None,
        });
        round_trip(SubscriptionPatch { active: Some(true), ..SubscriptionPatch::default() });
        round_trip(crate::partner::PartnerKeyPatch::default());
    }

    #[test]
    fn integral_floats_are_integers_as_json_schema_says() {
        let mut body = serde_json::json!({"amount": 3783.0, "nested": [2.0, -4.0, 1.5], "big": 1e30, "n": 7, "edge": 18446744073709551616.0});
        integral_numbers(&mut body);
        assert_eq!(
            body,
            serde_json::json!({"amount": 3783, "nested": [2, -4, 1.5], "big": 1e30, "n": 7, "edge": 18446744073709551616.0})
        );
        let parsed: crate::sandbox::SalutesIn =
            serde_json::from_value(serde_json::json!({"user_id": "4", "amount": 1, "reason": "r"})).unwrap();
        assert_eq!(parsed.amount, 1);
    }

    #[test]
    fn present_refuses_null_and_keeps_values() {
        #[derive(Deserialize, serde::Serialize, Debug, PartialEq)]
        struct Probe {
            #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
            email: Option<String>,
        }
        assert_eq!(serde_json::from_str::<Probe>("{}").unwrap().email, None);
        // What the worker sends a Durable Object reads back the same.
        let absent = Probe { email: None };
        assert_eq!(serde_json::from_str::<Probe>(&serde_json::to_string(&absent).unwrap()).unwrap(), absent);
        assert_eq!(serde_json::from_str::<Probe>(r#"{"email":"a@b.c"}"#).unwrap().email.as_deref(), Some("a@b.c"));
        assert!(serde_json::from_str::<Probe>(r#"{"email":null}"#).is_err());
    }
}
