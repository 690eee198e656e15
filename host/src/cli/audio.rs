//! `analyse`, `mel`, `decode`: the front end over files (`embed` is in `embed.rs`).

use std::path::PathBuf;

use anyhow::{Context, bail};

use debut::audio::SourceHint;
use debut::backend;
use debut::config::Config;
use debut::frontend::Frontend;
use debut::output;
use debut::spectral::MelParams;

#[derive(clap::Args)]
pub struct AnalyseArgs {
    /// A directory of audio files (not recursive; .json files are skipped).
    dir: PathBuf,
}

#[derive(clap::Args)]
pub struct MelArgs {
    /// An audio file.
    audio: PathBuf,
    /// The .npy to write: float32 [128, frames], dB.
    #[arg(long)]
    out: PathBuf,
    /// Also render it as a PNG with time and frequency axes.
    #[arg(long)]
    png: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DecodeArgs {
    /// An audio file.
    audio: PathBuf,
    /// The .npy to write: float32 samples, mono at 22 050 Hz.
    #[arg(long)]
    out: PathBuf,
}

fn frontend(config: &Config) -> anyhow::Result<Frontend> {
    let backend = backend::select(config.backend).context("starting the compute backend")?;
    tracing::info!(backend = %backend.name(), "compute backend");
    Ok(Frontend::new(config.audio.clone(), MelParams::default(), backend))
}

pub(super) fn mel(config: &Config, args: MelArgs) -> anyhow::Result<()> {
    let MelArgs { audio, out, png } = args;
    let (audio, out, png) = (audio.as_path(), out.as_path(), png.as_deref());
    let fe = frontend(config)?;
    let bytes = std::fs::read(audio).with_context(|| format!("reading {}", audio.display()))?;
    let analysis =
        fe.analyse(bytes, &SourceHint::from_path(audio)).with_context(|| format!("analysing {}", audio.display()))?;
    output::write_npy(out, &analysis.mel)?;
    if let Some(png) = png {
        let title = audio.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        output::write_png(png, &analysis.mel, &fe.plan.params, &title)?;
    }
    eprintln!(
        "{}: {} {} Hz x{} -> {:.2} s, log-mel [{}, {}] in {:.1} ms",
        audio.display(),
        analysis.clip.codec,
        analysis.clip.source_rate,
        analysis.clip.source_channels,
        analysis.clip.seconds(),
        analysis.mel.n_mels,
        analysis.mel.n_frames,
        (analysis.decode_time + analysis.mel_time).as_secs_f64() * 1e3
    );
    Ok(())
}

pub(super) fn decode(config: &Config, args: DecodeArgs) -> anyhow::Result<()> {
    let DecodeArgs { audio, out } = args;
    let bytes = std::fs::read(&audio).with_context(|| format!("reading {}", audio.display()))?;
    let clip = debut::audio::load(bytes, &SourceHint::from_path(&audio), &config.audio)
        .with_context(|| format!("decoding {}", audio.display()))?;
    output::write_npy_1d(&out, &clip.samples)?;
    eprintln!(
        "{}: {} {} Hz x{} -> {} samples at 22050 Hz ({} from the stream)",
        audio.display(),
        clip.codec,
        clip.source_rate,
        clip.source_channels,
        clip.samples.len(),
        clip.source_samples
    );
    Ok(())
}

pub(super) fn analyse(config: &Config, args: AnalyseArgs) -> anyhow::Result<()> {
    let dir = args.dir.as_path();
    let fe = frontend(config)?;
    let files: Vec<PathBuf> =
        super::audio_files(dir)?.into_iter().filter(|p| p.extension().is_none_or(|e| e != "json")).collect();
    if files.is_empty() {
        bail!("no audio files in {}", dir.display());
    }
    println!("front end over {} files in {} (backend: {})", files.len(), dir.display(), fe.backend.name());
    println!(
        "{:<34} {:>7} {:>7} {:>3} {:>7} {:>7} {:>8} {:>8}  result",
        "file", "codec", "Hz", "ch", "s", "frames", "mean dB", "ms"
    );
    let (mut ok, mut failed) = (0, 0);
    for path in &files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(path)?;
        match fe.analyse(bytes, &SourceHint::from_path(path)) {
            Ok(a) => {
                ok += 1;
                let mean = a.mel.data.iter().map(|&v| f64::from(v)).sum::<f64>() / a.mel.data.len() as f64;
                println!(
                    "{:<34} {:>7} {:>7} {:>3} {:>7.2} {:>7} {:>8.1} {:>8.1}  ok",
                    name,
                    a.clip.codec,
                    a.clip.source_rate,
                    a.clip.source_channels,
                    a.clip.source_samples as f64 / 22_050.0,
                    a.mel.n_frames,
                    mean,
                    (a.decode_time + a.mel_time).as_secs_f64() * 1e3
                );
            }
            Err(e) => {
                failed += 1;
                println!(
                    "{:<34} {:>7} {:>7} {:>3} {:>7} {:>7} {:>8} {:>8}  rejected: {e}",
                    name, "-", "-", "-", "-", "-", "-", "-"
                );
            }
        }
    }
    println!("{ok} analysed, {failed} rejected with a typed error, none lost");
    Ok(())
}
