//! Whether an upload is whole, judged by its container's own framing. A cut upload is the
//! commonest bad input a catalog sees, and a decoder alone cannot always tell it: Ogg and
//! ADTS declare no length, symphonia skips a cut last frame, an MP4 whose index follows its
//! samples is unreadable once cut, and a span decode never reads a track's end. Every unit of
//! these containers declares its size, so the unit the cut falls in declares more bytes than
//! follow it:
//!
//! - chunks and boxes: RIFF/WAV, AIFF, CAF, MP4 (here);
//! - Ogg pages, whose last one also carries the end-of-stream flag ([`ogg`]);
//! - Matroska/WebM elements ([`ebml`]);
//! - ADTS frames (here);
//! - native FLAC, whose last frame must end at STREAMINFO's total, CRC intact ([`flac`]).
//!
//! MP3's frames are walked by the MP3 fast path, which checks its last frame the same way.
//! `decode_mono` asks for every payload: a cut is `truncated` whether the decoder saw its
//! symptoms (an unreadable container, bad packets, no audio) or nothing at all, while a
//! refusal by policy (too long, an unsupported codec, ...) stands. A stream this module
//! cannot read (unknown, or corrupt at the start) passes: the decoders name its error. Only
//! what the framing proves is reported, so trailing tags or junk that declare nothing are
//! never a cut.

mod ebml;
mod flac;
mod ogg;

/// Where and how `bytes` ends too soon, if its container's framing says so.
pub(super) fn find_cut(bytes: &[u8]) -> Option<String> {
    let at = |range: std::ops::Range<usize>| bytes.get(range).unwrap_or_default();
    match (at(0..4), at(8..12)) {
        (b"OggS", _) => ogg::find_cut(bytes),
        (b"RIFF", b"WAVE") => Chunks::Riff.find_cut(bytes, 12),
        (b"FORM", b"AIFF" | b"AIFC") => Chunks::Aiff.find_cut(bytes, 12),
        (b"caff", _) => Chunks::Caf.find_cut(bytes, 8),
        (b"fLaC", _) => flac::find_cut(bytes),
        ([0x1a, 0x45, 0xdf, 0xa3], _) => ebml::find_cut(bytes),
        _ if at(4..8) == b"ftyp" => Chunks::Mp4.find_cut(bytes, 0),
        _ => {
            let body = bytes.get(id3v2_len(bytes)..).unwrap_or_default();
            if body.starts_with(b"fLaC") {
                flac::find_cut(body)
            } else if adts_header(body).is_some() {
                adts_find_cut(body)
            } else {
                None
            }
        }
    }
}

/// The length of an ID3v2 tag at the start of `bytes` (0 if none): some taggers put one in
/// front of FLAC and ADTS streams too.
fn id3v2_len(bytes: &[u8]) -> usize {
    match bytes.get(..10) {
        Some(h) if h.starts_with(b"ID3") && h[6..10].iter().all(|b| b & 0x80 == 0) => {
            let size = h[6..10].iter().fold(0usize, |n, &b| n << 7 | usize::from(b));
            let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
            10 + size + footer
        }
        _ => 0,
    }
}

/// The chunked containers: a sequence of (id, size, body) after a file header.
#[derive(Clone, Copy)]
enum Chunks {
    /// Little-endian 32-bit sizes, bodies padded to even lengths.
    Riff,
    /// Big-endian 32-bit sizes, padded to even lengths.
    Aiff,
    /// Big-endian 64-bit sizes; -1 is "to the end" (a `data` chunk written while recording).
    Caf,
    /// Boxes: big-endian 32-bit sizes that count the header, 1 for a 64-bit size after the
    /// type, 0 for "to the end".
    Mp4,
}

/// One chunk's header: its id, the header's length, the body's (`None`: to the end).
type ChunkHeader = ([u8; 4], usize, Option<u64>);

impl Chunks {
    fn name(self) -> &'static str {
        match self {
            Self::Riff => "WAV",
            Self::Aiff => "AIFF",
            Self::Caf => "CAF",
            Self::Mp4 => "MP4",
        }
    }

    fn unit(self) -> &'static str {
        if matches!(self, Self::Mp4) { "box" } else { "chunk" }
    }

    /// The chunk header at the start of `b`; `None` if `b` is too short for one, or holds
    /// no size a writer would put there.
    fn header(self, b: &[u8]) -> Option<ChunkHeader> {
        let id: [u8; 4] = b.get(..4)?.try_into().ok()?;
        let be32 = |i: usize| b.get(i..i + 4).map(|s| u32::from_be_bytes(s.try_into().unwrap_or_default()));
        match self {
            Self::Riff => {
                let size = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
                // Writers that cannot seek back leave 0 or all ones as the data size.
                let known = size != 0 && size < 0xffff_fff0;
                Some((id, 8, known.then_some(u64::from(size))))
            }
            Self::Aiff => Some((id, 8, Some(u64::from(be32(4)?)))),
            Self::Caf => {
                let size = i64::from_be_bytes(b.get(4..12)?.try_into().ok()?);
                Some((id, 12, u64::try_from(size).ok()))
            }
            Self::Mp4 => {
                let id = b.get(4..8)?.try_into().ok()?;
                match be32(0)? {
                    0 => Some((id, 8, None)),
                    1 => {
                        let size = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
                        Some((id, 16, Some(size.checked_sub(16)?)))
                    }
                    size => Some((id, 8, Some(u64::from(size).checked_sub(8)?))),
                }
            }
        }
    }

    /// The chunks without which a file of this kind holds no audio, each as alternatives.
    fn required(self) -> &'static [&'static [&'static [u8; 4]]] {
        match self {
            Self::Riff | Self::Caf => &[&[b"data"]],
            Self::Aiff => &[&[b"SSND"]],
            // The samples, and the index that says what they are.
            Self::Mp4 => &[&[b"mdat"], &[b"moov", b"moof"]],
        }
    }

    fn find_cut(self, bytes: &[u8], start: usize) -> Option<String> {
        let mut at = start;
        let mut seen: Vec<[u8; 4]> = Vec::new();
        while at < bytes.len() {
            let rest = &bytes[at..];
            let Some((id, header, size)) = self.header(rest) else {
                // A header cut short, or a size no writer puts there.
                let short = rest.len() < if matches!(self, Self::Caf) { 12 } else { 8 };
                if short {
                    break;
                }
                return None;
            };
            // Junk, or damage: the demuxer's to report.
            if !id.iter().all(|&c| c.is_ascii_graphic() || c == b' ') {
                return None;
            }
            seen.push(id);
            let Some(size) = size else { break };
            let available = (rest.len() - header) as u64;
            if size > available {
                let id = String::from_utf8_lossy(&id);
                let (name, unit) = (self.name(), self.unit());
                return Some(format!("the {name} ends inside its `{id}` {unit}: {available} of {size} bytes"));
            }
            let pad = matches!(self, Self::Riff | Self::Aiff) as u64 & size;
            let Ok(skip) = usize::try_from(size + pad) else { return None };
            at = at.saturating_add(skip).saturating_add(header);
        }
        // Every chunk seen whole, but the upload stopped before one the audio needs.
        let missing = self.required().iter().find(|any| !any.iter().any(|id| seen.contains(id)))?;
        let id = String::from_utf8_lossy(missing[0]);
        Some(format!("the {} ends before its `{id}` {}", self.name(), self.unit()))
    }
}

/// An ADTS frame header at the start of `b`: the frame's length, header included.
fn adts_header(b: &[u8]) -> Option<usize> {
    let h = b.get(..7)?;
    // 12 sync bits, then MPEG version, and layer 00 (MPEG audio's layer bits are never 00).
    if h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
        return None;
    }
    let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
    (len >= 7).then_some(len)
}

/// ADTS: every frame's header declares the frame's length.
fn adts_find_cut(body: &[u8]) -> Option<String> {
    let mut at = 0;
    let mut frames = 0usize;
    while at < body.len() {
        let rest = &body[at..];
        let len = match adts_header(rest) {
            Some(len) => len,
            // The cut fell inside the next header.
            None if rest.len() < 7 && rest[0] == 0xff && rest.get(1).is_none_or(|b| b & 0xf6 == 0xf0) => {
                return Some(format!("the ADTS stream ends inside the header of frame {}", frames + 1));
            }
            // Trailing tags or junk.
            None => return None,
        };
        if len > rest.len() {
            return Some(format!("the ADTS stream ends inside frame {}: {} of {len} bytes", frames + 1, rest.len()));
        }
        at += len;
        frames += 1;
    }
    None
}

#[cfg(test)]
mod tests;
