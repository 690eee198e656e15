//! The GPU path: the only module that knows wgpu.
//!
//! `context` owns the adapter, device, pipelines and buffer reuse; each op family has a
//! host-side file that binds its WGSL (from `shaders/`, embedded at build time) and
//! specialises it with `override` constants. [`GpuBackend`] puts them behind the
//! [`crate::backend::Backend`] interface.

mod backend;
mod buffers;
mod context;
mod nn;
mod record;
mod spectral;

pub use backend::GpuBackend;
pub use context::{AdapterChoice, AdapterSummary, GpuContext, list_adapters};

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
