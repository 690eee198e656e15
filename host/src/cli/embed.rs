//! `debut embed`: a back catalog to JSON lines, file by file, in bounded memory.
//!
//! Files come from the arguments (a directory is walked recursively), or one path a line on
//! stdin (`-`). A track's id is its path relative to the directory argument it was found in
//! (or the path as given), without the extension: `a/x.mp3` and `b/x.ogg` are `a/x` and
//! `b/x`. Files are decoded in parallel a chunk at a time and each record is written as soon
//! as its chunk is embedded, so memory stays flat however long the list.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;

use debut::audio::SourceHint;
use debut::backend;
use debut::config::Config;
use debut::embedding::{self, Modality, ModelRef, Source, TrackEmbedding};
use debut::frontend::{Frontend, FrontendError};
use debut::spectral::MelSpectrogram;

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// Audio files and directories (walked recursively for audio extensions); `-` reads one
    /// path a line from stdin.
    #[arg(required = true)]
    audio: Vec<PathBuf>,
    /// Model directory (default: the configured or bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Files decoded together before their records are written (memory grows with it).
    #[arg(long, default_value_t = 64)]
    chunk: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Extensions a directory walk takes (files given by name are always tried).
const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "mp3", "ogg", "oga", "opus", "m4a", "mp4", "aac", "webm", "mka", "mkv", "aif", "aiff",
    "aifc", "caf",
];

/// One file to embed and the track id it gets.
struct Input {
    path: PathBuf,
    track_id: String,
}

/// Why files produced no record, by kind (`DecodeError::kind` names, `unreadable`,
/// `duplicate-id`), with one example each.
#[derive(Default)]
struct Failures {
    by_kind: BTreeMap<&'static str, (usize, String)>,
}

impl Failures {
    fn add(&mut self, kind: &'static str, path: &Path, why: &str) {
        eprintln!("error: {}: {why}", path.display());
        let entry = self.by_kind.entry(kind).or_insert_with(|| (0, format!("{}: {why}", path.display())));
        entry.0 += 1;
    }

    fn count(&self) -> usize {
        self.by_kind.values().map(|(n, _)| n).sum()
    }
}

pub(super) fn embed(config: &Config, args: EmbedArgs) -> anyhow::Result<()> {
    let mut config = config.clone();
    if args.model.is_some() {
        config.model = args.model.clone();
    }
    let mut failures = Failures::default();
    let (inputs, skipped) = gather(&args.audio, &mut failures)?;
    anyhow::ensure!(!inputs.is_empty() || failures.count() > 0, "no audio files in {}", shown(&args.audio));
    let model = super::load_model(&config)?;
    let backend = backend::select(config.backend).context("starting the compute backend")?;
    tracing::info!(backend = %backend.name(), model = %model.name(), "embedding {} files", inputs.len());
    let fe = Frontend::new(config.audio.clone(), model.mel_params(), backend.clone());
    let total = inputs.len() + failures.count();
    let bar = debut::progress::bar(inputs.len() as u64, "embedding", args.quiet);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut embedded = 0;
    for chunk in inputs.chunks(args.chunk.max(1)) {
        let analysed: Vec<Result<MelSpectrogram, (&'static str, String)>> =
            chunk.par_iter().map(|input| analyse(&fe, &input.path)).collect();
        let mut done: Vec<(&Input, MelSpectrogram)> = Vec::with_capacity(chunk.len());
        for (input, result) in chunk.iter().zip(analysed) {
            match result {
                Ok(mel) => done.push((input, mel)),
                Err((kind, why)) => bar.suspend(|| failures.add(kind, &input.path, &why)),
            }
        }
        if !done.is_empty() {
            let mels: Vec<&MelSpectrogram> = done.iter().map(|(_, m)| m).collect();
            let embeddings = embedding::audio_embeddings(&backend, &model, &mels, config.inference.max_batch)?;
            for ((input, _), emb) in done.iter().zip(embeddings) {
                serde_json::to_writer(&mut out, &record(&model, input, emb))?;
                writeln!(out)?;
                embedded += 1;
            }
            out.flush()?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    summary(embedded, total, skipped, &failures);
    anyhow::ensure!(
        failures.count() == 0,
        "{} of {total} files could not be embedded (their records are missing; see above)",
        failures.count()
    );
    Ok(())
}

fn analyse(fe: &Frontend, path: &Path) -> Result<MelSpectrogram, (&'static str, String)> {
    let bytes = std::fs::read(path).map_err(|e| ("unreadable", format!("reading: {e}")))?;
    match fe.analyse(bytes, &SourceHint::from_path(path)) {
        Ok(a) => Ok(a.mel),
        Err(FrontendError::Decode(e)) => Err((e.kind(), e.to_string())),
        Err(e @ FrontendError::Compute(_)) => Err(("compute", e.to_string())),
    }
}

fn record(model: &debut::model::Model, input: &Input, embedding: Vec<f32>) -> TrackEmbedding {
    TrackEmbedding {
        point_id: embedding::point_id(&input.track_id),
        track_id: input.track_id.clone(),
        artist_id: None,
        label: None,
        embedding,
        modalities: vec![Modality::Audio],
        model: ModelRef::of(model),
        plugin: None,
        source: Source::File { file: input.path.display().to_string() },
        produced_at: embedding::now_rfc3339(),
    }
}

/// "N of M files embedded", then the failures by kind, on stderr.
fn summary(embedded: usize, total: usize, skipped: usize, failures: &Failures) {
    eprintln!("{embedded} of {total} files embedded");
    for (kind, (n, example)) in &failures.by_kind {
        eprintln!("  {n} {kind} (e.g. {example})");
    }
    if skipped > 0 {
        eprintln!("  {skipped} files in the directories skipped: not an audio extension");
    }
}

/// The inputs in argument order (directories sorted), each with its track id; files whose
/// id is taken already fail as `duplicate-id`. Returns also how many directory entries were
/// skipped for their extension.
fn gather(args: &[PathBuf], failures: &mut Failures) -> anyhow::Result<(Vec<Input>, usize)> {
    let mut inputs = Vec::new();
    let mut skipped = 0;
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut push = |path: PathBuf, root: Option<&Path>, failures: &mut Failures| {
        let track_id = track_id(&path, root);
        if let Some(first) = seen.get(&track_id) {
            let why = format!("track id {track_id:?} is taken by {}", first.display());
            failures.add("duplicate-id", &path, &why);
            return;
        }
        seen.insert(track_id.clone(), path.clone());
        inputs.push(Input { path, track_id });
    };
    for arg in args {
        if arg.as_os_str() == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.context("reading file names from stdin")?;
                if !line.trim().is_empty() {
                    push(PathBuf::from(line.trim_end_matches(['\r', '\n'])), None, failures);
                }
            }
        } else if arg.is_dir() {
            for entry in walkdir::WalkDir::new(arg).follow_links(true).sort_by_file_name() {
                let entry = entry.with_context(|| format!("walking {}", arg.display()))?;
                if !entry.file_type().is_file() {
                    continue;
                }
                if is_audio(entry.path()) {
                    push(entry.into_path(), Some(arg), failures);
                } else {
                    skipped += 1;
                }
            }
        } else {
            push(arg.clone(), None, failures);
        }
    }
    Ok((inputs, skipped))
}

/// A directory entry is taken when its extension is an audio one, or when it has none (some
/// games ship Ogg Vorbis without one).
fn is_audio(path: &Path) -> bool {
    path.extension().is_none_or(|e| AUDIO_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
}

/// The path relative to `root` (or as given), without its extension, `/`-separated.
fn track_id(path: &Path, root: Option<&Path>) -> String {
    let relative = root.and_then(|r| path.strip_prefix(r).ok()).unwrap_or(path);
    let relative = relative.with_extension("");
    let parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

fn shown(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_ids_are_paths_relative_to_their_argument_without_the_extension() {
        assert_eq!(track_id(Path::new("cat/a/x.mp3"), Some(Path::new("cat"))), "a/x");
        assert_eq!(track_id(Path::new("cat/b/x.ogg"), Some(Path::new("cat/"))), "b/x");
        assert_eq!(track_id(Path::new("a/x.mp3"), None), "a/x");
        assert_eq!(track_id(Path::new("./a/x.v2.flac"), None), "a/x.v2");
        assert_eq!(track_id(Path::new("/abs/x"), None), "abs/x");
    }
}
