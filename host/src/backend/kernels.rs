//! [`Kernels`]: what each compute path implements, once natively on the CPU and once in
//! WGSL. Kernels trust their shapes: [`super::Backend`] checks them first, in one place.

use super::{ComputeError, Tensor};
use crate::nn::{AudioTower, SparseRows};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// Activations are `[channels, batch, time]`, matrices `[rows, cols]` (features x batch),
/// weights in PyTorch layouts.
pub trait Kernels: Send + Sync {
    /// `"cpu"` or `"gpu (<adapter>)"`.
    fn name(&self) -> String;

    // ---- memory ----

    /// A tensor on this backend holding `data`.
    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor, ComputeError>;

    /// The values of a tensor of this backend, in host memory.
    fn download(&self, x: &Tensor) -> Result<Vec<f32>, ComputeError>;

    // ---- spectral: host samples in, host spectrograms out ----

    fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError>;

    fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError>;

    /// Both in one go; a GPU keeps the intermediate on the device.
    fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        let power = self.stft_power(plan, samples)?;
        self.mel_db(plan, &power)
    }

    // ---- the towers' ops ----

    /// `(x - mean[c]) / std[c]` per channel.
    fn normalize_channels_forward(&self, x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor, ComputeError>;

    /// 'Same' Conv1d with bias, optionally followed by ReLU.
    fn conv1d_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError>;

    /// Max-pool over time by `pool` (floor).
    fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError>;

    /// `out[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`.
    fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError>;

    /// `W x + b` (+ ReLU) for `x [d_in, batch]`.
    fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError>;

    /// Each column to unit L2 norm.
    fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError>;

    /// `W x + b` (+ ReLU) for sparse rows: `[d_out, rows]`.
    fn sparse_dense_forward(
        &self,
        x: &SparseRows,
        w: &Tensor,
        bias: &Tensor,
        relu: bool,
    ) -> Result<Tensor, ComputeError>;

    /// The audio tower over windows `[n_mels, batch, window_frames]` -> `[embedding_dim,
    /// batch]`. The default composes the ops above; a backend may fuse them.
    fn audio_tower_forward(&self, tower: &AudioTower, windows: &Tensor) -> Result<Tensor, ComputeError> {
        compose_audio_tower(self, tower, windows)
    }
}

/// The tower op by op: normalise, [conv + ReLU, max-pool] per block, mean over time, dense.
pub(crate) fn compose_audio_tower<K: Kernels + ?Sized>(
    k: &K,
    tower: &AudioTower,
    windows: &Tensor,
) -> Result<Tensor, ComputeError> {
    let mean = k.upload(&[tower.input_mean.len()], &tower.input_mean)?;
    let std = k.upload(&[tower.input_std.len()], &tower.input_std)?;
    let mut h = k.normalize_channels_forward(windows, &mean, &std)?;
    for conv in &tower.convs {
        let w = k.upload(&[conv.c_out, conv.c_in, conv.k], &conv.weight)?;
        let b = k.upload(&[conv.c_out], &conv.bias)?;
        h = k.max_pool_forward(&k.conv1d_forward(&h, &w, &b, true)?, tower.spec.pool)?;
    }
    let [c, batch, time] =
        <[usize; 3]>::try_from(h.shape()).map_err(|_| ComputeError::Shape("tower activations".into()))?;
    let offsets: Vec<usize> = (0..=batch).map(|i| i * time).collect();
    let pooled = k.segment_mean_forward(&h.reshaped([c, batch * time])?, &offsets)?;
    let w = k.upload(&[tower.fc.d_out, tower.fc.d_in], &tower.fc.weight)?;
    let b = k.upload(&[tower.fc.d_out], &tower.fc.bias)?;
    k.dense_forward(&pooled, &w, &b, false)
}
