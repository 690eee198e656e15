//! Polyphase synthesis at half the stream's rate, for the lower 16 subbands.
//!
//! This is minimp3's 32-band synthesis (`mp3d_synth_granule`) with the upper 16 subbands
//! zero, computing every second output sample only (mpg123's idea for its 2:1 synthesis;
//! no mpg123 code is used). Each output it does compute is the same sum, in the same order,
//! as minimp3's, so it is bit-identical to the full-rate synthesis' sample `2n + phase`
//! (a test checks this). Taking every second sample aliases what the filterbank leaks above
//! a quarter of the stream's rate (the top of subband 15's transition band) into the top
//! few hundred hertz below it; the analysis leaves that region out.
//!
//! Why it is cheaper than a quarter of the stereo synthesis:
//! - the matrixing (a 32-point DCT-II per time slot) only needs its even outputs for even
//!   samples and its odd outputs for odd ones, which are two of its four 8-point stages;
//! - minimp3 keeps the filterbank history in rows of four lanes (left and right of two
//!   time slots) and computes 15 rows per slot pair. One phase of the output only reads 8 of
//!   a block's 16 rows (odd rows for even samples, even rows for odd ones), so only those are
//!   kept, two lanes each (the two time slots of a mono stream), and two rows share one
//!   four-lane vector.

use super::super::lanes::{Lanes, F4};
use super::super::tables::{MP3D_DCT_II_G_SEC, MP3D_SYNTH_G_WIN};

/// Rows kept per 16-row block of minimp3's history, two lanes each.
const BLOCK: usize = 16;
/// Blocks one granule touches (minimp3's `(18 + 15) * 2 * 32` floats in rows of 4).
const BLOCKS: usize = 33;
/// Blocks carried from one granule to the next (minimp3's `qmf_state`).
const STATE_BLOCKS: usize = 15;

/// The half-rate synthesis of one mono stream, and its history.
#[derive(Clone)]
pub(crate) struct HalfSynth {
    /// 0: output samples 0, 2, 4, ... of each granule; 1: samples 1, 3, 5, ...
    phase: usize,
    history: [f32; STATE_BLOCKS * BLOCK],
    v: [f32; BLOCKS * BLOCK],
    /// Window taps for each group of two rows, per lane: `[group][k]` for minimp3's
    /// `w[2k]` (`w0`) and `w[2k + 1]` (`w1`).
    w0: [[[f32; 4]; 8]; 4],
    w1: [[[f32; 4]; 8]; 4],
}

impl HalfSynth {
    pub(crate) fn new(phase: usize) -> Self {
        let phase = phase & 1;
        let (mut w0, mut w1) = ([[[0.0; 4]; 8]; 4], [[[0.0; 4]; 8]; 4]);
        for g in 0..4 {
            for lane in 0..4 {
                // Kept row q holds minimp3's row `2q + 1 - phase` of each block.
                let row = 2 * (2 * g + lane / 2) + 1 - phase;
                if row == 15 {
                    continue; // row 15 has its own sum (`synth_pair`), not a window
                }
                let w = &MP3D_SYNTH_G_WIN[(14 - row) * 16..][..16];
                for k in 0..8 {
                    w0[g][k][lane] = w[2 * k];
                    w1[g][k][lane] = w[2 * k + 1];
                }
            }
        }
        Self { phase, history: [0.0; STATE_BLOCKS * BLOCK], v: [0.0; BLOCKS * BLOCK], w0, w1 }
    }

    pub(crate) fn reset(&mut self) {
        self.history = [0.0; STATE_BLOCKS * BLOCK];
    }

    /// Synthesises one granule: `x` holds 16 subbands of 18 time slots (`x[18 * band + slot]`,
    /// overwritten), `out` receives 288 samples.
    pub(crate) fn granule(&mut self, x: &mut [f32; 16 * 18], out: &mut [f32; 288]) {
        let phase = self.phase;
        let mut k = 0;
        while k + 4 <= 18 {
            dct_half::<F4>(x, k, phase);
            k += 4;
        }
        while k < 18 {
            dct_half::<f32>(x, k, phase);
            k += 1;
        }
        // `x[18 * j + slot]` is now the matrixing's output `2j + phase` of each slot.
        let d = |j: usize, slot: usize| x[18 * j + slot];

        let v = &mut self.v;
        v[..STATE_BLOCKS * BLOCK].copy_from_slice(&self.history);
        for p in 0..9 {
            let (e, o) = (2 * p, 2 * p + 1);
            let full = (2 * p + 15) * BLOCK; // minimp3's `zlin` block of this slot pair
            let next = full + BLOCK;
            let prev = full - BLOCK;
            for q in 0..8 {
                if phase == 0 && q == 7 {
                    // Row 15: outputs 16 and 0 of each slot.
                    v[full + 2 * q] = d(8, e);
                    v[full + 2 * q + 1] = d(0, e);
                    v[next + 2 * q] = d(8, o);
                    v[next + 2 * q + 1] = d(0, o);
                } else {
                    let (jz, jy) = (15 - q, q + 1 - phase);
                    v[full + 2 * q] = d(jz, e);
                    v[full + 2 * q + 1] = d(jz, o);
                    v[next + 2 * q] = d(jy, o);
                    v[prev + 2 * q + 1] = d(jy, e);
                }
            }
        }
        for p in 0..9 {
            let out = &mut out[32 * p..32 * p + 32];
            let base = 2 * p * BLOCK;
            for g in 0..4 {
                if phase == 0 && g == 3 {
                    self.rows_pair::<true>(base, g, out);
                } else {
                    self.rows_pair::<false>(base, g, out);
                }
            }
            if phase == 0 {
                // minimp3's `mp3d_synth_pair` for both slots: samples 0 and 16.
                let (a, b) = synth_pair(&self.v, base);
                out[0] = a * (1.0 / 32768.0);
                out[8] = b * (1.0 / 32768.0);
                let (a, b) = synth_pair(&self.v, base + BLOCK);
                out[16] = a * (1.0 / 32768.0);
                out[24] = b * (1.0 / 32768.0);
            }
        }
        self.history.copy_from_slice(&self.v[18 * BLOCK..]);
    }

    /// The windowed sums of kept rows `2g` and `2g + 1` for the slot pair whose history
    /// starts at `base`: minimp3's loop body for its rows `i`, written to `out` (16 samples
    /// per slot). With `LAST_IS_PAIR`, the second row is row 15 and is skipped.
    #[inline(always)]
    fn rows_pair<const LAST_IS_PAIR: bool>(&self, base: usize, g: usize, out: &mut [f32]) {
        let v = &self.v;
        let vz = |k: usize| F4::load(&v[base + (15 - k) * BLOCK + 4 * g..]);
        let vy = |k: usize| F4::load(&v[base + k * BLOCK + 4 * g..]);
        let w0 = |k: usize| F4::load(&self.w0[g][k]);
        let w1 = |k: usize| F4::load(&self.w1[g][k]);
        let mut b = vz(0) * w1(0) + vy(0) * w0(0);
        let mut a = vz(0) * w0(0) - vy(0) * w1(0);
        for k in [1, 3, 5, 7] {
            b += vz(k) * w1(k) + vy(k) * w0(k);
            a += vy(k) * w1(k) - vz(k) * w0(k);
            if k < 7 {
                let k = k + 1;
                b += vz(k) * w1(k) + vy(k) * w0(k);
                a += vz(k) * w0(k) - vy(k) * w1(k);
            }
        }
        let (a, b) = (a.to_array(), b.to_array());
        let rows = if LAST_IS_PAIR { 1 } else { 2 };
        for r in 0..rows {
            let i = 2 * (2 * g + r) + 1 - self.phase;
            // Sample 15 - i and 17 + i of the even slot (lane 2r) and the odd one (2r + 1).
            let (lo, hi) = ((15 - i) / 2, (17 + i) / 2);
            out[lo] = a[2 * r] * (1.0 / 32768.0);
            out[hi] = b[2 * r] * (1.0 / 32768.0);
            out[16 + lo] = a[2 * r + 1] * (1.0 / 32768.0);
            out[16 + hi] = b[2 * r + 1] * (1.0 / 32768.0);
        }
    }
}

/// minimp3's `mp3d_synth_pair` on kept row 7 (row 15) of the blocks from `base`: the two
/// samples of one slot it writes to `pcm[0]` and `pcm[16]`.
#[inline(always)]
fn synth_pair(v: &[f32], base: usize) -> (f32, f32) {
    let x = |m: usize| v[base + m * BLOCK + 14];
    let mut a;
    a = (x(14) - x(0)) * 29.0;
    a += (x(1) + x(13)) * 213.0;
    a += (x(12) - x(2)) * 459.0;
    a += (x(3) + x(11)) * 2037.0;
    a += (x(10) - x(4)) * 5153.0;
    a += (x(5) + x(9)) * 6574.0;
    a += (x(8) - x(6)) * 37489.0;
    a += x(7) * 75038.0;
    let first = a;

    let x = |m: usize| v[base + m * BLOCK + 15];
    a = x(14) * 104.0;
    a += x(12) * 1567.0;
    a += x(10) * 9727.0;
    a += x(8) * 64019.0;
    a += x(6) * -9975.0;
    a += x(4) * -45.0;
    a += x(2) * 146.0;
    a += x(0) * -5.0;
    (first, a)
}

/// minimp3's `mp3d_dct_ii_cols` (the 32-point matrixing of `T::N` time slots from `k`) with
/// subbands 16-31 zero, computing only the outputs `2j + phase` (`j < 16`), stored at
/// `x[k + 18 * j]`. Even outputs come from its first two 8-point stages, odd ones from the
/// other two.
#[inline(always)]
fn dct_half<T: Lanes>(x: &mut [f32; 16 * 18], k: usize, phase: usize) {
    let c = T::splat;
    let sec = &MP3D_DCT_II_G_SEC;
    // With x2 = x3 = 0, minimp3's t0 = x0 + x3 and t1 = x1 + x2 are x0 and x1 exactly.
    let mut t = [[c(0.0); 8]; 2];
    for i in 0..8 {
        let x0 = T::load(&x[k + i * 18..]);
        let x1 = T::load(&x[k + (15 - i) * 18..]);
        if phase == 0 {
            t[0][i] = x0 + x1;
            t[1][i] = (x0 - x1) * c(sec[3 * i + 2]);
        } else {
            let t2 = x1 * c(sec[3 * i]);
            let t3 = x0 * c(sec[3 * i + 1]);
            t[0][i] = t3 + t2;
            t[1][i] = (t3 - t2) * c(sec[3 * i + 2]);
        }
    }
    for x in &mut t {
        dct8(x);
    }
    let mut put = |j: usize, value: T| value.store(&mut x[k + 18 * j..]);
    let [s0, s1] = t;
    if phase == 0 {
        // minimp3: out[4i] = t0[i], out[4i + 2] = t1[i] + t1[i + 1], out[30] = t1[7].
        for i in 0..7 {
            put(2 * i, s0[i]);
            put(2 * i + 1, s1[i] + s1[i + 1]);
        }
        put(14, s0[7]);
        put(15, s1[7]);
    } else {
        // minimp3: out[4i + 1] = t2[i] + t3[i] + t3[i + 1],
        // out[4i + 3] = t2[i + 1] + t3[i] + t3[i + 1], out[29] = t2[7] + t3[7], out[31] = t3[7].
        for i in 0..7 {
            put(2 * i, s0[i] + s1[i] + s1[i + 1]);
            put(2 * i + 1, s0[i + 1] + s1[i] + s1[i + 1]);
        }
        put(14, s0[7] + s1[7]);
        put(15, s1[7]);
    }
}

/// The 8-point stage of minimp3's `mp3d_dct_ii_cols`, in place.
#[inline(always)]
fn dct8<T: Lanes>(x: &mut [T; 8]) {
    let c = T::splat;
    let [mut x0, mut x1, mut x2, mut x3, mut x4, mut x5, mut x6, mut x7] = *x;
    let mut xt = x0 - x7;
    x0 += x7;
    x7 = x1 - x6;
    x1 += x6;
    x6 = x2 - x5;
    x2 += x5;
    x5 = x3 - x4;
    x3 += x4;
    x4 = x0 - x3;
    x0 += x3;
    x3 = x1 - x2;
    x1 += x2;
    x[0] = x0 + x1;
    x[4] = (x0 - x1) * c(0.70710677);
    x5 += x6;
    x6 = (x6 + x7) * c(0.70710677);
    x7 += xt;
    x3 = (x3 + x4) * c(0.70710677);
    x5 -= x7 * c(0.198912367); // rotate by PI/8
    x7 += x5 * c(0.382683432);
    x5 -= x7 * c(0.198912367);
    x0 = xt - x6;
    xt += x6;
    x[1] = (xt + x7) * c(0.50979561);
    x[2] = (x4 + x3) * c(0.54119611);
    x[3] = (x0 - x5) * c(0.60134488);
    x[5] = (x0 + x5) * c(0.89997619);
    x[6] = (x4 - x3) * c(1.30656302);
    x[7] = (xt - x7) * c(2.56291556);
}
