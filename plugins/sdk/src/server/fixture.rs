//! One server's rows held in memory that answer the host's server-wide queries, for testing a
//! server-wide plugin with `cargo test`.
//!
//! A [`ServerFixture`] behaves like the host where a plugin could tell the difference: sessions
//! come by check-in, then id, and members by user id; only people with at least one session are
//! members; the server's figures are derived from the sessions; pages are capped (at three rows
//! unless changed, so that paging code is exercised by the smallest test); and a cursor the
//! fixture did not hand out is refused.
//!
//! ```
//! use clocky_plugin_sdk::{ServerFixture, server};
//!
//! let mut fixture = ServerFixture::new(7, "Work");
//! fixture.member(42, "alice", "Europe/Berlin");
//! let session = fixture.session(42, "2025-01-15T09:00:00Z", Some("2025-01-15T17:30:00Z"));
//! fixture.add_break(session, "2025-01-15T12:00:00Z", Some("2025-01-15T13:00:00Z"));
//! let sessions: Vec<_> = server::sessions(&mut fixture).collect::<Result<_, _>>().unwrap();
//! assert_eq!(sessions[0].user_id, 42);
//! assert_eq!(sessions[0].session.breaks.len(), 1);
//! ```

use std::collections::BTreeSet;

use crate::fixture::{at, page};
use crate::server::ServerData;
use crate::{
    BreakRecord, MemberPage, MemberRecord, MemberSession, MemberSessionPage, QueryError,
    ServerSummary, SessionRecord, SessionStatus,
};

/// One server's rows, in memory.
#[derive(Debug, Clone)]
pub struct ServerFixture {
    /// The server every session belongs to.
    pub server_id: u64,
    /// The server's name, as every session carries it.
    pub server_name: String,
    /// Everyone who may record sessions here, in any order. Queries list only those with at
    /// least one session, by user id, as the host does.
    pub people: Vec<MemberRecord>,
    /// Sessions in any order; queries sort them.
    pub sessions: Vec<MemberSession>,
    /// The most rows one page holds.
    pub page_cap: u32,
    next_id: u64,
}

impl ServerFixture {
    /// A server with nobody in it yet.
    pub fn new(server_id: u64, server_name: &str) -> ServerFixture {
        ServerFixture {
            server_id,
            server_name: server_name.to_owned(),
            people: Vec::new(),
            sessions: Vec::new(),
            page_cap: 3,
            next_id: 1,
        }
    }

    /// Adds someone who may record sessions, with their username and IANA time zone.
    pub fn member(&mut self, user_id: u64, username: &str, timezone: &str) {
        self.people.push(MemberRecord {
            user_id,
            username: username.to_owned(),
            timezone: timezone.to_owned(),
        });
    }

    /// Adds a session of the member `user_id` from `checked_in_at` to `checked_out_at` (RFC 3339
    /// times; none for an active one) and returns its id. Closed sessions are `completed`.
    ///
    /// # Panics
    ///
    /// When the member was not added first or a time is not RFC 3339, which are mistakes in the
    /// test.
    pub fn session(
        &mut self,
        user_id: u64,
        checked_in_at: &str,
        checked_out_at: Option<&str>,
    ) -> u64 {
        assert!(
            self.people.iter().any(|person| person.user_id == user_id),
            "add the member {user_id} before their sessions"
        );
        let session_id = self.take_id();
        let checked_in_at = at(checked_in_at);
        let checked_out_at = checked_out_at.map(at);
        let session = SessionRecord {
            session_id,
            server_id: self.server_id,
            server_name: self.server_name.clone(),
            checked_in_at,
            checked_out_at,
            status: match checked_out_at {
                Some(_) => SessionStatus::Completed,
                None => SessionStatus::Active,
            },
            created_at: checked_in_at,
            updated_at: checked_out_at.unwrap_or(checked_in_at),
            breaks: Vec::new(),
        };
        self.sessions.push(MemberSession { user_id, session });
        session_id
    }

    /// Adds a break to the session `session_id` and returns its id.
    ///
    /// # Panics
    ///
    /// When the session does not exist or a time is not RFC 3339.
    pub fn add_break(&mut self, session_id: u64, started_at: &str, ended_at: Option<&str>) -> u64 {
        let break_id = self.take_id();
        let session = self.session_mut(session_id);
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

    /// Sets the status of the session `session_id`, for an `auto-closed` one.
    ///
    /// # Panics
    ///
    /// When the session does not exist.
    pub fn set_status(&mut self, session_id: u64, status: SessionStatus) {
        self.session_mut(session_id).status = status;
    }

    /// A small server with the awkward cases every server-wide format must survive. Server 7,
    /// `=Team "A", 🙂` + newline + `Night`, has two members:
    ///
    /// | user | username | time zone |
    /// |---|---|---|
    /// | 101 | `Priya "PK", 🙂` | Asia/Kolkata (UTC+05:30 all year) |
    /// | 202 | `=Bob` + newline + `Night` | America/New_York (UTC-5; UTC-4 in summer time) |
    ///
    /// and these sessions, oldest first, in pages of three:
    ///
    /// | id | user | check-in (UTC) | check-out (UTC) | breaks (UTC) | status |
    /// |---|---|---|---|---|---|
    /// | 1 | 202 | 2025-03-09 06:30 | 2025-03-09 08:00 | 2: 07:00–07:15 | completed |
    /// | 3 | 101 | 2025-03-10 03:45 | 2025-03-10 12:15 | 4: 07:30–08:15 | completed |
    /// | 5 | 101 | 2025-03-10 20:00 | 2025-03-11 04:00 | 6: 03:30–05:00 | auto-closed |
    /// | 7 | 202 | 2025-03-11 13:00 | none | 8: 14:00–14:20, 9: from 15:00 | active |
    ///
    /// Session 1 spans New York's change to summer time, at 07:00 UTC: 01:30 to 04:00 on the wall
    /// clock, 90 minutes, 75 net. Session 3 is 09:15 to 17:45 in Kolkata, 510 minutes, 465 net. Session 5
    /// starts on the next local day (01:30 to 09:30 on 2025-03-11 in Kolkata), lasts 480
    /// minutes, and its break runs past check-out, so only 30 of its minutes count: 450 net.
    /// Session 7 starts at 09:00 in New York; its ended break counts 20 minutes, the running one
    /// nothing yet.
    pub fn sample() -> ServerFixture {
        let mut fixture = ServerFixture::new(7, "=Team \"A\", 🙂\nNight");
        fixture.member(202, "=Bob\nNight", "America/New_York");
        fixture.member(101, "Priya \"PK\", 🙂", "Asia/Kolkata");

        let across_dst = fixture.session(202, "2025-03-09T06:30:00Z", Some("2025-03-09T08:00:00Z"));
        fixture.add_break(
            across_dst,
            "2025-03-09T07:00:00Z",
            Some("2025-03-09T07:15:00Z"),
        );

        let day = fixture.session(101, "2025-03-10T03:45:00Z", Some("2025-03-10T12:15:00Z"));
        fixture.add_break(day, "2025-03-10T07:30:00Z", Some("2025-03-10T08:15:00Z"));

        let night = fixture.session(101, "2025-03-10T20:00:00Z", Some("2025-03-11T04:00:00Z"));
        fixture.add_break(night, "2025-03-11T03:30:00Z", Some("2025-03-11T05:00:00Z"));
        fixture.set_status(night, SessionStatus::AutoClosed);

        let active = fixture.session(202, "2025-03-11T13:00:00Z", None);
        fixture.add_break(active, "2025-03-11T14:00:00Z", Some("2025-03-11T14:20:00Z"));
        fixture.add_break(active, "2025-03-11T15:00:00Z", None);
        fixture
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn session_mut(&mut self, session_id: u64) -> &mut SessionRecord {
        self.sessions
            .iter_mut()
            .map(|row| &mut row.session)
            .find(|session| session.session_id == session_id)
            .expect("the session was added first")
    }

    fn sorted_sessions(&self) -> Vec<MemberSession> {
        let mut sessions = self.sessions.clone();
        sessions.sort_by_key(|row| (row.session.checked_in_at, row.session.session_id));
        sessions
    }

    /// The people with at least one session, by user id.
    fn sorted_members(&self) -> Vec<MemberRecord> {
        let with_sessions: BTreeSet<u64> = self.sessions.iter().map(|row| row.user_id).collect();
        let mut members: Vec<MemberRecord> = self
            .people
            .iter()
            .filter(|person| with_sessions.contains(&person.user_id))
            .cloned()
            .collect();
        members.sort_by_key(|member| member.user_id);
        members
    }
}

impl ServerData for ServerFixture {
    fn server(&mut self) -> Result<ServerSummary, QueryError> {
        let sessions = self.sorted_sessions();
        let members: BTreeSet<u64> = sessions.iter().map(|row| row.user_id).collect();
        Ok(ServerSummary {
            server_id: self.server_id,
            server_name: self.server_name.clone(),
            member_count: u64::try_from(members.len()).unwrap_or(u64::MAX),
            session_count: u64::try_from(sessions.len()).unwrap_or(u64::MAX),
            first_checkin: sessions.first().map(|row| row.session.checked_in_at),
            last_checkin: sessions.last().map(|row| row.session.checked_in_at),
        })
    }

    fn members(&mut self, after: Option<&str>, limit: u32) -> Result<MemberPage, QueryError> {
        let (members, next) = page(&self.sorted_members(), 'm', after, limit, self.page_cap)?;
        Ok(MemberPage { members, next })
    }

    fn sessions(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<MemberSessionPage, QueryError> {
        let (sessions, next) = page(&self.sorted_sessions(), 's', after, limit, self.page_cap)?;
        Ok(MemberSessionPage { sessions, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server;

    #[test]
    fn the_iterators_walk_every_page_in_order() {
        let mut fixture = ServerFixture::new(5, "Work");
        for user_id in [40, 10, 30, 20] {
            fixture.member(user_id, &format!("user {user_id}"), "UTC");
        }
        // Seven sessions added newest first, spread over the four members.
        for (day, user_id) in (10..17).rev().zip([10, 20, 30, 40].into_iter().cycle()) {
            fixture.session(user_id, &format!("2025-01-{day}T09:00:00Z"), None);
        }

        // Seven sessions in pages of three: three pages, oldest first.
        let sessions: Vec<_> = server::sessions(&mut fixture)
            .collect::<Result<_, _>>()
            .unwrap();
        let days: Vec<i64> = sessions
            .iter()
            .map(|row| (row.session.checked_in_at - at("2025-01-10T09:00:00Z")) / 86_400)
            .collect();
        assert_eq!(days, [0, 1, 2, 3, 4, 5, 6]);
        assert!(sessions.iter().all(|row| row.session.server_id == 5));

        // Four members in pages of three: two pages, by user id.
        let members: Vec<_> = server::members(&mut fixture)
            .collect::<Result<_, _>>()
            .unwrap();
        let ids: Vec<u64> = members.iter().map(|member| member.user_id).collect();
        assert_eq!(ids, [10, 20, 30, 40]);
    }

    #[test]
    fn only_people_with_sessions_are_members() {
        let mut fixture = ServerFixture::new(5, "Work");
        fixture.member(1, "alice", "UTC");
        fixture.member(2, "bob", "UTC");
        fixture.session(2, "2025-01-10T09:00:00Z", None);
        let members: Vec<_> = server::members(&mut fixture)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].username, "bob");
    }

    #[test]
    fn foreign_cursors_and_zero_limits_are_refused() {
        let mut fixture = ServerFixture::sample();
        let first = fixture.sessions(None, 3).unwrap();
        assert_eq!(first.next.as_deref(), Some("s3"));
        assert_eq!(
            fixture.members(first.next.as_deref(), 3).unwrap_err(),
            QueryError::InvalidCursor
        );
        assert_eq!(
            fixture.sessions(Some("s99"), 3).unwrap_err(),
            QueryError::InvalidCursor
        );
        assert!(matches!(
            fixture.members(None, 0),
            Err(QueryError::InvalidArgument(_))
        ));
    }

    #[test]
    fn the_summary_is_derived_from_the_sessions() {
        let summary = ServerFixture::sample().server().unwrap();
        assert_eq!(
            summary,
            ServerSummary {
                server_id: 7,
                server_name: "=Team \"A\", 🙂\nNight".to_owned(),
                member_count: 2,
                session_count: 4,
                first_checkin: Some(at("2025-03-09T06:30:00Z")),
                last_checkin: Some(at("2025-03-11T13:00:00Z")),
            }
        );
        let empty = ServerFixture::new(5, "Empty").server().unwrap();
        assert_eq!((empty.member_count, empty.first_checkin), (0, None));
    }

    #[test]
    fn the_sample_has_the_documented_rows() {
        let mut fixture = ServerFixture::sample();
        let sessions: Vec<_> = server::sessions(&mut fixture)
            .collect::<Result<_, _>>()
            .unwrap();
        let rows: Vec<(u64, u64, usize, SessionStatus)> = sessions
            .iter()
            .map(|row| {
                let session = &row.session;
                (
                    row.user_id,
                    session.session_id,
                    session.breaks.len(),
                    session.status,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (202, 1, 1, SessionStatus::Completed),
                (101, 3, 1, SessionStatus::Completed),
                (101, 5, 1, SessionStatus::AutoClosed),
                (202, 7, 2, SessionStatus::Active),
            ]
        );
    }
}
