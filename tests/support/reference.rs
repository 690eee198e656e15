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

/// `[channels][batch][time]` in f64.
pub type Act = Vec<Vec<Vec<f64>>>;

pub fn act_from(x: &debut::nn::Activations) -> Act {
    (0..x.channels)
        .map(|c| (0..x.batch).map(|b| (0..x.time).map(|t| f64::from(x.get(c, b, t))).collect()).collect())
        .collect()
}

pub fn normalize_channels(x: &Act, mean: &[f32], std: &[f32]) -> Act {
    x.iter()
        .enumerate()
        .map(|(c, rows)| {
            rows.iter().map(|r| r.iter().map(|v| (v - f64::from(mean[c])) / f64::from(std[c])).collect()).collect()
        })
        .collect()
}

/// 'Same' Conv1d, tap-major weights `[k][out][in]` (debut's in-memory layout).
pub fn conv1d(x: &Act, c_out: usize, k: usize, w: &[f32], bias: &[f32], relu: bool) -> Act {
    let c_in = x.len();
    let (batch, time) = (x[0].len(), x[0][0].len());
    let pad = (k / 2) as i64;
    (0..c_out)
        .map(|o| {
            (0..batch)
                .map(|b| {
                    (0..time)
                        .map(|t| {
                            let mut s = f64::from(bias[o]);
                            for i in 0..c_in {
                                for kk in 0..k {
                                    let tt = t as i64 + kk as i64 - pad;
                                    if tt >= 0 && (tt as usize) < time {
                                        s += f64::from(w[(kk * c_out + o) * c_in + i]) * x[i][b][tt as usize];
                                    }
                                }
                            }
                            if relu { s.max(0.0) } else { s }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

pub fn max_pool(x: &Act, pool: usize) -> Act {
    x.iter()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (0..r.len() / pool)
                        .map(|u| r[u * pool..(u + 1) * pool].iter().cloned().fold(f64::MIN, f64::max))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Mean over time: `[c][b]`.
pub fn mean_time(x: &Act) -> Vec<Vec<f64>> {
    x.iter().map(|rows| rows.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).collect()).collect()
}

/// `W x + b` for x `[d_in][batch]`.
pub fn dense(x: &[Vec<f64>], d_out: usize, w: &[f32], bias: &[f32], relu: bool) -> Vec<Vec<f64>> {
    let (d_in, batch) = (x.len(), x[0].len());
    (0..d_out)
        .map(|o| {
            (0..batch)
                .map(|b| {
                    let s: f64 =
                        (0..d_in).map(|i| f64::from(w[o * d_in + i]) * x[i][b]).sum::<f64>() + f64::from(bias[o]);
                    if relu { s.max(0.0) } else { s }
                })
                .collect()
        })
        .collect()
}

/// The audio tower in f64: `[embedding_dim][batch]`.
pub fn audio_tower(tower: &debut::nn::AudioTower, x: &debut::nn::Activations) -> Vec<Vec<f64>> {
    let mut h = normalize_channels(&act_from(x), &tower.input_mean, &tower.input_std);
    for conv in &tower.convs {
        h = conv1d(&h, conv.c_out, conv.k, &conv.weight, &conv.bias, true);
        h = max_pool(&h, tower.spec.pool);
    }
    dense(&mean_time(&h), tower.fc.d_out, &tower.fc.weight, &tower.fc.bias, false)
}

/// Per-track L2-normalised means of window embeddings `[d][windows]` -> `[d][tracks]`.
pub fn track_embeddings(per_window: &[Vec<f64>], offsets: &[usize]) -> Vec<Vec<f64>> {
    let d = per_window.len();
    let tracks = offsets.len() - 1;
    let mut out = vec![vec![0.0; tracks]; d];
    for s in 0..tracks {
        let n = (offsets[s + 1] - offsets[s]) as f64;
        let mean: Vec<f64> =
            (0..d).map(|r| per_window[r][offsets[s]..offsets[s + 1]].iter().sum::<f64>() / n).collect();
        let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        for r in 0..d {
            out[r][s] = mean[r] / norm;
        }
    }
    out
}
