//! Model files: the bundled model loads and verifies; every kind of corrupt or mismatched
//! manifest or safetensors file is refused with an error that names what is wrong.

use std::path::Path;

use debut::model::{AudioTowerSpec, Model, ModelError, sha256_hex, weights};
use debut::spectral::MelParams;
use debut_tests::*;

fn bundled() -> std::path::PathBuf {
    repo_root().join("models/default")
}

/// A copy of a fresh model in a scratch dir, with `weights` replaced and the manifest's
/// sha256 updated to match (so the checks after the checksum are reached).
fn with_weights(name: &str, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) -> Scratch {
    let bytes = weights::write(&tensors, Default::default()).unwrap();
    with_weight_bytes(name, bytes)
}

fn with_weight_bytes(name: &str, bytes: Vec<u8>) -> Scratch {
    let dir = scratch_dir(name);
    let (mut manifest, _) = Model::init("t", 1, AudioTowerSpec::dcue(), MelParams::default(), "tests");
    manifest.weights.sha256 = sha256_hex(&bytes);
    Model::save(&dir, &manifest, &bytes).unwrap();
    dir
}

fn good_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let spec = AudioTowerSpec::dcue();
    let text = debut::model::TextTowerSpec::default_spec();
    let fusion = debut::model::FusionSpec { embedding_dim: 200 };
    spec.tensors()
        .into_iter()
        .chain(text.tensors())
        .chain(fusion.tensors(200, text.embedding_dim))
        .map(|(n, s)| {
            let len = s.iter().product();
            let fill = if n.ends_with("std") { 1.0 } else { 0.01 };
            (n, s, vec![fill; len])
        })
        .collect()
}

fn load_err(dir: &Path) -> String {
    let e = Model::load(dir).expect_err("the model should be refused");
    let msg = e.to_string();
    eprintln!("{}: {msg}", dir.display());
    msg
}

#[test]
fn the_bundled_model_is_trained_and_says_how() {
    let m = Model::load(&bundled()).unwrap();
    assert_eq!(m.manifest.audio_tower, AudioTowerSpec::dcue());
    assert!(m.manifest.trained);
    let p = &m.manifest.provenance;
    assert!(p.command.starts_with("models/scripts/build_default.sh: "), "{}", p.command);
    for step in ["teacher_musicnn.py", "debut pretrain", "debut synth", "debut train"] {
        assert!(p.command.contains(step), "{step} missing from {}", p.command);
    }
    let data = p.data.as_deref().unwrap();
    assert!(data.contains("FILES.sha256 ") && data.contains("never the held-out"), "{data}");
    let metrics = p.metrics.as_ref().unwrap();
    let rows = metrics["eval_audio_held_out"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["model"] == "model" && r["map"].as_f64().unwrap() > 0.0), "{metrics}");
    assert!(metrics["seeds"]["pretrain"].is_u64(), "{metrics}");
    // The text tower learned from the bundled plugin's features.
    let plugin = std::fs::read(repo_root().join("plugin/dist/bio-semantic.wasm")).unwrap();
    assert_eq!(m.manifest.text_tower.plugin_sha256.as_deref(), Some(sha256_hex(&plugin).as_str()));
    // 2 x (128*128*3*128 + 128*128*3*64 + 256*128*3*32 + 256*256*3*16 + 512*256*3*8 + 512*200)
    assert_eq!(m.audio.spec.flops_per_window(), 37_953_536);
}

#[test]
fn a_changed_weights_file_fails_its_checksum() {
    let dir = scratch_dir("checksum");
    for f in ["manifest.json", "weights.safetensors"] {
        std::fs::copy(bundled().join(f), dir.join(f)).unwrap();
    }
    let mut bytes = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0x40;
    std::fs::write(dir.join("weights.safetensors"), bytes).unwrap();
    assert!(matches!(Model::load(&dir), Err(ModelError::Checksum { .. })));
    assert!(load_err(&dir).contains("sha256"));
}

#[test]
fn missing_extra_misshapen_mistyped_and_non_finite_tensors_are_named() {
    let mut t = good_tensors();
    t.retain(|(n, _, _)| n != "audio.conv3.bias");
    assert!(load_err(&with_weights("missing", t)).contains("\"audio.conv3.bias\" is missing"));

    let mut t = good_tensors();
    t.push(("audio.conv6.weight".into(), vec![2], vec![0.0; 2]));
    assert!(load_err(&with_weights("extra", t)).contains("\"audio.conv6.weight\" is not part"));

    let mut t = good_tensors();
    let i = t.iter().position(|(n, _, _)| n == "audio.conv2.weight").unwrap();
    t[i] = ("audio.conv2.weight".into(), vec![128, 3, 128], vec![0.0; 128 * 3 * 128]);
    let msg = load_err(&with_weights("shape", t));
    assert!(msg.contains("\"audio.conv2.weight\" has shape [128, 3, 128]") && msg.contains("[128, 128, 3]"), "{msg}");

    let mut t = good_tensors();
    let i = t.iter().position(|(n, _, _)| n == "audio.fc.weight").unwrap();
    t[i].2[17] = f32::NAN;
    assert!(load_err(&with_weights("nan", t)).contains("\"audio.fc.weight\" holds a non-finite value at index 17"));

    let mut t = good_tensors();
    let i = t.iter().position(|(n, _, _)| n == "audio.input_norm.std").unwrap();
    t[i].2[5] = 0.0;
    assert!(load_err(&with_weights("std", t)).contains("band 5 has a non-positive std"));

    let mut t = good_tensors();
    t.retain(|(n, _, _)| n != "text.fc2.weight");
    assert!(load_err(&with_weights("text-missing", t)).contains("\"text.fc2.weight\" is missing"));

    let mut t = good_tensors();
    let i = t.iter().position(|(n, _, _)| n == "text.idf").unwrap();
    t[i].2[9] = -1.0;
    assert!(load_err(&with_weights("idf", t)).contains("feature 9 has a negative IDF"));
}

#[test]
fn a_non_f32_tensor_is_refused_by_dtype() {
    // Build a safetensors file by hand with one F16 tensor among the right names.
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, shape, _) in good_tensors() {
        let n: usize = shape.iter().product();
        let (dtype, bytes) = if name == "audio.conv1.bias" { ("F16", n * 2) } else { ("F32", n * 4) };
        header.insert(
            name,
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes]}),
        );
        data.extend(std::iter::repeat_n(0u8, bytes));
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut file = (h.len() as u64).to_le_bytes().to_vec();
    file.extend(h);
    file.extend(data);
    let msg = load_err(&with_weight_bytes("dtype", file));
    assert!(msg.contains("\"audio.conv1.bias\" is F16"), "{msg}");
}

#[test]
fn garbage_weights_and_broken_manifests_are_refused() {
    let msg = load_err(&with_weight_bytes("garbage", b"\xff\xff\xff\xff not safetensors at all".to_vec()));
    assert!(msg.contains("not a safetensors file"), "{msg}");

    let dir = scratch_dir("manifest");
    std::fs::copy(bundled().join("weights.safetensors"), dir.join("weights.safetensors")).unwrap();
    std::fs::write(dir.join("manifest.json"), "{ \"format\": ").unwrap();
    assert!(load_err(&dir).contains("manifest.json"));

    let text = std::fs::read_to_string(bundled().join("manifest.json")).unwrap();
    std::fs::write(dir.join("manifest.json"), text.replace("debut-model/1", "debut-model/9")).unwrap();
    assert!(load_err(&dir).contains("debut-model/9"));

    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["mel"]["n_mels"] = 64.into();
    std::fs::write(dir.join("manifest.json"), v.to_string()).unwrap();
    assert!(load_err(&dir).contains("64 bands"));

    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["audio_tower"]["channels"] = serde_json::json!([128, 128, 256, 256, 512, 512, 512, 512]);
    std::fs::write(dir.join("manifest.json"), v.to_string()).unwrap();
    assert!(load_err(&dir).contains("cannot be pooled"));

    assert!(load_err(&scratch_dir("empty")).contains("manifest.json"));
}

#[test]
fn init_is_deterministic_for_a_seed() {
    let (a, wa) = Model::init("x", 5, AudioTowerSpec::dcue(), MelParams::default(), "t");
    let (b, wb) = Model::init("x", 5, AudioTowerSpec::dcue(), MelParams::default(), "t");
    let (_, wc) = Model::init("x", 6, AudioTowerSpec::dcue(), MelParams::default(), "t");
    assert_eq!(wa, wb);
    assert_eq!(a.weights.sha256, b.weights.sha256);
    assert_ne!(wa, wc);
}

#[test]
fn embed_cli_writes_one_schema_record_per_file_and_fails_on_a_bad_model() {
    let files = [fixture("audio/music_22k_mono.flac"), fixture("audio/music_44k_stereo.mp3")];
    let args: Vec<&str> =
        ["embed", "--backend", "cpu"].into_iter().chain(files.iter().map(|f| f.to_str().unwrap())).collect();
    let (ok, out, err) = run_debut(&args, &[]);
    assert!(ok, "{err}");
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2);
    let model = Model::load(&bundled()).unwrap();
    for (r, f) in records.iter().zip(&files) {
        // A file argument's id is its path as given, without the extension (and the root).
        let id = f.with_extension("");
        assert_eq!(r["track_id"], id.strip_prefix("/").unwrap_or(&id).to_str().unwrap());
        assert_eq!(r["modalities"], serde_json::json!(["audio"]));
        assert_eq!(r["model"]["sha256"], model.sha256());
        assert_eq!(r["model"]["name"], "default");
        let e: Vec<f64> = r["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(e.len(), 200);
        assert!((e.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs() < 1e-4);
    }
    // The WGSL path writes the same embeddings.
    let args_gpu: Vec<&str> = args.iter().map(|a| if *a == "cpu" { "gpu" } else { a }).collect();
    let (ok, out_gpu, err) = run_debut(&args_gpu, &[]);
    assert!(ok, "{err}");
    for (a, b) in out.lines().zip(out_gpu.lines()) {
        let ea: Vec<f64> = serde_json::from_str::<serde_json::Value>(a).unwrap()["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let eb: Vec<f64> = serde_json::from_str::<serde_json::Value>(b).unwrap()["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let d = ea.iter().zip(&eb).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(d < 1e-4, "CPU and WGSL embeddings differ by {d}");
    }

    let mut t = good_tensors();
    t.retain(|(n, _, _)| n != "audio.fc.bias");
    let bad = with_weights("cli-bad", t);
    let (ok, _, err) = run_debut(&["embed", "--model", bad.to_str().unwrap(), files[0].to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("\"audio.fc.bias\" is missing"), "{err}");
}
