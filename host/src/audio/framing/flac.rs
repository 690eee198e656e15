//! Native FLAC: STREAMINFO declares the total samples (0 when unknown), and every frame opens
//! with a CRC-8-checked header that numbers it and ends with a CRC-16 of the whole frame. So
//! the stream is whole when a frame reaching the end of the bytes, CRC intact, ends at the
//! declared total. symphonia's own check compares decoded and declared lengths, with a
//! tolerance, and a span decode never reaches the end at all: a cut after the centre 30 s of
//! a master would be embedded without this.

use crc::{CRC_8_SMBUS, CRC_16_UMTS, Crc};

/// FLAC's CRC-8 (x^8 + x^2 + x + 1, init 0) over a frame header.
const CRC8: Crc<u8> = Crc::<u8>::new(&CRC_8_SMBUS);
/// FLAC's CRC-16 (x^16 + x^15 + x^2 + 1, init 0, unreflected) over a whole frame.
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_UMTS);

/// What STREAMINFO says.
struct StreamInfo {
    /// The block size of a fixed-block-size stream (frames count in it).
    max_block: u64,
    /// Largest frame in bytes; 0 when unknown.
    max_frame: usize,
    total: u64,
}

pub(super) fn find_cut(bytes: &[u8]) -> Option<String> {
    let (info, audio_start) = metadata(bytes)?;
    if info.total == 0 {
        return None;
    }
    // The last frame lies within one largest frame of the end (a cut one within two).
    let window = if info.max_frame > 0 { info.max_frame * 2 + 64 } else { 1 << 20 };
    // A tagger's ID3v1 tag after the last frame.
    let end = match bytes.len().checked_sub(128) {
        Some(tag) if tag >= audio_start && bytes[tag..].starts_with(b"TAG") => tag,
        _ => bytes.len(),
    };
    let bytes = &bytes[..end];
    let from = bytes.len().saturating_sub(window).max(audio_start);
    let tail = &bytes[from..];
    // The last frame header (CRC-8 intact) whose frame runs to the end, CRC-16 intact.
    let last = (0..tail.len().saturating_sub(1))
        .rev()
        .filter(|&i| tail[i] == 0xff && tail[i + 1] & 0xfe == 0xf8)
        .filter_map(|i| Some((i, frame_header(&tail[i..], &info)?)))
        .find(|&(i, _)| {
            let frame = &tail[i..];
            frame.len() >= 2
                && CRC16.checksum(&frame[..frame.len() - 2])
                    == u16::from_be_bytes([frame[frame.len() - 2], frame[frame.len() - 1]])
        });
    match last {
        None => Some(format!("the FLAC stream ends inside a frame (STREAMINFO declares {} samples)", info.total)),
        Some((_, end)) if end < info.total => {
            Some(format!("the FLAC stream ends after sample {end} of the {} STREAMINFO declares", info.total))
        }
        Some(_) => None,
    }
}

/// STREAMINFO, and where the frames start; `None` if the metadata is unreadable.
fn metadata(bytes: &[u8]) -> Option<(StreamInfo, usize)> {
    let mut at = 4;
    let mut info = None;
    loop {
        let header = bytes.get(at..at + 4)?;
        let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
        let body = bytes.get(at + 4..at + 4 + len)?;
        if header[0] & 0x7f == 0 && len >= 18 {
            let packed = u64::from_be_bytes(body[10..18].try_into().ok()?);
            info = Some(StreamInfo {
                max_block: u64::from(u16::from_be_bytes([body[2], body[3]])),
                max_frame: usize::from(body[7]) << 16 | usize::from(body[8]) << 8 | usize::from(body[9]),
                total: packed & ((1 << 36) - 1),
            });
        }
        at += 4 + len;
        if header[0] & 0x80 != 0 {
            return Some((info?, at));
        }
    }
}

/// A frame header at the start of `b`, CRC-8 checked: the sample just after the frame.
fn frame_header(b: &[u8], info: &StreamInfo) -> Option<u64> {
    let variable = b[1] & 1 == 1;
    let block_code = b.get(2)? >> 4;
    let rate_code = b[2] & 0x0f;
    let reserved = b.get(3)? & 1;
    if block_code == 0 || rate_code == 15 || reserved != 0 {
        return None;
    }
    // The frame (fixed block size) or first sample (variable) number, UTF-8-style coded.
    let first = *b.get(4)?;
    let extra = match first.leading_ones() {
        0 => 0,
        n @ 2..=7 => n as usize - 1,
        _ => return None,
    };
    let mut number = u64::from(first & (0x7f >> extra));
    for &c in b.get(5..5 + extra)? {
        if c & 0xc0 != 0x80 {
            return None;
        }
        number = number << 6 | u64::from(c & 0x3f);
    }
    let mut at = 5 + extra;
    let block = match block_code {
        1 => 192,
        2..=5 => 576 << (block_code - 2),
        6 => {
            at += 1;
            u64::from(*b.get(at - 1)?) + 1
        }
        7 => {
            at += 2;
            u64::from(u16::from_be_bytes([*b.get(at - 2)?, *b.get(at - 1)?])) + 1
        }
        _ => 256 << (block_code - 8),
    };
    at += match rate_code {
        12 => 1,
        13 | 14 => 2,
        _ => 0,
    };
    if CRC8.checksum(b.get(..at)?) != *b.get(at)? {
        return None;
    }
    let start = if variable { number } else { number * info.max_block };
    Some(start + block)
}
