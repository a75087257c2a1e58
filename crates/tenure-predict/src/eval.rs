//! How well probabilities predicted outcomes: AUC, average precision (PR-AUC), Brier score,
//! log loss, a calibration table and top-decile lift. Matches scikit-learn's
//! `roc_auc_score`, `average_precision_score`, `brier_score_loss` and `log_loss`.

use serde::Serialize;

/// The AUC of `scores` for telling positives from negatives (ties count half); `None`
/// without both classes.
pub fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut v: Vec<(f64, bool)> = scores
        .iter()
        .zip(positive)
        .filter(|(s, _)| s.is_finite())
        .map(|(s, p)| (*s, *p))
        .collect();
    let pos = v.iter().filter(|(_, p)| *p).count() as f64;
    let neg = v.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann–Whitney U from average ranks (ties share their mean rank).
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * v[i..j].iter().filter(|(_, p)| *p).count() as f64;
        i = j;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Average precision: Σ (Rₙ − Rₙ₋₁) Pₙ over the thresholds at each distinct score, highest
/// first (scikit-learn's definition, no interpolation).
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let total = positive.iter().filter(|p| **p).count() as f64;
    if total == 0.0 {
        return None;
    }
    let mut v: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            if v[j].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let recall = tp / total;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
        i = j;
    }
    Some(ap)
}

/// Mean squared error of probabilities against outcomes.
pub fn brier(p: &[f64], positive: &[bool]) -> Option<f64> {
    (!p.is_empty()).then(|| {
        p.iter()
            .zip(positive)
            .map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2))
            .sum::<f64>()
            / p.len() as f64
    })
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(p: &[f64], positive: &[bool]) -> Option<f64> {
    (!p.is_empty()).then(|| {
        p.iter()
            .zip(positive)
            .map(|(p, y)| {
                let p = p.clamp(1e-15, 1.0 - 1e-15);
                if *y {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            })
            .sum::<f64>()
            / p.len() as f64
    })
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CalibrationBin {
    pub from: f64,
    pub to: f64,
    pub count: u64,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Equal-count bins of the predictions (`bins` of them, fewer when values tie), each with its
/// mean prediction and observed rate.
pub fn calibration_table(p: &[f64], positive: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let mut v: Vec<(f64, bool)> = p.iter().copied().zip(positive.iter().copied()).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = v.len();
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..=bins.max(1) {
        let mut end = (n * k) / bins.max(1);
        // Equal predictions stay in one bin.
        while end < n && end > 0 && v[end].0 == v[end - 1].0 {
            end += 1;
        }
        if end <= start {
            continue;
        }
        let slice = &v[start..end];
        let count = slice.len() as f64;
        out.push(CalibrationBin {
            from: slice[0].0,
            to: slice[slice.len() - 1].0,
            count: slice.len() as u64,
            mean_predicted: slice.iter().map(|x| x.0).sum::<f64>() / count,
            observed_rate: slice.iter().filter(|x| x.1).count() as f64 / count,
        });
        start = end;
    }
    out
}

/// The expected calibration error: the count-weighted mean |observed − predicted| of the
/// calibration table's bins.
pub fn calibration_error(table: &[CalibrationBin]) -> Option<f64> {
    let n: u64 = table.iter().map(|b| b.count).sum();
    (n > 0).then(|| {
        table
            .iter()
            .map(|b| b.count as f64 * (b.observed_rate - b.mean_predicted).abs())
            .sum::<f64>()
            / n as f64
    })
}

/// The positive rate among the top tenth by score ÷ the overall rate.
pub fn top_decile_lift(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n = scores.len();
    let total = positive.iter().filter(|p| **p).count();
    if n == 0 || total == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let k = n.div_ceil(10);
    let top = order[..k].iter().filter(|&&i| positive[i]).count();
    Some((top as f64 / k as f64) / (total as f64 / n as f64))
}

/// One feature's population stability between a reference sample (the training rows) and a
/// current one.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Drift {
    pub feature: String,
    /// Σ (c − r) · ln(c / r) over the reference's decile bins plus a bin for missing values
    /// (shares floored at 0.0001). Below 0.1 stable; 0.1–0.25 moderate; above 0.25 a shift.
    pub psi: f64,
    pub reference_missing: f64,
    pub current_missing: f64,
}

/// The population stability index of each feature of `current` against `reference` (both
/// row-major with `names.len()` columns, `NaN` = missing), largest first.
pub fn drift(names: &[String], reference: &[f64], current: &[f64]) -> Vec<Drift> {
    let p = names.len().max(1);
    let mut out: Vec<Drift> = (0..names.len())
        .map(|j| {
            let column = |x: &[f64]| -> Vec<f64> { x.chunks(p).map(|r| r[j]).collect() };
            let (r, c) = (column(reference), column(current));
            let mut present: Vec<f64> = r.iter().copied().filter(|v| v.is_finite()).collect();
            present.sort_by(f64::total_cmp);
            // Decile edges of the reference; equal edges merge.
            let mut edges: Vec<f64> = (1..10)
                .filter_map(|k| present.get(k * present.len() / 10).copied())
                .collect();
            edges.dedup();
            let bins = edges.len() + 2; // values, then the missing bin last
            let share = |x: &[f64]| -> Vec<f64> {
                let mut counts = vec![0.0; bins];
                for v in x {
                    let b = if v.is_finite() {
                        edges.partition_point(|e| e < v)
                    } else {
                        bins - 1
                    };
                    counts[b] += 1.0;
                }
                let n = x.len().max(1) as f64;
                counts.iter().map(|c| (c / n).max(1e-4)).collect()
            };
            let (rs, cs) = (share(&r), share(&c));
            let psi = rs
                .iter()
                .zip(&cs)
                .map(|(r, c)| (c - r) * (c / r).ln())
                .sum();
            let missing = |x: &[f64]| {
                x.iter().filter(|v| !v.is_finite()).count() as f64 / x.len().max(1) as f64
            };
            Drift {
                feature: names[j].clone(),
                psi,
                reference_missing: missing(&r),
                current_missing: missing(&c),
            }
        })
        .collect();
    out.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_zero_for_the_same_population_and_large_for_a_shift() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let reference: Vec<f64> = (0..1000).flat_map(|i| [i as f64, (i % 7) as f64]).collect();
        let same = drift(&names, &reference, &reference);
        assert!(same.iter().all(|d| d.psi.abs() < 1e-12), "{same:?}");
        // `a` moves up by half its range; `b` loses a fifth of its values.
        let current: Vec<f64> = (0..1000)
            .flat_map(|i| {
                [
                    i as f64 + 500.0,
                    if i % 5 == 0 { f64::NAN } else { (i % 7) as f64 },
                ]
            })
            .collect();
        let d = drift(&names, &reference, &current);
        assert_eq!(d[0].feature, "a");
        assert!(d[0].psi > 1.0, "{d:?}");
        assert!(d[1].psi > 0.25, "{d:?}");
        assert!((d[1].current_missing - 0.2).abs() < 1e-12);
    }
}
