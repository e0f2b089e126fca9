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

/// Checks a receiver URL, returning it parsed, or why it is refused.
pub fn check_webhook_url(raw: &str, policy: UrlPolicy) -> Result<Url, String> {
    if raw.len() > 2048 {
        return Err("must be at most 2048 characters".into());
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
    } else if (a == 192 && b == 0 && (c == 0 || c == 2)) || (a == 198 && (b == 18 || b == 19)) {
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

fn check_v6(ip: Ipv6Addr, policy: UrlPolicy) -> Result<(), String> {
    if ip.is_loopback() && policy.allow_loopback {
        return Ok(());
    }
    let segments = ip.segments();
    let reason = if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.to_ipv4_mapped().is_some() {
        Some("an IPv4-mapped address")
    } else if segments[..6] == [0; 6] {
        Some("an IPv4-compatible address")
    } else if segments[0] == 0x64 && segments[1] == 0xff9b {
        Some("a NAT64 address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("a unique local address")
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        Some("a link-local address")
    } else if segments[0] & 0xff00 == 0xff00 {
        Some("a multicast address")
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("a documentation address")
    } else {
        None
    };
    match reason {
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

    #[test]
    fn refusals_say_why() {
        let error = check_webhook_url("https://0x7f.0.0.1/hook", UrlPolicy::PRODUCTION).unwrap_err();
        assert!(error.contains("loopback") && error.contains("127.0.0.1"), "{error}");
        let error = check_webhook_url("https://[::ffff:10.0.0.1]/", UrlPolicy::PRODUCTION).unwrap_err();
        assert!(error.contains("IPv4-mapped"), "{error}");
    }
}
