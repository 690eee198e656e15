//! The training report: what ran on what, each stage's curve, and a PNG of the curves.

use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::fit::History;
use super::{Prepared, TrainConfig};
use crate::backend::Backend;
use crate::catalog::Part;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WmfReport {
    /// Training loss (implicit's definition) after each iteration.
    pub song_loss: Vec<f64>,
    pub artist_loss: Vec<f64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub catalog: String,
    pub backend: String,
    pub threads: usize,
    /// Artists and usable tracks per split.
    pub splits: serde_json::Value,
    pub config: TrainConfig,
    pub wmf: Option<WmfReport>,
    pub stages: Vec<History>,
    pub seconds: f64,
    pub model_sha256: Option<String>,
}

impl Report {
    pub fn new(b: &Backend, prep: &Prepared, cfg: &TrainConfig) -> Self {
        let c = &prep.catalog;
        let part =
            |p: Part| serde_json::json!({"artists": prep.splits.artists(p).len(), "tracks": prep.tracks(p).len()});
        Self {
            catalog: format!(
                "{} artists, {} tracks, {} users, {} plays",
                c.artists.len(),
                c.tracks.len(),
                c.users.len(),
                c.plays.len()
            ),
            backend: b.name(),
            threads: rayon::current_num_threads(),
            splits: serde_json::json!({"train": part(Part::Train), "val": part(Part::Val), "test": part(Part::Test)}),
            config: cfg.clone(),
            wmf: None,
            stages: Vec::new(),
            seconds: 0.0,
            model_sha256: None,
        }
    }

    /// Records a stage's curve, replacing an earlier run of it.
    pub fn set_history(&mut self, h: History) {
        self.stages.retain(|s| s.task != h.task);
        self.stages.push(h);
    }
}

/// One panel per stage: training and validation loss by epoch.
pub fn plot_curves(stages: &[History], path: &Path) -> anyhow::Result<()> {
    crate::output::register_font();
    let n = stages.len().max(1);
    let root = BitMapBackend::new(path, (420 * n as u32, 340)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, h) in root.split_evenly((1, n)).iter().zip(stages) {
        let train: Vec<(f64, f64)> = h.epochs.iter().map(|e| (e.epoch as f64, e.train_loss)).collect();
        let val: Vec<(f64, f64)> = std::iter::once((0.0, h.initial_val))
            .chain(h.epochs.iter().map(|e| (e.epoch as f64, e.val_loss)))
            .collect();
        let all: Vec<f64> = train.iter().chain(&val).map(|p| p.1).collect();
        let (lo, hi) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} ({} epochs)", h.task, h.epochs.len()), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..(h.epochs.len().max(1) as f64), (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("epoch").y_desc("loss").draw()?;
        chart
            .draw_series(LineSeries::new(train, BLUE))?
            .label("train")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE));
        chart
            .draw_series(LineSeries::new(val, RED))?
            .label("validation")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED));
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}

/// Pretraining's curves: the training loss (contrastive, plus distillation with a teacher) by
/// epoch, and the validation packages' same-package mAP (the fit loop's validation loss is
/// `1 - mAP`), side by side.
pub fn plot_pretraining(h: &History, path: &Path) -> anyhow::Result<()> {
    crate::output::register_font();
    let root = BitMapBackend::new(path, (840, 340)).into_drawing_area();
    root.fill(&WHITE)?;
    let train: Vec<(f64, f64)> = h.epochs.iter().map(|e| (e.epoch as f64, e.train_loss)).collect();
    let map: Vec<(f64, f64)> = std::iter::once((0.0, 1.0 - h.initial_val))
        .chain(h.epochs.iter().map(|e| (e.epoch as f64, 1.0 - e.val_loss)))
        .collect();
    let panels = [("training loss", "loss", train, BLUE), ("validation same-package mAP", "mAP", map, RED)];
    for (area, (title, y, points, colour)) in root.split_evenly((1, 2)).iter().zip(panels) {
        let finite = points.iter().map(|p| p.1).filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        // No epochs (a run of zero epochs): an empty panel, not a degenerate axis.
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.1).max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..(h.epochs.len().max(1) as f64), (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("epoch").y_desc(y).draw()?;
        chart.draw_series(LineSeries::new(points, colour))?;
    }
    root.present()?;
    Ok(())
}
