//! `debut pretrain`: the audio tower learns from unlabelled music (a directory of the fetch
//! script's, or one subdirectory per album), contrastively ([`super::contrastive`]). The held-
//! out packages of `debut eval-audio` are never read; a few more packages validate (early
//! stopping on their same-package mAP). Writes a model whose audio tower is trained and whose
//! text tower and fusion are still random (`debut train --init-audio` builds on it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::augment::AugmentConfig;
use super::contrastive::{Contrastive, Distillation, Pool};
use super::fit::{self, FitConfig, FitRun, History};
use super::nets::AudioNet;
use super::optim::OptimizerConfig;
use super::params::Params;
use crate::audio::AudioConfig;
use crate::backend::Backend;
use crate::catalog::mels::MelCache;
use crate::catalog::teacher::TeacherEmbeddings;
use crate::eval::music::{HELD_OUT_PACKAGES, all_music_tracks};
use crate::frontend::Frontend;
use crate::model::Model;
use crate::nn::AudioTowerSpec;
use crate::spectral::MelParams;

/// Packages that validate pretraining (never trained on, never the evaluation's).
pub const VALIDATION_PACKAGES: &[&str] =
    &["widelands-data", "megaglest-data", "fillets-ng-data", "openclonk-data", "xmoto-data"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    pub seed: u64,
    /// Tracks per step (two views each).
    pub batch: usize,
    pub steps_per_epoch: usize,
    pub max_epochs: usize,
    pub patience: usize,
    pub learning_rate: f32,
    pub temperature: f32,
    /// Share of positives taken from another track of the same package.
    pub same_package: f32,
    /// Weight of the contrastive loss (0: distillation alone).
    pub contrastive_weight: f32,
    /// Weight of the distillation loss (with `--teacher`).
    pub distill_weight: f32,
    /// Regress the teacher's mean over the whole track rather than its embedding of the
    /// crop's moment.
    pub distill_track: bool,
    /// Longest span of a track decoded into the cache (its centre).
    pub max_seconds: f64,
    /// What the served tower reads out: the trained output, or the trunk (the 512-d features
    /// before the last dense layer, which then was a projection head), PCA-whitened to the
    /// output's width over training windows.
    pub readout: Readout,
    /// Whiten the output over training windows, folded into the last layer (`whiten.rs`).
    pub whiten: bool,
    /// Covariance shrinkage of the whitening (0: full, 1: centring and one scale).
    pub whiten_shrinkage: f64,
    pub augment: AugmentConfig,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            batch: 64,
            steps_per_epoch: 100,
            max_epochs: 40,
            patience: 6,
            learning_rate: 1e-3,
            temperature: 0.1,
            same_package: 0.5,
            contrastive_weight: 1.0,
            distill_weight: 1.0,
            distill_track: false,
            max_seconds: 600.0,
            readout: Readout::Output,
            whiten: true,
            whiten_shrinkage: 0.1,
            augment: AugmentConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readout {
    Output,
    Trunk,
}

/// What a run did (`report.json` beside the model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainReport {
    pub music: String,
    pub backend: String,
    pub train_tracks: usize,
    pub validation_tracks: usize,
    pub held_out_packages: Vec<String>,
    /// The distillation teacher (`None`: contrastive alone).
    pub teacher: Option<String>,
    pub config: PretrainConfig,
    pub history: History,
    pub seconds: f64,
}

pub struct PretrainRun<'a> {
    pub music: &'a Path,
    pub out: &'a Path,
    /// The teacher's embeddings (distillation), if any.
    pub teacher: Option<&'a Path>,
    pub resume: bool,
    pub quiet: bool,
    pub command: String,
}

/// Pretrains the audio tower and writes the model into `run.out`.
pub fn pretrain(b: &Backend, cfg: &PretrainConfig, run: &PretrainRun) -> anyhow::Result<PretrainReport> {
    let t0 = std::time::Instant::now();
    let tracks: Vec<_> =
        all_music_tracks(run.music)?.into_iter().filter(|t| !HELD_OUT_PACKAGES.contains(&t.group.as_str())).collect();
    anyhow::ensure!(!tracks.is_empty(), "no music to pretrain on in {}", run.music.display());
    let mut names: Vec<String> = tracks.iter().map(|t| t.group.clone()).collect();
    names.sort();
    names.dedup();
    let group: Vec<usize> = tracks.iter().map(|t| names.binary_search(&t.group).expect("listed")).collect();
    let audio = AudioConfig { max_seconds: cfg.max_seconds, ..AudioConfig::default() };
    let fe = Frontend::new(audio, MelParams::default(), b.clone());
    let paths: Vec<PathBuf> = tracks.iter().map(|t| t.path.clone()).collect();
    let cache = MelCache::open_files(run.music, &paths, &fe, run.quiet)?;
    let usable: Vec<usize> = (0..tracks.len()).filter(|&t| cache.usable(t)).collect();
    let is_val = |t: &usize| VALIDATION_PACKAGES.contains(&tracks[*t].group.as_str());
    let mut val: Vec<usize> = usable.iter().copied().filter(is_val).collect();
    let mut train: Vec<usize> = usable.iter().copied().filter(|t| !is_val(t)).collect();
    if val.is_empty() {
        // Music without those packages (a user's own): every fifth group validates.
        val = usable.iter().copied().filter(|&t| group[t] % 5 == 4).collect();
        train.retain(|&t| group[t] % 5 != 4);
    }
    anyhow::ensure!(
        train.len() >= 2 && val.len() >= 2,
        "too little music: {} training and {} validation tracks",
        train.len(),
        val.len()
    );
    let spec = AudioTowerSpec::dcue();
    let (mean, std) = super::data::band_statistics(&cache, &train)?;
    let mut params = Params::new();
    let net = AudioNet::init(&mut params, b, "audio", &spec, &mean, &std, cfg.seed)?;
    let pool = Pool { train: train.clone(), val: val.clone(), group };
    let mut task = Contrastive::new(
        net,
        &cache,
        pool,
        cfg.batch,
        cfg.steps_per_epoch,
        cfg.temperature,
        cfg.same_package,
        cfg.augment.clone(),
    );
    task.validate_trunk = cfg.readout == Readout::Trunk;
    let teacher = run.teacher.map(TeacherEmbeddings::load).transpose()?;
    if let Some(t) = &teacher {
        anyhow::ensure!(
            t.dim == spec.embedding_dim,
            "the teacher's embeddings are {}-d, the tower's {}-d",
            t.dim,
            spec.embedding_dim
        );
        let patches: Vec<_> =
            tracks.iter().map(|tr| tr.path.strip_prefix(run.music).ok().and_then(|rel| t.track(rel))).collect();
        let heard = train.iter().filter(|&&i| patches[i].is_some()).count();
        anyhow::ensure!(heard > 0, "the teacher's file names none of the training tracks");
        if !run.quiet {
            eprintln!("distilling {} ({heard} of {} training tracks)", t.model, train.len());
        }
        let offsets: Vec<f64> = patches.iter().map(|p| p.map_or(0.0, |p| p.centre_start(cfg.max_seconds))).collect();
        let track_means = match cfg.distill_track {
            false => Vec::new(),
            true => patches
                .iter()
                .zip(&offsets)
                .map(|(p, &start)| p.map(|p| p.mean(start, start + cfg.max_seconds)))
                .collect(),
        };
        let mel = MelParams::default();
        let distill = Distillation {
            patches,
            offsets,
            frame_seconds: mel.hop as f64 / f64::from(mel.sample_rate),
            track_means,
            weight: cfg.distill_weight,
        };
        task = task.with_distillation(cfg.contrastive_weight, distill);
    }
    let fit_cfg = FitConfig {
        optimizer: OptimizerConfig::adam(cfg.learning_rate),
        max_epochs: cfg.max_epochs,
        patience: cfg.patience,
    };
    // What the weights learn from: the whitening comes after, so changing it keeps the checkpoints.
    let learned = PretrainConfig { whiten: true, whiten_shrinkage: 0.0, ..cfg.clone() };
    let teacher_id = teacher.as_ref().map(|t| (t.model.clone(), run.teacher));
    let inputs = crate::model::sha256_hex(
        format!("{:?} {:?} {:?}", serde_json::to_string(&learned)?, paths, teacher_id).as_bytes(),
    );
    let checkpoints = run.out.join("checkpoints");
    let fit_run = FitRun { checkpoint_dir: &checkpoints, resume: run.resume, quiet: run.quiet, seed: cfg.seed, inputs };
    let history = fit::fit(&mut task, &mut params, b, &fit_cfg, &fit_run)?;
    let mut tower = task.net.to_tower(b, &params)?;
    match cfg.readout {
        Readout::Trunk => {
            let rows = super::data::spaced_window_outputs(b, &task.net, &params, &cache, &train, 8, true)?;
            let (mean, w) = super::whiten::fit_pca(&rows, spec.embedding_dim, cfg.whiten_shrinkage)?;
            super::whiten::read_out(&mut tower.fc, &mean, &w);
        }
        Readout::Output if cfg.whiten => {
            let rows = super::data::spaced_window_outputs(b, &task.net, &params, &cache, &train, 8, false)?;
            let (mean, w) = super::whiten::fit(&rows, cfg.whiten_shrinkage)?;
            super::whiten::fold_into(&mut tower.fc, &mean, &w);
        }
        Readout::Output => {}
    }
    let report = PretrainReport {
        music: run.music.display().to_string(),
        backend: b.name(),
        train_tracks: train.len(),
        validation_tracks: val.len(),
        held_out_packages: HELD_OUT_PACKAGES.iter().map(|s| s.to_string()).collect(),
        teacher: teacher
            .as_ref()
            .map(|t| format!("{}, {}", t.model, run.teacher.map(|p| p.display().to_string()).unwrap_or_default())),
        config: cfg.clone(),
        history,
        seconds: t0.elapsed().as_secs_f64(),
    };
    write_model(run, cfg, &tower, &report)?;
    Ok(report)
}

fn write_model(
    run: &PretrainRun,
    cfg: &PretrainConfig,
    tower: &crate::nn::AudioTower,
    report: &PretrainReport,
) -> anyhow::Result<()> {
    // Random text tower and fusion of the default sizes, around the trained audio tower.
    let (manifest, bytes) = Model::init("pretrained", cfg.seed, tower.spec.clone(), MelParams::default(), &run.command);
    let scratch = run.out.join("checkpoints").join("random-init");
    Model::save(&scratch, &manifest, &bytes)?;
    let random = Model::load(&scratch)?;
    let mut manifest = random.manifest.clone();
    let files = run.music.join("FILES.sha256");
    let listing = std::fs::read(&files).ok().map(|b| crate::model::sha256_hex(&b));
    manifest.trained = true;
    manifest.version = "0.1.0-pretrained".into();
    manifest.provenance.method = format!(
        "audio tower: contrastive pretraining (symmetric InfoNCE, weight {}, temperature {}, {}% of positives from the same package){}, best of {} epochs by validation same-package mAP {:.4}{}; text tower and fusion: random (seed {})",
        cfg.contrastive_weight,
        cfg.temperature,
        (cfg.same_package * 100.0).round(),
        report
            .teacher
            .as_ref()
            .map(|t| format!(" and distillation of {t} (cosine proximity, weight {})", cfg.distill_weight))
            .unwrap_or_default(),
        report.history.epochs.len(),
        1.0 - report.history.best_val,
        if cfg.whiten {
            format!(", output whitened over training windows (shrinkage {})", cfg.whiten_shrinkage)
        } else {
            String::new()
        },
        cfg.seed
    );
    manifest.provenance.data = Some(format!(
        "{} ({} training tracks, {} validation; held out: {}){}",
        run.music.display(),
        report.train_tracks,
        report.validation_tracks,
        HELD_OUT_PACKAGES.join(", "),
        listing.map(|s| format!("; FILES.sha256 {s}")).unwrap_or_default()
    ));
    manifest.provenance.command = run.command.clone();
    manifest.provenance.seed = Some(cfg.seed);
    manifest.training = Some(serde_json::to_value(cfg)?);
    let (manifest, bytes) = Model::serialize(manifest, tower, &random.text, &random.fusion);
    Model::save(run.out, &manifest, &bytes)?;
    std::fs::remove_dir_all(&scratch).ok();
    let path = run.out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    super::report::plot_pretraining(&report.history, &run.out.join("loss_curves.png"))?;
    Ok(())
}
