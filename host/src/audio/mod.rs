//! Audio front end: bytes of any supported codec -> mono clip at the analysis rate.
//!
//! `framing` tells a cut upload by the container's own framing. `decode` talks to
//! symphonia (WAV first goes to `wav`, a direct PCM read, and MP3 to `mp3`;
//! each declines any stream it cannot vouch for); `mono` picks the packet decoder (an
//! analysis decoder for Vorbis, AAC and Opus, symphonia's otherwise); `resample` to rubato
//! (or, for exact 2:1, the halfband decimator in `halfband`); [`load`] chains them with the
//! analysis-span rules (centre of the track, at most `max_seconds`, zero-padded to one
//! window).

mod aac;
mod decode;
mod error;
mod framing;
mod halfband;
mod mono;
mod mp3;
mod mp4;
mod opus;
pub mod reference;
mod resample;
mod vorbis;
mod wav;

pub use decode::{DecodedAudio, SourceHint, decode_mono};
pub use error::DecodeError;
pub(crate) use halfband::decimate_by_2;
pub use resample::resample_mono;
pub(crate) use resample::resample_rubato;

use serde::{Deserialize, Serialize};

/// The rate every clip is analysed at (DCUE's 22 050 Hz).
pub const ANALYSIS_RATE: u32 = 22_050;

/// Bounds on the work and memory one payload may cost. Streams that declare no length are
/// held in memory at the source rate up to `max_duration_s`, so that bound is also the
/// memory bound: 4 bytes x `max_duration_s` x the stream's rate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeBudget {
    /// Largest accepted payload.
    pub max_input_bytes: u64,
    /// Longest accepted stream, declared or decoded.
    pub max_duration_s: f64,
    pub min_sample_rate: u32,
    pub max_sample_rate: u32,
    pub max_channels: u32,
    /// Wall-clock limit on decoding one payload.
    pub max_decode_ms: u64,
    /// Undecodable packets tolerated before the stream counts as corrupt.
    pub max_bad_packets: u32,
}

impl Default for DecodeBudget {
    fn default() -> Self {
        Self {
            max_input_bytes: 64 << 20,
            max_duration_s: 1200.0,
            min_sample_rate: 4_000,
            max_sample_rate: 384_000,
            max_channels: 32,
            max_decode_ms: 10_000,
            max_bad_packets: 16,
        }
    }
}

/// How a payload becomes a clip.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Longest analysis span, taken from the centre of the track.
    pub max_seconds: f64,
    /// Shorter clips are zero-padded to this many samples (one CNN window of log-mel frames).
    pub min_samples: usize,
    pub budget: DecodeBudget,
}

impl Default for AudioConfig {
    fn default() -> Self {
        // 128 frames at hop 512 need 127 * 512 samples with centred framing.
        Self { max_seconds: 30.0, min_samples: 127 * 512, budget: DecodeBudget::default() }
    }
}

/// Mono audio at [`ANALYSIS_RATE`], ready for the spectrogram.
#[derive(Debug, Clone)]
pub struct Clip {
    pub samples: Vec<f32>,
    /// Samples that came from the stream (the rest is zero padding).
    pub source_samples: usize,
    pub source_rate: u32,
    pub source_channels: usize,
    pub codec: String,
}

impl Clip {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(ANALYSIS_RATE)
    }
}

/// Decode, downmix, take the centre span, resample to [`ANALYSIS_RATE`], pad.
pub fn load(bytes: Vec<u8>, hint: &SourceHint, config: &AudioConfig) -> Result<Clip, DecodeError> {
    let decoded = decode_mono(bytes, hint, Some(config.max_seconds), &config.budget)?;
    let DecodedAudio { samples, sample_rate, source_rate, channels, codec, .. } = decoded;
    let mut samples = resample_mono(samples, sample_rate, ANALYSIS_RATE)?;
    let span = (config.max_seconds * f64::from(ANALYSIS_RATE)).round() as usize;
    samples.truncate(span);
    let source_samples = samples.len();
    if samples.len() < config.min_samples {
        samples.resize(config.min_samples, 0.0);
    }
    Ok(Clip { samples, source_samples, source_rate, source_channels: channels, codec })
}

/// What the analysis decoders' tests share.
#[cfg(test)]
pub(crate) mod test_support;
