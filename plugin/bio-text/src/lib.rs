//! `bio-text`: debut's baseline feature plugin.
//!
//! Tokenizes the biography and the tags ([`debut_plugin_sdk::tokenize`]), drops stop words,
//! one-character tokens and numbers, and returns raw counts of the remaining terms hashed into
//! `[0, TERM_BUCKETS)`; debut's text tower applies tf-idf.

use debut_plugin_sdk::{
    FEATURE_DIM, Field, Guest, PluginError, PluginInfo, ReleaseText, SparseFeatures, TERM_BUCKETS, content_tokens,
    term_counts,
};

struct BioText;

impl Guest for BioText {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "bio-text".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            feature_dim: FEATURE_DIM,
            reads: vec![Field::Biography, Field::Tags],
        }
    }

    fn extract(release: ReleaseText) -> Result<SparseFeatures, PluginError> {
        if release.biography.trim().is_empty() {
            return Err(PluginError::InvalidInput("empty biography".into()));
        }
        let mut tokens = content_tokens(&release.biography);
        for tag in &release.tags {
            tokens.extend(content_tokens(tag));
        }
        Ok(term_counts(&tokens, TERM_BUCKETS))
    }
}

debut_plugin_sdk::export!(BioText);

#[cfg(test)]
mod tests {
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

    #[test]
    fn describe_matches_the_shared_space() {
        let info = BioText::describe();
        assert_eq!(info.name, "bio-text");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.feature_dim, 4096);
    }

    #[test]
    fn counts_content_terms_of_bio_and_tags() {
        let features =
            BioText::extract(release("The jazz of the 1960s: jazz, 1964, and a saxophone.", &["Jazz"])).unwrap();
        let bucket = |t| debut_plugin_sdk::hash_bucket(t, TERM_BUCKETS);
        let mut expected = vec![(bucket("jazz"), 3.0), (bucket("1960s"), 1.0), (bucket("saxophone"), 1.0)];
        expected.sort_by_key(|(i, _)| *i);
        assert_eq!(features, expected);
    }

    #[test]
    fn empty_biography_is_invalid_input() {
        for bio in ["", "  \n\t "] {
            match BioText::extract(release(bio, &["jazz"])) {
                Err(PluginError::InvalidInput(message)) => assert_eq!(message, "empty biography"),
                other => panic!("{other:?}"),
            }
        }
    }
}
