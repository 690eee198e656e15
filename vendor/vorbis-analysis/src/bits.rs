// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.
//
// Written for debut (2026) in place of symphonia-core's `BitReaderRtl` for audio packets.
// See README.md.

//! The audio packets' bit reader (least significant bit first) and its Huffman decoder.
//!
//! symphonia's reader refills its 64-bit buffer a byte at a time and walks multi-level
//! codebook tables of at most 8 bits per level; Huffman decoding of the residue is most of a
//! Vorbis decoder's time once the IMDCT is cut down. This reader refills with one unaligned
//! 8-byte load and decodes through a flat table of up to [`PRIMARY_BITS`] bits with one
//! second level for longer codewords. Errors are symphonia's: reading past the end is an
//! `io::ErrorKind::Other` error (which floors and residues treat as the packet's end).

use std::io;

/// Bits indexed by a codebook's first-level table.
pub const PRIMARY_BITS: u32 = 10;

fn end_of_bitstream<T>() -> io::Result<T> {
    Err(io::Error::other("unexpected end of bitstream"))
}

pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Next byte of `buf` not yet in `bits`.
    pos: usize,
    /// Unread bits, the next one lowest; bits above `n` are zero or the next bytes' bits.
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
        if let Some(word) = self.buf.get(self.pos..self.pos + 8) {
            let word = u64::from_le_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
            self.bits |= word << self.n;
            let bytes = (63 - self.n) >> 3;
            self.pos += bytes as usize;
            self.n += bytes << 3;
        } else {
            while self.n <= 56 && self.pos < self.buf.len() {
                self.bits |= u64::from(self.buf[self.pos]) << self.n;
                self.pos += 1;
                self.n += 8;
            }
        }
    }

    #[inline(always)]
    fn consume(&mut self, num: u32) {
        // num <= n <= 64; a shift by 64 must not overflow.
        self.bits = if num >= 64 { 0 } else { self.bits >> num };
        self.n -= num;
    }

    pub fn read_bool(&mut self) -> io::Result<bool> {
        Ok(self.read_bits_leq32(1)? == 1)
    }

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
        let value = (self.bits & (u64::MAX >> (64 - width))) as u32;
        self.consume(width);
        Ok(value)
    }

    pub fn read_bits_leq64(&mut self, width: u32) -> io::Result<u64> {
        debug_assert!(width <= 64);
        if width <= 32 {
            return self.read_bits_leq32(width).map(u64::from);
        }
        let low = u64::from(self.read_bits_leq32(32)?);
        let high = u64::from(self.read_bits_leq32(width - 32)?);
        Ok(low | (high << 32))
    }

    /// Decodes one codeword of `book`: its entry's value.
    #[inline(always)]
    pub fn read_huffman(&mut self, book: &HuffmanTable) -> io::Result<u32> {
        if self.n < book.max_len {
            self.refill();
        }
        let mut entry = book.table[(self.bits & book.primary_mask) as usize];
        if entry & SUBTABLE != 0 {
            let base = (entry >> 11) as usize & 0xf_ffff;
            let width = (entry >> 6) & 0x1f;
            let rest = (self.bits >> PRIMARY_BITS) & ((1u64 << width) - 1);
            entry = book.table[base + rest as usize];
        }
        let len = entry & 0x3f;
        if len == 0 {
            // An unassigned entry: no codeword starts with these bits (an empty book).
            return Err(io::Error::new(io::ErrorKind::InvalidData, "vorbis: no such codeword"));
        }
        if len > self.n {
            return end_of_bitstream();
        }
        self.consume(len);
        Ok(entry >> 6)
    }
}

/// Marks a first-level entry that points to a second-level table: `offset << 11 | width << 6`.
const SUBTABLE: u32 = 1 << 31;

/// A canonical Huffman code as lookup tables for [`BitReader::read_huffman`]. Entries are
/// `value << 6 | length` (length 0: no codeword), or [`SUBTABLE`] pointers.
pub struct HuffmanTable {
    table: Vec<u32>,
    primary_mask: u64,
    max_len: u32,
}

impl HuffmanTable {
    /// From MSB-first codewords, their lengths (1..=32) and values (< 2^25). `None` for a value
    /// or table too large to pack.
    pub fn new(codewords: &[u32], lens: &[u8], values: &[u32]) -> Option<Self> {
        let max_len = lens.iter().copied().max().unwrap_or(0).into();
        let primary = PRIMARY_BITS.min(max_len).max(1);
        let mut table = vec![0u32; 1 << primary];

        // Reverse each codeword: the stream is read least significant bit first.
        let reversed =
            |code: u32, len: u8| -> u32 { if len == 0 { 0 } else { code.reverse_bits() >> (32 - u32::from(len)) } };

        // Codewords longer than the first level, grouped by their first `primary` bits: each
        // group gets a second-level table as wide as its longest codeword's remainder.
        let mut long: Vec<(u32, u32, u32, u32)> = Vec::new(); // (prefix, code, len, value)
        for ((&code, &len), &value) in codewords.iter().zip(lens).zip(values) {
            if len == 0 {
                continue;
            }
            if value >= 1 << 25 {
                return None;
            }
            let r = reversed(code, len);
            let len = u32::from(len);
            if len <= primary {
                let step = 1usize << len;
                for idx in (r as usize..table.len()).step_by(step) {
                    table[idx] = (value << 6) | len;
                }
            } else {
                long.push((r & ((1 << primary) - 1), r, len, value));
            }
        }
        if !long.is_empty() {
            long.sort_unstable_by_key(|&(prefix, ..)| prefix);
            let mut at = 0;
            while at < long.len() {
                let prefix = long[at].0;
                let end = at + long[at..].iter().take_while(|e| e.0 == prefix).count();
                let width = long[at..end].iter().map(|e| e.2 - primary).max().unwrap_or(0);
                let base = table.len();
                if base >= 1 << 20 || width > 22 {
                    return None;
                }
                table.resize(base + (1 << width), 0);
                table[prefix as usize] = SUBTABLE | ((base as u32) << 11) | (width << 6);
                for &(_, r, len, value) in &long[at..end] {
                    // The entry's length is the whole codeword's.
                    let rest = (r >> primary) as usize;
                    let step = 1usize << (len - primary);
                    for idx in (rest..1usize << width).step_by(step) {
                        table[base + idx] = (value << 6) | len;
                    }
                }
                at = end;
            }
        }
        Some(HuffmanTable { table, primary_mask: (1u64 << primary) - 1, max_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes codewords MSB-first into an LSB-first stream, as a Vorbis encoder does.
    fn pack(codes: &[(u32, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut acc, mut n) = (0u64, 0u32);
        for &(code, len) in codes {
            for i in (0..u32::from(len)).rev() {
                acc |= u64::from((code >> i) & 1) << n;
                n += 1;
                if n == 8 {
                    out.push(acc as u8);
                    acc = 0;
                    n = 0;
                }
            }
        }
        if n > 0 {
            out.push(acc as u8);
        }
        out
    }

    #[test]
    fn decodes_short_and_long_codewords() {
        // A complete code: lengths 1, 2, 3, ..., 13, 13.
        let lens: Vec<u8> = (1..=13).chain([13]).collect();
        let mut codes = Vec::new();
        let mut next = 0u32;
        let mut prev_len = 1u8;
        for &len in &lens {
            next <<= len - prev_len;
            codes.push(next);
            next += 1;
            prev_len = len;
        }
        let values: Vec<u32> = (0..lens.len() as u32).map(|v| v * 3 + 1).collect();
        let table = HuffmanTable::new(&codes, &lens, &values).unwrap();
        let order = [13usize, 0, 12, 5, 1, 11, 2, 9, 13, 3];
        let stream = pack(&order.iter().map(|&i| (codes[i], lens[i])).collect::<Vec<_>>());
        let mut bs = BitReader::new(&stream);
        for &i in &order {
            assert_eq!(bs.read_huffman(&table).unwrap(), values[i]);
        }
    }

    #[test]
    fn reads_bits_lsb_first_and_stops_at_the_end() {
        let data = [0b1010_1100u8, 0xff, 0x01, 2, 3, 4, 5, 6, 7, 8, 9];
        let mut bs = BitReader::new(&data);
        assert_eq!(bs.read_bits_leq32(2).unwrap(), 0);
        assert_eq!(bs.read_bits_leq32(3).unwrap(), 0b011);
        assert!(bs.read_bool().unwrap());
        assert_eq!(bs.read_bits_leq32(10).unwrap(), 0b11_1111_1110);
        assert_eq!(bs.read_bits_leq64(40).unwrap(), 0x05_0403_0201);
        assert_eq!(bs.read_bits_leq32(32).unwrap(), 0x0908_0706);
        assert!(bs.read_bool().is_err());
    }
}
