//! DCUE (Lee et al.): a user tower (embedding lookup + dense layers) and the audio CNN as the
//! item tower, trained end to end on binarised plays. Relevance is the cosine of the two
//! feature vectors; the loss a max-margin hinge between each (user, played track) and
//! sampled unplayed tracks.
//!
//! Negatives are shared: a batch holds B (user, track) pairs, the CNN runs once per distinct
//! track window, and each user's negatives are drawn from the batch's other windows that user
//! never played, so a step costs B windows, not 21 B.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::data::windows_at;
use super::fit::Task;
use super::nets::{AudioNet, DenseStack, StackInput};
use super::params::Params;
use crate::backend::Backend;
use crate::catalog::mels::MelCache;

/// One batch: users, the distinct track windows, and which columns are positive / negative.
struct Batch {
    users: Vec<u32>,
    tracks: Vec<usize>,
    starts: Vec<usize>,
    positives: Vec<u32>,
    negatives: Vec<u32>,
}

pub struct Dcue<'a> {
    pub net: AudioNet,
    pub users: DenseStack,
    cache: &'a MelCache,
    /// Distinct (user, track) training pairs.
    pairs: Vec<(u32, u32)>,
    /// Each user's played tracks, sorted (all parts: a negative is never a played track).
    played: Vec<Vec<u32>>,
    negatives: usize,
    margin: f32,
    batch: usize,
    val: Vec<Batch>,
}

impl<'a> Dcue<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        net: AudioNet,
        users: DenseStack,
        cache: &'a MelCache,
        pairs: Vec<(u32, u32)>,
        val_pairs: Vec<(u32, u32)>,
        played: Vec<Vec<u32>>,
        negatives: usize,
        margin: f32,
        batch: usize,
        val_rng: &mut ChaCha8Rng,
    ) -> Self {
        let mut task = Self { net, users, cache, pairs, played, negatives, margin, batch, val: Vec::new() };
        let mut val_pairs = val_pairs;
        // A fixed validation set: up to 16 batches drawn once.
        for i in (1..val_pairs.len()).rev() {
            val_pairs.swap(i, val_rng.random_range(0..=i));
        }
        task.val =
            val_pairs.chunks(batch).take(16).filter(|c| c.len() > 1).map(|c| task.make_batch(c, val_rng)).collect();
        task
    }

    fn make_batch(&self, pairs: &[(u32, u32)], rng: &mut ChaCha8Rng) -> Batch {
        let mut tracks: Vec<usize> = Vec::new();
        let positives: Vec<u32> = pairs
            .iter()
            .map(|&(_, t)| match tracks.iter().position(|&x| x == t as usize) {
                Some(i) => i as u32,
                None => {
                    tracks.push(t as usize);
                    (tracks.len() - 1) as u32
                }
            })
            .collect();
        let mut negatives = Vec::with_capacity(pairs.len() * self.negatives);
        for (b, &(u, _)) in pairs.iter().enumerate() {
            let played = &self.played[u as usize];
            let mut candidates: Vec<u32> = (0..tracks.len() as u32)
                .filter(|&c| played.binary_search(&(tracks[c as usize] as u32)).is_err())
                .collect();
            if candidates.is_empty() {
                candidates = (0..tracks.len() as u32).filter(|&c| c != positives[b]).collect();
            }
            if candidates.is_empty() {
                candidates.push(positives[b]);
            }
            negatives.extend((0..self.negatives).map(|_| candidates[rng.random_range(0..candidates.len())]));
        }
        let w = self.net.spec.window_frames;
        let starts = tracks.iter().map(|&t| rng.random_range(0..=self.cache.frames(t).saturating_sub(w))).collect();
        Batch { users: pairs.iter().map(|p| p.0).collect(), tracks, starts, positives, negatives }
    }

    /// The batch's mean hinge loss; with `grads`, its gradients too.
    fn run(&self, b: &Backend, p: &Params, batch: &Batch, grads: Option<&mut Params>) -> anyhow::Result<f64> {
        let keep = grads.is_some();
        let x = windows_at(b, self.cache, &batch.tracks, &batch.starts, self.net.spec.window_frames)?;
        let who = StackInput::Lookup(&batch.users);
        let user_tape = self.users.forward(b, p, &who)?;
        let (items, item_tape) = self.net.forward(b, p, &x, keep)?;
        let cos = b.cosine_similarity(user_tape.output(), &items)?;
        let (loss, d_scores) = b.hinge_loss(&cos.scores, &batch.positives, &batch.negatives, self.margin)?;
        if let Some(g) = grads {
            let (du, dv) = b.cosine_similarity_backward(user_tape.output(), &items, &cos, &d_scores)?;
            self.users.backward(b, p, &who, &user_tape, &du, g)?;
            self.net.backward(b, p, item_tape.expect("kept"), &dv, g)?;
        }
        super::fit::mean(b, &loss)
    }
}

impl Task for Dcue<'_> {
    fn name(&self) -> &'static str {
        "dcue"
    }

    fn unit(&self) -> &'static str {
        "windows"
    }

    fn batches_per_epoch(&self) -> usize {
        (self.pairs.len() / self.batch).max(1)
    }

    fn train_batch(
        &mut self,
        b: &Backend,
        p: &Params,
        grads: &mut Params,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<(f64, usize)> {
        let pairs: Vec<(u32, u32)> =
            (0..self.batch).map(|_| self.pairs[rng.random_range(0..self.pairs.len())]).collect();
        let batch = self.make_batch(&pairs, rng);
        let loss = self.run(b, p, &batch, Some(grads))?;
        Ok((loss, batch.tracks.len()))
    }

    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64> {
        let mut sum = 0.0;
        for batch in &self.val {
            sum += self.run(b, p, batch, None)?;
        }
        Ok(sum / self.val.len().max(1) as f64)
    }
}
