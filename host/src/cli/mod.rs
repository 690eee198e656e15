//! The command line: one module per command family. Settings (`--config`, `DEBUT_*`) are
//! read once and `--backend` applied to them once, here; the families get the result.

mod audio;
mod bench;
mod embed;
mod model;
mod plugin;
mod serve;
mod train;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use debut::backend::BackendKind;
use debut::config::Config;
use debut::model::Model;

#[derive(Parser)]
#[command(
    name = "debut",
    version,
    long_version = long_version(),
    about = "Cold-start track embeddings from new-release audio and artist bios"
)]
pub struct Cli {
    /// Settings file (TOML); DEBUT_* environment variables override it.
    #[arg(long, global = true, env = "DEBUT_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Compute path, over the settings' `backend`: cpu, gpu (any adapter, lavapipe too) or
    /// auto (a hardware GPU when there is one, else the CPU).
    #[arg(long, global = true, value_enum)]
    backend: Option<BackendKind>,
    #[command(subcommand)]
    command: Command,
}

/// `--version`: the build, and the model and plugins it carries.
fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(debut::bundled::describe)
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The whole service on an in-process mock Kafka cluster, fed a synthesised catalog; prints
    /// each track's nearest neighbours (no setup needed).
    Demo(serve::DemoArgs),
    /// The ingest service: consume releases and bios from Kafka, produce track embeddings.
    Run,
    /// The pipeline over a recorded stream (JSON lines of records), without a broker.
    Replay(serve::ReplayArgs),
    /// The front end alone over a directory of audio files: a summary per file.
    Analyse(audio::AnalyseArgs),
    /// Write the log-mel spectrogram of an audio file as a float32 .npy of shape [128, frames].
    Mel(audio::MelArgs),
    /// Decode to the mono 22 050 Hz analysis clip and write it as a float32 .npy (for inspection).
    Decode(audio::DecodeArgs),
    /// Embed audio files: one JSON record per file on stdout (JSON Lines), the model loaded
    /// once. Exit status 1 when any file could not be embedded (the reasons on stderr).
    Embed(embed::EmbedArgs),
    /// Benchmarks, side by side with the peer tools.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
    /// Model files.
    Model {
        #[command(subcommand)]
        what: model::ModelCommand,
    },
    /// Feature plugins (WebAssembly components).
    Plugin {
        #[command(subcommand)]
        what: plugin::PluginCommand,
    },
    /// Write a deterministic synthetic catalog (audio, bios, plays) with hidden genre structure.
    Synth(train::SynthArgs),
    /// Train every weight of a model from a catalog: WMF, text tower, audio towers, fusion.
    Train(train::TrainArgs),
    /// Pretrain the audio tower on unlabelled music (contrastive; same-package positives).
    Pretrain(train::PretrainArgs),
    /// The papers' cold-start evaluation of a trained model on its catalog's test artists.
    Eval(train::EvalArgs),
    /// What an audio tower knows about real music: same-package retrieval, segment
    /// identification and collapse checks, against random weights and MFCC statistics.
    EvalAudio(train::EvalAudioArgs),
    /// List the GPU adapters wgpu can see, best first.
    Adapters,
    /// Print the effective settings (defaults, file, environment) as JSON, secrets masked.
    Config,
}

/// Our own info logs; only warnings from dependencies (symphonia reports skipped junk bytes
/// and the like as warnings, which the typed errors already cover).
const DEFAULT_LOG: &str = "warn,debut=info,symphonia=off,wgpu_hal=error,librdkafka=warn";

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEBUT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(b) = cli.backend {
        config.backend = b;
    }
    match cli.command {
        Command::Demo(args) => serve::demo(&config, args),
        Command::Config => {
            println!("{}", serde_json::to_string_pretty(&config.shown())?);
            Ok(())
        }
        Command::Run => serve::run(&config, cli.config.as_deref()),
        Command::Replay(args) => serve::replay(&config, args),
        Command::Analyse(args) => audio::analyse(&config, args),
        Command::Mel(args) => audio::mel(&config, args),
        Command::Decode(args) => audio::decode(&config, args),
        Command::Embed(args) => embed::embed(&config, args),
        Command::Bench { what } => bench::run(&config, what),
        Command::Model { what } => model::run(&config, what),
        Command::Plugin { what } => plugin::run(&config, what),
        Command::Synth(args) => train::synth(args),
        Command::Train(args) => train::train(&config, args),
        Command::Pretrain(args) => train::pretrain(&config, args),
        Command::Eval(args) => train::eval(&config, args),
        Command::EvalAudio(args) => train::eval_audio(&config, args),
        Command::Adapters => {
            let adapters = debut::gpu::list_adapters();
            if adapters.is_empty() {
                println!("no GPU adapters (install mesa-vulkan-drivers for a software one)");
            }
            for a in adapters {
                println!("{a}  driver: {}", a.driver);
            }
            Ok(())
        }
    }
}

fn load_model(config: &Config) -> anyhow::Result<Model> {
    let dir = config.model_dir();
    let model = Model::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    if !model.manifest.trained {
        tracing::warn!(model = %model.name(), "the model is untrained (seeded random weights): embeddings are well-formed but not meaningful");
    }
    Ok(model)
}

fn audio_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every positional argument and flag of every command says what it is for.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "debut", &mut missing);
        assert!(missing.is_empty(), "arguments without help text:\n{}", missing.join("\n"));
    }
}
