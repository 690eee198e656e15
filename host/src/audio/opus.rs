//! Opus (RFC 6716) through `opus-rs`, a pure-Rust port of libopus 1.6 (BSD-3-Clause; no C
//! to build): symphonia demuxes Opus from Ogg, WebM/Matroska, MP4 and CAF but has no decoder
//! for it.
//!
//! A 48 kHz stream (every Ogg and MP4 Opus stream; Opus's clock is always 48 kHz) is decoded
//! straight to 24 kHz, [`MonoDecoder::decimation`] 2: the decoder drops the bands above
//! 12 kHz, which the analysis (22 050 Hz) never sees. A stereo stream is decoded as stereo
//! and its channels averaged, as librosa averages them (a mono decode would undo the
//! encoder's phase inversion, where left and right cancel in the mean). Multichannel streams
//! (channel mapping family 1) go through the multistream decoder, then the mean of the
//! channels.
//!
//! What the identification header (`OpusHead`, the codec parameters' extra data) says is
//! honoured: the output gain, the mapping, and the pre-skip, the encoder's priming samples at
//! the start of the stream, which are not audio. Containers trim the end with the last
//! granule position (Ogg), which symphonia passes on as the last packet's `trim_end`.

use opus_rs::OpusDecoder;
use opus_rs::multistream::{ChannelMappingTable, MultistreamDecoder};

/// What the decoder says when it refuses a packet or a layout.
type OpusError = &'static str;
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::errors::Error as SymError;
use symphonia::core::packet::Packet;

use super::mono::{MonoDecoder, PacketError};
use super::{DecodeBudget, DecodeError};

/// Opus's own clock: pre-skip and packet durations count 48 kHz samples.
const OPUS_RATE: u32 = 48_000;
/// The longest packet Opus allows: 120 ms.
const MAX_PACKET_48K: usize = 5_760;

/// Picks the Opus decoder for a track, or refuses it with a typed error.
///
/// `delay`: the container's priming frames, the pre-skip of a track without an OpusHead.
pub(super) fn make(
    params: &AudioCodecParameters,
    delay: Option<u32>,
    budget: &DecodeBudget,
) -> Result<Box<dyn MonoDecoder>, DecodeError> {
    let declared_channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    let from_header = params.extra_data.as_deref().is_some_and(|e| e.starts_with(b"OpusHead"));
    let head = match params.extra_data.as_deref() {
        Some(extra) if from_header => Head::parse(extra)?,
        // No identification header (a bare Matroska track, or CAF, whose magic cookie is
        // Apple's own): one stream of the declared channels, no gain, and the container's
        // priming (CAF's packet table) as the pre-skip.
        _ => Head::plain(declared_channels, delay.unwrap_or(0))?,
    };
    if u32::from(head.channels) > budget.max_channels {
        return Err(DecodeError::ChannelCount { channels: head.channels.into(), max: budget.max_channels });
    }
    let rate = params.sample_rate.unwrap_or(OPUS_RATE);
    // The container's rate is what `decode_symphonia` counts frames in; Opus synthesises at
    // any of Opus's rates, so the output must be that rate or exactly half of it.
    let (out_rate, decimation) = match rate {
        OPUS_RATE => (OPUS_RATE / 2, 2),
        8_000 | 12_000 | 16_000 | 24_000 => (rate, 1),
        other => {
            return Err(DecodeError::Corrupt {
                detail: format!("the container declares Opus at {other} Hz; Opus decodes at 8, 12, 16, 24 or 48 kHz"),
            });
        }
    };
    let inner = Inner::new(&head, out_rate)?;
    let pre_skip = (usize::from(head.pre_skip) * out_rate as usize + OPUS_RATE as usize / 2) / OPUS_RATE as usize;
    let max_out = MAX_PACKET_48K * out_rate as usize / OPUS_RATE as usize;
    // Ogg's and MP4's timestamps count the header's pre-skip; CAF's packet table starts its
    // timestamps at minus the priming, so after a seek there is nothing to drop.
    let skip_after_reset = if from_header { pre_skip } else { 0 };
    Ok(Box::new(OpusMono {
        inner,
        decimation,
        out_rate,
        skip_after_reset,
        to_skip: pre_skip,
        max_out,
        pcm: Vec::new(),
    }))
}

/// The identification header (RFC 7845 section 5.1), as Ogg and Matroska carry it
/// (little-endian, version 1), or as MP4's `dOps` box does (big-endian, version 0), which
/// symphonia hands over behind an `OpusHead` magic.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    channels: u8,
    /// Samples at 48 kHz to drop from the start of the decoded stream.
    pre_skip: u16,
    /// Q7.8 dB, applied by the decoder.
    gain: i16,
    family: u8,
    streams: u8,
    coupled: u8,
    /// Output channel -> decoded channel (255: silent).
    mapping: Vec<u8>,
}

impl Head {
    fn parse(extra: &[u8]) -> Result<Self, DecodeError> {
        let corrupt = |what: &str| DecodeError::Corrupt { detail: format!("Opus header: {what}") };
        if extra.len() < 19 || &extra[..8] != b"OpusHead" {
            return Err(corrupt("no OpusHead identification header"));
        }
        let version = extra[8];
        // RFC 7845: an incompatible (major) version must not be decoded.
        if version > 15 {
            return Err(corrupt("unsupported version"));
        }
        let big_endian = version == 0;
        let u16_at = |i: usize| {
            let b = [extra[i], extra[i + 1]];
            if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }
        };
        let channels = extra[9];
        let pre_skip = u16_at(10);
        let gain = u16_at(16) as i16;
        let family = extra[18];
        if channels == 0 {
            return Err(corrupt("zero channels"));
        }
        match family {
            0 if channels <= 2 => Ok(Self {
                channels,
                pre_skip,
                gain,
                family,
                streams: 1,
                coupled: channels - 1,
                mapping: (0..channels).collect(),
            }),
            0 => Err(corrupt("mapping family 0 with more than two channels")),
            1 if channels > 8 => Err(corrupt("mapping family 1 with more than eight channels")),
            1 => {
                let table = extra.get(19..21 + usize::from(channels)).ok_or_else(|| corrupt("short mapping table"))?;
                let (streams, coupled, mapping) = (table[0], table[1], table[2..].to_vec());
                let decoded = u16::from(streams) + u16::from(coupled);
                if streams == 0 || coupled > streams || decoded > 255 {
                    return Err(corrupt("impossible stream counts"));
                }
                if mapping.iter().any(|&m| m != 255 && u16::from(m) >= decoded) {
                    return Err(corrupt("mapping names a channel no stream has"));
                }
                Ok(Self { channels, pre_skip, gain, family, streams, coupled, mapping })
            }
            other => Err(DecodeError::UnsupportedCodec { codec: format!("opus (channel mapping family {other})") }),
        }
    }

    /// The header a track without one implies: one stream of its declared channels.
    fn plain(channels: usize, pre_skip: u32) -> Result<Self, DecodeError> {
        let pre_skip = u16::try_from(pre_skip)
            .map_err(|_| DecodeError::Corrupt { detail: format!("Opus priming of {pre_skip} samples") })?;
        match u8::try_from(channels) {
            Ok(n @ 1..=2) => Ok(Self {
                channels: n,
                pre_skip,
                gain: 0,
                family: 0,
                streams: 1,
                coupled: n - 1,
                mapping: (0..n).collect(),
            }),
            _ => Err(DecodeError::Corrupt {
                detail: format!("Opus track of {channels} channels without an identification header"),
            }),
        }
    }

    /// One stream of its own channels, in order: the single-stream decoder covers it.
    fn is_single_stream(&self) -> bool {
        self.streams == 1 && usize::from(self.coupled) + 1 == usize::from(self.channels) && self.mapping_is_identity()
    }

    fn mapping_is_identity(&self) -> bool {
        self.mapping.iter().enumerate().all(|(i, &m)| usize::from(m) == i)
    }
}

/// The decoder for the stream's layout: every decoded channel interleaved, then their mean.
struct Inner {
    decoder: Layout,
    /// What the decoder was made from, to make it anew after a seek.
    head: Head,
    out_rate: u32,
    channels: usize,
    /// The header's output gain as a linear factor.
    gain: f32,
    interleaved: Vec<f32>,
}

enum Layout {
    /// One stream of one or two channels.
    Single(Box<OpusDecoder>),
    /// Several streams (channel mapping family 1).
    Multi(Box<MultistreamDecoder>),
}

impl Layout {
    fn new(head: &Head, out_rate: u32) -> Result<Self, OpusError> {
        let rate = out_rate as i32;
        if head.is_single_stream() {
            Ok(Self::Single(Box::new(OpusDecoder::new(rate, usize::from(head.channels))?)))
        } else {
            let table = ChannelMappingTable {
                channels: head.channels,
                stream_count: head.streams,
                coupled_count: head.coupled,
                mapping: head.mapping.clone(),
            };
            Ok(Self::Multi(Box::new(MultistreamDecoder::new(rate, table)?)))
        }
    }
}

impl Inner {
    fn new(head: &Head, out_rate: u32) -> Result<Self, DecodeError> {
        let decoder = Layout::new(head, out_rate)
            .map_err(|e| DecodeError::Corrupt { detail: format!("Opus decoder refused the header: {e}") })?;
        Ok(Self {
            decoder,
            head: head.clone(),
            out_rate,
            channels: usize::from(head.channels),
            gain: gain_factor(head.gain),
            interleaved: Vec::new(),
        })
    }

    /// Decodes one packet to mono in `pcm` (at least `max_out` long); returns its length.
    fn decode(&mut self, data: &[u8], pcm: &mut [f32], max_out: usize) -> Result<usize, OpusError> {
        self.interleaved.resize(max_out * self.channels, 0.0);
        let n = match &mut self.decoder {
            Layout::Single(decoder) => decoder.decode(data, max_out, &mut self.interleaved)?,
            Layout::Multi(decoder) => decoder.decode(data, max_out, &mut self.interleaved)?,
        };
        let n = n.min(max_out);
        let scale = self.gain / self.channels as f32;
        for (o, frame) in pcm.iter_mut().zip(self.interleaved.chunks_exact(self.channels)).take(n) {
            *o = frame.iter().sum::<f32>() * scale;
        }
        Ok(n)
    }

    /// Forgets the stream's history (after a seek): a decoder made anew.
    fn reset(&mut self) {
        if let Ok(fresh) = Layout::new(&self.head, self.out_rate) {
            self.decoder = fresh;
        }
    }
}

/// RFC 7845's output gain, Q7.8 dB, as a factor on the samples.
fn gain_factor(q8_db: i16) -> f32 {
    10f32.powf(f32::from(q8_db) / (20.0 * 256.0))
}

/// One Opus track to mono at `out_rate`, with the pre-skip and the end trim applied.
struct OpusMono {
    inner: Inner,
    decimation: u32,
    out_rate: u32,
    /// Samples at `out_rate` to drop after a reset (a seek): the header's pre-skip.
    skip_after_reset: usize,
    /// Pre-skip samples still to drop.
    to_skip: usize,
    /// The longest packet at `out_rate`.
    max_out: usize,
    pcm: Vec<f32>,
}

impl MonoDecoder for OpusMono {
    fn decimation(&self) -> u32 {
        self.decimation
    }

    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(), PacketError> {
        out.clear();
        let data: &[u8] = &packet.data;
        // An empty packet would ask the decoder to conceal a loss of its whole buffer (120 ms);
        // the TOC check catches what the decoder would otherwise only report mid-decode.
        if data.is_empty() {
            return Err(bad("opus: empty packet"));
        }
        match samples_48k(data) {
            Some(n) if n <= MAX_PACKET_48K => {}
            Some(_) => return Err(bad("opus: packet longer than 120 ms")),
            None => return Err(bad("opus: invalid TOC")),
        }
        self.pcm.resize(self.max_out, 0.0);
        let n = self.inner.decode(data, &mut self.pcm, self.max_out).map_err(|e| bad(describe(&e)))?;
        // Trims are in the track's time base, Opus's 48 kHz clock in every container that
        // sets them; at half rate they halve.
        let to_out = |frames: u64| {
            let at_out = frames.saturating_mul(u64::from(self.out_rate)) / u64::from(OPUS_RATE);
            usize::try_from(at_out).unwrap_or(usize::MAX)
        };
        // A container that signals the priming as a start trim trims the same samples the
        // header's pre-skip names: the larger of the two, not their sum.
        let start = self.to_skip.max(to_out(packet.trim_start.get())).min(n);
        self.to_skip = self.to_skip.saturating_sub(n);
        let end = n.saturating_sub(to_out(packet.trim_end.get())).max(start);
        out.extend_from_slice(&self.pcm[start..end]);
        Ok(())
    }

    /// After a seek, `decode_symphonia` counts positions from the first packet's timestamp.
    /// Ogg's and MP4's timestamps include the pre-skip (Ogg's granule positions do, and
    /// symphonia applies no MP4 edit list), so dropping the pre-skip again here puts the
    /// samples where a decode from the start puts them: position `p` holds the `p`-th sample
    /// after the pre-skip either way. (Matroska's timestamps exclude it, but symphonia
    /// declares no Matroska length, so those streams are never sought. CAF's timestamps
    /// exclude its priming: nothing is dropped there.)
    fn reset(&mut self) {
        self.inner.reset();
        self.to_skip = self.skip_after_reset;
    }
}

/// The full-rate path for Opus, which symphonia cannot decode: the decoder at 48 kHz with
/// every channel of a one-stream track, their mean, the pre-skip dropped. What
/// `audio::reference` measures the 24 kHz mono path against.
pub(super) struct FullRate {
    inner: Inner,
    to_skip: usize,
    pcm: Vec<f32>,
}

impl FullRate {
    pub fn new(params: &AudioCodecParameters) -> Result<Self, DecodeError> {
        let declared = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
        let head = match params.extra_data.as_deref() {
            Some(extra) if extra.starts_with(b"OpusHead") => Head::parse(extra)?,
            _ => Head::plain(declared, 0)?,
        };
        if !head.is_single_stream() {
            return Err(DecodeError::UnsupportedCodec { codec: "opus (multistream, for the reference path)".into() });
        }
        let inner = Inner::new(&head, OPUS_RATE)?;
        Ok(Self { inner, to_skip: usize::from(head.pre_skip), pcm: vec![0.0; MAX_PACKET_48K] })
    }

    /// Decodes one packet onto the end of `mono`.
    pub fn decode(&mut self, data: &[u8], mono: &mut Vec<f32>) -> Result<(), DecodeError> {
        let n = self
            .inner
            .decode(data, &mut self.pcm, MAX_PACKET_48K)
            .map_err(|e| DecodeError::Corrupt { detail: describe(&e).into() })?;
        let skip = self.to_skip.min(n);
        self.to_skip -= skip;
        mono.extend_from_slice(&self.pcm[skip..n]);
        Ok(())
    }
}

/// A packet's duration in samples at 48 kHz from its TOC byte and frame count (RFC 6716
/// section 3.1), or `None` for a packet too short to say.
fn samples_48k(data: &[u8]) -> Option<usize> {
    let toc = *data.first()?;
    let config = usize::from(toc >> 3);
    let per_frame = match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][config % 4],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][config % 2],
        // CELT-only: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][config % 4],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => usize::from(*data.get(1)? & 0x3f),
    };
    if frames == 0 { None } else { Some(per_frame * frames) }
}

fn bad(msg: &'static str) -> PacketError {
    PacketError::Symphonia(SymError::DecodeError(msg))
}

/// The decoder's refusals are `&'static str`s; a packet's failure counts as a bad packet,
/// whatever the words.
fn describe(_error: &OpusError) -> &'static str {
    "opus: invalid packet"
}

#[cfg(test)]
mod tests;
