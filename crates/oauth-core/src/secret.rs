//! Secret newtypes: every credential this workspace handles lives in one of these.
//!
//! Each type wraps a [`secrecy::SecretString`]: the memory is zeroed on drop, `Debug` prints only the
//! type name and `[redacted]`, there is no `Display`, and the only way to read the value is the
//! explicitly named [`expose_secret`](AccessToken::expose_secret). Equality is compared in constant
//! time. Secrets deserialize normally (so provider responses can be decoded straight into them), but
//! they do not implement `Serialize`: writing a secret out goes through [`ExposeSecrets`], a wrapper
//! whose name says what it does and which only token stores should use.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// Reads the secret. Call this only where the value must go on the wire or into a
            /// store, never to log or display it.
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }

            /// A short, stable, non-reversible fingerprint (the first 8 hex digits of the SHA-256
            /// of the value), safe to log to tell two secrets apart.
            pub fn fingerprint(&self) -> String {
                crate::secret::fingerprint(self.expose_secret())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose_secret()
                    .as_bytes()
                    .ct_eq(other.expose_secret().as_bytes())
                    .into()
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }

        impl Serialize for ExposeSecrets<'_, $name> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.0.expose_secret())
            }
        }
    };
}

secret_type! {
    /// An OAuth access token (Slack `xoxb-…`/`xoxp-…`/`xoxe.xox?-…`, Notion `ntn_…`/`secret_…`).
    AccessToken
}
secret_type! {
    /// An OAuth refresh token. Slack's are single-use: see the token manager.
    RefreshToken
}
secret_type! {
    /// The OAuth client secret of an app or integration.
    ClientSecret
}
secret_type! {
    /// A short-lived authorization code received on the redirect URI.
    AuthorizationCode
}
secret_type! {
    /// A PKCE code verifier (RFC 7636). Build one with [`PkceVerifier::generate`].
    PkceVerifier
}
secret_type! {
    /// A secret of an installation that is not a token: Slack's incoming-webhook URL (which lets
    /// anyone who has it post to the channel).
    InstallationSecret
}

/// Serializes the secrets inside `T` **in the clear**.
///
/// This is the one named path by which a secret leaves its wrapper for storage. Token stores use
/// it; application code should not need it. `serde_json::to_string(&ExposeSecrets(&token_set))`.
pub struct ExposeSecrets<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> fmt::Debug for ExposeSecrets<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExposeSecrets([redacted])")
    }
}

impl<T> Serialize for ExposeSecrets<'_, Option<T>>
where
    for<'b> ExposeSecrets<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(inner) => serializer.serialize_some(&ExposeSecrets(inner)),
            None => serializer.serialize_none(),
        }
    }
}

pub(crate) fn fingerprint(value: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}
