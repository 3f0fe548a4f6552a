//! What oauthctl prints: text for people, JSON for scripts, and never a secret except the token
//! that `oauthctl token` exists to print.
#![allow(clippy::print_stdout)]

use oauth_facade::{AccessToken, RefreshToken};

use crate::Failure;

/// Prints `text` or `json` to stdout.
pub(crate) fn show(json_mode: bool, text: &str, json: serde_json::Value) {
    if json_mode {
        println!("{json}");
    } else {
        println!("{text}");
    }
}

/// Prints a failure to stderr (as JSON with `--json`), once, with what to do.
pub(crate) fn failure(json_mode: bool, failure: &Failure) {
    if json_mode {
        eprintln!(
            "{}",
            serde_json::json!({
                "error": failure.to_string(),
                "kind": failure.kind(),
                "exit_code": failure.exit_code(),
            })
        );
    } else if let Failure::Usage(message) = failure {
        eprintln!("error: {message}\n\nFor more information, try '--help'.");
    } else {
        eprintln!("oauthctl: {failure}");
    }
}

/// A warning on stderr (as JSON with `--json`): what happened did not stop the command.
pub(crate) fn warning(json_mode: bool, text: &str) {
    if json_mode {
        eprintln!("{}", serde_json::json!({ "warning": text }));
    } else {
        eprintln!("oauthctl: warning: {text}");
    }
}

/// The visible, non-secret prefix of a token (its kind), if it has a known one.
fn kind_prefix(token: &str) -> &'static str {
    const PREFIXES: &[&str] = &[
        "xoxe.xoxb-",
        "xoxe.xoxp-",
        "xoxe-",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xoxr-",
        "ntn_",
        "secret_",
    ];
    PREFIXES
        .iter()
        .find(|p| token.starts_with(**p))
        .copied()
        .unwrap_or("")
}

/// A token as the demo shows it: its kind prefix and a fingerprint, never the value.
pub(crate) fn redacted(token: &AccessToken) -> String {
    format!(
        "{}…[sha256:{}]",
        kind_prefix(token.expose_secret()),
        token.fingerprint()
    )
}

/// A refresh token as the demo shows it.
pub(crate) fn redacted_refresh(token: &RefreshToken) -> String {
    format!(
        "{}…[sha256:{}]",
        kind_prefix(token.expose_secret()),
        token.fingerprint()
    )
}
