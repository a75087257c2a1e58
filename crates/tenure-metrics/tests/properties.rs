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

proptest! {
    /// The percentile over sorted runs equals the nearest-rank percentile of their union.
    #[test]
    fn percentile_of_runs_equals_the_sorted_union(
        runs in prop::collection::vec(prop::collection::vec(-1e6f64..1e6, 0..40), 0..14),
        p in 0.0f64..=100.0,
    ) {
        use tenure_metrics::experience::{percentile, percentile_of_runs};
        let sorted: Vec<Vec<f64>> = runs
            .into_iter()
            .map(|mut r| {
                r.sort_by(f64::total_cmp);
                r
            })
            .collect();
        let slices: Vec<&[f64]> = sorted.iter().map(|r| r.as_slice()).collect();
        let mut all: Vec<f64> = sorted.iter().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        prop_assert_eq!(percentile_of_runs(&slices, p), percentile(&all, p));
    }
}

proptest! {
    /// Per period: active accounts are the distinct accounts with an event in it, DAU is the
    /// mean of daily distinct users over the observed days, and groups add up to the total.
    #[test]
    fn usage_rows_match_brute_force(
        mut events in prop::collection::vec((0u32..6, 0u8..4, 0i64..500), 1..120),
        period in 0usize..4,
    ) {
        use tenure_domain::model::Period;
        use tenure_metrics::directory::Directory;
        use tenure_metrics::usage::{ActivityFold, UsageData, Windows};
        use tenure_metrics::GroupBy;
        events.sort_by_key(|e| e.2);
        let mut dir = Directory::default();
        for a in 0..6u32 {
            let id = format!("a{a}");
            prop_assert_eq!(dir.id(&id), a);
            dir.set(&id, GroupBy::Stage, if a % 2 == 0 { "even" } else { "odd" });
        }
        let mut f = ActivityFold::new();
        for (a, u, d) in &events {
            f.event(*a, Some(&u.to_string()), day(*d));
        }
        let last = day(520);
        let data = UsageData::new(
            dir,
            f.finish(last),
            &[],
            Windows { activation_days: 14, habit_days: 60 },
            last,
        );
        let kind = [Period::Month, Period::Quarter, Period::Year, Period::Ttm][period];
        let rows = data.usage(kind, day(0), last, None);
        let by = data.usage(kind, day(0), last, Some(GroupBy::Stage));
        let first = day(events[0].2);
        for r in &rows {
            let (from, to) = (r.from.unwrap(), r.to.unwrap());
            let mut accounts: Vec<u32> = events
                .iter()
                .filter(|e| day(e.2) >= from && day(e.2) <= to)
                .map(|e| e.0)
                .collect();
            accounts.sort();
            accounts.dedup();
            prop_assert_eq!(r.active_accounts, accounts.len() as u64, "{}", r.period);
            let mut user_days = 0u64;
            let mut days = 0u32;
            let mut d = from.max(first);
            while d <= to.min(last) {
                let mut u: Vec<(u32, u8)> = events
                    .iter()
                    .filter(|e| day(e.2) == d)
                    .map(|e| (e.0, e.1))
                    .collect();
                u.sort();
                u.dedup();
                user_days += u.len() as u64;
                days += 1;
                d = d.succ_opt().unwrap();
            }
            prop_assert_eq!(r.days_observed, days);
            if days > 0 {
                let dau = r.dau.unwrap();
                prop_assert!((dau - user_days as f64 / f64::from(days)).abs() < 1e-9);
            }
            let parts: Vec<_> = by.iter().filter(|g| g.period == r.period).collect();
            prop_assert_eq!(
                parts.iter().map(|g| g.active_accounts).sum::<u64>(),
                r.active_accounts
            );
            if let Some(dau) = r.dau {
                let sum: f64 = parts.iter().filter_map(|g| g.dau).sum();
                prop_assert!((sum - dau).abs() < 1e-9);
            }
        }
    }
}
