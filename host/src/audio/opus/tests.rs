//! Streams are encoded here with `opus-rs`'s encoder and wrapped in Ogg pages by a small writer, so each test controls the pre-skip, the end
//! granule, the gain and the length.

use opus_rs::{Application, OpusEncoder};
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::units::{Duration, Timestamp};

use super::*;
use crate::audio::{DecodedAudio, SourceHint, decode_mono};

const FRAME: usize = 960;

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, zero initial value.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// Appends one Ogg page holding `packet` whole.
fn ogg_page(out: &mut Vec<u8>, seq: u32, granule: u64, flags: u8, packet: &[u8]) {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    let start = out.len();
    out.extend_from_slice(b"OggS");
    out.extend([0, flags]);
    out.extend(granule.to_le_bytes());
    out.extend(0x0bad_cafeu32.to_le_bytes());
    out.extend(seq.to_le_bytes());
    out.extend([0; 4]);
    out.push(lacing.len() as u8);
    out.extend(&lacing);
    out.extend_from_slice(packet);
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// An Ogg identification header of family 0.
fn opus_head(channels: u8, pre_skip: u16, gain: i16) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.extend([1, channels]);
    head.extend(pre_skip.to_le_bytes());
    head.extend(48_000u32.to_le_bytes());
    head.extend(gain.to_le_bytes());
    head.push(0);
    head
}

/// An Ogg Opus stream: one packet a page, the last page's granule `end_granule`.
fn ogg_opus(head: &[u8], packets: &[Vec<u8>], end_granule: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ogg_page(&mut out, 0, 0, 2, head);
    let mut tags = b"OpusTags".to_vec();
    tags.extend(4u32.to_le_bytes());
    tags.extend(b"test");
    tags.extend(0u32.to_le_bytes());
    ogg_page(&mut out, 1, 0, 0, &tags);
    for (i, p) in packets.iter().enumerate() {
        let last = i + 1 == packets.len();
        let granule = if last { end_granule } else { ((i + 1) * FRAME) as u64 };
        ogg_page(&mut out, i as u32 + 2, granule, if last { 4 } else { 0 }, p);
    }
    out
}

/// Interleaved stereo at 48 kHz: tones a little different in each channel, a click every
/// quarter second (for alignment) and a quiet noise floor.
fn stereo_signal(seconds: f64) -> Vec<f32> {
    let n = (seconds * 48_000.0) as usize;
    let mut seed = 1u32;
    let mut noise = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = i as f32 / 48_000.0;
        let click = if i % 12_000 < 24 { 0.6 * (1.0 - (i % 12_000) as f32 / 24.0) } else { 0.0 };
        let tone = |f: f32| (2.0 * std::f32::consts::PI * f * t).sin();
        out.push(0.2 * tone(440.0) + 0.1 * tone(3_100.0) + click + 0.01 * noise());
        out.push(0.2 * tone(660.0) + 0.1 * tone(5_300.0) + click + 0.01 * noise());
    }
    out
}

/// Encodes interleaved stereo in 20 ms packets; returns the packets and the encoder's
/// lookahead (the pre-skip that aligns the decoded output with the input).
fn encode(pcm: &[f32], bitrate: i32) -> (Vec<Vec<u8>>, u16) {
    let mut enc = OpusEncoder::new(48_000, 2, Application::Audio).unwrap();
    enc.bitrate_bps = bitrate;
    // libopus's lookahead at 48 kHz for the audio application: 2.5 ms of CELT overlap plus
    // 4 ms of delay compensation (`opus_encoder_ctl(OPUS_GET_LOOKAHEAD)`).
    let lookahead = 120 + 192;
    // The lookahead's worth of zeros flushes the last input samples out of the encoder.
    let mut input = pcm.to_vec();
    input.resize((pcm.len() / 2 + lookahead).div_ceil(FRAME) * FRAME * 2, 0.0);
    let mut buf = [0u8; 4000];
    let packets = input
        .chunks(FRAME * 2)
        .map(|frame| {
            let n = enc.encode(frame, FRAME, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    (packets, lookahead as u16)
}

/// A whole Ogg Opus stream of `pcm` (stereo), trimmed to its length by the end granule.
fn ogg_of(pcm: &[f32], bitrate: i32, gain: i16) -> Vec<u8> {
    let (packets, pre_skip) = encode(pcm, bitrate);
    ogg_opus(&opus_head(2, pre_skip, gain), &packets, u64::from(pre_skip) + (pcm.len() / 2) as u64)
}

fn decode(bytes: &[u8], span: Option<f64>) -> DecodedAudio {
    decode_mono(bytes.to_vec(), &SourceHint::default(), span, &DecodeBudget::default()).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_header_is_read_from_ogg_and_from_mp4s_big_endian_dops() {
    let ogg = Head::parse(&opus_head(2, 312, -256)).unwrap();
    assert_eq!((ogg.channels, ogg.pre_skip, ogg.gain, ogg.family), (2, 312, -256, 0));
    assert!(ogg.is_single_stream());
    // MP4: symphonia puts the magic in front of the dOps box, version 0, big-endian fields.
    let mut dops = b"OpusHead".to_vec();
    dops.extend([0, 2, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0xff, 0x00, 0]);
    assert_eq!(Head::parse(&dops).unwrap(), ogg);
    // Family 1, 5.1: four streams, two coupled.
    let mut surround = opus_head(6, 312, 0);
    surround[18] = 1;
    surround.extend([4, 2, 0, 4, 1, 2, 3, 5]);
    let head = Head::parse(&surround).unwrap();
    assert_eq!((head.streams, head.coupled, head.mapping.clone()), (4, 2, vec![0, 4, 1, 2, 3, 5]));
    assert!(!head.is_single_stream());
    assert!(Inner::new(&head, 24_000).is_ok());
}

#[test]
fn impossible_headers_are_typed_errors() {
    let kind = |bytes: &[u8]| Head::parse(bytes).unwrap_err().kind();
    assert_eq!(kind(b"OpusHead"), "corrupt");
    assert_eq!(kind(&opus_head(0, 0, 0)), "corrupt");
    assert_eq!(kind(&opus_head(3, 0, 0)), "corrupt", "family 0 holds one or two channels");
    let mut v16 = opus_head(2, 0, 0);
    v16[8] = 16;
    assert_eq!(kind(&v16), "corrupt", "major version 1 is incompatible");
    let mut family1 = opus_head(3, 0, 0);
    family1[18] = 1;
    assert_eq!(kind(&family1), "corrupt", "no mapping table");
    family1.extend([2, 1, 0, 2, 3]);
    assert_eq!(kind(&family1), "corrupt", "channel 3 of 2 + 1");
    let mut ambisonic = opus_head(4, 0, 0);
    ambisonic[18] = 2;
    ambisonic.extend([2, 2, 0, 1, 2, 3]);
    assert_eq!(kind(&ambisonic), "unsupported-codec");
}

#[test]
fn bad_packets_are_decode_errors_for_the_bad_packet_budget() {
    let mut params = AudioCodecParameters::new();
    params.for_codec(CODEC_ID_OPUS).with_sample_rate(48_000).with_extra_data(opus_head(2, 0, 0).into());
    let mut decoder = make(&params, None, &DecodeBudget::default()).unwrap();
    let mut out = Vec::new();
    let bad_packet = |data: Vec<u8>| Packet::new(0, Timestamp::ZERO, Duration::ZERO, data);
    for (what, data) in [
        ("empty", vec![]),
        ("code 3, no frame count", vec![0xfb]),
        ("code 3, zero frames", vec![0xfb, 0x00]),
        ("code 3, 7 x 20 ms", vec![0xfb, 0x07, 0, 0, 0, 0, 0, 0, 0]),
        ("code 2, a length past the end", vec![0xfa, 250, 1, 2]),
    ] {
        match decoder.decode(&bad_packet(data), &mut out) {
            Err(PacketError::Symphonia(SymError::DecodeError(msg))) => eprintln!("{what}: {msg}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(out.is_empty());
    }
    // The decoder still decodes a good packet afterwards.
    let (packets, _) = encode(&stereo_signal(0.1), 64_000);
    decoder.decode(&bad_packet(packets[0].clone()), &mut out).unwrap();
    assert_eq!(out.len(), FRAME / 2);
}

#[test]
fn a_track_without_an_identification_header_is_one_stream_of_its_declared_channels() {
    use symphonia::core::audio::{Channels as Layout, Position};
    let (packets, _) = encode(&stereo_signal(0.1), 64_000);
    for extra in [None, Some(b"kuki".to_vec())] {
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(CODEC_ID_OPUS)
            .with_sample_rate(48_000)
            .with_channels(Layout::Positioned(Position::FRONT_LEFT | Position::FRONT_RIGHT));
        if let Some(extra) = extra {
            params.with_extra_data(extra.into());
        }
        let mut decoder = make(&params, None, &DecodeBudget::default()).unwrap();
        let mut out = Vec::new();
        decoder.decode(&Packet::new(0, Timestamp::ZERO, Duration::ZERO, packets[0].clone()), &mut out).unwrap();
        assert_eq!(out.len(), FRAME / 2, "no pre-skip");
    }
    // Without a header, more than two channels cannot be laid out.
    let mut params = AudioCodecParameters::new();
    params.for_codec(CODEC_ID_OPUS).with_sample_rate(48_000).with_channels(Layout::Discrete(6));
    assert_eq!(make(&params, None, &DecodeBudget::default()).err().map(|e| e.kind()), Some("corrupt"));
    // Nor can a rate Opus does not decode at.
    params.with_channels(Layout::Discrete(2)).with_sample_rate(44_100);
    assert_eq!(make(&params, None, &DecodeBudget::default()).err().map(|e| e.kind()), Some("corrupt"));
}

#[test]
fn the_mono_fold_is_the_mean_of_the_stereo_decode() {
    // 24 kbit/s stereo: intensity stereo with phase inversion in the upper bands, which a
    // mono decode would not reproduce.
    let (packets, _) = encode(&stereo_signal(2.0), 24_000);
    let head = Head::parse(&opus_head(2, 0, 0)).unwrap();
    let mut mono = Inner::new(&head, 48_000).unwrap();
    let mut stereo = OpusDecoder::new(48_000, 2).unwrap();
    let (mut m, mut s) = (vec![0f32; MAX_PACKET_48K], vec![0f32; 2 * MAX_PACKET_48K]);
    let mut worst = 0f32;
    for p in &packets {
        let n = mono.decode(p, &mut m, MAX_PACKET_48K).unwrap();
        assert_eq!(stereo.decode(p, MAX_PACKET_48K, &mut s).unwrap(), n);
        let mean: Vec<f32> = s[..2 * n].chunks_exact(2).map(|lr| 0.5 * (lr[0] + lr[1])).collect();
        worst = worst.max(max_diff(&m[..n], &mean));
    }
    eprintln!("mono fold vs mean of stereo: max difference {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
}

#[test]
fn pre_skip_and_end_granule_give_the_input_length_and_alignment() {
    let pcm = stereo_signal(3.0);
    let decoded = decode(&ogg_of(&pcm, 96_000, 0), None);
    assert_eq!((decoded.sample_rate, decoded.source_rate, decoded.channels), (24_000, 48_000, 2));
    assert_eq!(decoded.codec, "opus");
    assert_eq!(decoded.samples.len(), pcm.len() / 4, "(end granule - pre-skip) / 2");
    // The clicks land where they were: correlate with the input's mean at half rate.
    let input: Vec<f32> = pcm.chunks_exact(4).map(|f| 0.5 * (f[0] + f[1])).collect();
    let corr = |lag: i64| -> f64 {
        (1_000..input.len() - 1_000)
            .map(|i| f64::from(input[i]) * f64::from(decoded.samples[(i as i64 + lag) as usize]))
            .sum()
    };
    let best = (-40i64..=40).max_by(|&a, &b| corr(a).total_cmp(&corr(b))).unwrap();
    assert_eq!(best, 0, "decoded audio is {best} samples off the input");
}

#[test]
fn the_output_gain_of_the_header_is_applied() {
    let pcm = stereo_signal(1.0);
    let (packets, pre_skip) = encode(&pcm, 64_000);
    let end = u64::from(pre_skip) + (pcm.len() / 2) as u64;
    let plain = decode(&ogg_opus(&opus_head(2, pre_skip, 0), &packets, end), None);
    // +6 dB in Q7.8.
    let louder = decode(&ogg_opus(&opus_head(2, pre_skip, 6 * 256), &packets, end), None);
    let rms = |x: &[f32]| (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    let ratio = rms(&louder.samples) / rms(&plain.samples);
    assert!((ratio - 10f64.powf(6.0 / 20.0)).abs() < 1e-3, "gain ratio {ratio}");
}

#[test]
fn the_span_of_a_long_stream_is_the_same_after_a_seek() {
    // 40 s: the centre 30 s start 5 s in, far enough for decode_symphonia to seek there.
    let pcm = stereo_signal(40.0);
    let bytes = ogg_of(&pcm, 64_000, 0);
    let full = decode(&bytes, None);
    let span = decode(&bytes, Some(30.0));
    assert_eq!(full.samples.len(), 40 * 24_000);
    assert_eq!(span.samples.len(), 30 * 24_000);
    // decode_symphonia centres the span in the declared length, the end granule (which
    // counts the pre-skip): (n - 30 s) / 2 frames at 48 kHz, half that at 24 kHz.
    let declared = full.declared_frames.unwrap();
    let start = ((declared - 30 * 48_000) / 2 / 2) as usize;
    let diff = max_diff(&span.samples, &full.samples[start..start + span.samples.len()]);
    // A seek restarts the decoder a second before the span; its state has converged by then.
    eprintln!("span after the seek vs the cut of a full decode: max difference {diff:.2e}");
    assert!(diff < 1e-3, "{diff}");
}

#[test]
fn the_opus_fixtures_decode_to_the_same_audio_in_every_container() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
    let read = |name: &str| std::fs::read(root.join(name)).unwrap();
    let ogg = decode(&read("music_48k_stereo.opus"), None);
    // 3 s at 24 kHz: the end granule trims the last packet's padding.
    assert_eq!(ogg.samples.len(), 72_000);
    for name in ["music_48k_stereo_opus.webm", "music_48k_stereo_opus.mp4"] {
        let other = decode(&read(name), None);
        assert_eq!((other.sample_rate, other.channels), (24_000, 2), "{name}");
        // The same packets after the same pre-skip; symphonia reads no end trim from WebM's
        // DiscardPadding or MP4's edit list, so these keep the last packet's padding.
        assert!(other.samples.len() >= ogg.samples.len() && other.samples.len() < ogg.samples.len() + 480, "{name}");
        assert_eq!(max_diff(&ogg.samples, &other.samples[..ogg.samples.len()]), 0.0, "{name}");
    }
}

/// CAF's variable-length integer: 7 bits a byte, most significant first.
fn caf_vlq(mut v: u64, out: &mut Vec<u8>) {
    let mut groups = vec![(v & 0x7f) as u8];
    v >>= 7;
    while v > 0 {
        groups.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.extend(groups.iter().rev());
}

/// A CAF file of Opus packets as Apple's encoder lays it out: no OpusHead (no magic
/// cookie), the priming and the valid length in the packet table.
fn caf_opus(packets: &[Vec<u8>], priming: u32, valid: u64) -> Vec<u8> {
    let chunk = |out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]| {
        out.extend_from_slice(id);
        out.extend((body.len() as i64).to_be_bytes());
        out.extend_from_slice(body);
    };
    let mut out = b"caff\0\x01\0\0".to_vec();
    // Rate, format, then flags, bytes and frames per packet, channels, bits per channel.
    let mut desc = 48_000f64.to_be_bytes().to_vec();
    desc.extend(b"opus");
    for v in [0u32, 0, FRAME as u32, 2, 0] {
        desc.extend(v.to_be_bytes());
    }
    chunk(&mut out, b"desc", &desc);
    let mut pakt = (packets.len() as i64).to_be_bytes().to_vec();
    pakt.extend((valid as i64).to_be_bytes());
    pakt.extend(priming.to_be_bytes());
    let remainder = (packets.len() * FRAME) as u64 - u64::from(priming) - valid;
    pakt.extend((remainder as u32).to_be_bytes());
    for p in packets {
        caf_vlq(p.len() as u64, &mut pakt);
    }
    chunk(&mut out, b"pakt", &pakt);
    let mut data = 0u32.to_be_bytes().to_vec(); // edit count
    data.extend(packets.concat());
    chunk(&mut out, b"data", &data);
    out
}

#[test]
fn caf_opus_decodes_as_the_same_packets_in_ogg() {
    let pcm = stereo_signal(1.0);
    let (packets, pre_skip) = encode(&pcm, 96_000);
    let valid = (pcm.len() / 2) as u64;
    let ogg = decode(&ogg_opus(&opus_head(2, pre_skip, 0), &packets, u64::from(pre_skip) + valid), None);
    let caf = decode(&caf_opus(&packets, u32::from(pre_skip), valid), None);
    assert_eq!((caf.codec.as_str(), caf.sample_rate, caf.channels), ("opus", 24_000, 2));
    assert_eq!(caf.declared_frames, Some(valid));
    // The packet table's priming is the pre-skip; its remainder frames are not applied by
    // symphonia, so the last packet's padding stays, as in WebM and MP4.
    assert_eq!(ogg.samples.len(), valid as usize / 2);
    assert!(caf.samples.len() >= ogg.samples.len() && caf.samples.len() < ogg.samples.len() + FRAME / 2);
    assert_eq!(max_diff(&ogg.samples, &caf.samples[..ogg.samples.len()]), 0.0);
    // A 40 s stream's centre 30 s, after a seek, is the same span of a whole decode. CAF's
    // packet timestamps start at minus the priming, so a seek must not drop it again.
    let pcm = stereo_signal(40.0);
    let (long_packets, long_skip) = encode(&pcm, 64_000);
    let long = caf_opus(&long_packets, u32::from(long_skip), (pcm.len() / 2) as u64);
    let (full, span) = (decode(&long, None), decode(&long, Some(30.0)));
    let start = (pcm.len() / 2 - 30 * 48_000) / 2 / 2;
    let diff = max_diff(&span.samples, &full.samples[start..start + span.samples.len()]);
    assert_eq!(span.samples.len(), 30 * 24_000);
    assert!(diff < 1e-3, "span after a seek vs the same span of a whole decode: {diff}");
    // Cut, it is `truncated`, as in every container.
    let bytes = caf_opus(&packets, u32::from(pre_skip), valid);
    let err = decode_mono(bytes[..bytes.len() - 100].to_vec(), &SourceHint::default(), None, &DecodeBudget::default())
        .unwrap_err();
    assert_eq!(err.kind(), "truncated", "{err}");
}
