//! Running one provider call: attempts, retry decisions, tracing.

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use tracing::Instrument as _;

use super::retry::{Decision, Outcome, ResponseClass, RetryPolicy};
use super::{HttpRequest, HttpResponse, HttpTransport};
use crate::error::{Error, Result, TransportError, TransportErrorKind, UndecodableResponse};
use crate::token::ProviderId;

/// Whether a call may be sent twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and other calls that are safe to repeat (introspection, `auth.test`, list calls).
    Idempotent,
    /// Calls that spend something (an authorization code, a single-use refresh token): never
    /// resent once they may have reached the server.
    SingleUse,
}

/// How many attempts a call took, in the extensions of the response [`HttpClient::execute`]
/// returns when it took more than one (no entry: the first attempt was the only one; read it
/// with [`Attempts::of`]). More than one means an earlier attempt may have been processed: a
/// decoder can then read "already done" as done (a delete answered "not found" after a lost
/// response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempts(pub u32);

impl Attempts {
    /// How many attempts the call that got `response` took (1 when it was not retried).
    pub fn of(response: &HttpResponse) -> u32 {
        response
            .extensions()
            .get::<Attempts>()
            .map_or(1, |attempts| attempts.0)
    }
}

/// Describes a call for retries and tracing.
#[derive(Clone, Debug)]
pub struct Call {
    /// The provider.
    pub provider: ProviderId,
    /// The operation, in the provider's words (`oauth.v2.access`, `oauth/token`).
    pub operation: &'static str,
    /// Whether it may be resent.
    pub idempotency: Idempotency,
}

impl Call {
    /// Describes a call.
    pub fn new(provider: ProviderId, operation: &'static str, idempotency: Idempotency) -> Self {
        Self {
            provider,
            operation,
            idempotency,
        }
    }
}

/// Sends provider calls through a transport under a retry policy, with a tracing span per call.
///
/// The span `oauth_call` carries `provider`, `operation`, `method`, `path`, and on completion
/// `status`, `attempts` and `latency_ms`; one `debug` event per attempt, one `warn` event per
/// retry and a `debug` event "call finished" (or "call failed") with the same fields.
///
/// Provider crates build one from the user's transport and policy; any [`HttpTransport`] works:
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use bytes::Bytes;
/// use oauth_core::http::{Call, HttpClient, HttpRequest, HttpResponse, HttpTransport, Idempotency, RetryPolicy, classify_status};
/// use oauth_core::{ProviderId, TransportError};
///
/// /// A transport that answers every request itself (a test double, a recording proxy…).
/// #[derive(Debug)]
/// struct Canned;
///
/// #[async_trait]
/// impl HttpTransport for Canned {
///     async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
///         Ok(http::Response::new(Bytes::from_static(br#"{"ok":true}"#)))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let client = HttpClient::new(Arc::new(Canned), RetryPolicy::default());
/// let call = Call::new(ProviderId::from_static("slack"), "auth.test", Idempotency::Idempotent);
/// let request = http::Request::post("https://slack.com/api/auth.test").body(Bytes::new()).unwrap();
/// let response = client.execute(&call, request, classify_status).await?;
/// assert_eq!(response.body().as_ref(), br#"{"ok":true}"#);
/// # Ok::<(), oauth_core::Error>(()) }).unwrap();
/// ```
///
/// No header, query string or body is ever recorded, so no secret reaches the logs.
#[derive(Clone, Debug)]
pub struct HttpClient {
    transport: Arc<dyn HttpTransport>,
    retry: RetryPolicy,
}

impl HttpClient {
    /// A client over `transport` with `retry`.
    pub fn new(transport: Arc<dyn HttpTransport>, retry: RetryPolicy) -> Self {
        Self { transport, retry }
    }

    /// A client over the default [`ReqwestTransport`](super::ReqwestTransport) and the default
    /// retry policy.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn with_default_transport() -> Result<Self> {
        Ok(Self::new(
            Arc::new(super::ReqwestTransport::new()?),
            RetryPolicy::default(),
        ))
    }

    /// The default client of a provider crate: [`with_default_transport`](Self::with_default_transport)
    /// with the `reqwest` feature; without it, a configuration error that asks for a transport.
    pub fn try_default() -> Result<Self> {
        #[cfg(feature = "reqwest")]
        return Self::with_default_transport();
        #[cfg(not(feature = "reqwest"))]
        return Err(Error::configuration(
            "no HTTP transport: enable the `reqwest` feature or give the client builder an `HttpClient` over your own transport (`.http_client(HttpClient::new(transport, retry))`)",
        ));
    }

    /// The client a provider's builder was given: `client` (default
    /// [`try_default`](Self::try_default)'s), with its retry policy replaced by `retry` if given.
    pub fn configured(client: Option<HttpClient>, retry: Option<RetryPolicy>) -> Result<Self> {
        let client = match client {
            Some(client) => client,
            None => Self::try_default()?,
        };
        Ok(match retry {
            Some(retry) => client.with_retry_policy(retry),
            None => client,
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn HttpTransport> {
        &self.transport
    }

    /// The longest one call through this client can take, every attempt and every wait between
    /// attempts included: `attempts × the transport's attempt bound`, plus the policy's total
    /// delay when there is more than one attempt. `None` if the transport does not say how long
    /// an attempt can take.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use oauth_core::http::{HttpClient, ReqwestTransport, RetryPolicy};
    /// let transport = ReqwestTransport::builder().timeout(Duration::from_secs(10)).build()?;
    /// let client = HttpClient::new(Arc::new(transport), RetryPolicy::default().max_attempts(2));
    /// // 2 attempts of at most 10 s, and at most 30 s of waiting between them.
    /// assert_eq!(client.call_time_bound(), Some(Duration::from_secs(50)));
    /// # Ok::<(), oauth_core::Error>(())
    /// ```
    pub fn call_time_bound(&self) -> Option<Duration> {
        let attempt = self.transport.attempt_time_bound()?;
        let attempts = self.retry.attempts();
        let waits = if attempts > 1 {
            self.retry.total_delay_bound()
        } else {
            std::time::Duration::ZERO
        };
        Some(attempt.saturating_mul(attempts).saturating_add(waits))
    }

    /// Sends `request` (retrying as the policy allows) and returns the last response, whatever
    /// its status: the provider crate decodes it. `classify` tells rate limits and transient
    /// failures apart (use [`classify_status`](super::classify_status) when the status says it all).
    pub fn execute<'a>(
        &'a self,
        call: &'a Call,
        request: HttpRequest,
        classify: fn(&HttpResponse) -> ResponseClass,
    ) -> impl Future<Output = Result<HttpResponse>> + Send + 'a {
        // The span and the request's parts are made here, before the future: the future then
        // holds the request once, not once per layer (it is small, and cheap to move or box).
        let span = tracing::info_span!(
            "oauth_call",
            provider = %call.provider,
            operation = call.operation,
            method = %request.method(),
            path = request.uri().path(),
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let (parts, body) = request.into_parts();
        self.attempts(call, parts, body, classify).instrument(span)
    }

    /// The attempts of one call. (An `async` block rather than an `async fn`: an `async fn` keeps
    /// a second copy of its arguments in its future.)
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would keep its arguments twice in its future"
    )]
    fn attempts<'a>(
        &'a self,
        call: &'a Call,
        parts: http::request::Parts,
        body: Bytes,
        classify: fn(&HttpResponse) -> ResponseClass,
    ) -> impl Future<Output = Result<HttpResponse>> + Send + 'a {
        async move {
            let started = Instant::now();
            let mut waited = Duration::ZERO;
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let attempt_started = Instant::now();
                // The request goes into the transport's future before the wait: not held across it.
                let sending = self.transport.send(rebuild(&parts, &body));
                let result = sending.await;
                let attempt = Attempt {
                    number: attempt,
                    waited,
                    latency_ms: attempt_started.elapsed().as_millis() as u64,
                };
                let after = match self.after_attempt(call, attempt, result, classify, started) {
                    ControlFlow::Break(result) => return result,
                    ControlFlow::Continue(after) => after,
                };
                // Boxed: retries are rare, and the future stays small without the timer.
                Box::pin(tokio::time::sleep(after)).await;
                waited += after;
            }
        }
    }

    /// What follows an attempt: the call's result, or a retry after a delay. (Not async, so that
    /// the attempt's result is not kept across the delay.)
    fn after_attempt(
        &self,
        call: &Call,
        attempt: Attempt,
        result: std::result::Result<HttpResponse, TransportError>,
        classify: fn(&HttpResponse) -> ResponseClass,
        started: Instant,
    ) -> ControlFlow<Result<HttpResponse>, Duration> {
        let Attempt {
            number: attempt,
            waited,
            latency_ms,
        } = attempt;
        let decision = match &result {
            Ok(response) => {
                let class = classify(response);
                tracing::debug!(
                    attempt,
                    status = response.status().as_u16(),
                    latency_ms,
                    ?class,
                    "attempt finished"
                );
                self.retry
                    .decide(call.idempotency, attempt, waited, Outcome::Response(class))
            }
            Err(error) => {
                tracing::debug!(attempt, latency_ms, error = %error, kind = ?error.kind(), sent = ?error.request_sent(), "attempt failed");
                self.retry
                    .decide(call.idempotency, attempt, waited, Outcome::Transport(error))
            }
        };
        match decision {
            Decision::Retry { after } => {
                tracing::warn!(attempt, delay_ms = after.as_millis() as u64, "retrying");
                ControlFlow::Continue(after)
            }
            Decision::Stop => {
                let span = tracing::Span::current();
                let latency_ms = started.elapsed().as_millis() as u64;
                span.record("attempts", attempt);
                span.record("latency_ms", latency_ms);
                ControlFlow::Break(match result {
                    Ok(mut response) => {
                        // Only a retried call is marked: the usual call spares the allocation.
                        if attempt > 1 {
                            response.extensions_mut().insert(Attempts(attempt));
                        }
                        let status = response.status().as_u16();
                        span.record("status", status);
                        tracing::debug!(attempts = attempt, status, latency_ms, "call finished");
                        Ok(response)
                    }
                    Err(error) => {
                        tracing::debug!(attempts = attempt, latency_ms, error = %error, "call failed");
                        Err(transport_error(call, error))
                    }
                })
            }
        }
    }
}

/// A copy of the request for one attempt.
fn rebuild(parts: &http::request::Parts, body: &Bytes) -> HttpRequest {
    let mut request = http::Request::new(body.clone());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}

/// One finished attempt, for [`HttpClient::after_attempt`].
#[derive(Clone, Copy)]
struct Attempt {
    /// 1 for the first.
    number: u32,
    /// The delays before it, in total.
    waited: Duration,
    latency_ms: u64,
}

fn transport_error(call: &Call, error: TransportError) -> Error {
    match error.kind() {
        TransportErrorKind::Timeout => Error::Timeout {
            provider: call.provider.clone(),
            operation: call.operation,
            request_sent: error.request_sent(),
        },
        TransportErrorKind::BodyTooLarge => Error::undecodable(UndecodableResponse {
            provider: call.provider.clone(),
            operation: call.operation,
            status: error.status().unwrap_or(http::StatusCode::OK),
            content_type: None,
            reason: error.to_string(),
            snippet: String::new(),
        }),
        _ => Error::Transport {
            provider: call.provider.clone(),
            operation: call.operation,
            source: error,
        },
    }
}
