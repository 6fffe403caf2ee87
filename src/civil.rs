//! Calendar dates in UTC for expiry input and display, as pure functions of Unix time
//! (Howard Hinnant's days-from-civil algorithms; proleptic Gregorian calendar).

use crate::UnixTime;

const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a calendar date.
#[must_use]
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date (year, month, day) of a day count since 1970-01-01.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Parses `YYYY-MM-DD` (what `<input type="date">` sends) into the Unix time of the
/// end of that day (the last second of it), so a credential "expires on" the date given
/// stays valid through it.
#[must_use]
pub fn parse_date_end_of_day(input: &str) -> Option<UnixTime> {
    let mut parts = input.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject 2027-02-30 and friends: the date must round-trip.
    (civil_from_days(days) == (year, month, day)).then_some((days + 1) * SECS_PER_DAY - 1)
}

/// `YYYY-MM-DD` of a Unix time (UTC).
#[must_use]
pub fn format_date(at: UnixTime) -> String {
    let (y, m, d) = civil_from_days(at.div_euclid(SECS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time.
#[must_use]
pub fn format_date_time(at: UnixTime) -> String {
    let secs = at.rem_euclid(SECS_PER_DAY);
    format!(
        "{} {:02}:{:02} UTC",
        format_date(at),
        secs / 3600,
        secs % 3600 / 60
    )
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
#[must_use]
pub fn format_rfc3339(at: UnixTime) -> String {
    let secs = at.rem_euclid(SECS_PER_DAY);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_date(at),
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses an RFC 3339 time (`2026-11-30T12:00:00Z`, `…+02:00`, fractional seconds
/// ignored) or a date (`2026-11-30`: its start in UTC) into Unix time.
#[must_use]
pub fn parse_rfc3339(input: &str) -> Option<UnixTime> {
    let input = input.trim();
    let num = |s: &str| -> Option<i64> {
        s.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
        s.parse().ok()
    };
    let (date, time) = match input.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (input, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (
        num(parts.next()?)?,
        u32::try_from(num(parts.next()?)?).ok()?,
        u32::try_from(num(parts.next()?)?).ok()?,
    );
    if date.len() != 10 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let day_start = days_from_civil(y, m, d) * SECS_PER_DAY;
    let Some(time) = time else {
        return Some(day_start);
    };
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, o) = time.split_at(at);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':')?;
        let (oh, om) = (num(oh)?, num(om)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60))
    };
    let clock = clock.split('.').next()?;
    let mut hms = clock.splitn(3, ':');
    let (h, mi, s) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    if clock.len() != 8 || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(day_start + h * 3600 + mi * 60 + s - offset)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
        for days in -1000..80_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn dates_parse_to_the_end_of_the_day_and_impossible_ones_are_refused() {
        assert_eq!(parse_date_end_of_day("1970-01-01"), Some(86_399));
        assert_eq!(
            format_date_time(parse_date_end_of_day("2026-11-29").unwrap_or(0)),
            "2026-11-29 23:59 UTC"
        );
        for bad in [
            "2027-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1",
            "tomorrow",
            "",
            "1969-12-31",
        ] {
            assert_eq!(parse_date_end_of_day(bad), None, "{bad}");
        }
        assert!(parse_date_end_of_day("2028-02-29").is_some());
    }

    #[test]
    fn rfc3339_has_seconds_and_zulu() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_964_399), "2026-11-29T14:59:59Z");
    }

    #[test]
    fn rfc3339_times_read_back() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-30"),
            Some(days_from_civil(2026, 11, 30) * 86_400)
        );
        assert_eq!(
            parse_rfc3339("2026-11-30T12:00:00+02:00"),
            parse_rfc3339("2026-11-30T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-30T10:00:00.123Z"),
            parse_rfc3339("2026-11-30T10:00:00Z")
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "2026-11-30T25:00:00Z",
            "yesterday",
            "2026-11-30T10:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
