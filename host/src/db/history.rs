//! The paged reads behind a plugin's `user-data` capability.
//!
//! Every function takes the user as an argument supplied by the host, never by the plugin, and
//! filters on it in SQL. Pages are keyset pages: "rows after this (instant, id)", which stay
//! correct and fast however deep the plugin reads, unlike offsets.

use std::collections::HashMap;

use clocky_rules::Timestamp;
use clocky_rules::figures::Status;
use sqlx::{FromRow, SqliteConnection};

use super::DbError;
use crate::ids::{ServerId, UserId};

/// A position in a listing: the last row's instant and id.
pub type Position = (Timestamp, i64);

/// Where a listing starts when no position is given.
const START: Position = (i64::MIN, i64::MIN);

/// A session with its server's name and its breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
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
    server_id: i64,
    server_name: String,
    checked_in_at: i64,
    checked_out_at: Option<i64>,
    status: String,
    created_at: i64,
    updated_at: i64,
}

/// Up to `limit` of the user's sessions after `after`, by check-in then id, with their breaks.
pub async fn sessions_page(
    conn: &mut SqliteConnection,
    user: UserId,
    after: Option<Position>,
    limit: u32,
) -> Result<Vec<SessionEntry>, DbError> {
    let (after_at, after_id) = after.unwrap_or(START);
    let rows: Vec<RawSession> = sqlx::query_as(
        "SELECT s.session_id, s.server_id, v.name AS server_name, s.checked_in_at,
                s.checked_out_at, s.status, s.created_at, s.updated_at
         FROM sessions s JOIN servers v ON v.server_id = s.server_id
         WHERE s.user_id = ?1 AND (s.checked_in_at, s.session_id) > (?2, ?3)
         ORDER BY s.checked_in_at, s.session_id
         LIMIT ?4",
    )
    .bind(user.sql())
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
    let breaks: Vec<BreakEntry> = sqlx::query_as(
        "SELECT b.break_id, b.session_id, b.started_at, b.ended_at
         FROM breaks b JOIN sessions s ON s.session_id = b.session_id
         WHERE s.user_id = ?1
           AND (s.checked_in_at, s.session_id) >= (?2, ?3)
           AND (s.checked_in_at, s.session_id) <= (?4, ?5)
         ORDER BY b.session_id, b.started_at, b.break_id",
    )
    .bind(user.sql())
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
