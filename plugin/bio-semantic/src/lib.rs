//! `bio-semantic`: debut's default feature plugin.
//!
//! Everything `bio-text` does (hashed counts of the content terms of the biography and the tags
//! in `[0, TERM_BUCKETS)`), plus the semantic enrichment of Oramas et al. ("Sound and music
//! recommendation with knowledge graphs", ACM TIST 2016; "A deep multimodal approach for
//! cold-start music recommendation", DLRS 2017): music entities mentioned in the text are linked,
//! here offline against a fixed gazetteer (`gazetteer.tsv`: genres, instruments, places,
//! labels, events).
//!
//! Features, in debut's shared 4096-d space:
//! - `[0, 3584)`: term counts, as bio-text;
//! - `3584 + row`: how often the gazetteer entity of that row is mentioned;
//! - `4088 + category`: how many entity mentions of that category there are.
//!
//! Linking works on the SDK's tokens (lower-case Unicode words), so it is case-insensitive and
//! "hip-hop", "hip hop" and "Hip Hop" are one form; at each position the longest surface form
//! wins and matches never overlap. Stop words count inside forms ("rock and roll"). The biography
//! and each tag are linked separately (no match spans two of them).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use debut_plugin_sdk::{
    CATEGORY_SLOTS, ENTITY_BASE, FEATURE_DIM, Field, Guest, MAX_ENTITIES, PluginError, PluginInfo, ReleaseText,
    SparseFeatures, TERM_BUCKETS, accumulate, is_content_token, term_counts, tokenize,
};

/// Entity categories, in the order of their feature slots `FEATURE_DIM - CATEGORY_SLOTS + i`.
pub const CATEGORIES: [&str; 5] = ["genre", "instrument", "place", "label", "event"];

const GAZETTEER_TSV: &str = include_str!("../gazetteer.tsv");

/// The first category slot (4088).
const CATEGORY_BASE: u32 = FEATURE_DIM - CATEGORY_SLOTS;

/// Data rows of the gazetteer: lines that are neither blank nor a `#` comment. A `const fn` so
/// that the row limit is checked when the plugin is compiled.
const fn count_rows(tsv: &str) -> usize {
    let bytes = tsv.as_bytes();
    let (mut rows, mut i) = (0, 0);
    while i < bytes.len() {
        let start = i;
        let mut blank = true;
        while i < bytes.len() && bytes[i] != b'\n' {
            if !bytes[i].is_ascii_whitespace() {
                blank = false;
            }
            i += 1;
        }
        if !blank && bytes[start] != b'#' {
            rows += 1;
        }
        i += 1;
    }
    rows
}

/// Number of gazetteer entities.
pub const ENTITY_COUNT: usize = count_rows(GAZETTEER_TSV);

// Entities sit between the term buckets and the category slots: 504 at most.
const _: () = assert!(
    ENTITY_COUNT <= MAX_ENTITIES as usize,
    "gazetteer.tsv has more rows than the 504 entity indices [3584, 4088)"
);
const _: () = assert!(CATEGORIES.len() <= CATEGORY_SLOTS as usize, "more categories than slots");
const _: () = assert!(ENTITY_BASE == TERM_BUCKETS);

/// One gazetteer row.
#[derive(Debug)]
pub struct Entity {
    pub id: &'static str,
    /// Index into [`CATEGORIES`].
    pub category: usize,
    /// Surface forms as token sequences.
    pub forms: Vec<Vec<String>>,
}

pub struct Gazetteer {
    /// In row order: entity `i` is feature `ENTITY_BASE + i`.
    pub entities: Vec<Entity>,
    /// First token of a form → (form, entity), longest form first.
    by_first_token: BTreeMap<String, Vec<(Vec<String>, usize)>>,
}

impl Gazetteer {
    /// Parses the TSV. A malformed row is a bug in the committed file, caught by the unit tests,
    /// so it panics with the line number.
    pub fn parse(tsv: &'static str) -> Gazetteer {
        let mut entities = Vec::new();
        let mut by_first_token: BTreeMap<String, Vec<(Vec<String>, usize)>> = BTreeMap::new();
        for (line_no, line) in tsv.lines().enumerate().map(|(i, l)| (i + 1, l)) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let columns: Vec<&str> = line.split('\t').collect();
            let [id, category, forms] = columns[..] else {
                panic!("gazetteer.tsv:{line_no}: want 3 tab-separated columns, got {}", columns.len());
            };
            let category = CATEGORIES
                .iter()
                .position(|c| *c == category)
                .unwrap_or_else(|| panic!("gazetteer.tsv:{line_no}: unknown category {category:?}"));
            let row = entities.len();
            // Spellings that tokenize alike ("hip hop", "hip-hop") are one form.
            let mut forms: Vec<Vec<String>> = forms.split('|').map(tokenize).collect();
            let mut seen = std::collections::BTreeSet::new();
            forms.retain(|form| seen.insert(form.clone()));
            for form in &forms {
                let first = form.first().unwrap_or_else(|| panic!("gazetteer.tsv:{line_no}: empty surface form"));
                by_first_token.entry(first.clone()).or_default().push((form.clone(), row));
            }
            entities.push(Entity { id, category, forms });
        }
        for candidates in by_first_token.values_mut() {
            // Longest first; ties keep row order (stable sort), so matching is deterministic.
            candidates.sort_by_key(|(form, _)| std::cmp::Reverse(form.len()));
        }
        Gazetteer { entities, by_first_token }
    }

    /// The entities mentioned in `tokens` (lower case, from [`tokenize`]), as row indices in
    /// order of mention: scanning left to right, the longest form starting at a token wins and
    /// the scan resumes after it.
    pub fn link(&self, tokens: &[String]) -> Vec<usize> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let matched = self
                .by_first_token
                .get(&tokens[i])
                .and_then(|candidates| candidates.iter().find(|(form, _)| tokens[i..].starts_with(form)));
            match matched {
                Some((form, row)) => {
                    found.push(*row);
                    i += form.len();
                }
                None => i += 1,
            }
        }
        found
    }
}

/// The gazetteer, parsed on first use.
pub static GAZETTEER: LazyLock<Gazetteer> = LazyLock::new(|| Gazetteer::parse(GAZETTEER_TSV));

/// Ids of the entities mentioned in `text`, in order of mention (repeats included).
pub fn linked_ids(text: &str) -> Vec<&'static str> {
    GAZETTEER.link(&tokenize(text)).into_iter().map(|row| GAZETTEER.entities[row].id).collect()
}

/// The plugin's features for one release (see the crate docs).
pub fn features(release: &ReleaseText) -> Result<SparseFeatures, PluginError> {
    if release.biography.trim().is_empty() {
        return Err(PluginError::InvalidInput("empty biography".into()));
    }
    let texts: Vec<Vec<String>> =
        std::iter::once(&release.biography).chain(&release.tags).map(|text| tokenize(text)).collect();

    let terms: Vec<&String> = texts.iter().flatten().filter(|t| is_content_token(t)).collect();
    let mut counts: BTreeMap<u32, f32> = term_counts(&terms, TERM_BUCKETS).into_iter().collect();
    for tokens in &texts {
        for row in GAZETTEER.link(tokens) {
            let category = GAZETTEER.entities[row].category;
            accumulate(&mut counts, [(ENTITY_BASE + row as u32, 1.0), (CATEGORY_BASE + category as u32, 1.0)]);
        }
    }
    Ok(counts.into_iter().collect())
}

struct BioSemantic;

impl Guest for BioSemantic {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "bio-semantic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            feature_dim: FEATURE_DIM,
            reads: vec![Field::Biography, Field::Tags],
        }
    }

    fn extract(release: ReleaseText) -> Result<SparseFeatures, PluginError> {
        features(&release)
    }
}

debut_plugin_sdk::export!(BioSemantic);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use debut_plugin_sdk::hash_bucket;

    use super::*;

    fn release(biography: &str, tags: &[&str]) -> ReleaseText {
        ReleaseText {
            artist_name: "Someone".into(),
            biography: biography.into(),
            label: Some("Blue Note".into()),
            track_title: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            language: Some("en".into()),
        }
    }

    fn row_of(id: &str) -> usize {
        GAZETTEER.entities.iter().position(|e| e.id == id).unwrap_or_else(|| panic!("no entity {id}"))
    }

    const BIO: &str = "She grew up in Detroit playing the saxophone, signed to Blue Note, and mixes jazz with hip-hop.";

    #[test]
    fn links_the_example_bio() {
        assert_eq!(linked_ids(BIO), ["detroit", "saxophone", "blue_note", "jazz", "hip_hop"]);
    }

    #[test]
    fn longest_match_first_without_overlap() {
        assert_eq!(linked_ids("Chicago house from Chicago"), ["chicago_house", "chicago"]);
        assert_eq!(linked_ids("DRUM AND BASS, bass, Drum & Bass"), ["drum_and_bass", "bass_guitar", "drum_and_bass"]);
        assert_eq!(linked_ids("Philadelphia International, in Philly"), ["philadelphia_international", "philadelphia"]);
        assert_eq!(linked_ids("New York City and new york"), ["new_york", "new_york"]);
        assert_eq!(linked_ids("Detroit techno, then detroit"), ["detroit_techno", "detroit"]);
        assert_eq!(linked_ids("a blues harp and a harp"), ["harmonica", "harp"]);
        assert_eq!(
            linked_ids("rock and roll, rock 'n' roll, Rock’n’Roll, rock"),
            ["rock_and_roll", "rock_and_roll", "rock_and_roll", "rock"]
        );
    }

    #[test]
    fn forms_are_case_and_hyphen_insensitive_on_tokens() {
        for text in ["hip hop", "Hip-Hop", "HIP HOP", "hip—hop", "hiphop", "rap"] {
            assert_eq!(linked_ids(text), ["hip_hop"], "{text}");
        }
        assert_eq!(linked_ids("R&B, rhythm and blues, RnB"), ["r_and_b", "r_and_b", "r_and_b"]);
        assert_eq!(
            linked_ids("São Paulo, Sao Paulo, KÖLN, Washington, D.C."),
            ["sao_paulo", "sao_paulo", "cologne", "washington_dc"]
        );
        assert_eq!(
            linked_ids("on 4AD and Impulse! Records, with an 808"),
            ["four_ad", "impulse_records", "drum_machine"]
        );
        // A partial form is no match.
        assert!(linked_ids("blue notes, the new house, hip").is_empty());
    }

    #[test]
    fn gazetteer_is_well_formed() {
        let entities = &GAZETTEER.entities;
        assert_eq!(entities.len(), ENTITY_COUNT, "const row count and parser disagree");
        assert!(entities.len() >= 300, "{}", entities.len());
        assert!(entities.len() <= MAX_ENTITIES as usize);
        let ids: BTreeSet<_> = entities.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), entities.len(), "duplicate ids");
        for e in entities.iter() {
            assert!(e.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", e.id);
        }
        let categories: BTreeSet<_> = entities.iter().map(|e| e.category).collect();
        assert_eq!(categories.len(), CATEGORIES.len(), "every category has entities");
        for (category, name) in CATEGORIES.iter().enumerate() {
            assert!(entities.iter().filter(|e| e.category == category).count() >= 25, "{name}");
        }
        // No token sequence belongs to two entities.
        let mut owner: BTreeMap<&[String], &str> = BTreeMap::new();
        for e in entities.iter() {
            for form in &e.forms {
                if let Some(other) = owner.insert(form, e.id) {
                    panic!("surface form {form:?} of {} is also a form of {other}", e.id);
                }
            }
        }
        // Every entity links its own forms.
        for e in entities.iter() {
            for form in &e.forms {
                let rows = GAZETTEER.link(form);
                assert_eq!(rows.len(), 1, "{form:?}");
                assert_eq!(entities[rows[0]].id, e.id, "{form:?}");
            }
        }
    }

    #[test]
    fn row_counting_matches_the_parser() {
        assert_eq!(count_rows(""), 0);
        assert_eq!(count_rows("# c\n\n  \t\na\tgenre\tx\n#d\nb\tplace\ty"), 2);
        assert_eq!(Gazetteer::parse("# c\n\n  \t\na\tgenre\tx\n#d\nb\tplace\ty").entities.len(), 2);
    }

    #[test]
    #[should_panic(expected = "unknown category")]
    fn unknown_category_is_rejected() {
        Gazetteer::parse("a\tvibe\tx");
    }

    #[test]
    fn features_of_the_example_bio() {
        let features = features(&release(BIO, &["Neo-Soul", "jazz"])).unwrap();
        assert!(features.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
        assert!(features.iter().all(|(i, v)| *i < FEATURE_DIM && *v > 0.0));
        let value = |index: u32| features.iter().find(|(i, _)| *i == index).map_or(0.0, |(_, v)| *v);
        let entity = |id| value(ENTITY_BASE + row_of(id) as u32);
        let category = |name| value(CATEGORY_BASE + CATEGORIES.iter().position(|c| *c == name).unwrap() as u32);

        for id in ["detroit", "saxophone", "blue_note", "hip_hop", "neo_soul"] {
            assert_eq!(entity(id), 1.0, "{id}");
        }
        assert_eq!(entity("jazz"), 2.0, "bio and tag");
        assert_eq!(entity("soul"), 0.0, "neo-soul is the longer match");
        assert_eq!(category("genre"), 4.0);
        assert_eq!(category("place"), 1.0);
        assert_eq!(category("instrument"), 1.0);
        assert_eq!(category("label"), 1.0);
        assert_eq!(category("event"), 0.0);

        // Term features are kept: bio-text's counts, below TERM_BUCKETS.
        let terms: Vec<_> = features.iter().copied().filter(|(i, _)| *i < TERM_BUCKETS).collect();
        assert_eq!(value(hash_bucket("jazz", TERM_BUCKETS)), 2.0);
        assert_eq!(value(hash_bucket("detroit", TERM_BUCKETS)), 1.0);
        assert_eq!(value(hash_bucket("the", TERM_BUCKETS)), 0.0);
        let mut tokens: Vec<String> = tokenize(BIO).into_iter().filter(|t| is_content_token(t)).collect();
        tokens.extend(["neo", "soul", "jazz"].map(String::from));
        assert_eq!(terms, term_counts(&tokens, TERM_BUCKETS));
        assert_eq!(features.len(), terms.len() + 6 + 4);
    }

    #[test]
    fn matches_do_not_span_bio_and_tags() {
        let features = features(&release("Born in New", &["York"])).unwrap();
        assert!(features.iter().all(|(i, _)| *i < TERM_BUCKETS), "{features:?}");
    }

    #[test]
    fn describe_and_invalid_input() {
        let info = BioSemantic::describe();
        assert_eq!((info.name.as_str(), info.feature_dim), ("bio-semantic", 4096));
        assert_eq!(info.reads, [Field::Biography, Field::Tags]);
        for bio in ["", " \n\u{3000}"] {
            match BioSemantic::extract(release(bio, &["jazz"])) {
                Err(PluginError::InvalidInput(message)) => assert_eq!(message, "empty biography"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(BioSemantic::extract(release("the and of 1999 a", &[])).unwrap(), []);
    }

    #[test]
    fn deterministic() {
        let a = features(&release(BIO, &["jazz"])).unwrap();
        let b = features(&release(BIO, &["jazz"])).unwrap();
        assert_eq!(a, b);
    }
}
