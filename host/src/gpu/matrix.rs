//! Host side of `shaders/matrix/`: the tiled GEMM (dense layers, similarities, their
//! gradients), bias and ReLU backward passes, the sparse x dense product of the text tower
//! and the embedding lookup of the user tower.

use wgpu::Buffer;

use super::{DeviceBuffer, GpuBackend, TILE, shaders, u32_of};
use crate::backend::{ComputeError, Store, Tensor, checks};
use crate::nn::SparseRows;

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// One GEMM: `op(a) op(b)` with `a` stored `[.., lda]` and `b` `[.., ldb]`.
pub(crate) struct Gemm<'a> {
    pub a: &'a Buffer,
    pub ta: bool,
    pub b: &'a Buffer,
    pub tb: bool,
    /// Result rows, columns, and the inner dimension.
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lda: usize,
    pub ldb: usize,
    pub bias: Option<&'a Buffer>,
    pub relu: bool,
}

impl Gemm<'_> {
    /// Records the product into `into` (accumulating) or a new buffer, which it returns.
    pub(crate) fn record(&self, gpu: &GpuBackend, into: Option<&Buffer>) -> Result<Buffer, ComputeError> {
        let acc = into.is_some();
        let pipe = gpu.ctx.pipeline(
            &format!("gemm bias={} relu={} ta={} tb={} acc={acc}", self.bias.is_some(), self.relu, self.ta, self.tb),
            shaders::GEMM,
            &[
                ("BIAS", flag(self.bias.is_some())),
                ("RELU", flag(self.relu)),
                ("TRANS_A", flag(self.ta)),
                ("TRANS_B", flag(self.tb)),
                ("ACCUM", flag(acc)),
            ],
        )?;
        let c = into.cloned().unwrap_or_else(|| gpu.storage("gemm", self.m * self.n));
        let bias = self.bias.cloned().unwrap_or_else(|| gpu.unused());
        let (m, n, k) = (u32_of(self.m, "m")?, u32_of(self.n, "n")?, u32_of(self.k, "k")?);
        let (lda, ldb) = (u32_of(self.lda, "lda")?, u32_of(self.ldb, "ldb")?);
        gpu.run(
            "gemm",
            &pipe,
            &[self.a, self.b, &bias, &c],
            &[m, n, k, lda, ldb, n, 0, 0],
            (n.div_ceil(TILE).max(1), m.div_ceil(TILE).max(1), 1),
        )?;
        Ok(c)
    }
}

fn device(shape: Vec<usize>, buffer: Buffer) -> Tensor {
    Tensor::from_store(shape, Store::Device(DeviceBuffer(buffer)))
}

/// The GEMM of `op(a) op(b)` for stored shapes `[ar, ac]`, `[br, bc]`.
fn product<'a>(a: &'a Buffer, sa: [usize; 2], ta: bool, b: &'a Buffer, sb: [usize; 2], tb: bool) -> Gemm<'a> {
    let (m, k) = if ta { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
    let n = if tb { sb[0] } else { sb[1] };
    Gemm { a, ta, b, tb, m, n, k, lda: sa[1], ldb: sb[1], bias: None, relu: false }
}

/// `op(a) op(b)`.
pub(crate) fn matmul(gpu: &GpuBackend, a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor, ComputeError> {
    let (sa, sb) = (checks::dims::<2>(a, "matrix")?, checks::dims::<2>(b, "matrix")?);
    let (ab, bb) = (gpu.buffer(a), gpu.buffer(b));
    let g = product(&ab, sa, ta, &bb, sb, tb);
    let c = g.record(gpu, None)?;
    Ok(device(vec![g.m, g.n], c))
}

/// `c += op(a) op(b)`.
pub(crate) fn matmul_acc(
    gpu: &GpuBackend,
    a: &Tensor,
    ta: bool,
    b: &Tensor,
    tb: bool,
    c: &mut Tensor,
) -> Result<(), ComputeError> {
    let (sa, sb) = (checks::dims::<2>(a, "matrix")?, checks::dims::<2>(b, "matrix")?);
    let (ab, bb, cb) = (gpu.buffer(a), gpu.buffer(b), gpu.buffer_mut(c)?);
    product(&ab, sa, ta, &bb, sb, tb).record(gpu, Some(&cb))?;
    Ok(())
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
    let (wb, xb, bb) = (gpu.buffer(w), gpu.buffer(x), gpu.buffer(bias));
    let mut g = product(&wb, [d_out, d_in], false, &xb, [d_in, batch], false);
    g.bias = Some(&bb);
    g.relu = relu;
    Ok(device(vec![d_out, batch], g.record(gpu, None)?))
}

/// `dz = dy` where `y > 0`, else 0.
pub(crate) fn relu_backward(gpu: &GpuBackend, dy: &Tensor, y: &Tensor) -> Result<Tensor, ComputeError> {
    let pipe = gpu.ctx.pipeline("relu_backward", shaders::RELU_BACKWARD, &[])?;
    let (dyb, yb) = (gpu.buffer(dy), gpu.buffer(y));
    let (dz, dzb) = gpu.output("relu_backward", dy.shape().to_vec());
    gpu.run(
        "relu_backward",
        &pipe,
        &[&dyb, &yb, &dzb],
        &[u32_of(dy.len(), "length")?],
        gpu.flat_groups(dy.len(), 256)?,
    )?;
    Ok(dz)
}

/// `db[r] += sum_c dz[r, c]` over `dz [rows, cols]`, masked by `mask > 0` when given.
pub(crate) fn row_sums(
    gpu: &GpuBackend,
    dz: &Buffer,
    mask: Option<&Buffer>,
    rows: usize,
    cols: usize,
    db: &mut Tensor,
) -> Result<(), ComputeError> {
    let pipe = gpu.ctx.pipeline(
        &format!("bias_backward mask={}", mask.is_some()),
        shaders::BIAS_BACKWARD,
        &[("MASK", flag(mask.is_some()))],
    )?;
    let mb = mask.cloned().unwrap_or_else(|| gpu.unused());
    let dbb = gpu.buffer_mut(db)?;
    let groups = super::record::grid_2d(u32_of(rows, "rows")?, gpu.ctx.limits.max_compute_workgroups_per_dimension);
    gpu.run("bias_backward", &pipe, &[dz, &mb, &dbb], &[u32_of(rows, "rows")?, u32_of(cols, "cols")?], groups)
}

/// `db += sum over columns of dz`.
pub(crate) fn bias_backward(gpu: &GpuBackend, dz: &Tensor, db: &mut Tensor) -> Result<(), ComputeError> {
    let [rows, cols] = checks::dims::<2>(dz, "gradient")?;
    row_sums(gpu, &gpu.buffer(dz), None, rows, cols, db)
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
    let pipe =
        gpu.ctx.pipeline(&format!("sparse_dense relu={relu}"), shaders::SPARSE_DENSE, &[("RELU", flag(relu))])?;
    let offs: Vec<u32> = x.offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
    let ob = gpu.upload_pod("sparse offsets", &offs);
    let ib = gpu.upload_pod("sparse indices", &x.indices);
    let vb = gpu.upload_pod("sparse values", &x.values);
    let (wb, bb) = (gpu.buffer(w), gpu.buffer(bias));
    let (y, yb) = gpu.output("sparse_dense", vec![d_out, rows]);
    let (d, r) = (u32_of(d_out, "d_out")?, u32_of(rows, "rows")?);
    gpu.run(
        "sparse_dense",
        &pipe,
        &[&ob, &ib, &vb, &wb, &bb, &yb],
        &[d, u32_of(d_in, "d_in")?, r],
        (r.max(1), d.div_ceil(64), 1),
    )?;
    Ok(y)
}

/// Row indices grouped by key: the distinct keys in order of first appearance, offsets into
/// the members, and the members (positions) of each group.
fn group_by(keys: impl Iterator<Item = u32>) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut order: Vec<(u32, u32)> = keys.enumerate().map(|(pos, k)| (k, pos as u32)).collect();
    order.sort_by_key(|&(k, pos)| (k, pos));
    let (mut distinct, mut offsets, mut members) = (Vec::new(), vec![0u32], Vec::with_capacity(order.len()));
    for (i, &(k, pos)) in order.iter().enumerate() {
        if i > 0 && order[i - 1].0 != k {
            offsets.push(members.len() as u32);
        }
        if i == 0 || order[i - 1].0 != k {
            distinct.push(k);
        }
        members.push(pos);
    }
    offsets.push(members.len() as u32);
    if distinct.is_empty() {
        offsets.truncate(1);
    }
    (distinct, offsets, members)
}

/// `dw += dz x^T`, `db += sum(dz)` for sparse rows: `x` goes over transposed (per feature,
/// the rows holding it) so each weight is summed by one invocation.
pub(crate) fn sparse_dense_weight_backward(
    gpu: &GpuBackend,
    x: &SparseRows,
    dz: &Tensor,
    dw: &mut Tensor,
    db: &mut Tensor,
) -> Result<(), ComputeError> {
    let [d_out, d_in] = checks::dims::<2>(dw, "weight gradient")?;
    let rows = x.rows();
    let row_of: Vec<u32> =
        (0..rows).flat_map(|r| std::iter::repeat_n(r as u32, x.offsets[r + 1] - x.offsets[r])).collect();
    let (features, offsets, members) = group_by(x.indices.iter().copied());
    let entry_rows: Vec<u32> = members.iter().map(|&e| row_of[e as usize]).collect();
    let entry_values: Vec<f32> = members.iter().map(|&e| x.values[e as usize]).collect();
    let dzb = gpu.buffer(dz);
    if !features.is_empty() {
        let pipe = gpu.ctx.pipeline("sparse_dense_backward", shaders::SPARSE_DENSE_BACKWARD, &[])?;
        let fb = gpu.upload_pod("features", &features);
        let ob = gpu.upload_pod("feature offsets", &offsets);
        let rb = gpu.upload_pod("feature rows", &entry_rows);
        let vb = gpu.upload_pod("feature values", &entry_values);
        let dwb = gpu.buffer_mut(dw)?;
        let active = u32_of(features.len(), "features")?;
        let d = u32_of(d_out, "d_out")?;
        gpu.run(
            "sparse_dense_backward",
            &pipe,
            &[&fb, &ob, &rb, &vb, &dzb, &dwb],
            &[d, u32_of(d_in, "d_in")?, u32_of(rows, "rows")?, active],
            (active, d.div_ceil(64), 1),
        )?;
    }
    row_sums(gpu, &dzb, None, d_out, rows, db)
}

/// Embedding lookup: column `b` is row `idx[b]` of `table [n, d]`.
pub(crate) fn gather_columns(gpu: &GpuBackend, table: &Tensor, idx: &[u32]) -> Result<Tensor, ComputeError> {
    let [_, d] = checks::dims::<2>(table, "table")?;
    let pipe = gpu.ctx.pipeline("gather_columns", shaders::GATHER_COLUMNS, &[])?;
    let (tb, ib) = (gpu.buffer(table), gpu.upload_pod("indices", idx));
    let (y, yb) = gpu.output("gather_columns", vec![d, idx.len()]);
    let (dd, b) = (u32_of(d, "d")?, u32_of(idx.len(), "batch")?);
    gpu.run("gather_columns", &pipe, &[&tb, &ib, &yb], &[dd, b], (b.div_ceil(64).max(1), dd.div_ceil(4).max(1), 1))?;
    Ok(y)
}

/// `dtable[idx[b]] += dy[:, b]`, batch positions grouped by row on the host.
pub(crate) fn gather_columns_backward(
    gpu: &GpuBackend,
    dy: &Tensor,
    idx: &[u32],
    dtable: &mut Tensor,
) -> Result<(), ComputeError> {
    let [_, d] = checks::dims::<2>(dtable, "table")?;
    let (rows, offsets, members) = group_by(idx.iter().copied());
    if rows.is_empty() {
        return Ok(());
    }
    let pipe = gpu.ctx.pipeline("gather_columns_backward", shaders::GATHER_COLUMNS_BACKWARD, &[])?;
    let rb = gpu.upload_pod("rows", &rows);
    let ob = gpu.upload_pod("offsets", &offsets);
    let mb = gpu.upload_pod("members", &members);
    let (dyb, tb) = (gpu.buffer(dy), gpu.buffer_mut(dtable)?);
    let (dd, groups) = (u32_of(d, "d")?, u32_of(rows.len(), "rows")?);
    gpu.run(
        "gather_columns_backward",
        &pipe,
        &[&rb, &ob, &mb, &dyb, &tb],
        &[dd, u32_of(idx.len(), "batch")?, groups],
        (groups.div_ceil(64), dd.div_ceil(4).max(1), 1),
    )
}
