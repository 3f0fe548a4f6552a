//! Masking of secrets in response snippets kept for diagnostics.
//!
//! An undecodable response is worth quoting in the error (it is often a proxy's HTML page), but it
//! may also be a provider answer that carries tokens. [`redact_snippet`] masks, without knowing the
//! provider: JSON string values under secret-sounding keys, values after such keys in any text
//! (`access_token=…`, `"refresh_token":"…` in truncated JSON), and every long run of token-like
//! characters.

/// The mask written in place of a secret.
pub const MASK: &str = "[redacted]";

/// Key fragments that mark a value as secret (matched case-insensitively, as substrings).
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "verifier",
    "password",
    "assertion",
    "authorization",
    "webhook",
    "url",
    "key",
];

/// Runs of token-like characters at least this long are masked wherever they appear.
const LONG_RUN: usize = 20;

/// How much of the body is examined; the snippet is cut to `max_chars` afterwards.
const SCAN_LIMIT: usize = 8 * 1024;

/// A printable, secret-free snippet of at most `max_chars` characters from a response body.
///
/// ```
/// use oauth_core::redact::redact_snippet;
/// let body = br#"{"ok":true,"access_token":"xoxb-1234","team":{"id":"T1"}}"#;
/// let snippet = redact_snippet(body, 200);
/// assert!(!snippet.contains("xoxb-1234"));
/// assert!(snippet.contains("T1"));
/// ```
pub fn redact_snippet(body: &[u8], max_chars: usize) -> String {
    let scanned = &body[..body.len().min(SCAN_LIMIT)];
    let text = String::from_utf8_lossy(scanned);
    let redacted = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(mut value) => {
            redact_json(&mut value);
            mask_text(&value.to_string())
        }
        Err(_) => mask_text(&text),
    };
    let mut out: String = redacted
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    if redacted.chars().count() > max_chars || body.len() > SCAN_LIMIT {
        out.push('…');
    }
    out
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|k| key.contains(k)) || key.contains("code")
}

/// Whether `value`, found under the secret-sounding `key`, must be masked. Keys that are secret
/// only because they say "code" keep plain error codes (`"code":"validation_error"`, `"code": 400`)
/// readable; authorization codes always have digits or mixed case.
fn must_mask(key: &str, value: &str) -> bool {
    if value == MASK {
        return false;
    }
    let lower = key.to_ascii_lowercase();
    let code_only = lower.contains("code") && !SECRET_KEYS.iter().any(|k| lower.contains(k));
    if code_only {
        let plain_word = value.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        let short_number = value.len() < 6 && value.chars().all(|c| c.is_ascii_digit());
        return !(plain_word || short_number);
    }
    true
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let as_text = match value {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                match as_text {
                    Some(text) if is_secret_key(key) => {
                        if must_mask(key, &text) {
                            *value = serde_json::Value::String(MASK.into());
                        }
                    }
                    _ => redact_json(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-' | '%')
}

/// Masks values that follow secret-sounding keys, then long token-like runs.
fn mask_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // A key: a run of identifier characters.
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if is_token_char_run_long(&chars, start) {
                // The word is the start of a long opaque run: mask the whole run.
                let end = run_end(&chars, start);
                out.push_str(MASK);
                i = end;
                continue;
            }
            out.push_str(&word);
            if is_secret_key(&word) {
                // Copy the separator (`"`, `:`, `=`, spaces), then mask the value.
                while i < chars.len() && matches!(chars[i], '"' | '\'' | ':' | '=' | ' ') {
                    out.push(chars[i]);
                    i += 1;
                }
                let value_start = i;
                while i < chars.len()
                    && !matches!(chars[i], '"' | '\'' | '&' | ',' | '}' | '<' | ';')
                    && !chars[i].is_whitespace()
                {
                    i += 1;
                }
                if i > value_start {
                    let value: String = chars[value_start..i].iter().collect();
                    if must_mask(&word, &value) {
                        out.push_str(MASK);
                    } else {
                        out.push_str(&value);
                    }
                }
            }
            continue;
        }
        if is_token_char(chars[i]) && is_token_char_run_long(&chars, i) {
            out.push_str(MASK);
            i = run_end(&chars, i);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn run_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() && is_token_char(chars[end]) {
        end += 1;
    }
    end
}

fn is_token_char_run_long(chars: &[char], start: usize) -> bool {
    if start > 0 && is_token_char(chars[start - 1]) {
        return false;
    }
    run_end(chars, start) - start >= LONG_RUN
        && !is_plain_url_or_word(&chars[start..run_end(chars, start)])
}

/// Long runs made only of lower-case letters and `-`/`_`/`.` (CSS classes, words, host names) are
/// not token-like; tokens mix digits or cases.
fn is_plain_url_or_word(run: &[char]) -> bool {
    run.iter()
        .all(|c| c.is_ascii_lowercase() || matches!(c, '-' | '_' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, secrets: &[&str], kept: &[&str]) {
        let snippet = redact_snippet(body.as_bytes(), 500);
        for secret in secrets {
            assert!(
                !snippet.contains(secret),
                "{secret:?} leaked in {snippet:?}"
            );
        }
        for kept in kept {
            assert!(snippet.contains(kept), "{kept:?} missing from {snippet:?}");
        }
    }

    #[test]
    fn masks_json_secret_fields() {
        check(
            r#"{"ok":true,"access_token":"xoxp-1234","refresh_token":"xoxe-1-abc","authed_user":{"id":"U1","access_token":"xoxp-9"},"incoming_webhook":{"url":"https://hooks.slack.com/T/B/X"}}"#,
            &["xoxp-1234", "xoxe-1-abc", "xoxp-9", "hooks.slack.com/T/B/X"],
            &["U1", "\"ok\":true"],
        );
    }

    #[test]
    fn masks_truncated_json() {
        check(
            r#"{"ok":true,"access_token":"xoxe.xoxb-1-MS0yLTIy","refresh_tok"#,
            &["xoxe.xoxb-1-MS0yLTIy"],
            &["ok"],
        );
        check(
            r#"{"client_secret": "s3cr3t", "x"#,
            &["s3cr3t"],
            &["client_secret"],
        );
    }

    #[test]
    fn keeps_error_codes_readable() {
        check(
            r#"{"object":"error","status":400,"code":"validation_error","message":"bad"}"#,
            &[],
            &["validation_error", "400"],
        );
        check(
            r#"{"code":"4724469134.4644010092847.232b4e"}"#,
            &["4724469134"],
            &[],
        );
    }

    #[test]
    fn masks_form_and_query_values() {
        check(
            "code=abc123&state=xyz&client_secret=hunter2",
            &["abc123", "hunter2"],
            &["state=xyz"],
        );
    }

    #[test]
    fn masks_long_opaque_runs_anywhere() {
        check(
            "<html>error for ntn_31290125187aZ3qXx0example0token</html>",
            &["ntn_31290125187aZ3qXx0example0token"],
            &["<html>error for"],
        );
    }

    #[test]
    fn keeps_ordinary_html() {
        check(
            "<html><head><title>502 Bad Gateway</title></head><body class=\"cloudflare-error-page\">",
            &[],
            &["502 Bad Gateway", "cloudflare-error-page"],
        );
    }

    #[test]
    fn truncates_and_strips_control_characters() {
        let snippet = redact_snippet("line1\nline2\u{0}".repeat(100).as_bytes(), 20);
        assert_eq!(snippet.chars().count(), 21);
        assert!(snippet.ends_with('…'));
        assert!(!snippet.contains('\n'));
    }

    #[test]
    fn non_utf8_is_lossy_not_fatal() {
        let snippet = redact_snippet(&[0xff, 0xfe, b'o', b'k'], 10);
        assert!(snippet.contains("ok"));
    }
}
