// Symphonia
// Copyright (c) 2019-2026 The Project Symphonia Developers.
//
// Previous Author: Kostya Shishkov <kostya.shiskov@gmail.com>
//
// This source file includes code originally written for the NihAV
// project. With the author's permission, it has been relicensed for,
// and ported to the Symphonia project.
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.
//
// Modified for debut (2026): half-size blocks, contributions added into a shared output and
// overlap (symphonia's `dsp.rs`). See README.md.

//! Inverse MDCT and windowing of one frame at half the stream's rate: symphonia's `Dsp::synth`
//! with every size halved.
//!
//! A long block's lower 512 of its 1024 lines through a 512-line IMDCT (the same scale) give
//! the full-size transform's output at every other sample, band-limited to the lower half;
//! each of the eight short blocks keeps its lower 64 of 128 lines. The half-size windows are
//! the same KBD and sine shapes at half the length (KBD's shape does not depend on it).
//!
//! The synthesis is linear in the spectrum, so it *adds*: a frame's first half into `out`
//! and the half kept for the next frame's overlap into `overlap`. Channels sharing window
//! sequence and shapes are mixed before one call; channels that do not get a call each.

use symphonia_core::dsp::mdct::Imdct;

use crate::common::*;
use crate::window::*;

/// Half-rate samples per frame.
pub const FRAME: usize = 512;
const SHORT: usize = 64;
const SHORT_WIN_POINT0: usize = (FRAME - SHORT) / 2;
const SHORT_WIN_POINT1: usize = (FRAME + SHORT) / 2;

pub struct HalfRateSynth {
    kbd_long_win: [f32; FRAME],
    kbd_short_win: [f32; SHORT],
    sine_long_win: [f32; FRAME],
    sine_short_win: [f32; SHORT],
    imdct_long: Imdct,
    imdct_short: Imdct,
    pcm_long: [f32; 2 * FRAME],
    pcm_short: [f32; 9 * SHORT],
}

impl HalfRateSynth {
    pub fn new() -> Self {
        let mut kbd_long_win = [0.0; FRAME];
        let mut kbd_short_win = [0.0; SHORT];
        generate_window(WindowType::KaiserBessel(4.0), 1.0, FRAME, true, &mut kbd_long_win);
        generate_window(WindowType::KaiserBessel(6.0), 1.0, SHORT, true, &mut kbd_short_win);
        let mut sine_long_win = [0.0; FRAME];
        let mut sine_short_win = [0.0; SHORT];
        generate_window(WindowType::Sine, 1.0, FRAME, true, &mut sine_long_win);
        generate_window(WindowType::Sine, 1.0, SHORT, true, &mut sine_short_win);

        Self {
            kbd_long_win,
            kbd_short_win,
            sine_long_win,
            sine_short_win,
            // The full-size scales: the half-size sums are the full-size ones, subsampled.
            imdct_long: Imdct::new_scaled(FRAME, 1.0 / 2048.0),
            imdct_short: Imdct::new_scaled(SHORT, 1.0 / 256.0),
            pcm_long: [0.0; 2 * FRAME],
            pcm_short: [0.0; 9 * SHORT],
        }
    }

    /// Adds the frame of `coeffs` (a full frame's 1024 lines, of which the lower half of each
    /// block is read) to `out` (this frame's samples) and `overlap` (the next frame's).
    #[allow(clippy::too_many_arguments)]
    pub fn synth_add(
        &mut self,
        coeffs: &[f32; 1024],
        seq: u8,
        window_shape: bool,
        prev_window_shape: bool,
        out: &mut [f32; FRAME],
        overlap: &mut [f32; FRAME],
    ) {
        let (long_win, short_win) = match window_shape {
            true => (&self.kbd_long_win, &self.kbd_short_win),
            false => (&self.sine_long_win, &self.sine_short_win),
        };
        let (prev_long_win, prev_short_win) = match prev_window_shape {
            true => (&self.kbd_long_win, &self.kbd_short_win),
            false => (&self.sine_long_win, &self.sine_short_win),
        };

        // Inverse MDCT
        if seq != EIGHT_SHORT_SEQUENCE {
            self.imdct_long.imdct(&coeffs[..FRAME], &mut self.pcm_long);
        } else {
            for (ain, aout) in coeffs.chunks_exact(128).zip(self.pcm_long.chunks_exact_mut(2 * SHORT)) {
                self.imdct_short.imdct(&ain[..SHORT], aout);
            }

            self.pcm_short.fill(0.0);
            for (w, src) in self.pcm_long.chunks_exact(2 * SHORT).enumerate() {
                let first_win = if w > 0 { short_win } else { prev_short_win };
                for i in 0..SHORT {
                    self.pcm_short[w * SHORT + i] += src[i] * first_win[i];
                    self.pcm_short[w * SHORT + i + SHORT] += src[i + SHORT] * short_win[SHORT - 1 - i];
                }
            }
        }

        // This frame's samples.
        match seq {
            ONLY_LONG_SEQUENCE | LONG_START_SEQUENCE => {
                for i in 0..FRAME {
                    out[i] += self.pcm_long[i] * prev_long_win[i];
                }
            }
            EIGHT_SHORT_SEQUENCE => {
                for i in SHORT_WIN_POINT0..FRAME {
                    out[i] += self.pcm_short[i - SHORT_WIN_POINT0];
                }
            }
            LONG_STOP_SEQUENCE => {
                for i in SHORT_WIN_POINT0..SHORT_WIN_POINT1 {
                    out[i] += self.pcm_long[i] * prev_short_win[i - SHORT_WIN_POINT0];
                }
                for i in SHORT_WIN_POINT1..FRAME {
                    out[i] += self.pcm_long[i];
                }
            }
            _ => unreachable!(),
        };

        // The next frame's overlap.
        match seq {
            ONLY_LONG_SEQUENCE | LONG_STOP_SEQUENCE => {
                for i in 0..FRAME {
                    overlap[i] += self.pcm_long[i + FRAME] * long_win[FRAME - 1 - i];
                }
            }
            EIGHT_SHORT_SEQUENCE => {
                for i in 0..SHORT_WIN_POINT1 {
                    // Already windowed.
                    overlap[i] += self.pcm_short[i + SHORT_WIN_POINT1];
                }
            }
            LONG_START_SEQUENCE => {
                for i in 0..SHORT_WIN_POINT0 {
                    overlap[i] += self.pcm_long[i + FRAME];
                }
                for i in SHORT_WIN_POINT0..SHORT_WIN_POINT1 {
                    overlap[i] += self.pcm_long[i + FRAME] * short_win[SHORT - 1 - (i - SHORT_WIN_POINT0)];
                }
            }
            _ => unreachable!(),
        };
    }
}
