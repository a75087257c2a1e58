//! Evidence for the health score: which signals separate renewals from churn, and how well
//! a score, as it stood some days before each renewal, predicted the outcome.
//!
//! A *renewal decision* is a subscription reaching the end of a term: it churned when the
//! subscription ended there (cancelled or expired), else it renewed. Scores are read as
//! "higher means healthier": the AUC is the probability that a renewing account scored
//! higher than a churning one (ties count half), so 0.5 is no better than chance.

use chrono::{Months, NaiveDate};
use serde::Serialize;
use tenure_domain::{Subscription, SubscriptionStatus};

/// One renewal decision.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Decision {
    pub account: String,
    pub day: NaiveDate,
    pub churned: bool,
}

/// The renewal decisions of `subscriptions` up to `as_of`: each term end from the start, term
/// after term; the term that ends on a cancelled or expired subscription's end date is its
/// churn.
pub fn renewal_decisions(subscriptions: &[Subscription], as_of: NaiveDate) -> Vec<Decision> {
    let mut out = Vec::new();
    for s in subscriptions {
        if s.term_months == 0 {
            continue;
        }
        let ended = matches!(
            s.status,
            SubscriptionStatus::Cancelled | SubscriptionStatus::Expired
        );
        let last = match (ended, s.end) {
            (true, Some(end)) => end.min(as_of),
            _ => as_of,
        };
        let mut day = s.start;
        while let Some(next) = day.checked_add_months(Months::new(s.term_months)) {
            if next > last {
                break;
            }
            day = next;
            out.push(Decision {
                account: s.account.as_str().to_owned(),
                day,
                churned: ended && Some(day) == s.end,
            });
        }
    }
    out.sort();
    out
}

/// The AUC of `scores` (score, renewed) for telling renewals from churn; `None` without both
/// (Mann–Whitney with ties counted half: `tenure_predict::eval::auc`).
pub fn auc(scores: &[(f64, bool)]) -> Option<f64> {
    let (s, renewed): (Vec<f64>, Vec<bool>) = scores.iter().copied().unzip();
    tenure_predict::eval::auc(&s, &renewed)
}

/// Churn in one quantile of a signal's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantile {
    /// 1 = the lowest values.
    pub quantile: u32,
    pub decisions: u64,
    pub low: f64,
    pub high: f64,
    pub churn_rate: f64,
    /// Retention in this quantile minus retention overall (points of share, e.g. +0.04).
    pub retention_lift: f64,
}

/// Decisions split into `q` groups of (nearly) equal size by value, lowest first; equal values
/// stay in one group.
pub fn quantiles(values: &[(f64, bool)], q: u32) -> Vec<Quantile> {
    let mut v: Vec<(f64, bool)> = values
        .iter()
        .filter(|(s, _)| s.is_finite())
        .copied()
        .collect();
    if v.is_empty() || q == 0 {
        return Vec::new();
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let overall = v.iter().filter(|(_, r)| *r).count() as f64 / v.len() as f64;
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..=q {
        let mut end = (v.len() * k as usize).div_ceil(q as usize).max(start);
        // Keep ties together.
        while end < v.len() && end > 0 && v[end].0 == v[end - 1].0 {
            end += 1;
        }
        if end <= start {
            continue;
        }
        let part = &v[start..end];
        let renewed = part.iter().filter(|(_, r)| *r).count() as f64 / part.len() as f64;
        out.push(Quantile {
            quantile: out.len() as u32 + 1,
            decisions: part.len() as u64,
            low: part[0].0,
            high: part[part.len() - 1].0,
            churn_rate: 1.0 - renewed,
            retention_lift: renewed - overall,
        });
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half() {
        // Reference: scikit-learn's roc_auc_score([1,1,0,0,1,0], [0.9,0.4,0.4,0.1,0.7,0.8])
        // = 0.7222222222222222.
        let s = [
            (0.9, true),
            (0.4, true),
            (0.4, false),
            (0.1, false),
            (0.7, true),
            (0.8, false),
        ];
        assert!((auc(&s).unwrap() - 0.722_222_222_222_222_2).abs() < 1e-12);
        // 200 scores with many ties; scikit-learn gives 0.5084149326805385 for
        // y = [(i*11 % 7) < 4], s = (i*37 % 23)/4 + (0.5 if i % 5 == 0 and y else 0).
        let many: Vec<(f64, bool)> = (0..200u64)
            .map(|i| {
                let y = (i * 11 % 7) < 4;
                let bump = if i % 5 == 0 && y { 0.5 } else { 0.0 };
                ((i * 37 % 23) as f64 / 4.0 + bump, y)
            })
            .collect();
        assert!((auc(&many).unwrap() - 0.508_414_932_680_538_5).abs() < 1e-12);
        assert_eq!(
            auc(&[(1.0, true), (2.0, true)]),
            None,
            "no churn: undefined"
        );
        assert_eq!(auc(&[(1.0, false), (2.0, true)]), Some(1.0));
    }

    #[test]
    fn quantiles_keep_ties_together() {
        let v: Vec<(f64, bool)> = [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .enumerate()
            .map(|(i, x)| (*x, i >= 2))
            .collect();
        let q = quantiles(&v, 4);
        assert_eq!(q[0].decisions, 3, "the three zeros together");
        assert_eq!(q.iter().map(|x| x.decisions).sum::<u64>(), 8);
        assert!((q[0].churn_rate - 2.0 / 3.0).abs() < 1e-12);
        assert!((q[0].retention_lift - (1.0 / 3.0 - 6.0 / 8.0)).abs() < 1e-12);
    }
}
