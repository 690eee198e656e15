//! Shape checks for every op; kernels may assume consistent shapes once these pass.

use super::ComputeError;
use crate::nn::{Activations, AudioTower, Conv1d, Dense, Matrix, SparseRows};

fn shape_err(msg: String) -> Result<(), ComputeError> {
    Err(ComputeError::Shape(msg))
}

pub fn check_activations(x: &Activations) -> Result<(), ComputeError> {
    x.check().map_err(ComputeError::Shape)
}

pub fn check_channels(x: &Activations, channels: usize) -> Result<(), ComputeError> {
    check_activations(x)?;
    if x.channels != channels {
        return shape_err(format!("{} channels in, {channels} per-channel parameters", x.channels));
    }
    Ok(())
}

pub fn check_conv(x: &Activations, layer: &Conv1d) -> Result<(), ComputeError> {
    check_activations(x)?;
    if x.channels != layer.c_in {
        return shape_err(format!("conv expects {} input channels, got {}", layer.c_in, x.channels));
    }
    if layer.weight.len() != layer.c_out * layer.c_in * layer.k || layer.bias.len() != layer.c_out {
        return shape_err(format!("conv weights do not match [{}, {}, {}]", layer.c_out, layer.c_in, layer.k));
    }
    if layer.k.is_multiple_of(2) {
        return shape_err(format!("'same' conv needs an odd kernel, got {}", layer.k));
    }
    Ok(())
}

pub fn check_pool(x: &Activations, pool: usize) -> Result<(), ComputeError> {
    check_activations(x)?;
    if pool == 0 || x.time < pool {
        return shape_err(format!("cannot max-pool {} steps by {pool}", x.time));
    }
    Ok(())
}

pub fn check_matrix(x: &Matrix) -> Result<(), ComputeError> {
    if x.data.len() != x.rows * x.cols {
        return shape_err(format!("matrix claims [{}, {}] but holds {} values", x.rows, x.cols, x.data.len()));
    }
    Ok(())
}

pub fn check_segments(x: &Matrix, offsets: &[usize]) -> Result<(), ComputeError> {
    check_matrix(x)?;
    if offsets.len() < 2 || offsets[0] != 0 || *offsets.last().unwrap_or(&0) != x.cols {
        return shape_err(format!("segment offsets must run from 0 to {} ({} given)", x.cols, offsets.len()));
    }
    if offsets.windows(2).any(|w| w[1] <= w[0]) {
        return shape_err("segments must be non-empty and increasing".into());
    }
    Ok(())
}

pub fn check_dense(x: &Matrix, layer: &Dense) -> Result<(), ComputeError> {
    check_matrix(x)?;
    if x.rows != layer.d_in {
        return shape_err(format!("dense expects {} inputs, got {}", layer.d_in, x.rows));
    }
    if layer.weight.len() != layer.d_out * layer.d_in || layer.bias.len() != layer.d_out {
        return shape_err(format!("dense weights do not match [{}, {}]", layer.d_out, layer.d_in));
    }
    Ok(())
}

pub fn check_tower_input(tower: &AudioTower, x: &Activations) -> Result<(), ComputeError> {
    check_activations(x)?;
    if x.channels != tower.spec.n_mels || x.time != tower.spec.window_frames || x.batch == 0 {
        return shape_err(format!(
            "the tower reads [{}, batch >= 1, {}] windows, got [{}, {}, {}]",
            tower.spec.n_mels, tower.spec.window_frames, x.channels, x.batch, x.time
        ));
    }
    Ok(())
}

pub fn check_sparse(x: &SparseRows, layer: &Dense) -> Result<(), ComputeError> {
    if x.dim != layer.d_in {
        return shape_err(format!("sparse input of width {} for a layer reading {}", x.dim, layer.d_in));
    }
    if x.offsets.first() != Some(&0) || x.offsets.last() != Some(&x.indices.len()) || x.indices.len() != x.values.len()
    {
        return shape_err("malformed sparse rows".into());
    }
    if x.indices.iter().any(|&i| i as usize >= x.dim) {
        return shape_err(format!("a sparse index is not below {}", x.dim));
    }
    if layer.weight.len() != layer.d_out * layer.d_in || layer.bias.len() != layer.d_out {
        return shape_err(format!("dense weights do not match [{}, {}]", layer.d_out, layer.d_in));
    }
    Ok(())
}
