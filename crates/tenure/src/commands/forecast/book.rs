//! The subscriptions and their changes in the forecast's currency: point-in-time ARR and the
//! renewals in a window.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use tenure_domain::{ChangeKind, Currency, Record, Subscription, SubscriptionStatus};
use tenure_metrics::{Ledger, Move};

pub(super) fn ended(s: &Subscription) -> bool {
    matches!(
        s.status,
        SubscriptionStatus::Cancelled | SubscriptionStatus::Expired
    )
}

/// The subscription's renewal dates in `from ..= to`: its term ends, stepped from its start
/// as the renewal decisions are (so a forecast renewal is a decision once it falls), up to
/// its end when it has ended.
pub(super) fn renewal_dates(s: &Subscription, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    if s.term_months == 0 {
        return out;
    }
    let last = if ended(s) {
        s.end.map_or(to, |e| e.min(to))
    } else {
        to
    };
    let mut day = s.start;
    while let Some(next) = day.checked_add_months(Months::new(s.term_months)) {
        if next > last {
            break;
        }
        day = next;
        if day >= from {
            out.push(day);
        }
    }
    out
}

/// The subscriptions and revenue changes in the forecast's currency.
pub(super) struct Book {
    pub currency: Currency,
    pub other_currency: usize,
    pub subs: Vec<Subscription>,
    /// Each subscription's ARR by day, the subscriptions indexed as in `subs`.
    ledger: Ledger,
    /// Whether a subscription has changes (else its record's ARR counts from its start to its
    /// end).
    has_changes: Vec<bool>,
    pub by_account: BTreeMap<String, Vec<usize>>,
    /// Per account: (effective, kind, ARR delta).
    changes: BTreeMap<String, Vec<(NaiveDate, ChangeKind, i64)>>,
    pub earliest: Option<NaiveDate>,
}

impl Book {
    pub fn new(records: &[Record]) -> Book {
        let mut n: BTreeMap<Currency, usize> = BTreeMap::new();
        for r in records {
            if let Record::Subscription(s) = r {
                *n.entry(s.amount.currency).or_default() += 1;
            }
        }
        let currency = n
            .iter()
            .max_by_key(|(c, k)| (**k, std::cmp::Reverse(**c)))
            .map_or(Currency::USD, |(c, _)| *c);
        let other_currency = n.iter().filter(|(c, _)| **c != currency).map(|x| x.1).sum();
        let subs: Vec<Subscription> = records
            .iter()
            .filter_map(|r| match r {
                Record::Subscription(s) if s.amount.currency == currency => Some(s.clone()),
                _ => None,
            })
            .collect();
        let index: BTreeMap<&str, usize> = subs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut moves: Vec<Move> = Vec::new();
        let mut has_changes = vec![false; subs.len()];
        let mut changes: BTreeMap<String, Vec<(NaiveDate, ChangeKind, i64)>> = BTreeMap::new();
        let mut earliest: Option<NaiveDate> = subs.iter().map(|s| s.start).min();
        for r in records {
            let Record::SubscriptionChange(c) = r else {
                continue;
            };
            if c.arr_delta.currency != currency {
                continue;
            }
            if let Some(&i) = index.get(c.subscription.as_str()) {
                has_changes[i] = true;
                moves.push(Move {
                    account: i as u32,
                    effective: c.effective,
                    arr_delta: c.arr_delta.minor,
                });
            }
            changes
                .entry(c.account.as_str().to_owned())
                .or_default()
                .push((c.effective, c.kind, c.arr_delta.minor));
            earliest = Some(earliest.map_or(c.effective, |e| e.min(c.effective)));
        }
        let mut by_account: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in subs.iter().enumerate() {
            by_account
                .entry(s.account.as_str().to_owned())
                .or_default()
                .push(i);
        }
        for v in changes.values_mut() {
            v.sort_by_key(|x| x.0);
        }
        Book {
            currency,
            other_currency,
            subs,
            ledger: Ledger::new(&moves),
            has_changes,
            by_account,
            changes,
            earliest,
        }
    }

    /// Subscription `i`'s ARR at the end of `day`.
    pub fn sub_arr(&self, i: usize, day: NaiveDate) -> i64 {
        if !self.has_changes[i] {
            let s = &self.subs[i];
            let over = ended(s) && s.end.is_some_and(|e| e <= day);
            return if s.start <= day && !over {
                s.arr().map_or(0, |m| m.minor)
            } else {
                0
            };
        }
        self.ledger.arr(i as u32, day).max(0)
    }

    pub fn account_arr(&self, account: &str, day: NaiveDate) -> i64 {
        self.by_account
            .get(account)
            .map_or(0, |v| v.iter().map(|&i| self.sub_arr(i, day)).sum())
    }

    /// The paying accounts at the end of `day`.
    pub fn paying(&self, day: NaiveDate) -> Vec<(String, i64)> {
        self.by_account
            .keys()
            .map(|a| (a.clone(), self.account_arr(a, day)))
            .filter(|(_, arr)| *arr > 0)
            .collect()
    }

    /// The account's expansion and contraction ARR in `from ..= to` and whether it churned.
    pub fn moves(&self, account: &str, from: NaiveDate, to: NaiveDate) -> (i64, i64, bool) {
        let (mut e, mut c, mut churned) = (0, 0, false);
        for (d, kind, x) in self.changes.get(account).into_iter().flatten() {
            if *d < from || *d > to {
                continue;
            }
            match kind {
                ChangeKind::Expansion => e += x.max(&0),
                ChangeKind::Contraction => c += (-x).max(0),
                ChangeKind::Churn => churned = true,
                ChangeKind::New | ChangeKind::Reactivation => {}
            }
        }
        (e, c, churned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_domain::{AccountId, BillingInterval, Money, SubscriptionId};

    fn sub(
        start: &str,
        months: u32,
        status: SubscriptionStatus,
        end: Option<&str>,
    ) -> Subscription {
        Subscription {
            id: SubscriptionId::parse("s").unwrap(),
            account: AccountId::parse("a").unwrap(),
            plan: "pro".into(),
            seats: 1,
            amount: Money::new(1200, Currency::USD),
            interval: BillingInterval::Month,
            start: start.parse().unwrap(),
            end: end.map(|e| e.parse().unwrap()),
            term_months: months,
            status,
            auto_renew: true,
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn renewals_step_from_the_start_like_the_decisions() {
        // Monthly from 31 January: the end of February, then the 28th (as stepping month by
        // month does), three of them in the window.
        let s = sub("2025-01-31", 1, SubscriptionStatus::Active, None);
        assert_eq!(
            renewal_dates(&s, d("2025-02-01"), d("2025-04-30")),
            [d("2025-02-28"), d("2025-03-28"), d("2025-04-28")]
        );
        // A yearly one that ended stops at its end.
        let s = sub(
            "2024-03-01",
            12,
            SubscriptionStatus::Cancelled,
            Some("2025-03-01"),
        );
        assert_eq!(
            renewal_dates(&s, d("2025-01-01"), d("2027-01-01")),
            [d("2025-03-01")]
        );
        assert!(renewal_dates(&s, d("2025-03-02"), d("2027-01-01")).is_empty());
        // No term: no renewals.
        let s = sub("2024-03-01", 0, SubscriptionStatus::Active, None);
        assert!(renewal_dates(&s, d("2024-01-01"), d("2027-01-01")).is_empty());
    }
}
