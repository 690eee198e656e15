//! `debut eval-audio`: what an audio tower knows about real music, without play data.
//!
//! Tracks are grouped (by package of the free-music manifest, or by first-level directory),
//! and each track is seen as `debut embed` sees it: the centre clip (30 s), its log-mel, the
//! tower's mean-pooled, L2-normalised embedding. Reported for the model, for seeded random
//! weights of the same architecture, and for MFCC statistics:
//! - same-group retrieval: leave-one-out mAP and P@5 by cosine (a query's relevant items are
//!   the other tracks of its group);
//! - segment-to-track identification: the clip's two halves embedded apart, top-1 accuracy of
//!   finding a track's second half from its first among every track's second half;
//! - collapse checks (Wang & Isola 2020): per-dimension spread of the unit vectors, alignment
//!   (mean squared distance between a track's two halves), uniformity (log mean Gaussian
//!   potential between tracks, lower is more uniform).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::metrics::average_precision_at;
use crate::audio::SourceHint;
use crate::catalog::teacher::TeacherEmbeddings;
use crate::frontend::Frontend;
use crate::model::Model;
use crate::spectral::MelSpectrogram;

/// Packages of the free-music manifest (`models/scripts/fetch_music.py`) that no pretraining
/// run may see: the evaluation's held-out music, varied in style (124 of the 382 tracks, 6.0 of
/// the 17.9 hours).
pub const HELD_OUT_PACKAGES: &[&str] = &[
    "supertux-data",
    "hedgewars-data",
    "freedroidrpg-data",
    "flare-game",
    "warmux-data",
    "frozen-bubble-data",
    "enigma-data",
    "fretsonfire-songs-muldjord",
    "asc-music",
];

/// MFCC coefficients kept (librosa's default `n_mfcc`).
const N_MFCC: usize = 20;

/// A track to evaluate and its group.
#[derive(Debug, Clone)]
pub struct MusicTrack {
    pub path: PathBuf,
    pub group: String,
}

#[derive(Deserialize)]
struct ManifestRow {
    package: String,
    file: String,
}

/// Every track under `dir`: from its `manifest.jsonl` when there is one (the fetch script's;
/// groups are packages), else every file below each first-level directory, grouped by it.
pub fn all_music_tracks(dir: &Path) -> anyhow::Result<Vec<MusicTrack>> {
    let manifest = dir.join("manifest.jsonl");
    let mut tracks = Vec::new();
    if manifest.is_file() {
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: ManifestRow =
                serde_json::from_str(line).with_context(|| format!("{} line {}", manifest.display(), i + 1))?;
            tracks.push(MusicTrack { path: dir.join(&row.file), group: row.package });
        }
    } else {
        let mut groups: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        groups.sort();
        for g in groups {
            let name = g.file_name().unwrap_or_default().to_string_lossy().to_string();
            for path in files_below(&g)? {
                tracks.push(MusicTrack { path, group: name.clone() });
            }
        }
    }
    Ok(tracks)
}

/// The tracks to evaluate: those of `packages`, by default the [`HELD_OUT_PACKAGES`] when
/// `dir` is the fetch script's (has a manifest), every group otherwise.
pub fn music_tracks(dir: &Path, packages: Option<&[String]>) -> anyhow::Result<Vec<MusicTrack>> {
    let all = all_music_tracks(dir)?;
    let wanted: Option<Vec<String>> = match packages {
        Some(p) => Some(p.to_vec()),
        None if dir.join("manifest.jsonl").is_file() => Some(HELD_OUT_PACKAGES.iter().map(|s| s.to_string()).collect()),
        None => None,
    };
    Ok(all.into_iter().filter(|t| wanted.as_ref().is_none_or(|w| w.contains(&t.group))).collect())
}

fn files_below(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// MFCC statistics of a log-mel spectrogram (dB): the orthonormal DCT-II over bands (as
/// librosa's `mfcc` on a dB mel), first [`N_MFCC`] coefficients, mean and standard deviation
/// over frames.
pub fn mfcc_stats(mel: &MelSpectrogram) -> Vec<f32> {
    let (m, t) = (mel.n_mels, mel.n_frames);
    let mut sum = [0.0f64; N_MFCC];
    let mut sq = [0.0f64; N_MFCC];
    let basis = dct_basis(m, N_MFCC);
    for f in 0..t {
        for (k, row) in basis.iter().enumerate() {
            let c: f64 = (0..m).map(|b| row[b] * f64::from(mel.data[b * t + f])).sum();
            sum[k] += c;
            sq[k] += c * c;
        }
    }
    let n = t.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq.iter().zip(&mean).map(|(q, mu)| (q / n - mu * mu).max(0.0).sqrt());
    mean.iter().copied().chain(std).map(|v| v as f32).collect()
}

/// Rows of the orthonormal DCT-II: `c_k = s_k sum_b x_b cos(pi k (2b + 1) / 2m)`.
pub fn dct_basis(m: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k)
        .map(|k| {
            let s = if k == 0 { (1.0 / m as f64).sqrt() } else { (2.0 / m as f64).sqrt() };
            (0..m).map(|b| s * (std::f64::consts::PI * k as f64 * (2 * b + 1) as f64 / (2 * m) as f64).cos()).collect()
        })
        .collect()
}

/// One representation of every track: the whole clip and its two halves.
pub struct Views {
    pub whole: Vec<Vec<f32>>,
    pub first: Vec<Vec<f32>>,
    pub second: Vec<Vec<f32>>,
}

/// The figures of one representation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MusicRow {
    pub model: String,
    pub map: f64,
    pub p_at_5: f64,
    pub identification_top1: f64,
    pub dim_std_mean: f64,
    pub dim_std_min: f64,
    pub alignment: f64,
    pub uniformity: f64,
}

/// The figures of `views` given each track's group.
pub fn score(name: &str, views: &Views, groups: &[String]) -> MusicRow {
    let whole = unit_rows(&views.whole);
    let (first, second) = (unit_rows(&views.first), unit_rows(&views.second));
    let (map, p_at_5) = retrieval(&whole, groups);
    let n = first.len();
    let top1 = (0..n)
        .filter(|&i| {
            let s: Vec<f32> = second.iter().map(|b| dot(&first[i], b)).collect();
            (0..n).all(|j| j == i || s[j] < s[i])
        })
        .count() as f64
        / n.max(1) as f64;
    let (dim_std_mean, dim_std_min) = spread(&whole);
    let alignment = first.iter().zip(&second).map(|(a, b)| sq_dist(a, b)).sum::<f64>() / n.max(1) as f64;
    let mut potential = 0.0f64;
    let mut pairs = 0usize;
    for i in 0..whole.len() {
        for j in i + 1..whole.len() {
            potential += (-2.0 * sq_dist(&whole[i], &whole[j])).exp();
            pairs += 1;
        }
    }
    let uniformity = (potential / pairs.max(1) as f64).ln();
    MusicRow {
        model: name.to_string(),
        map,
        p_at_5,
        identification_top1: top1,
        dim_std_mean,
        dim_std_min,
        alignment,
        uniformity,
    }
}

/// Leave-one-out mAP and P@5 by cosine over queries whose group has another track.
pub fn retrieval(unit: &[Vec<f32>], groups: &[String]) -> (f64, f64) {
    let (mut ap_sum, mut p5_sum, mut queries) = (0.0, 0.0, 0usize);
    for i in 0..unit.len() {
        let others: Vec<usize> = (0..unit.len()).filter(|&j| j != i).collect();
        let scores: Vec<f32> = others.iter().map(|&j| dot(&unit[i], &unit[j])).collect();
        let labels: Vec<bool> = others.iter().map(|&j| groups[j] == groups[i]).collect();
        let Some(ap) = average_precision_at(&scores, &labels, others.len()) else { continue };
        let mut order: Vec<usize> = (0..others.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let k = order.len().min(5);
        p5_sum += order[..k].iter().filter(|&&r| labels[r]).count() as f64 / k as f64;
        ap_sum += ap;
        queries += 1;
    }
    let q = queries.max(1) as f64;
    (ap_sum / q, p5_sum / q)
}

fn spread(unit: &[Vec<f32>]) -> (f64, f64) {
    let Some(d) = unit.first().map(Vec::len) else { return (0.0, 0.0) };
    let n = unit.len() as f64;
    let stds: Vec<f64> = (0..d)
        .map(|k| {
            let mean = unit.iter().map(|v| f64::from(v[k])).sum::<f64>() / n;
            (unit.iter().map(|v| (f64::from(v[k]) - mean).powi(2)).sum::<f64>() / n).sqrt()
        })
        .collect();
    (stds.iter().sum::<f64>() / d as f64, stds.iter().copied().fold(f64::INFINITY, f64::min))
}

fn unit_rows(rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    rows.iter()
        .map(|r| {
            let norm = r.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
            r.iter().map(|v| if norm > 0.0 { (f64::from(*v) / norm) as f32 } else { 0.0 }).collect()
        })
        .collect()
}

/// Each dimension scaled to zero mean and unit variance over the tracks (MFCC statistics
/// mix coefficients of very different scales; without this c0 alone decides the cosine).
pub fn standardise(rows: &mut [Vec<f32>], stats_from: &[Vec<f32>]) {
    let Some(d) = stats_from.first().map(Vec::len) else { return };
    let n = stats_from.len() as f64;
    for k in 0..d {
        let mean = stats_from.iter().map(|v| f64::from(v[k])).sum::<f64>() / n;
        let std = (stats_from.iter().map(|v| (f64::from(v[k]) - mean).powi(2)).sum::<f64>() / n).sqrt().max(1e-9);
        for r in rows.iter_mut() {
            r[k] = ((f64::from(r[k]) - mean) / std) as f32;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
}

/// A track's spectrograms: the whole centre clip and its two halves.
pub struct TrackMels {
    pub whole: MelSpectrogram,
    pub first: MelSpectrogram,
    pub second: MelSpectrogram,
}

/// Decodes and analyses a track as `debut embed` does, then splits its frames in two.
pub fn track_mels(fe: &Frontend, path: &Path) -> anyhow::Result<TrackMels> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let a = fe.analyse(bytes, &SourceHint::from_path(path)).with_context(|| format!("analysing {}", path.display()))?;
    let mel = a.mel;
    let half = mel.n_frames / 2;
    let part = |from: usize, to: usize| MelSpectrogram {
        n_mels: mel.n_mels,
        n_frames: to - from,
        data: (0..mel.n_mels).flat_map(|b| mel.band(b)[from..to].to_vec()).collect(),
    };
    Ok(TrackMels { first: part(0, half), second: part(half, mel.n_frames), whole: mel })
}

/// The audio tower's views of every track, in batches.
pub fn tower_views(fe: &Frontend, model: &Model, mels: &[TrackMels]) -> anyhow::Result<Views> {
    let embed = |pick: fn(&TrackMels) -> &MelSpectrogram| -> anyhow::Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(mels.len());
        for chunk in mels.chunks(16) {
            let refs: Vec<&MelSpectrogram> = chunk.iter().map(pick).collect();
            out.extend(crate::embedding::audio_embeddings(&fe.backend, model, &refs, 512)?);
        }
        Ok(out)
    };
    Ok(Views { whole: embed(|m| &m.whole)?, first: embed(|m| &m.first)?, second: embed(|m| &m.second)? })
}

/// MFCC statistics of every track, standardised on the whole clips' statistics.
pub fn mfcc_views(mels: &[TrackMels]) -> Views {
    let mut whole: Vec<Vec<f32>> = mels.iter().map(|m| mfcc_stats(&m.whole)).collect();
    let mut first: Vec<Vec<f32>> = mels.iter().map(|m| mfcc_stats(&m.first)).collect();
    let mut second: Vec<Vec<f32>> = mels.iter().map(|m| mfcc_stats(&m.second)).collect();
    let reference = whole.clone();
    standardise(&mut whole, &reference);
    standardise(&mut first, &reference);
    standardise(&mut second, &reference);
    Views { whole, first, second }
}

/// The table `debut eval-audio` prints.
pub fn table(rows: &[MusicRow], tracks: usize, groups: usize) -> String {
    let mut s = format!(
        "real-music evaluation: {tracks} tracks in {groups} groups (centre clip as `debut embed` sees it)\n{:<26} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11}\n",
        "model", "mAP", "P@5", "ident@1", "dim std", "min std", "align", "uniformity"
    );
    for r in rows {
        s += &format!(
            "{:<26} {:>7.4} {:>7.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>11.4}\n",
            r.model, r.map, r.p_at_5, r.identification_top1, r.dim_std_mean, r.dim_std_min, r.alignment, r.uniformity
        );
    }
    s
}

/// Every figure for `model`, for seeded random weights of its architecture and for MFCC
/// statistics. Tracks that fail to decode are reported and left out.
pub fn evaluate_music(
    fe: &Frontend,
    model: &Model,
    tracks: &[MusicTrack],
    random_seed: u64,
    quiet: bool,
) -> anyhow::Result<(Vec<MusicRow>, Vec<MusicTrack>)> {
    let bar = crate::progress::bar(tracks.len() as u64, "decoding", quiet);
    let mut mels = Vec::new();
    let mut kept = Vec::new();
    for t in tracks {
        match track_mels(fe, &t.path) {
            Ok(m) => {
                mels.push(m);
                kept.push(t.clone());
            }
            Err(e) => tracing::warn!(path = %t.path.display(), "left out: {e:#}"),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    anyhow::ensure!(kept.len() >= 2, "fewer than two tracks decoded: nothing to retrieve");
    let groups: Vec<String> = kept.iter().map(|t| t.group.clone()).collect();
    let random = random_like(model, random_seed)?;
    let trained = if model.manifest.trained { "model" } else { "model (untrained)" };
    let rows = vec![
        score(trained, &tower_views(fe, model, &mels)?, &groups),
        score(&format!("random (seed {random_seed})"), &tower_views(fe, &random, &mels)?, &groups),
        score("mfcc stats", &mfcc_views(&mels), &groups),
        score("random vectors", &random_views(mels.len(), model.audio.spec.embedding_dim, random_seed), &groups),
    ];
    Ok((rows, kept))
}

/// A teacher's views of `tracks` (`models/scripts/teacher_musicnn.py`: musicnn's), over the
/// same centre clip of `span` seconds and its halves: the mean of its patches there. `None`
/// when the teacher has not heard every track.
pub fn teacher_views(teacher: &TeacherEmbeddings, dir: &Path, tracks: &[MusicTrack], span: f64) -> Option<Views> {
    let mut views = Views { whole: Vec::new(), first: Vec::new(), second: Vec::new() };
    for t in tracks {
        let p = teacher.track(t.path.strip_prefix(dir).ok()?)?;
        let start = p.centre_start(span);
        let end = (start + span).min(p.seconds());
        let mid = (start + end) / 2.0;
        views.whole.push(p.mean(start, end));
        views.first.push(p.mean(start, mid));
        views.second.push(p.mean(mid, end));
    }
    Some(views)
}

/// Independent random vectors for every view: the chance level of each figure.
fn random_views(n: usize, dim: usize, seed: u64) -> Views {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || (0..n).map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect();
    Views { whole: draw(), first: draw(), second: draw() }
}

/// Seeded random weights of `model`'s architecture and spectrogram (`debut model init`).
fn random_like(model: &Model, seed: u64) -> anyhow::Result<Model> {
    let (manifest, bytes) = Model::init("random", seed, model.audio.spec.clone(), model.mel_params(), "eval-audio");
    let dir = std::env::temp_dir().join(format!("debut-random-{}-{seed}", std::process::id()));
    Model::save(&dir, &manifest, &bytes)?;
    let random = Model::load(&dir);
    std::fs::remove_dir_all(&dir).ok();
    Ok(random?)
}
