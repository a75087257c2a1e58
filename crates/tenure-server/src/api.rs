//! The REST API under `/api/v1`, authenticated by an API or admin token
//! (`Authorization: Bearer tnr_api_…`). Today: the data-quality report.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tenure_ingest::identity::IdentitySummary;
use tenure_ingest::quality::Report;
use tenure_store::{secret, CredentialKind, Store};

use crate::ingest::Rules;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/data-quality", get(data_quality))
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code,
        message: message.to_owned(),
    }
}

/// The credential id of the API or admin token the request carries.
pub(crate) async fn authenticate(
    store: &dyn Store,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(unauthorized(
            "missing_token",
            "send an API token as `Authorization: Bearer TOKEN`",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            unauthorized(
                "invalid_authorization",
                "the Authorization header must be `Bearer TOKEN`",
            )
        })?;
    let credential = store
        .credential_by_hash(&secret::hash(token))
        .await
        .map_err(crate::error::store_unavailable)?;
    match credential {
        Some(c) if c.revoked_at.is_none() && c.kind != CredentialKind::WriteKey => Ok(c.id),
        Some(c) if c.kind == CredentialKind::WriteKey => Err(unauthorized(
            "not_an_api_token",
            "a write key may only send events; use an API or admin token",
        )),
        _ => Err(unauthorized(
            "invalid_token",
            "the token is unknown or revoked",
        )),
    }
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
    authenticate(state.store.as_ref(), &headers).await?;
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
