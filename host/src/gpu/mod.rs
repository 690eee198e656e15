//! The GPU path: the only module that knows wgpu.
//!
//! `context` owns the adapter, device and pipelines; `record` the pending submission that
//! tensor kernels record into. Each op family has a host-side file (`conv`, `pool`,
//! `matrix`, `norm`, `loss`, `optim`, `spectral`) that binds its WGSL (from `shaders/`, embedded at build
//! time) and specialises it with `override` constants. [`GpuBackend`] puts them behind the
//! [`crate::backend::Kernels`] interface.

mod backend;
mod buffers;
mod context;
mod conv;
mod loss;
mod matrix;
mod norm;
mod optim;
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
    macro_rules! wgsl {
        ($name:ident, $path:literal) => {
            pub const $name: &str = include_str!(concat!("../../../shaders/", $path));
        };
    }
    wgsl!(STFT_POWER, "spectral/stft_power.wgsl");
    wgsl!(MEL_DB, "spectral/mel_db.wgsl");
    wgsl!(CONV1D, "nn/conv1d.wgsl");
    wgsl!(CONV1D_WEIGHT_BACKWARD, "nn/conv1d_weight_backward.wgsl");
    wgsl!(GEMM, "matrix/gemm.wgsl");
    wgsl!(BIAS_BACKWARD, "matrix/bias_backward.wgsl");
    wgsl!(RELU_BACKWARD, "matrix/relu_backward.wgsl");
    wgsl!(SPARSE_DENSE, "matrix/sparse_dense.wgsl");
    wgsl!(SPARSE_DENSE_BACKWARD, "matrix/sparse_dense_backward.wgsl");
    wgsl!(GATHER_COLUMNS, "matrix/gather_columns.wgsl");
    wgsl!(GATHER_COLUMNS_BACKWARD, "matrix/gather_columns_backward.wgsl");
    wgsl!(MAX_POOL1D, "pool/max_pool1d.wgsl");
    wgsl!(MAX_POOL1D_BACKWARD, "pool/max_pool1d_backward.wgsl");
    wgsl!(SEGMENT_MEAN, "pool/segment_mean.wgsl");
    wgsl!(SEGMENT_MEAN_BACKWARD, "pool/segment_mean_backward.wgsl");
    wgsl!(L2_NORMALIZE, "norm/l2_normalize.wgsl");
    wgsl!(L2_NORMALIZE_BACKWARD, "norm/l2_normalize_backward.wgsl");
    wgsl!(CHANNEL_AFFINE, "norm/channel_affine.wgsl");
    wgsl!(HINGE, "loss/hinge.wgsl");
    wgsl!(COSINE_PROXIMITY, "loss/cosine_proximity.wgsl");
    wgsl!(SOFTMAX_XENT, "loss/softmax_xent.wgsl");
    wgsl!(SIGMOID_BCE, "loss/sigmoid_bce.wgsl");
    wgsl!(SGD_NESTEROV, "optim/sgd_nesterov.wgsl");
    wgsl!(ADAM, "optim/adam.wgsl");
}
