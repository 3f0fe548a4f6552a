//! The event ids seen recently, to answer Slack's retries of an event already handled without
//! handling it again (and a retry that arrives while the first delivery is still at work with a
//! failure, so that Slack tries once more): bounded in number and in age. And, when the replicas
//! share one, the store of handled events ([`SharedDedup`]), so that a retry reaching another
//! replica is not handed to the app again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_core::{Clock, Result, StateId, StateUse, UsedStates};
use oauth_slack::EventCallback;

/// Event ids seen within `ttl`, at most `capacity` of them (the oldest forgotten first).
#[derive(Debug)]
pub(crate) struct RecentEvents {
    capacity: usize,
    ttl: Duration,
    seen: Mutex<Seen>,
}

/// What an event id's arrival is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Not seen (within the bounds): handle it.
    New,
    /// Seen, and its first delivery is still being accepted (its tokens removed).
    InProgress,
    /// Seen and accepted.
    Done,
}

#[derive(Debug, Default)]
struct Seen {
    /// When each id was seen, and whether it was accepted.
    at: HashMap<String, (Instant, bool)>,
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

    /// Records `id` as seen at `now` (in progress) if it was not.
    pub(crate) fn arrive(&self, id: &str, now: Instant) -> Arrival {
        let mut seen = self.seen();
        seen.expire(now, self.ttl);
        if let Some((_, done)) = seen.at.get(id) {
            return if *done {
                Arrival::Done
            } else {
                Arrival::InProgress
            };
        }
        seen.at.insert(id.to_owned(), (now, false));
        seen.order.push_back((id.to_owned(), now));
        while seen.at.len() > self.capacity {
            seen.pop_oldest();
        }
        // Entries left behind by `forget` are dropped as they reach the front; keep the queue
        // from growing past twice the capacity meanwhile.
        while seen.order.len() > self.capacity.saturating_mul(2) {
            seen.pop_oldest();
        }
        Arrival::New
    }

    /// Marks `id` accepted: its retries are answered as done.
    pub(crate) fn done(&self, id: &str) {
        if let Some((_, done)) = self.seen().at.get_mut(id) {
            *done = true;
        }
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
            && self.at.get(&id).map(|(seen, _)| *seen) == Some(at)
        {
            self.at.remove(&id);
        }
    }
}

/// The handled events, shared by the replicas.
pub(super) struct SharedDedup {
    pub(super) used: Arc<dyn UsedStates>,
    pub(super) ttl: Duration,
    pub(super) clock: Arc<dyn Clock>,
}

impl SharedDedup {
    /// Whether this is the first record of the event, by any replica.
    pub(super) async fn first(&self, callback: &EventCallback) -> Result<bool> {
        // Namespaced, so that an event id never meets an install flow's state in the same table.
        let id = StateId::of(&format!(
            "slack-event:{}:{}",
            callback.api_app_id.as_deref().unwrap_or_default(),
            callback.event_id
        ));
        match self
            .used
            .record_use(&id, self.clock.now() + self.ttl)
            .await?
        {
            StateUse::First => Ok(true),
            StateUse::Replayed => Ok(false),
            StateUse::Expired => {
                // Only when the store's clock is a dedup TTL ahead of ours: not recorded, so
                // handing it over may run the handler twice; losing the event would be worse.
                tracing::warn!(event_id = %callback.event_id, "the shared dedup store's clock is far ahead of this replica's: check NTP");
                Ok(true)
            }
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
        assert_eq!(recent.arrive("Ev1", t0), Arrival::New);
        assert_eq!(recent.arrive("Ev1", t0), Arrival::InProgress);
        recent.done("Ev1");
        assert_eq!(
            recent.arrive("Ev1", t0 + Duration::from_secs(59)),
            Arrival::Done
        );
        assert_eq!(
            recent.arrive("Ev1", t0 + Duration::from_secs(61)),
            Arrival::New,
            "forgotten after its time"
        );
        for id in ["Ev2", "Ev3", "Ev4"] {
            assert_eq!(
                recent.arrive(id, t0 + Duration::from_secs(62)),
                Arrival::New
            );
        }
        assert_eq!(recent.len(), 3, "bounded in number");
        assert_eq!(
            recent.arrive("Ev1", t0 + Duration::from_secs(62)),
            Arrival::New,
            "the oldest went first"
        );
        assert_eq!(
            recent.arrive("Ev4", t0 + Duration::from_secs(62)),
            Arrival::InProgress
        );
    }

    #[test]
    fn a_forgotten_id_is_new_again_and_its_old_entry_does_not_evict_it() {
        let t0 = Instant::now();
        let recent = RecentEvents::new(2, Duration::from_secs(60));
        assert_eq!(recent.arrive("Ev1", t0), Arrival::New);
        recent.forget("Ev1");
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(recent.arrive("Ev1", t1), Arrival::New);
        // The first entry of Ev1 expires at t0 + 60; the second must survive it.
        assert_eq!(
            recent.arrive("Ev1", t0 + Duration::from_secs(70)),
            Arrival::InProgress
        );
        for i in 0..100 {
            let id = format!("Ev-{i}");
            assert_eq!(recent.arrive(&id, t1), Arrival::New);
            recent.forget(&id);
        }
        assert!(
            recent.seen().order.len() <= 4,
            "forgotten entries do not pile up"
        );
    }
}
