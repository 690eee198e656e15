//! One interface over the two compute paths. Every numeric op exists once as a native CPU
//! kernel and once as a WGSL kernel; callers (inference, the trainer, benchmarks) hold an
//! `Arc<dyn Backend>` and never know which.

mod cpu;

pub use cpu::CpuBackend;

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// Which compute path to use (`DEBUT_BACKEND`, `backend` in the config, `--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Native CPU kernels.
    Cpu,
    /// WGSL kernels through wgpu on the best adapter, software ones (lavapipe) included.
    Gpu,
    /// A real (hardware) GPU when there is one, else the CPU.
    #[default]
    Auto,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
            Self::Auto => "auto",
        })
    }
}

/// A failure inside a compute path (not caused by the input data).
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("GPU device error: {0}")]
    Device(String),
    #[error("shape mismatch: {0}")]
    Shape(String),
}

/// The numeric ops of the pipeline.
pub trait Backend: Send + Sync {
    /// `"cpu"` or `"gpu (<adapter>)"`.
    fn name(&self) -> String;

    /// Centred, Hann-windowed power spectrogram of mono samples.
    fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError>;

    /// Mel projection and dB of a power spectrogram.
    fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError>;

    /// Both in one go; a GPU backend keeps the intermediate on the device.
    fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        let power = self.stft_power(plan, samples)?;
        self.mel_db(plan, &power)
    }
}

/// Resolves a [`BackendKind`] to a backend. `Auto` falls back to the CPU when no hardware
/// adapter exists and says so once in the log.
pub fn select(kind: BackendKind) -> Result<Arc<dyn Backend>, ComputeError> {
    match kind {
        BackendKind::Cpu => Ok(Arc::new(CpuBackend::new())),
        BackendKind::Gpu => Ok(Arc::new(crate::gpu::GpuBackend::new(crate::gpu::AdapterChoice::AnyAdapter)?)),
        BackendKind::Auto => match crate::gpu::GpuBackend::new(crate::gpu::AdapterChoice::HardwareOnly) {
            Ok(gpu) => Ok(Arc::new(gpu)),
            Err(e) => {
                static SAID: OnceLock<()> = OnceLock::new();
                SAID.get_or_init(|| tracing::info!("backend auto: {e}; using the CPU backend"));
                Ok(Arc::new(CpuBackend::new()))
            }
        },
    }
}
