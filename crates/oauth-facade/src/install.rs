//! An OAuth install flow to mount in an axum app (feature `axum`), like Bolt's built-in OAuth: an
//! install route that starts an authorization and redirects to the provider, and a callback route
//! that verifies it, exchanges the code, saves the installation through the token manager's
//! store, and answers with a page (or your hooks).
//!
//! It is made to be put on the internet (docs/install-security.md has the threat model):
//!
//! - **The state is sealed** ([`StateKey`]): it carries what the callback needs (provider, expiry,
//!   redirect URI, the hash of the browser's cookie), encrypted and authenticated with the
//!   server's key. Starting an install stores nothing, so no flood of requests can evict another
//!   user's pending install, and every replica sharing the key can finish an install another
//!   started. The PKCE verifier is derived from the key and the state: stored nowhere, sent only
//!   in the code exchange, never in a URL.
//! - **The state is bound to the browser** with a cookie (see [`COOKIE_NAME`]): a callback
//!   without it, or with another browser's, is refused before the code is sent to the provider,
//!   so a callback link carried to another browser (login CSRF, installation fixation) installs
//!   nothing.
//! - **The state is single use**: a [`UsedStates`] store records each state as its callback uses
//!   it, until it expires ([`MemoryUsedStates`] by default, for one server; the SQLite and
//!   PostgreSQL token stores implement it for replicas).
//!
//! **Every answer is hardened**: `Cache-Control: no-store`, `Referrer-Policy: no-referrer`,
//! `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and a `Content-Security-Policy` with
//! `frame-ancestors 'none'`, on redirects, pages and your hooks' answers alike; the flow's own
//! pages escape all they show, and the failure page's "Try again" starts a new install. An
//! install page ("Add to Slack") can stand before the redirect
//! ([`InstallFlowBuilder::install_page`]).
//!
//! **Your app's context comes through.** The install route asks
//! [`InstallHooks::before_install`] for this install's [`InstallOptions`] (scopes, user scopes,
//! team, redirect URI, and metadata from your app's session); they travel sealed in the state
//! and come back, verified, to [`InstallHooks::on_success`] with the callback's request (its
//! headers and cookies), so the new installation can be linked to your logged-in user.

mod cookie;
mod flow;
mod hooks;
mod options;
mod pages;
mod seal;

pub use cookie::{COOKIE_NAME, SECURE_COOKIE_NAME};
pub use flow::{BoundStart, Completed};
pub use hooks::{
    DefaultHooks, Failed, InstallHooks, InstallPage, InstallRequest, Installed, Stage,
};
pub use oauth_core::{MemoryUsedStates, UsedStates};
pub use options::{InstallOptions, MAX_METADATA_LEN};
pub use seal::{MAX_STATE_LEN, StateKey};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oauth_core::{
    Clock, CsrfState, DEFAULT_STATE_TTL, Error, Grant, Result, Scopes, SystemClock,
    check_redirect_uri,
};
use oauth_manager::TokenManager;

use flow::{Flow, authorization_request};
use seal::Sealer;

/// The install flow. Build it with [`InstallFlow::builder`], mount [`InstallFlow::router`].
///
/// ```no_run
/// # async fn run(manager: oauth_facade::TokenManager) -> oauth_facade::Result<()> {
/// use oauth_facade::Scopes;
/// use oauth_facade::install::{InstallFlow, StateKey};
/// let flow = InstallFlow::builder(manager, "https://example.com/slack/oauth_redirect")
///     .scopes(Scopes::parse("chat:write,commands"))
///     // The same key on every replica (and a shared `used_states` store: see the builder).
///     .state_key(StateKey::from_base64(&std::env::var("INSTALL_STATE_KEY").unwrap())?)
///     .build()?;
/// let app = axum::Router::new().merge(flow.router("/slack/install", "/slack/oauth_redirect"));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # Ok(()) }
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
            .field("state_ttl", &self.flow.ttl)
            .field("used_states", &self.flow.used)
            .finish_non_exhaustive()
    }
}

/// Configures an [`InstallFlow`].
pub struct InstallFlowBuilder {
    manager: TokenManager,
    redirect_uri: String,
    other_redirect_uris: Vec<String>,
    install_url: Option<String>,
    scopes: Scopes,
    params: Vec<(String, String)>,
    pkce: bool,
    install_page: bool,
    key: Option<StateKey>,
    previous_keys: Vec<StateKey>,
    used: Option<Arc<dyn UsedStates>>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
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

    /// Another redirect URI an install's options may pick
    /// ([`InstallOptions::redirect_uri`]), as registered with the provider; checked by
    /// [`build`](Self::build) as the flow's own is. Any other is refused, so no install sends
    /// the provider's code anywhere you did not name here.
    pub fn allow_redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.other_redirect_uris.push(redirect_uri.into());
        self
    }

    /// The install route's URL as the browser reaches it, for the failure page's "Try again"
    /// link. Default: the `install_path` given to [`InstallFlow::router`] (set this when the
    /// router is nested or behind a proxy that changes paths).
    pub fn install_url(mut self, url: impl Into<String>) -> Self {
        self.install_url = Some(url.into());
        self
    }

    /// Shows an install page (an "Add to Slack" link, [`InstallHooks::install_page`]) at the
    /// install route instead of redirecting straight to the provider (Bolt's default; off here,
    /// which is Bolt's `directInstall`). The browser's cookie is set either way.
    pub fn install_page(mut self, enabled: bool) -> Self {
        self.install_page = enabled;
        self
    }

    /// Uses PKCE (required for Slack public clients; Notion does not support it). The verifier is
    /// derived from the state key and the state, so it is kept nowhere and sent only in the
    /// code exchange.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// The key that seals states. Default: a random key made by [`build`](Self::build), which
    /// only this process knows: give every replica the same key, or an install started on one
    /// replica fails on another (as unknown state).
    pub fn state_key(mut self, key: StateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// A previous state key, still accepted at the callback while states sealed with it may be
    /// in flight (one time to live after a rotation). May be given several times.
    pub fn previous_state_key(mut self, key: StateKey) -> Self {
        self.previous_keys.push(key);
        self
    }

    /// Where the uses of states are recorded, which makes each single use. Default: in memory
    /// ([`MemoryUsedStates`] on the flow's clock), for one server; replicas share one in their
    /// database (the SQLite and PostgreSQL token stores implement [`UsedStates`]).
    pub fn used_states(mut self, used: Arc<dyn UsedStates>) -> Self {
        self.used = Some(used);
        self
    }

    /// How long a state, and the browser's cookie, live (default 10 minutes, the lifetime of
    /// the providers' codes; at least one second).
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The clock that states expire by (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
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
        for redirect_uri in std::iter::once(&self.redirect_uri).chain(&self.other_redirect_uris) {
            // The structural rules whatever the provider; plain http is the provider's call.
            check_redirect_uri(redirect_uri, true)?;
            let mut trial = authorization_request(
                CsrfState::new("install-flow-build-check"),
                redirect_uri,
                &self.scopes,
                &self.params,
            );
            if self.pkce {
                trial = trial.with_pkce()?;
            }
            if let Err(error) = self.manager.provider().authorization_url(&trial) {
                return Err(match error {
                    Error::InvalidRequest(message) => Error::configuration(format!(
                        "the provider refuses this install flow's authorization request: {message}"
                    )),
                    other => other,
                });
            }
        }
        let key = match self.key {
            Some(key) => key,
            None => StateKey::generate()?,
        };
        let used = self
            .used
            .unwrap_or_else(|| Arc::new(MemoryUsedStates::new().with_clock(self.clock.clone())));
        Ok(InstallFlow {
            flow: Arc::new(Flow {
                manager: self.manager,
                sealer: Sealer::new(&key, &self.previous_keys),
                used,
                clock: self.clock,
                ttl: self.ttl,
                redirect_uri: self.redirect_uri,
                other_redirect_uris: self.other_redirect_uris,
                install_url: self.install_url,
                scopes: self.scopes,
                params: self.params,
                pkce: self.pkce,
                install_page: self.install_page,
                hooks: self.hooks.unwrap_or_else(|| Arc::new(DefaultHooks)),
            }),
        })
    }
}

impl InstallFlow {
    /// A flow that installs through `manager`'s provider and store; `redirect_uri` is the public
    /// URL of the callback route, exactly as registered with the provider (checked by
    /// [`InstallFlowBuilder::build`]).
    pub fn builder(manager: TokenManager, redirect_uri: impl Into<String>) -> InstallFlowBuilder {
        InstallFlowBuilder {
            manager,
            redirect_uri: redirect_uri.into(),
            other_redirect_uris: Vec::new(),
            install_url: None,
            scopes: Scopes::new(),
            params: Vec::new(),
            pkce: false,
            install_page: false,
            key: None,
            previous_keys: Vec::new(),
            used: None,
            ttl: DEFAULT_STATE_TTL,
            clock: Arc::new(SystemClock),
            hooks: None,
        }
    }

    /// The two routes: `GET install_path` redirects to the provider (and sets the browser's
    /// cookie), `GET callback_path` finishes.
    pub fn router<S: Clone + Send + Sync + 'static>(
        &self,
        install_path: &str,
        callback_path: &str,
    ) -> Router<S> {
        let routes = Arc::new(Routes {
            flow: self.flow.clone(),
            retry_url: self
                .flow
                .install_url
                .clone()
                .unwrap_or_else(|| install_path.to_owned()),
        });
        Router::new()
            .route(install_path, get(install))
            .route(callback_path, get(callback))
            .layer(axum::middleware::map_response(harden))
            .with_state(routes)
    }

    /// Starts an authorization bound to no browser and returns the provider's URL.
    ///
    /// For flows where the state never leaves your process and the user's own browser (a
    /// command-line login on a loopback callback): anyone holding such a state can finish it.
    /// A web app uses the router, or [`start_bound`](Self::start_bound).
    pub async fn start(&self) -> Result<String> {
        self.flow.start().await
    }

    /// Finishes an authorization started with [`start`](Self::start), from the callback's query
    /// string: everything the authorization granted, saved.
    ///
    /// A state bound to a browser is refused here ([`CallbackError::BrowserMismatch`]): finish
    /// those with [`finish_bound`](Self::finish_bound) or the router.
    ///
    /// [`CallbackError::BrowserMismatch`]: oauth_core::CallbackError::BrowserMismatch
    pub async fn finish(&self, query: &str) -> Result<Grant> {
        self.flow.finish(query, None).await
    }

    /// Starts an authorization bound to the browser that asked (what the install route does),
    /// with `options` (what they leave unset takes the flow's configuration): the provider's URL
    /// to send the browser to, and the `Set-Cookie` header to answer with.
    ///
    /// Fails with [`Error::Configuration`] if the redirect URI is not an `http(s)` URL (a
    /// custom-scheme callback reaches an app, which holds no browser cookie) or not one the flow
    /// allows, or for Slack's options with another provider; with [`Error::InvalidRequest`] for
    /// metadata over [`MAX_METADATA_LEN`] bytes.
    pub async fn start_bound(&self, options: &InstallOptions) -> Result<BoundStart> {
        self.flow.start_bound(options)
    }

    /// Finishes an authorization started with [`start_bound`](Self::start_bound), from the
    /// callback's query string and the request's headers (its `Cookie`). A callback without the
    /// browser's cookie ([`CallbackError::MissingBrowserCookie`]) or with another's
    /// ([`CallbackError::BrowserMismatch`]) is refused before the code is sent anywhere, and
    /// its state stays usable by the browser it belongs to.
    ///
    /// [`CallbackError::MissingBrowserCookie`]: oauth_core::CallbackError::MissingBrowserCookie
    /// [`CallbackError::BrowserMismatch`]: oauth_core::CallbackError::BrowserMismatch
    pub async fn finish_bound(&self, query: &str, headers: &HeaderMap) -> Result<Completed> {
        let (outcome, verified) = self.flow.finish_verified(query, Some(headers)).await;
        let grant = outcome?;
        Ok(Completed {
            grant,
            options: verified.map(|payload| payload.options).unwrap_or_default(),
        })
    }
}

/// What the routes share: the flow, and where a new install starts.
struct Routes {
    flow: Arc<Flow>,
    retry_url: String,
}

impl Routes {
    async fn failure(
        &self,
        error: &Error,
        stage: Stage,
        request: InstallRequest<'_>,
        options: Option<&InstallOptions>,
    ) -> Response {
        let failed = Failed {
            error,
            stage,
            request,
            options,
            retry_url: &self.retry_url,
        };
        self.flow.hooks.on_failure(&failed).await
    }
}

async fn install(State(routes): State<Arc<Routes>>, parts: Parts) -> Response {
    let flow = &routes.flow;
    let request = InstallRequest::new(&parts);
    let mut options = InstallOptions::new();
    if let Err(response) = flow.hooks.before_install(&request, &mut options).await {
        return response;
    }
    let start = match flow.start_bound(&options) {
        Ok(start) => start,
        Err(error) => {
            return routes
                .failure(&error, Stage::Install, request, Some(&options))
                .await;
        }
    };
    let mut response = if flow.install_page {
        let provider = flow.manager.provider().provider_id();
        let page = InstallPage {
            authorize_url: &start.url,
            provider: provider.as_str(),
            request,
            options: &options,
        };
        flow.hooks.install_page(&page).await
    } else {
        match HeaderValue::try_from(start.url.as_str()) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => {
                let error = Error::Internal(
                    "the provider's authorization URL is not a valid header value".into(),
                );
                return routes
                    .failure(&error, Stage::Install, request, Some(&options))
                    .await;
            }
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, start.set_cookie);
    response
}

/// Every answer of the routes gets the flow's security headers.
async fn harden(response: Response) -> Response {
    pages::harden(response)
}

async fn callback(
    State(routes): State<Arc<Routes>>,
    parts: Parts,
    RawQuery(query): RawQuery,
) -> Response {
    let flow = &routes.flow;
    let request = InstallRequest::new(&parts);
    let (outcome, verified) = flow
        .finish_verified(query.as_deref().unwrap_or(""), Some(&parts.headers))
        .await;
    let options = verified.as_ref().map(|payload| &payload.options);
    let mut response = match &outcome {
        Ok(grant) => {
            let installed = Installed {
                grant,
                request,
                options: options.unwrap_or(&DEFAULT_OPTIONS),
            };
            flow.hooks.on_success(&installed).await
        }
        Err(error) => {
            routes
                .failure(error, Stage::Callback, request, options)
                .await
        }
    };
    if let Some(clear) = verified.and_then(|payload| flow.clear_cookie(&payload)) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// (A successful callback always verified its state; this is never shown.)
static DEFAULT_OPTIONS: InstallOptions = InstallOptions::EMPTY;
