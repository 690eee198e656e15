//! Shape checks for every op, in one place: [`super::Backend`] runs them before any kernel,
//! so kernels may assume consistent shapes.

use super::{ComputeError, Tensor};
use crate::nn::{AudioTowerSpec, SparseRows};

fn err<T>(msg: String) -> Result<T, ComputeError> {
    Err(ComputeError::Shape(msg))
}

/// The dimensions of a tensor of rank `N` (`what` names it in the error).
pub fn dims<const N: usize>(t: &Tensor, what: &str) -> Result<[usize; N], ComputeError> {
    <[usize; N]>::try_from(t.shape())
        .or_else(|_| err(format!("{what} must have {N} dimensions, got shape {:?}", t.shape())))
}

/// A vector of exactly `n` values.
pub fn vector(t: &Tensor, n: usize, what: &str) -> Result<(), ComputeError> {
    let [len] = dims::<1>(t, what)?;
    if len != n {
        return err(format!("{what} holds {len} values, {n} expected"));
    }
    Ok(())
}

pub fn channels(x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<(), ComputeError> {
    let [c, _, _] = dims::<3>(x, "activations")?;
    if mean.shape() != [c] || std.shape() != [c] {
        return err(format!(
            "{c} channels in, per-channel parameters of shapes {:?} and {:?}",
            mean.shape(),
            std.shape()
        ));
    }
    Ok(())
}

/// `x [c_in, b, t]`, tap-major `w [k, c_out, c_in]`, `bias [c_out]`.
pub fn conv1d(x: &Tensor, w: &Tensor, bias: &Tensor) -> Result<(), ComputeError> {
    let [c_in, _, _] = dims::<3>(x, "conv input")?;
    let [k, c_out, w_in] = dims::<3>(w, "conv weights")?;
    if c_in != w_in {
        return err(format!("conv expects {w_in} input channels, got {c_in}"));
    }
    vector(bias, c_out, "conv bias")?;
    if k.is_multiple_of(2) {
        return err(format!("'same' conv needs an odd kernel, got {k}"));
    }
    Ok(())
}

pub fn pool(x: &Tensor, pool: usize) -> Result<(), ComputeError> {
    let [_, _, time] = dims::<3>(x, "pool input")?;
    if pool == 0 || time < pool {
        return err(format!("cannot max-pool {time} steps by {pool}"));
    }
    Ok(())
}

pub fn segments(x: &Tensor, offsets: &[usize]) -> Result<(), ComputeError> {
    let [_, cols] = dims::<2>(x, "matrix")?;
    if offsets.len() < 2 || offsets[0] != 0 || *offsets.last().unwrap_or(&0) != cols {
        return err(format!("segment offsets must run from 0 to {cols} ({} given)", offsets.len()));
    }
    if offsets.windows(2).any(|w| w[1] <= w[0]) {
        return err("segments must be non-empty and increasing".into());
    }
    Ok(())
}

pub fn dense(x: &Tensor, w: &Tensor, bias: &Tensor) -> Result<(), ComputeError> {
    let [d_in, _] = dims::<2>(x, "dense input")?;
    let [d_out, w_in] = dims::<2>(w, "dense weights")?;
    if d_in != w_in {
        return err(format!("dense expects {w_in} inputs, got {d_in}"));
    }
    vector(bias, d_out, "dense bias")
}

pub fn sparse(x: &SparseRows, w: &Tensor, bias: &Tensor) -> Result<(), ComputeError> {
    let [d_out, d_in] = dims::<2>(w, "dense weights")?;
    if x.dim != d_in {
        return err(format!("sparse input of width {} for a layer reading {d_in}", x.dim));
    }
    if x.offsets.first() != Some(&0) || x.offsets.last() != Some(&x.indices.len()) || x.indices.len() != x.values.len()
    {
        return err("malformed sparse rows".into());
    }
    if x.offsets.windows(2).any(|w| w[1] < w[0]) {
        return err("sparse row offsets must not decrease".into());
    }
    if x.indices.iter().any(|&i| i as usize >= x.dim) {
        return err(format!("a sparse index is not below {}", x.dim));
    }
    vector(bias, d_out, "dense bias")
}

pub fn tower_input(spec: &AudioTowerSpec, x: &Tensor) -> Result<(), ComputeError> {
    let [c, batch, time] = dims::<3>(x, "windows")?;
    if c != spec.n_mels || time != spec.window_frames || batch == 0 {
        return err(format!(
            "the tower reads [{}, batch >= 1, {}] windows, got [{c}, {batch}, {time}]",
            spec.n_mels, spec.window_frames
        ));
    }
    Ok(())
}

/// Two tensors of one shape.
pub fn same(a: &Tensor, b: &Tensor, what: &str) -> Result<(), ComputeError> {
    if a.shape() != b.shape() {
        return err(format!("{what}: shapes {:?} and {:?} differ", a.shape(), b.shape()));
    }
    Ok(())
}

/// An optional ReLU output given for masking has the gradient's shape.
pub fn mask(y: Option<&Tensor>, dy: &Tensor) -> Result<(), ComputeError> {
    y.map_or(Ok(()), |y| same(y, dy, "ReLU output and gradient"))
}

pub fn conv1d_x_backward(dy: &Tensor, y: Option<&Tensor>, w: &Tensor) -> Result<(), ComputeError> {
    let [c_out, _, _] = dims::<3>(dy, "conv output gradient")?;
    let [k, w_out, _] = dims::<3>(w, "conv weights")?;
    if c_out != w_out || k.is_multiple_of(2) {
        return err(format!("conv gradient of {c_out} channels for weights {:?}", w.shape()));
    }
    mask(y, dy)
}

pub fn conv1d_weight_backward(
    x: &Tensor,
    dy: &Tensor,
    y: Option<&Tensor>,
    dw: &Tensor,
    db: &Tensor,
) -> Result<(), ComputeError> {
    let [c_in, b, t] = dims::<3>(x, "conv input")?;
    let [c_out, b2, t2] = dims::<3>(dy, "conv output gradient")?;
    let [k, w_out, w_in] = dims::<3>(dw, "conv weight gradient")?;
    if (b, t) != (b2, t2) || w_out != c_out || w_in != c_in || k.is_multiple_of(2) {
        return err(format!(
            "conv gradients: input {:?}, output {:?}, weights {:?}",
            x.shape(),
            dy.shape(),
            dw.shape()
        ));
    }
    vector(db, c_out, "conv bias gradient")?;
    mask(y, dy)
}

pub fn max_pool_backward(x: &Tensor, dy: &Tensor, pool: usize) -> Result<(), ComputeError> {
    self::pool(x, pool)?;
    let [c, b, t] = dims::<3>(x, "pool input")?;
    if dy.shape() != [c, b, t / pool] {
        return err(format!("pool gradient {:?} for input {:?} pooled by {pool}", dy.shape(), x.shape()));
    }
    Ok(())
}

pub fn segment_mean_backward(dy: &Tensor, offsets: &[usize], cols: usize) -> Result<(), ComputeError> {
    let [_, s] = dims::<2>(dy, "segment gradient")?;
    if offsets.len() != s + 1 {
        return err(format!("{} offsets for {s} segments", offsets.len()));
    }
    if offsets[0] != 0 || offsets[s] != cols || offsets.windows(2).any(|w| w[1] <= w[0]) {
        return err(format!("segment offsets must increase from 0 to {cols}"));
    }
    Ok(())
}

/// The result shape of `op(a) op(b)`.
pub fn matmul(a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<[usize; 2], ComputeError> {
    let [ar, ac] = dims::<2>(a, "matrix")?;
    let [br, bc] = dims::<2>(b, "matrix")?;
    let (m, ka) = if ta { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if tb { (bc, br) } else { (br, bc) };
    if ka != kb {
        return err(format!(
            "cannot multiply {:?}{} by {:?}{}",
            a.shape(),
            if ta { "^T" } else { "" },
            b.shape(),
            if tb { "^T" } else { "" }
        ));
    }
    Ok([m, n])
}

pub fn bias_backward(dz: &Tensor, db: &Tensor) -> Result<(), ComputeError> {
    let [rows, _] = dims::<2>(dz, "gradient")?;
    vector(db, rows, "bias gradient")
}

pub fn sparse_backward(x: &SparseRows, dz: &Tensor, dw: &Tensor, db: &Tensor) -> Result<(), ComputeError> {
    sparse(x, dw, db)?;
    let [d_out, _] = dims::<2>(dw, "weight gradient")?;
    if dz.shape() != [d_out, x.rows()] {
        return err(format!("sparse layer gradient {:?} for {d_out} outputs x {} rows", dz.shape(), x.rows()));
    }
    Ok(())
}

pub fn gather(table: &Tensor, idx: &[u32]) -> Result<(), ComputeError> {
    let [n, _] = dims::<2>(table, "table")?;
    if let Some(i) = idx.iter().find(|&&i| i as usize >= n) {
        return err(format!("row {i} of a {n}-row table"));
    }
    Ok(())
}

pub fn gather_backward(dy: &Tensor, idx: &[u32], dtable: &Tensor) -> Result<(), ComputeError> {
    gather(dtable, idx)?;
    let [_, d] = dims::<2>(dtable, "table")?;
    if dy.shape() != [d, idx.len()] {
        return err(format!("lookup gradient {:?} for {} rows of width {d}", dy.shape(), idx.len()));
    }
    Ok(())
}

/// `targets` (one per row) index columns of `[rows, n]`.
pub fn targets(scores: &Tensor, targets: &[u32]) -> Result<[usize; 2], ComputeError> {
    let [rows, n] = dims::<2>(scores, "scores")?;
    if targets.len() != rows || targets.iter().any(|&t| t as usize >= n) {
        return err(format!("{} targets for {rows} rows of {n} columns", targets.len()));
    }
    Ok([rows, n])
}

pub fn hinge(scores: &Tensor, positives: &[u32], negatives: &[u32]) -> Result<(), ComputeError> {
    let [rows, n] = targets(scores, positives)?;
    if rows == 0
        || negatives.is_empty()
        || !negatives.len().is_multiple_of(rows)
        || negatives.iter().any(|&t| t as usize >= n)
    {
        return err(format!("{} negatives for {rows} rows of {n} columns", negatives.len()));
    }
    Ok(())
}
