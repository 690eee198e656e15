//! `debut train`: every weight of the served model, learned from a catalog directory.
//!
//! Stages, each a plain function over owned data, in order (any one alone with `--stage`,
//! reading the earlier stages' outputs from the model directory):
//!
//! 1. `wmf` (`wmf.rs`): song factors from the training plays and, over plays summed per
//!    artist, artist factors (Oramas et al. §2); validation items folded in.
//! 2. `text` (`text.rs`): the label plugin's features -> tf-idf -> dense layers, regressing
//!    artist factors.
//! 3. `audio`: DCUE end to end (`dcue.rs`) and WMF + regression (`regression.rs`); the
//!    configured one is served.
//! 4. `fusion` (`head.rs`): mm-lf-lin over the served audio and artist embeddings, and the
//!    text-only baseline; then the served model is written.
//!
//! Every network trains through [`fit::fit`] on the chosen [`Backend`]: the same kernels
//! inference runs, parameters and optimiser state on the device.

mod artifacts;
pub mod augment;
pub mod contrastive;
pub mod data;
mod dcue;
pub mod fit;
mod head;
pub mod nets;
pub mod optim;
pub mod params;
pub mod pretrain;
mod regression;
pub mod report;
mod text;
pub mod whiten;
pub mod wmf;

pub use artifacts::Artifacts;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::catalog::mels::MelCache;
use crate::catalog::{Catalog, Interactions, Part, Splits};
use crate::frontend::Frontend;
use crate::model::{FusionSpec, Manifest, Model, Provenance};
use crate::nn::{AudioTowerSpec, Dense, TextTower, TextTowerSpec};
use crate::spectral::MelParams;
use fit::{FitConfig, FitRun};
use nets::{AudioNet, DenseStack};
use optim::OptimizerConfig;
use params::Params;

/// Which audio model the served model carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AudioModel {
    Dcue,
    Regression,
    /// `audio.init`'s tower as it is (pretrained on real music, not tuned to the catalog).
    Pretrained,
}

impl AudioModel {
    /// Its tower's name among a run's artifacts (`NAME.tower.safetensors`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Self::Dcue => "dcue",
            Self::Regression => "regression",
            Self::Pretrained => "pretrained",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Wmf,
    Text,
    Audio,
    Fusion,
}

/// Every size and rate of a training run (recorded in the model's manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub seed: u64,
    /// Fractions of artists for training and validation; the rest is the test split.
    pub train_fraction: f64,
    pub val_fraction: f64,
    pub wmf: wmf::WmfConfig,
    pub audio: AudioConfig,
    pub dcue: DcueConfig,
    pub regression: RegressionConfig,
    pub text: TextConfig,
    pub fusion: FusionConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    pub tower: AudioTowerSpec,
    pub serve: AudioModel,
    /// A model whose audio tower (input statistics included) starts the DCUE and regression
    /// towers, e.g. `debut pretrain`'s; `None`: random weights.
    pub init: Option<PathBuf>,
    /// Tracks read for the per-band input statistics.
    pub stats_tracks: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DcueConfig {
    /// User embedding width, hidden widths; the last layer is the audio tower's width.
    pub user_embedding: usize,
    pub user_hidden: Vec<usize>,
    pub negatives: usize,
    pub margin: f32,
    /// (user, track) pairs per batch.
    pub batch: usize,
    pub fit: FitConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegressionConfig {
    pub batch: usize,
    pub fit: FitConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    pub tower: TextTowerSpec,
    /// The feature plugin (default: the bundled bio-semantic).
    pub plugin: Option<PathBuf>,
    pub batch: usize,
    pub fit: FitConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FusionConfig {
    pub batch: usize,
    /// Probability of zeroing a training track's artist half.
    pub artist_dropout: f32,
    pub fit: FitConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            train_fraction: 0.7,
            val_fraction: 0.1,
            wmf: Default::default(),
            audio: Default::default(),
            dcue: Default::default(),
            regression: Default::default(),
            text: Default::default(),
            fusion: Default::default(),
        }
    }
}

impl TrainConfig {
    /// The widths that must agree: every model regresses (or is scored against) the WMF
    /// factors, and fusion reads the audio and artist embeddings.
    pub fn check(&self) -> anyhow::Result<()> {
        let k = self.wmf.factors;
        anyhow::ensure!(
            self.audio.tower.embedding_dim == k && self.text.tower.embedding_dim == k,
            "the audio ({}) and text ({}) embeddings must be as wide as the WMF factors ({k})",
            self.audio.tower.embedding_dim,
            self.text.tower.embedding_dim
        );
        self.audio.tower.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            self.audio.serve != AudioModel::Pretrained || self.audio.init.is_some(),
            "serving the pretrained audio tower needs one: set audio.init (--init-audio)"
        );
        anyhow::ensure!(
            self.dcue.batch > 1 && self.dcue.negatives > 0,
            "DCUE needs batches of 2 or more and negatives"
        );
        anyhow::ensure!(
            self.train_fraction > 0.0 && self.val_fraction > 0.0 && self.train_fraction + self.val_fraction < 1.0,
            "the train and validation fractions must leave room for a test split"
        );
        Ok(())
    }
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self { tower: AudioTowerSpec::dcue(), serve: AudioModel::Dcue, init: None, stats_tracks: 300 }
    }
}

impl Default for DcueConfig {
    fn default() -> Self {
        Self {
            user_embedding: 128,
            user_hidden: vec![256],
            negatives: 20,
            margin: 0.2,
            batch: 64,
            fit: FitConfig { optimizer: OptimizerConfig::sgd(0.1), max_epochs: 30, patience: 3 },
        }
    }
}

impl Default for RegressionConfig {
    fn default() -> Self {
        Self { batch: 32, fit: FitConfig { optimizer: OptimizerConfig::adam(1e-3), max_epochs: 60, patience: 6 } }
    }
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            tower: TextTowerSpec::oramas(),
            plugin: None,
            batch: 32,
            fit: FitConfig { optimizer: OptimizerConfig::adam(1e-3), max_epochs: 200, patience: 10 },
        }
    }
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            batch: 32,
            artist_dropout: 0.3,
            fit: FitConfig { optimizer: OptimizerConfig::adam(1e-3), max_epochs: 200, patience: 10 },
        }
    }
}

/// Where and how a run goes.
pub struct TrainRun {
    pub data: PathBuf,
    pub out: PathBuf,
    pub name: String,
    /// Empty: every stage.
    pub stages: Vec<Stage>,
    pub resume: bool,
    pub quiet: bool,
    /// The command line, for provenance.
    pub command: String,
}

/// A catalog opened for training: splits, spectrograms, which tracks are usable.
pub struct Prepared {
    pub catalog: Catalog,
    pub splits: Splits,
    pub cache: MelCache,
}

impl Prepared {
    pub fn open(data: &Path, cfg: &TrainConfig, b: &Backend, quiet: bool) -> anyhow::Result<Self> {
        let catalog = Catalog::load(data).with_context(|| format!("reading the catalog in {}", data.display()))?;
        let splits = Splits::by_artist(catalog.artists.len(), cfg.seed, cfg.train_fraction, cfg.val_fraction);
        let fe = Frontend::new(crate::audio::AudioConfig::default(), MelParams::default(), b.clone());
        let cache = MelCache::open(&catalog, &fe, quiet)?;
        let bad = (0..catalog.tracks.len()).filter(|&t| !cache.usable(t)).count();
        if bad > 0 {
            tracing::warn!("{bad} tracks could not be decoded and are left out (see the mel cache index)");
        }
        Ok(Self { catalog, splits, cache })
    }

    /// Usable tracks of a part.
    pub fn tracks(&self, part: Part) -> Vec<usize> {
        self.splits.tracks(&self.catalog, part).into_iter().filter(|&t| self.cache.usable(t)).collect()
    }
}

/// Runs the requested stages; returns the report (also written to `out/report.json`).
pub fn train(b: &Backend, cfg: &TrainConfig, run: &TrainRun) -> anyhow::Result<report::Report> {
    let t0 = Instant::now();
    cfg.check()?;
    let prep = Prepared::open(&run.data, cfg, b, run.quiet)?;
    let art = Artifacts::new(&run.out);
    art.save_config(cfg)?;
    let wants = |s: Stage| run.stages.is_empty() || run.stages.contains(&s);
    let mut report = art.load_report().unwrap_or_else(|| report::Report::new(b, &prep, cfg));
    report.backend = b.name();
    let ckpt = run.out.join("checkpoints");
    let fit_run = |seed_offset: u64, inputs: String| FitRun {
        checkpoint_dir: &ckpt,
        resume: run.resume,
        quiet: run.quiet,
        seed: cfg.seed ^ seed_offset,
        inputs,
    };
    let config_json = serde_json::to_string(cfg)?;

    if wants(Stage::Wmf) {
        let t = Instant::now();
        let (factors, losses) = stage_wmf(&prep, cfg, run.quiet);
        art.save_wmf(&factors)?;
        report.wmf =
            Some(report::WmfReport { song_loss: losses.0, artist_loss: losses.1, seconds: t.elapsed().as_secs_f64() });
    }
    let factors = art.load_wmf().context("the wmf stage's output is missing: run it first")?;

    if wants(Stage::Text) {
        let inputs = art.fingerprint(&["wmf.safetensors"], &config_json)?;
        let (tower, history) = stage_text(b, &prep, cfg, &factors, &fit_run(0x7e47, inputs))?;
        art.save_text(&tower)?;
        report.set_history(history);
    }
    // A pretrained tower is copied in first: the audio stage starts from it, and the fusion
    // may serve it untouched without that stage.
    let pretrained = match &cfg.audio.init {
        Some(dir) => {
            let model = Model::load(dir)
                .with_context(|| format!("loading the audio tower to start from, {}", dir.display()))?;
            anyhow::ensure!(
                model.audio.spec == cfg.audio.tower,
                "{}'s audio tower is not the configured architecture",
                dir.display()
            );
            art.save_tower("pretrained", &model.audio)?;
            Some(model.audio)
        }
        None => None,
    };
    if wants(Stage::Audio) {
        let start = match pretrained {
            Some(tower) => AudioStart::Tower(tower),
            None => {
                let (mean, std) =
                    data::band_statistics(&prep.cache, &first(&prep.tracks(Part::Train), cfg.audio.stats_tracks))?;
                AudioStart::Random { mean, std }
            }
        };
        let files: &[&str] = match start {
            AudioStart::Tower(_) => &["wmf.safetensors", "pretrained.tower.safetensors"],
            AudioStart::Random { .. } => &["wmf.safetensors"],
        };
        let inputs = art.fingerprint(files, &config_json)?;
        let (params, net, history) =
            stage_regression(b, &prep, cfg, &factors, &start, &fit_run(0xa0d1, inputs.clone()))?;
        art.save_params("regression", &params.to_host(b)?)?;
        art.save_tower("regression", &net.to_tower(b, &params)?)?;
        report.set_history(history);
        let (params, net, history) = stage_dcue(b, &prep, cfg, &start, &fit_run(0xdc0e, inputs))?;
        art.save_params("dcue", &params.to_host(b)?)?;
        art.save_tower("dcue", &net.to_tower(b, &params)?)?;
        report.set_history(history);
    }
    if wants(Stage::Fusion) {
        let text = art.load_text().context("the text stage's output is missing: run it first")?;
        let served = art.load_tower(cfg.audio.serve).context("the audio stage's output is missing: run it first")?;
        let served_file = format!("{}.tower.safetensors", cfg.audio.serve.file_stem());
        let inputs = art.fingerprint(&["wmf.safetensors", "text.safetensors", &served_file], &config_json)?;
        let (fusion, text_only, histories) =
            stage_fusion(b, &prep, cfg, &factors, &served, &text, &fit_run(0xf05e, inputs))?;
        art.save_dense("text_only", &text_only)?;
        for h in histories {
            report.set_history(h);
        }
        let manifest = served_manifest(&run.name, cfg, run, &served, &text, &fusion, &report)?;
        let (manifest, bytes) = Model::serialize(manifest, &served, &text, &fusion);
        Model::save(&run.out, &manifest, &bytes)?;
        Model::load(&run.out).context("the written model does not load back")?;
        report.model_sha256 = Some(manifest.weights.sha256);
    }
    report.seconds += t0.elapsed().as_secs_f64();
    art.save_report(&report)?;
    report::plot_curves(&report.stages, &run.out.join("loss_curves.png"))?;
    Ok(report)
}

fn first(v: &[usize], n: usize) -> Vec<usize> {
    v.iter().copied().take(n).collect()
}

/// Song and artist factors (training items fitted, validation items folded in).
pub struct FactorSet {
    pub k: usize,
    /// Song-WMF user factors `[users, k]`.
    pub song_users: Vec<f32>,
    /// Per catalog track: its factors (train: fitted, val: folded in; test: none).
    pub songs: Vec<Option<Vec<f32>>>,
    pub artists: Vec<Option<Vec<f32>>>,
}

fn stage_wmf(prep: &Prepared, cfg: &TrainConfig, quiet: bool) -> (FactorSet, (Vec<f64>, Vec<f64>)) {
    let c = &prep.catalog;
    let k = cfg.wmf.factors;
    let bar = crate::progress::bar(2 * cfg.wmf.iterations as u64, "wmf", quiet);
    let fit_one = |m: &Interactions, seed: u64| {
        let mut losses = Vec::new();
        let f = wmf::fit(m, &cfg.wmf, seed, |_, l| {
            losses.push(l);
            bar.inc(1);
        });
        (f, losses)
    };
    // Songs: fit on the training tracks, fold the validation tracks in.
    let (train_t, val_t) = (prep.splits.tracks(c, Part::Train), prep.splits.tracks(c, Part::Val));
    let (song, song_loss) = fit_one(&Interactions::of_tracks(c, &train_t), cfg.seed);
    let val_items = wmf::fold_in(&Interactions::of_tracks(c, &val_t).transpose(), &song.users, &cfg.wmf, 10);
    let mut songs = vec![None; c.tracks.len()];
    for (i, &t) in train_t.iter().enumerate() {
        songs[t] = Some(song.item(i).to_vec());
    }
    for (i, &t) in val_t.iter().enumerate() {
        songs[t] = Some(val_items[i * k..(i + 1) * k].to_vec());
    }
    // Artists: plays summed per artist.
    let (train_a, val_a) = (prep.splits.artists(Part::Train), prep.splits.artists(Part::Val));
    let (artist, artist_loss) = fit_one(&Interactions::of_artists(c, &train_a), cfg.seed ^ 0xa7);
    let val_items = wmf::fold_in(&Interactions::of_artists(c, &val_a).transpose(), &artist.users, &cfg.wmf, 10);
    let mut artists = vec![None; c.artists.len()];
    for (i, &a) in train_a.iter().enumerate() {
        artists[a] = Some(artist.item(i).to_vec());
    }
    for (i, &a) in val_a.iter().enumerate() {
        artists[a] = Some(val_items[i * k..(i + 1) * k].to_vec());
    }
    bar.finish_and_clear();
    (FactorSet { k, song_users: song.users, songs, artists }, (song_loss, artist_loss))
}

/// (train, val) items that have targets: `(index, target)`.
fn targeted(items: &[usize], targets: &[Option<Vec<f32>>]) -> Vec<(usize, Vec<f32>)> {
    items.iter().filter_map(|&i| targets[i].clone().map(|t| (i, t))).collect()
}

/// Plugin features of every artist's bio.
pub fn artist_features(
    prep: &Prepared,
    cfg: &TrainConfig,
) -> anyhow::Result<(Vec<crate::plugin::SparseFeatures>, String)> {
    let path = cfg.text.plugin.clone().unwrap_or_else(|| crate::plugin::bundled_plugin("bio-semantic"));
    let host = crate::plugin::PluginHost::new(Default::default())?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading the plugin {}", path.display()))?;
    let plugin = host.load(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    anyhow::ensure!(
        plugin.info.feature_dim as usize == cfg.text.tower.feature_dim,
        "the plugin writes {} features, the text tower reads {}",
        plugin.info.feature_dim,
        cfg.text.tower.feature_dim
    );
    let feats = prep
        .catalog
        .artists
        .iter()
        .map(|a| plugin.extract(&a.release_text(None)).map_err(|e| anyhow::anyhow!("artist {}: {e}", a.artist_id)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((feats, plugin.sha256.clone()))
}

fn stage_text(
    b: &Backend,
    prep: &Prepared,
    cfg: &TrainConfig,
    f: &FactorSet,
    run: &FitRun,
) -> anyhow::Result<(TextTower, fit::History)> {
    let (features, sha) = artist_features(prep, cfg)?;
    let train_a = prep.splits.artists(Part::Train);
    let idf = text::fit_idf(&train_a.iter().map(|&a| &features[a]).collect::<Vec<_>>(), cfg.text.tower.feature_dim);
    let spec = &cfg.text.tower;
    let mut dims = vec![spec.feature_dim];
    dims.extend(&spec.hidden);
    dims.push(spec.embedding_dim);
    let mut params = Params::new();
    let stack = DenseStack::init(&mut params, b, "text", &dims, None, cfg.seed ^ 0x7e)?;
    let mut task = text::TextTask::new(
        stack,
        &features,
        &idf,
        targeted(&train_a, &f.artists),
        targeted(&prep.splits.artists(Part::Val), &f.artists),
        cfg.text.batch,
    );
    let history = fit::fit(&mut task, &mut params, b, &cfg.text.fit, run)?;
    let layers = task.stack.to_dense(b, &params)?;
    let spec = TextTowerSpec { plugin_sha256: Some(sha), ..spec.clone() };
    Ok((TextTower { spec, idf, layers }, history))
}

fn stage_regression(
    b: &Backend,
    prep: &Prepared,
    cfg: &TrainConfig,
    f: &FactorSet,
    start: &AudioStart,
    run: &FitRun,
) -> anyhow::Result<(Params, AudioNet, fit::History)> {
    let mut params = Params::new();
    let net = start.net(&mut params, b, cfg, cfg.seed ^ 0xa0)?;
    let train = targeted(&prep.tracks(Part::Train), &f.songs);
    let val = targeted(&prep.tracks(Part::Val), &f.songs);
    anyhow::ensure!(!train.is_empty() && !val.is_empty(), "no training or validation tracks with song factors");
    let mut task = regression::Regression::new(net, &prep.cache, train, val, cfg.regression.batch);
    let history = fit::fit(&mut task, &mut params, b, &cfg.regression.fit, run)?;
    Ok((params, task.net, history))
}

/// Where the audio towers start: random weights over the catalog's band statistics, or a
/// pretrained tower.
enum AudioStart {
    Random { mean: Vec<f32>, std: Vec<f32> },
    Tower(crate::nn::AudioTower),
}

impl AudioStart {
    fn net(&self, params: &mut Params, b: &Backend, cfg: &TrainConfig, seed: u64) -> anyhow::Result<AudioNet> {
        Ok(match self {
            Self::Random { mean, std } => AudioNet::init(params, b, "audio", &cfg.audio.tower, mean, std, seed)?,
            Self::Tower(t) => AudioNet::from_tower(params, b, "audio", t)?,
        })
    }
}

/// Distinct (user, track) pairs of the plays of `tracks`.
fn pairs(prep: &Prepared, tracks: &[usize]) -> Vec<(u32, u32)> {
    let mut keep = vec![false; prep.catalog.tracks.len()];
    tracks.iter().for_each(|&t| keep[t] = true);
    let mut p: Vec<(u32, u32)> =
        prep.catalog.plays.iter().filter(|p| keep[p.track as usize]).map(|p| (p.user, p.track)).collect();
    p.sort_unstable();
    p.dedup();
    p
}

fn stage_dcue(
    b: &Backend,
    prep: &Prepared,
    cfg: &TrainConfig,
    start: &AudioStart,
    run: &FitRun,
) -> anyhow::Result<(Params, AudioNet, fit::History)> {
    let mut params = Params::new();
    let net = start.net(&mut params, b, cfg, cfg.seed ^ 0xdc)?;
    let users = dcue_user_tower(&mut params, b, cfg, prep.catalog.users.len())?;
    let mut played = vec![Vec::new(); prep.catalog.users.len()];
    for p in &prep.catalog.plays {
        played[p.user as usize].push(p.track);
    }
    played.iter_mut().for_each(|v| {
        v.sort_unstable();
        v.dedup();
    });
    let (train, val) = (pairs(prep, &prep.tracks(Part::Train)), pairs(prep, &prep.tracks(Part::Val)));
    anyhow::ensure!(!train.is_empty() && !val.is_empty(), "no training or validation plays");
    let mut val_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7a1);
    let c = &cfg.dcue;
    let mut task =
        dcue::Dcue::new(net, users, &prep.cache, train, val, played, c.negatives, c.margin, c.batch, &mut val_rng);
    let history = fit::fit(&mut task, &mut params, b, &c.fit, run)?;
    Ok((params, task.net, history))
}

/// DCUE's user tower: an embedding table, dense layers, the audio tower's width out.
pub fn dcue_user_tower(
    params: &mut Params,
    b: &Backend,
    cfg: &TrainConfig,
    users: usize,
) -> anyhow::Result<DenseStack> {
    let mut dims = vec![cfg.dcue.user_embedding];
    dims.extend(&cfg.dcue.user_hidden);
    dims.push(cfg.audio.tower.embedding_dim);
    Ok(DenseStack::init(params, b, "user", &dims, Some(users), cfg.seed ^ 0x05e)?)
}

/// Artist embeddings of every artist through the text tower (zeros where a bio yields none).
pub fn artist_embeddings(
    b: &Backend,
    prep: &Prepared,
    cfg: &TrainConfig,
    text: &TextTower,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let (features, _) = artist_features(prep, cfg)?;
    let refs: Vec<&crate::plugin::SparseFeatures> = features.iter().collect();
    let e = b.text_tower(text, &crate::embedding::tfidf(&refs, &text.idf))?;
    Ok((0..e.cols).map(|c| e.column(c)).collect())
}

/// A training track's audio embedding, its artist's embedding and its song factors.
type FusionSample = (Vec<f32>, Vec<f32>, Vec<f32>);

fn stage_fusion(
    b: &Backend,
    prep: &Prepared,
    cfg: &TrainConfig,
    f: &FactorSet,
    served: &crate::nn::AudioTower,
    text: &TextTower,
    run: &FitRun,
) -> anyhow::Result<(Dense, Dense, Vec<fit::History>)> {
    let artists = artist_embeddings(b, prep, cfg, text)?;
    let c = &prep.catalog;
    let samples = |part: Part| -> anyhow::Result<Vec<FusionSample>> {
        let tracks: Vec<usize> = prep.tracks(part).into_iter().filter(|&t| f.songs[t].is_some()).collect();
        let audio = data::track_embeddings(b, served, &prep.cache, &tracks)?;
        Ok(tracks
            .iter()
            .zip(audio)
            .map(|(&t, a)| (a, artists[c.tracks[t].artist].clone(), f.songs[t].clone().expect("filtered")))
            .collect())
    };
    let (train, val) = (samples(Part::Train)?, samples(Part::Val)?);
    let (da, dt, out) = (served.spec.embedding_dim, text.spec.embedding_dim, cfg.audio.tower.embedding_dim);
    let concat = |s: &[FusionSample]| -> Vec<(Vec<f32>, Vec<f32>)> {
        s.iter().map(|(a, t, y)| ([a.as_slice(), t.as_slice()].concat(), y.clone())).collect()
    };
    let text_only = |s: &[FusionSample]| -> Vec<(Vec<f32>, Vec<f32>)> {
        s.iter().map(|(_, t, y)| (t.clone(), y.clone())).collect()
    };
    let mut fusion_params = Params::new();
    let stack = DenseStack::init(&mut fusion_params, b, "fusion", &[da + dt, out], None, cfg.seed ^ 0xf0)?;
    let mut fusion = head::Head::new(
        "fusion",
        stack,
        concat(&train),
        concat(&val),
        cfg.fusion.batch,
        Some((da, cfg.fusion.artist_dropout)),
    );
    let h1 = fit::fit(&mut fusion, &mut fusion_params, b, &cfg.fusion.fit, run)?;
    let mut alone_params = Params::new();
    let stack = DenseStack::init(&mut alone_params, b, "text_only", &[dt, out], None, cfg.seed ^ 0xf1)?;
    let mut alone = head::Head::new("text_only", stack, text_only(&train), text_only(&val), cfg.fusion.batch, None);
    let h2 = fit::fit(&mut alone, &mut alone_params, b, &cfg.fusion.fit, run)?;
    let fusion_dense = fusion.stack.to_dense(b, &fusion_params)?.remove(0);
    let alone_dense = alone.stack.to_dense(b, &alone_params)?.remove(0);
    Ok((fusion_dense, alone_dense, vec![h1, h2]))
}

fn served_manifest(
    name: &str,
    cfg: &TrainConfig,
    run: &TrainRun,
    audio: &crate::nn::AudioTower,
    text: &TextTower,
    fusion: &Dense,
    report: &report::Report,
) -> anyhow::Result<Manifest> {
    Ok(Manifest {
        format: crate::model::FORMAT.into(),
        name: name.into(),
        version: "1.0.0".into(),
        trained: true,
        provenance: Provenance {
            method: format!(
                "debut train: WMF (k = {}) targets; {} audio tower; text tower on the plugin's tf-idf; mm-lf-lin fusion",
                cfg.wmf.factors,
                match (cfg.audio.serve, &cfg.audio.init) {
                    (AudioModel::Dcue, None) => "DCUE (end to end, hinge loss)".to_string(),
                    (AudioModel::Regression, None) => "WMF + regression".to_string(),
                    (AudioModel::Dcue, Some(d)) =>
                        format!("DCUE (end to end, hinge loss, started from {})", d.display()),
                    (AudioModel::Regression, Some(d)) => format!("WMF + regression (started from {})", d.display()),
                    (AudioModel::Pretrained, d) =>
                        format!("pretrained (from {}, untouched)", d.as_deref().unwrap_or(Path::new("?")).display()),
                }
            ),
            data: Some(format!("{} ({})", run.data.display(), report.catalog)),
            command: run.command.clone(),
            created_at: crate::model::now(),
            debut_version: env!("CARGO_PKG_VERSION").into(),
            seed: Some(cfg.seed),
            metrics: None,
        },
        mel: MelParams::default(),
        audio_tower: audio.spec.clone(),
        text_tower: text.spec.clone(),
        fusion: FusionSpec { embedding_dim: fusion.d_out },
        weights: crate::model::WeightsRef { file: "weights.safetensors".into(), sha256: String::new() },
        training: Some(serde_json::to_value(cfg)?),
    })
}
