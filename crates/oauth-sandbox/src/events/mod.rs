//! The Events API as Slack sends it: signed `event_callback` envelopes POSTed to an app's
//! request URL in the background, retried as Slack retries, with a bounded delivery log.
//!
//! `envelope` builds the events (`tokens_revoked`, `app_uninstalled`) from the state when a
//! token is revoked or the app uninstalled; `deliver` sends them.

mod deliver;
mod envelope;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use crate::limits::Limits;

pub use envelope::Revocation;
pub(crate) use envelope::Whom;

/// Where an event's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Being delivered: an attempt is under way or a retry is waiting.
    Pending,
    /// The app answered 2xx.
    Delivered,
    /// Every attempt failed (the first and all the retries).
    Failed,
    /// The app answered non-2xx with `X-Slack-No-Retry: 1`: not retried.
    NoRetry,
    /// Not sent: `max_pending_events` events were being delivered already.
    Dropped,
    /// The sandbox shut down before the delivery ended.
    Cancelled,
}

/// One HTTP attempt of an event's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryAttempt {
    /// 0 for the first delivery, then the `X-Slack-Retry-Num` sent (1, 2, 3).
    pub retry_num: u32,
    /// The `X-Slack-Retry-Reason` sent (`http_error`, `http_timeout`, `connection_failed`,
    /// `unknown_error`); `None` on the first delivery.
    pub retry_reason: Option<String>,
    /// The `X-Slack-Request-Timestamp` sent (real time, Unix seconds).
    pub request_timestamp: i64,
    /// The app's HTTP status; `None` when it sent none (timeout, connection failure).
    pub status: Option<u16>,
    /// Why the attempt failed (the reason the next retry gives); `None` when it succeeded.
    pub failure: Option<String>,
    /// Whether the app answered `X-Slack-No-Retry: 1`.
    pub no_retry: bool,
    /// How long the attempt took, in milliseconds.
    pub elapsed_ms: u64,
}

/// An event the sandbox sent (or is sending) to an app, as [`Control::events`](crate::Control::events)
/// (`GET /_sandbox/events`) shows it: the envelope as sent (it holds no token or secret; the
/// signature is not kept) and each attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutgoingEvent {
    /// Order of creation, from 1.
    pub seq: u64,
    /// The envelope's `event_id` (`Ev…`), the same in every retry.
    pub event_id: String,
    /// The event's `type` (`tokens_revoked`, `app_uninstalled`).
    pub event_type: String,
    /// The app's client id.
    pub client_id: String,
    /// Where it is POSTed.
    pub request_url: String,
    /// The JSON body POSTed (the same bytes in every attempt).
    pub body: String,
    /// Sandbox clock (Unix seconds) when the event happened (its `event_time`).
    pub event_time: i64,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    /// The attempts so far, first first.
    pub attempts: Vec<DeliveryAttempt>,
}

impl OutgoingEvent {
    /// The envelope, parsed.
    pub fn envelope(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An event built from the state, waiting to be handed to [`Events::send`].
pub(crate) struct PendingEvent {
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) client_id: String,
    pub(crate) request_url: String,
    pub(crate) signing_secret: String,
    pub(crate) body: String,
    pub(crate) event_time: i64,
}

impl std::fmt::Debug for PendingEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEvent")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("client_id", &self.client_id)
            .field("request_url", &self.request_url)
            .field("signing_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The retry policy and bounds of deliveries (from [`Limits`]).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) log_capacity: usize,
    pub(crate) timeout: Duration,
    pub(crate) retry_delays: Vec<Duration>,
}

/// The delivery side, shared by the server, the control API and the delivery tasks.
#[derive(Debug)]
pub(crate) struct Events {
    log: Mutex<Log>,
    permits: Arc<Semaphore>,
    max_pending: usize,
    policy: Policy,
    /// Made at the first event (a sandbox that sends none never pays for a TLS set-up).
    http: OnceLock<Option<reqwest::Client>>,
    runtime: tokio::runtime::Handle,
    closed: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Log {
    seq: u64,
    entries: VecDeque<OutgoingEvent>,
}

impl Events {
    /// Delivery in the background of `runtime`, bounded by `limits`.
    pub(crate) fn new(limits: &Limits, runtime: tokio::runtime::Handle) -> Self {
        Self {
            log: Mutex::default(),
            permits: Arc::new(Semaphore::new(limits.max_pending_events)),
            max_pending: limits.max_pending_events,
            policy: Policy {
                log_capacity: limits.event_log_capacity,
                timeout: limits.event_timeout,
                retry_delays: limits.event_retry_delays.clone(),
            },
            http: OnceLock::new(),
            runtime,
            closed: watch::Sender::new(false),
        }
    }

    /// The HTTP client of deliveries, made on first use; `None` if it cannot be made.
    pub(super) fn http(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                // No redirects (Slack counts them as failures), no proxy from the environment:
                // the request URL is reached as given.
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .timeout(self.policy.timeout)
                    .user_agent("Slackbot 1.0 (+https://api.slack.com/robots)")
                    .build()
                    .map_err(|e| {
                        tracing::warn!(error = %e, "the sandbox cannot send events: no HTTP client");
                    })
                    .ok()
            })
            .as_ref()
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs each event and starts its delivery in the background (never waits for it).
    pub(crate) fn send(self: &Arc<Self>, events: Vec<PendingEvent>) {
        for event in events {
            let permit = Arc::clone(&self.permits).try_acquire_owned().ok();
            let status = match (&permit, self.http(), *self.closed.borrow()) {
                (Some(_), Some(_), false) => DeliveryStatus::Pending,
                (_, _, true) => DeliveryStatus::Cancelled,
                _ => DeliveryStatus::Dropped,
            };
            let seq = self.push(&event, status);
            if let (Some(permit), DeliveryStatus::Pending) = (permit, status) {
                let events = Arc::clone(self);
                self.runtime.spawn(async move {
                    let _permit = permit;
                    events.deliver(seq, event).await;
                });
            } else {
                tracing::warn!(event_id = %event.event_id, ?status, "sandbox event not sent");
            }
        }
    }

    fn push(&self, event: &PendingEvent, status: DeliveryStatus) -> u64 {
        let mut log = self.log();
        log.seq += 1;
        let seq = log.seq;
        if self.policy.log_capacity == 0 {
            return seq;
        }
        while log.entries.len() >= self.policy.log_capacity {
            log.entries.pop_front();
        }
        log.entries.push_back(OutgoingEvent {
            seq,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            client_id: event.client_id.clone(),
            request_url: event.request_url.clone(),
            body: event.body.clone(),
            event_time: event.event_time,
            status,
            attempts: Vec::new(),
        });
        seq
    }

    /// Changes the logged event `seq`, if it is still in the log.
    fn update(&self, seq: u64, change: impl FnOnce(&mut OutgoingEvent)) {
        let mut log = self.log();
        if let Some(entry) = log.entries.iter_mut().rev().find(|e| e.seq == seq) {
            change(entry);
        }
    }

    /// The delivery log, oldest first.
    pub(crate) fn entries(&self) -> Vec<OutgoingEvent> {
        self.log().entries.iter().cloned().collect()
    }

    /// Empties the delivery log (deliveries under way go on, unlogged).
    pub(crate) fn clear(&self) {
        self.log().entries.clear();
    }

    /// (events in the log, deliveries under way).
    pub(crate) fn gauges(&self) -> (usize, usize) {
        let pending = self
            .max_pending
            .saturating_sub(self.permits.available_permits());
        (self.log().entries.len(), pending)
    }

    /// Ends the deliveries under way (logged `cancelled`) and sends no more.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::PendingEvent;

    #[test]
    fn a_pending_event_does_not_show_its_signing_secret() {
        let event = PendingEvent {
            event_id: "Ev1".into(),
            event_type: "app_uninstalled".into(),
            client_id: "c".into(),
            request_url: "http://127.0.0.1:1/".into(),
            signing_secret: "the-signing-secret-value".into(),
            body: "{}".into(),
            event_time: 0,
        };
        let debug = format!("{event:?}");
        assert!(!debug.contains("the-signing-secret-value"), "{debug}");
    }
}
