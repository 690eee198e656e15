//! The text tower (Oramas et al. §3.1): the label plugin's sparse features, weighted by an
//! IDF table fitted on the training artists (tf-idf, rows L2-normalised), through dense
//! layers with ReLU to the artist embedding, regressing the artist's WMF factors by cosine
//! proximity.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::data::columns;
use super::fit::Task;
use super::nets::{DenseStack, StackInput};
use super::params::Params;
use crate::backend::Backend;
use crate::embedding::tfidf;
use crate::plugin::SparseFeatures;

/// Smoothed IDF (scikit-learn's `smooth_idf`): `ln((1 + n) / (1 + df)) + 1` over `rows`.
pub fn fit_idf(rows: &[&SparseFeatures], dim: usize) -> Vec<f32> {
    let mut df = vec![0u32; dim];
    for r in rows {
        let mut seen: Vec<u32> = r.entries.iter().map(|e| e.0).filter(|&i| (i as usize) < dim).collect();
        seen.sort_unstable();
        seen.dedup();
        for i in seen {
            df[i as usize] += 1;
        }
    }
    let n = rows.len() as f64;
    df.iter().map(|&d| (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32).collect()
}

pub struct TextTask<'a> {
    pub stack: DenseStack,
    features: &'a [SparseFeatures],
    idf: &'a [f32],
    train: Vec<(usize, Vec<f32>)>,
    val: Vec<(usize, Vec<f32>)>,
    batch: usize,
}

impl<'a> TextTask<'a> {
    pub fn new(
        stack: DenseStack,
        features: &'a [SparseFeatures],
        idf: &'a [f32],
        train: Vec<(usize, Vec<f32>)>,
        val: Vec<(usize, Vec<f32>)>,
        batch: usize,
    ) -> Self {
        Self { stack, features, idf, train, val, batch }
    }

    fn loss(
        &self,
        b: &Backend,
        p: &Params,
        items: &[&(usize, Vec<f32>)],
        grads: Option<&mut Params>,
    ) -> anyhow::Result<f64> {
        let rows: Vec<&SparseFeatures> = items.iter().map(|(a, _)| &self.features[*a]).collect();
        let x = tfidf(&rows, self.idf);
        let targets: Vec<&[f32]> = items.iter().map(|(_, t)| t.as_slice()).collect();
        let target = b.upload(&[targets[0].len(), items.len()], &columns(&targets))?;
        let input = StackInput::Sparse(&x);
        let tape = self.stack.forward(b, p, &input)?;
        let (loss, d) = b.cosine_proximity(tape.output(), &target)?;
        if let Some(g) = grads {
            self.stack.backward(b, p, &input, &tape, &d, g)?;
        }
        super::fit::mean(b, &loss)
    }
}

impl Task for TextTask<'_> {
    fn name(&self) -> &'static str {
        "text"
    }

    fn unit(&self) -> &'static str {
        "artists"
    }

    fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.batch).max(1)
    }

    fn train_batch(
        &mut self,
        b: &Backend,
        p: &Params,
        grads: &mut Params,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<(f64, usize)> {
        let items: Vec<&(usize, Vec<f32>)> =
            (0..self.batch).map(|_| &self.train[rng.random_range(0..self.train.len())]).collect();
        Ok((self.loss(b, p, &items, Some(grads))?, items.len()))
    }

    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64> {
        let items: Vec<&(usize, Vec<f32>)> = self.val.iter().collect();
        let (mut sum, mut n) = (0.0, 0);
        for chunk in items.chunks(256) {
            sum += self.loss(b, p, chunk, None)? * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(sum / n.max(1) as f64)
    }
}
