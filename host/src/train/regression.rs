//! WMF + regression (van den Oord et al.; Oramas et al. §4): the audio CNN predicts each
//! track's song factors from a random window, scored by cosine proximity.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::data::{columns, random_windows, windows_at};
use super::fit::Task;
use super::nets::AudioNet;
use super::params::Params;
use crate::backend::Backend;
use crate::catalog::mels::MelCache;

pub struct Regression<'a> {
    pub net: AudioNet,
    cache: &'a MelCache,
    /// Training tracks and their targets.
    tracks: Vec<usize>,
    targets: Vec<Vec<f32>>,
    batch: usize,
    /// Fixed validation windows: (track, start, target).
    val: Vec<(usize, usize, Vec<f32>)>,
}

impl<'a> Regression<'a> {
    /// Validation uses two fixed windows per track, at a quarter and three quarters.
    pub fn new(
        net: AudioNet,
        cache: &'a MelCache,
        train: Vec<(usize, Vec<f32>)>,
        val: Vec<(usize, Vec<f32>)>,
        batch: usize,
    ) -> Self {
        let w = net.spec.window_frames;
        let val = val
            .into_iter()
            .flat_map(|(t, f)| {
                let span = cache.frames(t).saturating_sub(w);
                [span / 4, 3 * span / 4].map(|s| (t, s, f.clone()))
            })
            .collect();
        let (tracks, targets) = train.into_iter().unzip();
        Self { net, cache, tracks, targets, batch, val }
    }
}

impl Task for Regression<'_> {
    fn name(&self) -> &'static str {
        "regression"
    }

    fn unit(&self) -> &'static str {
        "windows"
    }

    fn batches_per_epoch(&self) -> usize {
        self.tracks.len().div_ceil(self.batch).max(1)
    }

    fn train_batch(
        &mut self,
        b: &Backend,
        p: &Params,
        grads: &mut Params,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<(f64, usize)> {
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.random_range(0..self.tracks.len())).collect();
        let tracks: Vec<usize> = picks.iter().map(|&i| self.tracks[i]).collect();
        let x = random_windows(b, self.cache, &tracks, self.net.spec.window_frames, rng)?;
        let target_rows: Vec<&[f32]> = picks.iter().map(|&i| self.targets[i].as_slice()).collect();
        let target = b.upload(&[target_rows[0].len(), picks.len()], &columns(&target_rows))?;
        let (pred, tape) = self.net.forward(b, p, &x, true)?;
        let (loss, d_pred) = b.cosine_proximity(&pred, &target)?;
        self.net.backward(b, p, tape.expect("kept"), &d_pred, grads)?;
        Ok((super::fit::mean(b, &loss)?, picks.len()))
    }

    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64> {
        let (mut sum, mut n) = (0.0, 0usize);
        for chunk in self.val.chunks(64) {
            let tracks: Vec<usize> = chunk.iter().map(|v| v.0).collect();
            let starts: Vec<usize> = chunk.iter().map(|v| v.1).collect();
            let x = windows_at(b, self.cache, &tracks, &starts, self.net.spec.window_frames)?;
            let rows: Vec<&[f32]> = chunk.iter().map(|v| v.2.as_slice()).collect();
            let target = b.upload(&[rows[0].len(), rows.len()], &columns(&rows))?;
            let (pred, _) = self.net.forward(b, p, &x, false)?;
            let (loss, _) = b.cosine_proximity(&pred, &target)?;
            sum += super::fit::mean(b, &loss)? * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(sum / n.max(1) as f64)
    }
}
