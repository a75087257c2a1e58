//! Revenue retention reports: records in, one row per period (and group) out.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use tenure_domain::model::Period;
use tenure_domain::{Account, Currency, SubscriptionChange};

use crate::cohort::CohortRow;
use crate::directory::Directory;
use crate::period::{spans, Span};
use crate::revenue::{Ledger, Move, Retention};

/// What a report can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Plan,
    Csm,
    Industry,
    Region,
    SizeBand,
    /// The sign-up month (else the month of the first revenue).
    Cohort,
    /// The account's tier under the success model (from its current ARR, seats and fields).
    Tier,
    /// The account's segment under the success model.
    Segment,
    /// Usage maturity: the account's lifecycle stage (onboarding, adopting, engaged,
    /// expanding, churned).
    Stage,
    /// Contract length: the term of the account's latest subscription (monthly, annual, …).
    Term,
}

impl GroupBy {
    pub const ALL: [GroupBy; 10] = [
        GroupBy::Plan,
        GroupBy::Csm,
        GroupBy::Industry,
        GroupBy::Region,
        GroupBy::SizeBand,
        GroupBy::Cohort,
        GroupBy::Tier,
        GroupBy::Segment,
        GroupBy::Stage,
        GroupBy::Term,
    ];
    pub const NAMES: [&'static str; 10] = [
        "plan",
        "csm",
        "industry",
        "region",
        "size_band",
        "cohort",
        "tier",
        "segment",
        "stage",
        "term",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<GroupBy> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
    }

    /// Whether the success model assigns the grouping (the engine knows it), rather than the
    /// records.
    pub fn from_model(self) -> bool {
        matches!(self, GroupBy::Tier | GroupBy::Segment | GroupBy::Stage)
    }
}

pub use crate::directory::NONE;

/// The days `window_days` before a release (`lo`, included) and after it (`hi`, excluded).
pub fn release_window(release: NaiveDate, window_days: u32) -> (NaiveDate, NaiveDate) {
    let days = chrono::Days::new(u64::from(window_days));
    (
        release.checked_sub_days(days).unwrap_or(NaiveDate::MIN),
        release.checked_add_days(days).unwrap_or(NaiveDate::MAX),
    )
}

/// The ledger of one reporting currency with each account's attributes.
#[derive(Debug, Clone)]
pub struct RevenueData {
    pub currency: Currency,
    ledger: Ledger,
    accounts: Directory,
    /// Changes left out because they are in another currency.
    pub other_currency: u64,
}

impl RevenueData {
    /// The accounts and their attributes, to set the groupings the records do not carry.
    pub fn directory_mut(&mut self) -> &mut Directory {
        &mut self.accounts
    }

    /// Builds the ledger from subscription changes in `currency` (default: the currency most
    /// changes are in) and the accounts' attributes.
    pub fn new(
        accounts: &[Account],
        changes: &[SubscriptionChange],
        currency: Option<Currency>,
    ) -> RevenueData {
        let currency = currency.unwrap_or_else(|| {
            let mut n: BTreeMap<Currency, u64> = BTreeMap::new();
            for c in changes {
                *n.entry(c.arr_delta.currency).or_default() += 1;
            }
            n.into_iter()
                .max_by_key(|(c, k)| (*k, std::cmp::Reverse(*c)))
                .map_or(Currency::USD, |(c, _)| c)
        });
        let mut dir = Directory::new(accounts);
        let mut moves = Vec::with_capacity(changes.len());
        let mut other_currency = 0;
        for c in changes {
            if c.arr_delta.currency != currency {
                other_currency += 1;
                continue;
            }
            moves.push(Move {
                account: dir.id(c.account.as_str()),
                effective: c.effective,
                arr_delta: c.arr_delta.minor,
            });
        }
        // Accounts without a sign-up date join the cohort of their first revenue.
        let mut first_revenue: Vec<Option<NaiveDate>> = vec![None; dir.len()];
        for m in moves.iter().filter(|m| m.arr_delta > 0) {
            let f = &mut first_revenue[m.account as usize];
            *f = Some(f.map_or(m.effective, |d| d.min(m.effective)));
        }
        dir.fill_cohorts(|a| first_revenue[a as usize]);
        RevenueData {
            currency,
            ledger: Ledger::new(&moves),
            accounts: dir,
            other_currency,
        }
    }

    /// The cohort matrix by `by` (`GroupBy::Cohort`: the sign-up month) over `months`
    /// months, as of `as_of` (see `cohort`).
    pub fn cohorts(&self, by: GroupBy, as_of: NaiveDate, months: u32) -> Vec<CohortRow> {
        let (ids, names) = self.accounts.group_ids(by);
        crate::cohort::matrix(&self.ledger, as_of, months, |a| {
            ids.get(a as usize).map(|g| names[*g as usize])
        })
    }

    /// Before and after a release on `release`: the cohort matrices of the accounts whose
    /// first revenue fell in the `window_days` days before it (`before`) and in the
    /// `window_days` days from it on (`after`).
    pub fn release_cohorts(
        &self,
        release: NaiveDate,
        window_days: u32,
        as_of: NaiveDate,
        months: u32,
    ) -> Vec<CohortRow> {
        let (lo, hi) = release_window(release, window_days);
        let ledger = &self.ledger;
        let mut rows = crate::cohort::matrix(ledger, as_of, months, |a| {
            let first = ledger.first_revenue(a)?;
            if first >= lo && first < release {
                Some("before")
            } else if first >= release && first < hi {
                Some("after")
            } else {
                None
            }
        });
        // Before first.
        rows.sort_by_key(|r| r.cohort != "before");
        rows
    }

    /// One row per period of `kind` ending in `from ..= to` (and per group, with `by`).
    pub fn retention(
        &self,
        kind: Period,
        from: NaiveDate,
        to: NaiveDate,
        by: Option<GroupBy>,
    ) -> Vec<RetentionRow> {
        // Each account's group as a number (names in order), worked out once for all periods.
        let (ids, names) = match by {
            Some(by) => self.accounts.group_ids(by),
            None => (Vec::new(), Vec::new()),
        };
        let mut rows = Vec::new();
        for span in spans(kind, from, to) {
            match by {
                None => rows.push(RetentionRow::new(
                    &span,
                    None,
                    self.ledger.retention(span.from, span.to, |_| true),
                )),
                Some(_) => {
                    let groups = self
                        .ledger
                        .retention_by(span.from, span.to, |a| ids.get(a as usize).copied());
                    for (g, r) in groups {
                        rows.push(RetentionRow::new(
                            &span,
                            Some(names[g as usize].to_owned()),
                            r,
                        ));
                    }
                }
            }
        }
        rows
    }
}

/// A period's retention figures (amounts in minor units; ratios 0–1, `null` without start
/// customers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionRow {
    pub period: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub nrr: Option<f64>,
    pub grr: Option<f64>,
    pub logo_churn: Option<f64>,
    pub revenue_churn: Option<f64>,
    pub expansion_rate: Option<f64>,
    pub contraction_rate: Option<f64>,
    #[serde(flatten)]
    pub amounts: Retention,
}

impl RetentionRow {
    fn new(span: &Span, group: Option<String>, r: Retention) -> RetentionRow {
        RetentionRow {
            period: span.label.clone(),
            from: span.from,
            to: span.to,
            group,
            nrr: r.nrr(),
            grr: r.grr(),
            logo_churn: r.logo_churn(),
            revenue_churn: r.revenue_churn(),
            expansion_rate: r.expansion_rate(),
            contraction_rate: r.contraction_rate(),
            amounts: r,
        }
    }

    /// The CSV header matching `csv_line`.
    pub const CSV_HEADER: &'static str = "period,from,to,group,nrr,grr,logo_churn,revenue_churn,expansion_rate,contraction_rate,start_customers,start_arr,end_arr_of_start,retained_arr,expansion_arr,contraction_arr,churned_customers,churned_arr,new_customers,new_arr,reactivated_customers,reactivated_arr,end_customers,end_arr";

    pub fn csv_line(&self) -> String {
        let ratio = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
        let g = self.group.as_deref().unwrap_or("");
        let g = if g.contains([',', '"', '\n']) {
            format!("\"{}\"", g.replace('"', "\"\""))
        } else {
            g.to_owned()
        };
        let a = &self.amounts;
        format!(
            "{},{},{},{g},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.period,
            self.from,
            self.to,
            ratio(self.nrr),
            ratio(self.grr),
            ratio(self.logo_churn),
            ratio(self.revenue_churn),
            ratio(self.expansion_rate),
            ratio(self.contraction_rate),
            a.start_customers,
            a.start_arr,
            a.end_arr_of_start,
            a.retained_arr,
            a.expansion_arr,
            a.contraction_arr,
            a.churned_customers,
            a.churned_arr,
            a.new_customers,
            a.new_arr,
            a.reactivated_customers,
            a.reactivated_arr,
            a.end_customers,
            a.end_arr
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_domain::{
        AccountId, ChangeKind, Money, SubscriptionChangeId, SubscriptionId, UserId,
    };

    fn account(id: &str, plan: &str, owner: Option<&str>, signed_up: Option<&str>) -> Account {
        Account {
            id: AccountId::parse(id).unwrap(),
            name: id.to_owned(),
            plan: Some(plan.to_owned()),
            industry: None,
            region: None,
            country: None,
            size_band: None,
            owner: owner.map(|o| UserId::parse(o).unwrap()),
            parent: None,
            signed_up_at: signed_up.map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap()),
            executive_sponsor: None,
        }
    }

    fn change(
        n: u32,
        account: &str,
        day: &str,
        minor: i64,
        currency: Currency,
    ) -> SubscriptionChange {
        SubscriptionChange {
            id: SubscriptionChangeId::parse(format!("chg-{n}")).unwrap(),
            subscription: SubscriptionId::parse(format!("sub-{account}")).unwrap(),
            account: AccountId::parse(account).unwrap(),
            kind: if minor >= 0 {
                ChangeKind::Expansion
            } else {
                ChangeKind::Contraction
            },
            effective: day.parse().unwrap(),
            arr_delta: Money::new(minor, currency),
            seats_delta: 0,
            reason: None,
        }
    }

    #[test]
    fn release_cohorts_split_accounts_by_first_revenue() {
        let usd = Currency::USD;
        let changes = [
            // Too early for the 30-day window.
            change(1, "a", "2025-04-30", 1_000, usd),
            change(2, "b", "2025-05-02", 1_000, usd),
            change(3, "c", "2025-05-31", 1_000, usd),
            change(4, "c", "2025-07-15", -1_000, usd),
            // The release day belongs to "after".
            change(5, "d", "2025-06-01", 2_000, usd),
            change(6, "e", "2025-07-01", 2_000, usd),
        ];
        let data = RevenueData::new(&[], &changes, None);
        let rows = data.release_cohorts(
            "2025-06-01".parse().unwrap(),
            30,
            "2025-12-31".parse().unwrap(),
            3,
        );
        let summary: Vec<(&str, u64)> = rows
            .iter()
            .map(|r| (r.cohort.as_str(), r.accounts))
            .collect();
        assert_eq!(summary, [("before", 2), ("after", 1)]);
        // c churned in July: the before cohort keeps one logo of two by month 2.
        assert_eq!(rows[0].logo[2], Some(0.5));
        assert_eq!(rows[1].logo[2], Some(1.0));
    }

    #[test]
    fn groups_currencies_and_cohorts() {
        let eur = Currency::EUR;
        let usd = Currency::USD;
        let accounts = [
            account("a", "pro", Some("csm-1"), Some("2025-01-15T00:00:00Z")),
            account("b", "basic", Some("csm-1"), None),
        ];
        let changes = [
            change(1, "a", "2025-01-20", 12_000, usd),
            change(2, "a", "2025-05-01", 3_000, usd),
            change(3, "b", "2025-02-03", 6_000, usd),
            change(4, "b", "2025-04-10", -6_000, usd),
            // An account with no account record, and a change in another currency.
            change(5, "c", "2025-03-01", 1_000, usd),
            change(6, "a", "2025-05-02", 9_999, eur),
        ];
        let data = RevenueData::new(&accounts, &changes, None);
        assert_eq!(data.currency, usd, "the currency most changes are in");
        assert_eq!(data.other_currency, 1);
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let q2 = data.retention(Period::Quarter, d("2025-04-01"), d("2025-06-30"), None);
        assert_eq!(q2.len(), 1);
        let r = &q2[0];
        assert_eq!(r.period, "2025-Q2");
        assert_eq!(r.amounts.start_arr, 19_000);
        assert_eq!(r.amounts.end_arr_of_start, 16_000);
        assert_eq!(r.amounts.churned_arr, 6_000);
        assert_eq!(r.nrr, Some(16_000.0 / 19_000.0));
        let by_plan = data.retention(
            Period::Quarter,
            d("2025-04-01"),
            d("2025-06-30"),
            Some(GroupBy::Plan),
        );
        let groups: Vec<(&str, i64)> = by_plan
            .iter()
            .map(|r| (r.group.as_deref().unwrap(), r.amounts.start_arr))
            .collect();
        assert_eq!(groups, [(NONE, 1_000), ("basic", 6_000), ("pro", 12_000)]);
        let by_cohort = data.retention(
            Period::Quarter,
            d("2025-04-01"),
            d("2025-06-30"),
            Some(GroupBy::Cohort),
        );
        let cohorts: Vec<&str> = by_cohort
            .iter()
            .map(|r| r.group.as_deref().unwrap())
            .collect();
        // a signed up in January; b and c join the cohort of their first revenue.
        assert_eq!(cohorts, ["2025-01", "2025-02", "2025-03"]);
        let line = r.csv_line();
        assert_eq!(
            line.split(',').count(),
            RetentionRow::CSV_HEADER.split(',').count()
        );
        assert!(line.starts_with("2025-Q2,2025-04-01,2025-06-30,,0.842105,"));
    }
}
