//! `verify_id_token` against test keys: a good token, and every way one can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth_slack::{
    IdToken, IdTokenError, IdTokenExpectations, JwkSet, SLACK_ISSUER, verify_id_token,
};
use serde_json::{Value, json};

const KEY_1: &[u8] = include_bytes!("fixtures/id-token-key-1.pem");
const KEY_2: &[u8] = include_bytes!("fixtures/id-token-key-2.pem");
const JWKS: &[u8] = include_bytes!("fixtures/jwks.json");
const CLIENT_ID: &str = "2141029472.691202649728";
const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn claims() -> Value {
    json!({
        "iss": SLACK_ISSUER,
        "sub": "U0R7JM",
        "aud": CLIENT_ID,
        "exp": NOW + 300,
        "iat": NOW,
        "auth_time": NOW,
        "nonce": "n-1",
        "at_hash": "abc",
        "https://slack.com/team_id": "T0R7GR",
        "https://slack.com/user_id": "U0R7JM",
        "email": "krane@example.com",
        "email_verified": true,
        "date_email_verified": 1_622_128_723,
        "locale": "en-US",
        "name": "krane",
        "given_name": "Bront",
        "family_name": "Labradoodle",
        "https://slack.com/team_image_230": "https://a/230.png",
        "https://slack.com/team_image_default": true,
    })
}

fn sign(key: &[u8], kid: Option<&str>, alg: Algorithm, claims: &Value) -> IdToken {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(b"shared"),
        _ => EncodingKey::from_rsa_pem(key).unwrap(),
    };
    IdToken::new(jsonwebtoken::encode(&header, claims, &key).unwrap())
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn expectations() -> IdTokenExpectations {
    IdTokenExpectations::new(CLIENT_ID).nonce("n-1").now(now())
}

#[test]
fn a_good_token_verifies_and_yields_its_claims() {
    let keys = JwkSet::from_json(JWKS).unwrap();
    let token = sign(KEY_1, Some("k1"), Algorithm::RS256, &claims());
    let verified = verify_id_token(&token, &keys, &expectations()).unwrap();
    assert_eq!(verified.sub, "U0R7JM");
    assert_eq!(verified.aud, [CLIENT_ID]);
    assert_eq!(verified.team_id.as_deref(), Some("T0R7GR"));
    assert_eq!(verified.email.as_deref(), Some("krane@example.com"));
    assert_eq!(verified.team_image_default, Some(true));
    assert_eq!(token.unverified_claims().unwrap(), verified);
    // The second key verifies its own tokens; an array audience is accepted.
    let other = sign(
        KEY_2,
        Some("k2"),
        Algorithm::RS256,
        &with(claims(), "aud", json!(["x", CLIENT_ID])),
    );
    assert!(verify_id_token(&other, &keys, &expectations()).is_ok());
    // Without a nonce expectation, the nonce is not checked.
    let no_nonce = IdTokenExpectations::new(CLIENT_ID).now(now());
    assert!(
        verify_id_token(
            &sign(
                KEY_1,
                Some("k1"),
                Algorithm::RS256,
                &with(claims(), "nonce", json!(null))
            ),
            &keys,
            &no_nonce
        )
        .is_ok()
    );
    // A header without `kid` is verified with the only key of a one-key set.
    let mut single = keys.clone();
    single.keys.truncate(1);
    assert!(
        verify_id_token(
            &sign(KEY_1, None, Algorithm::RS256, &claims()),
            &single,
            &expectations()
        )
        .is_ok()
    );
    assert!(!format!("{token:?}").contains(token.expose_secret()));
}

#[test]
fn every_wrong_token_is_rejected_with_its_reason() {
    let keys = JwkSet::from_json(JWKS).unwrap();
    let good = sign(KEY_1, Some("k1"), Algorithm::RS256, &claims());
    let (head, rest) = good.expose_secret().split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged_payload = {
        use std::fmt::Write as _;
        // The claims with another subject, base64url-encoded by hand (no padding).
        let json = serde_json::to_vec(&with(claims(), "sub", json!("U_ATTACKER"))).unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in json.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                write!(
                    out,
                    "{}",
                    alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char
                )
                .unwrap();
            }
        }
        out
    };
    let tampered = IdToken::new(format!("{head}.{forged_payload}.{signature}"));
    let exp = (NOW + 300) as i64;

    let cases: Vec<(&str, IdToken, IdTokenExpectations, IdTokenError)> = vec![
        (
            "signed by another key",
            sign(KEY_2, Some("k1"), Algorithm::RS256, &claims()),
            expectations(),
            IdTokenError::BadSignature,
        ),
        (
            "tampered payload",
            tampered,
            expectations(),
            IdTokenError::BadSignature,
        ),
        (
            "wrong audience",
            sign(
                KEY_1,
                Some("k1"),
                Algorithm::RS256,
                &with(claims(), "aud", json!("999.999")),
            ),
            expectations(),
            IdTokenError::WrongAudience {
                expected: CLIENT_ID.into(),
                found: vec!["999.999".into()],
            },
        ),
        (
            "expired",
            good.clone(),
            expectations().now(now() + Duration::from_secs(300 + 60)),
            IdTokenError::Expired { exp, now: exp + 60 },
        ),
        (
            "expired, no leeway",
            good.clone(),
            expectations()
                .now(now() + Duration::from_secs(300))
                .leeway(Duration::ZERO),
            IdTokenError::Expired { exp, now: exp },
        ),
        (
            "wrong nonce",
            good.clone(),
            expectations().nonce("n-2"),
            IdTokenError::NonceMismatch,
        ),
        (
            "missing nonce",
            sign(
                KEY_1,
                Some("k1"),
                Algorithm::RS256,
                &with(claims(), "nonce", json!(null)),
            ),
            expectations(),
            IdTokenError::NonceMismatch,
        ),
        (
            "wrong issuer",
            sign(
                KEY_1,
                Some("k1"),
                Algorithm::RS256,
                &with(claims(), "iss", json!("https://evil.example")),
            ),
            expectations(),
            IdTokenError::WrongIssuer {
                expected: SLACK_ISSUER.into(),
                found: "https://evil.example".into(),
            },
        ),
        (
            "issued in the future",
            sign(
                KEY_1,
                Some("k1"),
                Algorithm::RS256,
                &with(claims(), "iat", json!(NOW + 3600)),
            ),
            expectations(),
            IdTokenError::IssuedInFuture {
                iat: (NOW + 3600) as i64,
                now: NOW as i64,
            },
        ),
        (
            "at_hash of another access token",
            good.clone(),
            expectations().access_token(oauth_core::AccessToken::new("xoxp-1")),
            IdTokenError::AccessTokenHashMismatch,
        ),
        (
            "HS256 (algorithm confusion)",
            sign(KEY_1, Some("k1"), Algorithm::HS256, &claims()),
            expectations(),
            IdTokenError::UnsupportedAlgorithm("HS256".into()),
        ),
        (
            "unknown kid",
            sign(KEY_1, Some("k9"), Algorithm::RS256, &claims()),
            expectations(),
            IdTokenError::UnknownKey(Some("k9".into())),
        ),
        (
            "no kid, several keys",
            sign(KEY_1, None, Algorithm::RS256, &claims()),
            expectations(),
            IdTokenError::UnknownKey(None),
        ),
        (
            "not a JWT",
            IdToken::new("eyJhbGcMjY5OTA2MzcWNrLmNvbVwvdGVhbV9p..."),
            expectations(),
            IdTokenError::Malformed,
        ),
        (
            "claims missing",
            sign(KEY_1, Some("k1"), Algorithm::RS256, &json!({"sub": "U1"})),
            expectations(),
            IdTokenError::Malformed,
        ),
    ];
    for (name, token, expectations, expected) in cases {
        let error = verify_id_token(&token, &keys, &expectations).unwrap_err();
        assert_eq!(error, expected, "{name}");
        assert!(
            !error.to_string().contains(token.expose_secret()),
            "{name}: the error quotes the token"
        );
    }
    assert_eq!(
        JwkSet::from_json(b"<html>").unwrap_err(),
        IdTokenError::InvalidKeySet
    );
}
