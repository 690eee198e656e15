//! 44.1 and 48 kHz MP3 streams straight to mono at half the rate, with `mp3-analysis`'s
//! analysis decoder: the clip today's full decode, downmix and 2:1 halfband resampling give
//! (within the parity bound its tests state), for about a third of the time.
//!
//! nanomp3's reader is not used here: the frame walk in `Stream::scan` already found every
//! frame, so this seeks by frame index. Positions follow minimp3_ex's: the decoder's output
//! starts with the encoder delay plus its own 529-sample delay (from the LAME/Lavc tag), the
//! length is the Info frame count less those and the padding, and a seek starts two frames
//! before the target, and earlier still until the frames before it carry the 511 bytes the
//! bit reservoir can reach back.

use mp3_analysis::{ANALYSIS_SAMPLES_PER_FRAME, AnalysisDecoder};

use super::{Stream, finish};
use crate::audio::{DecodeBudget, DecodeError, DecodedAudio};

/// The decoder's own delay, in samples (minimp3_ex adds it to the encoder's).
const DECODER_DELAY: u64 = 529;
/// Frames decoded before a seek target whatever the reservoir needs (minimp3_ex's).
const PREDECODE_FRAMES: usize = 2;
/// How far back main data can start: the bit reservoir's size in bytes.
const MAX_RESERVOIR_BYTES: usize = 511;

/// Decodes the centre `span_seconds` of `stream` at half its rate; `None` declines.
pub(super) fn decode(
    stream: &Stream,
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
    over_time: &dyn Fn() -> bool,
) -> Option<Result<DecodedAudio, DecodeError>> {
    let frame_samples = stream.frame_samples as u64;
    if stream.frame_samples != 2 * ANALYSIS_SAMPLES_PER_FRAME {
        return None; // MPEG-1 only (44.1 and 48 kHz are)
    }
    let (delay, total) = trimmed_length(stream);
    if !stream.length_is_plausible(total, budget) {
        return None;
    }
    let (keep_start, keep_end) = crate::audio::decode::centre_span(total, span_seconds, stream.rate);
    // Positions in the decoder's output, from the first audio frame.
    let (start, end) = (delay + keep_start, delay + keep_end);
    // Sample n of the clip is stream sample start + 2n (halfband decimation keeps the even
    // samples of what it is given).
    let want = (end - start).div_ceil(2) as usize;
    let mut decoder = AnalysisDecoder::new(start % 2 == 1);

    let target = (start / frame_samples) as usize;
    let first = if keep_start == 0 { 0 } else { seek_back(&stream.frames, target) };
    let mut clip = Vec::with_capacity(want);
    let mut pcm = [0f32; ANALYSIS_SAMPLES_PER_FRAME];
    for (i, frame) in stream.frames.iter().enumerate().skip(first) {
        if clip.len() == want {
            break;
        }
        if i % 64 == 63 && over_time() {
            return Some(Err(DecodeError::Timeout { limit_ms: budget.max_decode_ms }));
        }
        let at = i as u64 * frame_samples;
        match decoder.decode_frame(frame, &mut pcm) {
            Ok(n) if n == ANALYSIS_SAMPLES_PER_FRAME => {}
            // The frames before the target only refill the reservoir and the filterbanks;
            // a frame in the span that gives no audio is for symphonia to judge.
            _ if at + frame_samples <= start => continue,
            _ => return None,
        }
        let from = (start.saturating_sub(at) / 2) as usize;
        if from < pcm.len() {
            let take = (pcm.len() - from).min(want - clip.len());
            clip.extend_from_slice(&pcm[from..from + take]);
        }
    }
    if clip.len() != want {
        return None; // fewer samples than the frames promise: let symphonia judge
    }
    finish(clip, stream.rate / 2, stream.rate, stream.channels, total)
}

/// The decoder's delay before sample 0 and the stream's length, as minimp3_ex (and so
/// symphonia, whose lengths agree) counts them: with an Info frame its frame count less the
/// LAME/Lavc tag's delay and padding (each only when the count covers it), without one
/// every frame's samples.
pub(super) fn trimmed_length(stream: &Stream) -> (u64, u64) {
    let frames = stream.frames.len() as u64;
    let mut total = frames * stream.frame_samples as u64;
    let Some((delay, padding)) = stream.info.and_then(|t| t.encoder_delay_padding) else {
        return (0, total);
    };
    let delay = u64::from(delay) + DECODER_DELAY;
    if total >= delay {
        total -= delay;
    }
    let padding = u64::from(padding).saturating_sub(DECODER_DELAY);
    if padding > 0 && total >= padding {
        total -= padding;
    }
    (delay, total)
}

/// The frame to start decoding at for the span starting in frame `target`: minimp3_ex's
/// seek, two frames early and then back until the skipped frames' main data fills the
/// reservoir (or a frame's side info is invalid).
fn seek_back(frames: &[&[u8]], target: usize) -> usize {
    let mut i = target.min(frames.len());
    if i == 0 {
        return 0;
    }
    i -= i.min(PREDECODE_FRAMES);
    let mut to_fill = MAX_RESERVOIR_BYTES;
    while i != 0 && to_fill != 0 {
        i -= 1;
        let Some(bytes) = mp3_analysis::main_data_bytes(frames[i]) else { break };
        to_fill -= to_fill.min(bytes);
    }
    i
}
