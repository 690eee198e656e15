//! Contrastive pretraining of the audio CNN on unlabelled music (COLA, CLMR, SimCLR): two
//! augmented crops per track, the other tracks of the batch as negatives, a symmetric
//! InfoNCE loss on the cosine of the 200-d outputs. Some positives come from metadata: the
//! second crop is then taken from another track of the same package (album, soundtrack),
//! which teaches style rather than track identity (Alonso-Jiménez et al. 2023).
//!
//! Validation is what the tower is for: same-package retrieval (1 - mAP) over validation
//! packages no step trains on, each track read through four fixed windows.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::augment::{AugmentConfig, augment, stretched_crop};
use super::fit::Task;
use super::nets::AudioNet;
use super::params::Params;
use crate::backend::{Backend, Tensor};
use crate::catalog::mels::MelCache;

/// Symmetric InfoNCE for `u, v [d, B]` whose columns `i` are positive pairs: the softmax
/// cross-entropy of `cos(u_i, v_j) / temperature` over `j` plus the same over `i` (each a
/// mean over the batch). Returns the loss and its gradients for `u` and `v`.
pub fn info_nce(b: &Backend, u: &Tensor, v: &Tensor, temperature: f32) -> anyhow::Result<(f64, Tensor, Tensor)> {
    let n = u.shape()[1];
    let targets: Vec<u32> = (0..n as u32).collect();
    let c = b.cosine_similarity(u, v)?;
    let transposed = b.matmul(&c.v_hat, true, &c.u_hat, false)?;
    let (rows, d_rows) = b.softmax_cross_entropy(&c.scores, &targets, 1.0 / temperature)?;
    let (cols, d_cols) = b.softmax_cross_entropy(&transposed, &targets, 1.0 / temperature)?;
    // S = u_hat^T v_hat and S^T: du_hat = v_hat dS^T + v_hat dS_t, dv_hat = u_hat dS + u_hat dS_t^T.
    let mut du_hat = b.matmul(&c.v_hat, false, &d_rows, true)?;
    b.matmul_acc(&c.v_hat, false, &d_cols, false, &mut du_hat)?;
    let mut dv_hat = b.matmul(&c.u_hat, false, &d_rows, false)?;
    b.matmul_acc(&c.u_hat, false, &d_cols, true, &mut dv_hat)?;
    let du = b.l2_normalize_backward(u, &du_hat)?;
    let dv = b.l2_normalize_backward(v, &dv_hat)?;
    let loss = super::fit::mean(b, &rows)? + super::fit::mean(b, &cols)?;
    Ok((loss, du, dv))
}

/// The tracks a pretraining run sees, with their groups (packages).
pub struct Pool {
    /// Training tracks (indices into the mel cache).
    pub train: Vec<usize>,
    /// Validation tracks, with their groups.
    pub val: Vec<usize>,
    /// Group of every cache track.
    pub group: Vec<usize>,
}

pub struct Contrastive<'a> {
    pub net: AudioNet,
    cache: &'a MelCache,
    pool: Pool,
    /// Each group's training tracks.
    members: Vec<Vec<usize>>,
    batch: usize,
    steps: usize,
    temperature: f32,
    same_group: f32,
    augment: AugmentConfig,
}

impl<'a> Contrastive<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        net: AudioNet,
        cache: &'a MelCache,
        pool: Pool,
        batch: usize,
        steps: usize,
        temperature: f32,
        same_group: f32,
        augment: AugmentConfig,
    ) -> Self {
        let groups = pool.group.iter().copied().max().map_or(0, |g| g + 1);
        let mut members = vec![Vec::new(); groups];
        for &t in &pool.train {
            members[pool.group[t]].push(t);
        }
        Self { net, cache, pool, members, batch, steps, temperature, same_group, augment }
    }

    /// `B` distinct anchors and, for each, the track its second view comes from.
    fn pairs(&self, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
        let want = self.batch.min(self.pool.train.len());
        let mut anchors: Vec<usize> = Vec::with_capacity(want);
        while anchors.len() < want {
            let t = self.pool.train[rng.random_range(0..self.pool.train.len())];
            if !anchors.contains(&t) {
                anchors.push(t);
            }
        }
        let partners = anchors
            .iter()
            .map(|&t| {
                let same = &self.members[self.pool.group[t]];
                if same.len() > 1 && rng.random_range(0.0f32..1.0) < self.same_group {
                    loop {
                        let o = same[rng.random_range(0..same.len())];
                        if o != t {
                            break o;
                        }
                    }
                } else {
                    t
                }
            })
            .collect();
        (anchors, partners)
    }

    /// Augmented crops of `tracks`, as one `[n_mels, B, window]` batch.
    fn views(&self, b: &Backend, tracks: &[usize], rng: &mut ChaCha8Rng) -> anyhow::Result<Tensor> {
        let (n, w) = (self.cache.n_mels, self.net.spec.window_frames);
        let crops: Vec<Vec<f32>> = tracks
            .iter()
            .map(|&t| stretched_crop(self.cache, t, w, self.augment.stretch, rng))
            .collect::<anyhow::Result<_>>()?;
        let mut data = vec![0.0f32; n * tracks.len() * w];
        for (i, crop) in crops.iter().enumerate() {
            let mut x = crop.clone();
            let other = &crops[(i + 1) % crops.len()];
            augment(&mut x, n, (crops.len() > 1).then_some(other.as_slice()), &self.augment, rng);
            for band in 0..n {
                let dst = (band * tracks.len() + i) * w;
                data[dst..dst + w].copy_from_slice(&x[band * w..(band + 1) * w]);
            }
        }
        Ok(b.upload(&[n, tracks.len(), w], &data)?)
    }

    /// Unit embeddings of the validation tracks: four evenly spaced windows each, averaged.
    fn val_embeddings(&self, b: &Backend, p: &Params) -> anyhow::Result<Vec<Vec<f32>>> {
        let rows = super::data::spaced_window_outputs(b, &self.net, p, self.cache, &self.pool.val, 4)?;
        Ok(rows
            .chunks(4)
            .map(|four| {
                let v: Vec<f32> = (0..four[0].len()).map(|r| four.iter().map(|w| w[r]).sum()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
}

impl Task for Contrastive<'_> {
    fn name(&self) -> &'static str {
        "pretrain"
    }

    fn unit(&self) -> &'static str {
        "windows"
    }

    fn batches_per_epoch(&self) -> usize {
        self.steps
    }

    fn train_batch(
        &mut self,
        b: &Backend,
        p: &Params,
        grads: &mut Params,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<(f64, usize)> {
        let (anchors, partners) = self.pairs(rng);
        let xa = self.views(b, &anchors, rng)?;
        let xb = self.views(b, &partners, rng)?;
        let (u, tape_u) = self.net.forward(b, p, &xa, true)?;
        let (v, tape_v) = self.net.forward(b, p, &xb, true)?;
        let (loss, du, dv) = info_nce(b, &u, &v, self.temperature)?;
        self.net.backward(b, p, tape_u.expect("kept"), &du, grads)?;
        self.net.backward(b, p, tape_v.expect("kept"), &dv, grads)?;
        Ok((loss, 2 * anchors.len()))
    }

    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64> {
        let e = self.val_embeddings(b, p)?;
        let groups: Vec<String> = self.pool.val.iter().map(|&t| self.pool.group[t].to_string()).collect();
        let (map, _) = crate::eval::music::retrieval(&e, &groups);
        Ok(1.0 - map)
    }
}
