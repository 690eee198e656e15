//! Neural-network building blocks shared by the CPU and WGSL paths: weights in PyTorch
//! layouts, and activations.
//!
//! Activations are `[channels, batch, time]` ("CBT"), row-major: a conv layer over a whole
//! batch is then one matrix product whose columns are every (window, time step), which keeps
//! GEMMs wide even in the last blocks where only 8 time steps remain.

pub mod cpu;
mod tower;

pub use tower::{AudioTower, TextTower, TrackWindows};

use crate::backend::ComputeError;

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

/// `Conv1d` weights, PyTorch layout: `weight[out][in][k]`, 'same' zero padding, stride 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1d {
    pub c_out: usize,
    pub c_in: usize,
    pub k: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// `Linear` weights, PyTorch layout: `weight[out][in]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub d_out: usize,
    pub d_in: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A `[channels, batch, time]` tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Activations {
    pub channels: usize,
    pub batch: usize,
    pub time: usize,
    pub data: Vec<f32>,
}

impl Activations {
    pub fn zeros(channels: usize, batch: usize, time: usize) -> Self {
        Self { channels, batch, time, data: vec![0.0; channels * batch * time] }
    }

    pub fn get(&self, c: usize, b: usize, t: usize) -> f32 {
        self.data[(c * self.batch + b) * self.time + t]
    }

    pub fn check(&self) -> Result<(), String> {
        if self.data.len() != self.channels * self.batch * self.time {
            return Err(format!(
                "activations claim [{}, {}, {}] but hold {} values",
                self.channels,
                self.batch,
                self.time,
                self.data.len()
            ));
        }
        Ok(())
    }
}

/// A batch of sparse vectors (CSR): row `r` holds `indices[offsets[r]..offsets[r + 1]]` with
/// `values[..]`, every index below `dim`. Bio features of many artists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseRows {
    pub dim: usize,
    pub offsets: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseRows {
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.offsets[r], self.offsets[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }
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

/// A `[rows, cols]` matrix, row-major; features x batch for dense layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }

    /// Column `c` as a vector (one embedding).
    pub fn column(&self, c: usize) -> Vec<f32> {
        (0..self.rows).map(|r| self.get(r, c)).collect()
    }
}
