//! Gradient checking: central finite differences of plain f64 references, and the f64
//! references of the training ops (losses, similarities, lookups, optimiser steps) that
//! `reference.rs` does not already have.

/// `d f / d x_i` by central differences, for every `i`.
pub fn numeric_grad(f: impl Fn(&[f64]) -> f64, x: &[f64], eps: f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let v = x[i];
            x[i] = v + eps;
            let up = f(&x);
            x[i] = v - eps;
            let down = f(&x);
            x[i] = v;
            (up - down) / (2.0 * eps)
        })
        .collect()
}

/// Largest |got - want| over the largest |want| (1e-12 at least).
pub fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let scale = want.iter().map(|v| v.abs()).fold(1e-12, f64::max);
    got.iter().zip(want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max) / scale
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// 'Same' conv of flat `x [c_in, b, t]` with tap-major `w [k, c_out, c_in]` (+ ReLU).
#[allow(clippy::too_many_arguments)]
pub fn conv1d(
    x: &[f64],
    w: &[f64],
    bias: &[f64],
    c_in: usize,
    c_out: usize,
    k: usize,
    b: usize,
    t: usize,
    relu: bool,
) -> Vec<f64> {
    let pad = (k / 2) as i64;
    let mut y = vec![0.0; c_out * b * t];
    for o in 0..c_out {
        for bb in 0..b {
            for tt in 0..t {
                let mut s = bias[o];
                for i in 0..c_in {
                    for kk in 0..k {
                        let src = tt as i64 + kk as i64 - pad;
                        if src >= 0 && (src as usize) < t {
                            s += w[(kk * c_out + o) * c_in + i] * x[(i * b + bb) * t + src as usize];
                        }
                    }
                }
                y[(o * b + bb) * t + tt] = if relu { s.max(0.0) } else { s };
            }
        }
    }
    y
}

/// Max-pool of rows of `t` steps by `pool`.
pub fn max_pool(x: &[f64], t: usize, pool: usize) -> Vec<f64> {
    x.chunks(t)
        .flat_map(|row| {
            (0..t / pool).map(move |u| row[u * pool..(u + 1) * pool].iter().cloned().fold(f64::MIN, f64::max))
        })
        .collect()
}

/// Means of column segments of `x [rows, cols]`.
pub fn segment_mean(x: &[f64], cols: usize, offsets: &[usize]) -> Vec<f64> {
    let s = offsets.len() - 1;
    x.chunks(cols)
        .flat_map(|row| {
            (0..s).map(move |i| {
                row[offsets[i]..offsets[i + 1]].iter().sum::<f64>() / (offsets[i + 1] - offsets[i]) as f64
            })
        })
        .collect()
}

/// `op(a) op(b)` for row-major matrices.
pub fn matmul(a: &[f64], [ar, ac]: [usize; 2], ta: bool, b: &[f64], [br, bc]: [usize; 2], tb: bool) -> Vec<f64> {
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let at = |i: usize, j: usize| if ta { a[j * ac + i] } else { a[i * ac + j] };
    let bt = |i: usize, j: usize| if tb { b[j * bc + i] } else { b[i * bc + j] };
    (0..m).flat_map(|i| (0..n).map(move |j| (0..k).map(|q| at(i, q) * bt(q, j)).sum())).collect()
}

/// `W x + b` (+ ReLU) for `x [d_in, batch]`.
pub fn dense(x: &[f64], w: &[f64], bias: &[f64], batch: usize, relu: bool) -> Vec<f64> {
    let d_out = bias.len();
    let mut y = matmul(w, [d_out, w.len() / d_out], false, x, [x.len() / batch, batch], false);
    for (i, v) in y.iter_mut().enumerate() {
        *v += bias[i / batch];
        if relu {
            *v = v.max(0.0);
        }
    }
    y
}

/// Columns of `x [rows, cols]` to unit norm.
pub fn l2_normalize(x: &[f64], cols: usize) -> Vec<f64> {
    let rows = x.len() / cols;
    let norms: Vec<f64> =
        (0..cols).map(|c| (0..rows).map(|r| x[r * cols + c].powi(2)).sum::<f64>().sqrt().max(1e-12)).collect();
    x.iter().enumerate().map(|(i, v)| v / norms[i % cols]).collect()
}

/// Cosine similarities of the columns of `u [d, m]` and `v [d, n]`.
pub fn cosine_similarity(u: &[f64], v: &[f64], d: usize) -> Vec<f64> {
    let (m, n) = (u.len() / d, v.len() / d);
    matmul(&l2_normalize(u, m), [d, m], true, &l2_normalize(v, n), [d, n], false)
}

/// Sparse rows `(offsets, indices, values)` times `W [d_out, d_in]` + bias (+ ReLU): `[d_out, rows]`.
pub fn sparse_dense(
    offsets: &[usize],
    indices: &[u32],
    values: &[f64],
    w: &[f64],
    bias: &[f64],
    relu: bool,
) -> Vec<f64> {
    let (rows, d_out) = (offsets.len() - 1, bias.len());
    let d_in = w.len() / d_out;
    let mut y = vec![0.0; d_out * rows];
    for o in 0..d_out {
        for r in 0..rows {
            let mut s = bias[o];
            for e in offsets[r]..offsets[r + 1] {
                s += w[o * d_in + indices[e] as usize] * values[e];
            }
            y[o * rows + r] = if relu { s.max(0.0) } else { s };
        }
    }
    y
}

/// Columns of `table [n, d]` picked by `idx`: `[d, idx.len()]`.
pub fn gather_columns(table: &[f64], d: usize, idx: &[u32]) -> Vec<f64> {
    (0..d).flat_map(|r| idx.iter().map(move |&i| table[i as usize * d + r])).collect()
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Hinge loss per row.
pub fn hinge(s: &[f64], n: usize, positives: &[u32], negatives: &[u32], margin: f64) -> Vec<f64> {
    let k = negatives.len() / positives.len();
    (0..positives.len())
        .map(|b| {
            let pos = s[b * n + positives[b] as usize];
            negatives[b * k..(b + 1) * k].iter().map(|&j| (margin - pos + s[b * n + j as usize]).max(0.0)).sum()
        })
        .collect()
}

/// `-cos` per column of `[d, cols]`.
pub fn cosine_proximity(p: &[f64], t: &[f64], cols: usize) -> Vec<f64> {
    let d = p.len() / cols;
    (0..cols)
        .map(|c| {
            let (mut pp, mut tt, mut pt) = (0.0, 0.0, 0.0);
            for r in 0..d {
                let (a, b) = (p[r * cols + c], t[r * cols + c]);
                pp += a * a;
                tt += b * b;
                pt += a * b;
            }
            -pt / (pp.sqrt() * tt.sqrt())
        })
        .collect()
}

/// Softmax cross-entropy per row of `scale * z [rows, n]`.
pub fn softmax_cross_entropy(z: &[f64], n: usize, targets: &[u32], scale: f64) -> Vec<f64> {
    z.chunks(n)
        .zip(targets)
        .map(|(row, &t)| {
            let lse = row.iter().map(|v| (scale * v).exp()).sum::<f64>().ln();
            lse - scale * row[t as usize]
        })
        .collect()
}

/// Sigmoid cross-entropy of `[tags, cols]`, mean over tags, per column.
pub fn sigmoid_bce(z: &[f64], y: &[f64], cols: usize) -> Vec<f64> {
    let tags = z.len() / cols;
    (0..cols)
        .map(|c| {
            (0..tags)
                .map(|t| {
                    let (z, y) = (z[t * cols + c], y[t * cols + c]);
                    let p = 1.0 / (1.0 + (-z).exp());
                    -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
                })
                .sum::<f64>()
                / tags as f64
        })
        .collect()
}
