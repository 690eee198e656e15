//! The ingest service: Kafka in, track embeddings out. `kafka` is the only module that knows
//! a Kafka client (rdkafka); `pipeline` holds the stages as plain functions over owned
//! records, shared with `replay` (a recorded stream, no broker) and `demo` (an in-process
//! mock cluster).

pub mod demo;
pub mod health;
pub mod input;
mod kafka;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod properties;
pub mod replay;
pub mod tracker;

pub use health::Health;
pub use kafka::run;
pub use pipeline::{Pipeline, PipelineConfig};

use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// `[topics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    pub releases: String,
    pub bios: String,
    pub embeddings: String,
    pub dlq: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            releases: "debut.releases".into(),
            bios: "debut.artist-bios".into(),
            embeddings: "debut.track-embeddings".into(),
            dlq: "debut.dlq".into(),
        }
    }
}

/// `[service]`: how the Kafka driver runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Pause consumption while records in flight hold more than this many bytes.
    pub max_inflight_bytes: usize,
    /// Longest a decoded track waits for others to fill a tower batch.
    pub max_batch_wait_ms: u64,
    pub commit_interval_ms: u64,
    /// `/metrics`, `/livez` and `/readyz` listen here (empty: off).
    pub metrics_addr: String,
    /// Dead letters copy the original value up to this size (larger ones are dropped, flagged
    /// by a `debut-value-dropped` header).
    pub dlq_max_value_bytes: usize,
    /// At start, read the bios topic up to its end before taking tracks, at most this long.
    pub state_catch_up_s: u64,
    /// On SIGTERM/SIGINT, finish in-flight records for at most this long.
    pub shutdown_grace_s: u64,
    /// Threads decoding audio (0: one per CPU this process may use: the cgroup's CPU quota
    /// in a container with a CPU limit, as `std::thread::available_parallelism` reads it).
    pub decode_threads: usize,
    /// When this instance has had no partitions for this long, leave and rejoin the group
    /// (0: never). A safeguard for brokers that keep a crashed group leader in the group
    /// without signalling a rebalance (Tansu 0.6 does): the rejoin, after the crashed
    /// member's session has expired, forms a new generation. Leave it 0 with more instances
    /// than partitions, where idle instances are normal.
    pub rejoin_idle_s: u64,
    /// Exactly-once: outputs and input offsets commit together in Kafka transactions, and
    /// read_committed consumers downstream see each input's outputs once. Needs a broker
    /// with transactions (Apache Kafka 2.5+, Redpanda; not Tansu 0.6).
    pub exactly_once: bool,
    /// The producer's `transactional.id` under `exactly_once` (empty: `<group_id>.<instance_id>`,
    /// or `<group_id>.<host>.<pid>` without an instance id). Keep it stable across restarts
    /// of one instance so a restart fences and aborts the crashed run's open transaction.
    pub transactional_id: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_inflight_bytes: 256 << 20,
            max_batch_wait_ms: 20,
            commit_interval_ms: 500,
            metrics_addr: "127.0.0.1:9898".into(),
            dlq_max_value_bytes: 32 << 20,
            state_catch_up_s: 60,
            shutdown_grace_s: 30,
            decode_threads: 0,
            rejoin_idle_s: 0,
            exactly_once: false,
            transactional_id: String::new(),
        }
    }
}

/// What the Kafka driver needs from the settings: connection, topics, delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group_id: String,
    pub instance_id: Option<String>,
    pub topics: TopicsConfig,
    pub service: ServiceConfig,
    /// Extra librdkafka properties for every client; they win over debut's defaults, and may
    /// not name a property debut reserves (`properties::RESERVED`).
    pub kafka: std::collections::BTreeMap<String, String>,
}

/// What the pipeline is built from: model, backend, decoding, plugins, joins.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    pub model_dir: std::path::PathBuf,
    pub backend: crate::backend::BackendKind,
    pub audio: crate::audio::AudioConfig,
    pub plugins: crate::plugin::PluginsConfig,
    pub pipeline: PipelineConfig,
}

/// Serves `/metrics`, `/livez` and `/readyz` for `health` when `metrics_addr` is set.
pub fn serve_health(config: &KafkaSettings, health: &Arc<Health>) -> anyhow::Result<()> {
    if !config.service.metrics_addr.is_empty() {
        metrics::serve(&config.service.metrics_addr, health.clone())?;
    }
    Ok(())
}

/// Everything the pipeline needs, loaded from the settings: model, backend, plugins.
pub fn build_pipeline(config: &PipelineSettings) -> anyhow::Result<Arc<Pipeline>> {
    let dir = &config.model_dir;
    let model =
        Arc::new(crate::model::Model::load(dir).with_context(|| format!("loading the model in {}", dir.display()))?);
    if !model.manifest.trained {
        tracing::warn!(model = %model.name(), "the model is untrained (seeded random weights): embeddings are well-formed but not meaningful");
    }
    let backend = crate::backend::select(config.backend).context("starting the compute backend")?;
    let host = Arc::new(crate::plugin::PluginHost::new(config.plugins.limits.clone())?);
    let router = Arc::new(
        crate::plugin::PluginRouter::new(host, model.manifest.text_tower.feature_dim as u32, &config.plugins)
            .context("loading the feature plugins")?,
    );
    if let (Some(want), Ok(plugin)) = (&model.manifest.text_tower.plugin_sha256, router.route(None))
        && &plugin.sha256 != want
    {
        tracing::warn!(
            plugin = %plugin.sha256,
            learned = %want,
            "the default feature plugin is not the one the model's text tower learned from: artist embeddings will not mean what they should"
        );
    }
    tracing::info!(backend = %backend.name(), model = %model.name(), "pipeline ready");
    Ok(Arc::new(Pipeline::new(model, backend, router, config.audio.clone(), config.pipeline.clone())))
}
