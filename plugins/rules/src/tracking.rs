//! What may happen next to a user's sessions in one server.
//!
//! Each function takes the rows the caller has read and the instant the action should happen at,
//! and either allows the action or says, in a sentence a user can act on, why not. The host reads
//! the rows and writes the result inside one transaction; keeping the decisions here, free of
//! I/O, lets the command line, the Discord commands and the tests share them exactly.
//!
//! The rules:
//! - a user has at most one active session per server, and a session at most one running break;
//! - sessions of one user in one server never overlap, and neither do the breaks of a session;
//! - nothing happens in the future, and nothing ends before it started;
//! - checking out ends a running break at the same instant;
//! - a session left open longer than the maximum is closed as `auto-closed` at check-in plus that
//!   maximum, or where the next session in the same server began if that is earlier.

use thiserror::Error;

use crate::figures::{BreakSpan, SessionSpan};
use crate::time::{Timestamp, format_utc};

/// The default longest session: after 12 hours Clocky assumes the user forgot to check out.
pub const DEFAULT_MAX_SESSION_SECONDS: i64 = 12 * 3600;

/// Why an action was refused. The texts are written for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackingError {
    /// The instant lies after "now".
    #[error("{} is in the future; Clocky only records what has already happened", format_utc(*at))]
    InFuture {
        /// The refused instant.
        at: Timestamp,
    },
    /// A check-in while a session in the same server is still active.
    #[error("you are already checked in here since {}; check out first", format_utc(*since))]
    AlreadyCheckedIn {
        /// Check-in of the active session.
        since: Timestamp,
    },
    /// A check-in inside an earlier session of the same server.
    #[error(
        "that check-in falls inside your session from {} to {}; pick a time outside it",
        format_utc(*started),
        format_utc(*ended)
    )]
    OverlapsSession {
        /// Start of the session in the way.
        started: Timestamp,
        /// End of the session in the way.
        ended: Timestamp,
    },
    /// A check-out, break start or break end with no active session.
    #[error("you are not checked in here; use check-in first")]
    NotCheckedIn,
    /// An instant before the active session's check-in.
    #[error("that is before you checked in at {}", format_utc(*checked_in_at))]
    BeforeCheckIn {
        /// Check-in of the active session.
        checked_in_at: Timestamp,
    },
    /// A check-out that would run into a later session of the same server.
    #[error(
        "checking out then would overlap your later session from {}; check out before it",
        format_utc(*next_started)
    )]
    RunsIntoLaterSession {
        /// Start of the later session.
        next_started: Timestamp,
    },
    /// A check-out or break end before the running break started.
    #[error("that is before your break started at {}", format_utc(*break_started))]
    BeforeBreakStart {
        /// Start of the running break.
        break_started: Timestamp,
    },
    /// A break start while a break runs.
    #[error("you are already on a break since {}; end it first", format_utc(*since))]
    AlreadyOnBreak {
        /// Start of the running break.
        since: Timestamp,
    },
    /// A break start inside an earlier break of the same session.
    #[error("that falls inside your earlier break, which ended at {}", format_utc(*ended))]
    OverlapsBreak {
        /// End of the earlier break.
        ended: Timestamp,
    },
    /// A break end with no running break.
    #[error("you are not on a break")]
    NotOnBreak,
    /// A break end (or a check-out, which ends the running break) that would carry a break
    /// backfilled before a recorded one over the recorded one's start.
    #[error(
        "ending the break then would overlap your later break from {}; end it before that",
        format_utc(*next_started)
    )]
    RunsIntoLaterBreak {
        /// Start of the later break.
        next_started: Timestamp,
    },
}

/// Decides a check-in at `at`, given every session of the user in that server.
pub fn check_in(
    at: Timestamp,
    now: Timestamp,
    sessions: &[SessionSpan],
) -> Result<(), TrackingError> {
    if at > now {
        return Err(TrackingError::InFuture { at });
    }
    if let Some(active) = sessions
        .iter()
        .find(|session| session.checked_out_at.is_none())
    {
        return Err(TrackingError::AlreadyCheckedIn {
            since: active.checked_in_at,
        });
    }
    for session in sessions {
        if let Some(out) = session.checked_out_at
            && session.checked_in_at <= at
            && at < out
        {
            return Err(TrackingError::OverlapsSession {
                started: session.checked_in_at,
                ended: out,
            });
        }
    }
    Ok(())
}

/// Decides a check-out at `at` of the `active` session.
///
/// `others` are the user's other sessions in the same server; `running_break` is the session's
/// running break, which the check-out will end at `at`.
pub fn check_out(
    at: Timestamp,
    now: Timestamp,
    active: SessionSpan,
    others: &[SessionSpan],
    running_break: Option<BreakSpan>,
) -> Result<(), TrackingError> {
    if at > now {
        return Err(TrackingError::InFuture { at });
    }
    if at < active.checked_in_at {
        return Err(TrackingError::BeforeCheckIn {
            checked_in_at: active.checked_in_at,
        });
    }
    let next = others
        .iter()
        .map(|session| session.checked_in_at)
        .filter(|&start| start > active.checked_in_at && start < at)
        .min();
    if let Some(next_started) = next {
        return Err(TrackingError::RunsIntoLaterSession { next_started });
    }
    if let Some(running) = running_break
        && at < running.started_at
    {
        return Err(TrackingError::BeforeBreakStart {
            break_started: running.started_at,
        });
    }
    Ok(())
}

/// Decides a break start at `at` in the `active` session, given that session's breaks.
pub fn start_break(
    at: Timestamp,
    now: Timestamp,
    active: Option<SessionSpan>,
    breaks: &[BreakSpan],
    next_session: Option<Timestamp>,
) -> Result<(), TrackingError> {
    if at > now {
        return Err(TrackingError::InFuture { at });
    }
    let Some(active) = active else {
        return Err(TrackingError::NotCheckedIn);
    };
    if at < active.checked_in_at {
        return Err(TrackingError::BeforeCheckIn {
            checked_in_at: active.checked_in_at,
        });
    }
    // A session backfilled before a later one must end before it does, so no break of it can
    // start there either.
    if let Some(next_started) = next_session
        && at >= next_started
    {
        return Err(TrackingError::RunsIntoLaterSession { next_started });
    }
    if let Some(running) = breaks.iter().find(|span| span.ended_at.is_none()) {
        return Err(TrackingError::AlreadyOnBreak {
            since: running.started_at,
        });
    }
    for span in breaks {
        if let Some(ended) = span.ended_at
            && span.started_at <= at
            && at < ended
        {
            return Err(TrackingError::OverlapsBreak { ended });
        }
    }
    Ok(())
}

/// Decides a break end at `at`, given the running break if there is one.
pub fn end_break(
    at: Timestamp,
    now: Timestamp,
    active: Option<SessionSpan>,
    running_break: Option<BreakSpan>,
) -> Result<(), TrackingError> {
    if at > now {
        return Err(TrackingError::InFuture { at });
    }
    if active.is_none() {
        return Err(TrackingError::NotCheckedIn);
    }
    let Some(running) = running_break else {
        return Err(TrackingError::NotOnBreak);
    };
    if at < running.started_at {
        return Err(TrackingError::BeforeBreakStart {
            break_started: running.started_at,
        });
    }
    Ok(())
}

/// When an active session must be auto-closed: at check-in plus `max_seconds`, once `now` has
/// reached that instant. None while the session may still run.
pub fn auto_close_at(session: SessionSpan, now: Timestamp, max_seconds: i64) -> Option<Timestamp> {
    if session.checked_out_at.is_some() {
        return None;
    }
    let deadline = session.checked_in_at.saturating_add(max_seconds);
    (now >= deadline).then_some(deadline)
}

/// Decides whether the `running` break may end at `at`, given the session's `breaks`: not past
/// the start of a later break. Only a break started before a recorded one (a backfill) can be in
/// that position, and ending it later would count the overlap twice. Applies to [`end_break`]
/// and to [`check_out`], which ends the running break at the same instant.
pub fn end_running_break(
    at: Timestamp,
    running: BreakSpan,
    breaks: &[BreakSpan],
) -> Result<(), TrackingError> {
    let next = breaks
        .iter()
        .map(|span| span.started_at)
        .filter(|&start| start > running.started_at && start < at)
        .min();
    match next {
        Some(next_started) => Err(TrackingError::RunsIntoLaterBreak { next_started }),
        None => Ok(()),
    }
}

/// Where an overdue session is closed: at `deadline` (from [`auto_close_at`]), or at the user's
/// `next_check_in` in the same server if that comes first. Only a check-in backfilled before a
/// later session can be in that position; closing it at the deadline would make the two
/// sessions overlap, which no check-out may do either.
pub fn auto_close_end(deadline: Timestamp, next_check_in: Option<Timestamp>) -> Timestamp {
    next_check_in.map_or(deadline, |next| deadline.min(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;

    fn closed(from: Timestamp, to: Timestamp) -> SessionSpan {
        SessionSpan {
            checked_in_at: from,
            checked_out_at: Some(to),
        }
    }

    fn active(from: Timestamp) -> SessionSpan {
        SessionSpan {
            checked_in_at: from,
            checked_out_at: None,
        }
    }

    #[test]
    fn check_in_is_refused_while_active_and_inside_earlier_sessions() {
        assert_eq!(
            check_in(10 * HOUR, 20 * HOUR, &[active(9 * HOUR)]),
            Err(TrackingError::AlreadyCheckedIn { since: 9 * HOUR })
        );
        let earlier = [closed(9 * HOUR, 17 * HOUR)];
        assert_eq!(
            check_in(12 * HOUR, 20 * HOUR, &earlier),
            Err(TrackingError::OverlapsSession {
                started: 9 * HOUR,
                ended: 17 * HOUR
            })
        );
        // The instant a session ended is free again; so is any time before it started.
        assert_eq!(check_in(17 * HOUR, 20 * HOUR, &earlier), Ok(()));
        assert_eq!(check_in(8 * HOUR, 20 * HOUR, &earlier), Ok(()));
    }

    #[test]
    fn nothing_is_recorded_in_the_future() {
        assert_eq!(
            check_in(101, 100, &[]),
            Err(TrackingError::InFuture { at: 101 })
        );
        assert_eq!(
            check_out(101, 100, active(0), &[], None),
            Err(TrackingError::InFuture { at: 101 })
        );
    }

    #[test]
    fn check_out_cannot_precede_check_in_or_run_into_a_later_session() {
        assert_eq!(
            check_out(5, 100, active(10), &[], None),
            Err(TrackingError::BeforeCheckIn { checked_in_at: 10 })
        );
        // A backfilled session from 08:00 cannot end after the 09:00 session began.
        let later = [closed(9 * HOUR, 10 * HOUR)];
        assert_eq!(
            check_out(9 * HOUR + 1, 20 * HOUR, active(8 * HOUR), &later, None),
            Err(TrackingError::RunsIntoLaterSession {
                next_started: 9 * HOUR
            })
        );
        assert_eq!(
            check_out(9 * HOUR, 20 * HOUR, active(8 * HOUR), &later, None),
            Ok(())
        );
    }

    #[test]
    fn check_out_cannot_precede_the_running_break() {
        let running = BreakSpan {
            started_at: 50,
            ended_at: None,
        };
        assert_eq!(
            check_out(40, 100, active(0), &[], Some(running)),
            Err(TrackingError::BeforeBreakStart { break_started: 50 })
        );
        assert_eq!(check_out(50, 100, active(0), &[], Some(running)), Ok(()));
    }

    #[test]
    fn breaks_need_an_active_session_and_do_not_overlap() {
        assert_eq!(
            start_break(5, 100, None, &[], None),
            Err(TrackingError::NotCheckedIn)
        );
        assert_eq!(
            start_break(5, 100, Some(active(10)), &[], None),
            Err(TrackingError::BeforeCheckIn { checked_in_at: 10 })
        );
        let running = [BreakSpan {
            started_at: 20,
            ended_at: None,
        }];
        assert_eq!(
            start_break(30, 100, Some(active(10)), &running, None),
            Err(TrackingError::AlreadyOnBreak { since: 20 })
        );
        let done = [BreakSpan {
            started_at: 20,
            ended_at: Some(40),
        }];
        assert_eq!(
            start_break(30, 100, Some(active(10)), &done, None),
            Err(TrackingError::OverlapsBreak { ended: 40 })
        );
        assert_eq!(start_break(40, 100, Some(active(10)), &done, None), Ok(()));
    }

    #[test]
    fn a_break_cannot_start_where_a_later_session_has_begun() {
        // Session backfilled from 08:00; the next session in the server began at 09:00.
        let backfilled = Some(active(8 * HOUR));
        assert_eq!(
            start_break(9 * HOUR + 1800, 20 * HOUR, backfilled, &[], Some(9 * HOUR)),
            Err(TrackingError::RunsIntoLaterSession {
                next_started: 9 * HOUR
            })
        );
        assert_eq!(
            start_break(8 * HOUR + 1800, 20 * HOUR, backfilled, &[], Some(9 * HOUR)),
            Ok(())
        );
    }

    #[test]
    fn break_end_needs_a_running_break_that_started_earlier() {
        assert_eq!(
            end_break(30, 100, None, None),
            Err(TrackingError::NotCheckedIn)
        );
        assert_eq!(
            end_break(30, 100, Some(active(10)), None),
            Err(TrackingError::NotOnBreak)
        );
        let running = BreakSpan {
            started_at: 50,
            ended_at: None,
        };
        assert_eq!(
            end_break(30, 100, Some(active(10)), Some(running)),
            Err(TrackingError::BeforeBreakStart { break_started: 50 })
        );
        assert_eq!(end_break(60, 100, Some(active(10)), Some(running)), Ok(()));
    }

    #[test]
    fn sessions_auto_close_at_check_in_plus_the_maximum() {
        let session = active(1000);
        assert_eq!(
            auto_close_at(session, 1000 + 12 * HOUR - 1, DEFAULT_MAX_SESSION_SECONDS),
            None
        );
        assert_eq!(
            auto_close_at(session, 1000 + 12 * HOUR, DEFAULT_MAX_SESSION_SECONDS),
            Some(1000 + 12 * HOUR)
        );
        assert_eq!(
            auto_close_at(session, 1000 + 30 * HOUR, DEFAULT_MAX_SESSION_SECONDS),
            Some(1000 + 12 * HOUR)
        );
        assert_eq!(
            auto_close_at(closed(0, 10), 100 * HOUR, DEFAULT_MAX_SESSION_SECONDS),
            None
        );
    }

    #[test]
    fn a_running_break_cannot_end_past_a_later_break() {
        let running = BreakSpan {
            started_at: 11 * HOUR,
            ended_at: None,
        };
        let lunch = BreakSpan {
            started_at: 12 * HOUR,
            ended_at: Some(13 * HOUR),
        };
        assert_eq!(
            end_running_break(14 * HOUR, running, &[lunch, running]),
            Err(TrackingError::RunsIntoLaterBreak {
                next_started: 12 * HOUR
            })
        );
        // Up to the later break's start is fine, and so is anything when it is earlier.
        assert_eq!(end_running_break(12 * HOUR, running, &[lunch]), Ok(()));
        let earlier = BreakSpan {
            started_at: 10 * HOUR,
            ended_at: Some(10 * HOUR + 900),
        };
        assert_eq!(end_running_break(14 * HOUR, running, &[earlier]), Ok(()));
    }

    #[test]
    fn an_auto_close_stops_at_the_next_check_in() {
        // Check-in 08:00: the 12 h deadline is 20:00, but a session began at 09:00.
        assert_eq!(auto_close_end(20 * HOUR, Some(9 * HOUR)), 9 * HOUR);
        assert_eq!(auto_close_end(20 * HOUR, Some(21 * HOUR)), 20 * HOUR);
        assert_eq!(auto_close_end(20 * HOUR, None), 20 * HOUR);
    }

    #[test]
    fn refusals_read_as_sentences_with_utc_times() {
        let text = TrackingError::AlreadyCheckedIn { since: 9 * HOUR }.to_string();
        assert_eq!(
            text,
            "you are already checked in here since 1970-01-01T09:00:00Z; check out first"
        );
    }
}
