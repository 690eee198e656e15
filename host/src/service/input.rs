//! Parsing input records: track releases as CloudEvents 1.0 over the Kafka protocol binding
//! (binary or structured content mode), artist bios as JSON. Plain data in, typed errors out;
//! nothing here knows a Kafka client.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::release::ArtistBio;

/// A consumed record, copied out of the client: what the pipeline and dead letters need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Broker or producer timestamp, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

impl InRecord {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
    }

    /// Key, value and header bytes.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum::<usize>()
    }

    pub fn position(&self) -> Position {
        Position { topic: self.topic.clone(), partition: self.partition, offset: self.offset }
    }
}

/// Where a record sits in its topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A track release event: `ce_type` `debut.release.track.v1`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRelease {
    pub track_id: String,
    pub artist_id: String,
    pub label: Option<String>,
    pub title: Option<String>,
    pub ce_id: String,
    pub content_type: String,
    pub audio: Vec<u8>,
}

pub const TRACK_EVENT_TYPE: &str = "debut.release.track.v1";
const STRUCTURED: &str = "application/cloudevents+json";

/// Why an input record cannot be processed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("record of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {name} is not valid UTF-8")]
    InvalidUtf8Header { name: String },
    #[error("unsupported CloudEvents specversion {0:?} (expected 1.0)")]
    SpecVersion(String),
    #[error("event type {0:?} is not {TRACK_EVENT_TYPE}")]
    EventType(String),
    #[error("unsupported content type {0:?}: a track's data must be audio/*")]
    ContentType(String),
    #[error("the record has no value")]
    NoValue,
    #[error("the record key {key:?} differs from the event's {field} {value:?}")]
    KeyMismatch { key: String, field: &'static str, value: String },
    #[error("the value is not valid UTF-8 (byte {at})")]
    InvalidUtf8 { at: usize },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid data_base64: {0}")]
    Base64(String),
    #[error("field {0} must not be empty")]
    Empty(&'static str),
}

impl InputError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too-large",
            Self::MissingHeader(_) => "missing-header",
            Self::InvalidUtf8Header { .. } | Self::InvalidUtf8 { .. } => "invalid-utf8",
            Self::SpecVersion(_) => "specversion",
            Self::EventType(_) => "event-type",
            Self::ContentType(_) => "content-type",
            Self::NoValue => "no-value",
            Self::KeyMismatch { .. } => "key-mismatch",
            Self::Json(_) => "invalid-json",
            Self::Base64(_) => "invalid-base64",
            Self::Empty(_) => "empty-field",
        }
    }
}

fn utf8(bytes: &[u8], name: &str) -> Result<String, InputError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| InputError::InvalidUtf8Header { name: name.to_string() })
}

fn text_header(rec: &InRecord, name: &'static str) -> Result<Option<String>, InputError> {
    rec.header(name).map(|b| utf8(b, name)).transpose()
}

fn required(rec: &InRecord, name: &'static str) -> Result<String, InputError> {
    let v = text_header(rec, name)?.ok_or(InputError::MissingHeader(name))?;
    if v.trim().is_empty() {
        return Err(InputError::Empty(name));
    }
    Ok(v)
}

fn key_text(rec: &InRecord) -> Result<Option<String>, InputError> {
    rec.key.as_deref().map(|k| utf8(k, "key")).transpose()
}

/// Strips parameters: `audio/mpeg; rate=44100` -> `audio/mpeg`.
fn media_type(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn check_audio_type(ct: &str) -> Result<String, InputError> {
    let mt = media_type(ct);
    if mt.starts_with("audio/") && mt.len() > "audio/".len() {
        Ok(mt)
    } else {
        Err(InputError::ContentType(ct.to_string()))
    }
}

/// Parses a releases-topic record (binary or structured CloudEvents).
pub fn parse_track(rec: &InRecord) -> Result<TrackRelease, InputError> {
    let content_type = text_header(rec, "content-type")?.ok_or(InputError::MissingHeader("content-type"))?;
    if media_type(&content_type) == STRUCTURED {
        return parse_structured(rec);
    }
    let spec = required(rec, "ce_specversion")?;
    if spec != "1.0" {
        return Err(InputError::SpecVersion(spec));
    }
    let ce_id = required(rec, "ce_id")?;
    required(rec, "ce_source")?;
    let ty = required(rec, "ce_type")?;
    if ty != TRACK_EVENT_TYPE {
        return Err(InputError::EventType(ty));
    }
    let subject = text_header(rec, "ce_subject")?;
    let track_id = reconcile_key(key_text(rec)?, subject, "ce_subject")?;
    let artist_id = required(rec, "ce_artistid")?;
    let content_type = check_audio_type(&content_type)?;
    let audio = rec.value.clone().ok_or(InputError::NoValue)?;
    Ok(TrackRelease {
        track_id,
        artist_id,
        label: text_header(rec, "ce_label")?.filter(|l| !l.is_empty()),
        title: text_header(rec, "ce_title")?,
        ce_id,
        content_type,
        audio,
    })
}

/// The track id: the key and the subject must agree when both are present.
fn reconcile_key(key: Option<String>, subject: Option<String>, field: &'static str) -> Result<String, InputError> {
    match (key, subject) {
        (Some(k), Some(s)) if k != s => Err(InputError::KeyMismatch { key: k, field, value: s }),
        (Some(k), _) if !k.is_empty() => Ok(k),
        (_, Some(s)) if !s.is_empty() => Ok(s),
        _ => Err(InputError::MissingHeader("ce_subject")),
    }
}

#[derive(Deserialize)]
struct Structured {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    ty: String,
    subject: Option<String>,
    datacontenttype: Option<String>,
    data_base64: Option<String>,
    artistid: Option<String>,
    label: Option<String>,
    title: Option<String>,
}

fn parse_structured(rec: &InRecord) -> Result<TrackRelease, InputError> {
    let value = rec.value.as_deref().ok_or(InputError::NoValue)?;
    let text = std::str::from_utf8(value).map_err(|e| InputError::InvalidUtf8 { at: e.valid_up_to() })?;
    let ev: Structured = serde_json::from_str(text).map_err(|e| InputError::Json(e.to_string()))?;
    if ev.specversion != "1.0" {
        return Err(InputError::SpecVersion(ev.specversion));
    }
    if ev.ty != TRACK_EVENT_TYPE {
        return Err(InputError::EventType(ev.ty));
    }
    if ev.id.is_empty() || ev.source.is_empty() {
        return Err(InputError::Empty("id/source"));
    }
    let track_id = reconcile_key(key_text(rec)?, ev.subject, "subject")?;
    let content_type = check_audio_type(ev.datacontenttype.as_deref().unwrap_or(""))?;
    let data = ev.data_base64.ok_or(InputError::MissingHeader("data_base64"))?;
    let audio =
        base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| InputError::Base64(e.to_string()))?;
    let artist_id = ev.artistid.filter(|a| !a.is_empty()).ok_or(InputError::MissingHeader("artistid"))?;
    Ok(TrackRelease { track_id, artist_id, label: ev.label, title: ev.title, ce_id: ev.id, content_type, audio })
}

/// An artist-bios record: an upsert, or a tombstone (no value) removing the artist.
#[derive(Debug, Clone, PartialEq)]
pub enum BioEvent {
    Upsert(ArtistBio),
    Remove(String),
}

pub fn parse_bio(rec: &InRecord) -> Result<BioEvent, InputError> {
    let key = key_text(rec)?.filter(|k| !k.is_empty());
    let Some(value) = rec.value.as_deref() else {
        return key.map(BioEvent::Remove).ok_or(InputError::MissingHeader("key"));
    };
    let text = std::str::from_utf8(value).map_err(|e| InputError::InvalidUtf8 { at: e.valid_up_to() })?;
    let bio: ArtistBio = serde_json::from_str(text).map_err(|e| InputError::Json(e.to_string()))?;
    if bio.artist_id.is_empty() {
        return Err(InputError::Empty("artist_id"));
    }
    if let Some(k) = key
        && k != bio.artist_id
    {
        return Err(InputError::KeyMismatch { key: k, field: "artist_id", value: bio.artist_id });
    }
    Ok(BioEvent::Upsert(bio))
}
