//! The host side of the WIT imports: the `user-data` and `server-data` capabilities and the
//! `log` sink.
//!
//! A [`Capability`] is bound by the host, before the plugin runs, to one user (a personal
//! export) or to one server (a server-wide export), and every query filters on that owner in
//! SQL. The plugin has no way to name anybody or anything else: no WIT function takes a user or
//! a server, cursors only move within the bound owner's rows (a forged cursor can do no more
//! than skip some of them), and a capability bound to a server answers no `user-data` query and
//! the other way round. All queries of one export run in one read transaction, so the pages
//! a plugin reads form one consistent snapshot even while the user keeps checking in and out.

use clocky_rules::names::display_username;
use tracing::Level;

use super::GuestState;
use super::bindings::clocky::plugin::types::{
    BreakPage, BreakRecord, Profile, QueryError, ServerRecord, SessionPage, SessionRecord,
    SessionStatus,
};
use super::bindings::clocky::plugin::types::{
    MemberPage, MemberRecord, MemberSession, MemberSessionPage, ServerSummary,
};
use super::bindings::clocky::plugin::{log, types, user_data};
use super::bindings_1_0::clocky::plugin as v1_0;
use super::bindings_1_1::clocky::plugin as v1_1;
use super::bindings_server::clocky::plugin::server_data;
use super::limits::MAX_LOG_LINE_BYTES;
use crate::db::history::{self, BreakEntry, Owner, Position, SessionEntry};
use crate::db::{DbError, Tx, tracking as q};
use crate::ids::{ServerId, UserId, from_sql};
use clocky_rules::figures::Status;

/// Read access to one user's rows, or to one server's, for the length of one export.
#[derive(Debug)]
pub struct Capability {
    owner: Owner,
    tx: Tx,
    /// Host queries answered so far, for the operator's log.
    pub(crate) queries: u64,
}

impl Capability {
    /// Binds a read transaction to `owner`: a [`UserId`] or a [`ServerId`].
    pub fn new(owner: impl Into<Owner>, tx: Tx) -> Self {
        Capability {
            owner: owner.into(),
            tx,
            queries: 0,
        }
    }
}

impl From<UserId> for Owner {
    fn from(user: UserId) -> Self {
        Owner::User(user)
    }
}

impl From<ServerId> for Owner {
    fn from(server: ServerId) -> Self {
        Owner::Server(server)
    }
}

/// Cursor prefixes, so a session cursor handed to `breaks` is refused rather than misread.
const SESSION_CURSOR: &str = "s";
const BREAK_CURSOR: &str = "b";
const MEMBER_CURSOR: &str = "m";

fn encode_cursor(kind: &str, (at, id): Position) -> String {
    format!("{kind}.{at}.{id}")
}

fn decode_cursor(kind: &str, cursor: &str) -> Result<Position, QueryError> {
    let mut parts = cursor.splitn(3, '.');
    let (Some(prefix), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(QueryError::InvalidCursor);
    };
    if prefix != kind {
        return Err(QueryError::InvalidCursor);
    }
    match (at.parse(), id.parse()) {
        (Ok(at), Ok(id)) => Ok((at, id)),
        _ => Err(QueryError::InvalidCursor),
    }
}

impl GuestState {
    /// The bound capability and the effective page size, or the error the guest should see.
    /// `server` says which kind of owner the query needs: a server-wide plugin gets no answer
    /// to a `user-data` query, nor a per-user plugin to a `server-data` one.
    fn capability(
        &mut self,
        limit: u32,
        server: bool,
    ) -> Result<(&mut Capability, u32), QueryError> {
        if limit == 0 {
            return Err(QueryError::InvalidArgument(
                "limit must be at least 1".to_owned(),
            ));
        }
        let page = limit.min(self.limits.page_size);
        match self.bound.as_mut() {
            Some(capability) if matches!(capability.owner, Owner::Server(_)) == server => {
                capability.queries += 1;
                Ok((capability, page))
            }
            // Metadata calls and load-time checks run with nothing bound.
            _ => Err(QueryError::Unavailable),
        }
    }

    /// The bound user's capability, for `user-data` queries.
    fn user_capability(
        &mut self,
        limit: u32,
    ) -> Result<(&mut Capability, UserId, u32), QueryError> {
        let (capability, page) = self.capability(limit, false)?;
        match capability.owner {
            Owner::User(user) => Ok((capability, user, page)),
            Owner::Server(_) => Err(QueryError::Unavailable),
        }
    }

    /// The bound server's capability, for `server-data` queries.
    fn server_capability(
        &mut self,
        limit: u32,
    ) -> Result<(&mut Capability, ServerId, u32), QueryError> {
        let (capability, page) = self.capability(limit, true)?;
        match capability.owner {
            Owner::Server(server) => Ok((capability, server, page)),
            Owner::User(_) => Err(QueryError::Unavailable),
        }
    }

    fn storage_failed(&self, error: DbError) -> QueryError {
        tracing::error!(plugin = %self.label, error = %error, "a plugin query failed in storage");
        QueryError::Unavailable
    }
}

fn u64_id(value: i64) -> Result<u64, DbError> {
    Ok(from_sql(value)?)
}

/// The cursor after a page whose last row is at `position`, if the page was full.
fn next_cursor(kind: &str, rows: usize, page: u32, position: Option<Position>) -> Option<String> {
    match position {
        Some(position) if rows == usize::try_from(page).unwrap_or(usize::MAX) => {
            Some(encode_cursor(kind, position))
        }
        _ => None,
    }
}

fn session_record(row: &SessionEntry) -> Result<SessionRecord, DbError> {
    Ok(SessionRecord {
        session_id: u64_id(row.session_id)?,
        server_id: row.server_id.get(),
        server_name: row.server_name.clone(),
        checked_in_at: row.checked_in_at,
        checked_out_at: row.checked_out_at,
        status: session_status(row.status),
        created_at: row.created_at,
        updated_at: row.updated_at,
        breaks: row
            .breaks
            .iter()
            .map(break_record)
            .collect::<Result<_, _>>()?,
    })
}

fn break_record(entry: &BreakEntry) -> Result<BreakRecord, DbError> {
    Ok(BreakRecord {
        break_id: u64_id(entry.break_id)?,
        session_id: u64_id(entry.session_id)?,
        started_at: entry.started_at,
        ended_at: entry.ended_at,
    })
}

fn session_status(status: Status) -> SessionStatus {
    match status {
        Status::Active => SessionStatus::Active,
        Status::Completed => SessionStatus::Completed,
        Status::AutoClosed => SessionStatus::AutoClosed,
    }
}

impl types::Host for GuestState {}

impl user_data::Host for GuestState {
    async fn get_profile(&mut self) -> wasmtime::Result<Result<Profile, QueryError>> {
        let (capability, user) = match self.user_capability(1) {
            Ok((capability, user, _)) => (capability, user),
            Err(error) => return Ok(Err(error)),
        };
        let found = q::user(&mut capability.tx, user).await;
        Ok(match found {
            Ok(Some(row)) => Ok(Profile {
                user_id: row.user_id.get(),
                username: display_username(&row.username, row.discriminator),
                first_seen_at: row.first_seen_at,
                timezone: row.timezone,
                leaderboard_public: row.leaderboard_public,
            }),
            Ok(None) => Err(self.storage_failed(DbError::Corrupt(format!("user {user} is gone")))),
            Err(error) => Err(self.storage_failed(error)),
        })
    }

    async fn sessions(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<SessionPage, QueryError>> {
        let position = match after
            .as_deref()
            .map(|c| decode_cursor(SESSION_CURSOR, c))
            .transpose()
        {
            Ok(position) => position,
            Err(error) => return Ok(Err(error)),
        };
        let (capability, user, page) = match self.user_capability(limit) {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let owner = Owner::User(user);
        let rows = match history::sessions_page(&mut capability.tx, owner, position, page).await {
            Ok(rows) => rows,
            Err(error) => return Ok(Err(self.storage_failed(error))),
        };
        let last = rows
            .last()
            .map(|last| (last.checked_in_at, last.session_id));
        let next = next_cursor(SESSION_CURSOR, rows.len(), page, last);
        let converted: Result<Vec<SessionRecord>, DbError> =
            rows.iter().map(session_record).collect();
        Ok(match converted {
            Ok(sessions) => Ok(SessionPage { sessions, next }),
            Err(error) => Err(self.storage_failed(error)),
        })
    }

    async fn breaks(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<BreakPage, QueryError>> {
        let position = match after
            .as_deref()
            .map(|c| decode_cursor(BREAK_CURSOR, c))
            .transpose()
        {
            Ok(position) => position,
            Err(error) => return Ok(Err(error)),
        };
        let (capability, user, page) = match self.user_capability(limit) {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let rows = match history::breaks_page(&mut capability.tx, user, position, page).await {
            Ok(rows) => rows,
            Err(error) => return Ok(Err(self.storage_failed(error))),
        };
        let last = rows.last().map(|last| (last.started_at, last.break_id));
        let next = next_cursor(BREAK_CURSOR, rows.len(), page, last);
        Ok(
            match rows.iter().map(break_record).collect::<Result<Vec<_>, _>>() {
                Ok(breaks) => Ok(BreakPage { breaks, next }),
                Err(error) => Err(self.storage_failed(error)),
            },
        )
    }

    async fn servers(&mut self) -> wasmtime::Result<Result<Vec<ServerRecord>, QueryError>> {
        let (capability, user) = match self.user_capability(1) {
            Ok((capability, user, _)) => (capability, user),
            Err(error) => return Ok(Err(error)),
        };
        Ok(match history::servers(&mut capability.tx, user).await {
            Ok(rows) => Ok(rows
                .into_iter()
                .map(|row| ServerRecord {
                    server_id: row.server_id.get(),
                    server_name: row.server_name,
                    first_checkin: row.first_checkin,
                    last_checkin: row.last_checkin,
                    session_count: row.session_count,
                })
                .collect()),
            Err(error) => Err(self.storage_failed(error)),
        })
    }
}

impl server_data::Host for GuestState {
    async fn get_server(&mut self) -> wasmtime::Result<Result<ServerSummary, QueryError>> {
        let (capability, server) = match self.server_capability(1) {
            Ok((capability, server, _)) => (capability, server),
            Err(error) => return Ok(Err(error)),
        };
        Ok(
            match history::server_summary(&mut capability.tx, server).await {
                Ok(summary) => Ok(ServerSummary {
                    server_id: summary.server_id.get(),
                    server_name: summary.server_name,
                    member_count: summary.member_count,
                    session_count: summary.session_count,
                    first_checkin: summary.first_checkin,
                    last_checkin: summary.last_checkin,
                }),
                Err(error) => Err(self.storage_failed(error)),
            },
        )
    }

    async fn members(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<MemberPage, QueryError>> {
        // A member cursor is a position whose instant is always 0 and whose id is a user id.
        let after = match after
            .as_deref()
            .map(|c| decode_cursor(MEMBER_CURSOR, c))
            .transpose()
        {
            Ok(None) => None,
            Ok(Some((0, id))) => match UserId::from_sql(id) {
                Ok(user) => Some(user),
                Err(_) => return Ok(Err(QueryError::InvalidCursor)),
            },
            Ok(Some(_)) => return Ok(Err(QueryError::InvalidCursor)),
            Err(error) => return Ok(Err(error)),
        };
        let (capability, server, page) = match self.server_capability(limit) {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let rows = match history::members_page(&mut capability.tx, server, after, page).await {
            Ok(rows) => rows,
            Err(error) => return Ok(Err(self.storage_failed(error))),
        };
        let last = rows.last().map(|last| (0, last.user_id.sql()));
        let next = next_cursor(MEMBER_CURSOR, rows.len(), page, last);
        let members = rows
            .into_iter()
            .map(|row| MemberRecord {
                user_id: row.user_id.get(),
                username: display_username(&row.username, row.discriminator),
                timezone: row.timezone,
            })
            .collect();
        Ok(Ok(MemberPage { members, next }))
    }

    async fn sessions(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<MemberSessionPage, QueryError>> {
        let position = match after
            .as_deref()
            .map(|c| decode_cursor(SESSION_CURSOR, c))
            .transpose()
        {
            Ok(position) => position,
            Err(error) => return Ok(Err(error)),
        };
        let (capability, server, page) = match self.server_capability(limit) {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let owner = Owner::Server(server);
        let rows = match history::sessions_page(&mut capability.tx, owner, position, page).await {
            Ok(rows) => rows,
            Err(error) => return Ok(Err(self.storage_failed(error))),
        };
        let last = rows
            .last()
            .map(|last| (last.checked_in_at, last.session_id));
        let next = next_cursor(SESSION_CURSOR, rows.len(), page, last);
        let converted: Result<Vec<MemberSession>, DbError> = rows
            .iter()
            .map(|row| {
                Ok(MemberSession {
                    user_id: row.user_id.get(),
                    session: session_record(row)?,
                })
            })
            .collect();
        Ok(match converted {
            Ok(sessions) => Ok(MemberSessionPage { sessions, next }),
            Err(error) => Err(self.storage_failed(error)),
        })
    }
}

impl log::Host for GuestState {
    async fn enabled(&mut self, level: log::Level) -> wasmtime::Result<bool> {
        if self.log_lines_written >= self.limits.log_lines {
            return Ok(false);
        }
        Ok(match level {
            log::Level::Debug => tracing::enabled!(Level::DEBUG),
            log::Level::Info => tracing::enabled!(Level::INFO),
            log::Level::Warn => tracing::enabled!(Level::WARN),
            log::Level::Error => tracing::enabled!(Level::ERROR),
        })
    }

    async fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.log_lines_written >= self.limits.log_lines {
            self.log_lines_dropped += 1;
            return Ok(());
        }
        self.log_lines_written += 1;
        let line = truncate(&message, MAX_LOG_LINE_BYTES);
        let plugin = self.label.as_str();
        match level {
            log::Level::Debug => tracing::event!(Level::DEBUG, plugin, "{line}"),
            log::Level::Info => tracing::event!(Level::INFO, plugin, "{line}"),
            log::Level::Warn => tracing::event!(Level::WARN, plugin, "{line}"),
            log::Level::Error => tracing::event!(Level::ERROR, plugin, "{line}"),
        }
        Ok(())
    }
}

// Plugins built for 1.1.0 and 1.0.0 read the same records through the same code; only the
// log's level enum is a type of its own in those versions.
impl v1_1::user_data::Host for GuestState {
    async fn get_profile(&mut self) -> wasmtime::Result<Result<Profile, QueryError>> {
        <Self as user_data::Host>::get_profile(self).await
    }

    async fn sessions(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<SessionPage, QueryError>> {
        <Self as user_data::Host>::sessions(self, after, limit).await
    }

    async fn breaks(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<BreakPage, QueryError>> {
        <Self as user_data::Host>::breaks(self, after, limit).await
    }

    async fn servers(&mut self) -> wasmtime::Result<Result<Vec<ServerRecord>, QueryError>> {
        <Self as user_data::Host>::servers(self).await
    }
}

fn level_1_1(level: v1_1::log::Level) -> log::Level {
    match level {
        v1_1::log::Level::Debug => log::Level::Debug,
        v1_1::log::Level::Info => log::Level::Info,
        v1_1::log::Level::Warn => log::Level::Warn,
        v1_1::log::Level::Error => log::Level::Error,
    }
}

impl v1_1::log::Host for GuestState {
    async fn enabled(&mut self, level: v1_1::log::Level) -> wasmtime::Result<bool> {
        <Self as log::Host>::enabled(self, level_1_1(level)).await
    }

    async fn write(&mut self, level: v1_1::log::Level, message: String) -> wasmtime::Result<()> {
        <Self as log::Host>::write(self, level_1_1(level), message).await
    }
}

impl v1_0::user_data::Host for GuestState {
    async fn get_profile(&mut self) -> wasmtime::Result<Result<Profile, QueryError>> {
        <Self as user_data::Host>::get_profile(self).await
    }

    async fn sessions(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<SessionPage, QueryError>> {
        <Self as user_data::Host>::sessions(self, after, limit).await
    }

    async fn breaks(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<BreakPage, QueryError>> {
        <Self as user_data::Host>::breaks(self, after, limit).await
    }

    async fn servers(&mut self) -> wasmtime::Result<Result<Vec<ServerRecord>, QueryError>> {
        <Self as user_data::Host>::servers(self).await
    }
}

impl v1_0::log::Host for GuestState {
    async fn write(&mut self, level: v1_0::log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            v1_0::log::Level::Debug => log::Level::Debug,
            v1_0::log::Level::Info => log::Level::Info,
            v1_0::log::Level::Warn => log::Level::Warn,
            v1_0::log::Level::Error => log::Level::Error,
        };
        <Self as log::Host>::write(self, level, message).await
    }
}

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let cursor = encode_cursor(SESSION_CURSOR, (1_700_000_000, 42));
        assert_eq!(
            decode_cursor(SESSION_CURSOR, &cursor),
            Ok((1_700_000_000, 42))
        );
        assert_eq!(
            decode_cursor(BREAK_CURSOR, &cursor),
            Err(QueryError::InvalidCursor)
        );
        for bad in ["", "s", "s.1", "s.x.1", "s.1.y", "s.-1.-1.2"] {
            assert_eq!(
                decode_cursor(SESSION_CURSOR, bad),
                Err(QueryError::InvalidCursor),
                "{bad}"
            );
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
