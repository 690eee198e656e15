//! Shared test support: fixture paths, the librosa reference arrays, shared backends, and
//! the plain f64 reference implementations every kernel is checked against.

pub mod grad;
pub mod kafka;
pub mod reference;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use debut::backend::{Backend, CpuBackend};
use debut::gpu::{AdapterChoice, GpuBackend};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("fixtures").join(rel)
}

/// `fixtures/reference/INDEX.json`.
pub fn reference_index() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("reference/INDEX.json")).expect("reference index");
    serde_json::from_str(&text).expect("reference index is JSON")
}

/// Fixture names of one kind (`analysis-rate`, `resampled`, `lossy`).
pub fn fixtures_of_kind(kind: &str) -> Vec<String> {
    let index = reference_index();
    let mut names: Vec<String> = index["files"]
        .as_object()
        .expect("files")
        .iter()
        .filter(|(_, v)| v["kind"] == kind)
        .map(|(k, _)| k.clone())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures of kind {kind}");
    names
}

/// The librosa reference log-mel of an audio fixture: (n_mels, n_frames, data).
pub fn librosa_mel(name: &str) -> (usize, usize, Vec<f32>) {
    debut::output::read_npy_2d(&fixture(&format!("reference/{name}.npy"))).expect("reference array")
}

pub fn cpu() -> Backend {
    static CPU: OnceLock<Backend> = OnceLock::new();
    CPU.get_or_init(|| Backend::new(CpuBackend::new())).clone()
}

/// The WGSL backend on whatever adapter exists (lavapipe in CI). The test command installs
/// a software Vulkan driver; without one this fails loudly rather than skipping.
pub fn gpu() -> Backend {
    static GPU: OnceLock<Backend> = OnceLock::new();
    GPU.get_or_init(|| {
        Backend::new(GpuBackend::new(AdapterChoice::AnyAdapter).unwrap_or_else(|e| {
            panic!("no wgpu adapter for the WGSL tests ({e}); install mesa-vulkan-drivers libvulkan1")
        }))
    })
    .clone()
}

/// Largest absolute difference, and where.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> (f64, usize) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| ((f64::from(*x) - f64::from(*y)).abs(), i))
        .fold((0.0, 0), |m, v| if v.0 > m.0 { v } else { m })
}

/// A deterministic pseudo-random generator for test signals (xorshift*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A 16-bit PCM WAV file in memory.
pub fn wav_bytes(samples: &[f32], rate: u32, channels: u16) -> Vec<u8> {
    let data: Vec<u8> =
        samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()).collect();
    let block = channels as u32 * 2;
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * block).to_le_bytes());
    out.extend_from_slice(&(block as u16).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// The `debut` binary built alongside the tests (`cargo test --workspace` builds it).
pub fn debut_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps");
    let bin = dir.join(if cfg!(windows) { "debut.exe" } else { "debut" });
    assert!(bin.is_file(), "{} is missing: run the tests with `cargo test --workspace`", bin.display());
    bin
}

/// Runs `debut` with `args`; returns (success, stdout, stderr).
pub fn run_debut(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = std::process::Command::new(debut_bin())
        .args(args)
        .env_remove("DEBUT_BACKEND")
        .envs(env.iter().copied())
        .output()
        .expect("running debut");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh scratch directory in the temp directory, removed when dropped unless its test is
/// failing (then it stays, for a post-mortem). Directories left by test processes that are no
/// longer alive (killed, or failed) are swept on the first call, so repeated runs cannot fill
/// the disk.
pub fn scratch_dir(name: &str) -> Scratch {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(sweep_dead_scratch);
    let dir = std::env::temp_dir().join(format!("debut-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A scratch directory; see [`scratch_dir`].
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Removes `debut-test-<pid>-*` directories whose process is gone.
fn sweep_dead_scratch() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("debut-test-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A directory of synthetic music, one subdirectory per planted genre (each track's dominant
/// one): `debut synth`'s audio as `debut eval-audio` and `debut pretrain` read real music.
pub fn grouped_synth_music(dir: &Path, seed: u64, tracks: usize, seconds: f32) -> PathBuf {
    let catalog = dir.join("catalog");
    let (seed, n, secs) = (seed.to_string(), tracks.to_string(), seconds.to_string());
    let args = ["synth", "--out", catalog.to_str().unwrap(), "--seed", &seed, "--artists", "6", "--tracks", &n];
    let (ok, _, err) = run_debut(&[&args[..], &["--users", "20", "--seconds", &secs, "--quiet"]].concat(), &[]);
    assert!(ok, "synth failed: {err}");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(catalog.join("truth.json")).unwrap()).unwrap();
    let music = dir.join("music");
    for (i, mix) in truth["tracks"].as_array().unwrap().iter().enumerate() {
        let mix: Vec<f64> = mix.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let genre = (0..mix.len()).max_by(|&a, &b| mix[a].total_cmp(&mix[b])).unwrap();
        let group = music.join(format!("genre-{genre}"));
        std::fs::create_dir_all(&group).unwrap();
        let name = format!("tr-{:05}.wav", i + 1);
        std::fs::copy(catalog.join("audio").join(&name), group.join(&name)).unwrap();
    }
    music
}

/// A seeded, untrained DCUE model written to a scratch directory and loaded back.
pub fn test_model(seed: u64) -> debut::model::Model {
    use debut::model::{AudioTowerSpec, Model};
    let dir = scratch_dir(&format!("model-{seed}"));
    let (manifest, weights) =
        Model::init("test", seed, AudioTowerSpec::dcue(), debut::spectral::MelParams::default(), "tests");
    Model::save(&dir, &manifest, &weights).unwrap();
    Model::load(&dir).unwrap()
}

/// Log-mel-like random windows `[128, batch, 128]` (dB values around -40 +- 20).
pub fn random_windows(batch: usize, seed: u64) -> debut::nn::Activations {
    let mut rng = Rng::new(seed);
    let mut x = debut::nn::Activations::zeros(128, batch, 128);
    for v in &mut x.data {
        *v = -40.0 + 20.0 * rng.uniform();
    }
    x
}

/// The audio tower composed op by op on the CPU backend (the trait's default path).
pub fn cpu_composed_tower(tower: &debut::nn::AudioTower, x: &debut::nn::Activations) -> debut::nn::Matrix {
    let b = cpu();
    let mut h = b.normalize_channels(x, &tower.input_mean, &tower.input_std).unwrap();
    for conv in &tower.convs {
        h = b.conv1d(&h, conv, true).unwrap();
        h = b.max_pool(&h, tower.spec.pool).unwrap();
    }
    let offsets: Vec<usize> = (0..=h.batch).map(|i| i * h.time).collect();
    let flat = debut::nn::Matrix { rows: h.channels, cols: h.batch * h.time, data: h.data };
    b.dense(&b.segment_mean(&flat, &offsets).unwrap(), &tower.fc, false).unwrap()
}
