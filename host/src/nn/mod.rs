//! Neural-network building blocks shared by the CPU and WGSL paths: weights in PyTorch
//! layouts, and activations.
//!
//! Activations are `[channels, batch, time]` ("CBT"), row-major: a conv layer over a whole
//! batch is then one matrix product whose columns are every (window, time step), which keeps
//! GEMMs wide even in the last blocks where only 8 time steps remain.

pub mod cpu;
mod spec;
mod tower;

pub use spec::{AudioTowerSpec, FusionSpec, TextTowerSpec};
pub use tower::{AudioTower, TextTower, TrackWindows};

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
