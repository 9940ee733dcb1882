//! API errors: each carries its HTTP status and renders in the shape its API
//! family expects (Prometheus JSON `{status, errorType, error}` or plain text
//! for ingest endpoints, as Prometheus's remote-write handler answers).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Prometheus's `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Internal,
    Unavailable,
    NotFound,
    Timeout,
    Canceled,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Canceled => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error of the Prometheus query API, rendered as its JSON envelope.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(msg: impl Into<String>) -> ApiError {
        ApiError {
            kind: ErrorType::BadData,
            message: msg.into(),
        }
    }
    pub fn internal(msg: impl Into<String>) -> ApiError {
        ApiError {
            kind: ErrorType::Internal,
            message: msg.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.kind.as_str(),
            "error": self.message,
        });
        let mut r = (self.kind.status(), body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// An error of an ingest endpoint: a status and a plain-text message.
#[derive(Debug)]
pub struct IngestError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503 only).
    pub retry_after: Option<u64>,
}

impl IngestError {
    pub fn new(status: StatusCode, msg: impl Into<String>) -> IngestError {
        IngestError {
            status,
            message: msg.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(msg: impl Into<String>) -> IngestError {
        IngestError::new(StatusCode::BAD_REQUEST, msg)
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let mut msg = self.message;
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
        let mut r = (self.status, msg).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
