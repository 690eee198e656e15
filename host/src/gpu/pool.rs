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
    gpu.pending().dispatch(
        &gpu.ctx,
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
    gpu.pending().dispatch(
        &gpu.ctx,
        "segment_mean",
        &pipe,
        &[&xb, &ob, &yb],
        &[r, u32_of(cols, "cols")?, s],
        (s.div_ceil(64).max(1), r.div_ceil(4).max(1), 1),
    )?;
    Ok(y)
}
