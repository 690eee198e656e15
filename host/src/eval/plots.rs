//! The mean ROC curve of each model, one line each.

use std::path::Path;

use plotters::prelude::*;

use super::{Evaluation, FPR_GRID};

pub fn plot_roc(e: &Evaluation, path: &Path) -> anyhow::Result<()> {
    crate::output::register_font();
    let root = BitMapBackend::new(path, (720, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("mean ROC over {} users, {} cold-start tracks", e.users, e.test_tracks), ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart.configure_mesh().x_desc("false-positive rate").y_desc("true-positive rate").draw()?;
    let grid: Vec<f64> = (0..FPR_GRID).map(|i| i as f64 / (FPR_GRID - 1) as f64).collect();
    for (i, (name, curve)) in e.roc.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let auc = e.rows.iter().find(|r| &r.model == name).map_or(0.0, |r| r.auc);
        chart
            .draw_series(LineSeries::new(grid.iter().copied().zip(curve.iter().copied()), color.stroke_width(2)))?
            .label(format!("{name} (AUC {auc:.3})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
