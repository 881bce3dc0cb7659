//! Plugins that misbehave on purpose (`tests/plugins/trapper`, `tests/plugins/looper`): each
//! failure is classified, fails only its own job, leaves no file and no link behind, and the
//! host keeps exporting and serving everybody else meanwhile.

use std::time::Duration;

use axum::http::StatusCode;
use clocky::db::exports::JobState;
use clocky::export::{ExportError, Requested};
use clocky::plugin::PluginError;
use clocky_tests::fixtures::{LOOPER_WASM, TRAPPER_WASM};
use clocky_tests::{TestHost, user};

const ALICE: u64 = 123_456_789_012_345_678;
const BOB: u64 = 223_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;

/// What every user is told when an export fails, whatever the cause.
const FAILED: &str =
    "Your data export failed. Nothing was lost; please try again in a few minutes.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_traps_fails_its_job_alone_and_leaves_nothing_to_download() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .plugin(TRAPPER_WASM)
        .plugin(LOOPER_WASM)
        .start()
        .await;
    assert_eq!(
        host.app.exporter.formats(),
        [
            "clockify-csv",
            "data-export",
            "harvest-csv",
            "looper",
            "sessions-csv",
            "toggl-csv",
            "trapper"
        ]
    );
    // The trapper traps after reading its first page, so give it a page to read.
    host.session(
        host.member(ALICE, WORK),
        "2025-01-15T09:00:00Z",
        "2025-01-15T17:00:00Z",
    )
    .await;

    let exporter = &host.app.exporter;
    let Ok(Requested::Queued(job)) = exporter.request(user(ALICE), None, Some("trapper")).await
    else {
        panic!("the trapper export was not queued");
    };
    let error = exporter.run(job.job_id).await.unwrap_err();
    assert!(
        matches!(
            &error,
            ExportError::Plugin { job: failed, source: PluginError::Trap(_) } if *failed == job.job_id
        ),
        "{error:?}"
    );
    assert_eq!(error.user_message(), FAILED);

    let failed = exporter.job(job.job_id).await.unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.failure_kind.as_deref(), Some("trap"));
    assert_eq!(failed.plugin_name.as_deref(), Some("trapper"));
    assert_eq!(failed.file_key, None);
    // Files are stored under exports/<job id>/; nothing was written for this job.
    let job_folder = host
        .storage_dir()
        .join("exports")
        .join(job.job_id.to_string());
    assert!(!job_folder.exists(), "{} exists", job_folder.display());
    let error = exporter.issue_link(job.job_id).await.unwrap_err();
    assert!(
        matches!(
            error,
            ExportError::WrongState {
                state: "failed",
                wanted: "ready",
                ..
            }
        ),
        "{error:?}"
    );

    // The failure does not block Alice: she asks again at once and gets her export.
    let exported = host.export(ALICE).await;
    assert_ne!(exported.job.job_id, job.job_id);
    assert_eq!(exported.message.sessions_included, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_loops_times_out_while_other_exports_and_downloads_go_on() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .cpu_ms(300)
        .plugin(LOOPER_WASM)
        .start()
        .await;
    host.session(
        host.member(BOB, WORK),
        "2025-01-15T09:00:00Z",
        "2025-01-15T17:00:00Z",
    )
    .await;

    let exporter = host.app.exporter.clone();
    let Ok(Requested::Queued(job)) = exporter.request(user(ALICE), None, Some("looper")).await
    else {
        panic!("the looper export was not queued");
    };
    let looping = tokio::spawn({
        let exporter = exporter.clone();
        async move { exporter.run(job.job_id).await }
    });
    // Wait until the worker has claimed the job, so the looper is running from here on.
    while exporter.job(job.job_id).await.unwrap().state == JobState::Queued {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Meanwhile Bob exports and downloads. The looper has 300 ms of CPU to burn; Bob's
    // one-session export and two requests need a small fraction of that.
    let exported = host.export(BOB).await;
    let page_path = exported.message.url.path().to_owned();
    let file = host.get(&format!("{page_path}/file")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, exported.bytes);
    assert!(
        !looping.is_finished(),
        "the looper finished before Bob's export did, so this test proved nothing"
    );
    assert_eq!(
        exporter.job(job.job_id).await.unwrap().state,
        JobState::Running
    );

    let error = looping.await.unwrap().unwrap_err();
    assert!(
        matches!(
            &error,
            ExportError::Plugin {
                source: PluginError::Timeout { limit_ms: 300 },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.user_message(), FAILED);
    let failed = exporter.job(job.job_id).await.unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.failure_kind.as_deref(), Some("timeout"));
    assert_eq!(
        failed.failure_detail.as_deref(),
        Some("ran out of CPU time after 300 ms")
    );

    // A failed job blocks nothing: a new request is queued.
    let again = exporter.request(user(ALICE), None, None).await.unwrap();
    assert!(matches!(again, Requested::Queued(_)), "{again:?}");
}
