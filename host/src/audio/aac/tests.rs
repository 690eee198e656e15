use std::io::Cursor;

use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::*;
use crate::audio::test_support::{
    bounded_diff, decode_ours, fixture, log_mel, snr_below, symphonia_mono_at_analysis_rate,
};

/// Every AAC fixture at 44.1 or 48 kHz, and the extension it is named by.
const FIXTURES: [(&str, &str); 5] = [
    ("music_44k_stereo.m4a", "m4a"),
    ("music_48k_stereo.m4a", "m4a"),
    ("music_44k_mono.m4a", "m4a"),
    ("music_44k_lr_blocks.m4a", "m4a"),
    ("music_44k_stereo.aac", "aac"),
];

fn open(bytes: Vec<u8>) -> (Box<dyn FormatReader>, AudioCodecParameters) {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let format = symphonia::default::get_probe()
        .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
        .unwrap();
    let params = format.default_track(TrackType::Audio).unwrap().codec_params.clone().unwrap();
    let params = params.audio().unwrap().clone();
    (format, params)
}

#[test]
fn log_mel_stays_within_0_25_db_of_symphonia_downmix_and_resampling() {
    for (name, ext) in FIXTURES {
        let (reference, fast, decoded) = symphonia_mono_at_analysis_rate(&fixture(name), ext);
        let (max, mean) = bounded_diff(&log_mel(&reference), &log_mel(&fast));
        // Sample-domain agreement below 9.9 kHz, ours moved by the half source sample (a
        // quarter of a half-rate one) its grid sits later.
        let shift = 0.25 * 22_050.0 / f64::from(decoded.sample_rate);
        let snr = snr_below(&reference, &fast, 22_050.0, 9_900.0, shift);
        eprintln!("{name}: log-mel max {max:.4} dB, mean {mean:.5} dB; SNR below 9.9 kHz {snr:.1} dB");
        // Measured: max 0.08-0.15 dB (short blocks, truncated at the new Nyquist, leak the
        // most), mean 0.004-0.005 dB.
        assert!(max <= 0.25 && mean <= 0.01, "{name}: log-mel max {max} dB, mean {mean} dB");
        assert!(snr >= 40.0, "{name}: SNR {snr} dB below 9.9 kHz");
    }
}

#[test]
fn the_fixtures_cover_every_synthesis_path() {
    let stats = |name: &str| {
        let (mut format, params) = open(fixture(name));
        let mut decoder = aac_analysis::AnalysisDecoder::try_new(&params).unwrap();
        let mut out = Vec::new();
        while let Ok(Some(packet)) = format.next_packet() {
            decoder.decode(&packet.data, &mut out).unwrap();
        }
        eprintln!("{name}: {:?}", decoder.stats());
        decoder.stats()
    };
    assert!(stats("music_44k_mono.m4a").single > 0);
    for name in ["music_44k_stereo.m4a", "music_48k_stereo.m4a", "music_44k_stereo.aac"] {
        assert!(stats(name).mixed > 0, "{name}: no pair mixed before its transform");
    }
    let blocks = stats("music_44k_lr_blocks.m4a");
    assert!(blocks.separate > 0 && blocks.mixed > 0, "{blocks:?}");
}

#[test]
fn the_centre_span_is_the_same_samples_as_a_whole_decode() {
    for (name, ext) in [("music_44k_stereo.m4a", "m4a"), ("music_44k_stereo.aac", "aac")] {
        let bytes = fixture(name);
        let whole = decode_ours(&bytes, ext, None);
        let span = decode_ours(&bytes, ext, Some(1.0));
        assert_eq!(span.samples.len(), 22_050);
        // The span is placed by the length the container declares (MP4's excludes the
        // encoder's priming and padding), or by the decoded length (ADTS declares none).
        let n = whole.declared_frames.map_or(2 * whole.samples.len(), |n| n as usize);
        let start = (n - 44_100) / 2 / 2;
        let (a, b) = (&whole.samples[start..start + 22_050], &span.samples[..]);
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        eprintln!("{name}: max difference {diff}");
        assert!(diff < 1e-6, "{name}: max difference {diff}");
    }
}

#[test]
fn corrupt_frames_are_symphonia_errors_and_never_panic() {
    let bytes = fixture("music_44k_stereo.m4a");
    let (_, params) = open(bytes.clone());
    let mut decoder = make(&params, &DecodeBudget::default()).expect("44.1 kHz AAC-LC");
    assert_eq!(decoder.decimation(), 2);
    let mut out = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let (mut errors, mut decoded) = (0, 0);
    for _ in 0..4 {
        let (mut format, _) = open(bytes.clone());
        decoder.reset();
        while let Ok(Some(mut packet)) = format.next_packet() {
            // Flip bytes, cut frames short, empty them, or set random element ids.
            let data = packet.data.to_vec();
            let rng = crate::audio::test_support::xorshift(&mut state);
            let mutated: Vec<u8> = match rng % 4 {
                0 => data
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| if i as u64 % 5 == rng % 5 { b ^ (rng >> 8) as u8 } else { b })
                    .collect(),
                1 => data[..data.len() * (rng as usize % 4) / 4].to_vec(),
                2 => Vec::new(),
                _ => data
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| if i == 0 { (b & 0x1f) | (rng as u8 & 0xe0) } else { b })
                    .collect(),
            };
            packet.data = mutated.into_boxed_slice();
            match decoder.decode(&packet, &mut out) {
                Ok(()) => {
                    decoded += 1;
                    assert!(out.iter().all(|s| s.is_finite()));
                }
                Err(PacketError::Symphonia(
                    SymError::DecodeError(_) | SymError::Unsupported(_) | SymError::IoError(_),
                )) => errors += 1,
                Err(other) => panic!("not a symphonia decode error: {other:?}"),
            }
        }
    }
    assert!(errors > 0 && decoded > 0, "{errors} errors, {decoded} decoded");
}

#[test]
fn other_rates_and_channel_budgets_go_to_symphonia() {
    let (_, params) = open(fixture("music_44k_stereo.m4a"));
    assert!(make(&params, &DecodeBudget { max_channels: 1, ..Default::default() }).is_none());
    let mut other = params.clone();
    // An AudioSpecificConfig at 32 kHz (AAC-LC, sampling index 5, stereo).
    other.extra_data = Some(vec![0x12, 0x90].into_boxed_slice());
    other.sample_rate = Some(32_000);
    assert!(make(&other, &DecodeBudget::default()).is_none());
    // HE-AAC (SBR) is symphonia's to refuse.
    other.extra_data = Some(vec![0x2b, 0x92, 0x08, 0x00].into_boxed_slice());
    other.sample_rate = Some(44_100);
    assert!(make(&other, &DecodeBudget::default()).is_none());
}
