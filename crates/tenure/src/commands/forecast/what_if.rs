//! What-if scenarios: one measure moved for every account, and the measures that move with
//! it.

use serde::Serialize;
use tenure_predict::backtest::Sample;

/// A what-if scenario: one measure moved for every account, e.g. `active_days_30d+10%`,
/// `meetings_90d+2` or `executive_sponsor=1`. A missing value stays missing unless set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    pub text: String,
    pub measure: String,
    pub change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Add this amount.
    Add(f64),
    /// Add this percentage of the value.
    Percent(f64),
    /// Set to this value.
    Set(f64),
}

impl Change {
    pub(super) fn apply(self, v: f64) -> f64 {
        match self {
            Change::Set(x) => x,
            _ if v.is_nan() => v,
            Change::Add(x) => v + x,
            Change::Percent(x) => v * (1.0 + x / 100.0),
        }
    }
}

impl std::str::FromStr for WhatIf {
    type Err = String;

    fn from_str(s: &str) -> Result<WhatIf, String> {
        let usage = "expected MEASURE+N, MEASURE-N, MEASURE+N%, MEASURE-N% or MEASURE=N, e.g. active_days_30d+10%";
        let t = s.trim();
        let Some(at) = t.find(['+', '-', '=']).filter(|i| *i > 0) else {
            return Err(format!("what-if `{s}`: {usage}"));
        };
        let measure = t[..at].trim().to_owned();
        let op = &t[at..at + 1];
        let rest = t[at + 1..].trim();
        let (number, percent) = match rest.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (rest, false),
        };
        let x: f64 = number
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .ok_or_else(|| format!("what-if `{s}`: `{number}` is not a number; {usage}"))?;
        let change = match (op, percent) {
            ("=", true) => {
                return Err(format!(
                    "what-if `{s}`: `=` takes a value, not a percentage; {usage}"
                ))
            }
            ("=", false) => Change::Set(x),
            ("+", true) => Change::Percent(x),
            ("-", true) => Change::Percent(-x),
            ("+", false) => Change::Add(x),
            _ => Change::Add(-x),
        };
        Ok(WhatIf {
            text: t.to_owned(),
            measure,
            change,
        })
    }
}

/// How every feature moves with feature `j` across the decisions: the least-squares slope of
/// feature k on feature j over the rows where both are present (0 for j itself and where
/// j does not vary). A what-if moves the other features by slope × the change, so that
/// "10 % more active days" also carries the activity that comes with it, as the decisions
/// show, rather than asking the model about accounts unlike any it learnt from.
pub(super) fn co_movement(samples: &[Sample], j: usize) -> Vec<f64> {
    let width = samples.first().map_or(0, |s| s.features.len());
    (0..width)
        .map(|k| {
            if k == j {
                return 0.0;
            }
            let pairs: Vec<(f64, f64)> = samples
                .iter()
                .map(|s| (s.features[j], s.features[k]))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if pairs.len() < 30 {
                return 0.0;
            }
            let n = pairs.len() as f64;
            let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            if sxx > 0.0 {
                sxy / sxx
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_read_and_apply() {
        let w: WhatIf = " active_days_30d + 10 % ".parse().unwrap();
        assert_eq!(w.measure, "active_days_30d");
        assert_eq!(w.change, Change::Percent(10.0));
        assert!((w.change.apply(20.0) - 22.0).abs() < 1e-12);
        let w: WhatIf = "meetings_90d-2".parse().unwrap();
        assert_eq!(w.change.apply(5.0), 3.0);
        let w: WhatIf = "executive_sponsor=1".parse().unwrap();
        assert_eq!(w.change.apply(f64::NAN), 1.0);
        // A missing value stays missing unless set.
        assert!(Change::Add(1.0).apply(f64::NAN).is_nan());
        assert!(Change::Percent(5.0).apply(f64::NAN).is_nan());
        for bad in ["+10%", "x*2", "x+", "x+inf", "x=3%"] {
            assert!(bad.parse::<WhatIf>().is_err(), "{bad}");
        }
    }

    #[test]
    fn features_move_with_the_one_moved_by_their_slope() {
        let samples: Vec<Sample> = (0..100)
            .map(|i| {
                let x = f64::from(i);
                Sample {
                    day: 0,
                    positive: false,
                    features: vec![
                        x,
                        2.0 * x + 1.0,
                        7.0,
                        if i % 2 == 0 { f64::NAN } else { -x },
                    ],
                    health: 50.0,
                    groups: Vec::new(),
                    truth: None,
                }
            })
            .collect();
        let b = co_movement(&samples, 0);
        assert_eq!(b[0], 0.0);
        assert!((b[1] - 2.0).abs() < 1e-12);
        assert_eq!(b[2], 0.0);
        assert!((b[3] + 1.0).abs() < 1e-12);
    }
}
