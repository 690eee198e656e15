//! `model init`, `model check`, `model export`: model directories.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use debut::config::Config;
use debut::model::{AudioTowerSpec, Model, onnx};
use debut::spectral::MelParams;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Write a seeded random (untrained) DCUE model.
    Init {
        /// Directory for the new model (manifest.json and weights).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The model's name in its manifest (and in every record it makes).
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Load a model, verify it, and describe it (default: the configured or bundled model).
    Check {
        /// Model directory (default: the configured or bundled model).
        dir: Option<PathBuf>,
    },
    /// Write the model's audio tower, text tower and fusion as ONNX files (audio_tower.onnx,
    /// text_tower.onnx, fusion.onnx; inputs and outputs in models/README.md).
    Export {
        /// Directory for the ONNX files (created if needed).
        #[arg(long, value_name = "OUT_DIR")]
        onnx: PathBuf,
        /// Model directory (default: the configured or bundled model).
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

pub(super) fn run(config: &Config, what: ModelCommand) -> anyhow::Result<()> {
    match what {
        ModelCommand::Init { out, seed, name } => {
            let command = format!("debut model init --out {} --seed {seed} --name {name}", out.display());
            let (manifest, weights) = Model::init(&name, seed, AudioTowerSpec::dcue(), MelParams::default(), &command);
            Model::save(&out, &manifest, &weights)?;
            eprintln!("wrote {} (untrained, seed {seed}, sha256 {})", out.display(), manifest.weights.sha256);
            Ok(())
        }
        ModelCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(|| config.model_dir());
            let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
            let m = &model.manifest;
            println!(
                "{} {} ({}), sha256 {}",
                m.name,
                m.version,
                if m.trained { "trained" } else { "untrained" },
                m.weights.sha256
            );
            println!(
                "audio tower: {} mels x {} frames -> {:?} -> {}, {:.1} MFLOP per window",
                m.audio_tower.n_mels,
                m.audio_tower.window_frames,
                m.audio_tower.channels,
                m.audio_tower.embedding_dim,
                m.audio_tower.flops_per_window() as f64 / 1e6
            );
            println!(
                "text tower: {} features -> {:?} -> {}{}; fusion -> {}",
                m.text_tower.feature_dim,
                m.text_tower.hidden,
                m.text_tower.embedding_dim,
                m.text_tower
                    .plugin_sha256
                    .as_ref()
                    .map_or(String::new(), |s| format!(", learned from plugin sha256 {s}")),
                m.fusion.embedding_dim
            );
            println!("provenance: {} ({})", m.provenance.method, m.provenance.command);
            Ok(())
        }
        ModelCommand::Export { onnx: out, model } => {
            let dir = model.unwrap_or_else(|| config.model_dir());
            let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
            for path in onnx::export(&model, &out)? {
                println!("{}", path.display());
            }
            eprintln!(
                "exported {} {} (opset {}, IR {})",
                model.name(),
                model.manifest.version,
                onnx::OPSET,
                onnx::IR_VERSION
            );
            Ok(())
        }
    }
}
