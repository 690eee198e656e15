//! Host data in, host data out: the ops over `Activations`, `Matrix` and the towers' host
//! weights, for inference and tests. Each uploads, runs the checked tensor op, downloads.

use super::{Backend, ComputeError, Tensor, checks};
use crate::nn::{Activations, AudioTower, Conv1d, Dense, Matrix, SparseRows, TextTower, TrackWindows};

impl Backend {
    // ---- host data in, host data out (inference, tests) ----

    fn activations(&self, x: &Activations) -> Result<Tensor, ComputeError> {
        self.upload(&[x.channels, x.batch, x.time], &x.data)
    }

    fn matrix(&self, x: &Matrix) -> Result<Tensor, ComputeError> {
        self.upload(&[x.rows, x.cols], &x.data)
    }

    fn to_activations(&self, y: &Tensor) -> Result<Activations, ComputeError> {
        let [channels, batch, time] = checks::dims::<3>(y, "activations")?;
        Ok(Activations { channels, batch, time, data: self.download(y)? })
    }

    fn to_matrix(&self, y: &Tensor) -> Result<Matrix, ComputeError> {
        let [rows, cols] = checks::dims::<2>(y, "matrix")?;
        Ok(Matrix { rows, cols, data: self.download(y)? })
    }

    fn dense_params(&self, layer: &Dense) -> Result<(Tensor, Tensor), ComputeError> {
        Ok((self.upload(&[layer.d_out, layer.d_in], &layer.weight)?, self.upload(&[layer.d_out], &layer.bias)?))
    }

    /// `(x - mean[c]) / std[c]` per channel.
    pub fn normalize_channels(&self, x: &Activations, mean: &[f32], std: &[f32]) -> Result<Activations, ComputeError> {
        let (mean, std) = (self.upload(&[mean.len()], mean)?, self.upload(&[std.len()], std)?);
        self.to_activations(&self.normalize_channels_forward(&self.activations(x)?, &mean, &std)?)
    }

    /// 'Same' Conv1d with bias, optionally followed by ReLU.
    pub fn conv1d(&self, x: &Activations, layer: &Conv1d, relu: bool) -> Result<Activations, ComputeError> {
        let w = self.upload(&[layer.k, layer.c_out, layer.c_in], &layer.weight)?;
        let b = self.upload(&[layer.bias.len()], &layer.bias)?;
        self.to_activations(&self.conv1d_forward(&self.activations(x)?, &w, &b, relu)?)
    }

    /// Max-pool over time by `pool` (floor).
    pub fn max_pool(&self, x: &Activations, pool: usize) -> Result<Activations, ComputeError> {
        self.to_activations(&self.max_pool_forward(&self.activations(x)?, pool)?)
    }

    /// `out[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]])`: mean over time and over a
    /// track's windows.
    pub fn segment_mean(&self, x: &Matrix, offsets: &[usize]) -> Result<Matrix, ComputeError> {
        self.to_matrix(&self.segment_mean_forward(&self.matrix(x)?, offsets)?)
    }

    /// `W x + b` (+ ReLU) for `x` of shape `[d_in, batch]`.
    pub fn dense(&self, x: &Matrix, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        let (w, b) = self.dense_params(layer)?;
        self.to_matrix(&self.dense_forward(&self.matrix(x)?, &w, &b, relu)?)
    }

    /// Each column to unit L2 norm.
    pub fn l2_normalize(&self, x: &Matrix) -> Result<Matrix, ComputeError> {
        self.to_matrix(&self.l2_normalize_forward(&self.matrix(x)?)?)
    }

    /// `W x + b` (+ ReLU) for sparse inputs: `[d_out, rows]`.
    pub fn sparse_dense(&self, x: &SparseRows, layer: &Dense, relu: bool) -> Result<Matrix, ComputeError> {
        let (w, b) = self.dense_params(layer)?;
        self.to_matrix(&self.sparse_dense_forward(x, &w, &b, relu)?)
    }

    /// Artist embeddings `[embedding_dim, rows]` from tf-idf rows (already weighted and
    /// normalised, see [`crate::embedding::tfidf`]): the feed-forward layers, then L2.
    pub fn text_tower(&self, tower: &TextTower, x: &SparseRows) -> Result<Matrix, ComputeError> {
        let (first, rest) = tower.layers.split_first().ok_or_else(|| ComputeError::Shape("empty text tower".into()))?;
        let (w, b) = self.dense_params(first)?;
        let mut h = self.sparse_dense_forward(x, &w, &b, !rest.is_empty())?;
        for (i, layer) in rest.iter().enumerate() {
            let (w, b) = self.dense_params(layer)?;
            h = self.dense_forward(&h, &w, &b, i + 1 < rest.len())?;
        }
        self.to_matrix(&self.l2_normalize_forward(&h)?)
    }

    /// Late fusion: `[audio; artist]` columns through the fusion layer, then L2.
    pub fn fuse(&self, fusion: &Dense, audio: &Matrix, artist: &Matrix) -> Result<Matrix, ComputeError> {
        if audio.cols != artist.cols || audio.rows + artist.rows != fusion.d_in {
            return Err(ComputeError::Shape(format!(
                "fusion reads {} features, got {} + {} for {} / {} columns",
                fusion.d_in, audio.rows, artist.rows, audio.cols, artist.cols
            )));
        }
        let mut data = audio.data.clone();
        data.extend_from_slice(&artist.data);
        let stacked = Matrix { rows: fusion.d_in, cols: audio.cols, data };
        let (w, b) = self.dense_params(fusion)?;
        self.to_matrix(&self.l2_normalize_forward(&self.dense_forward(&self.matrix(&stacked)?, &w, &b, false)?)?)
    }

    /// The audio tower over windows `[n_mels, batch, window_frames]` -> `[embedding_dim, batch]`.
    pub fn audio_tower(&self, tower: &AudioTower, windows: &Activations) -> Result<Matrix, ComputeError> {
        self.to_matrix(&self.audio_tower_forward(tower, &self.activations(windows)?)?)
    }

    /// Track embeddings `[embedding_dim, tracks]`: the L2-normalised mean of each track's
    /// window embeddings.
    pub fn embed_tracks(&self, tower: &AudioTower, windows: &TrackWindows) -> Result<Matrix, ComputeError> {
        let per_window = self.audio_tower_forward(tower, &self.activations(&windows.windows)?)?;
        let per_track = self.segment_mean_forward(&per_window, &windows.offsets)?;
        self.to_matrix(&self.l2_normalize_forward(&per_track)?)
    }
}
