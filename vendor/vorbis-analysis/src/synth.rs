// Symphonia
// Copyright (c) 2019-2026 The Project Symphonia Developers.
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.
//
// Modified for debut (2026): one mono channel, half-size blocks. See README.md.

//! Inverse MDCT and overlap-add of one (mixed) channel at half the stream's rate: symphonia's
//! `DspChannel::synth` with every block size halved.
//!
//! A block of `n` samples at the stream's rate has `n / 2` spectral lines; its lower `n / 4`
//! lines through an `n / 4`-line IMDCT give `n / 2` samples at half the rate, which overlap
//! with the neighbouring blocks through the window of an `n / 2` block (the full-size window
//! sampled at every other point).

use symphonia_core::dsp::mdct::Imdct;

use super::window::Windows;

pub struct HalfRateSynth {
    /// Short and long block sizes at half rate.
    bs0: usize,
    bs1: usize,
    imdct_short: Imdct,
    imdct_long: Imdct,
    windows: Windows,
    /// The output of the IMDCT.
    imdct: Vec<f32>,
    /// Samples saved from the last IMDCT for overlap-add.
    overlap: Vec<f32>,
}

impl HalfRateSynth {
    /// For the stream's block size exponents (6..=13 each).
    pub fn new(bs0_exp: u8, bs1_exp: u8) -> Self {
        let bs0 = 1usize << (bs0_exp - 1);
        let bs1 = 1usize << (bs1_exp - 1);
        HalfRateSynth {
            bs0,
            bs1,
            imdct_short: Imdct::new(bs0 / 2),
            imdct_long: Imdct::new(bs1 / 2),
            windows: Windows::new(bs0, bs1),
            imdct: vec![0.0; bs1],
            overlap: vec![0.0; bs1 / 2],
        }
    }

    pub fn reset(&mut self) {
        self.overlap.fill(0.0);
    }

    /// Synthesises one block from `spec` (its lower half of lines, `bs / 2` of them at the
    /// half-rate block size `bs`) and appends `(prev_bs + bs) / 4` samples to `out`.
    pub fn synth(&mut self, block_flag: bool, prev_block_flag: bool, spec: &[f32], out: &mut Vec<f32>) {
        let (bs0, bs1) = (self.bs0, self.bs1);
        let bs = if block_flag { bs1 } else { bs0 };
        let prev_bs = if prev_block_flag { bs1 } else { bs0 };
        let imdct = if block_flag { &mut self.imdct_long } else { &mut self.imdct_short };

        // Perform the inverse MDCT on the audio spectrum.
        imdct.imdct(&spec[..bs / 2], &mut self.imdct[..bs]);

        let base = out.len();
        out.resize(base + (prev_bs + bs) / 4, 0.0);
        let buf = &mut out[base..];

        // Overlap-add and windowing with the previous buffer.
        let win = if block_flag && prev_block_flag { &self.windows.long } else { &self.windows.short };

        if prev_block_flag == block_flag {
            // Both the previous and current blocks are either short or long, or there was no
            // previous block. In the former case, there is a complete overlap, in the latter, the
            // current block will only be windowed.
            overlap_add(buf, &self.overlap[..bs / 2], &self.imdct[..bs / 2], win);
        } else if prev_block_flag && !block_flag {
            // The previous block is long and the current block is short.
            let start = (bs1 - bs0) / 4;
            let end = start + bs0 / 2;

            // Unity samples (no overlap).
            buf[..start].copy_from_slice(&self.overlap[..start]);

            // Overlapping samples.
            overlap_add(&mut buf[start..], &self.overlap[start..end], &self.imdct[..bs0 / 2], win);
        } else {
            // The previous block is short and the current block is long.
            let start = (bs1 - bs0) / 4;
            let end = start + bs0 / 2;

            // Overlapping samples.
            overlap_add(&mut buf[..bs0 / 2], &self.overlap[..bs0 / 2], &self.imdct[start..end], win);

            // Unity samples (no overlap).
            buf[bs0 / 2..].copy_from_slice(&self.imdct[end..bs1 / 2]);
        }

        // Save right-half of IMDCT buffer for later.
        self.overlap[..bs / 2].copy_from_slice(&self.imdct[bs / 2..bs]);
    }
}

#[inline(always)]
fn overlap_add(out: &mut [f32], left: &[f32], right: &[f32], win: &[f32]) {
    assert!(left.len() == right.len());
    assert!(left.len() == win.len());
    assert!(left.len() == out.len());

    let iter = left.iter().zip(right).zip(win.iter().rev()).zip(win).zip(out);

    for ((((&s0, &s1), &w0), &w1), out) in iter {
        *out = s0 * w0 + s1 * w1;
    }
}
