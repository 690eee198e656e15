//! The service's stages as plain functions over owned records, shared by `run` (Kafka),
//! `replay` (a file) and `demo`: analyse a track (decode, log-mel), embed a batch of tracks
//! (audio tower), join each with its artist (plugin + text tower, cached per bio version),
//! fuse, and say which input positions each output completes.
//!
//! The join: artists live in a bounded LRU. A track whose artist has no embedding yet waits
//! up to `bio_wait` in a bounded queue, then goes out audio-only, its audio embedding in a
//! header. Orphans are learnt back from the output stream (`observe`: the embeddings topic,
//! read from its start, so they survive restarts and rebalances); when their artist's bio
//! arrives, `reemit` sends them again, fused, under the same key (consumers upsert), for the
//! input partitions this instance owns.

use std::collections::{BTreeSet, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lru::LruCache;
use serde::{Deserialize, Serialize};

use super::input::{BioEvent, InRecord, InputError, Position, TrackRelease, parse_bio, parse_track};
use super::output::{Emitted, Out, OutKind, Stage};
use crate::audio::SourceHint;
use crate::backend::Backend;
use crate::embedding::{self, Modality, ModelRef, PluginRef, Source, TrackEmbedding};
use crate::frontend::Frontend;
use crate::model::Model;
use crate::plugin::PluginRouter;
use crate::release::ArtistBio;
use crate::spectral::MelSpectrogram;

/// `[service]` settings the pipeline itself uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// How long a track waits for its artist's bio before going out audio-only.
    pub bio_wait_ms: u64,
    /// Tracks waiting for bios at most; beyond, tracks go out audio-only at once.
    pub max_waiting_tracks: usize,
    /// Artists whose audio-only tracks are remembered for a fused re-emission.
    pub max_orphan_artists: usize,
    /// Artists (bio + embedding) kept in memory.
    pub artist_cache: usize,
    /// Records larger than this (key + value + headers) are dead-lettered unread.
    pub max_message_bytes: usize,
    /// Most windows in one audio-tower call.
    pub max_batch_windows: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            bio_wait_ms: 5_000,
            max_waiting_tracks: 10_000,
            max_orphan_artists: 10_000,
            artist_cache: 100_000,
            max_message_bytes: 16 << 20,
            max_batch_windows: 64,
        }
    }
}

/// Orphans kept per artist.
const ORPHANS_PER_ARTIST: usize = 64;

/// A track through decode and log-mel, waiting for the audio tower.
pub struct Analysed {
    pub track: TrackInfo,
    pub mel: MelSpectrogram,
    /// The input, value dropped (kept for a dead letter if the tower fails).
    pub record: InRecord,
}

/// What a track's output needs besides its embedding.
#[derive(Debug, Clone)]
pub struct TrackInfo {
    pub track_id: String,
    pub artist_id: String,
    pub label: Option<String>,
    pub ce_id: String,
    pub source: Position,
    /// W3C trace context of the input (`traceparent`, `tracestate`), passed to the output.
    pub trace: Vec<(String, Vec<u8>)>,
}

/// Trace headers passed from an input to its outputs.
pub const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

struct Artist {
    bio_hash: String,
    label: Option<String>,
    /// None when the plugin or text tower failed for this bio.
    embedding: Option<(Vec<f32>, PluginRef)>,
}

struct Waiting {
    track: TrackInfo,
    audio: Vec<f32>,
    deadline_ms: u64,
}

struct Orphan {
    track: TrackInfo,
    audio: Vec<f32>,
}

struct JoinState {
    artists: LruCache<String, Artist>,
    waiting: VecDeque<Waiting>,
    /// Audio-only tracks by artist, as seen on the output stream.
    orphans: LruCache<String, Vec<Orphan>>,
    /// Artists with orphans whose embedding is here: `reemit` fuses them.
    ready: BTreeSet<String>,
}

type ArtistResult = Result<(Vec<f32>, PluginRef), (Stage, String, String)>;

pub struct Pipeline {
    pub model: Arc<Model>,
    pub backend: Backend,
    pub frontend: Frontend,
    pub router: Arc<PluginRouter>,
    pub config: PipelineConfig,
    state: Mutex<JoinState>,
    /// Artist embeddings by bio hash: the validating and the state-building readers of the
    /// bios topic compute each bio once.
    computed: Mutex<LruCache<String, ArtistResult>>,
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).expect("max(1)")
}

/// Content hash of everything in a bio that reaches the embedding.
fn bio_hash(bio: &ArtistBio) -> String {
    crate::model::sha256_hex(&serde_json::to_vec(bio).expect("bio serialises"))
}

impl Pipeline {
    pub fn new(
        model: Arc<Model>,
        backend: Backend,
        router: Arc<PluginRouter>,
        audio: crate::audio::AudioConfig,
        config: PipelineConfig,
    ) -> Self {
        let frontend = Frontend::new(audio, model.mel_params(), backend.clone());
        let state = JoinState {
            artists: LruCache::new(nz(config.artist_cache)),
            waiting: VecDeque::new(),
            orphans: LruCache::new(nz(config.max_orphan_artists)),
            ready: BTreeSet::new(),
        };
        Self {
            model,
            backend,
            frontend,
            router,
            state: Mutex::new(state),
            computed: Mutex::new(LruCache::new(nz(config.artist_cache.min(100_000)))),
            config,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, JoinState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tracks waiting for a bio now.
    pub fn waiting(&self) -> usize {
        self.state().waiting.len()
    }

    // ---- tracks ----

    /// Size check, CloudEvents parsing, decode and log-mel. A failure is the record's dead letter.
    pub fn analyse(&self, record: InRecord) -> Result<Analysed, Box<Out>> {
        let size = record.size();
        if size > self.config.max_message_bytes {
            let e = InputError::TooLarge { size, limit: self.config.max_message_bytes };
            return Err(Box::new(Out::dead_letter(record, Stage::Input, e.kind(), e.to_string())));
        }
        let release = match parse_track(&record) {
            Ok(r) => r,
            Err(e) => return Err(Box::new(Out::dead_letter(record, Stage::Input, e.kind(), e.to_string()))),
        };
        let TrackRelease { track_id, artist_id, label, ce_id, content_type, audio, .. } = release;
        let t0 = Instant::now();
        let analysis = self.frontend.analyse(audio, &SourceHint::from_media_type(&content_type));
        metrics::histogram!("debut_stage_seconds", "stage" => "decode_mel").record(t0.elapsed().as_secs_f64());
        match analysis {
            Ok(a) => {
                let trace = TRACE_HEADERS
                    .iter()
                    .filter_map(|h| record.header(h).map(|v| (h.to_string(), v.to_vec())))
                    .collect();
                let track = TrackInfo { track_id, artist_id, label, ce_id, source: record.position(), trace };
                Ok(Analysed { track, mel: a.mel, record: InRecord { value: None, ..record } })
            }
            Err(e) => {
                let kind = match &e {
                    crate::frontend::FrontendError::Decode(d) => d.kind(),
                    crate::frontend::FrontendError::Compute(_) => "compute",
                };
                Err(Box::new(Out::dead_letter(record, Stage::Decode, kind, e.to_string())))
            }
        }
    }

    /// Windows of one batch.
    pub fn windows(a: &Analysed, window_frames: usize) -> usize {
        (a.mel.n_frames / window_frames).max(1)
    }

    /// The audio tower over a batch of tracks, then the join. `now_ms` is the caller's clock.
    pub fn embed(&self, batch: Vec<Analysed>, now_ms: u64) -> Vec<Out> {
        if batch.is_empty() {
            return Vec::new();
        }
        let t0 = Instant::now();
        let mels: Vec<&MelSpectrogram> = batch.iter().map(|a| &a.mel).collect();
        let result = embedding::audio_embeddings(&self.backend, &self.model, &mels, self.config.max_batch_windows);
        metrics::histogram!("debut_stage_seconds", "stage" => "audio_tower").record(t0.elapsed().as_secs_f64());
        metrics::histogram!("debut_batch_tracks").record(batch.len() as f64);
        let audio = match result {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("audio tower failed for a batch of {}: {e}", batch.len());
                return batch
                    .into_iter()
                    .map(|a| Out::dead_letter(a.record, Stage::Tower, "compute", e.to_string()))
                    .collect();
            }
        };
        let mut outs = Vec::new();
        for (a, emb) in batch.into_iter().zip(audio) {
            outs.extend(self.join(a.track, emb, now_ms));
        }
        outs
    }

    fn join(&self, track: TrackInfo, audio: Vec<f32>, now_ms: u64) -> Vec<Out> {
        let mut st = self.state();
        match st.artists.get(&track.artist_id).map(|a| (a.embedding.clone(), a.label.clone())) {
            Some((Some((artist, plugin)), label)) => {
                vec![self.fused(&track, &audio, Some((&artist, &plugin)), label, true)]
            }
            // The bio is here but gave no embedding: no point waiting.
            Some((None, label)) => vec![self.fused(&track, &audio, None, label, true)],
            None if st.waiting.len() >= self.config.max_waiting_tracks => {
                vec![self.fused(&track, &audio, None, None, true)]
            }
            None => {
                st.waiting.push_back(Waiting { track, audio, deadline_ms: now_ms + self.config.bio_wait_ms });
                Vec::new()
            }
        }
    }

    /// Tracks whose bio wait is over go out audio-only.
    pub fn expire(&self, now_ms: u64) -> Vec<Out> {
        let mut st = self.state();
        let mut outs = Vec::new();
        while st.waiting.front().is_some_and(|w| w.deadline_ms <= now_ms) {
            let w = st.waiting.pop_front().expect("checked");
            outs.push(self.fused(&w.track, &w.audio, None, None, true));
        }
        outs
    }

    /// Every waiting track, audio-only (end of a replay, shutdown).
    pub fn flush(&self) -> Vec<Out> {
        self.expire(u64::MAX)
    }

    /// One output record; `completes` says whether it completes the track's input.
    fn fused(
        &self,
        track: &TrackInfo,
        audio: &[f32],
        artist: Option<(&Vec<f32>, &PluginRef)>,
        artist_label: Option<String>,
        completes: bool,
    ) -> Out {
        let pair = [(audio, artist.map(|(e, _)| e.as_slice()))];
        let embedding = match embedding::fused_embeddings(&self.backend, &self.model, &pair) {
            Ok(mut v) => v.remove(0),
            Err(e) => {
                tracing::error!(track = %track.track_id, "fusion failed, writing the audio embedding: {e}");
                audio.to_vec()
            }
        };
        let modalities = if artist.is_some() { vec![Modality::Audio, Modality::Text] } else { vec![Modality::Audio] };
        metrics::counter!("debut_embeddings_out_total", "modalities" => if artist.is_some() { "audio+text" } else { "audio" }).increment(1);
        let record = TrackEmbedding {
            point_id: embedding::point_id(&track.track_id),
            track_id: track.track_id.clone(),
            artist_id: Some(track.artist_id.clone()),
            label: track.label.clone().or(artist_label),
            embedding,
            modalities,
            model: ModelRef::of(&self.model),
            plugin: artist.map(|(_, p)| p.clone()),
            source: Source::Kafka {
                topic: track.source.topic.clone(),
                partition: track.source.partition,
                offset: track.source.offset,
                ce_id: Some(track.ce_id.clone()),
            },
            produced_at: embedding::now_rfc3339(),
        };
        let emitted =
            Emitted { record, trace: track.trace.clone(), orphan_audio: artist.is_none().then(|| audio.to_vec()) };
        Out {
            kind: OutKind::Embedding(Box::new(emitted)),
            completes: if completes { vec![track.source.clone()] } else { Vec::new() },
        }
    }

    // ---- bios ----

    /// The artist embedding for a bio (cached by content): the label's plugin, then the text tower.
    fn artist_embedding(&self, bio: &ArtistBio) -> ArtistResult {
        let hash = bio_hash(bio);
        if let Some(r) = self.computed.lock().unwrap_or_else(|p| p.into_inner()).get(&hash) {
            return r.clone();
        }
        let t0 = Instant::now();
        let result = self
            .router
            .extract(&bio.release_text(None))
            .map_err(|e| (Stage::Plugin, e.kind().to_string(), e.to_string()))
            .and_then(|(plugin, features)| {
                metrics::histogram!("debut_stage_seconds", "stage" => "plugin").record(t0.elapsed().as_secs_f64());
                embedding::artist_embeddings(&self.backend, &self.model, &[&features])
                    .map(|mut e| (e.remove(0), PluginRef { name: plugin.name, version: plugin.version }))
                    .map_err(|e| (Stage::Tower, "compute".to_string(), e.to_string()))
            });
        self.computed.lock().unwrap_or_else(|p| p.into_inner()).put(hash, result.clone());
        result
    }

    /// Validates a bios-topic record (parsing, plugin, text tower). A failure is its dead letter.
    pub fn check_bio(&self, record: &InRecord) -> Result<(), Box<Out>> {
        let size = record.size();
        if size > self.config.max_message_bytes {
            let e = InputError::TooLarge { size, limit: self.config.max_message_bytes };
            return Err(Box::new(Out::dead_letter(record.clone(), Stage::Input, e.kind(), e.to_string())));
        }
        match parse_bio(record) {
            Err(e) => Err(Box::new(Out::dead_letter(record.clone(), Stage::Input, e.kind(), e.to_string()))),
            Ok(BioEvent::Remove(_)) => Ok(()),
            Ok(BioEvent::Upsert(bio)) => match self.artist_embedding(&bio) {
                Ok(_) => Ok(()),
                Err((stage, kind, error)) => Err(Box::new(Out::dead_letter(record.clone(), stage, &kind, error))),
            },
        }
    }

    /// Applies a bios-topic record to the artist state; returns the tracks it lets go out
    /// fused (waiting ones complete their inputs; orphans are re-emissions).
    pub fn apply_bio(&self, record: &InRecord) -> Vec<Out> {
        if record.size() > self.config.max_message_bytes {
            return Vec::new();
        }
        let bio = match parse_bio(record) {
            Ok(BioEvent::Upsert(bio)) => bio,
            Ok(BioEvent::Remove(id)) => {
                let mut st = self.state();
                st.artists.pop(&id);
                st.ready.remove(&id);
                return Vec::new();
            }
            Err(_) => return Vec::new(), // dead-lettered by check_bio
        };
        let hash = bio_hash(&bio);
        if self.state().artists.peek(&bio.artist_id).is_some_and(|a| a.bio_hash == hash) {
            return Vec::new(); // this bio version is already applied (a replayed topic)
        }
        let embedding = self.artist_embedding(&bio).ok();
        let mut st = self.state();
        st.artists.put(
            bio.artist_id.clone(),
            Artist { bio_hash: hash, label: bio.label.clone(), embedding: embedding.clone() },
        );
        let Some((artist, plugin)) = embedding else { return Vec::new() };
        let mut outs = Vec::new();
        let mut kept = VecDeque::with_capacity(st.waiting.len());
        for w in std::mem::take(&mut st.waiting) {
            if w.track.artist_id == bio.artist_id {
                outs.push(self.fused(&w.track, &w.audio, Some((&artist, &plugin)), bio.label.clone(), true));
            } else {
                kept.push_back(w);
            }
        }
        st.waiting = kept;
        if st.orphans.contains(&bio.artist_id) {
            st.ready.insert(bio.artist_id.clone());
        }
        outs
    }

    // ---- orphans ----

    /// Learns from an output record: an audio-only one is an orphan (its audio embedding
    /// rides along), a fused one settles its track.
    pub fn observe(&self, emitted: &Emitted) {
        let rec = &emitted.record;
        let Some(artist_id) = rec.artist_id.clone() else { return };
        let mut st = self.state();
        let orphan_audio = emitted.orphan_audio.as_ref().filter(|a| a.len() == self.model.audio.spec.embedding_dim);
        match (orphan_audio, &rec.source) {
            (Some(audio), Source::Kafka { topic, partition, offset, ce_id }) => {
                let track = TrackInfo {
                    track_id: rec.track_id.clone(),
                    artist_id: artist_id.clone(),
                    label: rec.label.clone(),
                    ce_id: ce_id.clone().unwrap_or_default(),
                    source: Position { topic: topic.clone(), partition: *partition, offset: *offset },
                    trace: emitted.trace.clone(),
                };
                let orphan = Orphan { track, audio: audio.clone() };
                match st.orphans.get_mut(&artist_id) {
                    Some(list) => {
                        list.retain(|o| o.track.track_id != rec.track_id);
                        if list.len() >= ORPHANS_PER_ARTIST {
                            list.remove(0);
                        }
                        list.push(orphan);
                    }
                    None => {
                        st.orphans.put(artist_id.clone(), vec![orphan]);
                    }
                }
                if st.artists.peek(&artist_id).is_some_and(|a| a.embedding.is_some()) {
                    st.ready.insert(artist_id);
                }
            }
            (Some(_), Source::File { .. }) => {}
            (None, _) => {
                if let Some(list) = st.orphans.peek_mut(&artist_id) {
                    list.retain(|o| o.track.track_id != rec.track_id);
                    if list.is_empty() {
                        st.orphans.pop(&artist_id);
                        st.ready.remove(&artist_id);
                    }
                }
            }
        }
    }

    /// Orphans whose artist's embedding is here go out again, fused, where `owns` says this
    /// instance owns the track's input partition (the others are their owners' to send).
    pub fn reemit(&self, owns: &dyn Fn(&Position) -> bool) -> Vec<Out> {
        let mut st = self.state();
        let mut outs = Vec::new();
        for artist_id in st.ready.clone() {
            let artist = st.artists.peek(&artist_id).and_then(|a| a.embedding.clone().map(|e| (e, a.label.clone())));
            let Some(((embedding, plugin), label)) = artist else {
                st.ready.remove(&artist_id);
                continue;
            };
            let Some(list) = st.orphans.peek_mut(&artist_id) else {
                st.ready.remove(&artist_id);
                continue;
            };
            let (mine, others): (Vec<Orphan>, Vec<Orphan>) =
                std::mem::take(list).into_iter().partition(|o| owns(&o.track.source));
            *list = others;
            for o in mine {
                outs.push(self.fused(&o.track, &o.audio, Some((&embedding, &plugin)), label.clone(), false));
            }
            if list.is_empty() {
                st.orphans.pop(&artist_id);
                st.ready.remove(&artist_id);
            }
        }
        outs
    }
}
