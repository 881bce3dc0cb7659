//! Server-wide exports through the real host: what the document holds (one server's sessions
//! of every member, nothing of other servers), the operator's switch, the scopes kept apart,
//! and an erasure withdrawing a server export that holds the erased person's rows.

use clocky::export::{ExportError, LinkLookup, ServerRequest};
use clocky::tracking::Member;
use clocky_plugin_sdk::csv::read_rows;
use clocky_tests::{TestHost, at, server, user};

const ALICE: u64 = 111_111_111_111_111_111;
const BOB: u64 = 222_222_222_222_222_222;
const CAROL: u64 = 333_333_333_333_333_333;
const WORK: u64 = 900_000_000_000_000_001;
const SIDE: u64 = 900_000_000_000_000_002;

/// The server-wide CSV's columns.
const HEADER: [&str; 12] = [
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

/// Bob's name, with everything CSV and spreadsheets trip over.
const BOB_NAME: &str = "=bob, \"B\" 🚀\nline";

/// Alice (Berlin) and Bob (Kolkata) in WORK, Alice and Carol in SIDE. Returns the host and the
/// ids of the WORK sessions in check-in order: Bob's, Alice's, Bob's active one.
async fn team() -> (TestHost, [String; 3]) {
    let host = TestHost::builder()
        .now("2025-01-20T12:00:00Z")
        .page_size(2)
        .start()
        .await;
    let tracker = &host.app.tracker;
    tracker
        .set_timezone(user(ALICE), Some(("alice", 0)), "Europe/Berlin")
        .await
        .unwrap();
    tracker
        .set_timezone(user(BOB), Some((BOB_NAME, 0)), "Asia/Kolkata")
        .await
        .unwrap();
    let in_work = |id| Member {
        user: user(id),
        username: None,
        server: server(WORK),
        server_name: Some("Work HQ"),
    };

    let bob_first = host
        .session(in_work(BOB), "2025-01-15T03:30:00Z", "2025-01-15T12:00:00Z")
        .await;
    tracker
        .check_in(in_work(ALICE), Some(at("2025-01-15T09:00:00Z")))
        .await
        .unwrap();
    host.pause(
        in_work(ALICE),
        "2025-01-15T12:00:00Z",
        "2025-01-15T12:30:00Z",
    )
    .await;
    let alice_work = tracker
        .check_out(in_work(ALICE), Some(at("2025-01-15T17:30:00Z")))
        .await
        .unwrap()
        .session_id;
    host.session(
        host.member(ALICE, SIDE),
        "2025-01-16T08:00:00Z",
        "2025-01-16T10:00:00Z",
    )
    .await;
    host.session(
        host.member(CAROL, SIDE),
        "2025-01-16T08:00:00Z",
        "2025-01-16T10:00:00Z",
    )
    .await;
    let bob_active = tracker
        .check_in(in_work(BOB), Some(at("2025-01-20T08:00:00Z")))
        .await
        .unwrap();
    let ids = [bob_first, alice_work, bob_active].map(|id| id.to_string());
    (host, ids)
}

async fn run(host: &TestHost, who: u64, format: Option<&str>) -> clocky::db::exports::JobRow {
    let exporter = &host.app.exporter;
    let job = match exporter
        .request_server_export(user(who), None, server(WORK), format, None)
        .await
    {
        Ok(ServerRequest::Queued(job)) => job,
        other => panic!("the server export was not queued: {other:?}"),
    };
    exporter
        .run(job.job_id)
        .await
        .expect("the server export runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_export_holds_that_servers_sessions_of_every_member_and_nothing_else() {
    let (host, [bob_first, alice_work, bob_active]) = team().await;
    let exporter = &host.app.exporter;

    // Off until the operator turns it on; nothing is written.
    let refused = exporter
        .request_server_export(user(ALICE), None, server(WORK), None, None)
        .await
        .unwrap();
    assert_eq!(refused, ServerRequest::NotEnabled);
    assert!(
        exporter
            .set_server_export(server(WORK), true)
            .await
            .unwrap()
    );
    assert!(
        !exporter
            .set_server_export(server(WORK), true)
            .await
            .unwrap()
    );

    let job = run(&host, ALICE, None).await;
    assert_eq!(job.server_id, Some(server(WORK)));
    assert_eq!(job.plugin_name.as_deref(), Some("server-sessions-csv"));
    assert_eq!(job.sessions_included, Some(3));
    assert_eq!(job.servers_included, Some(1));
    let message = exporter.issue_link(job.job_id).await.unwrap();
    assert_eq!(message.server_name.as_deref(), Some("Work HQ"));
    let bytes = exporter.document(&job).await.unwrap();
    let rows = read_rows(&bytes);
    assert_eq!(rows[0], HEADER);
    let (alice, bob) = (ALICE.to_string(), BOB.to_string());
    // Bob, in Kolkata (UTC+5:30): 03:30-12:00 UTC is 09:00-17:30 local, 510 minutes. His
    // name is written with an apostrophe so a spreadsheet does not run it.
    let bob_name = format!("'{BOB_NAME}");
    let expected = [
        [
            bob.as_str(),
            &bob_name,
            "Asia/Kolkata",
            &bob_first,
            "completed",
            "2025-01-15 09:00",
            "2025-01-15 17:30",
            "2025-01-15T03:30:00Z",
            "2025-01-15T12:00:00Z",
            "510",
            "0",
            "510",
        ],
        // Alice, in Berlin (UTC+1 in January): 09:00-17:30 UTC is 10:00-18:30 local, 510
        // minutes with a 30-minute break, 480 worked.
        [
            alice.as_str(),
            "alice",
            "Europe/Berlin",
            &alice_work,
            "completed",
            "2025-01-15 10:00",
            "2025-01-15 18:30",
            "2025-01-15T09:00:00Z",
            "2025-01-15T17:30:00Z",
            "510",
            "30",
            "480",
        ],
        // Bob's session still running at 12:00 UTC: no end and no totals yet; 08:00 UTC is
        // 13:30 in Kolkata.
        [
            bob.as_str(),
            &bob_name,
            "Asia/Kolkata",
            &bob_active,
            "active",
            "2025-01-20 13:30",
            "",
            "2025-01-20T08:00:00Z",
            "",
            "",
            "0",
            "",
        ],
    ];
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (row, wanted) in rows[1..].iter().zip(expected) {
        assert_eq!(row, &wanted);
    }
    // Carol never worked in WORK and Alice's SIDE session is not in it.
    assert!(!rows.iter().any(|row| row[0] == CAROL.to_string()));
    assert!(!rows.iter().any(|row| row[7] == "2025-01-16T08:00:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_and_server_formats_are_kept_apart() {
    let (host, _) = team().await;
    let exporter = &host.app.exporter;
    exporter
        .set_server_export(server(WORK), true)
        .await
        .unwrap();

    // A personal format is no server-wide format, and the other way round; the refusal says
    // which kind of export the name belongs to.
    let error = exporter
        .request_server_export(user(ALICE), None, server(WORK), Some("data-export"), None)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "\"data-export\" is a format of personal exports (/data-export), not of server exports; \
         pick another"
    );
    let error = exporter
        .request(user(ALICE), None, Some("server-sessions-csv"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "\"server-sessions-csv\" is a format of server exports (/server-export), not of \
         personal exports; pick another"
    );
    // A name nobody serves lists the formats of the kind asked for.
    let error = exporter
        .request_server_export(user(ALICE), None, server(WORK), Some("nope"), None)
        .await
        .unwrap_err();
    let ExportError::UnknownFormat { available, .. } = error else {
        panic!("{error:?}");
    };
    assert_eq!(available, ["server-sessions-csv"]);

    // A server export in progress does not block the same person's personal export, and a
    // second request for the server is the first one.
    let first = exporter
        .request_server_export(user(ALICE), None, server(WORK), None, None)
        .await
        .unwrap();
    let ServerRequest::Queued(first) = first else {
        panic!("{first:?}");
    };
    let again = exporter
        .request_server_export(user(ALICE), None, server(WORK), None, None)
        .await
        .unwrap();
    assert_eq!(again, ServerRequest::InProgress(first.clone()));
    let personal = host.export(ALICE).await;
    assert_eq!(personal.job.server_id, None);
    // Alice's personal export holds both of her servers; the server export is not hers.
    assert_eq!(personal.message.servers_included, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_member_withdraws_server_exports_that_hold_their_sessions() {
    let (host, _) = team().await;
    let exporter = &host.app.exporter;
    exporter
        .set_server_export(server(WORK), true)
        .await
        .unwrap();
    let job = run(&host, ALICE, None).await;
    let message = exporter.issue_link(job.job_id).await.unwrap();
    let token = message.url.path().rsplit('/').next().unwrap().to_owned();
    assert!(matches!(
        exporter.lookup(&token).await.unwrap(),
        LinkLookup::Valid { .. }
    ));
    let file = host.file_path(&job);
    assert!(file.exists());

    // Bob asks to be forgotten: Alice's export of WORK holds his sessions, so it goes too.
    assert!(exporter.forget_user(user(BOB)).await.unwrap());
    assert_eq!(exporter.lookup(&token).await.unwrap(), LinkLookup::Expired);
    assert!(!file.exists(), "the file holding Bob's rows is deleted");

    // A new export of WORK no longer has him.
    let job = run(&host, ALICE, None).await;
    let rows = read_rows(&exporter.document(&job).await.unwrap());
    assert_eq!(
        rows.len(),
        2,
        "the header and Alice's one session: {rows:?}"
    );
    assert_eq!(rows[1][0], ALICE.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_running_when_a_member_is_erased_is_withdrawn_and_leaves_no_file() {
    let (host, _) = team().await;
    let exporter = &host.app.exporter;
    exporter
        .set_server_export(server(WORK), true)
        .await
        .unwrap();
    let job = match exporter
        .request_server_export(user(ALICE), None, server(WORK), None, None)
        .await
        .unwrap()
    {
        ServerRequest::Queued(job) => job,
        other => panic!("{other:?}"),
    };

    // A worker has claimed the job; Bob is erased before it stores its file.
    let mut tx = host.app.db.write().await.unwrap();
    assert!(
        clocky::db::exports::claim(&mut tx, job.job_id, at("2025-01-20T12:00:00Z"))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(exporter.forget_user(user(BOB)).await.unwrap());
    let withdrawn = exporter.job(job.job_id).await.unwrap();
    assert_eq!(withdrawn.state, clocky::db::exports::JobState::Failed);
    assert_eq!(withdrawn.failure_kind.as_deref(), Some("withdrawn"));

    // The run goes on and finishes, finds its job withdrawn, and deletes what it stored.
    let error = exporter.run_claimed(job.job_id).await.unwrap_err();
    assert!(
        matches!(error, ExportError::Withdrawn(id) if id == job.job_id),
        "{error:?}"
    );
    let folder = host
        .storage_dir()
        .join("exports")
        .join(job.job_id.to_string());
    let left = std::fs::read_dir(&folder).map_or(0, |entries| entries.count());
    assert_eq!(left, 0, "files are left in {}", folder.display());
    assert!(exporter.issue_link(job.job_id).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_disabled_before_its_export_runs_gets_no_export() {
    let (host, _) = team().await;
    let exporter = &host.app.exporter;
    exporter
        .set_server_export(server(WORK), true)
        .await
        .unwrap();
    let ServerRequest::Queued(job) = exporter
        .request_server_export(user(ALICE), None, server(WORK), None, None)
        .await
        .unwrap()
    else {
        panic!("not queued");
    };
    assert!(
        exporter
            .set_server_export(server(WORK), false)
            .await
            .unwrap()
    );
    let error = exporter.run(job.job_id).await.unwrap_err();
    assert!(
        matches!(error, ExportError::ServerExportDisabled(_)),
        "{error:?}"
    );
    let failed = exporter.job(job.job_id).await.unwrap();
    assert_eq!(failed.failure_kind.as_deref(), Some("disabled"));
    assert_eq!(failed.file_key, None);
}
