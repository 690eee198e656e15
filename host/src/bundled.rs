//! What the binary carries, so that it runs copied alone anywhere (a container image, a
//! directory without the source tree): the default model, the bundled feature plugins, the
//! sample bios and the demo's corrupt inputs, embedded at build time.
//!
//! Loaders read files (a model is a directory; a plugin is a path), so on first use the
//! bundle is written to the data directory: `$DEBUT_DATA_DIR`, else
//! `$XDG_DATA_HOME/debut`, else `~/.local/share/debut`, else the temp directory, in a
//! subdirectory named by the bundle's content so two builds never share one. Files are
//! written whole and renamed into place; the model's sha256 and the plugins' pinned hashes
//! are checked at load as for any other model or plugin.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

struct Asset {
    rel: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($rel:literal, $src:literal) => {
        Asset { rel: $rel, bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $src)) }
    };
}

const ASSETS: &[Asset] = &[
    asset!("models/default/manifest.json", "models/default/manifest.json"),
    asset!("models/default/weights.safetensors", "models/default/weights.safetensors"),
    asset!("plugins/bio-semantic.wasm", "plugin/dist/bio-semantic.wasm"),
    asset!("plugins/bio-text.wasm", "plugin/dist/bio-text.wasm"),
    asset!("bios/ar-0001.json", "fixtures/bios/ar-0001.json"),
    asset!("bios/ar-0002.json", "fixtures/bios/ar-0002.json"),
    asset!("bios/ar-0003.json", "fixtures/bios/ar-0003.json"),
    asset!("bios/ar-0004.json", "fixtures/bios/ar-0004.json"),
    asset!("bios/ar-0005.json", "fixtures/bios/ar-0005.json"),
    asset!("bios/ar-0006.json", "fixtures/bios/ar-0006.json"),
    asset!("corrupt/channels_1000.wav", "fixtures/corrupt/channels_1000.wav"),
    asset!("corrupt/empty.wav", "fixtures/corrupt/empty.wav"),
    asset!("corrupt/garbage.bin", "fixtures/corrupt/garbage.bin"),
    asset!("corrupt/mp3_garbage_body.mp3", "fixtures/corrupt/mp3_garbage_body.mp3"),
    asset!("corrupt/opus_ambisonics.webm", "fixtures/corrupt/opus_ambisonics.webm"),
    asset!("corrupt/opus_cut.mp4", "fixtures/corrupt/opus_cut.mp4"),
    asset!("corrupt/opus_garbage_packets.opus", "fixtures/corrupt/opus_garbage_packets.opus"),
    asset!("corrupt/png_named.mp3", "fixtures/corrupt/png_named.mp3"),
    asset!("corrupt/rate_1hz.wav", "fixtures/corrupt/rate_1hz.wav"),
    asset!("corrupt/rate_4ghz.wav", "fixtures/corrupt/rate_4ghz.wav"),
    asset!("corrupt/ten_hours.wav", "fixtures/corrupt/ten_hours.wav"),
    asset!("corrupt/text_named.wav", "fixtures/corrupt/text_named.wav"),
    asset!("corrupt/truncated.flac", "fixtures/corrupt/truncated.flac"),
    asset!("corrupt/truncated.mp3", "fixtures/corrupt/truncated.mp3"),
    asset!("corrupt/truncated.wav", "fixtures/corrupt/truncated.wav"),
    asset!("corrupt/video_only.mkv", "fixtures/corrupt/video_only.mkv"),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn asset(rel: &str) -> &'static Asset {
    ASSETS.iter().find(|a| a.rel == rel).expect("a bundled asset")
}

/// Names the bundle by its content: the weights are covered through the manifest's sha256.
fn bundle_key() -> String {
    let mut h = Sha256::new();
    for a in ASSETS.iter().filter(|a| !a.rel.ends_with(".safetensors")) {
        h.update(a.rel.as_bytes());
        h.update(a.bytes);
    }
    hex(&h.finalize()[..6])
}

/// Where the bundle is written: the first candidate that can be written to.
fn candidates() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut dirs = Vec::new();
    if let Some(d) = env("DEBUT_DATA_DIR") {
        dirs.push(d);
    } else if let Some(d) = env("XDG_DATA_HOME") {
        dirs.push(d.join("debut"));
    } else if let Some(h) = env("HOME") {
        dirs.push(h.join(".local/share/debut"));
    }
    dirs.push(std::env::temp_dir().join("debut"));
    dirs
}

fn write_all(root: &Path) -> std::io::Result<()> {
    for a in ASSETS {
        let path = root.join(a.rel);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == a.bytes.len() as u64) {
            continue;
        }
        let parent = path.parent().expect("asset paths have a directory");
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".{}.{}.tmp", std::process::id(), a.rel.replace('/', "_")));
        std::fs::write(&tmp, a.bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

/// The bundle's directory, written on first use.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let key = format!("bundle-{}-{}", env!("CARGO_PKG_VERSION"), bundle_key());
        let mut last = None;
        for base in candidates() {
            let root = base.join(&key);
            match write_all(&root) {
                Ok(()) => return root,
                Err(e) => last = Some((root, e)),
            }
        }
        let (root, e) = last.expect("at least the temp directory is a candidate");
        tracing::error!("cannot write the bundled model and plugins to {}: {e}", root.display());
        root
    })
}

/// The default model's directory.
pub fn model_dir() -> PathBuf {
    dir().join("models/default")
}

/// A bundled plugin's path (`bio-semantic`, `bio-text`).
pub fn plugin(name: &str) -> PathBuf {
    dir().join(format!("plugins/{name}.wasm"))
}

/// The sha256 a bundled plugin must have: what was embedded.
pub fn plugin_sha256(name: &str) -> String {
    hex(&Sha256::digest(asset(&format!("plugins/{name}.wasm")).bytes))
}

/// Sample artist bios (the `debut plugin check` default).
pub fn bios_dir() -> PathBuf {
    dir().join("bios")
}

/// Corrupt audio the demo dead-letters.
pub fn corrupt_dir() -> PathBuf {
    dir().join("corrupt")
}

/// `debut --version`: the build, the model and the plugins it carries.
pub fn describe() -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(asset("models/default/manifest.json").bytes).unwrap_or_default();
    let text = |k: &str| manifest[k].as_str().unwrap_or("?").to_string();
    let weights = manifest["weights"]["sha256"].as_str().unwrap_or("?");
    let trained = if manifest["trained"].as_bool() == Some(true) { "trained" } else { "untrained" };
    let mut s = format!(
        "{}\nmodel: {} {} ({trained}, weights sha256 {})\n",
        env!("CARGO_PKG_VERSION"),
        text("name"),
        text("version"),
        &weights[..weights.len().min(12)]
    );
    for name in ["bio-semantic", "bio-text"] {
        s.push_str(&format!("plugin: {name} (sha256 {})\n", &plugin_sha256(name)[..12]));
    }
    s.push_str(&format!("data directory: {}", candidates()[0].display()));
    s
}
