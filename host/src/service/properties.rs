//! The `[kafka]` passthrough: librdkafka properties a user sets for every client, how they
//! are spelled in the environment, which ones debut keeps for itself, and how they are shown
//! without their secrets.
//!
//! Order of precedence in every client: debut's tunable defaults, then the user's properties,
//! then [`RESERVED`] (which a user may not set: a setting of one is refused at load).

use std::collections::BTreeMap;

/// Properties debut sets because correctness depends on them, with what to do instead.
pub const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "set `brokers` (DEBUT_BROKERS) instead"),
    ("group.id", "set `group_id` instead; the bios state reader derives its own group from it"),
    ("group.instance.id", "set `instance_id` instead"),
    ("enable.auto.commit", "debut commits an input's offset only after every output of it is written"),
    ("enable.auto.offset.store", "debut stores offsets itself, after the outputs are written"),
    ("transactional.id", "debut derives it from `group_id` and `instance_id` (service.exactly_once)"),
];

/// Prefix of the environment variables that set `[kafka]` properties.
pub const ENV_PREFIX: &str = "DEBUT_KAFKA__";

/// The `[kafka]` properties among `vars` (environment variables): `DEBUT_KAFKA__SASL__PASSWORD`
/// sets `sasl.password` (after the prefix, `__` is a dot and letters are lower-cased).
pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter_map(|(k, v)| {
            let rest = k
                .get(..ENV_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                .map(|_| &k[ENV_PREFIX.len()..])?;
            (!rest.is_empty()).then(|| (rest.to_ascii_lowercase().replace("__", "."), v))
        })
        .collect()
}

/// A user's property that debut reserves, and why.
#[derive(Debug, thiserror::Error)]
#[error("kafka.{key} cannot be set: {why}")]
pub struct ReservedProperty {
    pub key: String,
    pub why: &'static str,
}

/// Refuses a user's setting of a [`RESERVED`] property.
pub fn check(user: &BTreeMap<String, String>) -> Result<(), ReservedProperty> {
    match RESERVED.iter().find(|(k, _)| user.contains_key(*k)) {
        Some((key, why)) => Err(ReservedProperty { key: key.to_string(), why }),
        None => Ok(()),
    }
}

/// Whether a property holds a secret (passwords, client secrets, keys, JAAS lines, tokens).
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "jaas", "token", "key.pem", "credentials", "sasl.oauthbearer.config"]
        .iter()
        .any(|s| k.contains(s))
}

/// `props` with every secret's value replaced by `***`.
pub fn masked(props: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    props.iter().map(|(k, v)| (k.clone(), if is_secret(k) { "***".to_string() } else { v.clone() })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_spelling_and_secrets() {
        let vars = [
            ("DEBUT_KAFKA__SASL__PASSWORD", "hunter2"),
            ("DEBUT_KAFKA__SECURITY__PROTOCOL", "SASL_SSL"),
            ("debut_kafka__sasl__mechanisms", "PLAIN"),
            ("DEBUT_KAFKA__", "ignored"),
            ("DEBUT_BROKERS", "not a property"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let props = from_env(vars);
        let keys: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(keys, ["sasl.mechanisms", "sasl.password", "security.protocol"]);
        let shown = masked(&props);
        assert_eq!(shown["sasl.password"], "***");
        assert_eq!(shown["security.protocol"], "SASL_SSL");
        assert!(is_secret("ssl.key.password") && is_secret("sasl.oauthbearer.client.secret"));
        assert!(!is_secret("sasl.username") && !is_secret("ssl.ca.location"));
    }

    #[test]
    fn reserved_properties_are_refused_with_the_reason() {
        let ok = BTreeMap::from([("fetch.wait.max.ms".to_string(), "50".to_string())]);
        assert!(check(&ok).is_ok());
        let bad = BTreeMap::from([("enable.auto.commit".to_string(), "true".to_string())]);
        let err = check(&bad).unwrap_err().to_string();
        assert!(err.starts_with("kafka.enable.auto.commit cannot be set: debut commits"), "{err}");
    }
}
