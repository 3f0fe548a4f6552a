//! What the routes answer: [`InstallHooks`], what they are given (the request, the install's
//! verified options), and [`DefaultHooks`].

use async_trait::async_trait;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use oauth_core::{Error, ErrorKind, Grant};

use super::cookie::cookie_values;
use super::options::InstallOptions;
use super::pages::{page, provider_name};

/// The request a route received, as the hooks see it: method, URI, headers, and its cookies.
#[derive(Clone, Copy, Debug)]
pub struct InstallRequest<'a> {
    parts: &'a Parts,
}

impl<'a> InstallRequest<'a> {
    /// The request whose parts are `parts`.
    pub fn new(parts: &'a Parts) -> Self {
        Self { parts }
    }

    /// Its parts (method, URI, version, headers, extensions: what axum's middleware put there).
    pub fn parts(&self) -> &'a Parts {
        self.parts
    }

    /// Its headers.
    pub fn headers(&self) -> &'a HeaderMap {
        &self.parts.headers
    }

    /// Its URI.
    pub fn uri(&self) -> &'a Uri {
        &self.parts.uri
    }

    /// The value of its first cookie named `name` (your app's session cookie, say).
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        cookie_values(&self.parts.headers, name).next()
    }
}

/// An install that succeeded, as [`InstallHooks::on_success`] gets it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Installed<'a> {
    /// Everything the authorization granted, saved (the installation and its token sets: for
    /// Slack, the bot's and the installing user's).
    pub grant: &'a Grant,
    /// The callback request (headers, cookies: your app's session).
    pub request: InstallRequest<'a>,
    /// The install's options and metadata as the install route set them, verified: they came
    /// sealed in the state, with the cookie of the browser that started the install.
    pub options: &'a InstallOptions,
}

/// Which route failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// The install route could not start an authorization.
    Install,
    /// The callback was refused, or the exchange or the save failed.
    Callback,
}

/// An install that failed, as [`InstallHooks::on_failure`] gets it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failed<'a> {
    /// What went wrong (denied consent, a forged, replayed or expired state, another browser's
    /// callback, a provider refusal…). Its message holds no secret.
    pub error: &'a Error,
    /// Which route failed.
    pub stage: Stage,
    /// The request.
    pub request: InstallRequest<'a>,
    /// The install's options and metadata. At the install route, those your
    /// [`InstallHooks::before_install`] set. At the callback, those sealed in the state, verified,
    /// when the failure came after the state verified with the browser's cookie (a denied
    /// consent, a replay, the provider's refusal, the store failing); `None` when the state
    /// itself was refused (forged, altered, expired, another browser's).
    pub options: Option<&'a InstallOptions>,
    /// Where a new install starts (the install route): the link to offer. Never the provider's
    /// authorization URL, whose state is spent or refused.
    pub retry_url: &'a str,
}

/// The install page, as [`InstallHooks::install_page`] gets it (with
/// [`InstallFlowBuilder::install_page`](super::InstallFlowBuilder::install_page)).
#[derive(Debug)]
#[non_exhaustive]
pub struct InstallPage<'a> {
    /// The provider's authorization URL this install goes to: the page's link. (It carries the
    /// state, not a secret; the answer is not cached.)
    pub authorize_url: &'a str,
    /// The provider (`slack`, `notion`).
    pub provider: &'a str,
    /// The install request.
    pub request: InstallRequest<'a>,
    /// The install's options, as [`InstallHooks::before_install`] set them.
    pub options: &'a InstallOptions,
}

/// What the routes answer. Implement the methods you need; the others answer as
/// [`DefaultHooks`] does.
#[async_trait]
pub trait InstallHooks: Send + Sync {
    /// Called by the install route before it starts an authorization: set this install's
    /// options from the request (its scopes, its team, and metadata from your app's session, which
    /// comes back verified to [`on_success`](Self::on_success)), or answer `Err(response)`
    /// instead (send a visitor who is not logged in to your login page). By default the install
    /// takes the flow's configuration.
    async fn before_install(
        &self,
        request: &InstallRequest<'_>,
        options: &mut InstallOptions,
    ) -> Result<(), Response> {
        let _ = (request, options);
        Ok(())
    }

    /// The install page, shown instead of a redirect when the flow has one: a page with a link
    /// to the provider. The install route sets the browser's cookie on whatever this answers.
    async fn install_page(&self, page: &InstallPage<'_>) -> Response {
        DefaultHooks::install_page(page)
    }

    /// After everything the authorization granted was saved.
    async fn on_success(&self, installed: &Installed<'_>) -> Response {
        DefaultHooks::success(installed)
    }

    /// When the install failed.
    async fn on_failure(&self, failed: &Failed<'_>) -> Response {
        DefaultHooks::failure(failed)
    }
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

impl DefaultHooks {
    /// The "installed" page: the workspace the app was installed in.
    pub fn success(installed: &Installed<'_>) -> Response {
        let grant = installed.grant;
        let key = &grant.installation.key;
        let grantee = grant.primary().map(|granted| &granted.tokens.grantee);
        let workspace = grantee
            .and_then(|g| g.workspace_name.clone().or_else(|| g.workspace_id.clone()))
            .unwrap_or_else(|| key.key().to_owned());
        let text = format!(
            "The app is installed for {workspace} ({}). You can close this page.",
            provider_name(key.provider().as_str())
        );
        page(StatusCode::OK, "Installed", &[&text], None)
    }

    /// The failure page: what went wrong, and a link that starts a new install.
    pub fn failure(failed: &Failed<'_>) -> Response {
        let message = failed.error.to_string();
        page(
            status_of(failed.error),
            "Installation failed",
            &[&message],
            Some(("Try again", failed.retry_url)),
        )
    }

    /// The install page: an "Add to …" link to the provider.
    pub fn install_page(install: &InstallPage<'_>) -> Response {
        let name = provider_name(install.provider);
        let title = format!("Add to {name}");
        let text =
            format!("Install the app in your {name} workspace: you will be asked to allow it.");
        page(
            StatusCode::OK,
            &title,
            &[&text],
            Some((&title, install.authorize_url)),
        )
    }
}

/// The status of a failure page (the table of [`DefaultHooks`]).
pub(crate) fn status_of(error: &Error) -> StatusCode {
    match error.kind() {
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
    }
}

#[async_trait]
impl InstallHooks for DefaultHooks {}
