//! Play counts as a sparse user x item matrix (CSR), over a chosen set of items.

use super::Catalog;

/// `counts[u]` = the (item, count) pairs of user `u`, items as positions in `items`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    pub n_users: usize,
    pub n_items: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub counts: Vec<f32>,
}

impl Interactions {
    /// Plays of the given tracks (their order defines the item index), summed per pair.
    pub fn of_tracks(catalog: &Catalog, tracks: &[usize]) -> Self {
        let mut item_of = vec![u32::MAX; catalog.tracks.len()];
        for (i, &t) in tracks.iter().enumerate() {
            item_of[t] = i as u32;
        }
        Self::build(
            catalog.users.len(),
            tracks.len(),
            catalog.plays.iter().filter_map(|p| {
                let item = item_of[p.track as usize];
                (item != u32::MAX).then_some((p.user, item, p.count))
            }),
        )
    }

    /// Plays summed per (user, artist) over the given artists' tracks (Oramas §2).
    pub fn of_artists(catalog: &Catalog, artists: &[usize]) -> Self {
        let mut item_of = vec![u32::MAX; catalog.artists.len()];
        for (i, &a) in artists.iter().enumerate() {
            item_of[a] = i as u32;
        }
        Self::build(
            catalog.users.len(),
            artists.len(),
            catalog.plays.iter().filter_map(|p| {
                let item = item_of[catalog.tracks[p.track as usize].artist];
                (item != u32::MAX).then_some((p.user, item, p.count))
            }),
        )
    }

    fn build(n_users: usize, n_items: usize, triples: impl Iterator<Item = (u32, u32, f32)>) -> Self {
        let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
        for (u, i, c) in triples {
            rows[u as usize].push((i, c));
        }
        let (mut indptr, mut indices, mut counts) = (vec![0], Vec::new(), Vec::new());
        for row in &mut rows {
            row.sort_by_key(|&(i, _)| i);
            let mut last: Option<u32> = None;
            for &(i, c) in row.iter() {
                if last == Some(i) {
                    *counts.last_mut().expect("pushed with last") += c;
                } else {
                    indices.push(i);
                    counts.push(c);
                    last = Some(i);
                }
            }
            indptr.push(indices.len());
        }
        Self { n_users, n_items, indptr, indices, counts }
    }

    /// User `u`'s (items, counts).
    pub fn row(&self, u: usize) -> (&[u32], &[f32]) {
        (&self.indices[self.indptr[u]..self.indptr[u + 1]], &self.counts[self.indptr[u]..self.indptr[u + 1]])
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The same matrix with users and items swapped (item x user).
    pub fn transpose(&self) -> Self {
        let triples = (0..self.n_users).flat_map(|u| {
            let (items, counts) = self.row(u);
            items.iter().zip(counts).map(move |(&i, &c)| (i, u as u32, c)).collect::<Vec<_>>()
        });
        Self::build(self.n_items, self.n_users, triples)
    }
}
