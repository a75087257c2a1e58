//! Classifiers for a yes/no outcome (churn at a renewal): L2-regularised logistic regression
//! by Newton's method, gradient-boosted trees (second-order, histogram splits, learned
//! direction for missing values), their per-row drivers, and calibration (Platt, isotonic).
//!
//! Features are a dense row-major matrix with `NaN` for a missing value. `Prep` fills and
//! scales them for the linear model (missing → the training mean, plus an indicator column
//! when the training data had gaps); trees take them as they are.

use serde::Serialize;

use crate::optim::Matrix;

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Standardised values are clipped to ±`CLIP` sds, so an account far outside the training
/// range does not push a linear model without bound.
pub const CLIP: f64 = 4.0;

/// Fills and standardises features: (x − mean) / sd over the training rows' present values
/// (population sd), clipped to ±`CLIP`, a missing value at the mean, and a 1/0 missing
/// indicator for each column that had gaps in training.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Prep {
    pub names: Vec<String>,
    pub means: Vec<f64>,
    pub sds: Vec<f64>,
    pub indicators: Vec<bool>,
}

impl Prep {
    pub fn fit(x: &[f64], p: usize, names: &[String]) -> Prep {
        let n = x.len() / p.max(1);
        let mut means = vec![0.0; p];
        let mut sds = vec![0.0; p];
        let mut indicators = vec![false; p];
        for j in 0..p {
            let present: Vec<f64> = (0..n)
                .map(|i| x[i * p + j])
                .filter(|v| v.is_finite())
                .collect();
            indicators[j] = present.len() < n;
            if present.is_empty() {
                continue;
            }
            let m = present.iter().sum::<f64>() / present.len() as f64;
            means[j] = m;
            sds[j] = (present.iter().map(|v| (v - m).powi(2)).sum::<f64>() / present.len() as f64)
                .sqrt();
        }
        Prep {
            names: names.to_vec(),
            means,
            sds,
            indicators,
        }
    }

    /// The width of a transformed row.
    pub fn width(&self) -> usize {
        self.means.len() + self.indicators.iter().filter(|b| **b).count()
    }

    /// The names of the transformed columns.
    pub fn columns(&self) -> Vec<String> {
        let mut out = self.names.clone();
        for (j, on) in self.indicators.iter().enumerate() {
            if *on {
                out.push(format!("{} missing", self.names[j]));
            }
        }
        out
    }

    pub fn row(&self, raw: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.width());
        for (j, v) in raw.iter().enumerate() {
            out.push(if v.is_finite() && self.sds[j] > 0.0 {
                ((v - self.means[j]) / self.sds[j]).clamp(-CLIP, CLIP)
            } else {
                0.0
            });
        }
        for (j, on) in self.indicators.iter().enumerate() {
            if *on {
                out.push(if raw[j].is_finite() { 0.0 } else { 1.0 });
            }
        }
        out
    }

    pub fn matrix(&self, x: &[f64], p: usize) -> Vec<f64> {
        x.chunks(p).flat_map(|r| self.row(r)).collect()
    }
}

/// A logistic regression: P(y) = σ(intercept + coefs · x).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Logistic {
    pub intercept: f64,
    pub coefs: Vec<f64>,
    pub iterations: u32,
}

/// Fits Σ log-loss + ‖w‖² / (2C) (the intercept unpenalised; scikit-learn's
/// `LogisticRegression(C=c)`) by Newton's method. `x` is n × p, row-major.
pub fn fit_logistic(x: &[f64], p: usize, y: &[bool], c: f64) -> Logistic {
    let n = y.len();
    let d = p + 1;
    let mut w = vec![0.0; d];
    let pos = y.iter().filter(|v| **v).count() as f64;
    if pos > 0.0 && pos < n as f64 {
        w[0] = (pos / (n as f64 - pos)).ln();
    }
    let lambda = if c > 0.0 { 1.0 / c } else { 0.0 };
    let objective = |w: &[f64]| -> f64 {
        let mut loss = 0.0;
        for i in 0..n {
            let z = w[0] + (0..p).map(|j| w[j + 1] * x[i * p + j]).sum::<f64>();
            // log(1 + e^z) − y z, stably.
            loss += if z > 0.0 {
                z + (-z).exp().ln_1p()
            } else {
                z.exp().ln_1p()
            } - if y[i] { z } else { 0.0 };
        }
        loss + 0.5 * lambda * w[1..].iter().map(|v| v * v).sum::<f64>()
    };
    let mut iterations = 0;
    let mut current = objective(&w);
    for _ in 0..100 {
        iterations += 1;
        let mut g = vec![0.0; d];
        let mut h = Matrix::zeros(d);
        for i in 0..n {
            let row = &x[i * p..(i + 1) * p];
            let z = w[0] + row.iter().zip(&w[1..]).map(|(a, b)| a * b).sum::<f64>();
            let pi = sigmoid(z);
            let r = pi - f64::from(u8::from(y[i]));
            let s = pi * (1.0 - pi);
            g[0] += r;
            h.a[0] += s;
            for a in 0..p {
                g[a + 1] += r * row[a];
                h.a[a + 1] += s * row[a];
                h.a[(a + 1) * d] += s * row[a];
                for b in 0..=a {
                    h.a[(a + 1) * d + b + 1] += s * row[a] * row[b];
                }
            }
        }
        for a in 1..d {
            for b in 1..a {
                h.a[b * d + a] = h.a[a * d + b];
            }
            g[a] += lambda * w[a];
            h.a[a * d + a] += lambda;
        }
        let Some(step) = h.solve(&g) else { break };
        let mut scale = 1.0;
        let mut moved = false;
        for _ in 0..30 {
            let next: Vec<f64> = w.iter().zip(&step).map(|(a, s)| a - scale * s).collect();
            let value = objective(&next);
            if value <= current {
                w = next;
                current = value;
                moved = true;
                break;
            }
            scale *= 0.5;
        }
        let size = step.iter().fold(0.0f64, |m, s| m.max((s * scale).abs()));
        if !moved || size < 1e-10 {
            break;
        }
    }
    Logistic {
        intercept: w[0],
        coefs: w[1..].to_vec(),
        iterations,
    }
}

impl Logistic {
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.coefs).map(|(a, b)| a * b).sum::<f64>()
    }

    pub fn probability(&self, row: &[f64]) -> f64 {
        sigmoid(self.log_odds(row))
    }

    /// Each column's contribution to the log-odds against an account at the training mean
    /// (coefficient × standardised value); they sum to log-odds − intercept.
    pub fn drivers(&self, row: &[f64]) -> Vec<f64> {
        row.iter().zip(&self.coefs).map(|(a, b)| a * b).collect()
    }
}

/// Settings of the boosted trees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct TreeParams {
    pub trees: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    pub min_rows_in_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Histogram bins per feature (quantiles of the training values).
    pub bins: usize,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            trees: 100,
            learning_rate: 0.1,
            max_depth: 4,
            min_rows_in_leaf: 20,
            lambda: 1.0,
            bins: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Node {
    /// Split feature, or `usize::MAX` at a leaf.
    feature: usize,
    /// Rows with a value ≤ threshold go left.
    threshold: f64,
    missing_left: bool,
    left: usize,
    right: usize,
    /// The node's value (learning rate applied): the leaf's output, or what the node would
    /// output as a leaf (for path attributions).
    value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn leaf(&self, row: &[f64]) -> usize {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.feature == usize::MAX {
                return i;
            }
            let v = row[n.feature];
            let left = if v.is_finite() {
                v <= n.threshold
            } else {
                n.missing_left
            };
            i = if left { n.left } else { n.right };
        }
    }
}

/// Gradient-boosted trees for log-loss.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Gbdt {
    pub base: f64,
    trees: Vec<Tree>,
    pub params: TreeParams,
    /// Total split gain per feature, a measure of importance.
    pub gain: Vec<f64>,
}

/// Per-feature bin edges (upper bounds) from the training values' quantiles.
fn edges(x: &[f64], p: usize, j: usize, bins: usize) -> Vec<f64> {
    let mut v: Vec<f64> = x
        .chunks(p)
        .map(|r| r[j])
        .filter(|v| v.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.len() <= bins {
        return v;
    }
    let mut out: Vec<f64> = (1..=bins)
        .map(|k| v[(k * v.len() / bins).min(v.len()) - 1])
        .collect();
    out.dedup();
    out
}

/// Fits boosted trees to `x` (n × p, `NaN` = missing) and `y`.
pub fn fit_gbdt(x: &[f64], p: usize, y: &[bool], params: TreeParams) -> Gbdt {
    let n = y.len();
    let pos = y.iter().filter(|v| **v).count() as f64;
    let base = if pos > 0.0 && pos < n as f64 {
        (pos / (n as f64 - pos)).ln()
    } else {
        0.0
    };
    // Bin every value once: bin b means value ≤ edges[b]; 255 = missing.
    let all_edges: Vec<Vec<f64>> = (0..p)
        .map(|j| edges(x, p, j, params.bins.clamp(2, 254)))
        .collect();
    // Column-major: feature j's bins are binned[j·n .. (j+1)·n].
    let binned: Vec<u8> = (0..n * p)
        .map(|k| {
            let (j, i) = (k / n, k % n);
            let v = x[i * p + j];
            if v.is_finite() {
                let e = &all_edges[j];
                e.partition_point(|t| *t < v).min(e.len().saturating_sub(1)) as u8
            } else {
                255
            }
        })
        .collect();
    let mut raw = vec![base; n];
    let mut trees = Vec::with_capacity(params.trees);
    let mut gain = vec![0.0; p];
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    for _ in 0..params.trees {
        for i in 0..n {
            let pi = sigmoid(raw[i]);
            g[i] = pi - f64::from(u8::from(y[i]));
            h[i] = (pi * (1.0 - pi)).max(1e-16);
        }
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let mut nodes = Vec::new();
        grow(
            &mut nodes, &mut rows, 0, &binned, &all_edges, p, &g, &h, &params, &mut gain,
        );
        let tree = Tree { nodes };
        for (i, r) in raw.iter_mut().enumerate() {
            *r += tree.nodes[tree.leaf(&x[i * p..(i + 1) * p])].value;
        }
        trees.push(tree);
    }
    Gbdt {
        base,
        trees,
        params,
        gain,
    }
}

/// Grows a node over `rows` at `depth`, depth-first; returns its index.
#[allow(clippy::too_many_arguments)]
fn grow(
    nodes: &mut Vec<Node>,
    rows: &mut [u32],
    depth: usize,
    binned: &[u8],
    edges: &[Vec<f64>],
    p: usize,
    g: &[f64],
    h: &[f64],
    params: &TreeParams,
    gain_total: &mut [f64],
) -> usize {
    let (sg, sh): (f64, f64) = rows
        .iter()
        .map(|&i| (g[i as usize], h[i as usize]))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let lambda = params.lambda;
    let n_rows = binned.len() / p.max(1);
    let me = nodes.len();
    nodes.push(Node {
        feature: usize::MAX,
        threshold: 0.0,
        missing_left: false,
        left: 0,
        right: 0,
        value: -sg / (sh + lambda) * params.learning_rate,
    });
    if depth >= params.max_depth || rows.len() < 2 * params.min_rows_in_leaf {
        return me;
    }
    let score = |g: f64, h: f64| g * g / (h + lambda);
    let parent = score(sg, sh);
    // (gain, feature, bin, missing_left)
    let mut best: Option<(f64, usize, usize, bool)> = None;
    let mut hist = [[0.0f64; 3]; 256];
    for j in 0..p {
        let bins = edges[j].len();
        if bins < 2 {
            continue;
        }
        // The feature's bins are one column (column-major), so this reads a few kilobytes.
        let column = &binned[j * n_rows..(j + 1) * n_rows];
        hist[..bins].fill([0.0; 3]);
        hist[255] = [0.0; 3];
        for &i in rows.iter() {
            let cell = &mut hist[column[i as usize] as usize];
            cell[0] += g[i as usize];
            cell[1] += h[i as usize];
            cell[2] += 1.0;
        }
        let [mg, mh, mn] = hist[255];
        let mn = mn as usize;
        let (mut lg, mut lh, mut ln) = (0.0, 0.0, 0usize);
        for (b, cell) in hist.iter().enumerate().take(bins - 1) {
            lg += cell[0];
            lh += cell[1];
            ln += cell[2] as usize;
            for missing_left in [false, true] {
                let (gl, hl, nl) = if missing_left {
                    (lg + mg, lh + mh, ln + mn)
                } else {
                    (lg, lh, ln)
                };
                let nr = rows.len() - nl;
                if nl < params.min_rows_in_leaf || nr < params.min_rows_in_leaf {
                    continue;
                }
                let gain = score(gl, hl) + score(sg - gl, sh - hl) - parent;
                if gain > 1e-12 && best.is_none_or(|b| gain > b.0) {
                    best = Some((gain, j, b, missing_left));
                }
                if mn == 0 {
                    break;
                }
            }
        }
    }
    let Some((gain, j, bin, missing_left)) = best else {
        return me;
    };
    gain_total[j] += gain;
    let goes_left = |i: u32| {
        let b = binned[j * n_rows + i as usize];
        if b == 255 {
            missing_left
        } else {
            b as usize <= bin
        }
    };
    // Partition in place: left rows first.
    let mut k = 0;
    for m in 0..rows.len() {
        if goes_left(rows[m]) {
            rows.swap(k, m);
            k += 1;
        }
    }
    let (left_rows, right_rows) = rows.split_at_mut(k);
    let left = grow(
        nodes,
        left_rows,
        depth + 1,
        binned,
        edges,
        p,
        g,
        h,
        params,
        gain_total,
    );
    let right = grow(
        nodes,
        right_rows,
        depth + 1,
        binned,
        edges,
        p,
        g,
        h,
        params,
        gain_total,
    );
    let n = &mut nodes[me];
    n.feature = j;
    n.threshold = edges[j][bin];
    n.missing_left = missing_left;
    n.left = left;
    n.right = right;
    me
}

impl Gbdt {
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.base
            + self
                .trees
                .iter()
                .map(|t| t.nodes[t.leaf(row)].value)
                .sum::<f64>()
    }

    pub fn probability(&self, row: &[f64]) -> f64 {
        sigmoid(self.log_odds(row))
    }

    /// Path attributions (Saabas): along each tree's path, the change in the node's value is
    /// credited to the feature split on. Returns (the base every row starts from, one value
    /// per feature); base + Σ values = the row's log-odds.
    pub fn drivers(&self, row: &[f64], p: usize) -> (f64, Vec<f64>) {
        let mut out = vec![0.0; p];
        let mut base = self.base;
        for t in &self.trees {
            base += t.nodes[0].value;
            let mut i = 0;
            loop {
                let n = &t.nodes[i];
                if n.feature == usize::MAX {
                    break;
                }
                let v = row[n.feature];
                let left = if v.is_finite() {
                    v <= n.threshold
                } else {
                    n.missing_left
                };
                let next = if left { n.left } else { n.right };
                out[n.feature] += t.nodes[next].value - n.value;
                i = next;
            }
        }
        (base, out)
    }
}

/// Platt scaling: P = σ(a · score + b), fitted by Newton's method on log-loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

pub fn fit_platt(scores: &[f64], y: &[bool]) -> Platt {
    let m = fit_logistic(scores, 1, y, 0.0);
    Platt {
        a: m.coefs[0],
        b: m.intercept,
    }
}

impl Platt {
    pub fn apply(&self, score: f64) -> f64 {
        sigmoid(self.a * score + self.b)
    }
}

/// Isotonic calibration: the non-decreasing step fit of outcomes on scores (pool adjacent
/// violators), interpolated linearly between the distinct training scores, clipped outside.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Isotonic {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

pub fn fit_isotonic(scores: &[f64], y: &[bool]) -> Isotonic {
    let mut v: Vec<(f64, f64)> = scores
        .iter()
        .zip(y)
        .map(|(s, y)| (*s, f64::from(u8::from(*y))))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Distinct scores with their mean outcome and weight.
    let mut xs: Vec<f64> = Vec::new();
    let mut blocks: Vec<(f64, f64)> = Vec::new(); // (sum, weight)
    for (s, o) in v {
        if xs.last() == Some(&s) {
            let b = blocks.last_mut().expect("a block per score");
            b.0 += o;
            b.1 += 1.0;
        } else {
            xs.push(s);
            blocks.push((o, 1.0));
        }
    }
    // Pool adjacent violators over the distinct scores.
    let mut pooled: Vec<(f64, f64, usize)> = Vec::new(); // (sum, weight, distinct scores)
    for (sum, w) in blocks {
        pooled.push((sum, w, 1));
        while pooled.len() > 1 {
            let k = pooled.len();
            let (a, b) = (pooled[k - 2], pooled[k - 1]);
            if a.0 / a.1 <= b.0 / b.1 {
                break;
            }
            pooled.truncate(k - 2);
            pooled.push((a.0 + b.0, a.1 + b.1, a.2 + b.2));
        }
    }
    let mut ys = Vec::with_capacity(xs.len());
    for (sum, w, count) in pooled {
        ys.extend(std::iter::repeat_n(sum / w, count));
    }
    Isotonic { x: xs, y: ys }
}

impl Isotonic {
    pub fn apply(&self, score: f64) -> f64 {
        let n = self.x.len();
        if n == 0 {
            return 0.5;
        }
        if score <= self.x[0] {
            return self.y[0];
        }
        if score >= self.x[n - 1] {
            return self.y[n - 1];
        }
        let i = self.x.partition_point(|v| *v <= score);
        let (x0, x1, y0, y1) = (self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]);
        y0 + (y1 - y0) * (score - x0) / (x1 - x0)
    }
}
