//! The audio tower: every op on both backends against the f64 reference, whole-tower parity
//! of L2-normalised embeddings (CPU, WGSL, f64) for batches of 1, 3 and 17 windows, and track
//! embeddings pooled from windows of several tracks.

use debut::backend::Backend;
use debut::nn::{Activations, Conv1d, Dense, Matrix, TrackWindows};
use debut_tests::reference as r;
use debut_tests::*;

fn flat(a: &r::Act) -> Vec<f32> {
    a.iter().flatten().flatten().map(|&v| v as f32).collect()
}

fn flat2(m: &[Vec<f64>]) -> Vec<f32> {
    m.iter().flatten().map(|&v| v as f32).collect()
}

fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| scale * rng.uniform()).collect()
}

fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().map(|v| f64::from(v.abs())).fold(1e-6, f64::max);
    max_abs_diff(got, want).0 / scale
}

fn backends() -> Vec<Backend> {
    vec![cpu(), gpu()]
}

#[test]
fn conv1d_matches_the_reference_for_several_shapes() {
    // (c_in, c_out, k, batch, time, relu): odd sizes catch tiling edge cases.
    for (i, &(c_in, c_out, k, batch, time, relu)) in [
        (3, 5, 3, 2, 7, true),
        (128, 128, 3, 2, 16, true),
        (20, 70, 5, 3, 9, false),
        (9, 65, 1, 1, 130, true),
        (16, 8, 3, 5, 1, true),
    ]
    .iter()
    .enumerate()
    {
        let x = Activations { channels: c_in, batch, time, data: random(c_in * batch * time, i as u64, 1.0) };
        let layer = Conv1d {
            c_out,
            c_in,
            k,
            weight: random(c_out * c_in * k, 100 + i as u64, 0.3),
            bias: random(c_out, 200 + i as u64, 0.1),
        };
        let want = flat(&r::conv1d(&r::act_from(&x), c_out, k, &layer.weight, &layer.bias, relu));
        for b in backends() {
            let got = b.conv1d(&x, &layer, relu).unwrap();
            assert_eq!((got.channels, got.batch, got.time), (c_out, batch, time));
            let e = rel_err(&got.data, &want);
            assert!(e < 1e-5, "{}: conv case {i}: relative error {e:.2e}", b.name());
        }
    }
}

#[test]
fn pools_dense_normalisation_and_l2_match_the_reference() {
    let x = Activations { channels: 6, batch: 3, time: 11, data: random(6 * 3 * 11, 1, 2.0) };
    let mean = random(6, 2, 1.0);
    let std: Vec<f32> = random(6, 3, 0.5).iter().map(|v| v.abs() + 0.5).collect();
    let want_norm = flat(&r::normalize_channels(&r::act_from(&x), &mean, &std));
    let want_pool = flat(&r::max_pool(&r::act_from(&x), 2));
    let m = Matrix { rows: 37, cols: 5, data: random(37 * 5, 4, 1.0) };
    let layer = Dense { d_out: 70, d_in: 37, weight: random(70 * 37, 5, 0.2), bias: random(70, 6, 0.1) };
    let xm: Vec<Vec<f64>> = (0..37).map(|i| (0..5).map(|j| f64::from(m.get(i, j))).collect()).collect();
    let want_dense = flat2(&r::dense(&xm, 70, &layer.weight, &layer.bias, true));
    let offsets = vec![0, 1, 4, 5];
    let mut want_seg = Vec::new();
    for i in 0..37 {
        for w in offsets.windows(2) {
            want_seg.push(((w[0]..w[1]).map(|j| f64::from(m.get(i, j))).sum::<f64>() / (w[1] - w[0]) as f64) as f32);
        }
    }
    let want_l2 = flat2(&r::track_embeddings(&xm, &[0, 1, 2, 3, 4, 5]));
    for b in backends() {
        let n = b.normalize_channels(&x, &mean, &std).unwrap();
        assert!(rel_err(&n.data, &want_norm) < 1e-6, "{}: normalize", b.name());
        let p = b.max_pool(&x, 2).unwrap();
        assert_eq!(p.time, 5);
        assert_eq!(max_abs_diff(&p.data, &want_pool).0, 0.0, "{}: max-pool", b.name());
        let d = b.dense(&m, &layer, true).unwrap();
        assert!(rel_err(&d.data, &want_dense) < 1e-5, "{}: dense", b.name());
        let s = b.segment_mean(&m, &offsets).unwrap();
        assert!(rel_err(&s.data, &want_seg) < 1e-6, "{}: segment mean", b.name());
        let l = b.l2_normalize(&m).unwrap();
        assert!(max_abs_diff(&l.data, &want_l2).0 < 1e-6, "{}: l2", b.name());
    }
}

#[test]
fn tower_embeddings_agree_across_cpu_wgsl_and_f64_for_batches_1_3_17() {
    let model = test_model(11);
    let tower = &model.audio;
    for batch in [1usize, 3, 17] {
        let x = random_windows(batch, batch as u64);
        // One "track" per window: L2-normalised window embeddings.
        let offsets: Vec<usize> = (0..=batch).collect();
        let windows = TrackWindows { windows: x.clone(), offsets: offsets.clone() };
        let want = flat2(&r::track_embeddings(&r::audio_tower(tower, &x), &offsets));
        let cpu_e = cpu().embed_tracks(tower, &windows).unwrap();
        let gpu_e = gpu().embed_tracks(tower, &windows).unwrap();
        let (dc, _) = max_abs_diff(&cpu_e.data, &want);
        let (dg, _) = max_abs_diff(&gpu_e.data, &want);
        let (dcg, _) = max_abs_diff(&cpu_e.data, &gpu_e.data);
        eprintln!("batch {batch}: |cpu - f64| {dc:.2e}, |wgsl - f64| {dg:.2e}, |cpu - wgsl| {dcg:.2e}");
        assert!(dc < 1e-4 && dg < 1e-4 && dcg < 1e-4, "batch {batch}: {dc:.2e} {dg:.2e} {dcg:.2e}");
        // The fused tower paths equal the op-by-op composition.
        let composed = debut_tests::cpu_composed_tower(tower, &x);
        let fused = cpu().audio_tower(tower, &x).unwrap();
        assert!(rel_err(&fused.data, &composed.data) < 1e-5, "batch {batch}: fused CPU tower differs from its ops");
    }
}

#[test]
fn track_embeddings_pool_each_tracks_windows() {
    let model = test_model(12);
    let x = random_windows(6, 99);
    let offsets = vec![0, 1, 4, 6];
    let windows = TrackWindows { windows: x.clone(), offsets: offsets.clone() };
    let want = flat2(&r::track_embeddings(&r::audio_tower(&model.audio, &x), &offsets));
    for b in backends() {
        let e = b.embed_tracks(&model.audio, &windows).unwrap();
        assert_eq!((e.rows, e.cols), (200, 3));
        assert!(max_abs_diff(&e.data, &want).0 < 1e-4, "{}", b.name());
        for c in 0..3 {
            let norm: f64 = e.column(c).iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn shape_mismatches_are_errors_not_panics() {
    let model = test_model(13);
    let wrong = Activations::zeros(64, 2, 128);
    for b in backends() {
        assert!(b.audio_tower(&model.audio, &wrong).is_err());
        assert!(b.conv1d(&wrong, &model.audio.convs[0], true).is_err());
        let m = Matrix { rows: 3, cols: 2, data: vec![0.0; 6] };
        assert!(b.segment_mean(&m, &[0, 3]).is_err());
        assert!(b.dense(&m, &model.audio.fc, false).is_err());
    }
}

#[test]
fn text_tower_and_fusion_match_the_reference() {
    let model = test_model(14);
    // Three artists' plugin outputs, one empty.
    let rows = [
        debut::plugin::SparseFeatures { dim: 4096, entries: vec![(3, 2.0), (100, 1.0), (4000, 3.0)] },
        debut::plugin::SparseFeatures { dim: 4096, entries: vec![] },
        debut::plugin::SparseFeatures {
            dim: 4096,
            entries: (0..300).map(|i| (i * 13, 1.0 + (i % 3) as f32)).collect(),
        },
    ];
    let refs: Vec<&debut::plugin::SparseFeatures> = rows.iter().collect();
    let x = debut::embedding::tfidf(&refs, &model.text.idf);
    // f64 reference: dense tf-idf vectors through the layers.
    let dense_x: Vec<Vec<f64>> = (0..4096)
        .map(|i| {
            (0..3)
                .map(|r| {
                    let (idx, val) = x.row(r);
                    idx.iter().zip(val).find(|(j, _)| **j as usize == i).map_or(0.0, |(_, v)| f64::from(*v))
                })
                .collect()
        })
        .collect();
    let t = &model.text;
    let h = r::dense(&dense_x, t.layers[0].d_out, &t.layers[0].weight, &t.layers[0].bias, true);
    let e = r::dense(&h, t.layers[1].d_out, &t.layers[1].weight, &t.layers[1].bias, false);
    let want = flat2(&r::track_embeddings(&e, &[0, 1, 2, 3]));
    let audio: Vec<Vec<f64>> =
        (0..200).map(|i| (0..3).map(|c| ((i * 7 + c * 3) % 11) as f64 / 11.0 - 0.5).collect()).collect();
    let audio_unit = r::track_embeddings(&audio, &[0, 1, 2, 3]);
    let mut stacked = audio_unit.clone();
    let artist: Vec<Vec<f64>> = r::track_embeddings(&e, &[0, 1, 2, 3]);
    stacked.extend(artist.iter().cloned());
    let fused_want = flat2(&r::track_embeddings(
        &r::dense(&stacked, 200, &model.fusion.weight, &model.fusion.bias, false),
        &[0, 1, 2, 3],
    ));
    for b in backends() {
        let got = b.text_tower(&model.text, &x).unwrap();
        assert!(max_abs_diff(&got.data, &want).0 < 1e-5, "{}: text tower", b.name());
        let audio_m = Matrix { rows: 200, cols: 3, data: flat2(&audio_unit) };
        let fused = b.fuse(&model.fusion, &audio_m, &got).unwrap();
        assert!(max_abs_diff(&fused.data, &fused_want).0 < 1e-5, "{}: fusion", b.name());
    }
}
