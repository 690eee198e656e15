//! Architecture specs: the sizes of each tower, as the model manifest records them.

use serde::{Deserialize, Serialize};

/// DCUE's audio model, parameterised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioTowerSpec {
    /// Mel bands in (= input channels).
    pub n_mels: usize,
    /// Frames per window (128 frames of hop 512 at 22 050 Hz is about 3 s).
    pub window_frames: usize,
    /// Output channels of each [Conv1d(k, same) -> ReLU -> MaxPool(pool)] block.
    pub channels: Vec<usize>,
    pub kernel: usize,
    pub pool: usize,
    /// Width of the final dense feature layer (no ReLU after it).
    pub embedding_dim: usize,
    /// Tensor names of the per-band input normalisation (training-set statistics).
    pub input_mean: String,
    pub input_std: String,
}

impl AudioTowerSpec {
    /// DCUE: 5 blocks of widths 128, 128, 256, 256, 512, kernel 3, pool 2, dense to 200.
    pub fn dcue() -> Self {
        Self {
            n_mels: 128,
            window_frames: 128,
            channels: vec![128, 128, 256, 256, 512],
            kernel: 3,
            pool: 2,
            embedding_dim: 200,
            input_mean: "audio.input_norm.mean".into(),
            input_std: "audio.input_norm.std".into(),
        }
    }

    /// Every tensor the weights file must hold: (name, shape), PyTorch layouts.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut t = vec![(self.input_mean.clone(), vec![self.n_mels]), (self.input_std.clone(), vec![self.n_mels])];
        let mut c_in = self.n_mels;
        for (i, &c_out) in self.channels.iter().enumerate() {
            t.push((format!("audio.conv{}.weight", i + 1), vec![c_out, c_in, self.kernel]));
            t.push((format!("audio.conv{}.bias", i + 1), vec![c_out]));
            c_in = c_out;
        }
        t.push(("audio.fc.weight".into(), vec![self.embedding_dim, c_in]));
        t.push(("audio.fc.bias".into(), vec![self.embedding_dim]));
        t
    }

    /// Multiply-adds x 2 for one window.
    pub fn flops_per_window(&self) -> u64 {
        let (mut c_in, mut t, mut flops) = (self.n_mels as u64, self.window_frames as u64, 0u64);
        for &c_out in &self.channels {
            flops += 2 * c_out as u64 * c_in * self.kernel as u64 * t;
            c_in = c_out as u64;
            t /= self.pool as u64;
        }
        flops + 2 * c_in * self.embedding_dim as u64
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.channels.is_empty() || self.kernel.is_multiple_of(2) || self.pool == 0 {
            return Err("need at least one block, an odd kernel and a pool of at least 1".into());
        }
        let final_t = self.window_frames / self.pool.pow(self.channels.len() as u32);
        if final_t == 0 {
            return Err(format!(
                "{} frames cannot be pooled by {} through {} blocks",
                self.window_frames,
                self.pool,
                self.channels.len()
            ));
        }
        if self.n_mels == 0 || self.embedding_dim == 0 || self.channels.contains(&0) {
            return Err("dimensions must be positive".into());
        }
        Ok(())
    }
}

/// The artist tower of Oramas et al.: sparse bio features from the label's plugin, weighted
/// by the model's IDF table (tf-idf) and L2-normalised, then a feed-forward net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextTowerSpec {
    /// Width of the plugins' feature space; a plugin with another width is refused.
    pub feature_dim: usize,
    /// Hidden layer widths (ReLU after each).
    pub hidden: Vec<usize>,
    pub embedding_dim: usize,
    /// Tensor name of the IDF table `[feature_dim]`.
    pub idf: String,
    /// The feature plugin whose feature space the tower learned (its sha256); a trained
    /// tower reads other plugins' features as noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_sha256: Option<String>,
}

impl TextTowerSpec {
    pub fn default_spec() -> Self {
        Self { feature_dim: 4096, hidden: vec![256], embedding_dim: 200, idf: "text.idf".into(), plugin_sha256: None }
    }

    /// Oramas et al. §3.1: two hidden layers of 2048.
    pub fn oramas() -> Self {
        Self { hidden: vec![2048, 2048], ..Self::default_spec() }
    }

    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut t = vec![(self.idf.clone(), vec![self.feature_dim])];
        let mut d_in = self.feature_dim;
        for (i, &d_out) in self.hidden.iter().chain(std::iter::once(&self.embedding_dim)).enumerate() {
            t.push((format!("text.fc{}.weight", i + 1), vec![d_out, d_in]));
            t.push((format!("text.fc{}.bias", i + 1), vec![d_out]));
            d_in = d_out;
        }
        t
    }
}

/// Late fusion: `[audio; artist]` (each L2-normalised) through one dense layer, then
/// L2-normalised. A track without a bio goes through with a zero artist half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionSpec {
    pub embedding_dim: usize,
}

impl FusionSpec {
    pub fn tensors(&self, audio_dim: usize, text_dim: usize) -> Vec<(String, Vec<usize>)> {
        vec![
            ("fusion.weight".into(), vec![self.embedding_dim, audio_dim + text_dim]),
            ("fusion.bias".into(), vec![self.embedding_dim]),
        ]
    }
}
