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

pub fn conv1d(x: &Tensor, w: &Tensor, bias: &Tensor) -> Result<(), ComputeError> {
    let [c_in, _, _] = dims::<3>(x, "conv input")?;
    let [c_out, w_in, k] = dims::<3>(w, "conv weights")?;
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
