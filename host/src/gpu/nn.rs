//! Host side of the audio-tower kernels: `shaders/nn/`, `pool/`, `matrix/`, `norm/`.
//!
//! A tower forward pass is one submission: the windows go up once, activations ping-pong
//! between two reused device buffers, and only the embeddings come back. Weights are
//! uploaded once per tower (keyed by the weights' sha256).

use std::sync::Arc;

use wgpu::util::DeviceExt;
use wgpu::{Buffer, BufferUsages, ComputePipeline};

use super::buffers::{GrowableBuffer, read_f32};
use super::record::{Recorder, UniformArena, grid_2d};
use super::{GpuContext, shaders};
use crate::backend::ComputeError;
use crate::nn::{Activations, AudioTower, Conv1d, Dense, Matrix, SparseRows};

const TILE: u32 = 64;
const MAX_KS: usize = 7;
/// Towers whose weights stay on the device (a config reload may bring new ones).
const CACHED_TOWERS: usize = 4;

struct TowerBuffers {
    mean: Buffer,
    std: Buffer,
    convs: Vec<(Buffer, Buffer)>,
    fc_w: Buffer,
    fc_b: Buffer,
}

pub(crate) struct NnKernels {
    arena: Arc<UniformArena>,
    towers: Vec<(String, TowerBuffers)>,
    input: GrowableBuffer,
    act_a: GrowableBuffer,
    act_b: GrowableBuffer,
    pooled: GrowableBuffer,
    emb: GrowableBuffer,
    per_track: GrowableBuffer,
    out: GrowableBuffer,
    offsets_time: GrowableBuffer,
    offsets_tracks: GrowableBuffer,
    // Per-op inputs (tests, trainer).
    op_w: GrowableBuffer,
    op_b: GrowableBuffer,
    staging: GrowableBuffer,
}

fn upload(ctx: &GpuContext, label: &str, data: &[f32]) -> Buffer {
    ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: if data.is_empty() { &[0u8; 4] } else { bytemuck::cast_slice(data) },
        usage: BufferUsages::STORAGE,
    })
}

fn u32_of(n: usize, what: &str) -> Result<u32, ComputeError> {
    u32::try_from(n).map_err(|_| ComputeError::Shape(format!("{what} = {n} exceeds 2^32")))
}

impl NnKernels {
    pub(crate) fn new(ctx: &GpuContext) -> Self {
        Self {
            arena: Arc::new(UniformArena::new(ctx)),
            towers: Vec::new(),
            input: GrowableBuffer::storage("windows"),
            act_a: GrowableBuffer::storage("activations a"),
            act_b: GrowableBuffer::storage("activations b"),
            pooled: GrowableBuffer::storage("pooled"),
            emb: GrowableBuffer::storage("window embeddings"),
            per_track: GrowableBuffer::storage("track means"),
            out: GrowableBuffer::storage("track embeddings"),
            offsets_time: GrowableBuffer::storage("time offsets"),
            offsets_tracks: GrowableBuffer::storage("track offsets"),
            op_w: GrowableBuffer::storage("op weights"),
            op_b: GrowableBuffer::storage("op bias"),
            staging: GrowableBuffer::new("nn staging", BufferUsages::MAP_READ | BufferUsages::COPY_DST),
        }
    }

    fn conv_pipeline(ctx: &GpuContext, k: usize, relu: bool) -> Result<Arc<ComputePipeline>, ComputeError> {
        if k.is_multiple_of(2) || k > MAX_KS {
            return Err(ComputeError::Shape(format!(
                "conv kernel {k}: the WGSL conv takes odd kernels up to {MAX_KS}"
            )));
        }
        ctx.pipeline(
            &format!("conv1d k={k} relu={relu}"),
            shaders::CONV1D,
            &[("KS", k as f64), ("RELU", f64::from(u8::from(relu)))],
        )
    }

    fn gemm_pipeline(ctx: &GpuContext, bias: bool, relu: bool) -> Result<Arc<ComputePipeline>, ComputeError> {
        ctx.pipeline(
            &format!("gemm bias={bias} relu={relu}"),
            shaders::GEMM,
            &[("BIAS", f64::from(u8::from(bias))), ("RELU", f64::from(u8::from(relu)))],
        )
    }

    // ---- recording helpers: each records one op between device buffers ----

    #[allow(clippy::too_many_arguments)]
    fn rec_affine(
        ctx: &GpuContext,
        r: &mut Recorder,
        x: &Buffer,
        mean: &Buffer,
        std: &Buffer,
        y: &Buffer,
        channels: usize,
        per_channel: usize,
    ) -> Result<(), ComputeError> {
        let pipe = ctx.pipeline("channel_affine", shaders::CHANNEL_AFFINE, &[])?;
        let total = channels * per_channel.div_ceil(4);
        let groups =
            grid_2d(u32_of(total.div_ceil(64), "workgroups")?, ctx.limits.max_compute_workgroups_per_dimension);
        r.dispatch(
            "channel_affine",
            &pipe,
            &[x, mean, std, y],
            &[u32_of(channels, "channels")?, u32_of(per_channel, "batch x time")?],
            groups,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn rec_conv(
        ctx: &GpuContext,
        r: &mut Recorder,
        x: &Buffer,
        w: &Buffer,
        b: &Buffer,
        y: &Buffer,
        conv: &Conv1d,
        batch: usize,
        time: usize,
        relu: bool,
    ) -> Result<(), ComputeError> {
        let pipe = Self::conv_pipeline(ctx, conv.k, relu)?;
        let cols = u32_of(batch * time, "batch x time")?;
        r.dispatch(
            "conv1d",
            &pipe,
            &[x, w, b, y],
            &[u32_of(conv.c_in, "c_in")?, u32_of(conv.c_out, "c_out")?, u32_of(batch, "batch")?, u32_of(time, "time")?],
            (cols.div_ceil(TILE), u32_of(conv.c_out, "c_out")?.div_ceil(TILE), 1),
        )
    }

    fn rec_max_pool(
        ctx: &GpuContext,
        r: &mut Recorder,
        x: &Buffer,
        y: &Buffer,
        rows: usize,
        time: usize,
        pool: usize,
    ) -> Result<(), ComputeError> {
        let pipe = ctx.pipeline(&format!("max_pool pool={pool}"), shaders::MAX_POOL1D, &[("POOL", pool as f64)])?;
        let t_out = time / pool;
        let total = rows * t_out.div_ceil(4);
        let groups =
            grid_2d(u32_of(total.div_ceil(64), "workgroups")?, ctx.limits.max_compute_workgroups_per_dimension);
        r.dispatch(
            "max_pool",
            &pipe,
            &[x, y],
            &[u32_of(rows, "rows")?, u32_of(time, "time")?, u32_of(t_out, "time")?],
            groups,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn rec_segment_mean(
        ctx: &GpuContext,
        r: &mut Recorder,
        x: &Buffer,
        offsets: &Buffer,
        y: &Buffer,
        rows: usize,
        cols: usize,
        segments: usize,
    ) -> Result<(), ComputeError> {
        let pipe = ctx.pipeline("segment_mean", shaders::SEGMENT_MEAN, &[])?;
        let s = u32_of(segments, "segments")?;
        r.dispatch(
            "segment_mean",
            &pipe,
            &[x, offsets, y],
            &[u32_of(rows, "rows")?, u32_of(cols, "cols")?, s],
            (s.div_ceil(64).max(1), u32_of(rows, "rows")?.div_ceil(4).max(1), 1),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn rec_dense(
        ctx: &GpuContext,
        r: &mut Recorder,
        w: &Buffer,
        x: &Buffer,
        b: &Buffer,
        y: &Buffer,
        d_out: usize,
        d_in: usize,
        batch: usize,
        relu: bool,
    ) -> Result<(), ComputeError> {
        let pipe = Self::gemm_pipeline(ctx, true, relu)?;
        let (m, n, k) = (u32_of(d_out, "d_out")?, u32_of(batch, "batch")?, u32_of(d_in, "d_in")?);
        r.dispatch(
            "dense",
            &pipe,
            &[w, x, b, y],
            &[m, n, k, k, n, n, 0, 0],
            (n.div_ceil(TILE).max(1), m.div_ceil(TILE), 1),
        )
    }

    fn rec_l2(
        ctx: &GpuContext,
        r: &mut Recorder,
        x: &Buffer,
        y: &Buffer,
        rows: usize,
        cols: usize,
    ) -> Result<(), ComputeError> {
        let pipe = ctx.pipeline("l2_normalize", shaders::L2_NORMALIZE, &[])?;
        let c = u32_of(cols, "cols")?;
        r.dispatch("l2_normalize", &pipe, &[x, y], &[u32_of(rows, "rows")?, c], (c.div_ceil(64).max(1), 1, 1))
    }

    // ---- per-op entry points (host data in and out) ----

    pub(crate) fn normalize_channels(
        &mut self,
        ctx: &GpuContext,
        x: &Activations,
        mean: &[f32],
        std: &[f32],
    ) -> Result<Activations, ComputeError> {
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let mb = self.op_w.upload(ctx, mean)?.clone();
        let sb = self.op_b.upload(ctx, std)?.clone();
        let yb = self.act_a.ensure(ctx, (x.data.len() * 4) as u64)?.clone();
        let mut r = Recorder::new(ctx, &self.arena);
        Self::rec_affine(ctx, &mut r, &xb, &mb, &sb, &yb, x.channels, x.batch * x.time)?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, x.data.len())?;
        Ok(Activations { channels: x.channels, batch: x.batch, time: x.time, data })
    }

    pub(crate) fn conv1d(
        &mut self,
        ctx: &GpuContext,
        x: &Activations,
        conv: &Conv1d,
        relu: bool,
    ) -> Result<Activations, ComputeError> {
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let wb = self.op_w.upload(ctx, &conv.weight)?.clone();
        let bb = self.op_b.upload(ctx, &conv.bias)?.clone();
        let n = conv.c_out * x.batch * x.time;
        let yb = self.act_a.ensure(ctx, (n * 4) as u64)?.clone();
        let mut r = Recorder::new(ctx, &self.arena);
        Self::rec_conv(ctx, &mut r, &xb, &wb, &bb, &yb, conv, x.batch, x.time, relu)?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, n)?;
        Ok(Activations { channels: conv.c_out, batch: x.batch, time: x.time, data })
    }

    pub(crate) fn max_pool(
        &mut self,
        ctx: &GpuContext,
        x: &Activations,
        pool: usize,
    ) -> Result<Activations, ComputeError> {
        let t_out = x.time / pool;
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let n = x.channels * x.batch * t_out;
        let yb = self.act_a.ensure(ctx, (n * 4) as u64)?.clone();
        let mut r = Recorder::new(ctx, &self.arena);
        Self::rec_max_pool(ctx, &mut r, &xb, &yb, x.channels * x.batch, x.time, pool)?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, n)?;
        Ok(Activations { channels: x.channels, batch: x.batch, time: t_out, data })
    }

    pub(crate) fn segment_mean(
        &mut self,
        ctx: &GpuContext,
        x: &Matrix,
        offsets: &[usize],
    ) -> Result<Matrix, ComputeError> {
        let s = offsets.len().saturating_sub(1);
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let offs: Vec<u32> = offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
        let ob = self.offsets_tracks.upload(ctx, &offs)?.clone();
        let yb = self.act_a.ensure(ctx, (x.rows * s * 4) as u64)?.clone();
        let mut r = Recorder::new(ctx, &self.arena);
        Self::rec_segment_mean(ctx, &mut r, &xb, &ob, &yb, x.rows, x.cols, s)?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, x.rows * s)?;
        Ok(Matrix { rows: x.rows, cols: s, data })
    }

    pub(crate) fn dense(
        &mut self,
        ctx: &GpuContext,
        x: &Matrix,
        layer: &Dense,
        relu: bool,
    ) -> Result<Matrix, ComputeError> {
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let wb = self.op_w.upload(ctx, &layer.weight)?.clone();
        let bb = self.op_b.upload(ctx, &layer.bias)?.clone();
        let n = layer.d_out * x.cols;
        let yb = self.act_a.ensure(ctx, (n * 4) as u64)?.clone();
        let mut r = Recorder::new(ctx, &self.arena);
        Self::rec_dense(ctx, &mut r, &wb, &xb, &bb, &yb, layer.d_out, layer.d_in, x.cols, relu)?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, n)?;
        Ok(Matrix { rows: layer.d_out, cols: x.cols, data })
    }

    pub(crate) fn l2_normalize(&mut self, ctx: &GpuContext, x: &Matrix) -> Result<Matrix, ComputeError> {
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let yb = self.act_a.ensure(ctx, (x.data.len() * 4) as u64)?.clone();
        let mut r = Recorder::new(ctx, &self.arena);
        Self::rec_l2(ctx, &mut r, &xb, &yb, x.rows, x.cols)?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, x.data.len())?;
        Ok(Matrix { rows: x.rows, cols: x.cols, data })
    }

    pub(crate) fn sparse_dense(
        &mut self,
        ctx: &GpuContext,
        x: &SparseRows,
        layer: &Dense,
        relu: bool,
    ) -> Result<Matrix, ComputeError> {
        let n = x.rows();
        let offs: Vec<u32> = x.offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
        let ob = self.offsets_tracks.upload(ctx, &offs)?.clone();
        let ib = self.op_b.upload(ctx, &x.indices)?.clone();
        let vb = self.input.upload(ctx, &x.values)?.clone();
        let wb = self.op_w.upload(ctx, &layer.weight)?.clone();
        let bb = self.pooled.upload(ctx, &layer.bias)?.clone();
        let yb = self.act_a.ensure(ctx, (layer.d_out * n * 4) as u64)?.clone();
        let pipe = ctx.pipeline(
            &format!("sparse_dense relu={relu}"),
            shaders::SPARSE_DENSE,
            &[("RELU", f64::from(u8::from(relu)))],
        )?;
        let mut r = Recorder::new(ctx, &self.arena);
        let (d_out, rows) = (u32_of(layer.d_out, "d_out")?, u32_of(n, "rows")?);
        r.dispatch(
            "sparse_dense",
            &pipe,
            &[&ob, &ib, &vb, &wb, &bb, &yb],
            &[d_out, u32_of(layer.d_in, "d_in")?, rows],
            (rows.max(1), d_out.div_ceil(64), 1),
        )?;
        let data = read_f32(ctx, r.finish(), &yb, &mut self.staging, layer.d_out * n)?;
        Ok(Matrix { rows: layer.d_out, cols: n, data })
    }

    /// A general GEMM `c[m, n] = a[m, k] x b[k, n]` (benchmarks: DFT as a matrix product).
    pub(crate) fn matmul(
        &mut self,
        ctx: &GpuContext,
        a: &[f32],
        b: &[f32],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<f32>, ComputeError> {
        let ab = self.op_w.upload(ctx, a)?.clone();
        let bb = self.input.upload(ctx, b)?.clone();
        let zb = self.op_b.ensure(ctx, 4)?.clone();
        let cb = self.act_a.ensure(ctx, (m * n * 4) as u64)?.clone();
        let pipe = Self::gemm_pipeline(ctx, false, false)?;
        let (m32, n32, k32) = (u32_of(m, "m")?, u32_of(n, "n")?, u32_of(k, "k")?);
        let mut r = Recorder::new(ctx, &self.arena);
        r.dispatch(
            "gemm",
            &pipe,
            &[&ab, &bb, &zb, &cb],
            &[m32, n32, k32, k32, n32, n32, 0, 0],
            (n32.div_ceil(TILE), m32.div_ceil(TILE), 1),
        )?;
        read_f32(ctx, r.finish(), &cb, &mut self.staging, m * n)
    }

    // ---- the tower ----

    fn tower_buffers(&mut self, ctx: &GpuContext, tower: &AudioTower) -> usize {
        if let Some(i) = self.towers.iter().position(|(id, _)| *id == tower.id) {
            return i;
        }
        if self.towers.len() >= CACHED_TOWERS {
            self.towers.remove(0);
        }
        let bufs = TowerBuffers {
            mean: upload(ctx, "input mean", &tower.input_mean),
            std: upload(ctx, "input std", &tower.input_std),
            convs: tower
                .convs
                .iter()
                .map(|c| (upload(ctx, "conv w", &c.weight), upload(ctx, "conv b", &c.bias)))
                .collect(),
            fc_w: upload(ctx, "fc w", &tower.fc.weight),
            fc_b: upload(ctx, "fc b", &tower.fc.bias),
        };
        self.towers.push((tower.id.clone(), bufs));
        self.towers.len() - 1
    }

    /// Records the tower over `x` (already on the device in `self.input`); the window
    /// embeddings `[embedding_dim, batch]` end up in `self.emb`.
    fn record_tower(
        &mut self,
        ctx: &GpuContext,
        r: &mut Recorder,
        tower: &AudioTower,
        x: &Activations,
        xb: &Buffer,
    ) -> Result<(), ComputeError> {
        let ti = self.tower_buffers(ctx, tower);
        let tb = &self.towers[ti].1;
        let batch = x.batch;
        let max_c = tower.convs.iter().map(|c| c.c_out).max().unwrap_or(0).max(x.channels);
        let act_bytes = (max_c * batch * x.time * 4) as u64;
        let a = self.act_a.ensure(ctx, act_bytes)?.clone();
        let b = self.act_b.ensure(ctx, act_bytes)?.clone();
        Self::rec_affine(ctx, r, xb, &tb.mean, &tb.std, &a, x.channels, batch * x.time)?;
        let mut t = x.time;
        for (conv, (w, bias)) in tower.convs.iter().zip(&tb.convs) {
            Self::rec_conv(ctx, r, &a, w, bias, &b, conv, batch, t, true)?;
            Self::rec_max_pool(ctx, r, &b, &a, conv.c_out * batch, t, tower.spec.pool)?;
            t /= tower.spec.pool;
        }
        let c_last = tower.fc.d_in;
        let offs: Vec<u32> = (0..=batch).map(|i| u32_of(i * t, "offset")).collect::<Result<_, _>>()?;
        let ob = self.offsets_time.upload(ctx, &offs)?.clone();
        let pooled = self.pooled.ensure(ctx, (c_last * batch * 4) as u64)?.clone();
        Self::rec_segment_mean(ctx, r, &a, &ob, &pooled, c_last, batch * t, batch)?;
        let emb = self.emb.ensure(ctx, (tower.fc.d_out * batch * 4) as u64)?.clone();
        Self::rec_dense(ctx, r, &tb.fc_w, &pooled, &tb.fc_b, &emb, tower.fc.d_out, c_last, batch, false)
    }

    pub(crate) fn audio_tower(
        &mut self,
        ctx: &GpuContext,
        tower: &AudioTower,
        x: &Activations,
    ) -> Result<Matrix, ComputeError> {
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let arena = self.arena.clone();
        let mut r = Recorder::new(ctx, &arena);
        self.record_tower(ctx, &mut r, tower, x, &xb)?;
        let d = tower.fc.d_out;
        let emb = self.emb.ensure(ctx, (d * x.batch * 4) as u64)?.clone();
        let data = read_f32(ctx, r.finish(), &emb, &mut self.staging, d * x.batch)?;
        Ok(Matrix { rows: d, cols: x.batch, data })
    }

    /// Tower, then each track's mean over its windows, then L2 normalisation, in one submission.
    pub(crate) fn embed_tracks(
        &mut self,
        ctx: &GpuContext,
        tower: &AudioTower,
        x: &Activations,
        offsets: &[usize],
    ) -> Result<Matrix, ComputeError> {
        let xb = self.input.upload(ctx, &x.data)?.clone();
        let arena = self.arena.clone();
        let mut r = Recorder::new(ctx, &arena);
        self.record_tower(ctx, &mut r, tower, x, &xb)?;
        let d = tower.fc.d_out;
        let s = offsets.len() - 1;
        let offs: Vec<u32> = offsets.iter().map(|&o| u32_of(o, "offset")).collect::<Result<_, _>>()?;
        let ob = self.offsets_tracks.upload(ctx, &offs)?.clone();
        let emb = self.emb.ensure(ctx, (d * x.batch * 4) as u64)?.clone();
        let means = self.per_track.ensure(ctx, (d * s * 4) as u64)?.clone();
        let out = self.out.ensure(ctx, (d * s * 4) as u64)?.clone();
        Self::rec_segment_mean(ctx, &mut r, &emb, &ob, &means, d, x.batch, s)?;
        Self::rec_l2(ctx, &mut r, &means, &out, d, s)?;
        let data = read_f32(ctx, r.finish(), &out, &mut self.staging, d * s)?;
        Ok(Matrix { rows: d, cols: s, data })
    }
}
