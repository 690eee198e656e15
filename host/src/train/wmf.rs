//! Weighted matrix factorisation for implicit feedback (Hu, Koren and Volinsky 2008): play
//! counts `r` become preferences `p = 1` with confidence `c = 1 + alpha r`, every unplayed
//! pair is `p = 0, c = 1`, and alternating least squares fits user and item factors.
//!
//! Each half-step solves one `k x k` system per user (or item) by a few conjugate-gradient
//! steps warm-started from the last solution, never forming `Y^T C_u Y` (Takacs et al. 2011,
//! as Python's `implicit` does): `A x = (Y^T Y + reg I) x + sum_i (c_i - 1)(y_i . x) y_i`.
//! `Y^T Y` is one faer GEMM; the solves run in parallel and each is independent, so the
//! result does not depend on the thread count. discorec implements the same method on one
//! thread; this is its parallel form.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::catalog::Interactions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WmfConfig {
    pub factors: usize,
    /// Confidence `1 + alpha * count`.
    pub alpha: f32,
    pub regularization: f32,
    pub iterations: usize,
    pub cg_steps: usize,
}

impl Default for WmfConfig {
    fn default() -> Self {
        Self { factors: 200, alpha: 5.0, regularization: 50.0, iterations: 15, cg_steps: 3 }
    }
}

/// Row-major factors: `users [n_users, k]`, `items [n_items, k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    pub k: usize,
    pub users: Vec<f32>,
    pub items: Vec<f32>,
}

impl Factors {
    pub fn user(&self, u: usize) -> &[f32] {
        &self.users[u * self.k..(u + 1) * self.k]
    }

    pub fn item(&self, i: usize) -> &[f32] {
        &self.items[i * self.k..(i + 1) * self.k]
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// `Y^T Y` (+ `reg` on the diagonal) for row-major `y [n, k]`.
fn gram(y: &[f32], k: usize, reg: f32) -> Vec<f32> {
    let n = y.len() / k;
    let mut g = vec![0.0; k * k];
    let m = MatRef::from_row_major_slice(y, n, k);
    let par = match rayon::current_num_threads() {
        1 => Par::Seq,
        n => Par::rayon(n),
    };
    matmul(MatMut::from_row_major_slice_mut(&mut g, k, k), Accum::Replace, m.transpose(), m, 1.0f32, par);
    for d in 0..k {
        g[d * k + d] += reg;
    }
    g
}

fn matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
    let k = x.len();
    for (r, o) in out.iter_mut().enumerate() {
        *o = dot(&a[r * k..(r + 1) * k], x);
    }
}

/// One half-step: each row of `x` (users of `m`) re-solved against the fixed `y`.
fn solve(m: &Interactions, x: &mut [f32], y: &[f32], k: usize, cfg: &WmfConfig) {
    let yty = gram(y, k, cfg.regularization);
    x.par_chunks_mut(k).enumerate().for_each(|(u, xu)| {
        let (items, counts) = m.row(u);
        let conf = |c: f32| 1.0 + cfg.alpha * c;
        // r = b - A x
        let mut r = vec![0.0; k];
        matvec(&yty, xu, &mut r);
        r.iter_mut().for_each(|v| *v = -*v);
        for (&i, &c) in items.iter().zip(counts) {
            let yi = &y[i as usize * k..(i as usize + 1) * k];
            let c = conf(c);
            axpy(c - (c - 1.0) * dot(yi, xu), yi, &mut r);
        }
        let mut p = r.clone();
        let mut rs_old = dot(&r, &r);
        let mut ap = vec![0.0; k];
        for _ in 0..cfg.cg_steps {
            if rs_old < 1e-20 {
                break;
            }
            matvec(&yty, &p, &mut ap);
            for (&i, &c) in items.iter().zip(counts) {
                let yi = &y[i as usize * k..(i as usize + 1) * k];
                axpy((conf(c) - 1.0) * dot(yi, &p), yi, &mut ap);
            }
            let alpha = rs_old / dot(&p, &ap);
            axpy(alpha, &p, xu);
            axpy(-alpha, &ap, &mut r);
            let rs_new = dot(&r, &r);
            p.iter_mut().zip(&r).for_each(|(p, r)| *p = r + rs_new / rs_old * *p);
            rs_old = rs_new;
        }
    });
}

/// Fits factors to `m` (users x items); `on_iteration(i, loss)` after each iteration.
pub fn fit(m: &Interactions, cfg: &WmfConfig, seed: u64, mut on_iteration: impl FnMut(usize, f64)) -> Factors {
    let k = cfg.factors;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut users: Vec<f32> = (0..m.n_users * k).map(|_| rng.random::<f32>() * 0.01).collect();
    let mut items: Vec<f32> = (0..m.n_items * k).map(|_| rng.random::<f32>() * 0.01).collect();
    let mt = m.transpose();
    for it in 0..cfg.iterations {
        solve(m, &mut users, &items, k, cfg);
        solve(&mt, &mut items, &users, k, cfg);
        let f = Factors { k, users, items };
        on_iteration(it, loss(m, &f, cfg));
        (users, items) = (f.users, f.items);
    }
    Factors { k, users, items }
}

/// The weighted squared error plus regularisation, per unit of confidence, as `implicit`'s
/// `calculate_loss` defines it: `[sum_ui c_ui (p_ui - x_u . y_i)^2 + reg (|X|^2 + |Y|^2)] /
/// (sum of confidences + unplayed pairs)`.
pub fn loss(m: &Interactions, f: &Factors, cfg: &WmfConfig) -> f64 {
    let k = f.k;
    let yty = gram(&f.items, k, 0.0);
    let (num, conf_sum) = (0..m.n_users)
        .into_par_iter()
        .map(|u| {
            let xu = f.user(u);
            let mut r = vec![0.0; k];
            matvec(&yty, xu, &mut r);
            let mut total = f64::from(dot(&r, xu));
            let mut conf = 0.0f64;
            let (items, counts) = m.row(u);
            for (&i, &c) in items.iter().zip(counts) {
                let c = 1.0 + cfg.alpha * c;
                let s = dot(f.item(i as usize), xu);
                total += f64::from(c - 2.0 * c * s + (c - 1.0) * s * s);
                conf += f64::from(c);
            }
            (total, conf)
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let norms: f64 = f.users.iter().chain(&f.items).map(|v| f64::from(*v).powi(2)).sum();
    let unplayed = (m.n_users * m.n_items - m.nnz()) as f64;
    (num + f64::from(cfg.regularization) * norms) / (conf_sum + unplayed)
}

/// Factors for items the fit never saw, from their plays and the fixed user factors: each
/// item's least-squares solve (the item half-step of ALS), by `steps` CG steps from zero.
/// `items` is items x users.
pub fn fold_in(items: &Interactions, users: &[f32], cfg: &WmfConfig, steps: usize) -> Vec<f32> {
    let mut x = vec![0.0; items.n_users * cfg.factors];
    solve(items, &mut x, users, cfg.factors, &WmfConfig { cg_steps: steps, ..cfg.clone() });
    x
}
