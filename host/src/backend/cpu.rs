//! The native CPU backend: the kernels in `spectral::cpu`, FFT plans cached per size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Backend, ComputeError, checks};
use crate::nn::{self, Activations, AudioTower, Conv1d, Dense, Matrix, SparseRows};
use crate::spectral::cpu::{CpuStft, mel_db};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

#[derive(Default)]
pub struct CpuBackend {
    stfts: Mutex<HashMap<usize, Arc<CpuStft>>>,
}

impl CpuBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn stft(&self, n_fft: usize) -> Arc<CpuStft> {
        let mut cache = self.stfts.lock().unwrap_or_else(|p| p.into_inner());
        cache.entry(n_fft).or_insert_with(|| Arc::new(CpuStft::new(n_fft))).clone()
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError> {
        Ok(self.stft(plan.params.n_fft).power(plan, samples))
    }

    fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError> {
        if power.n_bins != plan.params.n_bins() {
            return Err(ComputeError::Shape(format!(
                "power spectrogram has {} bins, the plan {}",
                power.n_bins,
                plan.params.n_bins()
            )));
        }
        Ok(mel_db(plan, power))
    }

    fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        Ok(self.stft(plan.params.n_fft).log_mel(plan, samples))
    }

    fn normalize_channels(&self, x: &Activations, mean: &[f32], std: &[f32]) -> Result<Activations, ComputeError> {
        checks::check_channels(x, mean.len().min(std.len()))?;
        Ok(nn::cpu::normalize_channels(x, mean, std))
    }

    fn conv1d(&self, x: &Activations, layer: &Conv1d, relu: bool) -> Result<Activations, ComputeError> {
        checks::check_conv(x, layer)?;
        Ok(nn::cpu::conv1d(x, layer, relu))
    }

    fn max_pool(&self, x: &Activations, pool: usize) -> Result<Activations, ComputeError> {
        checks::check_pool(x, pool)?;
        Ok(nn::cpu::max_pool(x, pool))
    }

    fn segment_mean(&self, x: &Matrix, offsets: &[usize]) -> Result<Matrix, ComputeError> {
        checks::check_segments(x, offsets)?;
        Ok(nn::cpu::segment_mean(x, offsets))
    }

    fn dense(&self, x: &Matrix, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        checks::check_dense(x, layer)?;
        Ok(nn::cpu::dense(x, layer, relu))
    }

    fn l2_normalize(&self, x: &Matrix) -> Result<Matrix, ComputeError> {
        checks::check_matrix(x)?;
        Ok(nn::cpu::l2_normalize(x))
    }

    fn audio_tower(&self, tower: &AudioTower, windows: &Activations) -> Result<Matrix, ComputeError> {
        checks::check_tower_input(tower, windows)?;
        Ok(nn::cpu::audio_tower(tower, windows))
    }

    fn sparse_dense(&self, x: &SparseRows, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        checks::check_sparse(x, layer)?;
        Ok(nn::cpu::sparse_dense(x, layer, relu))
    }
}
