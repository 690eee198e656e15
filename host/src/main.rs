//! The `debut` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use debut::audio::SourceHint;
use debut::backend::{self, Backend, BackendKind, CpuBackend};
use debut::config::Config;
use debut::embedding::{self, Modality, ModelRef, Source, TrackEmbedding};
use debut::frontend::Frontend;
use debut::model::{AudioTowerSpec, Model};
use debut::spectral::{MelParams, MelPlan};
use debut::{bench, output};

#[derive(Parser)]
#[command(name = "debut", version, about = "Cold-start track embeddings from new-release audio and artist bios")]
struct Cli {
    /// Settings file (TOML); DEBUT_* environment variables override it.
    #[arg(long, global = true, env = "DEBUT_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The whole service on an in-process mock Kafka cluster, fed the bundled fixtures; prints
    /// each track's nearest neighbours (no setup needed).
    Demo {
        #[arg(long, value_enum)]
        backend: Option<BackendKind>,
        /// A fixtures directory (with audio/, corrupt/, bios/) instead of the bundled one.
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
    /// The ingest service: consume releases and bios from Kafka, produce track embeddings.
    Run {
        #[arg(long, value_enum)]
        backend: Option<BackendKind>,
    },
    /// The pipeline over a recorded stream (JSON lines of records), without a broker.
    Replay {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The front end alone over a directory of audio files: a summary per file.
    Analyse {
        dir: PathBuf,
        #[arg(long, value_enum)]
        backend: Option<BackendKind>,
    },
    /// Write the log-mel spectrogram of an audio file as a float32 .npy of shape [128, frames].
    Mel {
        audio: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Also render it as a PNG with time and frequency axes.
        #[arg(long)]
        png: Option<PathBuf>,
        #[arg(long, value_enum)]
        backend: Option<BackendKind>,
    },
    /// Decode to the mono 22 050 Hz analysis clip and write it as a float32 .npy (for inspection).
    Decode {
        audio: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Benchmarks, side by side with the peer tools.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Embed audio files: one JSON record per file on stdout (JSON Lines), the model loaded once.
    Embed {
        #[arg(required = true)]
        audio: Vec<PathBuf>,
        #[arg(long, value_enum)]
        backend: Option<BackendKind>,
        /// Model directory (default: the configured or bundled model).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Model files.
    Model {
        #[command(subcommand)]
        what: ModelCommand,
    },
    /// Feature plugins (WebAssembly components).
    Plugin {
        #[command(subcommand)]
        what: PluginCommand,
    },
    /// List the GPU adapters wgpu can see, best first.
    Adapters,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Validate a plugin: interface, sandbox, feature space; run it on sample bios and time it.
    Check {
        plugin: PathBuf,
        /// Bios to try (JSON artist-bio records or plain text; default: fixtures/bios).
        #[arg(long)]
        bios: Vec<PathBuf>,
        #[arg(long, default_value_t = 50)]
        repeat: usize,
    },
    /// Run a plugin on one bio and print its sparse features as JSON.
    Run {
        plugin: PathBuf,
        /// A JSON artist-bio record ({artist_id, name, bio, label?, tags?, language?}) or plain text.
        #[arg(long)]
        bio: PathBuf,
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Write a seeded random (untrained) DCUE model.
    Init {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Load a model, verify it, and describe it.
    Check { dir: PathBuf },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Decode + resample + log-mel per file, against librosa 0.11.
    Frontend {
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = 7)]
        repeat: usize,
        /// Skip the librosa comparison.
        #[arg(long)]
        no_librosa: bool,
        /// Also time the WGSL path (on lavapipe when there is no GPU).
        #[arg(long)]
        gpu: bool,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The audio tower: windows/s and GFLOP/s per batch size and thread count, against
    /// onnxruntime running the same weights.
    Tower {
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 10, 64])]
        batches: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2])]
        threads: Vec<usize>,
        #[arg(long, default_value_t = 15)]
        repeat: usize,
        /// Also time the WGSL path (lavapipe when there is no GPU).
        #[arg(long)]
        gpu: bool,
        /// Skip onnxruntime.
        #[arg(long)]
        no_onnx: bool,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Plugin `extract` per call on a ~2 KB bio (instantiation included), and its share of a
    /// track's CPU time (decode + resample + log-mel + audio tower, one thread).
    Plugin {
        /// A track to time the rest of the pipeline on (e.g. a 30 s MP3).
        #[arg(long)]
        track: PathBuf,
        /// Plugins to time (default: the bundled bio-text and bio-semantic).
        #[arg(long)]
        plugin: Vec<PathBuf>,
        #[arg(long, default_value_t = 200)]
        repeat: usize,
    },
    /// The WGSL STFT: radix-2 FFT kernel against the DFT as a matrix product (GEMM kernel).
    Dft {
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Our own info logs; only warnings from dependencies (symphonia reports skipped junk bytes
/// and the like as warnings, which the typed errors already cover).
const DEFAULT_LOG: &str = "warn,debut=info,symphonia=off,wgpu_hal=error,librdkafka=warn";

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEBUT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config_path = cli.config.clone();
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Demo { backend, fixtures } => {
            if let Some(b) = backend {
                config.backend = b;
            }
            debut::service::demo::demo(
                &config.kafka_settings(),
                &config.pipeline_settings(),
                &fixtures.unwrap_or_else(fixtures_dir),
            )
        }
        Command::Analyse { dir, backend } => {
            if let Some(b) = backend {
                config.backend = b;
            }
            analyse_dir(&config, &dir)
        }
        Command::Run { backend } => {
            if let Some(b) = backend {
                config.backend = b;
            }
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                signal_hook::flag::register(sig, stop.clone())?;
            }
            let pipeline = debut::service::build_pipeline(&config.pipeline_settings())?;
            if let Some(path) = &config_path {
                let path = path.clone();
                pipeline.router.reload_on_change(&path.clone(), move || Ok(Config::load(Some(&path))?.plugins))?;
            }
            let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
            debut::service::run(&config.kafka_settings(), pipeline, stop, ready)
        }
        Command::Replay { input, out } => {
            let pipeline = debut::service::build_pipeline(&config.pipeline_settings())?;
            let reader = std::io::BufReader::new(
                std::fs::File::open(&input).with_context(|| format!("opening {}", input.display()))?,
            );
            let writer = std::io::BufWriter::new(
                std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?,
            );
            let s = debut::service::replay::replay(&pipeline, &config.topics, reader, writer)?;
            eprintln!(
                "replayed {} records: {} embeddings, {} dead letters, {} skipped -> {}",
                s.records,
                s.embeddings,
                s.dead_letters,
                s.skipped,
                out.display()
            );
            Ok(())
        }
        Command::Mel { audio, out, png, backend } => {
            if let Some(b) = backend {
                config.backend = b;
            }
            mel(&config, &audio, &out, png.as_deref())
        }
        Command::Decode { audio, out } => {
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
        Command::Bench { what: BenchCommand::Frontend { files, repeat, no_librosa, gpu, json } } => {
            bench_frontend(&config, files, repeat, !no_librosa, gpu, json)
        }
        Command::Bench { what: BenchCommand::Tower { batches, threads, repeat, gpu, no_onnx, json } } => {
            bench_tower(&config, &batches, &threads, repeat, gpu, !no_onnx, json)
        }
        Command::Bench { what: BenchCommand::Dft { seconds, repeat } } => bench_dft(seconds, repeat),
        Command::Bench { what: BenchCommand::Plugin { track, plugin, repeat } } => {
            bench_plugin(&config, &track, plugin, repeat)
        }
        Command::Embed { audio, backend, model } => {
            if let Some(b) = backend {
                config.backend = b;
            }
            if model.is_some() {
                config.model = model;
            }
            embed(&config, &audio)
        }
        Command::Model { what: ModelCommand::Init { out, seed, name } } => {
            let command = format!("debut model init --out {} --seed {seed} --name {name}", out.display());
            let (manifest, weights) = Model::init(&name, seed, AudioTowerSpec::dcue(), MelParams::default(), &command);
            Model::save(&out, &manifest, &weights)?;
            eprintln!("wrote {} (untrained, seed {seed}, sha256 {})", out.display(), manifest.weights.sha256);
            Ok(())
        }
        Command::Model { what: ModelCommand::Check { dir } } => {
            let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
            let m = &model.manifest;
            println!(
                "{} {} ({}), sha256 {}",
                m.name,
                m.version,
                if m.trained { "trained" } else { "untrained" },
                m.weights.sha256
            );
            println!(
                "audio tower: {} mels x {} frames -> {:?} -> {}, {:.1} MFLOP per window",
                m.audio_tower.n_mels,
                m.audio_tower.window_frames,
                m.audio_tower.channels,
                m.audio_tower.embedding_dim,
                m.audio_tower.flops_per_window() as f64 / 1e6
            );
            println!("provenance: {} ({})", m.provenance.method, m.provenance.command);
            Ok(())
        }
        Command::Plugin { what: PluginCommand::Check { plugin, bios, repeat } } => {
            plugin_check(&config, &plugin, bios, repeat)
        }
        Command::Plugin { what: PluginCommand::Run { plugin, bio, label } } => {
            plugin_run(&config, &plugin, &bio, label)
        }
        Command::Adapters => {
            let adapters = debut::gpu::list_adapters();
            if adapters.is_empty() {
                println!("no GPU adapters (install mesa-vulkan-drivers for a software one)");
            }
            for a in adapters {
                println!("{a}  driver: {}", a.driver);
            }
            Ok(())
        }
    }
}

fn frontend(config: &Config) -> anyhow::Result<Frontend> {
    let backend = backend::select(config.backend).context("starting the compute backend")?;
    tracing::info!(backend = %backend.name(), "compute backend");
    Ok(Frontend::new(config.audio.clone(), MelParams::default(), backend))
}

fn load_model(config: &Config) -> anyhow::Result<Model> {
    let dir = config.model_dir();
    let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    if !model.manifest.trained {
        tracing::warn!(model = %model.name(), "the model is untrained (seeded random weights): embeddings are well-formed but not meaningful");
    }
    Ok(model)
}

fn embed(config: &Config, files: &[PathBuf]) -> anyhow::Result<()> {
    use rayon::prelude::*;
    use std::io::Write;
    let model = load_model(config)?;
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
        let record = TrackEmbedding {
            track_id: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
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

fn mel(config: &Config, audio: &Path, out: &Path, png: Option<&Path>) -> anyhow::Result<()> {
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

/// The bundled fixtures, found from the source tree (the demo runs from a checkout).
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn audio_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn analyse_dir(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let fe = frontend(config)?;
    let files: Vec<PathBuf> =
        audio_files(dir)?.into_iter().filter(|p| p.extension().is_none_or(|e| e != "json")).collect();
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

fn bench_frontend(
    config: &Config,
    files: Vec<PathBuf>,
    repeat: usize,
    with_librosa: bool,
    gpu: bool,
    json: Option<PathBuf>,
) -> anyhow::Result<()> {
    if files.is_empty() {
        bail!("give the audio files to time (e.g. 30 s tracks in several codecs)");
    }
    let plan = MelPlan::new(MelParams::default());
    let mut backends: Vec<(String, Arc<dyn Backend>)> = vec![
        ("cpu 1 thread".into(), Arc::new(CpuBackend::new())),
        (format!("cpu {} threads", rayon::current_num_threads()), Arc::new(CpuBackend::new())),
    ];
    if gpu {
        let g = backend::select(BackendKind::Gpu)?;
        backends.push((g.name(), g));
    }
    for (label, _) in &backends {
        eprintln!("timing {label}");
    }
    let rows = bench::frontend(&files, repeat, &backends, &plan, &config.audio, with_librosa)?;
    bench::print_frontend(&rows);
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(())
}

fn bench_tower(
    config: &Config,
    batches: &[usize],
    threads: &[usize],
    repeat: usize,
    gpu: bool,
    onnx: bool,
    json: Option<PathBuf>,
) -> anyhow::Result<()> {
    let model = load_model(config)?;
    let max_b = batches.iter().copied().max().unwrap_or(1);
    // Log-mel-like input: dB values around the model's input statistics.
    let mut windows = debut::nn::Activations::zeros(model.audio.spec.n_mels, max_b, model.audio.spec.window_frames);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for v in &mut windows.data {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *v = -40.0 + 20.0 * ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0);
    }
    let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
    let mut rows = Vec::new();
    for &t in threads {
        rows.extend(bench::tower("debut cpu", &cpu, &model.audio, &windows, batches, t, repeat)?);
    }
    if gpu {
        let g = backend::select(BackendKind::Gpu)?;
        let label = format!("debut {}", g.name());
        rows.extend(bench::tower(&label, &g, &model.audio, &windows, batches, 1, repeat.min(5))?);
    }
    if onnx {
        let reference = cpu.audio_tower(&model.audio, &windows)?;
        match bench::onnx_tower(&config.model_dir(), &windows, &reference, batches, threads, repeat) {
            Ok((ort_rows, diff)) => {
                println!(
                    "onnxruntime output vs debut's: max relative difference {diff:.2e} (same weights, same windows)"
                );
                rows.extend(ort_rows);
            }
            Err(e) => eprintln!("onnxruntime comparison skipped: {e:#}"),
        }
    }
    bench::print_tower(&rows, model.audio.spec.flops_per_window());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(())
}

/// FFT kernel vs DFT-as-GEMM on the WGSL path, for `seconds` of audio at 22 050 Hz.
fn bench_dft(seconds: f64, repeat: usize) -> anyhow::Result<()> {
    let gpu = debut::gpu::GpuBackend::new(debut::gpu::AdapterChoice::AnyAdapter)?;
    let plan = MelPlan::new(MelParams::default());
    let p = plan.params;
    let n = (seconds * f64::from(p.sample_rate)) as usize;
    let samples: Vec<f32> =
        (0..n).map(|i| ((i as f32) * 0.0123).sin() * 0.5 + ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1).collect();
    gpu.stft_power(&plan, &samples)?;
    let (fft_ms, fft) = bench::median_ms(repeat, || gpu.stft_power(&plan, &samples));
    let fft = fft?;
    // Frames as rows (windowed, centred), times the [n_fft, 2 * n_bins] cos/sin basis.
    let (n_fft, n_bins, frames) = (p.n_fft, p.n_bins(), p.n_frames(n));
    let mut a = vec![0.0f32; frames * n_fft];
    for f in 0..frames {
        for i in 0..n_fft {
            let s = (f * p.hop + i) as i64 - (n_fft / 2) as i64;
            if s >= 0 && (s as usize) < n {
                a[f * n_fft + i] = samples[s as usize] * plan.window[i];
            }
        }
    }
    let mut basis = vec![0.0f32; n_fft * 2 * n_bins];
    for i in 0..n_fft {
        for k in 0..n_bins {
            let ang = -2.0 * std::f64::consts::PI * ((i * k) % n_fft) as f64 / n_fft as f64;
            basis[i * 2 * n_bins + 2 * k] = ang.cos() as f32;
            basis[i * 2 * n_bins + 2 * k + 1] = ang.sin() as f32;
        }
    }
    gpu.matmul(&a, &basis, frames, 2 * n_bins, n_fft)?;
    let (dft_ms, dft) = bench::median_ms(repeat, || gpu.matmul(&a, &basis, frames, 2 * n_bins, n_fft));
    let dft = dft?;
    let worst = (0..frames * n_bins)
        .map(|j| {
            let (re, im) = (dft[2 * j], dft[2 * j + 1]);
            let scale =
                fft.data[(j / n_bins) * n_bins..(j / n_bins + 1) * n_bins].iter().copied().fold(1e-12f32, f32::max);
            ((re * re + im * im) - fft.data[j]).abs() / scale
        })
        .fold(0.0f32, f32::max);
    let dft_flops = 2.0 * frames as f64 * n_fft as f64 * 2.0 * n_bins as f64;
    let fft_flops = frames as f64 * 5.0 * n_fft as f64 * (n_fft as f64).log2();
    println!("WGSL STFT power of {seconds} s ({frames} frames) on {}", gpu.name());
    println!("  radix-2 FFT kernel : {fft_ms:9.2} ms  ({:.0} MFLOP)", fft_flops / 1e6);
    println!(
        "  DFT as GEMM        : {dft_ms:9.2} ms  ({:.0} MFLOP, {:.2} GFLOP/s)",
        dft_flops / 1e6,
        dft_flops / dft_ms / 1e6
    );
    println!("  FFT is {:.1}x faster; the two agree to {worst:.1e} of each frame's peak power", dft_ms / fft_ms);
    Ok(())
}

/// A bio file: a JSON artist-bio record, or plain text.
fn read_release(path: &Path, label: Option<String>) -> anyhow::Result<debut::plugin::ReleaseText> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut release = match serde_json::from_str::<debut::release::ArtistBio>(&text) {
        Ok(bio) => bio.release_text(None),
        Err(_) => debut::plugin::ReleaseText { biography: text, ..Default::default() },
    };
    if label.is_some() {
        release.label = label;
    }
    Ok(release)
}

fn model_text_dim(config: &Config) -> anyhow::Result<u32> {
    let dir = config.model_dir();
    let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    Ok(model.manifest.text_tower.feature_dim as u32)
}

fn load_plugin(config: &Config, path: &Path) -> anyhow::Result<debut::plugin::LoadedPlugin> {
    use debut::plugin::{PluginHost, PluginRouter, RouteConfig};
    let host = Arc::new(PluginHost::new(config.plugins.limits.clone())?);
    let router =
        PluginRouter::new(host, model_text_dim(config)?, &config.plugins).context("loading the configured plugins")?;
    let plugin = router
        .load(&RouteConfig { path: path.to_path_buf(), sha256: None })
        .map_err(|e| anyhow::anyhow!("{} refused ({}): {e}", path.display(), e.kind()))?;
    Ok(plugin)
}

fn plugin_check(config: &Config, path: &Path, bios: Vec<PathBuf>, repeat: usize) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let plugin = load_plugin(config, path)?;
    let info = &plugin.info;
    println!("{}: {} {} (sha256 {})", path.display(), info.name, info.version, plugin.sha256);
    println!(
        "  interface: debut:plugin/feature-plugin ok; imports within the sandbox; loaded in {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "  feature space: {} dimensions (matches the model's text tower); reads {:?}",
        info.feature_dim, info.reads
    );
    let bios = if bios.is_empty() {
        audio_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bios"))?
    } else {
        bios
    };
    let mut failures = 0;
    for bio in &bios {
        let release = read_release(bio, None)?;
        let (ms, result) = bench::median_ms(repeat, || plugin.extract(&release));
        match result {
            Ok(f) => println!(
                "  {:<28} {:>5} B -> {:>4} features, {:>7.3} ms per call (instantiate + extract, median of {repeat})",
                bio.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                release.biography.len(),
                f.entries.len(),
                ms
            ),
            Err(e) => {
                failures += 1;
                println!("  {}: {} error: {e}", bio.display(), e.kind());
            }
        }
    }
    if failures > 0 {
        bail!("{failures} sample bios failed");
    }
    Ok(())
}

fn plugin_run(config: &Config, path: &Path, bio: &Path, label: Option<String>) -> anyhow::Result<()> {
    let plugin = load_plugin(config, path)?;
    let release = read_release(bio, label)?;
    let features = plugin
        .extract(&release)
        .map_err(|e| anyhow::anyhow!("{} failed on {} ({}): {e}", path.display(), bio.display(), e.kind()))?;
    let out = serde_json::json!({
        "plugin": {"name": plugin.info.name, "version": plugin.info.version, "sha256": plugin.sha256},
        "feature_dim": features.dim,
        "features": features.entries,
    });
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn bench_plugin(config: &Config, track: &Path, plugins: Vec<PathBuf>, repeat: usize) -> anyhow::Result<()> {
    let plugins = if plugins.is_empty() {
        vec![debut::plugin::bundled_plugin("bio-text"), debut::plugin::bundled_plugin("bio-semantic")]
    } else {
        plugins
    };
    let bio_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bios/ar-0001.json");
    let release = read_release(&bio_path, None)?;
    // The rest of a track's work on one thread: decode, resample, log-mel, the audio tower.
    let model = load_model(config)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
    let fe = Frontend::new(config.audio.clone(), model.mel_params(), cpu.clone());
    let bytes = std::fs::read(track).with_context(|| format!("reading {}", track.display()))?;
    let hint = SourceHint::from_path(track);
    let (track_ms, emb) = pool.install(|| {
        bench::median_ms(7, || -> anyhow::Result<Vec<Vec<f32>>> {
            let a = fe.analyse(bytes.clone(), &hint)?;
            Ok(embedding::audio_embeddings(&cpu, &model, &[&a.mel], 64)?)
        })
    });
    emb?;
    println!(
        "track {}: decode + resample + log-mel + audio tower = {track_ms:.2} ms (one thread, median of 7)",
        track.display()
    );
    println!("bio {} ({} bytes)", bio_path.display(), release.biography.len());
    for path in plugins {
        let plugin = load_plugin(config, &path)?;
        let mut times: Vec<f64> = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let t0 = std::time::Instant::now();
            plugin.extract(&release)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let (p50, p95) = (times[times.len() / 2], times[times.len() * 95 / 100]);
        println!(
            "  {:<14} extract incl. instantiation: median {p50:.3} ms, p95 {p95:.3} ms; {:.2}% of the track's CPU time if every track brought a new bio",
            plugin.info.name,
            100.0 * p50 / (track_ms + p50)
        );
    }
    println!("(the service extracts once per bio version and caches the artist embedding, so most tracks pay nothing)");
    Ok(())
}
