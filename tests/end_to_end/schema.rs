//! Real exports against the published JSON schema (`plugins/data-export/schema`): a small
//! history with every kind of row, and the demo's year of history.

use clocky_tests::json::{assert_valid, schema_errors};
use clocky_tests::{TestHost, at};
use serde_json::{Value, json};

const ALICE: u64 = 123_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;
const SIDE: u64 = 876_543_210_987_654_321;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_with_every_kind_of_row_validates_and_a_tampered_one_does_not() {
    let host = TestHost::builder()
        .now("2025-01-17T10:00:00Z")
        .start()
        .await;
    let tracker = &host.app.tracker;
    let work = host.member(ALICE, WORK);
    let side = host.member(ALICE, SIDE);

    // A completed session with a break, a forgotten one that the export auto-closes, and an
    // active one with a running break.
    tracker
        .check_in(work, Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    host.pause(work, "2025-01-15T12:00:00Z", "2025-01-15T12:30:00Z")
        .await;
    tracker
        .check_out(work, Some(at("2025-01-15T17:00:00Z")))
        .await
        .unwrap();
    tracker
        .check_in(side, Some(at("2025-01-16T08:00:00Z")))
        .await
        .unwrap();
    tracker
        .check_in(work, Some(at("2025-01-17T09:00:00Z")))
        .await
        .unwrap();
    tracker
        .start_break(work, Some(at("2025-01-17T09:30:00Z")))
        .await
        .unwrap();

    let mut document = host.export(ALICE).await.document;
    assert_valid(&document);
    let statuses: Vec<&Value> = document["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["status"])
        .collect();
    assert_eq!(statuses, ["completed", "auto-closed", "active"]);

    // The schema is not a formality: a numeric id, an active session with a duration and an
    // unknown field are each caught.
    document["sessions"][0]["session_id"] = json!(1);
    document["sessions"][2]["duration_minutes"] = json!(60);
    document["statistics"]["total_overtime_minutes"] = json!(0);
    let errors = schema_errors(&document);
    for path in [
        "/sessions/0/session_id",
        "/sessions/2/duration_minutes",
        "/statistics",
    ] {
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with(&format!("{path}:"))),
            "{path} not reported in {errors:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_export_validates_with_hundreds_of_sessions_and_every_status() {
    // The demo records 400 days before "now" and exports with the host's clock.
    let host = TestHost::builder()
        .now("2026-12-03T12:00:00Z")
        .start()
        .await;
    let message = clocky::demo::run(&host.app).await.unwrap();
    assert_eq!(host.app.clock.now(), at("2026-12-03T12:00:00Z"));
    assert_eq!(message.generated_at, at("2026-12-03T12:00:00Z"));

    let job = host.app.exporter.job(message.job_id).await.unwrap();
    let bytes = host.app.exporter.document(&job).await.unwrap();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    assert_valid(&document);

    let sessions = document["sessions"].as_array().unwrap();
    assert!(sessions.len() >= 300, "{} sessions", sessions.len());
    assert_eq!(
        message.sessions_included,
        u64::try_from(sessions.len()).unwrap()
    );
    let count = |status: &str| {
        sessions
            .iter()
            .filter(|row| row["status"] == status)
            .count()
    };
    assert!(count("auto-closed") >= 1);
    assert_eq!(count("active"), 1);
    // The active session is the check-in two hours before now.
    let active = sessions.last().unwrap();
    assert_eq!(active["status"], "active");
    assert_eq!(active["checked_in_at"], "2026-12-03T10:00:00Z");

    let servers = document["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert!(
        servers
            .iter()
            .any(|server| server["server_name"].as_str().unwrap().contains('🚀')),
        "{servers:?}"
    );
    assert_eq!(document["export_info"]["username"], "alice#1234");
    assert_eq!(
        document["user_data"]["preferences"]["timezone"],
        "America/New_York"
    );

    // The demo's night shifts across New York's clock changes, 00:30 to 03:30 local time.
    let session_from = |check_in: &str| {
        sessions
            .iter()
            .find(|row| row["checked_in_at"] == check_in)
            .unwrap_or_else(|| panic!("no demo session starts at {check_in}"))
    };
    // 2025-11-02: 00:30 EDT = 04:30Z, 03:30 EST = 08:30Z: 4 real hours = 240 min.
    let autumn = session_from("2025-11-02T04:30:00Z");
    assert_eq!(autumn["checked_out_at"], "2025-11-02T08:30:00Z");
    assert_eq!(autumn["duration_minutes"], 240);
    // 2026-03-08: 00:30 EST = 05:30Z, 03:30 EDT = 07:30Z: 2 real hours = 120 min.
    let spring = session_from("2026-03-08T05:30:00Z");
    assert_eq!(spring["checked_out_at"], "2026-03-08T07:30:00Z");
    assert_eq!(spring["duration_minutes"], 120);
}
