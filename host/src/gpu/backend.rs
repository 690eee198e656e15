//! [`GpuBackend`]: the WGSL kernels behind the backend interface. Tensor kernels record into
//! one pending submission ([`Pending`]); reading a tensor back submits it.

use std::sync::{Mutex, MutexGuard};

use wgpu::util::DeviceExt;
use wgpu::{Buffer, BufferUsages};

use super::context::{AdapterChoice, GpuContext};
use super::record::Pending;
use super::spectral::SpectralKernels;
use super::{DeviceBuffer, conv, loss, matrix, norm, optim, pool};
use crate::backend::{ComputeError, Kernels, Store, Tensor};
use crate::nn::{AdamStep, SgdStep, SparseRows};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// One device, its kernels and their pending work. Calls are serialised on the pending
/// encoder (one queue); parallelism comes from batching inside each call.
pub struct GpuBackend {
    pub(crate) ctx: GpuContext,
    spectral: Mutex<SpectralKernels>,
    pending: Mutex<Pending>,
}

impl GpuBackend {
    pub fn new(choice: AdapterChoice) -> Result<Self, ComputeError> {
        let ctx = GpuContext::new(choice)?;
        let spectral = Mutex::new(SpectralKernels::new(&ctx));
        Ok(Self { ctx, spectral, pending: Mutex::new(Pending::new()) })
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    fn spectral(&self) -> MutexGuard<'_, SpectralKernels> {
        self.spectral.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh storage buffer for `len` f32 (or u32) values.
    pub(crate) fn storage(&self, label: &str, len: usize) -> Buffer {
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (len as u64 * 4).max(16).next_multiple_of(16),
            usage: BufferUsages::STORAGE | BufferUsages::COPY_SRC | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A fresh storage buffer holding `data` (f32 or u32).
    pub(crate) fn upload_pod<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Buffer {
        let mut bytes: Vec<u8> = bytemuck::cast_slice(data).to_vec();
        bytes.resize(bytes.len().max(16).next_multiple_of(16), 0);
        self.ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &bytes,
            usage: BufferUsages::STORAGE | BufferUsages::COPY_SRC | BufferUsages::COPY_DST,
        })
    }

    /// A tensor's device buffer; a host tensor is uploaded for the call.
    pub(crate) fn buffer(&self, t: &Tensor) -> Buffer {
        match &t.store {
            Store::Device(d) => d.0.clone(),
            Store::Host(v) => self.upload_pod("host tensor", v),
        }
    }

    /// The buffer of a device tensor that a kernel updates in place.
    pub(crate) fn buffer_mut(&self, t: &mut Tensor) -> Result<Buffer, ComputeError> {
        match &t.store {
            Store::Device(d) => Ok(d.0.clone()),
            Store::Host(_) => {
                Err(ComputeError::Device("an in-place GPU op needs a tensor on the GPU (upload it first)".into()))
            }
        }
    }

    /// A placeholder for a binding a specialisation does not read.
    pub(crate) fn unused(&self) -> Buffer {
        self.storage("unused binding", 4)
    }

    /// Records one dispatch into the pending submission.
    pub(crate) fn run(
        &self,
        label: &str,
        pipeline: &std::sync::Arc<wgpu::ComputePipeline>,
        storage: &[&Buffer],
        params: &[u32],
        groups: (u32, u32, u32),
    ) -> Result<(), ComputeError> {
        self.pending().dispatch(&self.ctx, label, pipeline, storage, params, groups)
    }

    /// Workgroups for one invocation per element, `per_group` invocations each.
    pub(crate) fn flat_groups(&self, len: usize, per_group: usize) -> Result<(u32, u32, u32), ComputeError> {
        let n = u32::try_from(len.div_ceil(per_group)).map_err(|_| ComputeError::Shape(format!("{len} elements")))?;
        Ok(super::record::grid_2d(n, self.ctx.limits.max_compute_workgroups_per_dimension))
    }

    /// A new device tensor of `shape` and its buffer, for a kernel to write.
    pub(crate) fn output(&self, label: &str, shape: Vec<usize>) -> (Tensor, Buffer) {
        let buffer = self.storage(label, shape.iter().product());
        (Tensor::from_store(shape, Store::Device(DeviceBuffer(buffer.clone()))), buffer)
    }

    /// `c[m, n] = a[m, k] x b[k, n]` with the WGSL GEMM (benchmarks).
    pub fn matmul(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>, ComputeError> {
        let (ab, bb) = (self.upload_pod("a", a), self.upload_pod("b", b));
        let gemm =
            matrix::Gemm { a: &ab, ta: false, b: &bb, tb: false, m, n, k, lda: k, ldb: n, bias: None, relu: false };
        let c = gemm.record(self, None)?;
        self.pending().read(&self.ctx, &c, m * n)
    }
}

impl Kernels for GpuBackend {
    fn name(&self) -> String {
        format!("gpu ({})", self.ctx.adapter())
    }

    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor, ComputeError> {
        let buffer = self.upload_pod("tensor", data);
        Ok(Tensor::from_store(shape.to_vec(), Store::Device(DeviceBuffer(buffer))))
    }

    fn download(&self, x: &Tensor) -> Result<Vec<f32>, ComputeError> {
        match &x.store {
            Store::Host(v) => Ok(v.clone()),
            Store::Device(d) => self.pending().read(&self.ctx, &d.0, x.len()),
        }
    }

    fn zeros(&self, shape: &[usize]) -> Result<Tensor, ComputeError> {
        Ok(self.output("zeros", shape.to_vec()).0)
    }

    fn zero(&self, x: &mut Tensor) -> Result<(), ComputeError> {
        let b = self.buffer_mut(x)?;
        self.pending().clear(&self.ctx, &b);
        Ok(())
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

    fn normalize_channels_forward(&self, x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor, ComputeError> {
        norm::channel_affine(self, x, mean, std)
    }

    fn conv1d_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        conv::forward(self, x, w, bias, relu)
    }

    fn conv1d_x_backward(&self, dy: &Tensor, y: Option<&Tensor>, w: &Tensor) -> Result<Tensor, ComputeError> {
        conv::x_backward(self, dy, y, w)
    }

    fn conv1d_weight_backward(
        &self,
        x: &Tensor,
        dy: &Tensor,
        y: Option<&Tensor>,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError> {
        conv::weight_backward(self, x, dy, y, dw, db)
    }

    fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        pool::max_pool(self, x, pool)
    }

    fn max_pool_backward(&self, x: &Tensor, dy: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        pool::max_pool_backward(self, x, dy, pool)
    }

    fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
        pool::segment_mean(self, x, offsets)
    }

    fn segment_mean_backward(&self, dy: &Tensor, offsets: &[usize], cols: usize) -> Result<Tensor, ComputeError> {
        pool::segment_mean_backward(self, dy, offsets, cols)
    }

    fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        matrix::dense(self, x, w, bias, relu)
    }

    fn matmul(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor, ComputeError> {
        matrix::matmul(self, a, ta, b, tb)
    }

    fn matmul_acc(&self, a: &Tensor, ta: bool, b: &Tensor, tb: bool, c: &mut Tensor) -> Result<(), ComputeError> {
        matrix::matmul_acc(self, a, ta, b, tb, c)
    }

    fn relu_backward(&self, dy: &Tensor, y: &Tensor) -> Result<Tensor, ComputeError> {
        matrix::relu_backward(self, dy, y)
    }

    fn bias_backward(&self, dz: &Tensor, db: &mut Tensor) -> Result<(), ComputeError> {
        matrix::bias_backward(self, dz, db)
    }

    fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError> {
        norm::l2_normalize(self, x)
    }

    fn l2_normalize_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor, ComputeError> {
        norm::l2_normalize_backward(self, x, dy)
    }

    fn sparse_dense_forward(
        &self,
        x: &SparseRows,
        w: &Tensor,
        bias: &Tensor,
        relu: bool,
    ) -> Result<Tensor, ComputeError> {
        matrix::sparse_dense(self, x, w, bias, relu)
    }

    fn sparse_dense_weight_backward(
        &self,
        x: &SparseRows,
        dz: &Tensor,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), ComputeError> {
        matrix::sparse_dense_weight_backward(self, x, dz, dw, db)
    }

    fn gather_columns(&self, table: &Tensor, idx: &[u32]) -> Result<Tensor, ComputeError> {
        matrix::gather_columns(self, table, idx)
    }

    fn gather_columns_backward(&self, dy: &Tensor, idx: &[u32], dtable: &mut Tensor) -> Result<(), ComputeError> {
        matrix::gather_columns_backward(self, dy, idx, dtable)
    }

    fn hinge_loss(
        &self,
        scores: &Tensor,
        positives: &[u32],
        negatives: &[u32],
        margin: f32,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        loss::hinge(self, scores, positives, negatives, margin)
    }

    fn cosine_proximity(&self, pred: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor), ComputeError> {
        loss::cosine_proximity(self, pred, target)
    }

    fn softmax_cross_entropy(
        &self,
        logits: &Tensor,
        targets: &[u32],
        scale: f32,
    ) -> Result<(Tensor, Tensor), ComputeError> {
        loss::softmax_cross_entropy(self, logits, targets, scale)
    }

    fn sigmoid_bce(&self, logits: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor), ComputeError> {
        loss::sigmoid_bce(self, logits, labels)
    }

    fn sgd_nesterov(&self, p: &mut Tensor, g: &Tensor, v: &mut Tensor, h: SgdStep) -> Result<(), ComputeError> {
        optim::sgd_nesterov(self, p, g, v, h)
    }

    fn adam(
        &self,
        p: &mut Tensor,
        g: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        h: AdamStep,
    ) -> Result<(), ComputeError> {
        optim::adam(self, p, g, m, v, h)
    }
}
