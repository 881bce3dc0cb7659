//! A session's minutes, by the rules every Clocky export shares, and the ways formats write them.

use clocky_rules::figures::{BreakSpan, SessionFigures, SessionSpan, session_figures};

use crate::SessionRecord;

/// The session's duration, break minutes and net worked minutes, exactly as the JSON export
/// shows them: breaks clamped into the session, whole minutes rounded down, none while active.
pub fn of_session(session: &SessionRecord) -> SessionFigures {
    let span = SessionSpan {
        checked_in_at: session.checked_in_at,
        checked_out_at: session.checked_out_at,
    };
    let breaks = session.breaks.iter().map(|record| BreakSpan {
        started_at: record.started_at,
        ended_at: record.ended_at,
    });
    session_figures(span, breaks)
}

/// Minutes as decimal hours with two decimals, rounded half up: 90 → `1.50`, 1 → `0.02`.
/// Worked out on integers, so no float ever prints as `1.4999999`.
pub fn decimal_hours(minutes: u64) -> String {
    let hundredths = minutes.saturating_mul(100).saturating_add(30) / 60;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// Minutes as `HH:MM:SS`: 90 → `01:30:00`. Hours grow past two digits when they must.
pub fn hh_mm_ss(minutes: u64) -> String {
    format!("{:02}:{:02}:00", minutes / 60, minutes % 60)
}

/// Minutes as `H:MM`: 90 → `1:30`, 5 → `0:05`.
pub fn h_mm(minutes: u64) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_half_up_on_integers() {
        // 1 min = 0.01666 h → 0.02; 2 min = 0.0333 → 0.03; 29 min = 0.48333 → 0.48;
        // 45 min = 0.75 exactly; 0.5 min cannot occur; 3 min = 0.05 exactly.
        let cases = [
            (0, "0.00"),
            (1, "0.02"),
            (2, "0.03"),
            (3, "0.05"),
            (29, "0.48"),
            (45, "0.75"),
            (90, "1.50"),
            (510, "8.50"),
        ];
        for (minutes, hours) in cases {
            assert_eq!(decimal_hours(minutes), hours, "{minutes} minutes");
        }
    }

    #[test]
    fn clock_durations() {
        assert_eq!(hh_mm_ss(0), "00:00:00");
        assert_eq!(hh_mm_ss(450), "07:30:00");
        assert_eq!(hh_mm_ss(6_000), "100:00:00");
        assert_eq!(h_mm(5), "0:05");
        assert_eq!(h_mm(480), "8:00");
    }
}
