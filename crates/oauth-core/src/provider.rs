//! The traits application code is written against.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::authorize::AuthorizationRequest;
use crate::callback::VerifiedCallback;
use crate::error::Result;
use crate::installation::Grant;
use crate::secret::{AccessToken, AuthorizationCode, PkceVerifier, RefreshToken};
use crate::token::{ProviderExtras, ProviderId, TokenInfo, TokenSet};

/// What a code exchange needs: the code, the redirect URI sent to the authorization endpoint, the
/// PKCE verifier if PKCE was used, and provider-specific extras (e.g. Notion's `external_account`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CodeExchange {
    /// The code from the callback.
    pub code: AuthorizationCode,
    /// The redirect URI, exactly as sent in the authorization URL (if one was sent). Providers
    /// check it with [`check_redirect_uri`](crate::check_redirect_uri) before sending anything,
    /// so a relative one, one with a fragment, or plain `http` off loopback (unless the client
    /// allows insecure http) fails as [`Error::Configuration`](crate::Error::Configuration)
    /// without spending the code.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier, if the authorization URL carried a challenge.
    pub pkce_verifier: Option<PkceVerifier>,
    /// Provider-specific parameters, documented by each provider crate.
    pub extras: ProviderExtras,
}

impl CodeExchange {
    /// An exchange of `code` with nothing else.
    pub fn new(code: AuthorizationCode) -> Self {
        Self {
            code,
            redirect_uri: None,
            pkce_verifier: None,
            extras: ProviderExtras::new(),
        }
    }

    /// The exchange for a verified callback: its code, and the redirect URI and PKCE verifier
    /// saved when the authorization started.
    pub fn from_callback(callback: VerifiedCallback) -> Self {
        Self {
            code: callback.code,
            redirect_uri: callback.pending.redirect_uri,
            pkce_verifier: callback.pending.pkce_verifier,
            extras: ProviderExtras::new(),
        }
    }

    /// Sets the redirect URI: the one the authorization URL carried, byte for byte (see the
    /// field's documentation for the checks).
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// Sets the PKCE verifier.
    pub fn pkce_verifier(mut self, verifier: PkceVerifier) -> Self {
        self.pkce_verifier = Some(verifier);
        self
    }

    /// Sets a provider-specific extra.
    pub fn extra(
        mut self,
        key: impl Into<std::borrow::Cow<'static, str>>,
        value: serde_json::Value,
    ) -> Self {
        self.extras.insert(key, value);
        self
    }
}

/// Getting tokens: exchanging an authorization code, and refreshing.
#[async_trait]
pub trait TokenGrant: Send + Sync {
    /// Exchanges an authorization code for everything it grants: the installation and each of
    /// its token sets (Slack: the bot's and the installing user's, when user scopes were granted;
    /// Notion: its one bot token set). Never retried once the request may have reached the
    /// provider: codes are single-use.
    async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant>;

    /// Exchanges a refresh token for a new token set. The result carries a refresh token whenever
    /// one is usable: the rotated one, or the one passed in if the provider did not rotate it.
    /// Never retried once the request may have reached the provider: Slack refresh tokens are
    /// single-use.
    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet>;

    /// The longest one [`refresh`](Self::refresh) call can take, every attempt and retry wait
    /// included, if this client knows it (provider crates answer with their HTTP client's
    /// [`call_time_bound`](crate::http::HttpClient::call_time_bound)). The token manager refuses a
    /// refresh lease shorter than this, so that no second refresh with the same single-use token
    /// can start while the first may still be in flight. `None` (the default): unknown.
    fn refresh_time_bound(&self) -> Option<Duration> {
        None
    }
}

/// Checking a token.
#[async_trait]
pub trait Introspect: Send + Sync {
    /// Reports whether `token` is active, with what the provider tells about it. An invalid,
    /// revoked or expired token is `Ok` with `active: false`, not an error.
    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo>;
}

/// Giving up a token.
#[async_trait]
pub trait Revoke: Send + Sync {
    /// Revokes `token` at the provider.
    async fn revoke(&self, token: &AccessToken) -> Result<()>;
}

/// A complete provider: every token operation, its id, and its authorization URL (and `Debug`,
/// which must not show secrets). Object-safe:
/// application code holds an `Arc<dyn TokenProvider>` and tests swap in a mock
/// (`MockTokenProvider`, feature `mock`).
///
/// ```
/// use std::sync::Arc;
/// use oauth_core::{AccessToken, TokenProvider};
///
/// async fn still_valid(provider: Arc<dyn TokenProvider>, token: &AccessToken) -> oauth_core::Result<bool> {
///     Ok(provider.introspect(token).await?.active)
/// }
/// ```
pub trait TokenProvider: TokenGrant + Introspect + Revoke + std::fmt::Debug {
    /// The provider's id (`"notion"`, `"slack"`).
    fn provider_id(&self) -> ProviderId;

    /// The URL to send the user's browser to.
    fn authorization_url(&self, request: &AuthorizationRequest) -> Result<Url>;
}

#[async_trait]
impl<T: TokenGrant + ?Sized> TokenGrant for Arc<T> {
    async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant> {
        (**self).exchange_code(exchange).await
    }

    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        (**self).refresh(refresh_token).await
    }

    fn refresh_time_bound(&self) -> Option<Duration> {
        (**self).refresh_time_bound()
    }
}

#[async_trait]
impl<T: Introspect + ?Sized> Introspect for Arc<T> {
    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo> {
        (**self).introspect(token).await
    }
}

#[async_trait]
impl<T: Revoke + ?Sized> Revoke for Arc<T> {
    async fn revoke(&self, token: &AccessToken) -> Result<()> {
        (**self).revoke(token).await
    }
}

impl<T: TokenProvider + ?Sized> TokenProvider for Arc<T> {
    fn provider_id(&self) -> ProviderId {
        (**self).provider_id()
    }
    fn authorization_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        (**self).authorization_url(request)
    }
}
