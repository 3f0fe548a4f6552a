//! Sign in with Slack: the sandbox-only RSA key, the JWKS, the discovery document and id_tokens.

use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::wire::Reply;

/// The sandbox's RSA private key (PKCS#8 PEM). PUBLIC AND FOR TESTS ONLY: it is committed to the
/// repository, so anything it signs proves nothing outside a test.
pub const SANDBOX_TEST_KEY_PEM: &str = include_str!("../keys/sandbox-test-key.pem");

/// The `kid` of [`SANDBOX_TEST_KEY_PEM`] in the JWKS and in id_token headers.
pub const SANDBOX_KEY_ID: &str = "sandbox-test-key-1";

/// The modulus of the test key, base64url without padding (checked against the PEM by a test).
const MODULUS_B64URL: &str = include_str!("../keys/sandbox-test-key.n.txt");

pub(crate) fn encoding_key() -> Result<EncodingKey, jsonwebtoken::errors::Error> {
    EncodingKey::from_rsa_pem(SANDBOX_TEST_KEY_PEM.as_bytes())
}

/// The JWKS published at `/openid/connect/keys`.
pub fn jwks() -> Value {
    json!({
        "keys": [{
            "e": "AQAB",
            "n": MODULUS_B64URL.trim(),
            "kty": "RSA",
            "kid": SANDBOX_KEY_ID,
            "alg": "RS256",
            "use": "sig",
        }]
    })
}

pub(crate) fn jwks_reply() -> Reply {
    Reply::json(StatusCode::OK, &jwks())
}

pub(crate) fn discovery_reply(base: &str) -> Reply {
    Reply::json(
        StatusCode::OK,
        &json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/openid/connect/authorize"),
            "token_endpoint": format!("{base}/api/openid.connect.token"),
            "userinfo_endpoint": format!("{base}/api/openid.connect.userInfo"),
            "jwks_uri": format!("{base}/openid/connect/keys"),
            "scopes_supported": ["openid", "profile", "email"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "auth_time", "iss"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": true,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }),
    )
}

/// Signs an id_token with the test key.
pub(crate) fn sign(key: &EncodingKey, claims: &Value) -> Option<String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(SANDBOX_KEY_ID.to_owned());
    jsonwebtoken::encode(&header, claims, key).ok()
}
