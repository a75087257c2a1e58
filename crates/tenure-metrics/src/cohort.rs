//! Cohort retention matrices: accounts grouped into cohorts (by sign-up month, or by plan,
//! industry, …), followed month by month from the month of their first revenue.
//!
//! An account's *month 0* is the calendar month of its first revenue; its *month k* ends on
//! the last day of the k-th calendar month after that. Cell k of a cohort covers the accounts
//! of the cohort whose month k has ended by `as_of` (later months are not yet observable):
//! - logo retention = accounts with ARR above zero at the end of month k ÷ those accounts;
//! - revenue retention = their ARR at the end of month k ÷ their ARR at the end of month 0
//!   (above 100 % when expansion outweighs churn and contraction).

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

use crate::revenue::Ledger;

/// One cohort's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortRow {
    pub cohort: String,
    /// Accounts in the cohort (with some revenue by `as_of`).
    pub accounts: u64,
    /// Their ARR at the end of their month 0, in minor units.
    pub start_arr: i64,
    /// Per month k: accounts observable at k.
    pub observed: Vec<u64>,
    /// Per month k: logo retention (0–1); `None` when no account is observable.
    pub logo: Vec<Option<f64>>,
    /// Per month k: revenue retention; `None` when no account is observable or their month-0
    /// ARR is zero.
    pub revenue: Vec<Option<f64>>,
}

#[derive(Default)]
struct Acc {
    accounts: u64,
    start_arr: i64,
    observed: Vec<u64>,
    alive: Vec<u64>,
    arr: Vec<i64>,
    base: Vec<i64>,
}

fn month_end(first_of_month: NaiveDate, k: u32) -> Option<NaiveDate> {
    first_of_month
        .checked_add_months(Months::new(k + 1))?
        .pred_opt()
}

/// The cohort matrix of the accounts `cohort` names (an account without one is left out),
/// over `months` months from month 0.
pub fn matrix<K: Ord + ToString>(
    ledger: &Ledger,
    as_of: NaiveDate,
    months: u32,
    cohort: impl Fn(u32) -> Option<K>,
) -> Vec<CohortRow> {
    let mut groups: BTreeMap<K, Acc> = BTreeMap::new();
    for a in 0..ledger.accounts() as u32 {
        let Some(first) = ledger.first_revenue(a).filter(|f| *f <= as_of) else {
            continue;
        };
        let Some(key) = cohort(a) else { continue };
        let Some(m0) = NaiveDate::from_ymd_opt(first.year(), first.month(), 1) else {
            continue;
        };
        let g = groups.entry(key).or_default();
        if g.observed.is_empty() {
            let n = months as usize;
            (g.observed, g.alive, g.arr, g.base) = (vec![0; n], vec![0; n], vec![0; n], vec![0; n]);
        }
        g.accounts += 1;
        let base = month_end(m0, 0).map_or(0, |e| ledger.arr(a, e.min(as_of)).max(0));
        g.start_arr += base;
        for k in 0..months {
            let Some(end) = month_end(m0, k).filter(|e| *e <= as_of) else {
                break;
            };
            let arr = ledger.arr(a, end).max(0);
            let k = k as usize;
            g.observed[k] += 1;
            g.alive[k] += (arr > 0) as u64;
            g.arr[k] += arr;
            g.base[k] += base;
        }
    }
    groups
        .into_iter()
        .map(|(key, g)| CohortRow {
            cohort: key.to_string(),
            accounts: g.accounts,
            start_arr: g.start_arr,
            logo: g
                .observed
                .iter()
                .zip(&g.alive)
                .map(|(o, a)| (*o > 0).then(|| *a as f64 / *o as f64))
                .collect(),
            revenue: g
                .base
                .iter()
                .zip(&g.arr)
                .zip(&g.observed)
                .map(|((b, a), o)| (*o > 0 && *b > 0).then(|| *a as f64 / *b as f64))
                .collect(),
            observed: g.observed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revenue::Move;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_cohort_by_hand() {
        let ledger = Ledger::new(&[
            // January cohort: three accounts.
            Move {
                account: 0,
                effective: d("2026-01-05"),
                arr_delta: 1_000,
            },
            Move {
                account: 0,
                effective: d("2026-02-10"),
                arr_delta: 500,
            },
            Move {
                account: 1,
                effective: d("2026-01-20"),
                arr_delta: 2_000,
            },
            Move {
                account: 1,
                effective: d("2026-03-01"),
                arr_delta: -2_000,
            },
            Move {
                account: 2,
                effective: d("2026-01-31"),
                arr_delta: 1_000,
            },
            // March cohort: one account, observable for one month only.
            Move {
                account: 3,
                effective: d("2026-03-15"),
                arr_delta: 4_000,
            },
        ]);
        let cohort = |a: u32| Some(if a < 3 { "2026-01" } else { "2026-03" });
        let rows = matrix(&ledger, d("2026-03-31"), 4, cohort);
        assert_eq!(rows.len(), 2);
        let jan = &rows[0];
        assert_eq!(
            (jan.cohort.as_str(), jan.accounts, jan.start_arr),
            ("2026-01", 3, 4_000)
        );
        assert_eq!(jan.observed, [3, 3, 3, 0]);
        assert_eq!(jan.logo, [Some(1.0), Some(1.0), Some(2.0 / 3.0), None]);
        assert_eq!(
            jan.revenue,
            [
                Some(1.0),
                Some(4_500.0 / 4_000.0),
                Some(2_500.0 / 4_000.0),
                None
            ]
        );
        let mar = &rows[1];
        assert_eq!(mar.observed, [1, 0, 0, 0]);
        assert_eq!(mar.logo[0], Some(1.0));
    }
}
