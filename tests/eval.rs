//! The evaluation's metrics against scikit-learn, and WMF against Python's `implicit`, on
//! fixed inputs (`fixtures/metrics`, `fixtures/wmf`, each with the script that made it).

use debut::catalog::Interactions;
use debut::eval::metrics::{average_precision_at, roc_auc};
use debut::train::wmf::{self, Factors, WmfConfig};
use debut_tests::fixture;

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn auc_and_average_precision_match_scikit_learn() {
    let reference = json("metrics/reference.json");
    for (i, case) in reference["cases"].as_array().unwrap().iter().enumerate() {
        let scores = floats(&case["scores"]);
        let labels: Vec<bool> = case["labels"].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
        let auc = roc_auc(&scores, &labels).unwrap();
        let want = case["auc"].as_f64().unwrap();
        assert!((auc - want).abs() < 1e-9, "case {i}: AUC {auc} vs scikit-learn {want}");
        if let Some(ap) = case["ap"].as_f64() {
            let got = average_precision_at(&scores, &labels, scores.len()).unwrap();
            assert!((got - ap).abs() < 1e-9, "case {i}: AP {got} vs scikit-learn {ap}");
            for (k, want) in case["apk"].as_object().unwrap() {
                let got = average_precision_at(&scores, &labels, k.parse().unwrap()).unwrap();
                let want = want.as_f64().unwrap();
                assert!((got - want).abs() < 1e-9, "case {i}: AP@{k} {got} vs {want}");
            }
        }
    }
    assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None, "one class: no AUC");
}

/// The fixture's matrix and settings.
fn wmf_reference() -> (serde_json::Value, Interactions, WmfConfig) {
    let r = json("wmf/reference.json");
    let (users, items) = (r["users"].as_u64().unwrap() as usize, r["items"].as_u64().unwrap() as usize);
    let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); users];
    for p in r["plays"].as_array().unwrap() {
        let p = p.as_array().unwrap();
        rows[p[0].as_u64().unwrap() as usize].push((p[1].as_u64().unwrap() as u32, p[2].as_f64().unwrap() as f32));
    }
    let (mut indptr, mut indices, mut counts) = (vec![0], Vec::new(), Vec::new());
    for row in &mut rows {
        row.sort_by_key(|e| e.0);
        for &(i, c) in row.iter() {
            indices.push(i);
            counts.push(c);
        }
        indptr.push(indices.len());
    }
    let m = Interactions { n_users: users, n_items: items, indptr, indices, counts };
    let cfg = WmfConfig {
        factors: r["factors"].as_u64().unwrap() as usize,
        alpha: r["alpha"].as_f64().unwrap() as f32,
        regularization: r["regularization"].as_f64().unwrap() as f32,
        iterations: r["iterations"].as_u64().unwrap() as usize,
        cg_steps: 3,
    };
    (r, m, cfg)
}

#[test]
fn wmf_loss_solver_and_optimum_match_implicit() {
    let (r, m, cfg) = wmf_reference();
    let rows = |v: &serde_json::Value| -> Vec<f32> { v.as_array().unwrap().iter().flat_map(floats).collect() };
    let theirs = Factors { k: cfg.factors, users: rows(&r["user_factors"]), items: rows(&r["item_factors"]) };
    let implicit_loss = r["loss"].as_f64().unwrap();
    // The same objective: our loss at implicit's factors is implicit's loss.
    let at_theirs = wmf::loss(&m, &theirs, &cfg);
    assert!(
        (at_theirs - implicit_loss).abs() / implicit_loss < 1e-4,
        "loss at implicit's factors {at_theirs} vs {implicit_loss}"
    );
    // The same optimisation: our fit ends as low, and ranks items as implicit does.
    let mut losses = Vec::new();
    wmf::fit(&m, &cfg, 3, |_, l| losses.push(l));
    let final_loss = *losses.last().unwrap();
    eprintln!("WMF loss: ours {final_loss:.6}, implicit {implicit_loss:.6}; first iteration {:.6}", losses[0]);
    assert!(losses.windows(2).all(|w| w[1] <= w[0] * 1.001), "ALS loss must not rise: {losses:?}");
    assert!(
        (final_loss - implicit_loss).abs() / implicit_loss < 0.03,
        "final loss {final_loss} vs implicit's {implicit_loss}"
    );
    // The same solver: one exact half-step for the users given implicit's item factors.
    let exact: Vec<f32> = rows(&r["exact_user_step"]);
    let ours = wmf::fold_in(&m, &theirs.items, &cfg, cfg.factors);
    let worst = ours.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = exact.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    eprintln!("user half-step vs implicit's exact solve: max difference {:.2e} of {scale:.3}", worst);
    assert!(worst / scale < 1e-3, "our least-squares step differs from implicit's by {worst} (scale {scale})");
}

#[test]
fn mfcc_statistics_match_librosa() {
    let r = json("mfcc/reference.json");
    let (n_mels, n_frames) = (r["n_mels"].as_u64().unwrap() as usize, r["n_frames"].as_u64().unwrap() as usize);
    let mel = debut::spectral::MelSpectrogram { n_mels, n_frames, data: floats(&r["mel_db"]) };
    let stats = debut::eval::music::mfcc_stats(&mel);
    let want: Vec<f32> = floats(&r["mean"]).into_iter().chain(floats(&r["std"])).collect();
    assert_eq!(stats.len(), want.len());
    for (i, (g, w)) in stats.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-3 * w.abs().max(1.0), "statistic {i}: {g} vs librosa {w}");
    }
}

#[test]
fn retrieval_identification_and_collapse_figures_on_known_layouts() {
    use debut::eval::music::{Views, score};
    // Three groups of six, each around its own axis: every neighbour list starts with the group.
    let groups: Vec<String> = (0..18).map(|i| format!("g{}", i / 6)).collect();
    let vec_of = |i: usize, wobble: f32| -> Vec<f32> {
        let mut v = vec![0.0f32; 8];
        v[i / 6] = 1.0;
        v[3 + i % 5] = 0.1 + wobble * (i as f32);
        v
    };
    let whole: Vec<Vec<f32>> = (0..18).map(|i| vec_of(i, 0.01)).collect();
    let views = Views { whole: whole.clone(), first: whole.clone(), second: whole.clone() };
    let r = score("separated", &views, &groups);
    assert!((r.map - 1.0).abs() < 1e-12 && (r.p_at_5 - 1.0).abs() < 1e-12, "{r:?}");
    assert_eq!(r.identification_top1, 1.0, "identical halves of distinct tracks find each other");
    assert!(r.alignment.abs() < 1e-12);
    // Everything the same: no spread, uniformity at its worst (log 1 = 0), ties never count as found.
    let same = vec![vec![0.5f32, 0.5, 0.5, 0.5]; 18];
    let r = score("collapsed", &Views { whole: same.clone(), first: same.clone(), second: same }, &groups);
    assert!(r.dim_std_mean.abs() < 1e-7 && r.dim_std_min.abs() < 1e-7, "{r:?}");
    assert!(r.uniformity.abs() < 1e-9, "{r:?}");
    assert_eq!(r.identification_top1, 0.0);
    // Swapped groups: the groups' members ranked last, mAP well below one.
    let mixed: Vec<String> = (0..18).map(|i| format!("g{}", i % 3)).collect();
    let r = score("mixed", &views, &mixed);
    assert!(r.map < 0.5 && r.p_at_5 < 0.5, "{r:?}");
}

#[test]
fn eval_audio_reports_every_baseline_on_grouped_music() {
    use debut_tests::{grouped_synth_music, repo_root, run_debut, scratch_dir};
    let dir = scratch_dir("eval-audio");
    let music = grouped_synth_music(&dir, 4, 18, 8.0);
    let first_group = std::fs::read_dir(&music).unwrap().next().unwrap().unwrap().path();
    std::fs::write(first_group.join("broken.ogg"), b"OggS not really").unwrap();
    let out = dir.join("eval-audio.json");
    let model = repo_root().join("models/default");
    let (ok, stdout, err) = run_debut(
        &[
            "eval-audio",
            "--audio",
            music.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--json",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
            "--quiet",
        ],
        &[],
    );
    assert!(ok, "eval-audio failed: {err}");
    assert!(stdout.contains("18 tracks"), "the broken file is left out, the rest kept: {stdout}");
    assert!(err.contains("broken.ogg"), "the broken file is named: {err}");
    let rows = json_at(&out);
    let names: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["model", "random (seed 1)", "mfcc stats", "random vectors"]);
    for r in rows.as_array().unwrap() {
        for key in ["map", "p_at_5", "identification_top1"] {
            let v = r[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{}: {key} {v}", r["model"]);
        }
    }
    // Two halves of one synthetic track share their instruments: MFCC statistics find them
    // far above chance, which independent random vectors do not.
    eprintln!("{stdout}");
    let ident = |i: usize| rows[i]["identification_top1"].as_f64().unwrap();
    assert!(ident(2) > 0.5, "MFCC statistics should identify the halves: {stdout}");
    assert!(ident(3) < ident(2), "{stdout}");
}

fn json_at(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
