//! `debut bench pipeline`: audio files to track embeddings, debut against the Python peer a
//! team would otherwise run (librosa load + log-mel, onnxruntime on debut's own weights),
//! over the same files, interleaved round by round in one run, per format and thread count.
//!
//! The peer runs in a virtual environment the harness makes on first use
//! (`~/.cache/debut/bench-venv`: librosa 0.11, onnxruntime), fed commands over stdin so its
//! start-up and imports are outside the timings.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;

use crate::audio::{AudioConfig, SourceHint};
use crate::backend::Backend;
use crate::frontend::Frontend;
use crate::model::Model;

const PEER_SCRIPT: &str = include_str!("../../benches/peers/pipeline_peer.py");
/// imageio-ffmpeg's static ffmpeg is audioread's backend: librosa reads AAC/MP4 through it
/// (libsndfile cannot), as on a machine with ffmpeg installed.
const PEER_PACKAGES: [&str; 6] = ["librosa==0.11.*", "onnx", "onnxruntime", "soundfile", "numpy", "imageio-ffmpeg"];

/// One format at one thread count: median seconds per round over the same files.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineRow {
    pub format: String,
    pub threads: usize,
    pub tracks: usize,
    pub debut_s: f64,
    /// The peer loading only the centre 30 s.
    pub fair_s: Option<f64>,
    /// The peer loading the whole file.
    pub whole_s: Option<f64>,
    /// Mean cosine between debut's and the fair peer's embeddings of each file.
    pub agreement: Option<f64>,
    /// One thread, per track, median ms: where debut's time goes.
    pub stages: Stages,
}

/// Per-track stage times (ms, medians over the files), one thread.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stages {
    pub read: f64,
    pub decode: f64,
    pub resample: f64,
    pub mel: f64,
    pub tower: f64,
}

impl Stages {
    pub fn total(&self) -> f64 {
        self.read + self.decode + self.resample + self.mel + self.tower
    }
}

/// The stages one at a time over `files` on this thread.
fn stages(frontend: &Frontend, backend: &Backend, model: &Model, files: &[PathBuf]) -> anyhow::Result<Stages> {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let mut per: [Vec<f64>; 5] = Default::default();
    for f in files {
        let t = Instant::now();
        let bytes = std::fs::read(f)?;
        per[0].push(ms(t));
        let cfg = &frontend.audio;
        let t = Instant::now();
        let d = crate::audio::decode_mono(bytes, &SourceHint::from_path(f), Some(cfg.max_seconds), &cfg.budget)?;
        per[1].push(ms(t));
        let t = Instant::now();
        let mut samples = crate::audio::resample_mono(d.samples, d.sample_rate, crate::audio::ANALYSIS_RATE)?;
        per[2].push(ms(t));
        samples.resize(samples.len().max(cfg.min_samples), 0.0);
        let t = Instant::now();
        let mel = backend.log_mel(&frontend.plan, &samples)?;
        per[3].push(ms(t));
        let t = Instant::now();
        crate::embedding::audio_embeddings(backend, model, &[&mel], 64)?;
        per[4].push(ms(t));
    }
    let [read, decode, resample, mel, tower] = per.map(median);
    Ok(Stages { read, decode, resample, mel, tower })
}

impl PipelineRow {
    pub fn tracks_per_s(&self, seconds: Option<f64>) -> Option<f64> {
        seconds.map(|s| self.tracks as f64 / s)
    }
}

/// The peer's Python, in a virtual environment made on first use.
pub fn peer_python() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let venv = std::env::var_os("DEBUT_BENCH_VENV").map_or_else(|| home.join(".cache/debut/bench-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import librosa, onnx, onnxruntime, soundfile, imageio_ffmpeg"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let link_ffmpeg = |python: &Path| -> anyhow::Result<()> {
        let link = "import imageio_ffmpeg, os, sys; d = os.path.dirname(sys.executable); \
                    t = os.path.join(d, 'ffmpeg'); os.path.exists(t) or os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), t)";
        let status = Command::new(python).args(["-c", link]).status()?;
        anyhow::ensure!(status.success(), "linking ffmpeg into {}", venv.display());
        Ok(())
    };
    if ready(&python) {
        link_ffmpeg(&python)?;
        return Ok(python);
    }
    eprintln!("installing the Python peer ({}) into {}", PEER_PACKAGES.join(", "), venv.display());
    let status = Command::new("python3").args(["-m", "venv", "--without-pip"]).arg(&venv).status()?;
    anyhow::ensure!(status.success(), "python3 -m venv {} failed", venv.display());
    let status = Command::new("python3")
        .args(["-m", "pip", "--python"])
        .arg(&python)
        .args(["install", "--quiet"])
        .args(PEER_PACKAGES)
        .status()
        .context("running pip (python3-pip)")?;
    anyhow::ensure!(status.success() && ready(&python), "installing the Python peer failed");
    link_ffmpeg(&python)?;
    Ok(python)
}

/// The peer process: one per run, its workers kept between rounds.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Peer {
    fn start(model: &Model) -> anyhow::Result<Self> {
        let python = peer_python()?;
        let dir = TempDir(std::env::temp_dir().join(format!("debut-bench-pipeline-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0)?;
        crate::model::onnx::export(model, &dir.0)?;
        let script = dir.0.join("pipeline_peer.py");
        std::fs::write(&script, PEER_SCRIPT)?;
        let bin = python.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path)))?;
        let mut child = Command::new(python)
            .arg(&script)
            .env("PATH", path)
            .arg(dir.0.join("audio_tower.onnx"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the Python peer")?;
        let stdin = child.stdin.take().context("peer stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("peer stdout")?);
        Ok(Self { child, stdin, stdout, _dir: dir })
    }

    /// One round: (seconds, embedding per file).
    fn round(&mut self, mode: &str, threads: usize, files: &[PathBuf]) -> anyhow::Result<(f64, Vec<Vec<f32>>)> {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let cmd = serde_json::json!({"mode": mode, "threads": threads, "files": names});
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        anyhow::ensure!(self.stdout.read_line(&mut line)? > 0, "the Python peer stopped (see its stderr above)");
        let v: serde_json::Value = serde_json::from_str(&line)?;
        let embeddings = names
            .iter()
            .map(|n| {
                v["embeddings"][n]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect())
                    .unwrap_or_default()
            })
            .collect();
        Ok((v["seconds"].as_f64().unwrap_or(f64::NAN), embeddings))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One debut round over `files` on `threads` threads, a track per task: (seconds, embeddings).
fn debut_round(
    frontend: &Frontend,
    backend: &Backend,
    model: &Model,
    files: &[PathBuf],
    pool: &rayon::ThreadPool,
) -> anyhow::Result<(f64, Vec<Vec<f32>>)> {
    let t0 = Instant::now();
    let out: anyhow::Result<Vec<Vec<f32>>> = pool.install(|| {
        files
            .par_iter()
            .with_max_len(1)
            .map(|f| {
                let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                let a = frontend.analyse(bytes, &SourceHint::from_path(f))?;
                let mut e = crate::embedding::audio_embeddings(backend, model, &[&a.mel], 64)?;
                Ok(e.remove(0))
            })
            .collect()
    });
    Ok((t0.elapsed().as_secs_f64(), out?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// Files grouped by extension (the format a row reports).
fn by_format(files: &[PathBuf]) -> BTreeMap<String, Vec<PathBuf>> {
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let ext = f.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_else(|| "?".into());
        groups.entry(ext).or_default().push(f.clone());
    }
    groups
}

/// Every format at every thread count: a warm-up round, then `rounds` rounds of debut, the
/// fair peer and the whole-file peer, interleaved.
pub fn pipeline(
    files: &[PathBuf],
    threads: &[usize],
    rounds: usize,
    model: &Model,
    backend: &Backend,
    with_peer: bool,
) -> anyhow::Result<Vec<PipelineRow>> {
    let frontend = Frontend::new(AudioConfig::default(), model.mel_params(), backend.clone());
    let mut peer = if with_peer { Some(Peer::start(model)?) } else { None };
    let mut rows = Vec::new();
    for (format, group) in by_format(files) {
        for &t in threads {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
            let (mut d, mut fair, mut whole) = (Vec::new(), Vec::new(), Vec::new());
            let mut agreement = Vec::new();
            for round in 0..=rounds {
                let (ds, de) = debut_round(&frontend, backend, model, &group, &pool)?;
                let peer_times = match peer.as_mut() {
                    Some(p) => {
                        let (fs, fe) = p.round("fair", t, &group)?;
                        let (ws, _) = p.round("whole", t, &group)?;
                        if round == 0 {
                            agreement.extend(de.iter().zip(&fe).map(|(a, b)| cosine(a, b)));
                        }
                        Some((fs, ws))
                    }
                    None => None,
                };
                if round > 0 {
                    d.push(ds);
                    if let Some((fs, ws)) = peer_times {
                        fair.push(fs);
                        whole.push(ws);
                    }
                }
            }
            let row = PipelineRow {
                format: format.clone(),
                threads: t,
                tracks: group.len(),
                debut_s: median(d),
                fair_s: (!fair.is_empty()).then(|| median(fair)),
                whole_s: (!whole.is_empty()).then(|| median(whole)),
                agreement: (!agreement.is_empty()).then(|| agreement.iter().sum::<f64>() / agreement.len() as f64),
                stages: if t == 1 {
                    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
                    one.install(|| stages(&frontend, backend, model, &group))?
                } else {
                    Stages::default()
                },
            };
            eprintln!(
                "{format} x{} on {t} thread(s): debut {:.2} s, peer fair {}, whole {}",
                row.tracks,
                row.debut_s,
                row.fair_s.map_or("-".into(), |s| format!("{s:.2} s")),
                row.whole_s.map_or("-".into(), |s| format!("{s:.2} s")),
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

pub fn print_pipeline(rows: &[PipelineRow]) {
    println!("debut per track, one thread (median ms): read, decode, resample, log-mel, audio tower");
    for r in rows.iter().filter(|r| r.stages.total() > 0.0) {
        let s = &r.stages;
        let share = |v: f64| 100.0 * v / s.total();
        println!(
            "  {:<6} {:>6.2} {:>7.2} ({:>4.1}%) {:>7.2} ({:>4.1}%) {:>6.2} ({:>4.1}%) {:>6.2} ({:>4.1}%)  total {:.1}",
            r.format,
            s.read,
            s.decode,
            share(s.decode),
            s.resample,
            share(s.resample),
            s.mel,
            share(s.mel),
            s.tower,
            share(s.tower),
            s.total()
        );
    }
    println!(
        "{:<6} {:>7} {:>6} {:>13} {:>13} {:>13} {:>10} {:>10} {:>10}",
        "format", "threads", "tracks", "debut tr/s", "fair tr/s", "whole tr/s", "vs fair", "vs whole", "agreement"
    );
    for r in rows {
        let debut = r.tracks as f64 / r.debut_s;
        let fmt = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.1}"));
        let ratio = |v: Option<f64>| v.map_or("-".into(), |x| format!("{:.2}x", debut / x));
        println!(
            "{:<6} {:>7} {:>6} {:>13.1} {:>13} {:>13} {:>10} {:>10} {:>10}",
            r.format,
            r.threads,
            r.tracks,
            debut,
            fmt(r.tracks_per_s(r.fair_s)),
            fmt(r.tracks_per_s(r.whole_s)),
            ratio(r.tracks_per_s(r.fair_s)),
            ratio(r.tracks_per_s(r.whole_s)),
            r.agreement.map_or("-".into(), |a| format!("{a:.3}")),
        );
    }
}
