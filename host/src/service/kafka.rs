//! The Kafka driver: the only code that knows rdkafka.
//!
//! Threads: the group consumer (releases + bios, consumer group `group_id`) hands records to
//! the decode pool and commits; a state reader replays the whole bios topic (every
//! instance needs every artist: tracks are keyed by track, not artist) into the pipeline's
//! artist table; the batcher runs the audio tower over decoded tracks, expires bio waits and
//! produces; the producer's delivery callbacks complete inputs in the offset tracker. An
//! input's offset is committed only once every output it led to is acknowledged.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, select};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientContext, error::KafkaError, types::RDKafkaErrorCode};

use super::input::{InRecord, Position};
use super::output::{Out, OutKind};
use super::pipeline::{Analysed, Pipeline};
use super::tracker::OffsetTracker;
use crate::config::Config;

/// The group consumer's context: commits and forgets partitions a rebalance takes away,
/// and turns librdkafka's statistics into lag gauges.
struct GroupContext {
    tracker: Arc<OffsetTracker>,
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
            let offsets = self.tracker.revoke(&parts);
            if let Err(e) = commit(consumer, &offsets, CommitMode::Sync) {
                tracing::warn!("commit before giving up partitions: {e}");
            }
            tracing::info!(partitions = parts.len(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<String> =
                tpl.elements().iter().map(|e| format!("{}[{}]", e.topic(), e.partition())).collect();
            tracing::info!(partitions = %parts.join(","), "partitions assigned");
        }
    }
}

fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &[(String, i32, i64)],
    mode: CommitMode,
) -> anyhow::Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
    }
    consumer.commit(&tpl, mode)?;
    Ok(())
}

/// Completes inputs when their outputs are acknowledged.
struct AckContext {
    tracker: Arc<OffsetTracker>,
}

struct Delivery {
    completes: Vec<Position>,
    sent: Instant,
}

impl ClientContext for AckContext {}

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
    }
}

fn client_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.kafka {
        c.set(k, v);
    }
    c
}

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
fn produce(producer: &ThreadedProducer<AckContext>, config: &Config, out: Out, stop_waiting: &AtomicBool) {
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
    let (key, value, headers) = out.wire(config.service.dlq_max_value_bytes);
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
            Ok(()) => return,
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

/// Reads the whole bios topic into the pipeline's artist table, then follows it. Signals
/// `caught_up` once it has reached the end offsets seen at start.
fn state_reader(
    config: Arc<Config>,
    pipeline: Arc<Pipeline>,
    out: Sender<Out>,
    caught_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = client_config(&config)
        .set("group.id", format!("{}.state.{}", config.group_id, std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("max.partition.fetch.bytes", "67108864")
        .set("fetch.max.bytes", "134217728")
        .set("receive.message.max.bytes", "134218240")
        .create()
        .context("creating the bios state reader")?;
    let topic = config.topics.bios.clone();
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .with_context(|| format!("fetching metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions (does it exist?)");
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for &p in &partitions {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
        let (_, high) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(10))?;
        ends.push((p, high));
    }
    consumer.assign(&tpl)?;
    let mut remaining: Vec<(i32, i64)> = ends.into_iter().filter(|(_, h)| *h > 0).collect();
    let mut applied = 0usize;
    if remaining.is_empty() {
        caught_up.store(true, Ordering::Relaxed);
    }
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let rec = in_record(&m);
                for o in pipeline.apply_bio(&rec) {
                    let _ = out.send(o);
                }
                applied += 1;
                remaining.retain(|(p, h)| !(rec.partition == *p && rec.offset + 1 >= *h));
                if remaining.is_empty() && !caught_up.swap(true, Ordering::Relaxed) {
                    tracing::info!(bios = applied, "artist state caught up with {topic}");
                }
            }
            Some(Err(e)) => tracing::warn!("bios state reader: {e}"),
            None => {}
        }
    }
    Ok(())
}

/// Batches decoded tracks for the audio tower, expires bio waits, and produces every output.
#[allow(clippy::too_many_arguments)]
fn batcher(
    config: Arc<Config>,
    pipeline: Arc<Pipeline>,
    producer: ThreadedProducer<AckContext>,
    analysed: Receiver<Analysed>,
    outs: Receiver<Out>,
    started: Instant,
    done: Arc<AtomicBool>,
) {
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
            last_expiry = Instant::now();
        }
        if closed && analysed.is_empty() && outs.is_empty() {
            break;
        }
    }
    let _ = producer.flush(Duration::from_secs(30));
    done.store(true, Ordering::Relaxed);
}

/// Runs the service until `stop` is set (SIGTERM/SIGINT in `debut run`). `ready` is set once
/// the artist state has caught up and the group consumer is subscribed.
pub fn run(
    config: &Config,
    pipeline: Arc<Pipeline>,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let config = Arc::new(config.clone());
    let started = Instant::now();
    let tracker = Arc::new(OffsetTracker::default());
    super::metrics::recorder();

    let producer: ThreadedProducer<AckContext> = client_config(&config)
        .set("message.timeout.ms", "0")
        .set("message.max.bytes", "67108864")
        .set("linger.ms", "5")
        .create_with_context(AckContext { tracker: tracker.clone() })
        .context("creating the producer")?;

    let (tx_analysed, rx_analysed) = crossbeam_channel::bounded::<Analysed>(1024);
    let (tx_out, rx_out) = crossbeam_channel::unbounded::<Out>();
    let caught_up = Arc::new(AtomicBool::new(false));
    {
        let (config, pipeline, tx, caught_up, stop) =
            (config.clone(), pipeline.clone(), tx_out.clone(), caught_up.clone(), stop.clone());
        std::thread::Builder::new().name("debut-bios-state".into()).spawn(move || {
            if let Err(e) = state_reader(config, pipeline, tx, caught_up.clone(), stop) {
                tracing::error!("bios state reader stopped: {e:#}");
                caught_up.store(true, Ordering::Relaxed);
            }
        })?;
    }
    let batcher_done = Arc::new(AtomicBool::new(false));
    let batcher_handle = {
        let (config, pipeline, producer, done) =
            (config.clone(), pipeline.clone(), producer.clone(), batcher_done.clone());
        std::thread::Builder::new()
            .name("debut-batcher".into())
            .spawn(move || batcher(config, pipeline, producer, rx_analysed, rx_out, started, done))?
    };

    let last_poll = Arc::new(AtomicU64::new(0));
    if !config.service.metrics_addr.is_empty() {
        let (last_poll, caught_up) = (last_poll.clone(), caught_up.clone());
        let health = Arc::new(move || {
            let since = started.elapsed().as_millis() as u64 - last_poll.load(Ordering::Relaxed);
            if !caught_up.load(Ordering::Relaxed) {
                Err("still reading the artist state".to_string())
            } else if since > 10_000 {
                Err(format!("the consumer has not polled for {since} ms"))
            } else {
                Ok(())
            }
        });
        super::metrics::serve(&config.service.metrics_addr, health)?;
    }

    let deadline = Instant::now() + Duration::from_secs(config.service.state_catch_up_s);
    while !caught_up.load(Ordering::Relaxed) && Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !caught_up.load(Ordering::Relaxed) {
        tracing::warn!("artist state not caught up after {} s; taking tracks anyway", config.service.state_catch_up_s);
    }

    let mut group_config = client_config(&config);
    // Static members keep their identity for a whole restart (KIP-345): a long session.
    let session_ms = if config.instance_id.is_some() { "60000" } else { "10000" };
    group_config.set("session.timeout.ms", session_ms);
    if let Some(id) = &config.instance_id {
        group_config.set("group.instance.id", id);
    }
    for (k, v) in &config.kafka {
        group_config.set(k, v); // explicit settings win
    }
    let consumer: BaseConsumer<GroupContext> = group_config
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("heartbeat.interval.ms", "2000")
        .set("statistics.interval.ms", "5000")
        // Oversized records must still be fetched (to be dead-lettered): brokers that do not
        // return a first batch larger than the fetch size would otherwise stall the partition.
        .set("max.partition.fetch.bytes", "67108864")
        .set("fetch.max.bytes", "134217728")
        .set("receive.message.max.bytes", "134218240")
        .create_with_context(GroupContext { tracker: tracker.clone() })
        .context("creating the group consumer")?;
    consumer
        .subscribe(&[&config.topics.releases, &config.topics.bios])
        .context("subscribing to the releases and bios topics")?;
    ready.store(true, Ordering::Relaxed);
    tracing::info!(group = %config.group_id, releases = %config.topics.releases, bios = %config.topics.bios, "consuming");

    let decode_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.service.decode_threads)
        .thread_name(|i| format!("debut-decode-{i}"))
        .build()?;
    let mut last_commit = Instant::now();
    let mut idle_since: Option<Instant> = None;
    let mut paused = false;
    let max_bytes = config.service.max_inflight_bytes;
    while !stop.load(Ordering::Relaxed) {
        last_poll.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
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
            Some(Err(e)) => tracing::warn!("consumer: {e}"),
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
            if let Err(e) = commit(&consumer, &tracker.committable(), CommitMode::Async) {
                tracing::warn!("commit: {e}");
            }
            last_commit = Instant::now();
        }
    }

    // Graceful stop: no new records; finish what is in flight, commit, leave the group.
    tracing::info!(in_flight = tracker.in_flight(), "stopping: draining in-flight records");
    let grace = Instant::now() + Duration::from_secs(config.service.shutdown_grace_s);
    while tracker.in_flight() > 0 && Instant::now() < grace {
        for o in pipeline.flush() {
            let _ = tx_out.send(o);
        }
        let _ = consumer.poll(Duration::from_millis(50));
    }
    drop(tx_analysed);
    drop(tx_out);
    let _ = batcher_handle.join();
    let _ = commit(&consumer, &tracker.committable(), CommitMode::Sync);
    consumer.unsubscribe();
    tracing::info!(left_in_flight = tracker.in_flight(), "stopped");
    Ok(())
}
