//! What `/startz`, `/livez` and `/readyz` answer: one shared record of where the service is.
//!
//! Startup says the process has initialised itself (model and plugins loaded, verified); a
//! startup probe on it restarts a pod whose start hangs, without counting the wait for
//! brokers, topics or partitions, which a restart would not cure. Liveness says the process
//! is not stuck (Kubernetes restarts it otherwise); readiness says it is doing its job: model
//! loaded, topics there, artist state read, partitions assigned, not draining. Each "not
//! ready" carries the reason a person needs.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the consumer loop may go without polling before the process counts as stuck.
/// Generous: a rebalance callback may wait for a transaction commit (60 s at most).
pub const LIVENESS_POLL_GAP: Duration = Duration::from_secs(90);

pub struct Health {
    started: Instant,
    model_loaded: AtomicBool,
    /// Why the service is not taking records yet (brokers, topics, artist state), if it is not.
    waiting: Mutex<Option<String>>,
    /// Milliseconds since start of the consumer loop's last poll (0: not polling yet).
    last_poll_ms: AtomicU64,
    /// Partitions of the input topics this instance owns now.
    assigned: Mutex<BTreeSet<(String, i32)>>,
    draining: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            model_loaded: AtomicBool::new(false),
            waiting: Mutex::new(Some("loading the model".into())),
            last_poll_ms: AtomicU64::new(0),
            assigned: Mutex::new(BTreeSet::new()),
            draining: AtomicBool::new(false),
        }
    }
}

impl Health {
    pub fn model_loaded(&self) {
        self.model_loaded.store(true, Ordering::Relaxed);
        self.set_waiting(Some("connecting to the brokers"));
    }

    /// What the service waits for now (None: nothing, it is taking records).
    pub fn set_waiting(&self, why: Option<&str>) {
        *self.waiting.lock().unwrap_or_else(|p| p.into_inner()) = why.map(str::to_string);
    }

    pub fn polled(&self) {
        self.last_poll_ms.store(self.started.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
    }

    pub fn assign(&self, parts: impl IntoIterator<Item = (String, i32)>) {
        self.assigned.lock().unwrap_or_else(|p| p.into_inner()).extend(parts);
    }

    pub fn revoke(&self, parts: &BTreeSet<(String, i32)>) {
        self.assigned.lock().unwrap_or_else(|p| p.into_inner()).retain(|p| !parts.contains(p));
    }

    /// Whether this instance owns `topic`'s `partition` now.
    pub fn owns(&self, topic: &str, partition: i32) -> bool {
        self.assigned.lock().unwrap_or_else(|p| p.into_inner()).contains(&(topic.to_string(), partition))
    }

    pub fn draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `/startz`: the model and plugins are loaded and verified; what follows is waiting on
    /// the cluster, which readiness reports.
    pub fn started(&self) -> Result<(), String> {
        if self.model_loaded.load(Ordering::Relaxed) { Ok(()) } else { Err("loading the model".into()) }
    }

    /// `/livez`: the consumer loop polls (or has not started: loading and waiting are alive).
    pub fn live(&self) -> Result<(), String> {
        let last = self.last_poll_ms.load(Ordering::Relaxed);
        let gap = (self.started.elapsed().as_millis() as u64).saturating_sub(last);
        if last > 0 && gap > LIVENESS_POLL_GAP.as_millis() as u64 {
            return Err(format!("the consumer has not polled for {gap} ms"));
        }
        Ok(())
    }

    /// `/readyz`: model loaded, nothing waited for, partitions assigned, not draining.
    pub fn ready(&self) -> Result<(), String> {
        self.live()?;
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining: stopping".into());
        }
        if !self.model_loaded.load(Ordering::Relaxed) {
            return Err("loading the model".into());
        }
        if let Some(why) = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(why);
        }
        if self.assigned.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            return Err("no partitions assigned (joining the group, or more instances than partitions)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_start_assignment_and_drain() {
        let h = Health::default();
        assert_eq!(h.ready(), Err("loading the model".into()));
        assert_eq!(h.started(), Err("loading the model".into()));
        assert!(h.live().is_ok(), "loading is alive");
        h.model_loaded();
        assert_eq!(h.started(), Ok(()), "started while the brokers are awaited");
        assert_eq!(h.ready(), Err("connecting to the brokers".into()));
        h.set_waiting(Some("waiting for topics to be created: t"));
        assert_eq!(h.ready(), Err("waiting for topics to be created: t".into()));
        h.set_waiting(None);
        assert!(h.ready().unwrap_err().starts_with("no partitions assigned"));
        h.polled();
        h.assign([("t".to_string(), 0), ("t".to_string(), 1)]);
        assert_eq!(h.ready(), Ok(()));
        assert!(h.owns("t", 1) && !h.owns("t", 2));
        h.revoke(&[("t".to_string(), 0), ("t".to_string(), 1)].into());
        assert!(h.ready().is_err() && !h.owns("t", 1));
        h.assign([("t".to_string(), 0)]);
        h.draining();
        assert_eq!(h.ready(), Err("draining: stopping".into()));
        assert!(h.live().is_ok(), "draining is alive");
    }
}
