//! The GPU path: the only module that knows wgpu.
//!
//! `context` owns the adapter, device and pipelines; `record` the pending submission that
//! tensor kernels record into. Each op family has a host-side file (`conv`, `pool`,
//! `matrix`, `norm`, `spectral`) that binds its WGSL (from `shaders/`, embedded at build
//! time) and specialises it with `override` constants. [`GpuBackend`] puts them behind the
//! [`crate::backend::Kernels`] interface.

mod backend;
mod buffers;
mod context;
mod conv;
mod matrix;
mod norm;
mod pool;
mod record;
mod spectral;

pub use backend::GpuBackend;
pub use context::{AdapterChoice, AdapterSummary, GpuContext, list_adapters};

/// A tensor's storage on the device (see [`crate::backend::Tensor`]).
pub(crate) struct DeviceBuffer(pub(crate) wgpu::Buffer);

/// Output tile edge of the GEMM and conv kernels.
const TILE: u32 = 64;

fn u32_of(n: usize, what: &str) -> Result<u32, crate::backend::ComputeError> {
    u32::try_from(n).map_err(|_| crate::backend::ComputeError::Shape(format!("{what} = {n} exceeds 2^32")))
}

/// WGSL sources, embedded so the binary runs anywhere; the files in `shaders/` are the truth.
pub(crate) mod shaders {
    pub const STFT_POWER: &str = include_str!("../../../shaders/spectral/stft_power.wgsl");
    pub const MEL_DB: &str = include_str!("../../../shaders/spectral/mel_db.wgsl");
    pub const CONV1D: &str = include_str!("../../../shaders/nn/conv1d.wgsl");
    pub const GEMM: &str = include_str!("../../../shaders/matrix/gemm.wgsl");
    pub const MAX_POOL1D: &str = include_str!("../../../shaders/pool/max_pool1d.wgsl");
    pub const SEGMENT_MEAN: &str = include_str!("../../../shaders/pool/segment_mean.wgsl");
    pub const L2_NORMALIZE: &str = include_str!("../../../shaders/norm/l2_normalize.wgsl");
    pub const CHANNEL_AFFINE: &str = include_str!("../../../shaders/norm/channel_affine.wgsl");
    pub const SPARSE_DENSE: &str = include_str!("../../../shaders/matrix/sparse_dense.wgsl");
}
