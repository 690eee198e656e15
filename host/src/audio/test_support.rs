//! What the analysis decoders' tests share: the full-rate path as the reference and the
//! log-mel comparison their parity tests state bounds in (both in `audio::reference`), and
//! the fixtures.

pub use super::reference::bounded_log_mel_diff;
use crate::audio::{DecodedAudio, SourceHint, decode_mono, resample_mono};
use crate::spectral::cpu::CpuStft;
use crate::spectral::{MelParams, MelPlan, MelSpectrogram};

pub fn log_mel(samples: &[f32]) -> MelSpectrogram {
    let plan = MelPlan::new(MelParams::default());
    CpuStft::new(plan.params.n_fft).log_mel(&plan, samples)
}

/// SNR in dB of `ours` against `reference` (both at `rate`) below `f_max`, after moving
/// `ours` `shift` samples later (a phase ramp; both are treated as periodic).
pub fn snr_below(reference: &[f32], ours: &[f32], rate: f64, f_max: f64, shift: f64) -> f64 {
    let n = reference.len().min(ours.len());
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let spectrum = |x: &[f32]| {
        let mut input: Vec<f64> = x[..n].iter().map(|&v| f64::from(v)).collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut input, &mut out).unwrap();
        out
    };
    let (r, o) = (spectrum(reference), spectrum(ours));
    let (mut signal, mut noise) = (0.0, 0.0);
    for (k, (r, o)) in r.iter().zip(&o).enumerate() {
        if k as f64 * rate / n as f64 >= f_max {
            break;
        }
        let w = -2.0 * std::f64::consts::PI * k as f64 / n as f64 * shift;
        let o = o * realfft::num_complex::Complex::new(w.cos(), w.sin());
        signal += r.norm_sqr();
        noise += (o - r).norm_sqr();
    }
    10.0 * (signal / noise).log10()
}

pub fn fixture(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
    std::fs::read(root.join(name)).unwrap()
}

/// `decode_mono` as `load` calls it, the file named by its extension.
pub fn decode_ours(bytes: &[u8], extension: &str, span: Option<f64>) -> DecodedAudio {
    let hint = SourceHint { extension: Some(extension.into()), media_type: None };
    decode_mono(bytes.to_vec(), &hint, span, &Default::default()).unwrap()
}

/// [`bounded_log_mel_diff`] over the frames both have, the first and last two left out.
pub fn bounded_diff(a: &MelSpectrogram, b: &MelSpectrogram) -> (f64, f64) {
    let frames = 2..a.n_frames.min(b.n_frames).saturating_sub(2);
    bounded_log_mel_diff(a, b, frames)
}

/// The full-rate path ([`symphonia_mono`], then resampled) and a half-rate analysis
/// decoder's (`decode_mono`, then resampled), both at 22 050 Hz as `load` takes them, and
/// the analysis decoder's output.
pub fn symphonia_mono_at_analysis_rate(bytes: &[u8], extension: &str) -> (Vec<f32>, Vec<f32>, DecodedAudio) {
    let (full, rate) = symphonia_mono(bytes);
    let ours = decode_ours(bytes, extension, None);
    assert_eq!(ours.source_rate, rate);
    assert_eq!(ours.sample_rate * 2, rate);
    assert_eq!(ours.samples.len(), full.len() / 2, "half as many samples as symphonia's decoder gives");
    let reference = resample_mono(full, rate, 22_050).unwrap();
    let fast = resample_mono(ours.samples.clone(), ours.sample_rate, 22_050).unwrap();
    (reference, fast, ours)
}

/// The next value of a xorshift64 generator: the corrupt-packet tests' mutations.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// [`full_rate_mono`](super::reference::full_rate_mono) of a fixture that decodes.
pub fn symphonia_mono(bytes: &[u8]) -> (Vec<f32>, u32) {
    super::reference::full_rate_mono(bytes).unwrap()
}
