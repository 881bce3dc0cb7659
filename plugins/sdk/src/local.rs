//! The user's own time zone, for formats that show local dates and times (timesheet imports
//! expect the wall-clock time the user worked, not UTC).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clocky_rules::Timestamp;

/// The zone the user chose in Clocky. Clocky only stores names it accepted, so an unknown name
/// means a newer zone database on the host than in the plugin; such exports fall back to UTC and
/// say so through [`LocalZone::fell_back`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalZone {
    zone: Tz,
    fell_back: bool,
}

impl LocalZone {
    /// The zone named `name` (an IANA name such as `Europe/Berlin`), or UTC.
    pub fn named(name: &str) -> LocalZone {
        match clocky_rules::zone::parse_zone(name) {
            Ok(zone) => LocalZone {
                zone,
                fell_back: false,
            },
            Err(_) => LocalZone {
                zone: Tz::UTC,
                fell_back: true,
            },
        }
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.zone.name()
    }

    /// Whether the user's zone was unknown here and UTC is used instead.
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// The instant as a date and time on the user's clock.
    pub fn at(&self, at: Timestamp) -> DateTime<Tz> {
        DateTime::<Utc>::from_timestamp(at, 0)
            .unwrap_or_default()
            .with_timezone(&self.zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_wall_clock_times_follow_daylight_saving_time() {
        let berlin = LocalZone::named("Europe/Berlin");
        // 2025-01-15T09:00:00Z is 10:00 in winter (+1); 2025-07-15T09:00:00Z is 11:00 (+2).
        assert_eq!(
            berlin.at(1_736_931_600).format("%F %T").to_string(),
            "2025-01-15 10:00:00"
        );
        assert_eq!(
            berlin.at(1_752_570_000).format("%F %T").to_string(),
            "2025-07-15 11:00:00"
        );
        assert!(!berlin.fell_back());
    }

    #[test]
    fn an_unknown_zone_falls_back_to_utc_and_says_so() {
        let zone = LocalZone::named("Mars/Olympus_Mons");
        assert_eq!(zone.name(), "UTC");
        assert!(zone.fell_back());
        assert_eq!(
            zone.at(1_736_931_600).format("%F %T").to_string(),
            "2025-01-15 09:00:00"
        );
    }
}
