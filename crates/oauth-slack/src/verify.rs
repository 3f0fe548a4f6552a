//! Verification of a Sign in with Slack `id_token` against a key set (feature `openid`): the
//! RS256 signature (jsonwebtoken), then the claims against [`IdTokenExpectations`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth_core::AccessToken;

use crate::openid::{IdToken, IdTokenClaims, IdTokenError, JwkSet, SLACK_ISSUER};

/// What an `id_token` must say to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdTokenExpectations {
    /// The issuer (default [`SLACK_ISSUER`]).
    pub issuer: String,
    /// The audience: the app's client id.
    pub audience: String,
    /// The nonce sent in the authorize URL; when set, the token must carry the same one.
    pub nonce: Option<String>,
    /// The time to check `exp` (and `iat`) against.
    pub now: SystemTime,
    /// The clock skew tolerated (default 60 s).
    pub leeway: Duration,
    /// The access token issued with the `id_token`; when set, the token's `at_hash` must match it
    /// (OpenID Connect Core §3.1.3.6).
    pub access_token: Option<AccessToken>,
}

impl IdTokenExpectations {
    /// Expectations for `audience` (the client id): Slack's issuer, no nonce, now, 60 s leeway.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            issuer: SLACK_ISSUER.to_owned(),
            audience: audience.into(),
            nonce: None,
            now: SystemTime::now(),
            leeway: Duration::from_secs(60),
            access_token: None,
        }
    }

    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Sets the expected nonce.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Sets the time of the check.
    pub fn now(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// Sets the tolerated clock skew.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires the `at_hash` claim to match this access token.
    pub fn access_token(mut self, access_token: AccessToken) -> Self {
        self.access_token = Some(access_token);
        self
    }
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Verifies a Sign in with Slack `id_token`: the RS256 signature against `keys` (the key whose
/// `kid` matches the header's, or the only RSA key when the header has no `kid`), then `iss`,
/// `aud`, `exp` and `iat` (with the leeway, at `expectations.now`) and `nonce`.
///
/// The key set is a parameter, so verification needs no network: fetch Slack's keys with
/// [`SlackClient::openid_connect_keys`](crate::SlackClient::openid_connect_keys) (and cache them), or pass a sandbox's.
pub fn verify_id_token(
    token: &IdToken,
    keys: &JwkSet,
    expectations: &IdTokenExpectations,
) -> std::result::Result<IdTokenClaims, IdTokenError> {
    let jwt = token.expose_secret();
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| IdTokenError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(IdTokenError::UnsupportedAlgorithm(format!(
            "{:?}",
            header.alg
        )));
    }
    let rsa_keys = keys.keys.iter().filter(|k| {
        k.kty == "RSA"
            && k.alg.as_deref().is_none_or(|alg| alg == "RS256")
            && k.key_use.as_deref().is_none_or(|u| u == "sig")
    });
    let key = match &header.kid {
        Some(kid) => rsa_keys
            .clone()
            .find(|k| k.kid.as_deref() == Some(kid.as_str())),
        None => {
            let mut candidates = rsa_keys.clone();
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    };
    let key = key.ok_or_else(|| IdTokenError::UnknownKey(header.kid.clone()))?;
    let (Some(n), Some(e)) = (&key.n, &key.e) else {
        return Err(IdTokenError::UnknownKey(header.kid.clone()));
    };
    let decoding_key =
        DecodingKey::from_rsa_components(n, e).map_err(|_| IdTokenError::InvalidKeySet)?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Claims are checked below against the injected clock, with precise errors.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<IdTokenClaims>(jwt, &decoding_key, &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => IdTokenError::InvalidKeySet,
            _ => IdTokenError::Malformed,
        },
    )?;
    let claims = data.claims;
    if claims.iss != expectations.issuer {
        return Err(IdTokenError::WrongIssuer {
            expected: expectations.issuer.clone(),
            found: claims.iss,
        });
    }
    if !claims.aud.contains(&expectations.audience) {
        return Err(IdTokenError::WrongAudience {
            expected: expectations.audience.clone(),
            found: claims.aud,
        });
    }
    let now = unix_seconds(expectations.now);
    let leeway = i64::try_from(expectations.leeway.as_secs()).unwrap_or(i64::MAX);
    if claims.exp.saturating_add(leeway) <= now {
        return Err(IdTokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if let Some(iat) = claims.iat
        && iat > now.saturating_add(leeway)
    {
        return Err(IdTokenError::IssuedInFuture { iat, now });
    }
    if let Some(expected) = &expectations.nonce
        && claims.nonce.as_deref() != Some(expected.as_str())
    {
        return Err(IdTokenError::NonceMismatch);
    }
    if let Some(access_token) = &expectations.access_token
        && claims.at_hash.as_deref() != Some(at_hash(access_token).as_str())
    {
        return Err(IdTokenError::AccessTokenHashMismatch);
    }
    Ok(claims)
}

/// `at_hash` for RS256: base64url (no padding) of the left half of SHA-256 of the access token.
fn at_hash(access_token: &AccessToken) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access_token.expose_secret().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
