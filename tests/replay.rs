//! The service's stages without a broker: CloudEvents parsing (binary and structured), bio
//! records, and `debut replay` over a recorded stream with a late bio and bad records.

use base64::Engine as _;
use debut::service::input::{BioEvent, InRecord, parse_bio, parse_track};
use debut_tests::*;
use serde_json::{Value, json};

fn rec(topic: &str, key: Option<&str>, headers: &[(&str, &str)], value: Option<Vec<u8>>) -> InRecord {
    InRecord {
        topic: topic.into(),
        partition: 0,
        offset: 0,
        key: key.map(|k| k.as_bytes().to_vec()),
        value,
        headers: headers.iter().map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec()))).collect(),
        timestamp_ms: None,
    }
}

const BINARY: &[(&str, &str)] = &[
    ("ce_specversion", "1.0"),
    ("ce_id", "e1"),
    ("ce_source", "s"),
    ("ce_type", "debut.release.track.v1"),
    ("ce_subject", "t1"),
    ("ce_artistid", "a1"),
    ("ce_label", "L"),
    ("content-type", "audio/mpeg; rate=44100"),
];

#[test]
fn binary_and_structured_cloudevents_parse_to_the_same_release() {
    let b = parse_track(&rec("r", Some("t1"), BINARY, Some(vec![1, 2, 3]))).unwrap();
    assert_eq!(
        (b.track_id.as_str(), b.artist_id.as_str(), b.label.as_deref(), b.content_type.as_str()),
        ("t1", "a1", Some("L"), "audio/mpeg")
    );
    let structured = json!({
        "specversion": "1.0", "id": "e1", "source": "s", "type": "debut.release.track.v1", "subject": "t1",
        "datacontenttype": "audio/mpeg", "artistid": "a1", "label": "L",
        "data_base64": base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3])
    });
    let s = parse_track(&rec(
        "r",
        Some("t1"),
        &[("content-type", "application/cloudevents+json")],
        Some(structured.to_string().into_bytes()),
    ))
    .unwrap();
    assert_eq!((s.track_id, s.artist_id, s.audio, s.ce_id), (b.track_id, b.artist_id, b.audio, b.ce_id));
}

#[test]
fn malformed_events_are_typed_errors() {
    let without = |name: &str| -> Vec<(&str, &str)> { BINARY.iter().copied().filter(|(k, _)| *k != name).collect() };
    let kind = |r: InRecord| parse_track(&r).unwrap_err().kind();
    assert_eq!(kind(rec("r", Some("t1"), &without("ce_type"), Some(vec![1]))), "missing-header");
    assert_eq!(kind(rec("r", Some("t1"), &without("ce_artistid"), Some(vec![1]))), "missing-header");
    assert_eq!(kind(rec("r", Some("other"), BINARY, Some(vec![1]))), "key-mismatch");
    assert_eq!(kind(rec("r", Some("t1"), BINARY, None)), "no-value");
    let mut h = without("content-type");
    h.push(("content-type", "video/mp4"));
    assert_eq!(kind(rec("r", Some("t1"), &h, Some(vec![1]))), "content-type");
    let mut h = without("ce_specversion");
    h.push(("ce_specversion", "0.3"));
    assert_eq!(kind(rec("r", Some("t1"), &h, Some(vec![1]))), "specversion");
    let bad_json = rec("r", None, &[("content-type", "application/cloudevents+json")], Some(b"{not json".to_vec()));
    assert_eq!(kind(bad_json), "invalid-json");
}

#[test]
fn bios_parse_tombstones_remove_and_bad_bytes_are_refused() {
    let bio = json!({"artist_id": "a1", "name": "N", "bio": "text", "label": "L", "tags": ["x"], "language": "en"});
    match parse_bio(&rec("b", Some("a1"), &[], Some(bio.to_string().into_bytes()))).unwrap() {
        BioEvent::Upsert(b) => assert_eq!((b.artist_id.as_str(), b.label.as_deref()), ("a1", Some("L"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(parse_bio(&rec("b", Some("a1"), &[], None)).unwrap(), BioEvent::Remove("a1".into()));
    assert_eq!(parse_bio(&rec("b", Some("a1"), &[], Some(vec![0xff, 0xfe]))).unwrap_err().kind(), "invalid-utf8");
    assert_eq!(
        parse_bio(&rec("b", Some("a2"), &[], Some(bio.to_string().into_bytes()))).unwrap_err().kind(),
        "key-mismatch"
    );
    assert_eq!(
        parse_bio(&rec("b", Some("a1"), &[], Some(b"{\"artist_id\":\"a1\"}".to_vec()))).unwrap_err().kind(),
        "invalid-json"
    );
}

fn line(topic: &str, ts: i64, key: &str, headers: Value, value: Option<&[u8]>) -> String {
    json!({
        "topic": topic, "timestamp_ms": ts, "key": key, "headers": headers,
        "value_base64": value.map(|v| base64::engine::general_purpose::STANDARD.encode(v))
    })
    .to_string()
}

#[test]
fn replay_writes_audio_only_then_fused_records_and_dead_letters() {
    let dir = scratch_dir("replay");
    let audio = std::fs::read(fixture("audio/music_22k_mono.flac")).unwrap();
    let corrupt = std::fs::read(fixture("corrupt/truncated.flac")).unwrap();
    let headers = |id: &str, artist: &str| {
        json!({"ce_specversion": "1.0", "ce_id": format!("e-{id}"), "ce_source": "s", "ce_type": "debut.release.track.v1",
               "ce_subject": id, "ce_artistid": artist, "content-type": "audio/flac"})
    };
    let bio = std::fs::read_to_string(fixture("bios/ar-0001.json")).unwrap();
    let bio_late = bio.replace("ar-0001", "ar-late");
    let lines = [
        line("debut.artist-bios", 0, "ar-0001", json!({}), Some(bio.as_bytes())),
        line("debut.releases", 100, "t-known", headers("t-known", "ar-0001"), Some(&audio)),
        line("debut.releases", 200, "t-late", headers("t-late", "ar-late"), Some(&audio)),
        line("debut.releases", 300, "t-bad", headers("t-bad", "ar-0001"), Some(&corrupt)),
        // 10 s later: t-late's wait (5 s) is over before its bio arrives.
        line("debut.artist-bios", 10_300, "ar-late", json!({}), Some(bio_late.as_bytes())),
    ];
    let input = dir.join("in.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.join("out.jsonl");
    let (ok, _, err) =
        run_debut(&["replay", input.to_str().unwrap(), "--out", out.to_str().unwrap()], &[("DEBUT_BACKEND", "cpu")]);
    assert!(ok, "{err}");
    assert!(err.contains("replayed 5 records: 3 embeddings, 1 dead letters"), "{err}");
    let outs: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(String, String, Value)> = outs
        .iter()
        .map(|o| {
            (
                o["topic"].as_str().unwrap().to_string(),
                o["key"].as_str().unwrap().to_string(),
                o["value"]["modalities"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("debut.track-embeddings".into(), "t-known".into(), json!(["audio", "text"])),
            ("debut.dlq".into(), "t-bad".into(), Value::Null),
            ("debut.track-embeddings".into(), "t-late".into(), json!(["audio"])),
            ("debut.track-embeddings".into(), "t-late".into(), json!(["audio", "text"])),
        ]
    );
    assert_eq!(outs[1]["headers"]["debut-stage"], "decode");
    assert_eq!(outs[1]["headers"]["ce_id"], "e-t-bad");
    assert_eq!(outs[2]["value"]["embedding"].as_array().unwrap().len(), 200);
    assert_ne!(outs[2]["value"]["embedding"], outs[3]["value"]["embedding"]);
}
