//! The data-quality report of the REST API (`/api/v1/data-quality`). Who may call each
//! endpoint is decided in `authz`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tenure_ingest::identity::IdentitySummary;
use tenure_ingest::quality::Report;

use crate::ingest::Rules;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/data-quality", get(data_quality))
        .route("/api/v1/audit", get(audit_log))
}

#[derive(Serialize)]
struct DataQuality {
    /// The report covers every log record below this offset.
    as_of_offset: u64,
    identities: IdentitySummary,
    #[serde(flatten)]
    report: Report,
}

async fn data_quality(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::authz::authorize(
        &state,
        &axum::http::Method::GET,
        &headers,
        crate::authz::Scope::DataQualityRead,
    )
    .await?;
    let Some(lake) = state.lake.clone() else {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "lake_unavailable",
            message: "this server keeps no event lake".to_owned(),
        });
    };
    let rules = Rules::current(state.store.as_ref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let now = chrono::Utc::now().fixed_offset();
    let report = tokio::task::spawn_blocking(move || {
        lake.current(|s| DataQuality {
            as_of_offset: s.next_offset,
            identities: s.identities.summary(),
            report: s.quality.report(&rules.plan, now),
        })
    })
    .await
    .map_err(|e| internal(e.to_string()))?
    .map_err(|e| internal(e.to_string()))?;
    Ok(Json(
        serde_json::to_value(report).map_err(|e| internal(e.to_string()))?,
    ))
}

/// A 500 for a failure that is not the caller's, logged.
pub(crate) fn internal(message: String) -> ApiError {
    tracing::error!(%message, "request failed");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal",
        message,
    }
}

/// `GET /api/v1/audit[?after=SEQ][&limit=N]`: the audit log, oldest first, from after `after`
/// (default 0), at most `limit` entries (default 100, at most 1000).
async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::authz::authorize(
        &state,
        &axum::http::Method::GET,
        &headers,
        crate::authz::Scope::AuditRead,
    )
    .await?;
    crate::accounts::only(&params, &["after", "limit"])?;
    let number = |name: &str, default: i64, max: i64| -> Result<i64, ApiError> {
        params.get(name).map_or(Ok(default), |v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| {
                    crate::accounts::bad(
                        "invalid_parameter",
                        format!("`{name}` must be a whole number from 0 to {max}, got `{v}`"),
                    )
                })
        })
    };
    let after = number("after", 0, i64::MAX)?;
    let limit = number("limit", 100, 1000)?;
    let entries = state
        .store
        .audit_log(after, limit as u32)
        .await
        .map_err(crate::error::store_unavailable)?;
    let next = entries.last().map(|e| e.seq);
    Ok(Json(
        serde_json::json!({ "entries": entries, "next_after": next }),
    ))
}
