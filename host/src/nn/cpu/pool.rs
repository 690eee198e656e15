//! Pools over time: max-pool (the conv blocks) and means over column segments (time and a
//! track's windows), forward and backward.

use rayon::prelude::*;

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

/// Routes each output's gradient to the first maximum of its pooling window (steps past
/// the last whole window get none): `dx` has `x`'s shape.
pub fn max_pool_backward(x: &[f32], dy: &[f32], time: usize, pool: usize) -> Vec<f32> {
    let t_out = time / pool;
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(time.max(1)).zip(x.par_chunks(time.max(1))).enumerate().for_each(|(r, (dx_row, x_row))| {
        for tt in 0..t_out {
            let window = &x_row[tt * pool..tt * pool + pool];
            let arg = (1..pool).fold(0, |best, i| if window[i] > window[best] { i } else { best });
            dx_row[tt * pool + arg] = dy[r * t_out + tt];
        }
    });
    dx
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

/// `dx [rows, cols]`: each column gets its segment's gradient over the segment's length.
pub fn segment_mean_backward(dy: &[f32], offsets: &[usize], cols: usize) -> Vec<f32> {
    let s = offsets.len().saturating_sub(1);
    let rows = dy.len() / s.max(1);
    let mut dx = vec![0.0; rows * cols];
    dx.par_chunks_mut(cols.max(1)).enumerate().for_each(|(r, row)| {
        for i in 0..s {
            let g = dy[r * s + i] / (offsets[i + 1] - offsets[i]).max(1) as f32;
            row[offsets[i]..offsets[i + 1]].fill(g);
        }
    });
    dx
}
