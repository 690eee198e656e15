//! 'Same' Conv1d, forward and backward, as implicit im2col GEMMs.
//!
//! With the input copied once into a zero-padded `[c_in, batch * (time + k - 1)]` buffer, tap
//! `kk` of the kernel is one GEMM `W_kk [c_out, c_in] x X[:, kk ..]`, and the k GEMMs
//! accumulate into one output whose column `b * tp + t` is window `b`, step `t` (the `k - 1`
//! columns between windows are junk and skipped). Weights are tap-major in memory,
//! `w[kk][c_out][c_in]`, so each tap is a contiguous row-major matrix and no layout is ever
//! derived from them. The input gradient is the same convolution of the output gradient with
//! the taps transposed and reversed; the weight gradient is, per tap, the output gradient
//! times the shifted input, transposed. ReLU's mask is applied as the gradient is padded.

use faer::linalg::matmul::matmul;
use faer::mat::AsMatMut;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::{grow, par, with_workspace};

/// The shape of a 'same' Conv1d: `x [c_in, batch, time]`, `w [k, c_out, c_in]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub batch: usize,
    pub time: usize,
}

impl ConvShape {
    fn pad(&self) -> usize {
        self.k / 2
    }

    /// Padded steps per window.
    fn tp(&self) -> usize {
        self.time + 2 * self.pad()
    }

    /// Columns of a tap GEMM's output.
    fn cols(&self) -> usize {
        self.batch * self.tp() - (self.k - 1)
    }
}

/// Tap `kk` of tap-major weights as a `[c_out, c_in]` matrix.
pub(super) fn tap(w: &[f32], kk: usize, c_out: usize, c_in: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(&w[kk * c_out * c_in..(kk + 1) * c_out * c_in], c_out, c_in)
}

/// Copies `[c, b, t]` into `[c, b * (t + 2 pad)]` with `pad` zero columns around each window,
/// zeroing values whose `mask` entry is not positive (ReLU's backward) when a mask is given.
pub(super) fn pad_into(
    x: &[f32],
    mask: Option<&[f32]>,
    channels: usize,
    batch: usize,
    time: usize,
    pad: usize,
    out: &mut [f32],
) {
    let tp = time + 2 * pad;
    out.par_chunks_mut(batch * tp).enumerate().take(channels).for_each(|(c, row)| {
        for b in 0..batch {
            let dst = &mut row[b * tp..(b + 1) * tp];
            let range = (c * batch + b) * time..(c * batch + b + 1) * time;
            dst[..pad].fill(0.0);
            match mask {
                None => dst[pad..pad + time].copy_from_slice(&x[range]),
                Some(m) => {
                    for ((d, v), y) in dst[pad..pad + time].iter_mut().zip(&x[range.clone()]).zip(&m[range]) {
                        *d = if *y > 0.0 { *v } else { 0.0 };
                    }
                }
            }
            dst[pad + time..].fill(0.0);
        }
    });
}

/// `out[m, cols] = sum_kk lhs(kk) x padded[:, kk .. kk + cols]` over a padded buffer of rows
/// of `row_len`; `lhs(kk)` is `[m, rows of padded]`.
pub(super) fn conv_gemm<'a>(
    lhs: impl Fn(usize) -> MatRef<'a, f32>,
    k: usize,
    padded: &[f32],
    row_len: usize,
    out: &mut [f32],
    par: Par,
) {
    let cols = row_len - (k - 1);
    let m = lhs(0).nrows();
    let c_in = lhs(0).ncols();
    let mut dst = MatMut::from_row_major_slice_mut(out, m, cols);
    for kk in 0..k {
        let rhs = MatRef::from_row_major_slice_with_stride(&padded[kk..], c_in, cols, row_len);
        let accum = if kk == 0 { Accum::Replace } else { Accum::Add };
        matmul(dst.as_mat_mut(), accum, lhs(kk), rhs, 1.0f32, par);
    }
}

/// Column ranges of a batch's GEMM output, one per thread of the pool, cut at window
/// boundaries (a range may end with a window's junk columns; the last ends at `cols`).
fn window_ranges(batch: usize, tp: usize, cols: usize) -> Vec<(usize, usize)> {
    let parts = rayon::current_num_threads().min(batch).max(1);
    (0..parts)
        .map(|p| {
            let (b0, b1) = (p * batch / parts, (p + 1) * batch / parts);
            (b0 * tp, if p + 1 == parts { cols } else { b1 * tp })
        })
        .collect()
}

/// [`conv_gemm`] with the batch split over the pool's threads: each thread runs whole tap
/// GEMMs (one thread each) on its windows' columns, which scales better than splitting
/// every GEMM (the windows are independent; only the weights are shared).
pub(super) fn conv_gemm_by_windows<'a>(
    lhs: impl Fn(usize) -> MatRef<'a, f32> + Sync,
    k: usize,
    padded: &[f32],
    batch: usize,
    tp: usize,
    out: &mut [f32],
) {
    let row_len = batch * tp;
    let cols = row_len - (k - 1);
    let ranges = window_ranges(batch, tp, cols);
    if ranges.len() == 1 {
        return conv_gemm(lhs, k, padded, row_len, out, par());
    }
    let (m, c_in) = (lhs(0).nrows(), lhs(0).ncols());
    let mut rest = MatMut::from_row_major_slice_mut(out, m, cols);
    let mut views = Vec::with_capacity(ranges.len());
    for &(start, end) in &ranges {
        let (head, tail) = rest.split_at_col_mut(end - start);
        views.push((start, head));
        rest = tail;
    }
    views.into_par_iter().for_each(|(start, mut dst)| {
        let len = dst.ncols();
        for kk in 0..k {
            let rhs = MatRef::from_row_major_slice_with_stride(&padded[start + kk..], c_in, len, row_len);
            let accum = if kk == 0 { Accum::Replace } else { Accum::Add };
            matmul(dst.as_mat_mut(), accum, lhs(kk), rhs, 1.0f32, Par::Seq);
        }
    });
}

/// Reads `row[b * tp + t]`, adds `bias`, applies ReLU, max-pools by `pool`, and writes window
/// `b`'s `t_out` results at `dst[base(b)..]`. max(a + bias, b + bias) = max(a, b) + bias, so
/// the bias is added once per output.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn bias_relu_pool(
    row: &[f32],
    bias: f32,
    relu: bool,
    pool: usize,
    batch: usize,
    tp: usize,
    t_out: usize,
    base: impl Fn(usize) -> usize,
    dst: &mut [f32],
) {
    let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
    for b in 0..batch {
        let src = &row[b * tp..b * tp + t_out * pool];
        let out = &mut dst[base(b)..base(b) + t_out];
        match pool {
            1 => out.iter_mut().zip(src).for_each(|(o, v)| *o = (v + bias).max(floor)),
            2 => out.iter_mut().zip(src.chunks_exact(2)).for_each(|(o, p)| *o = (p[0].max(p[1]) + bias).max(floor)),
            _ => out
                .iter_mut()
                .zip(src.chunks_exact(pool))
                .for_each(|(o, p)| *o = (p.iter().copied().fold(f32::NEG_INFINITY, f32::max) + bias).max(floor)),
        }
    }
}

/// `y [c_out, b, t] = conv(x, w) + bias` (+ ReLU) for `x [c_in, b, t]`, `w [k, c_out, c_in]`.
pub fn conv1d(x: &[f32], w: &[f32], bias: &[f32], s: ConvShape, relu: bool) -> Vec<f32> {
    let (b, t, tp, cols) = (s.batch, s.time, s.tp(), s.cols());
    let mut y = vec![0.0; s.c_out * b * t];
    with_workspace(|ws| {
        let padded = grow(&mut ws.padded, s.c_in * b * tp);
        pad_into(x, None, s.c_in, b, t, s.pad(), padded);
        let out = grow(&mut ws.gemm_out, s.c_out * cols);
        conv_gemm_by_windows(|kk| tap(w, kk, s.c_out, s.c_in), s.k, padded, b, tp, out);
        y.par_chunks_mut((b * t).max(1)).enumerate().for_each(|(o, dst)| {
            let row = &out[o * cols..(o + 1) * cols];
            bias_relu_pool(row, bias[o], relu, 1, b, tp, t, |bb| bb * t, dst);
        });
    });
    y
}

/// `dx [c_in, b, t]` from `dy [c_out, b, t]`; with `y` (the forward's ReLU output) the
/// gradient is masked by `y > 0` first.
pub fn conv1d_x_backward(dy: &[f32], y: Option<&[f32]>, w: &[f32], s: ConvShape) -> Vec<f32> {
    let (b, t, tp, cols) = (s.batch, s.time, s.tp(), s.cols());
    let mut dx = vec![0.0; s.c_in * b * t];
    with_workspace(|ws| {
        let padded = grow(&mut ws.padded, s.c_out * b * tp);
        pad_into(dy, y, s.c_out, b, t, s.pad(), padded);
        let out = grow(&mut ws.gemm_out, s.c_in * cols);
        // dx[i, t] = sum_kk sum_o w[k - 1 - kk][o][i] dz[o, t + kk - pad].
        conv_gemm_by_windows(|kk| tap(w, s.k - 1 - kk, s.c_out, s.c_in).transpose(), s.k, padded, b, tp, out);
        dx.par_chunks_mut((b * t).max(1)).enumerate().for_each(|(i, dst)| {
            let row = &out[i * cols..(i + 1) * cols];
            for bb in 0..b {
                dst[bb * t..(bb + 1) * t].copy_from_slice(&row[bb * tp..bb * tp + t]);
            }
        });
    });
    dx
}

/// Accumulates the weight and bias gradients of a conv: `dw [k, c_out, c_in] += dz . x_kk^T`
/// per tap and `db [c_out] += sum(dz)`, with `dz = dy` masked by `y > 0` when `y` is given.
pub fn conv1d_weight_backward(x: &[f32], dy: &[f32], y: Option<&[f32]>, s: ConvShape, dw: &mut [f32], db: &mut [f32]) {
    let (b, t, tp, cols) = (s.batch, s.time, s.tp(), s.cols());
    with_workspace(|ws| {
        let xpad = grow(&mut ws.padded, s.c_in * b * tp);
        pad_into(x, None, s.c_in, b, t, s.pad(), xpad);
        // dz in the GEMM output's column layout: window b, step t at b * tp + t, zeros between.
        let dz = grow(&mut ws.gemm_out, s.c_out * cols);
        dz.par_chunks_mut(cols.max(1)).zip(db.par_iter_mut()).enumerate().for_each(|(o, (row, db))| {
            row.fill(0.0);
            let mut sum = 0.0f64;
            for bb in 0..b {
                let range = (o * b + bb) * t..(o * b + bb + 1) * t;
                let dst = &mut row[bb * tp..bb * tp + t];
                match y {
                    None => dst.copy_from_slice(&dy[range]),
                    Some(m) => {
                        for ((d, v), y) in dst.iter_mut().zip(&dy[range.clone()]).zip(&m[range]) {
                            *d = if *y > 0.0 { *v } else { 0.0 };
                        }
                    }
                }
                sum += dst.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
            *db += sum as f32;
        });
        // Each thread sums its windows' columns into a gradient of its own; then they add up.
        let (dz, xpad) = (&*dz, &*xpad);
        let partial = |(start, end): (usize, usize), dw: &mut [f32], par: Par| {
            let lhs = MatRef::from_row_major_slice_with_stride(&dz[start..], s.c_out, end - start, cols);
            for (kk, dw_kk) in dw.chunks_mut(s.c_out * s.c_in).enumerate().take(s.k) {
                let rhs = MatRef::from_row_major_slice_with_stride(&xpad[start + kk..], s.c_in, end - start, b * tp);
                let dst = MatMut::from_row_major_slice_mut(dw_kk, s.c_out, s.c_in);
                matmul(dst, Accum::Add, lhs, rhs.transpose(), 1.0f32, par);
            }
        };
        let ranges = window_ranges(b, tp, cols);
        if ranges.len() == 1 {
            partial(ranges[0], dw, par());
        } else {
            let parts: Vec<Vec<f32>> = ranges
                .into_par_iter()
                .map(|r| {
                    let mut local = vec![0.0f32; dw.len()];
                    partial(r, &mut local, Par::Seq);
                    local
                })
                .collect();
            dw.par_chunks_mut(4096).enumerate().for_each(|(c, chunk)| {
                for part in &parts {
                    for (d, v) in chunk.iter_mut().zip(&part[c * 4096..]) {
                        *d += v;
                    }
                }
            });
        }
    });
}
