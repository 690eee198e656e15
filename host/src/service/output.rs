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

#[derive(Debug, Clone)]
pub enum OutKind {
    /// To the embeddings topic, key = track id.
    Embedding(Box<TrackEmbedding>),
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

    /// The record as it goes on the wire (`dlq_max_value` caps a dead letter's copied value;
    /// a larger one is dropped and flagged in a header).
    pub fn wire(&self, dlq_max_value: usize) -> WireRecord {
        match &self.kind {
            OutKind::Embedding(e) => WireRecord {
                key: Some(e.track_id.clone().into_bytes()),
                value: Some(serde_json::to_vec(e).expect("embedding serialises")),
                headers: vec![("content-type".into(), b"application/json".to_vec())],
            },
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
