//! The `server-sessions-csv` plugin: every session in one server as one CSV row, for the
//! server's managers (`/server-export`).
//!
//! It is `sessions-csv` across a whole server: one row per session of any member, oldest
//! check-in first (then by session id), with who recorded it and when on their own clock.
//!
//! | Column | Value |
//! |---|---|
//! | `member_id` | the member's Discord id |
//! | `member` | the member's Discord username |
//! | `timezone` | the IANA zone the `*_local` columns are in: the member's own |
//! | `session_id` | Clocky's id for the session, as in the JSON export |
//! | `status` | `active`, `completed` or `auto-closed`, as in the JSON export |
//! | `checked_in_local` | the check-in on the member's clock, `YYYY-MM-DD HH:MM` |
//! | `checked_out_local` | the check-out on the member's clock; empty while active |
//! | `checked_in_at` | the check-in in UTC, `2025-01-15T09:00:00Z`, as in `sessions-csv` |
//! | `checked_out_at` | the check-out in UTC; empty while active |
//! | `duration_minutes` | whole minutes from check-in to check-out; empty while active |
//! | `break_duration_minutes` | minutes of the session's ended breaks, clamped into it |
//! | `net_worked_minutes` | duration less breaks; empty while active |
//!
//! The figures are the JSON export's, through the SDK's `figures::of_session`. Local times
//! carry no offset, so an hour repeated when summer time ends reads the same twice; the UTC
//! columns tell such rows apart, and sort as text. A member whose zone this plugin's zone
//! database does not know (a newer host) gets UTC local times, `UTC` in `timezone`, and a
//! warning in the operator's log. Names are other people's choice, so a name starting with `=`,
//! `+`, `-` or `@` is written with a leading apostrophe, as in every Clocky CSV. Breaks are not
//! listed, only counted. The server's id and name are left out, being the same on every row.
//!
//! The document counts every row in `sessions_included` and one server in `servers_included`.

use std::collections::BTreeMap;

use clocky_plugin_sdk::bindings::clocky::plugin::log::Level;
use clocky_plugin_sdk::csv::CsvDocument;
use clocky_plugin_sdk::local::LocalZone;
use clocky_plugin_sdk::rules::Timestamp;
use clocky_plugin_sdk::rules::time::format_utc;
use clocky_plugin_sdk::{Document, ExportError, ServerData, figures, server, status_word};

/// The plugin's name, as operators and managers choose it.
pub const NAME: &str = "server-sessions-csv";

/// What operators and managers are told the plugin makes.
pub const DESCRIPTION: &str = "Every session in the server as CSV, one row per session with its member, local and UTC times, and the same figures as the JSON export.";

/// The columns, in order.
pub const HEADER: [&str; 12] = [
    "member_id",
    "member",
    "timezone",
    "session_id",
    "status",
    "checked_in_local",
    "checked_out_local",
    "checked_in_at",
    "checked_out_at",
    "duration_minutes",
    "break_duration_minutes",
    "net_worked_minutes",
];

/// Who a member is, as a row shows them.
#[derive(Debug)]
struct Member {
    username: String,
    zone: LocalZone,
}

/// Builds the CSV for the server `source` answers for.
///
/// Sessions come by check-in and members by user id, so the two listings cannot be walked side
/// by side: the members are read first into a map from user id to name and zone. That map is
/// the one thing held for the whole server, one small entry per person who ever recorded a
/// session there; the sessions stream through a page at a time.
pub fn build(source: &mut impl ServerData) -> Result<Document, ExportError> {
    let members = read_members(source)?;

    let mut csv = CsvDocument::new(&HEADER)?;
    for row in server::sessions(source) {
        let row = row.map_err(ExportError::QueryFailed)?;
        let session = &row.session;
        let member = members.get(&row.user_id).ok_or_else(|| {
            ExportError::InvalidData(format!(
                "session {} belongs to user {}, who is not among the server's members",
                session.session_id, row.user_id
            ))
        })?;

        let figures = figures::of_session(session);
        let optional = |minutes: Option<u64>| minutes.map(|m| m.to_string()).unwrap_or_default();
        let local = |at: Timestamp| member.zone.at(at).format("%Y-%m-%d %H:%M").to_string();
        csv.row([
            row.user_id.to_string().as_str(),
            &member.username,
            member.zone.name(),
            &session.session_id.to_string(),
            status_word(session.status),
            &local(session.checked_in_at),
            &session.checked_out_at.map(local).unwrap_or_default(),
            &format_utc(session.checked_in_at),
            &session.checked_out_at.map(format_utc).unwrap_or_default(),
            &optional(figures.duration_minutes),
            &figures.break_duration_minutes.to_string(),
            &optional(figures.net_worked_minutes),
        ])?;
    }

    Ok(Document {
        sessions_included: csv.rows(),
        servers_included: 1,
        bytes: csv.finish()?,
    })
}

/// Every member's name and zone, by user id; a zone this plugin does not know is logged once
/// and read as UTC.
fn read_members(source: &mut impl ServerData) -> Result<BTreeMap<u64, Member>, ExportError> {
    let mut members = BTreeMap::new();
    for member in server::members(source) {
        let member = member.map_err(ExportError::QueryFailed)?;
        let zone = LocalZone::named(&member.timezone);
        if zone.fell_back() {
            clocky_plugin_sdk::log(
                Level::Warn,
                &format!(
                    "unknown time zone {:?} of user {}; their local times are in UTC",
                    member.timezone, member.user_id
                ),
            );
        }
        members.insert(
            member.user_id,
            Member {
                username: member.username,
                zone,
            },
        );
    }
    Ok(members)
}

clocky_plugin_sdk::server_csv_plugin!(super::NAME, super::DESCRIPTION, super::build);

#[cfg(test)]
mod tests {
    use super::*;
    use clocky_plugin_sdk::{QueryError, ServerFixture};

    fn text(document: &Document) -> &str {
        std::str::from_utf8(&document.bytes).unwrap()
    }

    /// The sample's four sessions, worked out by hand from the table in
    /// `ServerFixture::sample`'s documentation:
    ///
    /// - Session 1, Bob in New York: 06:30Z is 01:30 EST; 08:00Z is 04:00 EDT, summer time having
    ///   started at 07:00Z. 90 minutes with a 15-minute break: 75 net.
    /// - Session 3, Priya in Kolkata (+05:30): 03:45Z is 09:15, 12:15Z is 17:45. 510 minutes
    ///   with a 45-minute break: 465 net.
    /// - Session 5, Priya again: 20:00Z is 01:30 the next day, 04:00Z is 09:30. 480 minutes;
    ///   the 03:30Z–05:00Z break counts up to check-out only, 30 minutes: 450 net.
    /// - Session 7, Bob, active: 13:00Z is 09:00 EDT. No check-out and no duration or net; the
    ///   ended 20-minute break counts, the running one does not.
    ///
    /// Bob's name starts with `=` and holds a line break: an apostrophe goes first, and the
    /// cell is quoted. Priya's holds a quote, a comma and an emoji: quoted, quote doubled.
    const SAMPLE_CSV: &str = concat!(
        "member_id,member,timezone,session_id,status,checked_in_local,checked_out_local,",
        "checked_in_at,checked_out_at,duration_minutes,break_duration_minutes,net_worked_minutes\r\n",
        "202,\"'=Bob\nNight\",America/New_York,1,completed,2025-03-09 01:30,2025-03-09 04:00,",
        "2025-03-09T06:30:00Z,2025-03-09T08:00:00Z,90,15,75\r\n",
        "101,\"Priya \"\"PK\"\", 🙂\",Asia/Kolkata,3,completed,2025-03-10 09:15,2025-03-10 17:45,",
        "2025-03-10T03:45:00Z,2025-03-10T12:15:00Z,510,45,465\r\n",
        "101,\"Priya \"\"PK\"\", 🙂\",Asia/Kolkata,5,auto-closed,2025-03-11 01:30,2025-03-11 09:30,",
        "2025-03-10T20:00:00Z,2025-03-11T04:00:00Z,480,30,450\r\n",
        "202,\"'=Bob\nNight\",America/New_York,7,active,2025-03-11 09:00,,",
        "2025-03-11T13:00:00Z,,,20,\r\n",
    );

    #[test]
    fn every_session_in_the_server_is_a_row_in_its_members_zone() {
        let document = build(&mut ServerFixture::sample()).unwrap();
        assert_eq!(text(&document), SAMPLE_CSV);
        assert_eq!(document.sessions_included, 4);
        assert_eq!(document.servers_included, 1);
    }

    #[test]
    fn pages_of_one_row_make_the_same_document() {
        let mut fixture = ServerFixture::sample();
        fixture.page_cap = 1;
        let document = build(&mut fixture).unwrap();
        assert_eq!(text(&document), SAMPLE_CSV);
    }

    #[test]
    fn an_unknown_zone_is_written_as_utc() {
        let mut fixture = ServerFixture::new(5, "Work");
        fixture.member(9, "mars", "Mars/Olympus_Mons");
        fixture.session(9, "2025-01-15T09:00:00Z", Some("2025-01-15T09:59:59Z"));
        let document = build(&mut fixture).unwrap();
        // 59 minutes and 59 seconds round down to 59 minutes.
        let row = "9,mars,UTC,1,completed,2025-01-15 09:00,2025-01-15 09:59,\
                   2025-01-15T09:00:00Z,2025-01-15T09:59:59Z,59,0,59\r\n";
        assert_eq!(text(&document), format!("{}\r\n{row}", HEADER.join(",")));
    }

    #[test]
    fn an_empty_server_is_a_header_alone() {
        let document = build(&mut ServerFixture::new(5, "Quiet")).unwrap();
        assert_eq!(text(&document), format!("{}\r\n", HEADER.join(",")));
        assert_eq!(document.sessions_included, 0);
        assert_eq!(document.servers_included, 1);
    }

    #[test]
    fn a_session_of_someone_not_listed_as_a_member_is_invalid_data() {
        let mut fixture = ServerFixture::sample();
        fixture.sessions[0].user_id = 303;
        let error = build(&mut fixture).unwrap_err();
        assert_eq!(
            error,
            ExportError::InvalidData(
                "session 1 belongs to user 303, who is not among the server's members".into()
            )
        );
    }

    #[test]
    fn a_failing_query_fails_the_export_with_the_hosts_answer() {
        let error = build(&mut clocky_plugin_sdk::ServerHost).unwrap_err();
        assert_eq!(error, ExportError::QueryFailed(QueryError::Unavailable));
    }
}
