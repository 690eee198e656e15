//! The audio tower (DCUE's audio CNN) and the windows it reads.

use super::{Activations, Conv1d, Dense};
use super::{AudioTowerSpec, TextTowerSpec};
use crate::spectral::MelSpectrogram;

/// Weights of the audio tower (host memory), for either backend.
#[derive(Debug, Clone)]
pub struct AudioTower {
    pub spec: AudioTowerSpec,
    pub input_mean: Vec<f32>,
    pub input_std: Vec<f32>,
    pub convs: Vec<Conv1d>,
    pub fc: Dense,
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
