//! Splits by artist (Oramas et al. §2): no artist has tracks in two parts, so a test track's
//! artist is as new to the model as the track itself.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Which part of the catalog an artist (and its tracks) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Train,
    Val,
    Test,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// Part of each artist, by artist index.
    pub artist: Vec<Part>,
}

impl Splits {
    /// A seeded shuffle of the artists cut at `train` and `train + val` (fractions).
    pub fn by_artist(n_artists: usize, seed: u64, train: f64, val: f64) -> Self {
        let mut order: Vec<usize> = (0..n_artists).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let n_train = ((n_artists as f64) * train).round() as usize;
        let n_val = ((n_artists as f64) * val).round() as usize;
        let mut artist = vec![Part::Test; n_artists];
        for (rank, &a) in order.iter().enumerate() {
            artist[a] = if rank < n_train {
                Part::Train
            } else if rank < n_train + n_val {
                Part::Val
            } else {
                Part::Test
            };
        }
        Self { artist }
    }

    /// Indices of the tracks in `part`.
    pub fn tracks(&self, catalog: &super::Catalog, part: Part) -> Vec<usize> {
        (0..catalog.tracks.len()).filter(|&t| self.artist[catalog.tracks[t].artist] == part).collect()
    }

    /// Indices of the artists in `part`.
    pub fn artists(&self, part: Part) -> Vec<usize> {
        (0..self.artist.len()).filter(|&a| self.artist[a] == part).collect()
    }
}
