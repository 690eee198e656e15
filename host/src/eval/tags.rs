//! DCUE's auto-tagging transfer (§4.2): a 2-layer MLP on a model's item vectors predicts
//! each track's tags (sigmoid cross-entropy, Adam); scored on the test tracks by the ROC AUC
//! of each tag, averaged over tags.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::metrics::roc_auc;
use crate::backend::Backend;
use crate::train::data::columns;
use crate::train::fit::{self, FitConfig, FitRun, Task};
use crate::train::nets::{DenseStack, StackInput};
use crate::train::optim::OptimizerConfig;
use crate::train::params::Params;

/// An item vector and its tags (multi-hot).
type Sample = (Vec<f32>, Vec<f32>);

struct TagTask {
    stack: DenseStack,
    train: Vec<Sample>,
    val: Vec<Sample>,
}

fn batch_loss(
    t: &TagTask,
    b: &Backend,
    p: &Params,
    items: &[&(Vec<f32>, Vec<f32>)],
    grads: Option<&mut Params>,
) -> anyhow::Result<f64> {
    let x: Vec<&[f32]> = items.iter().map(|i| i.0.as_slice()).collect();
    let y: Vec<&[f32]> = items.iter().map(|i| i.1.as_slice()).collect();
    let xt = b.upload(&[x[0].len(), x.len()], &columns(&x))?;
    let yt = b.upload(&[y[0].len(), y.len()], &columns(&y))?;
    let input = StackInput::Dense(&xt);
    let tape = t.stack.forward(b, p, &input)?;
    let (loss, d) = b.sigmoid_bce(tape.output(), &yt)?;
    if let Some(g) = grads {
        t.stack.backward(b, p, &input, &tape, &d, g)?;
    }
    fit::mean(b, &loss)
}

impl Task for TagTask {
    fn name(&self) -> &'static str {
        "tags"
    }

    fn unit(&self) -> &'static str {
        "tracks"
    }

    fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(64).max(1)
    }

    fn train_batch(
        &mut self,
        b: &Backend,
        p: &Params,
        grads: &mut Params,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<(f64, usize)> {
        let items: Vec<&(Vec<f32>, Vec<f32>)> =
            (0..64).map(|_| &self.train[rng.random_range(0..self.train.len())]).collect();
        Ok((batch_loss(self, b, p, &items, Some(grads))?, items.len()))
    }

    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64> {
        let items: Vec<&(Vec<f32>, Vec<f32>)> = self.val.iter().collect();
        batch_loss(self, b, p, &items, None)
    }
}

/// Mean per-tag ROC AUC on `test` of an MLP fitted on `train` (vectors, 0/1 tag rows).
pub fn tag_auc(
    b: &Backend,
    train: &[(Vec<f32>, Vec<f32>)],
    test: &[(Vec<f32>, Vec<f32>)],
    seed: u64,
    scratch: &std::path::Path,
) -> anyhow::Result<Option<f64>> {
    if train.len() < 10 || test.is_empty() {
        return Ok(None);
    }
    let (d, tags) = (train[0].0.len(), train[0].1.len());
    let mut params = Params::new();
    let stack = DenseStack::init(&mut params, b, "tags", &[d, 256, tags], None, seed)?;
    // Every tenth training track validates the early stopping.
    let (val, fit_on): (Vec<_>, Vec<_>) = train.iter().cloned().enumerate().partition(|(i, _)| i % 10 == 0);
    let strip = |v: Vec<(usize, Sample)>| v.into_iter().map(|(_, x)| x).collect();
    let mut task = TagTask { stack, train: strip(fit_on), val: strip(val) };
    let cfg = FitConfig { optimizer: OptimizerConfig::adam(1e-3), max_epochs: 60, patience: 5 };
    fit::fit(
        &mut task,
        &mut params,
        b,
        &cfg,
        &FitRun { checkpoint_dir: scratch, resume: false, quiet: true, seed, inputs: String::new() },
    )?;
    let x: Vec<&[f32]> = test.iter().map(|i| i.0.as_slice()).collect();
    let xt = b.upload(&[d, x.len()], &columns(&x))?;
    let logits = b.download(task.stack.forward(b, &params, &StackInput::Dense(&xt))?.output())?;
    let n = test.len();
    let aucs: Vec<f64> = (0..tags)
        .filter_map(|t| {
            let labels: Vec<bool> = test.iter().map(|i| i.1[t] > 0.5).collect();
            roc_auc(&logits[t * n..(t + 1) * n], &labels)
        })
        .collect();
    Ok((!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64))
}
