//! Slack's request signature checked on the raw body before anything reads it, for any route
//! that Slack calls (events, interactivity, slash commands): [`SlackVerifier`], the extractor
//! [`VerifiedBody`] and the middleware [`verify_slack_request`]. A request refused is answered
//! 401 (its signature), 413 (its size) or 400 (an unreadable body), with a plain-text body that
//! says why and never quotes the secret or a header.

use std::fmt;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use oauth_core::{Clock, SystemClock};
use oauth_slack::{SignatureError, SigningSecret, verify_request};

/// The largest body accepted by default: 1 MiB (Slack's events and interactions are far
/// smaller; a larger body is refused before it is read whole).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
struct Inner {
    secret: SigningSecret,
    /// Secrets also accepted while a rotation is under way (the previous ones).
    previous: Vec<SigningSecret>,
    clock: Arc<dyn Clock>,
    body_limit: usize,
}

/// Checks that a request comes from Slack: reads its body (up to a limit), then verifies the
/// signature on those bytes ([`oauth_slack::verify_request`]: `v0=` HMAC-SHA256, constant-time
/// comparison, 5 minutes each way). `Debug` does not show the secret.
///
/// ```no_run
/// use axum::{Router, routing::post, middleware};
/// use oauth_facade::slack::SigningSecret;
/// use oauth_facade::slack::events::{SlackVerifier, VerifiedBody, verify_slack_request};
///
/// let verifier = SlackVerifier::new(SigningSecret::new(std::env::var("SLACK_SIGNING_SECRET").unwrap_or_default()));
/// // As an extractor (the handler gets the verified raw body)…
/// let commands: Router = Router::new()
///     .route("/slack/commands", post(|VerifiedBody { body, .. }: VerifiedBody| async move { body.len().to_string() }))
///     .with_state(verifier.clone());
/// // …or as a middleware in front of handlers that parse the body themselves.
/// let interactions: Router = Router::new()
///     .route("/slack/interactions", post(|body: String| async move { body }))
///     .layer(middleware::from_fn_with_state(verifier, verify_slack_request));
/// # let _ = (commands, interactions);
/// ```
#[derive(Clone)]
pub struct SlackVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for SlackVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackVerifier")
            .field("secret", &self.inner.secret)
            .field("previous_secrets", &self.inner.previous.len())
            .field("body_limit", &self.inner.body_limit)
            .finish_non_exhaustive()
    }
}

impl SlackVerifier {
    /// A verifier of `secret`'s signatures, on the system clock, with bodies up to
    /// [`DEFAULT_BODY_LIMIT`].
    pub fn new(secret: SigningSecret) -> Self {
        Self {
            inner: Arc::new(Inner {
                secret,
                previous: Vec::new(),
                clock: Arc::new(SystemClock),
                body_limit: DEFAULT_BODY_LIMIT,
            }),
        }
    }

    fn change(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Refuses bodies over `bytes` (answered 413).
    pub fn body_limit(self, bytes: usize) -> Self {
        self.change(|inner| inner.body_limit = bytes)
    }

    /// Takes "now" from `clock` (tests use a `ManualClock`).
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        self.change(|inner| inner.clock = clock)
    }

    /// Also accepts signatures made with `previous`, while the app's signing secret is rotated
    /// (Slack signs with the new secret at once, but requests already signed with the old one may
    /// still arrive, retries included). The secret given to [`new`](Self::new) is tried first;
    /// an empty secret is ignored. Drop the previous secret once the rotation is over: each one
    /// accepted is one more key that can sign.
    pub fn also_accept(self, previous: SigningSecret) -> Self {
        if previous.is_empty() {
            return self;
        }
        self.change(|inner| inner.previous.push(previous))
    }

    /// The body limit.
    pub fn limit(&self) -> usize {
        self.inner.body_limit
    }

    /// Reads `body` (at most the limit) and verifies its signature against `headers`.
    pub async fn verify(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Rejection> {
        let limit = self.inner.body_limit;
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(Rejection::TooLarge { limit });
            }
            Err(_) => return Err(Rejection::UnreadableBody),
        };
        let now = self.inner.clock.now();
        let mut result = verify_request(&self.inner.secret, headers, &bytes, now);
        for previous in &self.inner.previous {
            // Only a signature that did not match is tried against the next secret: a missing,
            // malformed or stale one is refused whatever the key.
            if !matches!(result, Err(SignatureError::Mismatch)) {
                break;
            }
            result = verify_request(previous, headers, &bytes, now);
        }
        result.map_err(Rejection::Signature)?;
        Ok(bytes)
    }
}

/// Why a request was refused before its handler.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The signature did not verify (401).
    #[error("request refused: {0}")]
    Signature(SignatureError),
    /// The body is larger than the limit (413).
    #[error(
        "request refused: the body is larger than {limit} bytes (raise the verifier's body \
         limit if Slack really sends such bodies)"
    )]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read (the connection failed mid-body) (400).
    #[error("request refused: the body could not be read")]
    UnreadableBody,
}

impl Rejection {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Signature(_) => StatusCode::UNAUTHORIZED,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::UnreadableBody => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self, "a request that claims to come from Slack was refused");
        plain(self.status(), self.to_string())
    }
}

/// A plain-text answer.
pub(crate) fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// A request whose signature verified: its headers and its raw body, exactly as received.
/// Extract it in a handler whose state gives a [`SlackVerifier`] (`FromRef`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifiedBody {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl<S> FromRequest<S> for VerifiedBody
where
    S: Send + Sync,
    SlackVerifier: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = SlackVerifier::from_ref(state);
        let (parts, body) = request.into_parts();
        let body = verifier.verify(&parts.headers, body).await?;
        Ok(Self {
            headers: parts.headers,
            body,
        })
    }
}

/// A middleware that lets a request through only once its signature verified, its body passed
/// on unchanged: `axum::middleware::from_fn_with_state(verifier, verify_slack_request)`.
pub async fn verify_slack_request(
    State(verifier): State<SlackVerifier>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match verifier.verify(&parts.headers, body).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(rejection) => rejection.into_response(),
    }
}
