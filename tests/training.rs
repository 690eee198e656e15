//! The trainer: one training step computes the same update on the CPU and in WGSL (the
//! networks, losses and optimisers end to end, parameters on the device); and the commands
//! `synth`, `train` and `eval` on a tiny catalog: reproducible for a seed, resumable
//! exactly, and evaluated with every model the papers compare.

use debut::backend::Backend;
use debut::nn::{AudioTowerSpec, SparseRows};
use debut::train::nets::{AudioNet, DenseStack, StackInput};
use debut::train::optim::{Optimizer, OptimizerConfig};
use debut::train::params::Params;
use debut_tests::*;

fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| scale * rng.uniform()).collect()
}

/// A small tower: the DCUE layout at a quarter of its widths.
fn small_spec() -> AudioTowerSpec {
    AudioTowerSpec { channels: vec![32, 32, 64, 64, 128], embedding_dim: 16, ..AudioTowerSpec::dcue() }
}

/// One SGD step of the audio CNN regressing targets, then of a user tower (lookup) and a
/// text tower (sparse rows) against cosine and hinge losses; returns every parameter.
fn one_step(b: &Backend) -> Vec<Vec<f32>> {
    let spec = small_spec();
    let mut params = Params::new();
    let net = AudioNet::init(&mut params, b, "audio", &spec, &vec![-40.0; 128], &vec![20.0; 128], 5).unwrap();
    let users = DenseStack::init(&mut params, b, "user", &[8, 12, 16], Some(6), 6).unwrap();
    let text = DenseStack::init(&mut params, b, "text", &[40, 24, 16], None, 7).unwrap();
    let mut grads = params.zeros_like(b, ".grad").unwrap();
    // SGD: the update is proportional to the gradient, so the paths compare closely (Adam's first
    // step is the sign of each gradient, which a rounding difference flips where it is near 0).
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.5), &params, b).unwrap();
    let x =
        b.upload(&[128, 3, 128], &random(128 * 3 * 128, 1, 20.0).iter().map(|v| v - 40.0).collect::<Vec<_>>()).unwrap();
    let target = b.upload(&[16, 3], &random(48, 2, 1.0)).unwrap();
    let (pred, tape) = net.forward(b, &params, &x, true).unwrap();
    let (_, d) = b.cosine_proximity(&pred, &target).unwrap();
    net.backward(b, &params, tape.unwrap(), &d, &mut grads).unwrap();
    // DCUE's pairing of the user tower with the item vectors.
    let idx = [1u32, 4, 1];
    let who = StackInput::Lookup(&idx);
    let ut = users.forward(b, &params, &who).unwrap();
    let cos = b.cosine_similarity(ut.output(), &pred).unwrap();
    let (_, ds) = b.hinge_loss(&cos.scores, &[0, 1, 2], &[1, 2, 0, 2, 0, 1], 0.2).unwrap();
    let (du, _) = b.cosine_similarity_backward(ut.output(), &pred, &cos, &ds).unwrap();
    users.backward(b, &params, &who, &ut, &du, &mut grads).unwrap();
    // The text tower on sparse rows.
    let rows = SparseRows {
        dim: 40,
        offsets: vec![0, 2, 5, 6],
        indices: vec![3, 9, 0, 9, 39, 12],
        values: vec![0.5, 0.2, 0.7, 0.1, 0.3, 1.0],
    };
    let input = StackInput::Sparse(&rows);
    let tt = text.forward(b, &params, &input).unwrap();
    let (_, dt) = b.cosine_proximity(tt.output(), &target).unwrap();
    text.backward(b, &params, &input, &tt, &dt, &mut grads).unwrap();
    opt.step(b, &mut params, &grads).unwrap();
    params.tensors().iter().map(|t| b.download(t).unwrap()).collect()
}

#[test]
fn a_training_step_agrees_on_the_cpu_and_in_wgsl() {
    let (c, g) = (one_step(&cpu()), one_step(&gpu()));
    let mut worst = 0.0f64;
    for (a, b) in c.iter().zip(&g) {
        let (d, _) = max_abs_diff(a, b);
        let scale = a.iter().map(|v| f64::from(v.abs())).fold(1e-3, f64::max);
        worst = worst.max(d / scale);
    }
    eprintln!("parameters after one step, CPU vs WGSL: worst relative difference {worst:.2e}");
    assert!(worst < 1e-4, "CPU and WGSL training steps differ by {worst:.2e}");
}

/// A training configuration small enough for tests: 16-wide factors and embeddings.
fn tiny_config(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = serde_json::json!({
        "seed": 3,
        "wmf": {"factors": 16, "iterations": 6, "regularization": 1.0},
        "audio": {"tower": small_spec(), "stats_tracks": 20},
        "dcue": {"user_embedding": 8, "user_hidden": [16], "negatives": 4, "batch": 12,
                 "fit": {"optimizer": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "decay": 1e-6}, "max_epochs": 2, "patience": 2}},
        "regression": {"batch": 8, "fit": {"max_epochs": 2, "patience": 2}},
        "text": {"tower": {"feature_dim": 4096, "hidden": [32], "embedding_dim": 16, "idf": "text.idf"}, "batch": 8,
                 "fit": {"max_epochs": 3, "patience": 3}},
        "fusion": {"batch": 8, "fit": {"max_epochs": 3, "patience": 3}},
    });
    let path = dir.join("train.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    path
}

fn sha_of(model: &std::path::Path) -> String {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap()).unwrap();
    m["weights"]["sha256"].as_str().unwrap().to_string()
}

/// A tiny synthetic catalog of 4 s tracks.
fn synth_catalog(
    data: &std::path::Path,
    seed: u64,
    artists: usize,
    tracks: usize,
    users: usize,
    plays_per_user: usize,
) {
    let nums = [seed as usize, artists, tracks, users, plays_per_user].map(|n| n.to_string());
    let [seed, artists, tracks, users, plays] = nums.each_ref().map(String::as_str);
    let args = [
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--seed",
        seed,
        "--artists",
        artists,
        "--tracks",
        tracks,
        "--users",
        users,
        "--seconds",
        "4",
        "--plays-per-user",
        plays,
        "--quiet",
    ];
    let (ok, _, err) = run_debut(&args, &[]);
    assert!(ok, "synth failed: {err}");
}

#[test]
fn synth_train_and_eval_on_a_tiny_catalog_reproducibly() {
    let dir = scratch_dir("train-cli");
    let data = dir.join("catalog");
    synth_catalog(&data, 5, 12, 36, 150, 10);
    for f in ["plays.tsv", "tracks.jsonl", "artists.jsonl", "truth.json", "audio/tr-00036.wav"] {
        assert!(data.join(f).is_file(), "synth wrote no {f}");
    }
    let cfg = tiny_config(&dir);
    let train = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--train-config",
            cfg.to_str().unwrap(),
            "--threads",
            "2",
            "--backend",
            "cpu",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let (ok, _, err) = run_debut(&args, &[]);
        assert!(ok, "train {extra:?} failed: {err}");
    };
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    train(&a, &[]);
    train(&b, &[]);
    assert_eq!(sha_of(&a), sha_of(&b), "two runs with one seed and thread count differ");
    // One epoch, then resumed to the full run: the same weights as training straight through.
    train(&c, &["--max-epochs", "1"]);
    assert_ne!(sha_of(&c), sha_of(&a), "a one-epoch model should differ");
    train(&c, &["--resume"]);
    assert_eq!(sha_of(&c), sha_of(&a), "resuming from the checkpoints did not reproduce the straight run");
    for f in ["report.json", "loss_curves.png", "training/wmf.safetensors", "checkpoints/dcue.ckpt.safetensors"] {
        assert!(a.join(f).is_file(), "train wrote no {f}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("report.json")).unwrap()).unwrap();
    let stages: Vec<&str> = report["stages"].as_array().unwrap().iter().map(|s| s["task"].as_str().unwrap()).collect();
    assert_eq!(stages, ["text", "regression", "dcue", "fusion", "text_only"]);
    // The served model loads and embeds.
    let (ok, out, err) = run_debut(&["model", "check", a.to_str().unwrap()], &[]);
    assert!(ok && out.contains("(trained)"), "{out}{err}");
    let json = dir.join("eval.json");
    let (ok, out, err) = run_debut(
        &[
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--model",
            a.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--plots",
            dir.to_str().unwrap(),
            "--backend",
            "cpu",
            "--quiet",
        ],
        &[],
    );
    assert!(ok, "eval failed: {err}");
    eprintln!("{out}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let models: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["popularity", "random", "wmf-warm", "dcue", "wmf-regression", "text", "fused"]);
    for r in &rows {
        for key in ["auc", "map500"] {
            let v = r[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{}: {key} {v}", r["model"]);
        }
    }
    let warm = rows.iter().find(|r| r["model"] == "wmf-warm").unwrap()["auc"].as_f64().unwrap();
    assert!(warm > 0.9, "WMF with the test plays must rank them well (AUC {warm})");
    assert!(dir.join("roc.png").is_file());
}

#[test]
fn the_whole_trainer_runs_on_the_wgsl_path() {
    let dir = scratch_dir("train-gpu");
    let data = dir.join("catalog");
    synth_catalog(&data, 8, 8, 24, 80, 8);
    let cfg = tiny_config(&dir);
    let out = dir.join("model");
    let (ok, _, err) = run_debut(
        &[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--train-config",
            cfg.to_str().unwrap(),
            "--max-epochs",
            "1",
            "--backend",
            "gpu",
            "--quiet",
        ],
        &[],
    );
    assert!(ok, "train on the GPU path failed: {err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(report["backend"].as_str().unwrap().starts_with("gpu"), "{}", report["backend"]);
    for stage in report["stages"].as_array().unwrap() {
        let e = &stage["epochs"][0];
        assert!(
            e["train_loss"].as_f64().unwrap().is_finite() && e["val_loss"].as_f64().unwrap().is_finite(),
            "{stage}"
        );
    }
    let (ok, out, err) = run_debut(&["model", "check", out.to_str().unwrap()], &[]);
    assert!(ok && out.contains("(trained)"), "{out}{err}");
}

#[test]
fn pretrain_writes_a_trained_audio_tower_that_resumes_and_evaluates() {
    let dir = scratch_dir("pretrain");
    let music = grouped_synth_music(&dir, 6, 24, 8.0);
    let (out, straight) = (dir.join("pretrained"), dir.join("straight"));
    let pretrain = |out: &std::path::Path, extra: &[&str]| {
        let base = ["pretrain", "--audio", music.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let flags = ["--batch", "6", "--steps-per-epoch", "2", "--backend", "cpu", "--threads", "2", "--quiet"];
        let (ok, stdout, err) = run_debut(&[&base[..], &flags[..], extra].concat(), &[]);
        assert!(ok, "pretrain {extra:?} failed: {err}");
        stdout
    };
    pretrain(&out, &["--max-epochs", "1"]);
    let stdout = pretrain(&out, &["--max-epochs", "2", "--resume"]);
    assert!(stdout.contains("2 epochs"), "{stdout}");
    pretrain(&straight, &["--max-epochs", "2"]);
    assert_eq!(sha_of(&out), sha_of(&straight), "resumed pretraining differs from a straight run");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["history"]["epochs"].as_array().unwrap().len(), 2);
    assert!(out.join("loss_curves.png").is_file());
    let (ok, text, err) = run_debut(&["model", "check", out.to_str().unwrap()], &[]);
    assert!(ok && text.contains("(trained)"), "{text}{err}");
    let (ok, text, err) = run_debut(
        &["eval-audio", "--audio", music.to_str().unwrap(), "--model", out.to_str().unwrap(), "--quiet"],
        &[],
    );
    assert!(ok && text.lines().any(|l| l.starts_with("model ")), "{text}{err}");
}

/// A teacher whose embedding of every patch of a track is its group's fixed random vector
/// (a perfect same-group teacher, its vectors sharing a positive part), in the teacher
/// script's format.
fn group_teacher(music: &std::path::Path, path: &std::path::Path) {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for group in std::fs::read_dir(music).unwrap().map(|e| e.unwrap().path()) {
        let g: u64 = group.file_name().unwrap().to_string_lossy().trim_start_matches("genre-").parse().unwrap();
        let vector: Vec<f32> = (0..200).map(|i| (((g * 7919 + i * 104_729) % 1000) as f32 / 1000.0) + 0.5).collect();
        for file in std::fs::read_dir(&group).unwrap().map(|e| e.unwrap().path()) {
            let rel = file.strip_prefix(music).unwrap().to_string_lossy().into_owned();
            let patches = 3; // 8 s tracks: patches of 3 s every 3 s
            let bytes: Vec<u8> = (0..patches).flat_map(|_| vector.iter().flat_map(|v| v.to_le_bytes())).collect();
            tensors.push((rel, vec![patches, 200], bytes));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, shape, b)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).unwrap())
        })
        .collect();
    let meta = std::collections::HashMap::from([
        ("model".to_string(), "group-teacher (test)".to_string()),
        ("patch_seconds".to_string(), "3.0".to_string()),
        ("hop_seconds".to_string(), "3.0".to_string()),
    ]);
    std::fs::write(path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

#[test]
fn distillation_regresses_the_teacher_and_the_trainer_builds_on_the_pretrained_tower() {
    let dir = scratch_dir("distill");
    let music = grouped_synth_music(&dir, 8, 24, 8.0);
    let teacher = dir.join("teacher.safetensors");
    group_teacher(&music, &teacher);
    // The teacher itself, scored by eval-audio: a perfect same-group retriever.
    let (ok, text, err) = run_debut(
        &[
            "eval-audio",
            "--audio",
            music.to_str().unwrap(),
            "--teacher",
            teacher.to_str().unwrap(),
            "--quiet",
            "--backend",
            "cpu",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let row = text.lines().find(|l| l.starts_with("group-teacher")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row.split_whitespace().nth(1), Some("1.0000"), "{row}");

    // Distillation alone: the distance to the teacher falls.
    let cfg = dir.join("distill.json");
    std::fs::write(&cfg, r#"{"contrastive_weight": 0.0, "readout": "trunk", "learning_rate": 0.003}"#).unwrap();
    let out = dir.join("pretrained");
    let args = [
        "pretrain",
        "--audio",
        music.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--teacher",
        teacher.to_str().unwrap(),
        "--pretrain-config",
        cfg.to_str().unwrap(),
        "--batch",
        "8",
        "--steps-per-epoch",
        "6",
        "--max-epochs",
        "5",
        "--backend",
        "cpu",
        "--threads",
        "2",
        "--quiet",
    ];
    let (ok, _, err) = run_debut(&args, &[]);
    assert!(ok, "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let losses: Vec<f64> =
        report["history"]["epochs"].as_array().unwrap().iter().map(|e| e["train_loss"].as_f64().unwrap()).collect();
    assert_eq!(losses.len(), 5);
    assert!(losses.iter().all(|l| (0.0..=4.0).contains(l)), "1 - cos, two views: {losses:?}");
    assert!(losses[4] < 0.5 * losses[0], "distillation did not approach the teacher: {losses:?}");
    assert!(report["teacher"].as_str().unwrap().contains("group-teacher"));
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("distillation of group-teacher"), "{manifest}");

    // The trainer serves that tower untouched (no audio stage) with a text tower and fusion.
    let served = dir.join("served");
    let catalog = dir.join("catalog");
    let args = [
        "train",
        "--data",
        catalog.to_str().unwrap(),
        "--out",
        served.to_str().unwrap(),
        "--init-audio",
        out.to_str().unwrap(),
        "--serve",
        "pretrained",
        "--stage",
        "wmf",
        "--stage",
        "text",
        "--stage",
        "fusion",
        "--max-epochs",
        "2",
        "--backend",
        "cpu",
        "--threads",
        "2",
        "--quiet",
    ];
    let (ok, _, err) = run_debut(&args, &[]);
    assert!(ok, "{err}");
    let (a, b) = (debut::model::Model::load(&out).unwrap(), debut::model::Model::load(&served).unwrap());
    assert!(
        a.audio.convs == b.audio.convs && a.audio.fc == b.audio.fc && a.audio.input_mean == b.audio.input_mean,
        "the served audio tower is not the pretrained one"
    );
    assert!(a.text.layers != b.text.layers, "the text tower was not trained");
    assert!(b.manifest.trained && b.manifest.provenance.method.contains("pretrained (from "));
    // Without a tower to serve, the configuration is refused.
    let (ok, _, err) = run_debut(
        &[
            "train",
            "--data",
            catalog.to_str().unwrap(),
            "--out",
            dir.join("x").to_str().unwrap(),
            "--serve",
            "pretrained",
        ],
        &[],
    );
    assert!(!ok && err.contains("--init-audio"), "{err}");
}
