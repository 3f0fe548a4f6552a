//! The authorization callback parser, on any query string (also as raw bytes); never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_core::CallbackParams;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    if let Ok(params) = CallbackParams::parse(&query) {
        let _ = format!("{params:?}");
    }
});
