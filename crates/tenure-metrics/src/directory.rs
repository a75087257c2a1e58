//! The accounts a report groups by: each account's index and attributes (plan, CSM,
//! industry, region, size band, sign-up cohort from the account records; contract length from
//! subscriptions; tier, segment and stage as the success model assigns them, set by the
//! caller).

use std::collections::HashMap;

use chrono::NaiveDate;
use tenure_domain::{Account, Subscription};

use crate::report::GroupBy;

/// The value shown for an account with no value for the grouping.
pub const NONE: &str = "(none)";

#[derive(Debug, Clone, Default)]
struct Attributes {
    plan: Option<String>,
    csm: Option<String>,
    industry: Option<String>,
    region: Option<String>,
    size_band: Option<String>,
    cohort: Option<String>,
    tier: Option<String>,
    segment: Option<String>,
    stage: Option<String>,
    term: Option<String>,
}

impl Attributes {
    fn slot(&mut self, by: GroupBy) -> &mut Option<String> {
        match by {
            GroupBy::Plan => &mut self.plan,
            GroupBy::Csm => &mut self.csm,
            GroupBy::Industry => &mut self.industry,
            GroupBy::Region => &mut self.region,
            GroupBy::SizeBand => &mut self.size_band,
            GroupBy::Cohort => &mut self.cohort,
            GroupBy::Tier => &mut self.tier,
            GroupBy::Segment => &mut self.segment,
            GroupBy::Stage => &mut self.stage,
            GroupBy::Term => &mut self.term,
        }
    }

    fn get(&self, by: GroupBy) -> Option<&str> {
        match by {
            GroupBy::Plan => &self.plan,
            GroupBy::Csm => &self.csm,
            GroupBy::Industry => &self.industry,
            GroupBy::Region => &self.region,
            GroupBy::SizeBand => &self.size_band,
            GroupBy::Cohort => &self.cohort,
            GroupBy::Tier => &self.tier,
            GroupBy::Segment => &self.segment,
            GroupBy::Stage => &self.stage,
            GroupBy::Term => &self.term,
        }
        .as_deref()
    }
}

/// A contract length's name: monthly, quarterly, annual, two-year, three-year, else
/// "N months".
pub fn term_label(months: u32) -> &'static str {
    match months {
        0 => "no term",
        1 => "monthly",
        3 => "quarterly",
        6 => "half-yearly",
        12 => "annual",
        24 => "two-year",
        36 => "three-year",
        m if m < 12 => "under a year (other)",
        _ => "over a year (other)",
    }
}

/// Accounts by index: those of the account records, then any other account id a record names.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    index: HashMap<String, u32>,
    attrs: Vec<Attributes>,
}

impl Directory {
    pub fn new(accounts: &[Account]) -> Directory {
        let mut d = Directory::default();
        for a in accounts {
            if d.index.contains_key(a.id.as_str()) {
                continue;
            }
            d.index
                .insert(a.id.as_str().to_owned(), d.attrs.len() as u32);
            d.attrs.push(Attributes {
                plan: a.plan.clone(),
                csm: a.owner.as_ref().map(|o| o.as_str().to_owned()),
                industry: a.industry.clone(),
                region: a.region.clone(),
                size_band: a.size_band.clone(),
                cohort: a.signed_up_at.map(|t| t.format("%Y-%m").to_string()),
                ..Attributes::default()
            });
        }
        d
    }

    /// The index of `account`, added (without attributes) when no account record names it.
    pub fn id(&mut self, account: &str) -> u32 {
        if let Some(i) = self.index.get(account) {
            return *i;
        }
        let i = self.attrs.len() as u32;
        self.index.insert(account.to_owned(), i);
        self.attrs.push(Attributes::default());
        i
    }

    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Gives accounts without a sign-up date the cohort of `month_of(account)`.
    pub fn fill_cohorts(&mut self, month_of: impl Fn(u32) -> Option<NaiveDate>) {
        for (i, a) in self.attrs.iter_mut().enumerate() {
            if a.cohort.is_none() {
                a.cohort = month_of(i as u32).map(|d| d.format("%Y-%m").to_string());
            }
        }
    }

    /// Sets `account`'s value for a grouping the records do not carry (tier, segment, stage)
    /// or overrides one.
    pub fn set(&mut self, account: &str, by: GroupBy, value: &str) {
        let i = self.id(account) as usize;
        *self.attrs[i].slot(by) = Some(value.to_owned());
    }

    /// Each account's contract length: the term of its subscription that started last (ties:
    /// the longer term).
    pub fn set_terms(&mut self, subscriptions: &[Subscription]) {
        let mut latest: HashMap<&str, (NaiveDate, u32)> = HashMap::new();
        for s in subscriptions {
            let e = latest
                .entry(s.account.as_str())
                .or_insert((s.start, s.term_months));
            if (s.start, s.term_months) > *e {
                *e = (s.start, s.term_months);
            }
        }
        for (account, (_, months)) in latest {
            self.set(account, GroupBy::Term, term_label(months));
        }
    }

    pub fn group(&self, account: u32, by: GroupBy) -> &str {
        let Some(a) = self.attrs.get(account as usize) else {
            return NONE;
        };
        a.get(by).unwrap_or(NONE)
    }

    /// Each account's group under `by` as an index into the sorted group names.
    pub fn group_ids(&self, by: GroupBy) -> (Vec<u32>, Vec<&str>) {
        let mut names: Vec<&str> = (0..self.attrs.len() as u32)
            .map(|a| self.group(a, by))
            .collect();
        names.sort_unstable();
        names.dedup();
        let index: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();
        let ids = (0..self.attrs.len() as u32)
            .map(|a| index[self.group(a, by)])
            .collect();
        (ids, names)
    }
}
