//! The librdkafka debut links: TLS, SASL and every compression codec a producer may use,
//! built in by cargo (managed clusters require TLS; many clients compress with zstd); and,
//! end to end, debut through a TLS listener (stunnel in front of Tansu, a CA made here),
//! records in every codec through Tansu and through librdkafka's mock cluster (which passes
//! batches through unchanged), and a batch no codec can read.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use debut_tests::kafka::*;
use debut_tests::scratch_dir;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::BaseProducer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::{Value, json};

#[test]
fn librdkafka_has_tls_sasl_and_every_codec_built_in() {
    let native = ClientConfig::new().create_native_config().unwrap();
    let features = native.get("builtin.features").unwrap();
    let have: Vec<&str> = features.split(',').collect();
    for f in ["ssl", "sasl_plain", "sasl_scram", "sasl_oauthbearer", "http", "oidc", "gzip", "snappy", "lz4", "zstd"] {
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
    // OAUTHBEARER with OIDC: librdkafka fetches tokens from the identity provider itself.
    let oidc: Result<BaseProducer, _> = base()
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanisms", "OAUTHBEARER")
        .set("sasl.oauthbearer.method", "oidc")
        .set("sasl.oauthbearer.client.id", "debut")
        .set("sasl.oauthbearer.client.secret", "secret")
        .set("sasl.oauthbearer.token.endpoint.url", "https://idp.example/oauth2/token")
        .create();
    assert!(oidc.is_ok(), "oidc: {:?}", oidc.err());
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let p: Result<BaseProducer, _> = base().set("compression.codec", codec).create();
        assert!(p.is_ok(), "{codec}: {:?}", p.err());
    }
    // Without TLS support this is what failed at creation; a bad value still does, clearly.
    let bad: Result<BaseProducer, _> = base().set("security.protocol", "SASL_SSLX").create();
    assert!(bad.is_err());
}

// ---- end to end: TLS, codecs, an undecodable batch ----

/// A CA and a certificate for `localhost` signed by it, made with the openssl CLI.
struct Pki {
    dir: debut_tests::Scratch,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = scratch_dir(&format!("pki-{name}"));
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl (the test command installs it)");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        for ca in ["ca", "other-ca"] {
            let subj = format!("/CN=debut test {ca}");
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                &subj,
            ]);
        }
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(dir.join("san.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
        ]);
        Self { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

/// stunnel terminating TLS on `tls_port` in front of the plaintext broker on `plain_port`.
struct Stunnel(Child);

impl Stunnel {
    fn start(pki: &Pki, tls_port: u16, plain_port: u16) -> Self {
        let conf = pki.dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{plain_port}\ncert = {}\nkey = {}\n",
                pki.path("server.pem"),
                pki.path("server.key")
            ),
        )
        .unwrap();
        let log = std::fs::File::create(pki.dir.join("stunnel.log")).unwrap();
        let child = Command::new("stunnel")
            .arg(&conf)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("stunnel (the test command installs stunnel4)");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "stunnel did not start; see {}", pki.dir.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `want` distinct keys on `topic`, read from the start: key → JSON value.
fn read_keys(client: &ClientConfig, topic: &str, want: usize, timeout: Duration) -> BTreeMap<String, Value> {
    let consumer: BaseConsumer =
        client.clone().set("group.id", "test-reader").set("enable.auto.commit", "false").create().unwrap();
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = BTreeMap::new();
    let t0 = Instant::now();
    while out.len() < want && t0.elapsed() < timeout {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            out.insert(key, serde_json::from_slice(m.payload().unwrap_or(b"null")).unwrap_or(Value::Null));
        }
    }
    out
}

fn one_release(id: &str) -> Value {
    let bios = bios();
    let (_, ct, bytes) = &audio_fixtures()[0];
    release(id, bios[0]["artist_id"].as_str().unwrap(), ct, bytes)
}

#[test]
fn debut_embeds_through_a_tls_listener_and_refuses_a_certificate_it_cannot_verify() {
    let pki = Pki::new("tls");
    let tls_port = free_port();
    let broker = Broker::start_advertising("tls", &format!("localhost:{tls_port}"));
    let _tls = Stunnel::start(&pki, tls_port, broker.port);
    let topics = Topics::create(&broker, "tls", 2);
    let brokers = format!("localhost:{tls_port}");
    let mut tls_client = ClientConfig::new();
    tls_client
        .set("bootstrap.servers", &brokers)
        .set("security.protocol", "SSL")
        .set("ssl.ca.location", pki.path("ca.pem"));
    let producer: BaseProducer = tls_client.create().unwrap();
    send(&producer, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    send(&producer, &topics.releases, &[one_release("tls-1")]);

    let ca = pki.path("ca.pem");
    let env = [("DEBUT_KAFKA__SECURITY__PROTOCOL", "SSL"), ("DEBUT_KAFKA__SSL__CA__LOCATION", ca.as_str())];
    let debut = Debut::start_at(&brokers, &topics, "tls", &env);
    let out = read_keys(&tls_client, &topics.embeddings, 1, Duration::from_secs(90));
    assert_eq!(
        out.get("tls-1").map(|v| v["modalities"].clone()),
        Some(json!(["audio", "text"])),
        "log:\n{}",
        debut.log_text()
    );
    drop(debut);

    // A CA that did not sign the broker's certificate: a clear refusal, not a silent retry.
    let other = pki.path("other-ca.pem");
    let env = [("DEBUT_KAFKA__SECURITY__PROTOCOL", "SSL"), ("DEBUT_KAFKA__SSL__CA__LOCATION", other.as_str())];
    let mut refused = Debut::start_at(&brokers, &topics, "tls-wrong-ca", &env);
    let status =
        refused.wait_exit(Duration::from_secs(60)).unwrap_or_else(|| panic!("still running:\n{}", refused.log_text()));
    assert!(!status.success());
    let log = refused.log_text();
    assert!(
        log.contains("the brokers refused the connection") && log.contains("certificate verify failed"),
        "log:\n{log}"
    );
}

#[test]
fn records_compressed_with_every_codec_come_out_embedded_through_tansu() {
    let broker = Broker::start("codecs");
    let topics = Topics::create(&broker, "codecs", 2);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    for codec in CODECS {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", broker.addr())
            .set("compression.codec", codec)
            .create()
            .unwrap();
        send(&producer, &topics.releases, &[one_release(&format!("tansu-{codec}"))]);
    }
    let debut = Debut::start(&broker, &topics, "codecs", &[]);
    let out = consume(&broker, &topics.embeddings, "reader", CODECS.len(), 90, true);
    let keys: BTreeSet<String> = out.iter().filter_map(|r| r.key.clone()).collect();
    assert_eq!(keys, CODECS.iter().map(|c| format!("tansu-{c}")).collect(), "log:\n{}", debut.log_text());
}

const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];

/// librdkafka's mock cluster with the service's topics and the bundled bios.
fn mock(prefix: &str) -> (MockCluster<'static, rdkafka::producer::DefaultProducerContext>, Topics) {
    let cluster = MockCluster::new(1).unwrap();
    let topics = Topics {
        releases: format!("{prefix}.releases"),
        bios: format!("{prefix}.bios"),
        embeddings: format!("{prefix}.embeddings"),
        dlq: format!("{prefix}.dlq"),
    };
    for (t, parts) in [(&topics.releases, 1), (&topics.bios, 1), (&topics.embeddings, 1), (&topics.dlq, 1)] {
        cluster.create_topic(t, parts, 1).unwrap();
    }
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", cluster.bootstrap_servers()).create().unwrap();
    send(&producer, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    (cluster, topics)
}

#[test]
fn records_compressed_with_every_codec_come_out_embedded_through_a_pass_through_broker() {
    // The mock cluster stores and serves the producer's batches as they are (the next test
    // shows it: a batch it could not have re-encoded reaches the consumer untouched).
    let (cluster, topics) = mock("mock-codecs");
    let brokers = cluster.bootstrap_servers();
    for codec in CODECS {
        let producer: BaseProducer =
            ClientConfig::new().set("bootstrap.servers", &brokers).set("compression.codec", codec).create().unwrap();
        send(&producer, &topics.releases, &[one_release(&format!("mock-{codec}"))]);
    }
    let debut = Debut::start_at(&brokers, &topics, "mock-codecs", &[]);
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &brokers);
    let out = read_keys(&client, &topics.embeddings, CODECS.len(), Duration::from_secs(90));
    let keys: BTreeSet<String> = out.keys().cloned().collect();
    assert_eq!(keys, CODECS.iter().map(|c| format!("mock-{c}")).collect(), "log:\n{}", debut.log_text());
}

#[test]
fn an_undecodable_batch_stops_the_service_with_a_clear_error_and_is_never_committed_past() {
    let (cluster, topics) = mock("mock-corrupt");
    let brokers = cluster.bootstrap_servers();
    // A gzip batch whose payload is not gzip, written with the raw protocol, then a good record.
    produce_raw_batch(&brokers, &topics.releases, 0, &gzip_batch_of_garbage());
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    send(&producer, &topics.releases, &[one_release("after-the-corrupt-batch")]);

    let mut debut = Debut::start_at(&brokers, &topics, "mock-corrupt", &[]);
    let status =
        debut.wait_exit(Duration::from_secs(90)).unwrap_or_else(|| panic!("still running:\n{}", debut.log_text()));
    assert!(!status.success());
    let log = debut.log_text();
    assert!(log.contains("could not be read") && log.contains("BadCompression"), "log:\n{log}");
    // Nothing after it was embedded, and the group's offset did not pass it.
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &brokers);
    assert!(read_keys(&client, &topics.embeddings, 1, Duration::from_secs(3)).is_empty(), "log:\n{log}");
    let group: BaseConsumer = client.clone().set("group.id", "mock-corrupt").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topics.releases, 0);
    let committed = group.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    let offset = committed.find_partition(&topics.releases, 0).unwrap().offset();
    assert!(matches!(offset, Offset::Invalid | Offset::Offset(0)), "committed {offset:?}");
}

/// A v2 record batch of one record, flagged gzip, whose payload is not gzip. The CRC is left
/// zero: consumers check it only with `check.crcs`.
fn gzip_batch_of_garbage() -> Vec<u8> {
    let payload = b"this is not a gzip stream, and no codec can read it";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut after_length = Vec::new();
    after_length.extend(0i32.to_be_bytes()); // partition leader epoch
    after_length.push(2); // magic
    after_length.extend(0u32.to_be_bytes()); // crc
    after_length.extend(1i16.to_be_bytes()); // attributes: gzip
    after_length.extend(0i32.to_be_bytes()); // last offset delta
    after_length.extend(now.to_be_bytes());
    after_length.extend(now.to_be_bytes());
    after_length.extend((-1i64).to_be_bytes()); // producer id
    after_length.extend((-1i16).to_be_bytes()); // producer epoch
    after_length.extend((-1i32).to_be_bytes()); // base sequence
    after_length.extend(1i32.to_be_bytes()); // records
    after_length.extend(payload);
    let mut batch = 0i64.to_be_bytes().to_vec();
    batch.extend((after_length.len() as i32).to_be_bytes());
    batch.extend(after_length);
    batch
}

/// Sends one ProduceRequest (v3, acks=1) holding `batch` and checks the broker took it.
fn produce_raw_batch(brokers: &str, topic: &str, partition: i32, batch: &[u8]) {
    use std::io::{Read, Write};
    let addr = brokers.split(',').next().unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let string = |b: &mut Vec<u8>, v: &str| {
        b.extend((v.len() as i16).to_be_bytes());
        b.extend(v.as_bytes());
    };
    let mut req = Vec::new();
    req.extend(0i16.to_be_bytes()); // Produce
    req.extend(3i16.to_be_bytes()); // version
    req.extend(7i32.to_be_bytes()); // correlation id
    string(&mut req, "debut-tests");
    req.extend((-1i16).to_be_bytes()); // no transactional id
    req.extend(1i16.to_be_bytes()); // acks
    req.extend(10_000i32.to_be_bytes());
    req.extend(1i32.to_be_bytes());
    string(&mut req, topic);
    req.extend(1i32.to_be_bytes());
    req.extend(partition.to_be_bytes());
    req.extend((batch.len() as i32).to_be_bytes());
    req.extend(batch);
    s.write_all(&(req.len() as i32).to_be_bytes()).unwrap();
    s.write_all(&req).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    // correlation id, topics (1), name, partitions (1), partition index, error code
    let at = 4 + 4 + 2 + topic.len() + 4 + 4;
    let error = i16::from_be_bytes([resp[at], resp[at + 1]]);
    assert_eq!(error, 0, "the broker refused the raw batch");
}
