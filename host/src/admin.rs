//! The admin endpoint: what `clocky plugins` asks a running host.
//!
//! - `GET /plugins`: every plugin version and refused file, as [`PluginReport`]s.
//! - `POST /plugins/reload`: reads the plugin folder again now, as the watcher would, and
//!   answers what happened to each file ([`FileOutcome`]).
//! - `POST /plugins/{name}/rollback`: takes the active version of `name` out of service and
//!   brings back the one before it ([`RollbackOutcome`]).
//! - `GET /metrics`: the Prometheus metrics of [`crate::signals`], for a scraper.
//!
//! Answers are JSON; errors are `{"error": "..."}` with a 4xx status. The endpoint listens on
//! `admin.listen`, loopback by default. With `admin.token` set, every request must carry it as
//! a bearer token, compared by hash so the comparison takes the same time whatever it holds.
//!
//! Browsers are kept out even without a token: a request carrying an `Origin` header (which
//! browsers add to cross-site requests, and `clocky plugins` never sends) is refused, and so is
//! one whose `Host` is not a loopback name, which is what a DNS-rebinding page would send.
//! Nothing here touches users' data: the endpoint sees plugins and aggregate figures only.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::export::PluginSet;
use crate::plugin::PluginReport;
use crate::plugin::folder::{Change, SharedFolder};
use crate::plugin::registry::RegistryError;

/// What a reload did to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOutcome {
    /// The file.
    pub file: String,
    /// `activated`, `unchanged`, `removed`, `refused`, `rolled-back-before` or `unreadable`.
    pub outcome: String,
    /// The plugin it provides, when known.
    pub plugin: Option<String>,
    /// Why it was refused.
    pub reason: Option<String>,
}

impl FileOutcome {
    fn of(file: &std::path::Path, change: &Change) -> FileOutcome {
        let (outcome, plugin, reason) = match change {
            Change::Activated { name, .. } => ("activated", Some(name.clone()), None),
            Change::Unchanged => ("unchanged", None, None),
            Change::Removed { name } => ("removed", Some(name.clone()), None),
            Change::Refused(error) => ("refused", None, Some(error.to_string())),
            Change::RolledBackBefore(error) => {
                ("rolled-back-before", None, Some(error.to_string()))
            }
            Change::Unreadable(error) => ("unreadable", None, Some(error.to_string())),
            Change::Ignored => ("ignored", None, None),
        };
        FileOutcome {
            file: file.display().to_string(),
            outcome: outcome.to_owned(),
            plugin,
            reason,
        }
    }
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackOutcome {
    /// The plugin.
    pub name: String,
    /// The version taken out of service.
    pub from: String,
    /// The version serving again.
    pub to: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for the operator.
    pub error: String,
}

/// What `GET /metrics` renders from: the recorder, and the database and clock the queue's
/// gauges are read from at each scrape.
#[derive(Clone, Debug)]
pub struct MetricsSource {
    /// The process's recorder.
    pub handle: PrometheusHandle,
    /// The database holding the queue.
    pub db: Db,
    /// The clock the oldest job's age is measured by.
    pub clock: SharedClock,
}

#[derive(Clone)]
struct Admin {
    plugins: PluginSet,
    folder: Option<SharedFolder>,
    token_hash: Option<[u8; 32]>,
    metrics: Option<MetricsSource>,
}

/// The router, apart from any socket so tests can call it directly. With `token`, requests
/// without it are answered 401. Without `metrics`, `GET /metrics` answers 404.
pub fn router(
    plugins: PluginSet,
    folder: Option<SharedFolder>,
    token: Option<&str>,
    metrics: Option<MetricsSource>,
) -> Router {
    let admin = Admin {
        plugins,
        folder,
        token_hash: token.map(|token| Sha256::digest(token.as_bytes()).into()),
        metrics,
    };
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/plugins", get(list))
        .route("/plugins/reload", post(reload))
        .route("/plugins/{name}/rollback", post(rollback))
        .layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            authorise,
        ))
        .with_state(admin)
}

fn error(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: text.into() })).into_response()
}

async fn authorise(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if headers.contains_key(header::ORIGIN) {
        return error(
            StatusCode::FORBIDDEN,
            "requests from web pages are refused; use `clocky plugins`",
        );
    }
    if admin.token_hash.is_none() {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !loopback_host(host) {
            return error(
                StatusCode::FORBIDDEN,
                "without admin.token this endpoint answers only requests addressed to a loopback \
                 name (127.0.0.1, [::1] or localhost)",
            );
        }
    }
    if let Some(expected) = admin.token_hash {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| <[u8; 32]>::from(Sha256::digest(token.as_bytes())));
        if given != Some(expected) {
            return error(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs the admin token (admin.token) as a bearer token",
            );
        }
    }
    next.run(request).await
}

/// Whether a `Host` header names this machine's loopback interface, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

async fn metrics_text(State(admin): State<Admin>) -> Response {
    let Some(source) = admin.metrics else {
        return error(
            StatusCode::NOT_FOUND,
            "this host records no metrics of its own",
        );
    };
    let queue = async {
        let mut conn = source.db.pool().acquire().await?;
        crate::db::exports::queue(&mut conn).await
    };
    match queue.await {
        Ok((depth, oldest)) => {
            let age = oldest.map_or(0, |at| source.clock.now().saturating_sub(at));
            crate::signals::set_queue(depth, u64::try_from(age).unwrap_or(0));
        }
        // The other figures are still worth a scrape; the queue's keep their last values.
        Err(failure) => {
            tracing::warn!(error = %failure, "could not read the export queue for metrics")
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::signals::render(&source.handle),
    )
        .into_response()
}

async fn list(State(admin): State<Admin>) -> Json<Vec<PluginReport>> {
    Json(admin.plugins.report())
}

async fn reload(State(admin): State<Admin>) -> Response {
    let Some(folder) = admin.folder else {
        return error(
            StatusCode::CONFLICT,
            "no plugin folder is configured (plugins.dir), so there is nothing to reload",
        );
    };
    let mut folder = folder.lock().await;
    match folder.load_all().await {
        Ok(changes) => {
            let outcomes: Vec<FileOutcome> = changes
                .iter()
                .map(|(path, change)| FileOutcome::of(path, change))
                .collect();
            Json(outcomes).into_response()
        }
        Err(failure) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the plugin folder {} could not be read: {failure}",
                folder.dir().display()
            ),
        ),
    }
}

async fn rollback(State(admin): State<Admin>, Path(name): Path<String>) -> Response {
    match admin.plugins.rollback(&name, "rolled back by an operator") {
        Ok(done) => Json(RollbackOutcome {
            name: done.name,
            from: done.from,
            to: done.to,
        })
        .into_response(),
        Err(failure @ RegistryError::NoSuchPlugin(_)) => {
            error(StatusCode::NOT_FOUND, failure.to_string())
        }
        Err(failure) => error(StatusCode::CONFLICT, failure.to_string()),
    }
}

/// The admin router for `plugins`, shared so tests and `serve` build it the same way.
pub fn for_app(app: &crate::app::App) -> Router {
    let metrics = app.metrics.clone().map(|handle| MetricsSource {
        handle,
        db: app.db.clone(),
        clock: app.clock.clone(),
    });
    router(
        Arc::clone(&app.plugins),
        app.folder.clone(),
        app.config.admin.token.as_deref(),
        metrics,
    )
}
