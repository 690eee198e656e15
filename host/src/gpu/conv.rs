//! Host side of `shaders/nn/`: 'same' Conv1d over `[channels, batch, time]`, forward and
//! backward. The input gradient is the forward kernel specialised (`X_BACKWARD`, `MASK`).

use std::sync::Arc;

use wgpu::ComputePipeline;

use super::{GpuBackend, TILE, matrix, shaders, u32_of};
use crate::backend::{ComputeError, Tensor, checks};

/// The shader stages weights for kernels up to this size in workgroup memory.
const MAX_KS: usize = 7;

struct Flags {
    relu: bool,
    bias: bool,
    x_backward: bool,
    mask: bool,
}

fn pipeline(gpu: &GpuBackend, k: usize, f: &Flags) -> Result<Arc<ComputePipeline>, ComputeError> {
    if k.is_multiple_of(2) || k > MAX_KS {
        return Err(ComputeError::Shape(format!("conv kernel {k}: the WGSL conv takes odd kernels up to {MAX_KS}")));
    }
    let flag = |b: bool| f64::from(u8::from(b));
    gpu.ctx.pipeline(
        &format!("conv1d k={k} relu={} bias={} xb={} mask={}", f.relu, f.bias, f.x_backward, f.mask),
        shaders::CONV1D,
        &[
            ("KS", k as f64),
            ("RELU", flag(f.relu)),
            ("BIAS", flag(f.bias)),
            ("X_BACKWARD", flag(f.x_backward)),
            ("MASK", flag(f.mask)),
        ],
    )
}

/// Records conv1d.wgsl from `x [c_in, b, t]` into a new `[c_out, b, t]` tensor.
fn record(
    gpu: &GpuBackend,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    mask: Option<&Tensor>,
    c_out: usize,
    f: Flags,
) -> Result<Tensor, ComputeError> {
    let [c_in, batch, time] = checks::dims::<3>(x, "conv input")?;
    let [k, _, _] = checks::dims::<3>(w, "conv weights")?;
    let pipe = pipeline(gpu, k, &f)?;
    let (xb, wb) = (gpu.buffer(x), gpu.buffer(w));
    let bb = bias.map_or_else(|| gpu.unused(), |b| gpu.buffer(b));
    let mb = mask.map_or_else(|| gpu.unused(), |m| gpu.buffer(m));
    let (y, yb) = gpu.output("conv1d", vec![c_out, batch, time]);
    let cols = u32_of(batch * time, "batch x time")?;
    let params = [u32_of(c_in, "c_in")?, u32_of(c_out, "c_out")?, u32_of(batch, "batch")?, u32_of(time, "time")?];
    gpu.run(
        "conv1d",
        &pipe,
        &[&xb, &wb, &bb, &mb, &yb],
        &params,
        (cols.div_ceil(TILE), u32_of(c_out, "c_out")?.div_ceil(TILE), 1),
    )?;
    Ok(y)
}

/// `y = conv(x, w) + bias` (+ ReLU).
pub(crate) fn forward(
    gpu: &GpuBackend,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    relu: bool,
) -> Result<Tensor, ComputeError> {
    let [_, c_out, _] = checks::dims::<3>(w, "conv weights")?;
    record(gpu, x, w, Some(bias), None, c_out, Flags { relu, bias: true, x_backward: false, mask: false })
}

/// The input gradient: the conv of `dy` (masked by `y > 0` when given) with the taps
/// transposed and reversed.
pub(crate) fn x_backward(
    gpu: &GpuBackend,
    dy: &Tensor,
    y: Option<&Tensor>,
    w: &Tensor,
) -> Result<Tensor, ComputeError> {
    let [_, _, c_in] = checks::dims::<3>(w, "conv weights")?;
    record(gpu, dy, w, None, y, c_in, Flags { relu: false, bias: false, x_backward: true, mask: y.is_some() })
}

/// `dw += dz * x` per tap, `db += sum(dz)`.
pub(crate) fn weight_backward(
    gpu: &GpuBackend,
    x: &Tensor,
    dy: &Tensor,
    y: Option<&Tensor>,
    dw: &mut Tensor,
    db: &mut Tensor,
) -> Result<(), ComputeError> {
    let [c_in, batch, time] = checks::dims::<3>(x, "conv input")?;
    let [k, c_out, _] = checks::dims::<3>(dw, "conv weight gradient")?;
    let pipe = gpu.ctx.pipeline(
        &format!("conv1d_weight_backward k={k} mask={}", y.is_some()),
        shaders::CONV1D_WEIGHT_BACKWARD,
        &[("KS", k as f64), ("MASK", f64::from(u8::from(y.is_some())))],
    )?;
    let (xb, dyb) = (gpu.buffer(x), gpu.buffer(dy));
    let mb = y.map_or_else(|| gpu.unused(), |m| gpu.buffer(m));
    let dwb = gpu.buffer_mut(dw)?;
    let params = [u32_of(c_in, "c_in")?, u32_of(c_out, "c_out")?, u32_of(batch, "batch")?, u32_of(time, "time")?];
    gpu.run(
        "conv1d_weight_backward",
        &pipe,
        &[&xb, &dyb, &mb, &dwb],
        &params,
        (u32_of(c_in, "c_in")?.div_ceil(TILE), u32_of(c_out, "c_out")?.div_ceil(TILE), u32_of(k, "k")?),
    )?;
    matrix::row_sums(gpu, &dyb, y.map(|m| gpu.buffer(m)).as_ref(), c_out, batch * time, db)
}
