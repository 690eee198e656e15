//! Writing results for people and other tools: `.npy` arrays and spectrogram images.

use std::path::Path;

use anyhow::Context;
use npyz::WriterBuilder;
use plotters::prelude::*;

use crate::spectral::{MelParams, MelSpectrogram, hz_to_mel_slaney, mel_to_hz_slaney};

/// Writes a float32 `.npy` of shape `[n_mels, n_frames]`.
pub fn write_npy(path: &Path, mel: &MelSpectrogram) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[mel.n_mels as u64, mel.n_frames as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()?;
    w.extend(mel.data.iter().copied())?;
    w.finish().with_context(|| format!("writing {}", path.display()))
}

/// Writes a float32 `.npy` of any shape (C order).
pub fn write_npy_nd(path: &Path, shape: &[usize], data: &[f32]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w =
        npyz::WriteOptions::new().default_dtype().shape(&shape).writer(std::io::BufWriter::new(file)).begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish().with_context(|| format!("writing {}", path.display()))
}

/// Writes a float32 `.npy` of shape `[len]`.
pub fn write_npy_1d(path: &Path, data: &[f32]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[data.len() as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish().with_context(|| format!("writing {}", path.display()))
}

/// Reads a float32 `.npy` of rank 2 as (rows, cols, data).
pub fn read_npy_2d(path: &Path) -> anyhow::Result<(usize, usize, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])?;
    let shape = npy.shape().to_vec();
    anyhow::ensure!(shape.len() == 2, "{}: expected a 2-D array, found shape {shape:?}", path.display());
    let data: Vec<f32> = npy.into_vec()?;
    Ok((shape[0] as usize, shape[1] as usize, data))
}

pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Renders the spectrogram with a time axis (s) and a mel-spaced frequency axis (Hz).
pub fn write_png(path: &Path, mel: &MelSpectrogram, params: &MelParams, title: &str) -> anyhow::Result<()> {
    register_font();
    let (w, h) = (1000u32, 520u32);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let seconds = mel.n_frames as f64 * params.hop as f64 / f64::from(params.sample_rate);
    let (mel_lo, mel_hi) = (hz_to_mel_slaney(params.fmin), hz_to_mel_slaney(params.fmax));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(10)
        .build_cartesian_2d(0f64..seconds, mel_lo..mel_hi)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("time (s)")
        .y_desc("frequency (Hz, mel scale)")
        .y_label_formatter(&|m| format!("{:.0}", mel_to_hz_slaney(*m)))
        .label_style(("sans-serif", 13))
        .draw()?;

    let lo = mel.data.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = mel.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Show the top 80 dB, as librosa's specshow would with top_db=80.
    let floor = lo.max(hi - 80.0);
    let span = (hi - floor).max(1e-6);
    let dt = seconds / mel.n_frames as f64;
    let dm = (mel_hi - mel_lo) / mel.n_mels as f64;
    chart.draw_series((0..mel.n_mels).flat_map(|m| {
        (0..mel.n_frames).map(move |t| {
            let v = ((mel.get(m, t) - floor) / span).clamp(0.0, 1.0);
            let (x0, y0) = (t as f64 * dt, mel_lo + m as f64 * dm);
            Rectangle::new([(x0, y0), (x0 + dt, y0 + dm)], magma(v).filled())
        })
    }))?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A compact magma-like colour ramp (dark purple to pale yellow).
fn magma(v: f32) -> RGBColor {
    const STOPS: [(f32, [f32; 3]); 5] = [
        (0.0, [0.0, 0.0, 0.02]),
        (0.25, [0.23, 0.06, 0.44]),
        (0.5, [0.55, 0.16, 0.51]),
        (0.75, [0.93, 0.35, 0.37]),
        (1.0, [0.99, 0.99, 0.75]),
    ];
    let i = STOPS.iter().position(|(p, _)| *p >= v).unwrap_or(4).max(1);
    let ((p0, c0), (p1, c1)) = (STOPS[i - 1], STOPS[i]);
    let f = ((v - p0) / (p1 - p0)).clamp(0.0, 1.0);
    let ch = |k: usize| ((c0[k] + (c1[k] - c0[k]) * f) * 255.0) as u8;
    RGBColor(ch(0), ch(1), ch(2))
}
