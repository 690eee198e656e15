//! Recording many dispatches into one submission. Shaders in `shaders/` bind their storage
//! buffers at 0..n and a small uniform `Params` struct at n; the recorder packs every
//! dispatch's params into one uniform buffer (one aligned slot each), written just before
//! the single submit.

use std::sync::Arc;

use wgpu::{Buffer, BufferUsages, ComputePipeline};

use super::GpuContext;
use crate::backend::ComputeError;

/// Slots in the uniform arena; a tower forward pass uses about 20.
const SLOTS: u64 = 128;

pub(crate) struct UniformArena {
    buffer: Buffer,
    slot: u64,
}

impl UniformArena {
    pub(crate) fn new(ctx: &GpuContext) -> Self {
        let slot = u64::from(ctx.limits.min_uniform_buffer_offset_alignment).max(16);
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: slot * SLOTS,
            usage: BufferUsages::UNIFORM | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self { buffer, slot }
    }
}

/// One command encoder plus the params staged for it.
pub(crate) struct Recorder<'a> {
    ctx: &'a GpuContext,
    arena: &'a UniformArena,
    pub(crate) encoder: wgpu::CommandEncoder,
    params: Vec<u8>,
    used: u64,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(ctx: &'a GpuContext, arena: &'a UniformArena) -> Self {
        let encoder = ctx.device.create_command_encoder(&Default::default());
        Self { ctx, arena, encoder, params: Vec::new(), used: 0 }
    }

    /// Records `pipeline` over `groups` workgroups with `storage` at bindings 0.. and
    /// `params` (u32 words; f32 go in as bits) at the next binding.
    pub(crate) fn dispatch(
        &mut self,
        label: &str,
        pipeline: &Arc<ComputePipeline>,
        storage: &[&Buffer],
        params: &[u32],
        groups: (u32, u32, u32),
    ) -> Result<(), ComputeError> {
        if self.used >= SLOTS {
            return Err(ComputeError::Device(format!("more than {SLOTS} dispatches in one submission")));
        }
        let offset = self.used * self.arena.slot;
        self.used += 1;
        let mut words = params.to_vec();
        words.resize(words.len().next_multiple_of(4).max(4), 0);
        let size = (words.len() * 4) as u64;
        self.params.resize(offset as usize, 0);
        self.params.extend_from_slice(bytemuck::cast_slice(&words));
        let mut entries: Vec<wgpu::BindGroupEntry> = storage
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: storage.len() as u32,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arena.buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        });
        let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let max = self.ctx.limits.max_compute_workgroups_per_dimension;
        if groups.0 > max || groups.1 > max || groups.2 > max {
            return Err(ComputeError::Shape(format!("{label}: dispatch {groups:?} exceeds {max} workgroups per axis")));
        }
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        Ok(())
    }

    /// Writes the staged params and hands back the encoder for the caller to finish.
    pub(crate) fn finish(self) -> wgpu::CommandEncoder {
        if !self.params.is_empty() {
            self.ctx.queue.write_buffer(&self.arena.buffer, 0, &self.params);
        }
        self.encoder
    }
}

/// Splits `n` workgroups over a 2-D grid within the per-axis limit (shaders flatten
/// `gid.y * num_workgroups.x * wg + gid.x`).
pub(crate) fn grid_2d(n: u32, max: u32) -> (u32, u32, u32) {
    if n <= max { (n.max(1), 1, 1) } else { (max, n.div_ceil(max), 1) }
}
