//! Models on disk: `models/<name>/manifest.json` + `weights.safetensors` (PyTorch tensor
//! layouts; see `models/README.md`). Loading verifies the file's sha256, then every tensor's
//! name, shape, dtype and finiteness, and names the first thing that is wrong. `onnx` exports
//! a loaded model's towers as ONNX graphs.

mod manifest;
pub mod onnx;
pub mod weights;

pub use crate::nn::{AudioTowerSpec, FusionSpec, TextTowerSpec};
pub use manifest::{FORMAT, Manifest, Provenance, WeightsRef};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::nn::{AudioTower, Conv1d, Dense, TextTower};
use crate::spectral::MelParams;

/// Why a model directory could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("manifest {path}: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("manifest format {found:?} is not supported (this build reads {FORMAT:?})")]
    Format { found: String },
    #[error("weights file sha256 is {found}, the manifest says {expected}: the file was changed or corrupted")]
    Checksum { expected: String, found: String },
    #[error("not a safetensors file: {0}")]
    Safetensors(String),
    #[error("tensor {name:?} is missing from the weights")]
    MissingTensor { name: String },
    #[error("tensor {name:?} is not part of this architecture")]
    UnexpectedTensor { name: String },
    #[error("tensor {name:?} has shape {found:?}, the architecture needs {expected:?}")]
    Shape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("tensor {name:?} is {found}, expected F32")]
    Dtype { name: String, found: String },
    #[error("tensor {name:?} holds a non-finite value at index {index}")]
    NonFinite { name: String, index: usize },
    #[error("tensor {name:?}: {detail}")]
    Invalid { name: String, detail: String },
    #[error("invalid architecture: {0}")]
    Architecture(String),
}

/// A loaded model: its manifest and the towers built from its weights.
#[derive(Debug, Clone)]
pub struct Model {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub audio: AudioTower,
    pub text: TextTower,
    pub fusion: Dense,
}

impl Model {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn sha256(&self) -> &str {
        &self.manifest.weights.sha256
    }

    pub fn mel_params(&self) -> MelParams {
        self.manifest.mel
    }

    /// Reads and verifies `dir/manifest.json` and its weights.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|source| ModelError::Io { path: manifest_path.clone(), source })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| ModelError::Manifest { path: manifest_path.clone(), detail: e.to_string() })?;
        if manifest.format != FORMAT {
            return Err(ModelError::Format { found: manifest.format });
        }
        manifest.audio_tower.validate().map_err(ModelError::Architecture)?;
        if manifest.text_tower.feature_dim == 0 || manifest.text_tower.embedding_dim == 0 {
            return Err(ModelError::Architecture("the text tower needs positive dimensions".into()));
        }
        manifest.mel.validate().map_err(|e| ModelError::Manifest { path: manifest_path.clone(), detail: e })?;
        if manifest.mel.n_mels != manifest.audio_tower.n_mels {
            return Err(ModelError::Architecture(format!(
                "the spectrogram has {} bands but the audio tower reads {}",
                manifest.mel.n_mels, manifest.audio_tower.n_mels
            )));
        }
        let weights_path = dir.join(&manifest.weights.file);
        let bytes =
            std::fs::read(&weights_path).map_err(|source| ModelError::Io { path: weights_path.clone(), source })?;
        let found = sha256_hex(&bytes);
        if !found.eq_ignore_ascii_case(&manifest.weights.sha256) {
            return Err(ModelError::Checksum { expected: manifest.weights.sha256.clone(), found });
        }
        let mut tensors = weights::read(&bytes, &all_tensors(&manifest))?;
        let audio = build_audio_tower(&manifest, &mut tensors)?;
        let text = build_text_tower(&manifest, &mut tensors)?;
        let fusion = Dense {
            d_out: manifest.fusion.embedding_dim,
            d_in: manifest.audio_tower.embedding_dim + manifest.text_tower.embedding_dim,
            weight: tensors.remove("fusion.weight").expect("read() returned every expected tensor"),
            bias: tensors.remove("fusion.bias").expect("read() returned every expected tensor"),
        };
        Ok(Self { dir: dir.to_path_buf(), manifest, audio, text, fusion })
    }

    /// Seeded random weights for `spec` (He-uniform convs and dense, zero biases),
    /// placeholder input statistics and a flat IDF table; marked untrained.
    pub fn init(name: &str, seed: u64, spec: AudioTowerSpec, mel: MelParams, command: &str) -> (Manifest, Vec<u8>) {
        let text_tower = TextTowerSpec::default_spec();
        let fusion = FusionSpec { embedding_dim: spec.embedding_dim };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        let names = spec
            .tensors()
            .into_iter()
            .chain(text_tower.tensors())
            .chain(fusion.tensors(spec.embedding_dim, text_tower.embedding_dim));
        for (tname, shape) in names {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if tname == spec.input_mean {
                vec![-40.0; n]
            } else if tname == spec.input_std || tname == text_tower.idf {
                vec![if tname == spec.input_std { 20.0 } else { 1.0 }; n]
            } else if tname.ends_with(".bias") {
                vec![0.0; n]
            } else {
                let fan_in: usize = shape[1..].iter().product();
                let bound = (6.0 / fan_in as f64).sqrt() as f32;
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            tensors.push((tname, shape, values));
        }
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = weights::write(&tensors, metadata).expect("shapes come from the spec");
        let manifest = Manifest {
            format: FORMAT.into(),
            name: name.into(),
            version: "0.0.0-untrained".into(),
            trained: false,
            provenance: Provenance {
                method: format!(
                    "random init: He-uniform weights, zero biases, ChaCha8 seed {seed}; input statistics are placeholders (mean -40 dB, std 20 dB)"
                ),
                data: None,
                command: command.into(),
                created_at: now(),
                debut_version: env!("CARGO_PKG_VERSION").into(),
                seed: Some(seed),
                metrics: None,
            },
            mel,
            audio_tower: spec,
            text_tower,
            fusion,
            weights: WeightsRef { file: "weights.safetensors".into(), sha256: sha256_hex(&bytes) },
            training: None,
        };
        (manifest, bytes)
    }

    /// A trained model's manifest and weights file (PyTorch layouts) from host towers; the
    /// manifest's `weights` names the bytes returned.
    pub fn serialize(
        mut manifest: Manifest,
        audio: &AudioTower,
        text: &TextTower,
        fusion: &Dense,
    ) -> (Manifest, Vec<u8>) {
        let a = &manifest.audio_tower;
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
            (a.input_mean.clone(), vec![a.n_mels], audio.input_mean.clone()),
            (a.input_std.clone(), vec![a.n_mels], audio.input_std.clone()),
        ];
        for (i, c) in audio.convs.iter().enumerate() {
            tensors.push((format!("audio.conv{}.weight", i + 1), vec![c.c_out, c.c_in, c.k], c.pytorch_weight()));
            tensors.push((format!("audio.conv{}.bias", i + 1), vec![c.c_out], c.bias.clone()));
        }
        let dense = |name: &str, d: &Dense| {
            [
                (format!("{name}.weight"), vec![d.d_out, d.d_in], d.weight.clone()),
                (format!("{name}.bias"), vec![d.d_out], d.bias.clone()),
            ]
        };
        tensors.extend(dense("audio.fc", &audio.fc));
        tensors.push((manifest.text_tower.idf.clone(), vec![text.idf.len()], text.idf.clone()));
        for (i, l) in text.layers.iter().enumerate() {
            tensors.extend(dense(&format!("text.fc{}", i + 1), l));
        }
        tensors.extend(dense("fusion", fusion));
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = weights::write(&tensors, metadata).expect("shapes come from the towers");
        manifest.weights = WeightsRef { file: "weights.safetensors".into(), sha256: sha256_hex(&bytes) };
        (manifest, bytes)
    }

    /// Writes a manifest and its weights into `dir` (created if needed).
    pub fn save(dir: &Path, manifest: &Manifest, weights: &[u8]) -> Result<(), ModelError> {
        std::fs::create_dir_all(dir).map_err(|source| ModelError::Io { path: dir.to_path_buf(), source })?;
        let wpath = dir.join(&manifest.weights.file);
        std::fs::write(&wpath, weights).map_err(|source| ModelError::Io { path: wpath, source })?;
        let mpath = dir.join("manifest.json");
        let text = serde_json::to_string_pretty(manifest).expect("manifest serialises") + "\n";
        std::fs::write(&mpath, text).map_err(|source| ModelError::Io { path: mpath, source })
    }
}

/// RFC 3339 time now, for provenance.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every tensor the manifest's architecture needs.
fn all_tensors(m: &Manifest) -> Vec<(String, Vec<usize>)> {
    let mut t = m.audio_tower.tensors();
    t.extend(m.text_tower.tensors());
    t.extend(m.fusion.tensors(m.audio_tower.embedding_dim, m.text_tower.embedding_dim));
    t
}

fn build_text_tower(manifest: &Manifest, t: &mut HashMap<String, Vec<f32>>) -> Result<TextTower, ModelError> {
    let spec = manifest.text_tower.clone();
    let idf = t.remove(&spec.idf).expect("read() returned every expected tensor");
    if let Some(i) = idf.iter().position(|&v| v < 0.0) {
        return Err(ModelError::Invalid { name: spec.idf.clone(), detail: format!("feature {i} has a negative IDF") });
    }
    let mut layers = Vec::new();
    let mut d_in = spec.feature_dim;
    for (i, &d_out) in spec.hidden.iter().chain(std::iter::once(&spec.embedding_dim)).enumerate() {
        layers.push(Dense {
            d_out,
            d_in,
            weight: t.remove(&format!("text.fc{}.weight", i + 1)).expect("read() returned every expected tensor"),
            bias: t.remove(&format!("text.fc{}.bias", i + 1)).expect("read() returned every expected tensor"),
        });
        d_in = d_out;
    }
    Ok(TextTower { spec, idf, layers })
}

fn build_audio_tower(manifest: &Manifest, t: &mut HashMap<String, Vec<f32>>) -> Result<AudioTower, ModelError> {
    let spec = manifest.audio_tower.clone();
    let mut take = |name: &str| t.remove(name).expect("read() returned every expected tensor");
    let input_mean = take(&spec.input_mean);
    let input_std = take(&spec.input_std);
    if let Some(i) = input_std.iter().position(|&s| s <= 0.0) {
        return Err(ModelError::Invalid {
            name: spec.input_std.clone(),
            detail: format!("band {i} has a non-positive std"),
        });
    }
    let mut convs = Vec::new();
    let mut c_in = spec.n_mels;
    for (i, &c_out) in spec.channels.iter().enumerate() {
        let weight = take(&format!("audio.conv{}.weight", i + 1));
        convs.push(Conv1d::from_pytorch(c_out, c_in, spec.kernel, &weight, take(&format!("audio.conv{}.bias", i + 1))));
        c_in = c_out;
    }
    let fc =
        Dense { d_out: spec.embedding_dim, d_in: c_in, weight: take("audio.fc.weight"), bias: take("audio.fc.bias") };
    Ok(AudioTower { spec, input_mean, input_std, convs, fc })
}
