//! Settings: built-in defaults, then `debut.toml` (when given), then `DEBUT_*` environment
//! variables (`DEBUT_BACKEND=cpu`, `DEBUT_AUDIO__MAX_SECONDS=20`: `__` separates sections).
//! librdkafka properties come as `DEBUT_KAFKA__SASL__PASSWORD` (`sasl.password`; see
//! [`crate::service::properties`]).

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::audio::AudioConfig;
use crate::backend::BackendKind;

/// Top-level sections: `DEBUT_<SECTION>` or `DEBUT_<SECTION>__<KEY>`.
const SECTIONS: &[&str] = &[
    "backend",
    "audio",
    "model",
    "inference",
    "plugins",
    "brokers",
    "group_id",
    "instance_id",
    "topics",
    "pipeline",
    "service",
    "kafka",
];

/// `DEBUT_*` variables that are not settings: read by the command line, the logger, the
/// bundle, and the project's own test and benchmark scripts (which run the binary with them
/// set). Any other `DEBUT_*` name is a mistyped setting and refused.
const OTHER_VARIABLES: &[&str] = &[
    "DEBUT_CONFIG",
    "DEBUT_LOG",
    "DEBUT_DATA_DIR",
    "DEBUT_BENCH_VENV",
    "DEBUT_TEST_PYTHON",
    "DEBUT_TEST_VENV",
    "DEBUT_BIN",
    "DEBUT_BINARY",
    "DEBUT_TRAIN_JAX_REEXEC",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Kafka bootstrap servers (`DEBUT_BROKERS`).
    pub brokers: String,
    /// Consumer group of the service (`DEBUT_GROUP_ID`); instances in one group share partitions.
    #[serde(deserialize_with = "text")]
    pub group_id: String,
    /// A stable name for this instance (`DEBUT_INSTANCE_ID`, e.g. the pod name): static group
    /// membership, so a restarted instance takes its partitions back at once instead of after
    /// the session timeout.
    #[serde(deserialize_with = "optional_text")]
    pub instance_id: Option<String>,
    pub topics: crate::service::TopicsConfig,
    pub pipeline: crate::service::PipelineConfig,
    pub service: crate::service::ServiceConfig,
    /// Extra librdkafka properties for every client (`security.protocol`, `sasl.*`, ...).
    pub kafka: std::collections::BTreeMap<String, String>,
    /// `cpu`, `gpu` or `auto` (a real GPU when there is one, else the CPU).
    pub backend: BackendKind,
    /// Model directory (manifest.json + weights); default: the bundled `models/default`.
    pub model: Option<std::path::PathBuf>,
    pub audio: AudioConfig,
    pub inference: InferenceConfig,
    pub plugins: crate::plugin::PluginsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceConfig {
    /// Most windows in one audio-tower call (a 30 s track has 10).
    pub max_batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: "debut".into(),
            instance_id: None,
            topics: Default::default(),
            pipeline: Default::default(),
            service: Default::default(),
            kafka: Default::default(),
            backend: Default::default(),
            model: None,
            audio: Default::default(),
            inference: Default::default(),
            plugins: Default::default(),
        }
    }
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self { max_batch: 64 }
    }
}

/// The model shipped in the repository, carried in the binary (`crate::bundled`).
pub fn bundled_model_dir() -> std::path::PathBuf {
    crate::bundled::model_dir()
}

impl Config {
    pub fn model_dir(&self) -> std::path::PathBuf {
        self.model.clone().unwrap_or_else(bundled_model_dir)
    }

    /// The service's Kafka side: connection, topics, delivery.
    pub fn kafka_settings(&self) -> crate::service::KafkaSettings {
        crate::service::KafkaSettings {
            brokers: self.brokers.clone(),
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            topics: self.topics.clone(),
            service: self.service.clone(),
            kafka: self.kafka.clone(),
        }
    }

    /// What the pipeline is built from.
    pub fn pipeline_settings(&self) -> crate::service::PipelineSettings {
        crate::service::PipelineSettings {
            model_dir: self.model_dir(),
            backend: self.backend,
            audio: self.audio.clone(),
            plugins: self.plugins.clone(),
            pipeline: self.pipeline.clone(),
        }
    }
}

impl Config {
    /// Defaults < `path` < environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            anyhow::ensure!(path.is_file(), "config file {} does not exist", path.display());
            fig = fig.merge(Toml::file_exact(path));
        }
        check_variable_names(std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()))?;
        fig = fig.merge(Env::prefixed("DEBUT_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            // librdkafka's property names hold dots: read apart, below.
            !k.starts_with("kafka.") && SECTIONS.iter().any(|s| k == *s || k.starts_with(&format!("{s}.")))
        }));
        let kafka = crate::service::properties::from_env(std::env::vars());
        if !kafka.is_empty() {
            fig = fig.merge(Serialized::default("kafka", kafka));
        }
        let config: Self = fig.extract().with_context(|| match path {
            Some(p) => format!("reading settings from {} and DEBUT_* variables", p.display()),
            None => "reading settings from DEBUT_* variables".to_string(),
        })?;
        crate::service::properties::check(&config.kafka)?;
        Ok(config)
    }

    /// The settings as JSON with every secret masked (`debut config`; safe to log).
    pub fn shown(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["kafka"] = serde_json::to_value(crate::service::properties::masked(&self.kafka)).unwrap_or_default();
        v
    }
}

/// A name read as text even when it looks like a number (`DEBUT_GROUP_ID=2024`,
/// `DEBUT_INSTANCE_ID=7`): environment values are parsed as TOML values first.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    String(String),
    Int(i64),
    Float(f64),
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        match t {
            Text::String(s) => s,
            Text::Int(i) => i.to_string(),
            Text::Float(f) => f.to_string(),
        }
    }
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(String::from)
}

fn optional_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Text>::deserialize(d).map(|t| t.map(String::from))
}

/// Refuses a `DEBUT_*` variable that names no setting (`DEBUT_BROKER` for `DEBUT_BROKERS`),
/// which would otherwise be ignored and leave the default in force. Keys inside a section
/// (`DEBUT_AUDIO__MAX_SECOND`) are refused by the sections' own `deny_unknown_fields`.
fn check_variable_names(names: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut unknown: Vec<String> = names
        .filter(|name| name.starts_with("DEBUT_") && !OTHER_VARIABLES.contains(&name.as_str()))
        .filter(|name| {
            let section = name["DEBUT_".len()..].split("__").next().unwrap_or("").to_ascii_lowercase();
            !SECTIONS.contains(&section.as_str())
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    let settings = SECTIONS.iter().map(|s| format!("DEBUT_{}", s.to_ascii_uppercase()));
    let known: Vec<String> = settings.chain(OTHER_VARIABLES.iter().map(|s| s.to_string())).collect();
    anyhow::bail!(
        "unknown environment variable{} {}: DEBUT_* names a setting (sections take `__`, as in \
         DEBUT_AUDIO__MAX_SECONDS) or one of the known variables: {}",
        if unknown.len() > 1 { "s" } else { "" },
        unknown.join(", "),
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_like_numbers_stay_names() {
        let fig = Figment::from(Serialized::defaults(Config::default()))
            .merge(Serialized::default("group_id", 2024))
            .merge(Serialized::default("instance_id", 7));
        let config: Config = fig.extract().unwrap();
        assert_eq!((config.group_id.as_str(), config.instance_id.as_deref()), ("2024", Some("7")));
    }

    #[test]
    fn a_debut_variable_that_names_no_setting_is_refused_with_the_known_names() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter();
        let known = ["DEBUT_BROKERS", "DEBUT_AUDIO__MAX_SECONDS", "DEBUT_KAFKA__SASL__PASSWORD", "DEBUT_LOG", "PATH"];
        check_variable_names(names(&known)).unwrap();
        let err = check_variable_names(names(&["DEBUT_BROKER", "DEBUT_LOG"])).unwrap_err().to_string();
        assert!(
            err.contains("DEBUT_BROKER:") && err.contains("DEBUT_BROKERS") && err.contains("DEBUT_DATA_DIR"),
            "{err}"
        );
        let err = check_variable_names(names(&["DEBUT_AUDI__MAX_SECONDS"])).unwrap_err().to_string();
        assert!(err.contains("DEBUT_AUDI__MAX_SECONDS") && err.contains("DEBUT_AUDIO"), "{err}");
    }

    #[test]
    fn every_setting_can_come_from_the_environment() {
        let value = serde_json::to_value(Config::default()).unwrap();
        let mut keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        // `model` is None by default and may serialise away; it is listed all the same.
        keys.retain(|k| !SECTIONS.contains(&k.as_str()));
        assert!(keys.is_empty(), "top-level settings no DEBUT_* variable reaches: {keys:?}");
    }
}
