//! Typed plugin errors: loading failures (the plugin is refused) and per-call failures (that
//! release is dead-lettered; the host goes on with a fresh instance).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    #[error("reading plugin {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("plugin {path} has sha256 {found}, the configuration expects {expected}")]
    Checksum { path: PathBuf, expected: String, found: String },
    #[error("not a WebAssembly component: {0}")]
    Compile(String),
    #[error("plugin imports {import}, a capability the sandbox does not grant")]
    ForbiddenImport { import: String },
    #[error("plugin does not implement debut:plugin/feature-plugin: {0}")]
    Interface(String),
    #[error(
        "plugin {plugin} has a feature space of {plugin_dim} dimensions, the serving model's text tower reads {model_dim}"
    )]
    FeatureDim { plugin: String, plugin_dim: u32, model_dim: u32 },
    #[error("plugin call ran past its {limit_ms} ms deadline")]
    Timeout { limit_ms: u64 },
    #[error("plugin exceeded its memory cap of {limit_bytes} bytes")]
    MemoryLimit { limit_bytes: usize },
    #[error("plugin overflowed its stack")]
    StackOverflow,
    #[error("plugin tried to use {capability}, which the sandbox denies")]
    CapabilityDenied { capability: String },
    #[error("plugin trapped: {message}")]
    Trap { message: String },
    #[error("plugin returned {count} features, over the cap of {limit}")]
    OutputTooLarge { count: usize, limit: usize },
    #[error("plugin returned malformed features: {0}")]
    InvalidOutput(String),
    #[error("plugin rejected the release as invalid input: {0}")]
    InvalidInput(String),
    #[error("plugin failed: {0}")]
    Internal(String),
    #[error("no plugin is configured for label {0:?} and there is no default")]
    NoRoute(String),
    #[error("plugin host: {0}")]
    Host(String),
}

impl PluginError {
    /// A short, stable machine-readable name (dead-letter headers, metrics labels).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Checksum { .. } => "checksum",
            Self::Compile(_) => "compile",
            Self::ForbiddenImport { .. } => "forbidden-import",
            Self::Interface(_) => "interface",
            Self::FeatureDim { .. } => "feature-dim",
            Self::Timeout { .. } => "timeout",
            Self::MemoryLimit { .. } => "memory-limit",
            Self::StackOverflow => "stack-overflow",
            Self::CapabilityDenied { .. } => "capability-denied",
            Self::Trap { .. } => "trap",
            Self::OutputTooLarge { .. } => "output-too-large",
            Self::InvalidOutput(_) => "invalid-output",
            Self::InvalidInput(_) => "invalid-input",
            Self::Internal(_) => "internal",
            Self::NoRoute(_) => "no-route",
            Self::Host(_) => "host",
        }
    }

    /// Whether the plugin itself was refused (as opposed to one call failing).
    pub fn is_load_error(&self) -> bool {
        matches!(
            self,
            Self::Io { .. }
                | Self::Checksum { .. }
                | Self::Compile(_)
                | Self::ForbiddenImport { .. }
                | Self::Interface(_)
                | Self::FeatureDim { .. }
        )
    }
}
