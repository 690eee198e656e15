//! Matrix ops: GEMM (dense layers, similarities and their gradients), the bias and ReLU
//! backward passes, the sparse x dense product of the text tower, and the embedding lookup
//! of the user tower. Matrices are row-major `[rows, cols]`, features x batch.

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::par;
use crate::nn::SparseRows;

/// A row-major `[rows, cols]` matrix, transposed when `t`.
fn view(data: &[f32], [rows, cols]: [usize; 2], t: bool) -> MatRef<'_, f32> {
    let m = MatRef::from_row_major_slice(data, rows, cols);
    if t { m.transpose() } else { m }
}

/// `c = op(a) op(b)`, or `c += op(a) op(b)` when `accumulate`; `op` transposes when asked.
/// Shapes are the stored ones; `c` is `[rows of op(a), cols of op(b)]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    a_shape: [usize; 2],
    ta: bool,
    b: &[f32],
    b_shape: [usize; 2],
    tb: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    let (lhs, rhs) = (view(a, a_shape, ta), view(b, b_shape, tb));
    let dst = MatMut::from_row_major_slice_mut(c, lhs.nrows(), rhs.ncols());
    let accum = if accumulate { Accum::Add } else { Accum::Replace };
    faer_matmul(dst, accum, lhs, rhs, 1.0f32, par());
}

/// `y [d_out, b] = W x + bias` (+ ReLU) for `x [d_in, b]`, `W [d_out, d_in]`.
pub fn dense(x: &[f32], w: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    dense_with(x, w, bias, relu, par())
}

pub(super) fn dense_with(x: &[f32], w: &[f32], bias: &[f32], relu: bool, par: Par) -> Vec<f32> {
    let d_out = bias.len();
    let d_in = w.len() / d_out.max(1);
    let b = x.len() / d_in.max(1);
    let mut y = vec![0.0; d_out * b];
    {
        let dst = MatMut::from_row_major_slice_mut(&mut y, d_out, b);
        let lhs = MatRef::from_row_major_slice(w, d_out, d_in);
        let rhs = MatRef::from_row_major_slice(x, d_in, b);
        faer_matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, par);
    }
    for (o, row) in y.chunks_mut(b.max(1)).enumerate().take(d_out) {
        for v in row {
            *v += bias[o];
            if relu {
                *v = v.max(0.0);
            }
        }
    }
    y
}

/// `dz = dy` where the forward's ReLU output `y` is positive, else 0.
pub fn relu_backward(dy: &[f32], y: &[f32]) -> Vec<f32> {
    dy.par_iter().zip(y).map(|(d, y)| if *y > 0.0 { *d } else { 0.0 }).collect()
}

/// `db [rows] += sum over columns of dz [rows, cols]` (a bias's gradient).
pub fn bias_backward(dz: &[f32], cols: usize, db: &mut [f32]) {
    db.par_iter_mut().enumerate().for_each(|(r, d)| {
        *d += dz[r * cols..(r + 1) * cols].iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
    });
}

/// `y [d_out, r] = W x_r + bias` (+ ReLU) for sparse rows `x_r`: a gather of W's columns.
pub fn sparse_dense(x: &SparseRows, w: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    let (n, d_out, d_in) = (x.rows(), bias.len(), x.dim);
    let mut y = vec![0.0; d_out * n];
    y.par_chunks_mut(n.max(1)).enumerate().for_each(|(o, row)| {
        let w = &w[o * d_in..(o + 1) * d_in];
        for (r, out) in row.iter_mut().enumerate() {
            let (idx, val) = x.row(r);
            let s: f32 = idx.iter().zip(val).map(|(&i, &v)| w[i as usize] * v).sum::<f32>() + bias[o];
            *out = if relu { s.max(0.0) } else { s };
        }
    });
    y
}

/// The weight and bias gradients of [`sparse_dense`] (its input is data, so no input
/// gradient): `dw [d_out, d_in] += dz x^T` (a scatter into W's columns), `db += sum(dz)`.
pub fn sparse_dense_weight_backward(x: &SparseRows, dz: &[f32], dw: &mut [f32], db: &mut [f32]) {
    let (n, d_in) = (x.rows(), x.dim);
    dw.par_chunks_mut(d_in.max(1)).zip(db.par_iter_mut()).enumerate().for_each(|(o, (w_row, db))| {
        let g = &dz[o * n..(o + 1) * n];
        for (r, &gr) in g.iter().enumerate() {
            let (idx, val) = x.row(r);
            for (&i, &v) in idx.iter().zip(val) {
                w_row[i as usize] += gr * v;
            }
        }
        *db += g.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
    });
}

/// Embedding lookup: `y [d, B]` with column `b` = row `idx[b]` of `table [n, d]`.
pub fn gather_columns(table: &[f32], d: usize, idx: &[u32]) -> Vec<f32> {
    let b = idx.len();
    let mut y = vec![0.0; d * b];
    for (j, &i) in idx.iter().enumerate() {
        let row = &table[i as usize * d..(i as usize + 1) * d];
        for (r, v) in row.iter().enumerate() {
            y[r * b + j] = *v;
        }
    }
    y
}

/// The lookup's gradient: `dtable[idx[b]] += dy[:, b]` (an index may repeat).
pub fn gather_columns_backward(dy: &[f32], idx: &[u32], dtable: &mut [f32], d: usize) {
    let b = idx.len();
    for (j, &i) in idx.iter().enumerate() {
        let row = &mut dtable[i as usize * d..(i as usize + 1) * d];
        for (r, v) in row.iter_mut().enumerate() {
            *v += dy[r * b + j];
        }
    }
}
