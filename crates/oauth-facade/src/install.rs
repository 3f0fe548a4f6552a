//! An OAuth install flow to mount in an axum app (feature `axum`), like Bolt's built-in OAuth: an
//! install route that creates the CSRF state (and a PKCE verifier where enabled) and redirects to
//! the provider, and a callback route that verifies the state, exchanges the code, saves the
//! installation through the token manager's store, and answers with a page (or your hooks).
//!
//! The install route binds the `state` to the browser it answers with a cookie (see
//! [`COOKIE_NAME`]): the callback is refused, before the code is exchanged, unless it comes with
//! that cookie, so a callback link carried to another browser (login CSRF, installation
//! fixation) installs nothing.

mod cookie;

pub use cookie::{COOKIE_NAME, SECURE_COOKIE_NAME};

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use oauth_core::{
    AuthorizationRequest, CallbackError, CallbackParams, CodeExchange, CsrfState,
    DEFAULT_STATE_TTL, Error, ErrorKind, Grant, MemoryStateStore, PendingAuthorization, Result,
    Scopes, StateStore, VerifiedCallback, check_redirect_uri, verify_callback,
};
use oauth_manager::TokenManager;

/// What the callback shows. Implement it to render your own pages or redirect elsewhere.
#[async_trait]
pub trait InstallHooks: Send + Sync {
    /// After everything the authorization granted was saved (the installation and its token
    /// sets: for Slack, the bot's and the installing user's).
    async fn on_success(&self, grant: &Grant) -> Response;
    /// When the flow failed (denied consent, bad or replayed state, provider refusal…).
    async fn on_failure(&self, error: &Error) -> Response;
}

/// Plain HTML pages: "installed" (200) or the error and what to do. Never shows a secret: error
/// messages hold none.
///
/// | Error kind | Status |
/// | --- | --- |
/// | `AuthorizationDenied`, `InvalidCallback`, `InvalidRequest`, `ReauthorizationRequired` (the provider refused the code) | 400 |
/// | `Configuration`, `Storage`, `Internal` | 500 |
/// | the provider or the network failing (`Retryable`, `RateLimited`, `Transport`, `Timeout`, `UndecodableResponse`, …) | 502 |
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultHooks;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[async_trait]
impl InstallHooks for DefaultHooks {
    async fn on_success(&self, grant: &Grant) -> Response {
        let key = &grant.installation.key;
        let grantee = grant.primary().map(|granted| &granted.tokens.grantee);
        let workspace = grantee
            .and_then(|g| g.workspace_name.clone().or_else(|| g.workspace_id.clone()))
            .unwrap_or_else(|| key.key().to_owned());
        Html(format!(
            "<!doctype html><title>Installed</title><h1>Installed</h1><p>The app is installed for <b>{}</b> ({}). You can close this page.</p>",
            escape(&workspace),
            escape(key.provider().as_str())
        ))
        .into_response()
    }

    async fn on_failure(&self, error: &Error) -> Response {
        let status = match error.kind() {
            // The browser brought something unusable (a refusal, a forged, replayed or malformed
            // callback, a code the provider no longer accepts): the user must start again.
            ErrorKind::AuthorizationDenied
            | ErrorKind::InvalidCallback
            | ErrorKind::InvalidRequest
            | ErrorKind::ReauthorizationRequired => StatusCode::BAD_REQUEST,
            ErrorKind::Configuration | ErrorKind::Storage | ErrorKind::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_GATEWAY,
        };
        (
            status,
            Html(format!(
                "<!doctype html><title>Installation failed</title><h1>Installation failed</h1><p>{}</p><p><a href=\"javascript:history.back()\">Try again</a></p>",
                escape(&error.to_string())
            )),
        )
            .into_response()
    }
}

struct Flow {
    manager: TokenManager,
    states: Arc<dyn StateStore>,
    redirect_uri: String,
    scopes: Scopes,
    params: Vec<(String, String)>,
    pkce: bool,
    /// How long the browser keeps the binding cookie: the state's time to live.
    cookie_ttl: std::time::Duration,
    hooks: Arc<dyn InstallHooks>,
}

/// The install flow. Build it with [`InstallFlow::builder`], mount [`InstallFlow::router`].
///
/// ```no_run
/// # async fn run(manager: oauth_manager::TokenManager) {
/// use oauth_core::Scopes;
/// use oauth_facade::install::InstallFlow;
/// let flow = InstallFlow::builder(manager, "https://example.com/slack/oauth_redirect")
///     .scopes(Scopes::parse("chat:write,commands"))
///     .build()
///     .unwrap();
/// let app = axum::Router::new().merge(flow.router("/slack/install", "/slack/oauth_redirect"));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct InstallFlow {
    flow: Arc<Flow>,
}

impl std::fmt::Debug for InstallFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallFlow")
            .field("provider", &self.flow.manager.provider().provider_id())
            .field("redirect_uri", &self.flow.redirect_uri)
            .field("scopes", &self.flow.scopes)
            .field("pkce", &self.flow.pkce)
            .finish_non_exhaustive()
    }
}

/// Configures an [`InstallFlow`].
pub struct InstallFlowBuilder {
    manager: TokenManager,
    redirect_uri: String,
    scopes: Scopes,
    params: Vec<(String, String)>,
    pkce: bool,
    states: Option<Arc<dyn StateStore>>,
    hooks: Option<Arc<dyn InstallHooks>>,
}

impl std::fmt::Debug for InstallFlowBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallFlowBuilder")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl InstallFlowBuilder {
    /// The scopes to request (Slack bot scopes; Notion has none).
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// An extra authorization parameter (Slack `user_scope`, `team`…).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Uses PKCE (required for Slack public clients; Notion does not support it).
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// Where states wait for their callback (default: in memory, 10 minutes, single server).
    pub fn state_store(mut self, states: Arc<dyn StateStore>) -> Self {
        self.states = Some(states);
        self
    }

    /// What the callback answers (default [`DefaultHooks`]).
    pub fn hooks(mut self, hooks: Arc<dyn InstallHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Checks the configuration and builds the flow.
    ///
    /// Fails with [`Error::Configuration`] when:
    /// - the redirect URI is not one a provider can redirect to ([`check_redirect_uri`]): not an
    ///   absolute URL (`/oauth/callback`), with a fragment, or with whitespace;
    /// - the provider refuses to build an authorization URL for this flow. `build` builds one, as
    ///   every install will, so a plain-`http` redirect URI off loopback (unless the provider
    ///   client was built with `allow_insecure_http`), scopes or PKCE the provider does not
    ///   support, or a parameter that shadows one of the provider's fail here, once, rather
    ///   than on every install.
    pub fn build(self) -> Result<InstallFlow> {
        // The structural rules whatever the provider; plain http is the provider's call below.
        check_redirect_uri(&self.redirect_uri, true)?;
        let trial = self
            .authorization_request(CsrfState::new("install-flow-build-check"))
            .and_then(|request| self.manager.provider().authorization_url(&request));
        if let Err(error) = trial {
            return Err(match error {
                Error::InvalidRequest(message) => Error::configuration(format!(
                    "the provider refuses this install flow's authorization request: {message}"
                )),
                other => other,
            });
        }
        Ok(InstallFlow {
            flow: Arc::new(Flow {
                manager: self.manager,
                states: self
                    .states
                    .unwrap_or_else(|| Arc::new(MemoryStateStore::new())),
                redirect_uri: self.redirect_uri,
                scopes: self.scopes,
                params: self.params,
                pkce: self.pkce,
                cookie_ttl: DEFAULT_STATE_TTL,
                hooks: self.hooks.unwrap_or_else(|| Arc::new(DefaultHooks)),
            }),
        })
    }

    /// The authorization request of one install: `state`, the redirect URI, scopes, parameters
    /// and (when enabled) a fresh PKCE verifier.
    fn authorization_request(&self, state: CsrfState) -> Result<AuthorizationRequest> {
        authorization_request(
            state,
            &self.redirect_uri,
            &self.scopes,
            &self.params,
            self.pkce,
        )
    }
}

fn authorization_request(
    state: CsrfState,
    redirect_uri: &str,
    scopes: &Scopes,
    params: &[(String, String)],
    pkce: bool,
) -> Result<AuthorizationRequest> {
    let mut request = AuthorizationRequest::with_state(state)
        .redirect_uri(redirect_uri)
        .scopes(scopes.clone());
    for (name, value) in params {
        request = request.param(name.clone(), value.clone());
    }
    if pkce {
        request = request.with_pkce()?;
    }
    Ok(request)
}

impl InstallFlow {
    /// A flow that installs through `manager`'s provider and store; `redirect_uri` is the public
    /// URL of the callback route, exactly as registered with the provider (checked by
    /// [`InstallFlowBuilder::build`]).
    pub fn builder(manager: TokenManager, redirect_uri: impl Into<String>) -> InstallFlowBuilder {
        InstallFlowBuilder {
            manager,
            redirect_uri: redirect_uri.into(),
            scopes: Scopes::new(),
            params: Vec::new(),
            pkce: false,
            states: None,
            hooks: None,
        }
    }

    /// The two routes: `GET install_path` redirects to the provider, `GET callback_path` finishes.
    pub fn router<S: Clone + Send + Sync + 'static>(
        &self,
        install_path: &str,
        callback_path: &str,
    ) -> Router<S> {
        Router::new()
            .route(install_path, get(install))
            .route(callback_path, get(callback))
            .with_state(self.flow.clone())
    }

    /// Starts an authorization: saves its state and returns the provider's URL.
    pub async fn start(&self) -> Result<String> {
        self.flow.start().await
    }

    /// Finishes one from the callback's query string: everything the authorization granted, saved.
    ///
    /// For authorizations started with [`start`](Self::start), whose `state` is bound to no
    /// browser: use them where the state never leaves your process and the user's own browser
    /// (a command-line login on a loopback callback). A state the install route bound to a
    /// browser is refused here ([`CallbackError::BrowserMismatch`]): finish those with
    /// [`finish_bound`](Self::finish_bound) or the router.
    pub async fn finish(&self, query: &str) -> Result<Grant> {
        self.flow.finish(query).await
    }

    /// Starts an authorization bound to the browser that asked (what the install route does): the
    /// provider's URL to send it to, and the `Set-Cookie` header to answer with.
    ///
    /// Fails with [`Error::Configuration`] if the redirect URI is not an `http(s)` URL (a
    /// custom-scheme callback reaches an app, which holds no browser cookie).
    pub async fn start_bound(&self) -> Result<BoundStart> {
        self.flow.start_bound().await
    }

    /// Finishes an authorization started with [`start_bound`](Self::start_bound), from the
    /// callback's query string and the request's headers (its `Cookie`). A callback without the
    /// browser's cookie ([`CallbackError::MissingBrowserCookie`]) or with another's
    /// ([`CallbackError::BrowserMismatch`]) is refused before the code is sent anywhere.
    pub async fn finish_bound(&self, query: &str, headers: &HeaderMap) -> Result<Grant> {
        self.flow.finish_bound(query, headers).await
    }
}

/// A browser-bound authorization, started: where to send the browser, and the cookie to give it.
#[derive(Debug)]
pub struct BoundStart {
    url: String,
    set_cookie: HeaderValue,
}

impl BoundStart {
    /// The provider's authorization URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `Set-Cookie` value to answer with (the browser's secret; never log it).
    pub fn set_cookie(&self) -> &HeaderValue {
        &self.set_cookie
    }
}

/// Where the state keeps the hash of the browser's cookie.
const BINDING: &str = "oauth_facade.browser_binding";

impl Flow {
    async fn start(&self) -> Result<String> {
        self.start_with(None).await
    }

    async fn start_bound(&self) -> Result<BoundStart> {
        let cookie = cookie::CookieSpec::for_redirect_uri(&self.redirect_uri, self.cookie_ttl)?;
        let secret = CsrfState::generate()?;
        let url = self
            .start_with(Some(cookie::binding_of(secret.as_str())))
            .await?;
        Ok(BoundStart {
            url,
            set_cookie: cookie.set(secret.as_str())?,
        })
    }

    async fn start_with(&self, binding: Option<String>) -> Result<String> {
        let provider = self.manager.provider();
        let request = authorization_request(
            CsrfState::generate()?,
            &self.redirect_uri,
            &self.scopes,
            &self.params,
            self.pkce,
        )?;
        let url = provider.authorization_url(&request)?;
        let mut pending =
            PendingAuthorization::from_request(&request, provider.provider_id(), SystemTime::now());
        if let Some(binding) = binding {
            pending.data.insert(BINDING.to_owned(), binding);
        }
        self.states.save(request.state(), pending).await?;
        Ok(url.to_string())
    }

    async fn finish(&self, query: &str) -> Result<Grant> {
        let verified = verify_callback(query, self.states.as_ref()).await?;
        if verified.pending.data.contains_key(BINDING) {
            return Err(CallbackError::BrowserMismatch.into());
        }
        self.exchange(verified).await
    }

    async fn finish_bound(&self, query: &str, headers: &HeaderMap) -> Result<Grant> {
        let cookie = cookie::CookieSpec::for_redirect_uri(&self.redirect_uri, self.cookie_ttl)?;
        let verified = CallbackParams::parse(query)?
            .verify(self.states.as_ref())
            .await?;
        let Some(expected) = verified.pending.data.get(BINDING) else {
            return Err(CallbackError::BrowserMismatch.into());
        };
        match cookie.check(headers, expected) {
            cookie::Binding::Matches => self.exchange(verified).await,
            cookie::Binding::Missing => Err(CallbackError::MissingBrowserCookie.into()),
            cookie::Binding::Mismatch => Err(CallbackError::BrowserMismatch.into()),
        }
    }

    async fn exchange(&self, verified: VerifiedCallback) -> Result<Grant> {
        self.manager
            .exchange_and_save(CodeExchange::from_callback(verified))
            .await
    }

    /// The `Set-Cookie` that clears the browser's cookie, on every callback answer.
    fn clear_cookie(&self) -> Option<HeaderValue> {
        cookie::CookieSpec::for_redirect_uri(&self.redirect_uri, self.cookie_ttl)
            .and_then(|cookie| cookie.clear())
            .ok()
    }
}

async fn install(State(flow): State<Arc<Flow>>) -> Response {
    match flow.start_bound().await {
        Ok(start) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, HeaderValue::try_from(start.url).ok()),
                (header::SET_COOKIE, Some(start.set_cookie)),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect::<HeaderMap>(),
        )
            .into_response(),
        Err(error) => flow.hooks.on_failure(&error).await,
    }
}

async fn callback(
    State(flow): State<Arc<Flow>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut response = match flow
        .finish_bound(query.as_deref().unwrap_or(""), &headers)
        .await
    {
        Ok(grant) => flow.hooks.on_success(&grant).await,
        Err(error) => flow.hooks.on_failure(&error).await,
    };
    if let Some(clear) = flow.clear_cookie() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}
