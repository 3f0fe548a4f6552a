//! The snippet redaction, on any body; never a panic, never longer than asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_core::redact::redact_snippet;

fuzz_target!(|data: &[u8]| {
    let snippet = redact_snippet(data, 200);
    assert!(snippet.chars().count() <= 201);
});
