//! The renewal forecast: from each upcoming renewal's ARR and churn probability, the ARR
//! expected to renew, the ARR at risk, and an interval for the renewed ARR from seeded Monte
//! Carlo draws (each renewal renews or churns on its own).

use serde::Serialize;

/// The forecast of a set of renewals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub renewals: usize,
    /// Σ ARR up for renewal (minor units).
    pub arr_up_for_renewal: i64,
    /// Σ ARR × (1 − p).
    pub expected_renewed_arr: f64,
    /// Σ ARR × p.
    pub arr_at_risk: f64,
    /// Expected churned renewals: Σ p.
    pub expected_churns: f64,
    /// The interval's coverage and its bounds on the renewed ARR.
    pub level: f64,
    pub renewed_arr_low: f64,
    pub renewed_arr_high: f64,
    pub draws: u32,
    pub seed: u64,
}

/// SplitMix64: a small, fast, seedable generator.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Forecasts renewals given as (ARR in minor units, churn probability), with a `level`
/// (e.g. 0.9) interval from `draws` draws seeded by `seed`.
pub fn renewals(items: &[(i64, f64)], level: f64, draws: u32, seed: u64) -> Forecast {
    let total: i64 = items.iter().map(|(a, _)| *a).sum();
    let at_risk: f64 = items.iter().map(|(a, p)| *a as f64 * p).sum();
    let mut rng = Rng(seed);
    let mut sums: Vec<f64> = (0..draws.max(1))
        .map(|_| {
            items
                .iter()
                .filter(|(_, p)| rng.unit() >= *p)
                .map(|(a, _)| *a as f64)
                .sum()
        })
        .collect();
    sums.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((q * sums.len() as f64).floor() as usize).min(sums.len() - 1);
        sums[i]
    };
    let tail = (1.0 - level) / 2.0;
    Forecast {
        renewals: items.len(),
        arr_up_for_renewal: total,
        expected_renewed_arr: total as f64 - at_risk,
        arr_at_risk: at_risk,
        expected_churns: items.iter().map(|(_, p)| p).sum(),
        level,
        renewed_arr_low: at(tail),
        renewed_arr_high: at(1.0 - tail),
        draws: draws.max(1),
        seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_and_an_interval_that_holds_them() {
        let items: Vec<(i64, f64)> = (0..200)
            .map(|i| (1000 + i * 10, 0.05 + (i % 10) as f64 * 0.02))
            .collect();
        let f = renewals(&items, 0.9, 5000, 7);
        let total: i64 = items.iter().map(|x| x.0).sum();
        assert_eq!(f.arr_up_for_renewal, total);
        assert!((f.expected_renewed_arr + f.arr_at_risk - total as f64).abs() < 1e-6);
        assert!(
            f.renewed_arr_low < f.expected_renewed_arr
                && f.expected_renewed_arr < f.renewed_arr_high
        );
        assert!(f.renewed_arr_high <= total as f64);
        // The same seed, the same interval.
        assert_eq!(f, renewals(&items, 0.9, 5000, 7));
        // Certain outcomes: no spread.
        let sure = renewals(&[(500, 0.0), (300, 1.0)], 0.9, 100, 1);
        assert_eq!(
            (sure.renewed_arr_low, sure.renewed_arr_high),
            (500.0, 500.0)
        );
        assert_eq!(sure.arr_at_risk, 300.0);
    }
}
