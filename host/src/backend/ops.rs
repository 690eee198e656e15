//! The checked tensor ops: each checks its shapes (`checks`), then runs its kernel. Forward
//! and backward of an op family side by side; the composed backward passes (dense layers,
//! cosine similarity) are built here from the kernels.

use super::{Backend, ComputeError, Tensor, checks};
use crate::nn::{AdamStep, AudioTower, SgdStep, SparseRows};

/// A cosine-similarity matrix and what its backward pass needs.
pub struct Cosine {
    /// `s [m, n] = u_hat^T v_hat`.
    pub scores: Tensor,
    pub u_hat: Tensor,
    pub v_hat: Tensor,
}

impl Backend {
    // ---- normalisation ----

    pub fn normalize_channels_forward(&self, x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor, ComputeError> {
        checks::channels(x, mean, std)?;
        self.kernels.normalize_channels_forward(x, mean, std)
    }

    pub fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError> {
        checks::dims::<2>(x, "matrix")?;
        self.kernels.l2_normalize_forward(x)
    }

    pub fn l2_normalize_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor, ComputeError> {
        checks::dims::<2>(x, "matrix")?;
        checks::same(x, dy, "L2 input and gradient")?;
        self.kernels.l2_normalize_backward(x, dy)
    }

    // ---- conv ----

    /// 'Same' Conv1d: `x [c_in, b, t]`, tap-major `w [k, c_out, c_in]`, `bias [c_out]`.
    pub fn conv1d_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        checks::conv1d(x, w, bias)?;
        self.kernels.conv1d_forward(x, w, bias, relu)
    }

    /// The conv's input gradient; `y`, the forward's ReLU output, masks `dy` when given.
    pub fn conv1d_x_backward(&self, dy: &Tensor, y: Option<&Tensor>, w: &Tensor) -> Result<Tensor, ComputeError> {
        checks::conv1d_x_backward(dy, y, w)?;
        self.kernels.conv1d_x_backward(dy, y, w)
    }

    /// Accumulates the conv's weight and bias gradients.
    pub fn conv1d_weight_backward(
        &self,
        x: &Tensor,
        dy: &Tensor,
        y: Option<&Tensor>,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError> {
        checks::conv1d_weight_backward(x, dy, y, dw, db)?;
        self.kernels.conv1d_weight_backward(x, dy, y, dw, db)
    }

    // ---- pools ----

    pub fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        checks::pool(x, pool)?;
        self.kernels.max_pool_forward(x, pool)
    }

    /// `x` is the pool's input.
    pub fn max_pool_backward(&self, x: &Tensor, dy: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        checks::max_pool_backward(x, dy, pool)?;
        self.kernels.max_pool_backward(x, dy, pool)
    }

    pub fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
        checks::segments(x, offsets)?;
        self.kernels.segment_mean_forward(x, offsets)
    }

    pub fn segment_mean_backward(&self, dy: &Tensor, offsets: &[usize], cols: usize) -> Result<Tensor, ComputeError> {
        checks::segment_mean_backward(dy, offsets, cols)?;
        self.kernels.segment_mean_backward(dy, offsets, cols)
    }

    // ---- matrices ----

    pub fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        checks::dense(x, w, bias)?;
        self.kernels.dense_forward(x, w, bias, relu)
    }

    /// A dense layer's backward pass: accumulates `dw` and `db` and, when `want_dx`, returns
    /// the input gradient. `y` is the forward's output when it had a ReLU.
    #[allow(clippy::too_many_arguments)]
    pub fn dense_backward(
        &self,
        x: &Tensor,
        y: Option<&Tensor>,
        w: &Tensor,
        dy: &Tensor,
        dw: &mut Tensor,
        db: &mut Tensor,
        want_dx: bool,
    ) -> Result<Option<Tensor>, ComputeError> {
        let [d_out, d_in] = checks::dims::<2>(w, "dense weights")?;
        let [_, batch] = checks::dims::<2>(x, "dense input")?;
        if x.shape() != [d_in, batch] || dy.shape() != [d_out, batch] || dw.shape() != w.shape() {
            return Err(ComputeError::Shape(format!(
                "dense backward: x {:?}, w {:?}, dy {:?}, dw {:?}",
                x.shape(),
                w.shape(),
                dy.shape(),
                dw.shape()
            )));
        }
        checks::mask(y, dy)?;
        checks::vector(db, d_out, "dense bias gradient")?;
        let masked = y.map(|y| self.kernels.relu_backward(dy, y)).transpose()?;
        let dz = masked.as_ref().unwrap_or(dy);
        self.kernels.matmul_acc(dz, false, x, true, dw)?;
        self.kernels.bias_backward(dz, db)?;
        if want_dx { Ok(Some(self.kernels.matmul(w, true, dz, false)?)) } else { Ok(None) }
    }

    /// `op(a) op(b)`; `op` transposes when asked.
    pub fn matmul(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor, ComputeError> {
        checks::matmul(a, ta, b, tb)?;
        self.kernels.matmul(a, ta, b, tb)
    }

    /// `c += op(a) op(b)`.
    pub fn matmul_acc(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool, c: &mut Tensor) -> Result<(), ComputeError> {
        let shape = checks::matmul(a, ta, b, tb)?;
        if c.shape() != shape {
            return Err(ComputeError::Shape(format!("accumulating a {shape:?} product into {:?}", c.shape())));
        }
        self.kernels.matmul_acc(a, ta, b, tb, c)
    }

    pub fn relu_backward(&self, dy: &Tensor, y: &Tensor) -> Result<Tensor, ComputeError> {
        checks::same(dy, y, "ReLU gradient and output")?;
        self.kernels.relu_backward(dy, y)
    }

    pub fn bias_backward(&self, dz: &Tensor, db: &mut Tensor) -> Result<(), ComputeError> {
        checks::bias_backward(dz, db)?;
        self.kernels.bias_backward(dz, db)
    }

    /// Cosine similarities of the columns of `u [d, m]` and `v [d, n]`: `[m, n]`.
    pub fn cosine_similarity(&self, u: &Tensor, v: &Tensor) -> Result<Cosine, ComputeError> {
        let u_hat = self.l2_normalize_forward(u)?;
        let v_hat = self.l2_normalize_forward(v)?;
        let scores = self.matmul(&u_hat, true, &v_hat, false)?;
        Ok(Cosine { scores, u_hat, v_hat })
    }

    /// The gradients of `u` and `v` from the scores' gradient `ds [m, n]`.
    pub fn cosine_similarity_backward(
        &self,
        u: &Tensor,
        v: &Tensor,
        c: &Cosine,
        ds: &Tensor,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        checks::same(ds, &c.scores, "similarity gradient")?;
        let du_hat = self.matmul(&c.v_hat, false, ds, true)?;
        let dv_hat = self.matmul(&c.u_hat, false, ds, false)?;
        Ok((self.l2_normalize_backward(u, &du_hat)?, self.l2_normalize_backward(v, &dv_hat)?))
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

    /// Accumulates a sparse layer's weight and bias gradients from `dz` (already through
    /// the ReLU's mask).
    pub fn sparse_dense_weight_backward(
        &self,
        x: &SparseRows,
        dz: &Tensor,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError> {
        checks::sparse_backward(x, dz, dw, db)?;
        self.kernels.sparse_dense_weight_backward(x, dz, dw, db)
    }

    /// Embedding lookup: `[d, idx.len()]` from `table [n, d]`.
    pub fn gather_columns(&self, table: &Tensor, idx: &[u32]) -> Result<Tensor, ComputeError> {
        checks::gather(table, idx)?;
        self.kernels.gather_columns(table, idx)
    }

    pub fn gather_columns_backward(&self, dy: &Tensor, idx: &[u32], dtable: &mut Tensor) -> Result<(), ComputeError> {
        checks::gather_backward(dy, idx, dtable)?;
        self.kernels.gather_columns_backward(dy, idx, dtable)
    }

    // ---- the audio tower (inference) ----

    /// The audio tower over windows `[n_mels, batch, window_frames]` -> `[embedding_dim, batch]`.
    pub fn audio_tower_forward(&self, tower: &AudioTower, windows: &Tensor) -> Result<Tensor, ComputeError> {
        checks::tower_input(&tower.spec, windows)?;
        self.kernels.audio_tower_forward(tower, windows)
    }

    // ---- losses: (each row's loss, the gradient of their mean) ----

    pub fn hinge_loss(
        &self,
        scores: &Tensor,
        positives: &[u32],
        negatives: &[u32],
        margin: f32,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        checks::hinge(scores, positives, negatives)?;
        self.kernels.hinge_loss(scores, positives, negatives, margin)
    }

    pub fn cosine_proximity(&self, pred: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor), ComputeError> {
        checks::dims::<2>(pred, "predictions")?;
        checks::same(pred, target, "predictions and targets")?;
        self.kernels.cosine_proximity(pred, target)
    }

    pub fn softmax_cross_entropy(
        &self,
        logits: &Tensor,
        targets: &[u32],
        scale: f32,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        checks::targets(logits, targets)?;
        self.kernels.softmax_cross_entropy(logits, targets, scale)
    }

    pub fn sigmoid_bce(&self, logits: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor), ComputeError> {
        checks::dims::<2>(logits, "logits")?;
        checks::same(logits, labels, "logits and labels")?;
        self.kernels.sigmoid_bce(logits, labels)
    }

    // ---- optimiser steps ----

    pub fn sgd_nesterov(&self, p: &mut Tensor, g: &Tensor, v: &mut Tensor, h: SgdStep) -> Result<(), ComputeError> {
        checks::same(p, g, "parameter and gradient")?;
        checks::same(p, v, "parameter and velocity")?;
        self.kernels.sgd_nesterov(p, g, v, h)
    }

    pub fn adam(
        &self,
        p: &mut Tensor,
        g: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        h: AdamStep,
    ) -> Result<(), ComputeError> {
        checks::same(p, g, "parameter and gradient")?;
        checks::same(p, m, "parameter and first moment")?;
        checks::same(p, v, "parameter and second moment")?;
        self.kernels.adam(p, g, m, v, h)
    }
}
