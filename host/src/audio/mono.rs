//! One track's packets to mono samples, behind [`MonoDecoder`]: symphonia's decoder followed
//! by a downmix, or an analysis decoder that mixes the channels before its inverse transform
//! and synthesises at a fraction of the stream's rate (the analysis needs 22 050 Hz mono, so
//! a 44.1 kHz stereo stream need not be decoded as one).
//!
//! [`decode_symphonia`](super::decode::decode_symphonia) owns the container, the span, the
//! budgets and the error classification; a `MonoDecoder` only turns one packet into samples.

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::packet::Packet;

use super::{DecodeBudget, DecodeError};

/// Why one packet gave no samples.
#[derive(Debug)]
pub(super) enum PacketError {
    /// As symphonia reports it: the caller counts bad packets, notices the end of the stream.
    Symphonia(SymError),
    /// Fatal for the whole payload.
    Fatal(DecodeError),
}

impl From<SymError> for PacketError {
    fn from(e: SymError) -> Self {
        Self::Symphonia(e)
    }
}

/// A decoder of one track's packets to mono.
pub(super) trait MonoDecoder {
    /// Source frames per output sample: 1, or 2 where it synthesises at half rate. Every
    /// packet's length in source frames is a multiple of it.
    fn decimation(&self) -> u32;

    /// Decodes one packet, replacing `out` with its mono samples at the output rate.
    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(), PacketError>;

    /// Forgets the stream's state after a seek.
    fn reset(&mut self);
}

/// Picks the decoder for a track: an analysis decoder where one covers its codec and rate,
/// symphonia's otherwise.
///
/// `delay` is the container's count of priming frames (CAF's packet table), which only a
/// codec whose own header lacks one takes.
pub(super) fn make(
    params: &AudioCodecParameters,
    delay: Option<u32>,
    budget: &DecodeBudget,
    codec: &str,
) -> Result<Box<dyn MonoDecoder>, DecodeError> {
    // symphonia demuxes Opus but has no decoder for it.
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS {
        return super::opus::make(params, delay, budget);
    }
    // Vorbis and AAC-LC at 44.1/48 kHz: mono at half the rate, one inverse transform per
    // packet.
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_VORBIS
        && let Some(decoder) = super::vorbis::make(params, budget)
    {
        return Ok(decoder);
    }
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_AAC
        && let Some(decoder) = super::aac::make(params, budget)
    {
        return Ok(decoder);
    }
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => DecodeError::UnsupportedCodec { codec: codec.to_string() },
            other => super::decode::classify(other, "opening the decoder"),
        })?;
    Ok(Box::new(SymphoniaMono { decoder, planes: Vec::new(), max_channels: budget.max_channels }))
}

/// symphonia's decoder at the source rate, then the mean of the channels.
struct SymphoniaMono {
    decoder: Box<dyn AudioDecoder>,
    planes: Vec<Vec<f32>>,
    max_channels: u32,
}

impl MonoDecoder for SymphoniaMono {
    fn decimation(&self) -> u32 {
        1
    }

    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(), PacketError> {
        out.clear();
        let buf = self.decoder.decode(packet)?;
        let frames = buf.frames();
        if frames == 0 {
            return Ok(());
        }
        let channels = buf.num_planes();
        if channels == 0 || channels as u64 > u64::from(self.max_channels) {
            return Err(PacketError::Fatal(DecodeError::ChannelCount {
                channels: channels as u64,
                max: self.max_channels,
            }));
        }
        buf.copy_to_vecs_planar::<f32>(&mut self.planes);
        downmix_into(&self.planes[..channels], 0, frames, out);
        Ok(())
    }

    fn reset(&mut self) {
        self.decoder.reset();
    }
}

/// Appends the mean of `planes[..][from..to]` to `out` (librosa's `to_mono`).
fn downmix_into(planes: &[Vec<f32>], from: usize, to: usize, out: &mut Vec<f32>) {
    match planes {
        [mono] => out.extend_from_slice(&mono[from..to]),
        [l, r] => out.extend(l[from..to].iter().zip(&r[from..to]).map(|(a, b)| 0.5 * (a + b))),
        _ => {
            let scale = 1.0 / planes.len() as f32;
            let base = out.len();
            out.extend_from_slice(&planes[0][from..to]);
            for plane in &planes[1..] {
                for (o, s) in out[base..].iter_mut().zip(&plane[from..to]) {
                    *o += s;
                }
            }
            for o in &mut out[base..] {
                *o *= scale;
            }
        }
    }
}
