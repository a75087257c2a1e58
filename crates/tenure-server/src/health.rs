//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store answers and
//! a success model is applied, so the server can do useful work).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let unavailable = |code: &'static str, message: String| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code,
        message,
    };
    state
        .store
        .ping()
        .await
        .map_err(|e| unavailable("store_unavailable", e.to_string()))?;
    let schema_version = state
        .store
        .schema_version()
        .await
        .map_err(|e| unavailable("store_unavailable", e.to_string()))?;
    let model = state
        .store
        .current_model()
        .await
        .map_err(|e| unavailable("store_unavailable", e.to_string()))?
        .ok_or_else(|| {
            unavailable(
                "no_model",
                "no success model is applied: run `tenure model apply`".to_owned(),
            )
        })?;
    Ok(Json(json!({
        "status": "ready",
        "store": state.store.backend(),
        "schema_version": schema_version,
        "model_version": model.version,
    })))
}
