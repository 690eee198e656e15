//! Lazy recording. Tensor kernels append their dispatches to one pending command encoder;
//! the work is submitted when a result is read back, so a forward pass or a training step is
//! one submission however many ops it holds. Shaders in `shaders/` bind their storage buffers
//! at 0..n and a small uniform `Params` struct at n; each dispatch's params take an aligned
//! slot of a uniform arena, written just before the submission. Every buffer a pending
//! dispatch reads was created for it or written only by earlier dispatches, so nothing is
//! overwritten before it is read.

use std::sync::Arc;

use wgpu::{Buffer, BufferUsages, ComputePipeline};

use super::GpuContext;
use super::buffers::{GrowableBuffer, read_f32};
use crate::backend::ComputeError;

/// Slots per uniform arena; a submission uses as many arenas as it needs.
const SLOTS: u64 = 256;
/// The largest params struct any shader takes.
const MAX_PARAMS_BYTES: u64 = 64;

struct Arena {
    buffer: Buffer,
    bytes: Vec<u8>,
    used: u64,
}

/// Work recorded but not yet submitted, and the buffer results come back through.
pub(crate) struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    arenas: Vec<Arena>,
    staging: GrowableBuffer,
}

impl Pending {
    pub(crate) fn new() -> Self {
        Self {
            encoder: None,
            arenas: Vec::new(),
            staging: GrowableBuffer::new("readback staging", BufferUsages::MAP_READ | BufferUsages::COPY_DST),
        }
    }

    /// Bytes per dispatch's params: room for the largest `Params` (Adam's 12 words), aligned
    /// as the adapter requires.
    fn slot(ctx: &GpuContext) -> u64 {
        MAX_PARAMS_BYTES.next_multiple_of(u64::from(ctx.limits.min_uniform_buffer_offset_alignment).max(16))
    }

    /// Records `pipeline` over `groups` workgroups with `storage` at bindings 0.. and
    /// `params` (u32 words; f32 go in as bits) at the next binding.
    pub(crate) fn dispatch(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        pipeline: &Arc<ComputePipeline>,
        storage: &[&Buffer],
        params: &[u32],
        groups: (u32, u32, u32),
    ) -> Result<(), ComputeError> {
        let max = ctx.limits.max_compute_workgroups_per_dimension;
        if groups.0 > max || groups.1 > max || groups.2 > max {
            return Err(ComputeError::Shape(format!("{label}: dispatch {groups:?} exceeds {max} workgroups per axis")));
        }
        let slot = Self::slot(ctx);
        if self.arenas.last().is_none_or(|a| a.used >= SLOTS) {
            let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params arena"),
                size: slot * SLOTS,
                usage: BufferUsages::UNIFORM | BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.arenas.push(Arena { buffer, bytes: Vec::new(), used: 0 });
        }
        let arena = self.arenas.last_mut().expect("pushed above");
        let offset = arena.used * slot;
        arena.used += 1;
        let mut words = params.to_vec();
        words.resize(words.len().next_multiple_of(4).max(4), 0);
        let size = (words.len() * 4) as u64;
        if size > MAX_PARAMS_BYTES {
            return Err(ComputeError::Device(format!("{label}: {size} bytes of params exceed a slot")));
        }
        arena.bytes.resize(offset as usize, 0);
        arena.bytes.extend_from_slice(bytemuck::cast_slice(&words));
        let mut entries: Vec<wgpu::BindGroupEntry> = storage
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: storage.len() as u32,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &arena.buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        });
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let encoder = self.encoder.get_or_insert_with(|| ctx.device.create_command_encoder(&Default::default()));
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        Ok(())
    }

    /// Records zeroing a whole buffer.
    pub(crate) fn clear(&mut self, ctx: &GpuContext, buffer: &Buffer) {
        let encoder = self.encoder.get_or_insert_with(|| ctx.device.create_command_encoder(&Default::default()));
        encoder.clear_buffer(buffer, 0, None);
    }

    fn write_params(&mut self, ctx: &GpuContext) {
        for arena in self.arenas.drain(..) {
            ctx.queue.write_buffer(&arena.buffer, 0, &arena.bytes);
        }
    }

    /// Submits the pending work and reads `len` f32 values of `src` back.
    pub(crate) fn read(&mut self, ctx: &GpuContext, src: &Buffer, len: usize) -> Result<Vec<f32>, ComputeError> {
        self.write_params(ctx);
        let encoder = self.encoder.take().unwrap_or_else(|| ctx.device.create_command_encoder(&Default::default()));
        read_f32(ctx, encoder, src, &mut self.staging, len)
    }
}

/// Splits `n` workgroups over a 2-D grid within the per-axis limit (shaders flatten
/// `gid.y * num_workgroups.x * wg + gid.x`).
pub(crate) fn grid_2d(n: u32, max: u32) -> (u32, u32, u32) {
    if n <= max { (n.max(1), 1, 1) } else { (max, n.div_ceil(max), 1) }
}
