//! Survival analysis: the Kaplan–Meier estimator with Greenwood's variance and log(−log)
//! confidence bands, the median survival time, and the log-rank test across groups.
//! Matches lifelines' `KaplanMeierFitter` and `multivariate_logrank_test`.

use serde::Serialize;

use crate::optim::Matrix;
use crate::special::{chi_square_sf, normal_quantile};

/// One row of the survival table: the estimate just after `time`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub time: f64,
    /// Subjects at risk just before `time`.
    pub at_risk: u64,
    pub events: u64,
    pub censored: u64,
    pub survival: f64,
    /// The confidence band (log(−log) transform of Greenwood's variance); equal to the
    /// estimate where it is 1 or 0.
    pub lower: f64,
    pub upper: f64,
}

/// A Kaplan–Meier fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KaplanMeier {
    /// From time 0 (or the first time, when earlier), then at every distinct observed time.
    pub table: Vec<Step>,
    /// The first time the estimate is at or below one half; `None` when it never is.
    pub median: Option<f64>,
    pub subjects: u64,
    pub events: u64,
    /// The band's coverage (e.g. 0.95).
    pub confidence: f64,
}

/// Fits Kaplan–Meier to (duration, event) pairs with a `confidence` band (0 < c < 1).
/// Durations must be finite and ≥ 0 (checked by the caller).
pub fn kaplan_meier(data: &[(f64, bool)], confidence: f64) -> KaplanMeier {
    let mut d: Vec<(f64, bool)> = data.to_vec();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let n = d.len() as u64;
    let mut table = Vec::new();
    let start = d.first().map_or(0.0, |x| x.0.min(0.0));
    let mut at_risk = n;
    let mut survival = 1.0;
    let mut greenwood = 0.0;
    let mut i = 0;
    // lifelines starts the table at 0 with the subjects and events there.
    if d.first().is_none_or(|x| x.0 > start) {
        table.push(Step {
            time: start,
            at_risk: n,
            events: 0,
            censored: 0,
            survival: 1.0,
            lower: 1.0,
            upper: 1.0,
        });
    }
    while i < d.len() {
        let t = d[i].0;
        let mut events = 0;
        let mut censored = 0;
        while i < d.len() && d[i].0 == t {
            if d[i].1 {
                events += 1;
            } else {
                censored += 1;
            }
            i += 1;
        }
        if events > 0 {
            let (nr, e) = (at_risk as f64, events as f64);
            survival *= 1.0 - e / nr;
            if nr > e {
                greenwood += e / (nr * (nr - e));
            }
        }
        let (lower, upper) = band(survival, greenwood, z);
        table.push(Step {
            time: t,
            at_risk,
            events,
            censored,
            survival,
            lower,
            upper,
        });
        at_risk -= events + censored;
    }
    let median = table.iter().find(|s| s.survival <= 0.5).map(|s| s.time);
    KaplanMeier {
        median,
        subjects: n,
        events: d.iter().filter(|x| x.1).count() as u64,
        table,
        confidence,
    }
}

/// The log(−log) band: S^exp(±z·√v / ln S).
fn band(s: f64, v: f64, z: f64) -> (f64, f64) {
    if s <= 0.0 || s >= 1.0 {
        return (s, s);
    }
    let ln_s = s.ln();
    let k = z * v.sqrt() / ln_s;
    let at = |sign: f64| (-((-ln_s).ln() + sign * k).exp()).exp();
    (at(-1.0), at(1.0))
}

impl KaplanMeier {
    /// The estimate at time `t` (a step function, right-continuous).
    pub fn survival_at(&self, t: f64) -> f64 {
        let i = self.table.partition_point(|s| s.time <= t);
        if i == 0 {
            1.0
        } else {
            self.table[i - 1].survival
        }
    }
}

/// The log-rank test that `groups` (one label per subject) share one survival function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRank {
    pub statistic: f64,
    pub degrees_of_freedom: usize,
    pub p: f64,
}

/// The log-rank test over subjects (duration, event, group index < `k`).
pub fn log_rank(data: &[(f64, bool, usize)], k: usize) -> Option<LogRank> {
    if k < 2 {
        return None;
    }
    let mut d: Vec<(f64, bool, usize)> = data.to_vec();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut at_risk = vec![0f64; k];
    for x in &d {
        at_risk[x.2] += 1.0;
    }
    let mut observed_minus_expected = vec![0f64; k];
    let mut v = Matrix::zeros(k);
    let mut i = 0;
    while i < d.len() {
        let t = d[i].0;
        let mut events = vec![0f64; k];
        let mut leaving = vec![0f64; k];
        while i < d.len() && d[i].0 == t {
            if d[i].1 {
                events[d[i].2] += 1.0;
            }
            leaving[d[i].2] += 1.0;
            i += 1;
        }
        let n: f64 = at_risk.iter().sum();
        let e: f64 = events.iter().sum();
        if e > 0.0 && n > 0.0 {
            for g in 0..k {
                observed_minus_expected[g] += events[g] - e * at_risk[g] / n;
            }
            if n > 1.0 {
                let f = e * (n - e) / (n - 1.0);
                for g in 0..k {
                    for h in 0..k {
                        let delta = if g == h { 1.0 } else { 0.0 };
                        let add = f * at_risk[g] / n * (delta - at_risk[h] / n);
                        v.set(g, h, v.get(g, h) + add);
                    }
                }
            }
        }
        for g in 0..k {
            at_risk[g] -= leaving[g];
        }
    }
    // Drop the last group: the statistic uses k − 1 of them.
    let m = k - 1;
    let mut sub = Matrix::zeros(m);
    for g in 0..m {
        for h in 0..m {
            sub.set(g, h, v.get(g, h));
        }
    }
    let inv = sub.inverse()?;
    let u = &observed_minus_expected[..m];
    let vu = inv.mul_vec(u);
    let statistic: f64 = u.iter().zip(&vu).map(|(a, b)| a * b).sum();
    Some(LogRank {
        statistic,
        degrees_of_freedom: m,
        p: chi_square_sf(statistic, m as f64),
    })
}
