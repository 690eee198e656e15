//! Normalisation: the per-band input affine (forward only: it has no parameters to learn and
//! the input is data) and column L2 normalisation, forward and backward.

use rayon::prelude::*;

/// Below this norm a column is divided by it instead (a zero column stays zero).
const MIN_NORM: f64 = 1e-12;

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

fn column_norms(x: &[f32], cols: usize) -> Vec<f64> {
    let rows = x.len() / cols.max(1);
    (0..cols).map(|c| (0..rows).map(|r| f64::from(x[r * cols + c]).powi(2)).sum::<f64>().sqrt().max(MIN_NORM)).collect()
}

/// Each column of `x [rows, cols]` scaled to unit L2 norm.
pub fn l2_normalize(x: &[f32], cols: usize) -> Vec<f32> {
    let norms = column_norms(x, cols);
    x.iter().enumerate().map(|(i, &v)| (f64::from(v) / norms[i % cols]) as f32).collect()
}

/// `dx = (dy - y (y . dy)) / |x|` per column, `y = x / |x|`.
pub fn l2_normalize_backward(x: &[f32], dy: &[f32], cols: usize) -> Vec<f32> {
    let rows = x.len() / cols.max(1);
    let norms = column_norms(x, cols);
    let dots: Vec<f64> = (0..cols)
        .map(|c| (0..rows).map(|r| f64::from(x[r * cols + c]) * f64::from(dy[r * cols + c])).sum::<f64>() / norms[c])
        .collect();
    (0..x.len())
        .map(|i| {
            let c = i % cols;
            let y = f64::from(x[i]) / norms[c];
            ((f64::from(dy[i]) - y * dots[c]) / norms[c]) as f32
        })
        .collect()
}
