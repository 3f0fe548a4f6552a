//! Slack's request-signature verifier, on any headers and body: never a panic, a request signed
//! with the secret always verifies within the window, and nothing else does.
//!
//! The input is `timestamp \n signature \n body`; the timestamp and signature also go through
//! `verify_request` as raw header bytes.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use oauth_slack::{
    SIGNATURE_HEADER, SignatureError, SigningSecret, TIMESTAMP_HEADER, sign_request,
    verify_request, verify_signature,
};

const SIGNED_AT: u64 = 1_531_420_618;

fuzz_target!(|data: &[u8]| {
    let secret = SigningSecret::new("8f742231b10e8888abcd99yyyzzz85a5");
    let now = UNIX_EPOCH + Duration::from_secs(SIGNED_AT);
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let timestamp = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    // Any header bytes: an error or a verdict, never a panic.
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(timestamp) {
        headers.insert(TIMESTAMP_HEADER, value);
    }
    if let Ok(value) = http::HeaderValue::from_bytes(signature) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    let verdict = verify_request(&secret, &headers, body, now);
    if let (Ok(timestamp), Ok(signature)) =
        (std::str::from_utf8(timestamp), std::str::from_utf8(signature))
    {
        let direct = verify_signature(&secret, timestamp, signature, body, now);
        if headers.len() == 2 {
            // The header path also refuses what is not visible ASCII; otherwise the same verdict.
            match &verdict {
                Err(SignatureError::MalformedHeader { .. }) => assert!(direct.is_err()),
                _ => assert_eq!(direct, verdict),
            }
        }
        // Only the true signature verifies.
        if direct.is_ok() {
            assert_eq!(signature.to_ascii_lowercase(), sign_request(&secret, timestamp, body));
        }
        let _ = direct.map_err(|e| e.to_string());
    }

    // The body signed now verifies; one flipped byte of it does not.
    let stamp = SIGNED_AT.to_string();
    let signed = sign_request(&secret, &stamp, body);
    assert_eq!(verify_signature(&secret, &stamp, &signed, body, now), Ok(()));
    if let Some((first, rest)) = body.split_first() {
        let mut changed = vec![first ^ 1];
        changed.extend_from_slice(rest);
        assert_eq!(
            verify_signature(&secret, &stamp, &signed, &changed, now),
            Err(SignatureError::Mismatch)
        );
    }
});
