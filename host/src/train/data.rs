//! Training inputs from the mel cache: random windows of tracks (DCUE's "randomly extract
//! the context size audio"), per-band input statistics, and whole-track embeddings.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::backend::{Backend, Tensor};
use crate::catalog::mels::MelCache;
use crate::nn::{AudioTower, TrackWindows};

/// A batch `[n_mels, tracks.len(), window]` of one random crop per track.
pub fn random_windows(
    b: &Backend,
    cache: &MelCache,
    tracks: &[usize],
    window: usize,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Tensor> {
    let starts: Vec<usize> =
        tracks.iter().map(|&t| rng.random_range(0..=cache.frames(t).saturating_sub(window))).collect();
    windows_at(b, cache, tracks, &starts, window)
}

/// The windows starting at `starts[i]` of `tracks[i]`.
pub fn windows_at(
    b: &Backend,
    cache: &MelCache,
    tracks: &[usize],
    starts: &[usize],
    window: usize,
) -> anyhow::Result<Tensor> {
    let (n, batch) = (cache.n_mels, tracks.len());
    let mut data = vec![0.0f32; n * batch * window];
    let mut one = vec![0.0f32; n * window];
    for (i, (&t, &s)) in tracks.iter().zip(starts).enumerate() {
        cache.read_window(t, s, window, &mut one, window)?;
        for band in 0..n {
            data[(band * batch + i) * window..(band * batch + i + 1) * window]
                .copy_from_slice(&one[band * window..(band + 1) * window]);
        }
    }
    Ok(b.upload(&[n, batch, window], &data)?)
}

/// Per-band mean and standard deviation over every frame of `tracks` (DCUE: "subtracting
/// the mean and dividing by the standard deviation across the training data").
pub fn band_statistics(cache: &MelCache, tracks: &[usize]) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let n = cache.n_mels;
    let (mut sum, mut sq, mut count) = (vec![0.0f64; n], vec![0.0f64; n], 0usize);
    for &t in tracks {
        let mel = cache.read_track(t)?;
        for band in 0..n {
            for &v in mel.band(band) {
                sum[band] += f64::from(v);
                sq[band] += f64::from(v) * f64::from(v);
            }
        }
        count += mel.n_frames;
    }
    anyhow::ensure!(count > 0, "no frames to take statistics from");
    let mean: Vec<f32> = sum.iter().map(|s| (s / count as f64) as f32).collect();
    let std: Vec<f32> = sum
        .iter()
        .zip(&sq)
        .map(|(s, q)| {
            let m = s / count as f64;
            ((q / count as f64 - m * m).max(0.0).sqrt()).max(1e-3) as f32
        })
        .collect();
    Ok((mean, std))
}

/// L2-normalised track embeddings (mean over each track's windows), `chunk` tracks at a time.
pub fn track_embeddings(
    b: &Backend,
    tower: &AudioTower,
    cache: &MelCache,
    tracks: &[usize],
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(tracks.len());
    for chunk in tracks.chunks(16) {
        let mels = chunk.iter().map(|&t| cache.read_track(t)).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&crate::spectral::MelSpectrogram> = mels.iter().collect();
        let windows =
            TrackWindows::from_mels(&refs, tower.spec.n_mels, tower.spec.window_frames).map_err(anyhow::Error::msg)?;
        let e = b.embed_tracks(tower, &windows)?;
        out.extend((0..e.cols).map(|c| e.column(c)));
    }
    Ok(out)
}

/// Columns `[d, n]` from row vectors.
pub fn columns(rows: &[&[f32]]) -> Vec<f32> {
    let (n, d) = (rows.len(), rows.first().map_or(0, |r| r.len()));
    let mut out = vec![0.0; d * n];
    for (c, row) in rows.iter().enumerate() {
        for (r, v) in row.iter().enumerate() {
            out[r * n + c] = *v;
        }
    }
    out
}

/// The net's output (or, with `trunk`, the trunk's: the features before the last dense layer)
/// for `per_track` evenly spaced windows of each of `tracks`, track by track.
pub fn spaced_window_outputs(
    b: &Backend,
    net: &super::nets::AudioNet,
    p: &super::params::Params,
    cache: &MelCache,
    tracks: &[usize],
    per_track: usize,
    trunk: bool,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let w = net.spec.window_frames;
    let picks: Vec<(usize, usize)> = tracks
        .iter()
        .flat_map(|&t| {
            let last = cache.frames(t).saturating_sub(w);
            (0..per_track).map(move |k| (t, last * (2 * k + 1) / (2 * per_track)))
        })
        .collect();
    let mut rows = Vec::with_capacity(picks.len());
    for chunk in picks.chunks(128) {
        let (ts, starts): (Vec<usize>, Vec<usize>) = chunk.iter().copied().unzip();
        let x = windows_at(b, cache, &ts, &starts, w)?;
        let (e, tape) = net.forward(b, p, &x, trunk)?;
        let e = b.download(tape.as_ref().map_or(&e, |t| t.pooled()))?;
        let n = chunk.len();
        rows.extend((0..n).map(|c| (0..e.len() / n).map(|r| e[r * n + c]).collect::<Vec<f32>>()));
    }
    Ok(rows)
}
