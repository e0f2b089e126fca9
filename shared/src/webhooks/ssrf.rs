//! Where the edge will send a webhook. Checked when a subscription is created
//! or changed, and again before every delivery (a rule may have tightened).
//!
//! The URL is parsed the way browsers and workerd parse it (WHATWG), so the
//! decimal, octal and hex spellings of an address (`2130706433`, `0177.1`,
//! `0x7f.1`) arrive here as the address they mean and meet the same rules.
//! What cannot be checked here: a public name that resolves to a private
//! address. Workers have no DNS API; on Cloudflare, outbound fetches cannot
//! reach private networks anyway.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What a deployment allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Production: only `https`.
    pub require_https: bool,
    /// Local testing only: `localhost` and loopback addresses, over http too.
    pub allow_loopback: bool,
}

impl UrlPolicy {
    pub const PRODUCTION: UrlPolicy = UrlPolicy { require_https: true, allow_loopback: false };
}

/// Names that only mean something inside a network.
const INTERNAL_NAMES: &[&str] =
    &["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "metadata", "instance-data"];
const INTERNAL_SUFFIXES: &[&str] =
    &[".localhost", ".local", ".localdomain", ".internal", ".intranet", ".lan", ".home.arpa", ".corp"];

/// The longest receiver URL, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Checks a receiver URL, returning it parsed, or why it is refused.
pub fn check_webhook_url(raw: &str, policy: UrlPolicy) -> Result<Url, String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    let url = Url::parse(raw.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        "http" => return Err("must use https".into()),
        other => return Err(format!("must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (user:password@)".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    match url.host() {
        None => Err("must name a host".into()),
        Some(Host::Domain(name)) => check_name(name, policy).map(|()| url.clone()),
        Some(Host::Ipv4(ip)) => check_v4(ip, policy).map(|()| url.clone()),
        Some(Host::Ipv6(ip)) => check_v6(ip, policy).map(|()| url.clone()),
    }
}

fn check_name(name: &str, policy: UrlPolicy) -> Result<(), String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let loopback_name = name == "localhost" || name.ends_with(".localhost");
    if loopback_name && policy.allow_loopback {
        return Ok(());
    }
    if INTERNAL_NAMES.contains(&name.as_str()) || INTERNAL_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)) {
        return Err(format!("must not point at an internal name ({name})"));
    }
    if !name.contains('.') {
        return Err(format!("must be a fully qualified public name, not {name}"));
    }
    Ok(())
}

fn check_v4(ip: Ipv4Addr, policy: UrlPolicy) -> Result<(), String> {
    if ip.is_loopback() && policy.allow_loopback {
        return Ok(());
    }
    let [a, b, c, _] = ip.octets();
    let reason = if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local or cloud metadata address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() || a == 0 || a >= 240 {
        Some("a reserved address")
    } else if (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 88 && c == 99)
    {
        Some("a special-purpose address")
    } else if (a == 198 && b == 51 && c == 100) || (a == 203 && b == 0 && c == 113) {
        Some("a documentation address")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(format!("must not point at {reason} ({ip})")),
        None => Ok(()),
    }
}

/// IANA's IPv6 Special-Purpose Address Registry, every row, plus the
/// deprecated and architectural ranges no webhook receiver lives in. Each row
/// is (prefix, length, why). Ranges that embed an IPv4 address (mapped,
/// translated, compatible, 6to4, Teredo, NAT64) are refused whole, so the
/// embedded address cannot smuggle a private destination through.
pub const IPV6_SPECIAL_PURPOSE: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "a loopback address"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, "the unspecified address"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, "an IPv4-mapped address"),
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96, "an IPv4-translated address"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, "an IPv4-compatible address"),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, "a NAT64 address (embeds IPv4)"),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "a local-use NAT64 address (embeds IPv4)"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "the discard-only prefix"),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "the dummy IPv6 prefix"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "a Teredo address (embeds IPv4)"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "an IETF protocol assignment"),
    (Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48, "a benchmarking address"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "a documentation address"),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "a 6to4 address (embeds IPv4)"),
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48, "the AS112 service prefix"),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "a documentation address"),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "a segment-routing SID"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "a unique local address"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "a link-local address"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "a site-local address"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "a multicast address"),
];

fn in_prefix(ip: Ipv6Addr, prefix: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(prefix) & mask
}

/// Why an IPv6 address is special-purpose, if it is: the most specific row.
pub fn special_purpose_v6(ip: Ipv6Addr) -> Option<&'static str> {
    IPV6_SPECIAL_PURPOSE
        .iter()
        .filter(|(prefix, len, _)| in_prefix(ip, *prefix, *len))
        .max_by_key(|(_, len, _)| *len)
        .map(|(_, _, why)| *why)
}

fn check_v6(ip: Ipv6Addr, policy: UrlPolicy) -> Result<(), String> {
    if ip.is_loopback() && policy.allow_loopback {
        return Ok(());
    }
    match special_purpose_v6(ip) {
        Some(reason) => Err(format!("must not point at {reason} ({ip})")),
        None => Ok(()),
    }
}

/// Receiver URLs that must be refused in production: every spelling of an
/// internal destination the rules above cover. Shared with the end-to-end tests.
pub const SSRF_CORPUS: &[&str] = &[
    "http://example.com/hook",
    "ftp://example.com/hook",
    "https://127.0.0.1/hook",
    "https://127.1.2.3/hook",
    "https://2130706433/hook",
    "https://0177.0.0.1/hook",
    "https://0x7f.0.0.1/hook",
    "https://0x7f000001/hook",
    "https://017700000001/hook",
    "https://10.0.0.8/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/hook",
    "https://224.0.0.1/hook",
    "https://0.0.0.0/hook",
    "https://255.255.255.255/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fd00::1]/hook",
    "https://[fc00::1]/hook",
    "https://[fe80::1]/hook",
    "https://[ff02::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[64:ff9b:1::a00:1]/hook",
    "https://[::ffff:0:a00:1]/hook",
    "https://[2002:a00:1::]/hook",
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",
    "https://[100::1]/hook",
    "https://[2001:db8::1]/hook",
    "https://[3fff::1]/hook",
    "https://[fec0::1]/hook",
    "https://[5f00::1]/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://printer.local/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/hook",
    "https://intranet/hook",
    "https://user:pass@example.com/hook",
    "https://example.com@127.0.0.1/hook",
    "https://example.com#@evil",
    "not a url",
    "https://",
];

#[cfg(test)]
mod tests {
    use super::*;

    use super::SSRF_CORPUS as REFUSED;

    #[test]
    fn the_ssrf_corpus_is_refused_in_production() {
        for raw in REFUSED {
            assert!(check_webhook_url(raw, UrlPolicy::PRODUCTION).is_err(), "{raw} was accepted");
        }
    }

    #[test]
    fn public_https_urls_pass() {
        for raw in [
            "https://hooks.example.com/partner-edge",
            "https://93.184.216.34:8443/hook?x=1",
            "https://[2606:4700::1111]/h",
        ] {
            assert!(check_webhook_url(raw, UrlPolicy::PRODUCTION).is_ok(), "{raw}");
        }
    }

    #[test]
    fn local_mode_may_allow_loopback_and_only_loopback() {
        let local = UrlPolicy { require_https: false, allow_loopback: true };
        for raw in ["http://127.0.0.1:9000/hook", "http://localhost:9000/hook", "http://[::1]:9000/hook"] {
            assert!(check_webhook_url(raw, local).is_ok(), "{raw}");
        }
        for raw in
            ["http://10.0.0.1/hook", "http://169.254.169.254/", "http://[::ffff:127.0.0.1]/", "https://u:p@localhost/"]
        {
            assert!(check_webhook_url(raw, local).is_err(), "{raw} slipped through local mode");
        }
    }

    /// One row per registry entry: an address inside it, and where the
    /// registry allows it, one just outside that must stay public.
    #[test]
    fn every_ipv6_special_purpose_range_is_refused_at_both_ends() {
        let rows: &[(&str, &str, Option<&str>)] = &[
            ("::1/128", "::1", None),
            ("::/128", "::", None),
            ("::ffff:0:0/96", "::ffff:10.0.0.1", None),
            ("::ffff:0:0:0/96", "::ffff:0:a00:1", None),
            ("::/96", "::a00:1", None),
            ("64:ff9b::/96", "64:ff9b::ffff:ffff", Some("64:ff9b:0:0:0:1::")),
            ("64:ff9b:1::/48", "64:ff9b:1:ffff::1", Some("64:ff9b:2::1")),
            ("100::/64", "100::ffff:ffff:ffff:ffff", Some("100:0:0:2::1")),
            ("100:0:0:1::/64", "100:0:0:1::1", None),
            ("2001::/23", "2001:1ff:ffff::1", Some("2001:200::1")),
            ("2001::/32", "2001:0:ffff::1", None),
            ("2001:2::/48", "2001:2::1", None),
            ("2001:db8::/32", "2001:db8:ffff::1", Some("2001:db9::1")),
            ("2002::/16", "2002:ffff::1", Some("2003::1")),
            ("2620:4f:8000::/48", "2620:4f:8000::1", Some("2620:4f:8001::1")),
            ("3fff::/20", "3fff:fff::1", Some("3fff:1000::1")),
            ("5f00::/16", "5f00:ffff::1", Some("5f01::1")),
            ("fc00::/7", "fdff::1", Some("fbff::1")),
            ("fe80::/10", "febf::1", Some("fe7f::1")),
            ("fec0::/10", "feff::1", None),
            ("ff00::/8", "ffff::1", None),
        ];
        for (row, inside, outside) in rows {
            let url = format!("https://[{inside}]/hook");
            assert!(check_webhook_url(&url, UrlPolicy::PRODUCTION).is_err(), "{row}: {inside} was accepted");
            if let Some(outside) = outside {
                let url = format!("https://[{outside}]/hook");
                assert!(check_webhook_url(&url, UrlPolicy::PRODUCTION).is_ok(), "{row}: {outside} was refused");
            }
        }
        assert_eq!(rows.len(), IPV6_SPECIAL_PURPOSE.len(), "a registry row without a test");
    }

    #[test]
    fn addresses_that_embed_ipv4_are_refused_and_say_so() {
        for (raw, word) in [
            ("https://[2002:7f00:1::]/", "6to4"),
            ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
            ("https://[64:ff9b::7f00:1]/", "NAT64"),
            ("https://[::ffff:0:7f00:1]/", "IPv4-translated"),
        ] {
            let error = check_webhook_url(raw, UrlPolicy::PRODUCTION).unwrap_err();
            assert!(error.contains(word), "{raw}: {error}");
        }
    }

    #[test]
    fn refusals_say_why() {
        let error = check_webhook_url("https://0x7f.0.0.1/hook", UrlPolicy::PRODUCTION).unwrap_err();
        assert!(error.contains("loopback") && error.contains("127.0.0.1"), "{error}");
        let error = check_webhook_url("https://[::ffff:10.0.0.1]/", UrlPolicy::PRODUCTION).unwrap_err();
        assert!(error.contains("IPv4-mapped"), "{error}");
    }
}
