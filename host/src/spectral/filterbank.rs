//! The Slaney-style mel filterbank (librosa `filters.mel(htk=False, norm="slaney")`), stored
//! sparsely: each band is a contiguous run of FFT bins.

use super::MelParams;

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney's mel scale: linear below 1 kHz, logarithmic above.
pub fn hz_to_mel_slaney(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ { MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step() } else { hz / F_SP }
}

pub fn mel_to_hz_slaney(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL { MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp() } else { F_SP * mel }
}

/// Sparse mel filterbank: band `m` covers bins `start[m] .. start[m] + len[m]` with weights
/// `weights[offset[m] ..]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilterbank {
    pub n_mels: usize,
    pub n_bins: usize,
    pub start: Vec<u32>,
    pub len: Vec<u32>,
    pub offset: Vec<u32>,
    pub weights: Vec<f32>,
}

impl MelFilterbank {
    /// Builds the filterbank in f64 exactly as librosa does, then stores f32 weights (librosa's
    /// default dtype).
    pub fn slaney(p: &MelParams) -> Self {
        let dense = dense_slaney(p);
        let n_bins = p.n_bins();
        let (mut start, mut len, mut offset, mut weights) = (vec![], vec![], vec![], vec![]);
        for row in dense.chunks(n_bins) {
            let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last = row.iter().rposition(|&w| w > 0.0).map_or(first, |l| l + 1);
            start.push(first as u32);
            len.push((last - first) as u32);
            offset.push(weights.len() as u32);
            weights.extend(row[first..last].iter().map(|&w| w as f32));
        }
        Self { n_mels: p.n_mels, n_bins, start, len, offset, weights }
    }

    /// The weights of band `m` and the first bin they apply to.
    pub fn band(&self, m: usize) -> (usize, &[f32]) {
        let o = self.offset[m] as usize;
        (self.start[m] as usize, &self.weights[o..o + self.len[m] as usize])
    }

    /// Dense `[n_mels, n_bins]` copy (for references and exports).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0; self.n_mels * self.n_bins];
        for m in 0..self.n_mels {
            let (s, w) = self.band(m);
            dense[m * self.n_bins + s..m * self.n_bins + s + w.len()].copy_from_slice(w);
        }
        dense
    }
}

/// librosa.filters.mel in f64, dense `[n_mels, n_bins]`.
fn dense_slaney(p: &MelParams) -> Vec<f64> {
    let n_bins = p.n_bins();
    let sr = f64::from(p.sample_rate);
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * sr / p.n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel_slaney(p.fmin), hz_to_mel_slaney(p.fmax));
    let n_pts = p.n_mels + 2;
    let mel_f: Vec<f64> =
        (0..n_pts).map(|i| mel_to_hz_slaney(lo + (hi - lo) * i as f64 / (n_pts - 1) as f64)).collect();
    let mut w = vec![0.0; p.n_mels * n_bins];
    for m in 0..p.n_mels {
        let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (f2 - f0);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - f0) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            w[m * n_bins + k] = lower.min(upper).max(0.0) * enorm;
        }
    }
    w
}
