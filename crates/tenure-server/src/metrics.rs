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
use tenure_domain::{Currency, Record, RecordKind, Timestamp};
use tenure_metrics::directory::Directory;
use tenure_metrics::{
    ExperienceData, ExperienceRow, GroupBy, RetentionRow, RevenueData, UsageData, UsageRow,
};
use tenure_store::{Store, StoreError};

use crate::accounts::{bad, date_param, only};
use crate::{ApiError, AppState, EngineService, LakeService};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metrics/{name}", get(metric))
        .route("/api/v1/cohorts/{kind}", get(cohorts))
}

/// Cohort kinds: `signup` (the sign-up month) or an account attribute: `stage` is usage
/// maturity, `term` contract length.
pub const COHORT_KINDS: [&str; 10] = [
    "signup",
    "plan",
    "csm",
    "industry",
    "region",
    "size_band",
    "tier",
    "segment",
    "stage",
    "term",
];

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
            "unknown cohort kind `{kind}`: expected one of {}, or release",
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

/// Parsed query of a release comparison (`/api/v1/cohorts/release`).
pub struct ReleaseQuery {
    pub release: String,
    pub window_days: u32,
    pub as_of: NaiveDate,
    pub months: u32,
    pub currency: Option<Currency>,
}

pub fn parse_release_query(
    params: &HashMap<String, String>,
    today: NaiveDate,
) -> Result<ReleaseQuery, ApiError> {
    only(
        params,
        &["release", "window_days", "months", "as_of", "currency"],
    )?;
    let release = params
        .get("release")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            bad(
                "missing_release",
                "`release` is required: the id of a release record (see the releases import)"
                    .to_owned(),
            )
        })?
        .clone();
    let window_days = match params.get("window_days") {
        None => 90,
        Some(w) => w
            .parse::<u32>()
            .ok()
            .filter(|w| (1..=365).contains(w))
            .ok_or_else(|| {
                bad(
                    "invalid_window_days",
                    format!("`window_days` must be a whole number from 1 to 365, got `{w}`"),
                )
            })?,
    };
    let mut rest = params.clone();
    rest.remove("release");
    rest.remove("window_days");
    let q = parse_cohort_query("signup", &rest, today)?;
    Ok(ReleaseQuery {
        release,
        window_days,
        as_of: q.as_of,
        months: q.months,
        currency: q.currency,
    })
}

/// The release a comparison is about, or a 404.
pub async fn find_release(store: &dyn Store, id: &str) -> Result<tenure_domain::Release, ApiError> {
    match store
        .get(RecordKind::Release, id)
        .await
        .map_err(crate::error::store_unavailable)?
    {
        Some(Record::Release(r)) => Ok(r),
        _ => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "unknown_release",
            message: format!("no release `{id}`: import it first (releases.csv)"),
        }),
    }
}

/// The JSON document of a release comparison: the cohort matrices of the accounts whose first
/// revenue fell in the window before and after the release, and, when journeys are known,
/// the journey figures of the accounts that signed up in each window.
pub fn release_document(
    q: &ReleaseQuery,
    release: &tenure_domain::Release,
    data: &RevenueData,
    journeys: Option<Vec<UsageRow>>,
) -> Value {
    let day = release.released_at.date_naive();
    json!({
        "kind": "release",
        "release": {
            "id": release.id.as_str(),
            "name": release.name,
            "released_on": day,
            "features": release.features,
        },
        "window_days": q.window_days,
        "as_of": q.as_of,
        "months": q.months,
        "currency": data.currency.to_string(),
        "excluded_other_currency": data.other_currency,
        "rows": data.release_cohorts(day, q.window_days, q.as_of, q.months),
        "journeys": journeys,
    })
}

/// The journey figures before and after a release from journeys.
pub fn release_journeys(
    model: &tenure_domain::SuccessModel,
    journeys: &[(String, tenure_engine::Journey)],
    release: &tenure_domain::Release,
    window_days: u32,
    today: NaiveDate,
) -> Vec<UsageRow> {
    UsageData::new(
        Directory::default(),
        Default::default(),
        &crate::usage::journey_facts(journeys),
        crate::usage::windows(model),
        today,
    )
    .release_journeys(release.released_at.date_naive(), window_days)
}

async fn release_cohorts(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    let now = chrono::Utc::now();
    let q = parse_release_query(params, now.date_naive())?;
    let release = find_release(state.store.as_ref(), &q.release).await?;
    let engine = state.engine.as_deref();
    let data = state
        .metrics
        .revenue(state.store.as_ref(), q.currency, engine)
        .await
        .map_err(crate::error::store_unavailable)?;
    let journeys = match &state.engine {
        Some(e) => {
            crate::accounts::current(e).await;
            let model = crate::engine_model(state.store.as_ref())
                .await
                .map_err(crate::error::store_unavailable)?;
            let (journeys, _) = e.journeys(now.timestamp_micros());
            Some(release_journeys(
                &model,
                &journeys,
                &release,
                q.window_days,
                now.date_naive(),
            ))
        }
        None => None,
    };
    Ok(Json(release_document(&q, &release, &data, journeys)))
}

async fn cohorts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    crate::authz::authorize(
        &state,
        &axum::http::Method::GET,
        &headers,
        crate::authz::Scope::MetricsRead,
    )
    .await?;
    if kind == "release" {
        return release_cohorts(&state, &params).await;
    }
    let q = parse_cohort_query(&kind, &params, chrono::Utc::now().date_naive())?;
    let data = state
        .metrics
        .revenue(state.store.as_ref(), q.currency, state.engine.as_deref())
        .await
        .map_err(crate::error::store_unavailable)?;
    Ok(Json(cohort_document(&kind, &q, &data)))
}

/// The metrics this endpoint serves; `revenue_retention`, `experience` and `usage` return
/// every figure of their family.
pub const METRICS: [&str; 23] = [
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
    "dau",
    "wau",
    "mau",
    "stickiness",
    "active_accounts",
    "ttfv",
    "activation_rate",
    "habit_rate",
    "usage",
];

/// The usage metrics.
const USAGE: [&str; 9] = [
    "dau",
    "wau",
    "mau",
    "stickiness",
    "active_accounts",
    "ttfv",
    "activation_rate",
    "habit_rate",
    "usage",
];

/// The value a usage metric takes in a row (`ttfv`: the median days).
pub fn usage_value(name: &str, r: &UsageRow) -> Option<f64> {
    match name {
        "dau" => r.dau,
        "wau" => r.wau,
        "mau" => r.mau,
        "stickiness" => r.stickiness,
        "active_accounts" => Some(r.active_accounts as f64),
        "ttfv" => r.ttfv_median_days,
        "activation_rate" => r.activation_rate,
        "habit_rate" => r.habit_rate,
        _ => None,
    }
}

/// The JSON document of a usage metric.
pub fn usage_document(name: &str, q: &MetricQuery, data: &UsageData, rows: &[UsageRow]) -> Value {
    let mut doc = rows_document(name, "usage", q, rows, |r| usage_value(name, r));
    doc["as_of"] = json!(data.as_of);
    doc["windows"] = json!(data.windows);
    doc["late_events"] = json!(data.late_events());
    doc
}

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

/// The record kinds revenue reports read.
const REVENUE_KINDS: [RecordKind; 3] = [
    RecordKind::Account,
    RecordKind::SubscriptionChange,
    RecordKind::Subscription,
];

/// The record kinds experience reports read.
const EXPERIENCE_KINDS: [RecordKind; 4] = [
    RecordKind::Account,
    RecordKind::SurveyResponse,
    RecordKind::Ticket,
    RecordKind::Subscription,
];

/// Reads every account, subscription and subscription change from the store (in pages) into
/// the ledger of `currency` (default: the currency most changes are in), with each account's
/// contract length.
pub async fn load_revenue(
    store: &dyn Store,
    currency: Option<Currency>,
) -> Result<RevenueData, StoreError> {
    let (mut accounts, mut changes, mut subscriptions) = (Vec::new(), Vec::new(), Vec::new());
    for r in read_all(store, &REVENUE_KINDS).await? {
        match r {
            Record::Account(a) => accounts.push(a),
            Record::SubscriptionChange(c) => changes.push(c),
            Record::Subscription(s) => subscriptions.push(s),
            _ => {}
        }
    }
    let mut data = RevenueData::new(&accounts, &changes, currency);
    data.directory_mut().set_terms(&subscriptions);
    Ok(data)
}

/// The data metrics were last computed from, per source. A request reuses it while the store
/// holds as many records of the kinds it was read from as when it was read, for at most a
/// minute (so a record edited in place shows within a minute; a new one at once).
#[derive(Default)]
pub struct MetricsCache {
    revenue: Cache<RevenueData>,
    experience: Cache<ExperienceData>,
    usage: Cache<UsageData>,
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
    /// The revenue data, with the engine's tiers, segments and stages when there is one.
    pub async fn revenue(
        &self,
        store: &dyn Store,
        currency: Option<Currency>,
        engine: Option<&EngineService>,
    ) -> Result<Arc<RevenueData>, StoreError> {
        self.revenue
            .get(store, &REVENUE_KINDS, currency, || async move {
                let mut data = load_revenue(store, currency).await?;
                if let Some(e) = engine {
                    crate::usage::label(data.directory_mut(), &e.summaries());
                }
                Ok(data)
            })
            .await
    }

    /// The experience data, with the engine's tiers, segments and stages when there is one.
    pub async fn experience(
        &self,
        store: &dyn Store,
        engine: Option<&EngineService>,
    ) -> Result<Arc<ExperienceData>, StoreError> {
        self.experience
            .get(store, &EXPERIENCE_KINDS, None, || async move {
                let mut data = load_experience(store).await?;
                if let Some(e) = engine {
                    crate::usage::label(data.directory_mut(), &e.summaries());
                }
                Ok(data)
            })
            .await
    }

    /// The usage data: activity from the lake's history, journeys and the model's groupings
    /// from the engine. The lake fold is the costly part: the data is reused for a minute,
    /// and for ten while the lake and the store's accounts and subscriptions are unchanged.
    pub async fn usage(
        &self,
        store: &dyn Store,
        lake: &Arc<LakeService>,
        engine: Option<&EngineService>,
        now: Timestamp,
    ) -> Result<Arc<UsageData>, ApiError> {
        let lake_offset = {
            let lake = Arc::clone(lake);
            tokio::task::spawn_blocking(move || lake.current(|s| s.next_offset))
                .await
                .map_err(|e| unavailable("lake_unavailable", e))?
                .map_err(|e| unavailable("lake_unavailable", e))?
        };
        let mut counts = vec![lake_offset];
        for k in [RecordKind::Account, RecordKind::Subscription] {
            counts.push(
                store
                    .count(k)
                    .await
                    .map_err(crate::error::store_unavailable)?,
            );
        }
        let mut cached = self.usage.0.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| {
            let age = c.at.elapsed();
            age < CACHE_FOR || (c.key.1 == counts && age < USAGE_CACHE_FOR)
        }) {
            return Ok(Arc::clone(&c.data));
        }
        let mut accounts = Vec::new();
        let mut subscriptions = Vec::new();
        for r in read_all(store, &[RecordKind::Account, RecordKind::Subscription])
            .await
            .map_err(crate::error::store_unavailable)?
        {
            match r {
                Record::Account(a) => accounts.push(a),
                Record::Subscription(s) => subscriptions.push(s),
                _ => {}
            }
        }
        let model = crate::engine_model(store)
            .await
            .map_err(crate::error::store_unavailable)?;
        let windows = crate::usage::windows(&model);
        let plan = tenure_engine::Plan::new(model);
        let mut dir = Directory::new(&accounts);
        dir.set_terms(&subscriptions);
        let (journeys, summaries) = match engine {
            Some(e) => e.journeys(now.timestamp_micros()),
            None => (Vec::new(), Vec::new()),
        };
        crate::usage::label(&mut dir, &summaries);
        let lake = Arc::clone(lake);
        let today = now.date_naive();
        let at = now.timestamp_micros();
        let (dir, activity) = tokio::task::spawn_blocking(move || {
            let events = lake
                .history(&plan)
                .map_err(|e| unavailable("lake_unavailable", e))?;
            let activity = crate::usage::fold_history(&events, &plan, &mut dir, today, None, at)
                .map_err(|e| unavailable("lake_unavailable", e))?;
            Ok::<_, ApiError>((dir, activity))
        })
        .await
        .map_err(|e| unavailable("lake_unavailable", e))??;
        let data = Arc::new(UsageData::new(
            dir,
            activity,
            &crate::usage::journey_facts(&journeys),
            windows,
            today,
        ));
        *cached = Some(Cached {
            data: Arc::clone(&data),
            key: (None, counts),
            at: Instant::now(),
        });
        Ok(data)
    }
}

/// How long usage data is reused while nothing it read has changed.
const USAGE_CACHE_FOR: Duration = Duration::from_secs(600);

fn unavailable(code: &'static str, e: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code,
        message: e.to_string(),
    }
}

/// Every record of `kinds`, read in pages.
pub async fn read_all(store: &dyn Store, kinds: &[RecordKind]) -> Result<Vec<Record>, StoreError> {
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

/// Reads every account, survey response and ticket from the store, with each account's
/// contract length.
pub async fn load_experience(store: &dyn Store) -> Result<ExperienceData, StoreError> {
    let (mut accounts, mut surveys, mut tickets) = (Vec::new(), Vec::new(), Vec::new());
    let mut subscriptions = Vec::new();
    for r in read_all(store, &EXPERIENCE_KINDS).await? {
        match r {
            Record::Account(a) => accounts.push(a),
            Record::SurveyResponse(s) => surveys.push(s),
            Record::Ticket(t) => tickets.push(t),
            Record::Subscription(s) => subscriptions.push(s),
            _ => {}
        }
    }
    let mut data = ExperienceData::new(&accounts, &surveys, &tickets);
    data.directory_mut().set_terms(&subscriptions);
    Ok(data)
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

/// The longest range a metric request may span (240 months).
const MAX_RANGE_DAYS: i64 = 20 * 366;

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
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(bad(
            "invalid_range",
            format!(
                "`from` ({from}) to `to` ({to}) spans more than 20 years; ask for less at a time"
            ),
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
    crate::authz::authorize(
        &state,
        &axum::http::Method::GET,
        &headers,
        crate::authz::Scope::MetricsRead,
    )
    .await?;
    // A metric the model defines is served by its kind, with its default period and its
    // definition in the document.
    let model = crate::engine_model(state.store.as_ref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let definition = model.metrics.get(&name);
    let api = match definition {
        Some(d) => d.kind.api_name(),
        None if METRICS.contains(&name.as_str()) => name.as_str(),
        None => {
            let mut known: Vec<&str> = METRICS.to_vec();
            known.extend(model.metrics.keys().map(String::as_str));
            known.sort_unstable();
            known.dedup();
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                code: "unknown_metric",
                message: format!(
                    "unknown metric `{name}`: expected one of {}",
                    known.join(", ")
                ),
            });
        }
    };
    let now = chrono::Utc::now();
    let mut params = params;
    if let Some(d) = definition {
        params
            .entry("period".to_owned())
            .or_insert_with(|| d.period.name().to_owned());
    }
    let q = parse_query(&params, now.date_naive())?;
    let mut doc = metric_document(&state, api, definition, &q, now).await?;
    doc["metric"] = json!(name);
    if let Some(d) = definition {
        doc["definition"] = json!({
            "title": d.title,
            "description": d.description,
            "owner": d.owner,
            "kind": d.kind,
            "computed_as": d.kind.computation(),
            "measure": d.measure,
            "period": d.period.name(),
            "target": d.target,
        });
    }
    Ok(Json(doc))
}

/// The document of the API metric `name` (`measure_average`: the model metric `definition`).
async fn metric_document(
    state: &AppState,
    name: &str,
    definition: Option<&tenure_domain::model::MetricDefinition>,
    q: &MetricQuery,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, ApiError> {
    let engine = state.engine.as_deref();
    if let Some(e) = &state.engine {
        crate::accounts::current(e).await;
    }
    if name == "measure_average" {
        let measure = definition.and_then(|d| d.measure.as_deref()).unwrap_or("");
        let Some(e) = engine else {
            return Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "engine_unavailable",
                message: "this server does not score accounts, so it has no measures".into(),
            });
        };
        let values = e
            .measure_values(measure, now.timestamp_micros())
            .unwrap_or_default();
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        return Ok(json!({
            "metric": name,
            "period": "today",
            "rows": [{
                "period": "today",
                "as_of": now.date_naive(),
                "measure": measure,
                "accounts": values.len(),
                "value": mean,
            }],
        }));
    }
    if USAGE.contains(&name) {
        let Some(lake) = state.lake.as_ref() else {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                code: "no_event_lake",
                message: "this server keeps no event lake, so it has no product usage".into(),
            });
        };
        let data = state
            .metrics
            .usage(state.store.as_ref(), lake, engine, now.fixed_offset())
            .await?;
        let rows = data.usage(q.period, q.from, q.to, q.by);
        return Ok(usage_document(name, q, &data, &rows));
    }
    if EXPERIENCE.contains(&name) {
        let data = state
            .metrics
            .experience(state.store.as_ref(), engine)
            .await
            .map_err(crate::error::store_unavailable)?;
        let rows = data.experience(q.period, q.from, q.to, q.by);
        return Ok(experience_document(name, q, &rows));
    }
    let data = state
        .metrics
        .revenue(state.store.as_ref(), q.currency, engine)
        .await
        .map_err(crate::error::store_unavailable)?;
    let rows = data.retention(q.period, q.from, q.to, q.by);
    Ok(document(name, q, &data, &rows))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ranges_are_bounded_so_a_request_cannot_ask_for_a_thousand_years() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let e = super::parse_query(
            &query(&[
                ("period", "month"),
                ("from", "0001-01-01"),
                ("to", "9999-12-31"),
            ]),
            today,
        )
        .err()
        .unwrap();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_range"));
        assert!(e.message.contains("20 years"), "{}", e.message);
        let ok = super::parse_query(
            &query(&[
                ("period", "month"),
                ("from", "2006-12-01"),
                ("to", "2026-11-23"),
            ]),
            today,
        );
        assert!(ok.is_ok(), "twenty years may be asked for");
    }
}
