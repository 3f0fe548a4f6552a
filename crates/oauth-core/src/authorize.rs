//! Building authorization URLs: CSRF `state`, PKCE (RFC 7636, S256 only) and the request builder.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::error::{Error, Result};
use crate::http::is_loopback;
use crate::scope::Scopes;
use crate::secret::PkceVerifier;

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn os_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random number generator failed: {e}"
        ))
    })
}

/// 32 random bytes from the OS, base64url without padding: 43 characters, 256 bits.
fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    os_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The CSRF `state` of one authorization attempt: 256 bits from the OS random number generator.
///
/// Save it in a [`StateStore`](crate::StateStore) before redirecting the browser, and check the
/// callback against it. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfState(String);

impl CsrfState {
    /// A fresh random state.
    pub fn generate() -> Result<Self> {
        random_token().map(Self)
    }

    /// A state received from elsewhere (e.g. a callback).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value to put in the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a received value.
    pub fn matches(&self, received: &str) -> bool {
        self.0.as_bytes().ct_eq(received.as_bytes()).into()
    }
}

impl fmt::Debug for CsrfState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfState([redacted])")
    }
}

/// Characters allowed in a PKCE verifier: RFC 3986 "unreserved".
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

impl PkceVerifier {
    /// A fresh verifier: 32 random bytes from the OS, base64url-encoded (43 characters).
    pub fn generate() -> Result<Self> {
        random_token().map(PkceVerifier::new)
    }

    /// Checks a verifier received from elsewhere: 43 to 128 unreserved characters (RFC 7636 §4.1).
    pub fn parse(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let len = value.chars().count();
        if !(43..=128).contains(&len) {
            return Err(Error::InvalidRequest(format!(
                "a PKCE code verifier must have 43 to 128 characters, this one has {len}"
            )));
        }
        if !value.chars().all(is_unreserved) {
            return Err(Error::InvalidRequest(
                "a PKCE code verifier may only contain A-Z a-z 0-9 - . _ ~".into(),
            ));
        }
        Ok(PkceVerifier::new(value))
    }

    /// The S256 challenge for this verifier.
    pub fn challenge(&self) -> PkceChallenge {
        PkceChallenge::s256(self)
    }
}

/// A PKCE code challenge: `BASE64URL(SHA256(verifier))`, method `S256`.
///
/// ```
/// use oauth_core::PkceVerifier;
/// // RFC 7636, appendix B.
/// let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
/// assert_eq!(verifier.challenge().as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkceChallenge(String);

impl PkceChallenge {
    /// The S256 challenge of `verifier`.
    pub fn s256(verifier: &PkceVerifier) -> Self {
        let digest = Sha256::digest(verifier.expose_secret().as_bytes());
        Self(URL_SAFE_NO_PAD.encode(digest))
    }

    /// The challenge, for the `code_challenge` parameter.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The method, for the `code_challenge_method` parameter: always `S256` (plain is not offered).
    pub fn method(&self) -> &'static str {
        "S256"
    }

    /// Whether `verifier` produces this challenge (constant time).
    pub fn verify(&self, verifier: &PkceVerifier) -> bool {
        Self::s256(verifier)
            .0
            .as_bytes()
            .ct_eq(self.0.as_bytes())
            .into()
    }
}

/// Which separator a provider expects between scopes in the authorization URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeSeparator {
    /// `a,b` (Slack's v2 install).
    Comma,
    /// `a b` (OAuth 2, OpenID Connect).
    Space,
}

impl ScopeSeparator {
    fn as_str(self) -> &'static str {
        match self {
            ScopeSeparator::Comma => ",",
            ScopeSeparator::Space => " ",
        }
    }
}

/// Parameters a provider writes itself; [`AuthorizationRequest::param`] may not set them.
const RESERVED: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// What the application asks for in one authorization: scopes, redirect URI, state, PKCE and any
/// extra provider parameters. Providers turn it into a URL
/// ([`TokenProvider::authorization_url`](crate::TokenProvider::authorization_url)).
///
/// ```
/// use oauth_core::{AuthorizationRequest, ScopeSeparator, Scopes};
/// use url::Url;
///
/// let request = AuthorizationRequest::new()?
///     .scopes(Scopes::parse("chat:write commands"))
///     .redirect_uri("https://example.com/slack/callback")
///     .with_pkce()?
///     .param("team", "T123");
/// let endpoint = Url::parse("https://slack.com/oauth/v2/authorize").unwrap();
/// let url = request.to_url(&endpoint, &[("client_id", "123.456")], "scope", ScopeSeparator::Comma, false)?;
/// assert!(url.as_str().contains("scope=chat%3Awrite%2Ccommands"));
/// assert!(url.as_str().contains("code_challenge_method=S256"));
/// # Ok::<(), oauth_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    state: CsrfState,
    scopes: Scopes,
    redirect_uri: Option<String>,
    pkce_verifier: Option<PkceVerifier>,
    extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    /// A request with a fresh random `state`, no scopes, no redirect URI and no PKCE.
    pub fn new() -> Result<Self> {
        Ok(Self::with_state(CsrfState::generate()?))
    }

    /// A request with the given `state`.
    pub fn with_state(state: CsrfState) -> Self {
        Self {
            state,
            scopes: Scopes::new(),
            redirect_uri: None,
            pkce_verifier: None,
            extra: Vec::new(),
        }
    }

    /// Sets the scopes.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the redirect URI (otherwise the provider's configured default is used).
    ///
    /// It is sent as given, byte for byte, and checked when the URL is built
    /// ([`to_url`](Self::to_url), see [`check_redirect_uri`] for the rules): an absolute URL
    /// without a fragment, `https`, `http` on a loopback host, or a custom scheme
    /// (`myapp://callback`).
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// Adds PKCE with a fresh verifier.
    pub fn with_pkce(self) -> Result<Self> {
        Ok(self.pkce_verifier(PkceVerifier::generate()?))
    }

    /// Adds PKCE with the given verifier.
    pub fn pkce_verifier(mut self, verifier: PkceVerifier) -> Self {
        self.pkce_verifier = Some(verifier);
        self
    }

    /// Adds a provider-specific parameter (`team`, `user_scope`, `nonce`, `owner`…). A later call
    /// with the same name replaces the earlier value.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.extra.retain(|(n, _)| *n != name);
        self.extra.push((name, value.into()));
        self
    }

    /// The CSRF state.
    pub fn state(&self) -> &CsrfState {
        &self.state
    }

    /// The scopes.
    pub fn requested_scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// The redirect URI, if set.
    pub fn redirect_uri_value(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The PKCE verifier, if PKCE is on: keep it with the state until the code exchange.
    pub fn verifier(&self) -> Option<&PkceVerifier> {
        self.pkce_verifier.as_ref()
    }

    /// The value of an extra parameter.
    pub fn extra_param(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Builds the URL: `endpoint`, then the provider's `fixed` parameters, then the scopes under
    /// `scope_param` joined by `separator` (omitted if empty), `redirect_uri`, `state`, the PKCE
    /// challenge and the extra parameters.
    ///
    /// Refuses, before building anything:
    /// - an extra parameter that shadows one the provider sets ([`Error::InvalidRequest`]);
    /// - a redirect URI that [`check_redirect_uri`] refuses ([`Error::Configuration`]): not an
    ///   absolute URL, with a fragment, with whitespace, or plain `http` on a host that is not
    ///   loopback unless `allow_insecure_http` (the provider client's setting of the same name)
    ///   is set. Custom schemes (`myapp://callback`) are accepted.
    pub fn to_url(
        &self,
        endpoint: &Url,
        fixed: &[(&str, &str)],
        scope_param: &str,
        separator: ScopeSeparator,
        allow_insecure_http: bool,
    ) -> Result<Url> {
        for (name, _) in &self.extra {
            if RESERVED.contains(&name.as_str())
                || name == scope_param
                || fixed.iter().any(|(f, _)| f == name)
            {
                return Err(Error::InvalidRequest(format!(
                    "the authorization parameter `{name}` is set by the provider; use the dedicated builder method"
                )));
            }
        }
        if let Some(redirect_uri) = &self.redirect_uri {
            check_redirect_uri(redirect_uri, allow_insecure_http)?;
        }
        let mut url = endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in fixed {
                query.append_pair(name, value);
            }
            if !self.scopes.is_empty() {
                query.append_pair(scope_param, &self.scopes.join(separator.as_str()));
            }
            if let Some(redirect_uri) = &self.redirect_uri {
                query.append_pair("redirect_uri", redirect_uri);
            }
            query.append_pair("state", self.state.as_str());
            if let Some(verifier) = &self.pkce_verifier {
                let challenge = verifier.challenge();
                query.append_pair("code_challenge", challenge.as_str());
                query.append_pair("code_challenge_method", challenge.method());
            }
            for (name, value) in &self.extra {
                query.append_pair(name, value);
            }
        }
        Ok(url)
    }
}

/// How much of a refused redirect URI an error message quotes.
const SHOWN_CHARS: usize = 120;

/// A redirect URI as quoted in an error message: debug-escaped and cut after [`SHOWN_CHARS`].
fn shown(redirect_uri: &str) -> String {
    let mut chars = redirect_uri.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    match chars.count() {
        0 => format!("{head:?}"),
        more => format!("{head:?}… ({more} more characters)"),
    }
}

/// The `redirect_uri` a code exchange sends: `given`, checked with [`check_redirect_uri`] (so that
/// a bad one fails before anything is sent and the code is not spent), else the client's `default`
/// (checked when the client was built).
///
/// ```
/// use oauth_core::exchange_redirect_uri;
/// let default = Some("https://example.com/cb");
/// assert_eq!(exchange_redirect_uri(None, default, false)?, default);
/// assert_eq!(exchange_redirect_uri(Some("myapp://cb"), default, false)?, Some("myapp://cb"));
/// assert!(exchange_redirect_uri(Some("/relative"), default, false).is_err());
/// # Ok::<(), oauth_core::Error>(())
/// ```
pub fn exchange_redirect_uri<'a>(
    given: Option<&'a str>,
    default: Option<&'a str>,
    allow_insecure_http: bool,
) -> Result<Option<&'a str>> {
    match given {
        Some(redirect_uri) => {
            check_redirect_uri(redirect_uri, allow_insecure_http)?;
            Ok(Some(redirect_uri))
        }
        None => Ok(default),
    }
}

/// Checks a redirect URI before it is sent to a provider, in an authorization URL or a code
/// exchange. Failures are [`Error::Configuration`]: the redirect URI is part of the app's
/// configuration, registered with the provider.
///
/// The rules:
/// - it is an absolute URL, with a scheme and (after `//` or `/`) a host or path:
///   `/oauth/callback` and `localhost:3000/callback` (which parses as the scheme `localhost`)
///   are refused;
/// - it has no fragment (`#…`), which RFC 6749 §3.1.2 forbids;
/// - it has no whitespace or control character (a stray newline from a file or an environment
///   variable): providers compare it byte for byte with the registered one;
/// - plain `http` is accepted only on a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`)
///   unless `allow_insecure_http` is set: elsewhere the authorization code would cross the
///   network unencrypted;
/// - `https` and custom schemes (`myapp://callback`, `com.example.app:/callback`, as desktop and
///   mobile apps register them, RFC 8252 §7.1) are accepted.
///
/// ```
/// use oauth_core::{ErrorKind, check_redirect_uri};
/// assert!(check_redirect_uri("https://example.com/oauth/callback", false).is_ok());
/// assert!(check_redirect_uri("http://127.0.0.1:8765/callback", false).is_ok());
/// assert!(check_redirect_uri("myapp://callback", false).is_ok());
/// for refused in ["/oauth/callback", "https://example.com/cb#done", "http://example.com/cb"] {
///     assert_eq!(check_redirect_uri(refused, false).unwrap_err().kind(), ErrorKind::Configuration);
/// }
/// assert!(check_redirect_uri("http://example.com/cb", true).is_ok());
/// ```
pub fn check_redirect_uri(redirect_uri: &str, allow_insecure_http: bool) -> Result<()> {
    if redirect_uri.is_empty() {
        return Err(Error::configuration(
            "the redirect URI is empty: set it to the callback URL registered with the provider (e.g. https://example.com/oauth/callback)",
        ));
    }
    if redirect_uri
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::configuration(format!(
            "the redirect URI {} contains whitespace or a control character (a stray newline from a file or an environment variable?): remove it, the provider compares the redirect URI byte for byte with the registered one",
            shown(redirect_uri)
        )));
    }
    let url = Url::parse(redirect_uri).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => Error::configuration(format!(
            "the redirect URI {} is not an absolute URL: write it in full, with its scheme and host, exactly as registered with the provider (e.g. https://example.com/oauth/callback)",
            shown(redirect_uri)
        )),
        other => Error::configuration(format!(
            "the redirect URI {} is not a valid URL ({other}): write it exactly as registered with the provider (e.g. https://example.com/oauth/callback)",
            shown(redirect_uri)
        )),
    })?;
    if url.cannot_be_a_base() {
        return Err(Error::configuration(format!(
            "the redirect URI {} is not a hierarchical URL: `{}:` is read as its scheme, followed by neither `//` nor `/`; write it in full, e.g. http://localhost:3000/callback or myapp://callback",
            shown(redirect_uri),
            url.scheme()
        )));
    }
    if url.fragment().is_some() {
        return Err(Error::configuration(format!(
            "the redirect URI {} has a fragment (`#…`), which OAuth forbids (RFC 6749 §3.1.2): remove it (keep per-request data in the pending authorization saved with the `state`)",
            shown(redirect_uri)
        )));
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(Error::configuration(format!(
            "the redirect URI {} is plain http on `{}`, which is not a loopback host: the authorization code would cross the network unencrypted; use https, a loopback address (127.0.0.1, [::1], localhost), or allow insecure http explicitly on the provider client",
            shown(redirect_uri),
            url.host_str().unwrap_or("?")
        )));
    }
    Ok(())
}
