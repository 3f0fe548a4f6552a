//! One event's delivery: POSTed signed as Slack signs (`X-Slack-Signature: v0=…`, HMAC-SHA256 of
//! `v0:{timestamp}:{body}` keyed by the app's signing secret, the timestamp real time at each
//! attempt), then retried after the policy's delays with `X-Slack-Retry-Num` and
//! `X-Slack-Retry-Reason` until the app answers 2xx, answers `X-Slack-No-Retry: 1`, or the
//! retries are spent.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::{DeliveryAttempt, DeliveryStatus, Events, PendingEvent};

/// `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed by `secret`.
pub(crate) fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body.as_bytes());
    let mut out = String::with_capacity(67);
    out.push_str("v0=");
    for byte in mac.finalize().into_bytes() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What one attempt came to.
struct Outcome {
    status: Option<u16>,
    failure: Option<&'static str>,
    no_retry: bool,
}

impl Events {
    /// Delivers `event` (logged as `seq`) with its retries; returns when it is settled.
    pub(super) async fn deliver(&self, seq: u64, event: PendingEvent) {
        let Some(http) = self.http() else {
            return;
        };
        let mut closed = self.closed.subscribe();
        let mut reason: Option<&'static str> = None;
        let retries = self.policy.retry_delays.len();
        for retry_num in 0..=retries {
            if let Some(delay) = retry_num
                .checked_sub(1)
                .and_then(|i| self.policy.retry_delays.get(i))
            {
                tokio::select! {
                    () = tokio::time::sleep(*delay) => {}
                    _ = closed.wait_for(|closed| *closed) => {
                        self.update(seq, |e| e.status = DeliveryStatus::Cancelled);
                        return;
                    }
                }
            }
            let timestamp = real_now();
            let mut request = http
                .post(&event.request_url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("x-slack-request-timestamp", timestamp.to_string())
                .header(
                    "x-slack-signature",
                    signature(&event.signing_secret, timestamp, &event.body),
                )
                .body(event.body.clone());
            if let Some(reason) = reason {
                request = request
                    .header("x-slack-retry-num", retry_num.to_string())
                    .header("x-slack-retry-reason", reason);
            }
            let started = Instant::now();
            let outcome = tokio::select! {
                result = request.send() => classify(result),
                _ = closed.wait_for(|closed| *closed) => {
                    self.update(seq, |e| e.status = DeliveryStatus::Cancelled);
                    return;
                }
            };
            let attempt = DeliveryAttempt {
                retry_num: u32::try_from(retry_num).unwrap_or(u32::MAX),
                retry_reason: reason.map(str::to_owned),
                request_timestamp: timestamp,
                status: outcome.status,
                failure: outcome.failure.map(str::to_owned),
                no_retry: outcome.no_retry,
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
            let settled = match outcome.failure {
                None => Some(DeliveryStatus::Delivered),
                Some(_) if outcome.no_retry => Some(DeliveryStatus::NoRetry),
                Some(_) if retry_num == retries => Some(DeliveryStatus::Failed),
                Some(_) => None,
            };
            tracing::debug!(event_id = %event.event_id, retry_num, status = ?outcome.status, failure = ?outcome.failure, "sandbox event delivery attempt");
            self.update(seq, |e| {
                e.attempts.push(attempt);
                if let Some(status) = settled {
                    e.status = status;
                }
            });
            if settled.is_some() {
                return;
            }
            reason = outcome.failure;
        }
    }
}

/// Slack's retry reasons: a non-2xx answer is `http_error` (a redirect too: none is followed),
/// no answer in time `http_timeout`, no connection `connection_failed`, anything else
/// `unknown_error`.
fn classify(result: reqwest::Result<reqwest::Response>) -> Outcome {
    match result {
        Ok(response) => {
            let no_retry = response
                .headers()
                .get("x-slack-no-retry")
                .is_some_and(|v| v.as_bytes() == b"1");
            let ok = response.status().is_success();
            Outcome {
                status: Some(response.status().as_u16()),
                failure: (!ok).then_some("http_error"),
                no_retry,
            }
        }
        Err(e) => {
            let failure = if e.is_timeout() {
                "http_timeout"
            } else if e.is_connect() {
                "connection_failed"
            } else {
                "unknown_error"
            };
            Outcome {
                status: None,
                failure: Some(failure),
                no_retry: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signs_as_slack_documents() {
        // Slack's "Verifying requests from Slack" example (secret, timestamp, body, signature).
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            signature("8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
