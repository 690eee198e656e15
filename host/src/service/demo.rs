//! `debut demo`: the whole service on an in-process mock Kafka cluster (librdkafka's mock
//! brokers), fed a small catalog synthesised at start (`debut synth`: artists with bios in
//! real genre words, tracks in their genres) or a fixtures directory, plus the corrupt audio
//! fixtures, which go to the dead-letter topic. Then each track's nearest neighbours by
//! cosine similarity and, for the synthesised catalog, how often they share its planted genre.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{KafkaSettings, PipelineSettings};
use crate::embedding::TrackEmbedding;
use crate::release::ArtistBio;

/// The media type a file extension suggests.
pub fn media_type_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("wav") => "audio/wav",
        Some("flac") => "audio/flac",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "oga" | "opus") => "audio/ogg",
        Some("m4a" | "mp4") => "audio/mp4",
        Some("aac") => "audio/aac",
        Some("mkv" | "mka") => "audio/x-matroska",
        Some("webm") => "audio/webm",
        Some("aif" | "aiff") => "audio/aiff",
        Some("caf") => "audio/x-caf",
        _ => "application/octet-stream",
    }
}

fn files(dir: &Path, ext: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    v.sort();
    Ok(v)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A track to publish.
struct DemoTrack {
    id: String,
    path: PathBuf,
    artist: usize,
    /// The synthesised catalog's planted main genre.
    genre: Option<String>,
}

/// What the demo publishes.
struct DemoInput {
    bios: Vec<ArtistBio>,
    tracks: Vec<DemoTrack>,
}

/// Where the demo's releases come from.
pub enum DemoSource {
    /// A catalog of this many tracks (three per artist), synthesised into `dir`.
    Synth { dir: PathBuf, tracks: usize, seed: u64 },
    /// A fixtures directory's `bios/*.json` and `audio/*`, artists assigned in turn.
    Fixtures(PathBuf),
}

fn fixture_input(fixtures: &Path) -> anyhow::Result<DemoInput> {
    let bios: Vec<ArtistBio> = files(&fixtures.join("bios"), Some("json"))?
        .iter()
        .map(|p| Ok(serde_json::from_str(&std::fs::read_to_string(p)?)?))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!bios.is_empty(), "no bios in {}", fixtures.join("bios").display());
    let tracks = files(&fixtures.join("audio"), None)?
        .into_iter()
        .enumerate()
        .map(|(i, path)| DemoTrack {
            id: path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            path,
            artist: i % bios.len(),
            genre: None,
        })
        .collect();
    Ok(DemoInput { bios, tracks })
}

fn synth_input(dir: &Path, tracks: usize, seed: u64) -> anyhow::Result<DemoInput> {
    let cfg = crate::synth::SynthConfig {
        seed,
        artists: (tracks / 3).max(1),
        tracks,
        users: 10,
        seconds: 10.0,
        plays_per_user: 5.0,
    };
    crate::synth::generate(dir, &cfg, true).context("synthesising the demo catalog")?;
    let catalog = crate::catalog::Catalog::load(dir)?;
    #[derive(serde::Deserialize)]
    struct Truth {
        genres: Vec<String>,
        tracks: Vec<Vec<f32>>,
    }
    let truth: Truth = serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json"))?)?;
    let tracks = catalog
        .tracks
        .iter()
        .zip(&truth.tracks)
        .map(|(t, profile)| {
            let main = (0..profile.len()).max_by(|&a, &b| profile[a].total_cmp(&profile[b])).unwrap_or(0);
            DemoTrack {
                id: t.id.clone(),
                path: dir.join(&t.audio),
                artist: t.artist,
                genre: truth.genres.get(main).cloned(),
            }
        })
        .collect();
    Ok(DemoInput { bios: catalog.artists.clone(), tracks })
}

pub fn demo(
    kafka: &KafkaSettings,
    pipeline: &PipelineSettings,
    source: &DemoSource,
    corrupt_dir: &Path,
) -> anyhow::Result<()> {
    let input = match source {
        DemoSource::Synth { dir, tracks, seed } => {
            println!(
                "debut demo: synthesising {tracks} tracks by {} artists into {}",
                (tracks / 3).max(1),
                dir.display()
            );
            synth_input(dir, *tracks, *seed)?
        }
        DemoSource::Fixtures(dir) => fixture_input(dir)?,
    };
    let cluster = MockCluster::new(1).context("starting the mock Kafka cluster")?;
    let mut config = kafka.clone();
    config.brokers = cluster.bootstrap_servers();
    config.service.metrics_addr = String::new();
    config.service.state_catch_up_s = 10;
    let mut pipeline_settings = pipeline.clone();
    pipeline_settings.pipeline.bio_wait_ms = 1_000;
    let t = &config.topics;
    for (topic, parts) in [(&t.releases, 4), (&t.bios, 2), (&t.embeddings, 4), (&t.dlq, 1)] {
        cluster.create_topic(topic, parts, 1)?;
    }
    println!("debut demo: mock Kafka cluster at {}", config.brokers);

    // Inputs: bios, then releases (the corrupt audio fixtures too, by the first artist).
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &config.brokers).create()?;
    let bios = &input.bios;
    for bio in bios {
        let value = serde_json::to_vec(bio)?;
        producer.send(BaseRecord::to(&config.topics.bios).key(&bio.artist_id).payload(&value)).map_err(|(e, _)| e)?;
    }
    let corrupt: Vec<PathBuf> =
        files(corrupt_dir, None)?.into_iter().filter(|p| p.extension().is_none_or(|e| e != "json")).collect();
    let n_good = input.tracks.len();
    let mut tracks: Vec<&DemoTrack> = input.tracks.iter().collect();
    let corrupt_tracks: Vec<DemoTrack> = corrupt
        .iter()
        .map(|p| DemoTrack {
            id: p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            path: p.clone(),
            artist: 0,
            genre: None,
        })
        .collect();
    tracks.extend(&corrupt_tracks);
    let mut artist_of = BTreeMap::new();
    let mut genre_of = BTreeMap::new();
    for (i, track) in tracks.iter().enumerate() {
        let (id, path) = (&track.id, &track.path);
        let artist = &bios[track.artist];
        artist_of.insert(id.clone(), artist.name.clone());
        if let Some(g) = &track.genre {
            genre_of.insert(id.clone(), g.clone());
        }
        let audio = std::fs::read(path)?;
        let ce_id = format!("demo-{i}");
        let headers = OwnedHeaders::new()
            .insert(Header { key: "ce_specversion", value: Some("1.0") })
            .insert(Header { key: "ce_id", value: Some(ce_id.as_str()) })
            .insert(Header { key: "ce_source", value: Some("debut-demo") })
            .insert(Header { key: "ce_type", value: Some(crate::service::input::TRACK_EVENT_TYPE) })
            .insert(Header { key: "ce_subject", value: Some(id.as_str()) })
            .insert(Header { key: "ce_artistid", value: Some(artist.artist_id.as_str()) })
            .insert(Header { key: "content-type", value: Some(media_type_for(path)) });
        let headers = match &artist.label {
            Some(l) => headers.insert(Header { key: "ce_label", value: Some(l.as_str()) }),
            None => headers,
        };
        producer
            .send(BaseRecord::to(&config.topics.releases).key(id).payload(&audio).headers(headers))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(10))?;
    println!("published {} bios and {} track releases ({} of them corrupt)", bios.len(), tracks.len(), corrupt.len());

    let pipeline = crate::service::build_pipeline(&pipeline_settings)?;
    let stop = Arc::new(AtomicBool::new(false));
    let health = Arc::new(crate::service::Health::default());
    health.model_loaded();
    crate::service::serve_health(&config, &health)?;
    let service = {
        let (config, stop) = (config.clone(), stop.clone());
        std::thread::spawn(move || crate::service::run(&config, pipeline, stop, health))
    };

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", "debut-demo-reader")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&config.topics.embeddings, &config.topics.dlq])?;
    let mut records: BTreeMap<String, TrackEmbedding> = BTreeMap::new();
    let mut dead: BTreeMap<String, String> = BTreeMap::new();
    let t0 = Instant::now();
    while (records.len() < n_good || dead.len() < corrupt.len()) && t0.elapsed() < Duration::from_secs(120) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
            if m.topic() == config.topics.dlq {
                let err = rdkafka::message::Headers::iter(m.headers().expect("dead letters carry headers"))
                    .find(|h| h.key == "debut-error")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                    .unwrap_or_default();
                dead.insert(key, err);
            } else if let Some(v) = m.payload() {
                let rec: TrackEmbedding = serde_json::from_slice(v)?;
                records.insert(key, rec); // upsert: a fused record replaces an audio-only one
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    service.join().map_err(|_| anyhow::anyhow!("the service thread panicked"))??;

    println!(
        "\n{} track embeddings, {} dead letters ({:.1} s)\n",
        records.len(),
        dead.len(),
        t0.elapsed().as_secs_f64()
    );
    println!("{:<24} {:<22} {:<16} {:<12} nearest neighbours (cosine)", "track", "artist", "genre", "modalities");
    let all: Vec<(&String, &TrackEmbedding)> = records.iter().collect();
    // Planted-genre agreement of the top 3, overall and among other artists' tracks only.
    let (mut same, mut same_other, mut shown, mut shown_other, mut chance) = (0usize, 0usize, 0usize, 0usize, 0.0f64);
    for (id, rec) in &all {
        let mut near: Vec<(f32, &str)> = all
            .iter()
            .filter(|(o, _)| o != id)
            .map(|(o, r)| (cosine(&rec.embedding, &r.embedding), o.as_str()))
            .collect();
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        if let Some(g) = genre_of.get(*id) {
            let shares = |o: &str| genre_of.get(o) == Some(g);
            same += near.iter().take(3).filter(|(_, o)| shares(o)).count();
            shown += near.len().min(3);
            let others: Vec<&(f32, &str)> =
                near.iter().filter(|(_, o)| artist_of.get(*o) != artist_of.get(*id)).collect();
            same_other += others.iter().take(3).filter(|(_, o)| shares(o)).count();
            shown_other += others.len().min(3);
            chance += near.iter().filter(|(_, o)| shares(o)).count() as f64 / near.len().max(1) as f64;
        }
        let near: Vec<String> = near.iter().take(3).map(|(c, o)| format!("{o} {c:.3}")).collect();
        let mods: Vec<String> = rec.modalities.iter().map(|m| format!("{m:?}").to_lowercase()).collect();
        println!(
            "{:<24} {:<22} {:<16} {:<12} {}",
            id,
            artist_of.get(*id).map_or("?", String::as_str),
            genre_of.get(*id).map_or("-", String::as_str),
            mods.join("+"),
            near.join(", ")
        );
    }
    if shown > 0 {
        let n = genre_of.len() as f64;
        println!(
            "\ntop-3 neighbours sharing the planted genre: {:.0}% ({same} of {shown}); among other artists' tracks: {:.0}% ({same_other} of {shown_other}); chance: {:.0}%",
            100.0 * same as f64 / shown as f64,
            100.0 * same_other as f64 / shown_other.max(1) as f64,
            100.0 * chance / n
        );
    }
    if !dead.is_empty() {
        println!("\ndead letters:");
        for (k, e) in &dead {
            println!("  {k:<28} {e}");
        }
    }
    if records.len() < n_good {
        anyhow::bail!("only {} of {n_good} tracks came out", records.len());
    }
    println!("\nEvery release has an output.");
    Ok(())
}
