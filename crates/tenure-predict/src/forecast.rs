//! Forecasts from per-account probabilities, with intervals from seeded Monte Carlo draws
//! (each account's outcomes drawn on their own):
//! - the renewal forecast: from each upcoming renewal's ARR and churn probability, the ARR
//!   expected to renew and the ARR at risk;
//! - the revenue forecast: from each account's ARR, renewing ARR, churn and expansion
//!   probabilities and the expansion and contraction seen in past windows, the churned,
//!   contracted and expanded ARR, net and gross revenue retention.

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
    /// The sd of the churn log-odds shift each draw shares (see `Draws`).
    pub churn_logit_sd: f64,
}

/// How the intervals are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Draws {
    /// The intervals' coverage, e.g. 0.9.
    pub level: f64,
    pub draws: u32,
    pub seed: u64,
    /// The sd of a shift of every account's churn log-odds, one per draw: the uncertainty of
    /// the calibration itself (its intercept's standard error), which moves all accounts
    /// together, unlike each account's own chance. 0: none.
    pub churn_logit_sd: f64,
    /// The same for the expansion probabilities.
    pub expansion_logit_sd: f64,
}

/// `p` with its log-odds moved by `shift`.
fn shifted(p: f64, shift: f64) -> f64 {
    if shift == 0.0 || p <= 0.0 || p >= 1.0 {
        return p;
    }
    let z = (p / (1.0 - p)).ln() + shift;
    1.0 / (1.0 + (-z).exp())
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

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Forecasts renewals given as (ARR in minor units, churn probability); the expectations
/// are exact, the interval is drawn as `d` says.
pub fn renewals(items: &[(i64, f64)], d: Draws) -> Forecast {
    let Draws {
        level, draws, seed, ..
    } = d;
    let total: i64 = items.iter().map(|(a, _)| *a).sum();
    let at_risk: f64 = items.iter().map(|(a, p)| *a as f64 * p).sum();
    let mut rng = Rng(seed);
    let mut sums: Vec<f64> = (0..draws.max(1))
        .map(|_| {
            let shift = d.churn_logit_sd * rng.normal();
            items
                .iter()
                .filter(|(_, p)| rng.unit() >= shifted(*p, shift))
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
        churn_logit_sd: d.churn_logit_sd,
    }
}

/// One account over the forecast window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlook {
    /// ARR at the window's start (minor units).
    pub arr: i64,
    /// The part of `arr` whose subscriptions come up for renewal in the window.
    pub renewing_arr: i64,
    /// The probability the renewing ARR churns in the window (0 without a renewal).
    pub churn_probability: f64,
    /// The probability of an expansion in the window.
    pub expansion_probability: f64,
}

/// What past windows showed of expansion and contraction, as shares of the start ARR.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Movements {
    /// Expansion ARR ÷ start ARR of each past window with an expansion.
    pub expansion_ratios: Vec<f64>,
    /// The share of past windows without churn that had a contraction.
    pub contraction_rate: f64,
    /// Contraction ARR ÷ start ARR of each past window with a contraction (at most 1).
    pub contraction_ratios: Vec<f64>,
}

impl Movements {
    fn mean(v: &[f64]) -> f64 {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }
}

/// The revenue forecast of a set of accounts over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revenue {
    pub accounts: usize,
    /// Σ ARR at the window's start (minor units).
    pub start_arr: i64,
    /// Σ renewing ARR × churn probability.
    pub expected_churned_arr: f64,
    /// Σ ARR × (1 − churn) × contraction rate × mean contraction ratio.
    pub expected_contraction_arr: f64,
    /// Σ ARR × (1 − churn) × expansion probability × mean expansion ratio.
    pub expected_expansion_arr: f64,
    pub expected_end_arr: f64,
    /// Expected end ARR ÷ start ARR (`None` without start ARR).
    pub expected_nrr: Option<f64>,
    /// (Start − churned − contracted) ÷ start.
    pub expected_grr: Option<f64>,
    pub level: f64,
    pub nrr_low: Option<f64>,
    pub nrr_high: Option<f64>,
    pub expansion_arr_low: f64,
    pub expansion_arr_high: f64,
    pub draws: u32,
    pub seed: u64,
    pub churn_logit_sd: f64,
    pub expansion_logit_sd: f64,
}

/// Forecasts the revenue of `accounts` over a window. Per account and draw: the renewing ARR
/// churns with its churn probability; otherwise the account contracts with the past
/// contraction rate (by a past contraction ratio, drawn) and expands with its expansion
/// probability (by a past expansion ratio, drawn). The expectations are exact; the intervals
/// are drawn as `d` says.
pub fn revenue(accounts: &[Outlook], movements: &Movements, d: Draws) -> Revenue {
    let Draws {
        level, draws, seed, ..
    } = d;
    let start: i64 = accounts.iter().map(|a| a.arr).sum();
    let mean_c = Movements::mean(&movements.contraction_ratios).clamp(0.0, 1.0);
    let mean_e = Movements::mean(&movements.expansion_ratios).max(0.0);
    let c_rate = if movements.contraction_ratios.is_empty() {
        0.0
    } else {
        movements.contraction_rate.clamp(0.0, 1.0)
    };
    let churned: f64 = accounts
        .iter()
        .map(|a| a.renewing_arr as f64 * a.churn_probability)
        .sum();
    let survives = |a: &Outlook| a.arr as f64 * (1.0 - a.churn_probability);
    let contracted: f64 = accounts.iter().map(|a| survives(a) * c_rate * mean_c).sum();
    let expanded: f64 = accounts
        .iter()
        .map(|a| survives(a) * a.expansion_probability * mean_e)
        .sum();
    let end = start as f64 - churned - contracted + expanded;
    let ratio = |x: f64| (start > 0).then(|| x / start as f64);
    let mut rng = Rng(seed);
    let draws = draws.max(1);
    let pick = |rng: &mut Rng, v: &[f64]| {
        let i = ((rng.unit() * v.len() as f64) as usize).min(v.len() - 1);
        v[i]
    };
    let mut ends = Vec::with_capacity(draws as usize);
    let mut expansions = Vec::with_capacity(draws as usize);
    for _ in 0..draws {
        let (mut total, mut grown) = (0.0, 0.0);
        let churn_shift = d.churn_logit_sd * rng.normal();
        let expansion_shift = d.expansion_logit_sd * rng.normal();
        for a in accounts {
            let arr = a.arr as f64;
            if rng.unit() < shifted(a.churn_probability, churn_shift) {
                total += (arr - a.renewing_arr as f64).max(0.0);
                continue;
            }
            let mut e = arr;
            if c_rate > 0.0 && rng.unit() < c_rate {
                e -= arr * pick(&mut rng, &movements.contraction_ratios).clamp(0.0, 1.0);
            }
            if !movements.expansion_ratios.is_empty()
                && rng.unit() < shifted(a.expansion_probability, expansion_shift)
            {
                let g = arr * pick(&mut rng, &movements.expansion_ratios).max(0.0);
                e += g;
                grown += g;
            }
            total += e;
        }
        ends.push(total);
        expansions.push(grown);
    }
    let tail = (1.0 - level) / 2.0;
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        let i = ((p * v.len() as f64).floor() as usize).min(v.len() - 1);
        v[i]
    };
    Revenue {
        accounts: accounts.len(),
        start_arr: start,
        expected_churned_arr: churned,
        expected_contraction_arr: contracted,
        expected_expansion_arr: expanded,
        expected_end_arr: end,
        expected_nrr: ratio(end),
        expected_grr: ratio(start as f64 - churned - contracted),
        level,
        nrr_low: ratio(q(&mut ends, tail)),
        nrr_high: ratio(q(&mut ends, 1.0 - tail)),
        expansion_arr_low: q(&mut expansions, tail),
        expansion_arr_high: q(&mut expansions, 1.0 - tail),
        draws,
        seed,
        churn_logit_sd: d.churn_logit_sd,
        expansion_logit_sd: d.expansion_logit_sd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(draws: u32, seed: u64) -> Draws {
        Draws {
            level: 0.9,
            draws,
            seed,
            churn_logit_sd: 0.0,
            expansion_logit_sd: 0.0,
        }
    }

    #[test]
    fn expectations_and_an_interval_that_holds_them() {
        let items: Vec<(i64, f64)> = (0..200)
            .map(|i| (1000 + i * 10, 0.05 + (i % 10) as f64 * 0.02))
            .collect();
        let f = renewals(&items, draws(5000, 7));
        let total: i64 = items.iter().map(|x| x.0).sum();
        assert_eq!(f.arr_up_for_renewal, total);
        assert!((f.expected_renewed_arr + f.arr_at_risk - total as f64).abs() < 1e-6);
        assert!(
            f.renewed_arr_low < f.expected_renewed_arr
                && f.expected_renewed_arr < f.renewed_arr_high
        );
        assert!(f.renewed_arr_high <= total as f64);
        // The same seed, the same interval.
        assert_eq!(f, renewals(&items, draws(5000, 7)));
        // Certain outcomes: no spread.
        let sure = renewals(&[(500, 0.0), (300, 1.0)], draws(100, 1));
        assert_eq!(
            (sure.renewed_arr_low, sure.renewed_arr_high),
            (500.0, 500.0)
        );
        assert_eq!(sure.arr_at_risk, 300.0);
    }

    #[test]
    fn the_revenue_forecast_expectations_match_the_mean_of_its_draws() {
        let accounts: Vec<Outlook> = (0..300)
            .map(|i| Outlook {
                arr: 10_000 + i * 100,
                renewing_arr: if i % 3 == 0 { 10_000 + i * 100 } else { 0 },
                churn_probability: if i % 3 == 0 {
                    0.1 + (i % 7) as f64 * 0.02
                } else {
                    0.0
                },
                expansion_probability: 0.05 + (i % 5) as f64 * 0.05,
            })
            .collect();
        let moves = Movements {
            expansion_ratios: vec![0.2, 0.4, 0.1],
            contraction_rate: 0.1,
            contraction_ratios: vec![0.3, 0.5],
        };
        let r = revenue(&accounts, &moves, draws(20_000, 3));
        let start: i64 = accounts.iter().map(|a| a.arr).sum();
        assert_eq!(r.start_arr, start);
        // The exact expectation against a brute-force sum.
        let mut end = 0.0;
        for a in &accounts {
            let survive = 1.0 - a.churn_probability;
            let arr = a.arr as f64;
            end += a.churn_probability * (arr - a.renewing_arr as f64)
                + survive * (arr - 0.1 * 0.4 * arr + a.expansion_probability * arr * 0.7 / 3.0);
        }
        assert!((r.expected_end_arr - end).abs() < 1e-6 * end);
        let nrr = r.expected_nrr.unwrap();
        let (lo, hi) = (r.nrr_low.unwrap(), r.nrr_high.unwrap());
        assert!(lo < nrr && nrr < hi, "{lo} {nrr} {hi}");
        assert!(r.expected_grr.unwrap() <= 1.0);
        assert!(r.expansion_arr_low <= r.expected_expansion_arr);
        assert!(r.expected_expansion_arr <= r.expansion_arr_high);
        // Seeded: the same draws again.
        assert_eq!(r, revenue(&accounts, &moves, draws(20_000, 3)));
        // Nothing ever moves: NRR is 1 with no spread.
        let still: Vec<Outlook> = accounts
            .iter()
            .map(|a| Outlook {
                churn_probability: 0.0,
                expansion_probability: 0.0,
                ..*a
            })
            .collect();
        let r = revenue(&still, &Movements::default(), draws(100, 1));
        assert_eq!(
            (r.expected_nrr, r.nrr_low, r.nrr_high),
            (Some(1.0), Some(1.0), Some(1.0))
        );
    }

    #[test]
    fn a_shared_calibration_uncertainty_widens_the_interval_around_the_same_centre() {
        let items: Vec<(i64, f64)> = (0..500).map(|i| (1000 + i, 0.1)).collect();
        let narrow = renewals(&items, draws(4000, 9));
        let wide = renewals(
            &items,
            Draws {
                churn_logit_sd: 0.3,
                ..draws(4000, 9)
            },
        );
        assert_eq!(narrow.expected_renewed_arr, wide.expected_renewed_arr);
        let width = |f: &Forecast| f.renewed_arr_high - f.renewed_arr_low;
        assert!(
            width(&wide) > 1.5 * width(&narrow),
            "{} {}",
            width(&wide),
            width(&narrow)
        );
        assert!(wide.renewed_arr_low < wide.expected_renewed_arr);
        assert!(wide.expected_renewed_arr < wide.renewed_arr_high);
        assert_eq!(shifted(0.5, 0.0), 0.5);
        assert!((shifted(0.5, (0.9f64 / 0.1).ln()) - 0.9).abs() < 1e-12);
        assert_eq!(shifted(1.0, 2.0), 1.0);
    }
}
