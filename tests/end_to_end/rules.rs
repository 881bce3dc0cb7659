//! The tracking rules, applied by the real tracker and seen where users see them: in the
//! refusals the tracker returns and in the export document.
//!
//! Instants are given in UTC unless a test is about local time; every duration in a comment is
//! worked out from the instants beside it.

use chrono_tz::America::New_York;
use chrono_tz::Europe::Berlin;
use clocky::cli::parse_at;
use clocky::tracking::TrackError;
use clocky_rules::tracking::TrackingError;
use clocky_rules::zone::ZoneError;
use clocky_tests::json::assert_valid;
use clocky_tests::{TestHost, at, user};
use serde_json::{Value, json};

const ALICE: u64 = 123_456_789_012_345_678;
const BOB: u64 = 223_456_789_012_345_678;
const CAROL: u64 = 323_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;
const SIDE: u64 = 876_543_210_987_654_321;

/// The document's sessions array.
fn sessions(document: &Value) -> &Vec<Value> {
    document["sessions"]
        .as_array()
        .expect("sessions is an array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_across_midnight_counts_every_minute() {
    let host = TestHost::builder()
        .now("2025-01-16T12:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    host.session(alice, "2025-01-15T22:00:00Z", "2025-01-16T01:30:00Z")
        .await;

    let exported = host.export(ALICE).await;
    let session = &sessions(&exported.document)[0];
    assert_eq!(session["checked_in_at"], "2025-01-15T22:00:00Z");
    assert_eq!(session["checked_out_at"], "2025-01-16T01:30:00Z");
    // 22:00 to midnight is 120 min, midnight to 01:30 is 90 min: 210.
    assert_eq!(session["duration_minutes"], 210);
    assert_eq!(session["break_duration_minutes"], 0);
    assert_eq!(session["net_worked_minutes"], 210);
    assert_eq!(session["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_across_berlin_clock_changes_count_real_hours() {
    let host = TestHost::builder()
        .now("2025-11-01T00:00:00Z")
        .start()
        .await;
    host.app
        .tracker
        .set_timezone(user(ALICE), None, "Europe/Berlin")
        .await
        .unwrap();
    let alice = host.member(ALICE, WORK);

    // Spring: 01:30 is still CET (UTC+1), 04:30 is already CEST (UTC+2).
    let spring_in = parse_at("2025-03-30 01:30", Berlin).unwrap();
    let spring_out = parse_at("2025-03-30 04:30", Berlin).unwrap();
    assert_eq!(spring_in, at("2025-03-30T00:30:00Z"));
    assert_eq!(spring_out, at("2025-03-30T02:30:00Z"));
    // Autumn: 01:30 is still CEST (UTC+2), 03:30 is CET again (UTC+1).
    let autumn_in = parse_at("2025-10-26 01:30", Berlin).unwrap();
    let autumn_out = parse_at("2025-10-26 03:30", Berlin).unwrap();
    assert_eq!(autumn_in, at("2025-10-25T23:30:00Z"));
    assert_eq!(autumn_out, at("2025-10-26T02:30:00Z"));

    for (check_in, check_out) in [(spring_in, spring_out), (autumn_in, autumn_out)] {
        host.app
            .tracker
            .check_in(alice, Some(check_in))
            .await
            .unwrap();
        host.app
            .tracker
            .check_out(alice, Some(check_out))
            .await
            .unwrap();
    }

    let exported = host.export(ALICE).await;
    let rows = sessions(&exported.document);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["checked_in_at"], "2025-03-30T00:30:00Z");
    assert_eq!(rows[0]["checked_out_at"], "2025-03-30T02:30:00Z");
    // Three hours on the wall clock, but 02:00-03:00 never happened: 2 real hours = 120 min.
    assert_eq!(rows[0]["duration_minutes"], 120);
    assert_eq!(rows[1]["checked_in_at"], "2025-10-25T23:30:00Z");
    assert_eq!(rows[1]["checked_out_at"], "2025-10-26T02:30:00Z");
    // Two hours on the wall clock, but 02:00-03:00 happened twice: 3 real hours = 180 min.
    assert_eq!(rows[1]["duration_minutes"], 180);
    // 120 + 180 = 300.
    assert_eq!(exported.document["statistics"]["total_worked_minutes"], 300);
    assert_eq!(
        exported.document["user_data"]["preferences"]["timezone"],
        "Europe/Berlin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_across_new_york_clock_changes_count_real_hours() {
    let host = TestHost::builder()
        .now("2025-11-03T00:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);

    // Spring (2025-03-09): 01:30 is EST (UTC-5), 04:30 is EDT (UTC-4).
    let spring_in = parse_at("2025-03-09 01:30", New_York).unwrap();
    let spring_out = parse_at("2025-03-09 04:30", New_York).unwrap();
    assert_eq!(spring_in, at("2025-03-09T06:30:00Z"));
    assert_eq!(spring_out, at("2025-03-09T08:30:00Z"));
    // Autumn (2025-11-02): 01:00-02:00 repeats, so the night shift starts at 00:30 EDT (UTC-4)
    // and ends at 03:30 EST (UTC-5).
    let autumn_in = parse_at("2025-11-02 00:30", New_York).unwrap();
    let autumn_out = parse_at("2025-11-02 03:30", New_York).unwrap();
    assert_eq!(autumn_in, at("2025-11-02T04:30:00Z"));
    assert_eq!(autumn_out, at("2025-11-02T08:30:00Z"));

    for (check_in, check_out) in [(spring_in, spring_out), (autumn_in, autumn_out)] {
        host.app
            .tracker
            .check_in(alice, Some(check_in))
            .await
            .unwrap();
        host.app
            .tracker
            .check_out(alice, Some(check_out))
            .await
            .unwrap();
    }

    let exported = host.export(ALICE).await;
    let rows = sessions(&exported.document);
    assert_eq!(rows[0]["checked_in_at"], "2025-03-09T06:30:00Z");
    assert_eq!(rows[0]["checked_out_at"], "2025-03-09T08:30:00Z");
    // 06:30Z to 08:30Z: 120 min, though the wall clock moved three hours.
    assert_eq!(rows[0]["duration_minutes"], 120);
    assert_eq!(rows[1]["checked_in_at"], "2025-11-02T04:30:00Z");
    assert_eq!(rows[1]["checked_out_at"], "2025-11-02T08:30:00Z");
    // 04:30Z to 08:30Z: 240 min, though the wall clock moved three hours.
    assert_eq!(rows[1]["duration_minutes"], 240);
}

#[test]
fn local_times_the_clocks_skip_or_repeat_are_refused() {
    // Berlin jumps from 02:00 straight to 03:00 on 2025-03-30.
    let error = parse_at("2025-03-30 02:30", Berlin).unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<ZoneError>(),
            Some(ZoneError::Nonexistent { .. })
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "2025-03-30 02:30:00 does not exist in Europe/Berlin: the clocks skip it for daylight \
         saving time"
    );

    // Berlin goes through 02:00-03:00 twice on 2025-10-26: once in CEST (02:30 = 00:30Z) and
    // once in CET (02:30 = 01:30Z).
    let error = parse_at("2025-10-26 02:30", Berlin).unwrap_err();
    match error.downcast_ref::<ZoneError>() {
        Some(ZoneError::Ambiguous { earlier, later, .. }) => {
            assert_eq!(*earlier, at("2025-10-26T00:30:00Z"));
            assert_eq!(*later, at("2025-10-26T01:30:00Z"));
        }
        other => panic!("expected an ambiguous time, got {other:?} ({error})"),
    }
    assert!(error.to_string().contains("happens twice"), "{error}");

    // The same in New York: 02:30 is skipped on 2025-03-09, 01:30 repeated on 2025-11-02.
    let error = parse_at("2025-03-09 02:30", New_York).unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<ZoneError>(),
            Some(ZoneError::Nonexistent { .. })
        ),
        "{error}"
    );
    let error = parse_at("2025-11-02 01:30", New_York).unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<ZoneError>(),
            Some(ZoneError::Ambiguous { .. })
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_longer_than_its_session_is_clamped_to_the_session() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let session = host
        .session(alice, "2025-01-15T10:00:00Z", "2025-01-15T10:30:00Z")
        .await;

    // The rules never let a break start before check-in or outlast check-out, so the row is
    // written directly, as an import or a manual correction could leave it.
    sqlx::query(
        "INSERT INTO breaks (session_id, user_id, started_at, ended_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )
    .bind(session.0)
    .bind(user(ALICE).sql())
    .bind(at("2025-01-15T09:00:00Z"))
    .bind(at("2025-01-15T12:00:00Z"))
    .bind(at("2025-01-16T00:00:00Z"))
    .execute(host.pool())
    .await
    .unwrap();

    let exported = host.export(ALICE).await;
    let document = &exported.document;
    assert_valid(document);
    let row = &sessions(document)[0];
    // 10:00 to 10:30: 30 min. Of the 09:00-12:00 break only 10:00-10:30 lies inside: 30 min.
    assert_eq!(row["duration_minutes"], 30);
    assert_eq!(row["break_duration_minutes"], 30);
    // 30 - 30 = 0, not 30 - 180 = -150.
    assert_eq!(row["net_worked_minutes"], 0);

    let pause = &document["breaks"][0];
    // The break is shown as stored, with only the minutes clamped.
    assert_eq!(pause["started_at"], "2025-01-15T09:00:00Z");
    assert_eq!(pause["ended_at"], "2025-01-15T12:00:00Z");
    assert_eq!(pause["duration_minutes"], 30);
    assert_eq!(pause["status"], "completed");

    let statistics = &document["statistics"];
    assert_eq!(statistics["total_worked_minutes"], 0);
    assert_eq!(statistics["total_break_minutes"], 30);
    assert_eq!(statistics["longest_session_minutes"], 0);
    // 0 worked minutes over 1 closed session.
    assert_eq!(statistics["average_session_minutes"], json!(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_out_during_a_break_ends_the_break_at_the_same_instant() {
    let host = TestHost::builder()
        .now("2025-01-15T18:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let tracker = &host.app.tracker;
    tracker
        .check_in(alice, Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    tracker
        .start_break(alice, Some(at("2025-01-15T12:00:00Z")))
        .await
        .unwrap();
    let done = tracker
        .check_out(alice, Some(at("2025-01-15T13:15:00Z")))
        .await
        .unwrap();

    assert!(done.ended_break);
    // 09:00 to 13:15: 4 h 15 min = 255 min; break 12:00 to 13:15 = 75 min; 255 - 75 = 180.
    assert_eq!(done.figures.duration_minutes, Some(255));
    assert_eq!(done.figures.break_duration_minutes, 75);
    assert_eq!(done.figures.net_worked_minutes, Some(180));

    // The end is stored, not only shown.
    let stored: Option<i64> = sqlx::query_scalar("SELECT ended_at FROM breaks")
        .fetch_one(host.pool())
        .await
        .unwrap();
    assert_eq!(stored, Some(at("2025-01-15T13:15:00Z")));

    let exported = host.export(ALICE).await;
    let pause = &exported.document["breaks"][0];
    assert_eq!(pause["started_at"], "2025-01-15T12:00:00Z");
    assert_eq!(pause["ended_at"], "2025-01-15T13:15:00Z");
    assert_eq!(pause["duration_minutes"], 75);
    assert_eq!(pause["status"], "completed");
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["checked_out_at"], "2025-01-15T13:15:00Z");
    assert_eq!(row["duration_minutes"], 255);
    assert_eq!(row["break_duration_minutes"], 75);
    assert_eq!(row["net_worked_minutes"], 180);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_check_in_is_refused_with_a_clear_message() {
    let host = TestHost::builder()
        .now("2025-01-15T20:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let tracker = &host.app.tracker;
    host.session(alice, "2025-01-15T09:00:00Z", "2025-01-15T17:00:00Z")
        .await;

    let error = tracker
        .check_in(alice, Some(at("2025-01-15T12:00:00Z")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TrackError::Refused(TrackingError::OverlapsSession { started, ended })
                if started == at("2025-01-15T09:00:00Z") && ended == at("2025-01-15T17:00:00Z")
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "that check-in falls inside your session from 2025-01-15T09:00:00Z to \
         2025-01-15T17:00:00Z; pick a time outside it"
    );

    // The instant the session ended is free again; a second check-in while active is not.
    tracker
        .check_in(alice, Some(at("2025-01-15T17:00:00Z")))
        .await
        .unwrap();
    let error = tracker
        .check_in(alice, Some(at("2025-01-15T18:00:00Z")))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "you are already checked in here since 2025-01-15T17:00:00Z; check out first"
    );

    // The refusals left nothing behind: the closed session and the active one.
    let exported = host.export(ALICE).await;
    let rows = sessions(&exported.document);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status"], "completed");
    assert_eq!(rows[1]["checked_in_at"], "2025-01-15T17:00:00Z");
    assert_eq!(rows[1]["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_no_sessions_exports_an_empty_valid_document() {
    let host = TestHost::builder().start().await;

    let exported = host.export(CAROL).await;
    let document = &exported.document;
    assert_valid(document);
    assert_eq!(document["sessions"], json!([]));
    assert_eq!(document["breaks"], json!([]));
    assert_eq!(document["servers"], json!([]));
    assert_eq!(
        document["statistics"],
        json!({
            "total_sessions": 0,
            "total_worked_minutes": 0,
            "total_worked_hours": 0.0,
            "average_session_minutes": 0.0,
            "longest_session_minutes": 0,
            "total_break_minutes": 0,
            "servers_count": 0,
        })
    );
    // Clocky first saw Carol when she asked, at the harness's start time, and was never told a
    // name, so it shows her id.
    assert_eq!(document["user_data"]["created_at"], "2025-01-15T15:45:00Z");
    assert_eq!(document["user_data"]["username"], "323456789012345678");
    assert_eq!(exported.message.sessions_included, 0);
    assert_eq!(exported.message.servers_included, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_session_is_auto_closed_twelve_hours_after_check_in() {
    let host = TestHost::builder()
        .now("2025-01-15T08:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    host.app.tracker.check_in(alice, None).await.unwrap();

    // Alice comes back 13 hours later and checks out "now".
    host.set_now("2025-01-15T21:00:00Z");
    let error = host.app.tracker.check_out(alice, None).await.unwrap_err();
    // 08:00 + 12 h = 20:00.
    assert!(
        matches!(
            error,
            TrackError::AutoClosed { checked_in_at, closed_at, max_hours: 12 }
                if checked_in_at == at("2025-01-15T08:00:00Z")
                    && closed_at == at("2025-01-15T20:00:00Z")
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "your session from 2025-01-15T08:00:00Z was closed automatically at \
         2025-01-15T20:00:00Z because it ran longer than 12 hours"
    );

    let exported = host.export(ALICE).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "auto-closed");
    assert_eq!(row["checked_out_at"], "2025-01-15T20:00:00Z");
    // 12 h = 720 min.
    assert_eq!(row["duration_minutes"], 720);
    assert_eq!(row["net_worked_minutes"], 720);
    assert_eq!(row["created_at"], "2025-01-15T08:00:00Z");
    // Clocky changed the row when Alice came back, not when the session ended.
    assert_eq!(row["updated_at"], "2025-01-15T21:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_closes_sessions_past_the_configured_maximum_and_no_others() {
    let host = TestHost::builder()
        .now("2025-01-16T09:00:00Z")
        .max_session_hours(8)
        .start()
        .await;
    let tracker = &host.app.tracker;
    // Alice has been in for 24 h, Bob for 7 h 59 min 59 s; nobody acts again before the
    // exports, so only the exports can close anything.
    tracker
        .check_in(host.member(ALICE, WORK), Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    tracker
        .check_in(host.member(BOB, WORK), Some(at("2025-01-16T01:00:01Z")))
        .await
        .unwrap();

    let exported = host.export(ALICE).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "auto-closed");
    // 09:00 + 8 h = 17:00; 8 h = 480 min.
    assert_eq!(row["checked_out_at"], "2025-01-15T17:00:00Z");
    assert_eq!(row["duration_minutes"], 480);

    let exported = host.export(BOB).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "active");
    assert_eq!(row["checked_out_at"], Value::Null);
    assert_eq!(row["duration_minutes"], Value::Null);
    assert_eq!(row["net_worked_minutes"], Value::Null);

    // One second later Bob's session has run exactly 8 h and is closed at 01:00:01 + 8 h.
    host.clock.advance(1);
    let exported = host.export(BOB).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "auto-closed");
    assert_eq!(row["checked_out_at"], "2025-01-16T09:00:01Z");
    assert_eq!(row["duration_minutes"], 480);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_out_entered_days_later_within_the_maximum_is_honoured() {
    // Monday 09:00.
    let host = TestHost::builder()
        .now("2025-01-13T09:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    host.app.tracker.check_in(alice, None).await.unwrap();

    // On Thursday Alice enters Monday's check-out.
    host.set_now("2025-01-16T12:00:00Z");
    let done = host
        .app
        .tracker
        .check_out(alice, Some(at("2025-01-13T17:30:00Z")))
        .await
        .unwrap();
    // 09:00 to 17:30: 8 h 30 min = 510 min, within the 12 h maximum.
    assert_eq!(done.figures.duration_minutes, Some(510));

    let exported = host.export(ALICE).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "completed");
    assert_eq!(row["checked_out_at"], "2025-01-13T17:30:00Z");
    assert_eq!(row["duration_minutes"], 510);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_add_up_the_rows_and_leave_active_sessions_out_of_worked_time() {
    let host = TestHost::builder()
        .now("2025-01-17T10:00:00Z")
        .start()
        .await;
    let tracker = &host.app.tracker;
    let work = host.member(ALICE, WORK);
    let side = host.member(ALICE, SIDE);

    // 09:00-17:30 (510 min) with a 12:00-13:00 break (60 min): net 450.
    tracker
        .check_in(work, Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    host.pause(work, "2025-01-15T12:00:00Z", "2025-01-15T13:00:00Z")
        .await;
    tracker
        .check_out(work, Some(at("2025-01-15T17:30:00Z")))
        .await
        .unwrap();
    // 09:00-10:45 (105 min) with a 10:00-10:05 break (5 min): net 100.
    tracker
        .check_in(side, Some(at("2025-01-16T09:00:00Z")))
        .await
        .unwrap();
    host.pause(side, "2025-01-16T10:00:00Z", "2025-01-16T10:05:00Z")
        .await;
    tracker
        .check_out(side, Some(at("2025-01-16T10:45:00Z")))
        .await
        .unwrap();
    // Still active at 10:00, after a 09:30-09:40 break (10 min).
    tracker
        .check_in(work, Some(at("2025-01-17T09:00:00Z")))
        .await
        .unwrap();
    host.pause(work, "2025-01-17T09:30:00Z", "2025-01-17T09:40:00Z")
        .await;

    let exported = host.export(ALICE).await;
    let document = &exported.document;
    assert_valid(document);
    let rows = sessions(document);
    let nets: Vec<&Value> = rows.iter().map(|row| &row["net_worked_minutes"]).collect();
    assert_eq!(nets, [&json!(450), &json!(100), &Value::Null]);
    let active = &rows[2];
    assert_eq!(active["status"], "active");
    assert_eq!(active["duration_minutes"], Value::Null);
    assert_eq!(active["break_duration_minutes"], 10);

    assert_eq!(
        document["statistics"],
        json!({
            // The active session counts as a session...
            "total_sessions": 3,
            // ...but not towards worked time: 450 + 100 = 550.
            "total_worked_minutes": 550,
            // 550 / 60 = 9.1666…, rounded half up to 9.17.
            "total_worked_hours": 9.17,
            // Over the two closed sessions only: 550 / 2 = 275.
            "average_session_minutes": 275.0,
            "longest_session_minutes": 450,
            // 60 + 5 + 10 = 75.
            "total_break_minutes": 75,
            "servers_count": 2,
        })
    );
    // Work first (first check-in 01-15), then Side (01-16).
    let servers = document["servers"].as_array().unwrap();
    assert_eq!(servers[0]["server_id"], "987654321098765432");
    assert_eq!(servers[0]["first_checkin"], "2025-01-15T09:00:00Z");
    assert_eq!(servers[0]["last_checkin"], "2025-01-17T09:00:00Z");
    assert_eq!(servers[0]["session_count"], 2);
    assert_eq!(servers[1]["server_id"], "876543210987654321");
    assert_eq!(servers[1]["session_count"], 1);
    assert_eq!(exported.message.sessions_included, 3);
    assert_eq!(exported.message.servers_included, 2);
}

/// Regression: a break backfilled before a recorded one could be ended after the recorded one
/// began, and the overlap was counted twice (11:00-14:00 around 12:00-13:00 gave 240 break
/// minutes for 180 minutes of breaks, and 60 minutes too little work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfilled_break_cannot_run_into_a_later_break() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let tracker = &host.app.tracker;
    tracker
        .check_in(alice, Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    host.pause(alice, "2025-01-15T12:00:00Z", "2025-01-15T13:00:00Z")
        .await;

    // A forgotten coffee break before lunch may be added...
    tracker
        .start_break(alice, Some(at("2025-01-15T11:00:00Z")))
        .await
        .unwrap();
    // ...but neither ending it nor checking out may carry it over lunch.
    let expected = "ending the break then would overlap your later break from \
                    2025-01-15T12:00:00Z; end it before that";
    let error = tracker
        .end_break(alice, Some(at("2025-01-15T14:00:00Z")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TrackError::Refused(TrackingError::RunsIntoLaterBreak { next_started })
                if next_started == at("2025-01-15T12:00:00Z")
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), expected);
    let error = tracker
        .check_out(alice, Some(at("2025-01-15T17:00:00Z")))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), expected);

    // Ending it where lunch begins is fine.
    assert_eq!(
        tracker
            .end_break(alice, Some(at("2025-01-15T12:00:00Z")))
            .await
            .unwrap(),
        60
    );
    let done = tracker
        .check_out(alice, Some(at("2025-01-15T17:00:00Z")))
        .await
        .unwrap();
    // 09:00-17:00 = 480 min; breaks 11:00-12:00 and 12:00-13:00 = 120 min; net 360.
    assert_eq!(done.figures.break_duration_minutes, 120);
    assert_eq!(done.figures.net_worked_minutes, Some(360));

    let exported = host.export(ALICE).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["break_duration_minutes"], 120);
    assert_eq!(row["net_worked_minutes"], 360);
}

/// Regression: a check-in backfilled before a later session and then forgotten was auto-closed
/// at check-in plus 12 hours, right across the later session, so the two overlapped and their
/// minutes were counted twice (08:00-20:00 around 09:00-17:00 gave 1200 worked minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_close_never_runs_into_a_later_session() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    let tracker = &host.app.tracker;
    for id in [ALICE, BOB] {
        let member = host.member(id, WORK);
        host.session(member, "2025-01-15T09:00:00Z", "2025-01-15T17:00:00Z")
            .await;
        tracker
            .check_in(member, Some(at("2025-01-15T08:00:00Z")))
            .await
            .unwrap();
    }

    // Alice acts in the same server: the session is closed where her 09:00 session began.
    let error = tracker
        .check_out(host.member(ALICE, WORK), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TrackError::AutoClosed { closed_at, .. } if closed_at == at("2025-01-15T09:00:00Z")
        ),
        "{error:?}"
    );

    // Bob does nothing more; his export closes it, at the same place.
    for id in [ALICE, BOB] {
        let exported = host.export(id).await;
        let rows = sessions(&exported.document);
        assert_eq!(rows[0]["checked_in_at"], "2025-01-15T08:00:00Z");
        assert_eq!(rows[0]["checked_out_at"], "2025-01-15T09:00:00Z");
        assert_eq!(rows[0]["status"], "auto-closed");
        // 08:00-09:00 = 60 min, then 09:00-17:00 = 480 min: 540 in all.
        assert_eq!(rows[0]["duration_minutes"], 60);
        assert_eq!(rows[1]["duration_minutes"], 480);
        assert_eq!(exported.document["statistics"]["total_worked_minutes"], 540);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_close_ends_a_backfilled_break_where_the_later_break_began() {
    // Regression: auto-close used to end a running break at the close instant even when a later
    // break of the session lay in between, so the two overlapped and were counted twice.
    let host = TestHost::builder()
        .now("2025-05-07T12:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let tracker = &host.app.tracker;
    tracker
        .check_in(alice, Some(at("2025-05-07T08:00:00Z")))
        .await
        .unwrap();
    host.pause(alice, "2025-05-07T10:00:00Z", "2025-05-07T11:00:00Z")
        .await;
    tracker
        .start_break(alice, Some(at("2025-05-07T09:00:00Z")))
        .await
        .unwrap();

    // 08:00 + 12 h: the session is auto-closed at 20:00 by the export.
    host.set_now("2025-05-08T08:00:00Z");
    let exported = host.export(ALICE).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "auto-closed");
    assert_eq!(row["checked_out_at"], "2025-05-07T20:00:00Z");
    // 08:00-20:00 = 720 min; the backfilled break ends where the 10:00 break began (60 min),
    // the 10:00-11:00 break is 60 min: 120 min of breaks, 600 min net.
    assert_eq!(row["duration_minutes"], 720);
    assert_eq!(row["break_duration_minutes"], 120);
    assert_eq!(row["net_worked_minutes"], 600);
    let breaks = exported.document["breaks"].as_array().unwrap();
    assert_eq!(breaks[0]["started_at"], "2025-05-07T09:00:00Z");
    assert_eq!(breaks[0]["ended_at"], "2025-05-07T10:00:00Z");
    assert_eq!(breaks[1]["started_at"], "2025-05-07T10:00:00Z");
    assert_valid(&exported.document);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_cannot_start_after_a_later_session_began() {
    // Regression: a session backfilled before a later one accepted a break inside the later
    // session, which no check-out could then end without overlapping something.
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let tracker = &host.app.tracker;
    host.session(alice, "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z")
        .await;
    tracker
        .check_in(alice, Some(at("2025-01-15T08:00:00Z")))
        .await
        .unwrap();

    let error = tracker
        .start_break(alice, Some(at("2025-01-15T09:30:00Z")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TrackError::Refused(TrackingError::RunsIntoLaterSession { next_started })
                if next_started == at("2025-01-15T09:00:00Z")
        ),
        "{error:?}"
    );
    tracker
        .start_break(alice, Some(at("2025-01-15T08:30:00Z")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_out_within_the_window_corrects_a_session_the_sweep_already_closed() {
    // Regression: once a sweep had auto-closed a session, a backfilled check-out inside its
    // 12-hour window was refused, while the same check-out before the sweep was accepted.
    let host = TestHost::builder()
        .now("2025-01-15T22:00:00Z")
        .start()
        .await;
    let alice = host.member(ALICE, WORK);
    let tracker = &host.app.tracker;
    tracker
        .check_in(alice, Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    host.pause(alice, "2025-01-15T12:00:00Z", "2025-01-15T12:30:00Z")
        .await;
    // 09:00 + 12 h = 21:00 has passed: the sweep closes the session.
    assert_eq!(tracker.close_overdue(None).await.unwrap(), 1);

    // A check-out after the automatic end is still refused...
    let error = tracker
        .check_out(alice, Some(at("2025-01-15T21:30:00Z")))
        .await
        .unwrap_err();
    assert!(matches!(error, TrackError::AutoClosed { .. }), "{error:?}");
    // ...one inside the window corrects it: 09:00-17:00 = 480 min, 30 min of break, 450 net.
    let done = tracker
        .check_out(alice, Some(at("2025-01-15T17:00:00Z")))
        .await
        .unwrap();
    assert_eq!(done.figures.duration_minutes, Some(480));
    assert_eq!(done.figures.break_duration_minutes, 30);
    assert_eq!(done.figures.net_worked_minutes, Some(450));

    let exported = host.export(ALICE).await;
    let row = &sessions(&exported.document)[0];
    assert_eq!(row["status"], "completed");
    assert_eq!(row["checked_out_at"], "2025-01-15T17:00:00Z");
    assert_eq!(row["net_worked_minutes"], 450);
}
