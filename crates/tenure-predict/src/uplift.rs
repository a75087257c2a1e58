//! The effect of an intervention measured against a randomised holdout: the difference in an
//! outcome's mean between treated and held-out units, post-stratified (the difference within
//! each stratum, weighted by the stratum's share of the units), with a Welch–Satterthwaite
//! t interval and a two-sided p-value. With one stratum it is Welch's t-test. For a 0/1
//! outcome it is the difference of proportions with unpooled (Wald) variances.

use serde::Serialize;

use crate::special::{student_t_cdf, student_t_quantile};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arm {
    pub n: usize,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uplift {
    pub treated: Arm,
    pub held_out: Arm,
    /// Treated minus held out, post-stratified.
    pub difference: f64,
    pub level: f64,
    pub low: f64,
    pub high: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    pub p_value: f64,
    /// Strata with both arms (the others' units are left out of the difference).
    pub strata: usize,
    pub left_out: usize,
}

#[derive(Default, Clone, Copy)]
struct Moments {
    n: f64,
    sum: f64,
    sum_sq: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.n += 1.0;
        self.sum += x;
        self.sum_sq += x * x;
    }
    fn mean(&self) -> f64 {
        self.sum / self.n
    }
    /// The sample variance (n − 1), `None` below two units.
    fn var(&self) -> Option<f64> {
        (self.n >= 2.0)
            .then(|| ((self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1.0)).max(0.0))
    }
}

/// The uplift of `rows` (stratum, treated, outcome), at `level` (e.g. 0.95); `None` unless
/// some stratum has units in both arms.
pub fn uplift(rows: &[(u32, bool, f64)], level: f64) -> Option<Uplift> {
    let mut strata: std::collections::BTreeMap<u32, [Moments; 2]> = Default::default();
    let mut all = [Moments::default(); 2];
    for &(s, treated, x) in rows.iter().filter(|r| r.2.is_finite()) {
        let arm = usize::from(treated);
        strata.entry(s).or_default()[arm].add(x);
        all[arm].add(x);
    }
    let both: Vec<[Moments; 2]> = strata
        .values()
        .filter(|m| m[0].n > 0.0 && m[1].n > 0.0)
        .copied()
        .collect();
    if both.is_empty() {
        return None;
    }
    let total: f64 = both.iter().map(|m| m[0].n + m[1].n).sum();
    let left_out = (all[0].n + all[1].n - total) as usize;
    // A stratum-arm with one unit borrows its arm's variance over all strata.
    let fallback = [all[0].var().unwrap_or(0.0), all[1].var().unwrap_or(0.0)];
    let (mut difference, mut variance, mut df_denominator) = (0.0, 0.0, 0.0);
    for m in &both {
        let w = (m[0].n + m[1].n) / total;
        difference += w * (m[1].mean() - m[0].mean());
        for arm in 0..2 {
            let v = w * w * m[arm].var().unwrap_or(fallback[arm]) / m[arm].n;
            variance += v;
            df_denominator += v * v / (m[arm].n - 1.0).max(1.0);
        }
    }
    let se = variance.sqrt();
    let df = if df_denominator > 0.0 {
        variance * variance / df_denominator
    } else {
        f64::INFINITY
    };
    let (low, high, p_value) = if se > 0.0 {
        let q = student_t_quantile(0.5 + level / 2.0, df);
        let t = difference / se;
        (
            difference - q * se,
            difference + q * se,
            2.0 * student_t_cdf(-t.abs(), df),
        )
    } else {
        (
            difference,
            difference,
            if difference == 0.0 { 1.0 } else { 0.0 },
        )
    };
    let arm = |m: Moments| Arm {
        n: m.n as usize,
        mean: (m.n > 0.0).then(|| m.mean()),
    };
    Some(Uplift {
        treated: arm(all[1]),
        held_out: arm(all[0]),
        difference,
        level,
        low,
        high,
        df,
        p_value,
        strata: both.len(),
        left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stratum_is_welchs_t_test() {
        // Expected values from SciPy (stats.ttest_ind(equal_var=False), stats.t.ppf).
        let a = [3.1, 2.4, 5.0, 4.4, 3.9, 2.2, 4.8, 3.3];
        let b = [2.0, 2.9, 1.5, 3.1, 2.2];
        let rows: Vec<(u32, bool, f64)> = a
            .iter()
            .map(|x| (0, true, *x))
            .chain(b.iter().map(|x| (0, false, *x)))
            .collect();
        let u = uplift(&rows, 0.95).unwrap();
        let close = |x: f64, y: f64| assert!((x - y).abs() < 1e-9 * y.abs(), "{x} vs {y}");
        close(u.difference, 1.2975000000000003);
        close(u.low, 0.24882324958348834);
        close(u.high, 2.3461767504165123);
        close(u.df, 10.984669403695362);
        close(u.p_value, 0.019822982703264824);
        assert_eq!(
            (u.treated.n, u.held_out.n, u.strata, u.left_out),
            (8, 5, 1, 0)
        );
    }

    #[test]
    fn strata_are_compared_within_and_weighted_by_size() {
        // Stratum 0: +1 between arms; stratum 1: +3; stratum 2 has one arm only.
        let mut rows = Vec::new();
        for i in 0..30 {
            let e = f64::from(i % 3) * 0.1;
            rows.push((0, true, 11.0 + e));
            rows.push((0, false, 10.0 + e));
        }
        for i in 0..10 {
            let e = f64::from(i % 2) * 0.1;
            rows.push((1, true, 53.0 + e));
            rows.push((1, false, 50.0 + e));
        }
        rows.push((2, true, 1000.0));
        let u = uplift(&rows, 0.9).unwrap();
        // Weights 60/80 and 20/80: 0.75 × 1 + 0.25 × 3.
        assert!((u.difference - 1.5).abs() < 1e-12, "{}", u.difference);
        assert!(u.low < 1.5 && 1.5 < u.high && u.high - u.low < 0.2);
        assert_eq!((u.strata, u.left_out), (2, 1));
        // The unstratified means differ by far more than the effect.
        assert!(u.treated.mean.unwrap() - u.held_out.mean.unwrap() > 20.0);
        // No stratum with both arms: no estimate.
        assert!(uplift(&[(0, true, 1.0), (1, false, 0.0)], 0.95).is_none());
    }
}
