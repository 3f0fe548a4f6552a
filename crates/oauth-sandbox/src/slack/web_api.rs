//! The rest of the Web API: every method of Slack's method families that the sandbox does not
//! emulate in full (`chat.postMessage`, `conversations.list`, `users.info`, …) checks its token
//! and answers `{"ok":true}`, so that clients which call Slack with managed tokens can be tested
//! offline.

use serde_json::json;

use crate::state::Inner;
use crate::wire::{Reply, Req};

use super::{Args, caller, err, ok};

/// The method families of Slack's Web API (the first part of a method's name).
const FAMILIES: &[&str] = &[
    "admin",
    "api",
    "apps",
    "assistant",
    "bookmarks",
    "bots",
    "calls",
    "canvases",
    "chat",
    "conversations",
    "dialog",
    "dnd",
    "emoji",
    "files",
    "functions",
    "lists",
    "migration",
    "pins",
    "reactions",
    "reminders",
    "rtm",
    "search",
    "stars",
    "team",
    "tooling",
    "usergroups",
    "users",
    "views",
    "workflows",
];

/// Whether `method` (`family.name`, `family.sub.name`) names a Web API method of a known family.
pub(super) fn is_web_api_method(method: &str) -> bool {
    let mut parts = method.split('.');
    let family = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    FAMILIES.contains(&family)
        && !rest.is_empty()
        && rest
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A method the sandbox does not emulate in full: the token is checked as for `auth.test`
/// (live → `{"ok":true}` with `x-oauth-scopes`; expired rotating token → `token_expired`;
/// revoked → `token_revoked`; unknown → `invalid_auth`; none → `not_authed`).
pub(super) fn generic(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (_, grant, _) = match caller(inner, req, args, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(gr) = inner.grants.get(grant) else {
        return err("internal_error");
    };
    let client = gr.client_id.clone();
    let scopes = gr.scopes.join(",");
    ok(&json!({"ok": true}))
        .with_header("x-oauth-scopes", scopes)
        .classify(Some(&client), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names() {
        for method in [
            "chat.postMessage",
            "conversations.list",
            "admin.users.session.reset",
        ] {
            assert!(is_web_api_method(method), "{method}");
        }
        for method in [
            "no.such",
            "chat",
            "chat.",
            "chat.post-message",
            "",
            "chat..x",
        ] {
            assert!(!is_web_api_method(method), "{method}");
        }
    }
}
