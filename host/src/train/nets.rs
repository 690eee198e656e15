//! The networks being trained, as `*_forward` / `*_backward` pairs over the backend's ops
//! (llm.c style): the forward keeps what the backward needs in a tape, the backward adds
//! gradients into a [`Params`] shaped like the parameters.
//!
//! - [`AudioNet`]: DCUE's audio CNN, the very ops `Backend::audio_tower_forward` composes.
//! - [`DenseStack`]: dense layers with ReLU between them, optionally fed sparse rows (the
//!   text tower) or an embedding lookup (DCUE's user tower).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::params::{ParamId, Params};
use crate::backend::{Backend, ComputeError, Tensor};
use crate::nn::{AudioTower, AudioTowerSpec, Conv1d, Dense, SparseRows};

/// He-uniform values for a weight with `fan_in` inputs.
fn he_uniform(rng: &mut ChaCha8Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let bound = (6.0 / fan_in.max(1) as f64).sqrt() as f32;
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// A weight and its bias.
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    pub w: ParamId,
    pub b: ParamId,
}

impl Layer {
    fn dense(
        params: &mut Params,
        b: &Backend,
        name: &str,
        d_out: usize,
        d_in: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ComputeError> {
        let w = params.add(format!("{name}.weight"), b.upload(&[d_out, d_in], &he_uniform(rng, d_out * d_in, d_in))?);
        let bias = params.add(format!("{name}.bias"), b.zeros(&[d_out])?);
        Ok(Self { w, b: bias })
    }
}

/// DCUE's audio CNN; the per-band input statistics are fixed, not learned.
pub struct AudioNet {
    pub spec: AudioTowerSpec,
    pub mean: Tensor,
    pub std: Tensor,
    convs: Vec<Layer>,
    fc: Layer,
}

/// What [`AudioNet::backward`] needs from a forward pass.
pub struct AudioTape {
    /// Each conv's input and its (ReLU'd) output, before pooling.
    blocks: Vec<(Tensor, Tensor)>,
    pooled: Tensor,
    /// Channels, windows and time steps of the last block's pooled output.
    last: [usize; 3],
}

impl AudioTape {
    /// The trunk's output: the last block's features averaged over time, `[channels, batch]`.
    pub fn pooled(&self) -> &Tensor {
        &self.pooled
    }
}

impl AudioNet {
    /// Fresh weights (He-uniform, zero biases) under `prefix` ("audio").
    pub fn init(
        params: &mut Params,
        b: &Backend,
        prefix: &str,
        spec: &AudioTowerSpec,
        mean: &[f32],
        std: &[f32],
        seed: u64,
    ) -> Result<Self, ComputeError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut convs = Vec::new();
        let mut c_in = spec.n_mels;
        for (i, &c_out) in spec.channels.iter().enumerate() {
            let n = spec.kernel * c_out * c_in;
            let w = params.add(
                format!("{prefix}.conv{}.weight", i + 1),
                b.upload(&[spec.kernel, c_out, c_in], &he_uniform(&mut rng, n, c_in * spec.kernel))?,
            );
            let bias = params.add(format!("{prefix}.conv{}.bias", i + 1), b.zeros(&[c_out])?);
            convs.push(Layer { w, b: bias });
            c_in = c_out;
        }
        let fc = Layer::dense(params, b, &format!("{prefix}.fc"), spec.embedding_dim, c_in, &mut rng)?;
        Ok(Self {
            spec: spec.clone(),
            mean: b.upload(&[mean.len()], mean)?,
            std: b.upload(&[std.len()], std)?,
            convs,
            fc,
        })
    }

    /// A trained tower's weights (a pretrained start), input statistics included.
    pub fn from_tower(
        params: &mut Params,
        b: &Backend,
        prefix: &str,
        tower: &AudioTower,
    ) -> Result<Self, ComputeError> {
        let mut convs = Vec::new();
        for (i, c) in tower.convs.iter().enumerate() {
            let w = params.add(format!("{prefix}.conv{}.weight", i + 1), b.upload(&[c.k, c.c_out, c.c_in], &c.weight)?);
            let bias = params.add(format!("{prefix}.conv{}.bias", i + 1), b.upload(&[c.c_out], &c.bias)?);
            convs.push(Layer { w, b: bias });
        }
        let f = &tower.fc;
        let fc = Layer {
            w: params.add(format!("{prefix}.fc.weight"), b.upload(&[f.d_out, f.d_in], &f.weight)?),
            b: params.add(format!("{prefix}.fc.bias"), b.upload(&[f.d_out], &f.bias)?),
        };
        Ok(Self {
            spec: tower.spec.clone(),
            mean: b.upload(&[tower.input_mean.len()], &tower.input_mean)?,
            std: b.upload(&[tower.input_std.len()], &tower.input_std)?,
            convs,
            fc,
        })
    }

    /// `x [n_mels, batch, window_frames]` -> `[embedding_dim, batch]`, with a tape when `keep`.
    pub fn forward(
        &self,
        b: &Backend,
        p: &Params,
        x: &Tensor,
        keep: bool,
    ) -> Result<(Tensor, Option<AudioTape>), ComputeError> {
        let mut h = b.normalize_channels_forward(x, &self.mean, &self.std)?;
        let mut blocks = Vec::new();
        for layer in &self.convs {
            let y = b.conv1d_forward(&h, p.get(layer.w), p.get(layer.b), true)?;
            let pooled = b.max_pool_forward(&y, self.spec.pool)?;
            if keep {
                blocks.push((h, y));
            }
            h = pooled;
        }
        let last = <[usize; 3]>::try_from(h.shape()).map_err(|_| ComputeError::Shape("tower activations".into()))?;
        let [c, batch, t] = last;
        let offsets: Vec<usize> = (0..=batch).map(|i| i * t).collect();
        let pooled = b.segment_mean_forward(&h.reshaped([c, batch * t])?, &offsets)?;
        let out = b.dense_forward(&pooled, p.get(self.fc.w), p.get(self.fc.b), false)?;
        Ok((out, keep.then_some(AudioTape { blocks, pooled, last })))
    }

    /// Adds the gradients of every weight for `d_out [embedding_dim, batch]` into `g`.
    pub fn backward(
        &self,
        b: &Backend,
        p: &Params,
        tape: AudioTape,
        d_out: &Tensor,
        g: &mut Params,
    ) -> Result<(), ComputeError> {
        let [c, batch, t] = tape.last;
        let (dw, db) = g.pair_mut(self.fc.w, self.fc.b);
        let d_pooled =
            b.dense_backward(&tape.pooled, None, p.get(self.fc.w), d_out, dw, db, true)?.expect("asked for dx");
        let offsets: Vec<usize> = (0..=batch).map(|i| i * t).collect();
        let mut dp = b.segment_mean_backward(&d_pooled, &offsets, batch * t)?.reshaped([c, batch, t])?;
        for (i, (layer, (h, y))) in self.convs.iter().zip(&tape.blocks).enumerate().rev() {
            let dy = b.max_pool_backward(y, &dp, self.spec.pool)?;
            let (dw, db) = g.pair_mut(layer.w, layer.b);
            b.conv1d_weight_backward(h, &dy, Some(y), dw, db)?;
            if i > 0 {
                dp = b.conv1d_x_backward(&dy, Some(y), p.get(layer.w))?;
            }
        }
        Ok(())
    }

    /// The trained weights as a host tower (the served model's audio half).
    pub fn to_tower(&self, b: &Backend, p: &Params) -> Result<AudioTower, ComputeError> {
        let mut convs = Vec::new();
        for layer in &self.convs {
            let [k, c_out, c_in] = <[usize; 3]>::try_from(p.get(layer.w).shape())
                .map_err(|_| ComputeError::Shape("conv weight".into()))?;
            convs.push(Conv1d {
                c_out,
                c_in,
                k,
                weight: b.download(p.get(layer.w))?,
                bias: b.download(p.get(layer.b))?,
            });
        }
        Ok(AudioTower {
            spec: self.spec.clone(),
            input_mean: b.download(&self.mean)?,
            input_std: b.download(&self.std)?,
            convs,
            fc: dense_of(b, p, self.fc)?,
        })
    }
}

fn dense_of(b: &Backend, p: &Params, l: Layer) -> Result<Dense, ComputeError> {
    let [d_out, d_in] =
        <[usize; 2]>::try_from(p.get(l.w).shape()).map_err(|_| ComputeError::Shape("dense weight".into()))?;
    Ok(Dense { d_out, d_in, weight: b.download(p.get(l.w))?, bias: b.download(p.get(l.b))? })
}

/// What a [`DenseStack`] reads.
pub enum StackInput<'a> {
    Dense(&'a Tensor),
    Sparse(&'a SparseRows),
    /// Rows of the stack's embedding table.
    Lookup(&'a [u32]),
}

/// Dense layers, ReLU after every one but the last; optionally an embedding table in front.
pub struct DenseStack {
    pub table: Option<ParamId>,
    pub layers: Vec<Layer>,
}

/// Each layer's output; the first layer's input when the stack made it (a lookup).
pub struct StackTape {
    embedded: Option<Tensor>,
    outs: Vec<Tensor>,
}

impl StackTape {
    /// The stack's output.
    pub fn output(&self) -> &Tensor {
        self.outs.last().expect("a stack has layers")
    }
}

impl DenseStack {
    /// Layers `dims[0] -> dims[1] -> ... -> dims[n]`, and a `[table_rows, dims[0]]` table when
    /// `table_rows` is given.
    pub fn init(
        params: &mut Params,
        b: &Backend,
        prefix: &str,
        dims: &[usize],
        table_rows: Option<usize>,
        seed: u64,
    ) -> Result<Self, ComputeError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let table = match table_rows {
            Some(n) => {
                let values: Vec<f32> = (0..n * dims[0]).map(|_| rng.random_range(-0.05f32..0.05)).collect();
                Some(params.add(format!("{prefix}.embedding.weight"), b.upload(&[n, dims[0]], &values)?))
            }
            None => None,
        };
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, d)| Layer::dense(params, b, &format!("{prefix}.fc{}", i + 1), d[1], d[0], &mut rng))
            .collect::<Result<_, _>>()?;
        Ok(Self { table, layers })
    }

    fn relu(&self, i: usize) -> bool {
        i + 1 < self.layers.len()
    }

    pub fn forward(&self, b: &Backend, p: &Params, x: &StackInput) -> Result<StackTape, ComputeError> {
        let l0 = self.layers[0];
        let (embedded, first) = match x {
            StackInput::Sparse(rows) => (None, b.sparse_dense_forward(rows, p.get(l0.w), p.get(l0.b), self.relu(0))?),
            StackInput::Dense(t) => (None, b.dense_forward(t, p.get(l0.w), p.get(l0.b), self.relu(0))?),
            StackInput::Lookup(idx) => {
                let table =
                    self.table.ok_or_else(|| ComputeError::Shape("a lookup needs an embedding table".into()))?;
                let e = b.gather_columns(p.get(table), idx)?;
                let y = b.dense_forward(&e, p.get(l0.w), p.get(l0.b), self.relu(0))?;
                (Some(e), y)
            }
        };
        let mut outs = vec![first];
        for (i, l) in self.layers.iter().enumerate().skip(1) {
            let y =
                b.dense_forward(outs.last().expect("one output per layer"), p.get(l.w), p.get(l.b), self.relu(i))?;
            outs.push(y);
        }
        Ok(StackTape { embedded, outs })
    }

    /// Adds every weight's gradient (the table's too) for `d_out` into `g`.
    pub fn backward(
        &self,
        b: &Backend,
        p: &Params,
        x: &StackInput,
        tape: &StackTape,
        d_out: &Tensor,
        g: &mut Params,
    ) -> Result<(), ComputeError> {
        let mut d: Option<Tensor> = None;
        for (i, l) in self.layers.iter().enumerate().rev() {
            let dy = d.as_ref().unwrap_or(d_out);
            let y = self.relu(i).then(|| &tape.outs[i]);
            let (dw, db) = g.pair_mut(l.w, l.b);
            d = if i > 0 {
                b.dense_backward(&tape.outs[i - 1], y, p.get(l.w), dy, dw, db, true)?
            } else {
                match x {
                    StackInput::Dense(t) => b.dense_backward(t, y, p.get(l.w), dy, dw, db, false)?,
                    StackInput::Sparse(rows) => {
                        let masked = y.map(|y| b.relu_backward(dy, y)).transpose()?;
                        b.sparse_dense_weight_backward(rows, masked.as_ref().unwrap_or(dy), dw, db)?;
                        None
                    }
                    StackInput::Lookup(idx) => {
                        let e = tape.embedded.as_ref().expect("a lookup keeps its embeddings");
                        let de = b.dense_backward(e, y, p.get(l.w), dy, dw, db, true)?.expect("asked for dx");
                        let table = self.table.expect("a lookup has a table");
                        b.gather_columns_backward(&de, idx, g.get_mut(table))?;
                        None
                    }
                }
            };
        }
        Ok(())
    }

    /// The trained layers as host dense layers.
    pub fn to_dense(&self, b: &Backend, p: &Params) -> Result<Vec<Dense>, ComputeError> {
        self.layers.iter().map(|&l| dense_of(b, p, l)).collect()
    }
}
