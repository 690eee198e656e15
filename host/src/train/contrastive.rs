//! Contrastive pretraining of the audio CNN on unlabelled music (COLA, CLMR, SimCLR): two
//! augmented crops per track, the other tracks of the batch as negatives, a symmetric
//! InfoNCE loss on the cosine of the 200-d outputs. Some positives come from metadata: the
//! second crop is then taken from another track of the same package (album, soundtrack),
//! which teaches style rather than track identity (Alonso-Jiménez et al. 2023).
//!
//! With a teacher ([`Distillation`]), each crop's output also regresses the teacher's embedding
//! of the same moment (cosine proximity), so the tower learns what an MSD-trained tagger hears
//! as well as what tells packages apart.
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
use crate::catalog::teacher::TrackPatches;

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

/// A teacher's embeddings of the cache's tracks, regressed beside the contrastive loss.
pub struct Distillation<'a> {
    /// Each cache track's patches (`None`: the teacher has not heard it; no distillation).
    pub patches: Vec<Option<TrackPatches<'a>>>,
    /// Seconds of each track before the cache's first frame (the cache keeps the centre).
    pub offsets: Vec<f64>,
    /// Seconds per cache frame.
    pub frame_seconds: f64,
    /// Per track, the teacher's mean over the whole track: regressed instead of the crop's
    /// moment when not empty (style of the track rather than of the moment).
    pub track_means: Vec<Option<Vec<f32>>>,
    /// Weight of the distillation loss (the contrastive one's is `Contrastive::weight`).
    pub weight: f32,
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
    /// Weight of the contrastive loss (0: distillation alone).
    weight: f32,
    /// Validate on the trunk's features (the read-out) rather than the output (a projection
    /// head that is discarded).
    pub validate_trunk: bool,
    distill: Option<Distillation<'a>>,
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
        Self {
            net,
            cache,
            pool,
            members,
            batch,
            steps,
            temperature,
            same_group,
            augment,
            weight: 1.0,
            validate_trunk: false,
            distill: None,
        }
    }

    /// Adds distillation from a teacher, and sets the contrastive loss's weight.
    pub fn with_distillation(mut self, contrastive_weight: f32, distill: Distillation<'a>) -> Self {
        self.weight = contrastive_weight;
        self.distill = Some(distill);
        self
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

    /// Augmented crops of `tracks`, as one `[n_mels, B, window]` batch, and the teacher's
    /// embeddings of the same moments as `[dim, B]` (zero columns where it has none).
    fn views(&self, b: &Backend, tracks: &[usize], rng: &mut ChaCha8Rng) -> anyhow::Result<(Tensor, Option<Tensor>)> {
        let (n, w, cols) = (self.cache.n_mels, self.net.spec.window_frames, tracks.len());
        let crops: Vec<_> = tracks
            .iter()
            .map(|&t| stretched_crop(self.cache, t, w, self.augment.stretch, rng))
            .collect::<anyhow::Result<_>>()?;
        let mut data = vec![0.0f32; n * cols * w];
        for (i, crop) in crops.iter().enumerate() {
            let mut x = crop.data.clone();
            let other = &crops[(i + 1) % crops.len()].data;
            augment(&mut x, n, (crops.len() > 1).then_some(other.as_slice()), &self.augment, rng);
            for band in 0..n {
                let dst = (band * cols + i) * w;
                data[dst..dst + w].copy_from_slice(&x[band * w..(band + 1) * w]);
            }
        }
        let targets = match &self.distill {
            None => None,
            Some(d) => {
                let dim = self.net.spec.embedding_dim;
                let mut t = vec![0.0f32; dim * cols];
                for (i, (&track, crop)) in tracks.iter().zip(&crops).enumerate() {
                    let e = match d.track_means.get(track) {
                        Some(mean) => mean.as_deref(),
                        None => d.patches[track].map(|p| p.at(d.offsets[track] + crop.centre_frame * d.frame_seconds)),
                    };
                    for (r, v) in e.unwrap_or_default().iter().enumerate() {
                        t[r * cols + i] = *v;
                    }
                }
                Some(b.upload(&[dim, cols], &t)?)
            }
        };
        Ok((b.upload(&[n, cols, w], &data)?, targets))
    }

    /// Unit embeddings of the validation tracks: four evenly spaced windows each, averaged
    /// (centred on their mean when read from the trunk, whose ReLU features share a large one).
    fn val_embeddings(&self, b: &Backend, p: &Params) -> anyhow::Result<Vec<Vec<f32>>> {
        let rows =
            super::data::spaced_window_outputs(b, &self.net, p, self.cache, &self.pool.val, 4, self.validate_trunk)?;
        let sums: Vec<Vec<f32>> =
            rows.chunks(4).map(|four| (0..four[0].len()).map(|r| four.iter().map(|w| w[r]).sum()).collect()).collect();
        let d = sums.first().map_or(0, Vec::len);
        let n = sums.len().max(1) as f32;
        let centre: Vec<f32> = match self.validate_trunk {
            true => (0..d).map(|r| sums.iter().map(|v| v[r]).sum::<f32>() / n).collect(),
            false => vec![0.0; d],
        };
        Ok(sums
            .iter()
            .map(|v| {
                let v: Vec<f32> = v.iter().zip(&centre).map(|(x, c)| x - c).collect();
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
        let (xa, ta) = self.views(b, &anchors, rng)?;
        let (xb, tb) = self.views(b, &partners, rng)?;
        let (u, tape_u) = self.net.forward(b, p, &xa, true)?;
        let (v, tape_v) = self.net.forward(b, p, &xb, true)?;
        // Without a teacher the contrastive gradients go straight into the backward pass.
        let (loss, du, dv) = match (&self.distill, ta, tb) {
            (Some(d), Some(ta), Some(tb)) => self.distilled(b, d, [(&u, &ta), (&v, &tb)])?,
            _ => info_nce(b, &u, &v, self.temperature)?,
        };
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

impl Contrastive<'_> {
    /// The weighted contrastive plus distillation loss of the outputs `u, v` given their
    /// teacher targets, and its gradients (summed on the host: `[200, B]`, small).
    fn distilled(
        &self,
        b: &Backend,
        d: &Distillation,
        [(u, tu), (v, tv)]: [(&Tensor, &Tensor); 2],
    ) -> anyhow::Result<(f64, Tensor, Tensor)> {
        let (mut loss, mut du, mut dv) = if self.weight > 0.0 {
            let (loss, du, dv) = info_nce(b, u, v, self.temperature)?;
            (f64::from(self.weight) * loss, scaled(b, &du, self.weight)?, scaled(b, &dv, self.weight)?)
        } else {
            (0.0, vec![0.0; u.len()], vec![0.0; v.len()])
        };
        for (out, target, grad) in [(u, tu, &mut du), (v, tv, &mut dv)] {
            // Cosine proximity is -cos: 1 + it is the distance the curve shows.
            let (l, g) = b.cosine_proximity(out, target)?;
            loss += f64::from(d.weight) * (1.0 + super::fit::mean(b, &l)?);
            for (acc, g) in grad.iter_mut().zip(b.download(&g)?) {
                *acc += d.weight * g;
            }
        }
        Ok((loss, b.upload(u.shape(), &du)?, b.upload(v.shape(), &dv)?))
    }
}

/// `w * x` on the host (a `[200, B]` gradient: small).
fn scaled(b: &Backend, x: &Tensor, w: f32) -> anyhow::Result<Vec<f32>> {
    Ok(b.download(x)?.into_iter().map(|v| v * w).collect())
}
