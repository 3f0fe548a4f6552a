//! The event ids seen recently, to answer Slack's retries of an event already handled without
//! handling it again: bounded in number and in age.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Event ids seen within `ttl`, at most `capacity` of them (the oldest forgotten first).
#[derive(Debug)]
pub(crate) struct RecentEvents {
    capacity: usize,
    ttl: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// When each id was seen.
    at: HashMap<String, Instant>,
    /// The same, oldest first (an id removed and seen again appears twice: the map says which
    /// entry is current).
    order: VecDeque<(String, Instant)>,
}

impl RecentEvents {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `id` as seen at `now`; `false` if it already was (within the bounds).
    pub(crate) fn first_time(&self, id: &str, now: Instant) -> bool {
        let mut seen = self.seen();
        seen.expire(now, self.ttl);
        if seen.at.contains_key(id) {
            return false;
        }
        seen.at.insert(id.to_owned(), now);
        seen.order.push_back((id.to_owned(), now));
        while seen.at.len() > self.capacity {
            seen.pop_oldest();
        }
        // Entries left behind by `forget` are dropped as they reach the front; keep the queue
        // from growing past twice the capacity meanwhile.
        while seen.order.len() > self.capacity.saturating_mul(2) {
            seen.pop_oldest();
        }
        true
    }

    /// Forgets `id` (its handling failed: Slack's retry must be handled).
    pub(crate) fn forget(&self, id: &str) {
        self.seen().at.remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen().at.len()
    }
}

impl Seen {
    fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some((_, at)) = self.order.front() {
            if now.saturating_duration_since(*at) < ttl {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((id, at)) = self.order.pop_front()
            && self.at.get(&id) == Some(&at)
        {
            self.at.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_within_its_bounds() {
        let t0 = Instant::now();
        let recent = RecentEvents::new(3, Duration::from_secs(60));
        assert!(recent.first_time("Ev1", t0));
        assert!(!recent.first_time("Ev1", t0 + Duration::from_secs(59)));
        assert!(
            recent.first_time("Ev1", t0 + Duration::from_secs(61)),
            "forgotten after its time"
        );
        for id in ["Ev2", "Ev3", "Ev4"] {
            assert!(recent.first_time(id, t0 + Duration::from_secs(62)));
        }
        assert_eq!(recent.len(), 3, "bounded in number");
        assert!(
            recent.first_time("Ev1", t0 + Duration::from_secs(62)),
            "the oldest went first"
        );
        assert!(!recent.first_time("Ev4", t0 + Duration::from_secs(62)));
    }

    #[test]
    fn a_forgotten_id_is_new_again_and_its_old_entry_does_not_evict_it() {
        let t0 = Instant::now();
        let recent = RecentEvents::new(2, Duration::from_secs(60));
        assert!(recent.first_time("Ev1", t0));
        recent.forget("Ev1");
        let t1 = t0 + Duration::from_secs(30);
        assert!(recent.first_time("Ev1", t1));
        // The first entry of Ev1 expires at t0 + 60; the second must survive it.
        assert!(!recent.first_time("Ev1", t0 + Duration::from_secs(70)));
        for i in 0..100 {
            let id = format!("Ev-{i}");
            assert!(recent.first_time(&id, t1));
            recent.forget(&id);
        }
        assert!(
            recent.seen().order.len() <= 4,
            "forgotten entries do not pile up"
        );
    }
}
