//! Properties every retention figure keeps, on random ledgers.

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use tenure_metrics::{Ledger, Move, Retention};

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(n)
}

/// Ledgers whose ARR never goes below zero, as real ones: each account's movements are
/// built from a walk of ARR levels.
fn ledger() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        (
            0u32..12,
            prop::collection::vec((0i64..730, 0i64..50_000), 1..8),
        ),
        1..30,
    )
    .prop_map(|accounts| {
        let mut moves = Vec::new();
        for (account, mut levels) in accounts {
            levels.sort_by_key(|(d, _)| *d);
            let mut arr = 0;
            for (d, level) in levels {
                // One level in five is zero: a churn.
                let level = if level % 5 == 0 { 0 } else { level };
                moves.push(Move {
                    account,
                    effective: day(d),
                    arr_delta: level - arr,
                });
                arr = level;
            }
        }
        moves
    })
}

proptest! {
    #[test]
    fn retention_identities_hold(moves in ledger(), from in 0i64..700, len in 1i64..400) {
        let ledger = Ledger::new(&moves);
        let (from, to) = (day(from), day(from + len));
        let r = ledger.retention(from, to, |_| true);
        if let (Some(nrr), Some(grr), Some(exp)) = (r.nrr(), r.grr(), r.expansion_rate()) {
            prop_assert!(grr <= 1.0 + 1e-12, "GRR {grr} above 100 %");
            prop_assert!(grr >= 0.0);
            prop_assert!((nrr - grr - exp).abs() < 1e-12, "NRR − GRR ≠ expansion share");
            let churn = r.revenue_churn().unwrap();
            let contraction = r.contraction_rate().unwrap();
            prop_assert!((grr - (1.0 - churn - contraction)).abs() < 1e-12);
        }
        prop_assert_eq!(
            r.start_arr,
            r.retained_arr + r.churned_arr + r.contraction_arr
        );
        prop_assert_eq!(
            r.end_arr,
            r.end_arr_of_start + r.new_arr + r.reactivated_arr
        );
    }

    #[test]
    fn segments_add_up_to_the_total(moves in ledger(), from in 0i64..700, len in 1i64..400, k in 2u32..5) {
        let ledger = Ledger::new(&moves);
        let (from, to) = (day(from), day(from + len));
        let total = ledger.retention(from, to, |_| true);
        let mut sum = Retention::default();
        for s in 0..k {
            sum.merge(&ledger.retention(from, to, |a| a % k == s));
        }
        prop_assert_eq!(total, sum);
    }
}

proptest! {
    #[test]
    fn cohort_cells_are_shares_and_month_zero_is_whole(moves in ledger(), as_of in 30i64..760, months in 1u32..30) {
        let ledger = Ledger::new(&moves);
        let rows = tenure_metrics::cohort::matrix(&ledger, day(as_of), months, |a| Some(a % 3));
        let mut accounts = 0;
        for r in &rows {
            accounts += r.accounts;
            prop_assert_eq!(r.observed.len(), months as usize);
            for w in r.observed.windows(2) {
                prop_assert!(w[0] >= w[1], "fewer accounts are observable later");
            }
            for (k, l) in r.logo.iter().enumerate() {
                prop_assert_eq!(l.is_some(), r.observed[k] > 0);
                if let Some(l) = l {
                    prop_assert!((0.0..=1.0).contains(l));
                }
            }
            if let Some(r0) = r.revenue[0] {
                prop_assert!((r0 - 1.0).abs() < 1e-12, "month 0 revenue retention is 100 %");
            }
        }
        // Every account with revenue by `as_of` is in exactly one cohort.
        let with_revenue = (0..ledger.accounts() as u32)
            .filter(|a| ledger.first_revenue(*a).is_some_and(|f| f <= day(as_of)))
            .count() as u64;
        prop_assert_eq!(accounts, with_revenue);
    }
}

proptest! {
    /// The fold's daily, weekly and monthly active users, summed per account and month, equal
    /// a brute-force count of distinct users on each day.
    #[test]
    fn activity_sums_equal_brute_force(
        mut events in prop::collection::vec((0u32..4, 0u8..5, 0i64..150), 0..80),
        tail in 0i64..60,
    ) {
        use tenure_metrics::usage::{month_of, ActivityFold, MONTH, WEEK};
        events.sort_by_key(|e| e.2);
        let last = events.last().map_or(0, |e| e.2) + tail;
        let mut f = ActivityFold::new();
        for (a, u, d) in &events {
            f.event(*a, Some(&u.to_string()), day(*d));
        }
        let act = f.finish(day(last));
        prop_assert_eq!(act.late, 0);
        let mut expect: std::collections::BTreeMap<(NaiveDate, u32), (u64, u64, u64, u32)> =
            Default::default();
        if let Some(first) = events.first().map(|e| e.2) {
            for d in first..=last {
                for a in 0..4u32 {
                    let users = |back: i64| {
                        let mut u: Vec<u8> = events
                            .iter()
                            .filter(|e| e.0 == a && e.2 <= d && e.2 > d - back)
                            .map(|e| e.1)
                            .collect();
                        u.sort();
                        u.dedup();
                        u.len() as u64
                    };
                    let active = events.iter().any(|e| e.0 == a && e.2 == d);
                    let month = day(d).with_day0(0).unwrap();
                    let x = expect.entry((month, a)).or_default();
                    x.0 += users(1);
                    x.1 += users(i64::from(WEEK));
                    x.2 += users(i64::from(MONTH));
                    x.3 += u32::from(active);
                }
            }
        }
        let mut got: std::collections::BTreeMap<(NaiveDate, u32), (u64, u64, u64, u32)> =
            Default::default();
        for m in &act.months {
            let x = got.entry((month_of(m.month), m.account)).or_default();
            x.0 += m.dau_days;
            x.1 += m.wau_days;
            x.2 += m.mau_days;
            x.3 += m.active_days;
        }
        expect.retain(|_, v| *v != (0, 0, 0, 0));
        prop_assert_eq!(got, expect);
        let observed: u32 = act.observed.values().sum();
        let expected_days = events.first().map_or(0, |e| (last - e.2 + 1) as u32);
        prop_assert_eq!(observed, expected_days);
    }
}
