//! A catalog on disk, the format a user with real data also uses:
//!
//! ```text
//! DIR/plays.tsv      user <TAB> song <TAB> count      (Echo Nest Taste Profile triplets)
//! DIR/tracks.jsonl   {"song_id", "artist_id", "audio": path relative to DIR, "tags"?: [..]}
//! DIR/artists.jsonl  {"artist_id", "name", "bio", "label"?}   (the bios topic's record)
//! ```
//!
//! Ids become dense indices in file order. Plays of songs the catalog does not hold are
//! counted and left out (the Taste Profile names many songs without audio); a track of an
//! unknown artist, a malformed line or a duplicate id is an error naming file and line.

mod interactions;
pub mod mels;
mod split;
pub mod teacher;

pub use interactions::Interactions;
pub use split::{Part, Splits};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::release::ArtistBio;

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {detail}")]
    Line { path: PathBuf, line: usize, detail: String },
    #[error("{0}")]
    Invalid(String),
}

/// A `tracks.jsonl` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRecord {
    pub song_id: String,
    pub artist_id: String,
    /// Audio file, relative to the catalog directory (or absolute).
    pub audio: PathBuf,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A track with its artist as an index.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: String,
    pub artist: usize,
    pub audio: PathBuf,
    pub tags: Vec<String>,
}

/// One play triplet, as indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Play {
    pub user: u32,
    pub track: u32,
    pub count: f32,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub dir: PathBuf,
    pub tracks: Vec<Track>,
    pub artists: Vec<ArtistBio>,
    pub users: Vec<String>,
    pub plays: Vec<Play>,
    /// Plays whose song is not in `tracks.jsonl`.
    pub unknown_song_plays: usize,
}

fn read(path: &Path) -> Result<String, CatalogError> {
    std::fs::read_to_string(path).map_err(|source| CatalogError::Io { path: path.to_path_buf(), source })
}

fn lines(path: &Path) -> Result<Vec<(usize, String)>, CatalogError> {
    Ok(read(path)?
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}

fn line_err(path: &Path, line: usize, detail: impl Into<String>) -> CatalogError {
    CatalogError::Line { path: path.to_path_buf(), line, detail: detail.into() }
}

impl Catalog {
    pub fn load(dir: &Path) -> Result<Self, CatalogError> {
        let mut artist_index = HashMap::new();
        let mut artists = Vec::new();
        let path = dir.join("artists.jsonl");
        for (line, text) in lines(&path)? {
            let a: ArtistBio = serde_json::from_str(&text).map_err(|e| line_err(&path, line, e.to_string()))?;
            if artist_index.insert(a.artist_id.clone(), artists.len()).is_some() {
                return Err(line_err(&path, line, format!("artist {:?} appears twice", a.artist_id)));
            }
            artists.push(a);
        }
        let mut track_index = HashMap::new();
        let mut tracks = Vec::new();
        let path = dir.join("tracks.jsonl");
        for (line, text) in lines(&path)? {
            let t: TrackRecord = serde_json::from_str(&text).map_err(|e| line_err(&path, line, e.to_string()))?;
            let artist = *artist_index
                .get(&t.artist_id)
                .ok_or_else(|| line_err(&path, line, format!("artist {:?} is not in artists.jsonl", t.artist_id)))?;
            if track_index.insert(t.song_id.clone(), tracks.len() as u32).is_some() {
                return Err(line_err(&path, line, format!("song {:?} appears twice", t.song_id)));
            }
            tracks.push(Track { id: t.song_id, artist, audio: dir.join(t.audio), tags: t.tags });
        }
        let mut user_index: HashMap<String, u32> = HashMap::new();
        let mut users = Vec::new();
        let mut plays = Vec::new();
        let mut unknown_song_plays = 0;
        let path = dir.join("plays.tsv");
        for (line, text) in lines(&path)? {
            let mut f = text.split('\t');
            let (Some(user), Some(song), Some(count), None) = (f.next(), f.next(), f.next(), f.next()) else {
                return Err(line_err(&path, line, "expected user<TAB>song<TAB>count"));
            };
            let count: f32 = count
                .parse()
                .ok()
                .filter(|c: &f32| c.is_finite() && *c > 0.0)
                .ok_or_else(|| line_err(&path, line, format!("play count {count:?} is not a positive number")))?;
            let Some(&track) = track_index.get(song) else {
                unknown_song_plays += 1;
                continue;
            };
            let user = *user_index.entry(user.to_string()).or_insert_with(|| {
                users.push(user.to_string());
                (users.len() - 1) as u32
            });
            plays.push(Play { user, track, count });
        }
        if tracks.is_empty() || plays.is_empty() {
            return Err(CatalogError::Invalid(format!("{}: no tracks or no plays", dir.display())));
        }
        Ok(Self { dir: dir.to_path_buf(), tracks, artists, users, plays, unknown_song_plays })
    }

    /// The distinct tags of all tracks, sorted.
    pub fn tag_vocabulary(&self) -> Vec<String> {
        let mut tags: Vec<String> = self.tracks.iter().flat_map(|t| t.tags.iter().cloned()).collect();
        tags.sort();
        tags.dedup();
        tags
    }
}
