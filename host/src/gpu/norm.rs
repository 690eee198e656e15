//! Host side of `shaders/norm/`: per-channel input normalisation and column L2 norms.

use super::record::grid_2d;
use super::{GpuBackend, shaders, u32_of};
use crate::backend::{ComputeError, Tensor, checks};

/// `(x - mean[c]) / std[c]` for `x [channels, ...]`.
pub(crate) fn channel_affine(
    gpu: &GpuBackend,
    x: &Tensor,
    mean: &Tensor,
    std: &Tensor,
) -> Result<Tensor, ComputeError> {
    let [channels, b, t] = checks::dims::<3>(x, "activations")?;
    let per_channel = b * t;
    let pipe = gpu.ctx.pipeline("channel_affine", shaders::CHANNEL_AFFINE, &[])?;
    let (xb, mb, sb) = (gpu.buffer(x), gpu.buffer(mean), gpu.buffer(std));
    let (y, yb) = gpu.output("channel_affine", x.shape().to_vec());
    let groups = grid_2d(
        u32_of((channels * per_channel.div_ceil(4)).div_ceil(64), "workgroups")?,
        gpu.ctx.limits.max_compute_workgroups_per_dimension,
    );
    gpu.run(
        "channel_affine",
        &pipe,
        &[&xb, &mb, &sb, &yb],
        &[u32_of(channels, "channels")?, u32_of(per_channel, "batch x time")?],
        groups,
    )?;
    Ok(y)
}

/// Each column of `x [rows, cols]` to unit L2 norm.
pub(crate) fn l2_normalize(gpu: &GpuBackend, x: &Tensor) -> Result<Tensor, ComputeError> {
    let [rows, cols] = checks::dims::<2>(x, "matrix")?;
    let pipe = gpu.ctx.pipeline("l2_normalize", shaders::L2_NORMALIZE, &[])?;
    let xb = gpu.buffer(x);
    let (y, yb) = gpu.output("l2_normalize", vec![rows, cols]);
    let c = u32_of(cols, "cols")?;
    gpu.run("l2_normalize", &pipe, &[&xb, &yb], &[u32_of(rows, "rows")?, c], (c.div_ceil(64).max(1), 1, 1))?;
    Ok(y)
}

/// `dx = (dy - y (y . dy)) / |x|` per column.
pub(crate) fn l2_normalize_backward(gpu: &GpuBackend, x: &Tensor, dy: &Tensor) -> Result<Tensor, ComputeError> {
    let [rows, cols] = checks::dims::<2>(x, "matrix")?;
    let pipe = gpu.ctx.pipeline("l2_normalize_backward", shaders::L2_NORMALIZE_BACKWARD, &[])?;
    let (xb, dyb) = (gpu.buffer(x), gpu.buffer(dy));
    let (dx, dxb) = gpu.output("l2_normalize_backward", vec![rows, cols]);
    let c = u32_of(cols, "cols")?;
    gpu.run(
        "l2_normalize_backward",
        &pipe,
        &[&xb, &dyb, &dxb],
        &[u32_of(rows, "rows")?, c],
        (c.div_ceil(64).max(1), 1, 1),
    )?;
    Ok(dx)
}
