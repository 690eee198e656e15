//! Container probing and decoding with symphonia, down to mono samples at the source rate.
//!
//! Hostile input is the normal case here: every limit in [`DecodeBudget`] is checked before the
//! work it guards (allocation by declared length, sample rates, channel counts), and the decode
//! loop is bounded in packets, bad packets and wall-clock time.

use std::io::Cursor;
use std::time::Instant;

use symphonia::core::codecs::audio::{AudioCodecId, well_known as codec_ids};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, RawValue};
use symphonia::core::units::Time;

use super::mono::PacketError;
use super::{DecodeBudget, DecodeError};

/// Mono audio as decoded: at the stream's own rate, or at a lower one where an analysis
/// decoder synthesises straight to it (half of a 44.1 or 48 kHz stream's).
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    pub samples: Vec<f32>,
    /// The rate of `samples`.
    pub sample_rate: u32,
    /// The stream's own rate.
    pub source_rate: u32,
    /// Channel count of the source before the downmix.
    pub channels: usize,
    /// Frames the container declared (at `source_rate`), when it declared any.
    pub declared_frames: Option<u64>,
    /// Human-readable codec name (`"mp3"`, `"flac"`, ...).
    pub codec: String,
}

/// What the caller knows about a payload besides its bytes: an extension or a media type.
#[derive(Debug, Clone, Default)]
pub struct SourceHint {
    pub extension: Option<String>,
    pub media_type: Option<String>,
}

impl SourceHint {
    pub fn from_path(path: &std::path::Path) -> Self {
        Self { extension: path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase), media_type: None }
    }

    pub fn from_media_type(media_type: &str) -> Self {
        Self { extension: None, media_type: Some(media_type.to_string()) }
    }
}

/// Decodes `bytes` to mono at the source rate.
///
/// With `span_seconds`, only the centre `span_seconds` of the stream are kept; when the
/// container declares its length, decoding seeks there instead of decoding the whole track.
pub fn decode_mono(
    bytes: Vec<u8>,
    hint: &SourceHint,
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
) -> Result<DecodedAudio, DecodeError> {
    let started = Instant::now();
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let input_len = bytes.len() as u64;
    if input_len > budget.max_input_bytes {
        return Err(DecodeError::TooLarge { size: bytes.len() as u64, limit: budget.max_input_bytes });
    }
    // Whether the container's framing shows a cut (see `framing`): decoders alone cannot
    // always tell.
    let cut = super::framing::find_cut(&bytes);
    // WAV and MP3 streams the fast paths can vouch for; they decline everything else to
    // symphonia. A decoder that panics on a malformed stream (symphonia's Ogg reader did,
    // found by fuzzing) fails that payload alone: the panic is contained here and the
    // stream is corrupt.
    let decode = std::panic::AssertUnwindSafe(|| {
        if let Some(result) = super::wav::decode(&bytes, span_seconds, budget) {
            result
        } else if let Some(result) = super::mp3::decode(&bytes, span_seconds, budget, started) {
            result
        } else {
            decode_symphonia(bytes, hint, span_seconds, budget, started)
        }
    });
    let decoded = std::panic::catch_unwind(decode).unwrap_or_else(|panic| {
        let message = panic_message(&*panic);
        tracing::warn!(%message, "a decoder panicked; the payload is reported corrupt");
        Err(DecodeError::Corrupt { detail: format!("the decoder failed on this stream ({message})") })
    });
    match (cut, decoded.and_then(check_samples)) {
        // A cut is what the decoder saw the symptoms of, or what it could not see at all; a
        // refusal by policy (too long, unsupported, ...) stands whatever the bytes' end.
        (Some(detail), Ok(_)) => Err(DecodeError::Truncated { detail }),
        (Some(detail), Err(e)) if e.may_be_a_cut() => Err(DecodeError::Truncated { detail }),
        (_, result) => result,
    }
}

/// What a panic said, when it said it as text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "no message".into(),
    }
}

/// The largest sample magnitude taken: 120 dB over full scale. Float streams can carry any
/// value; far beyond this, sums in the resampler's and the spectrogram's FFTs overflow f32
/// (a finite 1e30 becomes infinity, then NaN).
const MAX_AMPLITUDE: f32 = 1e6;

/// Refuses samples no audio has: NaN, infinity, or magnitudes past [`MAX_AMPLITUDE`], which
/// would poison every later stage.
fn check_samples(decoded: DecodedAudio) -> Result<DecodedAudio, DecodeError> {
    // A fold rather than `any`: no early exit, so it vectorises.
    let (nonfinite, peak) =
        decoded.samples.iter().fold((false, 0.0f32), |(bad, peak), s| (bad | !s.is_finite(), peak.max(s.abs())));
    if nonfinite {
        return Err(DecodeError::Corrupt { detail: "the stream contains NaN or infinite samples".into() });
    }
    if peak > MAX_AMPLITUDE {
        return Err(DecodeError::Corrupt {
            detail: format!(
                "samples reach {peak:e}, beyond any audio (the limit is {MAX_AMPLITUDE:e}, 120 dB over full scale)"
            ),
        });
    }
    Ok(decoded)
}

/// [`decode_mono`] by symphonia alone, after the byte checks.
pub(super) fn decode_symphonia(
    bytes: Vec<u8>,
    hint: &SourceHint,
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
    started: Instant,
) -> Result<DecodedAudio, DecodeError> {
    let input_len = bytes.len() as u64;
    // Read before the bytes go to symphonia, which does not apply them.
    let edits = super::mp4::edits(&bytes);
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut sym_hint = Hint::new();
    if let Some(ext) = &hint.extension {
        sym_hint.with_extension(ext);
    }
    if let Some(mt) = &hint.media_type {
        sym_hint.mime_type(mt);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&sym_hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => DecodeError::UnrecognizedFormat,
            SymError::IoError(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                DecodeError::UnrecognizedFormat
            }
            // A header with an impossible layout (no channels, a zero rate) included:
            // symphonia says which only in its message, which is no type to classify by.
            other => classify(other, "probing the container"),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .or_else(|| format.first_track(TrackType::Audio))
        .ok_or(DecodeError::NoAudioTrack)?;
    let track_id = track.id;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or(DecodeError::NoAudioTrack)?.clone();
    let time_base = track.time_base;
    let delay = track.delay;

    let rate = params
        .sample_rate
        .ok_or_else(|| DecodeError::Corrupt { detail: "the stream declares no sample rate".into() })?;
    if rate < budget.min_sample_rate || rate > budget.max_sample_rate {
        return Err(DecodeError::SampleRate {
            rate: rate.into(),
            min: budget.min_sample_rate,
            max: budget.max_sample_rate,
        });
    }
    let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    if channels as u64 > u64::from(budget.max_channels) {
        return Err(DecodeError::ChannelCount { channels: channels as u64, max: budget.max_channels });
    }
    // AAC in MP4: the edit list says where the audio starts and how long it is (FFmpeg
    // applies it; symphonia does not).
    let edit = if params.codec == codec_ids::CODEC_ID_AAC { super::mp4::edit_of(&edits, track_id, rate) } else { None };
    let declared_frames = edit.and_then(|e| e.frames).or(track.num_frames).filter(|&n| n > 0);
    // A tagged length (ID3v2 TLEN): symphonia estimates a CBR MP3's length from its byte
    // count, which a cut-off upload shrinks too, so the tag is the one length a truncation
    // cannot change. It only checks for truncation, with a wider tolerance (taggers write it).
    let tagged_frames = tagged_length(&mut *format, rate);
    if let Some(n) = declared_frames {
        let declared_s = n as f64 / f64::from(rate);
        if declared_s > budget.max_duration_s {
            return Err(DecodeError::TooLong { declared_s, limit_s: budget.max_duration_s });
        }
    }
    let codec = codec_name(params.codec);
    let mut decoder = super::mono::make(&params, delay, budget, &codec)?;
    if let Some(edit) = edit {
        decoder = Box::new(super::mp4::EditedTrack::new(decoder, edit));
    }
    let decimation = u64::from(decoder.decimation());
    let out_rate = rate / decimation as u32;

    // Which source frames to keep: [keep_start, keep_end).
    let max_frames = (budget.max_duration_s * f64::from(rate)).ceil() as u64;
    // A tag declaring much more than the stream's own (estimated) length: the upload was
    // cut, so the span is placed by the tag and decoding runs into the cut.
    let span_length = match (declared_frames, tagged_frames) {
        (Some(d), Some(t)) if t > d + (u64::from(rate) / 2).max(t / 20) => Some(t),
        (d, _) => d,
    };
    let (keep_start, keep_end) = match (span_seconds, span_length) {
        (Some(span), Some(n)) => {
            let span_frames = (span * f64::from(rate)).ceil() as u64;
            if n > span_frames {
                let start = (n - span_frames) / 2;
                (start, start + span_frames)
            } else {
                (0, n.max(span_frames))
            }
        }
        _ => (0, max_frames),
    };

    // Seek close to the span when it starts well into the track. A failed seek is not an
    // error: decoding from the start and discarding reaches the same samples, only slower.
    let mut position: Option<u64> = Some(0);
    if keep_start > u64::from(rate) * 2 {
        let target = (keep_start - u64::from(rate)) as f64 / f64::from(rate);
        let time = Time::try_new(target.floor() as i64, ((target.fract()) * 1e9) as u32);
        if let Some(time) = time
            && format.seek(SeekMode::Accurate, SeekTo::Time { time, track_id: Some(track_id) }).is_ok()
        {
            // The first packet's timestamp tells where decoding resumed.
            position = None;
            decoder.reset();
        }
    }

    let mut mono: Vec<f32> =
        Vec::with_capacity(((keep_end - keep_start) / decimation).min(u64::from(out_rate) * 60) as usize);
    let mut packet_samples: Vec<f32> = Vec::new();
    let mut bad_packets = 0u32;
    let mut truncated = false;
    let mut decoded_any = false;
    // Payload bytes that decoded to audio: tells a short stream (truncated) from one whose
    // remainder is undecodable (corrupt).
    let mut packet_bytes = 0u64;
    // Decoding stopped at the span's end, not the stream's: what follows is not checked.
    let mut span_complete = false;
    loop {
        if started.elapsed().as_millis() as u64 > budget.max_decode_ms {
            return Err(DecodeError::Timeout { limit_ms: budget.max_decode_ms });
        }
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                truncated = true;
                break;
            }
            Err(SymError::ResetRequired) => break,
            Err(SymError::DecodeError(msg)) => {
                bad_packets += 1;
                if bad_packets > budget.max_bad_packets {
                    return Err(DecodeError::Corrupt { detail: format!("demuxing: {msg}") });
                }
                continue;
            }
            Err(other) => return Err(classify(other, "demuxing")),
        };
        if packet.track_id != track_id {
            continue;
        }
        if position.is_none() {
            let ts = packet.pts.get().max(0) as u64;
            let frame = match time_base.and_then(|tb| tb.calc_time(packet.pts)) {
                Some(t) => (t.as_secs_f64() * f64::from(rate)).round() as u64,
                None => ts,
            };
            position = Some(frame);
        }
        match decoder.decode(&packet, &mut packet_samples) {
            Ok(()) => {}
            Err(PacketError::Symphonia(SymError::DecodeError(msg))) => {
                bad_packets += 1;
                if bad_packets > budget.max_bad_packets {
                    return Err(DecodeError::Corrupt { detail: format!("decoding: {msg}") });
                }
                continue;
            }
            Err(PacketError::Symphonia(SymError::IoError(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                truncated = true;
                break;
            }
            Err(PacketError::Symphonia(other)) => return Err(classify(other, "decoding")),
            Err(PacketError::Fatal(e)) => return Err(e),
        };
        packet_bytes += packet.data.len() as u64;
        let frames = packet_samples.len() as u64 * decimation;
        if frames == 0 {
            continue;
        }
        decoded_any = true;
        let pos = position.unwrap_or(0);
        let end = pos + frames;
        position = Some(end);
        if end <= keep_start {
            continue;
        }
        if pos >= max_frames {
            return Err(DecodeError::TooLong {
                declared_s: pos as f64 / f64::from(rate),
                limit_s: budget.max_duration_s,
            });
        }
        let from = (keep_start.saturating_sub(pos) / decimation) as usize;
        let to = ((keep_end.min(end) - pos) / decimation) as usize;
        mono.extend_from_slice(&packet_samples[from..to]);
        if end >= keep_end {
            span_complete = true;
            break;
        }
    }

    if !decoded_any || mono.is_empty() && keep_start == 0 {
        if truncated {
            return Err(DecodeError::Truncated { detail: "the stream ended before any audio".into() });
        }
        return Err(if bad_packets > 0 {
            DecodeError::Corrupt { detail: format!("{bad_packets} undecodable packets and no audio") }
        } else {
            DecodeError::NoAudio
        });
    }
    if let Some(n) = declared_frames {
        // Encoders pad and trim a little; a real truncation loses much more.
        let got = position.unwrap_or(0);
        let expected = keep_end.min(n);
        let slack = (u64::from(rate) / 10).max(n / 100);
        if got + slack < expected {
            let detail = format!("decoded {got} of {n} declared frames");
            // A cut-off upload still decodes nearly all of its bytes; when most of the payload
            // was skipped as undecodable, the stream is corrupt instead.
            return Err(if position.is_some() && packet_bytes * 2 < input_len && keep_start == 0 {
                DecodeError::Corrupt { detail: format!("{detail}; {packet_bytes} of {input_len} bytes decodable") }
            } else {
                DecodeError::Truncated { detail }
            });
        }
    }
    if let Some(n) = tagged_frames.filter(|_| !span_complete) {
        let got = position.unwrap_or(0);
        let slack = (u64::from(rate) / 2).max(n / 20);
        if got + slack < n {
            let ms = n * 1000 / u64::from(rate);
            return Err(DecodeError::Truncated {
                detail: format!("decoded {got} frames, the tags declare {ms} ms ({n} frames)"),
            });
        }
    }
    if declared_frames.is_none() && truncated && bad_packets > 0 {
        return Err(DecodeError::Truncated { detail: "the stream ends mid-packet".into() });
    }
    if span_seconds.is_some() && declared_frames.is_none() {
        centre_crop(&mut mono, span_seconds.unwrap_or_default(), out_rate);
    }

    Ok(DecodedAudio {
        samples: mono,
        sample_rate: out_rate,
        source_rate: rate,
        channels: channels.max(1),
        declared_frames,
        codec,
    })
}

/// The length the stream's tags declare (ID3v2 `TLEN`, milliseconds), in frames at `rate`.
fn tagged_length(format: &mut dyn FormatReader, rate: u32) -> Option<u64> {
    let metadata = format.metadata();
    let revision = metadata.current();
    let revision = revision?;
    let tag = revision.media.tags.iter().find(|t| t.raw.key.eq_ignore_ascii_case("TLEN"))?;
    let ms: u64 = match &tag.raw.value {
        RawValue::String(s) => s.trim().trim_end_matches('\0').parse().ok()?,
        RawValue::UnsignedInt(v) => *v,
        RawValue::SignedInt(v) => u64::try_from(*v).ok()?,
        _ => return None,
    };
    (ms > 0).then(|| ms * u64::from(rate) / 1000)
}

/// The centre `span_seconds` of a stream of `n` frames at `rate`, as `[start, end)`: all of it
/// when it is shorter or no span is asked for (the fast paths, which know `n` exactly).
pub(super) fn centre_span(n: u64, span_seconds: Option<f64>, rate: u32) -> (u64, u64) {
    match span_seconds {
        Some(span) => {
            let span_frames = (span * f64::from(rate)).ceil() as u64;
            if n > span_frames {
                let start = (n - span_frames) / 2;
                (start, start + span_frames)
            } else {
                (0, n)
            }
        }
        None => (0, n),
    }
}

/// Keeps the centre `span` seconds of `mono` (streams that declared no length).
fn centre_crop(mono: &mut Vec<f32>, span: f64, rate: u32) {
    let span_frames = (span * f64::from(rate)).ceil() as usize;
    if mono.len() > span_frames {
        let start = (mono.len() - span_frames) / 2;
        mono.drain(..start);
        mono.truncate(span_frames);
    }
}

pub(super) fn classify(err: SymError, stage: &str) -> DecodeError {
    match err {
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated { detail: format!("unexpected end of stream while {stage}") }
        }
        SymError::IoError(e) => DecodeError::Corrupt { detail: format!("{stage}: {e}") },
        SymError::DecodeError(msg) => DecodeError::Corrupt { detail: format!("{stage}: {msg}") },
        SymError::Unsupported(what) => DecodeError::Corrupt { detail: format!("{stage}: unsupported feature: {what}") },
        SymError::LimitError(what) => DecodeError::Corrupt { detail: format!("{stage}: limit reached: {what}") },
        SymError::SeekError(_) => DecodeError::Corrupt { detail: format!("{stage}: seek failed") },
        other => DecodeError::Corrupt { detail: format!("{stage}: {other}") },
    }
}

fn codec_name(id: AudioCodecId) -> String {
    use codec_ids::*;
    let name = match id {
        CODEC_ID_MP3 => "mp3",
        CODEC_ID_MP2 => "mp2",
        CODEC_ID_MP1 => "mp1",
        CODEC_ID_AAC => "aac",
        CODEC_ID_VORBIS => "vorbis",
        CODEC_ID_FLAC => "flac",
        CODEC_ID_ALAC => "alac",
        CODEC_ID_OPUS => "opus",
        CODEC_ID_SPEEX => "speex",
        CODEC_ID_AC3 => "ac3",
        CODEC_ID_EAC3 => "eac3",
        CODEC_ID_WMA => "wma",
        CODEC_ID_WAVPACK => "wavpack",
        CODEC_ID_MONKEYS_AUDIO => "monkeys-audio",
        CODEC_ID_ADPCM_IMA_WAV | CODEC_ID_ADPCM_IMA_QT => "adpcm",
        CODEC_ID_PCM_S16LE | CODEC_ID_PCM_S24LE | CODEC_ID_PCM_S32LE | CODEC_ID_PCM_F32LE | CODEC_ID_PCM_F64LE
        | CODEC_ID_PCM_U8 | CODEC_ID_PCM_S16BE | CODEC_ID_PCM_S24BE | CODEC_ID_PCM_S32BE | CODEC_ID_PCM_F32BE => "pcm",
        other => return format!("codec id {other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A damaged Ogg Vorbis upload the fuzz target made (`fixtures/regressions/`): pages
    /// with bad CRCs, a chained stream, junk. symphonia 0.6.1's end scan, bisecting through
    /// it, wrapped a subtraction and panicked in a clamp (`vendor/symphonia-format-ogg`).
    #[test]
    fn symphonias_ogg_end_scan_survives_the_fuzzers_damaged_upload() {
        use std::io::Read;
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/regressions/ogg_end_scan_panic.ogg.gz");
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut bytes).unwrap();
        let probe = std::panic::catch_unwind(|| {
            let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.clone())), Default::default());
            symphonia::default::get_probe()
                .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
                .map(|_| ())
        });
        assert!(probe.is_ok(), "symphonia's Ogg probe panicked");
        let err = decode_mono(bytes, &SourceHint::default(), None, &DecodeBudget::default()).unwrap_err();
        assert_eq!(err.kind(), "truncated", "{err}");
    }
}
