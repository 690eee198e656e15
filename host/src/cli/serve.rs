//! `demo`, `run`, `replay`: the ingest service on a mock cluster, on Kafka, over a recording.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use debut::config::Config;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// A fixtures directory (with audio/, corrupt/, bios/) instead of a synthesised catalog.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Tracks of the synthesised catalog (three per artist, 10 s each).
    #[arg(long, default_value_t = 36)]
    tracks: usize,
    /// Seed of the synthesised catalog.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The recorded stream: JSON lines of records (releases and bios, with their headers).
    input: PathBuf,
    /// Where the outputs go: JSON lines of embeddings and dead letters.
    #[arg(long)]
    out: PathBuf,
}

pub(super) fn demo(config: &Config, args: DemoArgs) -> anyhow::Result<()> {
    use debut::service::demo::DemoSource;
    let scratch = std::env::temp_dir().join(format!("debut-demo-{}", std::process::id()));
    let source = match args.fixtures.clone() {
        Some(dir) => DemoSource::Fixtures(dir),
        None => DemoSource::Synth { dir: scratch.clone(), tracks: args.tracks, seed: args.seed },
    };
    let corrupt = args.fixtures.map_or_else(debut::bundled::corrupt_dir, |f| f.join("corrupt"));
    let result = debut::service::demo::demo(&config.kafka_settings(), &config.pipeline_settings(), &source, &corrupt);
    std::fs::remove_dir_all(&scratch).ok();
    result
}

/// The service until SIGTERM or SIGINT; a config file given is watched for plugin changes.
pub(super) fn run(config: &Config, config_path: Option<&Path>) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    // Health answers from the start: Kubernetes sees "loading the model" rather than nothing.
    let health = Arc::new(debut::service::Health::default());
    debut::service::serve_health(&config.kafka_settings(), &health)?;
    let pipeline = debut::service::build_pipeline(&config.pipeline_settings())?;
    health.model_loaded();
    if let Some(path) = config_path {
        let path = path.to_path_buf();
        pipeline.router.reload_on_change(&path.clone(), move || Ok(Config::load(Some(&path))?.plugins))?;
    }
    debut::service::run(&config.kafka_settings(), pipeline, stop, health)
}

/// The process's peak resident memory (Linux: `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(super) fn replay(config: &Config, args: ReplayArgs) -> anyhow::Result<()> {
    let ReplayArgs { input, out } = args;
    let pipeline = debut::service::build_pipeline(&config.pipeline_settings())?;
    let reader =
        std::io::BufReader::new(std::fs::File::open(&input).with_context(|| format!("opening {}", input.display()))?);
    let writer =
        std::io::BufWriter::new(std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?);
    let s = debut::service::replay::replay(&pipeline, &config.topics, reader, writer)?;
    eprintln!(
        "replayed {} records: {} embeddings, {} dead letters, {} skipped -> {}",
        s.records,
        s.embeddings,
        s.dead_letters,
        s.skipped,
        out.display()
    );
    let total: f64 = s.seconds.iter().map(|(_, v)| v).sum();
    let stages: Vec<String> =
        s.seconds.iter().map(|(name, v)| format!("{name} {v:.2} s ({:.1}%)", 100.0 * v / total.max(1e-9))).collect();
    eprintln!("time by stage: {}", stages.join(", "));
    if let Some(peak) = peak_rss_mib() {
        eprintln!("peak memory (RSS): {peak:.0} MiB");
    }
    Ok(())
}
