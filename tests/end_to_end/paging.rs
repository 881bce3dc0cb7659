//! A history longer than the host's page size comes out whole and in order, and holds nothing
//! of anybody else's, even where two users share servers and days.

use std::collections::HashSet;

use chrono::{Days, NaiveDate};
use clocky_tests::TestHost;
use serde_json::json;

const ALICE: u64 = 123_456_789_012_345_678;
const BOB: u64 = 223_456_789_012_345_678;
const SERVER_A: u64 = 987_654_321_098_765_432;
const SERVER_B: u64 = 876_543_210_987_654_321;

/// Alice's sessions: one a day for 25 days.
const SESSIONS: u64 = 25;

/// `HH:MM` on the `day`-th day after 2025-01-01, as RFC 3339.
fn on_day(day: u64, time: &str) -> String {
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let date = start.checked_add_days(Days::new(day)).unwrap();
    format!("{date}T{time}:00Z")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_and_break_survives_paging_and_no_other_users_rows_leak_in() {
    let host = TestHost::builder()
        .now("2025-03-01T00:00:00Z")
        .page_size(7)
        .start()
        .await;
    let tracker = &host.app.tracker;

    // Alice works 09:00-17:00 every day, in server A on even days and B on odd days. Even days
    // have a 12:00-12:30 lunch break; day 0 also a 15:00-15:10 coffee break. That is 13 + 1 =
    // 14 breaks, two full pages of 7, so the break walk must also cope with an empty last page.
    for day in 0..SESSIONS {
        let server = if day % 2 == 0 { SERVER_A } else { SERVER_B };
        let alice = host.member(ALICE, server);
        tracker
            .check_in(alice, Some(clocky_tests::at(&on_day(day, "09:00"))))
            .await
            .unwrap();
        if day % 2 == 0 {
            host.pause(alice, &on_day(day, "12:00"), &on_day(day, "12:30"))
                .await;
        }
        if day == 0 {
            host.pause(alice, &on_day(day, "15:00"), &on_day(day, "15:10"))
                .await;
        }
        tracker
            .check_out(alice, Some(clocky_tests::at(&on_day(day, "17:00"))))
            .await
            .unwrap();
    }
    // Bob works in the same servers on the same days, with a break inside each session.
    for day in 0..10 {
        let server = if day % 2 == 0 { SERVER_A } else { SERVER_B };
        let bob = host.member(BOB, server);
        tracker
            .check_in(bob, Some(clocky_tests::at(&on_day(day, "10:00"))))
            .await
            .unwrap();
        host.pause(bob, &on_day(day, "10:15"), &on_day(day, "10:20"))
            .await;
        tracker
            .check_out(bob, Some(clocky_tests::at(&on_day(day, "11:00"))))
            .await
            .unwrap();
    }

    let alice = host.export(ALICE).await;
    let bob = host.export(BOB).await;
    let document = &alice.document;

    // All 25 sessions, one per day in order, though the host hands out 7 at a time.
    let sessions = document["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 25);
    for (day, session) in (0..SESSIONS).zip(sessions) {
        assert_eq!(session["checked_in_at"], on_day(day, "09:00"), "day {day}");
        assert_eq!(session["checked_out_at"], on_day(day, "17:00"), "day {day}");
    }

    // All 14 breaks, by start: day 0 has two, then every even day one.
    let breaks = document["breaks"].as_array().unwrap();
    let starts: Vec<String> = breaks
        .iter()
        .map(|row| row["started_at"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = vec![on_day(0, "12:00"), on_day(0, "15:00")];
    expected.extend((2..SESSIONS).step_by(2).map(|day| on_day(day, "12:00")));
    assert_eq!(starts, expected);

    // Nothing of Bob's: no session id, break id or instant of his is in Alice's document.
    let ids_of = |rows: &serde_json::Value, key: &str| -> HashSet<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| row[key].as_str().unwrap().to_owned())
            .collect()
    };
    let bob_sessions = ids_of(&bob.document["sessions"], "session_id");
    let bob_breaks = ids_of(&bob.document["breaks"], "break_id");
    assert_eq!(bob_sessions.len(), 10);
    assert_eq!(bob_breaks.len(), 10);
    assert!(
        ids_of(&document["sessions"], "session_id").is_disjoint(&bob_sessions),
        "Bob's sessions leaked into Alice's export"
    );
    assert!(
        ids_of(&document["breaks"], "break_id").is_disjoint(&bob_breaks),
        "Bob's breaks leaked into Alice's export"
    );
    let alice_sessions = ids_of(&document["sessions"], "session_id");
    for pause in breaks {
        let owner = pause["session_id"].as_str().unwrap();
        assert!(alice_sessions.contains(owner), "break of session {owner}");
    }

    // Server counts are Alice's alone: A on the 13 even days of 0..=24, B on the 12 odd ones.
    let servers = document["servers"].as_array().unwrap();
    assert_eq!(servers[0]["server_id"], "987654321098765432");
    assert_eq!(servers[0]["session_count"], 13);
    assert_eq!(servers[1]["server_id"], "876543210987654321");
    assert_eq!(servers[1]["session_count"], 12);

    assert_eq!(
        document["statistics"],
        json!({
            "total_sessions": 25,
            // 25 x 480 min = 12000; breaks 13 x 30 + 10 = 400; 12000 - 400 = 11600.
            "total_worked_minutes": 11600,
            // 11600 / 60 = 193.333… -> 193.33.
            "total_worked_hours": 193.33,
            // 11600 / 25 = 464.
            "average_session_minutes": 464.0,
            // The odd days have no break: 480.
            "longest_session_minutes": 480,
            "total_break_minutes": 400,
            "servers_count": 2,
        })
    );
    assert_eq!(alice.message.sessions_included, 25);
    assert_eq!(alice.message.servers_included, 2);
}
