//! Host side of `shaders/spectral/`: the STFT-power and mel-dB kernels.

use std::collections::HashMap;
use std::sync::Arc;

use wgpu::util::DeviceExt;
use wgpu::{BufferUsages, ComputePipeline};

use super::buffers::{GrowableBuffer, read_f32};
use super::{GpuContext, shaders};
use crate::backend::ComputeError;
use crate::spectral::{MelPlan, MelSpectrogram, PowerSpectrogram};

const MAX_GRID: u32 = 65_535;
const MEL_FRAMES_PER_INVOCATION: u32 = 4;
const MEL_WORKGROUP: u32 = 64;

/// Per-plan constant buffers and specialised pipelines.
struct PlanResources {
    stft: Arc<ComputePipeline>,
    mel: Arc<ComputePipeline>,
    window: wgpu::Buffer,
    twiddles: wgpu::Buffer,
    bands: wgpu::Buffer,
    weights: wgpu::Buffer,
}

/// Reused working buffers and the per-plan resources.
pub(crate) struct SpectralKernels {
    plans: HashMap<String, PlanResources>,
    samples: GrowableBuffer,
    power: GrowableBuffer,
    mel: GrowableBuffer,
    staging: GrowableBuffer,
    stft_params: wgpu::Buffer,
    mel_params: wgpu::Buffer,
}

impl SpectralKernels {
    pub(crate) fn new(ctx: &GpuContext) -> Self {
        let uniform = |label| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage: BufferUsages::UNIFORM | BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        Self {
            plans: HashMap::new(),
            samples: GrowableBuffer::storage("samples"),
            power: GrowableBuffer::storage("power"),
            mel: GrowableBuffer::storage("mel"),
            staging: GrowableBuffer::new("staging", BufferUsages::MAP_READ | BufferUsages::COPY_DST),
            stft_params: uniform("stft params"),
            mel_params: uniform("mel params"),
        }
    }

    fn plan(&mut self, ctx: &GpuContext, plan: &MelPlan) -> Result<&PlanResources, ComputeError> {
        let key = format!("{:?}", plan.params);
        if !self.plans.contains_key(&key) {
            let res = build_plan(ctx, plan)?;
            self.plans.insert(key.clone(), res);
        }
        Ok(&self.plans[&key])
    }

    /// Records the STFT into `self.power`; returns the frame count.
    fn encode_stft(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        plan: &MelPlan,
        samples: &[f32],
    ) -> Result<usize, ComputeError> {
        let p = plan.params;
        let n_frames = p.n_frames(samples.len());
        let n_samples =
            u32::try_from(samples.len()).map_err(|_| ComputeError::Shape("more than 2^32 samples".into()))?;
        self.plan(ctx, plan)?;
        let res = &self.plans[&format!("{:?}", p)];
        let samples_buf = self.samples.upload(ctx, samples)?;
        let power_buf = self.power.ensure(ctx, (n_frames * p.n_bins() * 4) as u64)?;
        let grid_w = (n_frames as u32).min(MAX_GRID);
        let grid_h = (n_frames as u32).div_ceil(grid_w);
        ctx.queue.write_buffer(&self.stft_params, 0, bytemuck::cast_slice(&[n_samples, n_frames as u32, grid_w, 0]));
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("stft"),
            layout: &res.stft.get_bind_group_layout(0),
            entries: &[
                entry(0, samples_buf),
                entry(1, &res.window),
                entry(2, &res.twiddles),
                entry(3, power_buf),
                entry(4, &self.stft_params),
            ],
        });
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("stft"), timestamp_writes: None });
        pass.set_pipeline(&res.stft);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(grid_w, grid_h, 1);
        Ok(n_frames)
    }

    /// Records the mel-dB kernel reading `self.power` into `self.mel`.
    fn encode_mel(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        plan: &MelPlan,
        n_frames: usize,
    ) -> Result<(), ComputeError> {
        let p = plan.params;
        self.plan(ctx, plan)?;
        let res = &self.plans[&format!("{:?}", p)];
        let mel_buf = self.mel.ensure(ctx, (n_frames * p.n_mels * 4) as u64)?;
        let power_buf = self.power.ensure(ctx, (n_frames * p.n_bins() * 4) as u64)?;
        ctx.queue.write_buffer(&self.mel_params, 0, bytemuck::cast_slice(&[n_frames as u32, p.n_mels as u32, 0, 0]));
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("mel"),
            layout: &res.mel.get_bind_group_layout(0),
            entries: &[
                entry(0, power_buf),
                entry(1, &res.bands),
                entry(2, &res.weights),
                entry(3, mel_buf),
                entry(4, &self.mel_params),
            ],
        });
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("mel"), timestamp_writes: None });
        pass.set_pipeline(&res.mel);
        pass.set_bind_group(0, &bind, &[]);
        let groups_x = (n_frames as u32).div_ceil(MEL_FRAMES_PER_INVOCATION).div_ceil(MEL_WORKGROUP);
        pass.dispatch_workgroups(groups_x, p.n_mels as u32, 1);
        Ok(())
    }

    pub(crate) fn stft_power(
        &mut self,
        ctx: &GpuContext,
        plan: &MelPlan,
        samples: &[f32],
    ) -> Result<PowerSpectrogram, ComputeError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let n_frames = self.encode_stft(ctx, &mut encoder, plan, samples)?;
        let n_bins = plan.params.n_bins();
        let power = self.power.ensure(ctx, (n_frames * n_bins * 4) as u64)?.clone();
        let data = read_f32(ctx, encoder, &power, &mut self.staging, n_frames * n_bins)?;
        Ok(PowerSpectrogram { n_frames, n_bins, data })
    }

    pub(crate) fn mel_db(
        &mut self,
        ctx: &GpuContext,
        plan: &MelPlan,
        power: &PowerSpectrogram,
    ) -> Result<MelSpectrogram, ComputeError> {
        if power.n_bins != plan.params.n_bins() || power.data.len() != power.n_frames * power.n_bins {
            return Err(ComputeError::Shape(format!(
                "power spectrogram {}x{} does not fit the plan's {} bins",
                power.n_frames,
                power.n_bins,
                plan.params.n_bins()
            )));
        }
        self.power.upload(ctx, &power.data)?;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.encode_mel(ctx, &mut encoder, plan, power.n_frames)?;
        self.read_mel(ctx, encoder, plan, power.n_frames)
    }

    pub(crate) fn log_mel(
        &mut self,
        ctx: &GpuContext,
        plan: &MelPlan,
        samples: &[f32],
    ) -> Result<MelSpectrogram, ComputeError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let n_frames = self.encode_stft(ctx, &mut encoder, plan, samples)?;
        self.encode_mel(ctx, &mut encoder, plan, n_frames)?;
        self.read_mel(ctx, encoder, plan, n_frames)
    }

    fn read_mel(
        &mut self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
        plan: &MelPlan,
        n_frames: usize,
    ) -> Result<MelSpectrogram, ComputeError> {
        let n_mels = plan.params.n_mels;
        let mel = self.mel.ensure(ctx, (n_frames * n_mels * 4) as u64)?.clone();
        let data = read_f32(ctx, encoder, &mel, &mut self.staging, n_frames * n_mels)?;
        Ok(MelSpectrogram { n_mels, n_frames, data })
    }
}

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() }
}

fn build_plan(ctx: &GpuContext, plan: &MelPlan) -> Result<PlanResources, ComputeError> {
    let p = plan.params;
    let n = p.n_fft;
    let wg = (n / 2).min(256).min(ctx.limits.max_compute_invocations_per_workgroup as usize);
    let key = format!("stft n_fft={n} hop={} wg={wg}", p.hop);
    let stft = ctx.pipeline(
        &key,
        shaders::STFT_POWER,
        &[("N_FFT", n as f64), ("LOG2_N", f64::from(n.trailing_zeros())), ("HOP", p.hop as f64), ("WG", wg as f64)],
    )?;
    let mel = ctx.pipeline(
        &format!("mel n_bins={} amin={}", p.n_bins(), p.amin),
        shaders::MEL_DB,
        &[
            ("N_BINS", p.n_bins() as f64),
            ("AMIN", f64::from(p.amin)),
            ("FRAMES_PER_INVOCATION", f64::from(MEL_FRAMES_PER_INVOCATION)),
        ],
    )?;
    let twiddles: Vec<[f32; 2]> = (0..n / 2)
        .map(|j| {
            let a = -2.0 * std::f64::consts::PI * j as f64 / n as f64;
            [a.cos() as f32, a.sin() as f32]
        })
        .collect();
    let fb = &plan.filterbank;
    let bands: Vec<[u32; 4]> = (0..fb.n_mels).map(|m| [fb.start[m], fb.len[m], fb.offset[m], 0]).collect();
    let init = |label, bytes: &[u8]| {
        ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: BufferUsages::STORAGE,
        })
    };
    Ok(PlanResources {
        stft,
        mel,
        window: init("window", bytemuck::cast_slice(&plan.window)),
        twiddles: init("twiddles", bytemuck::cast_slice(&twiddles)),
        bands: init("bands", bytemuck::cast_slice(&bands)),
        weights: init("weights", bytemuck::cast_slice(&fb.weights)),
    })
}
