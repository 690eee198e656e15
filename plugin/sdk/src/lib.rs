//! Write a debut feature plugin in a few lines.
//!
//! A feature plugin is a WebAssembly component that implements the `feature-plugin` world of
//! `debut:plugin@0.1.0` (`plugin/wit/feature-plugin.wit`): debut hands it the text it knows
//! about a release and gets back sparse features for its text tower. This crate holds the
//! generated bindings of that world and the text helpers the bundled plugins share:
//!
//! ```no_run
//! use debut_plugin_sdk::{Field, Guest, PluginError, PluginInfo, ReleaseText, SparseFeatures};
//!
//! struct MyPlugin;
//!
//! impl Guest for MyPlugin {
//!     fn describe() -> PluginInfo {
//!         PluginInfo {
//!             name: "my-plugin".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             feature_dim: debut_plugin_sdk::FEATURE_DIM,
//!             reads: vec![Field::Biography],
//!         }
//!     }
//!     fn extract(release: ReleaseText) -> Result<SparseFeatures, PluginError> {
//!         let tokens = debut_plugin_sdk::content_tokens(&release.biography);
//!         Ok(debut_plugin_sdk::term_counts(&tokens, debut_plugin_sdk::TERM_BUCKETS))
//!     }
//! }
//!
//! debut_plugin_sdk::export!(MyPlugin);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (crate type `cdylib`).
//!
//! Everything here is deterministic and adds no imports beyond those Rust's `std` links: no
//! hash map with a random seed (which would import `wasi:random`), no clock, no files.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::sync::LazyLock;

use unicode_segmentation::UnicodeSegmentation;

/// The generated bindings of the `feature-plugin` world (wit-bindgen). Plugins use the
/// re-exports at the crate root; the export macro reaches the glue through this module.
pub mod bindings {
    // The generated glue of a record of 6 fields takes 15 flattened arguments.
    #![allow(clippy::too_many_arguments)]

    wit_bindgen::generate!({
        path: "../wit",
        world: "debut:plugin/feature-plugin",
        // `debut_plugin_sdk::export!(MyPlugin)` from a plugin crate.
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "debut_plugin_sdk::bindings",
    });
}

/// The functions a plugin implements: `describe` and `extract` of the `feature-plugin` world.
pub use bindings::Guest;
pub use bindings::debut::plugin::types::{Field, PluginError, PluginInfo, ReleaseText, SparseFeatures};
#[doc(inline)]
pub use bindings::export;

/// Size of the feature space shared by debut's bundled plugins and its text tower: every index
/// a plugin returns is below this, and `describe().feature_dim` must equal it.
///
/// Layout: `[0, TERM_BUCKETS)` holds hashed term counts ([`hash_bucket`]), and
/// `[TERM_BUCKETS, FEATURE_DIM)` holds entity features (bio-semantic: one index per gazetteer
/// entity, then the last [`CATEGORY_SLOTS`] indices for entity categories).
pub const FEATURE_DIM: u32 = 4096;

/// Number of hashed term buckets, the indices `[0, TERM_BUCKETS)`.
pub const TERM_BUCKETS: u32 = 3584;

/// Indices reserved at the end of the feature space for entity categories:
/// `[FEATURE_DIM - CATEGORY_SLOTS, FEATURE_DIM)`.
pub const CATEGORY_SLOTS: u32 = 8;

/// First entity index; entities take `[ENTITY_BASE, FEATURE_DIM - CATEGORY_SLOTS)`.
pub const ENTITY_BASE: u32 = TERM_BUCKETS;

/// How many distinct entities fit between the term buckets and the category slots (504).
pub const MAX_ENTITIES: u32 = FEATURE_DIM - CATEGORY_SLOTS - ENTITY_BASE;

/// Splits text into lower-case words.
///
/// Words are Unicode word boundaries (UAX #29, `unicode_words`: punctuation and spaces are
/// dropped, "hip-hop" is two words, "D.C." and "don't" are one), lower-cased with the full
/// Unicode mapping (`"ÉTÉ"` → `"été"`, `"STRASSE"` → `"strasse"`). The typographic apostrophe
/// U+2019 becomes `'`, so "don’t" and "don't" are the same word.
pub fn tokenize(text: &str) -> Vec<String> {
    text.unicode_words()
        .map(|word| {
            let lower = word.to_lowercase();
            if lower.contains('\u{2019}') { lower.replace('\u{2019}', "'") } else { lower }
        })
        .collect()
}

/// Languages with a stop-word list, as BCP 47 primary tags.
pub const STOP_WORD_LANGUAGES: [&str; 6] = ["en", "es", "fr", "de", "pt", "it"];

const STOP_WORD_FILES: [&str; 6] = [
    include_str!("../stopwords/en.txt"),
    include_str!("../stopwords/es.txt"),
    include_str!("../stopwords/fr.txt"),
    include_str!("../stopwords/de.txt"),
    include_str!("../stopwords/pt.txt"),
    include_str!("../stopwords/it.txt"),
];

/// One word a line, `#` starts a comment line, blank lines are skipped.
fn words_of(file: &'static str) -> impl Iterator<Item = &'static str> {
    file.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'))
}

static STOP_WORDS: LazyLock<BTreeSet<&'static str>> =
    LazyLock::new(|| STOP_WORD_FILES.iter().flat_map(|file| words_of(file)).collect());

/// Whether `word` (lower case, as [`tokenize`] gives it) is a stop word in English, Spanish,
/// French, German, Portuguese or Italian.
///
/// The lists are `plugin/sdk/stopwords/*.txt`, embedded at compile time, and used together
/// (a biography's language is often unknown or mixed); words that are also English content
/// words ("die", "war", "son", "era", ...) are left out of the other languages' lists.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(word)
}

/// The stop words of one language (`"en"`, `"es"`, `"fr"`, `"de"`, `"pt"`, `"it"`), or `None`.
pub fn stop_words(language: &str) -> Option<impl Iterator<Item = &'static str>> {
    let i = STOP_WORD_LANGUAGES.iter().position(|l| *l == language)?;
    Some(words_of(STOP_WORD_FILES[i]))
}

/// Whether a token carries content: not a stop word, at least two characters, not only digits.
pub fn is_content_token(token: &str) -> bool {
    let mut chars = token.chars();
    let two_or_more = chars.next().is_some() && chars.next().is_some();
    two_or_more && !token.chars().all(char::is_numeric) && !is_stop_word(token)
}

/// [`tokenize`], keeping only [`is_content_token`] tokens.
pub fn content_tokens(text: &str) -> Vec<String> {
    let mut tokens = tokenize(text);
    tokens.retain(|t| is_content_token(t));
    tokens
}

/// The bucket of a token in `[0, buckets)`: FNV-1a 64 of its UTF-8 bytes, modulo `buckets`.
///
/// Stable across platforms, builds and runs (no seed), so a model trained on these features
/// keeps working; other implementations reproduce it from the FNV-1a 64 definition
/// (offset basis 0xcbf29ce484222325, prime 0x100000001b3), bytes only, no terminator.
///
/// # Panics
/// If `buckets` is 0.
pub fn hash_bucket(token: &str, buckets: u32) -> u32 {
    assert!(buckets > 0, "hash_bucket: buckets must be positive");
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(token.as_bytes());
    (hasher.finish() % u64::from(buckets)) as u32
}

/// Raw counts of tokens per bucket ([`hash_bucket`]): tokens that share a bucket are added,
/// the result is sorted by index with each index once. debut's text tower applies tf-idf.
pub fn term_counts<S: AsRef<str>>(tokens: &[S], buckets: u32) -> SparseFeatures {
    let mut counts = BTreeMap::new();
    for token in tokens {
        *counts.entry(hash_bucket(token.as_ref(), buckets)).or_insert(0.0f32) += 1.0;
    }
    counts.into_iter().collect()
}

/// Adds `(index, value)` pairs into a map of counts; with [`BTreeMap`] the result of
/// `into_iter().collect()` is sorted with unique indices, as the contract asks.
pub fn accumulate(counts: &mut BTreeMap<u32, f32>, features: impl IntoIterator<Item = (u32, f32)>) {
    for (index, value) in features {
        *counts.entry(index).or_insert(0.0) += value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(ENTITY_BASE, 3584);
        assert_eq!(MAX_ENTITIES, 504);
        assert_eq!(FEATURE_DIM - CATEGORY_SLOTS, 4088);
    }

    #[test]
    fn tokenize_unicode_words() {
        assert_eq!(
            tokenize("She grew up in Detroit, playing hip-hop & R&B; signed in 1999!"),
            ["she", "grew", "up", "in", "detroit", "playing", "hip", "hop", "r", "b", "signed", "in", "1999"]
        );
        assert_eq!(tokenize("Björk's ÉTÉ in KÖLN — STRASSE"), ["björk's", "été", "in", "köln", "strasse"]);
        assert_eq!(tokenize("don’t stop"), ["don't", "stop"]);
        assert_eq!(tokenize("Washington, D.C. 4AD"), ["washington", "d.c", "4ad"]);
        assert_eq!(tokenize("  \n\t ... "), Vec::<String>::new());
        // Full Unicode lower-casing, not ASCII only (Greek final sigma, Turkish dotted I).
        assert_eq!(tokenize("ΟΔΥΣΣΕΥΣ"), ["οδυσσευς"]);
        assert_eq!(tokenize("İstanbul"), ["i\u{307}stanbul"]);
    }

    #[test]
    fn stop_words_all_languages() {
        for w in ["the", "and", "don't", "de", "la", "avec", "und", "não", "della", "più", "über"] {
            assert!(is_stop_word(w), "{w}");
        }
        for w in ["jazz", "war", "die", "son", "era", "detroit", "guitar", "The"] {
            assert!(!is_stop_word(w), "{w}");
        }
        for lang in STOP_WORD_LANGUAGES {
            let words: Vec<_> = stop_words(lang).unwrap().collect();
            assert!(words.len() >= 50, "{lang}: {}", words.len());
            for w in words {
                assert_eq!(w, w.to_lowercase(), "{lang}: {w} is not lower case");
                assert_eq!(tokenize(w), [w], "{lang}: {w} is not one token");
            }
        }
        assert!(stop_words("xx").is_none());
    }

    #[test]
    fn content_tokens_filter() {
        assert!(!is_content_token("x"));
        assert!(!is_content_token("1999"));
        assert!(!is_content_token("١٩٩٩"));
        assert!(!is_content_token(""));
        assert!(is_content_token("1990s"));
        assert!(is_content_token("dj"));
        assert_eq!(content_tokens("The 2 best DJs of 1999 in Köln, and a MC"), ["best", "djs", "köln", "mc"]);
    }

    #[test]
    fn fnv1a_64_reference_values() {
        // Published FNV-1a 64 test vectors, reduced modulo u32::MAX + 1 to check the hash itself.
        let full = |s: &str| {
            let mut h = fnv::FnvHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(full(""), 0xcbf29ce484222325);
        assert_eq!(full("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(full("foobar"), 0x85944171f73967e8);
        assert_eq!(hash_bucket("a", 3584), (0xaf63dc4c8601ec8cu64 % 3584) as u32);
        assert_eq!(hash_bucket("foobar", 3584), (0x85944171f73967e8u64 % 3584) as u32);
        for t in ["jazz", "détroit", "", "a much longer token than usual"] {
            assert!(hash_bucket(t, TERM_BUCKETS) < TERM_BUCKETS);
            assert_eq!(hash_bucket(t, 1), 0);
        }
    }

    #[test]
    #[should_panic(expected = "buckets must be positive")]
    fn hash_bucket_zero_buckets() {
        hash_bucket("a", 0);
    }

    #[test]
    fn term_counts_merged_and_sorted() {
        let tokens = ["jazz", "soul", "jazz", "funk", "jazz", "soul"];
        let features = term_counts(&tokens, TERM_BUCKETS);
        assert!(features.windows(2).all(|w| w[0].0 < w[1].0), "{features:?}");
        let value = |t: &str| features.iter().find(|(i, _)| *i == hash_bucket(t, TERM_BUCKETS)).unwrap().1;
        assert_eq!(value("jazz"), 3.0);
        assert_eq!(value("soul"), 2.0);
        assert_eq!(value("funk"), 1.0);
        assert_eq!(features.iter().map(|(_, v)| v).sum::<f32>(), 6.0);
        // Collisions add up: with one bucket everything lands at 0.
        assert_eq!(term_counts(&tokens, 1), [(0, 6.0)]);
        assert!(term_counts::<&str>(&[], 10).is_empty());
        let owned: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
        assert_eq!(term_counts(&owned, TERM_BUCKETS), features);
    }

    #[test]
    fn accumulate_merges() {
        let mut counts = BTreeMap::new();
        accumulate(&mut counts, [(5, 1.0), (1, 2.0)]);
        accumulate(&mut counts, [(5, 0.5)]);
        assert_eq!(counts.into_iter().collect::<Vec<_>>(), [(1, 2.0), (5, 1.5)]);
    }
}
