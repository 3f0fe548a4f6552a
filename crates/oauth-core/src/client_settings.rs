//! [`ClientSettings`]: what every provider client's builder takes besides its credentials and
//! endpoints, and [`client_builder_methods!`](crate::client_builder_methods), their setters.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::authorize::{check_redirect_uri, exchange_redirect_uri};
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::http::{Call, HttpClient, HttpRequest, HttpResponse, ResponseClass, RetryPolicy};

/// The default redirect URI, the HTTP client and its retry policy, the
/// clock and whether plain `http` is allowed off loopback: the settings both provider clients'
/// builders share, with the
/// same setters ([`client_builder_methods!`](crate::client_builder_methods)).
#[derive(Clone, Default)]
pub struct ClientSettings {
    /// The default redirect URI of authorization URLs and code exchanges.
    pub redirect_uri: Option<String>,
    /// The HTTP client (default [`HttpClient::try_default`]'s).
    pub http: Option<HttpClient>,
    /// A retry policy that replaces the HTTP client's (default: keep the client's).
    pub retry: Option<RetryPolicy>,
    /// Whether plain `http` base URLs and redirect URIs are allowed off loopback.
    pub allow_insecure_http: bool,
    /// The clock that stamps received tokens (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("redirect_uri", &self.redirect_uri)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl ClientSettings {
    /// Checks the settings and makes what a client keeps of them: the redirect URI must pass
    /// [`check_redirect_uri`], the HTTP client is [`HttpClient::configured`]'s.
    pub fn build(self) -> Result<ClientCommon> {
        if let Some(redirect_uri) = &self.redirect_uri {
            check_redirect_uri(redirect_uri, self.allow_insecure_http)?;
        }
        Ok(ClientCommon {
            http: HttpClient::configured(self.http, self.retry)?,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            redirect_uri: self.redirect_uri,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

/// What a provider client keeps of its [`ClientSettings`], checked: the default redirect URI, the
/// HTTP client, the clock, whether plain `http` is allowed off loopback.
#[derive(Clone)]
pub struct ClientCommon {
    redirect_uri: Option<String>,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    allow_insecure_http: bool,
}

impl fmt::Debug for ClientCommon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCommon")
            .field("redirect_uri", &self.redirect_uri)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl ClientCommon {
    /// The default redirect URI, if one was configured.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Now, by the client's clock (the origin of received tokens' expiries).
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Whether plain `http` off loopback is allowed (base URLs and redirect URIs).
    pub fn allow_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    /// Sends `request` as `call` (retrying as the policy and `classify` allow) and decodes the
    /// answer with `decode`, received now by the client's clock.
    pub async fn send<T>(
        &self,
        call: &Call,
        request: HttpRequest,
        classify: fn(&HttpResponse) -> ResponseClass,
        decode: fn(&HttpResponse, SystemTime) -> Result<T>,
    ) -> Result<T> {
        let response = self.http.execute(call, request, classify).await?;
        decode(&response, self.now())
    }

    /// The `redirect_uri` a code exchange sends ([`exchange_redirect_uri`]): `given`, checked,
    /// else the default.
    pub fn exchange_redirect_uri<'a>(&'a self, given: Option<&'a str>) -> Result<Option<&'a str>> {
        exchange_redirect_uri(given, self.redirect_uri(), self.allow_insecure_http)
    }
}

/// The setters of [`ClientSettings`] on a provider client's builder, which keeps them in a field
/// named `settings`: `redirect_uri`, `http_client`, `retry_policy`,
/// `allow_insecure_http`, `clock`.
///
/// ```
/// use oauth_core::ClientSettings;
///
/// /// A provider client's builder.
/// pub struct ExampleBuilder {
///     settings: ClientSettings,
/// }
///
/// impl ExampleBuilder {
///     oauth_core::client_builder_methods!();
///
///     /// Builds the client.
///     pub fn build(self) -> oauth_core::Result<()> {
///         Ok(())
///     }
/// }
///
/// let builder = ExampleBuilder { settings: ClientSettings::default() }.allow_insecure_http(true);
/// assert!(builder.settings.allow_insecure_http);
/// ```
#[macro_export]
macro_rules! client_builder_methods {
    () => {
        /// The default redirect URI, used by the authorization URLs and the code exchanges when
        /// the request has none.
        ///
        /// [`build`](Self::build) refuses one that [`check_redirect_uri`]($crate::check_redirect_uri)
        /// refuses: not an absolute URL, with a fragment or whitespace, or plain `http` on a host
        /// that is not loopback (unless [`allow_insecure_http`](Self::allow_insecure_http)).
        /// Custom schemes (`myapp://callback`, for PKCE desktop apps) are accepted.
        pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
            self.settings.redirect_uri = Some(redirect_uri.into());
            self
        }

        /// The HTTP client: the one seam to the network, a transport and a retry policy
        /// (default: `oauth_core`'s reqwest transport, feature `reqwest`, with
        /// `RetryPolicy::default`). Give one over your own
        /// [`HttpTransport`]($crate::http::HttpTransport) with
        /// [`HttpClient::new`]($crate::http::HttpClient::new).
        pub fn http_client(mut self, http: $crate::http::HttpClient) -> Self {
            self.settings.http = Some(http);
            self
        }

        /// Replaces the HTTP client's retry policy (the default client's, or the one given to
        /// [`http_client`](Self::http_client)). Code exchanges and refreshes are never resent
        /// once they may have reached the provider, whatever the policy.
        pub fn retry_policy(mut self, retry: $crate::http::RetryPolicy) -> Self {
            self.settings.retry = Some(retry);
            self
        }

        /// Allows `http://` base URLs and redirect URIs on hosts that are not loopback
        /// (credentials and authorization codes then cross the network in clear text). Loopback
        /// (`127.0.0.1`, `[::1]`, `localhost`) is always allowed.
        pub fn allow_insecure_http(mut self, allow: bool) -> Self {
            self.settings.allow_insecure_http = allow;
            self
        }

        /// The clock that stamps received tokens (default: the system clock).
        pub fn clock(mut self, clock: ::std::sync::Arc<dyn $crate::Clock>) -> Self {
            self.settings.clock = Some(clock);
            self
        }
    };
}
