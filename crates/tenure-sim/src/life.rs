//! One account's life, day by day: latent health, users and their sessions, the feature mix,
//! tickets, surveys, the success team's touches, and the commercial decisions at each
//! renewal, each drawn from a probability that is recorded as ground truth.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::Rng;
use rand_distr::{Beta, Distribution, Exp, LogNormal, Normal, Poisson};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use tenure_domain::model::ActivityKind;
use tenure_domain::*;

use crate::segment::{self, Clock, Prop, When};
use crate::{rng_for, Mechanics, SimConfig, SimSummary, Sink};

/// One renewal decision: the true churn probability and the drawn outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthRenewal {
    pub account_id: String,
    pub renewal_date: NaiveDate,
    pub p_churn: f64,
    pub churned: bool,
}

/// An account's hidden parameters and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthAccount {
    pub account_id: String,
    pub tier: &'static str,
    pub product_fit: f64,
    pub onboarding_quality: f64,
    pub core_affinity: f64,
    pub welcome_message: bool,
    pub tech_touch_programme: bool,
    /// Held out of the outreach playbook (`OUTREACH_PLAYBOOK`), by Tenure's own holdout
    /// function, so that Tenure's held-out arm is the one the simulated CSMs leave alone.
    pub outreach_holdout: bool,
    /// Times the account met the outreach trigger (treated or held out).
    pub outreach_eligible: u32,
    /// Times it was actually reached out to.
    pub outreach_treated: u32,
    /// The true uplift on latent health of each outreach.
    pub outreach_effect: f64,
    /// The day the outreach trigger first held.
    pub outreach_first_day: Option<u32>,
    /// The true churn probability at the first renewal within a year of that day, as run,
    /// and in the same account's life run again in the other arm (treated if held out, held
    /// out if treated): the two potential outcomes, whose difference is the true effect.
    pub p_churn_after_first_outreach: Option<f64>,
    pub p_churn_after_first_outreach_other_arm: Option<f64>,
    pub signup_day: u32,
    pub activation_day: Option<u32>,
    pub first_value_day: Option<u32>,
    pub habit_first_week: bool,
    pub champion_left_day: Option<u32>,
    /// Releases that changed a feature the account relied on for the worse.
    pub release_regressions: u32,
    pub final_health: f64,
    pub churned: bool,
}

/// Company-wide facts shared by every account.
pub(crate) struct Company<'a> {
    pub config: &'a SimConfig,
    pub days: u32,
    pub clock: Clock,
    pub releases: Vec<Release>,
    /// The feature areas (indices into FEATURES) each day's release changed.
    release_features: Vec<Vec<usize>>,
    /// Days on which the product had an outage.
    pub outage_days: Vec<bool>,
    /// Cumulative sign-up weight per month, for drawing sign-up months.
    signup_cdf: Vec<f64>,
    high_touch_csms: u32,
    mid_touch_csms: u32,
}

const FEATURES: &[&str] = &[
    "reporting",
    "dashboards",
    "integrations",
    "automation",
    "collaboration",
];
const INDUSTRIES: &[(&str, f64)] = &[
    ("software", 0.24),
    ("financial services", 0.14),
    ("retail", 0.12),
    ("healthcare", 0.1),
    ("manufacturing", 0.1),
    ("media", 0.1),
    ("education", 0.1),
    ("logistics", 0.1),
];
const REGIONS: &[(&str, &[&str], f64)] = &[
    ("north_america", &["US", "CA"], 0.45),
    ("emea", &["GB", "DE", "FR", "NL", "SE"], 0.33),
    ("apac", &["AU", "JP", "SG", "IN"], 0.15),
    ("latam", &["BR", "MX"], 0.07),
];
/// Size band, its weight, and the median licensed seats.
const SIZES: &[(&str, f64, f64)] = &[
    ("1-50", 0.42, 4.0),
    ("51-200", 0.3, 9.0),
    ("201-1000", 0.16, 22.0),
    ("1001-5000", 0.08, 55.0),
    ("5000+", 0.04, 130.0),
];

fn pick<'t, T>(rng: &mut Pcg64Mcg, items: &'t [T], weight: impl Fn(&T) -> f64) -> &'t T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.gen::<f64>() * total;
    for item in items {
        x -= weight(item);
        if x <= 0.0 {
            return item;
        }
    }
    &items[items.len() - 1]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn normal(rng: &mut Pcg64Mcg) -> f64 {
    Normal::new(0.0, 1.0).map(|n| n.sample(rng)).unwrap_or(0.0)
}

fn lognormal(rng: &mut Pcg64Mcg, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.max(1e-9).ln(), sigma)
        .map(|d| d.sample(rng))
        .unwrap_or(median)
}

fn poisson(rng: &mut Pcg64Mcg, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean)
        .map(|p| p.sample(rng) as u32)
        .unwrap_or(0)
}

impl<'a> Company<'a> {
    pub fn new(config: &'a SimConfig) -> Company<'a> {
        let days = config.days();
        let mut rng = rng_for(config.seed, 0);
        let mut releases = Vec::new();
        for m in 0..config.months {
            let Some(date) = config.start.checked_add_months(chrono::Months::new(m)) else {
                continue;
            };
            let date = date + chrono::Duration::days(rng.gen_range(5..20));
            let n = rng.gen_range(1..=2);
            let mut features: Vec<String> = Vec::new();
            while features.len() < n {
                let f = FEATURES[rng.gen_range(0..FEATURES.len())].to_owned();
                if !features.contains(&f) {
                    features.push(f);
                }
            }
            let id = format!("r-{}.{:02}", date.year(), date.month());
            releases.push(Release {
                id: ReleaseId::parse(id).expect("generated ids are valid"),
                name: format!("{} release", date.format("%B %Y")),
                released_at: Utc
                    .from_utc_datetime(
                        &date.and_time(NaiveTime::from_hms_opt(16, 0, 0).expect("valid")),
                    )
                    .fixed_offset(),
                features,
                notes: Some("monthly release".to_owned()),
            });
        }
        let mut outage_days = vec![false; days as usize + 1];
        // About one outage every four months, lasting one or two days.
        let outages = (config.months / 4).max(1);
        for _ in 0..outages {
            let d = rng.gen_range(0..days) as usize;
            let len = rng.gen_range(1..=2);
            for x in d..(d + len).min(outage_days.len()) {
                outage_days[x] = true;
            }
        }
        let mut release_features = vec![Vec::new(); days as usize + 1];
        for r in &releases {
            let day = (r.released_at.date_naive() - config.start).num_days();
            if let Some(slot) = usize::try_from(day)
                .ok()
                .and_then(|d| release_features.get_mut(d))
            {
                slot.extend(
                    r.features
                        .iter()
                        .filter_map(|f| FEATURES.iter().position(|x| x == f)),
                );
            }
        }
        let signup_months = config.months.saturating_sub(1).max(1);
        let mut signup_cdf = Vec::with_capacity(signup_months as usize);
        let mut total = 0.0;
        for m in 0..signup_months {
            total += (1.0 + config.mechanics.signup_growth).powi(m as i32);
            signup_cdf.push(total);
        }
        Company {
            config,
            days,
            clock: Clock::new(config.start, days),
            releases,
            release_features,
            outage_days,
            signup_cdf,
            high_touch_csms: (config.accounts / 400).max(1),
            mid_touch_csms: (config.accounts / 150).max(1),
        }
    }

    fn signup_day(&self, rng: &mut Pcg64Mcg) -> u32 {
        let total = *self.signup_cdf.last().unwrap_or(&1.0);
        let x = rng.gen::<f64>() * total;
        let month = self.signup_cdf.iter().position(|c| x <= *c).unwrap_or(0) as u32;
        let month_start = self
            .config
            .start
            .checked_add_months(chrono::Months::new(month))
            .unwrap_or(self.config.start);
        let offset = (month_start - self.config.start).num_days() as u32;
        (offset + rng.gen_range(0..28)).min(self.days.saturating_sub(2))
    }

    fn instant(&self, day: u32, ms: i64) -> Timestamp {
        let date = self.config.start + chrono::Duration::days(i64::from(day));
        let t = Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
            + chrono::Duration::milliseconds(ms);
        t.fixed_offset()
    }

    fn date(&self, day: u32) -> NaiveDate {
        self.config.start + chrono::Duration::days(i64::from(day))
    }
}

/// Who did something, and when (on the device's clock).
struct At<'u> {
    user: &'u str,
    skew_ms: i64,
    day: u32,
    ms: i64,
}

struct User {
    id: String,
    z: f64,
    joined: u32,
    left: Option<u32>,
    skew_ms: i64,
    role: &'static str,
    last_active: Option<u32>,
}

#[derive(Clone, Copy, PartialEq)]
enum Tier {
    High,
    Mid,
    Tech,
}

impl Tier {
    fn name(self) -> &'static str {
        match self {
            Tier::High => "high_touch",
            Tier::Mid => "mid_touch",
            Tier::Tech => "tech_touch",
        }
    }
}

struct Contract {
    id: SubscriptionId,
    start: u32,
    term_start: u32,
    term_months: u32,
    interval: BillingInterval,
    seats: u32,
    /// Price per seat per month, in cents.
    seat_price: i64,
    plan: &'static str,
    status: SubscriptionStatus,
    end_day: Option<u32>,
}

impl Contract {
    fn arr(&self) -> i64 {
        i64::from(self.seats) * self.seat_price * 12
    }
}

/// Everything one account's simulation keeps; dropped when the account is done.
struct Life<'c, 'a> {
    company: &'c Company<'a>,
    mech: &'c Mechanics,
    rng: Pcg64Mcg,
    id: String,
    account: AccountId,
    domain: String,
    tier: Tier,
    truth: TruthAccount,
    health: f64,
    base_penalty: f64,
    users: Vec<User>,
    target_users: f64,
    sponsor: bool,
    activated: bool,
    habit_counted_days: u32,
    reports: u64,
    /// Core actions per day, the last 60 days (index: day % 60).
    core_days: [u32; 60],
    urgent_days: Vec<u32>,
    last_outreach: Option<u32>,
    contracts: Vec<Contract>,
    changes: Vec<SubscriptionChange>,
    events: u64,
    /// The last day each feature area (index into FEATURES) was used.
    feature_last_used: [Option<u32>; 5],
    /// ARR (cents) twelve months before the end, when the account was active then.
    arr_at_cutoff: Option<i64>,
    /// identify and group calls waiting to be written before the day's activity.
    pending_identity: Vec<u8>,
    counters: SimSummary,
    /// The other arm's churn probability after the first outreach trigger (from its run).
    other_arm: Option<f64>,
}

/// The playbook of the default success model the simulated CSMs work: when an account's core
/// actions in the last 30 days fell by `OUTREACH_DROP` or more against the 30 days before
/// (`core_actions_trend`), a high- or mid-touch account gets a call, at most every
/// `OUTREACH_COOLDOWN_DAYS`, unless Tenure's holdout function holds it out of this playbook.
pub const OUTREACH_PLAYBOOK: &str = "usage_drop";
const OUTREACH_DROP: f64 = 0.30;
const OUTREACH_COOLDOWN_DAYS: u32 = 30;

/// A sink that keeps nothing (the other arm's run).
struct Discard;

impl Sink for Discard {
    type Error = std::convert::Infallible;
    fn record(&mut self, _: &Record) -> Result<(), Self::Error> {
        Ok(())
    }
    fn events(&mut self, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
    fn renewal(&mut self, _: &TruthRenewal) -> Result<(), Self::Error> {
        Ok(())
    }
    fn account_truth(&mut self, _: &TruthAccount) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub(crate) fn simulate_account<S: Sink>(
    company: &Company<'_>,
    index: u32,
    sink: &mut S,
    buffer: &mut Vec<u8>,
    summary: &mut SimSummary,
) -> Result<(), S::Error> {
    // The account in the other arm of the outreach playbook first (its first trigger falls
    // on the same day: the arm changes nothing before it), then as it is.
    let (mut other, _) = new_life(company, index, true);
    let other_arm = if other.tier != Tier::Tech {
        let mut scratch = Vec::new();
        let Ok(()) = other.run(&mut Discard, &mut scratch);
        other.truth.p_churn_after_first_outreach
    } else {
        None
    };
    drop(other);
    let (mut life, record) = new_life(company, index, false);
    sink.record(&record)?;
    life.other_arm = other_arm;
    life.run(sink, buffer)?;
    summary.accounts += 1;

    summary.events += life.events;
    let active_now = life
        .contracts
        .last()
        .filter(|c| c.status == SubscriptionStatus::Active)
        .map(Contract::arr);
    let r = &mut summary.realised;
    r.arr_now += active_now.unwrap_or(0);
    if let Some(arr) = life.arr_at_cutoff {
        r.logos_at_start_of_last_year += 1;
        r.logos_lost_in_last_year += u64::from(active_now.is_none());
        r.arr_at_start_of_last_year += arr;
        r.arr_now_of_those_accounts += active_now.unwrap_or(0);
    }
    if life.truth.signup_day + 30 <= company.days {
        r.signups_30_days_old += 1;
        r.activated_within_14_days += u64::from(
            life.truth
                .activation_day
                .is_some_and(|a| a <= life.truth.signup_day + 14),
        );
    }
    r.nps_answers += life.counters.realised.nps_answers;
    r.nps_promoters += life.counters.realised.nps_promoters;
    r.nps_detractors += life.counters.realised.nps_detractors;
    summary.contacts += life.users.len() as u64;
    for (total, part) in [
        (&mut summary.tickets, life.counters.tickets),
        (&mut summary.surveys, life.counters.surveys),
        (&mut summary.activities, life.counters.activities),
        (
            &mut summary.renewal_decisions,
            life.counters.renewal_decisions,
        ),
        (&mut summary.churns, life.counters.churns),
        (&mut summary.expansions, life.counters.expansions),
        (&mut summary.contractions, life.counters.contractions),
        (&mut summary.reactivations, life.counters.reactivations),
    ] {
        *total += part;
    }
    Ok(())
}

/// Account `index`'s life, ready to run (`flip`: in the other arm of the outreach playbook).
/// Returns it with its account record (not yet written).
fn new_life<'c, 'a>(company: &'c Company<'a>, index: u32, flip: bool) -> (Life<'c, 'a>, Record) {
    let config = company.config;
    let mut rng = rng_for(config.seed, u64::from(index) + 1);
    let id = format!("acct-{index:06}");
    let account = AccountId::parse(id.clone()).expect("generated ids are valid");
    let (size, _, median_seats) = *pick(&mut rng, SIZES, |s| s.1);
    let seats = (lognormal(&mut rng, median_seats, 0.5).round() as u32).clamp(1, 3000);
    let (plan, seat_price, interval, term_months) = match size {
        "1-50" | "51-200" if rng.gen_bool(0.65) => {
            let monthly = rng.gen_bool(0.7);
            ("starter", 1500, monthly, if monthly { 1 } else { 12 })
        }
        "1001-5000" | "5000+" => (
            "enterprise",
            6000,
            false,
            if rng.gen_bool(0.3) { 24 } else { 12 },
        ),
        _ => {
            let monthly = rng.gen_bool(0.35);
            ("growth", 3500, monthly, if monthly { 1 } else { 12 })
        }
    };
    let interval = if interval {
        BillingInterval::Month
    } else {
        BillingInterval::Year
    };
    let arr_major = f64::from(seats) * seat_price as f64 * 12.0 / 100.0;
    let tier = if arr_major >= 100_000.0 {
        Tier::High
    } else if arr_major >= 15_000.0 {
        Tier::Mid
    } else {
        Tier::Tech
    };
    let owner = match tier {
        Tier::High => format!(
            "csm-h{}@tenure.example",
            rng.gen_range(0..company.high_touch_csms)
        ),
        Tier::Mid => format!(
            "csm-m{}@tenure.example",
            rng.gen_range(0..company.mid_touch_csms)
        ),
        Tier::Tech => "digital-cs@tenure.example".to_owned(),
    };
    let (industry, _) = *pick(&mut rng, INDUSTRIES, |i| i.1);
    let (region, countries, _) = *pick(&mut rng, REGIONS, |r| r.2);
    let country = countries[rng.gen_range(0..countries.len())];
    let signup_day = company.signup_day(&mut rng);
    let fit = normal(&mut rng);
    let onboarding = normal(&mut rng);
    let core_affinity = Beta::new(2.0, 2.5)
        .map(|b| b.sample(&mut rng))
        .unwrap_or(0.4);
    let sponsor_p = match tier {
        Tier::High => 0.7,
        Tier::Mid => 0.3,
        Tier::Tech => 0.05,
    };
    let sponsor = rng.gen_bool(sponsor_p);
    let mech = &config.mechanics;
    let welcome = rng.gen_bool(mech.welcome_message_share.clamp(0.0, 1.0));
    let programme =
        tier == Tier::Tech && rng.gen_bool(mech.tech_touch_programme_share.clamp(0.0, 1.0));
    let holdout = tier != Tier::Tech
        && (tenure_domain::model::held_out(
            OUTREACH_PLAYBOOK,
            &id,
            mech.outreach_holdout_share.clamp(0.0, 1.0) * 100.0,
        ) != flip);
    let utilisation = Beta::new(4.0 + 1.5 * fit.max(-2.0) + 3.0, 4.0)
        .map(|b| b.sample(&mut rng))
        .unwrap_or(0.6);
    let target_users = (f64::from(seats) * utilisation).max(1.0);
    let domain = format!("{}.example", id.replace('-', ""));

    let record = Record::Account(Account {
        id: account.clone(),
        name: format!("{} {}", company_name(&mut rng), index),
        plan: Some(plan.to_owned()),
        industry: Some(industry.to_owned()),
        region: Some(region.to_owned()),
        country: Some(country.to_owned()),
        size_band: Some(size.to_owned()),
        owner: Some(UserId::parse(owner).expect("generated ids are valid")),
        parent: None,
        signed_up_at: Some(
            company.instant(signup_day, rng.gen_range(8 * 3_600_000..18 * 3_600_000)),
        ),
        executive_sponsor: sponsor.then(|| "VP Operations".to_owned()),
    });

    let contract = Contract {
        id: SubscriptionId::parse(format!("{id}-sub-1")).expect("generated ids are valid"),
        start: signup_day,
        term_start: signup_day,
        term_months,
        interval,
        seats,
        seat_price,
        plan,
        status: SubscriptionStatus::Active,
        end_day: None,
    };
    let life = Life {
        company,
        mech,
        rng,
        id: id.clone(),
        account,
        domain,
        tier,
        truth: TruthAccount {
            account_id: id,
            tier: tier.name(),
            product_fit: fit,
            onboarding_quality: onboarding,
            core_affinity,
            welcome_message: welcome,
            tech_touch_programme: programme,
            outreach_holdout: holdout,
            outreach_eligible: 0,
            outreach_treated: 0,
            outreach_effect: mech.outreach_effect,
            outreach_first_day: None,
            p_churn_after_first_outreach: None,
            p_churn_after_first_outreach_other_arm: None,
            signup_day,
            activation_day: None,
            first_value_day: None,
            habit_first_week: false,
            champion_left_day: None,
            release_regressions: 0,
            final_health: 0.0,
            churned: false,
        },
        health: 0.5 * fit + 0.3 * onboarding - 0.3,
        base_penalty: 0.0,
        users: Vec::new(),
        target_users,
        sponsor,
        activated: false,
        habit_counted_days: 0,
        reports: 0,
        core_days: [0; 60],
        urgent_days: Vec::new(),
        last_outreach: None,
        contracts: vec![contract],
        changes: Vec::new(),
        events: 0,
        feature_last_used: [None; 5],
        arr_at_cutoff: None,
        pending_identity: Vec::new(),
        counters: SimSummary::default(),
        other_arm: None,
    };
    (life, record)
}

fn company_name(rng: &mut Pcg64Mcg) -> &'static str {
    const NAMES: &[&str] = &[
        "Northwind",
        "Contoso",
        "Globex",
        "Initech",
        "Umbrella",
        "Hooli",
        "Stark",
        "Wayne",
        "Acme",
        "Soylent",
        "Tyrell",
        "Cyberdyne",
        "Vandelay",
        "Wonka",
        "Gringotts",
        "Monarch",
    ];
    NAMES[rng.gen_range(0..NAMES.len())]
}

/// The feature area (index into FEATURES) an event belongs to, as in the default model.
fn feature_of(event: &str) -> Option<usize> {
    match event {
        "report_created" | "report_shared" | "export_downloaded" => Some(0),
        "dashboard_viewed" => Some(1),
        "integration_connected" => Some(2),
        "automation_created" => Some(3),
        "comment_added" => Some(4),
        _ => None,
    }
}

const CORE_EVENTS: &[(&str, f64)] = &[
    ("report_created", 0.45),
    ("report_shared", 0.2),
    ("comment_added", 0.25),
    ("automation_created", 0.07),
    ("integration_connected", 0.03),
];
const OTHER_EVENTS: &[(&str, f64)] = &[
    ("dashboard_viewed", 0.7),
    ("export_downloaded", 0.22),
    ("theme_changed", 0.08),
];
const THEMES: &[&str] = &["light", "dark", "high-contrast"];
const CHANNELS: &[&str] = &["email", "slack", "link"];
const INTEGRATIONS: &[&str] = &[
    "postgres",
    "salesforce",
    "hubspot",
    "bigquery",
    "snowflake",
    "stripe",
];
const FORMATS: &[&str] = &["csv", "xlsx", "pdf"];
const ROLES: &[&str] = &["analyst", "manager", "viewer", "engineer"];

impl Life<'_, '_> {
    fn run<S: Sink>(&mut self, sink: &mut S, buffer: &mut Vec<u8>) -> Result<(), S::Error> {
        let days = self.company.days;
        let signup = self.truth.signup_day;
        // When the account activates (connects its data), if ever.
        let p_never =
            sigmoid(-1.4 - 0.8 * self.truth.product_fit - 0.3 * self.truth.onboarding_quality);
        let lift = if self.truth.welcome_message {
            self.mech.welcome_message_activation_lift
        } else {
            1.0
        };
        let p_never = (1.0 - (1.0 - p_never) * lift).max(0.0);
        let activation_at = if self.rng.gen_bool(p_never.clamp(0.0, 1.0)) {
            None
        } else {
            let mean = 8.0 * (-0.4 * self.truth.onboarding_quality).exp() / lift;
            let t = Exp::new(1.0 / mean.max(0.1))
                .map(|e| e.sample(&mut self.rng))
                .unwrap_or(mean);
            Some(signup + t.round() as u32)
        };
        self.add_user(signup, "admin");
        // The other first users join over the first weeks.
        let first_users = (self.target_users.round() as u32).saturating_sub(1);
        let mut joins: Vec<u32> = (0..first_users)
            .map(|_| {
                let t: f64 = Exp::new(1.0 / 7.0)
                    .map(|e| e.sample(&mut self.rng))
                    .unwrap_or(7.0);
                signup + 1 + t.round() as u32
            })
            .collect();
        joins.sort_unstable();
        let mut next_join = 0;
        if self.truth.welcome_message {
            let ms = self.rng.gen_range(3_600_000..23 * 3_600_000);
            self.activity(
                sink,
                signup,
                ms,
                ActivityKind::Email,
                Some("welcome message"),
                None,
            )?;
        }
        let mut churned_at: Option<u32> = None;
        let cutoff = days.saturating_sub(365);
        for day in signup..days {
            if day == cutoff {
                self.arr_at_cutoff = self
                    .contracts
                    .last()
                    .filter(|c| c.status == SubscriptionStatus::Active)
                    .map(Contract::arr);
            }
            if let Some(c) = churned_at {
                // A churned account may come back.
                let since = day - c;
                if since > 0 && since % 30 == 0 && since <= 365 && self.rng.gen_bool(0.015) {
                    self.reactivate(day);
                    churned_at = None;
                } else {
                    continue;
                }
            }
            self.outreach(sink, day)?;
            let age = day - signup;
            if age.is_multiple_of(7) {
                self.weekly(day);
            }
            while next_join < joins.len() && joins[next_join] <= day {
                let role = ROLES[self.rng.gen_range(0..ROLES.len())];
                self.add_user(day, role);
                next_join += 1;
            }
            if !self.activated && activation_at.is_some_and(|a| a <= day) {
                self.activated = true;
                self.truth.activation_day = Some(day);
                let admin = self.users[0].id.clone();
                let integration = INTEGRATIONS[self.rng.gen_range(0..INTEGRATIONS.len())];
                let ms = self.rng.gen_range(9 * 3_600_000..17 * 3_600_000);
                self.track(
                    buffer,
                    &At {
                        user: &admin,
                        skew_ms: 0,
                        day,
                        ms,
                    },
                    "integration_connected",
                    &[("integration", Prop::Str(integration))],
                );
                self.core_days[(day % 60) as usize] += 1;
            }
            self.daily_activity(buffer, day);
            self.release_effect(day);
            self.tickets(sink, day)?;
            self.touches(sink, day)?;
            if age > 0 && age % 90 == 30 {
                self.nps(sink, day)?;
            }
            if let Some(a) = self.truth.activation_day {
                if day == a + 10 && self.rng.gen_bool(0.5) {
                    self.survey(sink, day, "ces")?;
                }
            }
            if age > 0 && age.is_multiple_of(30) {
                self.monthly(day);
            }
            if self.renewal_due(day) && !self.renew(sink, day)? {
                churned_at = Some(day);
            }
            if buffer.len() > 1 << 20 {
                sink.events(buffer)?;
                buffer.clear();
            }
        }
        if !buffer.is_empty() {
            sink.events(buffer)?;
            buffer.clear();
        }
        self.finish(sink)
    }

    fn add_user(&mut self, day: u32, role: &'static str) {
        let n = self.users.len();
        let skew_ms = if self.rng.gen_bool(0.05) {
            self.rng.gen_range(-600_000..600_000)
        } else {
            0
        };
        self.users.push(User {
            id: format!("{}-u{n:03}", self.id),
            z: normal(&mut self.rng) * 0.6,
            joined: day,
            left: None,
            skew_ms,
            role,
            last_active: None,
        });
        let mut out = Vec::new();
        let user = &self.users[n];
        let ms = self.rng.gen_range(8 * 3_600_000..18 * 3_600_000);
        let when = When {
            day,
            device_ms: ms + user.skew_ms,
            upload_delay_ms: self.rng.gen_range(5..2000),
        };
        let email = format!("{}@{}", user.id, self.domain);
        let name = format!("User {n}");
        segment::identify(
            &mut out,
            &self.company.clock,
            self.rng.gen(),
            &user.id,
            &self.id,
            &[
                ("email", Prop::Str(&email)),
                ("name", Prop::Str(&name)),
                ("role", Prop::Str(role)),
            ],
            &when,
        );
        let when = When {
            day,
            device_ms: ms + user.skew_ms + 50,
            upload_delay_ms: when.upload_delay_ms,
        };
        segment::group(
            &mut out,
            &self.company.clock,
            self.rng.gen(),
            &user.id,
            &self.id,
            &[("name", Prop::Str(&self.id))],
            &when,
        );
        self.pending_identity.extend_from_slice(&out);
        self.events += 2;
    }

    fn track(
        &mut self,
        buffer: &mut Vec<u8>,
        at: &At<'_>,
        event: &str,
        props: &[(&str, Prop<'_>)],
    ) {
        let when = When {
            day: at.day,
            device_ms: at.ms + at.skew_ms,
            upload_delay_ms: self.rng.gen_range(5..3000),
        };
        segment::track(
            buffer,
            &self.company.clock,
            self.rng.gen(),
            at.user,
            &self.id,
            event,
            props,
            &when,
        );
        self.events += 1;
        if let Some(f) = feature_of(event) {
            self.feature_last_used[f] = Some(at.day);
        }
    }

    fn active_users_30d(&self, day: u32) -> u32 {
        self.users
            .iter()
            .filter(|u| u.left.is_none() && u.last_active.is_some_and(|a| a + 30 > day))
            .count() as u32
    }

    fn current_users(&self) -> u32 {
        self.users.iter().filter(|u| u.left.is_none()).count() as u32
    }

    fn weekly(&mut self, day: u32) {
        let habit = if self.truth.habit_first_week {
            1.0
        } else {
            0.0
        };
        let base = 0.6 * self.truth.product_fit
            + 0.25 * self.truth.onboarding_quality
            + if self.activated { 0.35 } else { -0.2 }
            + 0.3 * habit
            + self.base_penalty;
        let outage = (day..day + 7).any(|d| {
            self.company
                .outage_days
                .get(d as usize)
                .copied()
                .unwrap_or(false)
        });
        self.health += 0.2 * (base - self.health) + 0.3 * normal(&mut self.rng)
            - if outage { 0.3 } else { 0.0 };
        // Healthy accounts invite colleagues; unhealthy ones lose users.
        let seats = self.contracts.last().map_or(1, |c| c.seats);
        if self.current_users() < (f64::from(seats) * 1.15).ceil() as u32
            && self.rng.gen_bool(0.12 * sigmoid(2.0 * self.health))
        {
            let inviter = self.users[0].id.clone();
            let role = ROLES[self.rng.gen_range(0..ROLES.len())];
            let ms = self.rng.gen_range(9 * 3_600_000..17 * 3_600_000);
            let mut buf = std::mem::take(&mut self.pending_identity);
            self.track(
                &mut buf,
                &At {
                    user: &inviter,
                    skew_ms: 0,
                    day,
                    ms,
                },
                "user_invited",
                &[("role", Prop::Str(role))],
            );
            self.pending_identity = buf;
            self.add_user(day, role);
        }
        if self.current_users() > 1 && self.rng.gen_bool(0.012 * sigmoid(-2.0 * self.health) * 2.0)
        {
            let i = self.rng.gen_range(1..self.users.len());
            if self.users[i].left.is_none() {
                self.users[i].left = Some(day);
            }
        }
    }

    fn daily_activity(&mut self, buffer: &mut Vec<u8>, day: u32) {
        buffer.extend_from_slice(&self.pending_identity);
        self.pending_identity.clear();
        let date = self.company.date(day);
        let weekday = date.weekday().num_days_from_monday() < 5;
        let season = if date.month() == 12 { -0.3 } else { 0.0 };
        let day_term = -2.8 + if weekday { 0.5 } else { -2.0 } + season;
        self.core_days[(day % 60) as usize] = 0;
        let first_week = self
            .truth
            .activation_day
            .is_some_and(|a| day >= a && day < a + 7);
        let mut any_active = false;
        for u in 0..self.users.len() {
            let user = &self.users[u];
            if user.joined > day || user.left.is_some() {
                continue;
            }
            let p = sigmoid(day_term + 1.0 * self.health + user.z);
            if !self.rng.gen_bool(p) {
                continue;
            }
            any_active = true;
            self.users[u].last_active = Some(day);
            let uid = self.users[u].id.clone();
            let skew = self.users[u].skew_ms;
            let mut ms = self.rng.gen_range(8 * 3_600_000..19 * 3_600_000);
            let at = At {
                user: &uid,
                skew_ms: skew,
                day,
                ms,
            };
            self.track(buffer, &at, "session_started", &[]);
            let dash = self.rng.gen_range(1..40u64);
            let path = format!("/dashboards/{dash}");
            let when = When {
                day,
                device_ms: ms + skew + 800,
                upload_delay_ms: self.rng.gen_range(5..3000),
            };
            segment::page(
                buffer,
                &self.company.clock,
                self.rng.gen(),
                &uid,
                &self.id,
                "Dashboard",
                &path,
                &when,
            );
            self.events += 1;
            let actions = 1 + poisson(&mut self.rng, (0.9 + 0.6 * self.health).max(0.2));
            for _ in 0..actions {
                ms += self.rng.gen_range(20_000..600_000);
                let at = At {
                    user: &uid,
                    skew_ms: skew,
                    day,
                    ms,
                };
                let core_p = if self.activated {
                    self.truth.core_affinity * (0.4 + 0.6 * sigmoid(self.health))
                } else {
                    0.0
                };
                if self.rng.gen_bool(core_p.clamp(0.0, 1.0)) {
                    let (event, _) = *pick(&mut self.rng, CORE_EVENTS, |e| e.1);
                    self.core_action(buffer, &at, event);
                } else {
                    let (event, _) = *pick(&mut self.rng, OTHER_EVENTS, |e| e.1);
                    match event {
                        "dashboard_viewed" => {
                            let d = self.rng.gen_range(1..40u64);
                            self.track(buffer, &at, event, &[("dashboard_id", Prop::Id("d-", d))]);
                        }
                        "export_downloaded" => {
                            let f = FORMATS[self.rng.gen_range(0..FORMATS.len())];
                            let rows = self.rng.gen_range(10..50_000i64);
                            self.track(
                                buffer,
                                &at,
                                event,
                                &[("format", Prop::Str(f)), ("rows", Prop::Int(rows))],
                            );
                        }
                        _ => {
                            let t = THEMES[self.rng.gen_range(0..THEMES.len())];
                            self.track(buffer, &at, event, &[("theme", Prop::Str(t))]);
                        }
                    }
                }
            }
        }
        if first_week && any_active {
            self.habit_counted_days += 1;
            if self.habit_counted_days >= 4 {
                self.truth.habit_first_week = true;
            }
        }
    }

    fn core_action(&mut self, buffer: &mut Vec<u8>, at: &At<'_>, event: &str) {
        let day = at.day;
        self.core_days[(day % 60) as usize] += 1;
        match event {
            "report_created" => {
                self.reports += 1;
                let widgets = 1 + i64::from(poisson(&mut self.rng, (2.5 + self.health).max(0.3)));
                let r = self.reports;
                self.track(
                    buffer,
                    at,
                    event,
                    &[
                        ("report_id", Prop::Id("rep-", r)),
                        ("widgets", Prop::Int(widgets)),
                    ],
                );
            }
            "report_shared" | "comment_added" => {
                let r = self.rng.gen_range(0..=self.reports);
                if event == "report_shared" {
                    if self.truth.first_value_day.is_none() {
                        self.truth.first_value_day = Some(day);
                    }
                    let recipients = 1 + i64::from(poisson(&mut self.rng, 2.0));
                    let c = CHANNELS[self.rng.gen_range(0..CHANNELS.len())];
                    self.track(
                        buffer,
                        at,
                        event,
                        &[
                            ("report_id", Prop::Id("rep-", r)),
                            ("recipients", Prop::Int(recipients)),
                            ("channel", Prop::Str(c)),
                        ],
                    );
                } else {
                    self.track(buffer, at, event, &[("report_id", Prop::Id("rep-", r))]);
                }
            }
            "automation_created" => {
                let a = self.rng.gen_range(1..1000u64);
                let s = if self.rng.gen_bool(0.5) {
                    "daily"
                } else {
                    "weekly"
                };
                self.track(
                    buffer,
                    at,
                    event,
                    &[
                        ("automation_id", Prop::Id("auto-", a)),
                        ("schedule", Prop::Str(s)),
                    ],
                );
            }
            _ => {
                let i = INTEGRATIONS[self.rng.gen_range(0..INTEGRATIONS.len())];
                self.track(buffer, at, event, &[("integration", Prop::Str(i))]);
            }
        }
    }

    /// A release that changes a feature area the account used in the last 30 days improves it
    /// (three times in four: health +0.15) or breaks its workflow (health −0.3).
    fn release_effect(&mut self, day: u32) {
        let Some(features) = self.company.release_features.get(day as usize) else {
            return;
        };
        for &f in features {
            if self.feature_last_used[f].is_some_and(|d| d + 30 > day) {
                if self.rng.gen_bool(0.75) {
                    self.health += 0.15;
                } else {
                    self.health -= 0.3;
                    self.truth.release_regressions += 1;
                }
            }
        }
    }

    /// Core actions in the `n` days before `day` (at most 59).
    fn core_actions(&self, day: u32, n: u32) -> u32 {
        (1..=n.min(59))
            .filter(|k| *k <= day)
            .map(|k| self.core_days[((day - k) % 60) as usize])
            .sum()
    }

    /// The outreach playbook at the start of `day`, on what happened by the end of the day
    /// before, as Tenure evaluates it: core actions of the last 30 days (the 29 before today
    /// and today's, none yet) against the 30 before, down by `OUTREACH_DROP` or more.
    fn outreach<S: Sink>(&mut self, sink: &mut S, day: u32) -> Result<(), S::Error> {
        if self.tier == Tier::Tech
            || day < self.truth.signup_day + 60
            || self
                .last_outreach
                .is_some_and(|l| l + OUTREACH_COOLDOWN_DAYS > day)
        {
            return Ok(());
        }
        let current = f64::from(self.core_actions(day, 29));
        let prior = f64::from(self.core_actions(day, 59)) - current;
        if prior <= 0.0 || (current - prior) / prior > -OUTREACH_DROP {
            return Ok(());
        }
        self.truth.outreach_eligible += 1;
        self.truth.outreach_first_day.get_or_insert(day);
        self.last_outreach = Some(day);
        if !self.truth.outreach_holdout {
            self.truth.outreach_treated += 1;
            self.health += self.mech.outreach_effect;
            let ms = self.rng.gen_range(9 * 3_600_000..17 * 3_600_000);
            self.activity(
                sink,
                day,
                ms,
                ActivityKind::Call,
                Some("proactive outreach"),
                Some(true),
            )?;
        }
        Ok(())
    }

    fn recent_outreach(&self, day: u32) -> bool {
        !self.truth.outreach_holdout
            && self
                .last_outreach
                .is_some_and(|l| l + 90 > day && self.truth.outreach_treated > 0)
    }

    fn tickets<S: Sink>(&mut self, sink: &mut S, day: u32) -> Result<(), S::Error> {
        let outage = self
            .company
            .outage_days
            .get(day as usize)
            .copied()
            .unwrap_or(false);
        let users = f64::from(self.current_users());
        let rate =
            0.25 * users.sqrt() * (-0.6 * self.health).exp() * if outage { 4.0 } else { 1.0 }
                / 30.0;
        if !self.rng.gen_bool(rate.clamp(0.0, 1.0)) {
            return Ok(());
        }
        self.counters.tickets += 1;
        let n = self.counters.tickets;
        let u = self.rng.gen::<f64>();
        let urgent =
            0.04 + if self.health < -1.0 { 0.06 } else { 0.0 } + if outage { 0.2 } else { 0.0 };
        let (priority, median_hours) = if u < urgent {
            (TicketPriority::Urgent, 4.0)
        } else if u < urgent + 0.15 {
            (TicketPriority::High, 12.0)
        } else if u < urgent + 0.75 {
            (TicketPriority::Normal, 36.0)
        } else {
            (TicketPriority::Low, 72.0)
        };
        if matches!(priority, TicketPriority::Urgent | TicketPriority::High) {
            self.urgent_days.push(day);
        }
        let opened_ms = self.rng.gen_range(7 * 3_600_000..20 * 3_600_000);
        let hours = lognormal(&mut self.rng, median_hours, 0.8);
        let resolved_ms = opened_ms + (hours * 3_600_000.0) as i64;
        let end_ms = i64::from(self.company.days - day) * 86_400_000;
        let resolved = resolved_ms < end_ms;
        let csat = if resolved && self.rng.gen_bool(0.45) {
            let mut mean = 4.0 + 0.35 * self.health - 0.15 * (1.0 + hours / 24.0).ln();
            if self.recent_outreach(day) {
                mean *= self.mech.outreach_satisfaction_lift;
            }
            Some((mean + 0.7 * normal(&mut self.rng)).round().clamp(1.0, 5.0) as u8)
        } else {
            None
        };
        const CATEGORIES: &[&str] = &["billing", "bug", "how-to", "integration", "performance"];
        let category = if outage {
            "performance"
        } else {
            CATEGORIES[self.rng.gen_range(0..CATEGORIES.len())]
        };
        let contact = self.users[self.rng.gen_range(0..self.users.len())]
            .id
            .clone();
        sink.record(&Record::Ticket(Ticket {
            id: TicketId::parse(format!("{}-t{n}", self.id)).expect("generated ids are valid"),
            account: self.account.clone(),
            contact: Some(ContactId::parse(contact).expect("generated ids are valid")),
            subject: Some(format!("{category} question")),
            opened_at: self.company.instant(day, opened_ms),
            resolved_at: resolved.then(|| self.company.instant(day, resolved_ms)),
            priority,
            status: if resolved {
                TicketStatus::Solved
            } else {
                TicketStatus::Open
            },
            csat,
            category: Some(category.to_owned()),
        }))
    }

    fn nps<S: Sink>(&mut self, sink: &mut S, day: u32) -> Result<(), S::Error> {
        if self.rng.gen_bool(0.35) {
            self.survey(sink, day, "nps")?;
        }
        Ok(())
    }

    fn survey<S: Sink>(&mut self, sink: &mut S, day: u32, survey: &str) -> Result<(), S::Error> {
        let score = match survey {
            "nps" => {
                let mut mean = 7.4 + 1.3 * self.health;
                if self.recent_outreach(day) {
                    mean *= self.mech.outreach_satisfaction_lift;
                }
                (mean + 1.5 * normal(&mut self.rng))
                    .round()
                    .clamp(0.0, 10.0) as i64
            }
            _ => (4.0
                + 0.7 * self.truth.onboarding_quality
                + 0.5 * self.health
                + normal(&mut self.rng))
            .round()
            .clamp(1.0, 7.0) as i64,
        };
        if survey == "nps" {
            let r = &mut self.counters.realised;
            r.nps_answers += 1;
            r.nps_promoters += u64::from(score >= 9);
            r.nps_detractors += u64::from(score <= 6);
        }
        let comment = if survey == "nps" && self.rng.gen_bool(0.5) {
            const DETRACTOR: &[&str] = &[
                "Dashboards are slow to load",
                "Missing the integrations we need",
                "Too expensive for what we use",
                "Support takes days to answer",
                "Hard to learn for new colleagues",
            ];
            const PROMOTER: &[&str] = &[
                "Saves my team hours every week",
                "Sharing reports is effortless",
                "Great support team",
                "Reliable and fast",
                "The automations run our Monday meeting",
            ];
            let list = if score >= 7 { PROMOTER } else { DETRACTOR };
            Some(list[self.rng.gen_range(0..list.len())].to_owned())
        } else {
            None
        };
        self.counters.surveys += 1;
        let n = self.counters.surveys;
        let contact = self.users[self.rng.gen_range(0..self.users.len())]
            .id
            .clone();
        let ms = self.rng.gen_range(8 * 3_600_000..20 * 3_600_000);
        sink.record(&Record::SurveyResponse(SurveyResponse {
            id: SurveyResponseId::parse(format!("{}-{survey}-{n}", self.id))
                .expect("generated ids are valid"),
            account: self.account.clone(),
            contact: Some(ContactId::parse(contact).expect("generated ids are valid")),
            responded_at: self.company.instant(day, ms),
            score: SurveyScore::new(survey, score).expect("scores are clamped to their scale"),
            comment,
        }))
    }

    fn activity<S: Sink>(
        &mut self,
        sink: &mut S,
        day: u32,
        ms: i64,
        kind: ActivityKind,
        notes: Option<&str>,
        attended: Option<bool>,
    ) -> Result<(), S::Error> {
        self.counters.activities += 1;
        let n = self.counters.activities;
        let responded_at = if kind == ActivityKind::Email
            && self
                .rng
                .gen_bool(sigmoid(1.0 + self.health).clamp(0.0, 1.0))
        {
            let hours = lognormal(&mut self.rng, 8.0 * (-0.5 * self.health).exp(), 0.7);
            Some(self.company.instant(day, ms + (hours * 3_600_000.0) as i64))
        } else {
            None
        };
        let csm = match self.tier {
            Tier::Tech => "digital-cs@tenure.example".to_owned(),
            _ => format!("{}-csm@tenure.example", self.tier.name()),
        };
        sink.record(&Record::Activity(CsmActivity {
            id: ActivityId::parse(format!("{}-a{n}", self.id)).expect("generated ids are valid"),
            account: self.account.clone(),
            kind,
            occurred_at: self.company.instant(day, ms),
            csm: Some(UserId::parse(csm).expect("generated ids are valid")),
            contact: Some(
                ContactId::parse(self.users[0].id.clone()).expect("generated ids are valid"),
            ),
            responded_at,
            attended,
            notes: notes.map(str::to_owned),
        }))
    }

    /// The success team's scheduled touches, by tier.
    fn touches<S: Sink>(&mut self, sink: &mut S, day: u32) -> Result<(), S::Error> {
        let age = day - self.truth.signup_day;
        if age == 0 {
            return Ok(());
        }
        let ms = self.rng.gen_range(9 * 3_600_000..17 * 3_600_000);
        let attended =
            |rng: &mut Pcg64Mcg, h: f64| Some(rng.gen_bool(sigmoid(1.5 + h).clamp(0.0, 1.0)));
        match self.tier {
            Tier::High => {
                if age.is_multiple_of(30) {
                    let a = attended(&mut self.rng, self.health);
                    self.activity(sink, day, ms, ActivityKind::Meeting, None, a)?;
                }
                if age % 90 == 45 {
                    let a = attended(&mut self.rng, self.health);
                    self.activity(sink, day, ms, ActivityKind::Ebr, Some("business review"), a)?;
                    if self.sponsor {
                        let a = attended(&mut self.rng, self.health);
                        self.activity(
                            sink,
                            day,
                            ms + 3_600_000,
                            ActivityKind::ExecutiveSponsorMeeting,
                            None,
                            a,
                        )?;
                    }
                }
                if age % 7 == 3 {
                    self.activity(sink, day, ms, ActivityKind::Email, None, None)?;
                }
            }
            Tier::Mid => {
                if age % 90 == 20 {
                    let a = attended(&mut self.rng, self.health);
                    self.activity(sink, day, ms, ActivityKind::Meeting, None, a)?;
                }
                if age % 14 == 5 {
                    self.activity(sink, day, ms, ActivityKind::Email, None, None)?;
                }
            }
            Tier::Tech => {
                if age % 30 == 10 {
                    self.activity(
                        sink,
                        day,
                        ms,
                        ActivityKind::Email,
                        Some("automated programme email"),
                        None,
                    )?;
                }
                if self.truth.tech_touch_programme && age == 7 {
                    self.activity(
                        sink,
                        day,
                        ms,
                        ActivityKind::Training,
                        Some("onboarding webinar"),
                        Some(true),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Monthly: a champion may leave; utilisation near the cap adds seats mid-term.
    fn monthly(&mut self, day: u32) {
        if self.truth.champion_left_day.is_none() && self.rng.gen_bool(0.02) {
            self.truth.champion_left_day = Some(day);
            self.health -= 1.2;
            self.base_penalty -= 0.4;
        }
        let active = self.active_users_30d(day);
        let Some(contract) = self.contracts.last() else {
            return;
        };
        if contract.status != SubscriptionStatus::Active {
            return;
        }
        let utilisation = f64::from(active) / f64::from(contract.seats.max(1));
        if utilisation > 0.8 && self.rng.gen_bool(0.45) {
            let add = ((f64::from(contract.seats) * 0.2).ceil() as u32).max(1);
            self.change_seats(
                day,
                i64::from(add),
                ChangeKind::Expansion,
                "seats nearly all in use",
            );
        }
    }

    fn change_seats(&mut self, day: u32, delta: i64, kind: ChangeKind, reason: &str) {
        let Some(contract) = self.contracts.last_mut() else {
            return;
        };
        contract.seats = (i64::from(contract.seats) + delta).max(1) as u32;
        let arr_delta = delta * contract.seat_price * 12;
        let id = contract.id.clone();
        self.record_change(id, kind, day, arr_delta, delta, reason);
    }

    /// Records a change of ARR (in cents) and seats on `subscription`, and counts it.
    fn record_change(
        &mut self,
        subscription: SubscriptionId,
        kind: ChangeKind,
        day: u32,
        arr_delta: i64,
        seats_delta: i64,
        reason: &str,
    ) {
        match kind {
            ChangeKind::Expansion => self.counters.expansions += 1,
            ChangeKind::Contraction => self.counters.contractions += 1,
            ChangeKind::Churn => self.counters.churns += 1,
            ChangeKind::Reactivation => self.counters.reactivations += 1,
            ChangeKind::New => {}
        }
        let n = self.changes.len() + 1;
        self.changes.push(SubscriptionChange {
            id: SubscriptionChangeId::parse(format!("{}-chg-{n}", self.id))
                .expect("generated ids are valid"),
            subscription,
            account: self.account.clone(),
            kind,
            effective: self.company.date(day),
            arr_delta: Money::new(arr_delta, Currency::USD),
            seats_delta: seats_delta as i32,
            reason: Some(reason.to_owned()),
        });
    }

    fn term_end(&self, c: &Contract) -> NaiveDate {
        let start = self.company.date(c.term_start);
        start
            .checked_add_months(chrono::Months::new(c.term_months))
            .unwrap_or(start)
    }

    fn renewal_due(&self, day: u32) -> bool {
        self.contracts.last().is_some_and(|c| {
            c.status == SubscriptionStatus::Active && self.term_end(c) == self.company.date(day)
        })
    }

    /// The renewal decision; returns whether the account renewed.
    fn renew<S: Sink>(&mut self, sink: &mut S, day: u32) -> Result<bool, S::Error> {
        let mech = self.mech;
        let users = f64::from(self.current_users().max(1));
        // Today's actions and the 29 days before.
        let core_30d = self.core_actions(day + 1, 30);
        let core_norm = ((1.0 + f64::from(core_30d)).ln() / (1.0 + 6.0 * users).ln()).min(1.0);
        let urgent = self
            .urgent_days
            .iter()
            .filter(|d| **d + 90 > day)
            .count()
            .min(3) as f64;
        let late_activation = self
            .truth
            .activation_day
            .is_none_or(|a| a > self.truth.signup_day + 14);
        let ttfv_term = match self.truth.first_value_day {
            Some(f) => (f64::from((f - self.truth.signup_day).max(1)) / 14.0)
                .log2()
                .clamp(-2.0, 2.0),
            None => 2.0,
        };
        let contract = self.contracts.last().expect("an active contract is due");
        let monthly = contract.interval == BillingInterval::Month;
        let logit = mech.base_churn_log_odds - 1.0 * self.health - 0.9 * core_norm
            + if self.truth.habit_first_week {
                mech.habit_churn_log_odds
            } else {
                0.0
            }
            + if late_activation {
                mech.late_activation_churn_log_odds
            } else {
                0.0
            }
            + mech.ttfv_churn_log_odds * ttfv_term
            + 0.3 * urgent
            - if self.sponsor { 0.5 } else { 0.0 }
            + if monthly { 0.3 } else { 0.0 };
        let p_annual = sigmoid(logit);
        let mut p = 1.0 - (1.0 - p_annual).powf(f64::from(contract.term_months) / 12.0);
        if self.truth.tech_touch_programme && day < self.truth.signup_day + 365 {
            p *= mech.tech_touch_programme_churn;
        }
        if let Some(first) = self.truth.outreach_first_day {
            if day >= first && day <= first + 365 {
                self.truth.p_churn_after_first_outreach.get_or_insert(p);
            }
        }
        let churned = self.rng.gen_bool(p.clamp(0.0, 1.0));
        self.counters.renewal_decisions += 1;
        sink.renewal(&TruthRenewal {
            account_id: self.id.clone(),
            renewal_date: self.company.date(day),
            p_churn: p,
            churned,
        })?;
        if churned {
            let arr = contract.arr();
            let id = contract.id.clone();
            if let Some(c) = self.contracts.last_mut() {
                c.status = SubscriptionStatus::Cancelled;
                c.end_day = Some(day);
            }
            let seats = i64::from(contract_seats(&self.contracts));
            self.record_change(id, ChangeKind::Churn, day, -arr, -seats, "did not renew");
            for u in &mut self.users {
                u.left.get_or_insert(day);
            }
            return Ok(false);
        }
        let active = self.active_users_30d(day);
        let seats = contract.seats;
        if f64::from(active) / f64::from(seats.max(1)) < 0.45 && self.rng.gen_bool(0.4) {
            let new_seats = ((f64::from(active) * 1.2).ceil() as u32).max(1);
            if new_seats < seats {
                self.change_seats(
                    day,
                    i64::from(new_seats) - i64::from(seats),
                    ChangeKind::Contraction,
                    "unused seats removed at renewal",
                );
            }
        }
        if let Some(c) = self.contracts.last_mut() {
            c.term_start = day;
        }
        Ok(true)
    }

    fn reactivate(&mut self, day: u32) {
        let (plan, seat_price, interval, seats) = {
            let old = self.contracts.last().expect("a churned contract");
            (
                old.plan,
                old.seat_price,
                old.interval,
                ((f64::from(old.seats) * 0.7).ceil() as u32).max(1),
            )
        };
        let n = self.contracts.len() + 1;
        let contract = Contract {
            id: SubscriptionId::parse(format!("{}-sub-{n}", self.id))
                .expect("generated ids are valid"),
            start: day,
            term_start: day,
            term_months: if interval == BillingInterval::Month {
                1
            } else {
                12
            },
            interval,
            seats,
            seat_price,
            plan,
            status: SubscriptionStatus::Active,
            end_day: None,
        };
        let arr = contract.arr();
        let id = contract.id.clone();
        self.contracts.push(contract);
        self.record_change(
            id,
            ChangeKind::Reactivation,
            day,
            arr,
            i64::from(seats),
            "came back",
        );
        self.health = 0.3 * self.truth.product_fit;
        for u in self.users.iter_mut().take(seats as usize) {
            u.left = None;
        }
    }

    fn finish<S: Sink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        // The first change of every account is its new business.
        let first = &self.contracts[0];
        let new_business = SubscriptionChange {
            id: SubscriptionChangeId::parse(format!("{}-chg-0", self.id))
                .expect("generated ids are valid"),
            subscription: first.id.clone(),
            account: self.account.clone(),
            kind: ChangeKind::New,
            effective: self.company.date(first.start),
            arr_delta: Money::new(initial_arr(first, &self.changes), Currency::USD),
            seats_delta: initial_seats(first, &self.changes) as i32,
            reason: None,
        };
        sink.record(&Record::SubscriptionChange(new_business))?;
        for change in &self.changes {
            sink.record(&Record::SubscriptionChange(change.clone()))?;
        }
        for c in &self.contracts {
            let end = match c.end_day {
                Some(d) => self.company.date(d),
                None => self.term_end(c),
            };
            let monthly = c.interval == BillingInterval::Month;
            let amount = i64::from(c.seats) * c.seat_price * if monthly { 1 } else { 12 };
            sink.record(&Record::Subscription(Subscription {
                id: c.id.clone(),
                account: self.account.clone(),
                plan: c.plan.to_owned(),
                seats: c.seats,
                amount: Money::new(amount, Currency::USD),
                interval: c.interval,
                start: self.company.date(c.start),
                end: Some(end),
                term_months: c.term_months,
                status: c.status,
                auto_renew: true,
            }))?;
        }
        for (i, u) in self.users.iter().enumerate() {
            sink.record(&Record::Contact(Contact {
                id: ContactId::parse(u.id.clone()).expect("generated ids are valid"),
                account: self.account.clone(),
                email: Some(format!("{}@{}", u.id, self.domain)),
                name: Some(format!("User {i}")),
                title: Some(u.role.to_owned()),
                is_admin: i == 0,
                created_at: Some(self.company.instant(u.joined, 9 * 3_600_000)),
            }))?;
        }
        self.truth.final_health = self.health;
        self.truth.p_churn_after_first_outreach_other_arm = self.other_arm;
        self.truth.churned = self
            .contracts
            .last()
            .is_some_and(|c| c.status == SubscriptionStatus::Cancelled);
        sink.account_truth(&self.truth)
    }
}

fn contract_seats(contracts: &[Contract]) -> u32 {
    contracts.last().map_or(0, |c| c.seats)
}

/// The contract's ARR at its start: its final ARR less every later seat change on it.
fn initial_arr(c: &Contract, changes: &[SubscriptionChange]) -> i64 {
    let later: i64 = changes
        .iter()
        .filter(|ch| {
            ch.subscription == c.id
                && matches!(ch.kind, ChangeKind::Expansion | ChangeKind::Contraction)
        })
        .map(|ch| ch.arr_delta.minor)
        .sum();
    c.arr() - later
}

fn initial_seats(c: &Contract, changes: &[SubscriptionChange]) -> i64 {
    let later: i64 = changes
        .iter()
        .filter(|ch| {
            ch.subscription == c.id
                && matches!(ch.kind, ChangeKind::Expansion | ChangeKind::Contraction)
        })
        .map(|ch| i64::from(ch.seats_delta))
        .sum();
    i64::from(c.seats) - later
}
