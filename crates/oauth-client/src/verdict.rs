//! What a provider's answer says about the access token that was sent, for any HTTP layer that
//! injects managed tokens: the rules the reqwest middleware ([`ManagedAuth`](crate::ManagedAuth))
//! applies, in one place.
//!
//! | Provider | Answer | Verdict |
//! | --- | --- | --- |
//! | Slack | HTTP 200 `{"ok":false,"error":"token_expired"}`, `invalid_auth`, `not_authed` | [`TokenVerdict::Rejected`]: refresh, then send once more |
//! | Slack | HTTP 200 `{"ok":false,"error":"token_revoked"}`, `account_inactive` | [`TokenVerdict::Revoked`]: the user must install again |
//! | Notion | HTTP 401 (`unauthorized`) | [`TokenVerdict::Rejected`] (a refresh tells a rotated token from a revoked one) |
//! | both | anything else | [`TokenVerdict::Accepted`]: the answer is the caller's, whatever it says |
//!
//! Slack says all of this inside HTTP 200 bodies, so a Slack answer's body is read (once, and
//! handed on unchanged); a Notion answer's body never is.

use http::{HeaderMap, StatusCode};
use oauth_core::ProviderId;
use serde::Deserialize;

/// The provider's word on the access token a request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenVerdict {
    /// The token was taken (the call itself may still have failed for other reasons).
    Accepted,
    /// The token was refused, but the grant may be good (expired early, rotated elsewhere): report
    /// it to the manager, and a refreshed token may succeed. The provider's code.
    Rejected(String),
    /// The token and its grant are gone (revoked, deactivated): the provider's code.
    Revoked(String),
}

/// Whether the verdict on an answer of `provider` with `status` and `headers` needs its body:
/// only Slack's JSON answers do.
pub fn needs_body(provider: &ProviderId, status: StatusCode, headers: &HeaderMap) -> bool {
    provider.as_str() == "slack"
        && status.is_success()
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// The verdict on an answer of `provider`: its status and, when [`needs_body`] said so, its body.
pub fn verdict(provider: &ProviderId, status: StatusCode, body: Option<&[u8]>) -> TokenVerdict {
    match provider.as_str() {
        "slack" => body.map_or(TokenVerdict::Accepted, slack),
        "notion" if status == StatusCode::UNAUTHORIZED => {
            TokenVerdict::Rejected("unauthorized".to_owned())
        }
        _ => TokenVerdict::Accepted,
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<String>,
}

fn slack(body: &[u8]) -> TokenVerdict {
    let Ok(Envelope {
        ok: Some(false),
        error: Some(code),
    }) = serde_json::from_slice::<Envelope>(body)
    else {
        return TokenVerdict::Accepted;
    };
    match code.as_str() {
        "token_expired" | "invalid_auth" | "not_authed" => TokenVerdict::Rejected(code),
        "token_revoked" | "account_inactive" => TokenVerdict::Revoked(code),
        _ => TokenVerdict::Accepted,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SLACK: ProviderId = ProviderId::from_static("slack");
    const NOTION: ProviderId = ProviderId::from_static("notion");

    #[test]
    fn every_row_of_the_table() {
        let slack_body = |body: &str| verdict(&SLACK, StatusCode::OK, Some(body.as_bytes()));
        for code in ["token_expired", "invalid_auth", "not_authed"] {
            let body = format!(r#"{{"ok":false,"error":"{code}"}}"#);
            assert_eq!(slack_body(&body), TokenVerdict::Rejected(code.into()));
        }
        for code in ["token_revoked", "account_inactive"] {
            let body = format!(r#"{{"ok":false,"error":"{code}"}}"#);
            assert_eq!(slack_body(&body), TokenVerdict::Revoked(code.into()));
        }
        for body in [
            r#"{"ok":true}"#,
            r#"{"ok":false,"error":"channel_not_found"}"#,
            r#"{"ok":false,"error":"ratelimited"}"#,
            r#"{"error":"token_expired"}"#,
            "<html>",
            "",
            r#"{"ok":false,"error":5}"#,
        ] {
            assert_eq!(slack_body(body), TokenVerdict::Accepted, "{body}");
        }
        assert_eq!(
            verdict(&SLACK, StatusCode::OK, None),
            TokenVerdict::Accepted
        );
        assert_eq!(
            verdict(&NOTION, StatusCode::UNAUTHORIZED, None),
            TokenVerdict::Rejected("unauthorized".into())
        );
        for status in [
            StatusCode::OK,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert_eq!(verdict(&NOTION, status, None), TokenVerdict::Accepted);
        }
    }

    #[test]
    fn only_slack_json_answers_are_read() {
        let mut json = HeaderMap::new();
        json.insert(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(needs_body(&SLACK, StatusCode::OK, &json));
        assert!(!needs_body(&SLACK, StatusCode::TOO_MANY_REQUESTS, &json));
        assert!(!needs_body(&SLACK, StatusCode::OK, &HeaderMap::new()));
        assert!(!needs_body(&NOTION, StatusCode::OK, &json));
    }
}
