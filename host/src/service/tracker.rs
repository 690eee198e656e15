//! Which input offsets may be committed: per partition, the lowest offset still in flight
//! (or one past the highest seen). An input is in flight from its consumption until every
//! output it leads to is acknowledged by the broker; so a committed offset never passes an
//! input whose output could still be lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::input::Position;

#[derive(Default)]
struct Partition {
    in_flight: BTreeMap<i64, usize>,
    /// One past the highest offset seen.
    next: Option<i64>,
    /// Last offset handed out for commit.
    committed: Option<i64>,
}

#[derive(Default)]
pub struct OffsetTracker {
    parts: Mutex<HashMap<(String, i32), Partition>>,
    bytes: AtomicUsize,
}

impl OffsetTracker {
    fn parts(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Partition>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A record was consumed; `bytes` count towards the in-flight memory bound.
    pub fn begin(&self, pos: &Position, bytes: usize) {
        let mut parts = self.parts();
        let p = parts.entry((pos.topic.clone(), pos.partition)).or_default();
        p.in_flight.insert(pos.offset, bytes);
        p.next = Some(p.next.map_or(pos.offset + 1, |n| n.max(pos.offset + 1)));
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Everything a record led to is acknowledged (unknown positions are ignored: a revoked
    /// partition, or an output without an input of its own).
    pub fn complete(&self, pos: &Position) {
        let mut parts = self.parts();
        if let Some(p) = parts.get_mut(&(pos.topic.clone(), pos.partition))
            && let Some(bytes) = p.in_flight.remove(&pos.offset)
        {
            self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Whether `pos` was consumed here and is not yet complete (nor revoked).
    pub fn is_in_flight(&self, pos: &Position) -> bool {
        self.parts().get(&(pos.topic.clone(), pos.partition)).is_some_and(|p| p.in_flight.contains_key(&pos.offset))
    }

    pub fn in_flight_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.parts().values().map(|p| p.in_flight.len()).sum()
    }

    /// Offsets to commit that moved since the last call: (topic, partition, next offset).
    pub fn committable(&self) -> Vec<(String, i32, i64)> {
        let mut out = Vec::new();
        for ((topic, partition), p) in self.parts().iter_mut() {
            let at = p.in_flight.keys().next().copied().or(p.next);
            if let Some(at) = at
                && p.committed != Some(at)
            {
                p.committed = Some(at);
                out.push((topic.clone(), *partition, at));
            }
        }
        out
    }

    /// Commit positions for these partitions right now (a rebalance is taking them away),
    /// then forget them: late completions of their records are ignored.
    pub fn revoke(&self, partitions: &BTreeSet<(String, i32)>) -> Vec<(String, i32, i64)> {
        let mut parts = self.parts();
        let mut out = Vec::new();
        for key in partitions {
            if let Some(p) = parts.remove(key) {
                let freed: usize = p.in_flight.values().sum();
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
                if let Some(at) = p.in_flight.keys().next().copied().or(p.next) {
                    out.push((key.0.clone(), key.1, at));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(o: i64) -> Position {
        Position { topic: "t".into(), partition: 0, offset: o }
    }

    #[test]
    fn commits_stop_below_the_lowest_in_flight_offset() {
        let t = OffsetTracker::default();
        for o in 10..15 {
            t.begin(&pos(o), 100);
        }
        assert_eq!(t.in_flight_bytes(), 500);
        t.complete(&pos(11));
        t.complete(&pos(12));
        assert_eq!(t.committable(), vec![("t".into(), 0, 10)]);
        t.complete(&pos(10));
        assert_eq!(t.committable(), vec![("t".into(), 0, 13)]);
        assert!(t.committable().is_empty(), "unchanged positions are not committed again");
        t.complete(&pos(13));
        t.complete(&pos(14));
        assert_eq!(t.committable(), vec![("t".into(), 0, 15)]);
        assert_eq!(t.in_flight_bytes(), 0);
    }

    #[test]
    fn revoked_partitions_are_forgotten() {
        let t = OffsetTracker::default();
        t.begin(&pos(3), 10);
        t.begin(&pos(4), 10);
        t.complete(&pos(3));
        let r = t.revoke(&[("t".to_string(), 0)].into());
        assert_eq!(r, vec![("t".into(), 0, 4)]);
        t.complete(&pos(4));
        assert_eq!(t.in_flight_bytes(), 0);
        assert!(t.committable().is_empty());
    }
}
