//! `debut replay`: the pipeline over a recorded stream, without a broker. Each input line is
//! one record; its `timestamp_ms` drives the bio-wait clock, so a replay reproduces what the
//! service would have written (audio-only then fused when a bio comes late). Deterministic
//! apart from `produced_at`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::TopicsConfig;
use super::input::InRecord;
use super::output::{Out, OutKind};
use super::pipeline::Pipeline;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One recorded record. Key and value as text or base64; a missing value is a tombstone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRecord {
    pub topic: String,
    #[serde(default)]
    pub partition: i32,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub timestamp_ms: Option<i64>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_base64: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub value_base64: Option<String>,
}

impl RecordedRecord {
    pub fn into_record(self, offset: i64) -> anyhow::Result<InRecord> {
        let key = match (self.key, self.key_base64) {
            (_, Some(b)) => Some(B64.decode(b).context("key_base64")?),
            (Some(k), None) => Some(k.into_bytes()),
            (None, None) => None,
        };
        let value = match (self.value, self.value_base64) {
            (_, Some(b)) => Some(B64.decode(b).context("value_base64")?),
            (Some(v), None) => Some(v.into_bytes()),
            (None, None) => None,
        };
        Ok(InRecord {
            topic: self.topic,
            partition: self.partition,
            offset: self.offset.unwrap_or(offset),
            key,
            value,
            headers: self.headers.into_iter().map(|(k, v)| (k, v.map(String::into_bytes))).collect(),
            timestamp_ms: self.timestamp_ms,
        })
    }
}

/// One output line: the topic it would go to, its key, headers and value.
#[derive(Debug, Serialize)]
struct OutputLine {
    topic: String,
    key: Option<String>,
    headers: BTreeMap<String, String>,
    /// The embedding record (embeddings topic).
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
    /// The original value (dead letters), base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}

/// `ce_source` of a replay's output records.
const REPLAY_SOURCE: &str = "/debut/replay";

fn line(out: &Out, topics: &TopicsConfig) -> OutputLine {
    let super::output::WireRecord { key, value, headers } = out.wire(REPLAY_SOURCE, usize::MAX);
    let headers = headers.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
    let key = key.map(|k| String::from_utf8_lossy(&k).into_owned());
    match &out.kind {
        OutKind::Embedding(e) => OutputLine {
            topic: topics.embeddings.clone(),
            key,
            headers,
            value: Some(serde_json::to_value(&e.record).expect("serialises")),
            value_base64: None,
        },
        OutKind::DeadLetter { .. } => OutputLine {
            topic: topics.dlq.clone(),
            key,
            headers,
            value: None,
            value_base64: value.map(|v| B64.encode(v)),
        },
    }
}

/// Counts of what a replay wrote, and where its time went.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    pub records: usize,
    pub embeddings: usize,
    pub dead_letters: usize,
    pub skipped: usize,
    /// Seconds per stage: reading and parsing the input lines, decode to log-mel, the audio
    /// tower with the join and fusion, bios (plugin and text tower), writing the output.
    pub seconds: [(&'static str, f64); 5],
}

/// Times one stage of a replay into `summary.seconds[i]`.
fn timed<T>(summary: &mut ReplaySummary, i: usize, f: impl FnOnce() -> T) -> T {
    let t0 = std::time::Instant::now();
    let out = f();
    summary.seconds[i].1 += t0.elapsed().as_secs_f64();
    out
}

pub fn replay(
    pipeline: &Pipeline,
    topics: &TopicsConfig,
    input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<ReplaySummary> {
    let mut summary = ReplaySummary {
        seconds: [("input", 0.0), ("decode+mel", 0.0), ("tower+fusion", 0.0), ("bios", 0.0), ("output", 0.0)],
        ..Default::default()
    };
    let mut now: u64 = 0;
    let emit = |outs: Vec<Out>, summary: &mut ReplaySummary, output: &mut dyn Write| -> anyhow::Result<()> {
        for o in outs {
            match &o.kind {
                OutKind::Embedding(e) => {
                    summary.embeddings += 1;
                    // As the service reads its own output topic back: audio-only records
                    // become orphans a later bio re-emits.
                    pipeline.observe(e);
                }
                OutKind::DeadLetter { .. } => summary.dead_letters += 1,
            }
            let t0 = std::time::Instant::now();
            serde_json::to_writer(&mut *output, &line(&o, topics))?;
            writeln!(output)?;
            summary.seconds[4].1 += t0.elapsed().as_secs_f64();
        }
        Ok(())
    };
    let mut lines = input.lines().enumerate();
    loop {
        let t0 = std::time::Instant::now();
        let Some((n, text)) = lines.next() else { break };
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let recorded: RecordedRecord = serde_json::from_str(&text).with_context(|| format!("line {}", n + 1))?;
        let record = recorded.into_record(n as i64).with_context(|| format!("line {}", n + 1))?;
        summary.seconds[0].1 += t0.elapsed().as_secs_f64();
        summary.records += 1;
        if let Some(ts) = record.timestamp_ms {
            now = now.max(ts.max(0) as u64);
        }
        emit(pipeline.expire(now), &mut summary, &mut output)?;
        if record.topic == topics.bios {
            let (checked, applied) =
                timed(&mut summary, 3, || (pipeline.check_bio(&record), pipeline.apply_bio(&record)));
            if let Err(dead) = checked {
                emit(vec![*dead], &mut summary, &mut output)?;
            }
            emit(applied, &mut summary, &mut output)?;
            emit(pipeline.reemit(&|_| true), &mut summary, &mut output)?;
        } else if record.topic == topics.releases {
            let outs = match timed(&mut summary, 1, || pipeline.analyse(record)) {
                Ok(a) => timed(&mut summary, 2, || pipeline.embed(vec![a], now)),
                Err(dead) => vec![*dead],
            };
            emit(outs, &mut summary, &mut output)?;
        } else {
            summary.skipped += 1;
            tracing::warn!(topic = %record.topic, "line {}: not a releases or bios record, skipped", n + 1);
        }
    }
    emit(pipeline.flush(), &mut summary, &mut output)?;
    output.flush()?;
    Ok(summary)
}
