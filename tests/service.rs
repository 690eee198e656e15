//! The ingest service against a real broker (Tansu, started per test), with kafka-python as
//! the independent client: end to end, dead letters, a late bio, a consumer group of two, a
//! kill -9 in mid-stream, a broker restart, metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use debut_tests::kafka::*;
use serde_json::{Value, json};

/// The service tests start brokers and debut processes: one at a time on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn schema_id() -> String {
    let text = std::fs::read_to_string(debut_tests::repo_root().join("host/schemas/track-embedding.v1.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["$id"].as_str().unwrap().to_string()
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(debut_tests::repo_root().join("host/schemas/track-embedding.v1.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// The latest record per key (consumers upsert).
fn latest(records: &[Consumed]) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for r in records {
        m.insert(r.key.clone().unwrap_or_default(), r.json());
    }
    m
}

/// Releases of every audio fixture, `copies` times with distinct ids, artists round-robin.
fn fixture_releases(copies: usize, prefix: &str) -> (Vec<Value>, BTreeSet<String>) {
    let bios = bios();
    let fixtures = audio_fixtures();
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for c in 0..copies {
        for (i, (name, ct, bytes)) in fixtures.iter().enumerate() {
            let id = format!("{prefix}-{c}-{name}");
            let artist = bios[i % bios.len()]["artist_id"].as_str().unwrap();
            out.push(release(&id, artist, ct, bytes));
            ids.insert(id);
        }
    }
    (out, ids)
}

#[test]
fn fixture_releases_and_bios_come_out_as_fused_schema_valid_embeddings() {
    let _g = serial();
    let broker = Broker::start("e2e");
    let topics = Topics::create(&broker, "e2e", 4);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let (releases, ids) = fixture_releases(1, "e2e");
    produce(&broker, &topics.releases, &releases);
    let mut debut = Debut::start(&broker, &topics, "e2e", &[]);
    let out = consume(&broker, &topics.embeddings, "reader", ids.len(), 120, true);
    let got = latest(&out);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), ids, "log:\n{}", debut.log_text());
    let schema = schema();
    let artists: BTreeMap<String, Value> =
        bios().into_iter().map(|b| (b["artist_id"].as_str().unwrap().to_string(), b)).collect();
    for (key, v) in &got {
        let errors: Vec<String> = schema.iter_errors(v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{key}: {errors:?}");
        assert_eq!(v["track_id"], key.as_str());
        assert_eq!(v["modalities"], json!(["audio", "text"]), "{key}: bios were there first");
        assert_eq!(v["plugin"]["name"], "bio-semantic");
        assert_eq!(v["label"], artists[v["artist_id"].as_str().unwrap()]["label"]);
        assert_eq!(v["source"]["topic"], topics.releases.as_str());
        let norm: f64 =
            v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap().powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4 && v["embedding"].as_array().unwrap().len() == 200);
    }
    // Metrics and health.
    let (code, metrics) = debut.http("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("debut_records_in_total") && metrics.contains("debut_embeddings_out_total"), "{metrics}");
    assert!(metrics.contains("debut_stage_seconds_bucket"), "{metrics}");
    assert_eq!(debut.http("/healthz").unwrap().0, 200);
    debut.stop();
}

#[test]
fn bad_records_go_to_the_dead_letter_topic_and_the_stream_goes_on() {
    let _g = serial();
    let broker = Broker::start("dlq");
    let topics = Topics::create(&broker, "dlq", 2);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let corrupt = std::fs::read(debut_tests::fixture("corrupt/truncated.flac")).unwrap();
    let good = std::fs::read(debut_tests::fixture("audio/music_22k_mono.flac")).unwrap();
    let mut missing = release("missing-type", "ar-0001", "audio/flac", &good);
    missing["headers"].as_object_mut().unwrap().remove("ce_type");
    let huge: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut traced = release("corrupt-audio", "ar-0001", "audio/flac", &corrupt);
    traced["headers"]["traceparent"] = json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let releases = [
        traced,
        release("unknown-type", "ar-0001", "text/plain", &good),
        missing,
        release("huge-value", "ar-0001", "audio/wav", &huge),
        release("after-the-bad-ones", "ar-0002", "audio/flac", &good),
    ];
    produce(&broker, &topics.releases, &releases[..4]);
    produce(&broker, &topics.releases, &releases[4..]);
    // A bio whose value is not UTF-8.
    let mut bad_bio = bio_record(&json!({"artist_id": "ar-bad", "name": "x", "bio": "y"}));
    bad_bio["value_base64"] = json!("/w==");
    bad_bio["key"] = json!("ar-bad");
    produce(&broker, &topics.bios, &[bad_bio]);

    let debut = Debut::start(&broker, &topics, "dlq", &[]);
    let dead = consume(&broker, &topics.dlq, "reader", 5, 120, true);
    let by_key: BTreeMap<String, &Consumed> = dead.iter().map(|d| (d.key.clone().unwrap_or_default(), d)).collect();
    let expect = [
        ("corrupt-audio", "decode", "truncated"),
        ("unknown-type", "input", "content-type"),
        ("missing-type", "input", "missing-header"),
        ("huge-value", "input", "too-large"),
        ("ar-bad", "input", "invalid-utf8"),
    ];
    for (key, stage, kind) in expect {
        let d = by_key
            .get(key)
            .unwrap_or_else(|| panic!("no dead letter for {key}; got {:?}\nlog:\n{}", by_key.keys(), debut.log_text()));
        assert_eq!(d.header("debut-stage"), Some(stage), "{key}");
        assert_eq!(d.header("debut-error-kind"), Some(kind), "{key}: {:?}", d.header("debut-error"));
        assert!(!d.header("debut-error").unwrap_or("").is_empty());
        // The origin, as one header and as three.
        let (t, p, o) =
            (d.header("debut-source-topic"), d.header("debut-source-partition"), d.header("debut-source-offset"));
        assert_eq!(d.header("debut-source"), Some(format!("{}/{}/{}", t.unwrap(), p.unwrap(), o.unwrap()).as_str()));
        let expected_topic = if key == "ar-bad" { &topics.bios } else { &topics.releases };
        assert_eq!(t, Some(expected_topic.as_str()));
        assert!(p.unwrap().parse::<i32>().is_ok() && o.unwrap().parse::<i64>().is_ok());
    }
    assert_eq!(
        by_key["corrupt-audio"].header("traceparent"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        "the trace context goes with the dead letter"
    );
    // Original key, value and headers are kept.
    assert_eq!(by_key["corrupt-audio"].value.as_deref(), Some(corrupt.as_slice()));
    assert_eq!(by_key["corrupt-audio"].header("ce_id"), Some("ev-corrupt-audio"));
    assert_eq!(by_key["huge-value"].value.as_ref().map(Vec::len), Some(huge.len()));
    assert_eq!(by_key["ar-bad"].value.as_deref(), Some(&[0xff][..]));
    // And the stream went on.
    let out = consume(&broker, &topics.embeddings, "reader", 1, 60, true);
    assert_eq!(out.first().and_then(|r| r.key.as_deref()), Some("after-the-bad-ones"), "log:\n{}", debut.log_text());
}

#[test]
fn a_bio_after_its_tracks_gives_audio_only_then_fused_records() {
    let _g = serial();
    let broker = Broker::start("late");
    let topics = Topics::create(&broker, "late", 2);
    let audio = std::fs::read(debut_tests::fixture("audio/music_22k_mono.flac")).unwrap();
    produce(
        &broker,
        &topics.releases,
        &[release("late-1", "ar-late", "audio/flac", &audio), release("late-2", "ar-late", "audio/flac", &audio)],
    );
    let debut = Debut::start(&broker, &topics, "late", &[("DEBUT_PIPELINE__BIO_WAIT_MS", "1000")]);
    let first = consume(&broker, &topics.embeddings, "reader", 2, 60, true);
    assert_eq!(first.len(), 2, "log:\n{}", debut.log_text());
    for r in &first {
        assert_eq!(r.json()["modalities"], json!(["audio"]));
        assert!(r.json()["plugin"].is_null());
    }
    let mut bio = bios()[0].clone();
    bio["artist_id"] = json!("ar-late");
    produce(&broker, &topics.bios, &[bio_record(&bio)]);
    let second = consume(&broker, &topics.embeddings, "reader", 2, 60, true);
    assert_eq!(second.len(), 2, "log:\n{}", debut.log_text());
    for r in &second {
        assert_eq!(r.json()["modalities"], json!(["audio", "text"]));
        assert!(["late-1", "late-2"].contains(&r.key.as_deref().unwrap()));
    }
    assert_ne!(first[0].json()["embedding"], second[0].json()["embedding"]);
}

#[test]
fn two_instances_share_the_partitions_and_one_takes_over_when_the_other_stops() {
    let _g = serial();
    let broker = Broker::start("group");
    let topics = Topics::create(&broker, "group", 4);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let mut a = Debut::start(&broker, &topics, "group", &[]);
    let b = Debut::start(&broker, &topics, "group", &[]);
    a.wait_healthy(Duration::from_secs(60));
    b.wait_healthy(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(4)); // let the group settle on both members
    let (first, mut ids) = fixture_releases(1, "g1");
    produce(&broker, &topics.releases, &first);
    let out = consume(&broker, &topics.embeddings, "reader", ids.len(), 120, true);
    assert_eq!(latest(&out).keys().cloned().collect::<BTreeSet<_>>(), ids);
    // Both instances took a share.
    let sources_a = a.log_text().matches("partitions assigned").count();
    let assigned_b = b.log_text();
    assert!(sources_a > 0 && assigned_b.contains("partitions assigned"), "both joined the group");
    let split = |log: &str| log.lines().rfind(|l| l.contains("partitions assigned")).map(str::to_string);
    let (pa, pb) = (split(&a.log_text()).unwrap(), split(&assigned_b).unwrap());
    assert!(pa.contains("group.releases") && pb.contains("group.releases"), "releases split:\n{pa}\n{pb}");

    a.stop();
    let (second, more) = fixture_releases(1, "g2");
    produce(&broker, &topics.releases, &second);
    ids.extend(more);
    let out = consume(&broker, &topics.embeddings, "reader2", ids.len(), 180, true);
    assert_eq!(latest(&out).keys().cloned().collect::<BTreeSet<_>>(), ids, "b's log:\n{}", b.log_text());
}

#[test]
fn kill_9_in_mid_stream_then_restart_loses_nothing() {
    let _g = serial();
    let broker = Broker::start("kill");
    let topics = Topics::create(&broker, "kill", 4);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let (releases, ids) = fixture_releases(4, "k");
    produce(&broker, &topics.releases, &releases);
    // Tansu 0.6 keeps a crashed group leader in the group without signalling a rebalance:
    // the restarted instance rejoins once it has sat without partitions for a while.
    let env = [("DEBUT_SERVICE__REJOIN_IDLE_S", "15")];
    let mut debut = Debut::start(&broker, &topics, "kill", &env);
    // Kill as soon as some, not all, outputs are out.
    let t0 = Instant::now();
    let mut seen = 0;
    while seen == 0 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no output before the kill:\n{}", debut.log_text());
        seen = consume(&broker, &topics.embeddings, &format!("peek-{}", t0.elapsed().as_millis()), 1, 2, false).len();
    }
    debut.kill9();
    let partial = consume(&broker, &topics.embeddings, "count-partial", ids.len(), 5, true);
    let partial_keys: BTreeSet<String> = partial.iter().filter_map(|r| r.key.clone()).collect();
    eprintln!("{} of {} tracks out before kill -9", partial_keys.len(), ids.len());
    let debut2 = Debut::start(&broker, &topics, "kill", &env);
    let out = consume(&broker, &topics.embeddings, "reader", ids.len(), 180, true);
    let keys: BTreeSet<String> = out.iter().filter_map(|r| r.key.clone()).collect();
    assert_eq!(keys, ids, "log after restart:\n{}", debut2.log_text());
    eprintln!("{} records for {} tracks (duplicates are allowed: at-least-once)", out.len(), ids.len());
}

#[test]
fn a_broker_restart_loses_nothing() {
    let _g = serial();
    let mut broker = Broker::start_persistent("restart");
    let topics = Topics::create(&broker, "restart", 2);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let (first, mut ids) = fixture_releases(1, "r1");
    produce(&broker, &topics.releases, &first);
    let debut = Debut::start(&broker, &topics, "restart", &[]);
    let out = consume(&broker, &topics.embeddings, "reader", ids.len(), 120, true);
    assert_eq!(out.iter().filter_map(|r| r.key.clone()).collect::<BTreeSet<_>>(), ids);
    broker.restart();
    std::thread::sleep(Duration::from_secs(1));
    let (second, more) = fixture_releases(1, "r2");
    produce(&broker, &topics.releases, &second);
    ids.extend(more);
    let out = consume(&broker, &topics.embeddings, "reader2", ids.len(), 180, true);
    let keys: BTreeSet<String> = out.iter().filter_map(|r| r.key.clone()).collect();
    assert_eq!(keys, ids, "log:\n{}", debut.log_text());
}

#[test]
fn a_backlog_larger_than_the_in_flight_bound_pauses_consumption_and_loses_nothing() {
    let _g = serial();
    let broker = Broker::start("backlog");
    let topics = Topics::create(&broker, "backlog", 4);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let (releases, ids) = fixture_releases(3, "bl");
    let backlog: usize = audio_fixtures().iter().map(|(_, _, b)| b.len()).sum::<usize>() * 3;
    produce(&broker, &topics.releases, &releases);
    // A bound far below the backlog: the consumer must stop fetching, drain, and go on.
    let bound = 512 * 1024;
    assert!(backlog > 8 * bound, "the backlog ({backlog} B) must dwarf the bound");
    let debut = Debut::start(&broker, &topics, "backlog", &[("DEBUT_SERVICE__MAX_INFLIGHT_BYTES", "524288")]);
    let out = consume(&broker, &topics.embeddings, "reader", ids.len(), 180, true);
    let keys: BTreeSet<String> = out.iter().filter_map(|r| r.key.clone()).collect();
    let log = debut.log_text();
    assert_eq!(keys, ids, "log:\n{log}");
    let (paused, resumed) = (log.matches("consumption paused").count(), log.matches("consumption resumed").count());
    assert!(paused >= 1 && resumed >= 1, "paused {paused}, resumed {resumed} times:\n{log}");
    eprintln!("{} tracks ({backlog} B of audio) through a {bound} B in-flight bound: paused {paused} times", ids.len());
}

#[test]
fn a_service_started_before_its_topics_exist_waits_says_why_then_fuses() {
    let _g = serial();
    let broker = Broker::start("early");
    let names = ["early.releases", "early.bios", "early.embeddings", "early.dlq"];
    let topics =
        Topics { releases: names[0].into(), bios: names[1].into(), embeddings: names[2].into(), dlq: names[3].into() };
    let mut debut = Debut::start(&broker, &topics, "early", &[]);
    // Alive, not ready, and saying why.
    let t0 = Instant::now();
    loop {
        let ready = debut.http("/readyz");
        if let Some((503, body)) = &ready
            && body.contains("waiting for topics")
        {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "/readyz: {ready:?}\nlog:\n{}", debut.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(debut.http("/livez").map(|r| r.0), Some(200));
    // Started (model and plugins loaded): a startup probe does not restart it for the wait.
    assert_eq!(debut.http("/startz").map(|r| r.0), Some(200));
    std::thread::sleep(Duration::from_secs(2));
    assert!(debut.wait_exit(Duration::ZERO).is_none(), "it waits rather than stop:\n{}", debut.log_text());

    // The topics appear (a separate job makes them), the bio first, then its track.
    let topics = Topics::create(&broker, "early", 2);
    let mut bio = bios()[0].clone();
    bio["artist_id"] = json!("ar-early");
    produce(&broker, &topics.bios, &[bio_record(&bio)]);
    let audio = std::fs::read(debut_tests::fixture("audio/music_22k_mono.flac")).unwrap();
    let mut track = release("early-1", "ar-early", "audio/flac", &audio);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    track["headers"]["traceparent"] = json!(traceparent);
    produce(&broker, &topics.releases, &[track]);
    debut.wait_healthy(Duration::from_secs(60));
    assert_eq!(debut.http("/readyz").map(|r| r.0), Some(200));

    let out = consume(&broker, &topics.embeddings, "reader", 1, 60, true);
    assert_eq!(out.len(), 1, "log:\n{}", debut.log_text());
    let r = &out[0];
    assert_eq!(r.json()["modalities"], json!(["audio", "text"]), "the bio published first is joined");
    // The output is a CloudEvent in binary mode and carries the input's trace.
    assert_eq!(r.header("ce_specversion"), Some("1.0"));
    assert_eq!(r.header("ce_type"), Some("debut.track.embedding.v1"));
    assert_eq!(r.header("ce_subject"), Some("early-1"));
    assert_eq!(r.header("ce_source"), Some("/debut/early"));
    assert_eq!(r.header("ce_dataschema"), Some(schema_id().as_str()));
    assert_eq!(r.header("ce_time"), r.json()["produced_at"].as_str());
    assert!(r.header("ce_id").is_some_and(|id| id.starts_with("early-1-")));
    assert_eq!(r.header("traceparent"), Some(traceparent));
    assert!(r.header("debut-audio-embedding").is_none(), "only audio-only records carry their audio");

    // Draining: /readyz stops saying ready while the process finishes; it exits cleanly.
    let _ = std::process::Command::new("kill").args(["-TERM", &debut.pid().to_string()]).status();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = debut.wait_exit(Duration::from_millis(20)) {
            break s;
        }
        if let Some((code, body)) = debut.http("/readyz") {
            assert!(code == 503 || t0.elapsed() < Duration::from_millis(200), "ready while draining: {code} {body}");
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no exit after SIGTERM");
    };
    assert!(status.success(), "log:\n{}", debut.log_text());
}

#[test]
fn kill_9_between_a_tracks_audio_only_output_and_its_bio_still_ends_fused() {
    let _g = serial();
    let broker = Broker::start("orphan");
    let topics = Topics::create(&broker, "orphan", 2);
    let audio = std::fs::read(debut_tests::fixture("audio/music_22k_mono.flac")).unwrap();
    let ids = ["orphan-1", "orphan-2"];
    produce(&broker, &topics.releases, &ids.map(|id| release(id, "ar-orphan", "audio/flac", &audio)));
    let env = [("DEBUT_PIPELINE__BIO_WAIT_MS", "500"), ("DEBUT_SERVICE__REJOIN_IDLE_S", "15")];
    let mut debut = Debut::start(&broker, &topics, "orphan", &env);
    let first = consume(&broker, &topics.embeddings, "reader", 2, 60, true);
    assert_eq!(first.len(), 2, "log:\n{}", debut.log_text());
    for r in &first {
        assert_eq!(r.json()["modalities"], json!(["audio"]));
        assert!(r.header("debut-audio-embedding").is_some(), "an audio-only record carries its audio embedding");
    }
    // The process dies with the orphans in memory only; the bio arrives while it is down.
    debut.kill9();
    let mut bio = bios()[0].clone();
    bio["artist_id"] = json!("ar-orphan");
    produce(&broker, &topics.bios, &[bio_record(&bio)]);
    let debut2 = Debut::start(&broker, &topics, "orphan", &env);
    let second = consume(&broker, &topics.embeddings, "reader", 2, 180, true);
    let fused: BTreeSet<&str> = second
        .iter()
        .filter(|r| r.json()["modalities"] == json!(["audio", "text"]))
        .filter_map(|r| r.key.as_deref())
        .collect();
    assert_eq!(fused, ids.into_iter().collect(), "log after restart:\n{}", debut2.log_text());
}
