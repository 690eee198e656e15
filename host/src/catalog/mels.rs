//! The catalog's log-mel spectrograms, cached on disk so audio is decoded once across runs.
//!
//! `DIR/.debut-cache/mels-<key>/` holds `mels.f16` (every track's spectrogram, frame-major
//! `[frames][n_mels]`, f16, one after another) and `index.json` (where each track starts, its
//! frame count, and the size and mtime of the audio it came from). A training window is then
//! one positional read of `window_frames * n_mels * 2` bytes, through the page cache: a
//! catalog larger than memory streams from disk, and no `unsafe` memory map is needed. The
//! key hashes the mel and decode settings; a changed audio file rebuilds the cache.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogError};
use crate::audio::SourceHint;
use crate::frontend::Frontend;

/// Where one track's spectrogram lies, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub audio: PathBuf,
    pub audio_bytes: u64,
    pub audio_mtime_s: u64,
    /// Offset in values (not bytes) into `mels.f16`.
    pub offset: u64,
    pub frames: usize,
    /// A decode error: the track has no spectrogram and is left out of training.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Index {
    key: String,
    n_mels: usize,
    entries: Vec<Entry>,
}

/// The open cache: one entry per catalog track.
pub struct MelCache {
    file: File,
    pub dir: PathBuf,
    pub n_mels: usize,
    pub entries: Vec<Entry>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CatalogError + '_ {
    move |source| CatalogError::Io { path: path.to_path_buf(), source }
}

fn stamp(path: &Path) -> (u64, u64) {
    std::fs::metadata(path)
        .map(|m| {
            let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            (m.len(), mtime.map_or(0, |d| d.as_secs()))
        })
        .unwrap_or((0, 0))
}

impl MelCache {
    /// Opens the catalog's cache for `frontend`'s settings, decoding whatever is missing or
    /// changed (all of it, then, in parallel), with a progress bar unless `quiet`.
    pub fn open(catalog: &Catalog, frontend: &Frontend, quiet: bool) -> Result<Self, CatalogError> {
        let audio: Vec<PathBuf> = catalog.tracks.iter().map(|t| t.audio.clone()).collect();
        Self::open_files(&catalog.dir, &audio, frontend, quiet)
    }

    /// The same for any list of audio files, cached under `root/.debut-cache/`.
    pub fn open_files(root: &Path, audio: &[PathBuf], frontend: &Frontend, quiet: bool) -> Result<Self, CatalogError> {
        let key = crate::model::sha256_hex(format!("{:?} {:?}", frontend.plan.params, frontend.audio).as_bytes());
        let dir = root.join(".debut-cache").join(format!("mels-{}", &key[..16]));
        let (index_path, data_path) = (dir.join("index.json"), dir.join("mels.f16"));
        let stamps: Vec<(u64, u64)> = audio.iter().map(|a| stamp(a)).collect();
        let fresh = std::fs::read_to_string(&index_path)
            .ok()
            .and_then(|s| serde_json::from_str::<Index>(&s).ok())
            .filter(|ix| {
                ix.key == key
                    && ix.entries.len() == audio.len()
                    && ix
                        .entries
                        .iter()
                        .zip(audio)
                        .zip(&stamps)
                        .all(|((e, a), s)| e.audio == *a && (e.audio_bytes, e.audio_mtime_s) == *s)
            });
        let index = match fresh {
            Some(ix) if data_path.is_file() => ix,
            _ => build(audio, frontend, &dir, &key, &stamps, quiet)?,
        };
        let file = File::open(&data_path).map_err(io(&data_path))?;
        Ok(Self { file, dir, n_mels: index.n_mels, entries: index.entries })
    }

    /// Tracks with a spectrogram.
    pub fn usable(&self, track: usize) -> bool {
        self.entries[track].error.is_none() && self.entries[track].frames > 0
    }

    pub fn frames(&self, track: usize) -> usize {
        self.entries[track].frames
    }

    /// Frames `start .. start + len` of a track, band-major, into `out[band * stride ..]`
    /// (`stride` apart; zeros past the track's end).
    pub fn read_window(
        &self,
        track: usize,
        start: usize,
        len: usize,
        out: &mut [f32],
        stride: usize,
    ) -> Result<(), CatalogError> {
        let e = &self.entries[track];
        let n = self.n_mels;
        let have = len.min(e.frames.saturating_sub(start));
        let mut raw = vec![0u8; have * n * 2];
        let at = (e.offset + (start * n) as u64) * 2;
        self.file.read_exact_at(&mut raw, at).map_err(io(&self.dir))?;
        let mut values = vec![0.0f32; have * n];
        let halves: Vec<f16> = raw.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]])).collect();
        halves.convert_to_f32_slice(&mut values);
        for band in 0..n {
            let dst = &mut out[band * stride..band * stride + len];
            for (f, d) in dst.iter_mut().enumerate() {
                *d = if f < have { values[f * n + band] } else { 0.0 };
            }
        }
        Ok(())
    }

    /// A whole track's spectrogram, band-major `[n_mels, frames]`.
    pub fn read_track(&self, track: usize) -> Result<crate::spectral::MelSpectrogram, CatalogError> {
        let frames = self.frames(track);
        let mut data = vec![0.0; self.n_mels * frames];
        self.read_window(track, 0, frames, &mut data, frames)?;
        Ok(crate::spectral::MelSpectrogram { n_mels: self.n_mels, n_frames: frames, data })
    }
}

fn build(
    audio: &[PathBuf],
    frontend: &Frontend,
    dir: &Path,
    key: &str,
    stamps: &[(u64, u64)],
    quiet: bool,
) -> Result<Index, CatalogError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let data_path = dir.join("mels.f16");
    let tmp = dir.join("mels.f16.partial");
    let mut out = BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
    let bar = crate::progress::bar(audio.len() as u64, "decoding audio into the mel cache", quiet);
    let n_mels = frontend.plan.params.n_mels;
    let mut entries = Vec::with_capacity(audio.len());
    let mut offset = 0u64;
    // Chunks bound memory: decode a chunk in parallel, append it in order.
    for chunk in audio.chunks(64).enumerate() {
        let (c, tracks) = chunk;
        let mels: Vec<Result<crate::spectral::MelSpectrogram, String>> = tracks
            .par_iter()
            .map(|a| {
                let bytes = std::fs::read(a).map_err(|e| format!("{}: {e}", a.display()))?;
                frontend.analyse(bytes, &SourceHint::from_path(a)).map(|x| x.mel).map_err(|e| e.to_string())
            })
            .collect();
        for (i, (t, mel)) in tracks.iter().zip(mels).enumerate() {
            let (audio_bytes, audio_mtime_s) = stamps[c * 64 + i];
            let mut entry = Entry { audio: t.clone(), audio_bytes, audio_mtime_s, offset, frames: 0, error: None };
            match mel {
                Ok(mel) => {
                    let mut frame_major = vec![0.0f32; mel.data.len()];
                    for band in 0..mel.n_mels {
                        for (f, v) in mel.band(band).iter().enumerate() {
                            frame_major[f * mel.n_mels + band] = *v;
                        }
                    }
                    let mut halves = vec![f16::ZERO; frame_major.len()];
                    halves.convert_from_f32_slice(&frame_major);
                    let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
                    out.write_all(&bytes).map_err(io(&tmp))?;
                    entry.frames = mel.n_frames;
                    offset += frame_major.len() as u64;
                }
                Err(e) => entry.error = Some(e),
            }
            entries.push(entry);
            bar.inc(1);
        }
    }
    out.flush().map_err(io(&tmp))?;
    drop(out);
    std::fs::rename(&tmp, &data_path).map_err(io(&data_path))?;
    bar.finish_and_clear();
    let index = Index { key: key.to_string(), n_mels, entries };
    let index_path = dir.join("index.json");
    std::fs::write(&index_path, serde_json::to_string(&index).expect("index serialises")).map_err(io(&index_path))?;
    Ok(index)
}
