//! The wall clock: seconds since the epoch, and dates for people (UTC, no time zone data
//! needed: the NixOS installer and the static binary have none to rely on).

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A unix time as `YYYY-MM-DD HH:MM` (UTC).
pub(crate) fn utc_date(t: u64) -> String {
    let (days, secs) = ((t / 86_400) as i64, t % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// A unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc_seconds(t: u64) -> String {
    format!("{}:{:02} UTC", utc_date(t), t % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00");
        assert_eq!(utc_date(1_793_491_200), "2026-11-01 00:00");
        assert_eq!(utc_date(951_782_400 + 3600 * 13 + 60 * 7), "2000-02-29 13:07");
        assert_eq!(utc_seconds(951_782_400 + 3600 * 13 + 60 * 7 + 9), "2000-02-29 13:07:09 UTC");
        assert!(now() > 1_700_000_000);
    }
}
