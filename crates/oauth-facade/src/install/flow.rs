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
use super::seal::{Payload, Sealer, epoch_secs};

pub(crate) struct Flow {
    pub(crate) manager: TokenManager,
    pub(crate) sealer: Sealer,
    pub(crate) used: Arc<dyn UsedStates>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How long a state, and the browser's cookie, live.
    pub(crate) ttl: Duration,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Scopes,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) pkce: bool,
    pub(crate) hooks: Arc<dyn InstallHooks>,
}

/// A callback whose state verified, before the store is asked.
struct Verified {
    response: CallbackResponse,
    id: StateId,
    verifier: PkceVerifier,
}

/// A browser-bound install, started: where to send the browser, and the cookie to give it.
#[derive(Debug)]
pub struct BoundStart {
    pub(crate) url: String,
    pub(crate) set_cookie: HeaderValue,
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
        self.start_with(None)
    }

    pub(crate) async fn start_bound(&self) -> Result<BoundStart> {
        let cookie = CookieSpec::for_redirect_uri(&self.redirect_uri, self.ttl)?;
        // 256 random bits: the browser's secret.
        let secret = CsrfState::generate()?;
        let url = self.start_with(Some(cookie::binding_of(secret.as_str())))?;
        Ok(BoundStart {
            url,
            set_cookie: cookie.set(secret.as_str())?,
        })
    }

    fn start_with(&self, binding: Option<String>) -> Result<String> {
        let provider = self.manager.provider();
        let now = self.clock.now();
        let payload = Payload {
            provider: provider.provider_id().as_str().to_owned(),
            expires_at: epoch_secs(now.checked_add(self.ttl).unwrap_or(now)),
            binding,
            redirect_uri: self.redirect_uri.clone(),
            pkce: self.pkce,
        };
        let sealed = self.sealer.seal(&payload)?;
        let mut request = authorization_request(
            CsrfState::new(sealed.state),
            &self.redirect_uri,
            &self.scopes,
            &self.params,
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
            && payload.redirect_uri == self.redirect_uri
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
