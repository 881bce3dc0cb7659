//! Rows held in memory that answer the host's queries, for testing a plugin with `cargo test`.
//!
//! A [`Fixture`] behaves like the host where a plugin could tell the difference: sessions come
//! by check-in and breaks by start, servers are derived from the sessions, pages are capped (at
//! three rows unless changed, so that paging code is exercised by the smallest test), and a
//! cursor the fixture did not hand out is refused.
//!
//! ```
//! use clocky_plugin_sdk::{Fixture, source};
//!
//! let mut fixture = Fixture::new(42, "alice", "Europe/Berlin");
//! let session = fixture.session(7, "Work", "2025-01-15T09:00:00Z", Some("2025-01-15T17:30:00Z"));
//! fixture.add_break(session, "2025-01-15T12:00:00Z", Some("2025-01-15T13:00:00Z"));
//! let sessions: Vec<_> = source::sessions(&mut fixture).collect::<Result<_, _>>().unwrap();
//! assert_eq!(sessions.len(), 1);
//! assert_eq!(sessions[0].breaks.len(), 1);
//! ```

use clocky_rules::Timestamp;

use crate::source::UserData;
use crate::{
    BreakPage, BreakRecord, Profile, QueryError, ServerRecord, SessionPage, SessionRecord,
    SessionStatus,
};

/// One user's rows, in memory.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The profile the plugin reads.
    pub profile: Profile,
    /// Sessions in any order; queries sort them.
    pub sessions: Vec<SessionRecord>,
    /// The most rows one page holds.
    pub page_cap: u32,
    next_id: u64,
}

impl Fixture {
    /// A user with no sessions yet, first seen at 2024-01-01T00:00:00Z.
    pub fn new(user_id: u64, username: &str, timezone: &str) -> Fixture {
        Fixture {
            profile: Profile {
                user_id,
                username: username.to_owned(),
                first_seen_at: 1_704_067_200,
                timezone: timezone.to_owned(),
                leaderboard_public: false,
            },
            sessions: Vec::new(),
            page_cap: 3,
            next_id: 1,
        }
    }

    /// Adds a session from `checked_in_at` to `checked_out_at` (RFC 3339 times; none for an
    /// active one) and returns its id. Closed sessions are `completed`.
    ///
    /// # Panics
    ///
    /// When a time is not RFC 3339, which is a mistake in the test.
    pub fn session(
        &mut self,
        server_id: u64,
        server_name: &str,
        checked_in_at: &str,
        checked_out_at: Option<&str>,
    ) -> u64 {
        let session_id = self.take_id();
        let checked_in_at = at(checked_in_at);
        let checked_out_at = checked_out_at.map(at);
        self.sessions.push(SessionRecord {
            session_id,
            server_id,
            server_name: server_name.to_owned(),
            checked_in_at,
            checked_out_at,
            status: match checked_out_at {
                Some(_) => SessionStatus::Completed,
                None => SessionStatus::Active,
            },
            created_at: checked_in_at,
            updated_at: checked_out_at.unwrap_or(checked_in_at),
            breaks: Vec::new(),
        });
        session_id
    }

    /// Adds a break to the session `session_id` and returns its id.
    ///
    /// # Panics
    ///
    /// When the session does not exist or a time is not RFC 3339.
    pub fn add_break(&mut self, session_id: u64, started_at: &str, ended_at: Option<&str>) -> u64 {
        let break_id = self.take_id();
        let session = self
            .sessions
            .iter_mut()
            .find(|session| session.session_id == session_id)
            .expect("the break's session was added first");
        session.breaks.push(BreakRecord {
            break_id,
            session_id,
            started_at: at(started_at),
            ended_at: ended_at.map(at),
        });
        session
            .breaks
            .sort_by_key(|record| (record.started_at, record.break_id));
        break_id
    }

    /// A small history with the awkward cases every format must survive, for plugin tests and
    /// for the host's trial run of a new plugin. Its rows, in the Europe/Berlin zone:
    ///
    /// | id | server | name | check-in (UTC) | check-out (UTC) | breaks | status |
    /// |---|---|---|---|---|---|---|
    /// | 1 | 7 | `=Team "A", 🙂` + newline + `Night` | 2025-01-15 09:00 | 17:30 | 2: 12:00–13:00 | completed |
    /// | 3 | 9 | `Side, project` | 2025-07-15 21:30 | 23:15 | none | auto-closed |
    /// | 4 | 9 | `Side, project` | 2025-07-20 08:00 | none | none | active |
    ///
    /// The user is 424242424242424242, `@alice 🙂`, first seen 2024-01-01T00:00:00Z. Session 1
    /// lasts 510 minutes with 60 of break (450 net); session 3 lasts 105 minutes and, in Berlin
    /// (UTC+2 in July), starts at 23:30 local time.
    pub fn sample() -> Fixture {
        let mut fixture = Fixture::new(424_242_424_242_424_242, "@alice 🙂", "Europe/Berlin");
        let tricky = "=Team \"A\", 🙂\nNight";
        let first = fixture.session(
            7,
            tricky,
            "2025-01-15T09:00:00Z",
            Some("2025-01-15T17:30:00Z"),
        );
        fixture.add_break(first, "2025-01-15T12:00:00Z", Some("2025-01-15T13:00:00Z"));
        let late = fixture.session(
            9,
            "Side, project",
            "2025-07-15T21:30:00Z",
            Some("2025-07-15T23:15:00Z"),
        );
        if let Some(session) = fixture.sessions.iter_mut().find(|s| s.session_id == late) {
            session.status = SessionStatus::AutoClosed;
        }
        fixture.session(9, "Side, project", "2025-07-20T08:00:00Z", None);
        fixture
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn sorted_sessions(&self) -> Vec<&SessionRecord> {
        let mut sessions: Vec<_> = self.sessions.iter().collect();
        sessions.sort_by_key(|session| (session.checked_in_at, session.session_id));
        sessions
    }

    fn sorted_breaks(&self) -> Vec<BreakRecord> {
        let mut breaks: Vec<_> = self
            .sessions
            .iter()
            .flat_map(|session| session.breaks.iter().cloned())
            .collect();
        breaks.sort_by_key(|record| (record.started_at, record.break_id));
        breaks
    }

    fn page<T: Clone>(
        &self,
        rows: &[T],
        kind: char,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<T>, Option<String>), QueryError> {
        page(rows, kind, after, limit, self.page_cap)
    }
}

/// The slice of `rows` a page starting at `after` holds, at most `limit` and `cap` rows, and the
/// next cursor: `kind` followed by the index the next page starts at. A cursor of another kind,
/// or one past the end, is refused as the host refuses one it did not hand out.
pub(crate) fn page<T: Clone>(
    rows: &[T],
    kind: char,
    after: Option<&str>,
    limit: u32,
    cap: u32,
) -> Result<(Vec<T>, Option<String>), QueryError> {
    if limit == 0 {
        return Err(QueryError::InvalidArgument(
            "limit must be at least 1".into(),
        ));
    }
    let start = match after {
        None => 0,
        Some(cursor) => cursor
            .strip_prefix(kind)
            .and_then(|index| index.parse::<usize>().ok())
            .filter(|index| *index <= rows.len())
            .ok_or(QueryError::InvalidCursor)?,
    };
    let take = usize::try_from(limit.min(cap)).unwrap_or(usize::MAX);
    let end = start.saturating_add(take).min(rows.len());
    let next = (end < rows.len()).then(|| format!("{kind}{end}"));
    Ok((rows[start..end].to_vec(), next))
}

impl UserData for Fixture {
    fn profile(&mut self) -> Result<Profile, QueryError> {
        Ok(self.profile.clone())
    }

    fn sessions(&mut self, after: Option<&str>, limit: u32) -> Result<SessionPage, QueryError> {
        let sorted: Vec<SessionRecord> = self.sorted_sessions().into_iter().cloned().collect();
        let (sessions, next) = self.page(&sorted, 's', after, limit)?;
        Ok(SessionPage { sessions, next })
    }

    fn breaks(&mut self, after: Option<&str>, limit: u32) -> Result<BreakPage, QueryError> {
        let sorted = self.sorted_breaks();
        let (breaks, next) = self.page(&sorted, 'b', after, limit)?;
        Ok(BreakPage { breaks, next })
    }

    fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError> {
        let mut servers: Vec<ServerRecord> = Vec::new();
        for session in self.sorted_sessions() {
            match servers
                .iter_mut()
                .find(|server| server.server_id == session.server_id)
            {
                Some(server) => {
                    server.last_checkin = session.checked_in_at;
                    server.server_name.clone_from(&session.server_name);
                    server.session_count += 1;
                }
                None => servers.push(ServerRecord {
                    server_id: session.server_id,
                    server_name: session.server_name.clone(),
                    first_checkin: session.checked_in_at,
                    last_checkin: session.checked_in_at,
                    session_count: 1,
                }),
            }
        }
        Ok(servers)
    }
}

/// Reads an RFC 3339 time such as `2025-01-15T09:00:00Z` as seconds since the epoch.
///
/// # Panics
///
/// When the text is not RFC 3339; fixtures are written by hand, so that is a mistake in a test.
pub fn at(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not an RFC 3339 time: {error}"))
        .timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source;

    fn seven_sessions() -> Fixture {
        let mut fixture = Fixture::new(1, "alice", "UTC");
        for day in (10..17).rev() {
            let id = fixture.session(
                5,
                "Work",
                &format!("2025-01-{day}T09:00:00Z"),
                Some(&format!("2025-01-{day}T17:00:00Z")),
            );
            fixture.add_break(id, &format!("2025-01-{day}T12:00:00Z"), None);
        }
        fixture
    }

    #[test]
    fn the_iterators_walk_every_page_in_order() {
        let mut fixture = seven_sessions();
        // Seven rows in pages of three: three pages.
        let sessions: Vec<_> = source::sessions(&mut fixture)
            .collect::<Result<_, _>>()
            .unwrap();
        let days: Vec<i64> = sessions
            .iter()
            .map(|session| (session.checked_in_at - at("2025-01-10T09:00:00Z")) / 86_400)
            .collect();
        assert_eq!(days, [0, 1, 2, 3, 4, 5, 6]);
        let breaks: Vec<_> = source::breaks(&mut fixture)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(breaks.len(), 7);
        assert!(
            breaks
                .windows(2)
                .all(|pair| pair[0].started_at < pair[1].started_at)
        );
    }

    #[test]
    fn foreign_cursors_and_zero_limits_are_refused() {
        let mut fixture = seven_sessions();
        assert_eq!(
            fixture.sessions(Some("b3"), 3).unwrap_err(),
            QueryError::InvalidCursor
        );
        assert_eq!(
            fixture.sessions(Some("s99"), 3).unwrap_err(),
            QueryError::InvalidCursor
        );
        assert!(matches!(
            fixture.sessions(None, 0),
            Err(QueryError::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_failing_query_ends_the_walk_with_its_error() {
        struct Broken;
        impl UserData for Broken {
            fn profile(&mut self) -> Result<Profile, QueryError> {
                Err(QueryError::Unavailable)
            }
            fn sessions(&mut self, _: Option<&str>, _: u32) -> Result<SessionPage, QueryError> {
                Err(QueryError::Unavailable)
            }
            fn breaks(&mut self, _: Option<&str>, _: u32) -> Result<BreakPage, QueryError> {
                Err(QueryError::Unavailable)
            }
            fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError> {
                Err(QueryError::Unavailable)
            }
        }
        let mut broken = Broken;
        let mut walk = source::sessions(&mut broken);
        assert_eq!(walk.next(), Some(Err(QueryError::Unavailable)));
        assert_eq!(walk.next(), None);
    }

    #[test]
    fn servers_are_derived_from_the_sessions() {
        let mut fixture = Fixture::new(1, "alice", "UTC");
        fixture.session(9, "Later", "2025-02-01T09:00:00Z", None);
        fixture.session(5, "Old name", "2025-01-01T09:00:00Z", None);
        fixture.session(5, "New name", "2025-03-01T09:00:00Z", None);
        let servers = fixture.servers().unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].server_id, 5);
        assert_eq!(servers[0].server_name, "New name");
        assert_eq!(servers[0].session_count, 2);
        assert_eq!(servers[0].last_checkin, at("2025-03-01T09:00:00Z"));
        assert_eq!(servers[1].server_id, 9);
    }
}
