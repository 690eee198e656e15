//! The domain records that arrive on Kafka (and in files): artist bios and track releases.

use serde::{Deserialize, Serialize};

use crate::plugin::ReleaseText;

/// An artist-bios topic value: key = artist id (a tombstone removes the artist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtistBio {
    pub artist_id: String,
    pub name: String,
    pub bio: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub language: Option<String>,
}

impl ArtistBio {
    /// What a plugin reads for a track of this artist.
    pub fn release_text(&self, track_title: Option<String>) -> ReleaseText {
        ReleaseText {
            artist_name: self.name.clone(),
            biography: self.bio.clone(),
            label: self.label.clone(),
            track_title,
            tags: self.tags.clone(),
            language: self.language.clone(),
        }
    }
}
