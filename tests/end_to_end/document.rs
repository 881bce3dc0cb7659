//! The document's shape as the guide describes it: field names and their order, ids as strings,
//! instants in one form, rows in time order, names and preferences as the user set them.

use clocky::tracking::{Member, TrackError};
use clocky_rules::zone::ZoneError;
use clocky_tests::json::{Shape, assert_valid, is_utc_instant};
use clocky_tests::{TestHost, user};
use serde_json::Value;

const ALICE: u64 = 123_456_789_012_345_678;
const BOB: u64 = 223_456_789_012_345_678;
const CAROL: u64 = 323_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;
const SIDE: u64 = 876_543_210_987_654_321;

const SESSION_FIELDS: [&str; 11] = [
    "session_id",
    "server_id",
    "server_name",
    "checked_in_at",
    "checked_out_at",
    "duration_minutes",
    "break_duration_minutes",
    "net_worked_minutes",
    "status",
    "created_at",
    "updated_at",
];

const BREAK_FIELDS: [&str; 6] = [
    "break_id",
    "session_id",
    "started_at",
    "ended_at",
    "duration_minutes",
    "status",
];

/// Alice, with names, in the work server.
fn alice_at_work(host: &TestHost) -> Member<'static> {
    Member {
        username: Some(("alice", 1234)),
        server_name: Some("Work Server"),
        ..host.member(ALICE, WORK)
    }
}

/// Records, for Alice: a session on 01-16 first, then a backfilled one on 01-15, each with a
/// break, so ids run against time; and a session in another server still active on 01-17 with a
/// break still running. The clock stands at 2025-01-17T10:00:00Z.
async fn history_recorded_out_of_order(host: &TestHost) {
    let work = alice_at_work(host);
    let side = Member {
        server_name: Some("Side Project 🚀"),
        ..host.member(ALICE, SIDE)
    };
    let tracker = &host.app.tracker;

    tracker
        .check_in(work, Some(clocky_tests::at("2025-01-16T09:00:00Z")))
        .await
        .unwrap();
    host.pause(work, "2025-01-16T12:00:00Z", "2025-01-16T12:30:00Z")
        .await;
    tracker
        .check_out(work, Some(clocky_tests::at("2025-01-16T17:00:00Z")))
        .await
        .unwrap();

    tracker
        .check_in(work, Some(clocky_tests::at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    host.pause(work, "2025-01-15T12:00:00Z", "2025-01-15T12:45:00Z")
        .await;
    tracker
        .check_out(work, Some(clocky_tests::at("2025-01-15T17:00:00Z")))
        .await
        .unwrap();

    tracker
        .check_in(side, Some(clocky_tests::at("2025-01-17T08:00:00Z")))
        .await
        .unwrap();
    tracker
        .start_break(side, Some(clocky_tests::at("2025-01-17T09:00:00Z")))
        .await
        .unwrap();
}

/// Calls `check` on every field of `value`, at any depth, with its key.
fn each_field(value: &Value, check: &mut impl FnMut(&str, &Value)) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                check(key, field);
                each_field(field, check);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| each_field(item, check)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_come_in_the_guides_order_with_string_ids_and_utc_instants() {
    let host = TestHost::builder()
        .now("2025-01-17T10:00:00Z")
        .start()
        .await;
    history_recorded_out_of_order(&host).await;
    let exported = host.export(ALICE).await;
    assert_valid(&exported.document);

    let shape = Shape::of(&exported.bytes);
    assert_eq!(
        shape.keys(),
        [
            "export_info",
            "user_data",
            "sessions",
            "breaks",
            "statistics",
            "servers"
        ]
    );
    assert_eq!(
        shape.field("export_info").keys(),
        ["generated_at", "user_id", "username", "export_version"]
    );
    assert_eq!(
        shape.field("user_data").keys(),
        ["user_id", "username", "created_at", "preferences"]
    );
    assert_eq!(
        shape.field("user_data").field("preferences").keys(),
        ["leaderboard_public", "timezone"]
    );
    let sessions = shape.field("sessions").items();
    assert_eq!(sessions.len(), 3);
    for session in sessions {
        assert_eq!(session.keys(), SESSION_FIELDS);
    }
    let breaks = shape.field("breaks").items();
    assert_eq!(breaks.len(), 3);
    for pause in breaks {
        assert_eq!(pause.keys(), BREAK_FIELDS);
    }
    assert_eq!(
        shape.field("statistics").keys(),
        [
            "total_sessions",
            "total_worked_minutes",
            "total_worked_hours",
            "average_session_minutes",
            "longest_session_minutes",
            "total_break_minutes",
            "servers_count"
        ]
    );
    for server in shape.field("servers").items() {
        assert_eq!(
            server.keys(),
            [
                "server_id",
                "server_name",
                "first_checkin",
                "last_checkin",
                "session_count"
            ]
        );
    }

    let document = &exported.document;
    assert_eq!(document["export_info"]["user_id"], "123456789012345678");
    assert_eq!(document["user_data"]["user_id"], "123456789012345678");
    assert_eq!(document["export_info"]["export_version"], "1.0");
    assert_eq!(
        document["export_info"]["generated_at"],
        "2025-01-17T10:00:00Z"
    );
    // Clocky first saw Alice at her earliest check-in, though it was recorded second.
    assert_eq!(document["user_data"]["created_at"], "2025-01-15T09:00:00Z");

    // Every id is a decimal string and every instant is in Clocky's one form; a null is only
    // allowed where something has not ended yet.
    let mut ids = 0;
    let mut instants = 0;
    each_field(document, &mut |key, value| {
        if key.ends_with("_id") {
            let text = value.as_str().unwrap_or_else(|| panic!("{key} is {value}"));
            assert!(text.parse::<u64>().is_ok(), "{key} = {text:?}");
            ids += 1;
        }
        if key.ends_with("_at") || key.ends_with("_checkin") {
            match value {
                Value::String(text) => assert!(is_utc_instant(text), "{key} = {text:?}"),
                Value::Null => assert!(
                    key == "checked_out_at" || key == "ended_at",
                    "{key} is null"
                ),
                other => panic!("{key} = {other}"),
            }
            instants += 1;
        }
    });
    // Ids: 2 (export_info, user_data) + 3 sessions x 2 + 3 breaks x 2 + 2 servers x 1 = 16.
    assert_eq!(ids, 16);
    // Instants: 1 + 1 + 3 sessions x 4 + 3 breaks x 2 + 2 servers x 2 = 24.
    assert_eq!(instants, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_come_by_check_in_and_breaks_by_start_whatever_order_they_were_recorded_in() {
    let host = TestHost::builder()
        .now("2025-01-17T10:00:00Z")
        .start()
        .await;
    history_recorded_out_of_order(&host).await;
    let document = host.export(ALICE).await.document;

    let sessions = document["sessions"].as_array().unwrap();
    let check_ins: Vec<&str> = sessions
        .iter()
        .map(|row| row["checked_in_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        check_ins,
        [
            "2025-01-15T09:00:00Z",
            "2025-01-16T09:00:00Z",
            "2025-01-17T08:00:00Z"
        ]
    );
    // The 01-16 session was recorded first, so it has the smaller id yet comes second.
    let first_id: u64 = sessions[0]["session_id"].as_str().unwrap().parse().unwrap();
    let second_id: u64 = sessions[1]["session_id"].as_str().unwrap().parse().unwrap();
    assert!(first_id > second_id, "{first_id} vs {second_id}");

    let breaks = document["breaks"].as_array().unwrap();
    let starts: Vec<&str> = breaks
        .iter()
        .map(|row| row["started_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2025-01-15T12:00:00Z",
            "2025-01-16T12:00:00Z",
            "2025-01-17T09:00:00Z"
        ]
    );
    // Each break points at the session it was taken in.
    for (pause, session) in breaks.iter().zip(sessions) {
        assert_eq!(pause["session_id"], session["session_id"]);
    }
    // 12:00-12:45 = 45 min; 12:00-12:30 = 30 min; the running break has no end or minutes yet.
    assert_eq!(breaks[0]["duration_minutes"], 45);
    assert_eq!(breaks[1]["duration_minutes"], 30);
    assert_eq!(breaks[2]["ended_at"], Value::Null);
    assert_eq!(breaks[2]["duration_minutes"], Value::Null);
    assert_eq!(breaks[2]["status"], "active");

    // Servers by first check-in, with the names Clocky was given.
    let servers = document["servers"].as_array().unwrap();
    assert_eq!(servers[0]["server_name"], "Work Server");
    assert_eq!(servers[0]["session_count"], 2);
    assert_eq!(servers[1]["server_name"], "Side Project 🚀");
    assert_eq!(servers[1]["first_checkin"], "2025-01-17T08:00:00Z");
    assert_eq!(sessions[2]["server_name"], "Side Project 🚀");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_show_a_discriminator_only_when_the_account_has_one() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    let names = [
        (ALICE, ("alice", 1234)),
        (BOB, ("bob", 0)),
        (CAROL, ("carol", 42)),
    ];
    for (id, name) in names {
        let member = Member {
            username: Some(name),
            ..host.member(id, WORK)
        };
        host.session(member, "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z")
            .await;
    }

    for (id, shown) in [(ALICE, "alice#1234"), (BOB, "bob"), (CAROL, "carol#0042")] {
        let document = host.export(id).await.document;
        assert_eq!(document["export_info"]["username"], shown);
        assert_eq!(document["user_data"]["username"], shown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_show_the_users_choices_and_unknown_zones_are_refused_with_a_hint() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    host.session(
        alice_at_work(&host),
        "2025-01-15T09:00:00Z",
        "2025-01-15T10:00:00Z",
    )
    .await;
    host.session(
        host.member(BOB, WORK),
        "2025-01-15T09:00:00Z",
        "2025-01-15T10:00:00Z",
    )
    .await;
    let tracker = &host.app.tracker;
    tracker
        .set_timezone(user(ALICE), None, "Europe/Berlin")
        .await
        .unwrap();
    tracker
        .set_leaderboard(user(ALICE), None, true)
        .await
        .unwrap();

    // Close, but not IANA names: refused, with the name Alice probably meant.
    let error = tracker
        .set_timezone(user(ALICE), None, "europe/berlin")
        .await
        .unwrap_err();
    assert!(
        matches!(error, TrackError::Zone(ZoneError::UnknownZone { .. })),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unknown time zone \"europe/berlin\"; did you mean Europe/Berlin?"
    );
    let error = tracker
        .set_timezone(user(ALICE), None, "new york")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown time zone \"new york\"; did you mean America/New_York?"
    );

    // The refusals changed nothing; Bob never chose, so he has the defaults.
    let document = host.export(ALICE).await.document;
    assert_eq!(
        document["user_data"]["preferences"]["timezone"],
        "Europe/Berlin"
    );
    assert_eq!(
        document["user_data"]["preferences"]["leaderboard_public"],
        true
    );
    let document = host.export(BOB).await.document;
    assert_eq!(document["user_data"]["preferences"]["timezone"], "UTC");
    assert_eq!(
        document["user_data"]["preferences"]["leaderboard_public"],
        false
    );

    // And back off again.
    tracker
        .set_leaderboard(user(ALICE), None, false)
        .await
        .unwrap();
    let document = host.export(ALICE).await.document;
    assert_eq!(
        document["user_data"]["preferences"]["leaderboard_public"],
        false
    );
}
