//! The MP3 fast path: MPEG-1/2 layer III without symphonia. 44.1 and 48 kHz streams (nearly
//! all MP3s) go through `mp3-analysis`'s analysis decoder (`half`), which decodes straight
//! to mono at half the rate from the lower 16 subbands, skipping the side channel of
//! mid/side frames: the 22 050 Hz mono the analysis needs (24 000 Hz from 48 kHz, which
//! `load` resamples). Other rates (32 kHz, MPEG-2's 16-24 kHz, ...) are decoded in full by
//! nanomp3 (a safe Rust port of minimp3, a third faster than symphonia's decoder) and
//! downmixed, as before.
//!
//! It only takes streams it can vouch for: an optional ID3v2 tag, then layer III frames that
//! follow each other with no gap or junk up to the end (trailing ID3v1/APEv2 tags aside), one
//! rate and channel count throughout, a Xing/Info frame count (if any) that matches the
//! frames, a TLEN tag (if any) that does not declare much more, and every budget met.
//! Anything else is declined (`None`) and goes to symphonia, which then names the error
//! (truncated, corrupt, too long, ...) exactly as before: the fast path returns only clips
//! and the errors it can check itself (time budget, and a last frame cut short: `truncated`).
//!
//! Lengths and alignment are symphonia's: the encoder delay and padding of the LAME/Lavc tag
//! are trimmed, the declared length is the Info frame count less those, and the span is the
//! centre `span_seconds` of it. Seeking decodes from enough frames before the span to refill
//! the bit reservoir (minimp3_ex's seek).

mod half;
mod tags;

use std::time::Instant;

use super::{DecodeBudget, DecodeError, DecodedAudio};

/// Decodes `bytes` when it is an MP3 stream the fast path can vouch for; `None` declines.
pub(super) fn decode(
    bytes: &[u8],
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
    started: Instant,
) -> Option<Result<DecodedAudio, DecodeError>> {
    decode_as(bytes, span_seconds, budget, started, true)
}

/// [`decode`], with the analysis decoder for 44.1 and 48 kHz streams or (`half_rate` false,
/// for tests) the full decoder for every stream.
fn decode_as(
    bytes: &[u8],
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
    started: Instant,
    half_rate: bool,
) -> Option<Result<DecodedAudio, DecodeError>> {
    let timeout = || DecodeError::Timeout { limit_ms: budget.max_decode_ms };
    let over_time = || started.elapsed().as_millis() as u64 > budget.max_decode_ms;
    let stream = match Stream::scan(bytes, &over_time)? {
        Ok(stream) => stream,
        Err(Refusal::Timeout) => return Some(Err(timeout())),
        Err(Refusal::Cut { frame, available, length }) => {
            let detail = format!("the MP3 stream ends inside frame {frame}: {available} of {length} bytes");
            return Some(Err(DecodeError::Truncated { detail }));
        }
    };
    let Stream { rate, channels, .. } = stream;
    if rate < budget.min_sample_rate || rate > budget.max_sample_rate {
        return None;
    }
    if channels as u64 > u64::from(budget.max_channels) {
        return None;
    }
    if half_rate && (rate == 44_100 || rate == 48_000) {
        return half::decode(&stream, span_seconds, budget, &over_time);
    }

    let mut reader = nanomp3::SliceReader::<f32>::new(bytes);
    if reader.sample_rate() != rate || reader.channels().map(|c| usize::from(c.num())) != Some(channels) {
        return None;
    }
    // With an Info frame, its count less the delay and padding (as symphonia declares it);
    // without, every frame's samples (symphonia's estimate from the byte count is the same
    // for a constant bit rate, which is what a stream without an Info frame normally is).
    let total = match (stream.info, reader.total_samples()) {
        (Some(_), Some(t)) => t,
        (None, _) => stream.frames.len() as u64 * stream.frame_samples as u64,
        (Some(_), None) => return None,
    };
    if !stream.length_is_plausible(total, budget) {
        return None;
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
    finish(mono, rate, rate, channels, total)
}

/// The clip, unless a sample is not finite.
fn finish(
    samples: Vec<f32>,
    sample_rate: u32,
    source_rate: u32,
    channels: usize,
    total: u64,
) -> Option<Result<DecodedAudio, DecodeError>> {
    Some(Ok(DecodedAudio {
        samples,
        sample_rate,
        source_rate,
        channels,
        declared_frames: Some(total),
        codec: "mp3".into(),
    }))
}

/// An MP3 stream the fast path vouches for, as the walk over its frames found it.
struct Stream<'a> {
    /// Every audio frame, header included (the Info frame, which carries none, left out).
    frames: Vec<&'a [u8]>,
    rate: u32,
    channels: usize,
    /// Samples per channel of each frame (1152 for MPEG-1).
    frame_samples: usize,
    /// The Xing/Info tag, which then has a frame count.
    info: Option<nanomp3::VbrTag>,
    /// The ID3v2 TLEN, in milliseconds.
    tlen_ms: Option<u64>,
}

impl<'a> Stream<'a> {
    /// Walks the frames; `None` declines.
    fn scan(bytes: &'a [u8], over_time: &dyn Fn() -> bool) -> Option<Result<Self, Refusal>> {
        let tag_len = if bytes.starts_with(b"ID3") {
            let n = nanomp3::id3v2_len(bytes);
            if n == 0 || n >= bytes.len() {
                return None;
            }
            n
        } else {
            0
        };
        let tlen_ms = if tag_len > 0 { tags::tlen_ms(&bytes[..tag_len])? } else { None };
        let body = nanomp3::strip_trailing_tags(&bytes[tag_len..]);
        if !starts_with_layer3_sync(body) {
            return None;
        }

        // Every frame must follow the one before, from the first byte to the last.
        let mut expected = 0usize;
        let mut frames = Vec::with_capacity(body.len() / 400);
        let mut first: Option<(u32, nanomp3::Channels, usize)> = None;
        let mut info = None;
        for (i, frame) in nanomp3::frames(body).enumerate() {
            if frame.offset != expected || frame.layer != 3 || frame.bitrate_kbps == 0 {
                return None;
            }
            expected = frame.offset + frame.data.len();
            match first {
                None => {
                    first = Some((frame.sample_rate, frame.channels, frame.samples));
                    if let Some(tag) = nanomp3::VbrTag::parse(frame.data) {
                        // The tag frame carries no audio; without a frame count symphonia
                        // estimates the length, which the fast path does not reproduce.
                        tag.frames?;
                        info = Some(tag);
                        continue;
                    }
                }
                Some((rate, channels, samples)) => {
                    if frame.sample_rate != rate || frame.channels != channels || frame.samples != samples {
                        return None;
                    }
                }
            }
            frames.push(frame.data);
            if i % 4096 == 4095 && over_time() {
                return Some(Err(Refusal::Timeout));
            }
        }
        let (rate, channels, frame_samples) = first?;
        if frames.is_empty() {
            return None;
        }
        if expected != body.len() {
            // The cut fell inside a frame of this stream, one the Info frame (if any) counts.
            let counted = info.and_then(|t| t.frames).is_none_or(|n| n as usize > frames.len());
            return match cut_frame(&body[expected..], rate) {
                Some(length) if counted => {
                    Some(Err(Refusal::Cut { frame: frames.len() + 1, available: body.len() - expected, length }))
                }
                _ => None, // junk: symphonia names it
            };
        }
        if let Some(n) = info.and_then(|t: nanomp3::VbrTag| t.frames)
            && n as usize != frames.len()
        {
            return None;
        }
        let channels = usize::from(channels.num());
        Some(Ok(Self { frames, rate, channels, frame_samples, info, tlen_ms }))
    }

    /// Whether `total` samples per channel are a length the fast path takes: some, within
    /// the duration budget, and not much less than a TLEN tag declares (a cut upload, for
    /// symphonia to name).
    fn length_is_plausible(&self, total: u64, budget: &DecodeBudget) -> bool {
        let rate = u64::from(self.rate);
        if total == 0 || total as f64 / self.rate as f64 > budget.max_duration_s {
            return false;
        }
        match self.tlen_ms {
            Some(ms) => {
                let t = ms.saturating_mul(rate) / 1000;
                t <= total + (rate / 2).max(t / 20)
            }
            None => true,
        }
    }
}

/// Why the walk refused a stream it could otherwise vouch for.
#[derive(Debug)]
enum Refusal {
    Timeout,
    /// The last frame runs past the end of the bytes.
    Cut {
        frame: usize,
        available: usize,
        length: usize,
    },
}

/// The length a layer III frame at `rate` opening `rest` declares, when it declares more
/// than `rest` holds: the last frame of a cut upload. A cut inside the 4-byte header itself
/// counts too (its length is then unknown: 4).
fn cut_frame(rest: &[u8], rate: u32) -> Option<usize> {
    const KBPS_V1: [u32; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    const KBPS_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    if rest.len() < 4 {
        let sync = rest[0] == 0xff && rest.get(1).is_none_or(|b| b & 0xe0 == 0xe0);
        return sync.then_some(4);
    }
    if !starts_with_layer3_sync(rest) {
        return None;
    }
    let mpeg1 = rest[1] & 0x18 == 0x18;
    let kbps = *if mpeg1 { &KBPS_V1 } else { &KBPS_V2 }.get(usize::from(rest[2] >> 4))?;
    let version_shift = match rest[1] >> 3 & 3 {
        3 => 0, // MPEG-1
        2 => 1, // MPEG-2
        0 => 2, // MPEG-2.5
        _ => return None,
    };
    let header_rate = *[44_100u32, 48_000, 32_000].get(usize::from(rest[2] >> 2 & 3))? >> version_shift;
    if kbps == 0 || header_rate != rate {
        return None;
    }
    let padding = usize::from(rest[2] >> 1 & 1);
    let length = (if mpeg1 { 144_000 } else { 72_000 }) * kbps as usize / rate as usize + padding;
    (length > rest.len()).then_some(length)
}

/// Whether `body` opens with an MPEG audio layer III frame header.
fn starts_with_layer3_sync(body: &[u8]) -> bool {
    body.len() >= 4 && body[0] == 0xff && body[1] & 0xe0 == 0xe0 && (body[1] >> 1) & 3 == 1
}

#[cfg(test)]
mod tests;
