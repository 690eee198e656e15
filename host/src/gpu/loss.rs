//! Host side of `shaders/loss/`: each loss writes every row's loss and the gradient of their
//! mean into fresh (zeroed) buffers.

use super::{GpuBackend, shaders, u32_of};
use crate::backend::{ComputeError, Tensor, checks};

fn f(v: f32) -> u32 {
    v.to_bits()
}

/// DCUE's max-margin hinge over scores `[rows, n]`.
pub(crate) fn hinge(
    gpu: &GpuBackend,
    scores: &Tensor,
    positives: &[u32],
    negatives: &[u32],
    margin: f32,
) -> Result<(Tensor, Tensor), ComputeError> {
    let [rows, n] = checks::dims::<2>(scores, "scores")?;
    let k = negatives.len() / rows.max(1);
    let pipe = gpu.ctx.pipeline("hinge", shaders::HINGE, &[])?;
    let (sb, pb, nb) =
        (gpu.buffer(scores), gpu.upload_pod("positives", positives), gpu.upload_pod("negatives", negatives));
    let (loss, lb) = gpu.output("hinge loss", vec![rows]);
    let (grad, gb) = gpu.output("hinge gradient", vec![rows, n]);
    let params = [u32_of(rows, "rows")?, u32_of(n, "n")?, u32_of(k, "k")?, 0, f(margin), f(1.0 / rows.max(1) as f32)];
    gpu.run("hinge", &pipe, &[&sb, &pb, &nb, &lb, &gb], &params, (u32_of(rows.div_ceil(64), "rows")?, 1, 1))?;
    Ok((loss, grad))
}

/// `-cos(pred[:, c], target[:, c])` per column.
pub(crate) fn cosine_proximity(
    gpu: &GpuBackend,
    pred: &Tensor,
    target: &Tensor,
) -> Result<(Tensor, Tensor), ComputeError> {
    let [d, cols] = checks::dims::<2>(pred, "predictions")?;
    let pipe = gpu.ctx.pipeline("cosine_proximity", shaders::COSINE_PROXIMITY, &[])?;
    let (pb, tb) = (gpu.buffer(pred), gpu.buffer(target));
    let (loss, lb) = gpu.output("cosine loss", vec![cols]);
    let (grad, gb) = gpu.output("cosine gradient", vec![d, cols]);
    let params = [u32_of(d, "d")?, u32_of(cols, "cols")?];
    gpu.run(
        "cosine_proximity",
        &pipe,
        &[&pb, &tb, &lb, &gb],
        &params,
        (u32_of(cols.div_ceil(64), "cols")?.max(1), 1, 1),
    )?;
    Ok((loss, grad))
}

/// Softmax cross-entropy of each row of `scale * logits`.
pub(crate) fn softmax_cross_entropy(
    gpu: &GpuBackend,
    logits: &Tensor,
    targets: &[u32],
    scale: f32,
) -> Result<(Tensor, Tensor), ComputeError> {
    let [rows, n] = checks::dims::<2>(logits, "logits")?;
    let pipe = gpu.ctx.pipeline("softmax_xent", shaders::SOFTMAX_XENT, &[])?;
    let (zb, tb) = (gpu.buffer(logits), gpu.upload_pod("targets", targets));
    let (loss, lb) = gpu.output("xent loss", vec![rows]);
    let (grad, gb) = gpu.output("xent gradient", vec![rows, n]);
    let params = [u32_of(rows, "rows")?, u32_of(n, "n")?, 0, f(scale)];
    gpu.run("softmax_xent", &pipe, &[&zb, &tb, &lb, &gb], &params, (u32_of(rows.div_ceil(64), "rows")?.max(1), 1, 1))?;
    Ok((loss, grad))
}

/// Sigmoid cross-entropy of `logits [tags, cols]` against 0/1 labels, per column.
pub(crate) fn sigmoid_bce(
    gpu: &GpuBackend,
    logits: &Tensor,
    labels: &Tensor,
) -> Result<(Tensor, Tensor), ComputeError> {
    let [tags, cols] = checks::dims::<2>(logits, "logits")?;
    let pipe = gpu.ctx.pipeline("sigmoid_bce", shaders::SIGMOID_BCE, &[])?;
    let (zb, yb) = (gpu.buffer(logits), gpu.buffer(labels));
    let (loss, lb) = gpu.output("bce loss", vec![cols]);
    let (grad, gb) = gpu.output("bce gradient", vec![tags, cols]);
    let params = [u32_of(tags, "tags")?, u32_of(cols, "cols")?];
    gpu.run("sigmoid_bce", &pipe, &[&zb, &yb, &lb, &gb], &params, (u32_of(cols.div_ceil(64), "cols")?.max(1), 1, 1))?;
    Ok((loss, grad))
}
