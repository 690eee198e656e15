//! The Kafka driver: the only code that knows rdkafka.
//!
//! Threads: the group consumer (releases + bios, consumer group `group_id`) hands records to
//! the decode pool and commits; a state reader replays the whole bios topic (every
//! instance needs every artist: tracks are keyed by track, not artist) into the pipeline's
//! artist table; the batcher runs the audio tower over decoded tracks, expires bio waits and
//! produces; the producer's delivery callbacks complete inputs in the offset tracker. An
//! input's offset is committed only once every output it led to is acknowledged.
//!
//! Under `service.exactly_once` the batcher, which owns production, also owns a Kafka
//! transaction: every commit interval (and before a rebalance takes partitions away) it
//! waits for the open transaction's acknowledgements, adds the offsets of the inputs now
//! complete, and commits outputs and offsets together. Outputs of records from partitions
//! already handed over are dropped: their new owner redoes them in its own transactions.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, select};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata, Rebalance};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientContext, error::KafkaError, types::RDKafkaErrorCode};

use super::KafkaSettings;
use super::health::Health;
use super::input::{InRecord, Position};
use super::output::{Out, OutKind};
use super::pipeline::{Analysed, Pipeline};
use super::tracker::OffsetTracker;

/// The group consumer's context: commits and forgets partitions a rebalance takes away,
/// and turns librdkafka's statistics into lag gauges.
struct GroupContext {
    tracker: Arc<OffsetTracker>,
    health: Arc<Health>,
    /// Under exactly-once, commits go through the batcher's transaction.
    txn: Option<Sender<TxnCommit>>,
}

impl ClientContext for GroupContext {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.consumer_lag >= 0 {
                    metrics::gauge!("debut_consumer_lag", "topic" => topic.clone(), "partition" => p.to_string())
                        .set(part.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts: BTreeSet<(String, i32)> =
                tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
            if let Some(txn) = &self.txn {
                // The offsets of what is done go out with the open transaction; the rest is
                // the next owner's.
                let (done, wait) = crossbeam_channel::bounded(1);
                let request = TxnCommit { group: consumer.group_metadata(), revoke: parts.clone(), done: Some(done) };
                // A closed channel means the batcher has stopped, after its last commit.
                if txn.send(request).is_ok() && wait.recv_timeout(TXN_TIMEOUT).is_err() {
                    tracing::warn!("no transaction commit before giving up partitions");
                }
                self.tracker.revoke(&parts);
            } else {
                let offsets = self.tracker.revoke(&parts);
                if let Err(e) = commit(consumer, &offsets, CommitMode::Sync) {
                    tracing::warn!("commit before giving up partitions: {e}");
                }
            }
            self.health.revoke(&parts);
            tracing::info!(partitions = parts.len(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<String> =
                tpl.elements().iter().map(|e| format!("{}[{}]", e.topic(), e.partition())).collect();
            self.health.assign(tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())));
            tracing::info!(partitions = %parts.join(","), "partitions assigned");
        }
    }
}

fn offset_list(offsets: &[(String, i32, i64)]) -> anyhow::Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
    }
    Ok(tpl)
}

fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &[(String, i32, i64)],
    mode: CommitMode,
) -> anyhow::Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    consumer.commit(&offset_list(offsets)?, mode)?;
    Ok(())
}

/// How long a transaction step (flush, offsets, commit) may take before the service gives up.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks the batcher to commit the open transaction.
struct TxnCommit {
    /// The consumer's group metadata, which fences a member that has lost its partitions.
    group: Option<ConsumerGroupMetadata>,
    /// Partitions a rebalance is taking away: their offsets go into this transaction, and
    /// later outputs of their records are dropped.
    revoke: BTreeSet<(String, i32)>,
    done: Option<Sender<()>>,
}

/// The batcher's side of exactly-once.
struct Transactions {
    requests: Receiver<TxnCommit>,
    group: Option<ConsumerGroupMetadata>,
    /// Set when a transaction fails: the service stops, and a restart resumes from the last
    /// committed transaction.
    failed: Arc<Mutex<Option<String>>>,
}

/// Commits the open transaction with the offsets of every input now complete, then opens
/// the next one.
fn commit_transaction(
    producer: &ThreadedProducer<AckContext>,
    group: &ConsumerGroupMetadata,
    revoke: &BTreeSet<(String, i32)>,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    producer.flush(TXN_TIMEOUT).context("flushing the transaction's outputs")?;
    let ctx = producer.context();
    // flush() returns once the queue is empty; the poll thread may still be inside the last
    // delivery callbacks, which complete inputs.
    while ctx.delivered.load(Ordering::Acquire) < ctx.sent.load(Ordering::Acquire) {
        anyhow::ensure!(t0.elapsed() < TXN_TIMEOUT, "delivery reports did not arrive");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut offsets: std::collections::BTreeMap<(String, i32), i64> =
        ctx.tracker.committable().into_iter().map(|(t, p, o)| ((t, p), o)).collect();
    if !revoke.is_empty() {
        offsets.extend(ctx.tracker.revoke(revoke).into_iter().map(|(t, p, o)| ((t, p), o)));
    }
    if !offsets.is_empty() {
        let list: Vec<(String, i32, i64)> = offsets.into_iter().map(|((t, p), o)| (t, p, o)).collect();
        producer
            .send_offsets_to_transaction(&offset_list(&list)?, group, TXN_TIMEOUT)
            .context("adding input offsets to the transaction")?;
    }
    producer.commit_transaction(TXN_TIMEOUT).context("committing the transaction")?;
    producer.begin_transaction().context("opening the next transaction")?;
    metrics::counter!("debut_transactions_total").increment(1);
    metrics::histogram!("debut_stage_seconds", "stage" => "transaction").record(t0.elapsed().as_secs_f64());
    Ok(())
}

/// Completes inputs when their outputs are acknowledged.
struct AckContext {
    tracker: Arc<OffsetTracker>,
    /// Records handed to librdkafka, and delivery reports handled.
    sent: AtomicU64,
    delivered: AtomicU64,
    /// A TLS or authentication failure librdkafka reported: retrying cannot mend it.
    refused: Mutex<Option<String>>,
}

struct Delivery {
    completes: Vec<Position>,
    sent: Instant,
}

impl ClientContext for AckContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!("librdkafka: {error}: {reason}");
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::SSL | RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
        ) {
            *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{error}: {reason}"));
        }
    }
}

/// Whether a consumer error means a record (a batch) could not be read: corrupt, or
/// compressed with a codec this build cannot decode. librdkafka skips such a batch, so the
/// service stops rather than commit past it.
fn undecodable(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    match e {
        KafkaError::MessageConsumption(code) | KafkaError::MessageConsumptionFatal(code)
            if matches!(
                code,
                RDKafkaErrorCode::BadMessage
                    | RDKafkaErrorCode::BadCompression
                    | RDKafkaErrorCode::NotImplemented
                    | RDKafkaErrorCode::InvalidRecord
                    | RDKafkaErrorCode::UnsupportedCompressionType
                    | RDKafkaErrorCode::InvalidMessage
            ) =>
        {
            Some(*code)
        }
        _ => None,
    }
}

fn undecodable_stop(topic: &str, code: RDKafkaErrorCode) -> String {
    format!(
        "a batch of records from {topic} could not be read ({code:?}: corrupt, or compressed with a codec this build lacks); \
         stopping so that it is not skipped. Its offset stays uncommitted: a restart reads it again"
    )
}

/// Waits until the brokers answer and every topic exists, saying why on `/readyz`. A TLS
/// or authentication failure stops the service with librdkafka's reason.
fn wait_for_topics(
    producer: &ThreadedProducer<AckContext>,
    topics: &[&str],
    health: &Health,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut last_said = None::<(String, Instant)>;
    while !stop.load(Ordering::Relaxed) {
        let why = match producer.client().fetch_metadata(None, Duration::from_secs(5)) {
            Ok(md) => {
                let missing: Vec<&str> = topics
                    .iter()
                    .copied()
                    .filter(|t| !md.topics().iter().any(|mt| mt.name() == *t && !mt.partitions().is_empty()))
                    .collect();
                if missing.is_empty() {
                    return Ok(());
                }
                format!("waiting for topics to be created: {}", missing.join(", "))
            }
            Err(e) => {
                if let Some(refused) = producer.context().refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    anyhow::bail!("the brokers refused the connection: {refused}");
                }
                format!("waiting for the brokers: {e}")
            }
        };
        health.set_waiting(Some(&why));
        if last_said.as_ref().is_none_or(|(w, t)| *w != why || t.elapsed() > Duration::from_secs(30)) {
            tracing::warn!("{why}");
            last_said = Some((why, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        match result {
            Ok(_) => {
                metrics::histogram!("debut_stage_seconds", "stage" => "produce")
                    .record(delivery.sent.elapsed().as_secs_f64());
                for p in &delivery.completes {
                    self.tracker.complete(p);
                }
            }
            // With message.timeout.ms = 0 librdkafka retries transient errors forever; what
            // arrives here is permanent. The inputs stay uncommitted: reprocessed on restart.
            Err((e, _)) => {
                metrics::counter!("debut_delivery_errors_total").increment(1);
                tracing::error!(inputs = ?delivery.completes, "output refused by the broker, inputs stay uncommitted: {e}");
            }
        }
        self.delivered.fetch_add(1, Ordering::Release);
    }
}

/// `service.transactional_id`, or one derived from the group and this instance.
fn transactional_id(config: &KafkaSettings) -> String {
    if !config.service.transactional_id.is_empty() {
        return config.service.transactional_id.clone();
    }
    match &config.instance_id {
        Some(id) => format!("{}.{id}", config.group_id),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}.{}.{}", config.group_id, host.trim(), std::process::id())
        }
    }
}

/// A client's properties: debut's `defaults`, then the user's (`[kafka]`), then what
/// correctness needs (`reserved`, which the user may not set: `properties::RESERVED`).
fn client_config(config: &KafkaSettings, defaults: &[(&str, &str)], reserved: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for (k, v) in &config.kafka {
        c.set(k, v);
    }
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in reserved {
        debug_assert!(super::properties::RESERVED.iter().any(|(r, _)| r == k), "{k} is not listed as reserved");
        c.set(*k, *v);
    }
    c
}

/// Fetch sizes that still fetch oversized records (to dead-letter them): brokers that do not
/// return a first batch larger than the fetch size would otherwise stall the partition.
const FETCH_SIZES: [(&str, &str); 3] = [
    ("max.partition.fetch.bytes", "67108864"),
    ("fetch.max.bytes", "134217728"),
    ("receive.message.max.bytes", "134218240"),
];

fn in_record(m: &BorrowedMessage<'_>) -> InRecord {
    let headers = m
        .headers()
        .map(|hs| hs.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    InRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers,
        timestamp_ms: m.timestamp().to_millis(),
    }
}

/// Produces `out`, waiting (not dropping) while librdkafka's queue is full.
fn produce(producer: &ThreadedProducer<AckContext>, config: &KafkaSettings, out: Out, stop_waiting: &AtomicBool) {
    let tracker = &producer.context().tracker;
    if config.service.exactly_once && !out.completes.iter().all(|p| tracker.is_in_flight(p)) {
        // Its partition was handed over: the new owner produces it in its own transaction.
        metrics::counter!("debut_outputs_dropped_total", "reason" => "revoked").increment(1);
        tracing::debug!(inputs = ?out.completes, "dropping the output of a revoked partition");
        return;
    }
    let topic = match &out.kind {
        OutKind::Embedding(_) => &config.topics.embeddings,
        OutKind::DeadLetter { stage, kind, .. } => {
            metrics::counter!("debut_dead_letters_total", "stage" => stage.as_str(), "kind" => kind.clone())
                .increment(1);
            &config.topics.dlq
        }
    };
    if let OutKind::DeadLetter { stage, kind, error, original } = &out.kind {
        tracing::warn!(stage = stage.as_str(), kind = %kind, source = %format!("{}/{}/{}", original.topic, original.partition, original.offset), "dead letter: {error}");
    }
    let ce_source = format!("/debut/{}", config.group_id);
    let super::output::WireRecord { key, value, headers } = out.wire(&ce_source, config.service.dlq_max_value_bytes);
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (k, v) in &headers {
        owned = owned.insert(Header { key: k, value: Some(v.as_slice()) });
    }
    let mut record =
        BaseRecord::with_opaque_to(topic, Box::new(Delivery { completes: out.completes, sent: Instant::now() }))
            .headers(owned);
    if let Some(k) = key.as_deref() {
        record = record.key(k);
    }
    if let Some(v) = value.as_deref() {
        record = record.payload(v);
    }
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.context().sent.fetch_add(1, Ordering::Release);
                return;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                if stop_waiting.load(Ordering::Relaxed) {
                    tracing::error!("shutting down with a full producer queue; an output was not sent");
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((e, r)) => {
                metrics::counter!("debut_delivery_errors_total").increment(1);
                tracing::error!(inputs = ?r.delivery_opaque.completes, "could not produce to {topic}, inputs stay uncommitted: {e}");
                return;
            }
        }
    }
}

/// Reads the whole bios topic into the pipeline's artist table and the whole embeddings
/// topic into its orphans (audio-only tracks a later bio fuses), then follows both. Signals
/// `caught_up` once it has reached the end offsets seen at start.
fn state_reader(
    config: Arc<KafkaSettings>,
    pipeline: Arc<Pipeline>,
    out: Sender<Out>,
    caught_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let group = format!("{}.state.{}", config.group_id, std::process::id());
    let mut defaults = vec![("fetch.wait.max.ms", "100")];
    defaults.extend(FETCH_SIZES);
    let reserved =
        [("group.id", group.as_str()), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false")];
    // The state is the whole topic: always from the start.
    let consumer: BaseConsumer = client_config(&config, &defaults, &reserved)
        .set("auto.offset.reset", "earliest")
        .create()
        .context("creating the state reader")?;
    let (bios, embeddings) = (config.topics.bios.clone(), config.topics.embeddings.clone());
    let mut tpl = TopicPartitionList::new();
    let mut remaining = Vec::new();
    for topic in [&bios, &embeddings] {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .with_context(|| format!("fetching metadata of {topic}"))?;
        let partitions: Vec<i32> =
            metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
        anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions (does it exist?)");
        for p in partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            if high > 0 {
                remaining.push((topic.clone(), p, high));
            }
        }
    }
    consumer.assign(&tpl)?;
    let (mut applied, mut observed) = (0usize, 0usize);
    if remaining.is_empty() {
        caught_up.store(true, Ordering::Relaxed);
    }
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if m.topic() == embeddings {
                    let header = |name: &str| {
                        m.headers()?.iter().find(|h| h.key == name).and_then(|h| h.value.map(<[u8]>::to_vec))
                    };
                    if let Some(e) = super::output::read_emitted(m.payload(), header) {
                        pipeline.observe(&e);
                    }
                    observed += 1;
                } else {
                    for o in pipeline.apply_bio(&in_record(&m)) {
                        let _ = out.send(o);
                    }
                    applied += 1;
                }
                remaining.retain(|(t, p, h)| !(m.topic() == t && m.partition() == *p && m.offset() + 1 >= *h));
                if remaining.is_empty() && !caught_up.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        bios = applied,
                        embeddings = observed,
                        "state caught up with {bios} and {embeddings}"
                    );
                }
            }
            Some(Err(e)) => {
                if let Some(code) = undecodable(&e) {
                    anyhow::bail!(undecodable_stop(&format!("{bios} or {embeddings}"), code));
                }
                tracing::warn!("state reader: {e}");
            }
            None => {}
        }
    }
    Ok(())
}

/// Batches decoded tracks for the audio tower, expires bio waits, and produces every output.
#[allow(clippy::too_many_arguments)]
fn batcher(
    config: Arc<KafkaSettings>,
    pipeline: Arc<Pipeline>,
    producer: ThreadedProducer<AckContext>,
    analysed: Receiver<Analysed>,
    outs: Receiver<Out>,
    mut txn: Option<Transactions>,
    started: Instant,
    done: Arc<AtomicBool>,
    health: Arc<Health>,
) {
    let requests = txn.as_ref().map_or_else(crossbeam_channel::never, |t| t.requests.clone());
    let now_ms = || started.elapsed().as_millis() as u64;
    let max_wait = Duration::from_millis(config.service.max_batch_wait_ms);
    let window = pipeline.model.audio.spec.window_frames;
    let mut batch: Vec<Analysed> = Vec::new();
    let mut windows = 0usize;
    let mut oldest: Option<Instant> = None;
    let mut last_expiry = Instant::now();
    let never_stop = AtomicBool::new(false);
    loop {
        let timeout = oldest.map_or(Duration::from_millis(50), |t| max_wait.saturating_sub(t.elapsed()));
        let mut closed = false;
        select! {
            recv(analysed) -> a => match a {
                Ok(a) => {
                    windows += Pipeline::windows(&a, window);
                    batch.push(a);
                    oldest.get_or_insert_with(Instant::now);
                }
                Err(_) => closed = true,
            },
            recv(outs) -> o => match o {
                Ok(o) => produce(&producer, &config, o, &never_stop),
                Err(_) => closed = true,
            },
            recv(requests) -> r => if let (Ok(r), Some(t)) = (r, txn.as_mut()) {
                if let Some(g) = r.group {
                    t.group = Some(g);
                }
                if let Some(g) = &t.group
                    && let Err(e) = commit_transaction(&producer, g, &r.revoke)
                {
                    tracing::error!("exactly-once: {e:#}; stopping (a restart resumes from the last committed transaction)");
                    *t.failed.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(format!("exactly-once transaction failed: {e:#}"));
                    break;
                }
                if let Some(d) = r.done {
                    let _ = d.send(());
                }
            },
            default(timeout) => {}
        }
        let full = windows >= pipeline.config.max_batch_windows;
        let due = oldest.is_some_and(|t| t.elapsed() >= max_wait);
        if !batch.is_empty() && (full || due || closed) {
            for o in pipeline.embed(std::mem::take(&mut batch), now_ms()) {
                produce(&producer, &config, o, &never_stop);
            }
            windows = 0;
            oldest = None;
        }
        if last_expiry.elapsed() >= Duration::from_millis(100) {
            for o in pipeline.expire(now_ms()) {
                produce(&producer, &config, o, &never_stop);
            }
            metrics::gauge!("debut_waiting_tracks").set(pipeline.waiting() as f64);
            for o in pipeline.reemit(&|p| health.owns(&p.topic, p.partition)) {
                produce(&producer, &config, o, &never_stop);
            }
            last_expiry = Instant::now();
        }
        if closed && analysed.is_empty() && outs.is_empty() {
            if let Some(Transactions { group: Some(g), failed, .. }) = &txn
                && let Err(e) = commit_transaction(&producer, g, &BTreeSet::new())
            {
                tracing::error!("exactly-once: the last transaction failed: {e:#}");
                *failed.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("exactly-once transaction failed: {e:#}"));
            }
            break;
        }
    }
    let _ = producer.flush(Duration::from_secs(30));
    done.store(true, Ordering::Relaxed);
}

/// Runs the service until `stop` is set (SIGTERM/SIGINT in `debut run`), telling `health`
/// where it is (the caller serves it on `/livez` and `/readyz`).
pub fn run(
    config: &KafkaSettings,
    pipeline: Arc<Pipeline>,
    stop: Arc<AtomicBool>,
    health: Arc<Health>,
) -> anyhow::Result<()> {
    let config = Arc::new(config.clone());
    let started = Instant::now();
    let tracker = Arc::new(OffsetTracker::default());
    super::metrics::recorder();

    let txn_id = transactional_id(&config);
    let exactly_once = config.service.exactly_once;
    // Exactly-once: a delivery that fails within the transaction timeout fails the
    // transaction. Otherwise: retry transient errors forever; what fails is permanent.
    let timeout = if exactly_once { "60000" } else { "0" };
    let defaults = [("message.max.bytes", "67108864"), ("linger.ms", "5"), ("message.timeout.ms", timeout)];
    let reserved: &[(&str, &str)] = if exactly_once { &[("transactional.id", txn_id.as_str())] } else { &[] };
    let producer_config = client_config(&config, &defaults, reserved);
    let producer: ThreadedProducer<AckContext> = producer_config
        .create_with_context(AckContext {
            tracker: tracker.clone(),
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            refused: Mutex::new(None),
        })
        .context("creating the producer")?;
    // Topics are often made by a separate job: wait for them rather than run without state.
    let topics = &config.topics;
    wait_for_topics(&producer, &[&topics.releases, &topics.bios, &topics.embeddings, &topics.dlq], &health, &stop)?;
    health.set_waiting(Some("reading the artist state"));
    let failed = Arc::new(Mutex::new(None::<String>));
    let (txn_tx, txn) = if config.service.exactly_once {
        producer.init_transactions(Duration::from_secs(30)).context(
            "exactly_once: starting Kafka transactions (the broker must support them: Apache Kafka 2.5+ does, Tansu 0.6 does not)",
        )?;
        producer.begin_transaction().context("exactly_once: opening the first transaction")?;
        tracing::info!(transactional_id = %transactional_id(&config), "exactly-once: outputs and offsets commit in transactions");
        let (tx, rx) = crossbeam_channel::bounded::<TxnCommit>(4);
        (Some(tx), Some(Transactions { requests: rx, group: None, failed: failed.clone() }))
    } else {
        (None, None)
    };

    let (tx_analysed, rx_analysed) = crossbeam_channel::bounded::<Analysed>(1024);
    let (tx_out, rx_out) = crossbeam_channel::unbounded::<Out>();
    let caught_up = Arc::new(AtomicBool::new(false));
    {
        let (config, pipeline, tx, caught_up, stop) =
            (config.clone(), pipeline.clone(), tx_out.clone(), caught_up.clone(), stop.clone());
        let failed = failed.clone();
        std::thread::Builder::new().name("debut-state".into()).spawn(move || {
            if let Err(e) = state_reader(config, pipeline, tx, caught_up.clone(), stop) {
                tracing::error!("state reader stopped: {e:#}");
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("the state reader stopped: {e:#}"));
            }
        })?;
    }
    let batcher_done = Arc::new(AtomicBool::new(false));
    let batcher_handle = {
        let (config, pipeline, producer, done, health) =
            (config.clone(), pipeline.clone(), producer.clone(), batcher_done.clone(), health.clone());
        std::thread::Builder::new()
            .name("debut-batcher".into())
            .spawn(move || batcher(config, pipeline, producer, rx_analysed, rx_out, txn, started, done, health))?
    };

    let deadline = Instant::now() + Duration::from_secs(config.service.state_catch_up_s);
    while !caught_up.load(Ordering::Relaxed) && Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            anyhow::bail!(e);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !caught_up.load(Ordering::Relaxed) {
        tracing::warn!("state not caught up after {} s; taking tracks anyway", config.service.state_catch_up_s);
    }
    health.set_waiting(None);

    // Static members keep their identity for a whole restart (KIP-345): a long session.
    let session_ms = if config.instance_id.is_some() { "60000" } else { "10000" };
    // Some brokers hold every fetch for the whole wait even with data ready (Tansu 0.6 does:
    // with librdkafka's 500 ms default the service ran at 40% of its CPU-bound rate).
    let mut defaults = vec![
        ("session.timeout.ms", session_ms),
        ("fetch.wait.max.ms", "100"),
        ("auto.offset.reset", "earliest"),
        ("heartbeat.interval.ms", "2000"),
        ("statistics.interval.ms", "5000"),
    ];
    defaults.extend(FETCH_SIZES);
    let mut reserved = vec![("group.id", config.group_id.as_str()), ("enable.auto.commit", "false")];
    if let Some(id) = &config.instance_id {
        reserved.push(("group.instance.id", id.as_str()));
    }
    let consumer: BaseConsumer<GroupContext> = client_config(&config, &defaults, &reserved)
        .create_with_context(GroupContext { tracker: tracker.clone(), health: health.clone(), txn: txn_tx.clone() })
        .context("creating the group consumer")?;
    consumer
        .subscribe(&[&config.topics.releases, &config.topics.bios])
        .context("subscribing to the releases and bios topics")?;
    tracing::info!(group = %config.group_id, releases = %config.topics.releases, bios = %config.topics.bios, "consuming");

    let decode_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.service.decode_threads)
        .thread_name(|i| format!("debut-decode-{i}"))
        .build()?;
    tracing::info!(
        threads = decode_pool.current_num_threads(),
        from = if config.service.decode_threads == 0 { "the CPUs this process may use" } else { "the setting" },
        "decode pool"
    );
    let mut last_commit = Instant::now();
    let mut idle_since: Option<Instant> = None;
    let mut paused = false;
    let max_bytes = config.service.max_inflight_bytes;
    while !stop.load(Ordering::Relaxed) {
        if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            anyhow::bail!(e);
        }
        health.polled();
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let rec = in_record(&m);
                metrics::counter!("debut_records_in_total", "topic" => rec.topic.clone()).increment(1);
                let pos = rec.position();
                tracker.begin(&pos, rec.size());
                if rec.topic == config.topics.releases {
                    let (pipeline, tx_a, tx_o) = (pipeline.clone(), tx_analysed.clone(), tx_out.clone());
                    decode_pool.spawn(move || match pipeline.analyse(rec) {
                        Ok(a) => {
                            let _ = tx_a.send(a);
                        }
                        Err(dead) => {
                            let _ = tx_o.send(*dead);
                        }
                    });
                } else if rec.topic == config.topics.bios {
                    let (pipeline, tx_o, tracker) = (pipeline.clone(), tx_out.clone(), tracker.clone());
                    decode_pool.spawn(move || match pipeline.check_bio(&rec) {
                        Ok(()) => tracker.complete(&rec.position()),
                        Err(dead) => {
                            let _ = tx_o.send(*dead);
                        }
                    });
                } else {
                    tracker.complete(&pos);
                }
            }
            Some(Err(e)) => {
                if let Some(code) = undecodable(&e) {
                    let topics = format!("{} or {}", config.topics.releases, config.topics.bios);
                    anyhow::bail!(undecodable_stop(&topics, code));
                }
                tracing::warn!("consumer: {e}");
            }
            None => {}
        }
        let bytes = tracker.in_flight_bytes();
        metrics::gauge!("debut_in_flight_bytes").set(bytes as f64);
        if !paused && bytes > max_bytes {
            consumer.pause(&consumer.assignment()?)?;
            paused = true;
            tracing::info!(bytes, "in-flight bound reached: consumption paused");
        } else if paused && bytes <= max_bytes / 2 {
            consumer.resume(&consumer.assignment()?)?;
            paused = false;
            tracing::info!(bytes, "consumption resumed");
        }
        if config.service.rejoin_idle_s > 0 {
            let empty = consumer.assignment().map(|a| a.count() == 0).unwrap_or(false);
            match (empty, idle_since) {
                (false, _) => idle_since = None,
                (true, None) => idle_since = Some(Instant::now()),
                (true, Some(t)) if t.elapsed() >= Duration::from_secs(config.service.rejoin_idle_s) => {
                    tracing::warn!("no partitions for {} s: rejoining the group", config.service.rejoin_idle_s);
                    consumer.unsubscribe();
                    consumer.subscribe(&[&config.topics.releases, &config.topics.bios])?;
                    idle_since = None;
                }
                _ => {}
            }
        }
        if last_commit.elapsed() >= Duration::from_millis(config.service.commit_interval_ms) {
            if let Some(txn) = &txn_tx {
                // Skipped while the batcher is still busy with earlier requests.
                let _ =
                    txn.try_send(TxnCommit { group: consumer.group_metadata(), revoke: BTreeSet::new(), done: None });
            } else if let Err(e) = commit(&consumer, &tracker.committable(), CommitMode::Async) {
                tracing::warn!("commit: {e}");
            }
            last_commit = Instant::now();
        }
    }

    // Graceful stop: no new records; finish what is in flight, commit, leave the group.
    health.draining();
    tracing::info!(in_flight = tracker.in_flight(), "stopping: draining in-flight records");
    let grace = Instant::now() + Duration::from_secs(config.service.shutdown_grace_s);
    while tracker.in_flight() > 0 && Instant::now() < grace {
        for o in pipeline.flush() {
            let _ = tx_out.send(o);
        }
        let _ = consumer.poll(Duration::from_millis(50));
    }
    if let Some(txn) = &txn_tx {
        // The batcher commits its last transaction with the latest group metadata.
        let _ = txn.send(TxnCommit { group: consumer.group_metadata(), revoke: BTreeSet::new(), done: None });
    }
    drop(tx_analysed);
    drop(tx_out);
    drop(txn_tx);
    let _ = batcher_handle.join();
    if !config.service.exactly_once {
        let _ = commit(&consumer, &tracker.committable(), CommitMode::Sync);
    }
    consumer.unsubscribe();
    tracing::info!(left_in_flight = tracker.in_flight(), "stopped");
    if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
        anyhow::bail!(e);
    }
    Ok(())
}
