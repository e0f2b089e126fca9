//! The API lifecycle: deprecations and sunsets, declared once, here, next to
//! the route table. The headers a deprecated route answers with (RFC 9745
//! `Deprecation`, RFC 8594 `Sunset`, `Link`), the 410 after its sunset, the
//! `deprecated` marks in `/openapi.json`, the calendar, the RSS feed and the
//! migration playbooks are all derived from [`DEPRECATIONS`].
//!
//! Pure: callers pass the time in.

use serde::{Deserialize, Serialize};

use crate::routes::RouteId;
pub use crate::time::{http_date, rfc3339};

/// One day in seconds.
const DAY: u64 = 86_400;

/// The notices every deprecation gets, in days before its sunset (T-30, T-14, T-7, T-1).
pub const NOTICE_DAYS: [u64; 4] = [30, 14, 7, 1];

/// One deprecated route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// A stable id for links, the feed and `?id=`.
    pub id: &'static str,
    pub route: RouteId,
    /// Unix seconds: from then on the route answers with `Deprecation`.
    pub deprecated_at: u64,
    /// Unix seconds: from then on the route answers 410 `endpoint_sunset`.
    pub sunset_at: u64,
    pub replacement: RouteId,
    pub reason: &'static str,
    /// What a partner changes, step by step.
    pub migration: &'static [&'static str],
}

/// Every deprecation. Adding one here is all it takes: headers, the 410,
/// OpenAPI, the calendar, the feed and the playbooks follow.
pub const DEPRECATIONS: &[Deprecation] = &[
    Deprecation {
        id: "user-lookup",
        route: RouteId::LookupPartnerUser,
        deprecated_at: 1_793_491_200, // 2026-11-01T00:00:00Z
        sunset_at: 1_814_313_600,     // 2027-06-30T00:00:00Z
        replacement: RouteId::GetPartnerUser,
        reason: "One route per resource: users are read at /api/partner/users/{user_id}.",
        migration: &[
            "Replace `GET /api/partner/user-lookup?user_id=ID` with `GET /api/partner/users/ID`.",
            "The answer is the same user object; no field changes.",
            "Sign the new path: the canonical string covers the path and query exactly as sent.",
            "Watch GET /api/partner/deprecations until this route no longer appears for your key.",
        ],
    },
    Deprecation {
        id: "wallet-info",
        route: RouteId::WalletInfo,
        deprecated_at: 1_793_491_200, // 2026-11-01T00:00:00Z
        sunset_at: 1_814_313_600,     // 2027-06-30T00:00:00Z
        replacement: RouteId::GetUserWallet,
        reason: "Wallets belong to users: read one at /api/partner/users/{user_id}/wallets/{address}.",
        migration: &[
            "Keep the user id you linked the wallet to (POST /api/partner/users/{user_id}/wallets answers it).",
            "Replace `GET /api/partner/wallet-info/ADDRESS` with `GET /api/partner/users/USER/wallets/ADDRESS`.",
            "The answer is the wallet object; its owner is the user in the path.",
            "Watch GET /api/partner/deprecations until this route no longer appears for your key.",
        ],
    },
];

/// Declarations that do not hold do not build: a sunset after its
/// deprecation, and at least 30 days between them, so every notice fits.
const _: () = {
    let mut i = 0;
    while i < DEPRECATIONS.len() {
        let d = &DEPRECATIONS[i];
        assert!(d.sunset_at > d.deprecated_at, "a sunset must come after its deprecation");
        assert!(d.sunset_at - d.deprecated_at >= 30 * DAY, "a deprecation must leave time for the T-30 notice");
        i += 1;
    }
};

/// Where a route is in its life at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Announced,
    Deprecated,
    Sunset,
}

impl Deprecation {
    pub fn of(route: RouteId) -> Option<&'static Deprecation> {
        DEPRECATIONS.iter().find(|d| d.route == route)
    }

    pub fn by_id(id: &str) -> Option<&'static Deprecation> {
        DEPRECATIONS.iter().find(|d| d.id == id)
    }

    /// `GET /api/partner/user-lookup`, as partners name endpoints.
    pub fn endpoint(&self) -> String {
        let route = self.route.route();
        format!("{} {}", route.method.as_str(), route.path)
    }

    pub fn replacement_endpoint(&self) -> String {
        let route = self.replacement.route();
        format!("{} {}", route.method.as_str(), route.path)
    }

    pub fn phase(&self, now: u64) -> Phase {
        if now >= self.sunset_at {
            Phase::Sunset
        } else if now >= self.deprecated_at {
            Phase::Deprecated
        } else {
            Phase::Announced
        }
    }

    /// The notices (T-30, T-14, T-7, T-1), with the unix second each goes out.
    pub fn notices(&self) -> Vec<(u64, u64)> {
        NOTICE_DAYS.iter().map(|days| (*days, self.sunset_at - days * DAY)).collect()
    }

    /// The headers a call at `now` gets: `Deprecation` (RFC 9745, a
    /// structured-field date) once deprecated, and always `Sunset` (RFC 8594,
    /// an HTTP-date) and the `Link`s to the calendar and the playbook.
    pub fn headers(&self, now: u64) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if self.phase(now) != Phase::Announced {
            headers.push(("Deprecation", format!("@{}", self.deprecated_at)));
        }
        headers.push(("Sunset", http_date(self.sunset_at)));
        headers.push((
            "Link",
            format!(
                "</developers/deprecations.json#{id}>; rel=\"deprecation\"; type=\"application/json\", \
                 </developers/deprecations-playbook.md#{id}>; rel=\"sunset\"; type=\"text/markdown\"",
                id = self.id
            ),
        ));
        headers
    }

    /// One calendar row, at `now`.
    pub fn entry(&self, now: u64) -> DeprecationEntry {
        DeprecationEntry {
            id: self.id.to_owned(),
            endpoint: self.endpoint(),
            operation_id: self.route.route().operation_id.to_owned(),
            replacement: self.replacement_endpoint(),
            replacement_operation_id: self.replacement.route().operation_id.to_owned(),
            deprecated_at: rfc3339(self.deprecated_at),
            sunset_at: rfc3339(self.sunset_at),
            phase: self.phase(now),
            days_until_sunset: self.sunset_at.saturating_sub(now).div_ceil(DAY),
            reason: self.reason.to_owned(),
            notices: self
                .notices()
                .into_iter()
                .map(|(days, at)| Notice { label: format!("T-{days}"), at: rfc3339(at), sent: at <= now })
                .collect(),
            migration: self.migration.iter().map(|step| (*step).to_owned()).collect(),
        }
    }
}

/// A row of `/developers/deprecations.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeprecationEntry {
    pub id: String,
    /// `METHOD /path`.
    pub endpoint: String,
    pub operation_id: String,
    pub replacement: String,
    pub replacement_operation_id: String,
    /// RFC 3339.
    pub deprecated_at: String,
    /// RFC 3339.
    pub sunset_at: String,
    pub phase: Phase,
    pub days_until_sunset: u64,
    pub reason: String,
    pub notices: Vec<Notice>,
    pub migration: Vec<String>,
}

/// One of a deprecation's scheduled notices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Notice {
    /// `T-30`, `T-14`, `T-7`, `T-1`.
    pub label: String,
    /// RFC 3339.
    pub at: String,
    /// Whether its date has passed.
    pub sent: bool,
}

/// `/developers/deprecations.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Calendar {
    /// RFC 3339: when this answer was made.
    pub generated_at: String,
    pub deprecations: Vec<DeprecationEntry>,
}

pub fn calendar(now: u64) -> Calendar {
    Calendar { generated_at: rfc3339(now), deprecations: DEPRECATIONS.iter().map(|d| d.entry(now)).collect() }
}

/// What `GET /api/public/deprecations/header-simulator` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SimulatedHeaders {
    pub id: String,
    pub endpoint: String,
    /// RFC 3339: the moment simulated.
    pub at: String,
    pub phase: Phase,
    /// The status a call would get: the route's own, or 410 after the sunset.
    pub status: u16,
    pub headers: Vec<SimulatedHeader>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SimulatedHeader {
    pub name: String,
    pub value: String,
}

/// The headers and status a call to a deprecated route would get at `at`.
pub fn simulate(deprecation: &Deprecation, at: u64) -> SimulatedHeaders {
    let phase = deprecation.phase(at);
    SimulatedHeaders {
        id: deprecation.id.to_owned(),
        endpoint: deprecation.endpoint(),
        at: rfc3339(at),
        phase,
        status: if phase == Phase::Sunset { 410 } else { deprecation.route.route().success_status },
        headers: deprecation
            .headers(at)
            .into_iter()
            .map(|(name, value)| SimulatedHeader { name: name.to_owned(), value })
            .collect(),
    }
}

/// How far back usage is reported, in days.
pub const USAGE_DAYS: u64 = 30;

/// Days since 1970-01-01 of unix seconds.
pub fn day_of(unix: u64) -> u64 {
    unix / DAY
}

/// Which side of a migration a route is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Deprecated,
    Replacement,
}

/// The deprecation a route takes part in, and on which side.
pub fn tracked(route: RouteId) -> Option<(&'static Deprecation, Side)> {
    DEPRECATIONS.iter().find_map(|d| {
        if d.route == route {
            Some((d, Side::Deprecated))
        } else if d.replacement == route {
            Some((d, Side::Replacement))
        } else {
            None
        }
    })
}

/// `GET /api/partner/deprecations`: one deprecated route the calling key used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PartnerUsage {
    pub id: String,
    pub endpoint: String,
    pub replacement: String,
    /// Calls by this key over the last 30 days.
    pub calls_30d: u64,
    /// The day (RFC 3339 date) of the last call.
    pub last_called_on: String,
    /// RFC 3339.
    pub sunset_at: String,
    pub days_until_sunset: u64,
}

/// The key's usage, in calendar order, from what its gate counted.
pub fn partner_usage(counted: &[(String, u64, u64)], now: u64) -> Vec<PartnerUsage> {
    DEPRECATIONS
        .iter()
        .filter_map(|d| {
            let (_, calls, last_day) = counted.iter().find(|(id, calls, _)| id == d.id && *calls > 0)?;
            Some(PartnerUsage {
                id: d.id.to_owned(),
                endpoint: d.endpoint(),
                replacement: d.replacement_endpoint(),
                calls_30d: *calls,
                last_called_on: rfc3339(last_day * DAY)[..10].to_owned(),
                sunset_at: rfc3339(d.sunset_at),
                days_until_sunset: d.sunset_at.saturating_sub(now).div_ceil(DAY),
            })
        })
        .collect()
}

/// Calls to a deprecated route and to its replacement on one day, across partners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MigrationDay {
    /// RFC 3339 date.
    pub date: String,
    pub deprecated_calls: u64,
    pub replacement_calls: u64,
}

/// `/developers/migration-status.json`: how far traffic has moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MigrationStatus {
    pub id: String,
    pub endpoint: String,
    pub replacement: String,
    /// The last 30 days that saw calls, oldest first.
    pub days: Vec<MigrationDay>,
    /// Share of the last 30 days' calls that went to the replacement, 0 to 1
    /// (1 when there were none).
    pub migrated_share: f64,
}

/// Builds the migration status from per-day counts `(day, side, calls)`.
pub fn migration_status(deprecation: &Deprecation, counts: &[(u64, Side, u64)]) -> MigrationStatus {
    let mut days: std::collections::BTreeMap<u64, (u64, u64)> = std::collections::BTreeMap::new();
    for (day, side, calls) in counts {
        let entry = days.entry(*day).or_default();
        match side {
            Side::Deprecated => entry.0 += calls,
            Side::Replacement => entry.1 += calls,
        }
    }
    let (old, new) = days.values().fold((0u64, 0u64), |(a, b), (x, y)| (a + x, b + y));
    MigrationStatus {
        id: deprecation.id.to_owned(),
        endpoint: deprecation.endpoint(),
        replacement: deprecation.replacement_endpoint(),
        days: days
            .into_iter()
            .map(|(day, (old, new))| MigrationDay {
                date: rfc3339(day * DAY)[..10].to_owned(),
                deprecated_calls: old,
                replacement_calls: new,
            })
            .collect(),
        migrated_share: if old + new == 0 { 1.0 } else { new as f64 / (old + new) as f64 },
    }
}

/// Counts one call to a route that takes part in a migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCall {
    pub deprecation_id: String,
    pub side: Side,
    pub day: u64,
}

/// Per-day counts of one deprecation since a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMigration {
    pub deprecation_id: String,
    pub since_day: u64,
}

crate::object_commands! {
    /// What the worker asks the global `RouteUsage` object.
    pub enum UsageCommand {
        Record(RecordCall) => bool,
        Read(ReadMigration) => Vec<(u64, Side, u64)>,
    }
}

/// `?id=` of the migration status.
pub fn parse_migration_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<&'static Deprecation>, crate::partner::FieldError> {
    use crate::partner::FieldError;
    let mut selected: Vec<&'static Deprecation> = DEPRECATIONS.iter().collect();
    for (name, value) in pairs {
        match name {
            "id" => {
                let one = Deprecation::by_id(value).ok_or_else(|| {
                    FieldError::new("id", "is not a deprecation id; see /developers/deprecations.json")
                })?;
                selected = vec![one];
            }
            other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
        }
    }
    Ok(selected)
}

/// `?id=&endpoint=&at=` of the header simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimulatorQuery {
    pub id: Option<String>,
    pub endpoint: Option<String>,
    pub at: Option<u64>,
}

impl SimulatorQuery {
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, crate::partner::FieldError> {
        use crate::partner::FieldError;
        let mut query = SimulatorQuery::default();
        for (name, value) in pairs {
            match name {
                "id" if DEPRECATIONS.iter().any(|d| d.id == value) => query.id = Some(value.to_owned()),
                "id" => {
                    return Err(FieldError::new("id", "is not a deprecation id; see /developers/deprecations.json"))
                }
                "endpoint" if DEPRECATIONS.iter().any(|d| d.endpoint() == value) => {
                    query.endpoint = Some(value.to_owned());
                }
                "endpoint" => {
                    return Err(FieldError::new("endpoint", "is not a deprecated endpoint (`METHOD /path`)"));
                }
                "at" => {
                    let at = crate::contract::bounded_number(value, 0..=crate::contract::MAX_UNIX_SECONDS)
                        .ok_or_else(|| FieldError::new("at", "must be unix seconds, at most the end of year 9999"))?;
                    query.at = Some(at);
                }
                other => return Err(FieldError::new("query", format!("unknown parameter `{other}`"))),
            }
        }
        Ok(query)
    }

    /// The simulations it asks for, at `at` or `now`.
    pub fn run(&self, now: u64) -> Vec<SimulatedHeaders> {
        let at = self.at.unwrap_or(now);
        DEPRECATIONS
            .iter()
            .filter(|d| self.id.as_deref().is_none_or(|id| d.id == id))
            .filter(|d| self.endpoint.as_deref().is_none_or(|endpoint| d.endpoint() == endpoint))
            .map(|d| simulate(d, at))
            .collect()
    }
}

/// `/developers/deprecations.rss`: an item per deprecation, and one per
/// notice whose date has come, newest first. `base` is the edge's origin
/// (`https://edge.example.com`), for the absolute links RSS wants.
pub fn rss_feed(now: u64, base: &str) -> String {
    use rss::{ChannelBuilder, GuidBuilder, ItemBuilder};
    let mut items: Vec<(u64, rss::Item)> = Vec::new();
    for d in DEPRECATIONS {
        let anchor = format!("{base}/developers/deprecations-playbook.md#{}", d.id);
        if d.deprecated_at <= now {
            items.push((
                d.deprecated_at,
                ItemBuilder::default()
                    .title(Some(format!("Deprecated: {} (sunset {})", d.endpoint(), rfc3339(d.sunset_at))))
                    .link(Some(anchor.clone()))
                    .description(Some(format!(
                        "{} Use {} instead. From {} it answers 410 endpoint_sunset.",
                        d.reason,
                        d.replacement_endpoint(),
                        rfc3339(d.sunset_at)
                    )))
                    .guid(Some(
                        GuidBuilder::default().value(format!("{base}/deprecations/{}", d.id)).permalink(false).build(),
                    ))
                    .pub_date(Some(http_date(d.deprecated_at)))
                    .build(),
            ));
        }
        for (days, at) in d.notices().into_iter().filter(|(_, at)| *at <= now) {
            items.push((
                at,
                ItemBuilder::default()
                    .title(Some(format!("T-{days}: {} stops answering in {days} days", d.endpoint())))
                    .link(Some(anchor.clone()))
                    .description(Some(format!(
                        "{} is sunset on {}. Move to {} now; the playbook has the steps.",
                        d.endpoint(),
                        rfc3339(d.sunset_at),
                        d.replacement_endpoint()
                    )))
                    .guid(Some(
                        GuidBuilder::default()
                            .value(format!("{base}/deprecations/{}/t-{days}", d.id))
                            .permalink(false)
                            .build(),
                    ))
                    .pub_date(Some(http_date(at)))
                    .build(),
            ));
        }
    }
    items.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    ChannelBuilder::default()
        .title("Partner Edge API deprecations")
        .link(format!("{base}/developers/deprecations.json"))
        .description("Deprecated endpoints, their sunsets and the notices before them.")
        .language(Some("en".to_owned()))
        .last_build_date(Some(http_date(now)))
        .items(items.into_iter().map(|(_, item)| item).collect::<Vec<_>>())
        .build()
        .to_string()
}

/// The migration playbook as Markdown: one section per deprecated endpoint.
pub fn playbook_markdown(now: u64) -> String {
    let mut text = String::from(
        "# Deprecation playbook\n\nGenerated from the edge's lifecycle declarations. \
         Machine-readable: /developers/deprecations.json and /developers/deprecations-playbook.json; \
         subscribe to /developers/deprecations.rss.\n",
    );
    if DEPRECATIONS.is_empty() {
        text.push_str("\nNo endpoint sunsets are scheduled.\n");
    }
    for d in DEPRECATIONS {
        let entry = d.entry(now);
        text.push_str(&format!(
            "\n<a id=\"{id}\"></a>\n## {endpoint}\n\n- Replacement: `{replacement}`\n- Deprecated: {dep}\n\
             - Sunset: {sunset} (then 410 `endpoint_sunset`)\n- Phase now: {phase:?}, {days} days to the sunset\n\
             - Why: {reason}\n\n### Notices\n\n",
            id = d.id,
            endpoint = entry.endpoint,
            replacement = entry.replacement,
            dep = entry.deprecated_at,
            sunset = entry.sunset_at,
            phase = entry.phase,
            days = entry.days_until_sunset,
            reason = entry.reason,
        ));
        for notice in &entry.notices {
            let mark = if notice.sent { "x" } else { " " };
            text.push_str(&format!("- [{mark}] {} on {}\n", notice.label, notice.at));
        }
        text.push_str("\n### Checklist\n\n");
        for step in &entry.migration {
            text.push_str(&format!("- [ ] {step}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: u64 = 1_790_000_000; // 2026-09-21
    const DURING: u64 = 1_800_000_000; // 2027-01-15
    const AFTER: u64 = 1_820_000_000; // 2027-09-04

    fn lookup() -> &'static Deprecation {
        Deprecation::by_id("user-lookup").unwrap()
    }

    #[test]
    fn a_route_moves_from_announced_to_deprecated_to_sunset() {
        let d = lookup();
        assert_eq!(d.phase(BEFORE), Phase::Announced);
        assert_eq!(d.phase(d.deprecated_at), Phase::Deprecated);
        assert_eq!(d.phase(DURING), Phase::Deprecated);
        assert_eq!(d.phase(d.sunset_at - 1), Phase::Deprecated);
        assert_eq!(d.phase(d.sunset_at), Phase::Sunset);
        assert_eq!(d.phase(AFTER), Phase::Sunset);
    }

    #[test]
    fn deprecation_headers_are_valid_structured_fields_and_http_dates() {
        let headers = lookup().headers(DURING);
        let value = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap();
        let deprecation = value("Deprecation");
        let item = sfv::Parser::new(&deprecation).parse_item::<sfv::Item>().expect("an RFC 9651 item");
        assert_eq!(item.bare_item, sfv::BareItem::Date(sfv::Date::from_unix_seconds(sfv::integer(1_793_491_200))));
        assert!(item.params.is_empty());
        let sunset = value("Sunset");
        let parsed = httpdate::parse_http_date(&sunset).expect("an HTTP-date");
        assert_eq!(parsed.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 1_814_313_600);
        let link = value("Link");
        assert!(link.contains("rel=\"deprecation\"") && link.contains("rel=\"sunset\""), "{link}");
        assert!(link.contains("deprecations.json#user-lookup"), "{link}");
        let before = lookup().headers(BEFORE);
        assert!(before.iter().all(|(n, _)| *n != "Deprecation"), "no Deprecation header before the date");
        assert!(before.iter().any(|(n, _)| *n == "Sunset"), "a Sunset is announced before the deprecation");
    }

    #[test]
    fn the_simulator_shows_the_410_after_the_sunset() {
        let during = simulate(lookup(), DURING);
        assert_eq!((during.phase, during.status), (Phase::Deprecated, 200));
        let after = simulate(lookup(), AFTER);
        assert_eq!((after.phase, after.status), (Phase::Sunset, 410));
    }

    #[test]
    fn the_simulator_filters_by_id_and_endpoint_and_refuses_what_it_does_not_know() {
        let all = SimulatorQuery::parse([("at", "1800000000")]).unwrap().run(0);
        assert_eq!(all.len(), DEPRECATIONS.len());
        let one = SimulatorQuery::parse([("id", "wallet-info")]).unwrap().run(AFTER);
        assert_eq!((one.len(), one[0].status), (1, 410));
        let mismatch =
            SimulatorQuery::parse([("id", "wallet-info"), ("endpoint", "GET /api/partner/user-lookup")]).unwrap();
        assert!(mismatch.run(DURING).is_empty());
        for (name, value) in
            [("id", "nope"), ("endpoint", "GET /x"), ("at", "-1"), ("at", "+5"), ("at", "99999999999999"), ("x", "1")]
        {
            let error = SimulatorQuery::parse([(name, value)]).unwrap_err();
            assert!(error.field == name || error.field == "query", "{name}={value}: {error:?}");
        }
    }

    #[test]
    fn the_feed_is_rss_2_with_an_item_per_deprecation_and_notice_that_has_come() {
        let feed = rss_feed(lookup().sunset_at - 10 * DAY, "https://edge.example.com");
        let channel: rss::Channel = feed.parse().expect("well-formed RSS");
        assert_eq!(channel.title(), "Partner Edge API deprecations");
        // Two deprecations, each with its announcement and the T-30 and T-14 notices.
        assert_eq!(channel.items().len(), 6, "{feed}");
        assert!(channel.items()[0].title().unwrap().starts_with("T-14"), "newest first");
        assert!(channel.items().iter().all(|item| item.link().unwrap().starts_with("https://edge.example.com/")));
        let before = rss_feed(BEFORE, "https://edge.example.com").parse::<rss::Channel>().unwrap();
        assert!(before.items().is_empty(), "nothing is announced before its date");
    }

    #[test]
    fn routes_are_tracked_on_their_side_of_a_migration() {
        assert_eq!(
            tracked(RouteId::LookupPartnerUser).map(|(d, s)| (d.id, s)),
            Some(("user-lookup", Side::Deprecated))
        );
        assert_eq!(tracked(RouteId::GetPartnerUser).map(|(d, s)| (d.id, s)), Some(("user-lookup", Side::Replacement)));
        assert_eq!(tracked(RouteId::PartnerMe), None);
    }

    #[test]
    fn migration_status_sums_days_and_the_share_that_moved() {
        let day = day_of(DURING);
        let status = migration_status(
            lookup(),
            &[(day, Side::Deprecated, 3), (day, Side::Replacement, 1), (day + 1, Side::Replacement, 4)],
        );
        assert_eq!(status.days.len(), 2);
        assert_eq!((status.days[0].deprecated_calls, status.days[0].replacement_calls), (3, 1));
        assert!((status.migrated_share - 5.0 / 8.0).abs() < 1e-9);
        assert_eq!(migration_status(lookup(), &[]).migrated_share, 1.0);
    }

    #[test]
    fn partner_usage_lists_only_routes_the_key_called() {
        let usage = partner_usage(&[("wallet-info".to_owned(), 7, day_of(DURING))], DURING);
        assert_eq!(usage.len(), 1);
        assert_eq!((usage[0].id.as_str(), usage[0].calls_30d), ("wallet-info", 7));
        assert_eq!(usage[0].last_called_on, "2027-01-15");
        assert!(partner_usage(&[("user-lookup".to_owned(), 0, 1)], DURING).is_empty());
    }

    #[test]
    fn notices_fall_30_14_7_and_1_days_before_the_sunset() {
        let entry = lookup().entry(lookup().sunset_at - 10 * DAY);
        let labels: Vec<(&str, bool)> = entry.notices.iter().map(|n| (n.label.as_str(), n.sent)).collect();
        assert_eq!(labels, [("T-30", true), ("T-14", true), ("T-7", false), ("T-1", false)]);
        assert_eq!(entry.notices[0].at, "2027-05-31T00:00:00Z");
        assert_eq!(entry.days_until_sunset, 10);
    }

    #[test]
    fn every_deprecation_names_routes_in_the_table_and_the_playbook_covers_it() {
        let playbook = playbook_markdown(DURING);
        for d in DEPRECATIONS {
            assert_ne!(d.route, d.replacement);
            assert!(Deprecation::of(d.route).is_some());
            assert!(playbook.contains(&format!("<a id=\"{}\"></a>", d.id)), "{}", d.id);
            assert!(playbook.contains(&d.replacement_endpoint()));
        }
        let ids: std::collections::HashSet<&str> = DEPRECATIONS.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), DEPRECATIONS.len(), "ids are unique");
    }
}
