//! The BG/NBD model of repeat purchasing (Fader, Hardie & Lee, 2005) and the Gamma-Gamma
//! model of spend per transaction (Fader & Hardie, 2013): fitted by maximum likelihood with
//! analytic gradients, then probability alive, expected purchases and expected spend.
//!
//! Each customer is (x, tₓ, T): repeat purchases, the time of the last one, and the time
//! observed, all from the first purchase. Rows with equal values are folded together, and
//! every term that depends on x alone is computed once per distinct x, so a fit over CDNOW's
//! 2,357 customers takes a millisecond or two.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::optim::{hessian, minimise};
use crate::special::{digamma, hyp2f1, ln_gamma};

/// One customer's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Customer {
    pub frequency: f64,
    pub recency: f64,
    pub t: f64,
}

/// A problem with the input, by row (0-based, in the order given).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("row {row}: {message}")]
    Row { row: usize, message: String },
    #[error("no customers to fit")]
    Empty,
    #[error(
        "the fit did not converge after {iterations} iterations (largest gradient {gradient:e})"
    )]
    NotConverged { iterations: u32, gradient: f64 },
}

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
}

/// Standard errors of the parameters, from the inverse Hessian of the log-likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StandardErrors {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Checks every customer: finite, x a whole number ≥ 0, 0 ≤ tₓ ≤ T, T > 0, and tₓ = 0 when
/// x = 0.
pub fn check(customers: &[Customer]) -> Result<(), InputError> {
    if customers.is_empty() {
        return Err(InputError::Empty);
    }
    for (row, c) in customers.iter().enumerate() {
        let bad = |message: String| Err(InputError::Row { row, message });
        if !(c.frequency.is_finite() && c.recency.is_finite() && c.t.is_finite()) {
            return bad("frequency, recency and T must be finite numbers".into());
        }
        if c.frequency < 0.0 || c.frequency.fract() != 0.0 {
            return bad(format!(
                "frequency must be a whole number ≥ 0 (repeat purchases), got {}",
                c.frequency
            ));
        }
        if c.t <= 0.0 {
            return bad(format!("T must be > 0, got {}", c.t));
        }
        if c.recency < 0.0 || c.recency > c.t {
            return bad(format!(
                "recency must be from 0 to T ({}), got {}",
                c.t, c.recency
            ));
        }
        if c.frequency == 0.0 && c.recency != 0.0 {
            return bad(format!(
                "recency must be 0 when frequency is 0, got {}",
                c.recency
            ));
        }
    }
    Ok(())
}

/// Customers folded: distinct x, tₓ and T, and the distinct (x, tₓ, T) with their counts, so
/// each logarithm is taken once per distinct value.
struct Folded {
    xs: Vec<f64>,
    txs: Vec<f64>,
    ts: Vec<f64>,
    /// (x index, tₓ index, T index, count).
    rows: Vec<(usize, usize, usize, f64)>,
}

/// The sorted distinct values of `v`, and each value's index among them.
fn distinct(v: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut d: Vec<f64> = v.collect();
    d.sort_by(f64::total_cmp);
    d.dedup();
    d
}

fn index_of(d: &[f64], x: f64) -> usize {
    d.partition_point(|v| v.total_cmp(&x).is_lt())
}

fn fold(customers: &[Customer]) -> Folded {
    let mut groups: BTreeMap<(u64, u64, u64), f64> = BTreeMap::new();
    for c in customers {
        *groups
            .entry((c.frequency.to_bits(), c.recency.to_bits(), c.t.to_bits()))
            .or_default() += 1.0;
    }
    let xs = distinct(customers.iter().map(|c| c.frequency));
    let txs = distinct(customers.iter().map(|c| c.recency));
    let ts = distinct(customers.iter().map(|c| c.t));
    let rows = groups
        .into_iter()
        .map(|((x, tx, t), n)| {
            (
                index_of(&xs, f64::from_bits(x)),
                index_of(&txs, f64::from_bits(tx)),
                index_of(&ts, f64::from_bits(t)),
                n,
            )
        })
        .collect();
    Folded { xs, txs, ts, rows }
}

/// The log-likelihood of (r, α, a, b) and its gradient with respect to their logarithms.
fn log_likelihood(f: &Folded, r: f64, alpha: f64, a: f64, b: f64) -> (f64, [f64; 4]) {
    // Per distinct x: the terms of x alone, and their derivatives.
    struct PerX {
        base: f64,
        d_r: f64,
        d_a: f64,
        d_b: f64,
        ln_b_x1: f64,
    }
    let ln_alpha = alpha.ln();
    let (ln_a, lg_r, lg_ab, lg_b) = (a.ln(), ln_gamma(r), ln_gamma(a + b), ln_gamma(b));
    let (dg_r, dg_ab, dg_b) = (digamma(r), digamma(a + b), digamma(b));
    let per_x: Vec<PerX> =
        f.xs.iter()
            .map(|&x| PerX {
                base: ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x)
                    - lg_b
                    - ln_gamma(a + b + x),
                d_r: digamma(r + x) - dg_r + ln_alpha,
                d_a: dg_ab - digamma(a + b + x),
                d_b: dg_ab + digamma(b + x) - dg_b - digamma(a + b + x),
                ln_b_x1: if x > 0.0 { (b + x - 1.0).ln() } else { 0.0 },
            })
            .collect();
    let ln_at: Vec<f64> = f.ts.iter().map(|t| (alpha + t).ln()).collect();
    let ln_atx: Vec<f64> = f.txs.iter().map(|t| (alpha + t).ln()).collect();
    let mut ll = 0.0;
    let mut g = [0.0; 4];
    for &(xi, txi, ti, n) in &f.rows {
        let (x, tx, t) = (f.xs[xi], f.txs[txi], f.ts[ti]);
        let p = &per_x[xi];
        let ln_at = ln_at[ti];
        let a3 = -(r + x) * ln_at;
        let (l, w4, ln_atx) = if x > 0.0 {
            let ln_atx = ln_atx[txi];
            let a4 = ln_a - p.ln_b_x1 - (r + x) * ln_atx;
            // ln(e^a3 + e^a4) and e^a4 / (e^a3 + e^a4) from one exponential.
            let d = a4 - a3;
            let e = (-d.abs()).exp();
            let l = a3.max(a4) + e.ln_1p();
            let w4 = if d > 0.0 {
                1.0 / (1.0 + e)
            } else {
                e / (1.0 + e)
            };
            (l, w4, ln_atx)
        } else {
            (a3, 0.0, 0.0)
        };
        let w3 = 1.0 - w4;
        ll += n * (p.base + l);
        g[0] += n * (p.d_r - w3 * ln_at - w4 * ln_atx);
        g[1] += n * (r / alpha - (r + x) * (w3 / (alpha + t) + w4 / (alpha + tx)));
        g[2] += n * (p.d_a + w4 / a);
        g[3] += n * (p.d_b - if x > 0.0 { w4 / (b + x - 1.0) } else { 0.0 });
    }
    // d/d ln θ = θ · d/dθ.
    (ll, [g[0] * r, g[1] * alpha, g[2] * a, g[3] * b])
}

/// Fits BG/NBD to `customers` by maximum likelihood (over the parameters' logarithms, so they
/// stay positive).
pub fn fit(customers: &[Customer]) -> Result<BgNbd, InputError> {
    check(customers)?;
    let folded = fold(customers);
    let scale = 1.0 / customers.len() as f64;
    let mut objective = |th: &[f64]| {
        let (ll, g) = log_likelihood(&folded, th[0].exp(), th[1].exp(), th[2].exp(), th[3].exp());
        (-ll * scale, g.iter().map(|v| -v * scale).collect())
    };
    let m = minimise(&mut objective, &[0.0; 4], 1e-11, 1000);
    if !m.converged {
        let (_, g) = objective(&m.x);
        return Err(InputError::NotConverged {
            iterations: m.iterations,
            gradient: g.iter().fold(0.0f64, |a, v| a.max(v.abs())),
        });
    }
    let [r, alpha, a, b] = [m.x[0].exp(), m.x[1].exp(), m.x[2].exp(), m.x[3].exp()];
    Ok(BgNbd {
        r,
        alpha,
        a,
        b,
        log_likelihood: log_likelihood(&folded, r, alpha, a, b).0,
    })
}

impl BgNbd {
    /// Standard errors: the square roots of the inverse Hessian's diagonal of the negative
    /// log-likelihood, in the parameters' own scale.
    pub fn standard_errors(&self, customers: &[Customer]) -> Option<StandardErrors> {
        let folded = fold(customers);
        let mut neg = |p: &[f64]| {
            let (ll, g) = log_likelihood(&folded, p[0], p[1], p[2], p[3]);
            // Back from the log scale: d/dθ = (d/d ln θ) / θ.
            (-ll, (0..4).map(|i| -g[i] / p[i]).collect())
        };
        let h = hessian(&mut neg, &[self.r, self.alpha, self.a, self.b])?;
        let inv = h.inverse()?;
        let se = |i: usize| inv.get(i, i).max(0.0).sqrt();
        Some(StandardErrors {
            r: se(0),
            alpha: se(1),
            a: se(2),
            b: se(3),
        })
    }

    /// The probability that a customer with this history is still active at T.
    pub fn p_alive(&self, c: &Customer) -> f64 {
        if c.frequency == 0.0 {
            return 1.0;
        }
        let x = c.frequency;
        let ln_ratio = (self.r + x) * ((self.alpha + c.t) / (self.alpha + c.recency)).ln();
        1.0 / (1.0 + self.a / (self.b + x - 1.0) * ln_ratio.exp())
    }

    /// The expected number of purchases in the next `horizon` time units, given the history.
    pub fn expected_purchases(&self, c: &Customer, horizon: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let (x, tx, t) = (c.frequency, c.recency, c.t);
        let z = horizon / (alpha + t + horizon);
        let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - ((alpha + t) / (alpha + t + horizon)).powf(r + x) * hyp;
        let denom = 1.0
            + if x > 0.0 {
                a / (b + x - 1.0) * ((alpha + t) / (alpha + tx)).powf(r + x)
            } else {
                0.0
            };
        first * second / denom
    }

    /// The expected number of purchases of a new customer in its first `t` time units.
    pub fn expected_purchases_new(&self, t: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let hyp = hyp2f1(r, b, a + b - 1.0, t / (alpha + t));
        (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * hyp)
    }
}

/// Fitted Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
    pub log_likelihood: f64,
    /// Customers with repeat purchases, the ones the model is fitted on.
    pub customers: usize,
}

/// Repeat customers for Gamma-Gamma: distinct frequencies, and per customer (frequency
/// index, x, m, ln x, ln m), the logarithms of the data taken once.
struct Spend {
    xs: Vec<f64>,
    rows: Vec<(usize, f64, f64, f64, f64)>,
}

impl Spend {
    fn new(pairs: &[(f64, f64)]) -> Spend {
        let xs = distinct(pairs.iter().map(|p| p.0));
        let rows = pairs
            .iter()
            .map(|&(x, m)| (index_of(&xs, x), x, m, x.ln(), m.ln()))
            .collect();
        Spend { xs, rows }
    }
}

fn gg_log_likelihood(s: &Spend, p: f64, q: f64, v: f64) -> (f64, [f64; 3]) {
    let (lg_q, dg_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
    // Per distinct x: lnΓ(px + q) − lnΓ(px), ψ(px + q), ψ(px).
    let per_x: Vec<(f64, f64, f64)> =
        s.xs.iter()
            .map(|&x| {
                let px = p * x;
                (
                    ln_gamma(px + q) - ln_gamma(px),
                    digamma(px + q),
                    digamma(px),
                )
            })
            .collect();
    let mut ll = 0.0;
    let mut g = [0.0; 3];
    for &(xi, x, m, ln_x, ln_m) in &s.rows {
        let (lg, dg_pxq, dg_px) = per_x[xi];
        let px = p * x;
        let vxm = v + x * m;
        let ln_vxm = vxm.ln();
        ll += lg - lg_q + q * ln_v + (px - 1.0) * ln_m + px * ln_x - (px + q) * ln_vxm;
        g[0] += x * (dg_pxq - dg_px + ln_m + ln_x - ln_vxm);
        g[1] += dg_pxq - dg_q + ln_v - ln_vxm;
        g[2] += q / v - (px + q) / vxm;
    }
    (ll, [g[0] * p, g[1] * q, g[2] * v])
}

/// Fits the Gamma-Gamma spend model to (frequency, mean spend) of the customers with
/// frequency above zero. Rows with frequency 0 are left out; a positive frequency needs a
/// positive spend.
pub fn fit_gamma_gamma(rows: &[(f64, f64)]) -> Result<GammaGamma, InputError> {
    let mut used = Vec::new();
    for (row, &(x, m)) in rows.iter().enumerate() {
        if x > 0.0 {
            if !(m.is_finite() && m > 0.0) {
                return Err(InputError::Row {
                    row,
                    message: format!(
                        "monetary_value must be > 0 where frequency is above 0, got {m}"
                    ),
                });
            }
            used.push((x, m));
        }
    }
    if used.is_empty() {
        return Err(InputError::Empty);
    }
    let scale = 1.0 / used.len() as f64;
    let spend = Spend::new(&used);
    let mut objective = |th: &[f64]| {
        let (ll, g) = gg_log_likelihood(&spend, th[0].exp(), th[1].exp(), th[2].exp());
        (-ll * scale, g.iter().map(|v| -v * scale).collect())
    };
    let m = minimise(&mut objective, &[0.0; 3], 1e-11, 1000);
    if !m.converged {
        let (_, g) = objective(&m.x);
        return Err(InputError::NotConverged {
            iterations: m.iterations,
            gradient: g.iter().fold(0.0f64, |a, v| a.max(v.abs())),
        });
    }
    let [p, q, v] = [m.x[0].exp(), m.x[1].exp(), m.x[2].exp()];
    Ok(GammaGamma {
        p,
        q,
        v,
        log_likelihood: gg_log_likelihood(&spend, p, q, v).0,
        customers: used.len(),
    })
}

impl GammaGamma {
    /// The expected mean spend per transaction of a customer with `frequency` repeat
    /// purchases of mean `monetary_value`.
    pub fn expected_spend(&self, frequency: f64, monetary_value: f64) -> f64 {
        self.p * (self.v + frequency * monetary_value) / (self.p * frequency + self.q - 1.0)
    }
}

/// Customer lifetime value as lifetimes defines it: over `months` months of `units_per_month`
/// time units each (4.345 for weeks, 30 for days), Σₖ (E[purchases by k months] − E[purchases
/// by k − 1 months]) × the expected mean spend ÷ (1 + `discount`)ᵏ, `discount` per month.
pub fn customer_lifetime_value(
    bg: &BgNbd,
    gg: &GammaGamma,
    c: &Customer,
    monetary_value: f64,
    months: u32,
    units_per_month: f64,
    discount: f64,
) -> f64 {
    let spend = gg.expected_spend(c.frequency, monetary_value);
    let mut total = 0.0;
    let mut before = 0.0;
    for k in 1..=months {
        let by = bg.expected_purchases(c, f64::from(k) * units_per_month);
        total += (by - before) * spend / (1.0 + discount).powi(k as i32);
        before = by;
    }
    total
}
