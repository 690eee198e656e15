//! Ogg (RFC 3533): a file is a sequence of pages, each declaring its body's length in its
//! segment table, and every logical stream's last page carries the end-of-stream flag. An
//! upload cut anywhere but exactly between pages ends inside a page; one cut between pages
//! ends without that flag. (symphonia reads the length of an Ogg stream from its last page's
//! granule position, which a cut moves with it.)

/// The fixed part of a page header, up to the segment table.
const HEADER: usize = 27;
/// `header_type` flag of a logical stream's last page.
const END_OF_STREAM: u8 = 0x04;

pub(super) fn find_cut(bytes: &[u8]) -> Option<String> {
    // Each logical stream's serial number and whether its latest page ended it.
    let mut streams: Vec<(u32, bool)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if !rest.starts_with(b"OggS") {
            // A cut inside the capture pattern itself.
            if rest.len() < 4 && b"OggS".starts_with(rest) {
                return Some(format!("the Ogg stream ends inside a page header at byte {at}"));
            }
            // Junk between pages: resume at the next capture pattern, as a demuxer does.
            match rest.windows(4).position(|w| w == b"OggS") {
                Some(skip) => {
                    at += skip;
                    continue;
                }
                None => break,
            }
        }
        let Some(segments) = rest.get(HEADER - 1).map(|&n| usize::from(n)) else {
            return Some(format!("the Ogg stream ends inside a page header at byte {at}"));
        };
        let Some(table) = rest.get(HEADER..HEADER + segments) else {
            return Some(format!("the Ogg stream ends inside a page header at byte {at}"));
        };
        let page = HEADER + segments + table.iter().map(|&s| usize::from(s)).sum::<usize>();
        if page > rest.len() {
            return Some(format!("the Ogg stream ends inside a page: {} of its {page} bytes", rest.len()));
        }
        let serial = u32::from_le_bytes([rest[14], rest[15], rest[16], rest[17]]);
        let ended = rest[5] & END_OF_STREAM != 0;
        match streams.iter_mut().find(|(s, _)| *s == serial) {
            Some(stream) => stream.1 = ended,
            None => streams.push((serial, ended)),
        }
        at += page;
    }
    let open = streams.iter().filter(|(_, ended)| !ended).count();
    (open > 0).then(|| {
        format!(
            "the Ogg stream ends without its last page ({open} logical stream(s) lack the end-of-stream flag): \
             the upload was cut, or the file was captured from a live stream"
        )
    })
}
