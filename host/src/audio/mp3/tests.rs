use super::tags::tlen_ms;
use super::*;
use crate::audio::decode::decode_symphonia;
use crate::audio::{ANALYSIS_RATE, SourceHint, decode_mono, resample_mono};
use crate::backend::{Backend, CpuBackend};
use crate::spectral::{MelParams, MelPlan, MelSpectrogram};

fn fixture(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
    std::fs::read(root.join(name)).unwrap()
}

/// The fast path as `decode_mono` takes it: at half rate for 44.1 and 48 kHz.
fn fast(bytes: &[u8], span: Option<f64>) -> DecodedAudio {
    decode(bytes, span, &DecodeBudget::default(), Instant::now()).expect("taken by the fast path").unwrap()
}

/// The fast path's full decoder (nanomp3) and downmix, at the stream's rate.
fn full(bytes: &[u8], span: Option<f64>) -> DecodedAudio {
    decode_as(bytes, span, &DecodeBudget::default(), Instant::now(), false).expect("taken by the fast path").unwrap()
}

fn slow(bytes: &[u8], span: Option<f64>) -> DecodedAudio {
    let hint = SourceHint { extension: Some("mp3".into()), media_type: None };
    decode_symphonia(bytes.to_vec(), &hint, span, &DecodeBudget::default(), Instant::now()).unwrap()
}

/// Largest sample difference, after checking rate, channels and lengths agree.
fn compare(a: &DecodedAudio, b: &DecodedAudio) -> f32 {
    assert_eq!(a.sample_rate, b.sample_rate);
    assert_eq!(a.channels, b.channels);
    assert_eq!(a.declared_frames, b.declared_frames);
    assert_eq!(a.samples.len(), b.samples.len(), "lengths");
    a.samples.iter().zip(&b.samples).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The MP3 fixtures: LAME joint stereo and mono from the first set, then joint stereo,
/// plain left/right stereo, 48 kHz joint stereo and left/right with different block types
/// in the two channels from `make_mp3_fixtures.py`.
const FIXTURES: [&str; 6] = [
    "music_44k_stereo.mp3",
    "music_48k_mono.mp3",
    "music_44k_joint.mp3",
    "music_44k_lr.mp3",
    "music_48k_stereo.mp3",
    "music_44k_lr_blocks.mp3",
];

#[test]
fn the_full_decoder_matches_symphonia_sample_for_sample_on_the_fixtures() {
    for name in FIXTURES {
        let bytes = fixture(name);
        for span in [None, Some(30.0), Some(1.0), Some(0.37)] {
            let diff = compare(&full(&bytes, span), &slow(&bytes, span));
            assert!(diff < 1e-5, "{name} span {span:?}: max difference {diff}");
        }
    }
}

/// Twenty copies of a fixture's frames after its Info frame: no Info frame, CBR, 60 s.
fn long_stream() -> Vec<u8> {
    let src = fixture("music_44k_stereo.mp3");
    let body = &src[nanomp3::id3v2_len(&src)..];
    let first = nanomp3::frames(body).next().unwrap();
    let audio = &body[first.data.len()..];
    (0..20).flat_map(|_| audio.iter().copied()).collect()
}

#[test]
fn a_long_stream_is_sought_to_the_same_centre_span() {
    let long = long_stream();
    let (a, b) = (full(&long, Some(10.0)), slow(&long, Some(10.0)));
    let diff = compare(&a, &b);
    assert!(diff < 1e-4, "max difference {diff}");
}

#[test]
fn a_cut_last_frame_is_truncated_unless_the_info_frame_counts_it_out() {
    let budget = DecodeBudget::default();
    let now = Instant::now();
    // With an Info frame (music_44k_stereo.mp3) and without one (music_44k_lr_blocks.mp3).
    for name in ["music_44k_stereo.mp3", "music_44k_lr_blocks.mp3"] {
        let bytes = fixture(name);
        for cut in [bytes.len() / 3, bytes.len() - 100, bytes.len() - 2] {
            let err = decode(&bytes[..cut], None, &budget, now).expect("taken").unwrap_err();
            assert_eq!(err.kind(), "truncated", "{name} cut at {cut}: {err}");
            assert!(err.to_string().contains("ends inside frame"), "{err}");
        }
    }
    // Part of a frame after every frame the Info frame counts: junk, for symphonia to judge.
    let bytes = fixture("music_44k_stereo.mp3");
    let frame = nanomp3::frames(&bytes).nth(5).unwrap().data;
    let mut extra = bytes.clone();
    extra.extend_from_slice(&frame[..frame.len() / 2]);
    assert!(decode(&extra, None, &budget, now).is_none());
}

#[test]
fn declines_what_it_cannot_vouch_for() {
    let bytes = fixture("music_44k_stereo.mp3");
    let budget = DecodeBudget::default();
    let now = Instant::now();
    let cut = &bytes[..bytes.len() - 100];
    let mut junk = bytes.clone();
    let mid = junk.len() / 2;
    junk.splice(mid..mid, [0u8; 37]);
    assert!(decode(&junk, None, &budget, now).is_none(), "junk between frames");
    assert!(decode(b"RIFF....WAVEfmt ", None, &budget, now).is_none());
    let short = DecodeBudget { max_duration_s: 1.0, ..Default::default() };
    assert!(decode(&bytes, None, &short, now).is_none(), "too long: symphonia names it");
    let mono_only = DecodeBudget { max_channels: 1, ..Default::default() };
    assert!(decode(&bytes, None, &mono_only, now).is_none());
    // decode_mono still answers through symphonia.
    let err = decode_mono(cut[..cut.len() / 3].to_vec(), &SourceHint::default(), None, &budget).unwrap_err();
    assert_eq!(err.kind(), "truncated", "{err}");
}

#[test]
fn tlen_is_read_from_id3v23_and_v24_text() {
    let frame = |id: &[u8], body: &[u8], v4: bool| {
        let mut f = id.to_vec();
        let n = body.len();
        if v4 {
            f.extend([(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f, (n >> 7) as u8 & 0x7f, n as u8 & 0x7f]);
        } else {
            f.extend((n as u32).to_be_bytes());
        }
        f.extend([0, 0]);
        f.extend(body);
        f
    };
    let tag = |version: u8, frames: Vec<u8>| {
        let mut t = vec![b'I', b'D', b'3', version, 0, 0, 0, 0, 0, 0];
        t.extend(frames);
        t.extend([0; 16]);
        t
    };
    let mut frames = frame(b"TIT2", b"\0title", false);
    frames.extend(frame(b"TLEN", b"\x0012345", false));
    assert_eq!(tlen_ms(&tag(3, frames)), Some(Some(12345)));
    let utf16 = [1u8, 0xff, 0xfe, b'4', 0, b'2', 0];
    assert_eq!(tlen_ms(&tag(4, frame(b"TLEN", &utf16, true))), Some(Some(42)));
    assert_eq!(tlen_ms(&tag(3, frame(b"TLEN", b"\0abc", false))), Some(None));
    assert_eq!(tlen_ms(&tag(3, frame(b"TIT2", b"\0x", false))), Some(None));
    assert_eq!(tlen_ms(&tag(2, Vec::new())), None, "ID3v2.2 goes to symphonia");
}

/// What the analysis reads of a decoded span: its log-mel spectrogram at 22 050 Hz (CPU
/// backend), after `load`'s resampling and zero padding to one window.
fn log_mel(audio: &DecodedAudio) -> MelSpectrogram {
    let mut samples = resample_mono(audio.samples.clone(), audio.sample_rate, ANALYSIS_RATE).unwrap();
    samples.resize(samples.len().max(127 * 512), 0.0);
    let cpu = Backend::new(CpuBackend::new());
    cpu.log_mel(&MelPlan::new(MelParams::default()), &samples).unwrap()
}

/// Max and mean |a - b| in dB where the analysis bound looks (`tests/frontend.rs`): bands
/// whose upper edge is below 90% of 11 025 Hz, bins within 60 dB of `b`'s loudest band in
/// their frame, frames whose window lies within the first `len` samples (the span; padding
/// follows), the first two left out. Near the span's ends the clips differ by design: the
/// resamplers see zeros past them, the analysis decoder the stream.
fn log_mel_diff(a: &MelSpectrogram, b: &MelSpectrogram, len: usize) -> (f64, f64) {
    assert_eq!(a.n_frames, b.n_frames);
    let hop = MelParams::default().hop;
    // Frame t's window is [(t - 1) hop, (t + 1) hop) (n_fft = 2 hop, centred), and the
    // halfband filter reaches 48 samples past an output.
    let frames = (2..b.n_frames).take_while(|&t| (t + 1) * hop + 48 <= len);
    crate::audio::test_support::bounded_log_mel_diff(b, a, frames)
}

/// The bound the analysis decoder keeps against the full decode + downmix + halfband (or,
/// at 48 kHz, + rubato) on the log-mel spectrogram, in dB: measured at most 0.017 dB (max)
/// and 0.0004 dB (mean) on these fixtures and spans, 0.019 and 0.0003 on the bench's real
/// music (`decode_times_on_the_bench_clips`); stated with some room, well inside the 0.6 and
/// 0.005 dB the front end keeps against librosa.
const HALF_RATE_MAX_DB: f64 = 0.05;
const HALF_RATE_MEAN_DB: f64 = 0.001;

/// The half-rate clip against the full path's, after both go through `load`'s resampler.
fn check_half_rate(name: &str, bytes: &[u8], span: Option<f64>) -> (f64, f64) {
    let (a, b) = (fast(bytes, span), full(bytes, span));
    assert_eq!((a.sample_rate, a.source_rate), (b.sample_rate / 2, b.sample_rate), "{name}");
    assert_eq!((a.channels, a.declared_frames), (b.channels, b.declared_frames), "{name}");
    assert_eq!(a.samples.len(), b.samples.len().div_ceil(2), "{name} span {span:?}: the same span at half rate");
    let len = resample_mono(a.samples.clone(), a.sample_rate, ANALYSIS_RATE).unwrap().len();
    let (max, mean) = log_mel_diff(&log_mel(&a), &log_mel(&b), len);
    eprintln!("{name:24} span {span:>5?}: log-mel max {max:.4} dB, mean {mean:.5} dB");
    assert!(
        max <= HALF_RATE_MAX_DB && mean <= HALF_RATE_MEAN_DB,
        "{name} span {span:?}: max {max} dB, mean {mean} dB against the full decode"
    );
    (max, mean)
}

#[test]
fn the_half_rate_decoder_stays_within_the_stated_bound_of_the_full_path() {
    for name in FIXTURES {
        let bytes = fixture(name);
        for span in [None, Some(1.0), Some(0.37)] {
            check_half_rate(name, &bytes, span);
        }
    }
    // Seeking: the centre 10 s of 60, from an even and from an odd first sample.
    let long = long_stream();
    let spans = [Some(10.0), Some(10.0 + 1.0 / 44_100.0)];
    let total = full(&long, None).samples.len() as u64;
    let starts = spans.map(|s| crate::audio::decode::centre_span(total, s, 44_100).0 % 2);
    assert_eq!(starts, [0, 1], "one span of each phase");
    for span in spans {
        check_half_rate("60 s, no Info frame", &long, span);
    }
}

#[test]
fn the_half_rate_decoder_takes_44_1_and_48_khz_and_counts_as_nanomp3() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let a = fast(&bytes, None);
        assert_eq!(a.sample_rate * 2, a.source_rate, "{name}");
        let stream = Stream::scan(&bytes, &|| false).unwrap().unwrap();
        let (_, total) = half::trimmed_length(&stream);
        assert_eq!(Some(total), nanomp3::SliceReader::<f32>::new(&bytes).total_samples(), "{name}");
    }
}

/// Every path of the analysis decoder runs on some fixture (intensity stereo aside: LAME
/// does not write it, and it is decoded as minimp3 does, then mixed as left/right).
#[test]
fn the_fixtures_cover_the_analysis_decoders_stereo_paths() {
    let stats = |name: &str| {
        let bytes = fixture(name);
        let stream = Stream::scan(&bytes, &|| false).unwrap().unwrap();
        let mut decoder = mp3_analysis::AnalysisDecoder::new(false);
        let mut pcm = [0f32; mp3_analysis::ANALYSIS_SAMPLES_PER_FRAME];
        for frame in &stream.frames {
            decoder.decode_frame(frame, &mut pcm).unwrap();
        }
        let s = decoder.stats();
        eprintln!("{name:24} {s:?}");
        s
    };
    assert!(stats("music_48k_mono.mp3").mono > 0);
    for name in ["music_44k_stereo.mp3", "music_44k_joint.mp3", "music_48k_stereo.mp3"] {
        assert!(stats(name).mid_only > 0, "{name}: no mid/side granules");
    }
    let lr = stats("music_44k_lr.mp3");
    assert!(lr.mixed_spectra > 0 && lr.mid_only == 0, "plain stereo: {lr:?}");
    let blocks = stats("music_44k_lr_blocks.mp3");
    assert!(blocks.mixed_spectra > 0 && blocks.apart > 0, "block types apart: {blocks:?}");
}
