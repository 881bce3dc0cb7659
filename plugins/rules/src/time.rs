//! Instants. Clocky stores every instant as whole seconds since the Unix epoch in UTC and shows it
//! in exactly one form, `YYYY-MM-DDTHH:MM:SSZ`, so that exports sort as text and every reader
//! parses them the same way.

use chrono::{DateTime, Utc};

/// Whole seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// Seconds in a minute, for readers of the arithmetic below.
pub const SECONDS_PER_MINUTE: i64 = 60;

/// Formats an instant as `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Instants outside the years 0 to 9999 cannot be written in that form; they come out clamped to
/// the nearest representable second, which no real check-in reaches.
pub fn format_utc(at: Timestamp) -> String {
    let clamped = at.clamp(MIN_FORMATTABLE, MAX_FORMATTABLE);
    let instant = DateTime::<Utc>::from_timestamp(clamped, 0).unwrap_or_default();
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// 0000-01-01T00:00:00Z.
const MIN_FORMATTABLE: Timestamp = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
const MAX_FORMATTABLE: Timestamp = 253_402_300_799;

/// Whole minutes from `start` to `end`, rounded down; zero when `end` is not after `start`.
pub fn whole_minutes(start: Timestamp, end: Timestamp) -> u64 {
    let seconds = end.saturating_sub(start).max(0);
    u64::try_from(seconds / SECONDS_PER_MINUTE).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_guides_example_instant() {
        // 2025-01-15T15:45:00Z, worked out as 20103 days * 86400 + 15:45.
        assert_eq!(
            format_utc(20_103 * 86_400 + 15 * 3600 + 45 * 60),
            "2025-01-15T15:45:00Z"
        );
    }

    #[test]
    fn formats_the_epoch_and_pre_epoch_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn clamps_instants_beyond_year_9999() {
        assert_eq!(format_utc(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_utc(i64::MIN), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn whole_minutes_round_down_and_never_go_negative() {
        assert_eq!(whole_minutes(0, 59), 0);
        assert_eq!(whole_minutes(0, 60), 1);
        assert_eq!(whole_minutes(0, 119), 1);
        assert_eq!(whole_minutes(100, 40), 0);
        assert_eq!(
            whole_minutes(i64::MIN, i64::MAX),
            u64::try_from(i64::MAX / 60).unwrap()
        );
    }
}
