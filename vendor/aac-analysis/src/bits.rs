// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.
//
// Written for debut (2026) in place of symphonia-core's `BitReaderLtr` and `vlc` codebooks
// for AAC frames. See README.md.

//! The frame's bit reader (most significant bit first) and its Huffman decoder.
//!
//! symphonia's reader refills its 64-bit buffer a byte at a time and walks codebook tables of
//! 8 bits per level (two or three levels for AAC's longer codewords); decoding the spectral
//! lines is most of the decoder's time once the synthesis is halved. This reader refills with
//! one unaligned 8-byte load and decodes through a flat table of [`PRIMARY_BITS`] bits with
//! one second level for longer codewords. Errors are symphonia's: reading past the end is an
//! `io::ErrorKind::Other` "unexpected end of bitstream".

use std::io;

/// Bits indexed by a codebook's first-level table.
const PRIMARY_BITS: u32 = 10;

fn end_of_bitstream<T>() -> io::Result<T> {
    Err(io::Error::other("unexpected end of bitstream"))
}

pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Next byte of `buf` not yet in `bits`.
    pos: usize,
    /// Unread bits from the top; below the `n` valid ones, zeros or the next bytes' bits.
    bits: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0, bits: 0, n: 0 }
    }

    /// Fills the buffer to at least 57 bits, or with all that is left.
    #[inline(always)]
    fn refill(&mut self) {
        if self.n > 56 {
            return;
        }
        if let Some(word) = self.buf.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
            // The bits already below position n are these same bytes.
            self.bits |= word >> self.n;
            let bytes = (63 - self.n) >> 3;
            self.pos += bytes as usize;
            self.n += bytes << 3;
        } else {
            while self.n <= 56 && self.pos < self.buf.len() {
                self.bits |= u64::from(self.buf[self.pos]) << (56 - self.n);
                self.pos += 1;
                self.n += 8;
            }
        }
    }

    #[inline(always)]
    fn consume(&mut self, num: u32) {
        // num <= n <= 64; a shift by 64 must not overflow.
        self.bits = if num >= 64 { 0 } else { self.bits << num };
        self.n -= num;
    }

    /// Bits not yet read.
    pub fn bits_left(&self) -> u64 {
        (self.buf.len() - self.pos) as u64 * 8 + u64::from(self.n)
    }

    #[inline(always)]
    pub fn read_bits_leq32(&mut self, width: u32) -> io::Result<u32> {
        debug_assert!(width <= 32);
        if width == 0 {
            return Ok(0);
        }
        if self.n < width {
            self.refill();
            if self.n < width {
                return end_of_bitstream();
            }
        }
        let value = (self.bits >> (64 - width)) as u32;
        self.consume(width);
        Ok(value)
    }

    #[inline(always)]
    pub fn read_bool(&mut self) -> io::Result<bool> {
        Ok(self.read_bits_leq32(1)? == 1)
    }

    /// Counts 1 bits up to the next 0 bit, which it consumes too.
    pub fn read_unary_ones(&mut self) -> io::Result<u32> {
        let mut num = 0;
        loop {
            if self.n == 0 {
                self.refill();
                if self.n == 0 {
                    return end_of_bitstream();
                }
            }
            let ones = self.bits.leading_ones().min(self.n);
            if ones < self.n {
                self.consume(ones + 1);
                return Ok(num + ones);
            }
            num += ones;
            self.consume(ones);
        }
    }

    pub fn ignore_bits(&mut self, mut count: u32) -> io::Result<()> {
        if u64::from(count) > self.bits_left() {
            // Consume everything, as symphonia's reader does before it reports the end.
            self.pos = self.buf.len();
            self.bits = 0;
            self.n = 0;
            return end_of_bitstream();
        }
        if count > self.n {
            count -= self.n;
            self.bits = 0;
            self.n = 0;
            self.pos += (count / 8) as usize;
            count %= 8;
        }
        if count > 0 {
            if self.n < count {
                self.refill();
            }
            self.consume(count);
        }
        Ok(())
    }

    /// Skips to the next byte boundary.
    pub fn realign(&mut self) {
        let n = self.n % 8;
        self.consume(n);
    }

    /// Decodes one codeword of `vlc`: its symbol and length.
    #[inline(always)]
    pub fn read_codebook(&mut self, vlc: &Vlc) -> io::Result<(u16, u32)> {
        if self.n < vlc.max_len {
            self.refill();
        }
        let mut entry = vlc.table[(self.bits >> (64 - PRIMARY_BITS)) as usize];
        if entry & JUMP != 0 {
            let sub = (self.bits << PRIMARY_BITS) >> (64 - vlc.sub_bits);
            entry = vlc.table[(entry >> 8) as usize + sub as usize];
        }
        let len = entry & LEN_MASK;
        if len == 0 {
            return Err(io::Error::other("aac: invalid codeword"));
        }
        if len > self.n {
            return end_of_bitstream();
        }
        self.consume(len);
        Ok(((entry >> 8) as u16, len))
    }
}

const LEN_MASK: u32 = 0x1f;
const JUMP: u32 = 0x80;

/// A Huffman code as a flat table: `PRIMARY_BITS` of lookahead give the symbol and its
/// length (in bits 8.. and 0..5), or for longer codewords (`JUMP`) the offset of a second
/// table indexed by the next `sub_bits`. A length of 0 marks bits no codeword starts with.
pub struct Vlc {
    table: Vec<u32>,
    max_len: u32,
    sub_bits: u32,
}

impl Vlc {
    /// From the codeword and its length of each symbol (0, 1, ...), a prefix code.
    pub fn new(codes: &[u32], lens: &[u8]) -> Vlc {
        assert_eq!(codes.len(), lens.len());
        let max_len = u32::from(*lens.iter().max().expect("a code has codewords"));
        assert!(max_len <= 24);
        let sub_bits = max_len.saturating_sub(PRIMARY_BITS);
        let mut table = vec![0u32; 1 << PRIMARY_BITS];
        for (sym, (&code, &len)) in codes.iter().zip(lens).enumerate() {
            let len = u32::from(len);
            let value = (sym as u32) << 8 | len;
            if len <= PRIMARY_BITS {
                let start = (code << (PRIMARY_BITS - len)) as usize;
                table[start..start + (1 << (PRIMARY_BITS - len))].fill(value);
                continue;
            }
            let prefix = (code >> (len - PRIMARY_BITS)) as usize;
            if table[prefix] & JUMP == 0 {
                let offset = table.len() as u32;
                table.resize(table.len() + (1 << sub_bits), 0);
                table[prefix] = offset << 8 | JUMP;
            }
            let base = (table[prefix] >> 8) as usize;
            let rest = code & ((1 << (len - PRIMARY_BITS)) - 1);
            let start = base + (rest << (max_len - len)) as usize;
            table[start..start + (1 << (max_len - len))].fill(value);
        }
        Vlc { table, max_len, sub_bits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `(value, width)` pairs most significant bit first.
    fn pack(fields: &[(u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut acc, mut n) = (0u64, 0u32);
        for &(v, w) in fields {
            acc = acc << w | u64::from(v);
            n += w;
            while n >= 8 {
                out.push((acc >> (n - 8)) as u8);
                n -= 8;
            }
        }
        if n > 0 {
            out.push((acc << (8 - n)) as u8);
        }
        out
    }

    #[test]
    fn reads_fields_across_refills_and_reports_the_end() {
        let fields: Vec<(u32, u32)> =
            (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> (32 - (i % 32 + 1)), i % 32 + 1)).collect();
        let bytes = pack(&fields);
        let mut bs = BitReader::new(&bytes);
        for &(v, w) in &fields {
            assert_eq!(bs.read_bits_leq32(w).unwrap(), v);
        }
        let left = bs.bits_left() as u32;
        assert!(left < 8);
        assert!(bs.read_bits_leq32(left + 1).is_err());
    }

    #[test]
    fn decodes_every_codeword_of_short_and_long_codes() {
        // Codes with lengths 1..=19 (a long tail like the scale factor book's).
        let lens: Vec<u8> = (1..=19).chain([19]).collect();
        let mut codes = Vec::new();
        let mut code = 0u32;
        let mut prev = lens[0];
        for &len in &lens {
            code <<= len - prev;
            codes.push(code);
            code += 1;
            prev = len;
        }
        let vlc = Vlc::new(&codes, &lens);
        let order: Vec<usize> = (0..200).map(|i| (i * 7) % lens.len()).collect();
        let fields: Vec<(u32, u32)> = order.iter().map(|&s| (codes[s], u32::from(lens[s]))).collect();
        let bytes = pack(&fields);
        let mut bs = BitReader::new(&bytes);
        for &s in &order {
            assert_eq!(bs.read_codebook(&vlc).unwrap(), (s as u16, u32::from(lens[s])));
        }
    }

    #[test]
    fn skips_realigns_and_counts_ones_as_symphonias_reader_does() {
        // Runs of ones of every length up to 20 among the bytes, for the unary codes.
        let mut bytes: Vec<u8> = (0..=255u8).map(|i| i.wrapping_mul(37)).collect();
        for (i, b) in bytes.iter_mut().enumerate() {
            if i % 5 < 2 {
                *b = 0xff;
            }
        }
        let mut ours = BitReader::new(&bytes);
        let mut theirs = symphonia_core::io::BitReaderLtr::new(&bytes);
        use symphonia_core::io::{FiniteBitStream, ReadBitsLtr};
        for step in 0..40u32 {
            let w = step % 13 + 1;
            assert_eq!(ours.read_bits_leq32(w).unwrap(), theirs.read_bits_leq32(w).unwrap());
            if step % 5 == 0 {
                ours.realign();
                theirs.realign();
            }
            if step % 7 == 0 {
                ours.ignore_bits(step * 3).unwrap();
                theirs.ignore_bits(step * 3).unwrap();
            }
            if step % 3 == 0 {
                assert_eq!(ours.read_unary_ones().unwrap(), theirs.read_unary_ones().unwrap());
            }
            assert_eq!(ours.bits_left(), theirs.bits_left());
        }
    }
}
