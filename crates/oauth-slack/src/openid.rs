//! Sign in with Slack (OpenID Connect): `openid.connect.token`, `openid.connect.userInfo`, the
//! `id_token` and its claims, Slack's key set. Verifying an `id_token` against the key set is in
//! `verify.rs` (feature `openid`).

use std::fmt;
use std::time::SystemTime;

use oauth_core::http::{HttpResponse, Idempotency, header_str, undecodable};
use oauth_core::{
    AccessToken, AuthorizationCode, Error, PkceVerifier, RefreshToken, Result, TokenSet, TokenType,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer};

use crate::PROVIDER;
use crate::client::SlackClient;
use crate::wire::{Credential, Form, SlackResponse, decode_response};

/// Slack's OpenID Connect issuer, `https://slack.com`.
pub const SLACK_ISSUER: &str = "https://slack.com";

/// The grant of an `openid.connect.token` call.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum OpenIdConnectGrant {
    /// `grant_type=authorization_code` (Slack's default, not sent): a code from
    /// `/openid/connect/authorize`.
    AuthorizationCode {
        /// `code`.
        code: AuthorizationCode,
        /// `redirect_uri`: required when the authorize URL had one; the client's default if `None`.
        /// Checked before anything is sent ([`oauth_core::check_redirect_uri`]).
        redirect_uri: Option<String>,
        /// `code_verifier` (PKCE).
        code_verifier: Option<PkceVerifier>,
    },
    /// `grant_type=refresh_token` with a rotating `refresh_token`.
    RefreshToken {
        /// `refresh_token`.
        refresh_token: RefreshToken,
    },
}

/// The arguments of `openid.connect.token`.
///
/// ```
/// use oauth_core::AuthorizationCode;
/// use oauth_slack::OpenIdConnectTokenRequest;
/// let request = OpenIdConnectTokenRequest::authorization_code(AuthorizationCode::new("code"))
///     .redirect_uri("https://example.com/slack/signin/callback");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenIdConnectTokenRequest {
    /// The grant.
    pub grant: OpenIdConnectGrant,
}

impl OpenIdConnectTokenRequest {
    /// An exchange of a code.
    pub fn authorization_code(code: AuthorizationCode) -> Self {
        Self {
            grant: OpenIdConnectGrant::AuthorizationCode {
                code,
                redirect_uri: None,
                code_verifier: None,
            },
        }
    }

    /// A refresh.
    pub fn refresh_token(refresh_token: RefreshToken) -> Self {
        Self {
            grant: OpenIdConnectGrant::RefreshToken { refresh_token },
        }
    }

    /// Sets `redirect_uri` (code grant only; ignored for a refresh).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        if let OpenIdConnectGrant::AuthorizationCode { redirect_uri, .. } = &mut self.grant {
            *redirect_uri = Some(uri.into());
        }
        self
    }

    /// Sets `code_verifier` (code grant only; ignored for a refresh).
    pub fn code_verifier(mut self, verifier: PkceVerifier) -> Self {
        if let OpenIdConnectGrant::AuthorizationCode { code_verifier, .. } = &mut self.grant {
            *code_verifier = Some(verifier);
        }
        self
    }
}

/// A signed OpenID Connect `id_token` (a JWT). It proves who signed in, so it is kept like a
/// secret: redacted `Debug`, read with [`expose_secret`](Self::expose_secret).
#[derive(Clone)]
pub struct IdToken(SecretString);

impl IdToken {
    /// Wraps a JWT.
    pub fn new(jwt: impl Into<String>) -> Self {
        Self(SecretString::from(jwt.into()))
    }

    /// The JWT.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The claims, **not verified**: for display only. Use [`verify_id_token`](crate::verify_id_token)
    /// (feature `openid`) to trust them.
    pub fn unverified_claims(&self) -> std::result::Result<IdTokenClaims, IdTokenError> {
        serde_json::from_slice(&self.payload()?).map_err(|_| IdTokenError::Malformed)
    }

    fn payload(&self) -> std::result::Result<Vec<u8>, IdTokenError> {
        let payload = self
            .expose_secret()
            .split('.')
            .nth(1)
            .ok_or(IdTokenError::Malformed)?;
        base64url_decode(payload).ok_or(IdTokenError::Malformed)
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

impl PartialEq for IdToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl<'de> Deserialize<'de> for IdToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer).map(IdToken::new)
    }
}

fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(input.trim_end_matches('='))
        .ok()
}

/// The answer of `openid.connect.token`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OpenIdConnectTokenResponse {
    /// `access_token` (a user token, `xoxp-…`), `token_type` (`"Bearer"`), and with rotation
    /// `refresh_token` and `expires_in`.
    pub tokens: TokenSet,
    /// `id_token`; verify it with [`verify_id_token`](crate::verify_id_token) (feature `openid`).
    pub id_token: Option<IdToken>,
    /// `state`, when Slack echoes it.
    pub state: Option<String>,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default, rename = "https://slack.com/user_id")]
    user_id: Option<String>,
    #[serde(default, rename = "https://slack.com/team_id")]
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct RawOpenIdToken {
    access_token: AccessToken,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    id_token: Option<IdToken>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    state: Option<String>,
}

impl SlackResponse for OpenIdConnectTokenResponse {
    const OPERATION: &'static str = "openid.connect.token";

    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self> {
        let raw: RawOpenIdToken = decode_response(Self::OPERATION, response)?;
        let mut tokens = TokenSet::builder(PROVIDER, raw.access_token)
            .token_type(TokenType::parse(
                raw.token_type.as_deref().unwrap_or("Bearer"),
            ))
            .issued_at(received_at)
            .build();
        tokens.refresh_token = raw.refresh_token;
        if let Some(expires_in) = raw.expires_in {
            tokens.set_expires_in(expires_in);
        }
        // Who signed in, for the token set's grantee (display only: verify the id_token to
        // trust it).
        if let Some(subject) = raw
            .id_token
            .as_ref()
            .and_then(|t| t.payload().ok())
            .and_then(|p| serde_json::from_slice::<Subject>(&p).ok())
        {
            tokens.grantee.user_id = subject.user_id.or(subject.sub);
            tokens.grantee.workspace_id = subject.team_id;
        }
        Ok(OpenIdConnectTokenResponse {
            tokens,
            id_token: raw.id_token,
            state: raw.state,
        })
    }
}

/// An `aud` claim: one string or a list.
fn audience<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(deserializer)? {
        Aud::One(one) => vec![one],
        Aud::Many(many) => many,
    })
}

/// The claims of a Sign in with Slack `id_token`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// `iss` (`https://slack.com`).
    pub iss: String,
    /// `sub`: the user id.
    pub sub: String,
    /// `aud`: the client id.
    #[serde(deserialize_with = "audience")]
    pub aud: Vec<String>,
    /// `exp` (seconds since the epoch).
    pub exp: i64,
    /// `iat`.
    #[serde(default)]
    pub iat: Option<i64>,
    /// `auth_time`.
    #[serde(default)]
    pub auth_time: Option<i64>,
    /// `nonce`.
    #[serde(default)]
    pub nonce: Option<String>,
    /// `at_hash`.
    #[serde(default)]
    pub at_hash: Option<String>,
    /// `https://slack.com/team_id`.
    #[serde(default, rename = "https://slack.com/team_id")]
    pub team_id: Option<String>,
    /// `https://slack.com/user_id`.
    #[serde(default, rename = "https://slack.com/user_id")]
    pub user_id: Option<String>,
    /// `email`.
    #[serde(default)]
    pub email: Option<String>,
    /// `email_verified`.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// `date_email_verified`.
    #[serde(default)]
    pub date_email_verified: Option<i64>,
    /// `locale`.
    #[serde(default)]
    pub locale: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `given_name`.
    #[serde(default)]
    pub given_name: Option<String>,
    /// `family_name`.
    #[serde(default)]
    pub family_name: Option<String>,
    /// `picture`.
    #[serde(default)]
    pub picture: Option<String>,
    /// `https://slack.com/team_image_230`.
    #[serde(default, rename = "https://slack.com/team_image_230")]
    pub team_image_230: Option<String>,
    /// `https://slack.com/team_image_default`.
    #[serde(default, rename = "https://slack.com/team_image_default")]
    pub team_image_default: Option<bool>,
}

/// One key of a JSON Web Key Set (RFC 7517), as Slack publishes at
/// `https://slack.com/openid/connect/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Jwk {
    /// `kty` (`RSA`).
    pub kty: String,
    /// `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// `alg` (`RS256`).
    #[serde(default)]
    pub alg: Option<String>,
    /// `use` (`sig`).
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    /// `n`: the RSA modulus, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// `e`: the RSA exponent, base64url.
    #[serde(default)]
    pub e: Option<String>,
}

/// A JSON Web Key Set: the keys `id_token`s are verified against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct JwkSet {
    /// `keys`.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS document (`{"keys":[…]}`).
    pub fn from_json(json: &[u8]) -> std::result::Result<Self, IdTokenError> {
        serde_json::from_slice(json).map_err(|_| IdTokenError::InvalidKeySet)
    }
}

/// Why an `id_token` was rejected. None of these messages quotes the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a JWT, or its header or claims are not valid JSON of the expected shape.
    #[error("the id_token is not a well-formed JWT")]
    Malformed,
    /// The key set is not a JWKS document.
    #[error("the key set is not a valid JWKS document")]
    InvalidKeySet,
    /// The header's `alg` is not `RS256`.
    #[error("the id_token is signed with `{0}`; only RS256 is accepted")]
    UnsupportedAlgorithm(String),
    /// No RSA key of the set matches the header's `kid`.
    #[error("no RSA key in the key set matches the id_token's key id {0:?}")]
    UnknownKey(Option<String>),
    /// The signature does not verify with the key.
    #[error("the id_token's signature does not verify")]
    BadSignature,
    /// `iss` is not the expected issuer.
    #[error("the id_token's issuer is `{found}`, expected `{expected}`")]
    WrongIssuer {
        /// The expected issuer.
        expected: String,
        /// The token's issuer.
        found: String,
    },
    /// `aud` does not contain the client id.
    #[error(
        "the id_token was issued to another client (audience {found:?}, expected `{expected}`)"
    )]
    WrongAudience {
        /// The expected audience.
        expected: String,
        /// The token's audience.
        found: Vec<String>,
    },
    /// `exp` is past (beyond the leeway).
    #[error("the id_token expired at {exp} (now {now}, unix seconds)")]
    Expired {
        /// `exp`.
        exp: i64,
        /// The time of the check.
        now: i64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("the id_token was issued in the future ({iat}, now {now}, unix seconds)")]
    IssuedInFuture {
        /// `iat`.
        iat: i64,
        /// The time of the check.
        now: i64,
    },
    /// The token's nonce differs from the one sent (or is missing).
    #[error("the id_token's nonce does not match the one sent in the authorize URL")]
    NonceMismatch,
    /// `at_hash` does not match the access token (or is missing).
    #[error("the id_token's at_hash does not match the access token")]
    AccessTokenHashMismatch,
}

/// The answer of `openid.connect.userInfo`: the signed-in user's claims.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OpenIdConnectUserInfoResponse {
    /// `sub`.
    pub sub: String,
    /// `https://slack.com/user_id`.
    #[serde(default, rename = "https://slack.com/user_id")]
    pub user_id: Option<String>,
    /// `https://slack.com/team_id`.
    #[serde(default, rename = "https://slack.com/team_id")]
    pub team_id: Option<String>,
    /// `https://slack.com/enterprise_id`.
    #[serde(default, rename = "https://slack.com/enterprise_id")]
    pub enterprise_id: Option<String>,
    /// `email`.
    #[serde(default)]
    pub email: Option<String>,
    /// `email_verified`.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// `date_email_verified`.
    #[serde(default)]
    pub date_email_verified: Option<i64>,
    /// `locale`.
    #[serde(default)]
    pub locale: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `given_name`.
    #[serde(default)]
    pub given_name: Option<String>,
    /// `family_name`.
    #[serde(default)]
    pub family_name: Option<String>,
    /// `picture`.
    #[serde(default)]
    pub picture: Option<String>,
    /// `https://slack.com/user_image_24`.
    #[serde(default, rename = "https://slack.com/user_image_24")]
    pub user_image_24: Option<String>,
    /// `https://slack.com/user_image_32`.
    #[serde(default, rename = "https://slack.com/user_image_32")]
    pub user_image_32: Option<String>,
    /// `https://slack.com/user_image_48`.
    #[serde(default, rename = "https://slack.com/user_image_48")]
    pub user_image_48: Option<String>,
    /// `https://slack.com/user_image_72`.
    #[serde(default, rename = "https://slack.com/user_image_72")]
    pub user_image_72: Option<String>,
    /// `https://slack.com/user_image_192`.
    #[serde(default, rename = "https://slack.com/user_image_192")]
    pub user_image_192: Option<String>,
    /// `https://slack.com/user_image_512`.
    #[serde(default, rename = "https://slack.com/user_image_512")]
    pub user_image_512: Option<String>,
    /// `https://slack.com/user_image_1024`.
    #[serde(default, rename = "https://slack.com/user_image_1024")]
    pub user_image_1024: Option<String>,
    /// `https://slack.com/team_name`.
    #[serde(default, rename = "https://slack.com/team_name")]
    pub team_name: Option<String>,
    /// `https://slack.com/team_domain`.
    #[serde(default, rename = "https://slack.com/team_domain")]
    pub team_domain: Option<String>,
    /// `https://slack.com/enterprise_name`.
    #[serde(default, rename = "https://slack.com/enterprise_name")]
    pub enterprise_name: Option<String>,
    /// `https://slack.com/enterprise_domain`.
    #[serde(default, rename = "https://slack.com/enterprise_domain")]
    pub enterprise_domain: Option<String>,
    /// `https://slack.com/team_image_34`.
    #[serde(default, rename = "https://slack.com/team_image_34")]
    pub team_image_34: Option<String>,
    /// `https://slack.com/team_image_44`.
    #[serde(default, rename = "https://slack.com/team_image_44")]
    pub team_image_44: Option<String>,
    /// `https://slack.com/team_image_68`.
    #[serde(default, rename = "https://slack.com/team_image_68")]
    pub team_image_68: Option<String>,
    /// `https://slack.com/team_image_88`.
    #[serde(default, rename = "https://slack.com/team_image_88")]
    pub team_image_88: Option<String>,
    /// `https://slack.com/team_image_102`.
    #[serde(default, rename = "https://slack.com/team_image_102")]
    pub team_image_102: Option<String>,
    /// `https://slack.com/team_image_132`.
    #[serde(default, rename = "https://slack.com/team_image_132")]
    pub team_image_132: Option<String>,
    /// `https://slack.com/team_image_230`.
    #[serde(default, rename = "https://slack.com/team_image_230")]
    pub team_image_230: Option<String>,
    /// `https://slack.com/team_image_default`.
    #[serde(default, rename = "https://slack.com/team_image_default")]
    pub team_image_default: Option<bool>,
}

impl SlackResponse for OpenIdConnectUserInfoResponse {
    const OPERATION: &'static str = "openid.connect.userInfo";

    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        decode_response(Self::OPERATION, response)
    }
}

impl SlackClient {
    /// `openid.connect.token`: exchanges a Sign in with Slack code (or refreshes). Never resent
    /// once it may have reached Slack.
    ///
    /// Wire: form `client_id`, `client_secret` (or Basic; none for a public client), then for a
    /// code `code`, `redirect_uri` (if any), `code_verifier` (PKCE); for a refresh
    /// `grant_type=refresh_token`, `refresh_token`.
    pub async fn openid_connect_token(
        &self,
        request: &OpenIdConnectTokenRequest,
    ) -> Result<OpenIdConnectTokenResponse> {
        let mut form = Form::new();
        let credential = self.client_credentials(&mut form);
        match &request.grant {
            OpenIdConnectGrant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let redirect_uri = self
                    .common()
                    .exchange_redirect_uri(redirect_uri.as_deref())?;
                form.push("code", code.expose_secret());
                form.push_opt("redirect_uri", redirect_uri);
                form.push_opt(
                    "code_verifier",
                    code_verifier.as_ref().map(PkceVerifier::expose_secret),
                );
            }
            OpenIdConnectGrant::RefreshToken { refresh_token } => {
                form.push("grant_type", "refresh_token");
                form.push("refresh_token", refresh_token.expose_secret());
            }
        }
        let mut response: OpenIdConnectTokenResponse =
            self.call(Idempotency::SingleUse, form, credential).await?;
        self.stamp_refresh_expiry(&mut response.tokens);
        Ok(response)
    }

    /// `openid.connect.userInfo`: the claims of the user a Sign in with Slack token belongs to.
    ///
    /// Wire: `Authorization: Bearer <token>`, empty form.
    pub async fn openid_connect_user_info(
        &self,
        token: &AccessToken,
    ) -> Result<OpenIdConnectUserInfoResponse> {
        self.call(
            Idempotency::Idempotent,
            Form::new(),
            Credential::Bearer(token),
        )
        .await
    }

    /// Fetches Slack's published signing keys (`GET <authorize base>/openid/connect/keys`), for
    /// [`verify_id_token`](crate::verify_id_token) (feature `openid`). Cache the result: the keys
    /// change rarely.
    pub async fn openid_connect_keys(&self) -> Result<JwkSet> {
        const OPERATION: &str = "openid/connect/keys";
        let url = self.browser_url(OPERATION)?;
        let request = http::Request::get(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .body(bytes::Bytes::new())
            .map_err(|e| Error::InvalidRequest(format!("cannot build the keys request: {e}")))?;
        let call = oauth_core::http::Call::new(PROVIDER, OPERATION, Idempotency::Idempotent);
        let response = self
            .common()
            .http()
            .execute(&call, request, crate::wire::classify)
            .await?;
        if !response.status().is_success() {
            return Err(undecodable(
                &PROVIDER,
                OPERATION,
                &response,
                format!(
                    "HTTP {} instead of a key set ({})",
                    response.status().as_u16(),
                    header_str(&response, "content-type").unwrap_or("no content type")
                ),
            ));
        }
        oauth_core::http::decode_json(&PROVIDER, OPERATION, &response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decoding() {
        assert_eq!(
            base64url_decode("eyJhIjoxfQ").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(base64url_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64url_decode("a*b"), None);
    }

    #[test]
    fn unverified_claims_reject_garbage_without_quoting_it() {
        let token = IdToken::new("eyJhbGcMjY5OTA2MzcWNrLmNvbVwvdGVhbV9p...");
        assert_eq!(token.unverified_claims(), Err(IdTokenError::Malformed));
        assert_eq!(format!("{token:?}"), "IdToken([redacted])");
    }
}
