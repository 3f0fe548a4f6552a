//! Authorization URLs: the v2 install (`/oauth/v2/authorize`) and Sign in with Slack
//! (`/openid/connect/authorize`).

use std::borrow::Cow;

use oauth_core::{AuthorizationRequest, CsrfState, Error, Result, ScopeSeparator, Scopes};
use url::Url;

use crate::client::SlackClient;

/// Slack's parameters on an [`AuthorizationRequest`]: `user_scope`, `team`, `nonce`.
///
/// ```
/// use oauth_core::{AuthorizationRequest, Scopes};
/// use oauth_slack::SlackAuthorizationRequest as _;
/// let request = AuthorizationRequest::new()?
///     .scopes(Scopes::parse("chat:write,commands"))
///     .user_scopes(&Scopes::parse("search:read"))
///     .team("T9TK3CUKW");
/// assert_eq!(request.extra_param("user_scope"), Some("search:read"));
/// # Ok::<(), oauth_core::Error>(())
/// ```
pub trait SlackAuthorizationRequest: Sized {
    /// `user_scope`: the user scopes of a v2 install (comma-separated on the wire).
    fn user_scopes(self, scopes: &Scopes) -> Self;
    /// `team`: pre-selects a workspace (`T…`).
    fn team(self, team_id: impl Into<String>) -> Self;
    /// `nonce` (Sign in with Slack): comes back inside the `id_token`.
    fn nonce(self, nonce: impl Into<String>) -> Self;
}

impl SlackAuthorizationRequest for AuthorizationRequest {
    fn user_scopes(self, scopes: &Scopes) -> Self {
        self.param("user_scope", scopes.join(","))
    }

    fn team(self, team_id: impl Into<String>) -> Self {
        self.param("team", team_id)
    }

    fn nonce(self, nonce: impl Into<String>) -> Self {
        self.param("nonce", nonce)
    }
}

/// A fresh random nonce for Sign in with Slack (256 bits, base64url).
pub fn generate_nonce() -> Result<String> {
    Ok(CsrfState::generate()?.as_str().to_owned())
}

impl SlackClient {
    /// The request with the client's default redirect URI when it names none, refused when its
    /// redirect URI has a custom scheme (`myapp://…`) and it has no PKCE verifier: Slack rejects
    /// such a request only after the user has been sent to it.
    pub(crate) fn prepared<'a>(
        &self,
        request: &'a AuthorizationRequest,
    ) -> Result<Cow<'a, AuthorizationRequest>> {
        let request = self.with_default_redirect(request);
        let custom_scheme = request
            .redirect_uri_value()
            .and_then(|uri| Url::parse(uri).ok())
            .is_some_and(|url| !matches!(url.scheme(), "http" | "https"));
        if custom_scheme && request.verifier().is_none() {
            return Err(Error::InvalidRequest(
                "Slack accepts a custom-scheme redirect URI (`myapp://…`) only with PKCE: add a \
                 verifier to the request (AuthorizationRequest::pkce_verifier) and send it with \
                 the code exchange"
                    .into(),
            ));
        }
        Ok(request)
    }

    fn with_default_redirect<'a>(
        &self,
        request: &'a AuthorizationRequest,
    ) -> Cow<'a, AuthorizationRequest> {
        match (request.redirect_uri_value(), self.redirect_uri()) {
            (None, Some(default)) => Cow::Owned(request.clone().redirect_uri(default)),
            _ => Cow::Borrowed(request),
        }
    }

    /// The v2 install URL: `<authorize base>/oauth/v2/authorize?client_id=…&scope=…` then
    /// `redirect_uri` (the request's, else the client's default), `state`, `code_challenge` and
    /// `code_challenge_method=S256` (PKCE), and `user_scope`/`team` when set. Bot scopes are
    /// comma-separated. At least one of `scope` and `user_scope` is required. The redirect URI is
    /// checked as [`AuthorizationRequest::to_url`] says (a configuration error if refused); a
    /// custom-scheme one (`myapp://callback`) needs PKCE, as Slack requires ([`Error::InvalidRequest`]
    /// without a verifier).
    pub fn oauth_v2_authorize_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        if request.requested_scopes().is_empty() && request.extra_param("user_scope").is_none() {
            return Err(Error::InvalidRequest(
                "a Slack install needs bot scopes (`scope`) or user scopes (`user_scope`)".into(),
            ));
        }
        let endpoint = self.browser_url("oauth/v2/authorize")?;
        self.prepared(request)?.to_url(
            &endpoint,
            &[("client_id", self.client_id())],
            "scope",
            ScopeSeparator::Comma,
            self.common().allow_insecure_http(),
        )
    }

    /// The Sign in with Slack URL: `<authorize base>/openid/connect/authorize?response_type=code
    /// &client_id=…&scope=openid …` then `redirect_uri`, `state`, PKCE, and `nonce`/`team` when
    /// set. Scopes are space-separated and must include `openid`. The redirect URI is checked as
    /// for [`oauth_v2_authorize_url`](Self::oauth_v2_authorize_url).
    pub fn openid_connect_authorize_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        if !request.requested_scopes().contains("openid") {
            return Err(Error::InvalidRequest(
                "Sign in with Slack needs the `openid` scope (and optionally `email`, `profile`)"
                    .into(),
            ));
        }
        let endpoint = self.browser_url("openid/connect/authorize")?;
        self.prepared(request)?.to_url(
            &endpoint,
            &[("response_type", "code"), ("client_id", self.client_id())],
            "scope",
            ScopeSeparator::Space,
            self.common().allow_insecure_http(),
        )
    }
}
