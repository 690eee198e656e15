//! Adapter choice, device creation, pipeline cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::{Adapter, Device, DeviceType, Queue};

use crate::backend::ComputeError;

/// Which adapters may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterChoice {
    /// Discrete, integrated or virtual GPUs only (what `auto` wants).
    HardwareOnly,
    /// Software rasterisers (lavapipe) too: `--backend gpu` on a CPU-only host, and the tests.
    AnyAdapter,
}

/// What the log and `debut bench` say about an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub device_type: String,
    pub backend: String,
    pub driver: String,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.device_type, self.backend)
    }
}

fn rank(t: DeviceType) -> u8 {
    match t {
        DeviceType::DiscreteGpu => 0,
        DeviceType::IntegratedGpu => 1,
        DeviceType::VirtualGpu => 2,
        DeviceType::Other => 3,
        DeviceType::Cpu => 4,
    }
}

fn summary(a: &Adapter) -> AdapterSummary {
    let info = a.get_info();
    AdapterSummary {
        name: info.name,
        device_type: format!("{:?}", info.device_type),
        backend: format!("{:?}", info.backend),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
    }
}

/// The native compute backends; GL is left out (it offers the same software device with
/// worse compute support and noisy EGL errors).
const BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN.union(wgpu::Backends::METAL).union(wgpu::Backends::DX12);

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = BACKENDS;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu can see, best first.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let mut adapters = pollster::block_on(instance().enumerate_adapters(BACKENDS));
    adapters.sort_by_key(|a| rank(a.get_info().device_type));
    adapters.iter().map(summary).collect()
}

/// A device and queue plus the pipelines built on them.
pub struct GpuContext {
    pub(crate) device: Device,
    pub(crate) queue: Queue,
    adapter: AdapterSummary,
    pub(crate) limits: wgpu::Limits,
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
}

impl GpuContext {
    /// Picks the best adapter allowed by `choice`: discrete > integrated > virtual > software.
    pub fn new(choice: AdapterChoice) -> Result<Self, ComputeError> {
        let instance = instance();
        let mut adapters = pollster::block_on(instance.enumerate_adapters(BACKENDS));
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let seen: Vec<String> = adapters.iter().map(|a| summary(a).to_string()).collect();
        let adapter = adapters
            .into_iter()
            .find(|a| choice == AdapterChoice::AnyAdapter || rank(a.get_info().device_type) < 3)
            .ok_or_else(|| {
                ComputeError::NoAdapter(if seen.is_empty() {
                    "wgpu found no adapter (is a Vulkan driver installed? mesa-vulkan-drivers gives a software one)"
                        .into()
                } else {
                    format!("no hardware GPU among: {}", seen.join(", "))
                })
            })?;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("debut"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| ComputeError::Device(e.to_string()))?;
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            tracing::error!("uncaptured wgpu error: {e}");
        }));
        let adapter = summary(&adapter);
        tracing::debug!(%adapter, "GPU context ready");
        Ok(Self { device, queue, adapter, limits, pipelines: Mutex::new(HashMap::new()) })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// Compiles `wgsl` specialised by `constants`, once per `key`.
    pub(crate) fn pipeline(
        &self,
        key: &str,
        wgsl: &str,
        constants: &[(&str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>, ComputeError> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(key) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(key),
            source: wgpu::ShaderSource::Wgsl(wgsl.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(key),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(ComputeError::Device(format!("building pipeline {key}: {err}")));
        }
        let pipeline = Arc::new(pipeline);
        cache.insert(key.to_string(), pipeline.clone());
        Ok(pipeline)
    }

    /// Blocks until the queue is idle.
    pub(crate) fn wait(&self) -> Result<(), ComputeError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| ComputeError::Device(e.to_string()))
    }
}
