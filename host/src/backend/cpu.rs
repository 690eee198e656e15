//! The native CPU backend: the kernels in `spectral::cpu`, FFT plans cached per size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Backend, ComputeError};
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
}
