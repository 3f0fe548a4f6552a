//! The bounds that keep a long-running sandbox (a server users run in their CI) within a fixed
//! amount of memory, connections and file descriptors, and the gauges that show them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The sandbox's bounds, set with [`SandboxBuilder::limits`](crate::SandboxBuilder::limits)
/// (the binary: `--limit NAME=VALUE`, with the names below).
///
/// | Field (`--limit` name) | Default | Bound |
/// | --- | --- | --- |
/// | `request_log_capacity` | 10 000 | requests kept in the log (the oldest go first; 0: no log) |
/// | `request_log_body_bytes` | 4 KiB | bytes of each body kept in the log (the rest is cut; [`RecordedRequest::body_len`](crate::RecordedRequest::body_len) keeps the length received) |
/// | `max_request_body_bytes` | 1 MiB | a larger request body is refused with 413 before it is routed |
/// | `max_connections` | 512 | connections served at once; one more is answered 503 with `Retry-After: 1` and closed |
/// | `idle_timeout_secs` | 30 | time to send a request's head, on a new or a kept-alive connection; then the connection is closed |
/// | `body_timeout_secs` | 10 | time to send a request's body once its head is in; then 408 and the connection is closed |
/// | `state_retention_secs` | 60 | real time (not the sandbox clock) a dead code or token (used, expired or revoked) is remembered; then it is forgotten, and a token reads as unknown |
/// | `event_log_capacity` | 1 000 | events kept in the delivery log ([`Control::events`](crate::Control::events); the oldest go first) |
/// | `max_pending_events` | 256 | events being delivered at once, retries included; one more is not sent and is logged `dropped` |
/// | `event_timeout_secs` | 3 | time the app has to answer one delivery (Slack's 3 s); then it counts as `http_timeout` |
/// | `event_retry_delays_secs` | `0,60,300` | the waits before each retry (Slack's: about at once, 1 min, 5 min); their number is the number of retries (Slack's 3) |
///
/// With the defaults, the log holds at most about 10 000 × (4 KiB + the headers) ≈ 50 MiB; the
/// state holds the live codes (each lives 10 minutes of the sandbox clock) and tokens, plus the
/// dead ones of the last minute; the event log at most 1 000 × (the envelope, under 2 KiB, and
/// its attempts).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Requests kept in the log.
    pub request_log_capacity: usize,
    /// Bytes of each body kept in the log.
    pub request_log_body_bytes: usize,
    /// The largest request body accepted.
    pub max_request_body_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed to send a request's head (also how long a kept-alive connection may idle).
    pub idle_timeout: Duration,
    /// Time allowed to send a request's body.
    pub body_timeout: Duration,
    /// Real time a dead code or token is remembered.
    pub state_retention: Duration,
    /// Events kept in the delivery log.
    pub event_log_capacity: usize,
    /// Events being delivered at once (with their retries).
    pub max_pending_events: usize,
    /// Time the app has to answer one delivery of an event.
    pub event_timeout: Duration,
    /// The waits before each retry of an event's delivery (as many retries as entries).
    pub event_retry_delays: Vec<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_log_capacity: 10_000,
            request_log_body_bytes: 4 * 1024,
            max_request_body_bytes: 1024 * 1024,
            max_connections: 512,
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            state_retention: Duration::from_secs(60),
            event_log_capacity: 1_000,
            max_pending_events: 256,
            event_timeout: Duration::from_secs(3),
            event_retry_delays: vec![
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
        }
    }
}

impl Limits {
    /// Sets one limit by its `--limit` name (counts and bytes as integers, `_secs` as seconds,
    /// fractions allowed; `event_retry_delays_secs` a comma-separated list, empty for no retry).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let count = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("--limit {name}={value}: not a whole number ({e})"))
        };
        let seconds = || {
            value
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| format!("--limit {name}={value}: not a number of seconds"))
        };
        match name {
            "request_log_capacity" => self.request_log_capacity = count()?,
            "request_log_body_bytes" => self.request_log_body_bytes = count()?,
            "max_request_body_bytes" => self.max_request_body_bytes = count()?,
            "max_connections" => self.max_connections = count()?,
            "idle_timeout_secs" => self.idle_timeout = seconds()?,
            "body_timeout_secs" => self.body_timeout = seconds()?,
            "state_retention_secs" => self.state_retention = seconds()?,
            "event_log_capacity" => self.event_log_capacity = count()?,
            "max_pending_events" => self.max_pending_events = count()?,
            "event_timeout_secs" => self.event_timeout = seconds()?,
            "event_retry_delays_secs" => {
                self.event_retry_delays = value
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| {
                        s.trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(|s| Duration::try_from_secs_f64(s).ok())
                            .ok_or_else(|| {
                                format!("--limit {name}={value}: `{s}` is not a number of seconds")
                            })
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => {
                return Err(format!(
                    "unknown limit `{name}` (known: request_log_capacity, request_log_body_bytes, \
                     max_request_body_bytes, max_connections, idle_timeout_secs, \
                     body_timeout_secs, state_retention_secs, event_log_capacity, \
                     max_pending_events, event_timeout_secs, event_retry_delays_secs)"
                ));
            }
        }
        Ok(())
    }
}

/// The connection gauges, shared by the accept loop and the control API.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    open: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
}

impl Connections {
    /// Counts one more open connection, if fewer than `max` are open; the guard counts it closed.
    pub(crate) fn try_open(self: &std::sync::Arc<Self>, max: usize) -> Option<OpenConnection> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            });
        match admitted {
            Ok(before) => {
                self.peak.fetch_max(before + 1, Ordering::AcqRel);
                Some(OpenConnection(std::sync::Arc::clone(self)))
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::AcqRel);
                None
            }
        }
    }

    /// (open now, most open at once, refused for the limit).
    pub(crate) fn read(&self) -> (usize, usize, u64) {
        (
            self.open.load(Ordering::Acquire),
            self.peak.load(Ordering::Acquire),
            self.refused.load(Ordering::Acquire),
        )
    }
}

/// One admitted connection; dropping it counts it closed.
#[derive(Debug)]
pub(crate) struct OpenConnection(std::sync::Arc<Connections>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}
