//! Time-based backtests of churn (or expansion) models on point-in-time decisions: train on the earlier
//! decisions, calibrate on the latest of those, test on the later ones; compare the health
//! score, logistic regression and boosted trees (and, when known, the true probabilities)
//! by AUC, average precision, Brier score, log loss, calibration and top-decile lift, in
//! total and per group.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::classify::{self, Gbdt, Isotonic, Logistic, Platt, Prep, TreeParams};
use crate::eval::{self, CalibrationBin};

/// One decision: when it fell, what happened, the features as they stood before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Days from any fixed origin; decisions are ordered by it.
    pub day: i64,
    /// The event the model predicts happened: churn for a churn model, expansion for an
    /// expansion model.
    pub positive: bool,
    /// One value per feature, `NaN` where missing.
    pub features: Vec<f64>,
    /// The health score (0–100) as it stood: the baseline.
    pub health: f64,
    /// (dimension, group) pairs the results are broken down by, e.g. ("tier", "high_touch").
    pub groups: Vec<(String, String)>,
    /// The true churn probability, when known (a simulation).
    pub truth: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Options {
    /// The earliest share of decisions (by day) to train on; the rest is the test set.
    pub train_share: f64,
    /// The latest share of the training decisions kept for calibration.
    pub calibration_share: f64,
    /// Inverse L2 strength of the logistic regression.
    pub c: f64,
    /// Isotonic calibration of the trees (else Platt): flexible, but it needs many outcomes
    /// of each kind in the calibration slice, and it puts probabilities of exactly 0 where
    /// that slice saw no churn.
    pub isotonic: bool,
    pub trees: TreeParams,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            train_share: 0.7,
            calibration_share: 0.25,
            c: 1.0,
            isotonic: false,
            trees: TreeParams::default(),
        }
    }
}

/// A slice of the decisions.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Slice {
    pub decisions: usize,
    /// Decisions where the predicted event happened (churns, or expansions); `churned` in
    /// files written before expansion models.
    #[serde(alias = "churned")]
    pub positive: usize,
    pub first_day: Option<i64>,
    pub last_day: Option<i64>,
}

fn slice(s: &[&Sample]) -> Slice {
    Slice {
        decisions: s.len(),
        positive: s.iter().filter(|x| x.positive).count(),
        first_day: s.first().map(|x| x.day),
        last_day: s.last().map(|x| x.day),
    }
}

/// One model's scores on the test decisions.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ModelScore {
    pub model: String,
    pub auc: Option<f64>,
    pub average_precision: Option<f64>,
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
    pub calibration_error: Option<f64>,
    pub top_decile_lift: Option<f64>,
    pub calibration: Vec<CalibrationBin>,
}

fn score(model: &str, p: &[f64], y: &[bool]) -> ModelScore {
    let table = eval::calibration_table(p, y, 10);
    ModelScore {
        model: model.to_owned(),
        auc: eval::auc(p, y),
        average_precision: eval::average_precision(p, y),
        brier: eval::brier(p, y),
        log_loss: eval::log_loss(p, y),
        calibration_error: eval::calibration_error(&table),
        top_decile_lift: eval::top_decile_lift(p, y),
        calibration: table,
    }
}

/// AUC per model in one group of the test decisions.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GroupScore {
    pub dimension: String,
    pub group: String,
    pub decisions: usize,
    #[serde(alias = "churned")]
    pub positive: usize,
    /// Model name → AUC (`None` without both outcomes).
    pub auc: BTreeMap<String, Option<f64>>,
}

/// A feature's weight in each model.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Importance {
    pub feature: String,
    /// The logistic coefficient on the standardised feature (log-odds of the event per sd).
    pub logistic_coef: f64,
    /// The feature's share of the trees' total split gain.
    pub tree_gain_share: f64,
}

/// How the trees' scores become probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub enum Calibration {
    Platt(Platt),
    Isotonic(Isotonic),
}

impl Calibration {
    pub fn apply(&self, score: f64) -> f64 {
        match self {
            Calibration::Platt(p) => p.apply(score),
            Calibration::Isotonic(i) => i.apply(score),
        }
    }
}

/// The fitted models, ready to score new rows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Models {
    pub names: Vec<String>,
    pub prep: Prep,
    pub logistic: Logistic,
    pub logistic_calibration: Platt,
    pub trees: Gbdt,
    pub trees_calibration: Calibration,
    pub health_calibration: Platt,
}

impl Models {
    /// The calibrated probability of the boosted trees for a raw feature row.
    pub fn trees_probability(&self, features: &[f64]) -> f64 {
        self.trees_calibration.apply(self.trees.log_odds(features))
    }

    pub fn logistic_probability(&self, features: &[f64]) -> f64 {
        self.logistic_calibration
            .apply(self.logistic.log_odds(&self.prep.row(features)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Report {
    pub options: Options,
    pub features: Vec<String>,
    pub train: Slice,
    pub calibration: Slice,
    /// Calibrated on the training decisions themselves: the latest of them held only one
    /// outcome.
    pub calibrated_in_sample: bool,
    pub test: Slice,
    pub models: Vec<ModelScore>,
    pub by_group: Vec<GroupScore>,
    pub importance: Vec<Importance>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    #[error("{0} decisions are too few to backtest: at least 50 are needed")]
    TooFew(usize),
    #[error("the {0} decisions hold only one outcome: a model needs both (churn and renewal, or expansion and none)")]
    OneOutcome(&'static str),
}

/// The split of `samples` (sorted by day) at the `share` quantile, moved to a day boundary
/// so that no day is on both sides.
fn split_at(samples: &[&Sample], share: f64) -> usize {
    let mut k = ((samples.len() as f64) * share).round() as usize;
    k = k.clamp(1, samples.len().saturating_sub(1));
    while k < samples.len() && k > 0 && samples[k].day == samples[k - 1].day {
        k += 1;
    }
    k
}

/// Fits the models on `train_all` (sorted by day): all but the latest `calibration_share`
/// train, those calibrate; when either part holds one outcome, all train and calibrate.
/// Returns the models, the fitting and calibration rows, and whether calibration was in
/// sample.
#[allow(clippy::type_complexity)]
fn fit<'a>(
    names: &[String],
    train_all: &'a [&'a Sample],
    options: Options,
) -> Result<(Models, &'a [&'a Sample], &'a [&'a Sample], bool), BacktestError> {
    let both = |rows: &[&Sample]| {
        let positive = rows.iter().filter(|s| s.positive).count();
        positive > 0 && positive < rows.len()
    };
    if !both(train_all) {
        return Err(BacktestError::OneOutcome("training"));
    }
    // Calibrate on the latest training decisions, which the models do not see; when those
    // hold only one outcome (few churns), fit on all the training decisions and calibrate on
    // them too (the report says so).
    let c = split_at(train_all, 1.0 - options.calibration_share);
    let (fit_rows, calibration_rows, in_sample) = if both(&train_all[..c]) && both(&train_all[c..])
    {
        (&train_all[..c], &train_all[c..], false)
    } else {
        (train_all, train_all, true)
    };
    let p = names.len();
    let matrix = |rows: &[&Sample]| -> Vec<f64> {
        rows.iter()
            .flat_map(|s| s.features.iter().copied())
            .collect()
    };
    let labels = |rows: &[&Sample]| -> Vec<bool> { rows.iter().map(|s| s.positive).collect() };
    let (x_fit, y_fit) = (matrix(fit_rows), labels(fit_rows));
    let prep = Prep::fit(&x_fit, p, names);
    let width = prep.width();
    let logistic = classify::fit_logistic(&prep.matrix(&x_fit, p), width, &y_fit, options.c);
    let trees = classify::fit_gbdt(&x_fit, p, &y_fit, options.trees);
    // Calibration on the latest training decisions, which the models did not see.
    let y_cal = labels(calibration_rows);
    let lo_cal: Vec<f64> = calibration_rows
        .iter()
        .map(|s| logistic.log_odds(&prep.row(&s.features)))
        .collect();
    let tr_cal: Vec<f64> = calibration_rows
        .iter()
        .map(|s| trees.log_odds(&s.features))
        .collect();
    let he_cal: Vec<f64> = calibration_rows.iter().map(|s| -s.health).collect();
    let models = Models {
        names: names.to_vec(),
        logistic_calibration: classify::fit_platt(&lo_cal, &y_cal),
        trees_calibration: if options.isotonic {
            Calibration::Isotonic(classify::fit_isotonic(&tr_cal, &y_cal))
        } else {
            Calibration::Platt(classify::fit_platt(&tr_cal, &y_cal))
        },
        health_calibration: classify::fit_platt(&he_cal, &y_cal),
        prep,
        logistic,
        trees,
    };
    Ok((models, fit_rows, calibration_rows, in_sample))
}

/// Fits the models on every decision of `samples` for use on new rows: trained on all but the
/// latest `calibration_share`, calibrated on those (on all of them when the latest hold one
/// outcome).
pub fn fit_models(
    names: &[String],
    samples: &[Sample],
    options: Options,
) -> Result<Models, BacktestError> {
    if samples.len() < 50 {
        return Err(BacktestError::TooFew(samples.len()));
    }
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.day);
    fit(names, &sorted, options).map(|(models, ..)| models)
}

/// Runs the backtest on `samples` (any order; features named `names`).
pub fn run(
    names: &[String],
    samples: &[Sample],
    options: Options,
) -> Result<(Report, Models), BacktestError> {
    if samples.len() < 50 {
        return Err(BacktestError::TooFew(samples.len()));
    }
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.day);
    let k = split_at(&sorted, options.train_share);
    let (train_all, test) = sorted.split_at(k);
    let (models, fit_rows, calibration_rows, in_sample) = fit(names, train_all, options)?;
    let labels = |rows: &[&Sample]| -> Vec<bool> { rows.iter().map(|s| s.positive).collect() };
    let y_test = labels(test);
    let mut predictions: Vec<(&str, Vec<f64>)> = vec![
        (
            "health score",
            test.iter()
                .map(|s| models.health_calibration.apply(-s.health))
                .collect(),
        ),
        (
            "logistic regression",
            test.iter()
                .map(|s| models.logistic_probability(&s.features))
                .collect(),
        ),
        (
            "boosted trees",
            test.iter()
                .map(|s| models.trees_probability(&s.features))
                .collect(),
        ),
    ];
    if test.iter().all(|s| s.truth.is_some()) {
        predictions.push((
            "true probability",
            test.iter().map(|s| s.truth.unwrap_or(f64::NAN)).collect(),
        ));
    }
    let scores = predictions
        .iter()
        .map(|(m, p)| score(m, p, &y_test))
        .collect();
    // Per group.
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, s) in test.iter().enumerate() {
        for (d, g) in &s.groups {
            groups.entry((d.clone(), g.clone())).or_default().push(i);
        }
    }
    let by_group = groups
        .into_iter()
        .map(|((dimension, group), idx)| {
            let y: Vec<bool> = idx.iter().map(|&i| y_test[i]).collect();
            GroupScore {
                dimension,
                group,
                decisions: idx.len(),
                positive: y.iter().filter(|v| **v).count(),
                auc: predictions
                    .iter()
                    .map(|(m, p)| {
                        let p: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
                        (m.to_string(), eval::auc(&p, &y))
                    })
                    .collect(),
            }
        })
        .collect();
    let total_gain: f64 = models.trees.gain.iter().sum();
    let importance = names
        .iter()
        .enumerate()
        .map(|(j, f)| Importance {
            feature: f.clone(),
            logistic_coef: models.logistic.coefs[j],
            tree_gain_share: if total_gain > 0.0 {
                models.trees.gain[j] / total_gain
            } else {
                0.0
            },
        })
        .collect();
    Ok((
        Report {
            options,
            features: names.to_vec(),
            train: slice(fit_rows),
            calibration: slice(calibration_rows),
            calibrated_in_sample: in_sample,
            test: slice(test),
            models: scores,
            by_group,
            importance,
        },
        models,
    ))
}
