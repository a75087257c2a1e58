//! Small dense linear algebra and a quasi-Newton minimiser, enough for models with a handful
//! of parameters (BG/NBD, Gamma-Gamma) and for Newton's method on Cox and logistic models.

/// A square matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub n: usize,
    pub a: Vec<f64>,
}

impl Matrix {
    pub fn zeros(n: usize) -> Matrix {
        Matrix {
            n,
            a: vec![0.0; n * n],
        }
    }

    pub fn identity(n: usize) -> Matrix {
        let mut m = Matrix::zeros(n);
        for i in 0..n {
            m.a[i * n + i] = 1.0;
        }
        m
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.a[i * self.n + j]
    }

    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.a[i * self.n + j] = v;
    }

    pub fn mul_vec(&self, v: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|i| (0..self.n).map(|j| self.get(i, j) * v[j]).sum())
            .collect()
    }

    /// The inverse by Gauss–Jordan elimination with partial pivoting; `None` when singular.
    pub fn inverse(&self) -> Option<Matrix> {
        let n = self.n;
        let mut a = self.a.clone();
        let mut inv = Matrix::identity(n).a;
        for col in 0..n {
            let pivot =
                (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
            let p = a[pivot * n + col];
            if p.abs() < 1e-300 || !p.is_finite() {
                return None;
            }
            if pivot != col {
                for k in 0..n {
                    a.swap(pivot * n + k, col * n + k);
                    inv.swap(pivot * n + k, col * n + k);
                }
            }
            let p = a[col * n + col];
            for k in 0..n {
                a[col * n + k] /= p;
                inv[col * n + k] /= p;
            }
            for row in 0..n {
                if row == col {
                    continue;
                }
                let f = a[row * n + col];
                if f == 0.0 {
                    continue;
                }
                for k in 0..n {
                    a[row * n + k] -= f * a[col * n + k];
                    inv[row * n + k] -= f * inv[col * n + k];
                }
            }
        }
        Some(Matrix { n, a: inv })
    }

    /// Solves `self · x = b` (via the inverse; the systems here are small).
    pub fn solve(&self, b: &[f64]) -> Option<Vec<f64>> {
        Some(self.inverse()?.mul_vec(b))
    }
}

/// A function to minimise: its value and gradient at a point.
pub type Objective<'a> = dyn FnMut(&[f64]) -> (f64, Vec<f64>) + 'a;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The result of a minimisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub f: f64,
    pub iterations: u32,
    pub converged: bool,
}

/// Minimises `f` (returning the value and the gradient) from `x0` by BFGS with a backtracking
/// line search, then polishes with Newton steps on a Hessian differenced from the gradient,
/// until the gradient's largest component is below `gtol`.
pub fn minimise(f: &mut Objective<'_>, x0: &[f64], gtol: f64, max_iterations: u32) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut fx, mut g) = f(&x);
    let mut h = Matrix::identity(n);
    let mut iterations = 0;
    let norm = |g: &[f64]| g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    while iterations < max_iterations && norm(&g) > gtol && fx.is_finite() {
        iterations += 1;
        let mut p: Vec<f64> = h.mul_vec(&g).iter().map(|v| -v).collect();
        let mut slope = dot(&p, &g);
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            h = Matrix::identity(n);
            p = g.iter().map(|v| -v).collect();
            slope = dot(&p, &g);
        }
        // Backtracking (Armijo), with steps capped so that parameters move at most 5.
        let longest = norm(&p);
        let mut step = if longest > 5.0 { 5.0 / longest } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            let xn: Vec<f64> = x.iter().zip(&p).map(|(a, b)| a + step * b).collect();
            let (fn_, gn) = f(&xn);
            // A step must lower the value: near the optimum, where it only moves within
            // rounding, BFGS has done its part and Newton's method finishes.
            if fn_.is_finite() && fn_ <= fx + 1e-4 * step * slope && fn_ < fx {
                accepted = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = accepted else {
            break;
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ.
            let rho = 1.0 / sy;
            let hy = h.mul_vec(&y);
            let yhy = dot(&y, &hy);
            for i in 0..n {
                for j in 0..n {
                    let v = h.get(i, j) - rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                    h.set(i, j, v);
                }
            }
        }
        x = xn;
        fx = fn_;
        g = gn;
    }
    // Newton polish when BFGS stalled short of the tolerance: a few steps on a
    // central-difference Hessian of the gradient.
    for _ in 0..6 {
        if norm(&g) <= gtol {
            break;
        }
        let Some(hess) = hessian(f, &x) else { break };
        let Some(d) = hess.solve(&g) else { break };
        let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a - b).collect();
        let (fn_, gn) = f(&xn);
        if !(fn_.is_finite() && fn_ <= fx + 1e-12 * fx.abs().max(1.0)) {
            break;
        }
        x = xn;
        fx = fn_;
        g = gn;
        iterations += 1;
    }
    Minimum {
        converged: norm(&g) <= gtol,
        x,
        f: fx,
        iterations,
    }
}

/// The Hessian of `f` at `x`, by central differences of its gradient, symmetrised.
pub fn hessian(f: &mut Objective<'_>, x: &[f64]) -> Option<Matrix> {
    let n = x.len();
    let mut h = Matrix::zeros(n);
    for j in 0..n {
        let e = 1e-5 * x[j].abs().max(1e-2);
        let mut xp = x.to_vec();
        xp[j] += e;
        let mut xm = x.to_vec();
        xm[j] -= e;
        let (_, gp) = f(&xp);
        let (_, gm) = f(&xm);
        for i in 0..n {
            h.set(i, j, (gp[i] - gm[i]) / (2.0 * e));
        }
    }
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (h.get(i, j) + h.get(j, i));
            h.set(i, j, v);
            h.set(j, i, v);
        }
    }
    h.a.iter().all(|v| v.is_finite()).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock() {
        let mut f = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            (
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2),
                vec![
                    -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                    200.0 * (b - a * a),
                ],
            )
        };
        let m = minimise(&mut f, &[-1.2, 1.0], 1e-10, 500);
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8,
            "{m:?}"
        );
    }

    #[test]
    fn inverse_of_a_small_matrix() {
        let m = Matrix {
            n: 3,
            a: vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0],
        };
        let inv = m.inverse().unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| m.get(i, k) * inv.get(k, j)).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(Matrix::zeros(2).inverse().is_none());
    }
}
