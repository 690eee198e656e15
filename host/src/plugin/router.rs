//! Per-label routing: record label -> plugin, with a default. A reload loads and verifies
//! every plugin of the new configuration first and swaps the whole table atomically only if
//! all succeed; a call resolves its plugin once at its start, so in-flight calls finish on
//! the plugin they began with and none is dropped or run twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use super::{LoadedPlugin, PluginError, PluginHost, PluginLimits, ReleaseText, SparseFeatures};

/// One route: a plugin file and, to pin it, its sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub path: PathBuf,
    /// Expected sha256 of the file; a mismatch refuses the plugin.
    pub sha256: Option<String>,
}

/// `[plugins]`: limits, the default route, and per-label routes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    pub limits: PluginLimits,
    /// Used for labels without a route of their own (the bundled bio-semantic when unset).
    pub default: Option<RouteConfig>,
    pub labels: BTreeMap<String, RouteConfig>,
}

/// The bundled plugins, built from `plugin/` (see `plugin/build.sh`) and carried in the
/// binary (`crate::bundled`).
pub fn bundled_plugin(name: &str) -> PathBuf {
    crate::bundled::plugin(name)
}

/// The plugin that served a call (into the output record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Default)]
struct Table {
    default: Option<Arc<LoadedPlugin>>,
    labels: BTreeMap<String, Arc<LoadedPlugin>>,
}

pub struct PluginRouter {
    host: Arc<PluginHost>,
    /// The serving model's text-tower input width; plugins must match it.
    model_dim: u32,
    table: ArcSwap<Table>,
    generation: AtomicU64,
}

impl PluginRouter {
    pub fn new(host: Arc<PluginHost>, model_dim: u32, config: &PluginsConfig) -> Result<Self, PluginError> {
        let router =
            Self { host, model_dim, table: ArcSwap::from_pointee(Table::default()), generation: AtomicU64::new(0) };
        router.reload(config)?;
        Ok(router)
    }

    pub fn host(&self) -> &Arc<PluginHost> {
        &self.host
    }

    /// How many configurations have been applied.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Loads one plugin file: pinned hash, compile, interface, feature space.
    pub fn load(&self, route: &RouteConfig) -> Result<LoadedPlugin, PluginError> {
        let bytes =
            std::fs::read(&route.path).map_err(|source| PluginError::Io { path: route.path.clone(), source })?;
        if let Some(expected) = &route.sha256 {
            let found = crate::model::sha256_hex(&bytes);
            if !found.eq_ignore_ascii_case(expected) {
                return Err(PluginError::Checksum { path: route.path.clone(), expected: expected.clone(), found });
            }
        }
        let plugin = self.host.load(&bytes)?;
        if plugin.info.feature_dim != self.model_dim {
            return Err(PluginError::FeatureDim {
                plugin: format!("{} ({})", plugin.info.name, route.path.display()),
                plugin_dim: plugin.info.feature_dim,
                model_dim: self.model_dim,
            });
        }
        Ok(plugin)
    }

    /// Loads every plugin of `config`, then swaps the table; on any error the old table stays.
    pub fn reload(&self, config: &PluginsConfig) -> Result<(), PluginError> {
        let default_route = config.default.clone().unwrap_or_else(|| RouteConfig {
            path: bundled_plugin("bio-semantic"),
            sha256: Some(crate::bundled::plugin_sha256("bio-semantic")),
        });
        let default = Some(Arc::new(self.load(&default_route)?));
        let mut labels = BTreeMap::new();
        for (label, route) in &config.labels {
            let plugin = self.load(route).map_err(|e| match e {
                PluginError::Io { path, source } => {
                    PluginError::Io { path: path.join(format!("(label {label:?})")), source }
                }
                other => other,
            })?;
            labels.insert(label.clone(), Arc::new(plugin));
        }
        self.table.store(Arc::new(Table { default, labels }));
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(generation, labels = config.labels.len(), "plugin routes applied");
        Ok(())
    }

    /// The plugin for `label` (its own route, else the default).
    pub fn route(&self, label: Option<&str>) -> Result<Arc<LoadedPlugin>, PluginError> {
        let table = self.table.load();
        label
            .and_then(|l| table.labels.get(l).cloned())
            .or_else(|| table.default.clone())
            .ok_or_else(|| PluginError::NoRoute(label.unwrap_or_default().to_string()))
    }

    /// Routes by the release's label and extracts.
    pub fn extract(&self, release: &ReleaseText) -> Result<(PluginRef, SparseFeatures), PluginError> {
        let plugin = self.route(release.label.as_deref())?;
        let features = plugin.extract(release)?;
        let r = PluginRef {
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            sha256: plugin.sha256.clone(),
        };
        Ok((r, features))
    }

    /// Reloads whenever `config_path`'s content changes or the process gets SIGHUP, with the
    /// configuration `read` returns. Runs on its own thread for the life of the process.
    ///
    /// The file's directory is watched, not the file: Kubernetes mounts a ConfigMap as
    /// `debut.toml -> ..data/debut.toml` and updates it by pointing the `..data` symlink at a
    /// new timestamped directory, and editors replace files by renaming. Any event there
    /// re-reads the file through its path as given; only a changed content reloads.
    pub fn reload_on_change(
        self: &Arc<Self>,
        config_path: &Path,
        read: impl Fn() -> anyhow::Result<PluginsConfig> + Send + 'static,
    ) -> anyhow::Result<()> {
        use notify::Watcher;
        #[derive(Clone, Copy, PartialEq)]
        enum Trigger {
            Directory,
            Sighup,
        }
        let (tx, rx) = std::sync::mpsc::channel::<Trigger>();
        let file = std::path::absolute(config_path)?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
        let tx_fs = tx.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|ev| !ev.kind.is_access()) {
                let _ = tx_fs.send(Trigger::Directory);
            }
        })?;
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
        let tx_sig = tx.clone();
        std::thread::Builder::new().name("debut-sighup".into()).spawn(move || {
            for _ in signals.forever() {
                let _ = tx_sig.send(Trigger::Sighup);
            }
        })?;
        let router = Arc::clone(self);
        let mut applied = std::fs::read(&file).ok();
        std::thread::Builder::new().name("debut-plugin-reload".into()).spawn(move || {
            let _watcher = watcher; // keep watching for the thread's life
            while let Ok(first) = rx.recv() {
                // Editors and the kubelet write in bursts: let them settle, then apply once.
                std::thread::sleep(std::time::Duration::from_millis(100));
                let sighup = std::iter::once(first).chain(rx.try_iter()).any(|t| t == Trigger::Sighup);
                let content = std::fs::read(&file).ok();
                if !sighup && content == applied {
                    continue;
                }
                applied = content;
                let why = if sighup { "SIGHUP" } else { "config file changed" };
                match read().map_err(|e| format!("{e:#}")).and_then(|c| router.reload(&c).map_err(|e| e.to_string())) {
                    Ok(()) => {
                        tracing::info!(trigger = why, generation = router.generation(), "plugin configuration reloaded")
                    }
                    Err(e) => {
                        tracing::error!(trigger = why, "plugin configuration not applied, the previous one stays: {e}")
                    }
                }
            }
        })?;
        Ok(())
    }
}
