//! The librdkafka debut links: TLS, SASL and every compression codec a producer may use,
//! built in by cargo (managed clusters require TLS; many clients compress with zstd).

use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;

#[test]
fn librdkafka_has_tls_sasl_and_every_codec_built_in() {
    let native = ClientConfig::new().create_native_config().unwrap();
    let features = native.get("builtin.features").unwrap();
    let have: Vec<&str> = features.split(',').collect();
    for f in ["ssl", "sasl_plain", "sasl_scram", "sasl_oauthbearer", "gzip", "snappy", "lz4", "zstd"] {
        assert!(have.contains(&f), "librdkafka lacks {f}: {features}");
    }
}

#[test]
fn clients_with_tls_sasl_and_compression_settings_are_created() {
    let base = || {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:1");
        c
    };
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let p: Result<BaseProducer, _> = base()
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanisms", mechanism)
            .set("sasl.username", "user")
            .set("sasl.password", "secret")
            .create();
        assert!(p.is_ok(), "{mechanism}: {:?}", p.err());
    }
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let p: Result<BaseProducer, _> = base().set("compression.codec", codec).create();
        assert!(p.is_ok(), "{codec}: {:?}", p.err());
    }
    // Without TLS support this is what failed at creation; a bad value still does, clearly.
    let bad: Result<BaseProducer, _> = base().set("security.protocol", "SASL_SSLX").create();
    assert!(bad.is_err());
}
