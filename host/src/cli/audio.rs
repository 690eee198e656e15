//! `analyse`, `mel`, `decode`, `embed`: the front end and the audio tower over files.

use std::path::PathBuf;

use anyhow::{Context, bail};

use debut::audio::SourceHint;
use debut::backend;
use debut::config::Config;
use debut::embedding::{self, Modality, ModelRef, Source, TrackEmbedding};
use debut::frontend::Frontend;
use debut::output;
use debut::spectral::MelParams;

#[derive(clap::Args)]
pub struct AnalyseArgs {
    dir: PathBuf,
}

#[derive(clap::Args)]
pub struct MelArgs {
    audio: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Also render it as a PNG with time and frequency axes.
    #[arg(long)]
    png: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DecodeArgs {
    audio: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct EmbedArgs {
    #[arg(required = true)]
    audio: Vec<PathBuf>,
    /// Model directory (default: the configured or bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
}

fn frontend(config: &Config) -> anyhow::Result<Frontend> {
    let backend = backend::select(config.backend).context("starting the compute backend")?;
    tracing::info!(backend = %backend.name(), "compute backend");
    Ok(Frontend::new(config.audio.clone(), MelParams::default(), backend))
}

pub(super) fn embed(config: &Config, args: EmbedArgs) -> anyhow::Result<()> {
    let mut config = config.clone();
    if args.model.is_some() {
        config.model = args.model;
    }
    let (config, files) = (&config, &args.audio);
    use rayon::prelude::*;
    use std::io::Write;
    let model = super::load_model(config)?;
    let backend = backend::select(config.backend).context("starting the compute backend")?;
    tracing::info!(backend = %backend.name(), model = %model.name(), "embedding {} files", files.len());
    let fe = Frontend::new(config.audio.clone(), model.mel_params(), backend.clone());
    // Decode and analyse in parallel; the tower then sees all windows in large batches.
    let analysed: Vec<(PathBuf, anyhow::Result<debut::spectral::MelSpectrogram>)> = files
        .par_iter()
        .map(|path| {
            let result = std::fs::read(path)
                .with_context(|| format!("reading {}", path.display()))
                .and_then(|bytes| fe.analyse(bytes, &SourceHint::from_path(path)).map_err(anyhow::Error::from))
                .map(|a| a.mel);
            (path.clone(), result)
        })
        .collect();
    let mut failed = 0;
    let mut ok: Vec<(&PathBuf, &debut::spectral::MelSpectrogram)> = Vec::new();
    for (path, result) in &analysed {
        match result {
            Ok(mel) => ok.push((path, mel)),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", path.display());
            }
        }
    }
    let mels: Vec<&debut::spectral::MelSpectrogram> = ok.iter().map(|(_, m)| *m).collect();
    let embeddings = embedding::audio_embeddings(&backend, &model, &mels, config.inference.max_batch)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for ((path, _), emb) in ok.iter().zip(embeddings) {
        let track_id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let record = TrackEmbedding {
            point_id: embedding::point_id(&track_id),
            track_id,
            artist_id: None,
            label: None,
            embedding: emb,
            modalities: vec![Modality::Audio],
            model: ModelRef::of(&model),
            plugin: None,
            source: Source::File { file: path.display().to_string() },
            produced_at: embedding::now_rfc3339(),
        };
        serde_json::to_writer(&mut out, &record)?;
        writeln!(out)?;
    }
    if failed > 0 {
        bail!("{failed} of {} files could not be embedded", files.len());
    }
    Ok(())
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
