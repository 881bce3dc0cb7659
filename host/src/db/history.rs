//! The paged reads behind a plugin's `user-data` and `server-data` capabilities.
//!
//! Every function takes the user or the server as an argument supplied by the host, never by
//! the plugin, and filters on it in SQL. Pages are keyset pages: "rows after this (instant, id)", which stay
//! correct and fast however deep the plugin reads, unlike offsets.

use std::collections::HashMap;

use clocky_rules::Timestamp;
use clocky_rules::figures::Status;
use sqlx::{AssertSqlSafe, FromRow, SqliteConnection};

use super::DbError;
use crate::ids::{ServerId, UserId};

/// A position in a listing: the last row's instant and id.
pub type Position = (Timestamp, i64);

/// Where a listing starts when no position is given.
const START: Position = (i64::MIN, i64::MIN);

/// Whose sessions a listing reads: one user's, across servers, or one server's, across users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A user's own sessions, for their personal export.
    User(UserId),
    /// Every session recorded in a server, for a server-wide export.
    Server(ServerId),
}

impl Owner {
    /// The column the listing filters on and the value, as SQL sees them.
    fn filter(self) -> (&'static str, i64) {
        match self {
            Owner::User(user) => ("user_id", user.sql()),
            Owner::Server(server) => ("server_id", server.sql()),
        }
    }
}

/// A session with its server's name and its breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// Whose session it is.
    pub user_id: UserId,
    /// Clocky's id.
    pub session_id: i64,
    /// Discord server.
    pub server_id: ServerId,
    /// The server's current name.
    pub server_name: String,
    /// Check-in.
    pub checked_in_at: Timestamp,
    /// Check-out.
    pub checked_out_at: Option<Timestamp>,
    /// Stored status.
    pub status: Status,
    /// Row creation.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// The session's breaks by start.
    pub breaks: Vec<BreakEntry>,
}

/// A break as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct BreakEntry {
    /// Clocky's id.
    pub break_id: i64,
    /// Its session.
    pub session_id: i64,
    /// Start.
    pub started_at: Timestamp,
    /// End.
    pub ended_at: Option<Timestamp>,
}

/// A server with the user's figures in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// Discord server.
    pub server_id: ServerId,
    /// Current name.
    pub server_name: String,
    /// Earliest check-in.
    pub first_checkin: Timestamp,
    /// Latest check-in.
    pub last_checkin: Timestamp,
    /// Number of sessions.
    pub session_count: u64,
}

#[derive(FromRow)]
struct RawSession {
    session_id: i64,
    user_id: i64,
    server_id: i64,
    server_name: String,
    checked_in_at: i64,
    checked_out_at: Option<i64>,
    status: String,
    created_at: i64,
    updated_at: i64,
}

/// Up to `limit` of `owner`'s sessions after `after`, by check-in then id, with their breaks.
pub async fn sessions_page(
    conn: &mut SqliteConnection,
    owner: Owner,
    after: Option<Position>,
    limit: u32,
) -> Result<Vec<SessionEntry>, DbError> {
    let (after_at, after_id) = after.unwrap_or(START);
    // The column name comes from `Owner`, never from input; the value is bound.
    let (column, owner_id) = owner.filter();
    let rows: Vec<RawSession> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT s.session_id, s.user_id, s.server_id, v.name AS server_name, s.checked_in_at,
                s.checked_out_at, s.status, s.created_at, s.updated_at
         FROM sessions s JOIN servers v ON v.server_id = s.server_id
         WHERE s.{column} = ?1 AND (s.checked_in_at, s.session_id) > (?2, ?3)
         ORDER BY s.checked_in_at, s.session_id
         LIMIT ?4"
    )))
    .bind(owner_id)
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let Some(last) = rows.last() else {
        return Ok(Vec::new());
    };

    // The same page's breaks in one query: every break of a session in the key range the page
    // covers. The range is exact because keys are unique and ordered.
    let first = &rows[0];
    let breaks: Vec<BreakEntry> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT b.break_id, b.session_id, b.started_at, b.ended_at
         FROM breaks b JOIN sessions s ON s.session_id = b.session_id
         WHERE s.{column} = ?1
           AND (s.checked_in_at, s.session_id) >= (?2, ?3)
           AND (s.checked_in_at, s.session_id) <= (?4, ?5)
         ORDER BY b.session_id, b.started_at, b.break_id"
    )))
    .bind(owner_id)
    .bind(first.checked_in_at)
    .bind(first.session_id)
    .bind(last.checked_in_at)
    .bind(last.session_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_session: HashMap<i64, Vec<BreakEntry>> = HashMap::new();
    for entry in breaks {
        by_session.entry(entry.session_id).or_default().push(entry);
    }

    rows.into_iter()
        .map(|raw| {
            Ok(SessionEntry {
                user_id: UserId::from_sql(raw.user_id)?,
                session_id: raw.session_id,
                server_id: ServerId::from_sql(raw.server_id)?,
                server_name: raw.server_name,
                checked_in_at: raw.checked_in_at,
                checked_out_at: raw.checked_out_at,
                status: Status::parse(&raw.status)
                    .ok_or_else(|| DbError::Corrupt(format!("session status {:?}", raw.status)))?,
                created_at: raw.created_at,
                updated_at: raw.updated_at,
                breaks: by_session.remove(&raw.session_id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Up to `limit` of the user's breaks after `after`, by start then id.
pub async fn breaks_page(
    conn: &mut SqliteConnection,
    user: UserId,
    after: Option<Position>,
    limit: u32,
) -> Result<Vec<BreakEntry>, DbError> {
    let (after_at, after_id) = after.unwrap_or(START);
    Ok(sqlx::query_as(
        "SELECT break_id, session_id, started_at, ended_at FROM breaks
         WHERE user_id = ?1 AND (started_at, break_id) > (?2, ?3)
         ORDER BY started_at, break_id
         LIMIT ?4",
    )
    .bind(user.sql())
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?)
}

/// Every server the user has a session in, by first check-in then id.
pub async fn servers(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Vec<ServerEntry>, DbError> {
    let rows: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.server_id, v.name, MIN(s.checked_in_at), MAX(s.checked_in_at), COUNT(*)
         FROM sessions s JOIN servers v ON v.server_id = s.server_id
         WHERE s.user_id = ?1
         GROUP BY s.server_id, v.name
         ORDER BY MIN(s.checked_in_at), s.server_id",
    )
    .bind(user.sql())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(
            |(server_id, server_name, first_checkin, last_checkin, count)| {
                Ok(ServerEntry {
                    server_id: ServerId::from_sql(server_id)?,
                    server_name,
                    first_checkin,
                    last_checkin,
                    session_count: u64::try_from(count)
                        .map_err(|_| DbError::Corrupt(format!("session count {count}")))?,
                })
            },
        )
        .collect()
}

/// A server as a server-wide export sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSummary {
    /// Discord server.
    pub server_id: ServerId,
    /// Its name, empty if Clocky never saw one.
    pub server_name: String,
    /// People with at least one session in it.
    pub member_count: u64,
    /// Sessions recorded in it.
    pub session_count: u64,
    /// Earliest check-in.
    pub first_checkin: Option<Timestamp>,
    /// Latest check-in.
    pub last_checkin: Option<Timestamp>,
}

/// The server's figures over all of its sessions.
pub async fn server_summary(
    conn: &mut SqliteConnection,
    server: ServerId,
) -> Result<ServerSummary, DbError> {
    let (members, sessions, first, last): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(DISTINCT user_id), COUNT(*), MIN(checked_in_at), MAX(checked_in_at)
         FROM sessions WHERE server_id = ?1",
    )
    .bind(server.sql())
    .fetch_one(&mut *conn)
    .await?;
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM servers WHERE server_id = ?1")
        .bind(server.sql())
        .fetch_optional(conn)
        .await?;
    let count =
        |value: i64| u64::try_from(value).map_err(|_| DbError::Corrupt(format!("count {value}")));
    Ok(ServerSummary {
        server_id: server,
        server_name: name.unwrap_or_default(),
        member_count: count(members)?,
        session_count: count(sessions)?,
        first_checkin: first,
        last_checkin: last,
    })
}

/// A member of a server: someone with a session in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberEntry {
    /// Their Discord id.
    pub user_id: UserId,
    /// Their username as stored.
    pub username: String,
    /// Their discriminator, 0 for accounts without one.
    pub discriminator: u16,
    /// Their IANA zone.
    pub timezone: String,
}

/// Up to `limit` of the server's members with a user id above `after`, by user id.
pub async fn members_page(
    conn: &mut SqliteConnection,
    server: ServerId,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<MemberEntry>, DbError> {
    // The page of ids comes from `sessions_by_server_user` alone; only then are the users read.
    let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT u.user_id, u.username, u.discriminator, u.timezone
         FROM (SELECT DISTINCT user_id FROM sessions
               WHERE server_id = ?1 AND user_id > ?2
               ORDER BY user_id LIMIT ?3) m
         JOIN users u ON u.user_id = m.user_id
         ORDER BY u.user_id",
    )
    .bind(server.sql())
    .bind(after.map_or(0, UserId::sql))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(user_id, username, discriminator, timezone)| {
            Ok(MemberEntry {
                user_id: UserId::from_sql(user_id)?,
                username,
                discriminator: u16::try_from(discriminator)
                    .map_err(|_| DbError::Corrupt(format!("discriminator {discriminator}")))?,
                timezone,
            })
        })
        .collect()
}
