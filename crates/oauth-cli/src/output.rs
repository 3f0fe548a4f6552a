//! What oauthctl prints: text for people, JSON for scripts, and never a secret except the token
//! that `oauthctl token` exists to print.
#![allow(clippy::print_stdout)]

use oauth_facade::{AccessToken, Error, RefreshToken};

/// Prints `text` or `json` to stdout.
pub(crate) fn show(json_mode: bool, text: &str, json: serde_json::Value) {
    if json_mode {
        println!("{json}");
    } else {
        println!("{text}");
    }
}

/// Prints an error to stderr (as JSON with `--json`), with its kind and what to do.
pub(crate) fn error(json_mode: bool, error: &Error) {
    if json_mode {
        eprintln!(
            "{}",
            serde_json::json!({
                "error": error.to_string(),
                "kind": format!("{:?}", error.kind()),
                "exit_code": crate::exit_code(error),
            })
        );
    } else {
        eprintln!("oauthctl: {error}");
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
