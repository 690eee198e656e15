//! The audio tower (DCUE's audio CNN) and the windows it reads.

use std::sync::Arc;

use super::{Activations, Conv1d, Dense};
use super::{AudioTowerSpec, TextTowerSpec};
use crate::spectral::MelSpectrogram;

/// Weights of the audio tower, ready for either backend. `id` names the weights (their
/// sha256) so a GPU backend uploads them once.
#[derive(Debug, Clone)]
pub struct AudioTower {
    pub id: String,
    pub spec: AudioTowerSpec,
    pub input_mean: Vec<f32>,
    pub input_std: Vec<f32>,
    pub convs: Vec<Conv1d>,
    pub fc: Dense,
    /// Conv weights split per tap (`[k][out][in]`, contiguous), for the CPU's shifted GEMMs.
    pub(crate) taps: Arc<Vec<Vec<Vec<f32>>>>,
}

impl AudioTower {
    pub fn new(
        id: String,
        spec: AudioTowerSpec,
        input_mean: Vec<f32>,
        input_std: Vec<f32>,
        convs: Vec<Conv1d>,
        fc: Dense,
    ) -> Self {
        let taps = Arc::new(convs.iter().map(|c| split_taps(&c.weight, c.c_out, c.c_in, c.k)).collect());
        Self { id, spec, input_mean, input_std, convs, fc, taps }
    }
}

/// `weight[out][in][k]` -> `taps[k][out][in]`.
pub(crate) fn split_taps(weight: &[f32], c_out: usize, c_in: usize, k: usize) -> Vec<Vec<f32>> {
    (0..k)
        .map(|kk| {
            let mut m = Vec::with_capacity(c_out * c_in);
            for o in 0..c_out {
                for i in 0..c_in {
                    m.push(weight[(o * c_in + i) * k + kk]);
                }
            }
            m
        })
        .collect()
}

/// Non-overlapping windows cut from one or more tracks' spectrograms, batched: `windows` is
/// `[n_mels, total windows, window_frames]`, track `i` owns windows
/// `offsets[i] .. offsets[i + 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackWindows {
    pub windows: Activations,
    pub offsets: Vec<usize>,
}

impl TrackWindows {
    /// Every whole window of each spectrogram (at least one: a shorter spectrogram is
    /// zero-padded, which the front end's padding makes rare).
    pub fn from_mels(mels: &[&MelSpectrogram], n_mels: usize, window_frames: usize) -> Result<Self, String> {
        let mut offsets = vec![0];
        for mel in mels {
            if mel.n_mels != n_mels {
                return Err(format!("spectrogram has {} bands, the model wants {n_mels}", mel.n_mels));
            }
            let n = (mel.n_frames / window_frames).max(1);
            offsets.push(offsets.last().copied().unwrap_or(0) + n);
        }
        let batch = *offsets.last().unwrap_or(&0);
        let mut windows = Activations::zeros(n_mels, batch, window_frames);
        for (i, mel) in mels.iter().enumerate() {
            for w in 0..offsets[i + 1] - offsets[i] {
                let b = offsets[i] + w;
                let first = w * window_frames;
                let len = window_frames.min(mel.n_frames.saturating_sub(first));
                for c in 0..n_mels {
                    let dst = (c * batch + b) * window_frames;
                    windows.data[dst..dst + len].copy_from_slice(&mel.band(c)[first..first + len]);
                }
            }
        }
        Ok(Self { windows, offsets })
    }

    pub fn tracks(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Weights of the text (artist) tower: the IDF table and the feed-forward layers.
#[derive(Debug, Clone)]
pub struct TextTower {
    pub spec: TextTowerSpec,
    pub idf: Vec<f32>,
    /// ReLU after every layer but the last.
    pub layers: Vec<Dense>,
}
