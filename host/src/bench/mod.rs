//! `debut bench`: throughput of the pipeline's stages, side by side with the peer a user
//! would otherwise pick, in one run. Benchmarks measure; tests never time anything.

pub mod decoders;
pub mod pipeline;
pub mod resample;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use crate::audio::{self, AudioConfig, SourceHint};
use crate::backend::Backend;
use crate::spectral::MelPlan;

const LIBROSA_SCRIPT: &str = include_str!("../../benches/peers/librosa_frontend.py");
const ONNX_SCRIPT: &str = include_str!("../../benches/peers/onnx_tower.py");

/// Median wall time of `repeat` runs of `f`, in milliseconds.
pub fn median_ms<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(repeat);
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let t0 = Instant::now();
        out = Some(f());
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], out.expect("ran at least once"))
}

/// One file's front-end timings (ms, medians).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrontendRow {
    pub file: String,
    pub seconds: f64,
    pub decode_ms: f64,
    pub resample_ms: f64,
    /// Per backend label: log-mel ms.
    pub mel_ms: Vec<(String, f64)>,
    pub librosa_load_ms: Option<f64>,
    pub librosa_mel_ms: Option<f64>,
}

impl FrontendRow {
    /// Decode + resample + the first backend's log-mel.
    pub fn total_ms(&self) -> f64 {
        self.decode_ms + self.resample_ms + self.mel_ms.first().map_or(0.0, |m| m.1)
    }
}

/// Times decode, resample and log-mel on each backend for each file. The CPU work runs on
/// a one-thread rayon pool so the numbers compare with single-threaded librosa.
pub fn frontend(
    files: &[PathBuf],
    repeat: usize,
    backends: &[(String, Backend)],
    plan: &MelPlan,
    config: &AudioConfig,
    with_librosa: bool,
) -> anyhow::Result<Vec<FrontendRow>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let progress = indicatif::ProgressBar::new(files.len() as u64).with_message("debut");
    progress.set_style(indicatif::ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len} {wide_msg}")?);
    let mut rows = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let hint = SourceHint::from_path(path);
        let (decode_ms, decoded) = pool.install(|| {
            median_ms(repeat, || audio::decode_mono(bytes.clone(), &hint, Some(config.max_seconds), &config.budget))
        });
        let decoded = decoded.with_context(|| format!("decoding {}", path.display()))?;
        let rate = decoded.sample_rate;
        let (resample_ms, clip) = pool.install(|| {
            median_ms(repeat, || audio::resample_mono(decoded.samples.clone(), rate, audio::ANALYSIS_RATE))
        });
        let clip = clip?;
        let mut mel_ms = Vec::new();
        for (label, backend) in backends {
            backend.log_mel(plan, &clip)?; // warm-up: pipelines, plans, buffers
            let (ms, _) = if label.contains("1 thread") {
                pool.install(|| median_ms(repeat, || backend.log_mel(plan, &clip)))
            } else {
                median_ms(repeat, || backend.log_mel(plan, &clip))
            };
            mel_ms.push((label.clone(), ms));
        }
        rows.push(FrontendRow {
            file: path.display().to_string(),
            seconds: clip.len() as f64 / f64::from(audio::ANALYSIS_RATE),
            decode_ms,
            resample_ms,
            mel_ms,
            librosa_load_ms: None,
            librosa_mel_ms: None,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    if with_librosa {
        match librosa_frontend(files, repeat) {
            Ok(peer) => {
                for (row, (load, mel)) in rows.iter_mut().zip(peer) {
                    row.librosa_load_ms = Some(load);
                    row.librosa_mel_ms = Some(mel);
                }
            }
            Err(e) => eprintln!("librosa comparison skipped: {e:#}"),
        }
    }
    Ok(rows)
}

/// Runs the librosa peer script over `files`; (load ms, log-mel ms) per file.
fn librosa_frontend(files: &[PathBuf], repeat: usize) -> anyhow::Result<Vec<(f64, f64)>> {
    let dir = std::env::temp_dir().join(format!("debut-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("librosa_frontend.py");
    std::fs::write(&script, LIBROSA_SCRIPT)?;
    let out = Command::new(pipeline::peer_python()?)
        .arg(&script)
        .arg(repeat.to_string())
        .args(files)
        .output()
        .context("running the peer's Python")?;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(out.status.success(), "librosa script failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)?
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((v["load_ms"].as_f64().unwrap_or(f64::NAN), v["mel_ms"].as_f64().unwrap_or(f64::NAN)))
        })
        .collect()
}

/// Prints the table and the ratio to librosa.
pub fn print_frontend(rows: &[FrontendRow]) {
    let labels: Vec<&str> = rows.first().map(|r| r.mel_ms.iter().map(|m| m.0.as_str()).collect()).unwrap_or_default();
    print!("{:<28} {:>6} {:>9} {:>9}", "file", "s", "decode", "resample");
    for l in &labels {
        print!(" {:>16}", format!("mel {l}"));
    }
    println!(" {:>9} {:>12} {:>11} {:>12} {:>8}", "debut 1t", "librosa load", "librosa mel", "librosa all", "speedup");
    for r in rows {
        let name = Path::new(&r.file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        print!("{:<28} {:>6.1} {:>9.2} {:>9.2}", name, r.seconds, r.decode_ms, r.resample_ms);
        for (_, ms) in &r.mel_ms {
            print!(" {:>16.2}", ms);
        }
        let total = r.total_ms();
        match (r.librosa_load_ms, r.librosa_mel_ms) {
            (Some(l), Some(m)) => {
                println!(" {:>9.2} {:>12.2} {:>11.2} {:>12.2} {:>7.1}x", total, l, m, l + m, (l + m) / total)
            }
            _ => println!(" {:>9.2}", total),
        }
    }
    println!("(milliseconds per file, medians; 'debut 1t' = decode + resample + log-mel on one CPU thread)");
}

/// One tower timing: a path, a thread count, a batch size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TowerRow {
    pub path: String,
    pub threads: usize,
    pub batch: usize,
    pub ms_per_window: f64,
}

impl TowerRow {
    pub fn windows_per_s(&self) -> f64 {
        1e3 / self.ms_per_window
    }

    pub fn gflops(&self, flops_per_window: u64) -> f64 {
        flops_per_window as f64 * self.windows_per_s() / 1e9
    }
}

/// Times the audio tower on `backend` at each batch size, in a rayon pool of `threads`.
pub fn tower(
    label: &str,
    backend: &Backend,
    tower: &crate::nn::AudioTower,
    windows: &crate::nn::Activations,
    batches: &[usize],
    threads: usize,
    repeat: usize,
) -> anyhow::Result<Vec<TowerRow>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let mut rows = Vec::new();
    for &b in batches {
        let x = crate::nn::Activations {
            channels: windows.channels,
            batch: b,
            time: windows.time,
            data: (0..windows.channels)
                .flat_map(|c| windows.data[c * windows.batch * windows.time..][..b * windows.time].iter().copied())
                .collect(),
        };
        pool.install(|| backend.audio_tower(tower, &x))?; // warm-up: pipelines, workspaces
        let (ms, out) = pool.install(|| median_ms(repeat, || backend.audio_tower(tower, &x)));
        out?;
        rows.push(TowerRow { path: label.to_string(), threads, batch: b, ms_per_window: ms / b as f64 });
    }
    Ok(rows)
}

/// onnxruntime on the same weights and windows; also reports its difference from `debut_out`.
pub fn onnx_tower(
    model_dir: &Path,
    windows: &crate::nn::Activations,
    debut_out: &crate::nn::Matrix,
    batches: &[usize],
    threads: &[usize],
    repeat: usize,
) -> anyhow::Result<(Vec<TowerRow>, f64)> {
    let dir = std::env::temp_dir().join(format!("debut-bench-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("onnx_tower.py");
    std::fs::write(&script, ONNX_SCRIPT)?;
    let input = dir.join("x.npy");
    let output = dir.join("y.npy");
    crate::output::write_npy_nd(&input, &[windows.channels, windows.batch, windows.time], &windows.data)?;
    crate::output::write_npy_nd(&output, &[debut_out.rows, debut_out.cols], &debut_out.data)?;
    let join = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let out = Command::new(pipeline::peer_python()?)
        .arg(&script)
        .arg(model_dir)
        .arg(&input)
        .arg(&output)
        .arg(repeat.to_string())
        .arg(join(batches))
        .arg(join(threads))
        .output()
        .context("running the peer's Python")?;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(out.status.success(), "onnx script failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut rows = Vec::new();
    let mut diff: f64 = 0.0;
    for line in String::from_utf8(out.stdout)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        diff = diff.max(v["rel_diff_vs_debut"].as_f64().unwrap_or(f64::NAN));
        rows.push(TowerRow {
            path: format!("onnxruntime {}", v["version"].as_str().unwrap_or("?")),
            threads: v["threads"].as_u64().unwrap_or(0) as usize,
            batch: v["batch"].as_u64().unwrap_or(0) as usize,
            ms_per_window: v["ms_per_window"].as_f64().unwrap_or(f64::NAN),
        });
    }
    Ok((rows, diff))
}

/// Prints tower rows with the ratio to onnxruntime at the same threads and batch.
pub fn print_tower(rows: &[TowerRow], flops_per_window: u64) {
    println!(
        "{:<44} {:>7} {:>5} {:>10} {:>10} {:>9} {:>9}",
        "path", "threads", "batch", "ms/window", "windows/s", "GFLOP/s", "vs ORT"
    );
    for r in rows {
        let ort =
            rows.iter().find(|o| o.path.starts_with("onnxruntime") && o.threads == r.threads && o.batch == r.batch);
        let ratio = ort.map(|o| format!("{:.2}x", o.ms_per_window / r.ms_per_window)).unwrap_or_default();
        println!(
            "{:<44} {:>7} {:>5} {:>10.3} {:>10.0} {:>9.1} {:>9}",
            r.path,
            r.threads,
            r.batch,
            r.ms_per_window,
            r.windows_per_s(),
            r.gflops(flops_per_window),
            ratio
        );
    }
    println!(
        "({:.1} MFLOP per window; 'vs ORT' > 1 means faster than onnxruntime at the same threads and batch)",
        flops_per_window as f64 / 1e6
    );
}

const JAX_TRAIN_SCRIPT: &str = include_str!("../../benches/peers/train_jax.py");

/// A training-step timing: forward, cosine-proximity loss, backward and an Adam update of the
/// audio CNN on a batch of windows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainRow {
    pub path: String,
    pub threads: usize,
    pub batch: usize,
    pub ms_per_step: f64,
}

impl TrainRow {
    pub fn windows_per_s(&self) -> f64 {
        self.batch as f64 * 1e3 / self.ms_per_step
    }
}

/// Times `steps` training steps of the DCUE CNN (WMF + regression's step: the windows and
/// targets go up every step, the loss comes back) on `backend` in a pool of `threads`.
pub fn train_steps(
    label: &str,
    backend: &Backend,
    spec: &crate::nn::AudioTowerSpec,
    batch: usize,
    threads: usize,
    steps: usize,
) -> anyhow::Result<TrainRow> {
    use crate::train::{nets::AudioNet, optim::Optimizer, optim::OptimizerConfig, params::Params};
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    pool.install(|| {
        let mut params = Params::new();
        let net = AudioNet::init(
            &mut params,
            backend,
            "audio",
            spec,
            &vec![-40.0; spec.n_mels],
            &vec![20.0; spec.n_mels],
            1,
        )?;
        let mut grads = params.zeros_like(backend, ".grad")?;
        let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), &params, backend)?;
        let mut state = 0x9e37_79b9u64;
        let mut noise = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    offset + scale * ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
                })
                .collect()
        };
        let x = noise(spec.n_mels * batch * spec.window_frames, 20.0, -40.0);
        let y = noise(spec.embedding_dim * batch, 1.0, 0.0);
        let mut step = || -> anyhow::Result<f32> {
            grads.zero(backend)?;
            let xt = backend.upload(&[spec.n_mels, batch, spec.window_frames], &x)?;
            let yt = backend.upload(&[spec.embedding_dim, batch], &y)?;
            let (pred, tape) = net.forward(backend, &params, &xt, true)?;
            let (loss, d) = backend.cosine_proximity(&pred, &yt)?;
            net.backward(backend, &params, tape.expect("kept"), &d, &mut grads)?;
            opt.step(backend, &mut params, &grads)?;
            Ok(backend.download(&loss)?[0])
        };
        for _ in 0..2 {
            step()?;
        }
        let mut times: Vec<f64> = (0..steps)
            .map(|_| {
                let t0 = Instant::now();
                step().map(|_| t0.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<anyhow::Result<_>>()?;
        times.sort_by(f64::total_cmp);
        Ok(TrainRow { path: label.to_string(), threads, batch, ms_per_step: times[times.len() / 2] })
    })
}

/// The same step in JAX on the CPU (`benches/peers/train_jax.py`), pinned to `threads` cores.
pub fn jax_train_steps(batch: usize, threads: usize, steps: usize) -> anyhow::Result<TrainRow> {
    let dir = std::env::temp_dir().join(format!("debut-bench-jax-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("train_jax.py");
    std::fs::write(&script, JAX_TRAIN_SCRIPT)?;
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "--batch",
            &batch.to_string(),
            "--steps",
            &steps.to_string(),
            "--warmup",
            "3",
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .context("running python3 for the JAX peer")?;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(out.status.success(), "the JAX peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout)?;
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or(""))?;
    Ok(TrainRow {
        path: format!("jax {} (XLA CPU)", v["version"].as_str().unwrap_or("?")),
        threads,
        batch,
        ms_per_step: v["median_step_ms"].as_f64().unwrap_or(f64::NAN),
    })
}

/// Prints training rows with the ratio to JAX at the same threads and batch.
pub fn print_train(rows: &[TrainRow], flops_per_window: u64) {
    let w = rows.iter().map(|r| r.path.len()).max().unwrap_or(0).max(4);
    println!(
        "{:<w$} {:>7} {:>5} {:>10} {:>10} {:>9} {:>8}",
        "path", "threads", "batch", "ms/step", "windows/s", "GFLOP/s", "vs JAX"
    );
    for r in rows {
        let jax = rows.iter().find(|o| o.path.starts_with("jax") && o.threads == r.threads && o.batch == r.batch);
        let ratio = jax.map(|o| format!("{:.2}x", o.ms_per_step / r.ms_per_step)).unwrap_or_default();
        println!(
            "{:<w$} {:>7} {:>5} {:>10.1} {:>10.0} {:>9.1} {:>8}",
            r.path,
            r.threads,
            r.batch,
            r.ms_per_step,
            r.windows_per_s(),
            3.0 * flops_per_window as f64 * r.windows_per_s() / 1e9,
            ratio
        );
    }
    println!(
        "(a step: forward, loss, backward, Adam; {:.0} MFLOP per window counted as 3x the forward; 'vs JAX' > 1 means faster)",
        3.0 * flops_per_window as f64 / 1e6
    );
}
