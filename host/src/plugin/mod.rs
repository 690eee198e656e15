//! Feature plugins: the host side of `plugin/wit/feature-plugin.wit`. This module is the only
//! one that knows wasmtime (`sandbox`); the rest of debut sees [`ReleaseText`] in and
//! [`SparseFeatures`] or a typed [`PluginError`] out, and a [`PluginRouter`] that picks the
//! plugin for a record label.

mod error;
mod router;
mod sandbox;

pub use error::PluginError;
pub use router::{PluginRef, PluginRouter, PluginsConfig, RouteConfig, bundled_plugin};
pub use sandbox::{LoadedPlugin, PluginHost};

use serde::{Deserialize, Serialize};

/// What the plugin may read about a release (the WIT `release-text`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseText {
    pub artist_name: String,
    pub biography: String,
    pub label: Option<String>,
    pub track_title: Option<String>,
    pub tags: Vec<String>,
    pub language: Option<String>,
}

/// What `describe()` said.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub feature_dim: u32,
    pub reads: Vec<String>,
}

/// A plugin's output, validated: indices sorted, unique, below `dim`; values finite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparseFeatures {
    pub dim: u32,
    pub entries: Vec<(u32, f32)>,
}

/// Sandbox limits (`[plugins]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginLimits {
    /// Wall-clock deadline per call (instantiation included).
    pub deadline_ms: u64,
    /// Linear-memory cap per instance.
    pub memory_bytes: usize,
    /// Most features one call may return.
    pub max_features: usize,
    /// Compiled components kept in memory.
    pub compiled_cache: usize,
    /// Keep compiled artifacts on disk (wasmtime's cache, under the user cache directory).
    pub disk_cache: bool,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self { deadline_ms: 50, memory_bytes: 64 << 20, max_features: 65_536, compiled_cache: 32, disk_cache: true }
    }
}
