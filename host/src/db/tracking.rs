//! Queries behind time tracking: users, servers, sessions and breaks.

use clocky_rules::Timestamp;
use clocky_rules::figures::{BreakSpan, SessionSpan, Status};
use sqlx::{FromRow, SqliteConnection};

use super::{DbError, flag};
use crate::ids::{ServerId, SessionId, UserId};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Discord id.
    pub user_id: UserId,
    /// Username without discriminator.
    pub username: String,
    /// Discriminator, 0 for new-style names.
    pub discriminator: u16,
    /// First use of Clocky.
    pub first_seen_at: Timestamp,
    /// IANA zone name.
    pub timezone: String,
    /// Leaderboard visibility.
    pub leaderboard_public: bool,
}

#[derive(FromRow)]
struct RawUser {
    user_id: i64,
    username: String,
    discriminator: i64,
    first_seen_at: i64,
    timezone: String,
    leaderboard_public: i64,
}

impl TryFrom<RawUser> for UserRow {
    type Error = DbError;

    fn try_from(raw: RawUser) -> Result<Self, DbError> {
        Ok(UserRow {
            user_id: UserId::from_sql(raw.user_id)?,
            username: raw.username,
            discriminator: u16::try_from(raw.discriminator)
                .map_err(|_| DbError::Corrupt(format!("discriminator {}", raw.discriminator)))?,
            first_seen_at: raw.first_seen_at,
            timezone: raw.timezone,
            leaderboard_public: flag(raw.leaderboard_public),
        })
    }
}

/// Reads a user.
pub async fn user(conn: &mut SqliteConnection, user: UserId) -> Result<Option<UserRow>, DbError> {
    let raw: Option<RawUser> = sqlx::query_as(
        "SELECT user_id, username, discriminator, first_seen_at, timezone, leaderboard_public
         FROM users WHERE user_id = ?1",
    )
    .bind(user.sql())
    .fetch_optional(conn)
    .await?;
    raw.map(UserRow::try_from).transpose()
}

/// Records that a user was seen at `at`: creates them if new, moves `first_seen_at` back if `at`
/// is earlier, and stores their current name if one is given.
pub async fn touch_user(
    conn: &mut SqliteConnection,
    user: UserId,
    name: Option<(&str, u16)>,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), DbError> {
    let (username, discriminator) = name.unwrap_or(("", 0));
    sqlx::query(
        "INSERT INTO users (user_id, username, discriminator, first_seen_at, updated_at)
         VALUES (?1, CASE WHEN ?2 = '' THEN CAST(?1 AS TEXT) ELSE ?2 END, ?3, ?4, ?5)
         ON CONFLICT (user_id) DO UPDATE SET
             username = CASE WHEN ?2 = '' THEN users.username ELSE ?2 END,
             discriminator = CASE WHEN ?2 = '' THEN users.discriminator ELSE ?3 END,
             first_seen_at = MIN(users.first_seen_at, ?4),
             updated_at = ?5",
    )
    .bind(user.sql())
    .bind(username)
    .bind(i64::from(discriminator))
    .bind(at.min(now))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a user's time zone (already validated).
pub async fn set_timezone(
    conn: &mut SqliteConnection,
    user: UserId,
    zone: &str,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET timezone = ?2, updated_at = ?3 WHERE user_id = ?1")
        .bind(user.sql())
        .bind(zone)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores whether a user appears on leaderboards.
pub async fn set_leaderboard(
    conn: &mut SqliteConnection,
    user: UserId,
    public: bool,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET leaderboard_public = ?2, updated_at = ?3 WHERE user_id = ?1")
        .bind(user.sql())
        .bind(i64::from(public))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes a user and, through the schema's cascades, every row about them.
pub async fn delete_user(conn: &mut SqliteConnection, user: UserId) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM users WHERE user_id = ?1")
        .bind(user.sql())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Creates a server or updates its name. Without a name a new server is named after its id.
pub async fn touch_server(
    conn: &mut SqliteConnection,
    server: ServerId,
    name: Option<&str>,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO servers (server_id, name, updated_at)
         VALUES (?1, COALESCE(?2, 'Server ' || ?1), ?3)
         ON CONFLICT (server_id) DO UPDATE SET
             name = COALESCE(?2, servers.name),
             updated_at = CASE WHEN ?2 IS NULL THEN servers.updated_at ELSE ?3 END",
    )
    .bind(server.sql())
    .bind(name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored session with the fields the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    /// Clocky's id.
    pub session_id: SessionId,
    /// The two ends.
    pub span: SessionSpan,
    /// Stored status.
    pub status: Status,
}

#[derive(FromRow)]
struct RawSession {
    session_id: i64,
    checked_in_at: i64,
    checked_out_at: Option<i64>,
    status: String,
}

impl TryFrom<RawSession> for SessionRow {
    type Error = DbError;

    fn try_from(raw: RawSession) -> Result<Self, DbError> {
        Ok(SessionRow {
            session_id: SessionId(raw.session_id),
            span: SessionSpan {
                checked_in_at: raw.checked_in_at,
                checked_out_at: raw.checked_out_at,
            },
            status: Status::parse(&raw.status)
                .ok_or_else(|| DbError::Corrupt(format!("session status {:?}", raw.status)))?,
        })
    }
}

/// Every session of a user in one server.
pub async fn sessions_in_server(
    conn: &mut SqliteConnection,
    user: UserId,
    server: ServerId,
) -> Result<Vec<SessionRow>, DbError> {
    let rows: Vec<RawSession> = sqlx::query_as(
        "SELECT session_id, checked_in_at, checked_out_at, status FROM sessions
         WHERE user_id = ?1 AND server_id = ?2 ORDER BY checked_in_at, session_id",
    )
    .bind(user.sql())
    .bind(server.sql())
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(SessionRow::try_from).collect()
}

/// Starts a session.
pub async fn insert_session(
    conn: &mut SqliteConnection,
    user: UserId,
    server: ServerId,
    at: Timestamp,
    now: Timestamp,
) -> Result<SessionId, DbError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (user_id, server_id, checked_in_at, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'active', ?4, ?4) RETURNING session_id",
    )
    .bind(user.sql())
    .bind(server.sql())
    .bind(at)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(SessionId(id))
}

/// Ends a session, and its running break at the same instant.
///
/// The break's end is bounded the way the rules bound a check-out: never past the start of a
/// later break of the session, and never before its own start. A check-out was already checked
/// against both; an auto-close was not, and must not write overlapping or backwards breaks.
pub async fn close_session(
    conn: &mut SqliteConnection,
    session: SessionId,
    at: Timestamp,
    status: Status,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE breaks SET updated_at = ?3, ended_at = MAX(started_at, MIN(?2, COALESCE(
             (SELECT MIN(later.started_at) FROM breaks later
              WHERE later.session_id = breaks.session_id
                AND later.started_at > breaks.started_at), ?2)))
         WHERE session_id = ?1 AND ended_at IS NULL",
    )
    .bind(session.0)
    .bind(at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE sessions SET checked_out_at = ?2, status = ?3, updated_at = ?4
         WHERE session_id = ?1 AND checked_out_at IS NULL",
    )
    .bind(session.0)
    .bind(at)
    .bind(status.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces an automatic end with a real check-out at `at`, ending any break of the session at
/// `at` at the latest. The caller has checked that no break starts after `at`.
pub async fn correct_close(
    conn: &mut SqliteConnection,
    session: SessionId,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE breaks SET ended_at = ?2, updated_at = ?3
         WHERE session_id = ?1 AND (ended_at IS NULL OR ended_at > ?2)",
    )
    .bind(session.0)
    .bind(at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE sessions SET checked_out_at = ?2, status = 'completed', updated_at = ?3
         WHERE session_id = ?1",
    )
    .bind(session.0)
    .bind(at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakRow {
    /// Clocky's id.
    pub break_id: i64,
    /// The two ends.
    pub span: BreakSpan,
}

/// The breaks of one session, by start.
pub async fn breaks_of(
    conn: &mut SqliteConnection,
    session: SessionId,
) -> Result<Vec<BreakRow>, DbError> {
    let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT break_id, started_at, ended_at FROM breaks
         WHERE session_id = ?1 ORDER BY started_at, break_id",
    )
    .bind(session.0)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(break_id, started_at, ended_at)| BreakRow {
            break_id,
            span: BreakSpan {
                started_at,
                ended_at,
            },
        })
        .collect())
}

/// Starts a break in a session.
pub async fn insert_break(
    conn: &mut SqliteConnection,
    session: SessionId,
    user: UserId,
    at: Timestamp,
    now: Timestamp,
) -> Result<i64, DbError> {
    let id = sqlx::query_scalar(
        "INSERT INTO breaks (session_id, user_id, started_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4) RETURNING break_id",
    )
    .bind(session.0)
    .bind(user.sql())
    .bind(at)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Ends a break.
pub async fn end_break(
    conn: &mut SqliteConnection,
    break_id: i64,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query("UPDATE breaks SET ended_at = ?2, updated_at = ?3 WHERE break_id = ?1")
        .bind(break_id)
        .bind(at)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active sessions (of one user, or of everybody; in any server but `except`) that have been
/// open at least `max_seconds` by `now`, with their check-in and the check-in of the same user's
/// next session in the same server, if a backfill put one after it.
pub async fn overdue_sessions(
    conn: &mut SqliteConnection,
    user: Option<UserId>,
    except: Option<ServerId>,
    now: Timestamp,
    max_seconds: i64,
) -> Result<Vec<(SessionId, Timestamp, Option<Timestamp>)>, DbError> {
    let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT s.session_id, s.checked_in_at,
                (SELECT MIN(n.checked_in_at) FROM sessions n
                 WHERE n.user_id = s.user_id AND n.server_id = s.server_id
                   AND n.checked_in_at > s.checked_in_at)
         FROM sessions s
         WHERE s.checked_out_at IS NULL AND s.checked_in_at <= ?2
           AND (?1 IS NULL OR s.user_id = ?1) AND (?3 IS NULL OR s.server_id <> ?3)",
    )
    .bind(user.map(UserId::sql))
    .bind(now.saturating_sub(max_seconds))
    .bind(except.map(ServerId::sql))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, next)| (SessionId(id), at, next))
        .collect())
}

/// A session of one user with the name of its server, for `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSession {
    /// The session.
    pub session: SessionRow,
    /// Its server's stored name.
    pub server_name: String,
}

/// The user's sessions that overlap `[from, to)`: checked in before `to`, and still active or
/// checked out after `from`. By check-in.
pub async fn sessions_overlapping(
    conn: &mut SqliteConnection,
    user: UserId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<NamedSession>, DbError> {
    let rows: Vec<(i64, i64, Option<i64>, String, String)> = sqlx::query_as(
        "SELECT s.session_id, s.checked_in_at, s.checked_out_at, s.status, v.name
         FROM sessions s JOIN servers v ON v.server_id = s.server_id
         WHERE s.user_id = ?1 AND s.checked_in_at < ?3
           AND (s.checked_out_at IS NULL OR s.checked_out_at > ?2)
         ORDER BY s.checked_in_at, s.session_id",
    )
    .bind(user.sql())
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(
            |(session_id, checked_in_at, checked_out_at, status, server_name)| {
                let session = SessionRow::try_from(RawSession {
                    session_id,
                    checked_in_at,
                    checked_out_at,
                    status,
                })?;
                Ok(NamedSession {
                    session,
                    server_name,
                })
            },
        )
        .collect()
}

/// One finished session of a public user in a server, with its breaks, for the leaderboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSession {
    /// Whose it is.
    pub user_id: UserId,
    /// Their stored username and discriminator.
    pub username: (String, u16),
    /// The session's two ends.
    pub span: SessionSpan,
    /// Its breaks.
    pub breaks: Vec<BreakSpan>,
}

/// Hands `each` the finished sessions in `server` that began at `since` or later (all of them
/// without `since`), of users who chose to appear on leaderboards, each with its breaks.
///
/// Rows are streamed and each session is handed over as soon as its last break has been read,
/// so a server's whole history never sits in memory at once.
pub async fn for_each_board_session(
    conn: &mut SqliteConnection,
    server: ServerId,
    since: Option<Timestamp>,
    mut each: impl FnMut(BoardSession),
) -> Result<(), DbError> {
    use futures::TryStreamExt as _;

    type Row = (i64, i64, String, i64, i64, i64, Option<i64>, Option<i64>);
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT s.session_id, s.user_id, u.username, u.discriminator, s.checked_in_at,
                s.checked_out_at, b.started_at, b.ended_at
         FROM sessions s
         JOIN users u ON u.user_id = s.user_id
         LEFT JOIN breaks b ON b.session_id = s.session_id
         WHERE s.server_id = ?1 AND u.leaderboard_public = 1 AND s.checked_out_at IS NOT NULL
           AND (?2 IS NULL OR s.checked_in_at >= ?2)
         ORDER BY s.session_id, b.started_at, b.break_id",
    )
    .bind(server.sql())
    .bind(since)
    .fetch(conn);

    let mut current: Option<(i64, BoardSession)> = None;
    while let Some((session_id, user_id, name, discriminator, checked_in_at, out, start, end)) =
        rows.try_next().await?
    {
        if current.as_ref().is_none_or(|(id, _)| *id != session_id) {
            let discriminator = u16::try_from(discriminator)
                .map_err(|_| DbError::Corrupt(format!("discriminator {discriminator}")))?;
            let next = BoardSession {
                user_id: UserId::from_sql(user_id)?,
                username: (name, discriminator),
                span: SessionSpan {
                    checked_in_at,
                    checked_out_at: Some(out),
                },
                breaks: Vec::new(),
            };
            if let Some((_, done)) = current.replace((session_id, next)) {
                each(done);
            }
        }
        if let (Some(started_at), Some((_, session))) = (start, current.as_mut()) {
            session.breaks.push(BreakSpan {
                started_at,
                ended_at: end,
            });
        }
    }
    if let Some((_, done)) = current {
        each(done);
    }
    Ok(())
}
