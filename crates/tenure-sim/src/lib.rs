//! A seeded synthetic SaaS company whose hidden state drives everything observable.
//!
//! Each account has a latent health that evolves week by week and drives its users' activity
//! and feature mix, its tickets, survey answers and relationship signals, and — at each renewal —
//! a churn probability that is written down beside the drawn outcome, so prediction quality
//! can be measured against the best achievable. Accounts are simulated one after another, each
//! from its own seeded stream, so memory stays bounded and the same seed gives the same bytes.
//! This crate does no IO: it hands records, Segment JSON lines and truth rows to a `Sink`.
//! The equations and defaults are documented in docs/simulator.md.

mod consumer;
mod life;
pub mod segment;

use chrono::NaiveDate;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use tenure_domain::Record;

pub use consumer::{
    simulate_consumers, ConsumerConfig, ConsumerSink, ConsumerSummary, Customer, Purchase,
};
pub use life::{TruthAccount, TruthRenewal, OUTREACH_PLAYBOOK};

/// The hidden mechanics, with defaults that make the field's published claims true in the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mechanics {
    /// Monthly growth of sign-ups (0.03 = 3 % more sign-ups each month).
    pub signup_growth: f64,
    /// Share of accounts sent a targeted message within 24 hours of sign-up.
    pub welcome_message_share: f64,
    /// Multiplier on the activation rate of accounts sent that message (up to 20 % lift).
    pub welcome_message_activation_lift: f64,
    /// Share of tech-touch accounts in the automated onboarding programme.
    pub tech_touch_programme_share: f64,
    /// Multiplier on first-year churn probability for accounts in that programme (−25 %).
    pub tech_touch_programme_churn: f64,
    /// The true uplift on latent health of one proactive CSM outreach.
    pub outreach_effect: f64,
    /// Share of high- and mid-touch accounts held out from proactive outreach.
    pub outreach_holdout_share: f64,
    /// Multiplier on satisfaction (CSAT, NPS) in the 90 days after proactive outreach (+22 %).
    pub outreach_satisfaction_lift: f64,
    /// Log-odds of churn added when product use became habitual in the first week.
    pub habit_churn_log_odds: f64,
    /// Log-odds of churn added per doubling of time-to-first-value against the median.
    pub ttfv_churn_log_odds: f64,
    /// Log-odds of churn added when the account did not activate within 14 days.
    pub late_activation_churn_log_odds: f64,
    /// Base log-odds of annual churn for an average account.
    pub base_churn_log_odds: f64,
}

impl Default for Mechanics {
    fn default() -> Self {
        Mechanics {
            signup_growth: 0.03,
            welcome_message_share: 0.5,
            welcome_message_activation_lift: 1.2,
            tech_touch_programme_share: 0.5,
            tech_touch_programme_churn: 0.75,
            outreach_effect: 0.6,
            outreach_holdout_share: 0.1,
            outreach_satisfaction_lift: 1.22,
            habit_churn_log_odds: -0.9,
            ttfv_churn_log_odds: 0.35,
            late_activation_churn_log_odds: 0.9,
            base_churn_log_odds: -2.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    pub accounts: u32,
    pub months: u32,
    pub seed: u64,
    /// The first day of the simulated period.
    pub start: NaiveDate,
    pub mechanics: Mechanics,
}

impl SimConfig {
    pub fn new(accounts: u32, months: u32, seed: u64) -> SimConfig {
        SimConfig {
            accounts,
            months,
            seed,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("a valid date"),
            mechanics: Mechanics::default(),
        }
    }

    /// The number of simulated days.
    pub fn days(&self) -> u32 {
        let end = self
            .start
            .checked_add_months(chrono::Months::new(self.months))
            .unwrap_or(self.start);
        (end - self.start).num_days().max(1) as u32
    }
}

/// Where the simulated company goes. The simulator calls these in a deterministic order.
pub trait Sink {
    type Error;
    fn record(&mut self, record: &Record) -> Result<(), Self::Error>;
    /// Segment JSON lines, each newline-terminated.
    fn events(&mut self, jsonl: &[u8]) -> Result<(), Self::Error>;
    fn renewal(&mut self, truth: &TruthRenewal) -> Result<(), Self::Error>;
    fn account_truth(&mut self, truth: &TruthAccount) -> Result<(), Self::Error>;
}

/// Totals of one simulation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimSummary {
    pub accounts: u64,
    pub contacts: u64,
    pub events: u64,
    pub tickets: u64,
    pub surveys: u64,
    pub activities: u64,
    pub releases: u64,
    pub renewal_decisions: u64,
    pub churns: u64,
    pub expansions: u64,
    pub contractions: u64,
    pub reactivations: u64,
    /// The simulator's own tally of the company's figures over the last twelve months.
    pub realised: Realised,
}

/// Figures the simulator tallies from its own state, for checking what Tenure measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Realised {
    /// Accounts with an active subscription twelve months before the end.
    pub logos_at_start_of_last_year: u64,
    /// Of those, accounts without an active subscription at the end.
    pub logos_lost_in_last_year: u64,
    /// ARR of those accounts twelve months before the end, and at the end (cents).
    pub arr_at_start_of_last_year: i64,
    pub arr_now_of_those_accounts: i64,
    /// ARR of every active subscription at the end (cents).
    pub arr_now: i64,
    /// Accounts that signed up at least 30 days before the end, and those of them that
    /// activated within 14 days.
    pub signups_30_days_old: u64,
    pub activated_within_14_days: u64,
    pub nps_answers: u64,
    pub nps_promoters: u64,
    pub nps_detractors: u64,
}

impl Realised {
    pub fn annual_logo_churn(&self) -> Option<f64> {
        (self.logos_at_start_of_last_year > 0)
            .then(|| self.logos_lost_in_last_year as f64 / self.logos_at_start_of_last_year as f64)
    }

    pub fn nrr(&self) -> Option<f64> {
        (self.arr_at_start_of_last_year > 0)
            .then(|| self.arr_now_of_those_accounts as f64 / self.arr_at_start_of_last_year as f64)
    }

    pub fn activation_rate(&self) -> Option<f64> {
        (self.signups_30_days_old > 0)
            .then(|| self.activated_within_14_days as f64 / self.signups_30_days_old as f64)
    }

    pub fn nps(&self) -> Option<f64> {
        (self.nps_answers > 0).then(|| {
            100.0 * (self.nps_promoters as f64 - self.nps_detractors as f64)
                / self.nps_answers as f64
        })
    }
}

/// A well-mixed 64-bit seed for stream `index` of `seed` (SplitMix64's finaliser).
pub(crate) fn stream_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn rng_for(seed: u64, index: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(stream_seed(seed, index))
}

/// Simulates the company into `sink`.
pub fn simulate<S: Sink>(config: &SimConfig, sink: &mut S) -> Result<SimSummary, S::Error> {
    let company = life::Company::new(config);
    let mut summary = SimSummary::default();
    for release in &company.releases {
        sink.record(&Record::Release(release.clone()))?;
        summary.releases += 1;
    }
    let mut buffer = Vec::with_capacity(1 << 20);
    for index in 0..config.accounts {
        life::simulate_account(&company, index, sink, &mut buffer, &mut summary)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests;
