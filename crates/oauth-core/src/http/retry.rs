//! When to send a call again, and when never to.

use std::time::{Duration, SystemTime};

use super::HttpResponse;
use crate::error::{RequestSent, TransportError, TransportErrorKind};
use crate::http::Idempotency;

/// How a response looks to the retry policy. Providers supply a classifier because not every
/// provider says "rate limited" with 429 (Slack also answers HTTP 200 `ratelimited`; Notion uses
/// 529 for overload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseClass {
    /// A final answer (success or an error that retrying cannot fix).
    Final,
    /// The server refused to process the call for now: it may be resent, even a single-use grant.
    RateLimited {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A server failure after which the call may or may not have been processed.
    Transient,
}

/// The default classification by status: 429 rate-limited (with `Retry-After`), 500/502/503/504
/// transient, anything else final.
pub fn classify_status(response: &HttpResponse) -> ResponseClass {
    match response.status().as_u16() {
        429 => ResponseClass::RateLimited {
            retry_after: super::retry_after(response.headers(), SystemTime::now()),
        },
        500 | 502 | 503 | 504 => ResponseClass::Transient,
        _ => ResponseClass::Final,
    }
}

/// The outcome of one attempt, as the policy sees it.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// A response arrived and was classified.
    Response(ResponseClass),
    /// The transport failed.
    Transport(&'a TransportError),
}

/// What the policy decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send again after this delay.
    Retry {
        /// The delay before the next attempt.
        after: Duration,
    },
    /// Stop and report this outcome.
    Stop,
}

/// Exponential backoff with jitter, honouring `Retry-After`, bounded in attempts and total delay.
///
/// The rules, in order:
/// - a rate-limited answer (the server did not process the call) is retried for every call, after
///   `Retry-After` if given (giving up at once if it exceeds `max_retry_after`);
/// - a transport failure before the request could be sent is retried for every call;
/// - a transport failure after the request may have been sent, a timeout, or a 5xx answer is
///   retried only for [`Idempotency::Idempotent`] calls. Single-use grants (code exchange, refresh)
///   are never resent once they may have reached the server: the code or refresh token may already
///   be spent, and resending could lose the tokens the first attempt minted;
/// - an oversized body, a request that could not be built, and any other answer are final.
///
/// ```
/// use std::time::Duration;
/// use oauth_core::http::{Decision, Idempotency, Outcome, ResponseClass, RetryPolicy};
/// let policy = RetryPolicy::default();
/// // A refresh answered 503 is not resent: the refresh token may be spent.
/// assert_eq!(policy.decide(Idempotency::SingleUse, 1, Duration::ZERO, Outcome::Response(ResponseClass::Transient)), Decision::Stop);
/// // Rate-limited: resent after Retry-After, even a single-use grant.
/// let limited = Outcome::Response(ResponseClass::RateLimited { retry_after: Some(Duration::from_secs(2)) });
/// assert_eq!(policy.decide(Idempotency::SingleUse, 1, Duration::ZERO, limited), Decision::Retry { after: Duration::from_secs(2) });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_total_delay: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, backoff from 250 ms doubling up to 5 s, at most 30 s of waiting in all, and
    /// `Retry-After` honoured up to 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            max_total_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff delay; each later one doubles, up to `max_backoff`.
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets the longest backoff delay.
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Sets the most time spent waiting between attempts, over the whole call.
    pub fn max_total_delay(mut self, delay: Duration) -> Self {
        self.max_total_delay = delay;
        self
    }

    /// Sets the longest `Retry-After` honoured; a longer one ends the call with the rate-limited
    /// error, whose `retry_after()` tells the caller when to come back.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// The number of attempts, the first included.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The most time one call spends waiting between its attempts (`Retry-After` included).
    pub fn total_delay_bound(&self) -> Duration {
        self.max_total_delay
    }

    /// Decides what follows attempt number `attempt` (1 for the first), after `waited` in earlier
    /// delays.
    pub fn decide(
        &self,
        idempotency: Idempotency,
        attempt: u32,
        waited: Duration,
        outcome: Outcome<'_>,
    ) -> Decision {
        if attempt >= self.max_attempts {
            return Decision::Stop;
        }
        let idempotent = idempotency == Idempotency::Idempotent;
        let delay = match outcome {
            Outcome::Response(ResponseClass::Final) => return Decision::Stop,
            Outcome::Response(ResponseClass::RateLimited { retry_after }) => match retry_after {
                Some(after) if after > self.max_retry_after => return Decision::Stop,
                Some(after) => after,
                None => self.backoff(attempt),
            },
            Outcome::Response(ResponseClass::Transient) if idempotent => self.backoff(attempt),
            Outcome::Response(ResponseClass::Transient) => return Decision::Stop,
            Outcome::Transport(error) => match (error.kind(), error.request_sent()) {
                (
                    TransportErrorKind::BodyTooLarge
                    | TransportErrorKind::Request
                    | TransportErrorKind::Redirected,
                    _,
                ) => {
                    return Decision::Stop;
                }
                (_, RequestSent::No) => self.backoff(attempt),
                (_, RequestSent::Maybe) if idempotent => self.backoff(attempt),
                (_, RequestSent::Maybe) => return Decision::Stop,
            },
        };
        match waited.checked_add(delay) {
            Some(total) if total <= self.max_total_delay => Decision::Retry { after: delay },
            _ => Decision::Stop,
        }
    }

    /// The backoff after attempt `attempt`: `initial · 2^(attempt-1)` capped at `max_backoff`, then
    /// "equal jitter": a uniformly random delay between half of that and all of it.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = base / 2;
        let jitter_range = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = match getrandom::u64() {
            Ok(random) if jitter_range > 0 => random % (jitter_range + 1),
            _ => jitter_range,
        };
        half + Duration::from_nanos(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TransportError;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(4)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1))
            .max_total_delay(Duration::from_secs(10))
            .max_retry_after(Duration::from_secs(5))
    }

    fn retries(idempotency: Idempotency, outcome: Outcome<'_>) -> bool {
        matches!(
            policy().decide(idempotency, 1, Duration::ZERO, outcome),
            Decision::Retry { .. }
        )
    }

    #[test]
    fn decision_table() {
        use Idempotency::{Idempotent, SingleUse};
        let not_sent = TransportError::new(TransportErrorKind::Connect, RequestSent::No, "refused");
        let maybe_sent = TransportError::new(TransportErrorKind::Io, RequestSent::Maybe, "reset");
        let timeout =
            TransportError::new(TransportErrorKind::Timeout, RequestSent::Maybe, "timeout");
        let too_large =
            TransportError::new(TransportErrorKind::BodyTooLarge, RequestSent::Maybe, "big");
        let redirected =
            TransportError::new(TransportErrorKind::Redirected, RequestSent::Maybe, "moved");
        let limited = Outcome::Response(ResponseClass::RateLimited { retry_after: None });
        let transient = Outcome::Response(ResponseClass::Transient);
        let final_ = Outcome::Response(ResponseClass::Final);
        // (idempotency, outcome, retried?)
        let table: &[(Idempotency, Outcome<'_>, bool)] = &[
            (Idempotent, final_, false),
            (SingleUse, final_, false),
            (Idempotent, limited, true),
            (SingleUse, limited, true),
            (Idempotent, transient, true),
            (SingleUse, transient, false),
            (Idempotent, Outcome::Transport(&not_sent), true),
            (SingleUse, Outcome::Transport(&not_sent), true),
            (Idempotent, Outcome::Transport(&maybe_sent), true),
            (SingleUse, Outcome::Transport(&maybe_sent), false),
            (Idempotent, Outcome::Transport(&timeout), true),
            (SingleUse, Outcome::Transport(&timeout), false),
            (Idempotent, Outcome::Transport(&too_large), false),
            (SingleUse, Outcome::Transport(&too_large), false),
            (Idempotent, Outcome::Transport(&redirected), false),
            (SingleUse, Outcome::Transport(&redirected), false),
        ];
        for (idempotency, outcome, expected) in table {
            assert_eq!(
                retries(*idempotency, *outcome),
                *expected,
                "{idempotency:?} {outcome:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = policy();
        let after = |secs| {
            Outcome::Response(ResponseClass::RateLimited {
                retry_after: Some(Duration::from_secs(secs)),
            })
        };
        assert_eq!(
            p.decide(Idempotency::SingleUse, 1, Duration::ZERO, after(3)),
            Decision::Retry {
                after: Duration::from_secs(3)
            }
        );
        // Longer than max_retry_after: give up and let the caller schedule.
        assert_eq!(
            p.decide(Idempotency::SingleUse, 1, Duration::ZERO, after(6)),
            Decision::Stop
        );
        // Would exceed the total delay budget.
        assert_eq!(
            p.decide(Idempotency::SingleUse, 1, Duration::from_secs(8), after(3)),
            Decision::Stop
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let p = policy();
        let transient = Outcome::Response(ResponseClass::Transient);
        assert!(matches!(
            p.decide(Idempotency::Idempotent, 3, Duration::ZERO, transient),
            Decision::Retry { .. }
        ));
        assert_eq!(
            p.decide(Idempotency::Idempotent, 4, Duration::ZERO, transient),
            Decision::Stop
        );
        assert_eq!(
            RetryPolicy::never().decide(Idempotency::Idempotent, 1, Duration::ZERO, transient),
            Decision::Stop
        );
    }

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        let p = policy();
        for attempt in 1..=8 {
            let base =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for _ in 0..50 {
                let delay = p.backoff(attempt);
                assert!(
                    delay >= base / 2 && delay <= base,
                    "attempt {attempt}: {delay:?} vs {base:?}"
                );
            }
        }
    }

    #[test]
    fn classify_status_reads_retry_after() {
        let response = http::Response::builder()
            .status(429)
            .header("retry-after", "7")
            .body(bytes::Bytes::new())
            .unwrap();
        assert_eq!(
            classify_status(&response),
            ResponseClass::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        for (status, class) in [
            (500, ResponseClass::Transient),
            (503, ResponseClass::Transient),
            (400, ResponseClass::Final),
            (200, ResponseClass::Final),
        ] {
            let response = http::Response::builder()
                .status(status)
                .body(bytes::Bytes::new())
                .unwrap();
            assert_eq!(classify_status(&response), class, "{status}");
        }
    }
}
