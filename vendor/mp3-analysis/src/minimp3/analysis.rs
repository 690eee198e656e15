//! Layer III decoding for analysis: one mono channel (the mean of a stereo stream's two) at
//! half the stream's rate, from the lower 16 of the 32 subbands.
//!
//! An analysis of 22 050 Hz mono audio needs neither the side of a stereo image nor
//! anything above 11 kHz, which is where most of a 44.1 kHz stereo decode goes: the second
//! channel's Huffman data, both channels' inverse MDCTs and a 32-band synthesis of 2 x 1152
//! samples per frame. Per granule this decoder
//!
//! - on mid/side frames whose channels use the same block type, decodes the mid channel
//!   alone: minimp3 scales both channels by 1/sqrt(2) (`gain_exp - 2`), so its mid channel
//!   already is `(L + R) / 2`. The side channel's Huffman data is skipped by its
//!   `part2_3_length`, the same bit position the full decoder ends at, so the bit
//!   reservoir bookkeeping is unchanged; its scalefactors are read only when the next
//!   granule of the frame decodes that channel and may reuse them (`scfsi`);
//! - on other stereo frames (plain left/right, intensity stereo, or mid/side with different
//!   block types) decodes both channels as minimp3 does, then averages their spectra before
//!   the inverse MDCT when both use the same block type (both transforms are linear and
//!   identical then), or averages after it otherwise;
//! - Huffman-decodes only the lines subbands 0-15 need (up to subband 16's first 8, which
//!   the last antialias butterfly mixes into subband 15) and skips to the granule's end, then
//!   reorders, antialiases and transforms only subbands 0-15;
//! - synthesises straight at half rate (`synth`).
//!
//! The inverse MDCT's overlap is one state while the channels are mixed before it. When a
//! granule needs them apart, both channels start from that mean: their difference was never
//! decoded, and only its tail in that one granule, where the two channels' windows differ,
//! is lost. Encoders that use mid/side (LAME) keep both channels on one block type, so this
//! is rare.

mod synth;

use super::*;
use synth::HalfSynth;

/// Subbands decoded: 16 of 32, up to a quarter of the stream's rate.
const BANDS: usize = 16;
/// Half-rate samples per granule.
pub(crate) const GRANULE_SAMPLES: usize = 288;

/// How many granules took each path, for tests and tuning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GranuleStats {
    /// Mono streams.
    pub mono: u64,
    /// Mid/side with one block type: the mid channel alone.
    pub mid_only: u64,
    /// Both channels decoded and averaged before the inverse MDCT.
    pub mixed_spectra: u64,
    /// Both channels decoded and transformed apart (different block types).
    pub apart: u64,
    /// Granules of intensity-stereo frames (also counted in one of the two above).
    pub intensity: u64,
}

/// Why a frame gave no samples (minimp3's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    Corrupt,
    ReservoirUnavailable,
    UnsupportedLayer,
}

/// The decoder: bit reservoir, inverse MDCT overlap and synthesis history of one stream.
#[derive(Clone)]
pub(crate) struct AnalysisDec {
    /// minimp3's state; only its bit reservoir is used.
    st: State,
    overlap: [[f32; 9 * BANDS]; 2],
    /// `overlap[0]` is the state of both channels (and `overlap[1]` stale).
    overlap_shared: bool,
    synth: HalfSynth,
    grbuf: [[f32; 576]; 2],
    scf: [f32; 40],
    ist_pos: [[u8; 39]; 2],
    reorder: [f32; 576],
    maindata: [u8; MAX_BITRESERVOIR_BYTES + MAX_L3_FRAME_PAYLOAD_BYTES],
    pub(crate) stats: GranuleStats,
}

impl AnalysisDec {
    pub(crate) fn new(phase: usize) -> Self {
        Self {
            st: State::new(),
            overlap: [[0.0; 9 * BANDS]; 2],
            overlap_shared: true,
            synth: HalfSynth::new(phase),
            grbuf: [[0.0; 576]; 2],
            scf: [0.0; 40],
            ist_pos: [[0; 39]; 2],
            reorder: [0.0; 576],
            maindata: [0; MAX_BITRESERVOIR_BYTES + MAX_L3_FRAME_PAYLOAD_BYTES],
            stats: GranuleStats::default(),
        }
    }

    /// Forgets the stream (minimp3's resynchronisation): reservoir, overlap and history.
    pub(crate) fn reset(&mut self) {
        self.st = State::new();
        self.overlap = [[0.0; 9 * BANDS]; 2];
        self.overlap_shared = true;
        self.synth.reset();
    }

    /// Decodes one complete frame (header included, nothing after it) into `pcm`: 288
    /// samples per granule. Returns the number of samples.
    pub(crate) fn decode_frame(&mut self, frame: &[u8], pcm: &mut [f32; 576]) -> Result<usize, FrameError> {
        if frame.len() <= HDR_SIZE || frame.len() > HDR_SIZE + MAX_L3_FRAME_PAYLOAD_BYTES {
            self.reset();
            return Err(FrameError::Corrupt);
        }
        let hdr = Header::read(frame);
        if !hdr.valid() {
            self.reset();
            return Err(FrameError::Corrupt);
        }
        if hdr.get_layer() != 1 {
            return Err(FrameError::UnsupportedLayer);
        }
        let body = &frame[HDR_SIZE..];
        let mut bs_frame = Bs::new(body, body.len() as i32);
        if hdr.is_crc() {
            bs_frame.get_bits(16);
        }
        let nch = if hdr.is_mono() { 1 } else { 2 };
        let mut gr_info = [GrInfo::default(); 4];
        let main_data_begin = l3_read_side_info(&mut bs_frame, &mut gr_info, hdr);
        if main_data_begin < 0 || bs_frame.pos > bs_frame.limit {
            self.reset(); // minimp3 resynchronises on the next frame
            return Err(FrameError::Corrupt);
        }
        let (mut bs, success) = l3_restore_reservoir(&self.st, &bs_frame, &mut self.maindata, main_data_begin);
        if success {
            self.scf = [0.0; 40];
            self.ist_pos = [[0; 39]; 2];
            let granules = if hdr.test_mpeg1() { 2 } else { 1 };
            for igr in 0..granules {
                let gr = &gr_info[igr * nch..igr * nch + nch];
                // Whether the frame's next granule decodes the second channel, whose
                // scalefactors it may then copy from this one.
                let later_side = igr + 1 < granules && nch == 2 && !mid_only(hdr, &gr_info[(igr + 1) * 2..]);
                let out = &mut pcm.as_chunks_mut::<GRANULE_SAMPLES>().0[igr];
                granule(
                    &mut Parts {
                        overlap: &mut self.overlap,
                        overlap_shared: &mut self.overlap_shared,
                        synth: &mut self.synth,
                        grbuf: &mut self.grbuf,
                        scf: &mut self.scf,
                        ist_pos: &mut self.ist_pos,
                        reorder: &mut self.reorder,
                        stats: &mut self.stats,
                    },
                    &mut bs,
                    gr,
                    hdr,
                    later_side,
                    out,
                );
            }
            l3_save_reservoir(&mut self.st, &bs);
            Ok(granules * GRANULE_SAMPLES)
        } else {
            l3_save_reservoir(&mut self.st, &bs);
            Err(FrameError::ReservoirUnavailable)
        }
    }
}

/// The decoder's parts a granule works on (all but the reservoir, whose buffer the bit
/// reader borrows).
struct Parts<'a> {
    overlap: &'a mut [[f32; 9 * BANDS]; 2],
    overlap_shared: &'a mut bool,
    synth: &'a mut HalfSynth,
    grbuf: &'a mut [[f32; 576]; 2],
    scf: &'a mut [f32; 40],
    ist_pos: &'a mut [[u8; 39]; 2],
    reorder: &'a mut [f32; 576],
    stats: &'a mut GranuleStats,
}

/// Whether a stereo granule's mono mix is its mid channel alone: mid/side stereo (without
/// intensity stereo), both channels on the same block type.
fn mid_only(hdr: Header, gr: &[GrInfo]) -> bool {
    !hdr.test_i_stereo() && hdr.is_ms_stereo() && same_blocks(&gr[0], &gr[1])
}

fn same_blocks(a: &GrInfo, b: &GrInfo) -> bool {
    a.block_type == b.block_type && a.mixed_block_flag == b.mixed_block_flag
}

/// One granule of one (mono) or two (stereo) channels to 288 mono samples at half rate.
fn granule(s: &mut Parts, bs: &mut Bs, gr: &[GrInfo], hdr: Header, later_side: bool, out: &mut [f32; 288]) {
    let nch = gr.len();
    let mid = nch == 2 && mid_only(hdr, gr);
    // The lines to decode, the same in both channels when both are: intensity stereo reads
    // where the right channel's spectrum ends (all of it), mid/side mixes line by line.
    let stop = match nch {
        1 => lines_needed(&gr[0]),
        _ if hdr.test_i_stereo() => 576,
        _ if mid => lines_needed(&gr[0]),
        _ => lines_needed(&gr[0]).max(lines_needed(&gr[1])),
    };
    for ch in &mut s.grbuf[..if mid { 1 } else { nch }] {
        ch[..stop].fill(0.0);
    }
    let limit = bs.pos + i32::from(gr[0].part_23_length);
    l3_decode_scalefactors(hdr, &mut s.ist_pos[0], bs, &gr[0], s.scf, 0);
    l3_huffman(&mut s.grbuf[0], bs, &gr[0], s.scf, limit, stop);

    let [grbuf0, grbuf1] = &mut *s.grbuf;
    if nch == 1 {
        s.stats.mono += 1;
        to_subbands(grbuf0, &gr[0], hdr, &mut s.overlap[0], s.reorder);
    } else if mid {
        s.stats.mid_only += 1;
        let start = bs.pos;
        if later_side {
            l3_decode_scalefactors(hdr, &mut s.ist_pos[1], bs, &gr[1], s.scf, 1);
        }
        bs.pos = start + i32::from(gr[1].part_23_length);
        to_subbands(grbuf0, &gr[0], hdr, shared_overlap(s.overlap, s.overlap_shared), s.reorder);
    } else {
        let limit = bs.pos + i32::from(gr[1].part_23_length);
        l3_decode_scalefactors(hdr, &mut s.ist_pos[1], bs, &gr[1], s.scf, 1);
        l3_huffman(grbuf1, bs, &gr[1], s.scf, limit, stop);
        let stereo: &mut [f32; 1152] = s.grbuf.as_flattened_mut().try_into().unwrap();
        if hdr.test_i_stereo() {
            s.stats.intensity += 1;
            l3_intensity_stereo(stereo, &mut s.ist_pos[1], gr, hdr);
        } else if hdr.is_ms_stereo() {
            l3_midside_stereo(stereo, 0, stop);
        }
        let [grbuf0, grbuf1] = &mut *s.grbuf;
        if same_blocks(&gr[0], &gr[1]) {
            s.stats.mixed_spectra += 1;
            for (l, r) in grbuf0[..stop].iter_mut().zip(&grbuf1[..stop]) {
                *l = 0.5 * (*l + *r);
            }
            to_subbands(grbuf0, &gr[0], hdr, shared_overlap(s.overlap, s.overlap_shared), s.reorder);
        } else {
            s.stats.apart += 1;
            if *s.overlap_shared {
                s.overlap[1] = s.overlap[0];
                *s.overlap_shared = false;
            }
            let [ov0, ov1] = &mut *s.overlap;
            to_subbands(grbuf0, &gr[0], hdr, ov0, s.reorder);
            to_subbands(grbuf1, &gr[1], hdr, ov1, s.reorder);
            for (l, r) in grbuf0[..18 * BANDS].iter_mut().zip(&grbuf1[..18 * BANDS]) {
                *l = 0.5 * (*l + *r);
            }
        }
    }
    let subbands = &mut s.grbuf[0].as_chunks_mut::<{ 18 * BANDS }>().0[0];
    s.synth.granule(subbands, out);
}

/// How many of a granule channel's 576 lines (in bitstream order) the lower 16 subbands
/// need: up to subband 16's first 8 lines, which the last antialias butterfly mixes into
/// subband 15; with short blocks, up to the end of the scalefactor band (three windows)
/// that holds subband 15's last line, since reordering interleaves its windows. The Huffman
/// decoder stops there and skips to the granule's end.
fn lines_needed(gr: &GrInfo) -> usize {
    if gr.n_short_sfb == 0 {
        return 18 * BANDS + 8;
    }
    let n_long = usize::from(gr.n_long_sfb);
    let mut line = 0;
    for (i, &width) in gr.sfbtab.iter().enumerate() {
        if width == 0 {
            break;
        }
        line += usize::from(width);
        let at_band_end = i < n_long || (i - n_long) % 3 == 2;
        if line >= 18 * BANDS && at_band_end {
            return line;
        }
    }
    576
}

/// The overlap state of the mixed channels, averaging the two channels' states first if a
/// granule before kept them apart.
fn shared_overlap<'a>(overlap: &'a mut [[f32; 9 * BANDS]; 2], shared: &mut bool) -> &'a mut [f32; 9 * BANDS] {
    let [ov0, ov1] = overlap;
    if !*shared {
        for (a, b) in ov0.iter_mut().zip(ov1.iter()) {
            *a = 0.5 * (*a + *b);
        }
        *shared = true;
    }
    ov0
}

/// minimp3's per-channel tail of `l3_decode` (reorder, antialias, inverse MDCT, sign change)
/// on subbands 0-15: `grbuf` becomes their 18 time samples each.
fn to_subbands(
    grbuf: &mut [f32; 576],
    gr: &GrInfo,
    hdr: Header,
    overlap: &mut [f32; 9 * BANDS],
    scratch: &mut [f32; 576],
) {
    // The butterflies between subbands b and b + 1 for b < 16: the last reaches into 15.
    let mut aa_bands = BANDS;
    let n_long_bands: usize = (if gr.mixed_block_flag != 0 { 2 } else { 0 }) << (hdr.get_my_sample_rate() == 2) as u32;
    if gr.n_short_sfb != 0 {
        aa_bands = n_long_bands.saturating_sub(1);
        l3_reorder(&mut grbuf[n_long_bands * 18..], scratch, &gr.sfbtab[gr.n_long_sfb as usize..]);
    }
    l3_antialias(grbuf, aa_bands.min(BANDS));

    let (long_buf, rest_buf) = grbuf[..18 * BANDS].split_at_mut(18 * n_long_bands);
    let (long_ovl, rest_ovl) = overlap.split_at_mut(9 * n_long_bands);
    if n_long_bands != 0 {
        l3_imdct36(long_buf, long_ovl, &L3_IMDCT_GR_G_MDCT_WINDOW[0], n_long_bands);
    }
    if gr.block_type == SHORT_BLOCK_TYPE {
        l3_imdct_short(rest_buf, rest_ovl, BANDS - n_long_bands);
    } else {
        let window = &L3_IMDCT_GR_G_MDCT_WINDOW[(gr.block_type == STOP_BLOCK_TYPE) as usize];
        l3_imdct36(rest_buf, rest_ovl, window, BANDS - n_long_bands);
    }
    for band in grbuf[..18 * BANDS].as_chunks_mut::<18>().0.iter_mut().skip(1).step_by(2) {
        for x in band.iter_mut().skip(1).step_by(2) {
            *x = -*x;
        }
    }
}

#[cfg(test)]
mod tests;
