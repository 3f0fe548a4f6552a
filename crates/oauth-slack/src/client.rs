//! [`SlackClient`] and its builder: the app's credentials, the endpoints, the HTTP client.

use std::fmt;
use std::sync::Arc;

use oauth_core::http::{basic_auth, endpoint_uri, parse_base_url};
use oauth_core::{ClientCommon, ClientSecret, ClientSettings, Error, Result};
use url::Url;

use crate::wire::{Credential, Form, SlackResponse};
use crate::{
    AppsAuthExternalDeleteResponse, AppsAuthExternalGetResponse, AuthRevokeResponse,
    AuthTeamsListResponse, AuthTestResponse, OauthAccessResponse, OauthV2AccessResponse,
    OauthV2ExchangeResponse, OauthV2RefreshResponse, OauthV2UserAccessResponse,
    OpenIdConnectTokenResponse, OpenIdConnectUserInfoResponse,
};

/// The default Web API base: `https://slack.com/api/`.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api/";

/// The default base of the browser endpoints (`oauth/v2/authorize`, `openid/connect/authorize`,
/// `openid/connect/keys`): `https://slack.com/`.
pub const DEFAULT_AUTHORIZE_BASE_URL: &str = "https://slack.com/";

/// Where a confidential client puts its `client_id` and `client_secret` on `oauth.v2.access`,
/// `oauth.access` and `openid.connect.token`.
///
/// `oauth.v2.exchange` always sends them in the form body: Slack documents them as form
/// parameters there, and every official SDK sends them so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form parameters, as `@slack/web-api` sends them.
    #[default]
    FormBody,
    /// `Authorization: Basic base64(client_id:client_secret)`, as Slack's docs recommend and
    /// `slack_sdk` (Python) and the Java SDK send it. The form then holds neither.
    Basic,
}

/// A Slack app, as a client of Slack's OAuth and auth methods.
///
/// Cheap to clone (the state is shared). Build one with [`SlackClient::builder`]:
///
/// ```
/// use oauth_slack::{ClientAuth, SlackClient};
///
/// // A confidential client (an app with a client secret).
/// let client = SlackClient::builder("2141029472.691202649728")
///     .client_secret("client-secret")
///     .redirect_uri("https://example.com/slack/oauth/callback")
///     .client_auth(ClientAuth::Basic)
///     .build()?;
/// assert!(!format!("{client:?}").contains("client-secret"));
///
/// // A public client (PKCE, no secret), e.g. a desktop app.
/// let public = SlackClient::builder("2141029472.691202649728")
///     .redirect_uri("http://127.0.0.1:8765/callback")
///     .build()?;
/// assert!(public.is_public());
/// # Ok::<(), oauth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SlackClient {
    inner: Arc<Inner>,
}

struct Inner {
    client_id: String,
    client_secret: Option<ClientSecret>,
    api_base: Url,
    /// The URI of each method this crate calls, made and checked at build.
    method_uris: Vec<(&'static str, http::Uri)>,
    authorize_base: Url,
    client_auth: ClientAuth,
    /// A user-token-only app: installs go through `/oauth/v2_user/authorize` and
    /// `oauth.v2.user.access`.
    user_only: bool,
    /// With [`ClientAuth::Basic`]: the `Authorization: Basic …` value (marked sensitive), worked
    /// out once at build.
    basic: Option<http::HeaderValue>,
    /// The redirect URI, HTTP client, clock and `allow_insecure_http`.
    common: ClientCommon,
}

impl fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("SlackClient")
            .field("client_id", &inner.client_id)
            .field("client_secret", &inner.client_secret)
            .field("redirect_uri", &inner.common.redirect_uri())
            .field("api_base", &inner.api_base.as_str())
            .field("authorize_base", &inner.authorize_base.as_str())
            .field("client_auth", &inner.client_auth)
            .field("user_only_install", &inner.user_only)
            .finish_non_exhaustive()
    }
}

impl SlackClient {
    /// A builder for the app with this client id (`<digits>.<digits>`).
    pub fn builder(client_id: impl Into<String>) -> SlackClientBuilder {
        SlackClientBuilder {
            client_id: client_id.into(),
            client_secret: None,
            api_base: DEFAULT_BASE_URL.to_owned(),
            authorize_base: DEFAULT_AUTHORIZE_BASE_URL.to_owned(),
            client_auth: ClientAuth::default(),
            user_only: false,
            settings: ClientSettings::default(),
        }
    }

    /// Whether the app installs with user tokens only ([`SlackClientBuilder::user_only_install`]).
    pub fn is_user_only_install(&self) -> bool {
        self.inner.user_only
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The default redirect URI, if one was configured.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.inner.common.redirect_uri()
    }

    /// Whether this is a public (PKCE) client: it has no client secret.
    pub fn is_public(&self) -> bool {
        self.inner.client_secret.is_none()
    }

    /// Where the client credentials go.
    pub fn client_auth(&self) -> ClientAuth {
        self.inner.client_auth
    }

    /// The Web API base URL (ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.api_base
    }

    /// The base URL of the browser endpoints (ends with `/`).
    pub fn authorize_base_url(&self) -> &Url {
        &self.inner.authorize_base
    }

    /// The redirect URI, HTTP client, clock and `allow_insecure_http`.
    pub(crate) fn common(&self) -> &ClientCommon {
        &self.inner.common
    }

    /// The URI of a Web API method: the API base followed by the method name.
    pub(crate) fn method_uri(&self, method: &str) -> Result<http::Uri> {
        match self.inner.method_uris.iter().find(|(m, _)| *m == method) {
            Some((_, uri)) => Ok(uri.clone()),
            None => endpoint_uri(&self.inner.api_base, method),
        }
    }

    pub(crate) fn browser_url(&self, path: &str) -> Result<Url> {
        self.inner
            .authorize_base
            .join(path)
            .map_err(|e| Error::configuration(format!("cannot build the URL of {path}: {e}")))
    }

    /// Adds the client credentials of a token-endpoint call (`oauth.v2.access`, `oauth.access`,
    /// `openid.connect.token`): `client_id` always (in the form unless Basic), `client_secret` in
    /// the form or in Basic; a public client sends only `client_id`.
    pub(crate) fn client_credentials(&self, form: &mut Form) -> Credential<'static> {
        if let Some(basic) = &self.inner.basic {
            return Credential::Basic(basic.clone());
        }
        form.push("client_id", self.inner.client_id.as_str());
        if let Some(secret) = &self.inner.client_secret {
            form.push("client_secret", secret.expose_secret());
        }
        Credential::None
    }

    /// The client secret, for the methods that cannot do without it.
    pub(crate) fn require_secret(&self, method: &str) -> Result<&ClientSecret> {
        self.inner.client_secret.as_ref().ok_or_else(|| {
            Error::configuration(format!(
                "{method} needs the app's client secret; this client is public (PKCE)"
            ))
        })
    }
}

/// Builds a [`SlackClient`]. See [`SlackClient::builder`].
#[derive(Debug)]
pub struct SlackClientBuilder {
    client_id: String,
    client_secret: Option<ClientSecret>,
    api_base: String,
    authorize_base: String,
    client_auth: ClientAuth,
    user_only: bool,
    settings: ClientSettings,
}

impl SlackClientBuilder {
    /// The app's client secret. Without one the client is public (PKCE): it sends only its
    /// `client_id`, and `oauth.v2.exchange` and `oauth.access` are unavailable.
    pub fn client_secret(mut self, secret: impl Into<ClientSecret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// The Web API base URL (default [`DEFAULT_BASE_URL`]; e.g. a sandbox's
    /// `http://127.0.0.1:PORT/api/`, or GovSlack's `https://slack-gov.com/api/`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// The base URL of the browser endpoints (default [`DEFAULT_AUTHORIZE_BASE_URL`]).
    pub fn authorize_base_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_base = url.into();
        self
    }

    /// Where the client credentials go (default [`ClientAuth::FormBody`]).
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// A user-token-only app (default `false`): the [`TokenProvider`](oauth_core::TokenProvider)
    /// methods use the user-only install, so that the install flow and the token manager work
    /// with it unchanged. `authorization_url` gives `/oauth/v2_user/authorize` (the request's
    /// scopes are user scopes), `exchange_code` calls `oauth.v2.user.access` and grants the
    /// user's token set only, and `refresh` calls `oauth.v2.user.access` with
    /// `grant_type=refresh_token`.
    pub fn user_only_install(mut self, user_only: bool) -> Self {
        self.user_only = user_only;
        self
    }

    oauth_core::client_builder_methods!();

    /// Checks the configuration and builds the client. Fails with [`Error::Configuration`] on
    /// an empty client id, Basic authentication without a secret, an invalid or plain-http base
    /// URL, or a default redirect URI that [`check_redirect_uri`](oauth_core::check_redirect_uri) refuses.
    pub fn build(self) -> Result<SlackClient> {
        let allow_insecure_http = self.settings.allow_insecure_http;
        if self.client_id.trim().is_empty() {
            return Err(Error::configuration("the Slack client id is empty"));
        }
        if self.client_auth == ClientAuth::Basic && self.client_secret.is_none() {
            return Err(Error::configuration(
                "HTTP Basic client authentication needs a client secret",
            ));
        }
        let api_base = parse_base_url("Slack API base", &self.api_base, allow_insecure_http)?;
        let authorize_base = parse_base_url(
            "Slack authorize base",
            &self.authorize_base,
            allow_insecure_http,
        )?;
        let common = self.settings.build()?;
        let basic = match (&self.client_secret, self.client_auth) {
            (Some(secret), ClientAuth::Basic) => Some(basic_auth(&self.client_id, secret)?),
            _ => None,
        };
        let method_uris = METHODS
            .into_iter()
            .map(|method| Ok((method, endpoint_uri(&api_base, method)?)))
            .collect::<Result<_>>()?;
        Ok(SlackClient {
            inner: Arc::new(Inner {
                client_id: self.client_id,
                client_secret: self.client_secret,
                api_base,
                method_uris,
                authorize_base,
                client_auth: self.client_auth,
                user_only: self.user_only,
                basic,
                common,
            }),
        })
    }
}

/// Every Web API method the client calls.
const METHODS: [&str; 12] = [
    OauthV2RefreshResponse::OPERATION,
    OauthV2UserAccessResponse::OPERATION,
    OauthV2AccessResponse::OPERATION,
    OauthV2ExchangeResponse::OPERATION,
    OauthAccessResponse::OPERATION,
    OpenIdConnectTokenResponse::OPERATION,
    OpenIdConnectUserInfoResponse::OPERATION,
    AuthTestResponse::OPERATION,
    AuthRevokeResponse::OPERATION,
    AuthTeamsListResponse::OPERATION,
    AppsAuthExternalGetResponse::OPERATION,
    AppsAuthExternalDeleteResponse::OPERATION,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn base(value: &str) -> Result<String> {
        parse_base_url("API base", value, false).map(|u| u.to_string())
    }

    #[test]
    fn base_urls_are_normalised_and_checked() {
        assert_eq!(
            base("https://slack.com/api").ok().as_deref(),
            Some("https://slack.com/api/")
        );
        assert_eq!(
            base("http://127.0.0.1:9/api/").ok().as_deref(),
            Some("http://127.0.0.1:9/api/")
        );
        assert!(base("http://slack.example/api/").is_err());
        assert!(base("ftp://slack.com/api/").is_err());
        assert!(base("https://slack.com/api/?x=1").is_err());
        assert!(parse_base_url("API base", "http://slack.example/api/", true).is_ok());
    }

    #[test]
    fn basic_needs_a_secret_and_client_id_is_required() {
        let basic = SlackClient::builder("1.2")
            .client_auth(ClientAuth::Basic)
            .build();
        assert!(matches!(basic, Err(Error::Configuration(_))));
        assert!(matches!(
            SlackClient::builder(" ").build(),
            Err(Error::Configuration(_))
        ));
    }
}
