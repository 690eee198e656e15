//! The native CPU path: the kernels in `spectral::cpu` and `nn::cpu` over host tensors, FFT
//! plans cached per size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{ComputeError, Kernels, Store, Tensor, checks};
use crate::nn::cpu::{self as k, ConvShape};
use crate::nn::{AdamStep, AudioTower, SgdStep, SparseRows};
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

/// The values of a host tensor; a device tensor here means two backends were mixed.
fn host(t: &Tensor) -> Result<&[f32], ComputeError> {
    t.as_host().ok_or_else(|| ComputeError::Device("a GPU tensor was given to the CPU backend".into()))
}

fn host_mut(t: &mut Tensor) -> Result<&mut [f32], ComputeError> {
    t.as_host_mut().ok_or_else(|| ComputeError::Device("a GPU tensor was given to the CPU backend".into()))
}

fn out(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Tensor, ComputeError> {
    Tensor::from_host(shape, data)
}

fn host_opt(t: Option<&Tensor>) -> Result<Option<&[f32]>, ComputeError> {
    t.map(host).transpose()
}

/// A conv's shape from its input `[c_in, b, t]` and tap-major weights `[k, c_out, c_in]`.
fn conv_shape(x_shape: &[usize], w: &Tensor) -> Result<ConvShape, ComputeError> {
    let [kernel, c_out, c_in] = checks::dims::<3>(w, "conv weights")?;
    match *x_shape {
        [_, batch, time] => Ok(ConvShape { c_in, c_out, k: kernel, batch, time }),
        _ => Err(ComputeError::Shape(format!("conv activations of shape {x_shape:?}"))),
    }
}

/// A loss's (per-row losses, gradient) pair as tensors.
fn loss_pair(
    rows: usize,
    grad_shape: &[usize],
    (loss, grad): (Vec<f32>, Vec<f32>),
) -> Result<(Tensor, Tensor), ComputeError> {
    Ok((out([rows], loss)?, out(grad_shape, grad)?))
}

impl Kernels for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor, ComputeError> {
        out(shape, data.to_vec())
    }

    fn download(&self, x: &Tensor) -> Result<Vec<f32>, ComputeError> {
        match &x.store {
            Store::Host(v) => Ok(v.clone()),
            Store::Device(_) => Err(ComputeError::Device("a GPU tensor was given to the CPU backend".into())),
        }
    }

    fn zeros(&self, shape: &[usize]) -> Result<Tensor, ComputeError> {
        out(shape, vec![0.0; shape.iter().product()])
    }

    fn zero(&self, x: &mut Tensor) -> Result<(), ComputeError> {
        host_mut(x)?.fill(0.0);
        Ok(())
    }

    fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError> {
        Ok(self.stft(plan.params.n_fft).power(plan, samples))
    }

    fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError> {
        Ok(mel_db(plan, power))
    }

    fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        Ok(self.stft(plan.params.n_fft).log_mel(plan, samples))
    }

    fn normalize_channels_forward(&self, x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor, ComputeError> {
        out(x.shape(), k::normalize_channels(host(x)?, host(mean)?, host(std)?))
    }

    fn conv1d_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        let s = conv_shape(x.shape(), w)?;
        out([s.c_out, s.batch, s.time], k::conv1d(host(x)?, host(w)?, host(bias)?, s, relu))
    }

    fn conv1d_x_backward(&self, dy: &Tensor, y: Option<&Tensor>, w: &Tensor) -> Result<Tensor, ComputeError> {
        let s = conv_shape(dy.shape(), w)?;
        out([s.c_in, s.batch, s.time], k::conv1d_x_backward(host(dy)?, host_opt(y)?, host(w)?, s))
    }

    fn conv1d_weight_backward(
        &self,
        x: &Tensor,
        dy: &Tensor,
        y: Option<&Tensor>,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError> {
        let [kernel, c_out, c_in] = checks::dims::<3>(dw, "conv weight gradient")?;
        let [_, batch, time] = checks::dims::<3>(x, "conv input")?;
        let s = ConvShape { c_in, c_out, k: kernel, batch, time };
        k::conv1d_weight_backward(host(x)?, host(dy)?, host_opt(y)?, s, host_mut(dw)?, host_mut(db)?);
        Ok(())
    }

    fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        let [c, b, t] = checks::dims::<3>(x, "pool input")?;
        out([c, b, t / pool], k::max_pool(host(x)?, t, pool))
    }

    fn max_pool_backward(&self, x: &Tensor, dy: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        let [_, _, t] = checks::dims::<3>(x, "pool input")?;
        out(x.shape(), k::max_pool_backward(host(x)?, host(dy)?, t, pool))
    }

    fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
        let [rows, cols] = checks::dims::<2>(x, "matrix")?;
        out([rows, offsets.len() - 1], k::segment_mean(host(x)?, cols, offsets))
    }

    fn segment_mean_backward(&self, dy: &Tensor, offsets: &[usize], cols: usize) -> Result<Tensor, ComputeError> {
        let [rows, _] = checks::dims::<2>(dy, "matrix")?;
        out([rows, cols], k::segment_mean_backward(host(dy)?, offsets, cols))
    }

    fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        let [_, b] = checks::dims::<2>(x, "dense input")?;
        out([bias.len(), b], k::dense(host(x)?, host(w)?, host(bias)?, relu))
    }

    fn matmul(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor, ComputeError> {
        let (sa, sb) = (checks::dims::<2>(a, "matrix")?, checks::dims::<2>(b, "matrix")?);
        let (m, n) = (if ta { sa[1] } else { sa[0] }, if tb { sb[0] } else { sb[1] });
        let mut c = vec![0.0; m * n];
        k::matmul(host(a)?, sa, ta, host(b)?, sb, tb, &mut c, false);
        out([m, n], c)
    }

    fn matmul_acc(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool, c: &mut Tensor) -> Result<(), ComputeError> {
        let (sa, sb) = (checks::dims::<2>(a, "matrix")?, checks::dims::<2>(b, "matrix")?);
        k::matmul(host(a)?, sa, ta, host(b)?, sb, tb, host_mut(c)?, true);
        Ok(())
    }

    fn relu_backward(&self, dy: &Tensor, y: &Tensor) -> Result<Tensor, ComputeError> {
        out(dy.shape(), k::relu_backward(host(dy)?, host(y)?))
    }

    fn bias_backward(&self, dz: &Tensor, db: &mut Tensor) -> Result<(), ComputeError> {
        let [_, cols] = checks::dims::<2>(dz, "matrix")?;
        k::bias_backward(host(dz)?, cols, host_mut(db)?);
        Ok(())
    }

    fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError> {
        let [_, cols] = checks::dims::<2>(x, "matrix")?;
        out(x.shape(), k::l2_normalize(host(x)?, cols))
    }

    fn l2_normalize_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor, ComputeError> {
        let [_, cols] = checks::dims::<2>(x, "matrix")?;
        out(x.shape(), k::l2_normalize_backward(host(x)?, host(dy)?, cols))
    }

    fn sparse_dense_forward(
        &self,
        x: &SparseRows,
        w: &Tensor,
        bias: &Tensor,
        relu: bool,
    ) -> Result<Tensor, ComputeError> {
        out([bias.len(), x.rows()], k::sparse_dense(x, host(w)?, host(bias)?, relu))
    }

    fn sparse_dense_weight_backward(
        &self,
        x: &SparseRows,
        dz: &Tensor,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError> {
        k::sparse_dense_weight_backward(x, host(dz)?, host_mut(dw)?, host_mut(db)?);
        Ok(())
    }

    fn gather_columns(&self, table: &Tensor, idx: &[u32]) -> Result<Tensor, ComputeError> {
        let [_, d] = checks::dims::<2>(table, "table")?;
        out([d, idx.len()], k::gather_columns(host(table)?, d, idx))
    }

    fn gather_columns_backward(&self, dy: &Tensor, idx: &[u32], dtable: &mut Tensor) -> Result<(), ComputeError> {
        let [_, d] = checks::dims::<2>(dtable, "table")?;
        k::gather_columns_backward(host(dy)?, idx, host_mut(dtable)?, d);
        Ok(())
    }

    fn hinge_loss(
        &self,
        scores: &Tensor,
        positives: &[u32],
        negatives: &[u32],
        margin: f32,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        let [rows, n] = checks::dims::<2>(scores, "scores")?;
        loss_pair(rows, scores.shape(), k::hinge_loss(host(scores)?, n, positives, negatives, margin))
    }

    fn cosine_proximity(&self, pred: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor), ComputeError> {
        let [_, cols] = checks::dims::<2>(pred, "predictions")?;
        loss_pair(cols, pred.shape(), k::cosine_proximity(host(pred)?, host(target)?, cols))
    }

    fn softmax_cross_entropy(
        &self,
        logits: &Tensor,
        targets: &[u32],
        scale: f32,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        let [rows, n] = checks::dims::<2>(logits, "logits")?;
        loss_pair(rows, logits.shape(), k::softmax_cross_entropy(host(logits)?, n, targets, scale))
    }

    fn sigmoid_bce(&self, logits: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor), ComputeError> {
        let [_, cols] = checks::dims::<2>(logits, "logits")?;
        loss_pair(cols, logits.shape(), k::sigmoid_bce(host(logits)?, host(labels)?, cols))
    }

    fn sgd_nesterov(&self, p: &mut Tensor, g: &Tensor, v: &mut Tensor, h: SgdStep) -> Result<(), ComputeError> {
        k::sgd_nesterov(host_mut(p)?, host(g)?, host_mut(v)?, h);
        Ok(())
    }

    fn adam(
        &self,
        p: &mut Tensor,
        g: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        h: AdamStep,
    ) -> Result<(), ComputeError> {
        k::adam(host_mut(p)?, host(g)?, host_mut(m)?, host_mut(v)?, h);
        Ok(())
    }

    fn audio_tower_forward(&self, tower: &AudioTower, windows: &Tensor) -> Result<Tensor, ComputeError> {
        let [_, batch, _] = checks::dims::<3>(windows, "windows")?;
        out([tower.fc.d_out, batch], k::audio_tower(tower, host(windows)?, batch))
    }
}
