//! Native CPU kernels for the audio tower.
//!
//! A 'same' convolution over a batch is an implicit im2col: with the input copied once into a
//! zero-padded `[c_in, batch * (time + k - 1)]` buffer, tap `kk` of the kernel is one GEMM
//! `W_kk [c_out, c_in] x X[:, kk ..]`, and the k GEMMs accumulate into one output. The
//! im2col matrix (k times the input) is never built. GEMMs go through faer (its `gemm`
//! kernels use AVX2/AVX-512); bias, ReLU, max-pool and the next layer's padding are fused into
//! one pass over the GEMM output. Working buffers live in a per-thread workspace that only
//! grows, so steady-state inference allocates only its outputs.

use std::sync::Mutex;

use faer::linalg::matmul::matmul;
use faer::mat::AsMatMut;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::{AudioTower, SparseRows};

/// faer's parallelism for the current rayon pool: sequential in a one-thread pool.
fn par() -> Par {
    match rayon::current_num_threads() {
        1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// Runs `f` over `chunk`-sized pieces of `data`, on rayon's pool when `parallel`.
fn for_each_chunk(data: &mut [f32], chunk: usize, parallel: bool, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if parallel {
        data.par_chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        data.chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
    }
}

#[derive(Default)]
struct Workspace {
    padded: Vec<f32>,
    gemm_out: Vec<f32>,
    next: Vec<f32>,
}

/// Idle workspaces. A call takes one (or makes one) and gives it back, so concurrent and
/// re-entrant calls (a rayon worker may pick up another inference while it waits) never
/// share buffers; the pool holds at most as many as ran at once.
static WORKSPACES: Mutex<Vec<Workspace>> = Mutex::new(Vec::new());

fn with_workspace<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    let mut ws = WORKSPACES.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
    let r = f(&mut ws);
    WORKSPACES.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
    r
}

fn grow(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// Copies `[c, b, t]` into `[c, b * (t + 2 pad)]` with `pad` zero columns around each window.
fn pad_into(x: &[f32], channels: usize, batch: usize, time: usize, pad: usize, out: &mut [f32]) {
    let tp = time + 2 * pad;
    out.par_chunks_mut(batch * tp).enumerate().take(channels).for_each(|(c, row)| {
        for b in 0..batch {
            let dst = &mut row[b * tp..(b + 1) * tp];
            dst[..pad].fill(0.0);
            dst[pad..pad + time].copy_from_slice(&x[(c * batch + b) * time..(c * batch + b + 1) * time]);
            dst[pad + time..].fill(0.0);
        }
    });
}

/// `out[c_out, cols] = sum_kk taps[kk] x padded[:, kk .. kk + cols]`, `cols = batch * tp - (k - 1)`.
fn conv_gemm(taps: &[Vec<f32>], c_out: usize, c_in: usize, padded: &[f32], row_len: usize, out: &mut [f32], par: Par) {
    let k = taps.len();
    let cols = row_len - (k - 1);
    let mut dst = MatMut::from_row_major_slice_mut(out, c_out, cols);
    for (kk, w) in taps.iter().enumerate() {
        let lhs = MatRef::from_row_major_slice(w, c_out, c_in);
        let rhs = MatRef::from_row_major_slice_with_stride(&padded[kk..], c_in, cols, row_len);
        let accum = if kk == 0 { Accum::Replace } else { Accum::Add };
        matmul(dst.as_mat_mut(), accum, lhs, rhs, 1.0f32, par);
    }
}

/// The shape of a 'same' Conv1d: `x [c_in, batch, time]`, `w [c_out, c_in, k]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub batch: usize,
    pub time: usize,
}

/// One 'same' Conv1d + bias (+ ReLU) over `x [c_in, b, t]` -> `[c_out, b, t]`.
pub fn conv1d(x: &[f32], w: &[f32], bias: &[f32], s: ConvShape, relu: bool) -> Vec<f32> {
    let taps = super::tower::split_taps(w, s.c_out, s.c_in, s.k);
    let (b, t) = (s.batch, s.time);
    let pad = s.k / 2;
    let tp = t + 2 * pad;
    let mut y = vec![0.0; s.c_out * b * t];
    with_workspace(|ws| {
        let padded = grow(&mut ws.padded, s.c_in * b * tp);
        pad_into(x, s.c_in, b, t, pad, padded);
        let cols = b * tp - (s.k - 1);
        let out = grow(&mut ws.gemm_out, s.c_out * cols);
        conv_gemm(&taps, s.c_out, s.c_in, padded, b * tp, out, par());
        y.par_chunks_mut((b * t).max(1)).enumerate().for_each(|(o, dst)| {
            let row = &out[o * cols..(o + 1) * cols];
            bias_relu_pool(row, bias[o], relu, 1, b, tp, t, |bb| bb * t, dst);
        });
    });
    y
}

/// Reads `row[b * tp + t]`, adds `bias`, applies ReLU, max-pools by `pool`, and writes window
/// `b`'s `t_out` results at `dst[base(b)..]`. max(a + bias, b + bias) = max(a, b) + bias, so
/// the bias is added once per output.
#[allow(clippy::too_many_arguments)]
#[inline]
fn bias_relu_pool(
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

/// Max-pool over time by `pool` (floor): rows of `time` steps -> rows of `time / pool`.
pub fn max_pool(x: &[f32], time: usize, pool: usize) -> Vec<f32> {
    let t_out = time / pool;
    let rows = x.len() / time.max(1);
    let mut y = vec![0.0; rows * t_out];
    for (row_in, row_out) in x.chunks(time.max(1)).zip(y.chunks_mut(t_out.max(1))) {
        for (tt, o) in row_out.iter_mut().enumerate().take(t_out) {
            *o = row_in[tt * pool..tt * pool + pool].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        }
    }
    y
}

/// `(x - mean[c]) / std[c]` for `x [channels, ...]`.
pub fn normalize_channels(x: &[f32], mean: &[f32], std: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    let per_channel = x.len() / mean.len().max(1);
    y.par_chunks_mut(per_channel.max(1)).enumerate().for_each(|(c, row)| {
        for v in row {
            *v = (*v - mean[c]) / std[c];
        }
    });
    y
}

/// Means of column ranges of `x [rows, cols]`: `out[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`.
pub fn segment_mean(x: &[f32], cols: usize, offsets: &[usize]) -> Vec<f32> {
    let s = offsets.len().saturating_sub(1);
    let rows = x.len() / cols.max(1);
    let mut out = vec![0.0; rows * s];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        for i in 0..s {
            let seg = &row[offsets[i]..offsets[i + 1]];
            out[r * s + i] = seg.iter().sum::<f32>() / seg.len().max(1) as f32;
        }
    }
    out
}

/// `y [d_out, b] = W x + bias` (+ ReLU) for `x [d_in, b]`, `W [d_out, d_in]`.
pub fn dense(x: &[f32], w: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    dense_with(x, w, bias, relu, par())
}

fn dense_with(x: &[f32], w: &[f32], bias: &[f32], relu: bool, par: Par) -> Vec<f32> {
    let d_out = bias.len();
    let d_in = w.len() / d_out.max(1);
    let b = x.len() / d_in.max(1);
    let mut y = vec![0.0; d_out * b];
    {
        let dst = MatMut::from_row_major_slice_mut(&mut y, d_out, b);
        let lhs = MatRef::from_row_major_slice(w, d_out, d_in);
        let rhs = MatRef::from_row_major_slice(x, d_in, b);
        matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, par);
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

/// `y [d_out, r] = W x_r + bias` (+ ReLU) for sparse rows `x_r`: a gather of W's columns.
pub fn sparse_dense(x: &SparseRows, w: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    let (n, d_out, d_in) = (x.rows(), bias.len(), x.dim);
    let mut y = vec![0.0; d_out * n];
    for r in 0..n {
        let (idx, val) = x.row(r);
        for o in 0..d_out {
            let w = &w[o * d_in..(o + 1) * d_in];
            let s: f32 = idx.iter().zip(val).map(|(&i, &v)| w[i as usize] * v).sum::<f32>() + bias[o];
            y[o * n + r] = if relu { s.max(0.0) } else { s };
        }
    }
    y
}

/// Each column of `x [rows, cols]` scaled to unit L2 norm (a zero column stays zero).
pub fn l2_normalize(x: &[f32], cols: usize) -> Vec<f32> {
    let rows = x.len() / cols.max(1);
    let mut y = x.to_vec();
    for c in 0..cols {
        let norm = (0..rows).map(|r| f64::from(x[r * cols + c]).powi(2)).sum::<f64>().sqrt() as f32;
        let inv = 1.0 / norm.max(1e-12);
        for r in 0..rows {
            y[r * cols + c] *= inv;
        }
    }
    y
}

/// The whole tower for a batch of windows `[n_mels, b, window_frames]` -> `[embedding_dim, b]`.
///
/// With several threads and windows, each thread runs the whole tower on its share of the
/// windows (no synchronisation between layers); a single window uses the GEMMs' own threads.
pub fn audio_tower(tower: &AudioTower, x: &[f32], batch: usize) -> Vec<f32> {
    let threads = rayon::current_num_threads();
    if threads == 1 || batch == 1 {
        return tower_on(tower, x, batch, threads > 1);
    }
    let parts = threads.min(batch);
    let bounds: Vec<usize> = (0..=parts).map(|i| i * batch / parts).collect();
    let outs: Vec<Vec<f32>> = bounds
        .par_windows(2)
        .map(|w| {
            tower_on(tower, &windows_slice(x, batch, tower.spec.window_frames, w[0], w[1] - w[0]), w[1] - w[0], false)
        })
        .collect();
    let d = tower.fc.d_out;
    let mut y = vec![0.0; d * batch];
    for (w, part) in bounds.windows(2).zip(&outs) {
        let n = w[1] - w[0];
        for r in 0..d {
            y[r * batch + w[0]..r * batch + w[1]].copy_from_slice(&part[r * n..(r + 1) * n]);
        }
    }
    y
}

/// Windows `start .. start + n` of `x [channels, batch, time]`.
fn windows_slice(x: &[f32], batch: usize, time: usize, start: usize, n: usize) -> Vec<f32> {
    let channels = x.len() / (batch * time);
    let mut out = vec![0.0; channels * n * time];
    for c in 0..channels {
        let src = (c * batch + start) * time;
        out[c * n * time..(c + 1) * n * time].copy_from_slice(&x[src..src + n * time]);
    }
    out
}

/// The tower on one thread's share; layer outputs go straight into the next layer's padded
/// input. `parallel`: use rayon and faer's threads inside the layers.
fn tower_on(tower: &AudioTower, x: &[f32], b: usize, parallel: bool) -> Vec<f32> {
    let gemm_par = if parallel { par() } else { Par::Seq };
    let spec = &tower.spec;
    let pool = spec.pool;
    with_workspace(|ws| {
        let Workspace { padded, gemm_out, next } = ws;
        // Normalise into the first padded buffer.
        let k0 = tower.convs[0].k;
        let mut t = spec.window_frames;
        let pad = k0 / 2;
        let mut tp = t + 2 * pad;
        let first = grow(padded, spec.n_mels * b * tp);
        for_each_chunk(first, b * tp, parallel, |c, row| {
            let (m, s) = (tower.input_mean[c], tower.input_std[c]);
            for bb in 0..b {
                let dst = &mut row[bb * tp..(bb + 1) * tp];
                dst[..pad].fill(0.0);
                let src = &x[(c * b + bb) * t..(c * b + bb + 1) * t];
                for (d, v) in dst[pad..pad + t].iter_mut().zip(src) {
                    *d = (v - m) / s;
                }
                dst[pad + t..].fill(0.0);
            }
        });
        let n_layers = tower.convs.len();
        for (li, conv) in tower.convs.iter().enumerate() {
            let cols = b * tp - (conv.k - 1);
            let out = grow(gemm_out, conv.c_out * cols);
            conv_gemm(&tower.taps[li], conv.c_out, conv.c_in, &padded[..conv.c_in * b * tp], b * tp, out, gemm_par);
            let t_out = t / pool;
            // The next layer's padding (none after the last block: mean-pool reads it flat).
            let next_pad = if li + 1 < n_layers { tower.convs[li + 1].k / 2 } else { 0 };
            let next_tp = t_out + 2 * next_pad;
            let dst_all = grow(next, conv.c_out * b * next_tp);
            let out = &*out;
            for_each_chunk(dst_all, b * next_tp, parallel, |o, dst| {
                let row = &out[o * cols..(o + 1) * cols];
                if next_pad > 0 {
                    for bb in 0..b {
                        dst[bb * next_tp..bb * next_tp + next_pad].fill(0.0);
                        dst[bb * next_tp + next_pad + t_out..(bb + 1) * next_tp].fill(0.0);
                    }
                }
                bias_relu_pool(row, conv.bias[o], true, pool, b, tp, t_out, |bb| bb * next_tp + next_pad, dst);
            });
            std::mem::swap(padded, next);
            t = t_out;
            tp = next_tp;
        }
        // Mean over the remaining time steps: [c, b, t] -> [c, b].
        let c_last = tower.convs.last().map_or(spec.n_mels, |c| c.c_out);
        let h = &padded[..c_last * b * t];
        let mut pooled = vec![0.0; c_last * b];
        for (dst, src) in pooled.iter_mut().zip(h.chunks(t)) {
            *dst = src.iter().sum::<f32>() / t as f32;
        }
        dense_with(&pooled, &tower.fc.weight, &tower.fc.bias, false, gemm_par)
    })
}
