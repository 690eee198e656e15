//! Track embeddings: from clips' spectrograms to the records debut writes (the CLI's JSON
//! lines now, the service's output topic later; one schema for both).

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, ComputeError};
use crate::model::Model;
use crate::nn::TrackWindows;
use crate::spectral::MelSpectrogram;

/// Which inputs went into an embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Audio,
    Text,
}

/// The model that produced an embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// The feature plugin that read the artist's bio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
}

/// Where the input came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Source {
    Kafka { topic: String, partition: i32, offset: i64, ce_id: Option<String> },
    File { file: String },
}

/// One output record (`schemas/track-embedding.v1.json` once the service lands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackEmbedding {
    pub track_id: String,
    /// A UUID derived from `track_id` for stores whose ids must be UUIDs (Qdrant):
    /// `uuid5(NAMESPACE_URL, "debut:track/" + track_id)`.
    pub point_id: String,
    pub artist_id: Option<String>,
    pub label: Option<String>,
    pub embedding: Vec<f32>,
    pub modalities: Vec<Modality>,
    pub model: ModelRef,
    pub plugin: Option<PluginRef>,
    pub source: Source,
    /// RFC 3339.
    pub produced_at: String,
}

impl ModelRef {
    pub fn of(model: &Model) -> Self {
        Self {
            name: model.manifest.name.clone(),
            version: model.manifest.version.clone(),
            sha256: model.sha256().to_string(),
        }
    }
}

/// `TrackEmbedding::point_id` of a track.
pub fn point_id(track_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("debut:track/{track_id}").as_bytes()).to_string()
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Audio embeddings for many tracks: windows from all of them go through the tower in
/// batches of at most `max_batch` windows (a track's windows may span batches).
pub fn audio_embeddings(
    backend: &Backend,
    model: &Model,
    mels: &[&MelSpectrogram],
    max_batch: usize,
) -> Result<Vec<Vec<f32>>, ComputeError> {
    let spec = &model.audio.spec;
    let all = TrackWindows::from_mels(mels, spec.n_mels, spec.window_frames).map_err(ComputeError::Shape)?;
    let total = all.windows.batch;
    if total <= max_batch {
        let e = backend.embed_tracks(&model.audio, &all)?;
        return Ok((0..e.cols).map(|c| e.column(c)).collect());
    }
    // Per-window embeddings, batch by batch, then each track's mean and L2 norm.
    let mut per_window = vec![0.0f32; spec.embedding_dim * total];
    let mut start = 0;
    while start < total {
        let n = max_batch.max(1).min(total - start);
        let chunk = slice_windows(&all.windows, start, n);
        let out = backend.audio_tower(&model.audio, &chunk)?;
        for r in 0..out.rows {
            per_window[r * total + start..r * total + start + n].copy_from_slice(&out.data[r * n..(r + 1) * n]);
        }
        start += n;
    }
    let m = crate::nn::Matrix { rows: spec.embedding_dim, cols: total, data: per_window };
    let tracks = backend.l2_normalize(&backend.segment_mean(&m, &all.offsets)?)?;
    Ok((0..tracks.cols).map(|c| tracks.column(c)).collect())
}

fn slice_windows(x: &crate::nn::Activations, start: usize, n: usize) -> crate::nn::Activations {
    let mut out = crate::nn::Activations::zeros(x.channels, n, x.time);
    for c in 0..x.channels {
        let src = (c * x.batch + start) * x.time;
        out.data[c * n * x.time..(c + 1) * n * x.time].copy_from_slice(&x.data[src..src + n * x.time]);
    }
    out
}

/// tf-idf rows for the text tower: counts x the model's IDF, each row L2-normalised (an
/// all-zero row stays zero), as scikit-learn's `TfidfVectorizer` does.
pub fn tfidf(rows: &[&crate::plugin::SparseFeatures], idf: &[f32]) -> crate::nn::SparseRows {
    let mut x = crate::nn::SparseRows { dim: idf.len(), offsets: vec![0], indices: vec![], values: vec![] };
    for f in rows {
        let start = x.values.len();
        for &(i, v) in &f.entries {
            x.indices.push(i);
            x.values.push(v * idf.get(i as usize).copied().unwrap_or(0.0));
        }
        let norm = x.values[start..].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt() as f32;
        if norm > 0.0 {
            for v in &mut x.values[start..] {
                *v /= norm;
            }
        }
        x.offsets.push(x.values.len());
    }
    x
}

/// Artist embeddings for plugin outputs, through the model's text tower.
pub fn artist_embeddings(
    backend: &Backend,
    model: &Model,
    features: &[&crate::plugin::SparseFeatures],
) -> Result<Vec<Vec<f32>>, ComputeError> {
    if features.is_empty() {
        return Ok(Vec::new());
    }
    let x = tfidf(features, &model.text.idf);
    let e = backend.text_tower(&model.text, &x)?;
    Ok((0..e.cols).map(|c| e.column(c)).collect())
}

/// Track embeddings from audio embeddings and, where known, artist embeddings (a zero artist
/// half otherwise).
pub fn fused_embeddings(
    backend: &Backend,
    model: &Model,
    pairs: &[(&[f32], Option<&[f32]>)],
) -> Result<Vec<Vec<f32>>, ComputeError> {
    let n = pairs.len();
    let (da, dt) = (model.audio.spec.embedding_dim, model.text.spec.embedding_dim);
    let mut audio = crate::nn::Matrix { rows: da, cols: n, data: vec![0.0; da * n] };
    let mut artist = crate::nn::Matrix { rows: dt, cols: n, data: vec![0.0; dt * n] };
    for (c, (a, t)) in pairs.iter().enumerate() {
        for (r, v) in a.iter().enumerate().take(da) {
            audio.data[r * n + c] = *v;
        }
        if let Some(t) = t {
            for (r, v) in t.iter().enumerate().take(dt) {
                artist.data[r * n + c] = *v;
            }
        }
    }
    let f = backend.fuse(&model.fusion, &audio, &artist)?;
    Ok((0..f.cols).map(|c| f.column(c)).collect())
}
