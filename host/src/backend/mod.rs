//! One interface over the two compute paths. Every numeric op exists once as a native CPU
//! kernel and once as a WGSL kernel; callers (inference, the trainer, benchmarks) hold an
//! `Arc<dyn Backend>` and never know which.

pub(crate) mod checks;
mod cpu;

pub use cpu::CpuBackend;

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::nn::{Activations, AudioTower, Conv1d, Dense, Matrix, SparseRows, TextTower, TrackWindows};
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

    // ---- audio tower ops: activations are [channels, batch, time], matrices [rows, cols] ----

    /// `(x - mean[c]) / std[c]` per channel.
    fn normalize_channels(&self, x: &Activations, mean: &[f32], std: &[f32]) -> Result<Activations, ComputeError>;

    /// 'Same' Conv1d with bias, optionally followed by ReLU.
    fn conv1d(&self, x: &Activations, layer: &Conv1d, relu: bool) -> Result<Activations, ComputeError>;

    /// Max-pool over time by `pool` (floor).
    fn max_pool(&self, x: &Activations, pool: usize) -> Result<Activations, ComputeError>;

    /// `out[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`: mean over time and over a
    /// track's windows.
    fn segment_mean(&self, x: &Matrix, offsets: &[usize]) -> Result<Matrix, ComputeError>;

    /// `W x + b` (+ ReLU) for `x` of shape `[d_in, batch]`.
    fn dense(&self, x: &Matrix, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError>;

    /// Each column to unit L2 norm.
    fn l2_normalize(&self, x: &Matrix) -> Result<Matrix, ComputeError>;

    /// `W x + b` (+ ReLU) for sparse inputs: `[d_out, rows]`.
    fn sparse_dense(&self, x: &SparseRows, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError>;

    /// Artist embeddings `[embedding_dim, rows]` from tf-idf rows (already weighted and
    /// normalised, see [`crate::embedding::tfidf`]): the feed-forward layers, then L2.
    fn text_tower(&self, tower: &TextTower, x: &SparseRows) -> Result<Matrix, ComputeError> {
        let (first, rest) = tower.layers.split_first().ok_or_else(|| ComputeError::Shape("empty text tower".into()))?;
        let mut h = self.sparse_dense(x, first, !rest.is_empty())?;
        for (i, layer) in rest.iter().enumerate() {
            h = self.dense(&h, layer, i + 1 < rest.len())?;
        }
        self.l2_normalize(&h)
    }

    /// Late fusion: `[audio; artist]` columns through the fusion layer, then L2.
    fn fuse(&self, fusion: &Dense, audio: &Matrix, artist: &Matrix) -> Result<Matrix, ComputeError> {
        if audio.cols != artist.cols || audio.rows + artist.rows != fusion.d_in {
            return Err(ComputeError::Shape(format!(
                "fusion reads {} features, got {} + {} for {} / {} columns",
                fusion.d_in, audio.rows, artist.rows, audio.cols, artist.cols
            )));
        }
        let mut data = audio.data.clone();
        data.extend_from_slice(&artist.data);
        let stacked = Matrix { rows: fusion.d_in, cols: audio.cols, data };
        self.l2_normalize(&self.dense(&stacked, fusion, false)?)
    }

    /// The audio tower over windows `[n_mels, batch, window_frames]` -> `[embedding_dim, batch]`.
    fn audio_tower(&self, tower: &AudioTower, windows: &Activations) -> Result<Matrix, ComputeError> {
        checks::check_tower_input(tower, windows)?;
        let mut h = self.normalize_channels(windows, &tower.input_mean, &tower.input_std)?;
        for conv in &tower.convs {
            h = self.conv1d(&h, conv, true)?;
            h = self.max_pool(&h, tower.spec.pool)?;
        }
        let offsets: Vec<usize> = (0..=h.batch).map(|b| b * h.time).collect();
        let flat = Matrix { rows: h.channels, cols: h.batch * h.time, data: h.data };
        let pooled = self.segment_mean(&flat, &offsets)?;
        self.dense(&pooled, &tower.fc, false)
    }

    /// Track embeddings `[embedding_dim, tracks]`: the L2-normalised mean of each track's
    /// window embeddings.
    fn embed_tracks(&self, tower: &AudioTower, windows: &TrackWindows) -> Result<Matrix, ComputeError> {
        let per_window = self.audio_tower(tower, &windows.windows)?;
        let per_track = self.segment_mean(&per_window, &windows.offsets)?;
        self.l2_normalize(&per_track)
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
