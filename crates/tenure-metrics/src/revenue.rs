//! Revenue retention from the ledger of revenue movements.
//!
//! An account's ARR at the end of a day is the sum of the ARR deltas of its movements
//! effective on or before that day. A period `from ..= to` compares each account's ARR at the
//! end of the day before `from` (its *start* ARR) with its ARR at the end of `to` (its *end*
//! ARR). Accounts with start ARR above zero are the period's *start customers*; retention
//! figures are ratios over them. Per account, over the period as a whole:
//!
//! - retained = min(start, end); expansion = max(end − start, 0);
//! - contraction = start − end when 0 < end < start; churn = start when end = 0;
//! - an account with no start ARR and end ARR above zero is *new* when it never had ARR
//!   before `from`, and *reactivated* when it had.
//!
//! So NRR = Σ end / Σ start, GRR = Σ retained / Σ start ≤ 100 %, and NRR − GRR is exactly the
//! expansion share. A mid-period upgrade undone before the period ends counts as neither.
//! Every field of `Retention` is a sum over accounts, so the figures of disjoint sets of
//! accounts add up to the figures of their union.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

/// One movement of an account's ARR, in minor units of the reporting currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub account: u32,
    pub effective: NaiveDate,
    pub arr_delta: i64,
}

/// Every account's movements, in date order.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// By account index: (effective, ARR after the day's movements), one entry per day.
    steps: Vec<Vec<(NaiveDate, i64)>>,
}

impl Ledger {
    pub fn new(moves: &[Move]) -> Ledger {
        let n = moves
            .iter()
            .map(|m| m.account as usize + 1)
            .max()
            .unwrap_or(0);
        let mut by_account: Vec<Vec<(NaiveDate, i64)>> = vec![Vec::new(); n];
        for m in moves {
            by_account[m.account as usize].push((m.effective, m.arr_delta));
        }
        let steps = by_account
            .into_iter()
            .map(|mut v| {
                v.sort_by_key(|(d, _)| *d);
                let mut out: Vec<(NaiveDate, i64)> = Vec::with_capacity(v.len());
                let mut arr = 0i64;
                for (d, delta) in v {
                    arr = arr.saturating_add(delta);
                    match out.last_mut() {
                        Some(last) if last.0 == d => last.1 = arr,
                        _ => out.push((d, arr)),
                    }
                }
                out
            })
            .collect();
        Ledger { steps }
    }

    pub fn accounts(&self) -> usize {
        self.steps.len()
    }

    /// The account's ARR at the end of `day`.
    pub fn arr(&self, account: u32, day: NaiveDate) -> i64 {
        let Some(steps) = self.steps.get(account as usize) else {
            return 0;
        };
        match steps.partition_point(|(d, _)| *d <= day) {
            0 => 0,
            i => steps[i - 1].1,
        }
    }

    /// The first day the account's ARR was above zero.
    pub fn first_revenue(&self, account: u32) -> Option<NaiveDate> {
        self.steps
            .get(account as usize)?
            .iter()
            .find(|(_, a)| *a > 0)
            .map(|(d, _)| *d)
    }

    /// Whether the account had ARR above zero at the end of some day before `day`.
    fn paid_before(&self, account: u32, day: NaiveDate) -> bool {
        self.steps
            .get(account as usize)
            .is_some_and(|s| s.iter().take_while(|(d, _)| *d < day).any(|(_, a)| *a > 0))
    }

    /// The retention figures of the accounts `include` accepts over `from ..= to`.
    pub fn retention(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        include: impl Fn(u32) -> bool,
    ) -> Retention {
        self.retention_by(from, to, |a| include(a).then_some(()))
            .remove(&())
            .unwrap_or_default()
    }

    /// The retention figures over `from ..= to` of each group of accounts `key` names (an
    /// account without a key is left out), in one pass over the accounts.
    pub fn retention_by<K: Ord>(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        key: impl Fn(u32) -> Option<K>,
    ) -> BTreeMap<K, Retention> {
        let mut out: BTreeMap<K, Retention> = BTreeMap::new();
        let before = from.pred_opt().unwrap_or(from);
        for a in 0..self.steps.len() as u32 {
            let (start, end) = (self.arr(a, before).max(0), self.arr(a, to).max(0));
            if start == 0 && end == 0 {
                continue;
            }
            let Some(k) = key(a) else { continue };
            out.entry(k)
                .or_default()
                .add(start, end, || self.paid_before(a, from));
        }
        out
    }
}

/// A period's retention figures for a set of accounts; amounts in minor units of the
/// reporting currency. Every field is a sum over accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub start_customers: u64,
    pub start_arr: i64,
    /// The start customers' ARR at the end of the period.
    pub end_arr_of_start: i64,
    pub retained_arr: i64,
    pub expansion_arr: i64,
    pub contraction_arr: i64,
    pub churned_customers: u64,
    pub churned_arr: i64,
    pub new_customers: u64,
    pub new_arr: i64,
    pub reactivated_customers: u64,
    pub reactivated_arr: i64,
    pub end_customers: u64,
    pub end_arr: i64,
}

impl Retention {
    fn add(&mut self, start: i64, end: i64, paid_before: impl Fn() -> bool) {
        if end > 0 {
            self.end_customers += 1;
            self.end_arr += end;
        }
        if start > 0 {
            self.start_customers += 1;
            self.start_arr += start;
            self.end_arr_of_start += end;
            self.retained_arr += start.min(end);
            self.expansion_arr += (end - start).max(0);
            if end == 0 {
                self.churned_customers += 1;
                self.churned_arr += start;
            } else if end < start {
                self.contraction_arr += start - end;
            }
        } else if end > 0 {
            if paid_before() {
                self.reactivated_customers += 1;
                self.reactivated_arr += end;
            } else {
                self.new_customers += 1;
                self.new_arr += end;
            }
        }
    }

    pub fn merge(&mut self, o: &Retention) {
        self.start_customers += o.start_customers;
        self.start_arr += o.start_arr;
        self.end_arr_of_start += o.end_arr_of_start;
        self.retained_arr += o.retained_arr;
        self.expansion_arr += o.expansion_arr;
        self.contraction_arr += o.contraction_arr;
        self.churned_customers += o.churned_customers;
        self.churned_arr += o.churned_arr;
        self.new_customers += o.new_customers;
        self.new_arr += o.new_arr;
        self.reactivated_customers += o.reactivated_customers;
        self.reactivated_arr += o.reactivated_arr;
        self.end_customers += o.end_customers;
        self.end_arr += o.end_arr;
    }

    fn share(&self, x: i64) -> Option<f64> {
        (self.start_arr > 0).then(|| x as f64 / self.start_arr as f64)
    }

    /// Net revenue retention; `None` without start customers.
    pub fn nrr(&self) -> Option<f64> {
        self.share(self.end_arr_of_start)
    }

    /// Gross revenue retention (never above 1).
    pub fn grr(&self) -> Option<f64> {
        self.share(self.retained_arr)
    }

    pub fn expansion_rate(&self) -> Option<f64> {
        self.share(self.expansion_arr)
    }

    pub fn contraction_rate(&self) -> Option<f64> {
        self.share(self.contraction_arr)
    }

    /// Revenue lost to accounts that left, as a share of start ARR.
    pub fn revenue_churn(&self) -> Option<f64> {
        self.share(self.churned_arr)
    }

    /// Share of start customers with no ARR at the end.
    pub fn logo_churn(&self) -> Option<f64> {
        (self.start_customers > 0)
            .then(|| self.churned_customers as f64 / self.start_customers as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn mv(account: u32, effective: &str, arr_delta: i64) -> Move {
        Move {
            account,
            effective: d(effective),
            arr_delta,
        }
    }

    /// A quarter worked by hand: five accounts, every kind of movement, and a mid-quarter
    /// upgrade that is undone before the quarter ends.
    #[test]
    fn a_quarter_by_hand() {
        let ledger = Ledger::new(&[
            // 0: 10,000 from 2025; +2,000 in February.          start 10,000 → end 12,000
            mv(0, "2025-06-01", 10_000),
            mv(0, "2026-02-10", 2_000),
            // 1: 20,000; −5,000 in March.                         start 20,000 → end 15,000
            mv(1, "2025-01-15", 20_000),
            mv(1, "2026-03-01", -5_000),
            // 2: 5,000; churns on the last day of the quarter.    start 5,000 → end 0
            mv(2, "2025-09-30", 5_000),
            mv(2, "2026-03-31", -5_000),
            // 3: new in January.                                  start 0 → end 8,000
            mv(3, "2026-01-05", 8_000),
            // 4: churned in 2025, back in March.                  start 0 → end 3,000
            mv(4, "2025-02-01", 4_000),
            mv(4, "2025-08-01", -4_000),
            mv(4, "2026-03-15", 3_000),
            // 5: 7,000; upgraded and downgraded inside the quarter. start 7,000 → end 7,000
            mv(5, "2025-03-01", 7_000),
            mv(5, "2026-01-20", 3_000),
            mv(5, "2026-02-20", -3_000),
            // 6: starts on the period's first day: new, not a start customer.
            mv(6, "2026-01-01", 1_000),
        ]);
        let r = ledger.retention(d("2026-01-01"), d("2026-03-31"), |_| true);
        assert_eq!(r.start_customers, 4);
        assert_eq!(r.start_arr, 10_000 + 20_000 + 5_000 + 7_000);
        assert_eq!(r.end_arr_of_start, 12_000 + 15_000 + 7_000);
        assert_eq!(r.retained_arr, 10_000 + 15_000 + 7_000);
        assert_eq!(r.expansion_arr, 2_000);
        assert_eq!(r.contraction_arr, 5_000);
        assert_eq!((r.churned_customers, r.churned_arr), (1, 5_000));
        assert_eq!((r.new_customers, r.new_arr), (2, 9_000));
        assert_eq!((r.reactivated_customers, r.reactivated_arr), (1, 3_000));
        assert_eq!(
            (r.end_customers, r.end_arr),
            (6, 12_000 + 15_000 + 7_000 + 8_000 + 3_000 + 1_000)
        );
        assert_eq!(r.nrr(), Some(34_000.0 / 42_000.0));
        assert_eq!(r.grr(), Some(32_000.0 / 42_000.0));
        assert_eq!(r.logo_churn(), Some(0.25));
        assert_eq!(r.revenue_churn(), Some(5_000.0 / 42_000.0));
    }

    #[test]
    fn no_start_customers_means_no_ratio() {
        let ledger = Ledger::new(&[mv(0, "2026-02-01", 1_000)]);
        let r = ledger.retention(d("2026-01-01"), d("2026-03-31"), |_| true);
        assert_eq!((r.nrr(), r.grr(), r.logo_churn()), (None, None, None));
        assert_eq!(r.new_customers, 1);
    }

    #[test]
    fn arr_on_a_day_counts_that_days_movements() {
        let ledger = Ledger::new(&[mv(0, "2026-01-10", 500), mv(0, "2026-01-10", 250)]);
        assert_eq!(ledger.arr(0, d("2026-01-09")), 0);
        assert_eq!(ledger.arr(0, d("2026-01-10")), 750);
        assert_eq!(
            ledger.arr(7, d("2026-01-10")),
            0,
            "an unknown account has none"
        );
    }
}
