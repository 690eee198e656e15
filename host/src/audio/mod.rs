//! Audio front end: bytes of any supported codec -> mono clip at the analysis rate.
//!
//! `decode` talks to symphonia (WAV first goes to `wav`, a direct PCM read, and MP3 to `mp3`,
//! nanomp3; each declines any stream it cannot vouch for), `resample` to rubato (or, for exact 2:1, the halfband decimator in
//! `halfband`); [`load`] chains them with the analysis-span rules (centre of the
//! track, at most `max_seconds`, zero-padded to one window).

mod decode;
mod error;
mod halfband;
mod mono;
mod mp3;
mod opus;
mod resample;
mod vorbis;
mod wav;

pub use decode::{DecodedAudio, SourceHint, decode_mono};
pub use error::DecodeError;
pub use resample::resample_mono;

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

/// What the analysis decoders' tests share: the bench audio and medians for the
/// `#[ignore]`d timing tests, and the log-mel comparison their parity tests state bounds in.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    use crate::spectral::{MelParams, MelSpectrogram, hz_to_mel_slaney, mel_to_hz_slaney};

    /// Max and mean |reference - ours| in dB over `frames`, in the bands below 90% of
    /// 11 025 Hz (above them lie the resamplers' transition bands) and bins within 60 dB of
    /// the reference frame's peak: the bound `tests/frontend.rs` states against librosa.
    pub fn bounded_log_mel_diff(
        reference: &MelSpectrogram,
        ours: &MelSpectrogram,
        frames: impl Iterator<Item = usize>,
    ) -> (f64, f64) {
        assert_eq!(reference.n_mels, ours.n_mels);
        let p = MelParams::default();
        let (lo, hi) = (hz_to_mel_slaney(p.fmin), hz_to_mel_slaney(p.fmax));
        let n = reference.n_mels;
        let top = 0.9 * (f64::from(super::ANALYSIS_RATE) / 2.0).min(p.fmax);
        let bands =
            (0..n).take_while(|&m| mel_to_hz_slaney(lo + (hi - lo) * (m + 2) as f64 / (n + 1) as f64) <= top).count();
        let (mut max, mut sum, mut count) = (0.0f64, 0.0f64, 0usize);
        for t in frames {
            let peak = (0..n).map(|m| reference.get(m, t)).fold(f32::MIN, f32::max);
            for m in (0..bands).filter(|&m| reference.get(m, t) > peak - 60.0) {
                let d = f64::from((reference.get(m, t) - ours.get(m, t)).abs());
                max = max.max(d);
                sum += d;
                count += 1;
            }
        }
        (max, sum / count.max(1) as f64)
    }

    /// The bench audio with extension `ext` (`host/benches/make_bench_audio.py`): the 30 s
    /// clips, then the full tracks; none when they were not made.
    pub fn bench_files(ext: &str) -> Vec<PathBuf> {
        let mut all = Vec::new();
        for dir in ["/tmp/debut-bench/clips", "/tmp/debut-bench/full"] {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect();
            paths.sort();
            all.extend(paths);
        }
        all
    }

    pub fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}
