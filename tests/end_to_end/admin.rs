//! The admin endpoint `clocky plugins` talks to, called through its router without a socket:
//! the plugin list, a reload of the folder, rollback, and the bearer token.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use clocky::plugin::PluginReport;
use clocky_tests::fixtures::HOG_WASM;
use clocky_tests::{TestHost, variant};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "an-admin-token-of-some-length";

async fn call(
    host: &TestHost,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    call_with(
        host,
        method,
        path,
        token,
        &[(header::HOST.as_str(), "127.0.0.1:8081")],
    )
    .await
}

async fn call_with(
    host: &TestHost,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = clocky::admin::for_app(&host.app)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn reports(body: Value) -> Vec<PluginReport> {
    serde_json::from_value(body).expect("a list of plugin reports")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_every_active_plugin_with_its_origin_and_counts() {
    let host = TestHost::builder().plugin(HOG_WASM).start().await;
    let (status, body) = call(&host, Method::GET, "/plugins", None).await;
    assert_eq!(status, StatusCode::OK);
    let reports = reports(body);
    let names: Vec<(&str, &str)> = reports
        .iter()
        .map(|report| (report.name.as_str(), report.state.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("clockify-csv", "active"),
            ("data-export", "active"),
            ("harvest-csv", "active"),
            ("hog", "active"),
            ("server-sessions-csv", "active"),
            ("sessions-csv", "active"),
            ("toggl-csv", "active"),
        ]
    );
    let hog = &reports[3];
    assert_eq!(hog.version.as_deref(), Some("0.1.0"));
    assert_eq!(hog.world_version.as_deref(), Some("1.2.0"));
    assert_eq!(hog.scope.as_deref(), Some("user"));
    assert_eq!(reports[4].scope.as_deref(), Some("server"));
    assert!(
        hog.origin.ends_with("clocky_fixture_hog.wasm"),
        "{}",
        hog.origin
    );
    assert_eq!((hog.served, hog.failed), (0, 0));
    assert_eq!(reports[1].origin, "built-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_and_rollback_act_on_the_running_host() {
    let host = TestHost::builder().plugin(HOG_WASM).start().await;
    let first = host.app.plugins.get("hog").unwrap().sha256.clone();

    // Nothing changed: the reload reports the file as it is.
    let (status, body) = call(&host, Method::POST, "/plugins/reload", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["outcome"], "unchanged");

    // A second version written into the folder serves after a reload.
    let dir = host.app.config.plugins.dir.clone().unwrap();
    let bytes = variant(&std::fs::read(HOG_WASM).unwrap(), "second");
    std::fs::write(dir.join("hog-2.wasm"), &bytes).unwrap();
    std::fs::remove_file(dir.join("clocky_fixture_hog.wasm")).unwrap();
    let (status, body) = call(&host, Method::POST, "/plugins/reload", None).await;
    assert_eq!(status, StatusCode::OK);
    let outcomes: Vec<(String, String)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|outcome| {
            let file = outcome["file"].as_str().unwrap();
            let name = file.rsplit('/').next().unwrap().to_owned();
            (name, outcome["outcome"].as_str().unwrap().to_owned())
        })
        .collect();
    // The removed file no longer provides hog; the new one does (files in name order).
    assert_eq!(
        outcomes,
        [
            ("clocky_fixture_hog.wasm".to_owned(), "removed".to_owned()),
            ("hog-2.wasm".to_owned(), "activated".to_owned()),
        ]
    );
    assert_ne!(host.app.plugins.get("hog").unwrap().sha256, first);

    // Hog has no built-in version, and its first file is gone, so removal forgot the earlier
    // version: there is nothing to roll back to.
    let (status, body) = call(&host, Method::POST, "/plugins/hog/rollback", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "\"hog\" has no earlier version to go back to"
    );

    // A second file for the same plugin is refused: it must replace the first.
    std::fs::copy(HOG_WASM, dir.join("hog-3.wasm")).unwrap();
    let (_, body) = call(&host, Method::POST, "/plugins/reload", None).await;
    assert_eq!(body[1]["outcome"], "refused", "{body}");
    let reason = body[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("which ") && reason.contains("hog-2.wasm already provides"),
        "{reason}"
    );
    std::fs::remove_file(dir.join("hog-3.wasm")).unwrap();

    // The first bytes renamed over the second file: they serve, and the second stands by.
    std::fs::copy(HOG_WASM, dir.join("hog-2.wasm.new")).unwrap();
    std::fs::rename(dir.join("hog-2.wasm.new"), dir.join("hog-2.wasm")).unwrap();
    let (_, body) = call(&host, Method::POST, "/plugins/reload", None).await;
    assert_eq!(body[0]["outcome"], "activated", "{body}");
    let listed = reports(call(&host, Method::GET, "/plugins", None).await.1);
    assert!(
        !listed.iter().any(|report| report.state == "refused"),
        "{listed:?}"
    );
    assert_eq!(host.app.plugins.get("hog").unwrap().sha256, first);
    let (status, body) = call(&host, Method::POST, "/plugins/hog/rollback", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "hog");
    assert_ne!(host.app.plugins.get("hog").unwrap().sha256, first);

    let (status, body) = call(&host, Method::POST, "/plugins/nothing/rollback", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no plugin called \"nothing\" is active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_request_must_carry_it() {
    let host = TestHost::builder()
        .configure(|config| config.admin.token = Some(TOKEN.to_owned()))
        .start()
        .await;
    for token in [None, Some("wrong-token-of-some-length"), Some("")] {
        let (status, body) = call(&host, Method::GET, "/plugins", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(
            body["error"],
            "this endpoint needs the admin token (admin.token) as a bearer token"
        );
        let (status, _) = call(&host, Method::POST, "/plugins/data-export/rollback", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let (status, _) = call(&host, Method::GET, "/plugins", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    // Without a folder there is nothing to reload, and the answer says so.
    let (status, body) = call(&host, Method::POST, "/plugins/reload", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("plugins.dir"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_web_pages_and_foreign_host_names_are_refused() {
    let host = TestHost::builder().start().await;
    let rollback = "/plugins/data-export/rollback";
    // What a page on another site sends: a simple cross-site POST carries its Origin.
    let from_page = [
        ("host", "127.0.0.1:8081"),
        ("origin", "https://evil.example"),
        ("content-type", "text/plain"),
    ];
    let (status, body) = call_with(&host, Method::POST, rollback, None, &from_page).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "requests from web pages are refused; use `clocky plugins`"
    );
    // What a DNS-rebinding page sends: its own host name, pointed at 127.0.0.1.
    for name in [
        "evil.example",
        "evil.example:8081",
        "127.0.0.1.evil.example",
    ] {
        let (status, _) = call_with(&host, Method::GET, "/plugins", None, &[("host", name)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
    for name in ["localhost:8081", "[::1]:8081", "127.0.0.1", "LOCALHOST"] {
        let (status, _) = call_with(&host, Method::GET, "/plugins", None, &[("host", name)]).await;
        assert_eq!(status, StatusCode::OK, "{name}");
    }
    // Nothing was rolled back along the way.
    assert_eq!(
        host.app
            .plugins
            .get("data-export")
            .unwrap()
            .origin
            .to_string(),
        "built-in"
    );
}

/// `GET /metrics` as a scraper sees it: status, content type and the text.
async fn scrape(host: &TestHost) -> (StatusCode, String, String) {
    let request = Request::builder()
        .uri("/metrics")
        .header(header::HOST, "127.0.0.1:8081")
        .body(Body::empty())
        .unwrap();
    let response = clocky::admin::for_app(&host.app)
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of the sample of `name` whose labels include every pair in `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exports_by_outcome_and_plugin_failures_by_kind() {
    use clocky::export::Requested;
    use clocky_tests::user;

    let host = TestHost::builder()
        .plugin(HOG_WASM)
        .configure(|config| config.plugins.memory_mib = 32)
        .start()
        .await;
    // The recorder belongs to the process and other tests add to it, so figures are compared
    // before and after this test's own exports.
    let (status, kind, before) = scrape(&host).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let count =
        |text: &str, name: &str, labels: &[(&str, &str)]| sample(text, name, labels).unwrap_or(0.0);
    let oom = [("plugin", "hog"), ("outcome", "out-of-memory")];
    let failed_oom = [("outcome", "failed"), ("reason", "out-of-memory")];

    // One export that succeeds, one that runs out of memory (the hog's `hog-oom` user), and
    // one left in the queue.
    host.export(111).await;
    let exporter = &host.app.exporter;
    let Ok(Requested::Queued(job)) = exporter
        .request(user(222), Some(("hog-oom", 0)), Some("hog"))
        .await
    else {
        panic!("the hog export was not queued");
    };
    assert!(exporter.run(job.job_id).await.is_err());
    host.set_now("2025-01-15T12:00:00Z");
    let Ok(Requested::Queued(_)) = exporter.request(user(333), None, None).await else {
        panic!("the third export was not queued");
    };
    host.set_now("2025-01-15T12:01:40Z");

    let (_, _, after) = scrape(&host).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        count(&after, name, labels) - count(&before, name, labels)
    };
    assert!(grew("clocky_plugin_calls_total", &oom) >= 1.0, "{after}");
    assert!(
        grew("clocky_exports_finished_total", &failed_oom) >= 1.0,
        "{after}"
    );
    assert!(
        grew("clocky_exports_finished_total", &[("outcome", "ready")]) >= 1.0,
        "{after}"
    );
    assert!(
        grew("clocky_exports_requested_total", &[("scope", "user")]) >= 3.0,
        "{after}"
    );
    let calls = [("plugin", "data-export")];
    assert!(
        count(&after, "clocky_plugin_call_seconds_count", &calls) >= 1.0,
        "{after}"
    );
    // The queue is this host's own, read at the scrape: one job, requested 100 seconds ago.
    assert_eq!(
        sample(&after, "clocky_export_queue_depth", &[]),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "clocky_export_oldest_queued_seconds", &[]),
        Some(100.0),
        "{after}"
    );
}
