//! [`GpuBackend`]: the WGSL kernels behind the backend interface. Tensor kernels record into
//! one pending submission ([`Pending`]); reading a tensor back submits it.

use std::sync::{Mutex, MutexGuard};

use wgpu::util::DeviceExt;
use wgpu::{Buffer, BufferUsages};

use super::context::{AdapterChoice, GpuContext};
use super::record::Pending;
use super::spectral::SpectralKernels;
use super::{DeviceBuffer, conv, matrix, norm, pool};
use crate::backend::{ComputeError, Kernels, Store, Tensor};
use crate::nn::SparseRows;
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

    /// A new device tensor of `shape` and its buffer, for a kernel to write.
    pub(crate) fn output(&self, label: &str, shape: Vec<usize>) -> (Tensor, Buffer) {
        let buffer = self.storage(label, shape.iter().product());
        (Tensor::from_store(shape, Store::Device(DeviceBuffer(buffer.clone()))), buffer)
    }

    /// `c[m, n] = a[m, k] x b[k, n]` with the WGSL GEMM (benchmarks).
    pub fn matmul(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>, ComputeError> {
        let (ab, bb) = (self.upload_pod("a", a), self.upload_pod("b", b));
        let c = matrix::gemm(self, &ab, &bb, None, m, n, k, false)?;
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

    fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        pool::max_pool(self, x, pool)
    }

    fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
        pool::segment_mean(self, x, offsets)
    }

    fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        matrix::dense(self, x, w, bias, relu)
    }

    fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError> {
        norm::l2_normalize(self, x)
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
}
