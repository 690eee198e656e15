//! The training loop every neural stage shares: epochs of batches (zero the gradients,
//! forward and backward into them, one optimiser step), a validation loss after each epoch,
//! early stopping on it, a progress bar with the loss and throughput, and a checkpoint per
//! epoch (parameters, optimiser state, RNG state, the loop's state and the best parameters so
//! far) from which `--resume` continues exactly where the run stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::optim::{Optimizer, OptimizerConfig};
use super::params::{HostTensor, Params};
use crate::backend::{Backend, ComputeError};
use crate::model::weights;

/// One objective over a model whose parameters the loop holds.
pub trait Task {
    /// Names the checkpoint and the report's curves.
    fn name(&self) -> &'static str;
    /// What a batch is made of, for throughput ("windows", "artists", ...).
    fn unit(&self) -> &'static str;
    fn batches_per_epoch(&self) -> usize;
    /// Forward and backward of one batch, gradients added into `grads` (zeroed by the
    /// caller); returns the batch's mean loss and how many units it held. All randomness
    /// comes from `rng`, so a resumed run draws what the original would have.
    fn train_batch(
        &mut self,
        b: &Backend,
        p: &Params,
        grads: &mut Params,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<(f64, usize)>;
    /// The validation loss (lower is better); deterministic.
    fn validate(&mut self, b: &Backend, p: &Params) -> anyhow::Result<f64>;
}

/// The mean of a tensor of per-row losses.
pub fn mean(b: &Backend, losses: &crate::backend::Tensor) -> anyhow::Result<f64> {
    let v = b.download(losses)?;
    Ok(v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    pub optimizer: OptimizerConfig,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self { optimizer: OptimizerConfig::adam(1e-3), max_epochs: 50, patience: 5 }
    }
}

/// One epoch in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub seconds: f64,
    /// Units (windows, artists, tracks) per second of training.
    pub throughput: f64,
}

/// The loop's state, saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub task: String,
    pub unit: String,
    pub epochs: Vec<Epoch>,
    pub best_epoch: usize,
    pub best_val: f64,
    pub since_best: usize,
    pub steps: u64,
    pub initial_val: f64,
    pub stopped_early: bool,
}

/// Where the loop saves and from what it resumes.
pub struct FitRun<'a> {
    pub checkpoint_dir: &'a Path,
    pub resume: bool,
    pub quiet: bool,
    pub seed: u64,
    /// A fingerprint of what the task learns from (its inputs and settings): a checkpoint made
    /// from other inputs is not resumed from.
    pub inputs: String,
}

fn checkpoint_path(dir: &Path, task: &str) -> PathBuf {
    dir.join(format!("{task}.ckpt.safetensors"))
}

/// Everything a resumed run needs to continue bit for bit.
struct Checkpoint<'a> {
    params: &'a Params,
    opt: &'a Optimizer,
    best: &'a [HostTensor],
    history: &'a History,
    rng: &'a ChaCha8Rng,
    inputs: &'a str,
}

fn save(path: &Path, b: &Backend, ckpt: Checkpoint<'_>) -> anyhow::Result<()> {
    let Checkpoint { params, opt, best, history, rng, inputs } = ckpt;
    let mut tensors = params.to_host(b)?;
    for slot in &opt.state {
        tensors.extend(slot.to_host(b)?);
    }
    tensors.extend(best.iter().map(|(n, s, v)| (format!("best.{n}"), s.clone(), v.clone())));
    let metadata = HashMap::from([
        ("history".to_string(), serde_json::to_string(history)?),
        ("optimizer_step".to_string(), opt.step.to_string()),
        ("rng_word_pos".to_string(), rng.get_word_pos().to_string()),
        ("inputs".to_string(), inputs.to_string()),
    ]);
    let bytes = weights::write(&tensors, metadata)?;
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Trains `params` on `task` and leaves the best of them (by validation loss) in `params`.
pub fn fit<T: Task>(
    task: &mut T,
    params: &mut Params,
    b: &Backend,
    cfg: &FitConfig,
    run: &FitRun,
) -> anyhow::Result<History> {
    std::fs::create_dir_all(run.checkpoint_dir)?;
    let path = checkpoint_path(run.checkpoint_dir, task.name());
    let mut grads = params.zeros_like(b, ".grad")?;
    let mut opt = Optimizer::new(cfg.optimizer, params, b)?;
    let mut rng = ChaCha8Rng::seed_from_u64(run.seed);
    let mut best: Vec<HostTensor>;
    let mut history;
    let checkpoint = if run.resume && path.is_file() {
        let (tensors, meta) = weights::read_all(&std::fs::read(&path)?)?;
        if meta.get("inputs") == Some(&run.inputs) {
            Some((tensors, meta))
        } else {
            tracing::warn!(task = task.name(), "not resuming from {}: it was trained on other inputs", path.display());
            None
        }
    } else {
        None
    };
    if let Some((tensors, meta)) = checkpoint {
        params.load(b, &tensors)?;
        for slot in &mut opt.state {
            slot.load(b, &tensors)?;
        }
        opt.step = meta.get("optimizer_step").and_then(|s| s.parse().ok()).context("checkpoint without a step")?;
        let pos: u128 =
            meta.get("rng_word_pos").and_then(|s| s.parse().ok()).context("checkpoint without RNG state")?;
        rng.set_word_pos(pos);
        history = serde_json::from_str::<History>(meta.get("history").context("checkpoint without history")?)?;
        best = params
            .names()
            .iter()
            .map(|n| {
                let (s, v) = tensors.get(&format!("best.{n}")).context("checkpoint without best parameters")?;
                Ok((n.clone(), s.clone(), v.clone()))
            })
            .collect::<anyhow::Result<_>>()?;
        tracing::info!(task = task.name(), epoch = history.epochs.len(), "resuming from {}", path.display());
    } else {
        let initial_val = task.validate(b, params)?;
        best = params.to_host(b)?;
        history = History {
            task: task.name().into(),
            unit: task.unit().into(),
            epochs: Vec::new(),
            best_epoch: 0,
            best_val: initial_val,
            since_best: 0,
            steps: 0,
            initial_val,
            stopped_early: false,
        };
    }
    while history.epochs.len() < cfg.max_epochs && history.since_best < cfg.patience {
        let epoch = history.epochs.len() + 1;
        let batches = task.batches_per_epoch();
        let bar = crate::progress::bar(batches as u64, &format!("{} epoch {epoch}", task.name()), run.quiet);
        let t0 = Instant::now();
        let (mut loss_sum, mut units) = (0.0, 0usize);
        for i in 0..batches {
            grads.zero(b)?;
            let (loss, n) = task.train_batch(b, params, &mut grads, &mut rng)?;
            opt.step(b, params, &grads)?;
            loss_sum += loss;
            units += n;
            bar.inc(1);
            bar.set_prefix(format!(
                "loss {:.4} | {:.0} {}/s",
                loss_sum / (i + 1) as f64,
                units as f64 / t0.elapsed().as_secs_f64(),
                task.unit()
            ));
        }
        let seconds = t0.elapsed().as_secs_f64();
        let val = task.validate(b, params)?;
        bar.finish_and_clear();
        let train_loss = loss_sum / batches.max(1) as f64;
        history.steps = opt.step;
        history.epochs.push(Epoch { epoch, train_loss, val_loss: val, seconds, throughput: units as f64 / seconds });
        if val < history.best_val {
            history.best_val = val;
            history.best_epoch = epoch;
            history.since_best = 0;
            best = params.to_host(b)?;
        } else {
            history.since_best += 1;
        }
        if !run.quiet {
            eprintln!(
                "{} epoch {epoch}: train {train_loss:.4}, val {val:.4}{} ({seconds:.1} s, {:.0} {}/s)",
                task.name(),
                if history.best_epoch == epoch { " (best)" } else { "" },
                units as f64 / seconds,
                task.unit()
            );
        }
        let ckpt = Checkpoint { params, opt: &opt, best: &best, history: &history, rng: &rng, inputs: &run.inputs };
        save(&path, b, ckpt)?;
    }
    history.stopped_early = history.epochs.len() < cfg.max_epochs;
    let host: HashMap<String, (Vec<usize>, Vec<f32>)> = best.into_iter().map(|(n, s, v)| (n, (s, v))).collect();
    params.load(b, &host).map_err(|e: ComputeError| anyhow::anyhow!(e))?;
    Ok(history)
}
