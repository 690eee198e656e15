//! [`GpuBackend`]: the WGSL kernels behind the backend interface.

use std::sync::Mutex;

use super::context::{AdapterChoice, GpuContext};
use super::spectral::SpectralKernels;
use crate::backend::{Backend, ComputeError};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// One device, its kernels and their reusable buffers. Calls are serialised on the kernel
/// state (one queue); parallelism comes from batching inside each call.
pub struct GpuBackend {
    ctx: GpuContext,
    spectral: Mutex<SpectralKernels>,
}

impl GpuBackend {
    pub fn new(choice: AdapterChoice) -> Result<Self, ComputeError> {
        let ctx = GpuContext::new(choice)?;
        let spectral = Mutex::new(SpectralKernels::new(&ctx));
        Ok(Self { ctx, spectral })
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    fn spectral(&self) -> std::sync::MutexGuard<'_, SpectralKernels> {
        self.spectral.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        format!("gpu ({})", self.ctx.adapter())
    }

    fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError> {
        self.spectral().stft_power(&self.ctx, plan, samples)
    }

    fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError> {
        self.spectral().mel_db(&self.ctx, plan, power)
    }

    fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        self.spectral().log_mel(&self.ctx, plan, samples)
    }
}
