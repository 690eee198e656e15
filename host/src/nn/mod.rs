//! Neural-network building blocks shared by the CPU and WGSL paths: weights in PyTorch
//! layouts, and activations.
//!
//! Activations are `[channels, batch, time]` ("CBT"), row-major: a conv layer over a whole
//! batch is then one matrix product whose columns are every (window, time step), which keeps
//! GEMMs wide even in the last blocks where only 8 time steps remain.

pub mod cpu;
mod optim;
mod spec;
mod tower;

pub use optim::{AdamStep, SgdStep};
pub use spec::{AudioTowerSpec, FusionSpec, TextTowerSpec};
pub use tower::{AudioTower, TextTower, TrackWindows};

/// `Conv1d` weights, 'same' zero padding, stride 1. In memory the weights are tap-major,
/// `weight[k][out][in]`: each tap is a contiguous `[out, in]` matrix, which every kernel
/// reads directly. Files keep PyTorch's `[out][in][k]`; [`Conv1d::from_pytorch`] and
/// [`Conv1d::pytorch_weight`] convert at that boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1d {
    pub c_out: usize,
    pub c_in: usize,
    pub k: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Conv1d {
    /// From PyTorch's `weight[out][in][k]`.
    pub fn from_pytorch(c_out: usize, c_in: usize, k: usize, weight: &[f32], bias: Vec<f32>) -> Self {
        let mut w = vec![0.0; weight.len()];
        for o in 0..c_out {
            for i in 0..c_in {
                for kk in 0..k {
                    w[(kk * c_out + o) * c_in + i] = weight[(o * c_in + i) * k + kk];
                }
            }
        }
        Self { c_out, c_in, k, weight: w, bias }
    }

    /// The weights in PyTorch's `[out][in][k]` layout.
    pub fn pytorch_weight(&self) -> Vec<f32> {
        let mut w = vec![0.0; self.weight.len()];
        for o in 0..self.c_out {
            for i in 0..self.c_in {
                for kk in 0..self.k {
                    w[(o * self.c_in + i) * self.k + kk] = self.weight[(kk * self.c_out + o) * self.c_in + i];
                }
            }
        }
        w
    }
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
