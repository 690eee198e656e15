//! The log-mel spectrogram: parameters, the Slaney filterbank, and the CPU kernels.
//!
//! The numbers follow librosa 0.11's defaults as DCUE uses them: periodic Hann window,
//! centred frames with zero padding, power spectrum, Slaney mel scale and area
//! normalisation, `10 log10(max(S, amin))`. The same [`MelPlan`] feeds the CPU kernels here
//! and the WGSL kernels in `gpu::spectral`, so both paths share window and filter values.

pub mod cpu;
mod filterbank;

pub use filterbank::{MelFilterbank, hz_to_mel_slaney, mel_to_hz_slaney};

use serde::{Deserialize, Serialize};

/// Spectrogram parameters (stored in a model's manifest: the model was trained on them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MelParams {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub n_mels: usize,
    pub fmin: f64,
    pub fmax: f64,
    /// Floor applied before the logarithm.
    pub amin: f32,
}

impl Default for MelParams {
    fn default() -> Self {
        Self { sample_rate: 22_050, n_fft: 1024, hop: 512, n_mels: 128, fmin: 0.0, fmax: 11_025.0, amin: 1e-10 }
    }
}

impl MelParams {
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames for `samples` input samples with centred framing (librosa: `1 + len // hop`).
    pub fn n_frames(&self, samples: usize) -> usize {
        1 + samples / self.hop
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.n_fft.is_power_of_two() || !(16..=4096).contains(&self.n_fft) {
            return Err(format!("n_fft {} must be a power of two in 16..=4096", self.n_fft));
        }
        if self.hop == 0 || self.hop > self.n_fft {
            return Err(format!("hop {} must be in 1..=n_fft", self.hop));
        }
        if self.n_mels == 0 || self.n_mels > 512 {
            return Err(format!("n_mels {} must be in 1..=512", self.n_mels));
        }
        let nyquist = f64::from(self.sample_rate) / 2.0;
        if !(self.fmin >= 0.0 && self.fmin < self.fmax && self.fmax <= nyquist) {
            return Err(format!("need 0 <= fmin < fmax <= {nyquist} Hz"));
        }
        if self.amin.is_nan() || self.amin <= 0.0 {
            return Err("amin must be positive".into());
        }
        Ok(())
    }
}

/// Everything derived once from [`MelParams`]: the window and the sparse filterbank.
#[derive(Debug, Clone)]
pub struct MelPlan {
    pub params: MelParams,
    /// Periodic Hann window of `n_fft` taps (computed in f64, stored as f32).
    pub window: Vec<f32>,
    pub filterbank: MelFilterbank,
}

impl MelPlan {
    pub fn new(params: MelParams) -> Self {
        params.validate().expect("invalid mel parameters");
        Self { window: hann_periodic(params.n_fft), filterbank: MelFilterbank::slaney(&params), params }
    }
}

/// `0.5 - 0.5 cos(2 pi n / N)`: scipy's `get_window('hann', N, fftbins=True)`.
pub fn hann_periodic(n: usize) -> Vec<f32> {
    (0..n).map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32).collect()
}

/// Power spectrogram, frame-major: `data[frame * n_bins + bin]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerSpectrogram {
    pub n_frames: usize,
    pub n_bins: usize,
    pub data: Vec<f32>,
}

/// Log-mel spectrogram in dB, band-major: `data[band * n_frames + frame]` (the `[128, T]`
/// layout librosa returns and the audio tower reads as channels x time).
#[derive(Debug, Clone, PartialEq)]
pub struct MelSpectrogram {
    pub n_mels: usize,
    pub n_frames: usize,
    pub data: Vec<f32>,
}

impl MelSpectrogram {
    pub fn band(&self, m: usize) -> &[f32] {
        &self.data[m * self.n_frames..(m + 1) * self.n_frames]
    }

    pub fn get(&self, band: usize, frame: usize) -> f32 {
        self.data[band * self.n_frames + frame]
    }
}
