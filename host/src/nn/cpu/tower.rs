//! The audio tower fused for inference: each layer's GEMM output goes straight into the next
//! layer's padded input (bias, ReLU, max-pool and padding in one pass), and with several
//! threads each thread runs the whole tower on its share of the windows. The same conv
//! GEMMs and post-op as the per-op kernels in `conv.rs`.

use faer::Par;
use rayon::prelude::*;

use super::conv::{bias_relu_pool, conv_gemm, tap};
use super::matrix::dense_with;
use super::{Workspace, for_each_chunk, grow, par, with_workspace};
use crate::nn::AudioTower;

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
            conv_gemm(
                |kk| tap(&conv.weight, kk, conv.c_out, conv.c_in),
                conv.k,
                &padded[..conv.c_in * b * tp],
                b * tp,
                out,
                gemm_par,
            );
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
