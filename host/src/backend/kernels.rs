//! [`Kernels`]: what each compute path implements, once natively on the CPU and once in
//! WGSL. Kernels trust their shapes: [`super::Backend`] checks them first, in one place.

use super::{ComputeError, Tensor};
use crate::nn::{AdamStep, AudioTower, SgdStep, SparseRows};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// Activations are `[channels, batch, time]`, matrices `[rows, cols]` (features x batch),
/// dense weights `[out, in]` (PyTorch), conv weights tap-major `[k, out, in]`. Backward
/// kernels sit beside their forward; weight gradients accumulate (`+=`) into `&mut`
/// tensors, as optimiser state is updated in place. Losses return each row's loss and the
/// gradient of their mean.
pub trait Kernels: Send + Sync {
    /// `"cpu"` or `"gpu (<adapter>)"`.
    fn name(&self) -> String;

    // ---- memory ----

    /// A tensor on this backend holding `data`.
    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor, ComputeError>;

    /// The values of a tensor of this backend, in host memory.
    fn download(&self, x: &Tensor) -> Result<Vec<f32>, ComputeError>;

    /// A tensor of zeros.
    fn zeros(&self, shape: &[usize]) -> Result<Tensor, ComputeError>;

    /// Sets every value of `x` to zero (gradients between steps).
    fn zero(&self, x: &mut Tensor) -> Result<(), ComputeError>;

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

    /// The conv's input gradient; with `y` (the forward's ReLU output) `dy` is masked by
    /// `y > 0` first.
    fn conv1d_x_backward(&self, dy: &Tensor, y: Option<&Tensor>, w: &Tensor) -> Result<Tensor, ComputeError>;

    /// `dw += dz * x` per tap and `db += sum(dz)`, `dz` = `dy` masked as above.
    fn conv1d_weight_backward(
        &self,
        x: &Tensor,
        dy: &Tensor,
        y: Option<&Tensor>,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError>;

    /// Max-pool over time by `pool` (floor).
    fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError>;

    /// Each output's gradient to the first maximum of its window (`x` = the pool's input).
    fn max_pool_backward(&self, x: &Tensor, dy: &Tensor, pool: usize) -> Result<Tensor, ComputeError>;

    /// `out[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`.
    fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError>;

    /// `dx [rows, cols]` spreading each segment's gradient over its columns.
    fn segment_mean_backward(&self, dy: &Tensor, offsets: &[usize], cols: usize) -> Result<Tensor, ComputeError>;

    /// `W x + b` (+ ReLU) for `x [d_in, batch]`.
    fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError>;

    /// `op(a) op(b)`, `op` transposing when asked (similarities, dense gradients).
    fn matmul(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor, ComputeError>;

    /// `c += op(a) op(b)` (weight gradients).
    fn matmul_acc(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool, c: &mut Tensor) -> Result<(), ComputeError>;

    /// `dy` where `y > 0`, else 0.
    fn relu_backward(&self, dy: &Tensor, y: &Tensor) -> Result<Tensor, ComputeError>;

    /// `db += sum over columns of dz` (a bias's gradient).
    fn bias_backward(&self, dz: &Tensor, db: &mut Tensor) -> Result<(), ComputeError>;

    /// Each column to unit L2 norm.
    fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError>;

    /// `dx = (dy - y (y . dy)) / |x|` per column.
    fn l2_normalize_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor, ComputeError>;

    /// `W x + b` (+ ReLU) for sparse rows: `[d_out, rows]`.
    fn sparse_dense_forward(
        &self,
        x: &SparseRows,
        w: &Tensor,
        bias: &Tensor,
        relu: bool,
    ) -> Result<Tensor, ComputeError>;

    /// `dw += dz x^T`, `db += sum(dz)` for sparse rows `x` (no input gradient: it is data).
    fn sparse_dense_weight_backward(
        &self,
        x: &SparseRows,
        dz: &Tensor,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError>;

    /// Embedding lookup: column `b` of the result is row `idx[b]` of `table [n, d]`.
    fn gather_columns(&self, table: &Tensor, idx: &[u32]) -> Result<Tensor, ComputeError>;

    /// `dtable[idx[b]] += dy[:, b]` (indices may repeat).
    fn gather_columns_backward(&self, dy: &Tensor, idx: &[u32], dtable: &mut Tensor) -> Result<(), ComputeError>;

    // ---- losses: (loss of each row, gradient of the mean) ----

    /// DCUE's max-margin hinge over scores `[rows, n]`: row `b`'s positive column and its
    /// negatives `negatives[b * k .. (b + 1) * k]`.
    fn hinge_loss(
        &self,
        scores: &Tensor,
        positives: &[u32],
        negatives: &[u32],
        margin: f32,
    ) -> Result<(Tensor, Tensor), ComputeError>;

    /// `-cos(pred[:, b], target[:, b])` for `[d, cols]` (Keras' cosine proximity).
    fn cosine_proximity(&self, pred: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor), ComputeError>;

    /// Softmax cross-entropy of each row of `scale * logits [rows, n]` against `targets`.
    fn softmax_cross_entropy(
        &self,
        logits: &Tensor,
        targets: &[u32],
        scale: f32,
    ) -> Result<(Tensor, Tensor), ComputeError>;

    /// Sigmoid cross-entropy of `logits [tags, cols]` against 0/1 `labels`, per column.
    fn sigmoid_bce(&self, logits: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor), ComputeError>;

    // ---- optimiser steps, in place ----

    fn sgd_nesterov(&self, p: &mut Tensor, g: &Tensor, v: &mut Tensor, h: SgdStep) -> Result<(), ComputeError>;

    fn adam(&self, p: &mut Tensor, g: &Tensor, m: &mut Tensor, v: &mut Tensor, h: AdamStep)
    -> Result<(), ComputeError>;

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
        let w = k.upload(&[conv.k, conv.c_out, conv.c_in], &conv.weight)?;
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
