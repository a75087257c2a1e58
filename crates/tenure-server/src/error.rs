//! HTTP errors: a status and a JSON body `{"error": {"code", "message"}}` whose `code` is a
//! stable snake_case identifier clients can match on.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no route for {method} {}", uri.path()),
    }
}

/// A 503: the store did not answer.
pub(crate) fn store_unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "store_unavailable",
        message: e.to_string(),
    }
}
