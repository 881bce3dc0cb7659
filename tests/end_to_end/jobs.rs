//! The life of export jobs around the plugin call: one export in progress per user, unknown
//! formats refused, and a user erased with everything Clocky kept about them.

use axum::http::StatusCode;
use clocky::db::exports::JobState;
use clocky::export::{ExportError, Requested};
use clocky_tests::{PersonalTable, TestHost, user};

const ALICE: u64 = 123_456_789_012_345_678;
const BOB: u64 = 223_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_while_one_is_queued_returns_the_same_job() {
    let host = TestHost::builder().start().await;
    let exporter = &host.app.exporter;

    let Ok(Requested::Queued(first)) = exporter.request(user(ALICE), None, None).await else {
        panic!("the first request was not queued");
    };
    let second = exporter.request(user(ALICE), None, None).await.unwrap();
    match second {
        Requested::AlreadyInProgress(job) => {
            assert_eq!(job.job_id, first.job_id);
            assert_eq!(job.state, JobState::Queued);
        }
        other => panic!("a second job was queued: {other:?}"),
    }
    // Another user is not held up by Alice's job.
    let bob = exporter.request(user(BOB), None, None).await.unwrap();
    assert!(matches!(bob, Requested::Queued(_)), "{bob:?}");

    // Once Alice's job is done, she may ask again.
    let ready = exporter.run(first.job_id).await.unwrap();
    assert_eq!(ready.state, JobState::Ready);
    let third = exporter.request(user(ALICE), None, None).await.unwrap();
    assert!(
        matches!(&third, Requested::Queued(job) if job.job_id != first.job_id),
        "{third:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_format_is_refused_with_the_formats_there_are() {
    let host = TestHost::builder().start().await;
    let error = host
        .app
        .exporter
        .request(user(ALICE), None, Some("csv"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ExportError::UnknownFormat { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.user_message(),
        "there is no export format called \"csv\"; available: clockify-csv, data-export, \
         harvest-csv, sessions-csv, toggl-csv"
    );
    // Nothing was queued.
    assert_eq!(host.count_rows(PersonalTable::ExportJobs, ALICE).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_user_erases_their_rows_and_files_and_nobody_elses() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .start()
        .await;
    for id in [ALICE, BOB] {
        let member = host.member(id, WORK);
        host.app
            .tracker
            .check_in(member, Some(clocky_tests::at("2025-01-15T09:00:00Z")))
            .await
            .unwrap();
        host.pause(member, "2025-01-15T12:00:00Z", "2025-01-15T12:30:00Z")
            .await;
        host.app
            .tracker
            .check_out(member, Some(clocky_tests::at("2025-01-15T17:00:00Z")))
            .await
            .unwrap();
    }
    let alice = host.export(ALICE).await;
    let bob = host.export(BOB).await;
    let alice_file = host.file_path(&alice.job);
    assert!(alice_file.exists());

    // Before: each has 1 profile, 1 session, 1 break, 1 export job.
    for table in PersonalTable::ALL {
        assert_eq!(host.count_rows(table, ALICE).await, 1, "{table:?}");
    }

    assert!(host.app.exporter.forget_user(user(ALICE)).await.unwrap());

    for table in PersonalTable::ALL {
        assert_eq!(host.count_rows(table, ALICE).await, 0, "{table:?}");
        assert_eq!(host.count_rows(table, BOB).await, 1, "{table:?}");
    }
    let links: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM download_links WHERE job_id = ?1")
        .bind(alice.job.job_id.0)
        .fetch_one(host.pool())
        .await
        .unwrap();
    assert_eq!(links, 0);
    assert!(
        !alice_file.exists(),
        "{} survived the erasure",
        alice_file.display()
    );
    assert!(host.file_path(&bob.job).exists());

    // Alice's link leads nowhere now; Bob's still works.
    let alice_page = alice.message.url.path().to_owned();
    assert_eq!(host.get(&alice_page).await.status, StatusCode::NOT_FOUND);
    let bob_file = format!("{}/file", bob.message.url.path());
    assert_eq!(host.get(&bob_file).await.status, StatusCode::OK);

    // A second erasure finds nothing to erase.
    assert!(!host.app.exporter.forget_user(user(ALICE)).await.unwrap());
}
