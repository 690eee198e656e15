//! One interface over the two compute paths. Every numeric op exists once as a native CPU
//! kernel and once as a WGSL kernel ([`Kernels`]); callers (inference, the trainer,
//! benchmarks) hold a [`Backend`], which checks shapes once and never says which path runs.

pub(crate) mod checks;
mod cpu;
mod host;
mod kernels;
mod ops;
mod tensor;

pub use cpu::CpuBackend;
pub use kernels::Kernels;
pub use ops::Cosine;
pub(crate) use tensor::Store;
pub use tensor::Tensor;

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

/// The numeric ops of the pipeline on one compute path, shapes checked. Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    kernels: Arc<dyn Kernels>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.name())
    }
}

impl Backend {
    pub fn new(kernels: impl Kernels + 'static) -> Self {
        Self { kernels: Arc::new(kernels) }
    }

    /// `"cpu"` or `"gpu (<adapter>)"`.
    pub fn name(&self) -> String {
        self.kernels.name()
    }

    // ---- tensors ----

    /// A tensor on this backend holding `data` (`shape` must account for every value).
    pub fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor, ComputeError> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(ComputeError::Shape(format!("shape {shape:?} for {} values", data.len())));
        }
        self.kernels.upload(shape, data)
    }

    /// A tensor's values in host memory.
    pub fn download(&self, x: &Tensor) -> Result<Vec<f32>, ComputeError> {
        self.kernels.download(x)
    }

    /// A tensor of zeros on this backend.
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor, ComputeError> {
        self.kernels.zeros(shape)
    }

    /// Sets every value of `x` to zero.
    pub fn zero(&self, x: &mut Tensor) -> Result<(), ComputeError> {
        self.kernels.zero(x)
    }

    // ---- spectral ----

    /// Centred, Hann-windowed power spectrogram of mono samples.
    pub fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError> {
        self.kernels.stft_power(plan, samples)
    }

    /// Mel projection and dB of a power spectrogram.
    pub fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError> {
        if power.n_bins != plan.params.n_bins() || power.data.len() != power.n_bins * power.n_frames {
            return Err(ComputeError::Shape(format!(
                "power spectrogram has {} bins, the plan {}",
                power.n_bins,
                plan.params.n_bins()
            )));
        }
        self.kernels.mel_db(plan, power)
    }

    /// Both in one go; a GPU backend keeps the intermediate on the device.
    pub fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        self.kernels.log_mel(plan, samples)
    }
}

/// Resolves a [`BackendKind`] to a backend. `Auto` falls back to the CPU when no hardware
/// adapter exists and says so once in the log.
pub fn select(kind: BackendKind) -> Result<Backend, ComputeError> {
    match kind {
        BackendKind::Cpu => Ok(Backend::new(CpuBackend::new())),
        BackendKind::Gpu => Ok(Backend::new(crate::gpu::GpuBackend::new(crate::gpu::AdapterChoice::AnyAdapter)?)),
        BackendKind::Auto => match crate::gpu::GpuBackend::new(crate::gpu::AdapterChoice::HardwareOnly) {
            Ok(gpu) => Ok(Backend::new(gpu)),
            Err(e) => {
                static SAID: OnceLock<()> = OnceLock::new();
                SAID.get_or_init(|| tracing::info!("backend auto: {e}; using the CPU backend"));
                Ok(Backend::new(CpuBackend::new()))
            }
        },
    }
}
