//! Cheap augmentations of log-mel windows (dB, band-major `[n_mels][frames]`) for contrastive
//! pretraining: what two views of one piece of music may differ by without it becoming other
//! music (COLA, CLMR): loudness, a little pitch and tempo, a spectral tilt, masked bands and
//! frames, and a quiet second track mixed in.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::catalog::mels::MelCache;

/// How strong each augmentation is; every field 0 turns it off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Gain: up to this many dB up or down.
    pub gain_db: f32,
    /// Spectral tilt: the top band up to this many dB above or below the bottom one.
    pub tilt_db: f32,
    /// Pitch: shift by up to this many mel bands.
    pub shift_bands: usize,
    /// Tempo: the crop spans `window * r` frames, `r` in `[1 / stretch, stretch]`, resampled.
    pub stretch: f32,
    /// Up to this many adjacent bands masked (probability 0.5).
    pub band_mask: usize,
    /// Up to this many adjacent frames masked (probability 0.5).
    pub frame_mask: usize,
    /// Probability of mixing in another track ...
    pub mix_probability: f32,
    /// ... at up to this power ratio.
    pub mix_weight: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            gain_db: 6.0,
            tilt_db: 6.0,
            shift_bands: 3,
            stretch: 1.2,
            band_mask: 12,
            frame_mask: 16,
            mix_probability: 0.3,
            mix_weight: 0.3,
        }
    }
}

/// A crop of a track: band-major frames and the centre of the span they came from (in the
/// cache's frames, for a teacher's embedding of the same moment).
pub struct Crop {
    pub data: Vec<f32>,
    pub centre_frame: f64,
}

/// A random crop of `track`, `window` frames long after a random tempo change (linear
/// interpolation between frames), band-major.
pub fn stretched_crop(
    cache: &MelCache,
    track: usize,
    window: usize,
    stretch: f32,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Crop> {
    let n = cache.n_mels;
    let rate = if stretch > 1.0 { (rng.random_range(-1.0f32..1.0) * stretch.ln()).exp() } else { 1.0 };
    let span = ((window as f32 * rate).round() as usize).max(2);
    let start = rng.random_range(0..=cache.frames(track).saturating_sub(span));
    let mut src = vec![0.0f32; n * span];
    cache.read_window(track, start, span, &mut src, span)?;
    let centre_frame = start as f64 + span as f64 / 2.0;
    if span == window {
        return Ok(Crop { data: src, centre_frame });
    }
    let mut out = vec![0.0f32; n * window];
    for f in 0..window {
        let pos = f as f32 * (span - 1) as f32 / (window - 1).max(1) as f32;
        let (i, frac) = (pos.floor() as usize, pos.fract());
        let j = (i + 1).min(span - 1);
        for b in 0..n {
            out[b * window + f] = src[b * span + i] * (1.0 - frac) + src[b * span + j] * frac;
        }
    }
    Ok(Crop { data: out, centre_frame })
}

/// Applies gain, tilt, band shift, masks and mixing with `other` (a window of another track)
/// to `x` in place.
pub fn augment(x: &mut [f32], n_mels: usize, other: Option<&[f32]>, cfg: &AugmentConfig, rng: &mut ChaCha8Rng) {
    let frames = x.len() / n_mels.max(1);
    if let Some(y) = other.filter(|_| cfg.mix_probability > 0.0 && rng.random_range(0.0f32..1.0) < cfg.mix_probability)
    {
        let w = rng.random_range(0.0f32..cfg.mix_weight.max(1e-6));
        for (a, &b) in x.iter_mut().zip(y) {
            *a = 10.0 * (10f32.powf(*a / 10.0) + w * 10f32.powf(b / 10.0)).max(1e-10).log10();
        }
    }
    if cfg.shift_bands > 0 {
        let s = rng.random_range(-(cfg.shift_bands as i64)..=cfg.shift_bands as i64);
        if s != 0 {
            let src = x.to_vec();
            for b in 0..n_mels {
                let from = (b as i64 - s).clamp(0, n_mels as i64 - 1) as usize;
                x[b * frames..(b + 1) * frames].copy_from_slice(&src[from * frames..(from + 1) * frames]);
            }
        }
    }
    let gain = if cfg.gain_db > 0.0 { rng.random_range(-cfg.gain_db..cfg.gain_db) } else { 0.0 };
    let tilt = if cfg.tilt_db > 0.0 { rng.random_range(-cfg.tilt_db..cfg.tilt_db) } else { 0.0 };
    for b in 0..n_mels {
        let add = gain + tilt * (b as f32 / (n_mels - 1).max(1) as f32 - 0.5);
        x[b * frames..(b + 1) * frames].iter_mut().for_each(|v| *v += add);
    }
    let floor = x.iter().copied().fold(f32::INFINITY, f32::min);
    if cfg.band_mask > 0 && rng.random_range(0.0f32..1.0) < 0.5 {
        let w = rng.random_range(1..=cfg.band_mask.min(n_mels));
        let at = rng.random_range(0..=n_mels - w);
        x[at * frames..(at + w) * frames].iter_mut().for_each(|v| *v = floor);
    }
    if cfg.frame_mask > 0 && rng.random_range(0.0f32..1.0) < 0.5 {
        let w = rng.random_range(1..=cfg.frame_mask.min(frames));
        let at = rng.random_range(0..=frames - w);
        for b in 0..n_mels {
            x[b * frames + at..b * frames + at + w].iter_mut().for_each(|v| *v = floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn window() -> Vec<f32> {
        (0..8 * 10).map(|i| -40.0 + (i % 17) as f32).collect()
    }

    #[test]
    fn all_off_changes_nothing() {
        let off = AugmentConfig {
            gain_db: 0.0,
            tilt_db: 0.0,
            shift_bands: 0,
            stretch: 1.0,
            band_mask: 0,
            frame_mask: 0,
            mix_probability: 0.0,
            mix_weight: 0.0,
        };
        let mut x = window();
        augment(&mut x, 8, Some(&window()), &off, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(x, window());
    }

    #[test]
    fn gain_alone_shifts_every_value_by_one_amount_within_bounds() {
        let gain = AugmentConfig {
            gain_db: 6.0,
            tilt_db: 0.0,
            shift_bands: 0,
            band_mask: 0,
            frame_mask: 0,
            mix_probability: 0.0,
            ..AugmentConfig::default()
        };
        for seed in 0..20 {
            let mut x = window();
            augment(&mut x, 8, None, &gain, &mut ChaCha8Rng::seed_from_u64(seed));
            let d: Vec<f32> = x.iter().zip(window()).map(|(a, b)| a - b).collect();
            assert!(d.iter().all(|v| (v - d[0]).abs() < 1e-4 && v.abs() <= 6.0), "{d:?}");
        }
    }

    #[test]
    fn masks_and_mixing_stay_finite_and_in_range() {
        let cfg = AugmentConfig { mix_probability: 1.0, ..AugmentConfig::default() };
        for seed in 0..50 {
            let mut x = window();
            augment(&mut x, 8, Some(&window()), &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
            assert!(x.iter().all(|v| v.is_finite() && *v > -60.0 && *v < 0.0), "{x:?}");
        }
    }
}
