//! Native CPU kernels for the spectrogram: real FFT per frame (realfft/rustfft), sparse mel
//! projection, dB. Frames are split across rayon's pool in blocks large enough to amortise
//! the scheduling; a one-thread pool runs the same code serially.

use std::sync::Arc;

use rayon::prelude::*;
use realfft::{RealFftPlanner, RealToComplex};

use super::{MelPlan, MelSpectrogram, PowerSpectrogram};

/// Frames per parallel task: ~64 KB of output, enough to hide the task overhead.
const FRAMES_PER_TASK: usize = 32;

/// A cached FFT plan for one `n_fft`.
pub struct CpuStft {
    fft: Arc<dyn RealToComplex<f32>>,
}

impl CpuStft {
    pub fn new(n_fft: usize) -> Self {
        Self { fft: RealFftPlanner::<f32>::new().plan_fft_forward(n_fft) }
    }

    /// Centred, zero-padded, Hann-windowed power spectrogram (frame-major).
    pub fn power(&self, plan: &MelPlan, samples: &[f32]) -> PowerSpectrogram {
        let p = &plan.params;
        let (n_fft, hop, n_bins) = (p.n_fft, p.hop, p.n_bins());
        let n_frames = p.n_frames(samples.len());
        let mut data = vec![0.0f32; n_frames * n_bins];
        data.par_chunks_mut(FRAMES_PER_TASK * n_bins).enumerate().for_each(|(task, out)| {
            let mut input = self.fft.make_input_vec();
            let mut spectrum = self.fft.make_output_vec();
            let mut scratch = self.fft.make_scratch_vec();
            for (i, row) in out.chunks_mut(n_bins).enumerate() {
                let frame = task * FRAMES_PER_TASK + i;
                frame_into(samples, frame * hop, n_fft, &plan.window, &mut input);
                self.fft
                    .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                    .expect("buffer sizes come from the plan");
                for (o, c) in row.iter_mut().zip(&spectrum) {
                    *o = c.re * c.re + c.im * c.im;
                }
            }
        });
        PowerSpectrogram { n_frames, n_bins, data }
    }
}

/// Copies the window of `n_fft` samples centred on `centre` (frame start in padded
/// coordinates), zero outside the signal, multiplied by `window`.
fn frame_into(samples: &[f32], padded_start: usize, n_fft: usize, window: &[f32], out: &mut [f32]) {
    let half = n_fft / 2;
    // Sample index of out[0] is padded_start - half (may be negative).
    let lo = half.saturating_sub(padded_start); // first tap inside the signal
    let first_sample = (padded_start + lo) - half;
    let avail = samples.len().saturating_sub(first_sample);
    let hi = (lo + avail).min(n_fft);
    out[..lo].fill(0.0);
    if hi > lo {
        for ((o, s), w) in out[lo..hi].iter_mut().zip(&samples[first_sample..]).zip(&window[lo..hi]) {
            *o = s * w;
        }
    }
    out[hi.max(lo)..].fill(0.0);
}

/// Mel projection and dB: `10 log10(max(fb . power, amin))`, band-major output.
pub fn mel_db(plan: &MelPlan, power: &PowerSpectrogram) -> MelSpectrogram {
    let fb = &plan.filterbank;
    let n_frames = power.n_frames;
    let n_bins = power.n_bins;
    assert_eq!(n_bins, fb.n_bins, "power spectrogram and filterbank disagree on bins");
    let amin = plan.params.amin;
    let mut data = vec![0.0f32; fb.n_mels * n_frames];
    data.par_chunks_mut(n_frames).enumerate().for_each(|(m, row)| {
        let (start, w) = fb.band(m);
        for (t, o) in row.iter_mut().enumerate() {
            let bins = &power.data[t * n_bins + start..t * n_bins + start + w.len()];
            let s: f32 = bins.iter().zip(w).map(|(p, w)| p * w).sum();
            *o = 10.0 * s.max(amin).log10();
        }
    });
    MelSpectrogram { n_mels: fb.n_mels, n_frames, data }
}
