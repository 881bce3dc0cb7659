//! What a plugin file must pass before it serves, and what happens to a version that fails in
//! service: a broken file, a contract version the host does not serve, a forbidden import and a
//! failed check run are each refused with their reason while the version already serving keeps
//! serving; a new version that fails too many of its first exports is rolled back by itself.
//!
//! These tests drive the plugin folder directly (`refresh`, `load_all`), as the watcher and
//! the admin endpoint's reload do, so they do not wait on file system events.

use std::path::{Path, PathBuf};

use clocky::db::exports::JobState;
use clocky::export::Requested;
use clocky::plugin::PluginError;
use clocky::plugin::folder::Change;
use clocky_tests::fixtures::{
    ELDER_WASM, FUTURE_WASM, HOG_WASM, LOOPER_WASM, MIDDLE_WASM, SNOOPER_WASM,
};
use clocky_tests::{TestHost, user, variant};

const ALICE: u64 = 123_456_789_012_345_678;

/// The hog's file in the host's plugin folder, where the harness copied it.
fn hog_path(host: &TestHost) -> PathBuf {
    plugin_dir(host).join(Path::new(HOG_WASM).file_name().unwrap())
}

/// Writes `bytes` over the hog's file, by a rename as operators are told to, and has the
/// folder look at it. Returns what happened.
async fn replace_hog(host: &TestHost, bytes: &[u8]) -> Change {
    let path = hog_path(host);
    let staging = plugin_dir(host).with_file_name("hog.wasm.staging");
    std::fs::write(&staging, bytes).unwrap();
    std::fs::rename(&staging, &path).unwrap();
    let folder = host.app.folder.as_ref().expect("a plugin folder");
    folder.lock().await.refresh(&path).await
}

fn plugin_dir(host: &TestHost) -> PathBuf {
    host.app
        .config
        .plugins
        .dir
        .clone()
        .expect("a plugin folder")
}

fn hog_bytes() -> Vec<u8> {
    std::fs::read(HOG_WASM).unwrap()
}

fn active_hog_sha(host: &TestHost) -> String {
    host.app
        .plugins
        .get("hog")
        .expect("hog is active")
        .sha256
        .clone()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The reason `clocky plugins list` gives for the file at `path`.
fn listed_reason(host: &TestHost, path: &Path) -> Option<String> {
    let file = path.file_name()?.to_string_lossy().into_owned();
    host.app
        .plugins
        .report()
        .into_iter()
        .find(|report| report.name == file && report.state == "refused")
        .and_then(|report| report.reason)
}

/// Exports Alice with `hog` and says whether the job ended ready.
async fn hog_serves(host: &TestHost, name: &str) -> bool {
    let exporter = &host.app.exporter;
    let Ok(Requested::Queued(job)) = exporter
        .request(user(ALICE), Some((name, 0)), Some("hog"))
        .await
    else {
        panic!("the export was not queued");
    };
    let _ = exporter.run(job.job_id).await;
    exporter.job(job.job_id).await.unwrap().state == JobState::Ready
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_file_is_refused_with_its_reason_while_the_serving_version_goes_on() {
    let host = TestHost::builder().plugin(HOG_WASM).start().await;
    let serving = sha256_hex(&hog_bytes());
    assert_eq!(active_hog_sha(&host), serving);
    let path = hog_path(&host);

    // A file cut off half-way, as a copy still being written would be.
    let hog = hog_bytes();
    let change = replace_hog(&host, &hog[..hog.len() / 2]).await;
    let Change::Refused(PluginError::Invalid(reason)) = &change else {
        panic!("a truncated file was not refused as invalid: {change:?}");
    };
    assert!(!reason.is_empty());
    assert_eq!(active_hog_sha(&host), serving);
    assert!(hog_serves(&host, "alice").await);

    // Built for a contract version from the future: both versions are named.
    let change = replace_hog(&host, &std::fs::read(FUTURE_WASM).unwrap()).await;
    let Change::Refused(error @ PluginError::WorldVersion { .. }) = &change else {
        panic!("a plugin for clocky:plugin@2.0.0 was not refused for its version: {change:?}");
    };
    assert_eq!(
        error.to_string(),
        "was built for clocky:plugin@2.0.0, but this host serves clocky:plugin@1.2.0 and \
         earlier 1.x versions; rebuild it against this host's wit/ folder, or upgrade the host"
    );
    assert_eq!(listed_reason(&host, &path), Some(error.to_string()));
    assert_eq!(active_hog_sha(&host), serving);

    // A plugin that reads files: refused on its imports, before any of its code runs.
    let change = replace_hog(&host, &std::fs::read(SNOOPER_WASM).unwrap()).await;
    let Change::Refused(PluginError::ForbiddenImport { interface, reason }) = &change else {
        panic!("a plugin importing the file system was not refused: {change:?}");
    };
    assert!(interface.starts_with("wasi:filesystem/"), "{interface}");
    assert!(reason.contains("may not read or write files"), "{reason}");
    assert_eq!(active_hog_sha(&host), serving);

    // A plugin that loops: it fits the contract, but its check run runs out of CPU time.
    let change = replace_hog(&host, &std::fs::read(LOOPER_WASM).unwrap()).await;
    let Change::Refused(error @ PluginError::CheckRun(_)) = &change else {
        panic!("a plugin failing its check run was not refused: {change:?}");
    };
    assert_eq!(
        error.to_string(),
        "failed its check run against the sample user `clocky-check`: ran out of CPU time \
         after 2000 ms"
    );
    assert_eq!(active_hog_sha(&host), serving);
    assert!(hog_serves(&host, "alice").await);

    // The same file fixed: it loads, and its refusal is forgotten.
    let change = replace_hog(&host, &variant(&hog_bytes(), "fixed")).await;
    assert!(matches!(change, Change::Activated { .. }), "{change:?}");
    assert_eq!(listed_reason(&host, &path), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_failing_half_its_first_exports_is_rolled_back_by_itself() {
    // The defaults: judged after 4 exports, rolled back at 50% failed.
    let host = TestHost::builder().plugin(HOG_WASM).start().await;
    let first = active_hog_sha(&host);
    let second_bytes = variant(&hog_bytes(), "second release");
    let change = replace_hog(&host, &second_bytes).await;
    assert!(matches!(change, Change::Activated { .. }), "{change:?}");
    let second = sha256_hex(&second_bytes);
    assert_eq!(active_hog_sha(&host), second);

    // Two good exports, then two that trap: 2 of 4 failed is 50%, so the fourth rolls back.
    assert!(hog_serves(&host, "alice").await);
    assert!(hog_serves(&host, "alice").await);
    assert!(!hog_serves(&host, "hog-panic").await);
    assert_eq!(
        active_hog_sha(&host),
        second,
        "3 exports are too few to judge"
    );
    assert!(!hog_serves(&host, "hog-panic").await);
    assert_eq!(active_hog_sha(&host), first);

    let reports = host.app.plugins.report();
    let rolled_back = reports
        .iter()
        .find(|report| report.sha256.as_deref() == Some(second.as_str()))
        .expect("the rolled-back version is listed");
    assert_eq!(rolled_back.state, "rolled-back");
    assert_eq!((rolled_back.served, rolled_back.failed), (2, 2));
    assert_eq!(
        rolled_back.reason.as_deref(),
        Some("2 of its first 4 exports failed, at or over the 50% threshold")
    );

    // Reading the folder again does not bring the rolled-back file back into service.
    let folder = host.app.folder.as_ref().unwrap();
    let changes = folder.lock().await.load_all().await.unwrap();
    assert!(
        matches!(changes.as_slice(), [(_, Change::RolledBackBefore(_))]),
        "{changes:?}"
    );
    assert_eq!(active_hog_sha(&host), first);
    assert!(hog_serves(&host, "alice").await);

    // The rollback is written to the database, off the export's path.
    let recorded = async {
        loop {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT sha256, reason FROM plugin_rollbacks")
                    .fetch_all(host.pool())
                    .await
                    .unwrap();
            if !rows.is_empty() {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let rows = tokio::time::timeout(std::time::Duration::from_secs(10), recorded)
        .await
        .expect("the rollback was recorded");
    assert_eq!(
        rows,
        [(
            second.clone(),
            "2 of its first 4 exports failed, at or over the 50% threshold".to_owned()
        )]
    );

    // A restart on the same folder and database does not serve the rolled-back file, which is
    // the only file providing hog now that the first version's bytes were replaced.
    let restarted =
        clocky::app::App::open(host.config.clone(), std::sync::Arc::new(host.clock.clone()))
            .await
            .unwrap();
    assert!(restarted.plugins.get("hog").is_none());
    let refusal = restarted
        .plugins
        .report()
        .into_iter()
        .find(|report| report.state == "refused")
        .and_then(|report| report.reason)
        .unwrap_or_default();
    assert!(
        refusal.contains("was rolled back (2 of its first 4 exports failed"),
        "{refusal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_with_no_earlier_version_is_not_rolled_back_and_keeps_counting() {
    let host = TestHost::builder().plugin(HOG_WASM).start().await;
    for _ in 0..4 {
        assert!(!hog_serves(&host, "hog-panic").await);
    }
    let hog = host.app.plugins.get("hog").unwrap();
    assert_eq!((hog.stats.served(), hog.stats.failed()), (0, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_built_for_earlier_contract_versions_serve_beside_current_ones() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .plugin(ELDER_WASM)
        .plugin(MIDDLE_WASM)
        .plugin(HOG_WASM)
        .start()
        .await;
    let elder = host
        .app
        .plugins
        .get("elder")
        .expect("the 1.0.0 plugin is active");
    assert_eq!(elder.world_version.to_string(), "1.0.0");
    let middle = host
        .app
        .plugins
        .get("middle")
        .expect("the 1.1.0 plugin is active");
    assert_eq!(middle.world_version.to_string(), "1.1.0");
    let hog = host.app.plugins.get("hog").unwrap();
    assert_eq!(hog.world_version.to_string(), clocky::plugin::WORLD_VERSION);

    // Three sessions in two servers: more than the elder's page of two.
    for (server, day) in [(1_u64, "13"), (2, "14"), (1, "15")] {
        host.session(
            host.member(ALICE, server),
            &format!("2025-01-{day}T09:00:00Z"),
            &format!("2025-01-{day}T17:00:00Z"),
        )
        .await;
    }
    let exported = host.export_as(ALICE, Some("elder")).await;
    assert_eq!(
        exported.bytes,
        b"{\"contract\":\"1.0.0\",\"sessions\":3,\"servers\":2}"
    );
    assert_eq!(exported.message.sessions_included, 3);
    let exported = host.export_as(ALICE, Some("middle")).await;
    assert_eq!(
        exported.bytes,
        b"{\"contract\":\"1.1.0\",\"sessions\":3,\"servers\":2}"
    );
    assert!(hog_serves(&host, "alice").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_pipe_in_the_folder_is_refused_without_stalling_the_host() {
    let host = TestHost::builder().plugin(HOG_WASM).start().await;
    let pipe = plugin_dir(&host).join("pipe.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success());
    let folder = host.app.folder.as_ref().unwrap();
    let reading = async { folder.lock().await.load_all().await.unwrap() };
    let changes = tokio::time::timeout(std::time::Duration::from_secs(10), reading)
        .await
        .expect("reading the folder does not wait on the pipe");
    let (_, change) = changes
        .iter()
        .find(|(path, _)| *path == pipe)
        .expect("the pipe is reported");
    let Change::Unreadable(error) = change else {
        panic!("{change:?}");
    };
    assert_eq!(error.to_string(), "it is not a regular file");
    assert!(hog_serves(&host, "alice").await);
}
