//! `debut eval`: the papers' cold-start evaluation on the test artists' tracks, which no
//! training step saw (the split is the trainer's, rebuilt from its seed).
//!
//! For every user with plays in both the training and the test split, each model scores all
//! test tracks; the played ones are the positives. AUC per user averaged (DCUE Table 1) and
//! MAP@500 (Oramas Table 2), for:
//! - `popularity`: the test plays' own counts (DCUE's baseline; it knows the test popularity),
//! - `random`: random user and item vectors,
//! - `wmf-warm`: WMF fitted with the test plays too (the upper bound: no cold start),
//! - `dcue`: cosine of DCUE's user tower and its audio track embedding,
//! - `wmf-regression`: training user factors . the CNN's predicted song factors,
//! - `text`: training user factors . the text-only head on the artist embedding,
//! - `fused`: training user factors . the served model (mm-lf-lin),
//!
//! and DCUE's tag-transfer AUC (`tags`) for each model's item vectors.

pub mod metrics;
pub mod music;
mod plots;
mod tags;

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::catalog::{Interactions, Part};
use crate::model::Model;
use crate::train::nets::{AudioNet, StackInput};
use crate::train::params::Params;
use crate::train::{self, Artifacts, AudioModel, Prepared, wmf};

/// One row of the table (`--json` writes these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub model: String,
    pub auc: f64,
    pub map500: f64,
    /// Tag-transfer AUC (none for popularity, which has no item vectors).
    pub tags: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rows: Vec<Row>,
    pub users: usize,
    pub test_tracks: usize,
    pub test_plays: usize,
    /// Mean ROC per model on a false-positive-rate grid (for the plot).
    #[serde(skip)]
    pub roc: Vec<(String, Vec<f64>)>,
}

/// What each model scores: user vectors `[users][d]` and test item vectors `[items][d]`
/// (cosine when `cosine`, else the dot product), or fixed item scores.
enum Scorer {
    Vectors { users: Vec<Vec<f32>>, items: Vec<Vec<f32>>, cosine: bool },
    Fixed(Vec<f32>),
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

pub struct EvalRun {
    pub data: PathBuf,
    pub model: PathBuf,
    pub quiet: bool,
}

pub const FPR_GRID: usize = 51;

/// Evaluates the model directory written by `debut train`.
pub fn evaluate(b: &Backend, run: &EvalRun) -> anyhow::Result<Evaluation> {
    let art = Artifacts::new(&run.model);
    let cfg = art.load_config().context("not a model directory written by `debut train` (training/config.json)")?;
    let prep = Prepared::open(&run.data, &cfg, b, run.quiet)?;
    let c = &prep.catalog;
    let test = prep.tracks(Part::Test);
    anyhow::ensure!(!test.is_empty(), "the test split has no tracks");
    let factors = art.load_wmf()?;
    let k = factors.k;
    // Users with training plays and test plays; their test positives.
    let mut is_test = vec![usize::MAX; c.tracks.len()];
    test.iter().enumerate().for_each(|(i, &t)| is_test[t] = i);
    let train_tracks = prep.tracks(Part::Train);
    let mut in_train = vec![false; c.tracks.len()];
    train_tracks.iter().for_each(|&t| in_train[t] = true);
    let mut positives = vec![Vec::new(); c.users.len()];
    let mut has_train = vec![false; c.users.len()];
    let mut popularity = vec![0.0f32; test.len()];
    let mut test_plays = 0;
    for p in &c.plays {
        let i = is_test[p.track as usize];
        if i != usize::MAX {
            positives[p.user as usize].push(i);
            popularity[i] += p.count;
            test_plays += 1;
        } else if in_train[p.track as usize] {
            has_train[p.user as usize] = true;
        }
    }
    let users: Vec<usize> = (0..c.users.len()).filter(|&u| has_train[u] && !positives[u].is_empty()).collect();
    anyhow::ensure!(!users.is_empty(), "no user has plays in both the training and the test split");

    let mut scorers: Vec<(String, Scorer, Option<ItemVectors>)> = Vec::new();
    scorers.push(("popularity".into(), Scorer::Fixed(popularity), None));
    // Random vectors.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut rand_vec = |_: usize| (0..k).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    let random_items: Vec<Vec<f32>> = (0..c.tracks.len()).map(&mut rand_vec).collect();
    let random_users: Vec<Vec<f32>> = users.iter().map(|&u| rand_vec(u)).collect();
    scorers.push((
        "random".into(),
        Scorer::Vectors {
            users: random_users,
            items: test.iter().map(|&t| random_items[t].clone()).collect(),
            cosine: false,
        },
        Some(ItemVectors::all(random_items)),
    ));
    // WMF on every play: the warm upper bound.
    let all: Vec<usize> = (0..c.tracks.len()).collect();
    let warm = wmf::fit(&Interactions::of_tracks(c, &all), &cfg.wmf, cfg.seed ^ 0x3a, |_, _| {});
    let warm_items: Vec<Vec<f32>> = all.iter().map(|&t| warm.item(t).to_vec()).collect();
    scorers.push((
        "wmf-warm".into(),
        Scorer::Vectors {
            users: users.iter().map(|&u| warm.user(u).to_vec()).collect(),
            items: test.iter().map(|&t| warm_items[t].clone()).collect(),
            cosine: false,
        },
        Some(ItemVectors::all(warm_items)),
    ));
    let song_users: Vec<Vec<f32>> = users.iter().map(|&u| factors.song_users[u * k..(u + 1) * k].to_vec()).collect();
    // DCUE: its user tower and its audio tower.
    let dcue_tower = art.load_tower(AudioModel::Dcue)?;
    let dcue_items =
        ItemVectors::of_tracks(&prep, |tracks| train::data::track_embeddings(b, &dcue_tower, &prep.cache, tracks))?;
    scorers.push((
        "dcue".into(),
        Scorer::Vectors {
            users: dcue_users(b, &prep, &cfg, &art, &users)?,
            items: dcue_items.get(&test),
            cosine: true,
        },
        Some(dcue_items),
    ));
    // WMF + regression: predicted song factors.
    let reg_tower = art.load_tower(AudioModel::Regression)?;
    let reg_items =
        ItemVectors::of_tracks(&prep, |tracks| train::data::track_embeddings(b, &reg_tower, &prep.cache, tracks))?;
    scorers.push((
        "wmf-regression".into(),
        Scorer::Vectors { users: song_users.clone(), items: reg_items.get(&test), cosine: false },
        Some(reg_items),
    ));
    // Text only and fused, through the served model's towers.
    let model = Model::load(&run.model)?;
    let artists = train::artist_embeddings(b, &prep, &cfg, &model.text)?;
    let text_only = art.load_dense("text_only")?;
    let text_items = ItemVectors::of_tracks(&prep, |tracks| {
        let m = crate::nn::Matrix {
            rows: text_only.d_in,
            cols: tracks.len(),
            data: train::data::columns(
                &tracks.iter().map(|&t| artists[c.tracks[t].artist].as_slice()).collect::<Vec<_>>(),
            ),
        };
        let e = b.l2_normalize(&b.dense(&m, &text_only, false)?)?;
        Ok((0..e.cols).map(|i| e.column(i)).collect())
    })?;
    scorers.push((
        "text".into(),
        Scorer::Vectors { users: song_users.clone(), items: text_items.get(&test), cosine: false },
        Some(text_items),
    ));
    let fused_items = ItemVectors::of_tracks(&prep, |tracks| {
        let audio = train::data::track_embeddings(b, &model.audio, &prep.cache, tracks)?;
        let pairs: Vec<(&[f32], Option<&[f32]>)> = tracks
            .iter()
            .zip(&audio)
            .map(|(&t, a)| (a.as_slice(), Some(artists[c.tracks[t].artist].as_slice())))
            .collect();
        Ok(crate::embedding::fused_embeddings(b, &model, &pairs)?)
    })?;
    scorers.push((
        "fused".into(),
        Scorer::Vectors { users: song_users, items: fused_items.get(&test), cosine: false },
        Some(fused_items),
    ));

    // Tags: one row per track over the catalog's tag vocabulary.
    let vocab = c.tag_vocabulary();
    let tag_rows: Vec<Vec<f32>> =
        c.tracks.iter().map(|t| vocab.iter().map(|v| f32::from(u8::from(t.tags.contains(v)))).collect()).collect();
    let scratch = std::env::temp_dir().join(format!("debut-eval-{}", std::process::id()));
    let grid: Vec<f64> = (0..FPR_GRID).map(|i| i as f64 / (FPR_GRID - 1) as f64).collect();
    let mut rows = Vec::new();
    let mut roc = Vec::new();
    let bar = crate::progress::bar(scorers.len() as u64, "evaluating", run.quiet);
    for (name, scorer, items) in &scorers {
        let (auc, map, curve) = rank_metrics(scorer, &users, &positives, test.len(), &grid);
        let tags = match (items, vocab.is_empty()) {
            (Some(items), false) => {
                let pairs = |tracks: &[usize]| -> Vec<(Vec<f32>, Vec<f32>)> {
                    tracks.iter().filter_map(|&t| items.vector(t).map(|v| (unit(v), tag_rows[t].clone()))).collect()
                };
                tags::tag_auc(b, &pairs(&train_tracks), &pairs(&test), cfg.seed, &scratch)?
            }
            _ => None,
        };
        rows.push(Row { model: name.clone(), auc, map500: map, tags });
        roc.push((name.clone(), curve));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(Evaluation { rows, users: users.len(), test_tracks: test.len(), test_plays, roc })
}

/// Item vectors for some catalog tracks (the train and test splits).
struct ItemVectors {
    vectors: Vec<Option<Vec<f32>>>,
}

impl ItemVectors {
    fn all(v: Vec<Vec<f32>>) -> Self {
        Self { vectors: v.into_iter().map(Some).collect() }
    }

    fn of_tracks(prep: &Prepared, f: impl Fn(&[usize]) -> anyhow::Result<Vec<Vec<f32>>>) -> anyhow::Result<Self> {
        let mut vectors = vec![None; prep.catalog.tracks.len()];
        for part in [Part::Train, Part::Test] {
            let tracks = prep.tracks(part);
            for (t, v) in tracks.iter().zip(f(&tracks)?) {
                vectors[*t] = Some(v);
            }
        }
        Ok(Self { vectors })
    }

    fn vector(&self, t: usize) -> Option<&[f32]> {
        self.vectors[t].as_deref()
    }

    fn get(&self, tracks: &[usize]) -> Vec<Vec<f32>> {
        tracks.iter().map(|&t| self.vectors[t].clone().unwrap_or_default()).collect()
    }
}

/// DCUE's user vectors from its saved parameters.
fn dcue_users(
    b: &Backend,
    prep: &Prepared,
    cfg: &train::TrainConfig,
    art: &Artifacts,
    users: &[usize],
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut params = Params::new();
    let n = cfg.audio.tower.n_mels;
    AudioNet::init(&mut params, b, "audio", &cfg.audio.tower, &vec![0.0; n], &vec![1.0; n], 0)?;
    let stack = train::dcue_user_tower(&mut params, b, cfg, prep.catalog.users.len())?;
    params.load(b, &art.load_params("dcue")?)?;
    let idx: Vec<u32> = users.iter().map(|&u| u as u32).collect();
    let tape = stack.forward(b, &params, &StackInput::Lookup(&idx))?;
    let d = tape.output().shape()[0];
    let data = b.download(tape.output())?;
    Ok((0..users.len()).map(|j| (0..d).map(|r| data[r * users.len() + j]).collect()).collect())
}

/// Mean per-user AUC, MAP@500, and the mean ROC curve on `grid`.
fn rank_metrics(
    s: &Scorer,
    users: &[usize],
    positives: &[Vec<usize>],
    n_items: usize,
    grid: &[f64],
) -> (f64, f64, Vec<f64>) {
    let (mut auc, mut map, mut curve, mut n) = (0.0, 0.0, vec![0.0; grid.len()], 0usize);
    let items_unit: Option<Vec<Vec<f32>>> = match s {
        Scorer::Vectors { items, cosine: true, .. } => Some(items.iter().map(|v| unit(v)).collect()),
        _ => None,
    };
    for (j, &u) in users.iter().enumerate() {
        let scores: Vec<f32> = match s {
            Scorer::Fixed(v) => v.clone(),
            Scorer::Vectors { users: uv, items, cosine } => {
                if *cosine {
                    let uu = unit(&uv[j]);
                    items_unit.as_ref().expect("cosine").iter().map(|v| dot(&uu, v)).collect()
                } else {
                    items.iter().map(|v| dot(&uv[j], v)).collect()
                }
            }
        };
        let mut labels = vec![false; n_items];
        positives[u].iter().for_each(|&i| labels[i] = true);
        if let (Some(a), Some(m), Some(c)) = (
            metrics::roc_auc(&scores, &labels),
            metrics::average_precision_at(&scores, &labels, 500),
            metrics::roc_curve_at(&scores, &labels, grid),
        ) {
            auc += a;
            map += m;
            curve.iter_mut().zip(c).for_each(|(x, y)| *x += y);
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    (auc / n, map / n, curve.iter().map(|v| v / n).collect())
}

pub use plots::plot_roc;

/// The table as text.
pub fn table(e: &Evaluation) -> String {
    let mut s = format!(
        "cold-start evaluation: {} users, {} test tracks, {} test plays\n{:<16} {:>7} {:>9} {:>9}\n",
        e.users, e.test_tracks, e.test_plays, "model", "AUC", "MAP@500", "tag AUC"
    );
    for r in &e.rows {
        let tags = r.tags.map_or("-".to_string(), |t| format!("{t:.4}"));
        s += &format!("{:<16} {:>7.4} {:>9.4} {:>9}\n", r.model, r.auc, r.map500, tags);
    }
    s
}

/// Writes `--json`: the rows.
pub fn write_json(e: &Evaluation, path: &Path) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = e
        .rows
        .iter()
        .map(|r| serde_json::json!({"model": r.model, "auc": r.auc, "map500": r.map500, "tags_auc": r.tags}))
        .collect();
    std::fs::write(path, serde_json::to_string_pretty(&rows)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}
