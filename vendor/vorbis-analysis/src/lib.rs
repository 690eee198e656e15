// Symphonia
// Copyright (c) 2019-2026 The Project Symphonia Developers.
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.
//
// Modified for debut (2026): an analysis decoder, mono at half the stream's rate. See README.md.

//! A Vorbis I decoder whose output is the mean of the stream's channels at half its sample
//! rate, for analysis that needs no more (a 44.1 kHz stereo stream analysed at 22 050 Hz mono).
//!
//! It is symphonia-codec-vorbis 0.6.1 up to the spectrum of each channel (headers, codebooks,
//! floors, residues, inverse coupling). After that:
//!
//! * The IMDCT is linear and every channel of a packet has the same block size, so the
//!   channels' spectra (floor times residue) are averaged and one inverse transform runs per
//!   packet instead of one per channel.
//! * Only the lower half of the spectrum is kept, and a half-size IMDCT with the half-size
//!   window synthesises it straight at half the rate: the half-size transform of the lower
//!   half of the lines is the full-size one's output, band-limited, at every other sample
//!   (offset by half a source sample), and its overlap-add the same band-limited signal up to
//!   the small aliasing that truncating each block's spectrum leaves near the new Nyquist.
//! * Nothing above the half-rate Nyquist is computed that the bitstream does not force: floor
//!   curves are rendered for the lower half only, residue partitions wholly above it are read
//!   (their codewords must be consumed) but not dequantised, and the last residue pass of the
//!   packet stops where the lower half ends.
//!
//! As symphonia's decoder with gapless playback on, the first packet after [`reset`] yields
//! no samples; trimming by the container's `trim_start`/`trim_end` is the caller's (halved).
//!
//! [`reset`]: AnalysisDecoder::reset

#![forbid(unsafe_code)]
// The following lints are allowed in all Symphonia crates.
#![allow(clippy::comparison_chain)]
#![allow(clippy::excessive_precision)]
#![allow(clippy::identity_op)]
#![allow(clippy::manual_range_contains)]
// Disable to better express the specification.
#![allow(clippy::collapsible_else_if)]

use symphonia_core::errors::{decode_error, unsupported_error};
use symphonia_core::io::{BitReaderRtl, BufReader, FiniteBitStream, ReadBitsRtl, ReadBytes};

use symphonia_common::xiph::audio::vorbis::*;

pub use symphonia_core::errors::{Error, Result};

mod bits;
mod codebook;
mod common;
mod floor;
mod residue;
mod synth;
mod window;

use codebook::VorbisCodebook;
use common::*;
use floor::*;
use residue::*;
use synth::HalfRateSynth;

/// One channel's spectrum while a packet is decoded (full-rate line indices).
pub(crate) struct ChannelSpectrum {
    /// The floor curve, rendered for the lower half of the lines only.
    pub floor: Vec<f32>,
    /// The residue (all lines a residue partition may write).
    pub residue: Vec<f32>,
    /// The channel's floor is unused in this packet: it contributes nothing.
    pub do_not_decode: bool,
}

/// Vorbis decoder to mono at half the stream's rate.
pub struct AnalysisDecoder {
    ident: IdentHeader,
    codebooks: Vec<VorbisCodebook>,
    floors: Vec<Box<dyn Floor>>,
    residues: Vec<Residue>,
    modes: Vec<Mode>,
    mappings: Vec<Mapping>,
    channels: Vec<ChannelSpectrum>,
    /// The mean of the channels' spectra, lower half.
    mix: Vec<f32>,
    synth: HalfRateSynth,
    /// Block flag of the previous packet; `None` after a reset.
    prev_block_flag: Option<bool>,
}

fn read_extradata(buf: &[u8]) -> Result<(IdentHeader, Setup)> {
    let is_xiph_laced = !buf.is_empty() && buf[0] == XIPH_LACED_LEADING_HEADER;
    if is_xiph_laced {
        let (pkt_ident, pkt_setup) = unpack_xiph_laced_extradata(buf)?;
        let ident = read_ident_header(&mut BufReader::new(pkt_ident))?;
        let setup = read_setup(&mut BufReader::new(pkt_setup), &ident)?;
        Ok((ident, setup))
    } else {
        let mut reader = BufReader::new(buf);
        let ident = read_ident_header(&mut reader)?;
        let setup = read_setup(&mut reader, &ident)?;
        Ok((ident, setup))
    }
}

impl AnalysisDecoder {
    /// Builds the decoder from the identification and setup headers, as symphonia's Ogg, MKV
    /// and MP4 readers put them in `AudioCodecParameters::extra_data` (concatenated, or Xiph
    /// laced with the comment header between).
    pub fn new(extra_data: &[u8]) -> Result<Self> {
        let (ident, setup) = read_extradata(extra_data)?;

        let half_lines = 1usize << (ident.bs1_exp - 2);
        let channels = (0..ident.n_channels)
            .map(|_| ChannelSpectrum {
                floor: vec![0.0; half_lines],
                residue: vec![0.0; 2 * half_lines],
                do_not_decode: false,
            })
            .collect();

        Ok(AnalysisDecoder {
            synth: HalfRateSynth::new(ident.bs0_exp, ident.bs1_exp),
            ident,
            codebooks: setup.codebooks,
            floors: setup.floors,
            residues: setup.residues,
            modes: setup.modes,
            mappings: setup.mappings,
            channels,
            mix: vec![0.0; half_lines],
            prev_block_flag: None,
        })
    }

    /// The stream's channel count (all of them are averaged).
    pub fn channels(&self) -> usize {
        usize::from(self.ident.n_channels)
    }

    /// The stream's sample rate (the output's is half of it).
    pub fn sample_rate(&self) -> u32 {
        self.ident.sample_rate
    }

    /// Forgets the overlap of the last packet (after a seek).
    pub fn reset(&mut self) {
        self.synth.reset();
        self.prev_block_flag = None;
    }

    /// Decodes one audio packet, replacing `out` with its mono samples at half the rate: half
    /// as many as symphonia's decoder gives per channel before trimming, none for the first
    /// packet after a reset. On error `out` is empty and the stream's state is unchanged.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<()> {
        out.clear();
        let block_flag = self.decode_spectrum(packet)?;

        // Calculate the output length. If there was no previous packet, use the current block
        // size, as symphonia does (and then drop the samples).
        let prev_block_flag = self.prev_block_flag.unwrap_or(block_flag);
        let lines = 1usize << (if block_flag { self.ident.bs1_exp } else { self.ident.bs0_exp } - 2);
        self.synth.synth(block_flag, prev_block_flag, &self.mix[..lines], out);

        if self.prev_block_flag.is_none() {
            out.clear();
        }
        self.prev_block_flag = Some(block_flag);
        Ok(())
    }

    /// Decodes a packet's spectrum into `self.mix` (the channels' mean, lower half of the
    /// lines); returns the packet's block flag.
    fn decode_spectrum(&mut self, packet: &[u8]) -> Result<bool> {
        let mut bs = bits::BitReader::new(packet);

        // Section 4.3.1 - Packet Type, Mode, and Window Decode

        // First bit must be 0 to indicate audio packet.
        if bs.read_bool()? {
            return decode_error("vorbis: not an audio packet");
        }

        let num_modes = self.modes.len() - 1;

        let mode_number = bs.read_bits_leq32(common::ilog(num_modes as u32))? as usize;

        if mode_number >= self.modes.len() {
            return decode_error("vorbis: invalid packet mode number");
        }

        let mode = &self.modes[mode_number];
        let mapping = &self.mappings[usize::from(mode.mapping)];

        let bs_exp = if mode.block_flag {
            // This packet (block) uses a long window. Do not use the window flags since they may
            // be wrong.
            let _prev_window_flag = bs.read_bool()?;
            let _next_window_flag = bs.read_bool()?;
            self.ident.bs1_exp
        } else {
            self.ident.bs0_exp
        };

        // Lines below the half-rate Nyquist: a quarter of the block size.
        let keep = 1usize << (bs_exp - 2);

        // Section 4.3.2 - Floor Curve Decode

        for (&submap_num, ch) in mapping.multiplex.iter().zip(&mut self.channels) {
            let submap = &mapping.submaps[submap_num as usize];
            let floor = &mut self.floors[submap.floor as usize];

            // Read the floor from the bitstream.
            floor.read_channel(&mut bs, &self.codebooks)?;

            ch.do_not_decode = floor.is_unused();

            if !ch.do_not_decode {
                // Since the same floor can be used by multiple channels and thus overwrite the
                // data just read from the bitstream, synthesize the floor curve for this channel
                // now (lower half only).
                floor.synthesis(bs_exp, &mut ch.floor[..keep])?;
            } else {
                // If the channel is unused, zero the floor vector.
                ch.floor[..keep].fill(0.0);
            }
        }

        // Section 4.3.3 - Non-zero Vector Propagate

        for couple in &mapping.couplings {
            let magnitude_ch_idx = usize::from(couple.magnitude_ch);
            let angle_ch_idx = usize::from(couple.angle_ch);

            if self.channels[magnitude_ch_idx].do_not_decode != self.channels[angle_ch_idx].do_not_decode {
                self.channels[magnitude_ch_idx].do_not_decode = false;
                self.channels[angle_ch_idx].do_not_decode = false;
            }
        }

        // Section 4.3.4 - Residue Decode

        let last_submap = mapping.submaps.len() - 1;
        for (submap_idx, submap) in mapping.submaps.iter().enumerate() {
            let mut residue_channels: BitSet256 = Default::default();

            // Find the channels using this submap.
            for (c, &ch_submap_idx) in mapping.multiplex.iter().enumerate() {
                if submap_idx == usize::from(ch_submap_idx) {
                    residue_channels.set(c)
                }
            }

            let residue = &mut self.residues[submap.residue as usize];

            residue.read_residue(
                &mut bs,
                bs_exp,
                &self.codebooks,
                &residue_channels,
                &mut self.channels,
                keep,
                submap_idx == last_submap,
            )?;
        }

        // Section 4.3.5 - Inverse Coupling (lower half)

        for coupling in mapping.couplings.iter() {
            let (m_idx, a_idx) = (usize::from(coupling.magnitude_ch), usize::from(coupling.angle_ch));
            let (magnitude_ch, angle_ch) = if m_idx < a_idx {
                let (a, b) = self.channels.split_at_mut(a_idx);
                (&mut a[m_idx], &mut b[0])
            } else {
                let (a, b) = self.channels.split_at_mut(m_idx);
                (&mut b[0], &mut a[a_idx])
            };

            // Branch-free (the signs are data, mispredicted as often as not; selects vectorise):
            // the four cases of section 4.3.5 are `m - t` or `m + t` with `t = ±a`.
            for (m, a) in magnitude_ch.residue[..keep].iter_mut().zip(&mut angle_ch.residue[..keep]) {
                let t = if *m > 0.0 { *a } else { -*a };
                let angle_positive = *a > 0.0;
                let (new_m, new_a) =
                    (if angle_positive { *m } else { *m + t }, if angle_positive { *m - t } else { *m });
                *m = new_m;
                *a = new_a;
            }
        }

        // Section 4.3.6 - Dot Product, and the mean of the channels.

        let scale = 1.0 / self.channels.len() as f32;
        let mix = &mut self.mix[..keep];
        mix.fill(0.0);
        for channel in self.channels.iter().filter(|c| !c.do_not_decode) {
            for ((o, f), r) in mix.iter_mut().zip(&channel.floor[..keep]).zip(&channel.residue[..keep]) {
                *o += f * r;
            }
        }
        for o in mix.iter_mut() {
            *o *= scale;
        }

        Ok(mode.block_flag)
    }
}

#[derive(Debug)]
struct IdentHeader {
    n_channels: u8,
    sample_rate: u32,
    bs0_exp: u8,
    bs1_exp: u8,
}

/// The packet type for an identification header.
const VORBIS_PACKET_TYPE_IDENTIFICATION: u8 = 1;
/// The packet type for a setup header.
const VORBIS_PACKET_TYPE_SETUP: u8 = 5;

/// The common header packet signature.
const VORBIS_HEADER_PACKET_SIGNATURE: &[u8] = b"vorbis";

/// The Vorbis version supported by this mapper.
const VORBIS_VERSION: u32 = 0;

/// The minimum block size (64) expressed as a power-of-2 exponent.
const VORBIS_BLOCKSIZE_MIN: u8 = 6;
/// The maximum block size (8192) expressed as a power-of-2 exponent.
const VORBIS_BLOCKSIZE_MAX: u8 = 13;

fn read_ident_header<B: ReadBytes>(reader: &mut B) -> Result<IdentHeader> {
    // The packet type must be an identification header.
    let packet_type = reader.read_u8()?;

    if packet_type != VORBIS_PACKET_TYPE_IDENTIFICATION {
        return decode_error("vorbis: invalid packet type for identification header");
    }

    // Next, the header packet signature must be correct.
    let mut packet_sig_buf = [0; 6];
    reader.read_buf_exact(&mut packet_sig_buf)?;

    if packet_sig_buf != VORBIS_HEADER_PACKET_SIGNATURE {
        return decode_error("vorbis: invalid header signature");
    }

    // Next, the Vorbis version must be 0.
    let version = reader.read_u32()?;

    if version != VORBIS_VERSION {
        return unsupported_error("vorbis: only vorbis 1 is supported");
    }

    // Next, the number of channels and sample rate must be non-zero.
    let n_channels = reader.read_u8()?;

    if n_channels == 0 {
        return decode_error("vorbis: number of channels cannot be 0");
    }

    // This is a Symphonia limitation.
    if n_channels > 32 {
        return unsupported_error("vorbis: only a maximum of 32 channels are supported");
    }

    let sample_rate = reader.read_u32()?;

    if sample_rate == 0 {
        return decode_error("vorbis: sample rate cannot be 0");
    }

    // Read the bitrate range.
    let _bitrate_max = reader.read_u32()?;
    let _bitrate_nom = reader.read_u32()?;
    let _bitrate_min = reader.read_u32()?;

    // Next, blocksize_0 and blocksize_1 are packed into a single byte.
    let block_sizes = reader.read_u8()?;

    let bs0_exp = (block_sizes & 0x0f) >> 0;
    let bs1_exp = (block_sizes & 0xf0) >> 4;

    // The block sizes must not exceed the bounds.
    if bs0_exp < VORBIS_BLOCKSIZE_MIN || bs0_exp > VORBIS_BLOCKSIZE_MAX {
        return decode_error("vorbis: blocksize_0 out-of-bounds");
    }

    if bs1_exp < VORBIS_BLOCKSIZE_MIN || bs1_exp > VORBIS_BLOCKSIZE_MAX {
        return decode_error("vorbis: blocksize_1 out-of-bounds");
    }

    // Blocksize_0 must be >= blocksize_1
    if bs0_exp > bs1_exp {
        return decode_error("vorbis: blocksize_0 exceeds blocksize_1");
    }

    // Framing flag must be set.
    if reader.read_u8()? != 0x1 {
        return decode_error("vorbis: ident header framing flag unset");
    }

    Ok(IdentHeader { n_channels, sample_rate, bs0_exp, bs1_exp })
}

struct Setup {
    codebooks: Vec<VorbisCodebook>,
    floors: Vec<Box<dyn Floor>>,
    residues: Vec<Residue>,
    mappings: Vec<Mapping>,
    modes: Vec<Mode>,
}

fn read_setup(reader: &mut BufReader<'_>, ident: &IdentHeader) -> Result<Setup> {
    // The packet type must be an setup header.
    let packet_type = reader.read_u8()?;

    if packet_type != VORBIS_PACKET_TYPE_SETUP {
        return decode_error("vorbis: invalid packet type for setup header");
    }

    // Next, the setup packet signature must be correct.
    let mut packet_sig_buf = [0; 6];
    reader.read_buf_exact(&mut packet_sig_buf)?;

    if packet_sig_buf != VORBIS_HEADER_PACKET_SIGNATURE {
        return decode_error("vorbis: invalid setup header signature");
    }

    // The remaining portion of the setup header packet is read bitwise.
    let mut bs = BitReaderRtl::new(reader.read_buf_bytes_available_ref());

    // Read codebooks.
    let codebooks = read_codebooks(&mut bs)?;

    // Read time-domain transforms (placeholders in Vorbis 1).
    read_time_domain_transforms(&mut bs)?;

    // Read floors.
    let floors = read_floors(&mut bs, ident.bs0_exp, ident.bs1_exp, codebooks.len() as u8)?;

    // Read residues.
    let residues = read_residues(&mut bs, codebooks.len() as u8)?;

    // Read channel mappings.
    let mappings = read_mappings(&mut bs, ident.n_channels, floors.len() as u8, residues.len() as u8)?;

    // Read modes.
    let modes = read_modes(&mut bs, mappings.len() as u8)?;

    // Framing flag must be set.
    if !bs.read_bool()? {
        return decode_error("vorbis: setup header framing flag unset");
    }

    // Leftover bits after the framing flag are ignored, as upstream does.
    let _ = bs.bits_left();

    Ok(Setup { codebooks, floors, residues, mappings, modes })
}

fn read_codebooks(bs: &mut BitReaderRtl<'_>) -> Result<Vec<VorbisCodebook>> {
    let count = bs.read_bits_leq32(8)? + 1;
    (0..count).map(|_| VorbisCodebook::read(bs)).collect()
}

fn read_time_domain_transforms(bs: &mut BitReaderRtl<'_>) -> Result<()> {
    let count = bs.read_bits_leq32(6)? + 1;

    for _ in 0..count {
        // All these values are placeholders and must be 0.
        if bs.read_bits_leq32(16)? != 0 {
            return decode_error("vorbis: invalid time domain tranform");
        }
    }

    Ok(())
}

fn read_floors(bs: &mut BitReaderRtl<'_>, bs0_exp: u8, bs1_exp: u8, max_codebook: u8) -> Result<Vec<Box<dyn Floor>>> {
    let count = bs.read_bits_leq32(6)? + 1;
    (0..count).map(|_| read_floor(bs, bs0_exp, bs1_exp, max_codebook)).collect()
}

fn read_floor(bs: &mut BitReaderRtl<'_>, bs0_exp: u8, bs1_exp: u8, max_codebook: u8) -> Result<Box<dyn Floor>> {
    let floor_type = bs.read_bits_leq32(16)?;

    match floor_type {
        0 => Floor0::try_read(bs, bs0_exp, bs1_exp, max_codebook),
        1 => Floor1::try_read(bs, max_codebook),
        _ => decode_error("vorbis: invalid floor type"),
    }
}

fn read_residues(bs: &mut BitReaderRtl<'_>, max_codebook: u8) -> Result<Vec<Residue>> {
    let count = bs.read_bits_leq32(6)? + 1;
    (0..count).map(|_| read_residue(bs, max_codebook)).collect()
}

fn read_residue(bs: &mut BitReaderRtl<'_>, max_codebook: u8) -> Result<Residue> {
    let residue_type = bs.read_bits_leq32(16)? as u16;

    match residue_type {
        0..=2 => Residue::try_read(bs, residue_type, max_codebook),
        _ => decode_error("vorbis: invalid residue type"),
    }
}

fn read_mappings(
    bs: &mut BitReaderRtl<'_>,
    audio_channels: u8,
    max_floor: u8,
    max_residue: u8,
) -> Result<Vec<Mapping>> {
    let count = bs.read_bits_leq32(6)? + 1;
    (0..count).map(|_| read_mapping(bs, audio_channels, max_floor, max_residue)).collect()
}

fn read_mapping(bs: &mut BitReaderRtl<'_>, audio_channels: u8, max_floor: u8, max_residue: u8) -> Result<Mapping> {
    let mapping_type = bs.read_bits_leq32(16)?;

    match mapping_type {
        0 => read_mapping_type0(bs, audio_channels, max_floor, max_residue),
        _ => decode_error("vorbis: invalid mapping type"),
    }
}

fn read_modes(bs: &mut BitReaderRtl<'_>, max_mapping: u8) -> Result<Vec<Mode>> {
    let count = bs.read_bits_leq32(6)? + 1;
    (0..count).map(|_| read_mode(bs, max_mapping)).collect()
}

#[derive(Debug)]
struct ChannelCouple {
    magnitude_ch: u8,
    angle_ch: u8,
}

#[derive(Debug)]
struct SubMap {
    floor: u8,
    residue: u8,
}

#[derive(Debug)]
struct Mapping {
    couplings: Vec<ChannelCouple>,
    multiplex: Vec<u8>,
    submaps: Vec<SubMap>,
}

fn read_mapping_type0(
    bs: &mut BitReaderRtl<'_>,
    audio_channels: u8,
    max_floor: u8,
    max_residue: u8,
) -> Result<Mapping> {
    let num_submaps = if bs.read_bool()? { bs.read_bits_leq32(4)? as u8 + 1 } else { 1 };

    let mut couplings = Vec::new();

    if bs.read_bool()? {
        // Number of channel couplings (up-to 256).
        let coupling_steps = bs.read_bits_leq32(8)? as u16 + 1;

        // Reserve space.
        couplings.reserve_exact(usize::from(coupling_steps));

        // The maximum channel number.
        let max_ch = audio_channels - 1;

        // The number of bits to read for the magnitude and angle channel numbers. Never exceeds 8.
        let coupling_bits = ilog(u32::from(max_ch));

        // Read each channel coupling.
        for _ in 0..coupling_steps {
            let magnitude_ch = bs.read_bits_leq32(coupling_bits)? as u8;
            let angle_ch = bs.read_bits_leq32(coupling_bits)? as u8;

            // Ensure the channels to be coupled are not the same, and that neither channel number
            // exceeds the maximum channel in the stream.
            if magnitude_ch == angle_ch || magnitude_ch > max_ch || angle_ch > max_ch {
                return decode_error("vorbis: invalid channel coupling");
            }

            couplings.push(ChannelCouple { magnitude_ch, angle_ch });
        }
    }

    if bs.read_bits_leq32(2)? != 0 {
        return decode_error("vorbis: reserved mapping bits non-zero");
    }

    let mut multiplex = Vec::with_capacity(usize::from(audio_channels));

    // If the number of submaps is > 1 read the multiplex numbers from the bitstream, otherwise
    // they're all 0.
    if num_submaps > 1 {
        for _ in 0..audio_channels {
            let mux = bs.read_bits_leq32(4)? as u8;

            if mux >= num_submaps {
                return decode_error("vorbis: invalid channel multiplex");
            }

            multiplex.push(mux);
        }
    } else {
        multiplex.resize(usize::from(audio_channels), 0);
    }

    let mut submaps = Vec::with_capacity(usize::from(num_submaps));

    for _ in 0..num_submaps {
        // Unused.
        let _ = bs.read_bits_leq32(8)?;

        // The floor to use.
        let floor = bs.read_bits_leq32(8)? as u8;

        if floor >= max_floor {
            return decode_error("vorbis: invalid floor for mapping");
        }

        // The residue to use.
        let residue = bs.read_bits_leq32(8)? as u8;

        if residue >= max_residue {
            return decode_error("vorbis: invalid residue for mapping");
        }

        submaps.push(SubMap { floor, residue });
    }

    let mapping = Mapping { couplings, multiplex, submaps };

    Ok(mapping)
}

#[derive(Debug)]
struct Mode {
    block_flag: bool,
    mapping: u8,
}

fn read_mode(bs: &mut BitReaderRtl<'_>, max_mapping: u8) -> Result<Mode> {
    let block_flag = bs.read_bool()?;
    let window_type = bs.read_bits_leq32(16)? as u16;
    let transform_type = bs.read_bits_leq32(16)? as u16;
    let mapping = bs.read_bits_leq32(8)? as u8;

    // Only window type 0 is allowed in Vorbis 1 (section 4.2.4).
    if window_type != 0 {
        return decode_error("vorbis: invalid window type for mode");
    }

    // Only transform type 0 is allowed in Vorbis 1 (section 4.2.4).
    if transform_type != 0 {
        return decode_error("vorbis: invalid transform type for mode");
    }

    // Mapping number must be exist.
    if mapping >= max_mapping {
        return decode_error("vorbis: invalid mode mapping");
    }

    let mode = Mode { block_flag, mapping };

    Ok(mode)
}
