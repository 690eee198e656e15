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
