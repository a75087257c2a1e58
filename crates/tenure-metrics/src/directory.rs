//! The accounts a report groups by: each account's index and attributes (plan, CSM,
//! industry, region, size band, sign-up cohort).

use std::collections::HashMap;

use chrono::NaiveDate;
use tenure_domain::Account;

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

    pub fn group(&self, account: u32, by: GroupBy) -> &str {
        let Some(a) = self.attrs.get(account as usize) else {
            return NONE;
        };
        let v = match by {
            GroupBy::Plan => &a.plan,
            GroupBy::Csm => &a.csm,
            GroupBy::Industry => &a.industry,
            GroupBy::Region => &a.region,
            GroupBy::SizeBand => &a.size_band,
            GroupBy::Cohort => &a.cohort,
        };
        v.as_deref().unwrap_or(NONE)
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
