//! One install, from start to finish: the sealed state made and sent, then at the callback opened,
//! checked (provider, redirect URI, expiry, the browser's cookie), recorded as used, and the code
//! exchanged.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use oauth_core::{
    AuthorizationRequest, CallbackError, CallbackParams, CallbackResponse, Clock, CodeExchange,
    CsrfState, Error, Grant, PkceVerifier, Result, Scopes, StateId, StateUse, UsedStates,
};
use oauth_manager::TokenManager;

use super::cookie::{self, Binding, CookieSpec};
use super::hooks::InstallHooks;
use super::options::InstallOptions;
use super::seal::{Payload, Sealer, epoch_secs};

pub(crate) struct Flow {
    pub(crate) manager: TokenManager,
    pub(crate) sealer: Sealer,
    pub(crate) used: Arc<dyn UsedStates>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How long a state, and the browser's cookie, live.
    pub(crate) ttl: Duration,
    /// The default redirect URI.
    pub(crate) redirect_uri: String,
    /// Others an install's options may pick.
    pub(crate) other_redirect_uris: Vec<String>,
    /// The install route's URL as the browser sees it, if set.
    pub(crate) install_url: Option<String>,
    pub(crate) scopes: Scopes,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) pkce: bool,
    /// Whether the install route shows a page rather than redirecting.
    pub(crate) install_page: bool,
    pub(crate) hooks: Arc<dyn InstallHooks>,
}

/// A callback whose state verified, before the store is asked.
struct Verified {
    response: CallbackResponse,
    id: StateId,
    verifier: PkceVerifier,
}

/// A browser-bound install, started: where to send the browser, and the cookie to give it.
/// `Debug` does not show the cookie.
pub struct BoundStart {
    pub(crate) url: String,
    pub(crate) set_cookie: HeaderValue,
}

impl std::fmt::Debug for BoundStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundStart")
            .field("url", &self.url)
            .field("set_cookie", &"[redacted]")
            .finish()
    }
}

/// A browser-bound install, finished: what it granted, saved, and its verified options.
#[derive(Debug)]
#[non_exhaustive]
pub struct Completed {
    /// Everything the authorization granted, saved.
    pub grant: Grant,
    /// The install's options and metadata as it was started with them, verified.
    pub options: InstallOptions,
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

/// The authorization request of one install: `state`, the redirect URI, scopes, parameters.
pub(crate) fn authorization_request(
    state: CsrfState,
    redirect_uri: &str,
    scopes: &Scopes,
    params: &[(String, String)],
) -> AuthorizationRequest {
    let mut request = AuthorizationRequest::with_state(state)
        .redirect_uri(redirect_uri)
        .scopes(scopes.clone());
    for (name, value) in params {
        request = request.param(name.clone(), value.clone());
    }
    request
}

impl Flow {
    /// Starts an install bound to no browser.
    pub(crate) async fn start(&self) -> Result<String> {
        self.start_with(None, &InstallOptions::new())
    }

    pub(crate) fn start_bound(&self, options: &InstallOptions) -> Result<BoundStart> {
        let redirect_uri = self.redirect_uri_of(options)?;
        let cookie = CookieSpec::for_redirect_uri(redirect_uri, self.ttl)?;
        // 256 random bits: the browser's secret.
        let secret = CsrfState::generate()?;
        let url = self.start_with(Some(cookie::binding_of(secret.as_str())), options)?;
        let mut set_cookie = cookie.set(secret.as_str())?;
        set_cookie.set_sensitive(true);
        Ok(BoundStart { url, set_cookie })
    }

    /// The redirect URI an install with `options` uses: the flow's, or one it allows.
    fn redirect_uri_of<'a>(&'a self, options: &'a InstallOptions) -> Result<&'a str> {
        match options.redirect_uri_value() {
            None => Ok(&self.redirect_uri),
            Some(uri) if self.allows(uri) => Ok(uri),
            Some(uri) => Err(Error::configuration(format!(
                "the install's redirect URI {uri:?} is not one this flow allows: add it with InstallFlowBuilder::allow_redirect_uri (and register it with the provider)"
            ))),
        }
    }

    fn allows(&self, redirect_uri: &str) -> bool {
        redirect_uri == self.redirect_uri
            || self
                .other_redirect_uris
                .iter()
                .any(|uri| uri == redirect_uri)
    }

    fn start_with(&self, binding: Option<String>, options: &InstallOptions) -> Result<String> {
        let provider = self.manager.provider();
        options.check(provider.provider_id().as_str())?;
        let redirect_uri = self.redirect_uri_of(options)?;
        let now = self.clock.now();
        let payload = Payload {
            provider: provider.provider_id().as_str().to_owned(),
            expires_at: epoch_secs(now.checked_add(self.ttl).unwrap_or(now)),
            binding,
            redirect_uri: redirect_uri.to_owned(),
            pkce: self.pkce,
            options: options.clone(),
        };
        let sealed = self.sealer.seal(&payload)?;
        let mut request = authorization_request(
            CsrfState::new(sealed.state),
            redirect_uri,
            options.scopes_value().unwrap_or(&self.scopes),
            &options.params(&self.params),
        );
        if self.pkce {
            request = request.pkce_verifier(sealed.verifier);
        }
        Ok(provider.authorization_url(&request)?.to_string())
    }

    /// Finishes an install: `headers` are the callback request's for a browser-bound install,
    /// `None` for an unbound one.
    pub(crate) async fn finish(&self, query: &str, headers: Option<&HeaderMap>) -> Result<Grant> {
        self.finish_verified(query, headers).await.0
    }

    /// As [`finish`](Self::finish), with what the state carried once it verified (the browser's
    /// cookie matched, for a bound one): the outcome is then this browser's install's.
    pub(crate) async fn finish_verified(
        &self,
        query: &str,
        headers: Option<&HeaderMap>,
    ) -> (Result<Grant>, Option<Payload>) {
        match self.verify(query, headers) {
            Ok((verified, payload)) => (self.complete(verified, &payload).await, Some(payload)),
            Err(error) => (Err(error), None),
        }
    }

    /// Every check that needs no store: parse, open, provider and redirect URI, expiry, the
    /// browser's cookie.
    fn verify(&self, query: &str, headers: Option<&HeaderMap>) -> Result<(Verified, Payload)> {
        let params = CallbackParams::parse(query)?;
        let state = params.state.ok_or(CallbackError::MissingState)?;
        let opened = self
            .sealer
            .open(&state)
            .filter(|opened| self.is_ours(&opened.payload))
            .ok_or(CallbackError::UnknownState)?;
        let payload = &opened.payload;
        if self.clock.now() >= payload.expiry() {
            return Err(self.expired());
        }
        match (headers, &payload.binding) {
            (Some(headers), Some(expected)) => {
                let cookie = CookieSpec::for_redirect_uri(&payload.redirect_uri, self.ttl)?;
                match cookie.check(headers, expected) {
                    Binding::Matches => {}
                    Binding::Missing => return Err(CallbackError::MissingBrowserCookie.into()),
                    Binding::Mismatch => return Err(CallbackError::BrowserMismatch.into()),
                }
            }
            (None, None) => {}
            // A bound state without its browser, or an unbound one at the browser's route.
            _ => return Err(CallbackError::BrowserMismatch.into()),
        }
        Ok((
            Verified {
                response: params.response,
                id: StateId::of(&state),
                verifier: opened.verifier,
            },
            opened.payload,
        ))
    }

    /// The rest, for a verified state: the provider's refusal, single use, the exchange.
    async fn complete(&self, verified: Verified, payload: &Payload) -> Result<Grant> {
        let code = match verified.response {
            CallbackResponse::Code(code) => code,
            CallbackResponse::Error { error, description } => {
                return Err(Error::AuthorizationDenied { error, description });
            }
            // (`CallbackResponse` is non-exhaustive: anything else carries no code.)
            _ => return Err(CallbackError::MissingCode.into()),
        };
        match self.used.record_use(&verified.id, payload.expiry()).await? {
            StateUse::First => {}
            StateUse::Replayed => return Err(CallbackError::ReplayedState.into()),
            StateUse::Expired => return Err(self.expired()),
        }
        let mut exchange = CodeExchange::new(code).redirect_uri(payload.redirect_uri.clone());
        if payload.pkce {
            exchange = exchange.pkce_verifier(verified.verifier);
        }
        self.manager.exchange_and_save(exchange).await
    }

    /// Whether an opened state belongs to this flow: its provider and its redirect URI (a state
    /// of another flow sharing the key is refused here).
    fn is_ours(&self, payload: &Payload) -> bool {
        payload.provider == self.manager.provider().provider_id().as_str()
            && self.allows(&payload.redirect_uri)
    }

    fn expired(&self) -> Error {
        CallbackError::ExpiredState {
            ttl_secs: self.ttl.as_secs(),
        }
        .into()
    }

    /// The `Set-Cookie` that clears the browser's cookie of the install `payload` started, on
    /// the answer to its callback. (A callback refused before its state verified leaves the
    /// cookie alone: it may belong to another install this browser is making.)
    pub(crate) fn clear_cookie(&self, payload: &Payload) -> Option<HeaderValue> {
        CookieSpec::for_redirect_uri(&payload.redirect_uri, self.ttl)
            .and_then(|cookie| cookie.clear())
            .ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_started_install_does_not_show_the_browsers_secret() {
        let mut set_cookie =
            HeaderValue::from_static("oauth_install=the-browser-secret; Path=/cb; HttpOnly");
        set_cookie.set_sensitive(true);
        let start = BoundStart {
            url: "https://slack.com/oauth/v2/authorize?state=s".to_owned(),
            set_cookie,
        };
        let shown = format!("{start:?} {:?}", start.set_cookie());
        assert!(!shown.contains("the-browser-secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
