//! The default transport, on reqwest with rustls (reqwest's own TLS set-up: the application's
//! crypto provider if it installed one, else aws-lc-rs; the platform's certificate verifier).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, HttpTransport};
use crate::error::{Error, RequestSent, Result, TransportError, TransportErrorKind};

/// The `User-Agent` sent by default: this crate's name and version.
pub const DEFAULT_USER_AGENT: &str = concat!(
    env!("CARGO_PKG_NAME"),
    "/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/oauth-lifecycle/oauth-lifecycle)"
);

/// The default [`HttpTransport`]: reqwest with rustls, a connection pool, connect and total
/// timeouts, a response-size cap (1 MiB by default) and a `User-Agent` naming this crate.
///
/// TLS: rustls as reqwest sets it up with its `rustls` feature: the crypto provider the
/// application installed as the process's default, if any, else aws-lc-rs (this crate installs
/// none); TLS 1.2 and 1.3; server certificates checked by the platform's verifier against the
/// system's root certificates plus any added with
/// [`ReqwestTransportBuilder::add_root_certificate`]; HTTP/1.1 only (ALPN `http/1.1`); SNI on;
/// no TLS early data (0-RTT), so a request is never written before the handshake has completed: a
/// failed handshake is a [`TransportErrorKind::Connect`] error with [`RequestSent::No`].
///
/// Redirects are never followed with credentials: this transport's own client follows none (a
/// 3xx answer is returned as it is), and a request body is handed to reqwest as a stream that
/// cannot be replayed, so that a client given to [`from_client`](Self::from_client) cannot resend
/// it on a 307 or 308 either (see there).
///
/// ```
/// use std::time::Duration;
/// use oauth_core::http::ReqwestTransport;
/// let transport = ReqwestTransport::builder()
///     .timeout(Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), oauth_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_response_bytes: usize,
    /// The client's total timeout per attempt, when this crate built the client.
    attempt_bound: Option<Duration>,
}

/// Configures a [`ReqwestTransport`].
#[derive(Clone, Debug)]
pub struct ReqwestTransportBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    user_agent: String,
    extra_roots: Vec<Vec<u8>>,
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            extra_roots: Vec::new(),
        }
    }
}

impl ReqwestTransportBuilder {
    /// Sets the connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the total timeout of one attempt, body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the response-size cap (default 1 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Sets the `User-Agent` (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts one more root certificate, in DER form (the binary X.509 encoding), besides the
    /// system's: for a private certificate authority such as a corporate TLS-inspecting proxy's,
    /// or a test server's. Call it once per certificate. A PEM file (`-----BEGIN CERTIFICATE-----`)
    /// must be decoded first, e.g. with `rustls-pki-types`' `CertificateDer::pem_file_iter` or
    /// `openssl x509 -in ca.pem -outform der -out ca.der`.
    ///
    /// The bytes are checked by [`build`](Self::build), which fails with
    /// [`Error::Configuration`] if one is not a certificate.
    ///
    /// ```no_run
    /// use oauth_core::http::ReqwestTransport;
    /// let ca = std::fs::read("/etc/my-company/proxy-ca.der").expect("the CA file");
    /// let transport = ReqwestTransport::builder().add_root_certificate(ca).build()?;
    /// # Ok::<(), oauth_core::Error>(())
    /// ```
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(der.into());
        self
    }

    /// Builds the transport.
    ///
    /// Fails with [`Error::Configuration`] if a certificate passed to
    /// [`add_root_certificate`](Self::add_root_certificate) is not one, if certificate
    /// verification cannot be set up (no root certificate on the system and none added), or if
    /// reqwest cannot build its client.
    pub fn build(self) -> Result<ReqwestTransport> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            // A user's reqwest with its `http2` feature is the same crate as ours: ALPN would
            // offer h2. The retry rules are written for HTTP/1.1's failure modes.
            .http1_only()
            .redirect(reqwest::redirect::Policy::none());
        for (index, der) in self.extra_roots.into_iter().enumerate() {
            builder = builder.add_root_certificate(root_certificate(index, der)?);
        }
        let client = builder.build().map_err(|e| {
            Error::configuration(format!(
                "cannot build the HTTP client ({}): if it is about certificates, install the \
                 system's CA certificates (e.g. the ca-certificates package) or add the roots to \
                 trust with ReqwestTransportBuilder::add_root_certificate",
                error_chain(&e.without_url())
            ))
        })?;
        Ok(ReqwestTransport {
            client,
            max_response_bytes: self.max_response_bytes,
            attempt_bound: Some(self.timeout),
        })
    }
}

/// One root certificate for reqwest, checked first so that the error names the one at fault
/// (reqwest would only report that the client cannot be built).
fn root_certificate(index: usize, der: Vec<u8>) -> Result<reqwest::Certificate> {
    let refused = |reason: String| {
        Error::configuration(format!(
            "root certificate #{} passed to ReqwestTransportBuilder::add_root_certificate is not \
             a usable DER X.509 certificate ({reason}): pass the certificate's DER bytes (decode \
             a PEM file first)",
            index + 1
        ))
    };
    rustls::RootCertStore::empty()
        .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
        .map_err(|e| refused(e.to_string()))?;
    reqwest::Certificate::from_der(&der).map_err(|e| refused(e.without_url().to_string()))
}

/// An error and its sources, as one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}

impl ReqwestTransport {
    /// A transport with the default settings.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A builder to adjust timeouts, size cap, `User-Agent` and trusted root certificates.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }

    /// Uses the caller's own client (its timeouts, proxy and TLS settings apply). The 1 MiB size
    /// cap still applies.
    ///
    /// The client may follow redirects (reqwest's default policy does); credentials still never
    /// go to the redirect's target:
    /// - a 307 or 308 (which resend the method and the body) is not followed, since the request
    ///   body (a client secret, a code, a refresh token) cannot be replayed: the 307 or 308 comes
    ///   back as the answer, which a provider's decoder refuses;
    /// - a 301, 302 or 303 is followed by reqwest as a `GET` without the body, and without the
    ///   `Authorization` header when it leads to another origin (scheme, host or port); the answer
    ///   is then refused with [`TransportErrorKind::Redirected`], so a redirect target's answer is
    ///   never taken for the provider's.
    ///
    /// Build the client with `reqwest::redirect::Policy::none()` to see every 3xx as it is.
    ///
    /// reqwest does not tell a client's timeout, so such a transport reports no
    /// [`attempt_time_bound`](HttpTransport::attempt_time_bound): set it with
    /// [`with_attempt_time_bound`](Self::with_attempt_time_bound) to the client's timeout.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            attempt_bound: None,
        }
    }

    /// Declares the longest one attempt of the caller's own client can take (its `timeout`), so
    /// that callers such as the token manager can check their leases against it.
    pub fn with_attempt_time_bound(mut self, bound: Duration) -> Self {
        self.attempt_bound = Some(bound);
        self
    }

    /// Sets the response-size cap.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }
}

fn map_error(error: reqwest::Error) -> TransportError {
    let error = error.without_url();
    let (kind, sent) = if error.is_builder() {
        (TransportErrorKind::Request, RequestSent::No)
    } else if error.is_connect() {
        // Connect failures, including connect timeouts and failed TLS handshakes, happen before
        // any byte of the request is written (the TLS configuration allows no early data).
        (TransportErrorKind::Connect, RequestSent::No)
    } else if error.is_timeout() {
        (TransportErrorKind::Timeout, RequestSent::Maybe)
    } else {
        (TransportErrorKind::Io, RequestSent::Maybe)
    };
    let message = match kind {
        TransportErrorKind::Connect => match tls_failure(&error) {
            Some(tls) => connect_tls_message(tls),
            None => "could not connect".to_owned(),
        },
        TransportErrorKind::Timeout => "timed out".to_owned(),
        TransportErrorKind::Request => "could not build the request".to_owned(),
        _ => "the connection failed during the exchange".to_owned(),
    };
    TransportError::new(kind, sent, message).with_source(error)
}

/// The rustls error somewhere in `error`'s chain, if the failure was TLS's.
fn tls_failure<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the error an `io::Error` wraps, and the connector nests
        // `io::Error`s around rustls's: step into the wrapped error instead.
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => current.source(),
        };
    }
    None
}

/// What a failed TLS handshake means, and what to do about it.
fn connect_tls_message(tls: &rustls::Error) -> String {
    match tls {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => format!(
            "could not connect: the server's TLS certificate was refused ({tls}); if the \
             server uses a private certificate authority (a TLS-inspecting proxy, a test \
             server), trust its root with ReqwestTransportBuilder::add_root_certificate"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "could not connect: the server's TLS certificate was refused ({tls}); check the \
             endpoint's host name and the server's certificate (validity dates, names)"
        ),
        _ => format!("could not connect: the TLS handshake failed ({tls})"),
    }
}

/// The future of one request, as `#[async_trait]` spells it.
type SendFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, TransportError>> + Send + 'a>>;

// Written out rather than with `#[async_trait]`, whose `async fn` would keep the request twice
// in the boxed future. The request is handed to reqwest at the first poll, not before: reqwest
// starts its timers then, which needs the runtime, and a future may be made outside of it.
impl HttpTransport for ReqwestTransport {
    fn send<'life0, 'async_trait>(&'life0 self, request: HttpRequest) -> SendFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let (sent_to, pending) = self.start(request)?;
            let response = pending.await.map_err(map_error)?;
            if *response.url() != sent_to {
                return Err(redirected(&response));
            }
            self.receive(response).await
        })
    }

    fn attempt_time_bound(&self) -> Option<Duration> {
        self.attempt_bound
    }
}

/// The error for an answer that came from a redirect's target (a client given to
/// [`ReqwestTransport::from_client`] followed a 301, 302 or 303).
fn redirected(response: &reqwest::Response) -> TransportError {
    // The target's URL is not quoted: the server chose it, and it may carry anything.
    TransportError::new(
        TransportErrorKind::Redirected,
        RequestSent::Maybe,
        "the server answered with a redirect, which the HTTP client followed as a GET without \
         the request's body; the answer is refused: check the endpoint URL, and \
         build the client given to ReqwestTransport::from_client with \
         reqwest::redirect::Policy::none()",
    )
    .with_status(response.status())
}

impl ReqwestTransport {
    /// Hands `request` to reqwest; gives the URL it is sent to, to tell a followed redirect.
    fn start(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<
        (
            reqwest::Url,
            impl Future<Output = reqwest::Result<reqwest::Response>> + Send + use<>,
        ),
        TransportError,
    > {
        let (parts, body) = request.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Request,
                RequestSent::No,
                "invalid request URL",
            )
            .with_source(e)
        })?;
        // The request is made whole and its headers moved in (a `RequestBuilder` would copy them
        // one by one into a map of its own). The body goes as a stream, which reqwest cannot
        // replay: a client that follows redirects does not resend it on a 307 or 308.
        let mut request = reqwest::Request::new(parts.method, url.clone());
        *request.headers_mut() = parts.headers;
        *request.body_mut() = Some(reqwest::Body::wrap(http_body_util::Full::new(body)));
        Ok((url, self.client.execute(request)))
    }

    /// Reads the answer's body, within the size cap. (An `async` block rather than an
    /// `async fn`, which would keep a second copy of the response in its future.)
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would keep its arguments twice in its future"
    )]
    fn receive(
        &self,
        mut response: reqwest::Response,
    ) -> impl Future<Output = std::result::Result<HttpResponse, TransportError>> + Send + '_ {
        async move {
            let status = response.status();
            let too_large = || {
                TransportError::new(
                    TransportErrorKind::BodyTooLarge,
                    RequestSent::Maybe,
                    format!(
                        "the response body exceeds the {} byte limit",
                        self.max_response_bytes
                    ),
                )
                .with_status(status)
            };
            if response
                .content_length()
                .is_some_and(|len| len > self.max_response_bytes as u64)
            {
                return Err(too_large());
            }
            // The usual answer arrives in one chunk, kept as it is; more chunks are gathered.
            let mut body = Bytes::new();
            let mut gathered: Option<BytesMut> = None;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| map_error(e).with_status(status))?
            {
                let total = gathered.as_ref().map_or(body.len(), BytesMut::len) + chunk.len();
                if total > self.max_response_bytes {
                    return Err(too_large());
                }
                if let Some(gathered) = gathered.as_mut() {
                    gathered.extend_from_slice(&chunk);
                } else if body.is_empty() {
                    body = chunk;
                } else {
                    let mut buffer = BytesMut::with_capacity(total);
                    buffer.extend_from_slice(&body);
                    buffer.extend_from_slice(&chunk);
                    gathered = Some(buffer);
                }
            }
            let mut answer = http::Response::new(gathered.map_or(body, BytesMut::freeze));
            *answer.status_mut() = status;
            *answer.version_mut() = response.version();
            *answer.headers_mut() = std::mem::take(response.headers_mut());
            Ok(answer)
        }
    }
}
