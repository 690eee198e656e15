//! Hostile audio: the fuzz corpus, the corrupt fixtures and deterministic mutations of every
//! valid fixture go through decode -> log-mel. Each must give a clip or a typed error, never
//! a panic or a hang; a clip's spectrogram must be finite.

use std::path::Path;
use std::time::{Duration, Instant};

use debut::audio::{self, AudioConfig, SourceHint};
use debut::spectral::{MelParams, MelPlan};
use debut_tests::*;

/// Far above any legitimate decode of these small inputs; only a hang trips it.
const HANG: Duration = Duration::from_secs(10);

fn run_one(label: &str, bytes: Vec<u8>, plan: &MelPlan) -> bool {
    let t0 = Instant::now();
    let result = std::panic::catch_unwind(|| audio::load(bytes, &SourceHint::default(), &AudioConfig::default()));
    let took = t0.elapsed();
    assert!(took < HANG, "{label}: decoding took {took:?}");
    match result {
        Err(_) => panic!("{label}: the decoder panicked"),
        Ok(Ok(clip)) => {
            let mel = cpu().log_mel(plan, &clip.samples).unwrap();
            assert!(mel.data.iter().all(|v| v.is_finite()), "{label}: non-finite log-mel");
            true
        }
        Ok(Err(e)) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn fuzz_corpus_and_corrupt_fixtures_never_panic() {
    let plan = MelPlan::new(MelParams::default());
    let corpus = files_in(&repo_root().join("fuzz/corpus/decode_to_mel"));
    assert!(!corpus.is_empty(), "the fuzz corpus is missing");
    let mut n = 0;
    for path in corpus.iter().chain(&files_in(&fixture("corrupt"))) {
        run_one(&path.display().to_string(), std::fs::read(path).unwrap(), &plan);
        n += 1;
    }
    eprintln!("{n} corpus and corrupt inputs handled");
}

#[test]
fn mutated_fixtures_never_panic() {
    let plan = MelPlan::new(MelParams::default());
    let mut rng = Rng::new(42);
    let (mut ok, mut rejected) = (0, 0);
    for path in files_in(&fixture("audio")) {
        let original = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for round in 0..24 {
            let mut bytes = original.clone();
            match round % 4 {
                // Flip bytes in the header region, where lengths and layouts live.
                0 => {
                    for _ in 0..4 {
                        let i = (rng.next_u64() as usize) % bytes.len().min(512);
                        bytes[i] ^= 1 << (rng.next_u64() % 8);
                    }
                }
                // Flip bytes anywhere.
                1 => {
                    for _ in 0..32 {
                        let i = (rng.next_u64() as usize) % bytes.len();
                        bytes[i] = rng.next_u64() as u8;
                    }
                }
                // Truncate at a random point.
                2 => bytes.truncate((rng.next_u64() as usize) % bytes.len()),
                // Splice: repeat a chunk in the middle.
                _ => {
                    let a = (rng.next_u64() as usize) % bytes.len();
                    let b = (a + 1 + (rng.next_u64() as usize) % 4096).min(bytes.len());
                    let chunk = bytes[a..b].to_vec();
                    bytes.splice(a..a, chunk);
                }
            }
            if run_one(&format!("{name} mutation {round}"), bytes, &plan) { ok += 1 } else { rejected += 1 }
        }
    }
    eprintln!("mutations: {ok} decoded, {rejected} rejected with typed errors");
    assert!(ok > 0 && rejected > 0, "mutations should both survive and fail: {ok} decoded, {rejected} rejected");
}

#[test]
fn non_finite_float_samples_are_rejected_as_corrupt() {
    // A 32-bit float WAV holding a NaN.
    let mut samples: Vec<f32> = (0..22_050).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
    samples[1000] = f32::NAN;
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&22_050u32.to_le_bytes());
    wav.extend_from_slice(&(22_050u32 * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&32u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let err = audio::load(wav, &SourceHint::default(), &AudioConfig::default()).unwrap_err();
    assert_eq!(err.kind(), "corrupt", "{err}");
}

#[test]
fn payloads_over_the_byte_budget_are_refused_before_decoding() {
    let config = AudioConfig {
        budget: audio::DecodeBudget { max_input_bytes: 1000, ..Default::default() },
        ..Default::default()
    };
    let bytes = std::fs::read(fixture("audio/music_44k_stereo.mp3")).unwrap();
    let err = audio::load(bytes, &SourceHint::default(), &config).unwrap_err();
    assert_eq!(err.kind(), "too-large", "{err}");
}
