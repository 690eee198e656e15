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
// Modified for debut (2026): an analysis decoder, mono at half the stream's rate (symphonia's
// `aac/mod.rs`). See README.md.

//! An AAC-LC decoder whose output is the mean of the stream's channels at half its sample
//! rate, for analysis that needs no more (a 44.1 kHz stereo stream analysed at 22 050 Hz mono).
//!
//! It is symphonia-codec-aac 0.6.1 up to each channel's final spectrum (elements, section
//! data, scale factors, Huffman-coded lines, M/S and intensity stereo, noise substitution,
//! pulses, TNS). After that:
//!
//! * The IMDCT is linear, so channels that share a window sequence and window shapes (every
//!   channel pair with a common window, nearly every frame of real music) have their spectra
//!   averaged and go through one inverse transform; a channel that does not is synthesised on
//!   its own and added. The overlap carried between frames is the mono mix's.
//! * Only the lower half of each block's lines is synthesised, by an IMDCT of half the size
//!   with half-size windows, so frames come out at half the rate: 512 samples per frame,
//!   the full-size output band-limited and taken at every other sample (half a source sample
//!   later), up to the small aliasing that truncating each block's spectrum leaves near the
//!   new Nyquist.
//!
//! As symphonia's decoder, the first frame after [`reset`](AnalysisDecoder::reset) is the
//! encoder's priming overlapped with silence, and container trims are the caller's.

#![forbid(unsafe_code)]
// The following lints are allowed in all Symphonia crates.
#![allow(clippy::comparison_chain)]
#![allow(clippy::excessive_precision)]
#![allow(clippy::identity_op)]
#![allow(clippy::manual_range_contains)]
#![allow(clippy::needless_range_loop)]

use symphonia_common::mpeg::audio::{AudioObjectType, AudioSpecificConfig};
use symphonia_core::codecs::audio::AudioCodecParameters;
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;

use symphonia_core::errors::unsupported_error;
pub use symphonia_core::errors::{Error, Result};

mod bits;
mod codebooks;
mod common;
mod cpe;
mod ics;
mod synth;
mod window;

use bits::BitReader;
use common::*;
pub use synth::FRAME;

/// How many channel elements took each synthesis path so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Single channel elements (one transform each).
    pub single: u64,
    /// Channel pairs with matching windows: one transform for both.
    pub mixed: u64,
    /// Channel pairs whose windows differ: a transform per channel.
    pub separate: u64,
}

/// AAC-LC to mono at half the stream's rate.
pub struct AnalysisDecoder {
    stats: FrameStats,
    sample_rate: u32,
    channels: usize,
    pairs: Vec<cpe::ChannelPair>,
    sbinfo: GASubbandInfo,
    rate_idx: usize,
    synth: synth::HalfRateSynth,
    /// The mono mix's overlap into the next frame.
    overlap: Box<[f32; FRAME]>,
    /// A frame's samples and the overlap it leaves, while it is synthesised.
    frame: Box<[f32; FRAME]>,
    next: Box<[f32; FRAME]>,
    /// A channel's (or a mix's) spectrum, scaled for the mean.
    mix: Box<[f32; 1024]>,
}

impl AnalysisDecoder {
    /// For a track's codec parameters: its AudioSpecificConfig where the container has one
    /// (MP4), the rate and channels otherwise (ADTS). Refuses what symphonia's decoder
    /// refuses (other object types, SBR signalled, more than two channels).
    pub fn try_new(params: &AudioCodecParameters) -> Result<Self> {
        if params.codec != CODEC_ID_AAC {
            return unsupported_error("aac: invalid codec");
        }

        let asc = if let Some(extra_data_buf) = &params.extra_data {
            validate!(extra_data_buf.len() >= 2);
            AudioSpecificConfig::read(extra_data_buf)?
        } else {
            let mut asc = AudioSpecificConfig::default();
            asc.object_type = AudioObjectType::Lc;
            asc.samples = 1024;
            asc.sample_rate = match params.sample_rate {
                Some(rate) => rate,
                None => return unsupported_error("aac: sample rate is required"),
            };
            asc.channels = params.channels.clone();
            asc
        };

        let channels = match &asc.channels {
            Some(channels) => channels.count(),
            _ => return unsupported_error("aac: channels or channel layout is required"),
        };

        if asc.object_type != AudioObjectType::Lc
            || asc.sbr_present
            || channels == 0
            || channels > 2
            || asc.samples != 1024
        {
            return unsupported_error("aac: aac too complex");
        }

        Ok(AnalysisDecoder {
            stats: FrameStats::default(),
            sample_rate: asc.sample_rate,
            channels,
            pairs: Vec::new(),
            sbinfo: GASubbandInfo::find(asc.sample_rate),
            rate_idx: GASubbandInfo::find_idx(asc.sample_rate),
            synth: synth::HalfRateSynth::new(),
            overlap: Box::new([0.0; FRAME]),
            frame: Box::new([0.0; FRAME]),
            next: Box::new([0.0; FRAME]),
            mix: Box::new([0.0; 1024]),
        })
    }

    /// The stream's rate (the output's is half of it).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The stream's channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// How many channel elements took each synthesis path so far.
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// Forgets the stream's state (after a seek).
    pub fn reset(&mut self) {
        for pair in self.pairs.iter_mut() {
            pair.reset();
        }
        self.overlap.fill(0.0);
    }

    /// Decodes one raw AAC frame, appending its [`FRAME`] mono samples at half the rate to
    /// `out`. On an error nothing is appended and the overlap is kept.
    pub fn decode(&mut self, data: &[u8], out: &mut Vec<f32>) -> Result<()> {
        let mut bs = bits::BitReader::new(data);
        let elements = self.decode_ga(&mut bs)?;
        self.synth_frame(elements);
        out.extend_from_slice(&self.frame[..]);
        Ok(())
    }

    fn set_pair(&mut self, pair_no: usize, channel: usize, pair: bool) -> Result<()> {
        if self.pairs.len() <= pair_no {
            self.pairs.push(cpe::ChannelPair::new(pair, channel, self.sbinfo));
        } else {
            validate!(self.pairs[pair_no].channel == channel);
            validate!(self.pairs[pair_no].is_pair == pair);
        }

        validate!(if pair { channel + 1 } else { channel } < self.channels);

        Ok(())
    }

    /// Reads a frame's elements; returns how many channel elements it held.
    fn decode_ga(&mut self, bs: &mut BitReader<'_>) -> Result<usize> {
        let aot = AudioObjectType::Lc;
        let mut cur_pair = 0;
        let mut cur_ch = 0;
        while bs.bits_left() > 3 {
            let id = bs.read_bits_leq32(3)?;

            match id {
                // ID_SCE, ID_LFE
                0 | 3 => {
                    let _tag = bs.read_bits_leq32(4)?;
                    self.set_pair(cur_pair, cur_ch, false)?;
                    self.pairs[cur_pair].decode_ga_sce(bs, aot)?;
                    cur_pair += 1;
                    cur_ch += 1;
                }
                // ID_CPE
                1 => {
                    let _tag = bs.read_bits_leq32(4)?;
                    self.set_pair(cur_pair, cur_ch, true)?;
                    self.pairs[cur_pair].decode_ga_cpe(bs, aot)?;
                    cur_pair += 1;
                    cur_ch += 2;
                }
                // ID_CCE
                2 => return unsupported_error("aac: coupling channel element"),
                // ID_DSE
                4 => {
                    let _id = bs.read_bits_leq32(4)?;
                    let align = bs.read_bool()?;
                    let mut count = bs.read_bits_leq32(8)?;
                    if count == 255 {
                        count += bs.read_bits_leq32(8)?;
                    }
                    if align {
                        bs.realign();
                    }
                    bs.ignore_bits(count * 8)?;
                }
                // ID_PCE
                5 => return unsupported_error("aac: program config"),
                // ID_FIL: SBR data or other extension payloads, all ignored (symphonia notes
                // SBR and goes on decoding the core).
                6 => {
                    let mut count = bs.read_bits_leq32(4)? as usize;
                    if count == 15 {
                        count += bs.read_bits_leq32(8)? as usize;
                        count -= 1;
                    }
                    if count > 0 {
                        bs.ignore_bits(8 * count as u32)?;
                    }
                }
                // ID_TERM
                7 => break,
                _ => unreachable!(),
            };
        }
        Ok(cur_pair)
    }

    /// Synthesises the decoded channels' mean into `frame`, and moves the overlap on.
    fn synth_frame(&mut self, elements: usize) {
        let scale = 1.0 / self.channels as f32;
        let frame = &mut *self.frame;
        let next = &mut *self.next;
        frame.copy_from_slice(&self.overlap[..]);
        next.fill(0.0);

        for pair in &mut self.pairs[..elements] {
            pair.ics0.finish(self.rate_idx);
            if pair.is_pair {
                pair.ics1.finish(self.rate_idx);
            }
            let a = &pair.ics0;
            let key = |ics: &ics::Ics| (ics.info.window_sequence, ics.info.window_shape, ics.info.prev_window_shape);
            if pair.is_pair && key(a) == key(&pair.ics1) {
                // One transform for both channels.
                for ((m, x), y) in self.mix.iter_mut().zip(&a.coeffs).zip(&pair.ics1.coeffs) {
                    *m = (x + y) * scale;
                }
                let (seq, shape, prev) = key(a);
                self.synth.synth_add(&self.mix, seq, shape, prev, frame, next);
                self.stats.mixed += 1;
                continue;
            }
            if pair.is_pair {
                self.stats.separate += 1;
            } else {
                self.stats.single += 1;
            }
            let channels = if pair.is_pair { [Some(&pair.ics0), Some(&pair.ics1)] } else { [Some(&pair.ics0), None] };
            for ics in channels.into_iter().flatten() {
                for (m, x) in self.mix.iter_mut().zip(&ics.coeffs) {
                    *m = x * scale;
                }
                let (seq, shape, prev) = key(ics);
                self.synth.synth_add(&self.mix, seq, shape, prev, frame, next);
            }
        }

        std::mem::swap(&mut self.overlap, &mut self.next);
    }
}
