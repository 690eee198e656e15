//! `synth`, `train`, `eval`: the offline side. A synthetic catalog, the trainer, and the
//! papers' cold-start evaluation.

use std::path::PathBuf;

use debut::synth::{self, SynthConfig};

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Directory to write the catalog into (created).
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random choice (the same seed gives the same result).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Artists in the catalog.
    #[arg(long, default_value_t = 300)]
    artists: usize,
    /// Tracks in the catalog.
    #[arg(long, default_value_t = 3000)]
    tracks: usize,
    /// Listeners with plays.
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// Seconds of audio per track.
    #[arg(long, default_value_t = 30.0)]
    seconds: f32,
    /// Mean number of distinct tracks a user plays.
    #[arg(long, default_value_t = 40.0)]
    plays_per_user: f32,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        seed: args.seed,
        artists: args.artists,
        tracks: args.tracks,
        users: args.users,
        seconds: args.seconds,
        plays_per_user: args.plays_per_user,
    };
    let t0 = std::time::Instant::now();
    let s = synth::generate(&args.out, &cfg, args.quiet)?;
    eprintln!(
        "wrote {}: {} artists, {} tracks ({:.1} h of audio), {} users, {} plays in {:.1} s",
        args.out.display(),
        s.artists,
        s.tracks,
        s.audio_seconds / 3600.0,
        s.users,
        s.plays,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Catalog directory (plays.tsv, tracks.jsonl, artists.jsonl).
    #[arg(long)]
    data: PathBuf,
    /// Model directory to write (manifest.json, weights.safetensors, report.json,
    /// loss_curves.png, training/, checkpoints/).
    #[arg(long)]
    out: PathBuf,
    /// The model's name (default: the output directory's name).
    #[arg(long)]
    name: Option<String>,
    /// Run only these stages (repeatable; default: all, in order).
    #[arg(long, value_enum)]
    stage: Vec<debut::train::Stage>,
    /// Continue from the checkpoints in the output directory.
    #[arg(long)]
    resume: bool,
    /// Seed of every random choice (the same seed gives the same result).
    #[arg(long)]
    seed: Option<u64>,
    /// Cap every stage's epochs (quick runs).
    #[arg(long)]
    max_epochs: Option<usize>,
    /// Which audio model the served model carries.
    #[arg(long, value_enum)]
    serve: Option<debut::train::AudioModel>,
    /// Start the audio towers from this model's (`debut pretrain`'s output); with
    /// `--serve pretrained` the model serves it untouched.
    #[arg(long)]
    init_audio: Option<PathBuf>,
    /// The full training configuration as JSON (every size and rate; see `report.json`'s
    /// `config` for the shape); flags above override it.
    #[arg(long)]
    train_config: Option<PathBuf>,
    /// Threads for the CPU kernels (results are deterministic for a seed and thread count).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn train(config: &debut::config::Config, args: TrainArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut cfg: debut::train::TrainConfig = match &args.train_config {
        Some(p) => {
            serde_json::from_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("{} is not a training configuration", p.display()))?
        }
        None => Default::default(),
    };
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(serve) = args.serve {
        cfg.audio.serve = serve;
    }
    if let Some(dir) = &args.init_audio {
        cfg.audio.init = Some(dir.clone());
    }
    if let Some(e) = args.max_epochs {
        for fit in [&mut cfg.dcue.fit, &mut cfg.regression.fit, &mut cfg.text.fit, &mut cfg.fusion.fit] {
            fit.max_epochs = fit.max_epochs.min(e);
        }
    }
    let name = args.name.clone().unwrap_or_else(|| {
        args.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    });
    let run = debut::train::TrainRun {
        data: args.data.clone(),
        out: args.out.clone(),
        name,
        stages: args.stage.clone(),
        resume: args.resume,
        quiet: args.quiet,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let backend = debut::backend::select(config.backend).context("starting the compute backend")?;
    eprintln!("training on {} ({threads} CPU threads) from {}", backend.name(), args.data.display());
    let report = pool.install(|| debut::train::train(&backend, &cfg, &run))?;
    for h in &report.stages {
        eprintln!(
            "{:<10} {:>3} epochs, best validation loss {:.4} at epoch {} (initial {:.4})",
            h.task,
            h.epochs.len(),
            h.best_val,
            h.best_epoch,
            h.initial_val
        );
    }
    eprintln!("wrote {} in {:.0} s", args.out.display(), report.seconds);
    Ok(())
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Catalog directory the model was trained on.
    #[arg(long)]
    data: PathBuf,
    /// Model directory written by `debut train`.
    #[arg(long)]
    model: PathBuf,
    /// Write the rows as JSON ([{"model", "auc", "map500", "tags_auc"}]).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the ROC curves (roc.png) here.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn eval(config: &debut::config::Config, args: EvalArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let backend = debut::backend::select(config.backend).context("starting the compute backend")?;
    let run = debut::eval::EvalRun { data: args.data.clone(), model: args.model.clone(), quiet: args.quiet };
    let e = debut::eval::evaluate(&backend, &run)?;
    print!("{}", debut::eval::table(&e));
    if let Some(p) = &args.json {
        debut::eval::write_json(&e, p)?;
    }
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir)?;
        debut::eval::plot_roc(&e, &dir.join("roc.png"))?;
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct EvalAudioArgs {
    /// Music directory: the fetch script's (manifest.jsonl; packages are the groups) or one
    /// subdirectory per group.
    #[arg(long)]
    audio: PathBuf,
    /// Model directory (default: the configured model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Groups to evaluate (default: the held-out packages with a manifest, every subdirectory
    /// without).
    #[arg(long, num_args = 1..)]
    packages: Option<Vec<String>>,
    /// Seed of the random-weight baseline.
    #[arg(long, default_value_t = 1)]
    random_seed: u64,
    /// Also score a teacher's embeddings of the same clips (`models/scripts/teacher_musicnn.py`).
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Write the rows as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn eval_audio(config: &debut::config::Config, args: EvalAudioArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use debut::eval::music;
    let backend = debut::backend::select(config.backend).context("starting the compute backend")?;
    let dir = args.model.clone().unwrap_or_else(|| config.model_dir());
    let model = debut::model::Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    let fe = debut::frontend::Frontend::new(config.audio.clone(), model.mel_params(), backend);
    let tracks = music::music_tracks(&args.audio, args.packages.as_deref())?;
    let (mut rows, kept) = music::evaluate_music(&fe, &model, &tracks, args.random_seed, args.quiet)?;
    if let Some(path) = &args.teacher {
        let teacher = debut::catalog::teacher::TeacherEmbeddings::load(path)?;
        let views = music::teacher_views(&teacher, &args.audio, &kept, config.audio.max_seconds)
            .with_context(|| format!("{} has not embedded every evaluated track", path.display()))?;
        let groups: Vec<String> = kept.iter().map(|t| t.group.clone()).collect();
        let name = teacher.model.split(" (").next().unwrap_or("teacher").to_string();
        rows.push(music::score(&name, &views, &groups));
    }
    let mut groups: Vec<&str> = kept.iter().map(|t| t.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    print!("{}", music::table(&rows, kept.len(), groups.len()));
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&rows)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct PretrainArgs {
    /// Music directories' parent: the fetch script's output (manifest.jsonl) or one
    /// subdirectory per package or album. The held-out packages are never read.
    #[arg(long)]
    audio: PathBuf,
    /// Model directory to write (created).
    #[arg(long)]
    out: PathBuf,
    /// Settings (JSON, `PretrainConfig`: batch, temperature, augmentations, ...); the flags
    /// below override it.
    #[arg(long)]
    pretrain_config: Option<PathBuf>,
    /// Seed of every random choice (the same seed gives the same result).
    #[arg(long)]
    seed: Option<u64>,
    /// Cap the epochs (quick runs).
    #[arg(long)]
    max_epochs: Option<usize>,
    /// Optimiser steps per epoch.
    #[arg(long)]
    steps_per_epoch: Option<usize>,
    /// Tracks per batch (each gives two augmented crops).
    #[arg(long)]
    batch: Option<usize>,
    /// Share of positives from another track of the same package (0: same track only).
    #[arg(long)]
    same_package: Option<f32>,
    /// A teacher's embeddings of the music (`models/scripts/teacher_musicnn.py`), regressed
    /// beside the contrastive loss (distillation).
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Continue from the checkpoints in OUT.
    #[arg(long)]
    resume: bool,
    /// Threads for the CPU path (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn pretrain(config: &debut::config::Config, args: PretrainArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use debut::train::pretrain::{PretrainConfig, PretrainRun};
    let mut cfg: PretrainConfig = match &args.pretrain_config {
        Some(p) => {
            serde_json::from_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("{} is not a pretraining configuration", p.display()))?
        }
        None => PretrainConfig::default(),
    };
    cfg.seed = args.seed.unwrap_or(cfg.seed);
    cfg.max_epochs = args.max_epochs.unwrap_or(cfg.max_epochs);
    cfg.steps_per_epoch = args.steps_per_epoch.unwrap_or(cfg.steps_per_epoch);
    cfg.batch = args.batch.unwrap_or(cfg.batch);
    cfg.same_package = args.same_package.unwrap_or(cfg.same_package);
    let backend = debut::backend::select(config.backend).context("starting the compute backend")?;
    let run = PretrainRun {
        music: &args.audio,
        out: &args.out,
        teacher: args.teacher.as_deref(),
        resume: args.resume,
        quiet: args.quiet,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    eprintln!("pretraining on {} ({threads} CPU threads) from {}", backend.name(), args.audio.display());
    let r = pool.install(|| debut::train::pretrain::pretrain(&backend, &cfg, &run))?;
    let h = &r.history;
    println!(
        "pretrained on {} tracks ({} validating) in {:.0} s: {} epochs, best validation same-package mAP {:.4} at epoch {} (initial {:.4}); model in {}",
        r.train_tracks,
        r.validation_tracks,
        r.seconds,
        h.epochs.len(),
        1.0 - h.best_val,
        h.best_epoch,
        1.0 - h.initial_val,
        args.out.display()
    );
    Ok(())
}
