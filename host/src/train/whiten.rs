//! Whitening of the audio tower's output, fitted on training music and folded into its last
//! dense layer, so the served tower (and `debut embed`) needs nothing new.
//!
//! A CNN's raw output sits in a narrow cone: a common component dominates every cosine. The
//! whitened output `W (f(x) - mean)` has identity covariance over the training windows, so
//! every direction the music varies in counts. Any two whitenings differ by a rotation, which
//! leaves cosines alone; the Cholesky one (`W = L^-1` for `cov = L L^T`) is the simplest.
//! Shrinking the covariance towards its mean variance keeps near-empty directions from being
//! blown up into noise.

use crate::nn::Dense;

/// Mean and whitening matrix (`d x d`, row-major) of `rows`, with the covariance shrunk by
/// `shrinkage` (0: full whitening, 1: only centring and one scale).
pub fn fit(rows: &[Vec<f32>], shrinkage: f64) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mean, cov, d) = covariance(rows, shrinkage)?;
    let l = cholesky(&cov, d)?;
    Ok((mean, lower_inverse(&l, d)))
}

/// Mean and the `k x d` PCA whitening of `rows`: their `k` directions of largest variance,
/// each scaled to unit variance (the read-out of a wider layer, e.g. the 512-d trunk).
pub fn fit_pca(rows: &[Vec<f32>], k: usize, shrinkage: f64) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mean, cov, d) = covariance(rows, shrinkage)?;
    anyhow::ensure!(k <= d, "{k} components of {d}-d rows");
    let m = faer::Mat::<f64>::from_fn(d, d, |i, j| cov[i * d + j]);
    let evd = m.self_adjoint_eigen(faer::Side::Lower).map_err(|e| anyhow::anyhow!("eigendecomposition: {e:?}"))?;
    let (u, s) = (evd.U(), evd.S().column_vector());
    // Eigenvalues ascend: the last k are the largest.
    let mut w = vec![0.0f64; k * d];
    for r in 0..k {
        let col = d - 1 - r;
        let scale = 1.0 / s[col].max(1e-12).sqrt();
        for c in 0..d {
            w[r * d + c] = u[(c, col)] * scale;
        }
    }
    Ok((mean, w))
}

/// `fc` replaced by `W (x - mean)` of its input: the layer reads out the whitened input.
pub fn read_out(fc: &mut Dense, mean: &[f64], w: &[f64]) {
    let d = mean.len();
    let k = w.len() / d;
    fc.weight = w.iter().map(|&v| v as f32).collect();
    fc.bias = (0..k).map(|r| -(0..d).map(|c| w[r * d + c] * mean[c]).sum::<f64>() as f32).collect();
    (fc.d_out, fc.d_in) = (k, d);
}

/// Mean, shrunk covariance (`d x d`, row-major) and `d` of `rows`.
fn covariance(rows: &[Vec<f32>], shrinkage: f64) -> anyhow::Result<(Vec<f64>, Vec<f64>, usize)> {
    let d = rows.first().map_or(0, Vec::len);
    anyhow::ensure!(d > 0 && rows.len() > 1, "whitening needs at least two embeddings");
    let n = rows.len() as f64;
    let mut mean = vec![0.0f64; d];
    for r in rows {
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += f64::from(v) / n;
        }
    }
    let mut cov = vec![0.0f64; d * d];
    for r in rows {
        let c: Vec<f64> = r.iter().zip(&mean).map(|(&v, m)| f64::from(v) - m).collect();
        for i in 0..d {
            for j in 0..=i {
                cov[i * d + j] += c[i] * c[j] / (n - 1.0);
            }
        }
    }
    let avg = (0..d).map(|i| cov[i * d + i]).sum::<f64>() / d as f64;
    anyhow::ensure!(avg > 0.0, "the embeddings do not vary: nothing to whiten");
    for i in 0..d {
        for j in 0..=i {
            let shrunk = (1.0 - shrinkage) * cov[i * d + j] + if i == j { shrinkage * avg } else { 0.0 };
            cov[i * d + j] = shrunk;
            cov[j * d + i] = shrunk;
        }
        cov[i * d + i] += 1e-9 * avg;
    }
    Ok((mean, cov, d))
}

fn cholesky(a: &[f64], d: usize) -> anyhow::Result<Vec<f64>> {
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                anyhow::ensure!(s > 0.0, "covariance not positive definite at {i}");
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Ok(l)
}

/// `L^-1` of a lower-triangular `L`, by forward substitution on each unit vector.
fn lower_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0f64; d * d];
    for c in 0..d {
        for i in c..d {
            let s: f64 = (c..i).map(|k| l[i * d + k] * inv[k * d + c]).sum();
            inv[i * d + c] = (if i == c { 1.0 } else { 0.0 } - s) / l[i * d + i];
        }
    }
    inv
}

/// `fc` replaced by `W (fc(x) - mean)`.
pub fn fold_into(fc: &mut Dense, mean: &[f64], w: &[f64]) {
    let (d, k) = (fc.d_out, fc.d_in);
    let mut weight = vec![0.0f32; d * k];
    let mut bias = vec![0.0f32; d];
    for i in 0..d {
        for c in 0..k {
            weight[i * k + c] = (0..d).map(|j| w[i * d + j] * f64::from(fc.weight[j * k + c])).sum::<f64>() as f32;
        }
        bias[i] = (0..d).map(|j| w[i * d + j] * (f64::from(fc.bias[j]) - mean[j])).sum::<f64>() as f32;
    }
    fc.weight = weight;
    fc.bias = bias;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitened_rows_have_zero_mean_and_identity_covariance() {
        // Correlated 3-d rows with a large common offset.
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|i| {
                let (a, b) = (((i * 37) % 101) as f32 / 50.0 - 1.0, ((i * 53) % 97) as f32 / 48.0 - 1.0);
                let c = ((i * 71) % 89) as f32 / 44.0 - 1.0;
                vec![5.0 + a, 5.0 + 0.8 * a + 0.2 * b, 5.0 - b + 0.5 * c]
            })
            .collect();
        let (mean, w) = fit(&rows, 0.0).unwrap();
        let mut fc = Dense { d_out: 3, d_in: 3, weight: vec![1., 0., 0., 0., 1., 0., 0., 0., 1.], bias: vec![0.0; 3] };
        fold_into(&mut fc, &mean, &w);
        let out: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                (0..3)
                    .map(|i| {
                        f64::from(fc.bias[i]) + (0..3).map(|c| f64::from(fc.weight[i * 3 + c] * r[c])).sum::<f64>()
                    })
                    .collect()
            })
            .collect();
        let n = out.len() as f64;
        for i in 0..3 {
            let m = out.iter().map(|r| r[i]).sum::<f64>() / n;
            assert!(m.abs() < 1e-3, "mean {m}");
            for j in 0..3 {
                let c = out.iter().map(|r| r[i] * r[j]).sum::<f64>() / (n - 1.0);
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((c - want).abs() < 1e-3, "cov[{i}][{j}] = {c}");
            }
        }
    }

    #[test]
    fn pca_read_out_keeps_the_largest_directions_whitened() {
        // 4-d rows: two strong directions, two weak ones.
        let rows: Vec<Vec<f32>> = (0..500)
            .map(|i| {
                let f = |m: usize, q: usize| ((i * m) % q) as f32 / (q as f32 / 2.0) - 1.0;
                let (a, b, c, e) = (f(37, 101), f(53, 97), f(71, 89), f(29, 83));
                vec![3.0 + 10.0 * a, -1.0 + 10.0 * a + 5.0 * b, 0.1 * c, 0.1 * e]
            })
            .collect();
        let (mean, w) = fit_pca(&rows, 2, 0.0).unwrap();
        let mut fc = Dense { d_out: 200, d_in: 4, weight: vec![0.0; 800], bias: vec![0.0; 200] };
        read_out(&mut fc, &mean, &w);
        assert_eq!((fc.d_out, fc.d_in, fc.weight.len(), fc.bias.len()), (2, 4, 8, 2));
        let out: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                (0..2)
                    .map(|i| {
                        f64::from(fc.bias[i]) + (0..4).map(|c| f64::from(fc.weight[i * 4 + c] * r[c])).sum::<f64>()
                    })
                    .collect()
            })
            .collect();
        let n = out.len() as f64;
        for i in 0..2 {
            assert!((out.iter().map(|r| r[i]).sum::<f64>() / n).abs() < 1e-3);
            for j in 0..2 {
                let c = out.iter().map(|r| r[i] * r[j]).sum::<f64>() / (n - 1.0);
                assert!((c - if i == j { 1.0 } else { 0.0 }).abs() < 1e-3, "cov[{i}][{j}] = {c}");
            }
        }
        // The weak coordinates barely enter.
        assert!(fc.weight.chunks(4).all(|r| r[2].abs() < 1e-3 && r[3].abs() < 1e-3), "{:?}", fc.weight);
    }
}
