//! Cox proportional hazards with Efron's method for tied event times, fitted by Newton's
//! method on the partial likelihood; coefficients with standard errors, hazard ratios, Wald z
//! and p, the log partial likelihood and Harrell's concordance. Matches lifelines'
//! `CoxPHFitter` (no penaliser).

use serde::Serialize;

use crate::optim::Matrix;
use crate::special::normal_two_sided_p;

/// One covariate's estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coefficient {
    pub name: String,
    pub coef: f64,
    pub se: f64,
    pub hazard_ratio: f64,
    pub z: f64,
    pub p: f64,
}

/// A Cox fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoxFit {
    pub coefficients: Vec<Coefficient>,
    pub log_likelihood: f64,
    pub concordance: f64,
    pub iterations: u32,
    pub subjects: usize,
    pub events: usize,
    /// Covariates whose estimate is not meaningful: the likelihood keeps rising as the
    /// coefficient runs off (the events all lie on one side of the covariate), so the
    /// coefficient is wherever the iterations stopped and its standard error is huge.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoxError {
    #[error("no events: the partial likelihood is flat")]
    NoEvents,
    #[error("covariate `{0}` does not vary (or is collinear with others): its coefficient is not identifiable")]
    Singular(String),
    #[error("Newton's method did not converge in {0} iterations")]
    NotConverged(u32),
}

/// Subjects sorted by time, with covariates centred.
struct Data {
    time: Vec<f64>,
    event: Vec<bool>,
    /// Row-major, n × p.
    x: Vec<f64>,
    p: usize,
}

/// The log partial likelihood (Efron), its gradient and Hessian at `beta`.
fn efron(d: &Data, beta: &[f64]) -> (f64, Vec<f64>, Matrix) {
    let (n, p) = (d.time.len(), d.p);
    let row = |i: usize| &d.x[i * p..(i + 1) * p];
    let eta: Vec<f64> = (0..n)
        .map(|i| row(i).iter().zip(beta).map(|(a, b)| a * b).sum())
        .collect();
    let shift = eta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = eta.iter().map(|e| (e - shift).exp()).collect();
    let mut ll = 0.0;
    let mut grad = vec![0.0; p];
    let mut hess = Matrix::zeros(p);
    // Risk-set sums, accumulated from the latest time down.
    let mut s0 = 0.0;
    let mut s1 = vec![0.0; p];
    let mut s2 = vec![0.0; p * p];
    let mut i = n;
    while i > 0 {
        let t = d.time[i - 1];
        let mut t0 = 0.0;
        let mut t1 = vec![0.0; p];
        let mut t2 = vec![0.0; p * p];
        let mut deaths = 0usize;
        while i > 0 && d.time[i - 1] == t {
            i -= 1;
            let xi = row(i);
            let wi = w[i];
            s0 += wi;
            for a in 0..p {
                s1[a] += wi * xi[a];
                for b in 0..p {
                    s2[a * p + b] += wi * xi[a] * xi[b];
                }
            }
            if d.event[i] {
                deaths += 1;
                t0 += wi;
                ll += eta[i] - shift;
                for a in 0..p {
                    t1[a] += wi * xi[a];
                    grad[a] += xi[a];
                    for b in 0..p {
                        t2[a * p + b] += wi * xi[a] * xi[b];
                    }
                }
            }
        }
        for l in 0..deaths {
            let c = l as f64 / deaths as f64;
            let denom = s0 - c * t0;
            ll -= denom.ln();
            let mean: Vec<f64> = (0..p).map(|a| (s1[a] - c * t1[a]) / denom).collect();
            for a in 0..p {
                grad[a] -= mean[a];
                for b in 0..p {
                    let v = hess.get(a, b)
                        - ((s2[a * p + b] - c * t2[a * p + b]) / denom - mean[a] * mean[b]);
                    hess.set(a, b, v);
                }
            }
        }
    }
    (ll, grad, hess)
}

/// Harrell's concordance of `scores` (higher = longer survival) with the observed times, as
/// lifelines counts it: a pair is comparable when the earlier time is an event (a subject
/// censored at an event's time counts as outliving it); tied scores count one half.
pub fn concordance(time: &[f64], event: &[bool], scores: &[f64]) -> f64 {
    let n = time.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| time[a].total_cmp(&time[b]));
    let mut distinct: Vec<f64> = scores.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let rank = |s: f64| distinct.partition_point(|v| *v < s);
    // A Fenwick tree of the scores of the events seen so far.
    let mut tree = vec![0u64; distinct.len() + 1];
    let add = |tree: &mut Vec<u64>, i: usize| {
        let mut i = i + 1;
        while i < tree.len() {
            tree[i] += 1;
            i += i & i.wrapping_neg();
        }
    };
    let below = |tree: &Vec<u64>, i: usize| {
        // Events with a score rank below i.
        let mut i = i;
        let mut s = 0;
        while i > 0 {
            s += tree[i];
            i -= i & i.wrapping_neg();
        }
        s
    };
    let (mut pairs, mut correct, mut tied) = (0u64, 0u64, 0u64);
    let mut inserted = 0u64;
    let mut i = 0;
    while i < n {
        let t = time[order[i]];
        let mut j = i;
        while j < n && time[order[j]] == t {
            j += 1;
        }
        let group = &order[i..j];
        let mut count = |k: usize, tree: &Vec<u64>| {
            let r = rank(scores[k]);
            let lt = below(tree, r);
            let le = below(tree, r + 1);
            pairs += inserted;
            correct += lt;
            tied += le - lt;
        };
        // Events at t against earlier events; then those events join; then the censored at
        // t against every event up to and including t.
        for &k in group.iter().filter(|&&k| event[k]) {
            count(k, &tree);
        }
        for &k in group.iter().filter(|&&k| event[k]) {
            add(&mut tree, rank(scores[k]));
            inserted += 1;
        }
        for &k in group.iter().filter(|&&k| !event[k]) {
            let r = rank(scores[k]);
            let lt = below(&tree, r);
            let le = below(&tree, r + 1);
            pairs += inserted;
            correct += lt;
            tied += le - lt;
        }
        i = j;
    }
    if pairs == 0 {
        return 0.5;
    }
    // An earlier event with a lower "survival" score is concordant: `correct` counts earlier
    // events scoring below the later subject.
    (correct as f64 + 0.5 * tied as f64) / pairs as f64
}

/// Fits a Cox model. `x` holds each subject's covariates (all rows of length `names.len()`).
pub fn fit(
    time: &[f64],
    event: &[bool],
    x: &[Vec<f64>],
    names: &[String],
) -> Result<CoxFit, CoxError> {
    let n = time.len();
    let p = names.len();
    if !event.iter().any(|e| *e) {
        return Err(CoxError::NoEvents);
    }
    let means: Vec<f64> = (0..p)
        .map(|a| x.iter().map(|r| r[a]).sum::<f64>() / n as f64)
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| time[a].total_cmp(&time[b]));
    let data = Data {
        time: order.iter().map(|&i| time[i]).collect(),
        event: order.iter().map(|&i| event[i]).collect(),
        x: order
            .iter()
            .flat_map(|&i| (0..p).map(|a| x[i][a] - means[a]).collect::<Vec<_>>())
            .collect(),
        p,
    };
    let mut beta = vec![0.0; p];
    let (mut ll, mut grad, mut hess) = efron(&data, &beta);
    let mut iterations = 0;
    loop {
        iterations += 1;
        if iterations > 100 {
            return Err(CoxError::NotConverged(100));
        }
        let neg: Matrix = Matrix {
            n: p,
            a: hess.a.iter().map(|v| -v).collect(),
        };
        let Some(step) = neg.solve(&grad) else {
            return Err(CoxError::Singular(singular_name(&neg, names)));
        };
        // Halve the step until the likelihood does not fall.
        let mut scale = 1.0;
        let mut next = None;
        for _ in 0..30 {
            let b: Vec<f64> = beta.iter().zip(&step).map(|(a, s)| a + scale * s).collect();
            let (l, g, h) = efron(&data, &b);
            if l.is_finite() && l >= ll - 1e-12 * ll.abs() {
                next = Some((b, l, g, h));
                break;
            }
            scale *= 0.5;
        }
        let Some((b, l, g, h)) = next else {
            return Err(CoxError::NotConverged(iterations));
        };
        let moved = step.iter().fold(0.0f64, |m, s| m.max((s * scale).abs()));
        beta = b;
        (ll, grad, hess) = (l, g, h);
        if moved < 1e-10 || grad.iter().all(|g| g.abs() < 1e-10) {
            break;
        }
    }
    let neg = Matrix {
        n: p,
        a: hess.a.iter().map(|v| -v).collect(),
    };
    let Some(cov) = neg.inverse() else {
        return Err(CoxError::Singular(singular_name(&neg, names)));
    };
    let coefficients: Vec<Coefficient> = (0..p)
        .map(|a| {
            let se = cov.get(a, a).max(0.0).sqrt();
            let z = beta[a] / se;
            Coefficient {
                name: names[a].clone(),
                coef: beta[a],
                se,
                hazard_ratio: beta[a].exp(),
                z,
                p: normal_two_sided_p(z),
            }
        })
        .collect();
    let scores: Vec<f64> = x
        .iter()
        .map(|r| -r.iter().zip(&beta).map(|(v, b)| v * b).sum::<f64>())
        .collect();
    let warnings = coefficients
        .iter()
        .filter(|c| c.se > 1e3 || !c.se.is_finite())
        .map(|c| {
            format!(
                "`{}` is not identifiable: the likelihood keeps rising as its coefficient runs off (the events all lie on one side of it); drop it or add events",
                c.name
            )
        })
        .collect();
    Ok(CoxFit {
        warnings,
        coefficients,
        log_likelihood: ll,
        concordance: concordance(time, event, &scores),
        iterations,
        subjects: n,
        events: event.iter().filter(|e| **e).count(),
    })
}

/// The covariate with the smallest information (the likeliest culprit of a singular fit).
fn singular_name(info: &Matrix, names: &[String]) -> String {
    (0..info.n)
        .min_by(|&a, &b| info.get(a, a).total_cmp(&info.get(b, b)))
        .and_then(|i| names.get(i).cloned())
        .unwrap_or_default()
}
