//! `bench ...`: timings side by side with the peers (librosa, onnxruntime).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use debut::audio::SourceHint;
use debut::backend::{self, Backend, BackendKind, CpuBackend, Kernels};
use debut::config::Config;
use debut::embedding;
use debut::frontend::Frontend;
use debut::spectral::{MelParams, MelPlan};

use super::plugin::{load_plugin, read_release};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Decode + resample + log-mel per file, against librosa 0.11.
    Frontend {
        /// Audio files to time.
        files: Vec<PathBuf>,
        /// Timed repetitions per case.
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
    /// Decoding to 22 050 Hz mono per file: debut's path against the full-rate one symphonia
    /// alone takes (every channel, their mean, then the resampler; the Opus decoder at 48 kHz for
    /// Opus), with the log-mel difference between them. One thread.
    Decoders {
        /// Audio files to time.
        files: Vec<PathBuf>,
        /// Timed repetitions per case.
        #[arg(long, default_value_t = 7)]
        repeat: usize,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The audio tower: windows/s and GFLOP/s per batch size and thread count, against
    /// onnxruntime running the same weights.
    Tower {
        /// Batch sizes in windows, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 10, 64])]
        batches: Vec<usize>,
        /// Thread counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2])]
        threads: Vec<usize>,
        /// Timed repetitions per case.
        #[arg(long, default_value_t = 15)]
        repeat: usize,
        /// Also time the WGSL path (lavapipe when there is no GPU).
        #[arg(long)]
        gpu: bool,
        /// Skip onnxruntime.
        #[arg(long)]
        no_onnx: bool,
        /// Write the rows as JSON here.
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
        /// Timed repetitions per case.
        #[arg(long, default_value_t = 200)]
        repeat: usize,
    },
    /// Training steps of the audio CNN (forward, loss, backward, Adam): windows/s on the CPU
    /// per thread count and on the GPU path, against JAX on the CPU with the same
    /// architecture, batch and threads.
    Train {
        /// Batch sizes in windows, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![64])]
        batches: Vec<usize>,
        /// Thread counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2])]
        threads: Vec<usize>,
        /// Timed training steps per case.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Also time the WGSL path (lavapipe when there is no GPU).
        #[arg(long)]
        gpu: bool,
        /// Skip JAX.
        #[arg(long)]
        no_jax: bool,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Files to track embeddings end to end (read, decode, resample, log-mel, audio tower),
    /// against the Python peer (librosa + onnxruntime on the same weights, installed in a
    /// venv on first use): tracks/s per format and thread count, interleaved rounds.
    Pipeline {
        /// Audio files to time.
        files: Vec<PathBuf>,
        /// Thread counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2])]
        threads: Vec<usize>,
        /// Interleaved rounds per case (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Skip the Python peer.
        #[arg(long)]
        no_peer: bool,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The resamplers on the same noise: the halfband FIR (44.1 kHz to 22 050 Hz) against
    /// rubato on that ratio, and rubato on the ratios it still takes. One thread.
    Resample {
        /// Seconds of audio to time on.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Timed repetitions per case.
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The WGSL STFT: radix-2 FFT kernel against the DFT as a matrix product (GEMM kernel).
    Dft {
        /// Seconds of audio to time on.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Timed repetitions per case.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
}

pub(super) fn run(config: &Config, what: BenchCommand) -> anyhow::Result<()> {
    match what {
        BenchCommand::Frontend { files, repeat, no_librosa, gpu, json } => {
            bench_frontend(config, files, repeat, !no_librosa, gpu, json)
        }
        BenchCommand::Tower { batches, threads, repeat, gpu, no_onnx, json } => {
            bench_tower(config, &batches, &threads, repeat, gpu, !no_onnx, json)
        }
        BenchCommand::Dft { seconds, repeat } => bench_dft(seconds, repeat),
        BenchCommand::Resample { seconds, repeat, json } => {
            let rows = debut::bench::resample::resample(seconds, repeat)?;
            debut::bench::resample::print_resample(&rows, seconds);
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            }
            Ok(())
        }
        BenchCommand::Decoders { files, repeat, json } => {
            anyhow::ensure!(!files.is_empty(), "give the audio files to decode");
            let rows = debut::bench::decoders::decoders(&files, repeat)?;
            debut::bench::decoders::print_decoders(&rows);
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            }
            Ok(())
        }
        BenchCommand::Pipeline { files, threads, rounds, no_peer, json } => {
            anyhow::ensure!(!files.is_empty(), "give the audio files to embed (e.g. 30 s tracks in several codecs)");
            let model = super::load_model(config)?;
            let cpu = Backend::new(CpuBackend::new());
            let rows = debut::bench::pipeline::pipeline(&files, &threads, rounds, &model, &cpu, !no_peer)?;
            debut::bench::pipeline::print_pipeline(&rows);
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            }
            Ok(())
        }
        BenchCommand::Train { batches, threads, steps, gpu, no_jax, json } => {
            bench_train(&batches, &threads, steps, gpu, !no_jax, json)
        }
        BenchCommand::Plugin { track, plugin, repeat } => bench_plugin(config, &track, plugin, repeat),
    }
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
    let mut backends: Vec<(String, Backend)> = vec![
        ("cpu 1 thread".into(), Backend::new(CpuBackend::new())),
        (format!("cpu {} threads", rayon::current_num_threads()), Backend::new(CpuBackend::new())),
    ];
    if gpu {
        let g = backend::select(BackendKind::Gpu)?;
        backends.push((g.name(), g));
    }
    for (label, _) in &backends {
        eprintln!("timing {label}");
    }
    let rows = debut::bench::frontend(&files, repeat, &backends, &plan, &config.audio, with_librosa)?;
    debut::bench::print_frontend(&rows);
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
    let model = super::load_model(config)?;
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
    let cpu: Backend = Backend::new(CpuBackend::new());
    let mut rows = Vec::new();
    for &t in threads {
        rows.extend(debut::bench::tower("debut cpu", &cpu, &model.audio, &windows, batches, t, repeat)?);
    }
    if gpu {
        let g = backend::select(BackendKind::Gpu)?;
        let label = format!("debut {}", g.name());
        rows.extend(debut::bench::tower(&label, &g, &model.audio, &windows, batches, 1, repeat.min(5))?);
    }
    if onnx {
        let reference = cpu.audio_tower(&model.audio, &windows)?;
        match debut::bench::onnx_tower(&config.model_dir(), &windows, &reference, batches, threads, repeat) {
            Ok((ort_rows, diff)) => {
                println!(
                    "onnxruntime output vs debut's: max relative difference {diff:.2e} (same weights, same windows)"
                );
                rows.extend(ort_rows);
            }
            Err(e) => eprintln!("onnxruntime comparison skipped: {e:#}"),
        }
    }
    debut::bench::print_tower(&rows, model.audio.spec.flops_per_window());
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
    let (fft_ms, fft) = debut::bench::median_ms(repeat, || gpu.stft_power(&plan, &samples));
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
    let (dft_ms, dft) = debut::bench::median_ms(repeat, || gpu.matmul(&a, &basis, frames, 2 * n_bins, n_fft));
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

fn bench_plugin(config: &Config, track: &Path, plugins: Vec<PathBuf>, repeat: usize) -> anyhow::Result<()> {
    let plugins = if plugins.is_empty() {
        vec![debut::plugin::bundled_plugin("bio-text"), debut::plugin::bundled_plugin("bio-semantic")]
    } else {
        plugins
    };
    let bio_path = debut::bundled::bios_dir().join("ar-0001.json");
    let release = read_release(&bio_path, None)?;
    // The rest of a track's work on one thread: decode, resample, log-mel, the audio tower.
    let model = super::load_model(config)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let cpu: Backend = Backend::new(CpuBackend::new());
    let fe = Frontend::new(config.audio.clone(), model.mel_params(), cpu.clone());
    let bytes = std::fs::read(track).with_context(|| format!("reading {}", track.display()))?;
    let hint = SourceHint::from_path(track);
    let (track_ms, emb) = pool.install(|| {
        debut::bench::median_ms(7, || -> anyhow::Result<Vec<Vec<f32>>> {
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

fn bench_train(
    batches: &[usize],
    threads: &[usize],
    steps: usize,
    gpu: bool,
    jax: bool,
    json: Option<PathBuf>,
) -> anyhow::Result<()> {
    let spec = debut::model::AudioTowerSpec::dcue();
    let cpu = Backend::new(CpuBackend::new());
    let mut rows = Vec::new();
    for &b in batches {
        for &t in threads {
            eprintln!("timing debut cpu, batch {b}, {t} threads");
            rows.push(debut::bench::train_steps("debut cpu", &cpu, &spec, b, t, steps)?);
        }
        if gpu {
            let g = backend::select(BackendKind::Gpu)?;
            eprintln!("timing {}, batch {b}", g.name());
            rows.push(debut::bench::train_steps(&format!("debut {}", g.name()), &g, &spec, b, 1, steps.min(5))?);
        }
        if jax {
            for &t in threads {
                eprintln!("timing jax, batch {b}, {t} threads");
                match debut::bench::jax_train_steps(b, t, steps) {
                    Ok(r) => rows.push(r),
                    Err(e) => eprintln!("JAX comparison skipped: {e:#}"),
                }
            }
        }
    }
    debut::bench::print_train(&rows, spec.flops_per_window());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(())
}
