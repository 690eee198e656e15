//! The MP3 fast path: MPEG-1/2 layer III decoded by nanomp3 (a safe Rust port of minimp3),
//! about a third faster than symphonia's decoder, and seeking straight to the analysis span.
//!
//! It only takes streams it can vouch for: an optional ID3v2 tag, then layer III frames that
//! follow each other with no gap or junk up to the end (trailing ID3v1/APEv2 tags aside), one
//! rate and channel count throughout, a Xing/Info frame count (if any) that matches the
//! frames, a TLEN tag (if any) that does not declare much more, and every budget met.
//! Anything else is declined (`None`) and goes to symphonia, which then names the error
//! (truncated, corrupt, too long, ...) exactly as before: the fast path returns only clips
//! and the errors it can check itself (time budget, non-finite samples).
//!
//! Lengths and alignment are symphonia's: the encoder delay and padding of the LAME/Lavc tag
//! are trimmed, the declared length is the Info frame count less those, and the span is the
//! centre `span_seconds` of it. Seeking decodes from enough frames before the span to refill
//! the bit reservoir (minimp3_ex's seek).

use std::time::Instant;

use super::{DecodeBudget, DecodeError, DecodedAudio};

/// Decodes `bytes` when it is an MP3 stream the fast path can vouch for; `None` declines.
pub(super) fn decode(
    bytes: &[u8],
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
    started: Instant,
) -> Option<Result<DecodedAudio, DecodeError>> {
    let timeout = || DecodeError::Timeout { limit_ms: budget.max_decode_ms };
    let over_time = || started.elapsed().as_millis() as u64 > budget.max_decode_ms;

    let tag_len = if bytes.starts_with(b"ID3") {
        let n = nanomp3::id3v2_len(bytes);
        if n == 0 || n >= bytes.len() {
            return None;
        }
        n
    } else {
        0
    };
    let tlen_ms = if tag_len > 0 { tlen_ms(&bytes[..tag_len])? } else { None };
    let body = nanomp3::strip_trailing_tags(&bytes[tag_len..]);
    if !starts_with_layer3_sync(body) {
        return None;
    }

    // Every frame must follow the one before, from the first byte to the last.
    let mut expected = 0usize;
    let mut frames = 0u64;
    let mut first: Option<(u32, nanomp3::Channels, usize)> = None;
    let mut info_frames: Option<u32> = None;
    for (i, frame) in nanomp3::frames(body).enumerate() {
        if frame.offset != expected || frame.layer != 3 || frame.bitrate_kbps == 0 {
            return None;
        }
        match first {
            None => {
                first = Some((frame.sample_rate, frame.channels, frame.samples));
                if let Some(tag) = nanomp3::VbrTag::parse(frame.data) {
                    // The tag frame carries no audio; without a frame count symphonia
                    // estimates the length, which the fast path does not reproduce.
                    info_frames = Some(tag.frames?);
                    frames = 0;
                    expected = frame.offset + frame.data.len();
                    continue;
                }
            }
            Some((rate, channels, samples)) => {
                if frame.sample_rate != rate || frame.channels != channels || frame.samples != samples {
                    return None;
                }
            }
        }
        expected = frame.offset + frame.data.len();
        frames += 1;
        if i % 4096 == 4095 && over_time() {
            return Some(Err(timeout()));
        }
    }
    let (rate, channels, frame_samples) = first?;
    if expected != body.len() || frames == 0 {
        return None; // a cut last frame, or junk: symphonia tells which
    }
    if let Some(n) = info_frames
        && u64::from(n) != frames
    {
        return None;
    }
    if rate < budget.min_sample_rate || rate > budget.max_sample_rate {
        return None;
    }
    let channels = usize::from(channels.num());
    if channels as u64 > u64::from(budget.max_channels) {
        return None;
    }

    let mut reader = nanomp3::SliceReader::<f32>::new(bytes);
    if reader.sample_rate() != rate || reader.channels().map(|c| usize::from(c.num())) != Some(channels) {
        return None;
    }
    // With an Info frame, its count less the delay and padding (as symphonia declares it);
    // without, every frame's samples (symphonia's estimate from the byte count is the same
    // for a constant bit rate, which is what a stream without an Info frame normally is).
    let total = match (info_frames, reader.total_samples()) {
        (Some(_), Some(t)) => t,
        (None, _) => frames * frame_samples as u64,
        (Some(_), None) => return None,
    };
    if total == 0 {
        return None;
    }
    let declared_s = total as f64 / f64::from(rate);
    if declared_s > budget.max_duration_s {
        return None;
    }
    if let Some(ms) = tlen_ms {
        // A tag declaring much more than the stream: a cut upload (symphonia's verdict).
        let t = ms * u64::from(rate) / 1000;
        if t > total + (u64::from(rate) / 2).max(t / 20) {
            return None;
        }
    }

    let (keep_start, keep_end) = super::decode::centre_span(total, span_seconds, rate);
    if keep_start > 0 && reader.seek(keep_start).is_err() {
        return None;
    }
    let want = (keep_end - keep_start) as usize;
    let mut mono: Vec<f32> = Vec::with_capacity(want);
    let mut n = 0u32;
    while mono.len() < want {
        n += 1;
        if n.is_multiple_of(64) && over_time() {
            return Some(Err(timeout()));
        }
        let pcm = match reader.read_frame() {
            Ok(Some(pcm)) => pcm,
            Ok(None) => break,
            Err(_) => return None,
        };
        let room = want - mono.len();
        match channels {
            1 => mono.extend_from_slice(&pcm[..pcm.len().min(room)]),
            _ => mono.extend(pcm.chunks_exact(2).take(room).map(|lr| 0.5 * (lr[0] + lr[1]))),
        }
    }
    if mono.len() != want {
        return None; // fewer samples than the frames promise: let symphonia judge
    }
    if mono.iter().any(|s| !s.is_finite()) {
        return Some(Err(DecodeError::Corrupt { detail: "the stream contains NaN or infinite samples".into() }));
    }
    Some(Ok(DecodedAudio {
        samples: mono,
        sample_rate: rate,
        source_rate: rate,
        channels,
        declared_frames: Some(total),
        codec: "mp3".into(),
    }))
}

/// Whether `body` opens with an MPEG audio layer III frame header.
fn starts_with_layer3_sync(body: &[u8]) -> bool {
    body.len() >= 4 && body[0] == 0xff && body[1] & 0xe0 == 0xe0 && (body[1] >> 1) & 3 == 1
}

/// The TLEN frame of an ID3v2.3/2.4 tag, in milliseconds: `Some(None)` when the tag has none
/// (or an unreadable value, as symphonia reads it), `None` when the tag uses a feature this
/// reader does not follow (unsynchronisation, an extended header, compressed frames).
fn tlen_ms(tag: &[u8]) -> Option<Option<u64>> {
    let (version, flags) = (tag[3], tag[5]);
    if !(version == 3 || version == 4) || flags & 0xc0 != 0 {
        return None;
    }
    let mut at = 10usize;
    while at + 10 <= tag.len() {
        let id = &tag[at..at + 4];
        if id[0] == 0 {
            break; // padding
        }
        if !id.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        let raw = &tag[at + 4..at + 8];
        let size = if version == 4 {
            if raw.iter().any(|b| b & 0x80 != 0) {
                return None;
            }
            raw.iter().fold(0usize, |acc, &b| (acc << 7) | usize::from(b))
        } else {
            raw.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let body_at = at + 10;
        let end = body_at.checked_add(size).filter(|&e| e <= tag.len())?;
        if id == b"TLEN" {
            if tag[at + 9] != 0 {
                return None; // compressed, encrypted, unsynchronised or length-prefixed
            }
            let text = text_value(&tag[body_at..end])?;
            let ms: Option<u64> = text.trim().trim_end_matches('\0').parse().ok();
            return Some(ms.filter(|&ms| ms > 0));
        }
        at = end;
    }
    Some(None)
}

/// An ID3v2 text frame's value (encoding byte, then text).
fn text_value(body: &[u8]) -> Option<String> {
    let (&encoding, text) = body.split_first()?;
    match encoding {
        0 => Some(text.iter().map(|&b| char::from(b)).collect()),
        3 => String::from_utf8(text.to_vec()).ok(),
        1 | 2 => {
            let (big_endian, text) = match text {
                [0xfe, 0xff, rest @ ..] => (true, rest),
                [0xff, 0xfe, rest @ ..] => (false, rest),
                _ => (encoding == 2, text),
            };
            let units = text
                .chunks_exact(2)
                .map(|c| if big_endian { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) });
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode::decode_symphonia;
    use crate::audio::{SourceHint, decode_mono};

    fn fixture(name: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
        std::fs::read(root.join(name)).unwrap()
    }

    fn fast(bytes: &[u8], span: Option<f64>) -> DecodedAudio {
        decode(bytes, span, &DecodeBudget::default(), Instant::now()).expect("taken by the fast path").unwrap()
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

    const FIXTURES: [&str; 2] = ["music_44k_stereo.mp3", "music_48k_mono.mp3"];

    #[test]
    fn matches_symphonia_sample_for_sample_on_the_fixtures() {
        for name in FIXTURES {
            let bytes = fixture(name);
            for span in [None, Some(30.0), Some(1.0), Some(0.37)] {
                let diff = compare(&fast(&bytes, span), &slow(&bytes, span));
                assert!(diff < 1e-5, "{name} span {span:?}: max difference {diff}");
            }
        }
    }

    #[test]
    fn a_long_stream_is_sought_to_the_same_centre_span() {
        // Twenty copies of the frames after the Info frame: no Info frame, CBR, 60 s.
        let src = fixture("music_44k_stereo.mp3");
        let body = &src[nanomp3::id3v2_len(&src)..];
        let first = nanomp3::frames(body).next().unwrap();
        let audio = &body[first.data.len()..];
        let long: Vec<u8> = (0..20).flat_map(|_| audio.iter().copied()).collect();
        let (a, b) = (fast(&long, Some(10.0)), slow(&long, Some(10.0)));
        let diff = compare(&a, &b);
        assert!(diff < 1e-4, "max difference {diff}");
    }

    #[test]
    fn declines_what_it_cannot_vouch_for() {
        let bytes = fixture("music_44k_stereo.mp3");
        let budget = DecodeBudget::default();
        let now = Instant::now();
        let cut = &bytes[..bytes.len() - 100];
        assert!(decode(cut, None, &budget, now).is_none(), "a cut last frame");
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

    /// Decode time of symphonia and of the fast path on the bench clips (30 s, 44.1 kHz
    /// stereo) and full tracks, when present: `cargo test --release -p debut --lib
    /// audio::mp3 -- --ignored --nocapture`. Medians of 7, one thread; no assertion on time.
    #[test]
    #[ignore = "timing; needs /tmp/debut-bench from host/benches/make_bench_audio.py"]
    fn decode_times_on_the_bench_clips() {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        for dir in ["/tmp/debut-bench/clips", "/tmp/debut-bench/full"] {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut paths: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "mp3"))
                .collect();
            paths.sort();
            for path in paths {
                let bytes = std::fs::read(&path).unwrap();
                let (mut ts, mut tf) = (Vec::new(), Vec::new());
                let (mut a, mut b) = (None, None);
                for _ in 0..7 {
                    let t = Instant::now();
                    a = Some(slow(&bytes, Some(30.0)));
                    ts.push(t.elapsed().as_secs_f64() * 1e3);
                    let t = Instant::now();
                    b = Some(fast(&bytes, Some(30.0)));
                    tf.push(t.elapsed().as_secs_f64() * 1e3);
                }
                let diff = compare(&a.unwrap(), &b.unwrap());
                eprintln!(
                    "{}: symphonia {:.2} ms, fast path {:.2} ms, max difference {diff:.2e}",
                    path.display(),
                    median(ts),
                    median(tf)
                );
            }
        }
    }
}
