//! `tenure forecast`: the next DAYS days (the window) as of a day (today, or a past day with
//! only what was known then):
//! - the renewals in the window, each with its account's churn probability (the churn model
//!   that backtests better, trained on every earlier renewal decision, calibrated, applied to
//!   the account as it stood the day before): ARR expected to renew and at risk, with an
//!   interval;
//! - the revenue of every paying account over the window: churned, contracted and expanded
//!   ARR and the net and gross revenue retention, with an interval, from the churn model, an
//!   expansion model (trained on the earlier windows of the same length: did the account
//!   expand?) and the contraction and expansion sizes of those windows;
//! - the riskiest renewals, the likeliest expansions and the accounts whose churn
//!   probability rose most in 30 days, with drivers; drift; what-if scenarios;
//! - once the window has closed, what actually happened beside it (`--review N`: the last N
//!   closed windows, each forecast with the models of its day).
//!
//! One replay of the history serves it all: the renewal decisions (each read 30 days before)
//! and every paying account at the start of each window of a grid that steps back from the
//! forecast's day by DAYS.

mod book;
mod print;
mod what_if;

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use tenure_predict::backtest::{self, Models, Options, Sample};
use tenure_predict::forecast::{self, Draws, Forecast, Movements, Outlook, Revenue};

use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};
use book::{ended, renewal_dates, Book};
pub use print::{print, print_review};
use what_if::co_movement;
pub use what_if::WhatIf;

/// How far back the grid of windows reaches, in days.
const GRID_DAYS: u64 = 3 * 365;

/// One feature's push on an account's log-odds (of churn, or of expansion).
#[derive(Debug, Clone, Serialize)]
pub struct Driver {
    pub feature: String,
    /// Log-odds it adds (negative: it lowers the probability).
    pub push: f64,
    /// The feature's value (`None`: missing).
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpcomingRenewal {
    pub account: String,
    pub subscription: String,
    /// The first renewal date in the window.
    pub renewal_date: NaiveDate,
    /// Renewals of this subscription in the window (monthly terms renew more than once).
    pub renewals_in_window: u32,
    /// ARR up for renewal, in minor units of the forecast's currency.
    pub arr: i64,
    /// The probability the subscription churns in the window: 1 − (1 − p)^renewals for a
    /// per-renewal churn probability p; 1 when it is already cancelled.
    pub churn_probability: f64,
    /// Cancelled or expired already (only known of the present, not of a past day).
    pub cancelled: bool,
    pub drivers: Vec<Driver>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Riser {
    pub account: String,
    pub churn_probability: f64,
    pub churn_probability_30_days_ago: f64,
    /// The features whose push rose most.
    pub drivers: Vec<Driver>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Expander {
    pub account: String,
    pub arr: i64,
    pub expansion_probability: f64,
    /// ARR × probability of surviving × probability of expanding × the mean past expansion.
    pub expected_expansion_arr: f64,
    pub drivers: Vec<Driver>,
}

/// The expansion model of a forecast.
#[derive(Debug, Clone, Serialize)]
pub struct Expansion {
    /// Past windows of the forecast's length (an account paying at the window's start) and
    /// how many had an expansion.
    pub windows: usize,
    pub expanded: usize,
    /// The share of past windows with an expansion.
    pub base_rate: Option<f64>,
    /// The model used, or `None` when none could be fitted (then every account gets the base
    /// rate, and `note` says why).
    pub model: Option<Chosen>,
    pub backtest_auc: Option<f64>,
    pub backtest: Option<backtest::Report>,
    pub note: Option<String>,
    /// Past windows' contraction and expansion, as shares of the start ARR.
    pub contraction_rate: f64,
    pub mean_contraction_ratio: Option<f64>,
    pub mean_expansion_ratio: Option<f64>,
}

/// One what-if scenario and how the forecast moves under it.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub what_if: WhatIf,
    pub expected_renewed_arr: f64,
    pub arr_at_risk: f64,
    pub expected_churns: f64,
    pub expected_expansion_arr: f64,
    pub expected_nrr: Option<f64>,
    /// Against the forecast as it stands.
    pub renewed_arr_change: f64,
    pub expansion_arr_change: f64,
    pub nrr_change: Option<f64>,
}

/// What happened in a window that has closed.
#[derive(Debug, Clone, Serialize)]
pub struct Actual {
    /// ARR of the forecast's renewals whose subscription still had ARR at the window's end.
    pub renewed_arr: i64,
    pub churned_renewals: usize,
    /// The paying accounts of the window's start, per account over the window (as in
    /// `tenure report revenue`): their ARR at the start and end, churned, contracted and
    /// expanded ARR, NRR and GRR.
    pub start_arr: i64,
    pub end_arr: i64,
    pub churned_arr: i64,
    pub contraction_arr: i64,
    pub expansion_arr: i64,
    pub nrr: Option<f64>,
    pub grr: Option<f64>,
    pub renewed_arr_within_interval: bool,
    pub nrr_within_interval: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    /// The forecast is made at the start of this day, from what was known by the end of the
    /// day before.
    pub as_of: NaiveDate,
    pub days: u32,
    /// The window's last day: `as_of + days − 1`.
    pub window_end: NaiveDate,
    pub currency: String,
    /// Subscriptions in other currencies, left out.
    pub other_currency: usize,
    pub trained_on_decisions: usize,
    /// The churn model used: the one with the higher test AUC in the backtest.
    pub model: Chosen,
    pub backtest_auc: f64,
    /// The registered model used (`tenure backtest --register`), when one fits the current
    /// success model (never for a past day); else the models were fitted for this run.
    pub registered_model: Option<String>,
    /// Decisions after the registered model's training that recalibrated it (0: none).
    pub recalibrated_on: usize,
    /// The backtest the churn model was chosen by.
    pub backtest: backtest::Report,
    pub model_version: String,
    pub forecast: Forecast,
    pub revenue: Revenue,
    pub expansion: Expansion,
    pub riskiest: Vec<UpcomingRenewal>,
    pub expanding: Vec<Expander>,
    /// Only for today's forecast.
    pub rising: Vec<Riser>,
    /// Each feature's population stability at the forecast's day against the decisions the
    /// churn model learnt from, largest shift first.
    pub drift: Vec<tenure_predict::eval::Drift>,
    pub what_if: Vec<Scenario>,
    /// Once the window has closed.
    pub actual: Option<Actual>,
}

/// The model a forecast uses: the one with the higher AUC in the backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chosen {
    LogisticRegression,
    BoostedTrees,
}

impl Chosen {
    /// The model's name in backtest reports.
    pub fn name(self) -> &'static str {
        match self {
            Chosen::LogisticRegression => "logistic regression",
            Chosen::BoostedTrees => "boosted trees",
        }
    }

    /// The better of the two models by the backtest's test AUC.
    pub fn by_backtest(report: &backtest::Report) -> Chosen {
        if auc_of(report, Chosen::BoostedTrees.name()).unwrap_or(0.0)
            > auc_of(report, Chosen::LogisticRegression.name()).unwrap_or(0.0)
        {
            Chosen::BoostedTrees
        } else {
            Chosen::LogisticRegression
        }
    }

    /// The model's raw score (log-odds) before calibration.
    fn log_odds(self, m: &Models, f: &[f64]) -> f64 {
        match self {
            Chosen::LogisticRegression => m.logistic.log_odds(&m.prep.row(f)),
            Chosen::BoostedTrees => m.trees.log_odds(f),
        }
    }

    fn probability(self, m: &Models, f: &[f64]) -> f64 {
        match self {
            Chosen::LogisticRegression => m.logistic_probability(f),
            Chosen::BoostedTrees => m.trees_probability(f),
        }
    }

    /// Each feature's push on the log-odds: coefficient × standardised value (a missing
    /// value's indicator added to its feature), or the trees' path attributions.
    fn pushes(self, m: &Models, f: &[f64]) -> Vec<f64> {
        match self {
            Chosen::LogisticRegression => {
                let row = m.prep.row(f);
                let d = m.logistic.drivers(&row);
                let mut out = d[..f.len()].to_vec();
                let mut k = f.len();
                for (j, on) in m.prep.indicators.iter().enumerate() {
                    if *on {
                        out[j] += d[k];
                        k += 1;
                    }
                }
                out
            }
            Chosen::BoostedTrees => m.trees.drivers(f, f.len()).1,
        }
    }
}

/// The standard error of a calibration's intercept (log-odds) from the decisions it was
/// fitted on: 1 / √(n·r·(1 − r)) for n decisions with a share r of events. Each forecast
/// draw shifts every account's log-odds by one normal draw of it.
fn calibration_sd(report: &backtest::Report) -> f64 {
    let n = report.calibration.decisions as f64;
    let r = report.calibration.positive as f64 / n.max(1.0);
    let info = n * r * (1.0 - r);
    if info > 0.0 {
        1.0 / info.sqrt()
    } else {
        0.0
    }
}

fn auc_of(report: &backtest::Report, name: &str) -> Option<f64> {
    report
        .models
        .iter()
        .find(|m| m.model == name)
        .and_then(|m| m.auc)
}

fn drivers(model: Chosen, models: &Models, features: &[f64], n: usize) -> Vec<Driver> {
    let pushes = model.pushes(models, features);
    let mut d: Vec<Driver> = pushes
        .iter()
        .enumerate()
        .map(|(j, p)| Driver {
            feature: models.names[j].clone(),
            push: *p,
            value: features[j].is_finite().then_some(features[j]),
        })
        .collect();
    d.sort_by(|a, b| b.push.abs().total_cmp(&a.push.abs()));
    d.truncate(n);
    d
}

/// Everything one replay of the history gives.
struct Inputs {
    today: NaiveDate,
    days: u32,
    book: Book,
    set: tenure_server::evidence::TrainingSet,
    /// (account, day read) → its features and health score at the end of the day.
    at: BTreeMap<(String, NaiveDate), (Vec<f64>, f64)>,
    /// The grid of window starts, newest first: the first is the forecast's day.
    grid: Vec<NaiveDate>,
}

/// One replay: the renewal decisions (each read 30 days before), every paying account at the
/// end of the day before each grid day, and (`with_rising`) 30 days before the first.
async fn replay(
    data_dir: &DataDir,
    as_of: NaiveDate,
    days: u32,
    with_rising: bool,
    now: tenure_domain::Timestamp,
) -> Outcome<Inputs> {
    let store = data_dir.open_store().await?;
    let records = tenure_server::metrics::read_all(
        store.as_ref(),
        &[
            tenure_domain::RecordKind::Subscription,
            tenure_domain::RecordKind::SubscriptionChange,
        ],
    )
    .await
    .context("reading the subscriptions and their changes")?;
    let book = Book::new(&records);
    drop(records);
    let step = chrono::Days::new(u64::from(days));
    let floor = book
        .earliest
        .unwrap_or(as_of)
        .max(as_of - chrono::Days::new(GRID_DAYS));
    let mut grid = vec![as_of];
    while let Some(d) = grid.last().and_then(|d| d.checked_sub_days(step)) {
        if d <= floor {
            break;
        }
        grid.push(d);
    }
    let mut points: Vec<(String, NaiveDate)> = Vec::new();
    for g in &grid {
        let read = *g - chrono::Days::new(1);
        points.extend(book.paying(read).into_iter().map(|(a, _)| (a, read)));
    }
    if with_rising {
        let before = as_of - chrono::Days::new(31);
        let now_paying = book.paying(as_of - chrono::Days::new(1));
        points.extend(now_paying.into_iter().map(|(a, _)| (a, before)));
    }
    let lake = data_dir.root.join("lake");
    let log = data_dir.root.join("log");
    let (set, seen) = tenure_server::evidence::training_set_and_points(
        store.as_ref(),
        move |plan| tenure_server::history::Events::open(&lake, &log, plan),
        30,
        points,
        now,
    )
    .await
    .context("building the training set and reading the accounts as they stood")?;
    let mut at = BTreeMap::new();
    for o in &seen {
        let f: Vec<f64> = set
            .measures
            .iter()
            .map(|m| o.measures.get(m).copied().flatten().unwrap_or(f64::NAN))
            .collect();
        at.insert((o.account.clone(), o.day), (f, o.health));
    }
    Ok(Inputs {
        today: now.date_naive(),
        days,
        book,
        set,
        at,
        grid,
    })
}

/// The churn model of a forecast on `as_of`.
struct ChurnModel {
    report: backtest::Report,
    chosen: Chosen,
    models: Models,
    registered: Option<String>,
    recalibrated_on: usize,
    trained_on: usize,
}

fn fail(e: backtest::BacktestError) -> Failure {
    Failure::rejected(format!("error: {e}"))
}

fn churn_model(
    data_dir: &DataDir,
    inputs: &Inputs,
    samples: &[Sample],
    use_registry: bool,
) -> Outcome<ChurnModel> {
    let set = &inputs.set;
    // The newest registered model trained on this success model's measures, else models
    // fitted now.
    let registered = if use_registry {
        super::models::list(data_dir)?
            .into_iter()
            .find(|r| r.success_model_version == set.model_version && r.features == set.measures)
    } else {
        None
    };
    Ok(match registered {
        Some(r) => {
            // Recalibrate on the outcomes that arrived after it was trained, when there are
            // enough of both kinds.
            let cutoff = i64::from(r.last_decision.num_days_from_ce());
            let newer: Vec<&Sample> = samples.iter().filter(|s| s.day > cutoff).collect();
            let churned = newer.iter().filter(|s| s.positive).count();
            let mut models = r.models;
            let mut recalibrated = 0;
            if newer.len() >= 100 && churned >= 5 && churned < newer.len() {
                let scores: Vec<f64> = newer
                    .iter()
                    .map(|s| r.chosen.log_odds(&models, &s.features))
                    .collect();
                let y: Vec<bool> = newer.iter().map(|s| s.positive).collect();
                let platt = tenure_predict::classify::fit_platt(&scores, &y);
                match r.chosen {
                    Chosen::LogisticRegression => models.logistic_calibration = platt,
                    Chosen::BoostedTrees => {
                        models.trees_calibration = backtest::Calibration::Platt(platt)
                    }
                }
                recalibrated = newer.len();
            }
            ChurnModel {
                report: r.backtest,
                chosen: r.chosen,
                models,
                registered: Some(r.id),
                recalibrated_on: recalibrated,
                trained_on: r.decisions,
            }
        }
        None => {
            let (report, _) =
                backtest::run(&set.measures, samples, Options::default()).map_err(fail)?;
            let chosen = Chosen::by_backtest(&report);
            let models =
                backtest::fit_models(&set.measures, samples, Options::default()).map_err(fail)?;
            ChurnModel {
                report,
                chosen,
                models,
                registered: None,
                recalibrated_on: 0,
                trained_on: samples.len(),
            }
        }
    })
}

/// The expansion model and past movements of a forecast on `as_of`: every window of the grid
/// that closed before `as_of`, each paying account at its start.
fn expansion_model(
    inputs: &Inputs,
    as_of: NaiveDate,
) -> (Expansion, Option<(Chosen, Models)>, Movements) {
    let span = chrono::Days::new(u64::from(inputs.days));
    let mut samples = Vec::new();
    let mut moves = Movements::default();
    let (mut kept, mut contracted) = (0usize, 0usize);
    for g in inputs.grid.iter().filter(|g| **g + span <= as_of) {
        let read = *g - chrono::Days::new(1);
        let to = *g + span - chrono::Days::new(1);
        for (account, arr) in inputs.book.paying(read) {
            let Some((f, health)) = inputs.at.get(&(account.clone(), read)) else {
                continue;
            };
            let (e, c, churned) = inputs.book.moves(&account, *g, to);
            if e > 0 {
                moves.expansion_ratios.push(e as f64 / arr as f64);
            }
            if !churned {
                kept += 1;
                if c > 0 {
                    contracted += 1;
                    moves
                        .contraction_ratios
                        .push((c as f64 / arr as f64).min(1.0));
                }
            }
            samples.push(Sample {
                day: i64::from(g.num_days_from_ce()),
                positive: e > 0,
                features: f.clone(),
                health: *health,
                groups: Vec::new(),
                truth: None,
            });
        }
    }
    if kept > 0 {
        moves.contraction_rate = contracted as f64 / kept as f64;
    }
    let expanded = samples.iter().filter(|s| s.positive).count();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let mut out = Expansion {
        windows: samples.len(),
        expanded,
        base_rate: (!samples.is_empty()).then(|| expanded as f64 / samples.len() as f64),
        model: None,
        backtest_auc: None,
        backtest: None,
        note: None,
        contraction_rate: moves.contraction_rate,
        mean_contraction_ratio: mean(&moves.contraction_ratios),
        mean_expansion_ratio: mean(&moves.expansion_ratios),
    };
    let names = &inputs.set.measures;
    let fitted = backtest::run(names, &samples, Options::default()).and_then(|(report, _)| {
        let chosen = Chosen::by_backtest(&report);
        let models = backtest::fit_models(names, &samples, Options::default())?;
        Ok((report, chosen, models))
    });
    match fitted {
        Ok((report, chosen, models)) => {
            out.model = Some(chosen);
            out.backtest_auc = auc_of(&report, chosen.name());
            out.backtest = Some(report);
            (out, Some((chosen, models)), moves)
        }
        Err(e) => {
            out.note = Some(format!(
                "no expansion model ({e}); every account gets the base rate"
            ));
            (out, None, moves)
        }
    }
}

/// The forecast on `as_of` (a day of the grid) from one replay.
fn forecast_on(
    data_dir: &DataDir,
    inputs: &Inputs,
    as_of: NaiveDate,
    use_registry: bool,
    what_if: &[WhatIf],
) -> Outcome<ForecastReport> {
    let set = &inputs.set;
    let days = inputs.days;
    let live = as_of >= inputs.today;
    let read_on = as_of - chrono::Days::new(1);
    let window_end = as_of + chrono::Days::new(u64::from(days) - 1);
    // The churn model: every renewal decision before the forecast's day.
    let samples: Vec<Sample> = (0..set.rows.len())
        .filter(|&i| set.rows[i].day < as_of)
        .map(|i| Sample {
            day: i64::from(set.rows[i].day.num_days_from_ce()),
            positive: !set.rows[i].renewed,
            features: set.features(i),
            health: set.rows[i].health,
            groups: Vec::new(),
            truth: None,
        })
        .collect();
    let churn = churn_model(data_dir, inputs, &samples, use_registry && live)?;
    let (expansion, expansion_model, movements) = expansion_model(inputs, as_of);
    for w in what_if {
        if !set.measures.contains(&w.measure) {
            return Err(Failure::rejected(format!(
                "what-if `{}`: `{}` is not a measure of the success model; it has {}",
                w.text,
                w.measure,
                set.measures.join(", ")
            )));
        }
    }
    // Every paying account as it stood the day before, with its renewals in the window.
    struct Account<'a> {
        name: String,
        arr: i64,
        features: &'a [f64],
        renewing: Vec<(usize, Vec<NaiveDate>, bool)>,
    }
    let mut accounts: Vec<Account> = Vec::new();
    for (name, arr) in inputs.book.paying(read_on) {
        let Some((features, _)) = inputs.at.get(&(name.clone(), read_on)) else {
            continue;
        };
        let mut renewing = Vec::new();
        for &i in &inputs.book.by_account[&name] {
            if inputs.book.sub_arr(i, read_on) <= 0 {
                continue;
            }
            let s = &inputs.book.subs[i];
            let dates = renewal_dates(s, as_of, window_end);
            if !dates.is_empty() {
                // Whether it was cancelled is known only of the present.
                renewing.push((i, dates, live && ended(s)));
            }
        }
        accounts.push(Account {
            name,
            arr,
            features,
            renewing,
        });
    }
    let churn_p = |f: &[f64]| churn.chosen.probability(&churn.models, f);
    let base = expansion.base_rate.unwrap_or(0.0);
    let expand_p = |f: &[f64]| {
        expansion_model
            .as_ref()
            .map_or(base, |(c, m)| c.probability(m, f))
    };
    // An account's churn probability in the window: 1 once cancelled, else over its
    // renewals in the window.
    let window_churn = |a: &Account, p: f64| {
        if a.renewing.iter().any(|r| r.2) {
            return 1.0;
        }
        let k = a.renewing.iter().map(|r| r.1.len()).max().unwrap_or(0);
        if k == 0 {
            0.0
        } else {
            1.0 - (1.0 - p).powi(k as i32)
        }
    };
    let spread = Draws {
        level: 0.9,
        draws: 10_000,
        seed: 42,
        churn_logit_sd: calibration_sd(&churn.report),
        expansion_logit_sd: expansion.backtest.as_ref().map_or(0.0, calibration_sd),
    };
    let run = |features: &dyn Fn(&Account) -> Vec<f64>, draws: u32| {
        let mut items = Vec::new();
        let mut outlooks = Vec::new();
        for a in &accounts {
            let f = features(a);
            let p = window_churn(a, churn_p(&f));
            let mut renewing_arr = 0;
            for (i, _, _) in &a.renewing {
                let arr = inputs.book.sub_arr(*i, read_on);
                renewing_arr += arr;
                items.push((arr, p));
            }
            outlooks.push(Outlook {
                arr: a.arr,
                renewing_arr,
                churn_probability: if a.renewing.is_empty() { 0.0 } else { p },
                expansion_probability: expand_p(&f),
            });
        }
        (
            forecast::renewals(&items, Draws { draws, ..spread }),
            forecast::revenue(&outlooks, &movements, Draws { draws, ..spread }),
        )
    };
    let as_is = |a: &Account| a.features.to_vec();
    let (fc, revenue) = run(&as_is, 10_000);
    let scenarios = what_if
        .iter()
        .map(|w| {
            let j = set
                .measures
                .iter()
                .position(|m| *m == w.measure)
                .unwrap_or(0);
            let slopes = co_movement(&samples, j);
            let moved = |a: &Account| {
                let mut f = a.features.to_vec();
                let delta = w.change.apply(f[j]) - f[j];
                if delta.is_finite() {
                    for (k, b) in slopes.iter().enumerate() {
                        f[k] += b * delta;
                    }
                }
                f[j] = w.change.apply(a.features[j]);
                f
            };
            let (f2, r2) = run(&moved, 2_000);
            Scenario {
                what_if: w.clone(),
                expected_renewed_arr: f2.expected_renewed_arr,
                arr_at_risk: f2.arr_at_risk,
                expected_churns: f2.expected_churns,
                expected_expansion_arr: r2.expected_expansion_arr,
                expected_nrr: r2.expected_nrr,
                renewed_arr_change: f2.expected_renewed_arr - fc.expected_renewed_arr,
                expansion_arr_change: r2.expected_expansion_arr - revenue.expected_expansion_arr,
                nrr_change: r2
                    .expected_nrr
                    .zip(revenue.expected_nrr)
                    .map(|(a, b)| a - b),
            }
        })
        .collect();
    // The riskiest renewals and likeliest expansions, with drivers.
    let mut riskiest = Vec::new();
    let mut expanding = Vec::new();
    let mean_e = expansion.mean_expansion_ratio.unwrap_or(0.0);
    for a in &accounts {
        let p = window_churn(a, churn_p(a.features));
        for (i, dates, cancelled) in &a.renewing {
            riskiest.push(UpcomingRenewal {
                account: a.name.clone(),
                subscription: inputs.book.subs[*i].id.as_str().to_owned(),
                renewal_date: dates[0],
                renewals_in_window: dates.len() as u32,
                arr: inputs.book.sub_arr(*i, read_on),
                churn_probability: p,
                cancelled: *cancelled,
                drivers: drivers(churn.chosen, &churn.models, a.features, 3),
            });
        }
        let q = expand_p(a.features);
        let survive = if a.renewing.is_empty() { 1.0 } else { 1.0 - p };
        expanding.push(Expander {
            account: a.name.clone(),
            arr: a.arr,
            expansion_probability: q,
            expected_expansion_arr: a.arr as f64 * survive * q * mean_e,
            drivers: expansion_model
                .as_ref()
                .map(|(c, m)| drivers(*c, m, a.features, 3))
                .unwrap_or_default(),
        });
    }
    riskiest.sort_by(|a, b| {
        (b.arr as f64 * b.churn_probability)
            .total_cmp(&(a.arr as f64 * a.churn_probability))
            .then_with(|| a.account.cmp(&b.account))
    });
    riskiest.truncate(10);
    expanding.sort_by(|a, b| {
        b.expected_expansion_arr
            .total_cmp(&a.expected_expansion_arr)
            .then_with(|| a.account.cmp(&b.account))
    });
    expanding.truncate(10);
    // Whose churn probability rose most in 30 days (today's forecast only).
    let before = read_on - chrono::Days::new(30);
    let mut rising: Vec<Riser> = accounts
        .iter()
        .filter_map(|a| {
            let (then_f, _) = inputs.at.get(&(a.name.clone(), before))?;
            let push_now = churn.chosen.pushes(&churn.models, a.features);
            let push_then = churn.chosen.pushes(&churn.models, then_f);
            let mut d: Vec<Driver> = (0..push_now.len())
                .map(|j| Driver {
                    feature: churn.models.names[j].clone(),
                    push: push_now[j] - push_then[j],
                    value: a.features[j].is_finite().then_some(a.features[j]),
                })
                .collect();
            d.sort_by(|x, y| y.push.total_cmp(&x.push));
            d.truncate(3);
            Some(Riser {
                account: a.name.clone(),
                churn_probability: churn_p(a.features),
                churn_probability_30_days_ago: churn_p(then_f),
                drivers: d,
            })
        })
        .collect();
    rising.sort_by(|a, b| {
        (b.churn_probability - b.churn_probability_30_days_ago)
            .total_cmp(&(a.churn_probability - a.churn_probability_30_days_ago))
            .then_with(|| a.account.cmp(&b.account))
    });
    rising.truncate(5);
    let reference: Vec<f64> = samples
        .iter()
        .flat_map(|s| s.features.iter().copied())
        .collect();
    let current: Vec<f64> = accounts
        .iter()
        .flat_map(|a| a.features.iter().copied())
        .collect();
    let drift = tenure_predict::eval::drift(&set.measures, &reference, &current);
    // What happened, once the window has closed.
    let actual = (window_end < inputs.today).then(|| {
        let mut renewed_arr = 0;
        let mut churned_renewals = 0;
        let (mut start, mut end, mut retained) = (0i64, 0i64, 0i64);
        let (mut churned_arr, mut contraction, mut expansion_arr) = (0i64, 0i64, 0i64);
        for a in &accounts {
            for (i, _, _) in &a.renewing {
                if inputs.book.sub_arr(*i, window_end) > 0 {
                    renewed_arr += inputs.book.sub_arr(*i, read_on);
                } else {
                    churned_renewals += 1;
                }
            }
            let e = inputs.book.account_arr(&a.name, window_end);
            start += a.arr;
            end += e;
            retained += a.arr.min(e);
            expansion_arr += (e - a.arr).max(0);
            if e == 0 {
                churned_arr += a.arr;
            } else if e < a.arr {
                contraction += a.arr - e;
            }
        }
        let share = |x: i64| (start > 0).then(|| x as f64 / start as f64);
        let nrr = share(end);
        Actual {
            renewed_arr,
            churned_renewals,
            start_arr: start,
            end_arr: end,
            churned_arr,
            contraction_arr: contraction,
            expansion_arr,
            nrr,
            grr: share(retained),
            renewed_arr_within_interval: (fc.renewed_arr_low..=fc.renewed_arr_high)
                .contains(&(renewed_arr as f64)),
            nrr_within_interval: match (nrr, revenue.nrr_low, revenue.nrr_high) {
                (Some(n), Some(lo), Some(hi)) => (lo..=hi).contains(&n),
                _ => false,
            },
        }
    });
    Ok(ForecastReport {
        as_of,
        days,
        window_end,
        currency: inputs.book.currency.to_string(),
        other_currency: inputs.book.other_currency,
        trained_on_decisions: churn.trained_on,
        model: churn.chosen,
        backtest_auc: auc_of(&churn.report, churn.chosen.name()).unwrap_or(0.0),
        registered_model: churn.registered,
        recalibrated_on: churn.recalibrated_on,
        backtest: churn.report,
        model_version: set.model_version.clone(),
        forecast: fc,
        revenue,
        expansion,
        riskiest,
        expanding,
        rising,
        drift,
        what_if: scenarios,
        actual,
    })
}

/// What `tenure forecast` is asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub days: u32,
    pub refit: bool,
    /// A past day to forecast as of (default: today).
    pub as_of: Option<NaiveDate>,
    pub what_if: Vec<WhatIf>,
}

fn check(days: u32, as_of: Option<NaiveDate>, today: NaiveDate) -> Outcome<NaiveDate> {
    if !(1..=730).contains(&days) {
        return Err(Failure::rejected(format!(
            "--days must be from 1 to 730, got {days}"
        )));
    }
    match as_of {
        Some(d) if d > today => Err(Failure::rejected(format!(
            "--as-of {d} is after today ({today}): a forecast reads only what is known"
        ))),
        Some(d) => Ok(d),
        None => Ok(today),
    }
}

/// The forecast (the demo's too).
pub async fn compute(
    data_dir: &DataDir,
    request: &Request,
    now: tenure_domain::Timestamp,
) -> Outcome<ForecastReport> {
    let as_of = check(request.days, request.as_of, now.date_naive())?;
    let live = as_of == now.date_naive();
    let inputs = replay(data_dir, as_of, request.days, live, now).await?;
    forecast_on(data_dir, &inputs, as_of, !request.refit, &request.what_if)
}

/// One closed window of a review: its forecast and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub as_of: NaiveDate,
    pub window_end: NaiveDate,
    pub forecast: Forecast,
    pub revenue: Revenue,
    pub churn_model: Chosen,
    pub trained_on_decisions: usize,
    pub actual: Actual,
}

#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub days: u32,
    pub currency: String,
    pub periods: Vec<Period>,
    /// Windows too early to forecast (too few earlier decisions), with why.
    pub skipped: Vec<(NaiveDate, String)>,
}

/// The last `n` closed windows of `days` days, newest first, each forecast as of its start
/// with only what was known then (models fitted on the decisions before it), beside what
/// happened. One replay serves them all.
pub async fn review(
    data_dir: &DataDir,
    days: u32,
    n: u32,
    now: tenure_domain::Timestamp,
) -> Outcome<Review> {
    let today = check(days, None, now.date_naive())?;
    if !(1..=24).contains(&n) {
        return Err(Failure::rejected(format!(
            "--review must be from 1 to 24 windows, got {n}"
        )));
    }
    let inputs = replay(data_dir, today, days, false, now).await?;
    review_of(data_dir, &inputs, n)
}

/// Today's forecast and the review of the last `n` closed windows, from one replay.
pub async fn compute_and_review(
    data_dir: &DataDir,
    request: &Request,
    n: u32,
    now: tenure_domain::Timestamp,
) -> Outcome<(ForecastReport, Review)> {
    let today = check(request.days, None, now.date_naive())?;
    let inputs = replay(data_dir, today, request.days, true, now).await?;
    let f = forecast_on(data_dir, &inputs, today, !request.refit, &request.what_if)?;
    Ok((f, review_of(data_dir, &inputs, n)?))
}

fn review_of(data_dir: &DataDir, inputs: &Inputs, n: u32) -> Outcome<Review> {
    let days = inputs.days;
    let mut periods = Vec::new();
    let mut skipped = Vec::new();
    for &as_of in inputs.grid.iter().skip(1).take(n as usize) {
        match forecast_on(data_dir, inputs, as_of, false, &[]) {
            Ok(r) => {
                let Some(actual) = r.actual else { continue };
                periods.push(Period {
                    as_of,
                    window_end: r.window_end,
                    forecast: r.forecast,
                    revenue: r.revenue,
                    churn_model: r.model,
                    trained_on_decisions: r.trained_on_decisions,
                    actual,
                });
            }
            Err(Failure::Rejected(why)) => {
                let why = why.strip_prefix("error: ").unwrap_or(&why).to_owned();
                skipped.push((as_of, why))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Review {
        days,
        currency: inputs.book.currency.to_string(),
        periods,
        skipped,
    })
}

pub async fn run(
    data_dir: &DataDir,
    request: Request,
    review_windows: Option<u32>,
    json: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    if let Some(n) = review_windows {
        if request.as_of.is_some() || !request.what_if.is_empty() {
            return Err(Failure::rejected(
                "--review forecasts past windows by itself: it takes neither --as-of nor --what-if",
            ));
        }
        let r = review(data_dir, request.days, n, now).await?;
        if json {
            return super::print_json(&r);
        }
        print_review(&r);
        return Ok(());
    }
    let r = compute(data_dir, &request, now).await?;
    if request.as_of.is_none() {
        keep(data_dir, &r)?;
    }
    if json {
        return super::print_json(&r);
    }
    print(&r);
    Ok(())
}

/// Leaves today's forecast in the data directory, where the web app's leadership view reads it.
pub fn keep(data_dir: &DataDir, r: &ForecastReport) -> Outcome {
    crate::data_dir::write_atomically(
        &data_dir.root.join(tenure_server::FORECAST_REPORT),
        &serde_json::to_string_pretty(r)?,
    )
}
