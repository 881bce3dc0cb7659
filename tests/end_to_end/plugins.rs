//! Plugins that misbehave on purpose (`tests/plugins/trapper`, `tests/plugins/hog`): each
//! failure is classified, fails only its own job, leaves no file and no link behind, and the
//! host keeps exporting and serving everybody else meanwhile. Every limit is hit by a guest
//! built to hit it, and starts from zero again for the next export.

use std::time::Duration;

use axum::http::StatusCode;
use clocky::db::exports::JobState;
use clocky::export::{ExportError, Requested};
use clocky::plugin::Capability;
use clocky::plugin::PluginError;
use clocky::plugin::bindings::exports::clocky::plugin::exporter::ExportRequest;
use clocky_tests::fixtures::{HOG_WASM, TRAPPER_WASM};
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
        .plugin(HOG_WASM)
        .start()
        .await;
    assert_eq!(
        host.app.exporter.formats(),
        [
            "clockify-csv",
            "data-export",
            "harvest-csv",
            "hog",
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
        .plugin(HOG_WASM)
        .start()
        .await;
    host.session(
        host.member(BOB, WORK),
        "2025-01-15T09:00:00Z",
        "2025-01-15T17:00:00Z",
    )
    .await;

    let exporter = host.app.exporter.clone();
    // The hog spins without end for a user called `hog-slow`.
    let Ok(Requested::Queued(job)) = exporter
        .request(user(ALICE), Some(("hog-slow", 0)), Some("hog"))
        .await
    else {
        panic!("the hog export was not queued");
    };
    let looping = tokio::spawn({
        let exporter = exporter.clone();
        async move { exporter.run(job.job_id).await }
    });
    // Wait until the worker has claimed the job, so the hog is running from here on.
    while exporter.job(job.job_id).await.unwrap().state == JobState::Queued {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Meanwhile Bob exports and downloads. The hog has 300 ms of CPU to burn; Bob's
    // one-session export and two requests need a small fraction of that.
    let exported = host.export(BOB).await;
    let page_path = exported.message.url.path().to_owned();
    let file = host.get(&format!("{page_path}/file")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, exported.bytes);
    assert!(
        !looping.is_finished(),
        "the hog finished before Bob's export did, so this test proved nothing"
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

/// Requests and runs one `hog` export for a user of the given name, and returns the job.
async fn hog_export(host: &TestHost, id: u64, name: &str) -> clocky::db::exports::JobRow {
    let exporter = &host.app.exporter;
    let Ok(Requested::Queued(job)) = exporter
        .request(user(id), Some((name, 0)), Some("hog"))
        .await
    else {
        panic!("the export for {name} was not queued");
    };
    // The outcome is read from the job record, which is what users and operators see.
    let _ = exporter.run(job.job_id).await;
    exporter.job(job.job_id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_a_guest_hits_is_recorded_with_its_kind_and_the_next_export_starts_afresh() {
    let host = TestHost::builder()
        .plugin(HOG_WASM)
        .configure(|config| {
            config.plugins.memory_mib = 32;
            config.plugins.output_mib = 1;
        })
        .start()
        .await;

    // Each user's name makes the hog hit one limit (tests/plugins/hog/README.md).
    let cases = [
        (
            1_001,
            "hog-oom",
            "out-of-memory",
            // 32 MiB = 32 * 1024 * 1024 bytes.
            "ran out of memory (limit 33554432 bytes)",
        ),
        (
            1_002,
            "hog-big",
            "output-too-large",
            // A JSON string of 2 MiB of `a` and its two quotes: 2 * 1048576 + 2 bytes.
            "returned 2097154 bytes, more than the limit of 1048576",
        ),
        (1_003, "hog-panic", "trap", "trapped"),
    ];
    for (id, name, kind, detail) in cases {
        let job = hog_export(&host, id, name).await;
        assert_eq!(job.state, JobState::Failed, "{name}");
        assert_eq!(job.failure_kind.as_deref(), Some(kind), "{name}");
        let recorded = job.failure_detail.unwrap_or_default();
        assert!(recorded.starts_with(detail), "{name}: {recorded}");
        assert_eq!(job.plugin_name.as_deref(), Some("hog"), "{name}");
    }

    // Limits are per export: after all of that, the same plugin serves the next user whole.
    let job = hog_export(&host, 1_004, "carol").await;
    assert_eq!(job.state, JobState::Ready);
    let bytes = std::fs::read(host.file_path(&job)).unwrap();
    assert_eq!(bytes, b"{\"user\":\"carol\"}");

    // The registry counted every one against this version.
    let hog = host.app.plugins.get("hog").unwrap();
    assert_eq!((hog.stats.served(), hog.stats.failed()), (1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_past_the_limit_are_dropped_and_counted_afresh_on_every_export() {
    let host = TestHost::builder()
        .plugin(HOG_WASM)
        .configure(|config| config.plugins.log_lines = 25)
        .start()
        .await;
    let member = clocky::tracking::Member {
        username: Some(("hog-chatty", 0)),
        ..host.member(ALICE, WORK)
    };
    host.session(member, "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z")
        .await;
    let plugin = host.app.plugins.get("hog").unwrap();

    for _ in 0..2 {
        let capability = Capability::new(user(ALICE), host.app.db.read().await.unwrap());
        let request = ExportRequest { generated_at: 0 };
        let output = host
            .app
            .runtime
            .export(&plugin, capability, request)
            .await
            .unwrap();
        // The hog writes 10,000 lines; 25 are kept and 10,000 - 25 = 9,975 dropped, each time.
        assert_eq!(
            (output.log_lines_written, output.log_lines_dropped),
            (25, 9_975)
        );
        assert_eq!(output.bytes, b"{\"lines\":10000}");
    }
}
