//! Exactly-once (`service.exactly_once`): outputs and input offsets commit together in Kafka
//! transactions.
//!
//! Neither broker available to the tests implements the guarantee end to end: Tansu 0.6 has
//! no transactions, and librdkafka's mock cluster runs the transaction protocol but neither
//! aborts records nor stores transactional offsets. So these tests prove that debut drives
//! the protocol (on the mock cluster: every input once, offsets sent, transactions
//! committed, a clean stop) and that it refuses plainly on a broker without transactions;
//! not that a crash leaves no duplicate visible, which needs Apache Kafka.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use debut_tests::kafka::*;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::BaseProducer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;

/// Reads `topic` from the start as a read_committed consumer until `keys` distinct keys have
/// arrived and the topic has been quiet for a second: (key, value) in arrival order.
fn read_committed(brokers: &str, topic: &str, partitions: i32, keys: usize) -> Vec<(String, Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "eos-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let (t0, mut quiet) = (Instant::now(), Instant::now());
    let mut out = Vec::new();
    let mut distinct = BTreeSet::new();
    while t0.elapsed() < Duration::from_secs(120) && (distinct.len() < keys || quiet.elapsed() < Duration::from_secs(1))
    {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            distinct.insert(key.clone());
            out.push((key, serde_json::from_slice(m.payload().unwrap_or(b"null")).unwrap()));
            quiet = Instant::now();
        }
    }
    out
}

/// librdkafka's mock cluster with the service's topics (releases in 4 partitions) and the
/// bundled bios published.
struct Mock {
    _cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    brokers: String,
    topics: Topics,
    producer: BaseProducer,
}

impl Mock {
    fn start(prefix: &str) -> Self {
        let cluster = MockCluster::new(1).unwrap();
        let brokers = cluster.bootstrap_servers();
        let topics = Topics {
            releases: format!("{prefix}.releases"),
            bios: format!("{prefix}.bios"),
            embeddings: format!("{prefix}.embeddings"),
            dlq: format!("{prefix}.dlq"),
        };
        for (t, parts) in [(&topics.releases, 4), (&topics.bios, 2), (&topics.embeddings, 4), (&topics.dlq, 1)] {
            cluster.create_topic(t, parts, 1).unwrap();
        }
        let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
        send(&producer, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
        Self { _cluster: cluster, brokers, topics, producer }
    }
}

fn releases(prefix: &str) -> (Vec<Value>, BTreeSet<String>) {
    let bios = bios();
    let mut ids = BTreeSet::new();
    let records = audio_fixtures()
        .iter()
        .enumerate()
        .map(|(i, (name, ct, bytes))| {
            let id = format!("{prefix}-{name}");
            ids.insert(id.clone());
            release(&id, bios[i % bios.len()]["artist_id"].as_str().unwrap(), ct, bytes)
        })
        .collect();
    (records, ids)
}

#[test]
fn exactly_once_commits_outputs_and_offsets_in_transactions() {
    let Mock { _cluster, brokers, topics, producer } = Mock::start("eos");
    let (records, ids) = releases("eos");
    send(&producer, &topics.releases, &records);

    let env = [("DEBUT_SERVICE__EXACTLY_ONCE", "true"), ("DEBUT_INSTANCE_ID", "eos-1")];
    let mut debut = Debut::start_at(&brokers, &topics, "eos", &env);
    let out = read_committed(&brokers, &topics.embeddings, 4, ids.len());
    let keys: BTreeSet<String> = out.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, ids, "log:\n{}", debut.log_text());
    assert_eq!(out.len(), ids.len(), "each input once, with no crash in between");
    assert!(out.iter().all(|(_, v)| v["modalities"] == serde_json::json!(["audio", "text"])));

    let (_, metrics) = debut.http("/metrics").expect("metrics");
    let committed: f64 = metrics
        .lines()
        .find(|l| l.starts_with("debut_transactions_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0);
    assert!(committed >= 1.0, "no transaction committed:\n{metrics}");
    assert!(debut.log_text().contains("transactional_id=eos.eos-1"), "log:\n{}", debut.log_text());
    debut.stop();
    assert!(!debut.log_text().contains("transaction failed"), "log:\n{}", debut.log_text());
}

/// A rebalance under exactly-once: the member giving up partitions commits its open
/// transaction first (with those partitions' offsets), and drops later outputs of their
/// records. The mock cluster stores no transactional offsets, so the new owner starts its
/// partitions from the beginning: duplicates here are the mock's, and only presence and a
/// clean hand-over are checked.
#[test]
fn exactly_once_hands_partitions_over_through_a_transaction_commit() {
    let Mock { _cluster, brokers, topics, producer } = Mock::start("eosr");
    let (first, mut ids) = releases("r1");
    send(&producer, &topics.releases, &first);
    // No instance ids: static members have a 60 s session, and the mock cluster waits that
    // long for a departed member in every rebalance.
    let env = [("DEBUT_SERVICE__EXACTLY_ONCE", "true")];
    let mut a = Debut::start_at(&brokers, &topics, "eosr", &env);
    read_committed(&brokers, &topics.embeddings, 4, ids.len());
    let mut b = Debut::start_at(&brokers, &topics, "eosr", &env);
    let (second, more) = releases("r2");
    ids.extend(more);
    send(&producer, &topics.releases, &second);
    let t0 = Instant::now();
    while !b.log_text().contains("partitions assigned") {
        assert!(t0.elapsed() < Duration::from_secs(60), "b never got partitions:\n{}", b.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    a.stop();
    let (third, more) = releases("r3");
    ids.extend(more);
    send(&producer, &topics.releases, &third);
    let out = read_committed(&brokers, &topics.embeddings, 4, ids.len());
    let keys: BTreeSet<String> = out.iter().map(|(k, _)| k.clone()).collect();
    let (log_a, log_b) = (a.log_text(), b.log_text());
    assert_eq!(keys, ids, "log a:\n{log_a}\nlog b:\n{log_b}");
    assert!(log_a.contains("partitions revoked"), "a gave nothing up:\n{log_a}");
    for log in [&log_a, &log_b] {
        assert!(!log.contains("no transaction commit before giving up partitions"), "{log}");
        assert!(!log.contains("transaction failed"), "{log}");
    }
    b.stop();
}

#[test]
fn exactly_once_on_a_broker_without_transactions_stops_with_a_clear_error() {
    let broker = Broker::start("eos-tansu");
    let topics = Topics::create(&broker, "eost", 2);
    produce(&broker, &topics.bios, &bios().iter().map(bio_record).collect::<Vec<_>>());
    let (records, _) = releases("eost");
    produce(&broker, &topics.releases, &records[..2]);
    let mut debut = Debut::start(&broker, &topics, "eost", &[("DEBUT_SERVICE__EXACTLY_ONCE", "true")]);
    let status = debut.wait_exit(Duration::from_secs(120));
    let log = debut.log_text();
    assert!(status.is_some_and(|s| !s.success()), "debut kept running without transactions:\n{log}");
    assert!(log.contains("transaction"), "the error does not name transactions:\n{log}");
    eprintln!("{}", log.lines().filter(|l| l.contains("rror")).collect::<Vec<_>>().join("\n"));
}
