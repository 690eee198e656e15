//! The wasmtime side: one engine, compiled components cached in memory (by content hash)
//! and on disk (wasmtime's cache), and every `extract` call in a fresh, limited store.
//!
//! The sandbox: WASI preview 2 is linked because every std guest imports it, but with an
//! empty context (no preopened directories, arguments, environment or network; stdin empty;
//! stdout discarded; stderr captured into a small buffer for error messages; clocks frozen
//! at the epoch; randomness deterministic). Opening a directory traps as a denied
//! capability. Imports outside WASI's cli/io/clocks/filesystem/random interfaces (sockets,
//! http, anything custom) refuse the plugin at load. Each call has an epoch deadline, a
//! memory cap and an output cap.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use lru::LruCache;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::{PluginError, PluginInfo, PluginLimits, ReleaseText, SparseFeatures};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin/wit",
        world: "feature-plugin",
    });
}

use bindings::debut::plugin::types as wit;

/// How often the epoch ticks; deadlines are whole ticks.
const TICK: Duration = Duration::from_millis(5);
/// Imports a plugin may have: the contract's own types interface, and the WASI interfaces
/// a std guest imports, which the sandbox links empty or frozen.
const ALLOWED_IMPORTS: &[&str] =
    &["debut:plugin/types@", "wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:filesystem/", "wasi:random/"];
/// Bytes of a plugin's stderr kept for error messages (a panic message fits).
const STDERR_CAPTURE: usize = 4096;
const DENIED_FS: &str = "debut-sandbox: filesystem access denied";

/// Per-store state: the (empty) WASI context and the memory cap.
struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: MemoryCap,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Refuses growth past the cap and remembers that it did (to report a memory error rather
/// than the allocation-failure trap the guest turns it into).
struct MemoryCap {
    inner: StoreLimits,
    limit: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The engine, linker and compiled-component cache shared by every plugin.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<SandboxState>,
    limits: PluginLimits,
    compiled: Mutex<LruCache<String, Component>>,
}

impl PluginHost {
    pub fn new(limits: PluginLimits) -> Result<Self, PluginError> {
        let host_err = |e: wasmtime::Error| PluginError::Host(format!("{e:#}"));
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 << 10)
            .wasm_backtrace_max_frames(None);
        if limits.disk_cache {
            // wasmtime's own cache: compiled artifacts keyed by content and engine settings.
            match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!("plugin compile cache unavailable: {e:#}"),
            }
        }
        let engine = Engine::new(&config).map_err(host_err)?;
        let mut linker: Linker<SandboxState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(host_err)?;
        // Shadow the one call through which a guest reaches the file system.
        linker.allow_shadowing(true);
        linker
            .instance("wasi:filesystem/preopens@0.2.12")
            .and_then(|mut i| i.func_new("get-directories", |_, _, _, _| Err(wasmtime::Error::msg(DENIED_FS))))
            .map_err(host_err)?;

        // The epoch clock lives as long as the engine (loaded plugins keep it alive too).
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("debut-plugin-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let cache = NonZeroUsize::new(limits.compiled_cache.max(1)).expect("max(1)");
        Ok(Self { engine, linker, limits, compiled: Mutex::new(LruCache::new(cache)) })
    }

    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Compiles (or fetches from cache) and type-checks `bytes`, then calls `describe`.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPlugin, PluginError> {
        let sha256 = crate::model::sha256_hex(bytes);
        let component = {
            let cached = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&sha256).cloned();
            match cached {
                Some(c) => c,
                None => {
                    let c = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile(format!("{e:#}")))?;
                    self.compiled.lock().unwrap_or_else(|p| p.into_inner()).put(sha256.clone(), c.clone());
                    c
                }
            }
        };
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)) {
                return Err(PluginError::ForbiddenImport { import: name.to_string() });
            }
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| PluginError::Interface(format!("{e:#}")))?;
        let pre = bindings::FeaturePluginPre::new(pre).map_err(|e| PluginError::Interface(format!("{e:#}")))?;
        let mut plugin = LoadedPlugin {
            pre,
            engine: self.engine.clone(),
            limits: self.limits.clone(),
            sha256,
            info: PluginInfo::default(),
        };
        plugin.info = plugin.describe()?;
        if plugin.info.feature_dim == 0 {
            return Err(PluginError::Interface("describe() reports a feature space of 0 dimensions".into()));
        }
        Ok(plugin)
    }
}

/// A compiled, type-checked plugin. Cheap to clone; each call instantiates afresh.
#[derive(Clone)]
pub struct LoadedPlugin {
    pre: bindings::FeaturePluginPre<SandboxState>,
    engine: Engine,
    limits: PluginLimits,
    pub sha256: String,
    pub info: PluginInfo,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("info", &self.info).field("sha256", &self.sha256).finish()
    }
}

impl LoadedPlugin {
    fn store(&self) -> (Store<SandboxState>, MemoryOutputPipe) {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x5a; 32]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0xa5; 32]))
            .insecure_random_seed(0)
            .build();
        let limits = MemoryCap {
            inner: wasmtime::StoreLimitsBuilder::new().instances(16).tables(64).memories(8).build(),
            limit: self.limits.memory_bytes,
            hit: false,
        };
        let mut store = Store::new(&self.engine, SandboxState { wasi, table: ResourceTable::new(), limits });
        store.limiter(|s| &mut s.limits);
        let ticks = self.limits.deadline_ms.div_ceil(TICK.as_millis() as u64).max(1);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        (store, stderr)
    }

    /// Turns a wasmtime error from inside a call into a typed error.
    fn classify(&self, err: wasmtime::Error, store: &Store<SandboxState>, stderr: &MemoryOutputPipe) -> PluginError {
        if store.data().limits.hit {
            return PluginError::MemoryLimit { limit_bytes: self.limits.memory_bytes };
        }
        if format!("{err:#}").contains(DENIED_FS) {
            return PluginError::CapabilityDenied { capability: "the file system".into() };
        }
        let cause = err.root_cause().to_string();
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout { limit_ms: self.limits.deadline_ms },
            Some(Trap::StackOverflow) => PluginError::StackOverflow,
            // Rust guests keep their stack in linear memory, growing down from a fixed top;
            // running past 0 wraps the stack pointer to the top of the 32-bit space.
            Some(Trap::MemoryOutOfBounds) if format!("{err:#}").contains("wasm address 0xffff") => {
                PluginError::StackOverflow
            }
            _ => {
                let said = String::from_utf8_lossy(&stderr.contents()).trim().to_string();
                let message = if said.is_empty() { cause } else { format!("{cause}; the plugin wrote: {said}") };
                PluginError::Trap { message }
            }
        }
    }

    fn describe(&self) -> Result<PluginInfo, PluginError> {
        let (mut store, stderr) = self.store();
        let result = self.pre.instantiate(&mut store).and_then(|i| i.call_describe(&mut store));
        match result {
            Ok(info) => Ok(PluginInfo {
                name: info.name,
                version: info.version,
                feature_dim: info.feature_dim,
                reads: info.reads.iter().map(field_name).collect(),
            }),
            Err(e) => Err(self.classify(e, &store, &stderr)),
        }
    }

    /// Runs `extract` in a fresh instance under the deadline, memory and output caps.
    pub fn extract(&self, release: &ReleaseText) -> Result<SparseFeatures, PluginError> {
        let (mut store, stderr) = self.store();
        let input = wit::ReleaseText {
            artist_name: release.artist_name.clone(),
            biography: release.biography.clone(),
            label: release.label.clone(),
            track_title: release.track_title.clone(),
            tags: release.tags.clone(),
            language: release.language.clone(),
        };
        let result = self.pre.instantiate(&mut store).and_then(|i| i.call_extract(&mut store, &input));
        let features = match result {
            Ok(Ok(f)) => f,
            Ok(Err(wit::PluginError::InvalidInput(m))) => return Err(PluginError::InvalidInput(m)),
            Ok(Err(wit::PluginError::Internal(m))) => return Err(PluginError::Internal(m)),
            Err(e) => return Err(self.classify(e, &store, &stderr)),
        };
        self.validate(features)
    }

    /// Caps, bounds, finiteness; sorts by index; refuses duplicates.
    fn validate(&self, mut features: Vec<(u32, f32)>) -> Result<SparseFeatures, PluginError> {
        if features.len() > self.limits.max_features {
            return Err(PluginError::OutputTooLarge { count: features.len(), limit: self.limits.max_features });
        }
        features.sort_unstable_by_key(|f| f.0);
        for (i, &(index, value)) in features.iter().enumerate() {
            if index >= self.info.feature_dim {
                return Err(PluginError::InvalidOutput(format!(
                    "index {index} is outside the declared feature space of {}",
                    self.info.feature_dim
                )));
            }
            if !value.is_finite() {
                return Err(PluginError::InvalidOutput(format!("feature {index} has value {value}")));
            }
            if i > 0 && features[i - 1].0 == index {
                return Err(PluginError::InvalidOutput(format!("feature {index} appears twice")));
            }
        }
        Ok(SparseFeatures { dim: self.info.feature_dim, entries: features })
    }
}

fn field_name(f: &wit::Field) -> String {
    match f {
        wit::Field::ArtistName => "artist-name",
        wit::Field::Biography => "biography",
        wit::Field::Label => "label",
        wit::Field::TrackTitle => "track-title",
        wit::Field::Tags => "tags",
        wit::Field::Language => "language",
    }
    .to_string()
}
