//! Check-ins, check-outs and breaks.
//!
//! Each action runs in one write transaction: close the user's overdue sessions, read the rows
//! the rules need, let [`clocky_rules::tracking`] decide, then write. The command line and the
//! Discord commands both come through here, so they cannot disagree about what is allowed.

use clocky_rules::Timestamp;
use clocky_rules::figures::{SessionFigures, SessionSpan, Status, session_figures};
use clocky_rules::time::format_utc;
use clocky_rules::tracking::{self as rules, TrackingError};
use clocky_rules::zone::{ZoneError, parse_zone};
use thiserror::Error;

use crate::clock::SharedClock;
use crate::db::{Db, DbError, Tx, tracking as q};
use crate::ids::{ServerId, SessionId, UserId};

/// Why a tracking action did not happen.
#[derive(Debug, Error)]
pub enum TrackError {
    /// The rules refused it; the text is for the user.
    #[error(transparent)]
    Refused(#[from] TrackingError),
    /// The session the user meant was closed automatically.
    #[error(
        "your session from {} was closed automatically at {} because it ran longer than {} hours",
        format_utc(*checked_in_at),
        format_utc(*closed_at),
        max_hours
    )]
    AutoClosed {
        /// Its check-in.
        checked_in_at: Timestamp,
        /// Where Clocky closed it.
        closed_at: Timestamp,
        /// The configured maximum.
        max_hours: i64,
    },
    /// The time zone is not a known IANA name.
    #[error(transparent)]
    Zone(#[from] ZoneError),
    /// Storage failed; the action did not happen.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for TrackError {
    fn from(error: sqlx::Error) -> Self {
        TrackError::Db(DbError::Query(error))
    }
}

/// Who is acting, and where. Names are stored when given so exports show current names.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The Discord user.
    pub user: UserId,
    /// Their username and discriminator (0 for new-style names), when known.
    pub username: Option<(&'a str, u16)>,
    /// The Discord server.
    pub server: ServerId,
    /// The server's current name, when known.
    pub server_name: Option<&'a str>,
}

/// A finished check-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedOut {
    /// The session.
    pub session_id: SessionId,
    /// Its figures, by the shared rules.
    pub figures: SessionFigures,
    /// Whether a running break was ended with it.
    pub ended_break: bool,
}

/// What `/status` shows: what runs now, and today's totals in the user's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The user's time zone, which decides where "today" begins.
    pub zone: chrono_tz::Tz,
    /// When today began in that zone.
    pub day_started_at: Timestamp,
    /// The sessions running now, one per server at most.
    pub running: Vec<RunningSession>,
    /// Net minutes worked today: every session's part since `day_started_at`, breaks taken out.
    pub today_worked_minutes: u64,
    /// Minutes of breaks today, each clamped into today and into its session.
    pub today_break_minutes: u64,
    /// Sessions that have some part today.
    pub today_sessions: usize,
}

/// A session that has not been checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningSession {
    /// Its server's name.
    pub server_name: String,
    /// When it began.
    pub checked_in_at: Timestamp,
    /// When its running break began, if one runs.
    pub break_started_at: Option<Timestamp>,
    /// Net minutes worked in it so far.
    pub worked_minutes: u64,
}

/// One line of a server's leaderboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderboardRow {
    /// Who.
    pub user_id: UserId,
    /// Their name as exports show it (`name` or `name#1234`).
    pub username: String,
    /// Net minutes of their finished sessions in the period.
    pub worked_minutes: u64,
    /// How many sessions those are.
    pub sessions: u64,
}

/// Applies the tracking rules to the database.
#[derive(Debug, Clone)]
pub struct Tracker {
    db: Db,
    clock: SharedClock,
    max_session_seconds: i64,
}

impl Tracker {
    /// A tracker that auto-closes sessions after `max_session_hours`.
    pub fn new(db: Db, clock: SharedClock, max_session_hours: u32) -> Self {
        Tracker {
            db,
            clock,
            max_session_seconds: i64::from(max_session_hours) * 3600,
        }
    }

    /// Checks in at `at` (default: now).
    #[tracing::instrument(name = "tracking.check_in", skip_all, fields(user_id = %who.user, server_id = %who.server))]
    pub async fn check_in(
        &self,
        who: Member<'_>,
        at: Option<Timestamp>,
    ) -> Result<SessionId, TrackError> {
        let (mut tx, now, at) = self.begin(who, at).await?;
        let mut sessions = q::sessions_in_server(&mut tx, who.user, who.server).await?;
        // A session the user forgot is closed where the rules say, and the check-in goes ahead.
        self.settle(&mut tx, &mut sessions, at, now).await?;
        let spans: Vec<_> = sessions.iter().map(|session| session.span).collect();
        rules::check_in(at, now, &spans)?;
        let id = q::insert_session(&mut tx, who.user, who.server, at, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Checks out at `at` (default: now), ending a running break at the same instant.
    #[tracing::instrument(name = "tracking.check_out", skip_all, fields(user_id = %who.user, server_id = %who.server))]
    pub async fn check_out(
        &self,
        who: Member<'_>,
        at: Option<Timestamp>,
    ) -> Result<CheckedOut, TrackError> {
        let (mut tx, now, at) = self.begin(who, at).await?;
        let mut sessions = q::sessions_in_server(&mut tx, who.user, who.server).await?;
        if let Some(closed) = self.settle(&mut tx, &mut sessions, at, now).await? {
            tx.commit().await?;
            return Err(closed);
        }
        let active = match self.active_or_explain(&sessions) {
            Ok(active) => active,
            Err(refusal @ TrackError::AutoClosed { .. }) => {
                return self
                    .correct_auto_close(tx, &sessions, at, now, refusal)
                    .await;
            }
            Err(other) => return Err(other),
        };
        let others: Vec<_> = sessions
            .iter()
            .filter(|session| session.session_id != active.session_id)
            .map(|session| session.span)
            .collect();
        let breaks = q::breaks_of(&mut tx, active.session_id).await?;
        let running = breaks
            .iter()
            .find(|row| row.span.ended_at.is_none())
            .map(|row| row.span);
        rules::check_out(at, now, active.span, &others, running)?;
        if let Some(running) = running {
            let spans: Vec<_> = breaks.iter().map(|row| row.span).collect();
            rules::end_running_break(at, running, &spans)?;
        }

        q::close_session(&mut tx, active.session_id, at, Status::Completed, now).await?;
        tx.commit().await?;

        let mut span = active.span;
        span.checked_out_at = Some(at);
        let closed_breaks = breaks.iter().map(|row| {
            let mut broken = row.span;
            broken.ended_at = broken.ended_at.or(Some(at));
            broken
        });
        Ok(CheckedOut {
            session_id: active.session_id,
            figures: session_figures(span, closed_breaks),
            ended_break: running.is_some(),
        })
    }

    /// A check-out inside the window of a session that was already auto-closed is a correction:
    /// it replaces the automatic end with the real one. Without it, whether a late check-out
    /// counted would depend on whether a sweep happened to run before it.
    async fn correct_auto_close(
        &self,
        mut tx: Tx,
        sessions: &[q::SessionRow],
        at: Timestamp,
        now: Timestamp,
        refusal: TrackError,
    ) -> Result<CheckedOut, TrackError> {
        let Some(last) = sessions.last().copied() else {
            return Err(refusal);
        };
        let closed_at = last.span.checked_out_at.unwrap_or(last.span.checked_in_at);
        if at >= closed_at {
            return Err(refusal);
        }
        let reopened = SessionSpan {
            checked_in_at: last.span.checked_in_at,
            checked_out_at: None,
        };
        rules::check_out(at, now, reopened, &[], None)?;
        let breaks = q::breaks_of(&mut tx, last.session_id).await?;
        if let Some(later) = breaks.iter().find(|row| row.span.started_at > at) {
            return Err(TrackingError::BeforeBreakStart {
                break_started: later.span.started_at,
            }
            .into());
        }

        q::correct_close(&mut tx, last.session_id, at, now).await?;
        tx.commit().await?;
        tracing::info!(session_id = %last.session_id, at, "auto-closed session corrected by a check-out");

        let span = SessionSpan {
            checked_in_at: last.span.checked_in_at,
            checked_out_at: Some(at),
        };
        let corrected = breaks.iter().map(|row| {
            let mut ended = row.span;
            ended.ended_at = Some(ended.ended_at.map_or(at, |end| end.min(at)));
            ended
        });
        Ok(CheckedOut {
            session_id: last.session_id,
            figures: session_figures(span, corrected),
            ended_break: false,
        })
    }

    /// Starts a break at `at` (default: now) in the active session.
    #[tracing::instrument(name = "tracking.start_break", skip_all, fields(user_id = %who.user, server_id = %who.server))]
    pub async fn start_break(
        &self,
        who: Member<'_>,
        at: Option<Timestamp>,
    ) -> Result<(), TrackError> {
        let (mut tx, now, at) = self.begin(who, at).await?;
        let mut sessions = q::sessions_in_server(&mut tx, who.user, who.server).await?;
        if let Some(closed) = self.settle(&mut tx, &mut sessions, at, now).await? {
            tx.commit().await?;
            return Err(closed);
        }
        let active = self.active_or_explain(&sessions)?;
        let breaks: Vec<_> = q::breaks_of(&mut tx, active.session_id)
            .await?
            .into_iter()
            .map(|row| row.span)
            .collect();
        let next_session = sessions
            .iter()
            .map(|session| session.span.checked_in_at)
            .filter(|&start| start > active.span.checked_in_at)
            .min();
        rules::start_break(at, now, Some(active.span), &breaks, next_session)?;
        q::insert_break(&mut tx, active.session_id, who.user, at, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the running break at `at` (default: now); returns its minutes.
    #[tracing::instrument(name = "tracking.end_break", skip_all, fields(user_id = %who.user, server_id = %who.server))]
    pub async fn end_break(
        &self,
        who: Member<'_>,
        at: Option<Timestamp>,
    ) -> Result<u64, TrackError> {
        let (mut tx, now, at) = self.begin(who, at).await?;
        let mut sessions = q::sessions_in_server(&mut tx, who.user, who.server).await?;
        if let Some(closed) = self.settle(&mut tx, &mut sessions, at, now).await? {
            tx.commit().await?;
            return Err(closed);
        }
        let active = self.active_or_explain(&sessions)?;
        let breaks = q::breaks_of(&mut tx, active.session_id).await?;
        let running = breaks.iter().find(|row| row.span.ended_at.is_none());
        rules::end_break(at, now, Some(active.span), running.map(|row| row.span))?;
        let Some(running) = running else {
            return Err(TrackingError::NotOnBreak.into());
        };
        let spans: Vec<_> = breaks.iter().map(|row| row.span).collect();
        rules::end_running_break(at, running.span, &spans)?;
        q::end_break(&mut tx, running.break_id, at, now).await?;
        tx.commit().await?;
        Ok(clocky_rules::time::whole_minutes(
            running.span.started_at,
            at,
        ))
    }

    /// Stores the user's time zone after checking it is a real IANA name, with their current
    /// username when given.
    pub async fn set_timezone(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        zone: &str,
    ) -> Result<chrono_tz::Tz, TrackError> {
        let tz = parse_zone(zone.trim())?;
        let now = self.clock.now();
        let mut tx = self.db.write().await?;
        q::touch_user(&mut tx, user, username, now, now).await?;
        q::set_timezone(&mut tx, user, tz.name(), now).await?;
        tx.commit().await?;
        Ok(tz)
    }

    /// Stores whether the user appears on leaderboards, with their current username when given.
    pub async fn set_leaderboard(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        public: bool,
    ) -> Result<(), TrackError> {
        let now = self.clock.now();
        let mut tx = self.db.write().await?;
        q::touch_user(&mut tx, user, username, now, now).await?;
        q::set_leaderboard(&mut tx, user, public, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What runs now for `user`, and today's totals in their time zone. Overdue sessions are
    /// closed first, so a forgotten check-in never shows as running past the maximum.
    #[tracing::instrument(name = "tracking.status", skip_all, fields(user_id = %user))]
    pub async fn status(&self, user: UserId) -> Result<StatusReport, TrackError> {
        self.close_overdue(Some(user)).await?;
        let zone = self.timezone_of(user).await?;
        let now = self.clock.now();
        let day_started_at = clocky_rules::zone::local_day_start(zone, now);

        let mut tx = self.db.read().await?;
        let sessions =
            q::sessions_overlapping(&mut tx, user, day_started_at, now.saturating_add(1)).await?;
        let mut report = StatusReport {
            zone,
            day_started_at,
            running: Vec::new(),
            today_worked_minutes: 0,
            today_break_minutes: 0,
            today_sessions: sessions.len(),
        };
        for named in sessions {
            let span = named.session.span;
            let breaks: Vec<_> = q::breaks_of(&mut tx, named.session.session_id)
                .await?
                .into_iter()
                .map(|row| row.span)
                .collect();

            // Today's part of the session: from the day's start (or the check-in) to the
            // check-out (or now). Breaks are clamped into it by the shared rules.
            let today = SessionSpan {
                checked_in_at: span.checked_in_at.max(day_started_at),
                checked_out_at: Some(
                    span.checked_out_at
                        .unwrap_or(now)
                        .clamp(day_started_at, now),
                ),
            };
            let figures = session_figures(today, breaks.iter().copied());
            report.today_worked_minutes += figures.net_worked_minutes.unwrap_or(0);
            report.today_break_minutes += figures.break_duration_minutes;

            if span.checked_out_at.is_none() {
                let so_far = SessionSpan {
                    checked_in_at: span.checked_in_at,
                    checked_out_at: Some(now.max(span.checked_in_at)),
                };
                let worked = session_figures(so_far, breaks.iter().copied());
                report.running.push(RunningSession {
                    server_name: named.server_name,
                    checked_in_at: span.checked_in_at,
                    break_started_at: breaks
                        .iter()
                        .find(|row| row.ended_at.is_none())
                        .map(|row| row.started_at),
                    worked_minutes: worked.net_worked_minutes.unwrap_or(0),
                });
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    /// The users who worked most in `server` since `since` (ever, without it): net minutes of
    /// finished sessions that began in the period, listing only users who chose to appear on
    /// leaderboards. Most minutes first, ties by name; at most `limit` rows.
    #[tracing::instrument(name = "tracking.leaderboard", skip_all, fields(server_id = %server))]
    pub async fn leaderboard(
        &self,
        server: ServerId,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<LeaderboardRow>, TrackError> {
        let mut totals: std::collections::HashMap<UserId, LeaderboardRow> =
            std::collections::HashMap::new();
        let mut tx = self.db.read().await?;
        q::for_each_board_session(&mut tx, server, since, |session| {
            let figures = session_figures(session.span, session.breaks);
            let (name, discriminator) = &session.username;
            let row = totals
                .entry(session.user_id)
                .or_insert_with(|| LeaderboardRow {
                    user_id: session.user_id,
                    username: clocky_rules::names::display_username(name, *discriminator),
                    worked_minutes: 0,
                    sessions: 0,
                });
            row.worked_minutes = row
                .worked_minutes
                .saturating_add(figures.net_worked_minutes.unwrap_or(0));
            row.sessions += 1;
        })
        .await?;
        tx.commit().await?;

        let mut rows: Vec<_> = totals
            .into_values()
            .filter(|row| row.worked_minutes > 0)
            .collect();
        rows.sort_by(|a, b| {
            b.worked_minutes
                .cmp(&a.worked_minutes)
                .then_with(|| a.username.cmp(&b.username))
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Whether Clocky has a record of the user.
    pub async fn knows(&self, user: UserId) -> Result<bool, TrackError> {
        let mut conn = self.db.pool().acquire().await.map_err(DbError::Query)?;
        Ok(q::user(&mut conn, user).await?.is_some())
    }

    /// The user's time zone, UTC for users Clocky has not seen.
    pub async fn timezone_of(&self, user: UserId) -> Result<chrono_tz::Tz, TrackError> {
        let mut conn = self.db.pool().acquire().await.map_err(DbError::Query)?;
        let stored = q::user(&mut conn, user).await?.map(|row| row.timezone);
        Ok(stored
            .and_then(|name| parse_zone(&name).ok())
            .unwrap_or(chrono_tz::UTC))
    }

    /// Closes every overdue session (of `user`, or of everybody) as `auto-closed`.
    pub async fn close_overdue(&self, user: Option<UserId>) -> Result<usize, TrackError> {
        let mut tx = self.db.write().await?;
        let closed = self
            .close_overdue_in(&mut tx, user, None, self.clock.now())
            .await?;
        tx.commit().await?;
        Ok(closed)
    }

    async fn close_overdue_in(
        &self,
        tx: &mut Tx,
        user: Option<UserId>,
        except: Option<ServerId>,
        now: Timestamp,
    ) -> Result<usize, TrackError> {
        let overdue = q::overdue_sessions(tx, user, except, now, self.max_session_seconds).await?;
        for (session, checked_in_at, next_check_in) in &overdue {
            let deadline = checked_in_at.saturating_add(self.max_session_seconds);
            let at = rules::auto_close_end(deadline, *next_check_in);
            q::close_session(tx, *session, at, Status::AutoClosed, now).await?;
            tracing::info!(session_id = %session, closed_at = at, "auto-closed an overdue session");
        }
        Ok(overdue.len())
    }

    /// Opens the write transaction of an action: records the member, closes their overdue
    /// sessions in other servers, and settles the instant. Sessions in the acting server are
    /// settled against the action's own instant by [`Tracker::settle`], so a backfilled
    /// check-out within the maximum is honoured even when it is entered days later.
    async fn begin(
        &self,
        who: Member<'_>,
        at: Option<Timestamp>,
    ) -> Result<(Tx, Timestamp, Timestamp), TrackError> {
        let now = self.clock.now();
        let at = at.unwrap_or(now);
        let mut tx = self.db.write().await?;
        q::touch_user(&mut tx, who.user, who.username, at, now).await?;
        q::touch_server(&mut tx, who.server, who.server_name, now).await?;
        self.close_overdue_in(&mut tx, Some(who.user), Some(who.server), now)
            .await?;
        Ok((tx, now, at))
    }

    /// Auto-closes the active session among `sessions` if it is overdue at `at`, updating the
    /// list. Returns the explanation to give when the action was about that session.
    async fn settle(
        &self,
        tx: &mut Tx,
        sessions: &mut [q::SessionRow],
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<TrackError>, TrackError> {
        let Some(active) = sessions
            .iter()
            .position(|session| session.span.checked_out_at.is_none())
        else {
            return Ok(None);
        };
        let checked_in_at = sessions[active].span.checked_in_at;
        let next_check_in = sessions
            .iter()
            .map(|session| session.span.checked_in_at)
            .filter(|&start| start > checked_in_at)
            .min();
        let active = &mut sessions[active];
        let Some(deadline) = rules::auto_close_at(active.span, at, self.max_session_seconds) else {
            return Ok(None);
        };
        let closed_at = rules::auto_close_end(deadline, next_check_in);
        q::close_session(tx, active.session_id, closed_at, Status::AutoClosed, now).await?;
        tracing::info!(session_id = %active.session_id, closed_at, "auto-closed an overdue session");
        active.span.checked_out_at = Some(closed_at);
        active.status = Status::AutoClosed;
        Ok(Some(TrackError::AutoClosed {
            checked_in_at: active.span.checked_in_at,
            closed_at,
            max_hours: self.max_session_seconds / 3600,
        }))
    }

    /// The active session, or the reason there is none.
    fn active_or_explain(&self, sessions: &[q::SessionRow]) -> Result<q::SessionRow, TrackError> {
        if let Some(active) = sessions
            .iter()
            .find(|session| session.span.checked_out_at.is_none())
        {
            return Ok(*active);
        }
        match sessions.last() {
            Some(last) if last.status == Status::AutoClosed => Err(TrackError::AutoClosed {
                checked_in_at: last.span.checked_in_at,
                closed_at: last.span.checked_out_at.unwrap_or(last.span.checked_in_at),
                max_hours: self.max_session_seconds / 3600,
            }),
            _ => Err(TrackingError::NotCheckedIn.into()),
        }
    }
}
