//! A teacher's embeddings of music, computed once outside debut (`models/scripts/
//! teacher_musicnn.py`): one `[patches, dim]` f32 tensor per track, patches of
//! `patch_seconds` every `hop_seconds` from the start of the file, in one safetensors file
//! keyed by the track's path relative to the music directory. Pretraining regresses them
//! (distillation); `debut eval-audio` scores the teacher itself beside debut's towers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use safetensors::{Dtype, SafeTensors};

/// Every track's patch embeddings.
pub struct TeacherEmbeddings {
    /// What the embeddings are (the file's `model` metadata).
    pub model: String,
    pub dim: usize,
    pub patch_seconds: f64,
    pub hop_seconds: f64,
    tracks: HashMap<PathBuf, Vec<f32>>,
}

impl TeacherEmbeddings {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes).with_context(|| format!("{}", path.display()))?;
        let info = meta.metadata().clone().unwrap_or_default();
        let number = |key: &str| -> anyhow::Result<f64> {
            info.get(key)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
                .with_context(|| format!("{}: metadata `{key}` missing or not a positive number", path.display()))
        };
        let (patch_seconds, hop_seconds) = (number("patch_seconds")?, number("hop_seconds")?);
        let st = SafeTensors::deserialize(&bytes).with_context(|| format!("{}", path.display()))?;
        let mut tracks = HashMap::new();
        let mut dim = None;
        for (name, view) in st.tensors() {
            anyhow::ensure!(
                view.dtype() == Dtype::F32 && view.shape().len() == 2 && view.shape()[0] > 0,
                "{}: tensor {name} is not a non-empty [patches, dim] f32 matrix",
                path.display()
            );
            let d = *dim.get_or_insert(view.shape()[1]);
            anyhow::ensure!(
                view.shape()[1] == d,
                "{}: tensor {name} has dim {}, not {d}",
                path.display(),
                view.shape()[1]
            );
            let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            tracks.insert(PathBuf::from(name), data);
        }
        Ok(Self {
            model: info.get("model").cloned().unwrap_or_else(|| "teacher".into()),
            dim: dim.context("no tensors")?,
            patch_seconds,
            hop_seconds,
            tracks,
        })
    }

    /// The patch embeddings of the track at `relative` (its path under the music directory).
    pub fn track(&self, relative: &Path) -> Option<TrackPatches<'_>> {
        let data = self.tracks.get(relative)?;
        Some(TrackPatches { data, dim: self.dim, patch: self.patch_seconds, hop: self.hop_seconds })
    }
}

/// One track's patches.
#[derive(Clone, Copy)]
pub struct TrackPatches<'a> {
    data: &'a [f32],
    dim: usize,
    patch: f64,
    hop: f64,
}

impl<'a> TrackPatches<'a> {
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// About how long the track is (the patches cover it up to one hop).
    pub fn seconds(&self) -> f64 {
        (self.len() - 1) as f64 * self.hop + self.patch
    }

    /// The patch whose centre is nearest `seconds` from the start of the file.
    pub fn at(&self, seconds: f64) -> &'a [f32] {
        let i = ((seconds - self.patch / 2.0) / self.hop).round().clamp(0.0, (self.len() - 1) as f64) as usize;
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The mean of the patches whose centres lie in `[from, to)` seconds (the nearest patch
    /// when none does).
    pub fn mean(&self, from: f64, to: f64) -> Vec<f32> {
        let mut sum = vec![0.0f32; self.dim];
        let mut n = 0;
        for i in 0..self.len() {
            let centre = i as f64 * self.hop + self.patch / 2.0;
            if centre >= from && centre < to {
                for (s, v) in sum.iter_mut().zip(&self.data[i * self.dim..(i + 1) * self.dim]) {
                    *s += v;
                }
                n += 1;
            }
        }
        if n == 0 {
            return self.at((from + to) / 2.0).to_vec();
        }
        sum.iter().map(|s| s / n as f32).collect()
    }

    /// Where the centre `span` seconds of the track begin (debut analyses the centre of a
    /// track longer than its span).
    pub fn centre_start(&self, span: f64) -> f64 {
        ((self.seconds() - span) / 2.0).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_by_time() {
        let data: Vec<f32> = (0..10).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let p = TrackPatches { data: &data, dim: 2, patch: 3.0, hop: 1.5 };
        assert_eq!(p.len(), 10);
        assert_eq!(p.seconds(), 9.0 * 1.5 + 3.0);
        assert_eq!(p.at(0.0), &[0.0, 0.0]);
        assert_eq!(p.at(1.5 + 1.5), &[1.0, -1.0]);
        assert_eq!(p.at(1e9), &[9.0, -9.0]);
        // Centres 1.5, 3.0, 4.5 lie in [1.0, 5.0).
        assert_eq!(p.mean(1.0, 5.0), vec![1.0, -1.0]);
        assert_eq!(p.centre_start(30.0), 0.0);
        assert_eq!(p.centre_start(10.5), 3.0);
    }
}
