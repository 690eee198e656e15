//! Settings: built-in defaults, then `debut.toml` (when given), then `DEBUT_*` environment
//! variables (`DEBUT_BACKEND=cpu`, `DEBUT_AUDIO__MAX_SECONDS=20`: `__` separates sections).

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::audio::AudioConfig;
use crate::backend::BackendKind;

/// Top-level sections; environment variables outside them (e.g. `DEBUT_LOG`) are not settings.
const SECTIONS: &[&str] = &["backend", "audio"];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `cpu`, `gpu` or `auto` (a real GPU when there is one, else the CPU).
    pub backend: BackendKind,
    pub audio: AudioConfig,
}

impl Config {
    /// Defaults < `path` < environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            anyhow::ensure!(path.is_file(), "config file {} does not exist", path.display());
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig.merge(Env::prefixed("DEBUT_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            SECTIONS.iter().any(|s| k == *s || k.starts_with(&format!("{s}.")))
        }));
        fig.extract().with_context(|| match path {
            Some(p) => format!("reading settings from {} and DEBUT_* variables", p.display()),
            None => "reading settings from DEBUT_* variables".to_string(),
        })
    }
}
