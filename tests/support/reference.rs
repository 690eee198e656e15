//! Plain f64 reference implementations: direct formulas, no FFT, no tricks. Slow and obvious
//! on purpose; every CPU and WGSL kernel is compared with these.

use std::f64::consts::PI;

/// Centred, zero-padded, periodic-Hann power spectrogram by direct DFT; frame-major.
pub fn stft_power(samples: &[f32], n_fft: usize, hop: usize) -> Vec<Vec<f64>> {
    let n_frames = 1 + samples.len() / hop;
    let half = n_fft as i64 / 2;
    let window: Vec<f64> = (0..n_fft).map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n_fft as f64).cos()).collect();
    let (cos, sin): (Vec<f64>, Vec<f64>) =
        (0..n_fft).map(|j| 2.0 * PI * j as f64 / n_fft as f64).map(|a| (a.cos(), a.sin())).unzip();
    (0..n_frames)
        .map(|f| {
            let frame: Vec<f64> = (0..n_fft)
                .map(|i| {
                    let s = (f * hop) as i64 + i as i64 - half;
                    if s >= 0 && (s as usize) < samples.len() {
                        f64::from(samples[s as usize]) * window[i]
                    } else {
                        0.0
                    }
                })
                .collect();
            (0..=n_fft / 2)
                .map(|k| {
                    let (mut re, mut im) = (0.0, 0.0);
                    for (i, x) in frame.iter().enumerate() {
                        let j = (i * k) % n_fft;
                        re += x * cos[j];
                        im -= x * sin[j];
                    }
                    re * re + im * im
                })
                .collect()
        })
        .collect()
}

/// librosa's Slaney filterbank in f64, dense `[n_mels][n_bins]`, from the formulas.
pub fn slaney_filterbank(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<Vec<f64>> {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |f: f64| if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp };
    let mel_to_hz = |m: f64| if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m };
    let n_bins = n_fft / 2 + 1;
    let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let pts: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();
    (0..n_mels)
        .map(|m| {
            (0..n_bins)
                .map(|k| {
                    let f = k as f64 * sr / n_fft as f64;
                    let lower = (f - pts[m]) / (pts[m + 1] - pts[m]);
                    let upper = (pts[m + 2] - f) / (pts[m + 2] - pts[m + 1]);
                    lower.min(upper).max(0.0) * 2.0 / (pts[m + 2] - pts[m])
                })
                .collect()
        })
        .collect()
}

/// `10 log10(max(fb . power, amin))`, band-major `[n_mels][n_frames]`.
pub fn mel_db(power: &[Vec<f64>], fb: &[Vec<f64>], amin: f64) -> Vec<Vec<f64>> {
    fb.iter()
        .map(|band| {
            power
                .iter()
                .map(|frame| {
                    let s: f64 = band.iter().zip(frame).map(|(w, p)| w * p).sum();
                    10.0 * s.max(amin).log10()
                })
                .collect()
        })
        .collect()
}
