//! How a token set becomes a row: secrets in their own columns (encrypted when a key is set), the
//! rest as JSON.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use oauth_core::{Error, ExposeSecrets, InstallationKey, Result, TokenSet};

/// A 256-bit key for encryption at rest, with the id stored next to each row it encrypts (so keys
/// can be rotated: rows keep naming the key that encrypted them).
#[derive(Clone)]
pub struct EncryptionKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl EncryptionKey {
    /// A key from 32 bytes.
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Self {
        Self {
            id: id.into(),
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// A key from its standard base64 encoding (e.g. from an environment variable; generate one
    /// with `head -c 32 /dev/urandom | base64`).
    pub fn from_base64(id: impl Into<String>, encoded: &str) -> Result<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Error::configuration("the encryption key is not valid base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::configuration("the encryption key must be 32 bytes"))?;
        Ok(Self::new(id, key))
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The keys of a store: new rows are encrypted with `current`; rows written under an older key
/// are still read with it (and re-encrypted with `current` at their next write).
#[derive(Clone, Debug)]
pub struct Encryption {
    current: EncryptionKey,
    previous: Vec<EncryptionKey>,
}

impl Encryption {
    /// Encrypts with `current`.
    pub fn new(current: EncryptionKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Also reads rows encrypted with `key`.
    pub fn with_previous(mut self, key: EncryptionKey) -> Self {
        self.previous.push(key);
        self
    }

    fn key(&self, id: &str) -> Option<&EncryptionKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }
}

/// A token set as stored.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) access_token: Vec<u8>,
    pub(crate) refresh_token: Option<Vec<u8>>,
    pub(crate) key_id: Option<String>,
    pub(crate) token_meta: String,
}

fn aad(key: &InstallationKey, column: &str) -> Vec<u8> {
    format!("{}\0{}\0{column}", key.provider(), key.key()).into_bytes()
}

fn seal(
    encryption: &Encryption,
    key: &InstallationKey,
    column: &str,
    plaintext: &str,
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::Internal(format!("the OS random number generator failed: {e}")))?;
    let ciphertext = encryption
        .current
        .cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad(key, column),
            },
        )
        .map_err(|_| Error::Internal("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

fn open(
    encryption: Option<&Encryption>,
    key_id: Option<&str>,
    key: &InstallationKey,
    column: &str,
    stored: &[u8],
) -> Result<String> {
    let bytes = match key_id {
        None => stored.to_vec(),
        Some(id) => {
            let encryption = encryption.ok_or_else(|| {
                Error::configuration(format!(
                    "installation {key} is encrypted with key `{id}`, but the store has no encryption key"
                ))
            })?;
            let cipher = encryption.key(id).ok_or_else(|| {
                Error::configuration(format!(
                    "installation {key} is encrypted with key `{id}`, which the store does not have"
                ))
            })?;
            if stored.len() < 24 {
                return Err(corrupt(key, "ciphertext too short"));
            }
            let (nonce, ciphertext) = stored.split_at(24);
            let nonce: [u8; 24] = nonce
                .try_into()
                .map_err(|_| corrupt(key, "ciphertext too short"))?;
            cipher
                .cipher
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &aad(key, column),
                    },
                )
                .map_err(|_| {
                    corrupt(
                        key,
                        "a secret column does not decrypt (wrong key or tampered row)",
                    )
                })?
        }
    };
    String::from_utf8(bytes).map_err(|_| corrupt(key, "a secret column is not UTF-8"))
}

fn corrupt(key: &InstallationKey, what: &str) -> Error {
    Error::Storage {
        message: format!("installation {key}: {what}"),
        source: None,
    }
}

/// Splits `tokens` into a row. With `encryption`, no plaintext secret is in the result.
pub(crate) fn encode(
    tokens: &TokenSet,
    key: &InstallationKey,
    encryption: Option<&Encryption>,
) -> Result<Row> {
    let mut meta = serde_json::to_value(ExposeSecrets(tokens))
        .map_err(|e| Error::Internal(format!("cannot serialize a token set: {e}")))?;
    if let Some(map) = meta.as_object_mut() {
        map.remove("access_token");
        map.remove("refresh_token");
    }
    let token_meta = meta.to_string();
    let access = tokens.access_token.expose_secret();
    let refresh = tokens.refresh_token.as_ref().map(|t| t.expose_secret());
    Ok(match encryption {
        None => Row {
            access_token: access.as_bytes().to_vec(),
            refresh_token: refresh.map(|r| r.as_bytes().to_vec()),
            key_id: None,
            token_meta,
        },
        Some(encryption) => Row {
            access_token: seal(encryption, key, "access_token", access)?,
            refresh_token: refresh
                .map(|r| seal(encryption, key, "refresh_token", r))
                .transpose()?,
            key_id: Some(encryption.current.id.clone()),
            token_meta,
        },
    })
}

/// Rebuilds a token set from a row.
pub(crate) fn decode(
    row: &Row,
    key: &InstallationKey,
    encryption: Option<&Encryption>,
) -> Result<TokenSet> {
    let mut meta: serde_json::Value = serde_json::from_str(&row.token_meta)
        .map_err(|_| corrupt(key, "token_meta is not JSON"))?;
    let access = open(
        encryption,
        row.key_id.as_deref(),
        key,
        "access_token",
        &row.access_token,
    )?;
    let refresh = row
        .refresh_token
        .as_deref()
        .map(|r| open(encryption, row.key_id.as_deref(), key, "refresh_token", r))
        .transpose()?;
    let map = meta
        .as_object_mut()
        .ok_or_else(|| corrupt(key, "token_meta is not an object"))?;
    map.insert("access_token".into(), access.into());
    map.insert(
        "refresh_token".into(),
        refresh.map_or(serde_json::Value::Null, Into::into),
    );
    serde_json::from_value(meta)
        .map_err(|_| corrupt(key, "token_meta does not describe a token set"))
}
