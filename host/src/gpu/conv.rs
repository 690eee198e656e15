//! Host side of `shaders/nn/conv1d.wgsl`: 'same' Conv1d over `[channels, batch, time]`.

use std::sync::Arc;

use wgpu::ComputePipeline;

use super::{GpuBackend, TILE, shaders, u32_of};
use crate::backend::{ComputeError, Tensor, checks};

/// The shader stages weights for kernels up to this size in workgroup memory.
const MAX_KS: usize = 7;

fn pipeline(gpu: &GpuBackend, k: usize, relu: bool) -> Result<Arc<ComputePipeline>, ComputeError> {
    if k.is_multiple_of(2) || k > MAX_KS {
        return Err(ComputeError::Shape(format!("conv kernel {k}: the WGSL conv takes odd kernels up to {MAX_KS}")));
    }
    gpu.ctx.pipeline(
        &format!("conv1d k={k} relu={relu}"),
        shaders::CONV1D,
        &[("KS", k as f64), ("RELU", f64::from(u8::from(relu)))],
    )
}

/// `y = conv(x, w) + bias` (+ ReLU).
pub(crate) fn forward(
    gpu: &GpuBackend,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    relu: bool,
) -> Result<Tensor, ComputeError> {
    let [c_in, batch, time] = checks::dims::<3>(x, "conv input")?;
    let [c_out, _, k] = checks::dims::<3>(w, "conv weights")?;
    let pipe = pipeline(gpu, k, relu)?;
    let (xb, wb, bb) = (gpu.buffer(x), gpu.buffer(w), gpu.buffer(bias));
    let (y, yb) = gpu.output("conv1d", vec![c_out, batch, time]);
    let cols = u32_of(batch * time, "batch x time")?;
    let params = [u32_of(c_in, "c_in")?, u32_of(c_out, "c_out")?, u32_of(batch, "batch")?, u32_of(time, "time")?];
    gpu.pending().dispatch(
        &gpu.ctx,
        "conv1d",
        &pipe,
        &[&xb, &wb, &bb, &yb],
        &params,
        (cols.div_ceil(TILE), u32_of(c_out, "c_out")?.div_ceil(TILE), 1),
    )?;
    Ok(y)
}
