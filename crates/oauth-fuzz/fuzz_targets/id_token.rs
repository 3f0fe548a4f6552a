//! The id_token verifier (JWT parsing and claim checks) on any token and key set; never a panic,
//! and nothing unsigned by the key set verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_slack::{IdToken, IdTokenExpectations, JwkSet, verify_id_token};

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = serde_json_keys() else { return };
    let token = IdToken::new(String::from_utf8_lossy(data).into_owned());
    let expectations = IdTokenExpectations::new("2141029472.691202649728");
    assert!(
        verify_id_token(&token, &keys, &expectations).is_err(),
        "a token nobody signed verified"
    );
});

/// The sandbox's published key: a real RSA key, so that parsing and signature checks run.
fn serde_json_keys() -> Result<JwkSet, ()> {
    let n = include_str!("../../oauth-sandbox/keys/sandbox-test-key.n.txt").trim();
    let jwks = format!(
        r#"{{"keys":[{{"kty":"RSA","alg":"RS256","use":"sig","kid":"sandbox-test-key-1","e":"AQAB","n":"{n}"}}]}}"#
    );
    JwkSet::from_json(jwks.as_bytes()).map_err(|_| ())
}
