//! `plugin check`, `plugin run`: feature plugins outside the service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;

use debut::bench;
use debut::config::Config;
use debut::model::Model;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Validate a plugin: interface, sandbox, feature space; run it on sample bios and time it.
    Check {
        /// The plugin: a WebAssembly component (.wasm).
        plugin: PathBuf,
        /// Bios to try (JSON artist-bio records or plain text; default: fixtures/bios).
        #[arg(long)]
        bios: Vec<PathBuf>,
        /// Calls per bio for the timings.
        #[arg(long, default_value_t = 50)]
        repeat: usize,
    },
    /// Run a plugin on one bio and print its sparse features as JSON.
    Run {
        /// The plugin: a WebAssembly component (.wasm).
        plugin: PathBuf,
        /// A JSON artist-bio record ({artist_id, name, bio, label?, tags?, language?}) or plain text.
        #[arg(long)]
        bio: PathBuf,
        /// The record label to pass (overrides the bio's own).
        #[arg(long)]
        label: Option<String>,
    },
}

pub(super) fn run(config: &Config, what: PluginCommand) -> anyhow::Result<()> {
    match what {
        PluginCommand::Check { plugin, bios, repeat } => plugin_check(config, &plugin, bios, repeat),
        PluginCommand::Run { plugin, bio, label } => plugin_run(config, &plugin, &bio, label),
    }
}

/// A bio file: a JSON artist-bio record, or plain text.
pub(super) fn read_release(path: &Path, label: Option<String>) -> anyhow::Result<debut::plugin::ReleaseText> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut release = match serde_json::from_str::<debut::release::ArtistBio>(&text) {
        Ok(bio) => bio.release_text(None),
        Err(_) => debut::plugin::ReleaseText { biography: text, ..Default::default() },
    };
    if label.is_some() {
        release.label = label;
    }
    Ok(release)
}

fn model_text_dim(config: &Config) -> anyhow::Result<u32> {
    let dir = config.model_dir();
    let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    Ok(model.manifest.text_tower.feature_dim as u32)
}

pub(super) fn load_plugin(config: &Config, path: &Path) -> anyhow::Result<debut::plugin::LoadedPlugin> {
    use debut::plugin::{PluginHost, PluginRouter, RouteConfig};
    let host = Arc::new(PluginHost::new(config.plugins.limits.clone())?);
    let router =
        PluginRouter::new(host, model_text_dim(config)?, &config.plugins).context("loading the configured plugins")?;
    let plugin = router
        .load(&RouteConfig { path: path.to_path_buf(), sha256: None })
        .map_err(|e| anyhow::anyhow!("{} refused ({}): {e}", path.display(), e.kind()))?;
    Ok(plugin)
}

fn plugin_check(config: &Config, path: &Path, bios: Vec<PathBuf>, repeat: usize) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let plugin = load_plugin(config, path)?;
    let info = &plugin.info;
    println!("{}: {} {} (sha256 {})", path.display(), info.name, info.version, plugin.sha256);
    println!(
        "  interface: debut:plugin/feature-plugin ok; imports within the sandbox; loaded in {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "  feature space: {} dimensions (matches the model's text tower); reads {:?}",
        info.feature_dim, info.reads
    );
    let bios = if bios.is_empty() { super::audio_files(&debut::bundled::bios_dir())? } else { bios };
    let mut failures = 0;
    for bio in &bios {
        let release = read_release(bio, None)?;
        let (ms, result) = bench::median_ms(repeat, || plugin.extract(&release));
        match result {
            Ok(f) => println!(
                "  {:<28} {:>5} B -> {:>4} features, {:>7.3} ms per call (instantiate + extract, median of {repeat})",
                bio.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                release.biography.len(),
                f.entries.len(),
                ms
            ),
            Err(e) => {
                failures += 1;
                println!("  {}: {} error: {e}", bio.display(), e.kind());
            }
        }
    }
    if failures > 0 {
        bail!("{failures} sample bios failed");
    }
    Ok(())
}

fn plugin_run(config: &Config, path: &Path, bio: &Path, label: Option<String>) -> anyhow::Result<()> {
    let plugin = load_plugin(config, path)?;
    let release = read_release(bio, label)?;
    let features = plugin
        .extract(&release)
        .map_err(|e| anyhow::anyhow!("{} failed on {} ({}): {e}", path.display(), bio.display(), e.kind()))?;
    let out = serde_json::json!({
        "plugin": {"name": plugin.info.name, "version": plugin.info.version, "sha256": plugin.sha256},
        "feature_dim": features.dim,
        "features": features.entries,
    });
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
