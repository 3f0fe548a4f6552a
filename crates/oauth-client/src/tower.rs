//! [`ManagedAuthLayer`]: the same managed tokens as [`ManagedAuth`](crate::ManagedAuth), as a
//! `tower` layer over any HTTP client service (hyper-util's `Client`, other Slack crates built on
//! tower). The decisions are the middleware's (one private module, `decide.rs`); this file only sends
//! and reads.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt as _, Either, Full};
use oauth_core::{AccessToken, TokenKey};
use oauth_manager::TokenManager;

use crate::decide::{After, Decider};
use crate::error::ClientError;
use crate::middleware::NotIdempotent;
use crate::verdict::{TokenVerdict, needs_body, verdict};

/// The error of a [`ManagedAuthService`]: the inner service's, a body that could not be read, or a
/// [`ClientError`] (read it back with `error.downcast_ref::<ClientError>()`), boxed as tower
/// layers do.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of an answer through the layer: a Slack JSON answer, read to judge the token, comes
/// back as the same bytes ([`Full`]); every other answer keeps its own body, unread.
pub type ManagedBody<B> = Either<Full<Bytes>, B>;

/// How the layer finds the token set of a request, from its method, URI, headers and extensions.
type Lookup = dyn Fn(&http::request::Parts) -> Option<TokenKey> + Send + Sync;

/// A [`tower_layer::Layer`] that adds `Authorization: Bearer <token>` with a valid token from a
/// [`TokenManager`] and recovers when the provider refuses it, exactly as
/// [`ManagedAuth`](crate::ManagedAuth) does for reqwest: a refused token (Slack `token_expired`,
/// `invalid_auth`, `not_authed`; Notion `401`) is reported to the manager, refreshed once however
/// many calls met it, and the request is sent once more; a revoked grant (Slack
/// `token_revoked`, `account_inactive`) marks the token set for re-authorization and fails with
/// [`ClientError::Revoked`]; anything else is the caller's answer, untouched, so a retry layer
/// inside this one owns rate limits alone.
///
/// A request is resent only if it is not marked [`NotIdempotent`] in its extensions; its body
/// must be `Clone` (`Full<Bytes>`, `String`, `Empty` — what API calls send), and is cloned only
/// while a resend is possible.
///
/// ```no_run
/// # async fn run(manager: oauth_manager::TokenManager, key: oauth_core::TokenKey) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use bytes::Bytes;
/// use http_body_util::{BodyExt as _, Full};
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use oauth_client::tower::ManagedAuthLayer;
/// use tower::{Layer as _, Service as _, ServiceExt as _};
///
/// let hyper = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
/// let mut slack = ManagedAuthLayer::new(manager, key).layer(hyper);
/// let request = http::Request::post("http://127.0.0.1:8787/api/auth.test")
///     .body(Full::new(Bytes::new()))?;
/// let answer = slack.ready().await?.call(request).await?;
/// let body = answer.into_body().collect().await?.to_bytes();
/// # let _ = body;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManagedAuthLayer {
    decider: Decider,
    lookup: Arc<Lookup>,
}

impl fmt::Debug for ManagedAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedAuthLayer")
            .field("manager", self.decider.manager())
            .finish_non_exhaustive()
    }
}

impl ManagedAuthLayer {
    /// Every request carries the token of `key`.
    pub fn new(manager: TokenManager, key: TokenKey) -> Self {
        Self::with_lookup(manager, move |_| Some(key.clone()))
    }

    /// Each request carries the token of the `TokenKey` in its extensions
    /// (`request.extensions_mut().insert(key)`); a request without one fails with
    /// [`ClientError::NoTokenSet`].
    pub fn per_request(manager: TokenManager) -> Self {
        Self::with_lookup(manager, |parts| parts.extensions.get::<TokenKey>().cloned())
    }

    /// Each request carries the token of the key `lookup` finds for it; `None` fails the request
    /// with [`ClientError::NoTokenSet`].
    pub fn with_lookup(
        manager: TokenManager,
        lookup: impl Fn(&http::request::Parts) -> Option<TokenKey> + Send + Sync + 'static,
    ) -> Self {
        Self {
            decider: Decider::new(manager),
            lookup: Arc::new(lookup),
        }
    }
}

impl<S> tower_layer::Layer<S> for ManagedAuthLayer {
    type Service = ManagedAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ManagedAuthService {
            inner,
            decider: self.decider.clone(),
            lookup: Arc::clone(&self.lookup),
        }
    }
}

/// The service [`ManagedAuthLayer`] makes around an HTTP client service `S`.
#[derive(Clone)]
pub struct ManagedAuthService<S> {
    inner: S,
    decider: Decider,
    lookup: Arc<Lookup>,
}

impl<S> fmt::Debug for ManagedAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedAuthService")
            .field("manager", self.decider.manager())
            .finish_non_exhaustive()
    }
}

impl<S, ReqB, ResB> tower_service::Service<Request<ReqB>> for ManagedAuthService<S>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqB: Clone + Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<ManagedBody<ResB>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // The service that was polled ready takes this call; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let decider = self.decider.clone();
        let (parts, body) = request.into_parts();
        let key = (self.lookup)(&parts);
        Box::pin(managed_call(inner, decider, key, parts, body))
    }
}

async fn managed_call<S, ReqB, ResB>(
    mut inner: S,
    decider: Decider,
    key: Option<TokenKey>,
    parts: http::request::Parts,
    body: ReqB,
) -> Result<Response<ManagedBody<ResB>>, BoxError>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Send,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqB: Clone + Send,
    ResB: Body<Data = Bytes> + Send,
    ResB::Error: Into<BoxError>,
{
    let key = key.ok_or(ClientError::NoTokenSet)?;
    let token = decider.token(&key).await?;
    let again = if parts.extensions.get::<NotIdempotent>().is_some() {
        None
    } else {
        Some((copy_parts(&parts), body.clone()))
    };
    let provider = decider.manager().provider().provider_id();
    let (response, verdict) = send(&mut inner, &provider, &key, &token, parts, body).await?;
    let fresh = match decider.first(&key, &token, verdict, again.is_some()).await {
        After::Answer => return Ok(response),
        After::Fail(error) => return Err(error.into()),
        After::Resend(fresh) => fresh,
    };
    let Some((parts, body)) = again else {
        return Ok(response);
    };
    // The first answer is dropped unread beyond what the verdict needed.
    drop(response);
    std::future::poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    let (response, verdict) = send(&mut inner, &provider, &key, &fresh, parts, body).await?;
    match decider.last(&key, &fresh, verdict).await {
        After::Fail(error) => Err(error.into()),
        After::Answer | After::Resend(_) => Ok(response),
    }
}

/// A request's parts again, for the one resend (`Parts` is not `Clone`).
fn copy_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut copy = Request::new(()).into_parts().0;
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy.extensions = parts.extensions.clone();
    copy
}

/// Sends the request with `token` through `inner`, and reads what the provider says about the
/// token: a Slack JSON answer's body is read (and handed on as the same bytes); no other is.
async fn send<S, ReqB, ResB>(
    inner: &mut S,
    provider: &oauth_core::ProviderId,
    key: &TokenKey,
    token: &AccessToken,
    mut parts: http::request::Parts,
    body: ReqB,
) -> Result<(Response<ManagedBody<ResB>>, TokenVerdict), BoxError>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: Body<Data = Bytes>,
    ResB::Error: Into<BoxError>,
{
    parts
        .headers
        .insert(AUTHORIZATION, Decider::bearer(key, token)?);
    let response = inner
        .call(Request::from_parts(parts, body))
        .await
        .map_err(Into::into)?;
    if !needs_body(provider, response.status(), response.headers()) {
        let verdict = verdict(provider, response.status(), None);
        return Ok((response.map(Either::Right), verdict));
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
    let verdict = verdict(provider, parts.status, Some(&bytes));
    Ok((
        Response::from_parts(parts, Either::Left(Full::new(bytes))),
        verdict,
    ))
}
