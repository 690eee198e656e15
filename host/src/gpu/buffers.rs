//! Buffer reuse: storage buffers that grow to the largest request and stay, and a readback
//! path through one staging buffer.

use wgpu::{Buffer, BufferUsages};

use super::GpuContext;
use crate::backend::ComputeError;

/// A device buffer reused across calls; reallocated only when a call needs more room.
pub(crate) struct GrowableBuffer {
    label: &'static str,
    usage: BufferUsages,
    buffer: Option<Buffer>,
}

impl GrowableBuffer {
    pub(crate) fn new(label: &'static str, usage: BufferUsages) -> Self {
        Self { label, usage, buffer: None }
    }

    pub(crate) fn storage(label: &'static str) -> Self {
        Self::new(label, BufferUsages::STORAGE | BufferUsages::COPY_DST | BufferUsages::COPY_SRC)
    }

    /// A buffer of at least `bytes` (rounded up to 256, at least 256).
    pub(crate) fn ensure(&mut self, ctx: &GpuContext, bytes: u64) -> Result<&Buffer, ComputeError> {
        let bytes = bytes.max(256).next_multiple_of(256);
        if bytes > ctx.limits.max_storage_buffer_binding_size && self.usage.contains(BufferUsages::STORAGE) {
            return Err(ComputeError::Shape(format!(
                "{}: {bytes} bytes exceed the adapter's storage binding limit of {}",
                self.label, ctx.limits.max_storage_buffer_binding_size
            )));
        }
        if self.buffer.as_ref().is_none_or(|b| b.size() < bytes) {
            // Grow geometrically so a slowly rising size does not reallocate every call.
            let size = self.buffer.as_ref().map_or(bytes, |b| bytes.max(b.size() * 3 / 2).next_multiple_of(256));
            self.buffer = Some(ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(self.label),
                size,
                usage: self.usage,
                mapped_at_creation: false,
            }));
        }
        Ok(self.buffer.as_ref().expect("allocated above"))
    }

    /// Uploads `data`, growing first if needed.
    pub(crate) fn upload<T: bytemuck::Pod>(&mut self, ctx: &GpuContext, data: &[T]) -> Result<&Buffer, ComputeError> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        self.ensure(ctx, bytes.len() as u64)?;
        let buf = self.buffer.as_ref().expect("allocated above");
        if !bytes.is_empty() {
            ctx.queue.write_buffer(buf, 0, bytes);
        }
        Ok(buf)
    }
}

/// Copies `len` f32 values from `src` to the host through `staging`, submitting `encoder`.
pub(crate) fn read_f32(
    ctx: &GpuContext,
    mut encoder: wgpu::CommandEncoder,
    src: &Buffer,
    staging: &mut GrowableBuffer,
    len: usize,
) -> Result<Vec<f32>, ComputeError> {
    let bytes = (len * 4) as u64;
    if bytes == 0 {
        ctx.queue.submit([encoder.finish()]);
        return Ok(Vec::new());
    }
    let staging = staging.ensure(ctx, bytes)?;
    encoder.copy_buffer_to_buffer(src, 0, staging, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|_| ComputeError::Device("readback callback dropped".into()))?
        .map_err(|e| ComputeError::Device(format!("mapping the readback buffer: {e}")))?;
    let out = {
        let view = staging.get_mapped_range(..bytes).map_err(|e| ComputeError::Device(format!("reading back: {e}")))?;
        bytemuck::cast_slice::<u8, f32>(&view).to_vec()
    };
    staging.unmap();
    Ok(out)
}
