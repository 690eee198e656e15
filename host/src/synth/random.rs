//! The few distributions the generator needs, from uniform draws.

use rand::{Rng, RngExt};

/// Standard normal (Box-Muller).
pub fn normal<R: Rng>(rng: &mut R) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-12);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Gamma(shape, 1) (Marsaglia and Tsang; boosted below shape 1).
pub fn gamma<R: Rng>(rng: &mut R, shape: f32) -> f32 {
    if shape < 1.0 {
        let u: f32 = rng.random::<f32>().max(1e-12);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f32 = rng.random::<f32>().max(1e-12);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Dirichlet draw with concentrations `alpha`.
pub fn dirichlet<R: Rng>(rng: &mut R, alpha: &[f32]) -> Vec<f32> {
    let g: Vec<f32> = alpha.iter().map(|&a| gamma(rng, a)).collect();
    let sum: f32 = g.iter().sum::<f32>().max(1e-12);
    g.iter().map(|v| v / sum).collect()
}

/// An index drawn with probabilities proportional to `weights`.
pub fn categorical<R: Rng>(rng: &mut R, weights: &[f32]) -> usize {
    let total: f32 = weights.iter().sum();
    let mut u = rng.random::<f32>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Poisson(lambda) by inversion (small lambdas).
pub fn poisson<R: Rng>(rng: &mut R, lambda: f32) -> u32 {
    let (l, mut k, mut p) = ((-lambda).exp(), 0u32, 1.0f32);
    loop {
        p *= rng.random::<f32>();
        if p <= l || k > 200 {
            return k;
        }
        k += 1;
    }
}
