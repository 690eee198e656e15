//! The audio front end end to end: decoding every codec, the analysis span, typed errors
//! for corrupt input, and log-mel parity with librosa on both compute paths.

use std::collections::BTreeMap;
use std::time::Instant;

use debut::audio::{self, AudioConfig, DecodeError, SourceHint};
use debut::backend::Backend;
use debut::spectral::{MelParams, MelPlan, hz_to_mel_slaney, mel_to_hz_slaney};
use debut_tests::*;

fn plan() -> MelPlan {
    MelPlan::new(MelParams::default())
}

fn load_fixture(name: &str) -> Result<audio::Clip, DecodeError> {
    let path = fixture(&format!("audio/{name}"));
    audio::load(std::fs::read(&path).unwrap(), &SourceHint::from_path(&path), &AudioConfig::default())
}

/// Max and mean |debut - librosa| in dB over all bins of one fixture.
fn diff_vs_librosa(backend: &Backend, name: &str) -> (f64, f64, usize, usize) {
    let clip = load_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mel = backend.log_mel(&plan(), &clip.samples).unwrap();
    let (rows, cols, reference) = librosa_mel(name);
    assert_eq!((rows, cols), (mel.n_mels, mel.n_frames), "{name}: shape differs from librosa's");
    let (max, at) = max_abs_diff(&mel.data, &reference);
    let mean =
        mel.data.iter().zip(&reference).map(|(a, b)| f64::from((a - b).abs())).sum::<f64>() / reference.len() as f64;
    (max, mean, at / cols, at % cols)
}

fn check_analysis_rate(backend: &Backend) {
    for name in fixtures_of_kind("analysis-rate") {
        let (max, mean, band, frame) = diff_vs_librosa(backend, &name);
        eprintln!(
            "{:>5} {name:32} max {max:.5} dB (band {band}, frame {frame}), mean {mean:.6} dB",
            backend.name().split(' ').next().unwrap()
        );
        assert!(
            max <= 0.01,
            "{name}: {} differs from librosa by {max} dB at band {band}, frame {frame}",
            backend.name()
        );
    }
}

#[test]
fn cpu_log_mel_matches_librosa_within_0_01_db_at_the_analysis_rate() {
    check_analysis_rate(&cpu());
}

#[test]
fn wgsl_log_mel_matches_librosa_within_0_01_db_at_the_analysis_rate() {
    check_analysis_rate(&gpu());
}

#[test]
fn cpu_and_wgsl_log_mel_agree_within_0_01_db() {
    let plan = plan();
    for name in fixtures_of_kind("analysis-rate") {
        let clip = load_fixture(&name).unwrap();
        let a = cpu().log_mel(&plan, &clip.samples).unwrap();
        let b = gpu().log_mel(&plan, &clip.samples).unwrap();
        let (max, _) = max_abs_diff(&a.data, &b.data);
        eprintln!("{name:32} cpu vs wgsl max {max:.5} dB");
        assert!(max <= 0.01, "{name}: CPU and WGSL differ by {max} dB");
    }
}

/// The stated bound against librosa on resampled or lossy input: bands whose upper edge is
/// below 90% of the lower Nyquist frequency (above it lie the resamplers' transition bands,
/// where soxr_hq and rubato differ by up to 20 dB), bins within 60 dB of their frame's
/// loudest band, frames aligned (symphonia keeps AAC's encoder priming, one hop here).
/// Returns (max, mean) |difference| in dB.
fn bounded_diff(name: &str) -> (f64, f64) {
    let index = reference_index();
    let source_rate = index["files"][name]["source_rate"].as_f64().unwrap();
    let clip = load_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ours = cpu().log_mel(&plan(), &clip.samples).unwrap();
    let (n_mels, ref_frames, reference) = librosa_mel(name);
    let p = MelParams::default();
    let (lo, hi) = (hz_to_mel_slaney(p.fmin), hz_to_mel_slaney(p.fmax));
    let nyquist = (source_rate / 2.0).min(p.fmax);
    let bands = (0..n_mels)
        .take_while(|&m| mel_to_hz_slaney(lo + (hi - lo) * (m + 2) as f64 / (n_mels + 1) as f64) <= 0.9 * nyquist)
        .count();
    let mut best = (f64::INFINITY, f64::INFINITY);
    for offset in -2i64..=2 {
        let (a0, b0) = (offset.max(0) as usize, (-offset).max(0) as usize);
        let frames = (ours.n_frames - a0).min(ref_frames - b0);
        let (mut max, mut sum, mut n) = (0.0f64, 0.0f64, 0usize);
        for t in 2..frames.saturating_sub(2) {
            let peak = (0..n_mels).map(|m| reference[m * ref_frames + t + b0]).fold(f32::MIN, f32::max);
            for m in 0..bands {
                let r = reference[m * ref_frames + t + b0];
                if r > peak - 60.0 {
                    let d = f64::from((ours.get(m, t + a0) - r).abs());
                    max = max.max(d);
                    sum += d;
                    n += 1;
                }
            }
        }
        let mean = sum / n.max(1) as f64;
        if mean < best.1 {
            best = (max, mean);
        }
    }
    eprintln!("{name:32} {bands} bands: max {:.4} dB, mean {:.5} dB", best.0, best.1);
    best
}

#[test]
fn resampled_log_mel_stays_within_the_stated_bound_of_librosa_soxr_hq() {
    for name in fixtures_of_kind("resampled") {
        let (max, mean) = bounded_diff(&name);
        assert!(max <= 0.6 && mean <= 0.005, "{name}: max {max} dB, mean {mean} dB against librosa");
    }
}

#[test]
fn lossy_codecs_stay_within_the_same_bound_of_librosa() {
    for name in fixtures_of_kind("lossy") {
        let (max, mean) = bounded_diff(&name);
        assert!(max <= 0.6 && mean <= 0.005, "{name}: max {max} dB, mean {mean} dB against librosa");
    }
}

#[test]
fn every_fixture_decodes_with_its_rate_and_channels() {
    let index = reference_index();
    for (name, info) in index["files"].as_object().unwrap() {
        let clip = load_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u64::from(clip.source_rate), info["source_rate"].as_u64().unwrap(), "{name}");
        assert_eq!(clip.source_channels as u64, info["channels"].as_u64().unwrap(), "{name}");
        assert!(clip.samples.len() >= AudioConfig::default().min_samples, "{name}: not padded to one window");
    }
}

#[test]
fn thirty_seconds_give_1292_frames_and_longer_tracks_keep_their_centre() {
    // 40 s of a signal whose value encodes time, at 44.1 kHz stereo.
    let rate = 44_100;
    let n = rate as usize * 40;
    let mut rng = Rng::new(7);
    let samples: Vec<f32> =
        (0..n * 2).map(|i| 0.25 * rng.uniform() + 0.5 * ((i / 2) as f32 / n as f32) - 0.25).collect();
    let wav = wav_bytes(&samples, rate, 2);
    let clip = audio::load(wav.clone(), &SourceHint::default(), &AudioConfig::default()).unwrap();
    assert_eq!(clip.samples.len(), 30 * 22_050);
    let mel = cpu().log_mel(&plan(), &clip.samples).unwrap();
    assert_eq!((mel.n_mels, mel.n_frames), (128, 1292));

    // The span is the centre 30 s: the same samples as decoding everything and cutting.
    let full = audio::decode_mono(wav, &SourceHint::default(), None, &AudioConfig::default().budget).unwrap();
    let start = (n - 30 * rate as usize) / 2;
    let centre = audio::resample_mono(full.samples[start..start + 30 * rate as usize].to_vec(), rate, 22_050).unwrap();
    let (max, _) = max_abs_diff(&clip.samples, &centre[..clip.samples.len()]);
    assert!(max < 1e-6, "centre span differs from the cut of a full decode by {max}");
}

#[test]
fn short_clips_are_zero_padded_to_one_window() {
    let clip = load_fixture("short_22k_mono_s16.wav").unwrap();
    assert_eq!(clip.source_samples, 22_050);
    assert_eq!(clip.samples.len(), 127 * 512);
    assert!(clip.samples[22_050..].iter().all(|&s| s == 0.0));
    assert_eq!(cpu().log_mel(&plan(), &clip.samples).unwrap().n_frames, 128);
}

#[test]
fn corrupt_fixtures_yield_their_typed_errors_quickly() {
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(fixture("corrupt/EXPECTED.json")).unwrap()).unwrap();
    let mut wrong = Vec::new();
    for (name, kind) in &expected {
        let path = fixture(&format!("corrupt/{name}"));
        let t0 = Instant::now();
        let result = audio::load(std::fs::read(&path).unwrap(), &SourceHint::from_path(&path), &AudioConfig::default());
        let took = t0.elapsed();
        assert!(took.as_secs() < 2, "{name}: took {took:?}");
        match result {
            Err(e) => {
                eprintln!("{name:24} -> {:18} {e} ({took:?})", e.kind());
                if e.kind() != kind {
                    wrong.push(format!("{name}: expected {kind}, got {} ({e})", e.kind()));
                }
            }
            Ok(clip) => wrong.push(format!("{name}: expected {kind}, decoded {} samples", clip.source_samples)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
