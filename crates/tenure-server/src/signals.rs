//! `GET /api/v1/signals?lead_days=30`: the evidence behind the health score (see
//! `evidence`), from the server's lake and store. The replay is the expensive part, so the
//! answer is kept while nothing it read has changed (the lake's offset, the store's record
//! counts, the model version), for at most ten minutes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use tenure_engine::Plan;

use crate::accounts::{bad, only};
use crate::engine::ENGINE_RECORDS;
use crate::evidence::{self, Evidence, MAX_LEAD_DAYS};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/signals", get(signals))
}

const CACHE_FOR: Duration = Duration::from_secs(600);

#[derive(PartialEq)]
struct Key {
    lead: u32,
    lake_offset: u64,
    counts: Vec<u64>,
    model: String,
}

/// The evidence last computed, and what it was computed from.
#[derive(Default)]
pub struct SignalsCache(tokio::sync::Mutex<Option<(Key, Instant, Arc<Evidence>)>>);

/// Parses `lead_days` (default 30).
pub fn parse_lead(params: &HashMap<String, String>) -> Result<u32, ApiError> {
    only(params, &["lead_days"])?;
    match params.get("lead_days") {
        None => Ok(30),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| *l <= MAX_LEAD_DAYS)
            .ok_or_else(|| {
                bad(
                    "invalid_lead_days",
                    format!(
                        "`lead_days` must be a whole number from 0 to {MAX_LEAD_DAYS}, got `{l}`"
                    ),
                )
            }),
    }
}

fn unavailable(code: &'static str, e: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code,
        message: e.to_string(),
    }
}

async fn signals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Evidence>, ApiError> {
    crate::authz::authorize(
        &state,
        &axum::http::Method::GET,
        &headers,
        crate::authz::Scope::MetricsRead,
    )
    .await?;
    let lead = parse_lead(&params)?;
    Ok(Json(Evidence::clone(&*evidence_for(&state, lead).await?)))
}

/// The evidence with `lead` days of lead, computed or kept from the last computation while
/// nothing it read has changed.
pub(crate) async fn evidence_for(state: &AppState, lead: u32) -> Result<Arc<Evidence>, ApiError> {
    let Some(lake) = state.lake.clone() else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "no_event_lake",
            message: "this server keeps no event lake, so it has no history to replay".into(),
        });
    };
    let store = state.store.as_ref();
    let mut counts = Vec::with_capacity(ENGINE_RECORDS.len());
    for k in ENGINE_RECORDS {
        counts.push(
            store
                .count(k)
                .await
                .map_err(crate::error::store_unavailable)?,
        );
    }
    let model = crate::engine_model(store)
        .await
        .map_err(crate::error::store_unavailable)?;
    let synced = Arc::clone(&lake);
    let lake_offset = tokio::task::spawn_blocking(move || synced.current(|s| s.next_offset))
        .await
        .map_err(|e| unavailable("lake_unavailable", e))?
        .map_err(|e| unavailable("lake_unavailable", e))?;
    let key = Key {
        lead,
        lake_offset,
        counts,
        model: model.version().to_string(),
    };
    // One computation at a time; a request waiting here gets the answer just computed.
    let mut cached = state.signals.0.lock().await;
    if let Some((_, _, e)) = cached
        .as_ref()
        .filter(|(k, at, _)| *k == key && at.elapsed() < CACHE_FOR)
    {
        return Ok(Arc::clone(e));
    }
    let now = chrono::Utc::now().fixed_offset();
    let evidence = evidence::compute(store, move |plan: &Plan| lake.history(plan), lead, now)
        .await
        .map_err(|e| unavailable("evidence_unavailable", e))?;
    let evidence = Arc::new(evidence);
    *cached = Some((key, Instant::now(), Arc::clone(&evidence)));
    Ok(evidence)
}
