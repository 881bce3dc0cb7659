//! Minutes and statistics.
//!
//! Every figure is derived from stored instants by the same few rules:
//!
//! - a session's `duration_minutes` is the whole minutes from check-in to check-out, rounded
//!   down, and unknown while the session is active;
//! - a break counts only the part of it that lies inside its session, in whole minutes rounded
//!   down; a session's break minutes are the sum over its breaks;
//! - `net_worked_minutes` is duration minus breaks, never below zero, unknown while active;
//! - statistics are sums over the per-session figures, so a reader who adds up the rows of an
//!   export gets the totals printed beside them.

use crate::time::{Timestamp, whole_minutes};

/// Where a session stands, with the spelling the export uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Checked in, not yet out.
    Active,
    /// Checked out by the user.
    Completed,
    /// Closed by Clocky at check-in plus the configured maximum.
    AutoClosed,
}

impl Status {
    /// The word the export and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Completed => "completed",
            Status::AutoClosed => "auto-closed",
        }
    }

    /// Reads the stored word back.
    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "active" => Some(Status::Active),
            "completed" => Some(Status::Completed),
            "auto-closed" => Some(Status::AutoClosed),
            _ => None,
        }
    }
}

/// The two ends of a session as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpan {
    /// Check-in.
    pub checked_in_at: Timestamp,
    /// Check-out, or none while active.
    pub checked_out_at: Option<Timestamp>,
}

/// The two ends of a break as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakSpan {
    /// Start of the break.
    pub started_at: Timestamp,
    /// End of the break, or none while it runs.
    pub ended_at: Option<Timestamp>,
}

/// What an export shows for one break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakFigures {
    /// The end to show. A break left open in a session that has ended is taken to end with the
    /// session (check-out always ends a running break, so only imported data looks like this).
    pub ended_at: Option<Timestamp>,
    /// Minutes of the break inside its session; none while the break runs.
    pub duration_minutes: Option<u64>,
}

impl BreakFigures {
    /// `active` while the break runs, `completed` after.
    pub fn status(&self) -> &'static str {
        if self.ended_at.is_some() {
            "completed"
        } else {
            "active"
        }
    }
}

/// Works out one break's figures inside its session.
pub fn break_figures(session: SessionSpan, span: BreakSpan) -> BreakFigures {
    let Some(end) = span.ended_at.or(session.checked_out_at) else {
        return BreakFigures {
            ended_at: None,
            duration_minutes: None,
        };
    };
    let clamped_start = span.started_at.max(session.checked_in_at);
    let clamped_end = match session.checked_out_at {
        Some(out) => end.min(out),
        None => end,
    };
    BreakFigures {
        ended_at: Some(end),
        duration_minutes: Some(whole_minutes(clamped_start, clamped_end)),
    }
}

/// What an export shows for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFigures {
    /// Whole minutes from check-in to check-out; none while active.
    pub duration_minutes: Option<u64>,
    /// Sum of the minutes of the session's ended breaks, each clamped into the session.
    pub break_duration_minutes: u64,
    /// Duration minus breaks, never below zero; none while active.
    pub net_worked_minutes: Option<u64>,
}

/// Works out one session's figures from its breaks.
pub fn session_figures(
    session: SessionSpan,
    breaks: impl IntoIterator<Item = BreakSpan>,
) -> SessionFigures {
    let break_duration_minutes = breaks
        .into_iter()
        .filter_map(|span| break_figures(session, span).duration_minutes)
        .fold(0_u64, u64::saturating_add);
    let duration_minutes = session
        .checked_out_at
        .map(|out| whole_minutes(session.checked_in_at, out));
    SessionFigures {
        duration_minutes,
        break_duration_minutes,
        net_worked_minutes: duration_minutes
            .map(|minutes| minutes.saturating_sub(break_duration_minutes)),
    }
}

/// The statistics section of an export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statistics {
    /// Every session in the export, active ones included.
    pub total_sessions: u64,
    /// Sum of the net minutes of closed sessions.
    pub total_worked_minutes: u64,
    /// `total_worked_minutes / 60`, rounded half up to two decimals.
    pub total_worked_hours: f64,
    /// `total_worked_minutes` over the number of closed sessions, rounded half up to two
    /// decimals; 0 when no session is closed.
    pub average_session_minutes: f64,
    /// The largest net minutes of a closed session; 0 when none is closed.
    pub longest_session_minutes: u64,
    /// Sum of every session's break minutes.
    pub total_break_minutes: u64,
    /// How many servers the export lists.
    pub servers_count: u64,
}

/// Adds sessions one at a time, so a plugin never needs the whole history in memory to count it.
#[derive(Debug, Clone, Default)]
pub struct StatisticsBuilder {
    total_sessions: u64,
    closed_sessions: u64,
    total_worked_minutes: u64,
    longest_session_minutes: u64,
    total_break_minutes: u64,
}

impl StatisticsBuilder {
    /// Starts with nothing counted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one session's figures.
    pub fn add(&mut self, figures: &SessionFigures) {
        self.total_sessions += 1;
        self.total_break_minutes = self
            .total_break_minutes
            .saturating_add(figures.break_duration_minutes);
        if let Some(net) = figures.net_worked_minutes {
            self.closed_sessions += 1;
            self.total_worked_minutes = self.total_worked_minutes.saturating_add(net);
            self.longest_session_minutes = self.longest_session_minutes.max(net);
        }
    }

    /// The statistics, given how many servers the export lists.
    pub fn finish(&self, servers_count: u64) -> Statistics {
        Statistics {
            total_sessions: self.total_sessions,
            total_worked_minutes: self.total_worked_minutes,
            total_worked_hours: hundredths(self.total_worked_minutes, 60),
            average_session_minutes: hundredths(self.total_worked_minutes, self.closed_sessions),
            longest_session_minutes: self.longest_session_minutes,
            total_break_minutes: self.total_break_minutes,
            servers_count,
        }
    }
}

/// `numerator / denominator` rounded half up to two decimals, or 0 for a zero denominator.
///
/// The rounding is done on integers, so 1.005 hours cannot turn into 1.00 through binary
/// floating point; only the final division by 100 is a float, and it yields the double closest
/// to the two-decimal value, which JSON writers print back as exactly that value.
fn hundredths(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        return 0.0;
    }
    let numerator = u128::from(numerator);
    let denominator = u128::from(denominator);
    let rounded = (numerator * 200 + denominator) / (2 * denominator);
    let whole = u32::try_from(rounded / 100)
        .map(f64::from)
        .unwrap_or(f64::MAX);
    let cents = u32::try_from(rounded % 100).map(f64::from).unwrap_or(0.0);
    (whole * 100.0 + cents) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NINE: Timestamp = 9 * 3600;

    fn closed(from: Timestamp, to: Timestamp) -> SessionSpan {
        SessionSpan {
            checked_in_at: from,
            checked_out_at: Some(to),
        }
    }

    fn ended(from: Timestamp, to: Timestamp) -> BreakSpan {
        BreakSpan {
            started_at: from,
            ended_at: Some(to),
        }
    }

    #[test]
    fn guide_example_session_is_510_minutes_with_60_of_break() {
        // 09:00 to 17:30 is 8.5 h = 510 min; the 12:00-13:00 break is 60 min; net 450.
        let session = closed(NINE, NINE + 510 * 60);
        let figures = session_figures(session, [ended(12 * 3600, 13 * 3600)]);
        assert_eq!(figures.duration_minutes, Some(510));
        assert_eq!(figures.break_duration_minutes, 60);
        assert_eq!(figures.net_worked_minutes, Some(450));
    }

    #[test]
    fn partial_minutes_are_dropped() {
        // 59 min 59 s of work and a 29 min 59 s break.
        let session = closed(0, 3599);
        let figures = session_figures(session, [ended(60, 60 + 1799)]);
        assert_eq!(figures.duration_minutes, Some(59));
        assert_eq!(figures.break_duration_minutes, 29);
        assert_eq!(figures.net_worked_minutes, Some(30));
    }

    #[test]
    fn a_break_longer_than_its_session_is_clamped_and_net_is_zero() {
        // Session 10:00-10:30; the break runs 09:00-12:00, so only 30 minutes count.
        let session = closed(10 * 3600, 10 * 3600 + 1800);
        let figures = session_figures(session, [ended(9 * 3600, 12 * 3600)]);
        assert_eq!(figures.duration_minutes, Some(30));
        assert_eq!(figures.break_duration_minutes, 30);
        assert_eq!(figures.net_worked_minutes, Some(0));
    }

    #[test]
    fn overlapping_imported_breaks_never_push_net_below_zero() {
        let session = closed(0, 600);
        let figures = session_figures(session, [ended(0, 600), ended(0, 600)]);
        assert_eq!(figures.break_duration_minutes, 20);
        assert_eq!(figures.net_worked_minutes, Some(0));
    }

    #[test]
    fn active_session_has_no_duration_but_counts_ended_breaks() {
        let session = SessionSpan {
            checked_in_at: 0,
            checked_out_at: None,
        };
        let running = BreakSpan {
            started_at: 3000,
            ended_at: None,
        };
        let figures = session_figures(session, [ended(600, 1200), running]);
        assert_eq!(figures.duration_minutes, None);
        assert_eq!(figures.break_duration_minutes, 10);
        assert_eq!(figures.net_worked_minutes, None);
        assert_eq!(break_figures(session, running).status(), "active");
    }

    #[test]
    fn an_open_break_in_a_closed_session_ends_with_the_session() {
        let session = closed(0, 3600);
        let figures = break_figures(
            session,
            BreakSpan {
                started_at: 1800,
                ended_at: None,
            },
        );
        assert_eq!(figures.ended_at, Some(3600));
        assert_eq!(figures.duration_minutes, Some(30));
        assert_eq!(figures.status(), "completed");
    }

    #[test]
    fn statistics_of_nothing_are_zero() {
        let stats = StatisticsBuilder::new().finish(0);
        assert_eq!(stats.total_sessions, 0);
        assert_eq!(stats.total_worked_hours, 0.0);
        assert_eq!(stats.average_session_minutes, 0.0);
        assert_eq!(stats.longest_session_minutes, 0);
    }

    #[test]
    fn statistics_sum_the_rows_and_skip_active_sessions_for_worked_time() {
        let mut builder = StatisticsBuilder::new();
        // 450 net, 60 break; 100 net, 5 break; active with 10 break.
        for figures in [
            SessionFigures {
                duration_minutes: Some(510),
                break_duration_minutes: 60,
                net_worked_minutes: Some(450),
            },
            SessionFigures {
                duration_minutes: Some(105),
                break_duration_minutes: 5,
                net_worked_minutes: Some(100),
            },
            SessionFigures {
                duration_minutes: None,
                break_duration_minutes: 10,
                net_worked_minutes: None,
            },
        ] {
            builder.add(&figures);
        }
        let stats = builder.finish(2);
        assert_eq!(stats.total_sessions, 3);
        assert_eq!(stats.total_worked_minutes, 550);
        // 550 / 60 = 9.1666… -> 9.17
        assert_eq!(stats.total_worked_hours, 9.17);
        // 550 / 2 = 275
        assert_eq!(stats.average_session_minutes, 275.0);
        assert_eq!(stats.longest_session_minutes, 450);
        assert_eq!(stats.total_break_minutes, 75);
        assert_eq!(stats.servers_count, 2);
    }

    #[test]
    fn rounding_is_half_up_on_exact_values() {
        // 97520 / 60 = 1625.333… (the guide's figure); 1 / 8 = 0.125 -> 0.13; 2 / 3 -> 0.67.
        assert_eq!(hundredths(97_520, 60), 1625.33);
        assert_eq!(hundredths(1, 8), 0.13);
        assert_eq!(hundredths(2, 3), 0.67);
        assert_eq!(hundredths(201, 3), 67.0);
        assert_eq!(hundredths(0, 0), 0.0);
    }

    #[test]
    fn statuses_round_trip_through_their_stored_words() {
        for status in [Status::Active, Status::Completed, Status::AutoClosed] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("closed"), None);
    }
}
