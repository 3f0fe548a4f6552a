//! The sealed `state`: everything the callback needs, carried by the state itself, encrypted and
//! authenticated with the server's key, so that starting an install stores nothing.
//!
//! `state = base64url(version ‖ nonce ‖ XChaCha20-Poly1305(payload))`, with a random 192-bit
//! nonce per state and the payload as JSON: the provider, the expiry, the hash of the browser's
//! cookie, the redirect URI, whether PKCE is on, and the install's options and metadata. A state
//! that was altered, or sealed with another key, does not open. The PKCE verifier is not in the
//! state at all: it is derived from the key and the nonce (HMAC-SHA256), so only the server can
//! compute it. Both sub-keys are derived from the [`StateKey`] with HMAC-SHA256 and distinct
//! labels.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac as _};
use oauth_core::{Error, PkceVerifier, Result};
use secrecy::{ExposeSecret as _, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::options::InstallOptions;

/// The version byte of the sealed format.
const VERSION: u8 = 1;
/// Bound into every seal: a state is only ever opened as an install state of this format.
const AAD: &[u8] = b"oauth-facade/install-state/v1";
const NONCE_LEN: usize = 24;

/// The longest state the install flow makes, in characters: it travels in the provider's URL and
/// comes back in the callback's query (at most 8 KiB).
pub const MAX_STATE_LEN: usize = 4096;

/// The server's key for sealing install states: 32 bytes, the same on every replica.
///
/// A state sealed with it opens only with it (or after a rotation, with it given as a previous
/// key): keep it secret, as you keep the client secret. `Debug` does not print it.
///
/// ```
/// use oauth_facade::install::StateKey;
/// let key = StateKey::generate()?;
/// let text = key.expose_base64(); // store it in your secret manager
/// let again = StateKey::from_base64(&text)?;
/// # Ok::<(), oauth_facade::Error>(())
/// ```
pub struct StateKey(SecretBox<[u8; 32]>);

impl StateKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        random(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A key from base64 (standard or URL-safe alphabet, padded or not) of 32 bytes, as
    /// [`expose_base64`](Self::expose_base64) writes it.
    ///
    /// Fails with [`Error::Configuration`] otherwise, without quoting the text.
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim();
        let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| {
                Error::configuration(
                    "the install state key is not base64: give 32 random bytes in base64 (StateKey::generate()?.expose_base64() makes one)",
                )
            })?;
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::configuration(format!(
                "the install state key is {} bytes long, not 32: give 32 random bytes in base64",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key in base64 (standard alphabet, padded), to store it. This exposes the secret.
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        hmac(self.0.expose_secret(), &[label])
    }
}

impl Clone for StateKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.0.expose_secret())
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateKey([redacted])")
    }
}

fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random number generator failed: {e}"
        ))
    })
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as hmac::Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// What a state carries. Short field names: it travels in URLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Payload {
    /// The provider the install was started with.
    #[serde(rename = "p")]
    pub(crate) provider: String,
    /// When the state expires, in seconds since the epoch.
    #[serde(rename = "x")]
    pub(crate) expires_at: u64,
    /// The SHA-256 of the browser's cookie; `None` for unbound installs.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub(crate) binding: Option<String>,
    /// The redirect URI the authorization URL carried: the exchange must repeat it.
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    /// Whether the authorization URL carried a PKCE challenge.
    #[serde(rename = "k", default)]
    pub(crate) pkce: bool,
    /// The install's options and the app's metadata, as the install route set them.
    #[serde(rename = "o", default)]
    pub(crate) options: InstallOptions,
}

impl Payload {
    /// The expiry as a time.
    pub(crate) fn expiry(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires_at)
    }
}

/// Seconds since the epoch, rounded up (a state never lives shorter than asked).
pub(crate) fn epoch_secs(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    since.as_secs() + u64::from(since.subsec_nanos() > 0)
}

struct Keys {
    aead: XChaCha20Poly1305,
    pkce: SecretBox<[u8; 32]>,
}

impl Keys {
    fn new(key: &StateKey) -> Self {
        let seal = key.derive(b"oauth-facade install state: seal");
        Self {
            aead: XChaCha20Poly1305::new(&seal.into()),
            pkce: SecretBox::new(Box::new(key.derive(b"oauth-facade install state: pkce"))),
        }
    }

    fn verifier(&self, nonce: &[u8]) -> PkceVerifier {
        PkceVerifier::new(URL_SAFE_NO_PAD.encode(hmac(self.pkce.expose_secret(), &[nonce])))
    }
}

/// A state just sealed: its text, and the PKCE verifier that goes with it.
pub(crate) struct Sealed {
    pub(crate) state: String,
    pub(crate) verifier: PkceVerifier,
}

/// A state that opened: what it carries, and its PKCE verifier.
pub(crate) struct Opened {
    pub(crate) payload: Payload,
    pub(crate) verifier: PkceVerifier,
}

/// Seals with the current key, opens with it or a previous one.
pub(crate) struct Sealer {
    /// The current key first.
    keys: Vec<Keys>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub(crate) fn new(current: &StateKey, previous: &[StateKey]) -> Self {
        Self {
            keys: std::iter::once(current)
                .chain(previous)
                .map(Keys::new)
                .collect(),
        }
    }

    pub(crate) fn seal(&self, payload: &Payload) -> Result<Sealed> {
        let keys = self
            .keys
            .first()
            .ok_or_else(|| Error::Internal("the install flow has no state key".to_owned()))?;
        let plaintext = serde_json::to_vec(payload)
            .map_err(|e| Error::Internal(format!("cannot serialize the install state: {e}")))?;
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let sealed = keys
            .aead
            .encrypt(
                &XNonce::from(nonce),
                AeadPayload {
                    msg: &plaintext,
                    aad: AAD,
                },
            )
            .map_err(|_| Error::Internal("cannot seal the install state".to_owned()))?;
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        let state = URL_SAFE_NO_PAD.encode(bytes);
        if state.len() > MAX_STATE_LEN {
            return Err(Error::InvalidRequest(format!(
                "this install's state would be {} characters, over the {MAX_STATE_LEN} a provider's URL and the callback can carry: shorten its metadata",
                state.len()
            )));
        }
        Ok(Sealed {
            state,
            verifier: keys.verifier(&nonce),
        })
    }

    /// The payload of `state`, if it was sealed by one of our keys and not altered.
    pub(crate) fn open(&self, state: &str) -> Option<Opened> {
        if state.len() > MAX_STATE_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(state).ok()?;
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.keys.iter().find_map(|keys| {
            let plaintext = keys
                .aead
                .decrypt(
                    &XNonce::from(nonce),
                    AeadPayload {
                        msg: sealed,
                        aad: AAD,
                    },
                )
                .ok()?;
            let payload = serde_json::from_slice(&plaintext).ok()?;
            Some(Opened {
                payload,
                verifier: keys.verifier(&nonce),
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            provider: "slack".into(),
            expires_at: 1_900_000_000,
            binding: Some("hash".into()),
            redirect_uri: "https://example.com/cb".into(),
            pkce: true,
            options: InstallOptions::new().metadata("user 42"),
        }
    }

    #[test]
    fn a_sealed_state_opens_with_its_key_and_the_same_verifier() {
        let key = StateKey::generate().unwrap();
        let sealer = Sealer::new(&key, &[]);
        let sealed = sealer.seal(&payload()).unwrap();
        let opened = sealer.open(&sealed.state).unwrap();
        assert_eq!(opened.payload, payload());
        assert_eq!(
            opened.verifier.expose_secret(),
            sealed.verifier.expose_secret()
        );
        // A valid RFC 7636 verifier, never in the state.
        assert!(PkceVerifier::parse(sealed.verifier.expose_secret()).is_ok());
        assert!(!sealed.state.contains(sealed.verifier.expose_secret()));
        // Each seal is fresh: same payload, another state and verifier.
        let again = sealer.seal(&payload()).unwrap();
        assert_ne!(again.state, sealed.state);
        assert_ne!(
            again.verifier.expose_secret(),
            sealed.verifier.expose_secret()
        );
    }

    #[test]
    fn the_payload_is_not_readable_in_the_state() {
        let sealer = Sealer::new(&StateKey::generate().unwrap(), &[]);
        let state = sealer.seal(&payload()).unwrap().state;
        let bytes = URL_SAFE_NO_PAD.decode(&state).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for clear in ["user 42", "example.com", "slack", "hash"] {
            assert!(!text.contains(clear), "{clear} readable in the state");
        }
    }

    #[test]
    fn an_altered_or_foreign_state_does_not_open() {
        let key = StateKey::generate().unwrap();
        let sealer = Sealer::new(&key, &[]);
        let state = sealer.seal(&payload()).unwrap().state;
        let mut bytes = URL_SAFE_NO_PAD.decode(&state).unwrap();
        // Every byte matters: version, nonce, ciphertext, tag.
        for at in [0, 1, 30, bytes.len() / 2, bytes.len() - 1] {
            bytes[at] ^= 1;
            assert!(
                sealer.open(&URL_SAFE_NO_PAD.encode(&bytes)).is_none(),
                "byte {at} flipped"
            );
            bytes[at] ^= 1;
        }
        let other = Sealer::new(&StateKey::generate().unwrap(), &[]);
        assert!(other.open(&state).is_none(), "another server's key");
        for junk in ["", "x", "!!!!", &"A".repeat(5000)] {
            assert!(sealer.open(junk).is_none(), "{junk:.10}");
        }
    }

    #[test]
    fn after_a_rotation_states_of_the_previous_key_still_open() {
        let old = StateKey::generate().unwrap();
        let new = StateKey::generate().unwrap();
        let before = Sealer::new(&old, &[]).seal(&payload()).unwrap();
        let rotated = Sealer::new(&new, std::slice::from_ref(&old));
        let opened = rotated.open(&before.state).unwrap();
        assert_eq!(
            opened.verifier.expose_secret(),
            before.verifier.expose_secret()
        );
        assert!(Sealer::new(&new, &[]).open(&before.state).is_none());
    }

    #[test]
    fn keys_read_back_and_bad_ones_are_configuration_errors() {
        let key = StateKey::generate().unwrap();
        let text = key.expose_base64();
        let again = StateKey::from_base64(&format!(" {text}\n")).unwrap();
        assert_eq!(again.expose_base64(), text);
        let url_safe = URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert!(StateKey::from_base64(&url_safe).is_ok());
        for bad in ["", "not base64!", "AAAA", &STANDARD.encode([1; 31])] {
            let error = StateKey::from_base64(bad).unwrap_err();
            assert_eq!(error.kind(), oauth_core::ErrorKind::Configuration, "{bad}");
        }
        let shown = format!("{key:?}");
        assert_eq!(shown, "StateKey([redacted])");
        assert!(!shown.contains(&text));
    }

    #[test]
    fn a_state_too_long_for_a_url_is_refused_when_sealing() {
        let sealer = Sealer::new(&StateKey::generate().unwrap(), &[]);
        let mut big = payload();
        // Within the metadata bound, but escaped by JSON to over the state's.
        big.options = InstallOptions::new().metadata("\u{1}".repeat(1000));
        let error = sealer.seal(&big).err().unwrap();
        assert!(
            error.to_string().contains("shorten its metadata"),
            "{error}"
        );
    }

    #[test]
    fn expiry_rounds_up_to_the_second() {
        let at = UNIX_EPOCH + Duration::from_millis(10_001);
        assert_eq!(epoch_secs(at), 11);
        assert_eq!(epoch_secs(UNIX_EPOCH + Duration::from_secs(10)), 10);
    }
}
