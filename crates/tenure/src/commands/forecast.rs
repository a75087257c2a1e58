//! `tenure forecast`: the renewals of the next DAYS days with each account's churn probability
//! (the model that backtests better, trained on every past renewal decision, calibrated,
//! applied to the account as it stands today), the ARR expected to renew and at risk with an interval, the riskiest
//! renewals and the accounts whose churn probability rose most in 30 days, with drivers.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;
use tenure_domain::{Currency, Record, SubscriptionStatus};
use tenure_predict::backtest::{self, Models, Options, Sample};
use tenure_predict::forecast::{self, Forecast};

use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// One feature's push on an account's churn log-odds.
#[derive(Debug, Clone, Serialize)]
pub struct Driver {
    pub feature: String,
    /// Log-odds of churn it adds (negative: it lowers the risk).
    pub push: f64,
    /// The feature's value (`None`: missing).
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpcomingRenewal {
    pub account: String,
    pub renewal_date: NaiveDate,
    /// ARR up for renewal, in minor units of the forecast's currency.
    pub arr: i64,
    pub churn_probability: f64,
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
pub struct ForecastReport {
    pub as_of: NaiveDate,
    pub days: u32,
    pub currency: String,
    /// Renewals in other currencies, left out.
    pub other_currency: usize,
    pub trained_on_decisions: usize,
    /// The model used: the one with the higher test AUC in the backtest.
    pub model: Chosen,
    pub backtest_auc: f64,
    /// The registered model used (`tenure backtest --register`), when one fits the current
    /// success model; else the models were fitted for this run.
    pub registered_model: Option<String>,
    /// Decisions after the registered model's training that recalibrated it (0: none).
    pub recalibrated_on: usize,
    /// The backtest the model was chosen by.
    pub backtest: backtest::Report,
    pub model_version: String,
    pub forecast: Forecast,
    pub riskiest: Vec<UpcomingRenewal>,
    pub rising: Vec<Riser>,
    /// Each feature's population stability today against the decisions the model learnt
    /// from, largest shift first.
    pub drift: Vec<tenure_predict::eval::Drift>,
}

/// Each subscription's next renewal after `today`: its current end date when ahead, else the
/// next term end of its schedule; none once cancelled or expired.
fn next_renewal(s: &tenure_domain::Subscription, today: NaiveDate) -> Option<NaiveDate> {
    if matches!(
        s.status,
        SubscriptionStatus::Cancelled | SubscriptionStatus::Expired
    ) {
        return None;
    }
    if let Some(e) = s.end.filter(|e| *e > today) {
        return Some(e);
    }
    if s.term_months == 0 {
        return None;
    }
    let mut end = s.start;
    while end <= today {
        end = end.checked_add_months(Months::new(s.term_months))?;
    }
    Some(end)
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
        let auc = |c: Chosen| {
            report
                .models
                .iter()
                .find(|m| m.model == c.name())
                .and_then(|m| m.auc)
                .unwrap_or(0.0)
        };
        if auc(Chosen::BoostedTrees) > auc(Chosen::LogisticRegression) {
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
            Chosen::BoostedTrees => m.churn_probability(f),
        }
    }

    /// Each feature's push on the churn log-odds: coefficient × standardised value (a missing
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

pub async fn compute(
    data_dir: &DataDir,
    days: u32,
    refit: bool,
    now: tenure_domain::Timestamp,
) -> Outcome<ForecastReport> {
    let today = now.date_naive();
    // The models, on every past decision.
    // The renewals ahead, in the currency most of them are in.
    let store = data_dir.open_store().await?;
    let records = tenure_server::engine_records(store.as_ref())
        .await
        .context("reading the store")?;
    let horizon = today + chrono::Days::new(u64::from(days));
    let mut upcoming: Vec<(String, NaiveDate, i64, Currency)> = Vec::new();
    for r in &records {
        if let Record::Subscription(s) = r {
            let Some(day) = next_renewal(s, today).filter(|d| *d <= horizon) else {
                continue;
            };
            if let Ok(arr) = s.arr() {
                upcoming.push((s.account.as_str().to_owned(), day, arr.minor, arr.currency));
            }
        }
    }
    let mut by_currency: BTreeMap<Currency, usize> = BTreeMap::new();
    for u in &upcoming {
        *by_currency.entry(u.3).or_default() += 1;
    }
    let currency = by_currency
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
        .map_or(Currency::USD, |(c, _)| *c);
    let other_currency = upcoming.iter().filter(|u| u.3 != currency).count();
    upcoming.retain(|u| u.3 == currency);
    // Every active account at the end of yesterday (the last whole day, as every training
    // row is read at the end of its day) and 30 days before.
    let mut accounts: Vec<String> = records
        .iter()
        .filter_map(|r| match r {
            Record::Subscription(s) if next_renewal(s, today).is_some() => {
                Some(s.account.as_str().to_owned())
            }
            _ => None,
        })
        .collect();
    accounts.sort();
    accounts.dedup();
    let read_on = today - chrono::Days::new(1);
    let before = read_on - chrono::Days::new(30);
    let mut points: Vec<(String, NaiveDate)> =
        accounts.iter().map(|a| (a.clone(), read_on)).collect();
    points.extend(accounts.iter().map(|a| (a.clone(), before)));
    // One replay of the history: the training set (each past decision 30 days before) and
    // those accounts on those two days.
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
    .context("building the training set and reading the accounts as they stand")?;
    let samples: Vec<Sample> = (0..set.rows.len())
        .map(|i| Sample {
            day: i64::from(set.rows[i].day.num_days_from_ce()),
            churned: !set.rows[i].renewed,
            features: set.features(i),
            health: set.rows[i].health,
            groups: Vec::new(),
            truth: None,
        })
        .collect();
    let fail = |e: backtest::BacktestError| Failure::rejected(format!("error: {e}"));
    // The newest registered model trained on this success model's measures, else models
    // fitted now.
    let registered = if refit {
        None
    } else {
        super::models::list(data_dir)?
            .into_iter()
            .find(|r| r.success_model_version == set.model_version && r.features == set.measures)
    };
    let (report, model, models, registered_model, recalibrated_on, trained_on) = match registered {
        Some(r) => {
            // Recalibrate on the outcomes that arrived after it was trained, when there are
            // enough of both kinds.
            let cutoff = i64::from(r.last_decision.num_days_from_ce());
            let newer: Vec<&Sample> = samples.iter().filter(|s| s.day > cutoff).collect();
            let churned = newer.iter().filter(|s| s.churned).count();
            let mut models = r.models;
            let mut recalibrated = 0;
            if newer.len() >= 100 && churned >= 5 && churned < newer.len() {
                let scores: Vec<f64> = newer
                    .iter()
                    .map(|s| r.chosen.log_odds(&models, &s.features))
                    .collect();
                let y: Vec<bool> = newer.iter().map(|s| s.churned).collect();
                let platt = tenure_predict::classify::fit_platt(&scores, &y);
                match r.chosen {
                    Chosen::LogisticRegression => models.logistic_calibration = platt,
                    Chosen::BoostedTrees => {
                        models.trees_calibration = backtest::Calibration::Platt(platt)
                    }
                }
                recalibrated = newer.len();
            }
            (
                r.backtest,
                r.chosen,
                models,
                Some(r.id),
                recalibrated,
                r.decisions,
            )
        }
        None => {
            let (report, _) =
                backtest::run(&set.measures, &samples, Options::default()).map_err(fail)?;
            let chosen = Chosen::by_backtest(&report);
            let models =
                backtest::fit_models(&set.measures, &samples, Options::default()).map_err(fail)?;
            (report, chosen, models, None, 0, samples.len())
        }
    };
    let auc = |name: &str| {
        report
            .models
            .iter()
            .find(|m| m.model == name)
            .and_then(|m| m.auc)
            .unwrap_or(0.0)
    };
    let mut at: BTreeMap<(String, NaiveDate), Vec<f64>> = BTreeMap::new();
    for o in &seen {
        let f: Vec<f64> = set
            .measures
            .iter()
            .map(|m| o.measures.get(m).copied().flatten().unwrap_or(f64::NAN))
            .collect();
        at.insert((o.account.clone(), o.day), f);
    }
    let mut renewals = Vec::new();
    for (account, day, arr, _) in &upcoming {
        let Some(f) = at.get(&(account.clone(), read_on)) else {
            continue;
        };
        renewals.push(UpcomingRenewal {
            account: account.clone(),
            renewal_date: *day,
            arr: *arr,
            churn_probability: model.probability(&models, f),
            drivers: drivers(model, &models, f, 3),
        });
    }
    let items: Vec<(i64, f64)> = renewals
        .iter()
        .map(|r| (r.arr, r.churn_probability))
        .collect();
    let fc = forecast::renewals(&items, 0.9, 10_000, 42);
    renewals.sort_by(|a, b| {
        (b.arr as f64 * b.churn_probability).total_cmp(&(a.arr as f64 * a.churn_probability))
    });
    renewals.truncate(10);
    let mut rising: Vec<Riser> = accounts
        .iter()
        .filter_map(|a| {
            let now_f = at.get(&(a.clone(), read_on))?;
            let then_f = at.get(&(a.clone(), before))?;
            let push_now = model.pushes(&models, now_f);
            let push_then = model.pushes(&models, then_f);
            let mut d: Vec<Driver> = (0..push_now.len())
                .map(|j| Driver {
                    feature: models.names[j].clone(),
                    push: push_now[j] - push_then[j],
                    value: now_f[j].is_finite().then_some(now_f[j]),
                })
                .collect();
            d.sort_by(|x, y| y.push.total_cmp(&x.push));
            d.truncate(3);
            Some(Riser {
                account: a.clone(),
                churn_probability: model.probability(&models, now_f),
                churn_probability_30_days_ago: model.probability(&models, then_f),
                drivers: d,
            })
        })
        .collect();
    rising.sort_by(|a, b| {
        (b.churn_probability - b.churn_probability_30_days_ago)
            .total_cmp(&(a.churn_probability - a.churn_probability_30_days_ago))
    });
    rising.truncate(5);
    let reference: Vec<f64> = samples
        .iter()
        .flat_map(|s| s.features.iter().copied())
        .collect();
    let current: Vec<f64> = accounts
        .iter()
        .filter_map(|a| at.get(&(a.clone(), read_on)))
        .flat_map(|f| f.iter().copied())
        .collect();
    let drift = tenure_predict::eval::drift(&set.measures, &reference, &current);
    Ok(ForecastReport {
        drift,
        as_of: today,
        days,
        currency: currency.to_string(),
        other_currency,
        trained_on_decisions: trained_on,
        model,
        backtest_auc: auc(model.name()),
        registered_model,
        recalibrated_on,
        forecast: fc,
        backtest: report,
        model_version: set.model_version.clone(),
        riskiest: renewals,
        rising,
    })
}

fn money(minor: f64, currency: &str) -> String {
    let exp = Currency::parse(currency).map_or(2, |c| c.exponent());
    format!("{:.0} {currency}", minor / 10f64.powi(exp as i32))
}

fn driver_text(d: &[Driver]) -> String {
    d.iter()
        .map(|d| {
            format!(
                "{} {}{:.2} ({})",
                d.feature,
                if d.push >= 0.0 { "+" } else { "" },
                d.push,
                d.value.map_or("missing".to_owned(), |v| format!("{v:.3}"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the forecast (the demo's too).
pub fn print(r: &ForecastReport) {
    let f = &r.forecast;
    println!(
        "Renewal forecast, {} … {} ({} renewals; {} trained on {} past decisions, backtest AUC {:.3})",
        r.as_of,
        r.as_of + chrono::Days::new(u64::from(r.days)),
        f.renewals,
        r.model.name(),
        r.trained_on_decisions,
        r.backtest_auc
    );
    if let Some(id) = &r.registered_model {
        println!(
            "  (registered model {id}{})",
            if r.recalibrated_on > 0 {
                format!(
                    ", recalibrated on the {} decisions since it was trained",
                    r.recalibrated_on
                )
            } else {
                String::new()
            }
        );
    }
    println!(
        "  ARR up for renewal {}: expected to renew {} ({:.0} % interval {} … {}), at risk {}, expected churns {:.1}",
        money(f.arr_up_for_renewal as f64, &r.currency),
        money(f.expected_renewed_arr, &r.currency),
        f.level * 100.0,
        money(f.renewed_arr_low, &r.currency),
        money(f.renewed_arr_high, &r.currency),
        money(f.arr_at_risk, &r.currency),
        f.expected_churns
    );
    if r.other_currency > 0 {
        println!(
            "  ({} renewals in other currencies left out)",
            r.other_currency
        );
    }
    println!("  Riskiest renewals (ARR × churn probability):");
    for u in r.riskiest.iter().take(5) {
        println!(
            "    {} on {}: {} at {:.0} % — {}",
            u.account,
            u.renewal_date,
            money(u.arr as f64, &r.currency),
            u.churn_probability * 100.0,
            driver_text(&u.drivers)
        );
    }
    let shifted: Vec<String> = r
        .drift
        .iter()
        .filter(|d| d.psi >= 0.25)
        .map(|d| format!("{} (PSI {:.2})", d.feature, d.psi))
        .collect();
    if shifted.is_empty() {
        println!("  Drift: every feature today is within PSI 0.25 of the decisions the model learnt from");
    } else {
        println!(
            "  Drift (today's accounts against the decisions the model learnt from, PSI ≥ 0.25): {}",
            shifted.join(", ")
        );
    }
    println!("  Churn probability rose most in 30 days:");
    for u in &r.rising {
        println!(
            "    {}: {:.1} % → {:.1} % — {}",
            u.account,
            u.churn_probability_30_days_ago * 100.0,
            u.churn_probability * 100.0,
            driver_text(&u.drivers)
        );
    }
}

pub async fn run(
    data_dir: &DataDir,
    days: u32,
    refit: bool,
    json: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    if !(1..=730).contains(&days) {
        return Err(Failure::rejected(format!(
            "--days must be from 1 to 730, got {days}"
        )));
    }
    let r = compute(data_dir, days, refit, now).await?;
    if json {
        super::print_json(&r)?;
        return Ok(());
    }
    print(&r);
    Ok(())
}
