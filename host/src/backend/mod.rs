//! One interface over the two compute paths. Every numeric op exists once as a native CPU
//! kernel and once as a WGSL kernel ([`Kernels`]); callers (inference, the trainer,
//! benchmarks) hold a [`Backend`], which checks shapes once and never says which path runs.

pub(crate) mod checks;
mod cpu;
mod kernels;
mod tensor;

pub use cpu::CpuBackend;
pub use kernels::Kernels;
pub(crate) use tensor::Store;
pub use tensor::Tensor;

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

    // ---- tensor ops (activations [channels, batch, time], matrices [rows, cols]) ----

    pub fn normalize_channels_forward(&self, x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor, ComputeError> {
        checks::channels(x, mean, std)?;
        self.kernels.normalize_channels_forward(x, mean, std)
    }

    pub fn conv1d_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        checks::conv1d(x, w, bias)?;
        self.kernels.conv1d_forward(x, w, bias, relu)
    }

    pub fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        checks::pool(x, pool)?;
        self.kernels.max_pool_forward(x, pool)
    }

    pub fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
        checks::segments(x, offsets)?;
        self.kernels.segment_mean_forward(x, offsets)
    }

    pub fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        checks::dense(x, w, bias)?;
        self.kernels.dense_forward(x, w, bias, relu)
    }

    pub fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError> {
        checks::dims::<2>(x, "matrix")?;
        self.kernels.l2_normalize_forward(x)
    }

    pub fn sparse_dense_forward(
        &self,
        x: &SparseRows,
        w: &Tensor,
        bias: &Tensor,
        relu: bool,
    ) -> Result<Tensor, ComputeError> {
        checks::sparse(x, w, bias)?;
        self.kernels.sparse_dense_forward(x, w, bias, relu)
    }

    /// The audio tower over windows `[n_mels, batch, window_frames]` -> `[embedding_dim, batch]`.
    pub fn audio_tower_forward(&self, tower: &AudioTower, windows: &Tensor) -> Result<Tensor, ComputeError> {
        checks::tower_input(&tower.spec, windows)?;
        self.kernels.audio_tower_forward(tower, windows)
    }

    // ---- host data in, host data out (inference, tests) ----

    fn activations(&self, x: &Activations) -> Result<Tensor, ComputeError> {
        self.upload(&[x.channels, x.batch, x.time], &x.data)
    }

    fn matrix(&self, x: &Matrix) -> Result<Tensor, ComputeError> {
        self.upload(&[x.rows, x.cols], &x.data)
    }

    fn to_activations(&self, y: &Tensor) -> Result<Activations, ComputeError> {
        let [channels, batch, time] = checks::dims::<3>(y, "activations")?;
        Ok(Activations { channels, batch, time, data: self.download(y)? })
    }

    fn to_matrix(&self, y: &Tensor) -> Result<Matrix, ComputeError> {
        let [rows, cols] = checks::dims::<2>(y, "matrix")?;
        Ok(Matrix { rows, cols, data: self.download(y)? })
    }

    fn dense_params(&self, layer: &Dense) -> Result<(Tensor, Tensor), ComputeError> {
        Ok((self.upload(&[layer.d_out, layer.d_in], &layer.weight)?, self.upload(&[layer.d_out], &layer.bias)?))
    }

    /// `(x - mean[c]) / std[c]` per channel.
    pub fn normalize_channels(&self, x: &Activations, mean: &[f32], std: &[f32]) -> Result<Activations, ComputeError> {
        let (mean, std) = (self.upload(&[mean.len()], mean)?, self.upload(&[std.len()], std)?);
        self.to_activations(&self.normalize_channels_forward(&self.activations(x)?, &mean, &std)?)
    }

    /// 'Same' Conv1d with bias, optionally followed by ReLU.
    pub fn conv1d(&self, x: &Activations, layer: &Conv1d, relu: bool) -> Result<Activations, ComputeError> {
        let w = self.upload(&[layer.c_out, layer.c_in, layer.k], &layer.weight)?;
        let b = self.upload(&[layer.bias.len()], &layer.bias)?;
        self.to_activations(&self.conv1d_forward(&self.activations(x)?, &w, &b, relu)?)
    }

    /// Max-pool over time by `pool` (floor).
    pub fn max_pool(&self, x: &Activations, pool: usize) -> Result<Activations, ComputeError> {
        self.to_activations(&self.max_pool_forward(&self.activations(x)?, pool)?)
    }

    /// `out[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`: mean over time and over a
    /// track's windows.
    pub fn segment_mean(&self, x: &Matrix, offsets: &[usize]) -> Result<Matrix, ComputeError> {
        self.to_matrix(&self.segment_mean_forward(&self.matrix(x)?, offsets)?)
    }

    /// `W x + b` (+ ReLU) for `x` of shape `[d_in, batch]`.
    pub fn dense(&self, x: &Matrix, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        let (w, b) = self.dense_params(layer)?;
        self.to_matrix(&self.dense_forward(&self.matrix(x)?, &w, &b, relu)?)
    }

    /// Each column to unit L2 norm.
    pub fn l2_normalize(&self, x: &Matrix) -> Result<Matrix, ComputeError> {
        self.to_matrix(&self.l2_normalize_forward(&self.matrix(x)?)?)
    }

    /// `W x + b` (+ ReLU) for sparse inputs: `[d_out, rows]`.
    pub fn sparse_dense(&self, x: &SparseRows, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        let (w, b) = self.dense_params(layer)?;
        self.to_matrix(&self.sparse_dense_forward(x, &w, &b, relu)?)
    }

    /// Artist embeddings `[embedding_dim, rows]` from tf-idf rows (already weighted and
    /// normalised, see [`crate::embedding::tfidf`]): the feed-forward layers, then L2.
    pub fn text_tower(&self, tower: &TextTower, x: &SparseRows) -> Result<Matrix, ComputeError> {
        let (first, rest) = tower.layers.split_first().ok_or_else(|| ComputeError::Shape("empty text tower".into()))?;
        let (w, b) = self.dense_params(first)?;
        let mut h = self.sparse_dense_forward(x, &w, &b, !rest.is_empty())?;
        for (i, layer) in rest.iter().enumerate() {
            let (w, b) = self.dense_params(layer)?;
            h = self.dense_forward(&h, &w, &b, i + 1 < rest.len())?;
        }
        self.to_matrix(&self.l2_normalize_forward(&h)?)
    }

    /// Late fusion: `[audio; artist]` columns through the fusion layer, then L2.
    pub fn fuse(&self, fusion: &Dense, audio: &Matrix, artist: &Matrix) -> Result<Matrix, ComputeError> {
        if audio.cols != artist.cols || audio.rows + artist.rows != fusion.d_in {
            return Err(ComputeError::Shape(format!(
                "fusion reads {} features, got {} + {} for {} / {} columns",
                fusion.d_in, audio.rows, artist.rows, audio.cols, artist.cols
            )));
        }
        let mut data = audio.data.clone();
        data.extend_from_slice(&artist.data);
        let stacked = Matrix { rows: fusion.d_in, cols: audio.cols, data };
        let (w, b) = self.dense_params(fusion)?;
        self.to_matrix(&self.l2_normalize_forward(&self.dense_forward(&self.matrix(&stacked)?, &w, &b, false)?)?)
    }

    /// The audio tower over windows `[n_mels, batch, window_frames]` -> `[embedding_dim, batch]`.
    pub fn audio_tower(&self, tower: &AudioTower, windows: &Activations) -> Result<Matrix, ComputeError> {
        self.to_matrix(&self.audio_tower_forward(tower, &self.activations(windows)?)?)
    }

    /// Track embeddings `[embedding_dim, tracks]`: the L2-normalised mean of each track's
    /// window embeddings.
    pub fn embed_tracks(&self, tower: &AudioTower, windows: &TrackWindows) -> Result<Matrix, ComputeError> {
        let per_window = self.audio_tower_forward(tower, &self.activations(&windows.windows)?)?;
        let per_track = self.segment_mean_forward(&per_window, &windows.offsets)?;
        self.to_matrix(&self.l2_normalize_forward(&per_track)?)
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
