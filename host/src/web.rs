//! The download server.
//!
//! A download link opens a small page (`GET /download/{token}`) that says what the file is and
//! when the link expires, with a button that fetches the file (`GET /download/{token}/file`) as an
//! attachment. Both answer 404 for a token Clocky never issued and 410, with a page telling the
//! user to run `/data-export` again, for one that has expired.
//!
//! Every response carries `Cache-Control: no-store` (the file is personal data and must not sit
//! in shared caches), `Referrer-Policy: no-referrer` (the token is in the URL), `nosniff`, and a
//! content security policy that allows nothing but the page's own stylesheet. No part of a URL
//! reaches the file system: a token is looked up by its hash, and the file's storage key comes
//! from the database.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::export::{ExportError, Exporter, LinkLookup, human_size, human_time};

/// The page's stylesheet.
const STYLESHEET: &str = include_str!("web/clocky.css");

/// The security headers every response carries.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'none'; form-action 'none'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
];

/// The router, apart from any socket so tests can call it directly.
pub fn router(exporter: Arc<Exporter>) -> Router {
    Router::new()
        .route("/download/{token}", get(page))
        .route("/download/{token}/file", get(file))
        .route("/static/clocky.css", get(stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { respond(StatusCode::NOT_FOUND, html_headers(), not_found_page()) })
        .with_state(exporter)
        // A layer rather than per handler, so the headers also reach the answers axum makes
        // itself (405 for other methods, 400 for a path that is not UTF-8).
        .layer(axum::middleware::map_response(secure))
}

/// Adds the security headers to every response.
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers
}

fn respond(status: StatusCode, headers: HeaderMap, body: impl Into<axum::body::Body>) -> Response {
    (status, headers, body.into()).into_response()
}

async fn stylesheet() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    respond(StatusCode::OK, headers, STYLESHEET)
}

async fn page(State(exporter): State<Arc<Exporter>>, Path(token): Path<String>) -> Response {
    match exporter.lookup(&token).await {
        Ok(LinkLookup::Valid { job, .. }) => {
            // What the file is and how to get a new one depends on the kind of export.
            let (title, note) = match job.server_id {
                Some(_) => (
                    "Your Clocky server export",
                    "The file holds every session recorded in the server. The link stops \
                     working when it expires; run <code>/server-export</code> again for a new one.",
                ),
                None => (
                    "Your Clocky data export",
                    "The file holds the data Clocky keeps about you, in the format you chose. \
                     The link stops working when it expires; run <code>/data-export</code> again \
                     for a new one.",
                ),
            };
            let body = layout(
                title,
                &format!(
                    "<h1>📥 {title} is ready</h1>\
                     <dl>\
                     <dt>File</dt><dd>{name}</dd>\
                     <dt>Size</dt><dd>{size}</dd>\
                     <dt>Sessions included</dt><dd>{sessions}</dd>\
                     <dt>Generated</dt><dd>{generated}</dd>\
                     <dt>Link expires</dt><dd>{expires}</dd>\
                     </dl>\
                     <p><a class=\"button\" href=\"{token}/file\" download>Download Export</a></p>\
                     <p class=\"note\">{note}</p>",
                    name = html_escape::encode_double_quoted_attribute(
                        job.file_name.as_deref().unwrap_or("export")
                    ),
                    size = human_size(
                        job.file_size
                            .and_then(|s| u64::try_from(s).ok())
                            .unwrap_or(0)
                    ),
                    sessions = job.sessions_included.unwrap_or(0),
                    generated = human_time(job.generated_at.unwrap_or(0)),
                    expires = human_time(job.expires_at.unwrap_or(0)),
                    token = html_escape::encode_double_quoted_attribute(&token),
                ),
            );
            respond(StatusCode::OK, html_headers(), body)
        }
        Ok(LinkLookup::Expired) => respond(
            StatusCode::GONE,
            html_headers(),
            expired_page(exporter.link_hours()),
        ),
        Ok(LinkLookup::Unknown) => respond(StatusCode::NOT_FOUND, html_headers(), not_found_page()),
        Err(error) => server_error(&error),
    }
}

async fn file(
    State(exporter): State<Arc<Exporter>>,
    Path(token): Path<String>,
    method: Method,
) -> Response {
    let (link_id, job) = match exporter.lookup(&token).await {
        Ok(LinkLookup::Valid { link_id, job }) => (link_id, job),
        Ok(LinkLookup::Expired) => {
            return respond(
                StatusCode::GONE,
                html_headers(),
                expired_page(exporter.link_hours()),
            );
        }
        Ok(LinkLookup::Unknown) => {
            return respond(StatusCode::NOT_FOUND, html_headers(), not_found_page());
        }
        Err(error) => return server_error(&error),
    };
    let mut headers = HeaderMap::new();
    if let Some(size) = job.file_size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    let media_type = job
        .media_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let name = job.file_name.as_deref().unwrap_or("clocky-export");
    // Both values were checked when the plugin was loaded (no quotes, no control characters),
    // so they cannot break out of the header.
    if let (Ok(kind), Ok(disposition)) = (
        HeaderValue::from_str(media_type),
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")),
    ) {
        headers.insert(header::CONTENT_TYPE, kind);
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    // A HEAD request (link previews, download managers) learns the size without reading the
    // file or counting as a download.
    if method == Method::HEAD {
        return respond(StatusCode::OK, headers, axum::body::Body::empty());
    }
    // The file is streamed from storage, so a slow reader costs one chunk of memory, not the
    // whole file.
    match exporter.download(link_id, &job).await {
        Ok(stream) => respond(
            StatusCode::OK,
            headers,
            axum::body::Body::from_stream(stream),
        ),
        Err(ExportError::Expired(_)) => respond(
            StatusCode::GONE,
            html_headers(),
            expired_page(exporter.link_hours()),
        ),
        Err(error) => server_error(&error),
    }
}

fn server_error(error: &ExportError) -> Response {
    tracing::error!(error = %error, "download failed");
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        html_headers(),
        layout(
            "Download failed",
            "<h1>Something went wrong</h1><p>Your export is safe. Please try the link again in a \
             few minutes.</p>",
        ),
    )
}

fn expired_page(link_hours: i64) -> String {
    layout(
        "Link expired",
        &format!(
            "<h1>⌛ This download link has expired</h1>\
             <p>Download links work for {link_hours} hours, for your security.</p>\
             <p>Run <code>/data-export</code> in any server with Clocky to get a new one.</p>"
        ),
    )
}

fn not_found_page() -> String {
    layout(
        "Link not found",
        "<h1>This link does not lead to an export</h1>\
         <p>Check that you copied the whole link from Clocky's message, or run \
         <code>/data-export</code> again.</p>",
    )
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · Clocky</title><link rel=\"stylesheet\" href=\"../static/clocky.css\">\
         </head><body><main>{body}</main></body></html>"
    )
}
