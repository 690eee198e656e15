//! The native CPU path: the kernels in `spectral::cpu` and `nn::cpu` over host tensors, FFT
//! plans cached per size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{ComputeError, Kernels, Store, Tensor, checks};
use crate::nn::cpu::{self as k, ConvShape};
use crate::nn::{AudioTower, SparseRows};
use crate::spectral::cpu::{CpuStft, mel_db};
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

#[derive(Default)]
pub struct CpuBackend {
    stfts: Mutex<HashMap<usize, Arc<CpuStft>>>,
}

impl CpuBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn stft(&self, n_fft: usize) -> Arc<CpuStft> {
        let mut cache = self.stfts.lock().unwrap_or_else(|p| p.into_inner());
        cache.entry(n_fft).or_insert_with(|| Arc::new(CpuStft::new(n_fft))).clone()
    }
}

/// The values of a host tensor; a device tensor here means two backends were mixed.
fn host(t: &Tensor) -> Result<&[f32], ComputeError> {
    t.as_host().ok_or_else(|| ComputeError::Device("a GPU tensor was given to the CPU backend".into()))
}

fn out(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Tensor, ComputeError> {
    Tensor::from_host(shape, data)
}

impl Kernels for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor, ComputeError> {
        out(shape, data.to_vec())
    }

    fn download(&self, x: &Tensor) -> Result<Vec<f32>, ComputeError> {
        match &x.store {
            Store::Host(v) => Ok(v.clone()),
            Store::Device(_) => Err(ComputeError::Device("a GPU tensor was given to the CPU backend".into())),
        }
    }

    fn stft_power(&self, plan: &MelPlan, samples: &[f32]) -> Result<PowerSpectrogram, ComputeError> {
        Ok(self.stft(plan.params.n_fft).power(plan, samples))
    }

    fn mel_db(&self, plan: &MelPlan, power: &PowerSpectrogram) -> Result<MelSpectrogram, ComputeError> {
        Ok(mel_db(plan, power))
    }

    fn log_mel(&self, plan: &MelPlan, samples: &[f32]) -> Result<MelSpectrogram, ComputeError> {
        Ok(self.stft(plan.params.n_fft).log_mel(plan, samples))
    }

    fn normalize_channels_forward(&self, x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor, ComputeError> {
        out(x.shape(), k::normalize_channels(host(x)?, host(mean)?, host(std)?))
    }

    fn conv1d_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        let [c_in, batch, time] = checks::dims::<3>(x, "conv input")?;
        let [c_out, _, kernel] = checks::dims::<3>(w, "conv weights")?;
        let s = ConvShape { c_in, c_out, k: kernel, batch, time };
        out([c_out, batch, time], k::conv1d(host(x)?, host(w)?, host(bias)?, s, relu))
    }

    fn max_pool_forward(&self, x: &Tensor, pool: usize) -> Result<Tensor, ComputeError> {
        let [c, b, t] = checks::dims::<3>(x, "pool input")?;
        out([c, b, t / pool], k::max_pool(host(x)?, t, pool))
    }

    fn segment_mean_forward(&self, x: &Tensor, offsets: &[usize]) -> Result<Tensor, ComputeError> {
        let [rows, cols] = checks::dims::<2>(x, "matrix")?;
        out([rows, offsets.len() - 1], k::segment_mean(host(x)?, cols, offsets))
    }

    fn dense_forward(&self, x: &Tensor, w: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor, ComputeError> {
        let [_, b] = checks::dims::<2>(x, "dense input")?;
        out([bias.len(), b], k::dense(host(x)?, host(w)?, host(bias)?, relu))
    }

    fn l2_normalize_forward(&self, x: &Tensor) -> Result<Tensor, ComputeError> {
        let [_, cols] = checks::dims::<2>(x, "matrix")?;
        out(x.shape(), k::l2_normalize(host(x)?, cols))
    }

    fn sparse_dense_forward(
        &self,
        x: &SparseRows,
        w: &Tensor,
        bias: &Tensor,
        relu: bool,
    ) -> Result<Tensor, ComputeError> {
        out([bias.len(), x.rows()], k::sparse_dense(x, host(w)?, host(bias)?, relu))
    }

    fn audio_tower_forward(&self, tower: &AudioTower, windows: &Tensor) -> Result<Tensor, ComputeError> {
        let [_, batch, _] = checks::dims::<3>(windows, "windows")?;
        out([tower.fc.d_out, batch], k::audio_tower(tower, host(windows)?, batch))
    }
}
