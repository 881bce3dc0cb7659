//! Download links through the real router: the page, the file, the headers that keep personal
//! data out of caches and referrers, the 24-hour expiry to the second, the sweep that deletes
//! expired files, and tokens that were never issued or are not tokens at all.

use axum::http::{Method, StatusCode};
use clocky::db::exports::JobState;
use clocky::export::ExportError;
use clocky_tests::http::Fetched;
use clocky_tests::{TestHost, at};

const ALICE: u64 = 123_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;

/// A day in seconds: the guide's link lifetime.
const DAY: i64 = 24 * 3600;

/// Checks the headers every answer of the download server carries.
fn assert_private(response: &Fetched) {
    assert_eq!(response.header("cache-control"), "no-store");
    assert_eq!(response.header("x-content-type-options"), "nosniff");
    assert_eq!(response.header("referrer-policy"), "no-referrer");
    let policy = response.header("content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_serves_the_stored_file_for_exactly_24_hours_and_then_is_gone() {
    // The guide's example export time.
    let host = TestHost::builder()
        .now("2025-01-15T15:45:00Z")
        .start()
        .await;
    host.session(
        host.member(ALICE, WORK),
        "2025-01-15T09:00:00Z",
        "2025-01-15T15:00:00Z",
    )
    .await;
    let exported = host.export(ALICE).await;
    let message = &exported.message;
    assert_eq!(message.generated_at, at("2025-01-15T15:45:00Z"));
    assert_eq!(message.expires_at, at("2025-01-16T15:45:00Z"));
    let page_path = message.url.path().to_owned();
    let token = page_path
        .strip_prefix("/download/")
        .expect("links lead to /download/{token}")
        .to_owned();
    assert_eq!(token.len(), 43, "{token}");
    let file_path = format!("{page_path}/file");

    // The page.
    let page = host.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_private(&page);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    let html = page.text();
    assert!(html.contains("Download Export"), "{html}");
    assert!(html.contains(&format!("href=\"{token}/file\"")), "{html}");
    assert!(
        html.contains("clocky-data-export-20250115T154500Z.json"),
        "{html}"
    );

    // The file: the stored bytes exactly, as an attachment named after the generation time.
    let file = host.get(&file_path).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_private(&file);
    assert_eq!(file.header("content-type"), "application/json");
    assert_eq!(
        file.header("content-disposition"),
        "attachment; filename=\"clocky-data-export-20250115T154500Z.json\""
    );
    assert_eq!(file.body, exported.bytes);
    assert_eq!(u64::try_from(file.body.len()).unwrap(), message.file_size);
    let stored = std::fs::read(host.file_path(&exported.job)).unwrap();
    assert_eq!(file.body, stored);

    // One second before the 24 hours are up, both still work and the sweep leaves the file.
    host.clock.advance(DAY - 1);
    assert_eq!(host.get(&page_path).await.status, StatusCode::OK);
    assert_eq!(host.get(&file_path).await.status, StatusCode::OK);
    assert_eq!(host.app.exporter.sweep().await.unwrap(), 0);
    assert!(host.file_path(&exported.job).exists());

    // At exactly 24 hours both are gone, with a page that says how to get a new export.
    host.clock.advance(1);
    for path in [&page_path, &file_path] {
        let gone = host.get(path).await;
        assert_eq!(gone.status, StatusCode::GONE, "{path}");
        assert_private(&gone);
        assert!(gone.text().contains("/data-export"), "{}", gone.text());
    }
    let error = host
        .app
        .exporter
        .issue_link(exported.job.job_id)
        .await
        .unwrap_err();
    assert!(matches!(error, ExportError::Expired(job) if job == exported.job.job_id));

    // The sweep deletes the file and marks the job; the link keeps answering 410.
    assert_eq!(host.app.exporter.sweep().await.unwrap(), 1);
    assert!(
        !host.file_path(&exported.job).exists(),
        "{} survived the sweep",
        host.file_path(&exported.job).display()
    );
    let job = host.app.exporter.job(exported.job.job_id).await.unwrap();
    assert_eq!(job.state, JobState::Expired);
    assert_eq!(host.get(&page_path).await.status, StatusCode::GONE);
    assert_eq!(host.get(&file_path).await.status, StatusCode::GONE);
    let error = host
        .app
        .exporter
        .issue_link(exported.job.job_id)
        .await
        .unwrap_err();
    assert!(matches!(error, ExportError::Expired(_)), "{error:?}");
    assert_eq!(
        error.user_message(),
        "Your export has expired. Run /data-export again for a new one."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_counted_per_link_and_pages_are_not() {
    let host = TestHost::builder()
        .now("2025-01-15T15:45:00Z")
        .start()
        .await;
    let exported = host.export(ALICE).await;
    let page_path = exported.message.url.path().to_owned();

    host.get(&page_path).await;
    host.get(&format!("{page_path}/file")).await;
    host.get(&format!("{page_path}/file")).await;

    let downloads: i64 = sqlx::query_scalar("SELECT downloads FROM download_links")
        .fetch_one(host.pool())
        .await
        .unwrap();
    // One page view (not counted) and two file fetches.
    assert_eq!(downloads, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_issued_or_of_the_wrong_shape_are_not_found() {
    let host = TestHost::builder().start().await;
    // A real export exists, so "not found" cannot come from an empty table.
    host.export(ALICE).await;

    // 43 characters of the token alphabet: the right shape, never issued.
    let unknown = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_Q";
    assert_eq!(unknown.len(), 43);
    let a42 = "a".repeat(42);
    let paths = [
        format!("/download/{unknown}"),
        format!("/download/{unknown}/file"),
        // Too short.
        "/download/abc".to_owned(),
        "/download/abc/file".to_owned(),
        // One character too long.
        format!("/download/{unknown}x"),
        // A slash inside: a route that does not exist.
        format!("/download/{}/{}", &a42[..20], &a42[20..]),
        // Climbing out.
        "/download/..".to_owned(),
        "/download/../file".to_owned(),
        "/download/..%2F..%2Fclocky.db/file".to_owned(),
        // 43 characters once decoded, but one of them is a slash.
        format!("/download/%2F{a42}"),
        format!("/download/%2F{a42}/file"),
        // A dot is not in the token alphabet.
        format!("/download/%2E{a42}"),
    ];
    for path in &paths {
        let response = host.get(path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_private(&response);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_requests_learn_the_size_without_counting_and_other_methods_keep_the_headers() {
    let host = TestHost::builder()
        .now("2025-01-15T15:45:00Z")
        .start()
        .await;
    let exported = host.export(ALICE).await;
    let file_path = format!("{}/file", exported.message.url.path());

    let head = host.fetch(Method::HEAD, &file_path).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        head.header("content-length"),
        exported.bytes.len().to_string()
    );
    assert!(head.body.is_empty());
    let downloads: i64 = sqlx::query_scalar("SELECT downloads FROM download_links")
        .fetch_one(host.pool())
        .await
        .unwrap();
    assert_eq!(downloads, 0);

    // Regression: answers axum makes itself (405 here) once lacked the security headers.
    let post = host.fetch(Method::POST, &file_path).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.header("cache-control"), "no-store");
    assert_eq!(post.header("x-content-type-options"), "nosniff");
    assert_eq!(
        host.get("/healthz").await.header("cache-control"),
        "no-store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_missing_from_storage_answers_gone_and_ends_the_job() {
    // Regression: a file removed behind Clocky's back answered 500 "try again in a few
    // minutes", which could never work.
    let host = TestHost::builder()
        .now("2025-01-15T15:45:00Z")
        .start()
        .await;
    let exported = host.export(ALICE).await;
    std::fs::remove_file(host.file_path(&exported.job)).unwrap();

    let answer = host
        .get(&format!("{}/file", exported.message.url.path()))
        .await;
    assert_eq!(answer.status, StatusCode::GONE);
    assert!(answer.text().contains("/data-export"));
    let job = host.app.exporter.job(exported.job.job_id).await.unwrap();
    assert_eq!(job.state, JobState::Expired);
}
