//! Matroska and WebM: EBML elements, each an id and a size in variable-length integers. The
//! file is an EBML header and a Segment; a muxer that could seek back declares the Segment's
//! size, one that streamed leaves it unknown and declares its children's (Clusters may be
//! unknown too, and then nothing after them can be checked).

const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1f43_b675;

/// A variable-length integer at the start of `b`: its value with the length marker removed
/// (`None` for "unknown", all value bits set) and its length. `Err` when `b` ends inside it
/// or it is malformed.
fn vint(b: &[u8], max_len: usize) -> Result<(Option<u64>, usize), Malformed> {
    let first = *b.first().ok_or(Malformed::Short)?;
    let len = first.leading_zeros() as usize + 1;
    if len > max_len {
        return Err(Malformed::Invalid);
    }
    let bytes = b.get(..len).ok_or(Malformed::Short)?;
    let value = bytes[1..].iter().fold(u64::from(first) & (0xff >> len), |v, &x| v << 8 | u64::from(x));
    let unknown = value == (1u64 << (7 * len)) - 1;
    Ok(((!unknown).then_some(value), len))
}

enum Malformed {
    /// The bytes end inside the integer.
    Short,
    Invalid,
}

/// One element header at the start of `b`: id (with its marker bits, as the spec writes
/// ids), data size, header length.
fn element(b: &[u8]) -> Result<(u32, Option<u64>, usize), Malformed> {
    let (_, id_len) = vint(b, 4)?;
    let id = b[..id_len].iter().fold(0u32, |v, &x| v << 8 | u32::from(x));
    let (size, size_len) = vint(&b[id_len..], 8)?;
    Ok((id, size, id_len + size_len))
}

fn name(id: u32) -> String {
    match id {
        SEGMENT => "Segment".into(),
        CLUSTER => "Cluster".into(),
        0x1549_a966 => "Info".into(),
        0x1654_ae6b => "Tracks".into(),
        0x114d_9b74 => "SeekHead".into(),
        0x1c53_bb6b => "Cues".into(),
        0x1254_c367 => "Tags".into(),
        other => format!("element {other:#x}"),
    }
}

pub(super) fn find_cut(bytes: &[u8]) -> Option<String> {
    walk(bytes, 0, bytes.len(), true)
}

/// Checks the elements in `bytes[from..to]`; `top` descends into a Segment of unknown size.
fn walk(bytes: &[u8], from: usize, to: usize, top: bool) -> Option<String> {
    let mut at = from;
    while at < to {
        let (id, size, header) = match element(&bytes[at..to]) {
            Ok(e) => e,
            Err(Malformed::Short) => {
                return Some(format!("the Matroska stream ends inside an element header at byte {at}"));
            }
            // Junk or damage: the demuxer's to report.
            Err(Malformed::Invalid) => return None,
        };
        let body = at + header;
        match size {
            Some(size) => {
                let available = (to - body) as u64;
                if size > available {
                    return Some(format!(
                        "the Matroska stream ends inside its {}: {available} of {size} bytes",
                        name(id)
                    ));
                }
                at = body + size as usize;
            }
            // A streamed Segment: its children declare their sizes.
            None if top && id == SEGMENT => return walk(bytes, body, to, false),
            // A streamed Cluster: its end is wherever the next one starts; nothing to check.
            None => return None,
        }
    }
    None
}
