//! Calendar dates and times in UTC for expiry input, display and the audit log, as
//! functions of Unix time, on the `time` crate.

use time::{
    Date, OffsetDateTime, format_description::BorrowedFormatItem,
    format_description::well_known::Rfc3339, macros::format_description,
};

use crate::UnixTime;

const DATE: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");
const DATE_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

/// The UTC date-time of a Unix time (clamped to years 1970–9999: what the dashboard,
/// the API and the database ever hold).
fn utc(at: UnixTime) -> OffsetDateTime {
    const LAST: UnixTime = 253_402_300_799; // 9999-12-31T23:59:59Z
    OffsetDateTime::from_unix_timestamp(at.clamp(0, LAST)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn format(at: UnixTime, format: &(impl time::formatting::Formattable + ?Sized)) -> String {
    // Years 1970–9999 always format; the fallback is unreachable.
    utc(at).format(format).unwrap_or_default()
}

/// Parses `YYYY-MM-DD` (what `<input type="date">` sends) into the Unix time of the
/// end of that day (the last second of it), so a credential "expires on" the date given
/// stays valid through it. Dates before 1970 and impossible ones (2027-02-29) are `None`.
#[must_use]
pub fn parse_date_end_of_day(input: &str) -> Option<UnixTime> {
    let date = Date::parse(input.trim(), DATE).ok()?;
    if date.year() < 1970 {
        return None;
    }
    Some(date.midnight().assume_utc().unix_timestamp() + 86_399)
}

/// `YYYY-MM-DD` of a Unix time (UTC).
#[must_use]
pub fn format_date(at: UnixTime) -> String {
    format(at, DATE)
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time.
#[must_use]
pub fn format_date_time(at: UnixTime) -> String {
    format(at, DATE_TIME)
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
#[must_use]
pub fn format_rfc3339(at: UnixTime) -> String {
    format(at, &Rfc3339)
}

/// Parses an RFC 3339 time (`2026-11-30T12:00:00Z`, `…+02:00`, fractional seconds
/// ignored) or a date (`2026-11-30`: its start in UTC) into Unix time.
#[must_use]
pub fn parse_rfc3339(input: &str) -> Option<UnixTime> {
    let input = input.trim();
    if let Ok(at) = OffsetDateTime::parse(input, &Rfc3339) {
        return Some(at.unix_timestamp());
    }
    let date = Date::parse(input, DATE).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(parse_date_end_of_day("9999-12-31"), Some(253_402_300_799));
    }

    #[test]
    fn dates_and_times_format_in_utc() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(20_786 * 86_400), "2026-11-29");
        assert_eq!(format_date_time(1_795_964_399), "2026-11-29 14:59 UTC");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_964_399), "2026-11-29T14:59:59Z");
    }

    #[test]
    fn rfc3339_times_read_back() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-30"), Some(20_787 * 86_400));
        assert_eq!(
            parse_rfc3339("2026-11-30T12:00:00+02:00"),
            parse_rfc3339("2026-11-30T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-30T10:00:00.123Z"),
            parse_rfc3339("2026-11-30T10:00:00Z")
        );
        for at in [0, 1_795_964_399, 253_402_300_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(at)), Some(at));
        }
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
