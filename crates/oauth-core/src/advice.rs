//! [`advice`]: what to do about an error of each [`ErrorKind`], the sentence every error message
//! ends with.

use std::time::Duration;

use crate::error::ErrorKind;

/// What to do about an error of `kind`, as a short sentence for messages.
pub fn advice(kind: ErrorKind, retry_after: Option<Duration>) -> String {
    match kind {
        ErrorKind::Retryable => "a transient provider failure: retry later with backoff".into(),
        ErrorKind::RateLimited => match retry_after {
            Some(after) => format!("rate limited: retry after {}s", after.as_secs()),
            None => "rate limited: retry later".into(),
        },
        ErrorKind::ReauthorizationRequired => {
            "the grant is no longer valid: the user must authorize the app again".into()
        }
        ErrorKind::TokenRejected => {
            "the provider refused this access token (expired early, or rotated elsewhere): report it to the token manager (report_rejected_token) and ask again; the next call refreshes".into()
        }
        ErrorKind::InvalidRequest => {
            "the request was rejected: retrying it unchanged will not help".into()
        }
        ErrorKind::Configuration => {
            "check the client id, client secret, redirect URI, scopes and base URL".into()
        }
        ErrorKind::Transport => "a network failure: check connectivity and retry".into(),
        ErrorKind::Timeout => "the call timed out: retry, or raise the timeout".into(),
        ErrorKind::UndecodableResponse => {
            "the response was not the provider's API format (a proxy or an outage?): retry later"
                .into()
        }
        ErrorKind::AuthorizationDenied => {
            "the user or the provider refused the authorization".into()
        }
        ErrorKind::InvalidCallback => {
            "the callback cannot be trusted: start the authorization again".into()
        }
        ErrorKind::NotFound => "install the app for this workspace first".into(),
        ErrorKind::Storage => {
            "check the token store (database reachable, disk, permissions) and retry".into()
        }
        ErrorKind::Internal => "a local failure".into(),
    }
}
