//! Models for other tools, checked against debut itself: `debut model export --onnx` run by
//! onnxruntime (`onnx_check.py`) and `models/torch_load.py` run by PyTorch (`torch_check.py`)
//! must give debut's outputs within 1e-4 (each window's and the track's audio embedding, the
//! text tower from plugin features, the fusion), for the bundled model and a seeded random one;
//! the same checks must fail on the other model's outputs. The torch round trip must save what
//! `debut model check` accepts, every tensor bit for bit. Python is DEBUT_TEST_PYTHON's.

use std::path::{Path, PathBuf};
use std::process::Command;

use debut::audio::{AudioConfig, SourceHint};
use debut::frontend::Frontend;
use debut::model::Model;
use debut::nn::{Activations, Matrix, TrackWindows};
use debut::plugin::SparseFeatures;
use debut_tests::*;
use serde_json::{Value, json};

const TOLERANCE: f64 = 1e-4;

fn python() -> PathBuf {
    std::env::var_os("DEBUT_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "DEBUT_TEST_PYTHON is unset: run tests/run.sh, which installs numpy, onnx, onnxruntime, \
             safetensors and torch into a virtual environment and points DEBUT_TEST_PYTHON at it"
        )
    })
}

/// Runs `tests/<script>`; returns whether it passed and its JSON lines.
fn check(script: &str, args: &[&Path]) -> (bool, Vec<Value>) {
    let out = Command::new(python())
        .arg(repo_root().join("tests").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {} {script}: {e}", python().display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{script} {args:?}:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (out.status.success(), lines)
}

/// The per-graph lines of a check's output, by graph name.
fn graphs(lines: &[Value]) -> Vec<(String, f64, f64, bool)> {
    lines
        .iter()
        .filter_map(|l| {
            let g = l.get("graph")?.as_str()?.to_string();
            Some((g, l["max_abs_diff"].as_f64()?, l["max_abs_debut"].as_f64()?, l["ok"].as_bool()?))
        })
        .collect()
}

/// `[rows, cols]` column-major-by-batch debut matrix -> batch-first `[cols, rows]`.
fn batch_first(m: &Matrix) -> Vec<f32> {
    (0..m.cols).flat_map(|c| m.column(c)).collect()
}

/// `[channels, batch, time]` -> `[batch, channels, time]`.
fn windows_batch_first(x: &Activations) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.data.len());
    for b in 0..x.batch {
        for c in 0..x.channels {
            let at = (c * x.batch + b) * x.time;
            out.extend_from_slice(&x.data[at..at + x.time]);
        }
    }
    out
}

/// Sparse plugin output: `n` distinct sorted indices with term counts 1..=4.
fn features(dim: usize, n: usize, seed: u64) -> SparseFeatures {
    let mut rng = Rng::new(seed);
    let mut idx: Vec<u32> = (0..n * 3).map(|_| (rng.next_u64() % dim as u64) as u32).collect();
    idx.sort_unstable();
    idx.dedup();
    idx.truncate(n);
    SparseFeatures { dim: dim as u32, entries: idx.into_iter().map(|i| (i, (1 + rng.next_u64() % 4) as f32)).collect() }
}

/// A named batch-first array: (name, shape, values).
type Array<'a> = (&'a str, Vec<usize>, Vec<f32>);

/// Graph runs with debut's outputs, as `cases.json` and `.npy` files (see `onnx_check.py`).
struct Cases {
    dir: PathBuf,
    runs: Vec<Value>,
}

impl Cases {
    fn add(&mut self, graph: &str, inputs: &[Array], outputs: &[Array]) {
        let i = self.runs.len();
        let write = |arrays: &[Array]| -> Value {
            let files = arrays.iter().map(|(name, shape, values)| {
                let file = format!("{i}.{name}.npy");
                debut::output::write_npy_nd(&self.dir.join(&file), shape, values).unwrap();
                (name.to_string(), Value::from(file))
            });
            Value::Object(files.collect())
        };
        let run = json!({"graph": graph, "inputs": write(inputs), "outputs": write(outputs)});
        self.runs.push(run);
    }
}

/// debut's outputs (the library's, on the CPU) for some inputs, written into `dir`.
fn write_cases(model: &Model, dir: &Path) {
    let cpu = cpu();
    let mut cases = Cases { dir: dir.to_path_buf(), runs: Vec::new() };
    let (s, t) = (&model.audio.spec, &model.text.spec);
    let (da, dt) = (s.embedding_dim, t.embedding_dim);
    // Three tracks' windows: random dB values, a real recording (one window), one random window.
    let music = fixture("audio/music_22k_mono.flac");
    let frontend = Frontend::new(AudioConfig::default(), model.mel_params(), cpu.clone());
    let mel = frontend.analyse(std::fs::read(&music).unwrap(), &SourceHint::from_path(&music)).unwrap().mel;
    let tracks = [
        random_windows(3, 11),
        TrackWindows::from_mels(&[&mel], s.n_mels, s.window_frames).unwrap().windows,
        random_windows(1, 12),
    ];
    let mut audio = Vec::new();
    for w in tracks {
        let per_window = cpu.audio_tower(&model.audio, &w).unwrap();
        let (n, x) = (w.batch, windows_batch_first(&w));
        let track = cpu.embed_tracks(&model.audio, &TrackWindows { windows: w, offsets: vec![0, n] }).unwrap();
        cases.add(
            "audio_tower",
            &[("windows", vec![n, s.n_mels, s.window_frames], x)],
            &[
                ("window_embeddings", vec![n, da], batch_first(&per_window)),
                ("audio_embedding", vec![1, da], track.column(0)),
            ],
        );
        audio.push(track.column(0));
    }
    // Bios of 40, 3, 1 and no features.
    let empty = SparseFeatures { dim: t.feature_dim as u32, entries: vec![] };
    let bios = [features(t.feature_dim, 40, 1), features(t.feature_dim, 3, 2), features(t.feature_dim, 1, 3), empty];
    let artists = debut::embedding::artist_embeddings(&cpu, model, &bios.iter().collect::<Vec<_>>()).unwrap();
    let mut dense = vec![0.0; bios.len() * t.feature_dim];
    for (r, f) in bios.iter().enumerate() {
        for &(i, v) in &f.entries {
            dense[r * t.feature_dim + i as usize] = v;
        }
    }
    let rows = bios.len();
    cases.add(
        "text_tower",
        &[("features", vec![rows, t.feature_dim], dense)],
        &[("artist_embedding", vec![rows, dt], artists.concat())],
    );
    // Tracks with their artists, and one without a bio (a zero artist half).
    let pairs = [(&audio[0][..], Some(&artists[0][..])), (&audio[1], Some(&artists[1])), (&audio[2], None)];
    let fused = debut::embedding::fused_embeddings(&cpu, model, &pairs).unwrap();
    let artist_in = pairs.iter().flat_map(|(_, a)| a.map_or(vec![0.0; dt], <[f32]>::to_vec)).collect();
    let n = pairs.len();
    cases.add(
        "fusion",
        &[("audio_embedding", vec![n, da], audio.concat()), ("artist_embedding", vec![n, dt], artist_in)],
        &[("embedding", vec![n, model.fusion.d_out], fused.concat())],
    );
    std::fs::write(dir.join("cases.json"), serde_json::to_string_pretty(&cases.runs).unwrap()).unwrap();
}

/// A model directory and debut's outputs for it.
struct Prepared {
    model: PathBuf,
    cases: PathBuf,
}

/// The bundled model and a seeded random one (`debut model init`), with their cases, in the
/// scratch directory returned beside them.
fn prepare(test: &str) -> (Scratch, Vec<Prepared>) {
    let dir = scratch_dir(test);
    let random = dir.join("random-model");
    let (ok, _, err) = run_debut(&["model", "init", "--out", random.to_str().unwrap(), "--seed", "7"], &[]);
    assert!(ok, "model init failed: {err}");
    let prepared = [repo_root().join("models/default"), random]
        .into_iter()
        .enumerate()
        .map(|(i, model)| {
            let cases = dir.join(format!("cases{i}"));
            std::fs::create_dir_all(&cases).unwrap();
            write_cases(&Model::load(&model).unwrap(), &cases);
            Prepared { model, cases }
        })
        .collect();
    (dir, prepared)
}

/// Every graph within tolerance of debut's outputs, and those outputs not trivially small.
fn assert_matches(what: &str, ok: bool, lines: &[Value]) {
    let graphs = graphs(lines);
    let names: Vec<&str> = graphs.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(names, ["audio_tower", "fusion", "text_tower"], "{what}: {lines:?}");
    for (graph, diff, scale, _) in &graphs {
        eprintln!("{what}: {graph} max abs diff {diff:.2e} (debut's outputs up to {scale:.3})");
        assert!(*diff <= TOLERANCE, "{what}: {graph} differs from debut by {diff}");
        assert!(*scale > 0.05, "{what}: {graph}'s outputs are trivially small ({scale})");
    }
    assert!(ok, "{what} failed: {lines:?}");
}

/// Every graph off by more than the tolerance: the check can fail.
fn assert_all_differ(what: &str, ok: bool, lines: &[Value]) {
    let graphs = graphs(lines);
    assert!(!ok && graphs.len() == 3, "{what} should fail for every graph: {lines:?}");
    for (graph, diff, _, passed) in graphs {
        assert!(!passed && diff > TOLERANCE, "{what}: {graph} passed ({diff}) with another model's weights");
    }
}

#[test]
fn onnx_graphs_compute_what_debut_computes() {
    let (_dir, prepared) = prepare("onnx");
    let mut exported = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let out = p.cases.parent().unwrap().join(format!("onnx{i}"));
        let (ok, stdout, err) =
            run_debut(&["model", "export", "--onnx", out.to_str().unwrap(), "--model", p.model.to_str().unwrap()], &[]);
        assert!(ok, "export of {} failed: {err}", p.model.display());
        let files: Vec<&str> = stdout.lines().collect();
        assert_eq!(files.len(), 3, "{stdout}");
        let (ok, lines) = check("onnx_check.py", &[&out, &p.cases]);
        assert_matches(&format!("onnx {}", p.model.display()), ok, &lines);
        exported.push(out);
    }
    // The random model's graphs against the bundled model's outputs.
    let (ok, lines) = check("onnx_check.py", &[&exported[1], &prepared[0].cases]);
    assert_all_differ("onnx with the wrong weights", ok, &lines);
}

/// A weights file's tensors: name -> (shape, raw bytes).
fn tensors(dir: &Path) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn torch_modules_compute_what_debut_computes_and_save_what_it_loads() {
    let (_dir, prepared) = prepare("torch");
    for (i, p) in prepared.iter().enumerate() {
        let out = p.cases.parent().unwrap().join(format!("torch{i}"));
        let (ok, lines) = check("torch_check.py", &[&p.model, &p.cases, &out]);
        assert_matches(&format!("torch {}", p.model.display()), ok, &lines);
        for sub in ["same", "renamed"] {
            let (ok, stdout, err) = run_debut(&["model", "check", out.join(sub).to_str().unwrap()], &[]);
            assert!(ok, "debut model check refuses the model torch_load.py saved in {sub}: {err}");
            if sub == "renamed" {
                assert!(stdout.starts_with("torch-roundtrip 2.0.0"), "{stdout}");
            }
            assert!(tensors(&out.join(sub)) == tensors(&p.model), "{sub}: the tensors changed in the round trip");
        }
    }
    // The random model in PyTorch against the bundled model's outputs.
    let out = prepared[0].cases.parent().unwrap().join("torch-wrong");
    let (ok, lines) = check("torch_check.py", &[&prepared[1].model, &prepared[0].cases, &out]);
    assert_all_differ("torch with the wrong weights", ok, &lines);
}

#[test]
fn the_readme_shows_torch_load_usage_and_it_runs() {
    let source = std::fs::read_to_string(repo_root().join("models/torch_load.py")).unwrap();
    let usage: Vec<&str> = source
        .lines()
        .skip_while(|l| !l.starts_with("    import sys"))
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let usage = usage.join("\n").trim_end().to_string();
    assert!(usage.ends_with("# then: debut model check my-model"), "torch_load.py's usage: {usage}");
    let readme = std::fs::read_to_string(repo_root().join("models/README.md")).unwrap();
    assert!(readme.contains(&format!("```python\n{usage}\n```")), "models/README.md must show torch_load.py's usage");
    // Run as written, from a directory whose `models` is the repository's.
    let dir = scratch_dir("usage");
    std::os::unix::fs::symlink(repo_root().join("models"), dir.join("models")).unwrap();
    let out = Command::new(python()).arg("-c").arg(&usage).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "the usage fails: {}", String::from_utf8_lossy(&out.stderr));
    let (ok, stdout, err) = run_debut(&["model", "check", dir.join("my-model").to_str().unwrap()], &[]);
    assert!(ok && stdout.starts_with("my-model 1.0.0"), "{stdout}{err}");
}
