//! Plugins swapped on a running host: a renamed file becomes the active version while exports
//! go on, a broken file changes nothing, and removing a file brings the built-in plugin back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clocky_tests::fixtures::TEMPLATE_WASM;
use clocky_tests::{TestHost, user, variant};

const ALICE: u64 = 123_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;

/// How long a change may take to be seen: the watcher's quiet period plus a compile.
const SWAP_WAIT: Duration = Duration::from_secs(20);

/// Writes `bytes` next to the folder and renames the file in, as operators are told to.
fn install(dir: &Path, file: &str, bytes: &[u8]) {
    let staging = dir.with_file_name(format!("{file}.staging"));
    std::fs::write(&staging, bytes).expect("the staging file");
    std::fs::rename(&staging, dir.join(file)).expect("the rename into the folder");
}

fn sha256_of(host: &TestHost, name: &str) -> Option<String> {
    host.app
        .plugins
        .get(name)
        .map(|plugin| plugin.sha256.clone())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Waits until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < SWAP_WAIT,
            "waited {SWAP_WAIT:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn plugin_dir(host: &TestHost) -> PathBuf {
    host.app
        .config
        .plugins
        .dir
        .clone()
        .expect("a plugin folder")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_file_becomes_the_active_version_while_exports_go_on() {
    let host = TestHost::builder()
        .now("2025-01-16T00:00:00Z")
        .plugin(TEMPLATE_WASM)
        .start()
        .await;
    host.session(
        host.member(ALICE, WORK),
        "2025-01-15T09:00:00Z",
        "2025-01-15T17:00:00Z",
    )
    .await;
    let serving = host.serve().await;
    let dir = plugin_dir(&host);
    let original = std::fs::read(TEMPLATE_WASM).expect("the template component");
    assert_eq!(
        sha256_of(&host, "hours-by-server"),
        Some(sha256_hex(&original))
    );

    // A stream of exports in the new format runs while the file is replaced.
    let exports = {
        let exporter = host.app.exporter.clone();
        tokio::spawn(async move {
            let mut versions = Vec::new();
            for _ in 0..15 {
                let job = match exporter
                    // Claimed at creation, as `clocky export` does, so that the serving host's
                    // own workers cannot take it first.
                    .request_claimed(user(ALICE), None, Some("hours-by-server"))
                    .await
                    .expect("a request")
                {
                    clocky::export::Requested::Queued(job) => job,
                    other => panic!("not queued: {other:?}"),
                };
                let done = exporter
                    .run_claimed(job.job_id)
                    .await
                    .expect("every export succeeds");
                versions.push(done.plugin_version);
            }
            versions
        })
    };
    let new = variant(&original, "v2");
    install(&dir, "clocky_plugin_template.wasm", &new);
    // The figure is not reported here: the host may still be reading the folder at start-up
    // when the file arrives. The time from a rename to the new version serving is measured
    // against a running `clocky serve` instead.
    until("the new version to serve", || {
        sha256_of(&host, "hours-by-server") == Some(sha256_hex(&new))
    })
    .await;
    let versions = exports.await.expect("the export stream");
    assert_eq!(versions.len(), 15, "no export was lost");

    // An export after the swap runs the new version and still works.
    let exported = host.export_as(ALICE, Some("hours-by-server")).await;
    assert!(String::from_utf8_lossy(&exported.bytes).contains("8.00"));
    serving.stop().await.expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_changes_nothing_and_a_removed_one_brings_the_built_in_back() {
    let host = TestHost::builder().plugin(TEMPLATE_WASM).start().await;
    let serving = host.serve().await;
    let dir = plugin_dir(&host);
    let builtin_csv = sha256_of(&host, "sessions-csv").expect("the built-in CSV plugin");

    // A replacement for a built-in plugin takes its place...
    let replacement = variant(clocky::BUILTIN_PLUGINS[1], "replacement");
    install(&dir, "sessions.wasm", &replacement);
    until("the replacement to serve", || {
        sha256_of(&host, "sessions-csv") == Some(sha256_hex(&replacement))
    })
    .await;

    // ...a file that is not a component, and one cut off half-way, are refused...
    install(&dir, "garbage.wasm", b"\0asm this is not a component");
    let whole = variant(&std::fs::read(TEMPLATE_WASM).expect("the template"), "v3");
    install(&dir, "truncated.wasm", &whole[..whole.len() / 2]);
    // ...and the removal that follows them is seen, so they have been read by then.
    std::fs::remove_file(dir.join("sessions.wasm")).expect("removing the replacement");
    until("the built-in plugin to come back", || {
        sha256_of(&host, "sessions-csv") == Some(builtin_csv.clone())
    })
    .await;
    let original = sha256_hex(&std::fs::read(TEMPLATE_WASM).expect("the template"));
    assert_eq!(sha256_of(&host, "hours-by-server"), Some(original));

    // Removing the folder's only copy of a plugin that is not built in removes it.
    std::fs::remove_file(dir.join("clocky_plugin_template.wasm")).expect("removing it");
    until("the template plugin to go", || {
        sha256_of(&host, "hours-by-server").is_none()
    })
    .await;
    assert_eq!(
        host.app.exporter.formats(),
        [
            "clockify-csv",
            "data-export",
            "harvest-csv",
            "sessions-csv",
            "toggl-csv"
        ]
    );

    // The watcher is told about reads too, its own included; a refused file that does not
    // change is not read again. Refusal times are whole seconds, and a file read every quiet
    // period (300 ms) would be refused again at a later second within 2.5 s.
    let refused_at = || {
        host.app
            .plugins
            .report()
            .into_iter()
            .find(|report| report.name == "garbage.wasm")
            .map(|report| report.loaded_at)
    };
    let first = refused_at().expect("garbage.wasm is listed as refused");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(refused_at(), Some(first));
    serving.stop().await.expect("a clean stop");
}
