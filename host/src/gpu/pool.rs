//! Host side of `shaders/pool/`: max-pool over time and means over column segments.

use super::record::grid_2d;
use super::{GpuBackend, shaders, u32_of};
use crate::backend::{ComputeError, Tensor, checks};

/// Max-pool over time by `pool` (floor).
pub(crate) fn max_pool(gpu: &GpuBackend, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
    let [c, b, time] = checks::dims::<3>(x, "pool input")?;
    let pipe = gpu.ctx.pipeline(&format!("max_pool pool={pool}"), shaders::MAX_POOL1D, &[("POOL", pool as f64)])?;
    let t_out = time / pool;
    let rows = c * b;
    let xb = gpu.buffer(x);
    let (y, yb) = gpu.output("max_pool", vec![c, b, t_out]);
    let groups = grid_2d(
        u32_of((rows * t_out.div_ceil(4)).div_ceil(64), "workgroups")?,
        gpu.ctx.limits.max_compute_workgroups_per_dimension,
    );
    gpu.run(
        "max_pool",
        &pipe,
        &[&xb, &yb],
        &[u32_of(rows, "rows")?, u32_of(time, "time")?, u32_of(t_out, "time")?],
        groups,
    )?;
    Ok(y)
}

/// `y[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`.
pub(crate) fn segment_mean(gpu: &GpuBackend, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
    let [rows, cols] = checks::dims::<2>(x, "matrix")?;
    let segments = offsets.len() - 1;
    let pipe = gpu.ctx.pipeline("segment_mean", shaders::SEGMENT_MEAN, &[])?;
    let offs: Vec<u32> = offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
    let (xb, ob) = (gpu.buffer(x), gpu.upload_pod("offsets", &offs));
    let (y, yb) = gpu.output("segment_mean", vec![rows, segments]);
    let (r, s) = (u32_of(rows, "rows")?, u32_of(segments, "segments")?);
    gpu.run(
        "segment_mean",
        &pipe,
        &[&xb, &ob, &yb],
        &[r, u32_of(cols, "cols")?, s],
        (s.div_ceil(64).max(1), r.div_ceil(4).max(1), 1),
    )?;
    Ok(y)
}

/// Each output's gradient to the first maximum of its window (`x` = the pool's input).
pub(crate) fn max_pool_backward(
    gpu: &GpuBackend,
    x: &Tensor,
    dy: &Tensor,
    pool: usize,
) -> Result<Tensor, ComputeError> {
    let [c, b, time] = checks::dims::<3>(x, "pool input")?;
    let pipe = gpu.ctx.pipeline(
        &format!("max_pool_backward pool={pool}"),
        shaders::MAX_POOL1D_BACKWARD,
        &[("POOL", pool as f64)],
    )?;
    let t_out = time / pool;
    let (xb, dyb) = (gpu.buffer(x), gpu.buffer(dy));
    let (dx, dxb) = gpu.output("max_pool_backward", vec![c, b, time]);
    gpu.run(
        "max_pool_backward",
        &pipe,
        &[&xb, &dyb, &dxb],
        &[u32_of(c * b, "rows")?, u32_of(time, "time")?, u32_of(t_out, "time")?],
        gpu.flat_groups(c * b * t_out, 64)?,
    )?;
    Ok(dx)
}

/// `dx [rows, cols]`: each column gets its segment's gradient over the segment's length.
pub(crate) fn segment_mean_backward(
    gpu: &GpuBackend,
    dy: &Tensor,
    offsets: &[usize],
    cols: usize,
) -> Result<Tensor, ComputeError> {
    let [rows, segments] = checks::dims::<2>(dy, "segment gradient")?;
    let pipe = gpu.ctx.pipeline("segment_mean_backward", shaders::SEGMENT_MEAN_BACKWARD, &[])?;
    let offs: Vec<u32> = offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
    let (dyb, ob) = (gpu.buffer(dy), gpu.upload_pod("offsets", &offs));
    let (dx, dxb) = gpu.output("segment_mean_backward", vec![rows, cols]);
    let (r, s) = (u32_of(rows, "rows")?, u32_of(segments, "segments")?);
    gpu.run(
        "segment_mean_backward",
        &pipe,
        &[&dyb, &ob, &dxb],
        &[r, u32_of(cols, "cols")?, s],
        (s.div_ceil(64).max(1), r.div_ceil(4).max(1), 1),
    )?;
    Ok(dx)
}
