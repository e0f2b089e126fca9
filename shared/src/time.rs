//! Calendar arithmetic for timestamps the edge writes and reads: RFC 3339
//! and HTTP-dates (IMF-fixdate, RFC 9110). One place, so every date the edge
//! shows is computed the same way. Pure: callers pass the time in.

/// One day in seconds.
const DAY: u64 = 86_400;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month and day of a day count since 1970-01-01 (its inverse, civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `2026-11-01T00:00:00Z` for unix seconds.
pub fn rfc3339(unix: u64) -> String {
    let (year, month, day) = civil_from_days((unix / DAY) as i64);
    let rem = unix % DAY;
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2026-11-22T11:37:13.250Z` for unix milliseconds.
pub fn rfc3339_millis(unix_ms: u64) -> String {
    let seconds = rfc3339(unix_ms / 1000);
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), unix_ms % 1000)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for unix seconds.
pub fn http_date(unix: u64) -> String {
    let days = unix / DAY;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (year, month, day) = civil_from_days(days as i64);
    let rem = unix % DAY;
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds of an HTTP-date (IMF-fixdate), or `None` if it is not one.
pub fn parse_http_date(raw: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT". Every field has a fixed width and
    // range, so no value a receiver sends can overflow the arithmetic below.
    let rest = raw.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let digits = |text: &str, width: usize| -> Option<u64> {
        (text.len() == width && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
    };
    let day = u32::try_from(digits(day, 2)?).ok().filter(|d| (1..=31).contains(d))?;
    let year = i64::try_from(digits(year, 4)?).ok()?;
    let hms: Vec<u64> = time.split(':').map(|p| digits(p, 2)).collect::<Option<Vec<_>>>()?;
    let [h @ 0..=23, m @ 0..=59, s @ 0..=60] = hms.as_slice() else {
        return None;
    };
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339_and_http_dates() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(784_111_777_250), "1994-11-06T08:49:37.250Z");
        assert_eq!(rfc3339_millis(1_709_210_096_000), "2024-02-29T12:34:56.000Z");
        assert_eq!(rfc3339(1_793_491_200), "2026-11-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(1_814_313_600), "Wed, 30 Jun 2027 00:00:00 GMT");
    }

    #[test]
    fn http_dates_read_back_what_they_wrote() {
        for unix in [0, 784_111_777, 951_782_400, 1_814_313_600, 253_402_300_799] {
            assert_eq!(parse_http_date(&http_date(unix)), Some(unix), "{unix}");
        }
        assert_eq!(parse_http_date("soon"), None);
    }
}
