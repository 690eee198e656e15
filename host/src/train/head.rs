//! A linear head on fixed input vectors, regressing song factors by cosine proximity: late
//! fusion mm-lf-lin (Oramas et al. §5: the L2-normalised audio and artist embeddings
//! concatenated, one dense layer, L2) and the text-only baseline (the artist embedding
//! alone). For fusion, the artist half of a training input is zeroed with probability
//! `dropout`, so tracks whose bio has not arrived (served with a zero artist half) still map
//! well.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::data::columns;
use super::fit::Task;
use super::nets::{DenseStack, StackInput};
use super::params::Params;
use crate::backend::Backend;

pub struct Head {
    pub name: &'static str,
    pub stack: DenseStack,
    train: Vec<(Vec<f32>, Vec<f32>)>,
    val: Vec<(Vec<f32>, Vec<f32>)>,
    batch: usize,
    /// Inputs `[from..]` zeroed with this probability in training.
    dropout: Option<(usize, f32)>,
}

impl Head {
    pub fn new(
        name: &'static str,
        stack: DenseStack,
        train: Vec<(Vec<f32>, Vec<f32>)>,
        val: Vec<(Vec<f32>, Vec<f32>)>,
        batch: usize,
        dropout: Option<(usize, f32)>,
    ) -> Self {
        Self { name, stack, train, val, batch, dropout }
    }

    fn loss(
        &self,
        b: &Backend,
        p: &Params,
        inputs: &[&[f32]],
        targets: &[&[f32]],
        grads: Option<&mut Params>,
    ) -> anyhow::Result<f64> {
        let x = b.upload(&[inputs[0].len(), inputs.len()], &columns(inputs))?;
        let target = b.upload(&[targets[0].len(), targets.len()], &columns(targets))?;
        let input = StackInput::Dense(&x);
        let tape = self.stack.forward(b, p, &input)?;
        let (loss, d) = b.cosine_proximity(tape.output(), &target)?;
        if let Some(g) = grads {
            self.stack.backward(b, p, &input, &tape, &d, g)?;
        }
        super::fit::mean(b, &loss)
    }
}

impl Task for Head {
    fn name(&self) -> &'static str {
        self.name
    }

    fn unit(&self) -> &'static str {
        "tracks"
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
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.random_range(0..self.train.len())).collect();
        let inputs: Vec<Vec<f32>> = picks
            .iter()
            .map(|&i| {
                let mut x = self.train[i].0.clone();
                if let Some((from, p)) = self.dropout
                    && rng.random::<f32>() < p
                {
                    x[from..].fill(0.0);
                }
                x
            })
            .collect();
        let inputs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
        let targets: Vec<&[f32]> = picks.iter().map(|&i| self.train[i].1.as_slice()).collect();
        Ok((self.loss(b, p, &inputs, &targets, Some(grads))?, picks.len()))
    }

    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64> {
        let (mut sum, mut n) = (0.0, 0);
        for chunk in self.val.chunks(512) {
            let inputs: Vec<&[f32]> = chunk.iter().map(|v| v.0.as_slice()).collect();
            let targets: Vec<&[f32]> = chunk.iter().map(|v| v.1.as_slice()).collect();
            sum += self.loss(b, p, &inputs, &targets, None)? * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(sum / n.max(1) as f64)
    }
}
