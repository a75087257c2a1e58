//! The evidence behind the health score. Every renewal decision in the store's subscriptions
//! is scored as it stood `lead` days before (the history replayed day by day, so nothing later
//! leaks into the features), then:
//! - the health-score backtest: AUC of the configured score and of an activity-only score
//!   (active days in the last 30) for telling renewals from churn, and churn by band;
//! - per measure: its univariate AUC, churn by quartile, and a suggested weight.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tenure_domain::model::{Aggregate, Band};
use tenure_domain::{Record, Subscription, Timestamp};
use tenure_engine::day::{self, Day};
use tenure_engine::{Engine, Partition, Plan, Signal};
use tenure_lake::LakeError;
use tenure_metrics::evidence::{auc, quantiles, renewal_decisions, Decision, Quantile};
use tenure_store::{Store, StoreError};

use crate::history::{Events, HistoryError};

/// The longest lead the evidence may be read at, in days.
pub const MAX_LEAD_DAYS: u32 = 365;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    #[error("reading the event lake: {0}")]
    Lake(#[from] LakeError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("the evidence task failed: {0}")]
    Task(String),
}

/// One renewal decision with the account as it stood `lead` days before: its score, tier,
/// segment and every measure of the model (a point-in-time training row).
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub account: String,
    /// The decision's day (the term's end).
    pub day: chrono::NaiveDate,
    pub renewed: bool,
    pub health: f64,
    pub band: Band,
    pub tier: String,
    pub segment: String,
    /// The account's sign-up day (else its first product event's), for cohort breakdowns.
    pub signed_up: Option<chrono::NaiveDate>,
    #[serde(skip)]
    activity: Option<f64>,
    pub measures: BTreeMap<String, Option<f64>>,
}

/// The point-in-time training set: every renewal decision, each with the account's measures
/// as they stood `lead_days` before it.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    pub model_version: String,
    pub lead_days: u32,
    /// The model's measures a churn model may learn from, in the plan's order: all but
    /// `days_to_renewal` measures, which the lead fixes by design (about `lead_days` in every
    /// row, so a model would only learn to extrapolate from them).
    pub measures: Vec<String>,
    /// The decisions, by day.
    pub rows: Vec<Observation>,
}

impl TrainingSet {
    /// Row `i`'s measures in `measures` order, `NaN` where missing.
    pub fn features(&self, i: usize) -> Vec<f64> {
        let o = &self.rows[i];
        self.measures
            .iter()
            .map(|m| o.measures.get(m).copied().flatten().unwrap_or(f64::NAN))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BandRow {
    pub band: &'static str,
    pub decisions: u64,
    pub churn_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignalRow {
    pub measure: String,
    /// Decisions where the measure had a value.
    pub decisions: u64,
    /// AUC of the raw value (higher = more likely to renew); below 0.5 means higher values
    /// go with churn.
    pub auc: Option<f64>,
    /// `higher_is_healthier` or `lower_is_healthier`.
    pub direction: &'static str,
    pub quartiles: Vec<Quantile>,
    /// Share of 100 points, from the measure's separating power (see docs/metrics.md).
    pub suggested_weight: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub model_version: String,
    pub lead_days: u32,
    pub decisions: u64,
    pub churned: u64,
    pub health_auc: Option<f64>,
    pub activity_only_auc: Option<f64>,
    /// The measure the activity-only score reads.
    pub activity_measure: Option<String>,
    pub by_band: Vec<BandRow>,
    pub signals: Vec<SignalRow>,
}

/// The measure an activity-only score reads: the model's active-days measure with the window
/// nearest 30 days.
fn activity_measure(plan: &Plan) -> Option<String> {
    plan.measures
        .iter()
        .filter(|m| m.spec.aggregate == Aggregate::ActiveDays && m.spec.compare.is_none())
        .min_by_key(|m| (m.spec.window_days as i64 - 30).abs())
        .map(|m| m.name.clone())
}

/// Replays the history once and reads each point's account at the end of its day: a
/// point is (decision, days before its day to read it). Returns each point's index with
/// what was read (accounts the engine never saw are left out).
fn observe(
    events: &Events,
    plan: Arc<Plan>,
    records: &[Record],
    points: &[(Decision, u32)],
    now: day::Micros,
) -> Result<Vec<(usize, Observation)>, HistoryError> {
    let activity = activity_measure(&plan);
    let mut at_day: BTreeMap<Day, Vec<usize>> = BTreeMap::new();
    for (i, (d, lead)) in points.iter().enumerate() {
        at_day
            .entry(day::day_of_date(d.day) - *lead as Day)
            .or_default()
            .push(i);
    }
    let mut engine = Engine::new(Arc::clone(&plan), Partition::ALL);
    // Records carry their own times; every measure reads only what happened by the day it
    // is evaluated on.
    for r in records {
        engine.apply(Signal::Record(r), now);
    }
    let mut days = events.days();
    days.extend(at_day.keys().copied());
    days.sort_unstable();
    days.dedup();
    let mut out = Vec::new();
    let last = at_day.keys().next_back().copied().unwrap_or(Day::MIN);
    for d in days.into_iter().filter(|d| *d <= last) {
        let end = day::start_of(d + 1) - 1;
        let batches = events.read_day(d)?;
        events.for_each(d, &batches, None, &plan, |e| {
            engine.apply(Signal::Event(e), end);
        });
        for &i in at_day.get(&d).into_iter().flatten() {
            let decision = &points[i].0;
            let Some(view) = engine.view(&decision.account, end) else {
                continue;
            };
            out.push((
                i,
                Observation {
                    account: decision.account.clone(),
                    day: decision.day,
                    renewed: !decision.churned,
                    health: view.health.score,
                    band: view.health.band,
                    tier: view.summary.tier.clone(),
                    signed_up: view.journey.signed_up_on,
                    segment: view.summary.segment.clone(),
                    activity: activity
                        .as_ref()
                        .and_then(|m| view.features.get(m).copied().flatten()),
                    measures: view.features,
                },
            ));
        }
    }
    Ok(out)
}

/// Suggested weights: each measure's separating power |AUC − 0.5| × 2 (its Gini), for
/// measures seen in at least 30 decisions and with a power of at least 0.05, as shares of 100.
fn suggest(signals: &mut [SignalRow]) {
    let power = |s: &SignalRow| {
        s.auc
            .filter(|_| s.decisions >= 30)
            .map(|a| (a - 0.5).abs() * 2.0)
            .filter(|g| *g >= 0.05)
            .unwrap_or(0.0)
    };
    let total: f64 = signals.iter().map(power).sum();
    if total <= 0.0 {
        return;
    }
    for s in signals.iter_mut() {
        s.suggested_weight = (power(s) / total * 100.0).round() as u32;
    }
}

/// The point-in-time training set of the current model: every renewal decision up to `now`
/// in the store's subscriptions, each account as it stood `lead` days before, from `events`.
pub async fn training_set(
    store: &dyn Store,
    events: impl FnOnce(&Plan) -> Result<Events, LakeError> + Send + 'static,
    lead: u32,
    now: Timestamp,
) -> Result<TrainingSet, EvidenceError> {
    let plan = Arc::new(Plan::new(crate::engine_model(store).await?));
    Ok(training_set_of(store, plan, events, lead, Vec::new(), now)
        .await?
        .0)
}

/// The training set, and in the same replay each account of `points` as it stood at the
/// end of its day (score, tier, segment, measures; `renewed` means nothing there).
pub async fn training_set_and_points(
    store: &dyn Store,
    events: impl FnOnce(&Plan) -> Result<Events, LakeError> + Send + 'static,
    lead: u32,
    points: Vec<(String, chrono::NaiveDate)>,
    now: Timestamp,
) -> Result<(TrainingSet, Vec<Observation>), EvidenceError> {
    let plan = Arc::new(Plan::new(crate::engine_model(store).await?));
    training_set_of(store, plan, events, lead, points, now).await
}

/// `training_set_and_points` under `plan` (read once by the caller).
async fn training_set_of(
    store: &dyn Store,
    plan: Arc<Plan>,
    events: impl FnOnce(&Plan) -> Result<Events, LakeError> + Send + 'static,
    lead: u32,
    extra: Vec<(String, chrono::NaiveDate)>,
    now: Timestamp,
) -> Result<(TrainingSet, Vec<Observation>), EvidenceError> {
    let records = crate::engine_records(store).await?;
    let subscriptions: Vec<Subscription> = records
        .iter()
        .filter_map(|r| match r {
            Record::Subscription(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut points: Vec<(Decision, u32)> = renewal_decisions(&subscriptions, now.date_naive())
        .into_iter()
        .map(|d| (d, lead))
        .collect();
    let decisions = points.len();
    points.extend(extra.into_iter().map(|(account, day)| {
        let d = Decision {
            account,
            day,
            churned: false,
        };
        (d, 0)
    }));
    let task_plan = Arc::clone(&plan);
    let at = now.timestamp_micros();
    let observations = tokio::task::spawn_blocking(move || -> Result<_, EvidenceError> {
        let events = events(&task_plan)?;
        Ok(observe(&events, task_plan, &records, &points, at)?)
    })
    .await
    .map_err(|e| EvidenceError::Task(e.to_string()))??;
    let (rows, others): (Vec<_>, Vec<_>) =
        observations.into_iter().partition(|(i, _)| *i < decisions);
    let mut rows: Vec<Observation> = rows.into_iter().map(|(_, o)| o).collect();
    rows.sort_by(|a, b| (a.day, &a.account).cmp(&(b.day, &b.account)));
    let others = others.into_iter().map(|(_, o)| o).collect();
    let set = TrainingSet {
        model_version: plan.version.to_string(),
        lead_days: lead,
        measures: plan
            .measures
            .iter()
            .filter(|m| m.spec.aggregate != Aggregate::DaysToRenewal)
            .map(|m| m.name.clone())
            .collect(),
        rows,
    };
    Ok((set, others))
}

/// The evidence for the current model: every renewal decision up to `now` in the store's
/// subscriptions, each account scored as it stood `lead` days before from `events`.
pub async fn compute(
    store: &dyn Store,
    events: impl FnOnce(&Plan) -> Result<Events, LakeError> + Send + 'static,
    lead: u32,
    now: Timestamp,
) -> Result<Evidence, EvidenceError> {
    let plan = Arc::new(Plan::new(crate::engine_model(store).await?));
    let (set, _) = training_set_of(store, Arc::clone(&plan), events, lead, Vec::new(), now).await?;
    let observations = set.rows;
    let pairs = |f: &dyn Fn(&Observation) -> Option<f64>| -> Vec<(f64, bool)> {
        observations
            .iter()
            .filter_map(|o| f(o).map(|v| (v, o.renewed)))
            .collect()
    };
    let by_band = Band::NAMES
        .iter()
        .map(|name| {
            let in_band: Vec<&Observation> = observations
                .iter()
                .filter(|o| o.band.name() == *name)
                .collect();
            let churned = in_band.iter().filter(|o| !o.renewed).count();
            BandRow {
                band: name,
                decisions: in_band.len() as u64,
                churn_rate: (!in_band.is_empty()).then(|| churned as f64 / in_band.len() as f64),
            }
        })
        .collect();
    let mut signals: Vec<SignalRow> = plan
        .measures
        .iter()
        .map(|m| {
            let values = pairs(&|o| o.measures.get(&m.name).copied().flatten());
            let a = auc(&values);
            SignalRow {
                measure: m.name.clone(),
                decisions: values.len() as u64,
                auc: a,
                direction: if a.is_some_and(|a| a < 0.5) {
                    "lower_is_healthier"
                } else {
                    "higher_is_healthier"
                },
                quartiles: quantiles(&values, 4),
                suggested_weight: 0,
            }
        })
        .collect();
    suggest(&mut signals);
    Ok(Evidence {
        model_version: plan.version.to_string(),
        lead_days: lead,
        decisions: observations.len() as u64,
        churned: observations.iter().filter(|o| !o.renewed).count() as u64,
        health_auc: auc(&pairs(&|o| Some(o.health))),
        activity_only_auc: auc(&pairs(&|o| o.activity)),
        activity_measure: activity_measure(&plan),
        by_band,
        signals,
    })
}
