//! [`GpuBackend`]: the WGSL kernels behind the backend interface.

use std::sync::Mutex;

use super::context::{AdapterChoice, GpuContext};
use super::nn::NnKernels;
use super::spectral::SpectralKernels;
use crate::backend::{Backend, ComputeError, checks};
use crate::nn::{Activations, AudioTower, Conv1d, Dense, Matrix, SparseRows, TrackWindows};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// One device, its kernels and their reusable buffers. Calls are serialised on the kernel
/// state (one queue); parallelism comes from batching inside each call.
pub struct GpuBackend {
    ctx: GpuContext,
    spectral: Mutex<SpectralKernels>,
    nn: Mutex<NnKernels>,
}

impl GpuBackend {
    pub fn new(choice: AdapterChoice) -> Result<Self, ComputeError> {
        let ctx = GpuContext::new(choice)?;
        let spectral = Mutex::new(SpectralKernels::new(&ctx));
        let nn = Mutex::new(NnKernels::new(&ctx));
        Ok(Self { ctx, spectral, nn })
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    fn spectral(&self) -> std::sync::MutexGuard<'_, SpectralKernels> {
        self.spectral.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn nn(&self) -> std::sync::MutexGuard<'_, NnKernels> {
        self.nn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `c[m, n] = a[m, k] x b[k, n]` with the WGSL GEMM (benchmarks).
    pub fn matmul(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>, ComputeError> {
        self.nn().matmul(&self.ctx, a, b, m, n, k)
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

    fn normalize_channels(&self, x: &Activations, mean: &[f32], std: &[f32]) -> Result<Activations, ComputeError> {
        checks::check_channels(x, mean.len().min(std.len()))?;
        self.nn().normalize_channels(&self.ctx, x, mean, std)
    }

    fn conv1d(&self, x: &Activations, layer: &Conv1d, relu: bool) -> Result<Activations, ComputeError> {
        checks::check_conv(x, layer)?;
        self.nn().conv1d(&self.ctx, x, layer, relu)
    }

    fn max_pool(&self, x: &Activations, pool: usize) -> Result<Activations, ComputeError> {
        checks::check_pool(x, pool)?;
        self.nn().max_pool(&self.ctx, x, pool)
    }

    fn segment_mean(&self, x: &Matrix, offsets: &[usize]) -> Result<Matrix, ComputeError> {
        checks::check_segments(x, offsets)?;
        self.nn().segment_mean(&self.ctx, x, offsets)
    }

    fn dense(&self, x: &Matrix, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        checks::check_dense(x, layer)?;
        self.nn().dense(&self.ctx, x, layer, relu)
    }

    fn l2_normalize(&self, x: &Matrix) -> Result<Matrix, ComputeError> {
        checks::check_matrix(x)?;
        self.nn().l2_normalize(&self.ctx, x)
    }

    fn audio_tower(&self, tower: &AudioTower, windows: &Activations) -> Result<Matrix, ComputeError> {
        checks::check_tower_input(tower, windows)?;
        self.nn().audio_tower(&self.ctx, tower, windows)
    }

    fn sparse_dense(&self, x: &SparseRows, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        checks::check_sparse(x, layer)?;
        self.nn().sparse_dense(&self.ctx, x, layer, relu)
    }

    fn embed_tracks(&self, tower: &AudioTower, windows: &TrackWindows) -> Result<Matrix, ComputeError> {
        checks::check_tower_input(tower, &windows.windows)?;
        checks::check_segments(&Matrix { rows: 0, cols: windows.windows.batch, data: vec![] }, &windows.offsets)?;
        self.nn().embed_tracks(&self.ctx, tower, &windows.windows, &windows.offsets)
    }
}
