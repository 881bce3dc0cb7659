//! Calling the download router the way a browser would, without a socket.
//!
//! The router is built by [`clocky::web::router`], the same function `clocky serve` uses, and
//! each request goes through `tower`'s `oneshot`. What comes back is kept whole (status, headers,
//! body bytes) so a test can compare the body with the stored file byte for byte.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::TestHost;

/// One response, read to the end.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

impl Fetched {
    /// A header's value as text; panics when it is missing, naming the header.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("the response has no {name} header: {:?}", self.headers))
            .to_str()
            .expect("header values Clocky sets are ASCII")
    }

    /// The body as text (pages are UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("pages are UTF-8")
    }
}

impl TestHost {
    /// The download router over this host's exporter.
    pub fn router(&self) -> axum::Router {
        clocky::web::router(self.app.exporter.clone())
    }

    /// `GET path` through a fresh router. `path` goes into the request as written, so tests can
    /// send percent-encoded and otherwise odd paths.
    pub async fn get(&self, path: &str) -> Fetched {
        self.fetch(Method::GET, path).await
    }

    /// `method path` through a fresh router, read to the end.
    pub async fn fetch(&self, method: Method, path: &str) -> Fetched {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap_or_else(|error| panic!("the test built a bad request for {path:?}: {error}"));
        let response = self
            .router()
            .oneshot(request)
            .await
            .unwrap_or_else(|error| match error {});
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the router's bodies are in memory")
            .to_bytes()
            .to_vec();
        Fetched {
            status,
            headers,
            body,
        }
    }
}
