//! `/api/v1/metrics/{name}`: revenue retention (NRR, GRR, logo and revenue churn, expansion,
//! contraction, reactivation) per period, optionally by plan, CSM, industry, region, size
//! band or sign-up cohort. Computed from the store's subscription changes and accounts;
//! definitions in docs/metrics.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Months, NaiveDate};
use serde_json::{json, Value};
use tenure_domain::model::Period;
use tenure_domain::{Currency, Record, RecordKind};
use tenure_metrics::{ExperienceData, ExperienceRow, GroupBy, RetentionRow, RevenueData};
use tenure_store::{Store, StoreError};

use crate::accounts::{bad, date_param, only};
use crate::api::authenticate;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metrics/{name}", get(metric))
        .route("/api/v1/cohorts/{kind}", get(cohorts))
}

/// Cohort kinds: `signup` (the sign-up month) or an account attribute.
pub const COHORT_KINDS: [&str; 6] = ["signup", "plan", "csm", "industry", "region", "size_band"];

pub fn parse_cohort_kind(kind: &str) -> Option<GroupBy> {
    match kind {
        "signup" => Some(GroupBy::Cohort),
        "cohort" => None,
        other => GroupBy::parse(other),
    }
}

/// Parsed query of a cohorts request.
pub struct CohortQuery {
    pub by: GroupBy,
    pub as_of: NaiveDate,
    pub months: u32,
    pub currency: Option<Currency>,
}

pub fn parse_cohort_query(
    kind: &str,
    params: &HashMap<String, String>,
    today: NaiveDate,
) -> Result<CohortQuery, ApiError> {
    let by = parse_cohort_kind(kind).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: "unknown_cohort_kind",
        message: format!(
            "unknown cohort kind `{kind}`: expected one of {}",
            COHORT_KINDS.join(", ")
        ),
    })?;
    only(params, &["months", "as_of", "currency"])?;
    let months = match params.get("months") {
        None => 24,
        Some(m) => m
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=120).contains(m))
            .ok_or_else(|| {
                bad(
                    "invalid_months",
                    format!("`months` must be a whole number from 1 to 120, got `{m}`"),
                )
            })?,
    };
    let as_of = date_param(params, "as_of")?.unwrap_or(today);
    Ok(CohortQuery {
        by,
        as_of,
        months,
        currency: currency_param(params)?,
    })
}

fn currency_param(params: &HashMap<String, String>) -> Result<Option<Currency>, ApiError> {
    params
        .get("currency")
        .map(|c| {
            Currency::parse(c).map_err(|_| {
                bad(
                    "invalid_currency",
                    format!(
                        "`currency` must be a three-letter ISO 4217 code such as USD, got `{c}`"
                    ),
                )
            })
        })
        .transpose()
}

/// The JSON document of a cohort matrix.
pub fn cohort_document(kind: &str, q: &CohortQuery, data: &RevenueData) -> Value {
    json!({
        "kind": kind,
        "as_of": q.as_of,
        "months": q.months,
        "currency": data.currency.to_string(),
        "excluded_other_currency": data.other_currency,
        "rows": data.cohorts(q.by, q.as_of, q.months),
    })
}

async fn cohorts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    authenticate(state.store.as_ref(), &headers).await?;
    let q = parse_cohort_query(&kind, &params, chrono::Utc::now().date_naive())?;
    let data = state
        .metrics
        .revenue(state.store.as_ref(), q.currency)
        .await
        .map_err(crate::error::store_unavailable)?;
    Ok(Json(cohort_document(&kind, &q, &data)))
}

/// The metrics this endpoint serves; `revenue_retention` returns every figure.
pub const METRICS: [&str; 14] = [
    "nrr",
    "grr",
    "logo_churn",
    "revenue_churn",
    "expansion",
    "contraction",
    "reactivation",
    "revenue_retention",
    "nps",
    "csat",
    "ces",
    "ticket_volume",
    "resolution_time",
    "experience",
];

/// The experience metrics (the others are revenue retention).
const EXPERIENCE: [&str; 6] = [
    "nps",
    "csat",
    "ces",
    "ticket_volume",
    "resolution_time",
    "experience",
];

/// The value an experience metric takes in a row.
pub fn experience_value(name: &str, r: &ExperienceRow) -> Option<f64> {
    match name {
        "nps" => r.nps,
        "csat" => r.csat,
        "ces" => r.ces,
        "ticket_volume" => Some(r.tickets_opened as f64),
        "resolution_time" => r.resolution_hours_median,
        _ => None,
    }
}

/// The JSON document of an experience metric.
pub fn experience_document(name: &str, q: &MetricQuery, rows: &[ExperienceRow]) -> Value {
    rows_document(name, "experience", q, rows, |r| experience_value(name, r))
}

/// A metric's rows as JSON, each with its `value` unless `name` is the family's whole
/// document (`all`).
fn rows_document<R: serde::Serialize>(
    name: &str,
    all: &str,
    q: &MetricQuery,
    rows: &[R],
    value: impl Fn(&R) -> Option<f64>,
) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            if name != all {
                v["value"] = json!(value(r));
            }
            v
        })
        .collect();
    json!({
        "metric": name,
        "period": q.period.name(),
        "from": q.from,
        "to": q.to,
        "by": q.by.map(GroupBy::name),
        "rows": rows,
    })
}

/// The value a metric takes in a row: a ratio (0–1) for rates, revenue in minor units for
/// reactivation; `None` when undefined (no start customers).
pub fn value_of(name: &str, r: &RetentionRow) -> Option<f64> {
    match name {
        "nrr" => r.nrr,
        "grr" => r.grr,
        "logo_churn" => r.logo_churn,
        "revenue_churn" => r.revenue_churn,
        "expansion" => r.expansion_rate,
        "contraction" => r.contraction_rate,
        "reactivation" => Some(r.amounts.reactivated_arr as f64),
        _ => None,
    }
}

/// Reads every account and subscription change from the store (in pages) into the ledger of
/// `currency` (default: the currency most changes are in).
pub async fn load_revenue(
    store: &dyn Store,
    currency: Option<Currency>,
) -> Result<RevenueData, StoreError> {
    let (mut accounts, mut changes) = (Vec::new(), Vec::new());
    for r in read_all(
        store,
        &[RecordKind::Account, RecordKind::SubscriptionChange],
    )
    .await?
    {
        match r {
            Record::Account(a) => accounts.push(a),
            Record::SubscriptionChange(c) => changes.push(c),
            _ => {}
        }
    }
    Ok(RevenueData::new(&accounts, &changes, currency))
}

/// The data metrics were last computed from, per source. A request reuses it while the store
/// holds as many records of the kinds it was read from as when it was read, for at most a
/// minute (so a record edited in place shows within a minute; a new one at once).
#[derive(Default)]
pub struct MetricsCache {
    revenue: Cache<RevenueData>,
    experience: Cache<ExperienceData>,
}

struct Cache<T>(tokio::sync::Mutex<Option<Cached<T>>>);

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache(tokio::sync::Mutex::new(None))
    }
}

struct Cached<T> {
    data: Arc<T>,
    key: (Option<Currency>, Vec<u64>),
    at: Instant,
}

const CACHE_FOR: Duration = Duration::from_secs(60);

impl<T> Cache<T> {
    async fn get<F: std::future::Future<Output = Result<T, StoreError>>>(
        &self,
        store: &dyn Store,
        kinds: &[RecordKind],
        currency: Option<Currency>,
        load: impl FnOnce() -> F,
    ) -> Result<Arc<T>, StoreError> {
        let mut counts = Vec::with_capacity(kinds.len());
        for k in kinds {
            counts.push(store.count(*k).await?);
        }
        let key = (currency, counts);
        let mut cached = self.0.lock().await;
        if let Some(c) = cached
            .as_ref()
            .filter(|c| c.key == key && c.at.elapsed() < CACHE_FOR)
        {
            return Ok(Arc::clone(&c.data));
        }
        let data = Arc::new(load().await?);
        *cached = Some(Cached {
            data: Arc::clone(&data),
            key,
            at: Instant::now(),
        });
        Ok(data)
    }
}

impl MetricsCache {
    pub async fn revenue(
        &self,
        store: &dyn Store,
        currency: Option<Currency>,
    ) -> Result<Arc<RevenueData>, StoreError> {
        self.revenue
            .get(
                store,
                &[RecordKind::Account, RecordKind::SubscriptionChange],
                currency,
                || load_revenue(store, currency),
            )
            .await
    }

    pub async fn experience(&self, store: &dyn Store) -> Result<Arc<ExperienceData>, StoreError> {
        self.experience
            .get(
                store,
                &[
                    RecordKind::Account,
                    RecordKind::SurveyResponse,
                    RecordKind::Ticket,
                ],
                None,
                || load_experience(store),
            )
            .await
    }
}

/// Every record of `kinds`, read in pages.
async fn read_all(store: &dyn Store, kinds: &[RecordKind]) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    for kind in kinds {
        let mut after: Option<String> = None;
        loop {
            let page = store.list(*kind, after.as_deref(), 5000).await?;
            let last = page.last().map(|r| r.external_id().to_owned());
            let full = page.len() == 5000;
            out.extend(page);
            match last {
                Some(l) if full => after = Some(l),
                _ => break,
            }
        }
    }
    Ok(out)
}

/// Reads every account, survey response and ticket from the store.
pub async fn load_experience(store: &dyn Store) -> Result<ExperienceData, StoreError> {
    let (mut accounts, mut surveys, mut tickets) = (Vec::new(), Vec::new(), Vec::new());
    for r in read_all(
        store,
        &[
            RecordKind::Account,
            RecordKind::SurveyResponse,
            RecordKind::Ticket,
        ],
    )
    .await?
    {
        match r {
            Record::Account(a) => accounts.push(a),
            Record::SurveyResponse(s) => surveys.push(s),
            Record::Ticket(t) => tickets.push(t),
            _ => {}
        }
    }
    Ok(ExperienceData::new(&accounts, &surveys, &tickets))
}

/// Parsed query of a metrics request.
pub struct MetricQuery {
    pub period: Period,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Option<GroupBy>,
    pub currency: Option<Currency>,
}

const PARAMS: [&str; 5] = ["period", "from", "to", "by", "currency"];

pub fn parse_query(
    params: &HashMap<String, String>,
    today: NaiveDate,
) -> Result<MetricQuery, ApiError> {
    only(params, &PARAMS)?;
    let period = match params.get("period") {
        None => Period::Quarter,
        Some(p) => Period::parse(p).ok_or_else(|| {
            bad(
                "invalid_period",
                format!(
                    "`period` must be one of {}, got `{p}`",
                    Period::NAMES.join(", ")
                ),
            )
        })?,
    };
    let to = date_param(params, "to")?.unwrap_or(today);
    let from = match date_param(params, "from")? {
        Some(f) => f,
        None => to
            .checked_sub_months(Months::new(12))
            .and_then(|d| d.succ_opt())
            .unwrap_or(to),
    };
    if from > to {
        return Err(bad(
            "invalid_range",
            format!("`from` ({from}) is after `to` ({to})"),
        ));
    }
    let by = match params.get("by") {
        None => None,
        Some(b) => Some(GroupBy::parse(b).ok_or_else(|| {
            bad(
                "invalid_group",
                format!(
                    "`by` must be one of {}, got `{b}`",
                    GroupBy::NAMES.join(", ")
                ),
            )
        })?),
    };
    let currency = currency_param(params)?;
    Ok(MetricQuery {
        period,
        from,
        to,
        by,
        currency,
    })
}

/// The JSON document of a metric: its rows, each with `value` when the metric has one.
pub fn document(name: &str, q: &MetricQuery, data: &RevenueData, rows: &[RetentionRow]) -> Value {
    let mut doc = rows_document(name, "revenue_retention", q, rows, |r| value_of(name, r));
    doc["currency"] = json!(data.currency.to_string());
    doc["excluded_other_currency"] = json!(data.other_currency);
    doc
}

async fn metric(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    authenticate(state.store.as_ref(), &headers).await?;
    if !METRICS.contains(&name.as_str()) {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "unknown_metric",
            message: format!(
                "unknown metric `{name}`: expected one of {}",
                METRICS.join(", ")
            ),
        });
    }
    let q = parse_query(&params, chrono::Utc::now().date_naive())?;
    if EXPERIENCE.contains(&name.as_str()) {
        let data = state
            .metrics
            .experience(state.store.as_ref())
            .await
            .map_err(crate::error::store_unavailable)?;
        let rows = data.experience(q.period, q.from, q.to, q.by);
        return Ok(Json(experience_document(&name, &q, &rows)));
    }
    let data = state
        .metrics
        .revenue(state.store.as_ref(), q.currency)
        .await
        .map_err(crate::error::store_unavailable)?;
    let rows = data.retention(q.period, q.from, q.to, q.by);
    Ok(Json(document(&name, &q, &data, &rows)))
}
