//! `/api/v1/accounts`: the portfolio with health, tier, segment, owner, ARR and renewal;
//! one account's health with its explanation, journey and features; its daily health
//! history; and CSM coverage. Scores come from the engine; history from the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use tenure_domain::model::Band;
use tenure_domain::ModelVersion;
use tenure_engine::Summary;

use crate::api::internal;
use crate::authz::{authorize, Principal, Scope};
use crate::{ApiError, AppState, EngineService};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", get(list))
        .route("/api/v1/accounts/{id}", get(one))
        .route("/api/v1/accounts/{id}/health/history", get(history))
        .route("/api/v1/coverage", get(coverage))
        .route("/api/v1/exports/accounts.csv", get(export))
        .route("/api/v1/accounts/{id}/plan", get(plan).put(put_plan))
}

pub(crate) fn bad(code: &'static str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code,
        message,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Rejects parameters other than `allowed`, naming the valid ones.
pub(crate) fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&String> = params
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(k) => Err(bad(
            "unknown_parameter",
            format!(
                "unknown query parameter `{k}`: expected one of {}",
                allowed.join(", ")
            ),
        )),
    }
}

/// The principal (who may read accounts) and the engine.
async fn engine(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Principal, Arc<EngineService>), ApiError> {
    let p = authorize(
        state,
        &axum::http::Method::GET,
        headers,
        Scope::AccountsRead,
    )
    .await?;
    let engine = scoring(state)?;
    Ok((p, engine))
}

/// The scoring engine, if this server runs one.
pub(crate) fn scoring(state: &AppState) -> Result<Arc<EngineService>, ApiError> {
    state.engine.clone().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "engine_unavailable",
        message: "this server does not score accounts".to_owned(),
    })
}

/// Catches the engine up with the log before answering, so a read after an acknowledged
/// write sees it.
pub(crate) async fn current(engine: &Arc<EngineService>) {
    let e = Arc::clone(engine);
    let _ = tokio::task::spawn_blocking(move || e.catch_up(now())).await;
}

const SORTS: &[&str] = &[
    "health", "-health", "arr", "-arr", "renewal", "-renewal", "name", "-name",
];
const LIST_PARAMS: &[&str] = &[
    "tier", "segment", "band", "owner", "stage", "sort", "limit", "offset",
];

#[derive(Serialize)]
struct Page {
    model_version: String,
    /// The scores cover every event-log record below this offset.
    as_of_offset: u64,
    total: usize,
    offset: usize,
    limit: usize,
    accounts: Vec<Summary>,
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page>, ApiError> {
    let (p, engine) = engine(&state, &headers).await?;
    only(&params, LIST_PARAMS)?;
    let band = match params.get("band") {
        None => None,
        Some(b) => Some(Band::from_name(b).ok_or_else(|| {
            bad(
                "invalid_band",
                format!("band `{b}` is not one of green, amber, red"),
            )
        })?),
    };
    let sort = params.get("sort").map_or("health", String::as_str);
    if !SORTS.contains(&sort) {
        return Err(bad(
            "invalid_sort",
            format!(
                "sort `{sort}` is not one of {} (a leading `-` sorts descending)",
                SORTS.join(", ")
            ),
        ));
    }
    let number = |name: &str, default: usize, max: usize| -> Result<usize, ApiError> {
        match params.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max && (name != "limit" || *n >= 1))
                .ok_or_else(|| {
                    bad(
                        "invalid_parameter",
                        format!(
                            "`{name}` must be a whole number from {} to {max}, got `{v}`",
                            (name == "limit") as u8
                        ),
                    )
                }),
        }
    };
    let limit = number("limit", 50, 1000)?;
    let offset = number("offset", 0, usize::MAX)?;
    current(&engine).await;
    let mut rows: Vec<Summary> = engine
        .summaries()
        .into_iter()
        .filter(|s| p.sees(s.owner.as_deref()))
        .filter(|s| params.get("tier").is_none_or(|t| *t == s.tier))
        .filter(|s| params.get("segment").is_none_or(|t| *t == s.segment))
        .filter(|s| {
            params
                .get("owner")
                .is_none_or(|o| s.owner.as_deref() == Some(o.as_str()))
        })
        .filter(|s| params.get("stage").is_none_or(|t| t == s.stage))
        .filter(|s| band.is_none_or(|b| s.band == b))
        .collect();
    sort_summaries(&mut rows, sort);
    let total = rows.len();
    let accounts = rows.into_iter().skip(offset).take(limit).collect();
    Ok(Json(Page {
        model_version: engine.model_version().to_string(),
        as_of_offset: engine.next_offset(),
        total,
        offset,
        limit,
        accounts,
    }))
}

/// Sorts by `sort` (see `SORTS`); ties and missing renewal dates go last, then by id.
pub fn sort_summaries(rows: &mut [Summary], sort: &str) {
    let desc = sort.starts_with('-');
    let key = sort.trim_start_matches('-');
    rows.sort_by(|a, b| {
        let ord = match key {
            "arr" => a.arr.total_cmp(&b.arr),
            "renewal" => match (a.renewal_date, b.renewal_date) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => return std::cmp::Ordering::Less,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            "name" => a.name.cmp(&b.name),
            _ => a.score.total_cmp(&b.score),
        };
        let ord = if desc { ord.reverse() } else { ord };
        ord.then_with(|| a.account.cmp(&b.account))
    });
}

async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (p, engine) = engine(&state, &headers).await?;
    only(&params, &[])?;
    current(&engine).await;
    let view = engine
        .view(&id, now())
        .filter(|v| p.sees(v.summary.owner.as_deref()))
        .ok_or_else(|| unknown_account(&id))?;
    let mut body = serde_json::to_value(&view).map_err(|e| internal(e.to_string()))?;
    mask_cause(&mut body, &p);
    if let Value::Object(map) = &mut body {
        map.insert("as_of_offset".into(), json!(engine.next_offset()));
    }
    Ok(Json(body))
}

/// Masks the record named as the cause of an account's last change when it names a person: a
/// contact's id, or a survey answer's (which ends with its contact's).
pub(crate) fn mask_cause(view: &mut Value, p: &Principal) {
    // `get_mut`, not indexing: indexing a null would insert the path.
    let Some(signal) = view
        .get_mut("change")
        .and_then(|c| c.get_mut("signal"))
        .filter(|s| s.is_object())
    else {
        return;
    };
    if matches!(signal["kind"].as_str(), Some("contact" | "survey_response")) {
        if let Some(what) = signal["what"].as_str().map(str::to_owned) {
            signal["what"] = json!(p.person(&what));
        }
    }
}

/// Also the answer for an account outside the caller's book, so that a book does not reveal
/// which other accounts exist.
pub(crate) fn unknown_account(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "unknown_account",
        message: format!("no account `{id}`: neither the store nor any product event names it"),
    }
}

pub(crate) fn date_param(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<chrono::NaiveDate>, ApiError> {
    params
        .get(name)
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                bad(
                    "invalid_date",
                    format!("`{name}` must be a date as YYYY-MM-DD, got `{v}`"),
                )
            })
        })
        .transpose()
}

async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (p, engine) = engine(&state, &headers).await?;
    only(&params, &["from", "to", "model_version"])?;
    if p.book != tenure_store::Book::All {
        visible(&engine, &p, &id)?;
    }
    let (from, to) = (date_param(&params, "from")?, date_param(&params, "to")?);
    let version = match params.get("model_version") {
        None => engine.model_version(),
        Some(v) => ModelVersion::parse(v).map_err(|e| bad("invalid_model_version", e))?,
    };
    let rows = state
        .store
        .health_history(&id, &version, from, to)
        .await
        .map_err(crate::error::store_unavailable)?;
    if rows.is_empty() && engine.summaries().iter().all(|s| s.account != id) {
        return Err(unknown_account(&id));
    }
    let days: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "day": r.day,
                "score": r.score,
                "band": r.band,
                "confidence": r.confidence,
                "pillars": r.pillars,
            })
        })
        .collect();
    Ok(Json(
        json!({ "account": id, "model_version": version, "days": days }),
    ))
}

#[derive(Serialize, Default)]
struct Coverage {
    owner: Option<String>,
    accounts: usize,
    arr: f64,
    /// ARR of the red accounts.
    arr_at_risk: f64,
    bands: BTreeMap<&'static str, usize>,
    tiers: BTreeMap<String, usize>,
    mean_health: f64,
}

/// Each CSM's book: accounts, ARR, bands and tiers (accounts without an owner are grouped
/// under `owner: null`).
pub fn coverage_of(rows: &[Summary]) -> Vec<Value> {
    let mut by: BTreeMap<Option<String>, Coverage> = BTreeMap::new();
    for s in rows {
        let c = by.entry(s.owner.clone()).or_default();
        c.owner = s.owner.clone();
        c.accounts += 1;
        c.arr += s.arr;
        if s.band == Band::Red {
            c.arr_at_risk += s.arr;
        }
        *c.bands.entry(s.band.name()).or_default() += 1;
        *c.tiers.entry(s.tier.clone()).or_default() += 1;
        c.mean_health += s.score;
    }
    by.into_values()
        .map(|mut c| {
            c.mean_health /= c.accounts.max(1) as f64;
            serde_json::to_value(c).unwrap_or(Value::Null)
        })
        .collect()
}

async fn coverage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (p, engine) = engine(&state, &headers).await?;
    only(&params, &[])?;
    current(&engine).await;
    let mut rows = engine.summaries();
    rows.retain(|s| p.sees(s.owner.as_deref()));
    Ok(Json(json!({
        "model_version": engine.model_version(),
        "owners": coverage_of(&rows),
    })))
}

/// `GET /api/v1/exports/accounts.csv`: the caller's book as CSV (id, name, owner, tier,
/// segment, ARR, seats, renewal, health, band, confidence, stage), audited as
/// `export.accounts`.
async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (p, engine) = engine(&state, &headers).await?;
    only(&params, &[])?;
    current(&engine).await;
    let mut rows = engine.summaries();
    rows.retain(|s| p.sees(s.owner.as_deref()));
    sort_summaries(&mut rows, "name");
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "account",
        "name",
        "owner",
        "tier",
        "segment",
        "arr",
        "seats",
        "renewal_date",
        "health",
        "band",
        "confidence",
        "stage",
    ];
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[String]| {
        w.write_record(rec.iter().map(|c| spreadsheet_safe(c).into_owned()))
            .map_err(|e| internal(e.to_string()))
    };
    write(&mut w, &header.map(str::to_owned))?;
    for s in &rows {
        write(
            &mut w,
            &[
                s.account.clone(),
                s.name.clone().unwrap_or_default(),
                s.owner.clone().unwrap_or_default(),
                s.tier.clone(),
                s.segment.clone(),
                format!("{:.2}", s.arr),
                s.seats.to_string(),
                s.renewal_date.map(|d| d.to_string()).unwrap_or_default(),
                format!("{:.1}", s.score),
                s.band.name().to_owned(),
                format!("{:.2}", s.confidence),
                s.stage.to_owned(),
            ],
        )?;
    }
    let body = w.into_inner().map_err(|e| internal(e.to_string()))?;
    crate::authz::audit(
        state.store.as_ref(),
        &p.actor,
        "export.accounts",
        None,
        "ok",
        json!({"rows": rows.len(), "book": p.book.name()}),
    )
    .await;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"accounts.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// The account, if it is in the caller's book; 404 otherwise.
fn visible(engine: &EngineService, p: &Principal, id: &str) -> Result<(), ApiError> {
    if engine
        .summary(id)
        .is_some_and(|s| p.sees(s.owner.as_deref()))
    {
        Ok(())
    } else {
        Err(unknown_account(id))
    }
}

/// `GET /api/v1/accounts/{id}/plan`: the success plan and handoff brief (`revision` 0 and
/// empty fields when none was saved).
async fn plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (p, engine) = engine(&state, &headers).await?;
    visible(&engine, &p, &id)?;
    let saved = state
        .store
        .success_plan(&id)
        .await
        .map_err(crate::error::store_unavailable)?;
    Ok(Json(match saved {
        Some(s) => serde_json::to_value(s).map_err(|e| internal(e.to_string()))?,
        None => {
            let mut v = serde_json::to_value(tenure_store::PlanDocument::default())
                .map_err(|e| internal(e.to_string()))?;
            v["account"] = json!(id);
            v["revision"] = json!(0);
            v
        }
    }))
}

/// Saves an account's plan over `revision` for `p` (whose book must hold the account), and
/// audits it; 409 `plan_changed` when someone saved since.
pub(crate) async fn save_plan(
    state: &AppState,
    p: &Principal,
    id: &str,
    doc: &tenure_store::PlanDocument,
    revision: i64,
) -> Result<(), ApiError> {
    visible(scoring(state)?.as_ref(), p, id)?;
    let saved = state
        .store
        .put_success_plan(
            id,
            doc,
            &p.actor,
            chrono::Utc::now().fixed_offset(),
            revision,
        )
        .await
        .map_err(crate::error::store_unavailable)?;
    if !saved {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "plan_changed",
            message: format!(
                "someone saved this plan since revision {revision}; read it again to see their \
                 changes, then edit again"
            ),
        });
    }
    crate::authz::audit(
        state.store.as_ref(),
        &p.actor,
        "plan.update",
        Some(id),
        "ok",
        json!({"revision": revision + 1}),
    )
    .await;
    Ok(())
}

/// At most this many items in a plan's list, and characters in an item or the brief.
pub(crate) const PLAN_ITEMS: usize = 50;
pub(crate) const PLAN_CHARS: usize = 10_000;

/// Refuses a plan over the limits, naming the field.
pub(crate) fn check_plan(doc: &tenure_store::PlanDocument) -> Result<(), String> {
    let lists = [
        ("goals", &doc.goals),
        ("success_criteria", &doc.success_criteria),
        ("stakeholders", &doc.stakeholders),
        ("risks", &doc.risks),
    ];
    for (name, items) in lists {
        if items.len() > PLAN_ITEMS {
            return Err(format!("`{name}` has more than {PLAN_ITEMS} items"));
        }
        if items.iter().any(|i| i.chars().count() > PLAN_CHARS) {
            return Err(format!(
                "an item of `{name}` is longer than {PLAN_CHARS} characters"
            ));
        }
    }
    if doc.handoff.chars().count() > PLAN_CHARS {
        return Err(format!("`handoff` is longer than {PLAN_CHARS} characters"));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanUpdate {
    /// The revision the edit was made over (0 for the first save).
    revision: i64,
    #[serde(flatten)]
    document: tenure_store::PlanDocument,
}

/// `PUT /api/v1/accounts/{id}/plan`: saves the plan over `revision`; 409 when someone saved
/// since.
async fn put_plan(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let p = authorize(&state, &method, &headers, Scope::PlansWrite).await?;
    let engine = scoring(&state)?;
    visible(&engine, &p, &id)?;
    let update: PlanUpdate = serde_json::from_slice(&body).map_err(|e| {
        bad(
            "invalid_body",
            format!(
                "{e}: send {{\"revision\": N, \"goals\": [..], \"success_criteria\": [..], \
                 \"stakeholders\": [..], \"risks\": [..], \"handoff\": \"..\"}}"
            ),
        )
    })?;
    check_plan(&update.document).map_err(|m| bad("invalid_body", m))?;
    save_plan(&state, &p, &id, &update.document, update.revision).await?;
    // The plan as saved, answered directly (the caller may write plans without reading
    // accounts).
    let saved = state
        .store
        .success_plan(&id)
        .await
        .map_err(crate::error::store_unavailable)?
        .ok_or_else(|| internal(format!("the plan of {id} was saved but cannot be read")))?;
    Ok(Json(
        serde_json::to_value(saved).map_err(|e| internal(e.to_string()))?,
    ))
}

/// A CSV cell a spreadsheet will not run as a formula: text starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return gets a leading `'`; a number stays as it is.
pub(crate) fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.parse::<f64>().is_ok() {
        return cell.into();
    }
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::authz::{Principal, Scope, Scopes};

    #[test]
    fn a_cause_that_names_a_person_is_masked_without_the_permission() {
        let p = |scopes: &[Scope]| Principal {
            actor: "t".into(),
            role: None,
            scopes: Scopes::of(scopes),
            book: tenure_store::Book::All,
            owner: None,
            team: Vec::new(),
            session: None,
        };
        let view = |kind: &str, what: &str| serde_json::json!({"change": {"signal": {"kind": kind, "what": what}}});
        let mut v = view("survey_response", "nps-acme-20260101-0-u-17");
        super::mask_cause(&mut v, &p(&[Scope::AccountsRead]));
        let what = v["change"]["signal"]["what"].as_str().unwrap();
        assert!(
            what.starts_with("person-") && !what.contains("u-17"),
            "{what}"
        );
        let mut v = view("contact", "u-17");
        super::mask_cause(&mut v, &p(&[Scope::AccountsRead, Scope::Pii]));
        assert_eq!(v["change"]["signal"]["what"], "u-17");
        let mut v = view("event", "dashboard_viewed");
        super::mask_cause(&mut v, &p(&[Scope::AccountsRead]));
        assert_eq!(v["change"]["signal"]["what"], "dashboard_viewed");
        // No change at all: nothing to mask, nothing added.
        let mut v = serde_json::json!({"change": null});
        super::mask_cause(&mut v, &p(&[]));
        assert_eq!(v, serde_json::json!({"change": null}));
    }

    #[test]
    fn spreadsheet_cells_never_start_a_formula() {
        assert_eq!(
            super::spreadsheet_safe("=HYPERLINK(\"x\")"),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(super::spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::spreadsheet_safe("Acme"), "Acme");
        assert_eq!(super::spreadsheet_safe(""), "");
        assert_eq!(super::spreadsheet_safe("-12.50"), "-12.50");
        assert_eq!(super::spreadsheet_safe("-1+cmd"), "'-1+cmd");
    }
}
