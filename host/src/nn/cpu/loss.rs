//! Losses. Each returns the loss of every row (or column) and the gradient of their mean,
//! so a step's gradient does not grow with the batch.

use rayon::prelude::*;

/// DCUE's max-margin hinge over relevance scores `s [rows, n]`: row `b` has its positive at
/// column `positives[b]` and `negatives[b * k .. (b + 1) * k]`;
/// `loss_b = sum_j max(0, margin - s[b, pos] + s[b, neg_j])`.
pub fn hinge_loss(s: &[f32], n: usize, positives: &[u32], negatives: &[u32], margin: f32) -> (Vec<f32>, Vec<f32>) {
    let rows = positives.len();
    let k = negatives.len() / rows.max(1);
    let scale = 1.0 / rows.max(1) as f32;
    let mut grad = vec![0.0; s.len()];
    let loss = grad
        .par_chunks_mut(n.max(1))
        .enumerate()
        .map(|(b, g)| {
            let row = &s[b * n..(b + 1) * n];
            let pos = positives[b] as usize;
            let mut loss = 0.0;
            for &neg in &negatives[b * k..(b + 1) * k] {
                let l = margin - row[pos] + row[neg as usize];
                if l > 0.0 {
                    loss += l;
                    g[neg as usize] += scale;
                    g[pos] -= scale;
                }
            }
            loss
        })
        .collect();
    (loss, grad)
}

/// Cosine proximity (Keras): `loss_b = -cos(pred[:, b], target[:, b])` for `[d, cols]`.
pub fn cosine_proximity(pred: &[f32], target: &[f32], cols: usize) -> (Vec<f32>, Vec<f32>) {
    let d = pred.len() / cols.max(1);
    let scale = 1.0 / cols.max(1) as f64;
    let mut grad = vec![0.0; pred.len()];
    let mut loss = vec![0.0; cols];
    for c in 0..cols {
        let (mut pp, mut tt, mut pt) = (0.0f64, 0.0f64, 0.0f64);
        for r in 0..d {
            let (p, t) = (f64::from(pred[r * cols + c]), f64::from(target[r * cols + c]));
            pp += p * p;
            tt += t * t;
            pt += p * t;
        }
        let (np, nt) = (pp.sqrt().max(1e-12), tt.sqrt().max(1e-12));
        let cos = pt / (np * nt);
        loss[c] = -cos as f32;
        for r in 0..d {
            let (p, t) = (f64::from(pred[r * cols + c]), f64::from(target[r * cols + c]));
            // d cos / d p = (t / |t| - cos p / |p|) / |p|
            grad[r * cols + c] = (-scale * (t / nt - cos * p / np) / np) as f32;
        }
    }
    (loss, grad)
}

/// Softmax cross-entropy over the rows of `logits [rows, n]` scaled by `scale` (1 / the
/// temperature): `loss_b = logsumexp(scale s_b) - scale s[b, targets[b]]`.
pub fn softmax_cross_entropy(logits: &[f32], n: usize, targets: &[u32], scale: f32) -> (Vec<f32>, Vec<f32>) {
    let rows = targets.len();
    let inv_rows = 1.0 / rows.max(1) as f64;
    let mut grad = vec![0.0; logits.len()];
    let loss = grad
        .par_chunks_mut(n.max(1))
        .enumerate()
        .map(|(b, g)| {
            let z: Vec<f64> = logits[b * n..(b + 1) * n].iter().map(|&v| f64::from(scale) * f64::from(v)).collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            let lse = max + sum.ln();
            let t = targets[b] as usize;
            for (j, gj) in g.iter_mut().enumerate() {
                let p = (z[j] - lse).exp() - if j == t { 1.0 } else { 0.0 };
                *gj = (f64::from(scale) * p * inv_rows) as f32;
            }
            (lse - z[t]) as f32
        })
        .collect();
    (loss, grad)
}

/// Sigmoid binary cross-entropy of `logits [tags, cols]` against 0/1 `labels`, averaged over
/// the tags of each column: the loss per column.
pub fn sigmoid_bce(logits: &[f32], labels: &[f32], cols: usize) -> (Vec<f32>, Vec<f32>) {
    let tags = logits.len() / cols.max(1);
    let scale = 1.0 / (tags * cols).max(1) as f64;
    let mut loss = vec![0.0f32; cols];
    let grad = logits
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (&z, &y))| {
            let (z, y) = (f64::from(z), f64::from(y));
            // softplus(z) - y z, computed without overflow.
            let l = z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            loss[i % cols] += (l / tags as f64) as f32;
            ((1.0 / (1.0 + (-z).exp()) - y) * scale) as f32
        })
        .collect();
    (loss, grad)
}
