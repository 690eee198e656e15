//! Every spectral kernel, on both backends, against the plain f64 references in
//! `support/reference.rs`, over several shapes (including clips shorter than one frame).

use debut::backend::Backend;
use debut::spectral::{MelParams, MelPlan, PowerSpectrogram};
use debut_tests::reference;
use debut_tests::*;

fn shapes() -> Vec<(MelParams, usize)> {
    let base = MelParams::default();
    vec![
        (base, 22_050),
        (base, 100),
        (base, 0),
        (MelParams { n_fft: 512, hop: 128, n_mels: 64, fmin: 30.0, fmax: 8_000.0, ..base }, 5_000),
        (MelParams { n_fft: 256, hop: 256, n_mels: 40, sample_rate: 16_000, fmax: 8_000.0, ..base }, 3_001),
        (MelParams { n_fft: 2048, hop: 512, n_mels: 128, ..base }, 9_000),
    ]
}

fn signal(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|i| 0.5 * rng.uniform() + 0.3 * (i as f32 * 0.05).sin()).collect()
}

fn check_stft(backend: &Backend) {
    for (i, (params, len)) in shapes().into_iter().enumerate() {
        let plan = MelPlan::new(params);
        let x = signal(len, i as u64);
        let got = backend.stft_power(&plan, &x).unwrap();
        let want = reference::stft_power(&x, params.n_fft, params.hop);
        assert_eq!((got.n_frames, got.n_bins), (want.len(), params.n_bins()), "shape, case {i}");
        // f32 FFTs carry rounding error relative to the frame's largest magnitude.
        let mut worst = 0.0f64;
        for (t, frame) in want.iter().enumerate() {
            let scale = frame.iter().cloned().fold(0.0, f64::max).sqrt().max(1e-3);
            for (k, p) in frame.iter().enumerate() {
                let g = f64::from(got.data[t * got.n_bins + k]);
                worst = worst.max((g.max(0.0).sqrt() - p.sqrt()).abs() / scale);
            }
        }
        eprintln!("{} case {i}: worst |sqrt(P) error| / frame peak = {worst:.2e}", backend.name());
        assert!(worst < 1e-6, "{}: case {i}: magnitude error {worst:.2e} of the frame peak", backend.name());
    }
}

fn check_mel_db(backend: &Backend) {
    for (i, (params, len)) in shapes().into_iter().enumerate() {
        let plan = MelPlan::new(params);
        let x = signal(len, 100 + i as u64);
        let power64 = reference::stft_power(&x, params.n_fft, params.hop);
        let power = PowerSpectrogram {
            n_frames: power64.len(),
            n_bins: params.n_bins(),
            data: power64.iter().flatten().map(|&p| p as f32).collect(),
        };
        let fb = reference::slaney_filterbank(
            f64::from(params.sample_rate),
            params.n_fft,
            params.n_mels,
            params.fmin,
            params.fmax,
        );
        let want = reference::mel_db(&power64, &fb, f64::from(params.amin));
        let got = backend.mel_db(&plan, &power).unwrap();
        assert_eq!((got.n_mels, got.n_frames), (params.n_mels, power.n_frames), "shape, case {i}");
        let want: Vec<f32> = want.iter().flatten().map(|&v| v as f32).collect();
        let (max, _) = max_abs_diff(&got.data, &want);
        eprintln!("{} case {i}: mel dB max error {max:.2e}", backend.name());
        assert!(max < 1e-3, "{}: case {i}: mel-dB differs from the f64 reference by {max} dB", backend.name());
    }
}

#[test]
fn cpu_stft_power_matches_the_f64_dft() {
    check_stft(&cpu());
}

#[test]
fn wgsl_stft_power_matches_the_f64_dft() {
    check_stft(&gpu());
}

#[test]
fn cpu_mel_db_matches_the_f64_reference() {
    check_mel_db(&cpu());
}

#[test]
fn wgsl_mel_db_matches_the_f64_reference() {
    check_mel_db(&gpu());
}

#[test]
fn filterbank_matches_librosa_formulas() {
    for (params, _) in shapes() {
        let plan = MelPlan::new(params);
        let dense = plan.filterbank.to_dense();
        let want = reference::slaney_filterbank(
            f64::from(params.sample_rate),
            params.n_fft,
            params.n_mels,
            params.fmin,
            params.fmax,
        );
        for (m, row) in want.iter().enumerate() {
            for (k, w) in row.iter().enumerate() {
                let g = f64::from(dense[m * params.n_bins() + k]);
                assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-3), "band {m} bin {k}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn mel_db_rejects_a_power_spectrogram_of_the_wrong_shape() {
    let plan = MelPlan::new(MelParams::default());
    let bad = PowerSpectrogram { n_frames: 2, n_bins: 100, data: vec![1.0; 200] };
    assert!(cpu().mel_db(&plan, &bad).is_err());
    assert!(gpu().mel_db(&plan, &bad).is_err());
}

#[test]
fn fused_log_mel_equals_the_composed_ops_on_both_backends() {
    for (i, (params, len)) in shapes().into_iter().enumerate() {
        let plan = MelPlan::new(params);
        let x = signal(len, 200 + i as u64);
        for backend in [cpu(), gpu()] {
            let fused = backend.log_mel(&plan, &x).unwrap();
            let composed = backend.mel_db(&plan, &backend.stft_power(&plan, &x).unwrap()).unwrap();
            let (max, _) = max_abs_diff(&fused.data, &composed.data);
            assert!(max < 1e-4, "{} case {i}: fused and composed differ by {max} dB", backend.name());
        }
    }
}

#[test]
fn cpu_db_conversion_matches_f64_log10_over_the_f32_range() {
    let mut xs: Vec<f32> = Vec::new();
    let mut v = 1e-12f64;
    while v < 1e30 {
        xs.push(v as f32);
        v *= 1.000_7;
    }
    let want: Vec<f64> = xs.iter().map(|&x| 10.0 * f64::from(x).max(1e-10).log10()).collect();
    debut::spectral::cpu::db_in_place(&mut xs, 1e-10);
    let worst = xs.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
    assert!(worst < 5e-5, "dB conversion off by {worst}");
}
