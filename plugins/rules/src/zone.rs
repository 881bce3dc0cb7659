//! Time zones and local wall-clock times.
//!
//! Users pick an IANA zone name such as `Europe/Berlin`. Clocky stores instants in UTC and only
//! converts at the edges: when it reads a time a person typed, and when it shows local dates.
//! A wall-clock time that a zone skips (the hour lost when clocks go forward) or repeats (the hour
//! gained when they go back) is refused rather than guessed, because a wrong guess silently
//! changes somebody's hours.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::{TZ_VARIANTS, Tz};
use thiserror::Error;

use crate::time::{Timestamp, format_utc};

/// How many close names an unknown zone's error suggests.
const SUGGESTIONS: usize = 3;

/// Why a zone name or a local time was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ZoneError {
    /// The name is not an IANA time zone.
    #[error("unknown time zone {name:?}; {}", hint(suggestions))]
    UnknownZone {
        /// What was typed.
        name: String,
        /// Real zone names that look like it, best first.
        suggestions: Vec<String>,
    },
    /// The wall-clock time does not exist in the zone (clocks jumped over it).
    #[error("{local} does not exist in {zone}: the clocks skip it for daylight saving time")]
    Nonexistent {
        /// What was typed.
        local: NaiveDateTime,
        /// The zone.
        zone: Tz,
    },
    /// The wall-clock time happens twice in the zone.
    #[error(
        "{local} happens twice in {zone} when the clocks go back ({} and {}); give the time with an offset instead",
        format_utc(*earlier),
        format_utc(*later)
    )]
    Ambiguous {
        /// What was typed.
        local: NaiveDateTime,
        /// The zone.
        zone: Tz,
        /// The first occurrence.
        earlier: Timestamp,
        /// The second occurrence.
        later: Timestamp,
    },
}

fn hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "use an IANA name such as Europe/Berlin, America/New_York or UTC".to_owned()
    } else {
        format!("did you mean {}?", suggestions.join(", "))
    }
}

/// Reads an IANA zone name exactly as written.
pub fn parse_zone(name: &str) -> Result<Tz, ZoneError> {
    name.parse::<Tz>().map_err(|_| ZoneError::UnknownZone {
        name: name.to_owned(),
        suggestions: suggest(name),
    })
}

/// Zone names that look like `typed`: the same name in other case, then names containing it.
pub fn suggest(typed: &str) -> Vec<String> {
    let wanted = typed.trim().to_lowercase().replace(' ', "_");
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut exact = Vec::new();
    let mut partial = Vec::new();
    for zone in TZ_VARIANTS {
        let name = zone.name();
        let lower = name.to_lowercase();
        if lower == wanted {
            exact.push(name.to_owned());
        } else if lower.contains(&wanted) {
            partial.push(name.to_owned());
        }
    }
    partial.sort_by_key(|name| name.len());
    exact.into_iter().chain(partial).take(SUGGESTIONS).collect()
}

/// The UTC instant of a wall-clock time in `zone`.
pub fn local_to_utc(zone: Tz, local: NaiveDateTime) -> Result<Timestamp, ZoneError> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => Ok(at.timestamp()),
        chrono::LocalResult::None => Err(ZoneError::Nonexistent { local, zone }),
        chrono::LocalResult::Ambiguous(earlier, later) => Err(ZoneError::Ambiguous {
            local,
            zone,
            earlier: earlier.timestamp(),
            later: later.timestamp(),
        }),
    }
}

/// The instant the local calendar day containing `at` began in `zone`: local midnight, or, where
/// the clocks skip midnight (some zones start daylight saving time at 00:00), the first minute
/// the day has. Where midnight happens twice, the first one.
pub fn local_day_start(zone: Tz, at: Timestamp) -> Timestamp {
    let Some(instant) = chrono::DateTime::from_timestamp(at, 0) else {
        return at;
    };
    let day = instant.with_timezone(&zone).date_naive();
    // A day's first existing minute lies within its first hours: no zone skips more than two.
    (0..=180)
        .filter_map(|minute| {
            let local = day.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(minute);
            zone.from_local_datetime(&local).earliest()
        })
        .map(|start| start.timestamp())
        .next()
        .unwrap_or(at)
        .min(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn known_zones_parse_and_unknown_ones_get_a_hint() {
        assert_eq!(parse_zone("Europe/Berlin").unwrap(), Tz::Europe__Berlin);
        let error = parse_zone("europe/berlin").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown time zone \"europe/berlin\"; did you mean Europe/Berlin?"
        );
        let error = parse_zone("Mars/Olympus").unwrap_err();
        assert!(
            matches!(&error, ZoneError::UnknownZone { suggestions, .. } if suggestions.is_empty())
        );
        assert!(error.to_string().contains("such as Europe/Berlin"));
    }

    #[test]
    fn partial_names_suggest_the_zone() {
        assert_eq!(suggest("new_york"), vec!["America/New_York".to_owned()]);
    }

    #[test]
    fn berlin_summer_and_winter_offsets() {
        // 2025-07-01 09:00 CEST (+2) is 07:00Z; 2025-01-15 09:00 CET (+1) is 08:00Z.
        let summer = local_to_utc(Tz::Europe__Berlin, local(2025, 7, 1, 9, 0)).unwrap();
        assert_eq!(format_utc(summer), "2025-07-01T07:00:00Z");
        let winter = local_to_utc(Tz::Europe__Berlin, local(2025, 1, 15, 9, 0)).unwrap();
        assert_eq!(format_utc(winter), "2025-01-15T08:00:00Z");
    }

    #[test]
    fn skipped_and_repeated_hours_are_refused() {
        // Berlin jumps from 02:00 to 03:00 on 2025-03-30 and repeats 02:00-03:00 on 2025-10-26.
        let error = local_to_utc(Tz::Europe__Berlin, local(2025, 3, 30, 2, 30)).unwrap_err();
        assert!(matches!(error, ZoneError::Nonexistent { .. }));
        let error = local_to_utc(Tz::Europe__Berlin, local(2025, 10, 26, 2, 30)).unwrap_err();
        assert_eq!(
            error,
            ZoneError::Ambiguous {
                local: local(2025, 10, 26, 2, 30),
                zone: Tz::Europe__Berlin,
                earlier: 1_761_438_600, // 2025-10-26T00:30:00Z, still CEST
                later: 1_761_442_200,   // 2025-10-26T01:30:00Z, CET
            }
        );
        // New York skips 02:00-03:00 on 2025-03-09.
        let error = local_to_utc(Tz::America__New_York, local(2025, 3, 9, 2, 15)).unwrap_err();
        assert!(matches!(error, ZoneError::Nonexistent { .. }));
    }

    #[test]
    fn a_local_day_starts_at_local_midnight_or_the_first_minute_it_has() {
        // 2025-01-15T17:00:00Z is 18:00 in Berlin (+1); the day began at 2025-01-14T23:00:00Z.
        let at = 1_736_960_400;
        assert_eq!(
            format_utc(local_day_start(Tz::Europe__Berlin, at)),
            "2025-01-14T23:00:00Z"
        );
        // The same instant is 12:00 in New York (-5); the day began at 05:00Z.
        assert_eq!(
            format_utc(local_day_start(Tz::America__New_York, at)),
            "2025-01-15T05:00:00Z"
        );
        // Kolkata (+5:30, no daylight saving time): 22:30 local, so the day began at 18:30Z.
        assert_eq!(
            format_utc(local_day_start(Tz::Asia__Kolkata, at)),
            "2025-01-14T18:30:00Z"
        );
        assert_eq!(
            format_utc(local_day_start(Tz::UTC, at)),
            "2025-01-15T00:00:00Z"
        );
        // Sao Paulo moved its clocks from 00:00 to 01:00 (-3 to -2) on 2018-11-04: that day began
        // at 01:00 local, 03:00Z. 2018-11-04T12:00:00Z is 1541332800.
        assert_eq!(
            format_utc(local_day_start(Tz::America__Sao_Paulo, 1_541_332_800)),
            "2018-11-04T03:00:00Z"
        );
        // Berlin repeats 02:00-03:00 on 2025-10-26, not midnight: at 12:00Z that day (13:00 CET)
        // the day began at 00:00 CEST, 2025-10-25T22:00:00Z.
        assert_eq!(
            format_utc(local_day_start(Tz::Europe__Berlin, 1_761_480_000)),
            "2025-10-25T22:00:00Z"
        );
    }
}
