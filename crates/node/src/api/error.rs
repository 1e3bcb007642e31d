//! The API's error type: every failure becomes a status code and a JSON
//! body `{"error": "...", "hint": "..."}` a person can act on.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failed request, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub error: String,
    /// What to do about it.
    pub hint: String,
    /// When to retry (sets `Retry-After`).
    pub retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    hint: &'a str,
}

impl ApiError {
    /// An error with `status`, a message and a hint.
    pub fn new(status: StatusCode, error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            hint: hint.into(),
            retry_after: None,
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, hint)
    }

    /// 404: nothing has that id (yet).
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no {what} {id} in the finalized state"),
            "check the id, or wait for the transaction that creates it to be finalized",
        )
    }

    /// 503: the node cannot answer now.
    pub fn unavailable(error: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                error,
                "retry after the time in the Retry-After header",
            )
        }
    }

    /// 429: this client sent more than its share; `retry_after` is when
    /// its next request will be served.
    pub fn too_many_requests(error: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                error,
                "wait the Retry-After seconds; batch work into fewer requests (one \
                 transaction carries many commits or reveals), or run your own node",
            )
        }
    }

    /// 503: the node is shutting down.
    pub fn stopped() -> Self {
        Self::unavailable("the node is shutting down", Duration::from_secs(5))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(Body {
            error: &self.error,
            hint: &self.hint,
        });
        let mut response = (self.status, body).into_response();
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up: a client that waits this long is
            // served.
            let secs = after
                .as_secs()
                .saturating_add(u64::from(after.subsec_nanos() > 0))
                .max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
