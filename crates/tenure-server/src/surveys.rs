//! Survey requests and answers.
//!
//! **Requests.** A playbook's survey action sends each recipient an email with a link of
//! their own (`outreach.rs`); the request is kept in `SurveyRequests` (a durable JSON file in
//! the data directory) under a random token. `GET /surveys/TOKEN` shows the one-question form
//! (server-rendered, no script, labelled for screen readers); `POST /surveys/TOKEN` stores the
//! answer as a survey response of the contact (id: the request's id, so answering again
//! replaces the answer) and scores it at once. The token is the only credential: the form
//! needs no login and carries no cookie. `GET /api/v1/surveys/requests` lists the requests
//! with the response rate of each survey.
//!
//! **Answers from elsewhere.** `POST /api/v1/surveys/responses`: survey answers (NPS, CSAT, CES) from an in-app widget, a
//! survey tool or an email link, one JSON object or an array of them, with the columns of
//! `survey_responses` (`response_id`, `account_id`, `contact_id`, `survey`, `score`,
//! `responded_at`, `comment`). Each is checked as an import row is; the good ones are stored
//! and folded into the engine at once (a score moves on the answer), the bad ones are named
//! by their place in the body, the field and what would be valid — and the request then
//! gets a 400 that says how many were stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use tenure_domain::model::SurveyKind;
use tenure_domain::{Record, RecordKind};

use crate::authz::{authorize, book_of, Scope};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/surveys/responses", post(responses))
        .route("/api/v1/surveys/requests", get(list_requests))
        .route("/surveys/{token}", get(form).post(answer))
}

/// A survey sent to one person by a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRequest {
    /// `PLAYBOOK-ACCOUNT-YYYYMMDD-N-CONTACT`; also the id of the answer's survey response.
    pub id: String,
    /// The secret in the link (32 hex digits).
    pub token: String,
    pub account: String,
    pub contact: Option<String>,
    /// The address it was sent to.
    pub to: String,
    pub survey: SurveyKind,
    pub playbook: String,
    pub sent_at: i64,
    pub answered_at: Option<i64>,
    pub score: Option<u8>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RequestsFile {
    requests: Vec<SurveyRequest>,
}

/// The survey requests, kept in a JSON file replaced durably on every change.
pub struct SurveyRequests {
    path: PathBuf,
    state: Mutex<RequestsFile>,
}

/// A fresh token: 128 random bits as hex.
pub fn new_token() -> String {
    // The system's random source; without it no link could be made safe, so stop loudly.
    tenure_store::secret::random_hex(16).expect("the system random source is available")
}

impl SurveyRequests {
    pub fn open(path: &Path) -> std::io::Result<SurveyRequests> {
        let state = crate::durable::read_json_or_default(path)?;
        Ok(SurveyRequests {
            path: path.to_owned(),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RequestsFile> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token of the request with this id, or a fresh one when there is none.
    pub fn token_for(&self, id: &str) -> String {
        self.lock()
            .requests
            .iter()
            .find(|r| r.id == id)
            .map_or_else(new_token, |r| r.token.clone())
    }

    /// Adds the requests not added before (by id), on disk before it returns.
    pub fn add(&self, requests: Vec<SurveyRequest>) -> std::io::Result<usize> {
        let mut state = self.lock();
        let mut added = 0;
        for r in requests {
            if state.requests.iter().any(|x| x.id == r.id) {
                continue;
            }
            state.requests.push(r);
            added += 1;
        }
        if added > 0 {
            crate::durable::replace_json(&self.path, &*state)?;
        }
        Ok(added)
    }

    pub fn by_token(&self, token: &str) -> Option<SurveyRequest> {
        self.lock()
            .requests
            .iter()
            .find(|r| r.token == token)
            .cloned()
    }

    /// Records an answer to the request with `token`.
    pub fn answered(&self, token: &str, score: u8, at: i64) -> std::io::Result<()> {
        let mut state = self.lock();
        if let Some(r) = state.requests.iter_mut().find(|r| r.token == token) {
            r.answered_at = Some(at);
            r.score = Some(score);
            crate::durable::replace_json(&self.path, &*state)?;
        }
        Ok(())
    }

    pub fn all(&self) -> Vec<SurveyRequest> {
        self.lock().requests.clone()
    }
}

/// Requests sent and answered, by survey.
#[derive(Debug, Serialize, PartialEq)]
pub struct RequestStats {
    pub survey: SurveyKind,
    pub sent: usize,
    pub answered: usize,
    /// Answered ÷ sent.
    pub response_rate: f64,
}

pub fn request_stats(requests: &[SurveyRequest]) -> Vec<RequestStats> {
    [SurveyKind::Nps, SurveyKind::Csat, SurveyKind::Ces]
        .into_iter()
        .filter_map(|k| {
            let of: Vec<&SurveyRequest> = requests.iter().filter(|r| r.survey == k).collect();
            let answered = of.iter().filter(|r| r.answered_at.is_some()).count();
            (!of.is_empty()).then(|| RequestStats {
                survey: k,
                sent: of.len(),
                answered,
                response_rate: answered as f64 / of.len() as f64,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct RequestsView {
    stats: Vec<RequestStats>,
    /// The newest first; without their tokens (the links are the recipients' own).
    requests: Vec<serde_json::Value>,
}

/// `GET /api/v1/surveys/requests[?account=ID]`.
async fn list_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<RequestsView>, ApiError> {
    let p = authorize(
        &state,
        &axum::http::Method::GET,
        &headers,
        Scope::SurveysRead,
    )
    .await?;
    crate::accounts::only(&params, &["account"])?;
    let mut all = requests_of(&state)?.all();
    let book = book_of(&state, &p).await?;
    all.retain(|r| book.holds(&r.account));
    if let Some(a) = params.get("account") {
        all.retain(|r| &r.account == a);
    }
    all.sort_by(|a, b| b.sent_at.cmp(&a.sent_at).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(RequestsView {
        stats: request_stats(&all),
        requests: all
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.remove("token");
                    o.insert("to".into(), p.person(&r.to).into());
                    if let Some(c) = &r.contact {
                        o.insert("contact".into(), p.person(c).into());
                        // The id ends with the contact's id.
                        if let Some(head) = r.id.strip_suffix(c.as_str()) {
                            o.insert("id".into(), format!("{head}{}", p.person(c)).into());
                        }
                    }
                }
                v
            })
            .collect(),
    }))
}

fn requests_of(state: &AppState) -> Result<std::sync::Arc<SurveyRequests>, ApiError> {
    state
        .engine
        .as_ref()
        .and_then(|e| e.outreach())
        .map(|o| std::sync::Arc::clone(&o.requests))
        .ok_or_else(|| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "surveys_unavailable",
            message: "this server does not send survey requests".to_owned(),
        })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small, self-contained page (no script, no external resources).
fn page(status: StatusCode, title: &str, body: &str) -> (StatusCode, Html<String>) {
    (
        status,
        Html(format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 17px/1.5 system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; }}
main {{ max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }}
fieldset {{ border: 0; padding: 0; margin: 0 0 1.5rem; }}
legend {{ font-size: 1.25rem; font-weight: 600; margin-bottom: .75rem; }}
.scale {{ display: flex; flex-wrap: wrap; gap: .4rem; }}
.scale label {{ display: inline-flex; align-items: center; justify-content: center; min-width: 2.6rem; min-height: 2.6rem; border: 2px solid #555; border-radius: .4rem; cursor: pointer; }}
.scale input {{ position: absolute; opacity: 0; }}
.scale input:checked + span {{ font-weight: 700; }}
.scale label:has(input:checked) {{ background: #1d4ed8; border-color: #1d4ed8; color: #fff; }}
.scale label:has(input:focus-visible) {{ outline: 3px solid #f59e0b; outline-offset: 2px; }}
.ends {{ display: flex; justify-content: space-between; color: #444; font-size: .9rem; margin-top: .3rem; }}
textarea {{ width: 100%; min-height: 6rem; font: inherit; border: 2px solid #555; border-radius: .4rem; }}
button {{ font: inherit; padding: .6rem 1.4rem; border: 0; border-radius: .4rem; background: #1d4ed8; color: #fff; cursor: pointer; }}
button:focus-visible {{ outline: 3px solid #f59e0b; outline-offset: 2px; }}
.error {{ color: #b91c1c; font-weight: 600; }}
</style></head>
<body><main>
{body}
</main></body></html>"#
        )),
    )
}

fn not_found() -> (StatusCode, Html<String>) {
    page(
        StatusCode::NOT_FOUND,
        "Survey link not valid",
        "<h1>This survey link is not valid</h1><p>It may have been mistyped or cut short. Please open the link from the email again.</p>",
    )
}

fn form_page(r: &SurveyRequest, error: Option<&str>) -> String {
    let (q, lo, hi, low, high) = crate::outreach::question(r.survey);
    let options: String = (lo..=hi)
        .map(|v| {
            let checked = if r.score == Some(v) { " checked" } else { "" };
            format!(
                r#"<label><input type="radio" name="score" value="{v}" required{checked}><span>{v}</span></label>"#
            )
        })
        .collect();
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let again = if r.answered_at.is_some() {
        "<p>You have answered already; sending again replaces your answer.</p>"
    } else {
        ""
    };
    format!(
        r#"<h1>One question</h1>{again}{error}
<form method="post">
<fieldset><legend>{q}</legend>
<div class="scale">{options}</div>
<div class="ends" aria-hidden="true"><span>{lo} = {low}</span><span>{hi} = {high}</span></div>
</fieldset>
<p><label for="comment">Anything you would like to add? (optional)</label><br>
<textarea id="comment" name="comment" maxlength="2000"></textarea></p>
<button type="submit">Send my answer</button>
</form>"#,
        q = escape(q),
    )
}

/// `GET /surveys/TOKEN`: the form.
async fn form(
    State(state): State<AppState>,
    UrlPath(token): UrlPath<String>,
) -> (StatusCode, Html<String>) {
    let Some(r) = requests_of(&state).ok().and_then(|q| q.by_token(&token)) else {
        return not_found();
    };
    page(StatusCode::OK, "One question", &form_page(&r, None))
}

/// `POST /surveys/TOKEN`: the answer, stored as the contact's survey response and scored.
async fn answer(
    State(state): State<AppState>,
    UrlPath(token): UrlPath<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    let Ok(requests) = requests_of(&state) else {
        return not_found();
    };
    let Some(r) = requests.by_token(&token) else {
        return not_found();
    };
    // The survey's own scale decides (`SurveyScore::new`).
    let score = fields
        .get("score")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| tenure_domain::SurveyScore::new(r.survey.name(), s).ok());
    let Some(score) = score else {
        let (_, lo, hi, _, _) = crate::outreach::question(r.survey);
        let why = format!("Please pick one of the numbers from {lo} to {hi}.");
        return page(
            StatusCode::BAD_REQUEST,
            "One question",
            &form_page(&r, Some(&why)),
        );
    };
    let comment = fields
        .get("comment")
        .map(|c| c.trim().chars().take(2000).collect::<String>())
        .filter(|c| !c.is_empty());
    let now = chrono::Utc::now();
    let record = tenure_domain::SurveyResponseId::parse(r.id.clone())
        .ok()
        .zip(tenure_domain::AccountId::parse(&r.account).ok())
        .map(|(id, account)| {
            Record::SurveyResponse(tenure_domain::SurveyResponse {
                id,
                account,
                contact: r
                    .contact
                    .as_deref()
                    .and_then(|c| tenure_domain::ContactId::parse(c).ok()),
                responded_at: now.fixed_offset(),
                score,
                comment,
            })
        });
    let Some(record) = record else {
        return not_found();
    };
    if let Err(e) = state.store.upsert(&record).await {
        tracing::error!(error = %e, request = %r.id, "a survey answer could not be stored");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not saved yet",
            "<h1>Your answer could not be saved just now</h1><p>Please try again in a minute.</p>",
        );
    }
    if let Some(engine) = &state.engine {
        engine.apply_records(std::slice::from_ref(&record), now.timestamp_micros());
    }
    if let Err(e) = requests.answered(&token, score.value(), now.timestamp_micros()) {
        // The answer itself is stored; only the request's bookkeeping is behind.
        tracing::warn!(error = %e, request = %r.id, "survey request not marked answered");
    }
    page(
        StatusCode::OK,
        "Thank you",
        "<h1>Thank you</h1><p>Your answer is in. You can close this page.</p>",
    )
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
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
    authorize(&state, &method, &headers, Scope::SurveysWrite).await?;
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
