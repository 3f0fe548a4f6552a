//! How a token set becomes a row: secrets in their own columns (encrypted when a key is set), the
//! rest as JSON.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::time::SystemTime;

use oauth_core::{
    Error, ExposeSecrets, Installation, InstallationKey, InstallationSecrets, Result, TokenKey,
    TokenSet,
};

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

/// An installation's record as stored: its details as JSON, its secrets as one (encrypted) JSON
/// column.
#[derive(Debug)]
pub(crate) struct RecordRow {
    pub(crate) enterprise_id: Option<String>,
    pub(crate) details: String,
    pub(crate) secrets: Option<Vec<u8>>,
    pub(crate) key_id: Option<String>,
}

/// What a ciphertext is bound to (its AEAD associated data): a row and its column, so that a
/// ciphertext copied into another row or column does not decrypt. Also names the row in errors.
pub(crate) struct Binding {
    aad: String,
    name: String,
}

impl Binding {
    /// A token set's row.
    pub(crate) fn token_set(key: &TokenKey) -> Self {
        let installation = key.installation();
        Self {
            aad: format!(
                "{}\0{}\0{}",
                installation.provider(),
                installation.key(),
                key.principal()
            ),
            name: format!("token set {key}"),
        }
    }

    /// A row of schema 1 (`oauth_installations`), bound to its provider and key string.
    pub(crate) fn legacy(provider: &str, key: &str) -> Self {
        Self {
            aad: format!("{provider}\0{key}"),
            name: format!("installation {provider}/{key} (schema 1)"),
        }
    }

    /// An installation's record.
    pub(crate) fn installation(key: &InstallationKey) -> Self {
        Self {
            aad: format!("{}\0{}\0#installation", key.provider(), key.key()),
            name: format!("installation {key}"),
        }
    }

    fn aad(&self, column: &str) -> Vec<u8> {
        format!("{}\0{column}", self.aad).into_bytes()
    }
}

fn seal(
    encryption: &Encryption,
    binding: &Binding,
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
                aad: &binding.aad(column),
            },
        )
        .map_err(|_| Error::Internal("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// `plaintext` as stored: as it is, or sealed with `encryption`.
fn protect(
    encryption: Option<&Encryption>,
    binding: &Binding,
    column: &str,
    plaintext: &str,
) -> Result<Vec<u8>> {
    match encryption {
        None => Ok(plaintext.as_bytes().to_vec()),
        Some(encryption) => seal(encryption, binding, column, plaintext),
    }
}

fn open(
    encryption: Option<&Encryption>,
    key_id: Option<&str>,
    binding: &Binding,
    column: &str,
    stored: &[u8],
) -> Result<String> {
    let name = &binding.name;
    let bytes = match key_id {
        None => stored.to_vec(),
        Some(id) => {
            let encryption = encryption.ok_or_else(|| {
                Error::configuration(format!(
                    "{name} is encrypted with key `{id}`, but the store has no encryption key"
                ))
            })?;
            let cipher = encryption.key(id).ok_or_else(|| {
                Error::configuration(format!(
                    "{name} is encrypted with key `{id}`, which the store does not have"
                ))
            })?;
            if stored.len() < 24 {
                return Err(corrupt(binding, "ciphertext too short"));
            }
            let (nonce, ciphertext) = stored.split_at(24);
            let nonce: [u8; 24] = nonce
                .try_into()
                .map_err(|_| corrupt(binding, "ciphertext too short"))?;
            cipher
                .cipher
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &binding.aad(column),
                    },
                )
                .map_err(|_| {
                    corrupt(
                        binding,
                        "a secret column does not decrypt (wrong key or tampered row)",
                    )
                })?
        }
    };
    String::from_utf8(bytes).map_err(|_| corrupt(binding, "a secret column is not UTF-8"))
}

fn corrupt(binding: &Binding, what: &str) -> Error {
    Error::Storage {
        message: format!("{}: {what}", binding.name),
        source: None,
    }
}

/// Splits `tokens` into a row. With `encryption`, no plaintext secret is in the result.
pub(crate) fn encode(
    tokens: &TokenSet,
    binding: &Binding,
    encryption: Option<&Encryption>,
) -> Result<Row> {
    let mut meta = serde_json::to_value(ExposeSecrets(tokens))
        .map_err(|e| Error::Internal(format!("cannot serialize a token set: {e}")))?;
    if let Some(map) = meta.as_object_mut() {
        map.remove("access_token");
        map.remove("refresh_token");
    }
    Ok(Row {
        access_token: protect(
            encryption,
            binding,
            "access_token",
            tokens.access_token.expose_secret(),
        )?,
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|r| protect(encryption, binding, "refresh_token", r.expose_secret()))
            .transpose()?,
        key_id: encryption.map(|e| e.current.id.clone()),
        token_meta: meta.to_string(),
    })
}

/// Rebuilds a token set from a row.
pub(crate) fn decode(
    row: &Row,
    binding: &Binding,
    encryption: Option<&Encryption>,
) -> Result<TokenSet> {
    let mut meta: serde_json::Value = serde_json::from_str(&row.token_meta)
        .map_err(|_| corrupt(binding, "token_meta is not JSON"))?;
    let key_id = row.key_id.as_deref();
    let access = open(
        encryption,
        key_id,
        binding,
        "access_token",
        &row.access_token,
    )?;
    let refresh = row
        .refresh_token
        .as_deref()
        .map(|r| open(encryption, key_id, binding, "refresh_token", r))
        .transpose()?;
    let map = meta
        .as_object_mut()
        .ok_or_else(|| corrupt(binding, "token_meta is not an object"))?;
    map.insert("access_token".into(), access.into());
    map.insert(
        "refresh_token".into(),
        refresh.map_or(serde_json::Value::Null, Into::into),
    );
    serde_json::from_value(meta)
        .map_err(|_| corrupt(binding, "token_meta does not describe a token set"))
}

/// Splits an installation's record into its row. With `encryption`, its secrets are encrypted.
pub(crate) fn encode_record(
    installation: &Installation,
    encryption: Option<&Encryption>,
) -> Result<RecordRow> {
    let binding = Binding::installation(&installation.key);
    let secrets = if installation.secrets.is_empty() {
        None
    } else {
        let json = serde_json::to_string(&ExposeSecrets(&installation.secrets))
            .map_err(|e| Error::Internal(format!("cannot serialize installation secrets: {e}")))?;
        Some(protect(encryption, &binding, "secrets", &json)?)
    };
    Ok(RecordRow {
        enterprise_id: installation.enterprise_id.clone(),
        details: serde_json::to_string(&installation.details)
            .map_err(|e| Error::Internal(format!("cannot serialize installation details: {e}")))?,
        key_id: secrets
            .as_ref()
            .and(encryption.map(|e| e.current.id.clone())),
        secrets,
    })
}

/// Rebuilds an installation's record from its row.
pub(crate) fn decode_record(
    key: &InstallationKey,
    row: &RecordRow,
    installed_at: SystemTime,
    encryption: Option<&Encryption>,
) -> Result<Installation> {
    let binding = Binding::installation(key);
    let mut installation = Installation::new(key.clone(), installed_at);
    installation.enterprise_id = row.enterprise_id.clone();
    installation.details = serde_json::from_str(&row.details)
        .map_err(|_| corrupt(&binding, "details is not a JSON object"))?;
    if let Some(stored) = &row.secrets {
        let json = open(
            encryption,
            row.key_id.as_deref(),
            &binding,
            "secrets",
            stored,
        )?;
        installation.secrets = serde_json::from_str::<InstallationSecrets>(&json)
            .map_err(|_| corrupt(&binding, "secrets is not a JSON object of strings"))?;
    }
    Ok(installation)
}
