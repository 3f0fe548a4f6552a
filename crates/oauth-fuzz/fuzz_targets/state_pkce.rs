//! The state comparison and the PKCE verifier checks, on any input; never a panic, and a challenge
//! only ever verifies its own verifier.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_core::{CsrfState, PkceChallenge, PkceVerifier};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (a, b) = text.split_at(middle);
    let state = CsrfState::new(a);
    assert_eq!(state.matches(b), a == b);
    assert!(state.matches(a));
    if let Ok(verifier) = PkceVerifier::parse(text.clone()) {
        let challenge = verifier.challenge();
        assert!(challenge.verify(&verifier));
        assert_eq!(challenge.as_str().len(), 43);
    }
    let any = PkceVerifier::new(a);
    let other = PkceVerifier::new(b);
    assert_eq!(PkceChallenge::s256(&any).verify(&other), a == b);
});
