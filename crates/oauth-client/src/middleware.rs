//! [`ManagedAuth`]: the reqwest-middleware layer that carries a managed token on each request.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::Extensions;
use http::header::AUTHORIZATION;
use oauth_core::{AccessToken, TokenKey};
use oauth_manager::TokenManager;
use reqwest::{Request, Response, ResponseBuilderExt as _};
use reqwest_middleware::{Middleware, Next};

use crate::decide::{After, Decider};
use crate::error::ClientError;
use crate::verdict::{TokenVerdict, needs_body, verdict};

/// Put this in a request's extensions (`RequestBuilder::with_extension(NotIdempotent)`) to say
/// that it must never be sent twice: a refused token is then reported and refreshed for the next
/// call, but this request is not resent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotIdempotent;

/// How the middleware finds the token set of a request.
type Lookup = dyn Fn(&Request, &Extensions) -> Option<TokenKey> + Send + Sync;

/// A [`reqwest_middleware::Middleware`] that adds `Authorization: Bearer <token>` with a valid
/// token from a [`TokenManager`], and recovers when the provider refuses it.
///
/// - The token comes from [`TokenManager::access_token`]: cached, refreshed first if due, once
///   across tasks and replicas.
/// - When the provider says the token is refused but the grant may be good (see
///   [`verdict`](crate::verdict)), the middleware tells the manager
///   ([`TokenManager::report_rejected_token`]), gets a fresh token (one refresh, however many
///   calls met the refusal at once), and sends the request once more, if its body can be cloned
///   and it is not marked [`NotIdempotent`]. A second refusal is answered as is: no loop.
///   Slack and Notion refuse a bad token before doing anything, so the resend repeats nothing.
/// - When the provider says the grant is gone (Slack `token_revoked`, `account_inactive`), the
///   token set is marked for re-authorization and the call fails with [`ClientError::Revoked`].
/// - Everything else (rate limits, 5xx, the method's own errors) is the caller's answer,
///   untouched: this layer never retries those, so a retry layer placed after it (inner) owns
///   them alone and a `Retry-After` is honoured once.
///
/// Which token set: the one the middleware was made for ([`ManagedAuth::new`]), the `TokenKey`
/// in the request's extensions ([`ManagedAuth::per_request`], for one client serving every
/// installation of a multi-tenant app), or a lookup of yours ([`ManagedAuth::with_lookup`]).
///
/// No token appears in a log line or an error: the header value is marked sensitive.
///
/// ```no_run
/// # async fn run(manager: oauth_manager::TokenManager, key: oauth_core::TokenKey) -> Result<(), Box<dyn std::error::Error>> {
/// use oauth_client::{ManagedAuth, reqwest_middleware::ClientBuilder};
///
/// let slack = ClientBuilder::new(reqwest::Client::new())
///     .with(ManagedAuth::new(manager, key))
///     .build();
/// let answer: serde_json::Value = slack
///     .post("https://slack.com/api/chat.postMessage")
///     .form(&[("channel", "C0123"), ("text", "hello")])
///     .send()
///     .await?
///     .json()
///     .await?;
/// # let _ = answer;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManagedAuth {
    decider: Decider,
    lookup: Arc<Lookup>,
}

impl fmt::Debug for ManagedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedAuth")
            .field("manager", self.decider.manager())
            .finish_non_exhaustive()
    }
}

impl ManagedAuth {
    /// Every request carries the token of `key`.
    pub fn new(manager: TokenManager, key: TokenKey) -> Self {
        Self::with_lookup(manager, move |_, _| Some(key.clone()))
    }

    /// Each request carries the token of the `TokenKey` in its extensions
    /// (`RequestBuilder::with_extension(key)`); a request without one fails with
    /// [`ClientError::NoTokenSet`].
    pub fn per_request(manager: TokenManager) -> Self {
        Self::with_lookup(manager, |_, extensions| {
            extensions.get::<TokenKey>().cloned()
        })
    }

    /// Each request carries the token of the key `lookup` finds for it (from its URL, headers or
    /// extensions); `None` fails the request with [`ClientError::NoTokenSet`].
    pub fn with_lookup(
        manager: TokenManager,
        lookup: impl Fn(&Request, &Extensions) -> Option<TokenKey> + Send + Sync + 'static,
    ) -> Self {
        Self {
            decider: Decider::new(manager),
            lookup: Arc::new(lookup),
        }
    }

    /// Sends `request` with `token`, and reads what the provider says about the token.
    async fn send(
        &self,
        key: &TokenKey,
        mut request: Request,
        token: &AccessToken,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<(Response, TokenVerdict)> {
        let value = Decider::bearer(key, token).map_err(reqwest_middleware::Error::middleware)?;
        request.headers_mut().insert(AUTHORIZATION, value);
        let mut response = next.run(request, extensions).await?;
        let provider = self.decider.manager().provider().provider_id();
        if !needs_body(&provider, response.status(), response.headers()) {
            let verdict = verdict(&provider, response.status(), None);
            return Ok((response, verdict));
        }
        // Slack: the verdict is in the body. Read it once and hand the same bytes on.
        let status = response.status();
        let version = response.version();
        let url = response.url().clone();
        let headers = std::mem::take(response.headers_mut());
        let body: Bytes = response.bytes().await?;
        let verdict = verdict(&provider, status, Some(&body));
        let mut rebuilt = http::Response::builder()
            .status(status)
            .version(version)
            .url(url)
            .body(body)
            .map_err(|e| reqwest_middleware::Error::middleware(BuildError(e)))?;
        *rebuilt.headers_mut() = headers;
        Ok((Response::from(rebuilt), verdict))
    }
}

/// An answer that could not be put back together (never expected: its parts came from reqwest).
#[derive(Debug, thiserror::Error)]
#[error("could not rebuild the provider's answer: {0}")]
struct BuildError(http::Error);

#[async_trait::async_trait]
impl Middleware for ManagedAuth {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let fail = reqwest_middleware::Error::middleware;
        let key =
            (self.lookup)(&request, extensions).ok_or_else(|| fail(ClientError::NoTokenSet))?;
        let token = self.decider.token(&key).await.map_err(fail)?;
        let again = if extensions.get::<NotIdempotent>().is_some() {
            None
        } else {
            request.try_clone()
        };
        let (response, verdict) = self
            .send(&key, request, &token, extensions, next.clone())
            .await?;
        let fresh = match self
            .decider
            .first(&key, &token, verdict, again.is_some())
            .await
        {
            After::Answer => return Ok(response),
            After::Fail(error) => return Err(fail(error)),
            After::Resend(fresh) => fresh,
        };
        let Some(again) = again else {
            return Ok(response);
        };
        let (response, verdict) = self.send(&key, again, &fresh, extensions, next).await?;
        match self.decider.last(&key, &fresh, verdict).await {
            After::Fail(error) => Err(fail(error)),
            After::Answer | After::Resend(_) => Ok(response),
        }
    }
}
