//! Every backward op, loss and optimiser step, on the CPU and in WGSL (lavapipe), against
//! central finite differences of a plain f64 reference (`support/grad.rs`), at small shapes
//! with odd sizes. Gradients of a scalar `L = sum(r * f(x))` for a random projection `r`.

use debut::backend::{Backend, Tensor};
use debut::nn::{AdamStep, SgdStep, SparseRows};
use debut_tests::grad::{self as g, numeric_grad, rel_err, to64};
use debut_tests::*;

const EPS: f64 = 1e-5;
/// f32 kernels against f64 finite differences, relative to the largest gradient.
const TOL: f64 = 1e-4;

fn backends() -> Vec<Backend> {
    vec![cpu(), gpu()]
}

fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| scale * rng.uniform()).collect()
}

fn up(b: &Backend, shape: &[usize], v: &[f32]) -> Tensor {
    b.upload(shape, v).unwrap()
}

fn down(b: &Backend, t: &Tensor) -> Vec<f32> {
    b.download(t).unwrap()
}

fn check(b: &Backend, what: &str, got: &[f32], want: &[f64]) {
    let e = rel_err(got, want);
    eprintln!("{}: {what}: relative error {e:.1e}", b.name());
    assert!(e < TOL, "{}: {what}: relative error {e:.2e} against finite differences", b.name());
}

#[test]
fn conv1d_input_weight_and_bias_gradients() {
    // (c_in, c_out, k, batch, time, relu)
    for (case, &(c_in, c_out, k, batch, time, relu)) in [
        (3, 5, 3, 2, 7, true),
        (4, 3, 5, 2, 9, false),
        (2, 6, 1, 3, 4, true),
        (5, 4, 3, 1, 1, true),
        (6, 66, 3, 2, 5, true),
    ]
    .iter()
    .enumerate()
    {
        let s = case as u64 * 10;
        let (x, w, bias) =
            (random(c_in * batch * time, s, 1.0), random(k * c_out * c_in, s + 1, 0.5), random(c_out, s + 2, 0.3));
        let r = to64(&random(c_out * batch * time, s + 3, 1.0));
        let (x64, w64, b64) = (to64(&x), to64(&w), to64(&bias));
        let conv = |x: &[f64], w: &[f64], b: &[f64]| g::dot(&r, &g::conv1d(x, w, b, c_in, c_out, k, batch, time, relu));
        let dx = numeric_grad(|v| conv(v, &w64, &b64), &x64, EPS);
        let dw = numeric_grad(|v| conv(&x64, v, &b64), &w64, EPS);
        let db = numeric_grad(|v| conv(&x64, &w64, v), &b64, EPS);
        let r32: Vec<f32> = r.iter().map(|&v| v as f32).collect();
        for be in backends() {
            let (xt, wt, bt) =
                (up(&be, &[c_in, batch, time], &x), up(&be, &[k, c_out, c_in], &w), up(&be, &[c_out], &bias));
            let y = be.conv1d_forward(&xt, &wt, &bt, relu).unwrap();
            let want_y = g::conv1d(&x64, &w64, &b64, c_in, c_out, k, batch, time, relu);
            check(&be, &format!("conv case {case} forward"), &down(&be, &y), &want_y);
            let dy = up(&be, &[c_out, batch, time], &r32);
            let mask = relu.then_some(&y);
            let gx = be.conv1d_x_backward(&dy, mask, &wt).unwrap();
            check(&be, &format!("conv case {case} dx"), &down(&be, &gx), &dx);
            let (mut gw, mut gb) = (be.zeros(&[k, c_out, c_in]).unwrap(), be.zeros(&[c_out]).unwrap());
            be.conv1d_weight_backward(&xt, &dy, mask, &mut gw, &mut gb).unwrap();
            check(&be, &format!("conv case {case} dw"), &down(&be, &gw), &dw);
            check(&be, &format!("conv case {case} db"), &down(&be, &gb), &db);
            // Gradients accumulate.
            be.conv1d_weight_backward(&xt, &dy, mask, &mut gw, &mut gb).unwrap();
            let twice: Vec<f64> = dw.iter().map(|v| 2.0 * v).collect();
            check(&be, &format!("conv case {case} dw accumulated"), &down(&be, &gw), &twice);
        }
    }
}

#[test]
fn max_pool_and_segment_mean_gradients() {
    for (case, &(c, b, t, pool)) in [(3, 2, 7, 2), (2, 3, 9, 3), (1, 1, 4, 4)].iter().enumerate() {
        let x = random(c * b * t, 100 + case as u64, 1.0);
        let r = to64(&random(c * b * (t / pool), 200 + case as u64, 1.0));
        let dx = numeric_grad(|v| g::dot(&r, &g::max_pool(v, t, pool)), &to64(&x), EPS);
        for be in backends() {
            let xt = up(&be, &[c, b, t], &x);
            let dy = up(&be, &[c, b, t / pool], &r.iter().map(|&v| v as f32).collect::<Vec<_>>());
            check(
                &be,
                &format!("max-pool case {case}"),
                &down(&be, &be.max_pool_backward(&xt, &dy, pool).unwrap()),
                &dx,
            );
        }
    }
    let (rows, cols, offsets) = (5, 7, vec![0usize, 1, 4, 7]);
    let x = random(rows * cols, 300, 1.0);
    let r = to64(&random(rows * 3, 301, 1.0));
    let dx = numeric_grad(|v| g::dot(&r, &g::segment_mean(v, cols, &offsets)), &to64(&x), EPS);
    for be in backends() {
        let dy = up(&be, &[rows, 3], &r.iter().map(|&v| v as f32).collect::<Vec<_>>());
        check(&be, "segment mean", &down(&be, &be.segment_mean_backward(&dy, &offsets, cols).unwrap()), &dx);
    }
}

#[test]
fn dense_and_matmul_gradients() {
    for (case, &(d_in, d_out, batch, relu)) in [(7, 5, 3, true), (70, 65, 2, false), (3, 1, 4, true)].iter().enumerate()
    {
        let s = 400 + 10 * case as u64;
        let (x, w, bias) = (random(d_in * batch, s, 1.0), random(d_out * d_in, s + 1, 0.5), random(d_out, s + 2, 0.3));
        let r = to64(&random(d_out * batch, s + 3, 1.0));
        let (x64, w64, b64) = (to64(&x), to64(&w), to64(&bias));
        let f = |x: &[f64], w: &[f64], b: &[f64]| g::dot(&r, &g::dense(x, w, b, batch, relu));
        let (dx, dw, db) = (
            numeric_grad(|v| f(v, &w64, &b64), &x64, EPS),
            numeric_grad(|v| f(&x64, v, &b64), &w64, EPS),
            numeric_grad(|v| f(&x64, &w64, v), &b64, EPS),
        );
        for be in backends() {
            let (xt, wt, bt) = (up(&be, &[d_in, batch], &x), up(&be, &[d_out, d_in], &w), up(&be, &[d_out], &bias));
            let y = be.dense_forward(&xt, &wt, &bt, relu).unwrap();
            let dy = up(&be, &[d_out, batch], &r.iter().map(|&v| v as f32).collect::<Vec<_>>());
            let (mut gw, mut gb) = (be.zeros(&[d_out, d_in]).unwrap(), be.zeros(&[d_out]).unwrap());
            let gx = be.dense_backward(&xt, relu.then_some(&y), &wt, &dy, &mut gw, &mut gb, true).unwrap().unwrap();
            check(&be, &format!("dense case {case} dx"), &down(&be, &gx), &dx);
            check(&be, &format!("dense case {case} dw"), &down(&be, &gw), &dw);
            check(&be, &format!("dense case {case} db"), &down(&be, &gb), &db);
        }
    }
    // Every transpose combination, and accumulation.
    let (a, b) = (random(6 * 4, 500, 1.0), random(6 * 5, 501, 1.0));
    for (ta, tb, sa, sb) in [
        (true, false, [6, 4], [6, 5]),
        (false, false, [4, 6], [6, 5]),
        (false, true, [4, 6], [5, 6]),
        (true, true, [6, 4], [5, 6]),
    ] {
        let want = g::matmul(&to64(&a), sa, ta, &to64(&b), sb, tb);
        for be in backends() {
            let (at, bt) = (up(&be, &sa, &a), up(&be, &sb, &b));
            let c = be.matmul(&at, ta, &bt, tb).unwrap();
            assert_eq!(c.shape(), [4, 5]);
            check(&be, &format!("matmul ta={ta} tb={tb}"), &down(&be, &c), &want);
            let mut acc = up(&be, &[4, 5], &[1.0; 20]);
            be.matmul_acc(&at, ta, &bt, tb, &mut acc).unwrap();
            let plus_one: Vec<f64> = want.iter().map(|v| v + 1.0).collect();
            check(&be, &format!("matmul_acc ta={ta} tb={tb}"), &down(&be, &acc), &plus_one);
        }
    }
}

#[test]
fn l2_normalize_and_cosine_similarity_gradients() {
    let (d, m, n) = (6, 3, 5);
    let (u, v) = (random(d * m, 600, 1.0), random(d * n, 601, 1.0));
    let r = to64(&random(d * m, 602, 1.0));
    let dx = numeric_grad(|x| g::dot(&r, &g::l2_normalize(x, m)), &to64(&u), EPS);
    let rs = to64(&random(m * n, 603, 1.0));
    let du = numeric_grad(|x| g::dot(&rs, &g::cosine_similarity(x, &to64(&v), d)), &to64(&u), EPS);
    let dv = numeric_grad(|x| g::dot(&rs, &g::cosine_similarity(&to64(&u), x, d)), &to64(&v), EPS);
    for be in backends() {
        let (ut, vt) = (up(&be, &[d, m], &u), up(&be, &[d, n], &v));
        let dy = up(&be, &[d, m], &r.iter().map(|&x| x as f32).collect::<Vec<_>>());
        check(&be, "l2 normalize", &down(&be, &be.l2_normalize_backward(&ut, &dy).unwrap()), &dx);
        let cos = be.cosine_similarity(&ut, &vt).unwrap();
        check(&be, "cosine similarity", &down(&be, &cos.scores), &g::cosine_similarity(&to64(&u), &to64(&v), d));
        let ds = up(&be, &[m, n], &rs.iter().map(|&x| x as f32).collect::<Vec<_>>());
        let (gu, gv) = be.cosine_similarity_backward(&ut, &vt, &cos, &ds).unwrap();
        check(&be, "cosine du", &down(&be, &gu), &du);
        check(&be, "cosine dv", &down(&be, &gv), &dv);
    }
}

#[test]
fn sparse_dense_and_embedding_lookup_gradients() {
    // Three rows over 9 features, feature 2 in every row, one empty row.
    let x = SparseRows {
        dim: 9,
        offsets: vec![0, 3, 3, 6],
        indices: vec![2, 5, 8, 0, 2, 7],
        values: vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75],
    };
    let (d_out, w, bias) = (70, random(70 * 9, 700, 0.5), random(70, 701, 0.3));
    let r = to64(&random(d_out * 3, 702, 1.0));
    let vals = to64(&x.values);
    let f = |w: &[f64], b: &[f64]| g::dot(&r, &g::sparse_dense(&x.offsets, &x.indices, &vals, w, b, true));
    let dw = numeric_grad(|v| f(v, &to64(&bias)), &to64(&w), EPS);
    let db = numeric_grad(|v| f(&to64(&w), v), &to64(&bias), EPS);
    for be in backends() {
        let (wt, bt) = (up(&be, &[d_out, 9], &w), up(&be, &[d_out], &bias));
        let y = be.sparse_dense_forward(&x, &wt, &bt, true).unwrap();
        let dy = up(&be, &[d_out, 3], &r.iter().map(|&v| v as f32).collect::<Vec<_>>());
        let dz = be.relu_backward(&dy, &y).unwrap();
        let (mut gw, mut gb) = (be.zeros(&[d_out, 9]).unwrap(), be.zeros(&[d_out]).unwrap());
        be.sparse_dense_weight_backward(&x, &dz, &mut gw, &mut gb).unwrap();
        check(&be, "sparse dense dw", &down(&be, &gw), &dw);
        check(&be, "sparse dense db", &down(&be, &gb), &db);
    }
    // An embedding lookup with a repeated row.
    let (n, d, idx) = (4, 5, vec![2u32, 0, 2, 3, 2]);
    let table = random(n * d, 710, 1.0);
    let r = to64(&random(d * idx.len(), 711, 1.0));
    let dt = numeric_grad(|t| g::dot(&r, &g::gather_columns(t, d, &idx)), &to64(&table), EPS);
    for be in backends() {
        let tt = up(&be, &[n, d], &table);
        check(
            &be,
            "lookup forward",
            &down(&be, &be.gather_columns(&tt, &idx).unwrap()),
            &g::gather_columns(&to64(&table), d, &idx),
        );
        let dy = up(&be, &[d, idx.len()], &r.iter().map(|&v| v as f32).collect::<Vec<_>>());
        let mut gt = be.zeros(&[n, d]).unwrap();
        be.gather_columns_backward(&dy, &idx, &mut gt).unwrap();
        check(&be, "lookup scatter-add", &down(&be, &gt), &dt);
    }
}

#[test]
fn loss_values_and_gradients() {
    // Hinge: 4 rows of 9 scores, 3 negatives each (one repeated).
    let (rows, n) = (4, 9);
    let s = random(rows * n, 800, 0.6);
    let (pos, neg) = (vec![0u32, 3, 5, 8], vec![1u32, 2, 2, 0, 4, 6, 7, 8, 1, 0, 1, 2]);
    let hinge = |v: &[f64]| g::mean(&g::hinge(v, n, &pos, &neg, 0.2));
    let want_s = numeric_grad(hinge, &to64(&s), EPS);
    // Cosine proximity over [6, 5]; softmax cross-entropy at temperature 0.1; sigmoid BCE.
    let (p, t) = (random(30, 801, 1.0), random(30, 802, 1.0));
    let want_p = numeric_grad(|v| g::mean(&g::cosine_proximity(v, &to64(&t), 5)), &to64(&p), EPS);
    let (z, targets) = (random(4 * 6, 803, 0.5), vec![0u32, 5, 2, 2]);
    let want_z = numeric_grad(|v| g::mean(&g::softmax_cross_entropy(v, 6, &targets, 10.0)), &to64(&z), EPS);
    let (bl, by) = (random(3 * 4, 804, 3.0), [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    let want_b = numeric_grad(|v| g::mean(&g::sigmoid_bce(v, &to64(&by), 4)), &to64(&bl), EPS);
    for be in backends() {
        let (loss, grad) = be.hinge_loss(&up(&be, &[rows, n], &s), &pos, &neg, 0.2).unwrap();
        check(&be, "hinge loss", &down(&be, &loss), &g::hinge(&to64(&s), n, &pos, &neg, 0.2));
        check(&be, "hinge gradient", &down(&be, &grad), &want_s);
        let (loss, grad) = be.cosine_proximity(&up(&be, &[6, 5], &p), &up(&be, &[6, 5], &t)).unwrap();
        check(&be, "cosine proximity loss", &down(&be, &loss), &g::cosine_proximity(&to64(&p), &to64(&t), 5));
        check(&be, "cosine proximity gradient", &down(&be, &grad), &want_p);
        let (loss, grad) = be.softmax_cross_entropy(&up(&be, &[4, 6], &z), &targets, 10.0).unwrap();
        check(&be, "softmax loss", &down(&be, &loss), &g::softmax_cross_entropy(&to64(&z), 6, &targets, 10.0));
        check(&be, "softmax gradient", &down(&be, &grad), &want_z);
        let (loss, grad) = be.sigmoid_bce(&up(&be, &[3, 4], &bl), &up(&be, &[3, 4], &by)).unwrap();
        check(&be, "sigmoid BCE loss", &down(&be, &loss), &g::sigmoid_bce(&to64(&bl), &to64(&by), 4));
        check(&be, "sigmoid BCE gradient", &down(&be, &grad), &want_b);
    }
}

/// Symmetric InfoNCE of `u, v [d, n]` (row-major) at `temperature`, in f64.
fn info_nce_ref(u: &[f64], v: &[f64], d: usize, n: usize, temperature: f64) -> f64 {
    let unit = |x: &[f64], c: usize| -> Vec<f64> {
        let col: Vec<f64> = (0..d).map(|r| x[r * n + c]).collect();
        let norm = col.iter().map(|a| a * a).sum::<f64>().sqrt();
        col.iter().map(|a| a / norm).collect()
    };
    let (uh, vh): (Vec<Vec<f64>>, Vec<Vec<f64>>) =
        ((0..n).map(|c| unit(u, c)).collect(), (0..n).map(|c| unit(v, c)).collect());
    let s: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| g::dot(&uh[i], &vh[j]) / temperature).collect()).collect();
    let ce = |row: Vec<f64>, t: usize| -> f64 {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln() - row[t]
    };
    let rows: f64 = (0..n).map(|i| ce(s[i].clone(), i)).sum::<f64>() / n as f64;
    let cols: f64 = (0..n).map(|j| ce((0..n).map(|i| s[i][j]).collect(), j)).sum::<f64>() / n as f64;
    rows + cols
}

#[test]
fn symmetric_info_nce_gradients() {
    let (d, n, temperature) = (7, 5, 0.2);
    let (u, v) = (random(d * n, 1001, 1.0), random(d * n, 1002, 1.0));
    let uv: Vec<f64> = to64(&u).into_iter().chain(to64(&v)).collect();
    let f = |x: &[f64]| info_nce_ref(&x[..d * n], &x[d * n..], d, n, temperature);
    let want = numeric_grad(f, &uv, EPS);
    for be in backends() {
        let (loss, du, dv) =
            debut::train::contrastive::info_nce(&be, &up(&be, &[d, n], &u), &up(&be, &[d, n], &v), temperature as f32)
                .unwrap();
        assert!((loss - f(&uv)).abs() < 1e-5 * f(&uv).abs(), "{}: loss {loss} vs {}", be.name(), f(&uv));
        check(&be, "InfoNCE gradient for u", &down(&be, &du), &want[..d * n]);
        check(&be, "InfoNCE gradient for v", &down(&be, &dv), &want[d * n..]);
    }
}

#[test]
fn optimiser_steps_match_their_f64_formulas() {
    let n = 300;
    let (p0, grads) = (random(n, 900, 1.0), [random(n, 901, 1.0), random(n, 902, 0.1), random(n, 903, 2.0)]);
    // SGD with Nesterov momentum, three steps at decaying rates.
    let (mut p, mut v) = (to64(&p0), vec![0.0f64; n]);
    let steps: Vec<SgdStep> = (0..3).map(|i| SgdStep { lr: 0.1 / (1.0 + i as f32), momentum: 0.9 }).collect();
    for (h, gr) in steps.iter().zip(&grads) {
        let (lr, m) = (f64::from(h.lr), f64::from(h.momentum));
        for i in 0..n {
            v[i] = m * v[i] - lr * f64::from(gr[i]);
            p[i] += m * v[i] - lr * f64::from(gr[i]);
        }
    }
    let sgd_want = p;
    // Adam(W), three steps.
    let (mut p, mut m1, mut m2) = (to64(&p0), vec![0.0f64; n], vec![0.0f64; n]);
    let adam: Vec<AdamStep> =
        (1..=3).map(|t| AdamStep { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.01, t }).collect();
    for (h, gr) in adam.iter().zip(&grads) {
        let (b1, b2) = (f64::from(h.beta1), f64::from(h.beta2));
        for i in 0..n {
            let gi = f64::from(gr[i]);
            m1[i] = b1 * m1[i] + (1.0 - b1) * gi;
            m2[i] = b2 * m2[i] + (1.0 - b2) * gi * gi;
            let (mh, vh) = (m1[i] / (1.0 - b1.powi(h.t as i32)), m2[i] / (1.0 - b2.powi(h.t as i32)));
            p[i] -= f64::from(h.lr) * (mh / (vh.sqrt() + f64::from(h.eps)) + f64::from(h.weight_decay) * p[i]);
        }
    }
    let adam_want = p;
    for be in backends() {
        let (mut p, mut v) = (up(&be, &[n], &p0), be.zeros(&[n]).unwrap());
        for (h, gr) in steps.iter().zip(&grads) {
            be.sgd_nesterov(&mut p, &up(&be, &[n], gr), &mut v, *h).unwrap();
        }
        check(&be, "SGD Nesterov", &down(&be, &p), &sgd_want);
        let (mut p, mut m, mut v) = (up(&be, &[n], &p0), be.zeros(&[n]).unwrap(), be.zeros(&[n]).unwrap());
        for (h, gr) in adam.iter().zip(&grads) {
            be.adam(&mut p, &up(&be, &[n], gr), &mut m, &mut v, *h).unwrap();
        }
        check(&be, "Adam", &down(&be, &p), &adam_want);
    }
}

#[test]
fn backward_shape_mismatches_are_errors() {
    for be in backends() {
        let x = be.zeros(&[3, 2, 5]).unwrap();
        let w = be.zeros(&[3, 4, 3]).unwrap();
        let dy_wrong = be.zeros(&[5, 2, 5]).unwrap();
        assert!(be.conv1d_x_backward(&dy_wrong, None, &w).is_err());
        let (mut dw, mut db) = (be.zeros(&[3, 4, 3]).unwrap(), be.zeros(&[3]).unwrap());
        let dy = be.zeros(&[4, 2, 5]).unwrap();
        assert!(
            be.conv1d_weight_backward(&x, &dy, None, &mut dw, &mut db).is_err(),
            "bias gradient of 3 for 4 outputs"
        );
        assert!(be.max_pool_backward(&x, &x, 2).is_err());
        assert!(be.hinge_loss(&be.zeros(&[2, 3]).unwrap(), &[0, 3], &[1, 1], 0.2).is_err(), "positive out of range");
        assert!(be.gather_columns(&be.zeros(&[2, 3]).unwrap(), &[2]).is_err());
        let mut p = be.zeros(&[4]).unwrap();
        let mut v = be.zeros(&[5]).unwrap();
        assert!(be.sgd_nesterov(&mut p, &be.zeros(&[4]).unwrap(), &mut v, SgdStep { lr: 0.1, momentum: 0.9 }).is_err());
    }
}
