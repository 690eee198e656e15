//! What the pipeline produces: embedding records and dead letters, each with the input
//! positions it completes once the broker has acknowledged it.

use serde::Serialize;

use super::input::{InRecord, Position};
use crate::embedding::TrackEmbedding;

/// The stage a dead letter failed in (`debut-stage` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Input,
    Decode,
    Tower,
    Plugin,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Decode => "decode",
            Self::Tower => "tower",
            Self::Plugin => "plugin",
        }
    }
}

/// An embedding record and what travels beside it in headers.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub record: TrackEmbedding,
    /// The input's trace context (`traceparent`, `tracestate`).
    pub trace: Vec<(String, Vec<u8>)>,
    /// An audio-only record carries its audio embedding (`debut-audio-embedding`, f32
    /// little-endian) so a later bio can fuse it, even in another process.
    pub orphan_audio: Option<Vec<f32>>,
}

/// The CloudEvents type of an output record.
pub const EMBEDDING_EVENT_TYPE: &str = "debut.track.embedding.v1";
/// The output record's JSON Schema (`host/schemas/track-embedding.v1.json`'s `$id`).
pub const EMBEDDING_SCHEMA: &str = "https://debut.example/schemas/track-embedding.v1.json";
/// The header holding an audio-only record's audio embedding.
pub const AUDIO_HEADER: &str = "debut-audio-embedding";

#[derive(Debug, Clone)]
pub enum OutKind {
    /// To the embeddings topic, key = track id.
    Embedding(Box<Emitted>),
    /// To the dead-letter topic: the original record plus the reason.
    DeadLetter { original: Box<InRecord>, stage: Stage, kind: String, error: String },
}

/// Key, value and headers of a record to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct WireRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// One record to produce, and the inputs it completes when acknowledged.
#[derive(Debug, Clone)]
pub struct Out {
    pub kind: OutKind,
    pub completes: Vec<Position>,
}

impl Out {
    pub fn dead_letter(original: InRecord, stage: Stage, kind: &str, error: String) -> Self {
        let pos = original.position();
        Self {
            kind: OutKind::DeadLetter { original: Box::new(original), stage, kind: kind.to_string(), error },
            completes: vec![pos],
        }
    }

    /// The record as it goes on the wire: an embedding as a CloudEvent in binary mode
    /// (`ce_source` names this service), a dead letter as its original plus the reason and
    /// the origin. `dlq_max_value` caps a dead letter's copied value; a larger one is dropped
    /// and flagged in a header.
    pub fn wire(&self, ce_source: &str, dlq_max_value: usize) -> WireRecord {
        match &self.kind {
            OutKind::Embedding(e) => {
                let value = serde_json::to_vec(&e.record).expect("embedding serialises");
                let mut headers: Vec<(String, Vec<u8>)> = vec![
                    ("content-type".into(), b"application/json".to_vec()),
                    ("ce_specversion".into(), b"1.0".to_vec()),
                    ("ce_id".into(), event_id(&e.record).into_bytes()),
                    ("ce_source".into(), ce_source.as_bytes().to_vec()),
                    ("ce_type".into(), EMBEDDING_EVENT_TYPE.as_bytes().to_vec()),
                    ("ce_subject".into(), e.record.track_id.clone().into_bytes()),
                    ("ce_dataschema".into(), EMBEDDING_SCHEMA.as_bytes().to_vec()),
                    ("ce_time".into(), e.record.produced_at.clone().into_bytes()),
                ];
                headers.extend(e.trace.iter().cloned());
                if let Some(audio) = &e.orphan_audio {
                    headers.push((AUDIO_HEADER.into(), audio.iter().flat_map(|v| v.to_le_bytes()).collect()));
                }
                WireRecord { key: Some(e.record.track_id.clone().into_bytes()), value: Some(value), headers }
            }
            OutKind::DeadLetter { original, stage, kind, error } => {
                let mut headers: Vec<(String, Vec<u8>)> =
                    original.headers.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
                headers.push(("debut-error".into(), error.clone().into_bytes()));
                headers.push(("debut-error-kind".into(), kind.clone().into_bytes()));
                headers.push(("debut-stage".into(), stage.as_str().as_bytes().to_vec()));
                headers.push((
                    "debut-source".into(),
                    format!("{}/{}/{}", original.topic, original.partition, original.offset).into_bytes(),
                ));
                headers.push(("debut-source-topic".into(), original.topic.clone().into_bytes()));
                headers.push(("debut-source-partition".into(), original.partition.to_string().into_bytes()));
                headers.push(("debut-source-offset".into(), original.offset.to_string().into_bytes()));
                let mut value = original.value.clone();
                if value.as_ref().is_some_and(|v| v.len() > dlq_max_value) {
                    headers.push((
                        "debut-value-dropped".into(),
                        value.as_ref().map_or(0, Vec::len).to_string().into_bytes(),
                    ));
                    value = None;
                }
                WireRecord { key: original.key.clone(), value, headers }
            }
        }
    }
}

/// A CloudEvents id that is the same for the same content (a redelivery after a crash) and
/// differs between a track's audio-only and fused records.
fn event_id(e: &TrackEmbedding) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(e.track_id.as_bytes());
    h.update([0]);
    h.update(e.model.sha256.as_bytes());
    for m in &e.modalities {
        h.update(format!("{m:?}").as_bytes());
    }
    for v in &e.embedding {
        h.update(v.to_le_bytes());
    }
    let hex: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", e.track_id)
}

/// An embedding record back from the output topic: the record, its trace headers and, for
/// an audio-only one, its audio embedding. None for what is not one (a tombstone, another
/// producer's record).
pub fn read_emitted(value: Option<&[u8]>, header: impl Fn(&str) -> Option<Vec<u8>>) -> Option<Emitted> {
    let record: TrackEmbedding = serde_json::from_slice(value?).ok()?;
    let orphan_audio = header(AUDIO_HEADER)
        .filter(|b| b.len() % 4 == 0)
        .map(|b| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<f32>>());
    let trace = super::pipeline::TRACE_HEADERS.iter().filter_map(|h| header(h).map(|v| (h.to_string(), v))).collect();
    Some(Emitted { record, trace, orphan_audio })
}
