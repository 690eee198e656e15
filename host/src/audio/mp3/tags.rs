//! The ID3v2 `TLEN` frame: the one length a cut-off upload cannot change (see `decode`).

/// The TLEN frame of an ID3v2.3/2.4 tag, in milliseconds: `Some(None)` when the tag has none
/// (or an unreadable value, as symphonia reads it), `None` when the tag uses a feature this
/// reader does not follow (unsynchronisation, an extended header, compressed frames).
pub(super) fn tlen_ms(tag: &[u8]) -> Option<Option<u64>> {
    let (version, flags) = (tag[3], tag[5]);
    if !(version == 3 || version == 4) || flags & 0xc0 != 0 {
        return None;
    }
    let mut at = 10usize;
    while at + 10 <= tag.len() {
        let id = &tag[at..at + 4];
        if id[0] == 0 {
            break; // padding
        }
        if !id.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        let raw = &tag[at + 4..at + 8];
        let size = if version == 4 {
            if raw.iter().any(|b| b & 0x80 != 0) {
                return None;
            }
            raw.iter().fold(0usize, |acc, &b| (acc << 7) | usize::from(b))
        } else {
            raw.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let body_at = at + 10;
        let end = body_at.checked_add(size).filter(|&e| e <= tag.len())?;
        if id == b"TLEN" {
            if tag[at + 9] != 0 {
                return None; // compressed, encrypted, unsynchronised or length-prefixed
            }
            let text = text_value(&tag[body_at..end])?;
            let ms: Option<u64> = text.trim().trim_end_matches('\0').parse().ok();
            return Some(ms.filter(|&ms| ms > 0));
        }
        at = end;
    }
    Some(None)
}

/// An ID3v2 text frame's value (encoding byte, then text).
fn text_value(body: &[u8]) -> Option<String> {
    let (&encoding, text) = body.split_first()?;
    match encoding {
        0 => Some(text.iter().map(|&b| char::from(b)).collect()),
        3 => String::from_utf8(text.to_vec()).ok(),
        1 | 2 => {
            let (big_endian, text) = match text {
                [0xfe, 0xff, rest @ ..] => (true, rest),
                [0xff, 0xfe, rest @ ..] => (false, rest),
                _ => (encoding == 2, text),
            };
            let units = text
                .chunks_exact(2)
                .map(|c| if big_endian { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) });
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        _ => None,
    }
}
