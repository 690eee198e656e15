//! `debut bench decoders`: debut's decoding against the full-rate path symphonia alone takes
//! (every channel at the stream's rate, their mean, then the resampler; the Opus decoder at 48 kHz
//! stereo for Opus), per file, both to 22 050 Hz mono, with the log-mel difference between
//! them. Shows what the analysis decoders (MP3, Vorbis, AAC, Opus at 24 kHz mono) and the
//! direct WAV read save; files the full-rate path cannot decode are reported and skipped.

use std::path::PathBuf;

use crate::audio::reference::{bounded_log_mel_diff, full_rate_mono};
use crate::audio::{ANALYSIS_RATE, AudioConfig, SourceHint, decode_mono, resample_mono};
use crate::spectral::cpu::CpuStft;
use crate::spectral::{MelParams, MelPlan, MelSpectrogram};

use super::median_ms;

/// One file's decode timings (ms, medians, one thread) and agreement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecoderRow {
    pub file: String,
    /// symphonia + mean of the channels + resampling, the whole file.
    pub full_rate_ms: f64,
    /// `decode_mono` (whatever path it takes) + resampling, the whole file.
    pub debut_ms: f64,
    /// The same on the centre 30 s, as the service asks.
    pub debut_centre_ms: f64,
    /// Log-mel difference in the stated bound's bands (max, mean dB).
    pub log_mel_max_db: f64,
    pub log_mel_mean_db: f64,
}

pub fn decoders(files: &[PathBuf], repeat: usize) -> anyhow::Result<Vec<DecoderRow>> {
    let plan = MelPlan::new(MelParams::default());
    let stft = CpuStft::new(plan.params.n_fft);
    let log_mel = |samples: &[f32]| -> MelSpectrogram { stft.log_mel(&plan, samples) };
    let budget = AudioConfig::default().budget;
    let mut rows = Vec::new();
    for path in files {
        let bytes = std::fs::read(path)?;
        let hint = SourceHint::from_path(path);
        let to_analysis = |(samples, rate): (Vec<f32>, u32)| resample_mono(samples, rate, ANALYSIS_RATE);
        if let Err(e) = full_rate_mono(&bytes) {
            eprintln!("{}: skipped, the full-rate path cannot decode it ({e})", path.display());
            continue;
        }
        let (full_rate_ms, reference) = median_ms(repeat, || full_rate_mono(&bytes).and_then(to_analysis));
        let ours = |span: Option<f64>| {
            decode_mono(bytes.clone(), &hint, span, &budget).and_then(|d| to_analysis((d.samples, d.sample_rate)))
        };
        let (debut_ms, ours_whole) = median_ms(repeat, || ours(None));
        let (debut_centre_ms, _) = median_ms(repeat, || ours(Some(30.0)));
        let (a, b) = (log_mel(&reference?), log_mel(&ours_whole?));
        let frames = 2..a.n_frames.min(b.n_frames).saturating_sub(2);
        let (log_mel_max_db, log_mel_mean_db) = bounded_log_mel_diff(&a, &b, frames);
        rows.push(DecoderRow {
            file: path.display().to_string(),
            full_rate_ms,
            debut_ms,
            debut_centre_ms,
            log_mel_max_db,
            log_mel_mean_db,
        });
    }
    Ok(rows)
}

pub fn print_decoders(rows: &[DecoderRow]) {
    println!(
        "{:40} {:>10} {:>9} {:>8} {:>12} {:>11} {:>12}",
        "file (to 22 050 Hz mono, ms)", "full rate", "debut", "ratio", "debut 30 s", "log-mel max", "log-mel mean"
    );
    for r in rows {
        println!(
            "{:40} {:>10.2} {:>9.2} {:>7.2}x {:>12.2} {:>8.3} dB {:>9.4} dB",
            r.file,
            r.full_rate_ms,
            r.debut_ms,
            r.full_rate_ms / r.debut_ms,
            r.debut_centre_ms,
            r.log_mel_max_db,
            r.log_mel_mean_db
        );
    }
}
