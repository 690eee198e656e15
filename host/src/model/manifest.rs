//! `manifest.json`: what a model is, how it was made, and what its weights file must hold.

use serde::{Deserialize, Serialize};

use crate::nn::{AudioTowerSpec, FusionSpec, TextTowerSpec};
use crate::spectral::MelParams;

/// The manifest format this build reads and writes.
pub const FORMAT: &str = "debut-model/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub name: String,
    pub version: String,
    /// False for seeded random weights (`debut model init`): embeddings are well-formed but
    /// carry no learned meaning.
    pub trained: bool,
    pub provenance: Provenance,
    /// The spectrogram the model was trained on; inference computes exactly this.
    pub mel: MelParams,
    pub audio_tower: AudioTowerSpec,
    pub text_tower: TextTowerSpec,
    pub fusion: FusionSpec,
    pub weights: WeightsRef,
    /// How the trainer was set up (every size and rate), for a trained model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// How the weights came about (e.g. "random init (Kaiming uniform), seed 1" or a training run).
    pub method: String,
    /// The data it learned from, if any.
    pub data: Option<String>,
    /// The command that produced it.
    pub command: String,
    /// RFC 3339 time of creation.
    pub created_at: String,
    pub debut_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The evaluation the model was shipped with (e.g. `debut eval`'s table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsRef {
    /// File name inside the model directory.
    pub file: String,
    /// Hex sha256 of that file.
    pub sha256: String,
}
