//! Consumer (non-contractual) mode: customers who buy repeatedly and drop out unseen, drawn
//! from the BG/NBD model (purchase rate λ ~ Gamma(r, α), drop-out probability p ~ Beta(a, b)
//! after each purchase) with Gamma-Gamma spend (each customer's mean spend ν ~ Gamma(q, γ),
//! each purchase ~ Gamma(p_s, ν)). Time is measured in weeks, as in the CDNOW studies the
//! defaults come from.

use rand::Rng;
use rand_distr::{Beta, Distribution, Gamma};
use serde::Serialize;

use crate::rng_for;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerConfig {
    pub customers: u32,
    /// Length of the observation period, in weeks.
    pub weeks: f64,
    pub seed: u64,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Gamma-Gamma shape of each purchase's spend.
    pub spend_p: f64,
    pub spend_q: f64,
    pub spend_gamma: f64,
}

impl ConsumerConfig {
    /// Defaults near the published fit to CDNOW (Fader, Hardie and Lee, 2005).
    pub fn new(customers: u32, weeks: f64, seed: u64) -> ConsumerConfig {
        ConsumerConfig {
            customers,
            weeks,
            seed,
            r: 0.24,
            alpha: 4.41,
            a: 0.79,
            b: 2.43,
            spend_p: 6.25,
            spend_q: 3.74,
            spend_gamma: 15.44,
        }
    }
}

/// One purchase, at `week` (fractional) of the period, for `amount_cents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Purchase {
    pub customer_id: String,
    pub week: f64,
    pub amount_cents: i64,
}

/// A customer's summary as BG/NBD fits it (frequency = repeat purchases, recency = age at the
/// last purchase, T = age at the end of the period, all in weeks), with the hidden truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub customer_id: String,
    pub frequency: u32,
    pub recency: f64,
    #[serde(rename = "T")]
    pub t: f64,
    /// Mean spend of the repeat purchases, in currency units (0 without repeats).
    pub monetary_value: f64,
    pub true_lambda: f64,
    pub true_p: f64,
    pub true_mean_spend: f64,
    pub alive_at_end: bool,
}

pub trait ConsumerSink {
    type Error;
    fn purchase(&mut self, purchase: &Purchase) -> Result<(), Self::Error>;
    fn customer(&mut self, customer: &Customer) -> Result<(), Self::Error>;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConsumerSummary {
    pub customers: u64,
    pub purchases: u64,
    pub alive_at_end: u64,
    pub revenue_cents: i64,
}

pub fn simulate_consumers<S: ConsumerSink>(
    config: &ConsumerConfig,
    sink: &mut S,
) -> Result<ConsumerSummary, S::Error> {
    let mut summary = ConsumerSummary::default();
    let lambda_dist = Gamma::new(config.r, 1.0 / config.alpha).expect("positive BG/NBD parameters");
    let p_dist = Beta::new(config.a, config.b).expect("positive BG/NBD parameters");
    let nu_dist = Gamma::new(config.spend_q, 1.0 / config.spend_gamma)
        .expect("positive Gamma-Gamma parameters");
    for i in 0..config.customers {
        let mut rng = rng_for(config.seed, u64::from(i) + 1);
        let id = format!("cust-{i:07}");
        let lambda = lambda_dist.sample(&mut rng).max(1e-9);
        let p = p_dist.sample(&mut rng);
        let nu = nu_dist.sample(&mut rng).max(1e-9);
        let spend = Gamma::new(config.spend_p, 1.0 / nu).expect("positive spend parameters");
        // Customers are acquired uniformly over the first 12 weeks, as in CDNOW's cohort.
        let birth = rng.gen::<f64>() * 12.0_f64.min(config.weeks * 0.5);
        let t_total = config.weeks - birth;
        let mut buy = |week: f64, rng: &mut rand_pcg::Pcg64Mcg, summary: &mut ConsumerSummary| {
            let amount = (spend.sample(rng) * 100.0).round().max(1.0) as i64;
            summary.purchases += 1;
            summary.revenue_cents += amount;
            sink.purchase(&Purchase {
                customer_id: id.clone(),
                week,
                amount_cents: amount,
            })
            .map(|_| amount)
        };
        buy(birth, &mut rng, &mut summary)?;
        let (mut t, mut frequency, mut last, mut alive, mut repeat_total) =
            (0.0_f64, 0u32, 0.0_f64, true, 0i64);
        loop {
            // Drop out after a purchase with probability p.
            if rng.gen_bool(p.clamp(0.0, 1.0)) {
                alive = false;
                break;
            }
            let gap = -rng.gen::<f64>().max(f64::MIN_POSITIVE).ln() / lambda;
            t += gap;
            if t >= t_total {
                break;
            }
            frequency += 1;
            last = t;
            repeat_total += buy(birth + t, &mut rng, &mut summary)?;
        }
        summary.customers += 1;
        summary.alive_at_end += u64::from(alive);
        sink.customer(&Customer {
            customer_id: id.clone(),
            frequency,
            recency: last,
            t: t_total,
            monetary_value: if frequency > 0 {
                repeat_total as f64 / 100.0 / f64::from(frequency)
            } else {
                0.0
            },
            true_lambda: lambda,
            true_p: p,
            true_mean_spend: config.spend_p / nu,
            alive_at_end: alive,
        })?;
    }
    Ok(summary)
}
