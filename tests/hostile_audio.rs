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

/// A mono 32-bit float WAV at `rate` holding `samples`.
fn float_wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&32u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

#[test]
fn non_finite_float_samples_are_rejected_as_corrupt() {
    let mut samples: Vec<f32> = (0..22_050).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
    samples[1000] = f32::NAN;
    let err = audio::load(float_wav(&samples, 22_050), &SourceHint::default(), &AudioConfig::default()).unwrap_err();
    assert_eq!(err.kind(), "corrupt", "{err}");
}

/// Found by fuzzing: finite float samples of 1e30 overflowed inside rubato's FFT (to NaN,
/// then a panic) and would overflow the spectrogram's power. Samples far beyond any audio are
/// corrupt, at every rate; loud but plausible ones (60 dB over full scale) still decode.
#[test]
fn float_samples_far_beyond_full_scale_are_rejected_as_corrupt() {
    let tone: Vec<f32> = (0..22_050).map(|i| (i as f32 * 0.01).sin()).collect();
    for rate in [5_666, 22_050, 44_100] {
        let huge: Vec<f32> = tone.iter().map(|s| s * 1e30).collect();
        let err = audio::load(float_wav(&huge, rate), &SourceHint::default(), &AudioConfig::default()).unwrap_err();
        assert_eq!(err.kind(), "corrupt", "{rate} Hz: {err}");
        assert!(err.to_string().contains("beyond any audio"), "{err}");
        let loud: Vec<f32> = tone.iter().map(|s| s * 1e3).collect();
        let clip = audio::load(float_wav(&loud, rate), &SourceHint::default(), &AudioConfig::default()).unwrap();
        assert!(clip.samples.iter().all(|s| s.is_finite()));
    }
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

/// The fixture MP3 re-tagged as many uploads are: an ID3v2.3 tag with `TLEN` (its length in
/// milliseconds) and no Xing/Info frame, so the stream itself declares no length.
/// Also where each frame starts in it.
fn mp3_with_tlen_and_no_info_frame() -> (Vec<u8>, u64, Vec<usize>) {
    let src = std::fs::read(fixture("audio/music_44k_stereo.mp3")).unwrap();
    assert_eq!(&src[..3], b"ID3");
    let syncsafe = |b: &[u8]| b.iter().fold(0usize, |acc, &x| (acc << 7) | usize::from(x & 0x7f));
    let first = 10 + syncsafe(&src[6..10]);
    // The first frame is LAME's Info frame: MPEG-1 layer III, length from its header.
    let h = &src[first..first + 4];
    assert_eq!((h[0], h[1] & 0xfe), (0xff, 0xfa), "an MPEG-1 layer III frame");
    assert!(src[first..first + 200].windows(4).any(|w| w == b"Info"), "the fixture starts with an Info frame");
    let kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320][usize::from(h[2] >> 4)];
    let rate = [44_100, 48_000, 32_000][usize::from((h[2] >> 2) & 3)];
    let frame_len = 144_000 * kbps / rate + usize::from((h[2] >> 1) & 1);
    let frames = &src[first + frame_len..];
    assert_eq!(frames[0], 0xff, "the next frame follows the Info frame");
    // Its length: 1152 samples per frame, walking the frame headers.
    let (mut at, mut count) = (0usize, 0u64);
    let mut starts = Vec::new();
    while at + 4 <= frames.len() && frames[at] == 0xff {
        starts.push(at);
        let h = &frames[at..at + 4];
        let kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320][usize::from(h[2] >> 4)];
        at += 144_000 * kbps / rate + usize::from((h[2] >> 1) & 1);
        count += 1;
    }
    let ms = count * 1152 * 1000 / rate as u64;
    let mut out = id3v23_tlen(ms);
    let tag = out.len();
    out.extend(frames);
    (out, ms, starts.iter().map(|s| s + tag).collect())
}

/// An ID3v2.3 tag holding one `TLEN` frame (`ms`, as text).
fn id3v23_tlen(ms: u64) -> Vec<u8> {
    let text = format!("\0{ms}");
    let mut frame = b"TLEN".to_vec();
    frame.extend((text.len() as u32).to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(text.as_bytes());
    let size = frame.len();
    let mut tag = b"ID3\x03\x00\x00".to_vec();
    tag.extend([(size >> 21) as u8 & 0x7f, (size >> 14) as u8 & 0x7f, (size >> 7) as u8 & 0x7f, size as u8 & 0x7f]);
    tag.extend(frame);
    tag
}

#[test]
fn a_truncated_mp3_whose_only_length_is_its_tlen_tag_is_a_truncated_error() {
    let (tagged, ms, starts) = mp3_with_tlen_and_no_info_frame();
    let hint = SourceHint::from_media_type("audio/mpeg");
    // Whole, it decodes: the tag agrees with the stream.
    audio::load(tagged.clone(), &hint, &AudioConfig::default()).unwrap();
    assert!(ms > 1000, "{ms} ms");
    // Cut between two frames at about 30 % of its bytes (an upload that stopped): only TLEN
    // tells, since every frame left is whole.
    let at = starts.into_iter().find(|&s| s >= tagged.len() * 3 / 10).unwrap();
    let cut = tagged[..at].to_vec();
    let err = match audio::load(cut, &hint, &AudioConfig::default()) {
        Ok(clip) => panic!("a cut stream decoded to {} samples", clip.samples.len()),
        Err(e) => e,
    };
    assert_eq!(err.kind(), "truncated", "{err}");
    assert!(err.to_string().contains(&format!("the tags declare {ms} ms")), "{err}");
}

#[test]
fn a_long_tagged_mp3_cut_before_its_centre_is_a_truncated_error() {
    // The fixture's frames repeated to about 2 min, tagged with that length, then cut at
    // half: the stream's own estimate (from its bytes) says 1 min, whose centre 30 s decode
    // fine; the tag places the span at 45-75 s, which runs into the cut.
    let (tagged, ms, starts) = mp3_with_tlen_and_no_info_frame();
    let tag_len = 10 + tagged[6..10].iter().fold(0usize, |acc, &x| (acc << 7) | usize::from(x & 0x7f));
    let frames = &tagged[tag_len..];
    let copies = (120_000 / ms + 1) as usize;
    let mut long = id3v23_tlen(ms * copies as u64);
    let long_tag = long.len();
    for _ in 0..copies {
        long.extend(frames);
    }
    let hint = SourceHint::from_media_type("audio/mpeg");
    audio::load(long.clone(), &hint, &AudioConfig::default()).expect("whole, it decodes");
    // Between two frames, so that every frame left is whole and only the tag tells.
    let half = (long.len() / 2 - long_tag) / frames.len();
    let at = long_tag + half * frames.len() + starts[starts.len() / 2] - tag_len;
    let cut = long[..at].to_vec();
    match audio::load(cut, &hint, &AudioConfig::default()) {
        Ok(clip) => panic!("a cut stream decoded to {} samples", clip.samples.len()),
        Err(e) => assert_eq!(e.kind(), "truncated", "{e}"),
    }
}

/// Where each ADTS frame starts: its header declares its length.
fn adts_frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 6 < bytes.len() {
        starts.push(at);
        let h = &bytes[at..];
        at += usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
    }
    starts
}

/// A cut upload is a `truncated` error in every container and codec: the container's
/// framing shows it (`audio::framing`), or, for MP3, the fast path's frame walk. The one
/// exception is a stream that declares no length cut exactly between two frames, which no
/// reader can tell from a shorter stream: here the ADTS fixture at 0.8.
#[test]
fn every_fixture_cut_anywhere_is_a_truncated_error() {
    let mut checked = 0;
    for path in files_in(&fixture("audio")) {
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let between_frames = if name.ends_with(".aac") { adts_frame_starts(&bytes) } else { Vec::new() };
        for fraction in [0.2, 0.5, 0.8, 0.99] {
            let at = (bytes.len() as f64 * fraction) as usize;
            let hint = SourceHint::from_path(&path);
            match audio::load(bytes[..at].to_vec(), &hint, &AudioConfig::default()) {
                Ok(_) if between_frames.contains(&at) => eprintln!("{name} cut between frames at {fraction}: decoded"),
                Ok(_) => panic!("{name} cut at {fraction} decoded"),
                Err(e) => assert_eq!(e.kind(), "truncated", "{name} cut at {fraction}: {e}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * 25, "{checked} cuts");
}

/// A long track cut after its centre: the analysis span (the centre 30 s) decodes whole, so
/// only the framing shows that the upload is not. It used to be embedded without complaint.
#[test]
fn a_long_track_cut_after_its_centre_is_a_truncated_error() {
    let rate = 8_000;
    let samples: Vec<f32> = (0..rate * 120).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let wav = float_wav(&samples, rate as u32);
    assert!(audio::load(wav.clone(), &SourceHint::default(), &AudioConfig::default()).is_ok());
    let cut = wav[..wav.len() * 9 / 10].to_vec();
    let err = audio::load(cut, &SourceHint::default(), &AudioConfig::default()).unwrap_err();
    assert_eq!(err.kind(), "truncated", "{err}");
}
