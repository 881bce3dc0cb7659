//! The built-in CSV formats, run as components by the real host on data recorded through the
//! tracker: each must agree with the JSON export of the same data, row for row.

use clocky::tracking::Member;
use clocky_plugin_sdk::csv::read_rows;
use clocky_tests::fixtures::TEMPLATE_WASM;
use clocky_tests::{TestHost, server, user};

const ALICE: u64 = 123_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;
const SIDE: u64 = 876_543_210_987_654_321;

/// A session's fields in the guide's order (parsed JSON does not keep the order; the document
/// tests check it there).
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

/// A server name with everything CSV and spreadsheets trip over.
const TRICKY: &str = "=Team \"A\", 🙂\nNight";

/// Alice, in Berlin, with two sessions in two servers (one with a break) and one still active,
/// read in pages of two so that every plugin has to follow cursors.
async fn alice() -> TestHost {
    let host = TestHost::builder()
        .plugin(TEMPLATE_WASM)
        .now("2025-07-20T12:00:00Z")
        .page_size(2)
        .start()
        .await;
    host.app
        .tracker
        .set_timezone(user(ALICE), Some(("=alice", 0)), "Europe/Berlin")
        .await
        .expect("a known zone");
    let work = Member {
        user: user(ALICE),
        username: Some(("=alice", 0)),
        server: server(WORK),
        server_name: Some(TRICKY),
    };
    let side = Member {
        server: server(SIDE),
        server_name: Some("Side, project"),
        ..work
    };
    host.session(work, "2025-01-15T09:00:00Z", "2025-01-15T17:30:00Z")
        .await;
    host.app
        .tracker
        .check_in(side, Some(clocky_tests::at("2025-07-15T21:30:00Z")))
        .await
        .expect("check-in");
    host.pause(side, "2025-07-15T22:00:00Z", "2025-07-15T22:15:00Z")
        .await;
    host.app
        .tracker
        .check_out(side, Some(clocky_tests::at("2025-07-15T23:15:00Z")))
        .await
        .expect("check-out");
    host.app
        .tracker
        .check_in(side, Some(clocky_tests::at("2025-07-20T08:00:00Z")))
        .await
        .expect("check-in");
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csv_holds_the_json_exports_session_fields_row_for_row() {
    let host = alice().await;
    let json = host.export(ALICE).await.document;
    let csv = host.export_as(ALICE, Some("sessions-csv")).await;
    assert_eq!(csv.job.media_type.as_deref(), Some("text/csv"));
    assert!(
        csv.message.file_name.starts_with("clocky-sessions-csv-")
            && csv.message.file_name.ends_with(".csv"),
        "{}",
        csv.message.file_name
    );
    assert_eq!(csv.message.sessions_included, 3);
    assert_eq!(csv.message.servers_included, 2);

    let rows = read_rows(&csv.bytes);
    let header = &rows[0];
    let sessions = json["sessions"].as_array().expect("sessions");
    assert_eq!(rows.len(), sessions.len() + 1);
    for (row, session) in rows[1..].iter().zip(sessions) {
        // The header is the JSON's keys in order, and each cell the JSON's value as text
        // (null as empty), except that a leading `=` is neutralised.
        assert_eq!(header, &SESSION_FIELDS);
        assert_eq!(session.as_object().expect("a session").len(), header.len());
        for (cell, key) in row.iter().zip(header) {
            let expected = match &session[key] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(text) if text.starts_with('=') => format!("'{text}"),
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert_eq!(cell, &expected, "{key}");
        }
    }
    assert_eq!(rows[1][2], format!("'{TRICKY}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timesheet_formats_show_net_time_at_the_local_check_in() {
    let host = alice().await;
    let neutral = format!("'{TRICKY}");

    // Session 1: 09:00Z is 10:00 in Berlin in January; 510 minutes, no break. Session 2:
    // 21:30Z is 23:30 in Berlin in July; 105 minutes less a 15 minute break is 90. The active
    // session has no duration and is left out of every timesheet.
    let toggl = host.export_as(ALICE, Some("toggl-csv")).await;
    let rows = read_rows(&toggl.bytes);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], "'=alice");
    assert_eq!(rows[1][3], neutral);
    assert_eq!(rows[1][7..10], ["2025-01-15", "10:00:00", "08:30:00"]);
    assert_eq!(rows[2][3], "Side, project");
    assert_eq!(rows[2][7..10], ["2025-07-15", "23:30:00", "01:30:00"]);
    assert_eq!(toggl.message.sessions_included, 2);

    let clockify = host.export_as(ALICE, Some("clockify-csv")).await;
    let rows = read_rows(&clockify.bytes);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], neutral);
    assert_eq!(rows[1][7..10], ["01/15/2025", "10:00 AM", "8:30"]);
    assert_eq!(rows[2][7..10], ["07/15/2025", "11:30 PM", "1:30"]);

    let harvest = host.export_as(ALICE, Some("harvest-csv")).await;
    let rows = read_rows(&harvest.bytes);
    assert_eq!(
        rows[0],
        [
            "Date",
            "Client",
            "Project",
            "Task",
            "Notes",
            "Hours",
            "First name",
            "Last name"
        ]
    );
    assert_eq!(
        rows[1][..3],
        ["2025-01-15", neutral.as_str(), neutral.as_str()]
    );
    assert_eq!(rows[1][5..7], ["8.50", "'=alice"]);
    assert_eq!(rows[2][5], "1.50");
    assert_eq!(rows.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_template_builds_loads_and_exports() {
    let host = alice().await;
    assert!(
        host.app
            .exporter
            .formats()
            .contains(&"hours-by-server".to_owned())
    );
    let exported = host.export_as(ALICE, Some("hours-by-server")).await;
    let rows = read_rows(&exported.bytes);
    // Side: 105 - 15 = 90 minutes (1.50 h) in two sessions, one of them active; Work: 510
    // minutes (8.50 h). Rows come by server id, and SIDE's id is the smaller.
    assert_eq!(
        rows,
        [
            vec!["server_id", "server_name", "hours", "sessions"],
            vec![SIDE.to_string().as_str(), "Side, project", "1.50", "2"],
            vec![
                WORK.to_string().as_str(),
                &format!("'{TRICKY}"),
                "8.50",
                "1"
            ],
        ]
    );
}
