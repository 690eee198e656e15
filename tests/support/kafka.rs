//! A real Kafka-compatible broker (Tansu, with SQLite storage so it survives restarts), the
//! independent Python client (kafka-python), and `debut run` processes, for the service tests.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

use crate::{repo_root, scratch_dir};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Broker {
    pub port: u16,
    dir: crate::Scratch,
    storage: &'static str,
    /// What the broker tells clients to connect to (default: its own listener).
    advertised: Option<String>,
    child: Option<Child>,
}

impl Broker {
    /// In-memory storage (Tansu 0.6's SQLite storage accepts but never serves records over
    /// about 4 MB; the dead-letter test needs 20 MB ones).
    pub fn start(name: &str) -> Self {
        Self::with_storage(name, "memory://tansu/")
    }

    /// SQLite storage in a scratch directory: survives a broker restart.
    pub fn start_persistent(name: &str) -> Self {
        Self::with_storage(name, "sqlite://tansu.db")
    }

    fn with_storage(name: &str, storage: &'static str) -> Self {
        Self::launch_new(name, storage, None)
    }

    /// Listens on 127.0.0.1 but advertises `advertised` (`host:port`): clients connect there,
    /// e.g. through a TLS terminator in front of it.
    pub fn start_advertising(name: &str, advertised: &str) -> Self {
        Self::launch_new(name, "memory://tansu/", Some(format!("tcp://{advertised}")))
    }

    fn launch_new(name: &str, storage: &'static str, advertised: Option<String>) -> Self {
        let dir = scratch_dir(&format!("tansu-{name}"));
        let mut b = Self { port: free_port(), dir, storage, advertised, child: None };
        b.launch();
        b
    }

    fn launch(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = self.advertised.clone().unwrap_or_else(|| url.clone());
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
                "--storage-engine",
                self.storage,
            ])
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting tansu (the test command installs it: cargo install tansu --features dynostore,libsql)");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "tansu did not start; see {}", self.dir.display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new("tansu")
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &format!("tcp://{}", self.addr()),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "creating {topic}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// kill -9 the broker (its SQLite store stays).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Topic names unique to one test.
pub struct Topics {
    pub releases: String,
    pub bios: String,
    pub embeddings: String,
    pub dlq: String,
}

impl Topics {
    pub fn create(broker: &Broker, prefix: &str, release_partitions: u32) -> Self {
        let t = Self {
            releases: format!("{prefix}.releases"),
            bios: format!("{prefix}.bios"),
            embeddings: format!("{prefix}.embeddings"),
            dlq: format!("{prefix}.dlq"),
        };
        broker.create_topic(&t.releases, release_partitions);
        broker.create_topic(&t.bios, 2);
        broker.create_topic(&t.embeddings, 4);
        broker.create_topic(&t.dlq, 1);
        t
    }
}

fn client() -> Command {
    let mut c = Command::new("python3");
    c.arg(repo_root().join("tests/kafka_client.py"));
    c
}

/// Produces record lines through kafka-python.
pub fn produce(broker: &Broker, topic: &str, records: &[Value]) {
    use std::io::Write;
    let mut child = client()
        .args(["produce", &broker.addr(), topic])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for r in records {
            writeln!(stdin, "{r}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "producing to {topic}: {}", String::from_utf8_lossy(&out.stderr));
}

#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i64,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: serde_json::Map<String, Value>,
    pub value: Option<Vec<u8>>,
}

impl Consumed {
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.value.as_deref().unwrap_or(b"null")).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

/// Consumes until `count` records (or distinct keys) or the timeout, through kafka-python.
pub fn consume(
    broker: &Broker,
    topic: &str,
    group: &str,
    count: usize,
    timeout_s: u64,
    distinct: bool,
) -> Vec<Consumed> {
    let mut cmd = client();
    cmd.args(["consume", &broker.addr(), topic, group, &count.to_string(), &timeout_s.to_string()]);
    if distinct {
        cmd.arg("--distinct-keys");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "consuming {topic}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Consumed {
                partition: v["partition"].as_i64().unwrap(),
                offset: v["offset"].as_i64().unwrap(),
                key: v["key"].as_str().map(String::from),
                headers: v["headers"].as_object().cloned().unwrap_or_default(),
                value: v["value_base64"].as_str().map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap()),
            }
        })
        .collect()
}

/// Sends records in the tests' JSON form through rdkafka (any broker, any client settings) (key, headers, base64 value) with rdkafka.
pub fn send(producer: &BaseProducer, topic: &str, records: &[Value]) {
    for r in records {
        let value = base64::engine::general_purpose::STANDARD.decode(r["value_base64"].as_str().unwrap()).unwrap();
        let mut headers = OwnedHeaders::new();
        for (k, v) in r["headers"].as_object().unwrap() {
            headers = headers.insert(Header { key: k, value: Some(v.as_str().unwrap()) });
        }
        let key = r["key"].as_str().unwrap();
        let mut record = BaseRecord::to(topic).key(key).payload(&value).headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A binary-mode CloudEvents track release of `audio` for `artist`.
pub fn release(track_id: &str, artist_id: &str, content_type: &str, audio: &[u8]) -> Value {
    json!({
        "key": track_id,
        "headers": {
            "ce_specversion": "1.0", "ce_id": format!("ev-{track_id}"), "ce_source": "tests",
            "ce_type": "debut.release.track.v1", "ce_subject": track_id, "ce_artistid": artist_id,
            "ce_title": format!("Title of {track_id}"), "content-type": content_type
        },
        "value_base64": b64(audio)
    })
}

pub fn bio_record(bio: &Value) -> Value {
    json!({"key": bio["artist_id"], "headers": {}, "value_base64": b64(bio.to_string().as_bytes())})
}

/// The bundled bios.
pub fn bios() -> Vec<Value> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(crate::fixture("bios")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
}

/// Valid audio fixtures: (file name, media type, bytes).
pub fn audio_fixtures() -> Vec<(String, &'static str, Vec<u8>)> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(crate::fixture("audio")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let ct = debut::service::demo::media_type_for(p);
            (p.file_name().unwrap().to_string_lossy().into_owned(), ct, std::fs::read(p).unwrap())
        })
        .collect()
}

/// A `debut run` process.
pub struct Debut {
    child: Option<Child>,
    pub metrics_port: u16,
    pub log: PathBuf,
    _dir: crate::Scratch,
}

impl Debut {
    pub fn start(broker: &Broker, topics: &Topics, group: &str, extra_env: &[(&str, &str)]) -> Self {
        Self::start_at(&broker.addr(), topics, group, extra_env)
    }

    /// Against any bootstrap address (the exactly-once test's in-process mock cluster).
    pub fn start_at(brokers: &str, topics: &Topics, group: &str, extra_env: &[(&str, &str)]) -> Self {
        let metrics_port = free_port();
        let dir = scratch_dir(&format!("debut-{group}-{metrics_port}"));
        let log = dir.join("debut.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(crate::debut_bin());
        cmd.args(["run"])
            .env("DEBUT_BROKERS", brokers)
            .env("DEBUT_GROUP_ID", group)
            .env("DEBUT_TOPICS__RELEASES", &topics.releases)
            .env("DEBUT_TOPICS__BIOS", &topics.bios)
            .env("DEBUT_TOPICS__EMBEDDINGS", &topics.embeddings)
            .env("DEBUT_TOPICS__DLQ", &topics.dlq)
            .env("DEBUT_SERVICE__METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("DEBUT_BACKEND", "cpu")
            .env("DEBUT_LOG", "info,librdkafka=warn")
            .env("DEBUT_PLUGINS__LIMITS__DISK_CACHE", "false")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Self { child: Some(cmd.spawn().unwrap()), metrics_port, log, _dir: dir }
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_healthy(&self, timeout: Duration) {
        let t0 = Instant::now();
        while self.http("/readyz").map(|(code, _)| code) != Some(200) {
            assert!(t0.elapsed() < timeout, "debut never became healthy; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A minimal HTTP GET: (status, body).
    pub fn http(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        Some((code, body))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status once it has exited by itself, waiting at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        let c = self.child.as_mut()?;
        while t0.elapsed() < timeout {
            if let Some(status) = c.try_wait().ok().flatten() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the graceful exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let t0 = Instant::now();
            while c.try_wait().ok().flatten().is_none() {
                if t0.elapsed() > Duration::from_secs(60) {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Debut {
    fn drop(&mut self) {
        self.kill9();
    }
}
