//! The sample user every plugin exports once before it may serve: the check run.
//!
//! A component can compile, fit the contract and report good metadata, and still fail on its
//! first real export. So before a plugin is activated, the host runs it against this user,
//! under tighter limits than real exports get, and refuses it if the export fails or the
//! document is not what its media type promises.
//!
//! The sample lives in its own in-memory database, recorded through the real [`Tracker`], so the
//! plugin reads it through exactly the queries and paging a real export uses. It is small but
//! awkward on purpose: names with a comma, quotes, a newline, an emoji and a leading `=`; a
//! session across midnight and a daylight-saving change; an auto-closed session; an active one
//! with a running break.
//!
//! A server-wide plugin exports the sample's first server instead, where a second member,
//! [`SAMPLE_MEMBER_USERNAME`] in a zone half an hour off the hour, has a session too.
//!
//! Plugin authors can rely on the user's name, [`SAMPLE_USERNAME`], to recognise the check run
//! in their own tests; the plugin guide says so.

use std::sync::Arc;

use clocky_rules::Timestamp;

use super::{PluginError, Scope};
use crate::clock::ManualClock;
use crate::db::Db;
use crate::db::history::Owner;
use crate::ids::{ServerId, UserId};
use crate::tracking::{Member, Tracker};

/// The sample user's Discord id.
pub const SAMPLE_USER: u64 = 100_000_000_000_000_001;

/// The sample user's name.
pub const SAMPLE_USERNAME: &str = "clocky-check";

/// The sample user's time zone, which changes to summer time during the sample.
pub const SAMPLE_ZONE: &str = "Europe/Berlin";

/// The second member's Discord id.
pub const SAMPLE_MEMBER: u64 = 100_000_000_000_000_002;

/// The second member's name.
pub const SAMPLE_MEMBER_USERNAME: &str = "clocky-check-member";

/// The second member's time zone: 5 hours 30 minutes ahead of UTC, with no daylight saving.
pub const SAMPLE_MEMBER_ZONE: &str = "Asia/Kolkata";

/// The second member's one session in the first server: Friday 27 March, 03:30 to 12:00 UTC
/// (09:00 to 17:30 in Kolkata).
const MEMBER_SESSION: (Timestamp, Timestamp) = (1_774_582_200, 1_774_612_800);

/// The instant the check run's export is generated at: 2026-03-30 12:00 UTC.
pub const SAMPLE_NOW: Timestamp = 1_774_872_000;

/// The sample's servers: an id and a name each.
const SERVERS: [(u64, &str); 2] = [
    (200_000_000_000_000_001, "Clocky, \"Sample\" HQ"),
    (200_000_000_000_000_002, "🚀 =Launch\nTeam"),
];

/// What the sample user does, in order: (instant, server index, action).
const EVENTS: &[(Timestamp, usize, Action)] = &[
    // Friday 27 March: a working day with a lunch break.
    (1_774_598_400, 0, Action::CheckIn),    // 08:00 UTC
    (1_774_612_800, 0, Action::BreakStart), // 12:00
    (1_774_614_600, 0, Action::BreakEnd),   // 12:30
    (1_774_628_100, 0, Action::CheckOut),   // 16:15
    // Saturday night into Sunday 29 March, across midnight and the change to summer time.
    (1_774_737_000, 1, Action::CheckIn),  // 22:30
    (1_774_750_500, 1, Action::CheckOut), // 02:15
    // Sunday: a session never checked out, closed by the rules at the next check-in.
    (1_774_774_800, 0, Action::CheckIn), // 09:00
    // Monday 30 March: the session still running, in a break, when the export is made.
    (1_774_854_000, 0, Action::CheckIn),    // 07:00
    (1_774_870_200, 0, Action::BreakStart), // 11:30
];

#[derive(Debug, Clone, Copy)]
enum Action {
    CheckIn,
    CheckOut,
    BreakStart,
    BreakEnd,
}

/// Opens a fresh in-memory database holding the sample user.
pub async fn database() -> Result<Db, PluginError> {
    let failed = |what: &str, error: &dyn std::fmt::Display| {
        PluginError::Invalid(format!(
            "the sample data for the check run could not be {what}: {error}"
        ))
    };
    let db = Db::in_memory()
        .await
        .map_err(|error| failed("opened", &error))?;
    let clock = ManualClock::new(EVENTS[0].0);
    // 12 hours, the default, so the Sunday session is closed at 21:00 UTC.
    let tracker = Tracker::new(db.clone(), Arc::new(clock.clone()), 12);
    let user = UserId::new(SAMPLE_USER).map_err(|error| failed("made", &error))?;
    tracker
        .set_timezone(user, Some((SAMPLE_USERNAME, 0)), SAMPLE_ZONE)
        .await
        .map_err(|error| failed("recorded", &error))?;

    for &(at, server, action) in EVENTS {
        clock.set(at);
        let (server_id, server_name) = SERVERS[server];
        let member = Member {
            user,
            username: Some((SAMPLE_USERNAME, 0)),
            server: ServerId::new(server_id).map_err(|error| failed("made", &error))?,
            server_name: Some(server_name),
        };
        let done = match action {
            Action::CheckIn => tracker.check_in(member, None).await.map(drop),
            Action::CheckOut => tracker.check_out(member, None).await.map(drop),
            Action::BreakStart => tracker.start_break(member, None).await,
            Action::BreakEnd => tracker.end_break(member, None).await.map(drop),
        };
        done.map_err(|error| failed("recorded", &error))?;
    }

    let member = UserId::new(SAMPLE_MEMBER).map_err(|error| failed("made", &error))?;
    let (server_id, server_name) = SERVERS[0];
    let member = Member {
        user: member,
        username: Some((SAMPLE_MEMBER_USERNAME, 0)),
        server: ServerId::new(server_id).map_err(|error| failed("made", &error))?,
        server_name: Some(server_name),
    };
    tracker
        .set_timezone(member.user, member.username, SAMPLE_MEMBER_ZONE)
        .await
        .map_err(|error| failed("recorded", &error))?;
    clock.set(MEMBER_SESSION.0);
    tracker
        .check_in(member, None)
        .await
        .map_err(|error| failed("recorded", &error))?;
    clock.set(MEMBER_SESSION.1);
    tracker
        .check_out(member, None)
        .await
        .map_err(|error| failed("recorded", &error))?;
    Ok(db)
}

/// Whose data a check run of a plugin of `scope` reads: the sample user, or the sample's first
/// server.
pub fn owner(scope: Scope) -> Result<Owner, PluginError> {
    let made = |error: crate::ids::IdError| PluginError::CheckRun(error.to_string());
    Ok(match scope {
        Scope::User => Owner::User(UserId::new(SAMPLE_USER).map_err(made)?),
        Scope::Server => Owner::Server(ServerId::new(SERVERS[0].0).map_err(made)?),
    })
}

/// Checks that a check run's document is what the plugin's media type promises: JSON that
/// parses, or text that is UTF-8. Other media types are taken as they come.
pub fn check_document(media_type: &str, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("the document is empty".to_owned());
    }
    let essence = media_type.to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|error| format!("the document is not valid JSON ({error})"))?;
    } else if essence.starts_with("text/") {
        std::str::from_utf8(bytes)
            .map_err(|error| format!("the document is not valid UTF-8 text ({error})"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn the_sample_instants_are_the_ones_their_comments_name() {
        let utc = |y, mo, d, h, mi| {
            Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
                .unwrap()
                .timestamp()
        };
        let expected = [
            utc(2026, 3, 27, 8, 0),
            utc(2026, 3, 27, 12, 0),
            utc(2026, 3, 27, 12, 30),
            utc(2026, 3, 27, 16, 15),
            utc(2026, 3, 28, 22, 30),
            utc(2026, 3, 29, 2, 15),
            utc(2026, 3, 29, 9, 0),
            utc(2026, 3, 30, 7, 0),
            utc(2026, 3, 30, 11, 30),
        ];
        let actual: Vec<Timestamp> = EVENTS.iter().map(|event| event.0).collect();
        assert_eq!(actual, expected);
        assert_eq!(SAMPLE_NOW, utc(2026, 3, 30, 12, 0));
    }

    #[tokio::test]
    async fn the_sample_holds_four_sessions_one_auto_closed_and_one_active() {
        let db = database().await.expect("the sample database");
        let rows: Vec<(i64, Option<i64>, String)> = sqlx::query_as(
            "SELECT checked_in_at, checked_out_at, status FROM sessions WHERE user_id = ?1
             ORDER BY checked_in_at",
        )
        .bind(i64::try_from(SAMPLE_USER).unwrap())
        .fetch_all(db.pool())
        .await
        .expect("the sessions");
        let (sunday, monday) = (EVENTS[6].0, EVENTS[7].0);
        assert_eq!(rows.len(), 4);
        // Sunday's session is closed 12 hours after its check-in, before Monday's began.
        assert_eq!(
            rows[2],
            (sunday, Some(sunday + 12 * 3600), "auto-closed".to_owned())
        );
        assert_eq!(rows[3], (monday, None, "active".to_owned()));
    }

    #[tokio::test]
    async fn the_first_server_has_two_members_and_four_sessions() {
        let db = database().await.expect("the sample database");
        let server = i64::try_from(SERVERS[0].0).unwrap();
        let (members, sessions): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT user_id), COUNT(*) FROM sessions WHERE server_id = ?1",
        )
        .bind(server)
        .fetch_one(db.pool())
        .await
        .expect("the figures");
        // The user's three sessions there (Friday, Sunday, Monday) and the member's one.
        assert_eq!((members, sessions), (2, 4));
        let zone: String = sqlx::query_scalar("SELECT timezone FROM users WHERE user_id = ?1")
            .bind(i64::try_from(SAMPLE_MEMBER).unwrap())
            .fetch_one(db.pool())
            .await
            .expect("the member");
        assert_eq!(zone, "Asia/Kolkata");
        let kolkata_nine = Utc
            .with_ymd_and_hms(2026, 3, 27, 3, 30, 0)
            .unwrap()
            .timestamp();
        assert_eq!(MEMBER_SESSION.0, kolkata_nine);
        assert_eq!(MEMBER_SESSION.1 - MEMBER_SESSION.0, 8 * 3600 + 30 * 60);
    }

    #[test]
    fn documents_must_match_their_media_type() {
        assert!(check_document("application/json", b"{\"a\":1}").is_ok());
        assert!(check_document("application/ld+json", b"[]").is_ok());
        assert!(check_document("application/json", b"{\"a\":").is_err());
        assert!(check_document("text/csv", "a,🚀\r\n".as_bytes()).is_ok());
        assert!(check_document("text/csv", &[0xff, 0xfe]).is_err());
        assert!(check_document("application/octet-stream", &[0xff]).is_ok());
        assert!(check_document("text/csv", b"").is_err());
    }
}
