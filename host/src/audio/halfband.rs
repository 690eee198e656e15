//! Exact 2:1 decimation (44 100 -> 22 050 Hz, the common case) with a polyphase halfband FIR.
//!
//! The filter is a Kaiser-windowed sinc with its cutoff at a quarter of the input rate,
//! `4K - 1` (191) taps long, designed once in f64. A halfband filter's taps at even distances from
//! the centre are zero (except the centre, exactly 1/2) and it is symmetric, so one output is
//!
//! ```text
//! y[m] = x[2m] / 2 + sum_{k < K} c[k] * (x[2m - 2k - 1] + x[2m + 2k + 1])
//! ```
//!
//! that is [`K`] multiplies of pair sums over the odd-indexed input samples (the odd polyphase
//! branch) plus the centre tap on the even branch. The sum is centred on `x[2m]`, so the output
//! is aligned with the input (no group delay), and samples outside the input count as zero,
//! as in rubato's and librosa's (soxr's) resamplers.
//!
//! Response (checked by the tests): within ±1.1e-5 dB up to 10 kHz, at least 117.9 dB down from
//! 12 kHz (at 44.1 kHz in); the transition band is 10-12 kHz around the output Nyquist, the
//! region the parity bound against librosa leaves out.
//!
//! The input is split into its two branches a chunk of [`CHUNK`] outputs at a time, in
//! scratch that stays in L1, and the outputs are written back into the input's buffer. The
//! kernel computes [`BLOCK`] outputs at a time in fixed-size f32 arrays with plain
//! `a * b + c` (no `mul_add`), which LLVM vectorises; `multiversion` compiles it once more with
//! AVX2 and FMA enabled and picks that clone at run time where the CPU has them, so the binary
//! still runs on any x86-64 (and aarch64, where NEON is baseline). Each output lane sums its
//! terms in the same order on every path, so every clone gives bit-identical results. The loop
//! is bound by its unaligned loads, not arithmetic: FMA, and eight aligned shifted copies of the
//! window, measured no faster end to end.

use std::sync::LazyLock;

use multiversion::multiversion;

/// Nonzero taps on each side of the centre.
const K: usize = 48;
/// Kaiser window shape: trades the passband ripple and stopband floor (equal for a halfband)
/// against the transition width.
const BETA: f64 = 12.0;
/// Outputs per kernel step: four AVX2 registers of accumulators.
const BLOCK: usize = 32;
/// Odd-branch samples one block reads.
const WINDOW: usize = BLOCK + 2 * K - 1;

/// The filter's taps at odd offsets `2k + 1`, `k < K` (one side; the other mirrors it), in
/// f64, scaled so the DC gain is exactly one (the centre tap is 1/2, the sides sum to 1/2).
fn design() -> [f64; K] {
    let half = (2 * K) as f64; // the window reaches zero at the first (zero) tap past the end
    let i0_beta = bessel_i0(BETA);
    let mut c = [0.0f64; K];
    for (k, c) in c.iter_mut().enumerate() {
        let n = (2 * k + 1) as f64;
        let x = std::f64::consts::FRAC_PI_2 * n;
        let sinc = 0.5 * x.sin() / x;
        let r = n / half;
        *c = sinc * bessel_i0(BETA * (1.0 - r * r).sqrt()) / i0_beta;
    }
    let sum: f64 = c.iter().sum();
    c.map(|v| v * 0.25 / sum)
}

/// The modified Bessel function of the first kind, order zero (power series).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut sum, mut term) = (1.0f64, 1.0f64);
    for k in 1..500 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

static COEFFS: LazyLock<[f32; K]> = LazyLock::new(|| design().map(|c| c as f32));

/// Outputs per chunk. A chunk's odd-branch window and outputs live on the stack (about
/// 8.5 KB, in L1), and its outputs go back into the input's buffer, behind what later chunks
/// still read (which needs `CHUNK >= 2K`).
const CHUNK: usize = 1024;
/// Odd-branch samples one chunk reads.
const ODD: usize = CHUNK + 2 * K - 1;
const _: () = assert!(CHUNK >= 2 * K && CHUNK.is_multiple_of(BLOCK));

/// Halves the rate of `x`, reusing its buffer: `ceil(len / 2)` samples, output `m` at input
/// time `2m`.
pub(crate) fn decimate_by_2(mut x: Vec<f32>) -> Vec<f32> {
    let n_out = x.len().div_ceil(2);
    let n_odd = x.len() / 2;
    let mut odd = [0.0f32; ODD];
    let mut y = [0.0f32; CHUNK];
    for c0 in (0..n_out).step_by(CHUNK) {
        let n = CHUNK.min(n_out - c0);
        // The even branch, x[2m] for the chunk's outputs m: the centre tap's share.
        for (v, pair) in y[..n].iter_mut().zip(x[2 * c0..].chunks(2)) {
            *v = 0.5 * pair[0];
        }
        // The odd branch o[i] = x[2i + 1], window slot j holding i = c0 - K + j; zero outside
        // the input.
        let first = c0.saturating_sub(K);
        let end = (c0 + CHUNK + K - 1).min(n_odd).max(first);
        let lead = first + K - c0;
        let count = end - first;
        odd[..lead].fill(0.0);
        for (v, pair) in odd[lead..lead + count].iter_mut().zip(x[2 * first..].chunks_exact(2)) {
            *v = pair[1];
        }
        odd[lead + count..].fill(0.0);
        filter_chunk(&odd, &mut y, &COEFFS);
        x[c0..c0 + n].copy_from_slice(&y[..n]);
    }
    x.truncate(n_out);
    x.shrink_to_fit();
    x
}

/// Adds the odd branch's filtered pair sums to each output of a chunk.
#[multiversion(targets("x86_64+avx2+fma"))]
fn filter_chunk(odd: &[f32; ODD], y: &mut [f32; CHUNK], c: &[f32; K]) {
    filter_chunk_portable(odd, y, c)
}

/// The kernel, inlined into each of `filter_chunk`'s clones; callable directly (baseline
/// features only) so the tests can compare the paths.
#[inline(always)]
fn filter_chunk_portable(odd: &[f32; ODD], y: &mut [f32; CHUNK], c: &[f32; K]) {
    for (b, block) in y.chunks_exact_mut(BLOCK).enumerate() {
        let w: &[f32; WINDOW] = odd[b * BLOCK..b * BLOCK + WINDOW].try_into().unwrap();
        let mut acc = [0.0f32; BLOCK];
        for (k, &ck) in c.iter().enumerate() {
            // o[m - k - 1] = x[2m - 2k - 1] and o[m + k] = x[2m + 2k + 1] for the block's m.
            let before: &[f32; BLOCK] = w[K - 1 - k..K - 1 - k + BLOCK].try_into().unwrap();
            let after: &[f32; BLOCK] = w[K + k..K + k + BLOCK].try_into().unwrap();
            for i in 0..BLOCK {
                acc[i] += ck * (before[i] + after[i]);
            }
        }
        for (v, a) in block.iter_mut().zip(acc) {
            *v += a;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use super::*;
    use crate::audio::resample::{resample_mono, resample_rubato};

    /// Filter length, `4K - 1`: taps `-(2K - 1) ..= 2K - 1` around the centre.
    const TAPS: usize = 4 * K - 1;

    /// The same filter as a plain f64 convolution over the full tap array (zeros included),
    /// input zero-padded, output `m` centred on input `2m`.
    fn reference(input: &[f32]) -> Vec<f64> {
        let c = design();
        let half = (TAPS - 1) / 2;
        let mut h = vec![0.0f64; TAPS];
        h[half] = 0.5;
        for (k, &ck) in c.iter().enumerate() {
            h[half - 2 * k - 1] = ck;
            h[half + 2 * k + 1] = ck;
        }
        (0..input.len().div_ceil(2))
            .map(|m| {
                (0..TAPS)
                    .filter_map(|t| {
                        let i = (2 * m + t).checked_sub(half)?;
                        input.get(i).map(|&x| h[t] * f64::from(x))
                    })
                    .sum()
            })
            .collect()
    }

    /// xorshift* uniform in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                let v = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                (v as f64 / (1u64 << 23) as f64 - 1.0) as f32
            })
            .collect()
    }

    fn sine(n: usize, hz: f64, rate: f64, amp: f64) -> Vec<f32> {
        (0..n).map(|i| (amp * (2.0 * PI * hz * i as f64 / rate).sin()) as f32).collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// |H(f)| in dB of the f64 design, `f` in Hz at 44.1 kHz in.
    fn response_db(c: &[f64; K], f: f64) -> f64 {
        let w = 2.0 * PI * f / 44_100.0;
        let h = 0.5 + c.iter().enumerate().map(|(k, &ck)| 2.0 * ck * (w * (2 * k + 1) as f64).cos()).sum::<f64>();
        20.0 * h.abs().log10()
    }

    #[test]
    fn design_is_flat_to_10_khz_and_117_9_db_down_from_12_khz() {
        let c = design();
        assert!((c.iter().sum::<f64>() - 0.25).abs() < 1e-15, "DC gain is not one");
        let pass = (0..=2000).map(|i| response_db(&c, i as f64 * 5.0).abs()).fold(0.0, f64::max);
        let stop = (0..=5025).map(|i| response_db(&c, 12_000.0 + i as f64 * 2.0)).fold(f64::MIN, f64::max);
        eprintln!("passband (0-10 kHz) within ±{pass:.2e} dB, stopband (12-22.05 kHz) at most {stop:.1} dB");
        assert!(pass < 2e-5, "passband ripple {pass} dB");
        assert!(stop < -117.9, "stopband {stop} dB");
        // Halfband: -6.02 dB at the output Nyquist (the response is symmetric about it).
        assert!((response_db(&c, 11_025.0) + 6.0206).abs() < 1e-3);
    }

    #[test]
    fn matches_the_f64_reference_for_many_lengths() {
        for len in [1usize, 2, 3, 5, 63, 64, 65, 191, 1000, 2048, 2049, 4097, 6145] {
            let x = noise(len, len as u64);
            let y = decimate_by_2(x.clone());
            let r = reference(&x);
            assert_eq!(y.len(), r.len());
            let max = y.iter().zip(&r).map(|(&a, &b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
            assert!(max < 1e-6, "len {len}: max |diff| {max} against the f64 reference");
        }
    }

    #[test]
    fn the_dispatched_kernel_equals_the_portable_one_bit_for_bit() {
        let odd: [f32; ODD] = noise(ODD, 11).try_into().unwrap();
        let y0: [f32; CHUNK] = noise(CHUNK, 12).try_into().unwrap();
        let (mut a, mut b) = (y0, y0);
        filter_chunk(&odd, &mut a, &COEFFS);
        filter_chunk_portable(&odd, &mut b, &COEFFS);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }

    #[test]
    fn output_lengths_are_ceil_half_and_tiny_inputs_work() {
        for len in 0..=9 {
            let x = vec![1.0f32; len];
            assert_eq!(decimate_by_2(x.clone()).len(), len.div_ceil(2), "len {len}");
            assert_eq!(resample_mono(x, 44_100, 22_050).unwrap().len(), len.div_ceil(2), "len {len}");
        }
        assert_eq!(decimate_by_2(vec![0.8]), vec![0.4]);
        let two = decimate_by_2(vec![0.8, -0.2]);
        assert_eq!(two.len(), 1);
        assert!((f64::from(two[0]) - (0.4 - 0.2 * design()[0])).abs() < 1e-7);
        let three = decimate_by_2(vec![0.8, -0.2, 0.6]);
        let r = reference(&[0.8, -0.2, 0.6]);
        assert!(three.iter().zip(&r).all(|(&a, &b)| (f64::from(a) - b).abs() < 1e-7));
    }

    #[test]
    fn a_5_khz_sine_passes_within_0_1_db_and_in_phase() {
        let x = sine(44_100, 5_000.0, 44_100.0, 0.5);
        let y = decimate_by_2(x.clone());
        let ideal = sine(22_050, 5_000.0, 22_050.0, 0.5);
        let (a, b) = (&y[2 * K..y.len() - 2 * K], &ideal[2 * K..ideal.len() - 2 * K]);
        let gain_db = 20.0 * (rms(a) / rms(b)).log10();
        let err = a.iter().zip(b).map(|(&p, &q)| f64::from(p - q).abs()).fold(0.0, f64::max);
        eprintln!("5 kHz: gain {gain_db:+.2e} dB, max |y - ideal| {err:.2e}");
        assert!(gain_db.abs() < 0.1, "5 kHz gain {gain_db} dB");
        assert!(err < 1e-4, "5 kHz sine off its ideal samples by {err} (misaligned?)");
    }

    #[test]
    fn a_12_khz_sine_above_the_output_nyquist_is_over_110_db_down() {
        let x = sine(44_100, 12_000.0, 44_100.0, 0.5);
        let y = decimate_by_2(x.clone());
        let steady = &y[2 * K..y.len() - 2 * K];
        let attenuation = 20.0 * (rms(&x) / rms(steady)).log10();
        eprintln!("12 kHz: {attenuation:.1} dB down");
        assert!(attenuation >= 110.0, "12 kHz only {attenuation} dB down");
    }

    #[test]
    fn impulses_and_transients_land_where_rubato_puts_them() {
        let n = 8_192;
        for at in [2_000usize, 2_001, 4_096, 4_097] {
            let mut x = vec![0.0f32; n];
            x[at] = 1.0;
            let ours = decimate_by_2(x.clone());
            let theirs = resample_rubato(x, 44_100, 22_050).unwrap();
            assert_eq!(ours.len(), theirs.len());
            let argmax = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap();
            // The energy centroid: sub-sample position of the impulse response.
            let centroid = |v: &[f32]| {
                let e: f64 = v.iter().map(|&s| f64::from(s).powi(2)).sum();
                v.iter().enumerate().map(|(i, &s)| i as f64 * f64::from(s).powi(2)).sum::<f64>() / e
            };
            let (c_ours, c_theirs) = (centroid(&ours), centroid(&theirs));
            eprintln!(
                "impulse at {at}: centroid ours {c_ours:.4}, rubato {c_theirs:.4}, input time {}",
                at as f64 / 2.0
            );
            assert!((c_ours - at as f64 / 2.0).abs() < 1e-9, "halfband impulse response not centred");
            assert!((c_ours - c_theirs).abs() < 0.01, "halfband and rubato disagree on the impulse's time");
            if at % 2 == 0 {
                assert_eq!(argmax(&ours), at / 2);
                assert_eq!(argmax(&theirs), at / 2);
            }
        }
        // A band-limited transient (a Hann-windowed burst of tones below 9 kHz): the two
        // resamplers' outputs agree sample by sample, which they would not if either lagged.
        let mut x = vec![0.0f32; n];
        for (i, v) in x.iter_mut().enumerate().skip(3_000).take(1_024) {
            let t = (i - 3_000) as f64 / 1_024.0;
            let env = 0.5 - 0.5 * (2.0 * PI * t).cos();
            let s: f64 =
                [440.0, 2_500.0, 6_100.0, 8_800.0].iter().map(|&f| (2.0 * PI * f * i as f64 / 44_100.0).sin()).sum();
            *v = (0.2 * env * s) as f32;
        }
        let ours = decimate_by_2(x.clone());
        let theirs = resample_rubato(x, 44_100, 22_050).unwrap();
        let max = ours.iter().zip(&theirs).map(|(&a, &b)| f64::from(a - b).abs()).fold(0.0, f64::max);
        eprintln!("windowed burst: max |halfband - rubato| {max:.2e} (peak 0.8)");
        assert!(max < 1e-3, "halfband and rubato differ by {max} on a band-limited transient");
    }
}
