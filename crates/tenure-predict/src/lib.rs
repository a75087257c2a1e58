//! Tenure's prediction: models on plain arrays, no IO and no clock.
//!
//! Data flow: callers hand in durations, events, covariates or purchase summaries; `survival`
//! estimates survival curves (Kaplan–Meier with Greenwood log(−log) bands) and tests groups
//! (log-rank); `cox` fits proportional hazards with Efron ties by Newton's method; `bgnbd`
//! fits BG/NBD and Gamma-Gamma by maximum likelihood and predicts purchases, probability
//! alive and spend; `classify` fits logistic regression and gradient-boosted trees for a
//! yes/no outcome, with per-row drivers and calibration (Platt, isotonic); `eval` scores
//! probabilities (AUC, average precision, Brier, log loss, calibration, lift). `optim` (BFGS, Newton polish, small matrices) and `special` (log-gamma,
//! digamma, normal and chi-square tails, ₂F₁) serve them. Every figure is checked against
//! lifelines or lifetimes on data they ship (tests/reference.rs).

pub mod backtest;
pub mod bgnbd;
pub mod classify;
pub mod cox;
pub mod eval;
pub mod forecast;
pub mod optim;
pub mod special;
pub mod survival;
pub mod uplift;
