//! Host side of `shaders/matrix/`: the tiled GEMM (dense layers) and the sparse x dense
//! product (the text tower's first layer).

use wgpu::Buffer;

use super::{GpuBackend, TILE, shaders, u32_of};
use crate::backend::{ComputeError, Tensor, checks};
use crate::nn::SparseRows;

/// Records `c[m, n] = a[m, k] x b[k, n] (+ bias[m]) (+ ReLU)` into a new buffer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    gpu: &GpuBackend,
    a: &Buffer,
    b: &Buffer,
    bias: Option<&Buffer>,
    m: usize,
    n: usize,
    k: usize,
    relu: bool,
) -> Result<Buffer, ComputeError> {
    let pipe = gpu.ctx.pipeline(
        &format!("gemm bias={} relu={relu}", bias.is_some()),
        shaders::GEMM,
        &[("BIAS", f64::from(u8::from(bias.is_some()))), ("RELU", f64::from(u8::from(relu)))],
    )?;
    let c = gpu.storage("gemm", m * n);
    let zero;
    let bias = match bias {
        Some(b) => b,
        None => {
            zero = gpu.storage("no bias", 1);
            &zero
        }
    };
    let (m, n, k) = (u32_of(m, "m")?, u32_of(n, "n")?, u32_of(k, "k")?);
    gpu.pending().dispatch(
        &gpu.ctx,
        "gemm",
        &pipe,
        &[a, b, bias, &c],
        &[m, n, k, k, n, n, 0, 0],
        (n.div_ceil(TILE).max(1), m.div_ceil(TILE).max(1), 1),
    )?;
    Ok(c)
}

/// `W x + b` (+ ReLU) for `x [d_in, batch]`.
pub(crate) fn dense(
    gpu: &GpuBackend,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    relu: bool,
) -> Result<Tensor, ComputeError> {
    let [d_in, batch] = checks::dims::<2>(x, "dense input")?;
    let [d_out, _] = checks::dims::<2>(w, "dense weights")?;
    let c = gemm(gpu, &gpu.buffer(w), &gpu.buffer(x), Some(&gpu.buffer(bias)), d_out, batch, d_in, relu)?;
    Ok(Tensor::from_store(vec![d_out, batch], crate::backend::Store::Device(super::DeviceBuffer(c))))
}

/// `W x_r + b` (+ ReLU) for sparse rows `x_r`: `[d_out, rows]`.
pub(crate) fn sparse_dense(
    gpu: &GpuBackend,
    x: &SparseRows,
    w: &Tensor,
    bias: &Tensor,
    relu: bool,
) -> Result<Tensor, ComputeError> {
    let [d_out, d_in] = checks::dims::<2>(w, "dense weights")?;
    let rows = x.rows();
    let pipe = gpu.ctx.pipeline(
        &format!("sparse_dense relu={relu}"),
        shaders::SPARSE_DENSE,
        &[("RELU", f64::from(u8::from(relu)))],
    )?;
    let offs: Vec<u32> = x.offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
    let ob = gpu.upload_pod("sparse offsets", &offs);
    let ib = gpu.upload_pod("sparse indices", &x.indices);
    let vb = gpu.upload_pod("sparse values", &x.values);
    let (wb, bb) = (gpu.buffer(w), gpu.buffer(bias));
    let (y, yb) = gpu.output("sparse_dense", vec![d_out, rows]);
    let (d, r) = (u32_of(d_out, "d_out")?, u32_of(rows, "rows")?);
    gpu.pending().dispatch(
        &gpu.ctx,
        "sparse_dense",
        &pipe,
        &[&ob, &ib, &vb, &wb, &bb, &yb],
        &[d, u32_of(d_in, "d_in")?, r],
        (r.max(1), d.div_ceil(64), 1),
    )?;
    Ok(y)
}
