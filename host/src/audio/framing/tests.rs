use super::*;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md" && e != "mp3"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Cut points over the whole file past its first bytes: 200 spread out, and the last 40.
fn cuts(len: usize) -> impl Iterator<Item = usize> {
    let spread = (1..200).map(move |i| 64 + (len - 64) * i / 200);
    spread.chain(len.saturating_sub(40)..len)
}

#[test]
fn every_container_fixture_is_whole_and_every_cut_of_it_is_found() {
    let all = fixtures();
    let kinds = ["wav", "flac", "ogg", "opus", "m4a", "mp4", "webm", "aac"];
    for kind in kinds {
        assert!(all.iter().any(|(n, _)| n.ends_with(kind)), "a .{kind} fixture");
    }
    for (name, bytes) in &all {
        assert_eq!(find_cut(bytes), None, "{name} is whole");
        let mut example = None;
        for cut in cuts(bytes.len()) {
            // ADTS declares no length and no last frame: a cut between frames is invisible.
            if name.ends_with(".aac") && adts_header(&bytes[cut..]).is_some() {
                continue;
            }
            let detail = find_cut(&bytes[..cut]).unwrap_or_else(|| panic!("{name} cut at {cut} of {}", bytes.len()));
            example.get_or_insert(detail);
        }
        eprintln!("{name}: {}", example.unwrap_or_default());
    }
}

/// An Ogg page of one packet (under 255 bytes); the CRC is not checked here.
fn ogg_page(serial: u32, flags: u8, packet: &[u8]) -> Vec<u8> {
    let mut page = b"OggS\0".to_vec();
    page.push(flags);
    page.extend_from_slice(&[0; 8]);
    page.extend_from_slice(&serial.to_le_bytes());
    page.extend_from_slice(&[0; 8]);
    page.push(1);
    page.push(packet.len() as u8);
    page.extend_from_slice(packet);
    page
}

#[test]
fn an_ogg_stream_cut_between_pages_lacks_its_end_of_stream_page() {
    let mut whole = ogg_page(7, 0x02, b"head");
    whole.extend(ogg_page(7, 0, b"audio"));
    let cut_between = whole.clone();
    whole.extend(ogg_page(7, 0x04, b"last"));
    assert_eq!(find_cut(&whole), None);
    let detail = find_cut(&cut_between).unwrap();
    assert!(detail.contains("end-of-stream"), "{detail}");
    // Junk between pages is skipped, as a demuxer resyncs.
    let mut junk = ogg_page(7, 0x02, b"head");
    junk.extend_from_slice(b"junk junk");
    junk.extend(ogg_page(7, 0x04, b"last"));
    assert_eq!(find_cut(&junk), None);
    // Two logical streams: each must end.
    let mut two = ogg_page(1, 0x02, b"a");
    two.extend(ogg_page(2, 0x02, b"b"));
    two.extend(ogg_page(1, 0x04, b"a"));
    assert!(find_cut(&two).is_some());
    two.extend(ogg_page(2, 0x04, b"b"));
    assert_eq!(find_cut(&two), None);
}

fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend_from_slice(&(body.len() as u32).to_le_bytes());
    c.extend_from_slice(body);
    c
}

fn wav(data_size: u32, data: &[u8]) -> Vec<u8> {
    let mut w = b"RIFF\0\0\0\0WAVE".to_vec();
    w.extend(chunk(b"fmt ", &[0; 16]));
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_size.to_le_bytes());
    w.extend_from_slice(data);
    w
}

#[test]
fn a_wav_data_size_left_unknown_by_a_streaming_writer_is_no_cut() {
    assert_eq!(find_cut(&wav(0xffff_ffff, &[0; 100])), None);
    assert_eq!(find_cut(&wav(0, &[0; 100])), None);
    assert!(find_cut(&wav(200, &[0; 100])).unwrap().contains("`data` chunk: 100 of 200 bytes"));
    // An odd-sized chunk's pad byte may be missing; trailing chunks after the data are fine.
    assert_eq!(find_cut(&wav(3, &[0; 3])), None);
    let mut tagged = wav(4, &[0; 4]);
    tagged.extend(chunk(b"LIST", b"INFO"));
    assert_eq!(find_cut(&tagged), None);
    // Cut before the data chunk: nothing to decode.
    let header_only = wav(4, &[0; 4])[..36].to_vec();
    assert!(find_cut(&header_only).unwrap().contains("before its `data` chunk"));
    // Binary junk where a chunk id should be is damage, not a cut: the decoder names it.
    let mut junk = wav(4, &[0; 4]);
    junk.extend_from_slice(&[0x00, 0xff, 0x10, 0x80, 0xff, 0xff, 0xff, 0x7f]);
    assert_eq!(find_cut(&junk), None);
}

#[test]
fn an_mp4_whose_samples_run_to_the_end_is_whole_once_indexed() {
    let boxed = |id: &[u8; 4], size: u32, body: &[u8]| {
        let mut b = size.to_be_bytes().to_vec();
        b.extend_from_slice(id);
        b.extend_from_slice(body);
        b
    };
    let mut file = boxed(b"ftyp", 16, b"isomiso2");
    file.extend(boxed(b"moov", 12, b"trak"));
    file.extend(boxed(b"mdat", 0, &[1; 50]));
    assert_eq!(find_cut(&file), None);
    // Samples, then the upload stopped before the index.
    let mut unindexed = boxed(b"ftyp", 16, b"isomiso2");
    unindexed.extend(boxed(b"mdat", 58, &[1; 50]));
    assert!(find_cut(&unindexed).unwrap().contains("`moov`"));
    // A 64-bit size.
    let mut large = boxed(b"ftyp", 16, b"isomiso2");
    large.extend(boxed(b"moov", 12, b"trak"));
    large.extend(boxed(b"mdat", 1, &[0, 0, 0, 0, 0, 0, 0, 100]));
    large.extend_from_slice(&[1; 84]);
    assert_eq!(find_cut(&large), None);
    assert!(find_cut(&large[..large.len() - 1]).unwrap().contains("83 of 84"));
}

#[test]
fn a_streamed_matroska_segment_is_checked_by_its_children() {
    // EBML header (empty), then a Segment of unknown size holding one Cluster of 5 bytes.
    let mut file = vec![0x1a, 0x45, 0xdf, 0xa3, 0x80];
    file.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    file.extend_from_slice(&[0x1f, 0x43, 0xb6, 0x75, 0x85, 1, 2, 3, 4, 5]);
    assert_eq!(find_cut(&file), None);
    let detail = find_cut(&file[..file.len() - 2]).unwrap();
    assert!(detail.contains("Cluster: 3 of 5 bytes"), "{detail}");
    // A Cluster of unknown size (live muxing) ends wherever the data does.
    let mut live = file[..file.len() - 10].to_vec();
    live.extend_from_slice(&[0x1f, 0x43, 0xb6, 0x75, 0xff, 1, 2, 3]);
    assert_eq!(find_cut(&live), None);
}

#[test]
fn a_flac_file_with_a_trailing_id3v1_tag_is_whole() {
    let (_, flac) = fixtures().into_iter().find(|(n, _)| n == "music_22k_mono.flac").unwrap();
    let mut tagged = flac.clone();
    tagged.extend_from_slice(b"TAG");
    tagged.extend_from_slice(&[b' '; 125]);
    assert_eq!(find_cut(&tagged), None);
    // A whole frame short: the last frame is intact but ends early.
    let last_frame = (0..flac.len() - 1)
        .rev()
        .find(|&i| {
            flac[i] == 0xff
                && flac[i + 1] & 0xfe == 0xf8
                && find_cut(&flac[..i]).is_some_and(|d| d.contains("after sample"))
        })
        .expect("a frame boundary near the end");
    let detail = find_cut(&flac[..last_frame]).unwrap();
    assert!(detail.contains("of the 88200 STREAMINFO declares"), "{detail}");
}

#[test]
fn adts_frames_declare_their_lengths_and_trailing_tags_are_no_cut() {
    let (_, aac) = fixtures().into_iter().find(|(n, _)| n.ends_with(".aac")).unwrap();
    let mut tagged = aac.clone();
    tagged.extend_from_slice(b"TAG");
    tagged.extend_from_slice(&[b' '; 125]);
    assert_eq!(find_cut(&tagged), None);
    // An ID3v2 tag in front.
    let mut id3 = b"ID3\x04\0\0\0\0\0\x05hello".to_vec();
    id3.extend_from_slice(&aac);
    assert_eq!(find_cut(&id3), None);
    assert!(find_cut(&id3[..id3.len() - 3]).unwrap().contains("inside frame"));
}
