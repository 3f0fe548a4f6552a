//! Verification of the requests Slack sends to an app (Events API, interactivity, slash
//! commands, options loads): [`verify_request`] on the headers, [`verify_signature`] on their
//! values, both against the app's [`SigningSecret`].
//!
//! Slack signs each request with `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256, keyed by the
//! app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw body}`. A request is accepted
//! when:
//!
//! 1. both headers are present, once each, in visible ASCII;
//! 2. the timestamp is Unix seconds (decimal digits) within [`MAX_TIMESTAMP_SKEW`] (5 minutes) of
//!    now, **in either direction** (`slack_sdk.signature.SignatureVerifier` refuses
//!    `|now - timestamp| > 300`), so that a captured request cannot be replayed later;
//! 3. the signature is `v0=` and 64 hex digits, and equals the HMAC of the raw body, compared in
//!    constant time (`hmac`'s `verify_slice`).
//!
//! Verify the bytes exactly as received, before any parsing or form decoding: a body re-encoded
//! after parsing no longer matches. No error, `Debug` or log line holds the signing secret; the
//! errors quote no header value either, only what was wrong with it.
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use oauth_slack::{SigningSecret, sign_request, verify_signature};
//!
//! let secret = SigningSecret::new("8f742231b10e8888abcd99yyyzzz85a5");
//! let body = br#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
//! let now = UNIX_EPOCH + Duration::from_secs(1_531_420_618);
//! let signature = sign_request(&secret, "1531420618", body);
//! assert!(verify_signature(&secret, "1531420618", &signature, body, now).is_ok());
//! assert!(verify_signature(&secret, "1531420618", &signature, b"tampered", now).is_err());
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;

/// The header that carries the signature, `X-Slack-Signature`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// The header that carries the signing time, `X-Slack-Request-Timestamp` (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// The largest difference accepted between a request's timestamp and now, in either direction:
/// 5 minutes, as Slack's SDKs.
pub const MAX_TIMESTAMP_SKEW: Duration = Duration::from_secs(300);

/// The version prefix of the only signature scheme Slack uses.
const VERSION: &str = "v0";

/// An app's signing secret (the app's Basic Information page, "Signing Secret"): the key of the
/// signatures on every request Slack sends to the app.
///
/// `Debug` shows `SigningSecret([redacted])`; there is no `Display`; the memory is zeroed on drop.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl SigningSecret {
    /// Wraps the secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// Reads the secret. Call this only to hand it to another verifier, never to log or show it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is empty (a configuration mistake: every request would be refused).
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(
            self.0.expose_secret().as_bytes(),
        )
        .unwrap_or_else(|_| unreachable_hmac_key());
        mac.update(VERSION.as_bytes());
        mac.update(b":");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }
}

/// HMAC accepts keys of every length, so this is never called; it exists so that the library has
/// no `unwrap` and no panic. An empty key is a valid HMAC key too.
#[cold]
fn unreachable_hmac_key() -> Hmac<Sha256> {
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default())
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl From<String> for SigningSecret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SigningSecret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Why a request was not accepted as coming from Slack. None of them holds the secret or a
/// header's value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A signing header is absent.
    #[error(
        "the request has no `{header}` header: it was not sent by Slack, or a proxy dropped it \
         (pass Slack's headers through unchanged)"
    )]
    MissingHeader {
        /// The header's name.
        header: &'static str,
    },
    /// A signing header is present more than once, or is not visible ASCII.
    #[error("the `{header}` header is {reason}: the request was not signed by Slack")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is not Unix seconds.
    #[error(
        "the `X-Slack-Request-Timestamp` header is not Unix seconds (decimal digits): the request \
         was not signed by Slack"
    )]
    MalformedTimestamp,
    /// The signature is not `v0=` and 64 hex digits.
    #[error("the `X-Slack-Signature` header is {reason}: the request was not signed by Slack")]
    MalformedSignature {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is further from now than [`MAX_TIMESTAMP_SKEW`].
    #[error(
        "the request was signed at {timestamp} (Unix seconds), {skew_secs} s from now ({now}), \
         beyond the {max_secs} s accepted: a replayed request, or this server's clock is wrong \
         (check NTP)"
    )]
    Stale {
        /// The request's timestamp.
        timestamp: u64,
        /// Now, as Unix seconds.
        now: u64,
        /// The difference, in seconds.
        skew_secs: u64,
        /// The largest difference accepted, in seconds.
        max_secs: u64,
    },
    /// The signature does not match the body, the timestamp and the signing secret.
    #[error(
        "the signature does not match the request: it was not sent by Slack, its body was \
         changed on the way, or the signing secret configured is not this app's (copy it from \
         the app's Basic Information page)"
    )]
    Mismatch,
    /// The signing secret configured is empty.
    #[error(
        "the signing secret is empty: configure the app's signing secret (its Basic Information \
         page) to accept requests from Slack"
    )]
    EmptySecret,
}

/// The signature Slack would send for `body` signed at `timestamp` (Unix seconds, as the header
/// carries them): `v0=<64 hex digits>`. For tests, and for a proxy that re-signs requests.
pub fn sign_request(secret: &SigningSecret, timestamp: &str, body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = secret.mac(timestamp, body).finalize().into_bytes();
    let mut signature = String::with_capacity(3 + 64);
    signature.push_str("v0=");
    for byte in digest {
        signature.push(char::from(HEX[usize::from(byte >> 4)]));
        signature.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    signature
}

/// Verifies a request from its headers ([`TIMESTAMP_HEADER`], [`SIGNATURE_HEADER`]) and its raw
/// body, at `now`. See the module docs for what is checked.
pub fn verify_request(
    secret: &SigningSecret,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    // Names made once: a lookup by `&str` parses and checks the name on every call.
    const TIMESTAMP: HeaderName = HeaderName::from_static(TIMESTAMP_HEADER);
    const SIGNATURE: HeaderName = HeaderName::from_static(SIGNATURE_HEADER);
    let timestamp = header(headers, &TIMESTAMP, TIMESTAMP_HEADER)?;
    let signature = header(headers, &SIGNATURE, SIGNATURE_HEADER)?;
    verify_signature(secret, timestamp, signature, body, now)
}

/// Verifies a request from the values of its `X-Slack-Request-Timestamp` and `X-Slack-Signature`
/// headers and its raw body, at `now`. See the module docs for what is checked.
pub fn verify_signature(
    secret: &SigningSecret,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::EmptySecret);
    }
    let signed_at = parse_timestamp(timestamp)?;
    let expected = parse_signature(signature)?;
    let now = unix_seconds(now);
    let skew = now.abs_diff(signed_at);
    if skew > MAX_TIMESTAMP_SKEW.as_secs() {
        return Err(SignatureError::Stale {
            timestamp: signed_at,
            now,
            skew_secs: skew,
            max_secs: MAX_TIMESTAMP_SKEW.as_secs(),
        });
    }
    secret
        .mac(timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The one value of a signing header, as text.
fn header<'a>(
    headers: &'a HeaderMap,
    key: &HeaderName,
    name: &'static str,
) -> Result<&'a str, SignatureError> {
    let mut values = headers.get_all(key).iter();
    let value = values
        .next()
        .ok_or(SignatureError::MissingHeader { header: name })?;
    if values.next().is_some() {
        return Err(SignatureError::MalformedHeader {
            header: name,
            reason: "present more than once",
        });
    }
    value.to_str().map_err(|_| SignatureError::MalformedHeader {
        header: name,
        reason: "not visible ASCII",
    })
}

/// Unix seconds: 1 to 19 decimal digits (no sign, no space, no fraction), as Slack sends them.
fn parse_timestamp(text: &str) -> Result<u64, SignatureError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    text.parse().map_err(|_| SignatureError::MalformedTimestamp)
}

/// `v0=` and 64 hex digits (either case), as the 32 bytes of the digest.
fn parse_signature(text: &str) -> Result<[u8; 32], SignatureError> {
    let hex = text
        .strip_prefix("v0=")
        .ok_or(SignatureError::MalformedSignature {
            reason: "not of the `v0=` scheme",
        })?;
    if hex.len() != 64 {
        return Err(SignatureError::MalformedSignature {
            reason: "not 64 hex digits after `v0=`",
        });
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let (Some(high), Some(low)) = (nibble(pair[0]), nibble(pair[1])) else {
            return Err(SignatureError::MalformedSignature {
                reason: "not hex digits after `v0=`",
            });
        };
        *byte = (high << 4) | low;
    }
    Ok(digest)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `now` as Unix seconds (0 before the epoch).
fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The worked example of Slack's "Verifying requests from Slack" (also in python-slack-sdk's
    /// signature tests); its signature re-computed independently with Python's `hmac`:
    /// `hmac.new(secret, b"v0:1531420618:" + body, hashlib.sha256).hexdigest()`.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn secret() -> SigningSecret {
        SigningSecret::new(SECRET)
    }

    #[test]
    fn slacks_documented_example_signs_and_verifies() {
        assert_eq!(
            sign_request(&secret(), TIMESTAMP, BODY.as_bytes()),
            SIGNATURE
        );
        let now = at(1_531_420_618);
        verify_signature(&secret(), TIMESTAMP, SIGNATURE, BODY.as_bytes(), now).unwrap();
        let upper = format!("v0={}", SIGNATURE[3..].to_uppercase());
        verify_signature(&secret(), TIMESTAMP, &upper, BODY.as_bytes(), now).unwrap();
    }

    #[test]
    fn the_window_is_five_minutes_each_way() {
        let signed = 1_531_420_618;
        for (now, accepted) in [
            (signed + 300, true),
            (signed - 300, true),
            (signed + 301, false),
            (signed - 301, false),
            (0, false),
        ] {
            let result =
                verify_signature(&secret(), TIMESTAMP, SIGNATURE, BODY.as_bytes(), at(now));
            assert_eq!(result.is_ok(), accepted, "now = {now}: {result:?}");
            if !accepted {
                assert!(matches!(result, Err(SignatureError::Stale { .. })));
            }
        }
    }

    #[test]
    fn every_bad_input_has_its_error() {
        let now = at(1_531_420_618);
        let body = BODY.as_bytes();
        let cases: [(&str, &str, &[u8], SignatureError); 11] = [
            ("", SIGNATURE, body, SignatureError::MalformedTimestamp),
            (
                "-1531420618",
                SIGNATURE,
                body,
                SignatureError::MalformedTimestamp,
            ),
            (
                "1531420618.5",
                SIGNATURE,
                body,
                SignatureError::MalformedTimestamp,
            ),
            (
                " 1531420618",
                SIGNATURE,
                body,
                SignatureError::MalformedTimestamp,
            ),
            (
                "99999999999999999999",
                SIGNATURE,
                body,
                SignatureError::MalformedTimestamp,
            ),
            (
                TIMESTAMP,
                "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                body,
                SignatureError::MalformedSignature {
                    reason: "not of the `v0=` scheme",
                },
            ),
            (
                TIMESTAMP,
                "v0=a2114d57",
                body,
                SignatureError::MalformedSignature {
                    reason: "not 64 hex digits after `v0=`",
                },
            ),
            (
                TIMESTAMP,
                "v0=z2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                body,
                SignatureError::MalformedSignature {
                    reason: "not hex digits after `v0=`",
                },
            ),
            (
                TIMESTAMP,
                "v0=b2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                body,
                SignatureError::Mismatch,
            ),
            (
                TIMESTAMP,
                SIGNATURE,
                b"token=tampered",
                SignatureError::Mismatch,
            ),
            ("1531420619", SIGNATURE, body, SignatureError::Mismatch),
        ];
        for (timestamp, signature, body, expected) in cases {
            assert_eq!(
                verify_signature(&secret(), timestamp, signature, body, now),
                Err(expected.clone()),
                "{timestamp:?} {signature:?}"
            );
        }
        assert_eq!(
            verify_signature(
                &SigningSecret::new("other"),
                TIMESTAMP,
                SIGNATURE,
                BODY.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(
                &SigningSecret::new(""),
                TIMESTAMP,
                SIGNATURE,
                BODY.as_bytes(),
                now
            ),
            Err(SignatureError::EmptySecret)
        );
    }

    #[test]
    fn headers_are_read_once_each_and_as_ascii() {
        let now = at(1_531_420_618);
        let mut headers = HeaderMap::new();
        assert_eq!(
            verify_request(&secret(), &headers, BODY.as_bytes(), now),
            Err(SignatureError::MissingHeader {
                header: TIMESTAMP_HEADER
            })
        );
        headers.insert(TIMESTAMP_HEADER, TIMESTAMP.parse().unwrap());
        assert_eq!(
            verify_request(&secret(), &headers, BODY.as_bytes(), now),
            Err(SignatureError::MissingHeader {
                header: SIGNATURE_HEADER
            })
        );
        headers.insert("X-Slack-Signature", SIGNATURE.parse().unwrap());
        verify_request(&secret(), &headers, BODY.as_bytes(), now).unwrap();
        headers.append(SIGNATURE_HEADER, SIGNATURE.parse().unwrap());
        assert_eq!(
            verify_request(&secret(), &headers, BODY.as_bytes(), now),
            Err(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER,
                reason: "present more than once"
            })
        );
        headers.remove(SIGNATURE_HEADER);
        headers.insert(
            SIGNATURE_HEADER,
            http::HeaderValue::from_bytes(b"v0=\xff").unwrap(),
        );
        assert_eq!(
            verify_request(&secret(), &headers, BODY.as_bytes(), now),
            Err(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER,
                reason: "not visible ASCII"
            })
        );
    }

    #[test]
    fn neither_debug_nor_errors_show_the_secret() {
        let secret = secret();
        assert_eq!(format!("{secret:?}"), "SigningSecret([redacted])");
        let now = at(1_531_420_618);
        let errors = [
            verify_signature(&secret, TIMESTAMP, "v0=00", BODY.as_bytes(), now),
            verify_signature(&secret, TIMESTAMP, SIGNATURE, b"x", now),
            verify_signature(&secret, TIMESTAMP, SIGNATURE, BODY.as_bytes(), at(0)),
            verify_signature(&secret, "x", SIGNATURE, BODY.as_bytes(), now),
        ];
        for error in errors {
            let error = error.unwrap_err();
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(SECRET), "{text}");
                assert!(!text.contains(&SIGNATURE[3..]), "{text}");
            }
        }
    }
}
