//! `POST /api/v1/surveys/responses`: survey answers (NPS, CSAT, CES) from an in-app widget, a
//! survey tool or an email link, one JSON object or an array of them, with the columns of
//! `survey_responses` (`response_id`, `account_id`, `contact_id`, `survey`, `score`,
//! `responded_at`, `comment`). Each is checked as an import row is; the good ones are stored
//! and folded into the engine at once (a score moves on the answer), the bad ones are named
//! by their place in the body, the field and what would be valid — and the request then
//! gets a 400 that says how many were stored.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use tenure_domain::{Record, RecordKind};

use crate::api::authenticate;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/surveys/responses", post(responses))
}

/// The most answers one request may carry.
pub const MAX_RESPONSES: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct Rejected {
    /// The answer's place in the body (1 for a single object).
    pub index: u64,
    pub field: Option<String>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

/// Checks the answers of `body` (an object or an array of objects): the records, and what is
/// wrong with the others.
pub fn parse(body: &[u8]) -> Result<(Vec<Record>, Vec<Rejected>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let items = match value {
        serde_json::Value::Array(a) => a,
        o @ serde_json::Value::Object(_) => vec![o],
        _ => return Err("expected a JSON object, or an array of them".to_owned()),
    };
    if items.len() > MAX_RESPONSES {
        return Err(format!(
            "{} answers in one request: at most {MAX_RESPONSES}",
            items.len()
        ));
    }
    let lines: String = items.iter().map(|v| format!("{v}\n")).collect();
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for (row, r) in tenure_ingest::read_jsonl(RecordKind::SurveyResponse, "body", lines.as_bytes())
    {
        match r {
            Ok(record) => records.push(record),
            Err(errors) => rejected.extend(errors.into_iter().map(|e| Rejected {
                index: row,
                field: e.column,
                reason: e.reason,
            })),
        }
    }
    Ok((records, rejected))
}

async fn responses(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
    authenticate(state.store.as_ref(), &headers).await?;
    let (records, rejected) = parse(&body).map_err(|m| ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_body",
        message: m,
    })?;
    if !records.is_empty() {
        state
            .store
            .upsert_many(&records)
            .await
            .map_err(crate::error::store_unavailable)?;
        if let Some(engine) = &state.engine {
            engine.apply_records(&records, chrono::Utc::now().timestamp_micros());
        }
    }
    let status = if rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((
        status,
        Json(Outcome {
            accepted: records.len(),
            rejected,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_answers_pass_and_bad_ones_are_named() {
        let body = br#"[
            {"response_id": "r1", "account_id": "a", "survey": "nps", "score": 9,
             "responded_at": "2026-11-20T10:00:00Z", "comment": "great"},
            {"response_id": "r2", "account_id": "a", "survey": "nps", "score": 11,
             "responded_at": "2026-11-20T10:00:00Z"},
            {"response_id": "r3", "account_id": "a", "survey": "csi", "score": 3,
             "responded_at": "2026-11-20T10:00:00Z"}
        ]"#;
        let (records, rejected) = parse(body).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(rejected.len(), 2);
        assert_eq!(
            (rejected[0].index, rejected[0].field.as_deref()),
            (2, Some("score"))
        );
        assert!(
            rejected[1].reason.contains("use nps, csat or ces"),
            "{}",
            rejected[1].reason
        );
        // One object is one answer.
        let one = br#"{"response_id": "r4", "account_id": "b", "survey": "ces", "score": 5, "responded_at": "2026-11-20T10:00:00Z"}"#;
        assert_eq!(parse(one).unwrap().0.len(), 1);
        assert!(parse(b"[1, 2").unwrap_err().contains("not JSON"));
        assert!(parse(b"42").unwrap_err().contains("expected a JSON object"));
    }
}
