//! The default transport, on reqwest with rustls (ring crypto provider, platform verifier).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use rustls::pki_types::CertificateDer;

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
/// TLS: rustls with the *ring* crypto provider, set on this transport's own TLS configuration
/// (no process-wide default provider is installed, so an application that installs its own keeps
/// it), TLS 1.2 and 1.3, server certificates checked by the platform's verifier against the
/// system's root certificates plus any added with
/// [`ReqwestTransportBuilder::add_root_certificate`], HTTP/1.1 (ALPN `http/1.1`), SNI on, and no
/// TLS early data (0-RTT), so a request is never written before the handshake has completed: a
/// failed handshake is a [`TransportErrorKind::Connect`] error with [`RequestSent::No`].
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
    urls: Arc<UrlCache>,
    /// The client's total timeout per attempt, when this crate built the client.
    attempt_bound: Option<Duration>,
}

/// The URLs of recent requests, parsed once: a provider calls the same few endpoints over and
/// over, and parsing a URL costs more than the rest of building a request.
///
/// A short list, looked up by comparing the URI's text piece by piece (scheme, authority, path
/// and query): cheaper than hashing a `Uri`, whose hash folds the case of every byte. Two
/// spellings of one URL (a host in another case) take two entries, each correct.
#[derive(Debug, Default)]
struct UrlCache {
    parsed: RwLock<Vec<(http::Uri, reqwest::Url)>>,
}

/// Whether two URIs are the same text.
fn same_text(a: &http::Uri, b: &http::Uri) -> bool {
    a.path_and_query().map(http::uri::PathAndQuery::as_str)
        == b.path_and_query().map(http::uri::PathAndQuery::as_str)
        && a.authority().map(http::uri::Authority::as_str)
            == b.authority().map(http::uri::Authority::as_str)
        && a.scheme_str() == b.scheme_str()
}

impl UrlCache {
    /// At most this many URLs are kept; the cache starts afresh when full.
    const CAPACITY: usize = 32;

    fn url(&self, uri: &http::Uri) -> std::result::Result<reqwest::Url, TransportError> {
        let cached = self.parsed.read().ok().and_then(|parsed| {
            parsed
                .iter()
                .find(|(known, _)| same_text(known, uri))
                .map(|(_, url)| url.clone())
        });
        if let Some(url) = cached {
            return Ok(url);
        }
        let url = reqwest::Url::parse(&uri.to_string()).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Request,
                RequestSent::No,
                "invalid request URL",
            )
            .with_source(e)
        })?;
        if let Ok(mut parsed) = self.parsed.write() {
            if parsed.len() >= Self::CAPACITY {
                parsed.clear();
            }
            if !parsed.iter().any(|(known, _)| same_text(known, uri)) {
                parsed.push((uri.clone(), url.clone()));
            }
        }
        Ok(url)
    }
}

/// Configures a [`ReqwestTransport`].
#[derive(Clone, Debug)]
pub struct ReqwestTransportBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    user_agent: String,
    extra_roots: Vec<CertificateDer<'static>>,
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
        self.extra_roots.push(CertificateDer::from(der.into()));
        self
    }

    /// Builds the transport.
    ///
    /// Fails with [`Error::Configuration`] if a certificate passed to
    /// [`add_root_certificate`](Self::add_root_certificate) is not one, if no root certificate
    /// can be loaded (none on the system and none added), or if reqwest cannot build its client.
    pub fn build(self) -> Result<ReqwestTransport> {
        let tls = tls_config(self.extra_roots)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::configuration(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        Ok(ReqwestTransport {
            client,
            max_response_bytes: self.max_response_bytes,
            urls: Arc::default(),
            attempt_bound: Some(self.timeout),
        })
    }
}

/// The TLS configuration handed to reqwest: what reqwest's own rustls set-up would build, but on
/// ring, without reading or installing a process-wide default provider.
fn tls_config(extra_roots: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig> {
    // Each added root is checked on its own, so that the error names the one at fault.
    for (index, root) in extra_roots.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(root.clone())
            .map_err(|e| {
                Error::configuration(format!(
                    "root certificate #{} passed to ReqwestTransportBuilder::add_root_certificate \
                     is not a usable DER X.509 certificate ({e}): pass the certificate's DER \
                     bytes (decode a PEM file first)",
                    index + 1
                ))
            })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = platform_verifier(extra_roots, provider.clone()).map_err(|e| {
        Error::configuration(format!(
            "cannot set up TLS certificate verification ({e}): install the system's CA \
             certificates (e.g. the ca-certificates package) or add the roots to trust with \
             ReqwestTransportBuilder::add_root_certificate"
        ))
    })?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::configuration(format!(
                "the ring TLS provider supports none of the default TLS versions ({e}): \
                 this is a bug in the TLS set-up of oauth-core, please report it"
            ))
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // As reqwest sets them: the client speaks HTTP/1.1 only (no `http2` feature), SNI on.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.enable_sni = true;
    // No 0-RTT: a request written before the handshake completes could be replayed, and a failed
    // handshake could no longer be reported as "request not sent".
    config.enable_early_data = false;
    Ok(config)
}

/// The platform's verifier (system roots) plus the extra roots, where the platform's verifier
/// can take extra roots.
fn platform_verifier(
    extra_roots: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> std::result::Result<rustls_platform_verifier::Verifier, rustls::Error> {
    if extra_roots.is_empty() {
        return rustls_platform_verifier::Verifier::new(provider);
    }
    #[cfg(any(all(unix, not(target_os = "android")), target_os = "windows"))]
    {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider)
    }
    #[cfg(not(any(all(unix, not(target_os = "android")), target_os = "windows")))]
    {
        Err(rustls::Error::General(
            "the platform verifier cannot trust extra root certificates on this platform".into(),
        ))
    }
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

    /// Uses the caller's own client (its timeouts, proxy and TLS settings apply; it should not
    /// follow redirects). The 1 MiB size cap still applies.
    ///
    /// This crate compiles reqwest with its `rustls-no-provider` feature: reqwest's
    /// `ClientBuilder::build` panics when it has to choose a crypto provider itself and the
    /// application has installed no process-wide default. Give your client one: enable reqwest's
    /// `rustls` feature (aws-lc-rs) in your own manifest, install a default provider at the start
    /// of `main`, or pass a `rustls::ClientConfig` to `ClientBuilder::tls_backend_preconfigured`.
    ///
    /// reqwest does not tell a client's timeout, so such a transport reports no
    /// [`attempt_time_bound`](HttpTransport::attempt_time_bound): set it with
    /// [`with_attempt_time_bound`](Self::with_attempt_time_bound) to the client's timeout.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            urls: Arc::default(),
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
            let pending = self.start(request)?;
            self.receive(pending.await.map_err(map_error)?).await
        })
    }

    fn attempt_time_bound(&self) -> Option<Duration> {
        self.attempt_bound
    }
}

impl ReqwestTransport {
    /// Hands `request` to reqwest.
    fn start(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<
        impl Future<Output = reqwest::Result<reqwest::Response>> + Send + use<>,
        TransportError,
    > {
        let (parts, body) = request.into_parts();
        let url = self.urls.url(&parts.uri)?;
        // The request is made whole and its headers moved in (a `RequestBuilder` would copy them
        // one by one into a map of its own).
        let mut request = reqwest::Request::new(parts.method, url);
        *request.headers_mut() = parts.headers;
        *request.body_mut() = Some(body.into());
        Ok(self.client.execute(request))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_cache_answers_each_uri_with_its_own_url() {
        let cache = UrlCache::default();
        let uris = [
            "https://slack.com/api/oauth.v2.access",
            "https://slack.com/api/auth.test",
            "https://slack.com/api/auth.test?x=1",
            "https://slack.com:8443/api/auth.test",
            "http://slack.com/api/auth.test",
            "https://SLACK.com/api/auth.test",
            "https://api.notion.com/v1/oauth/token",
        ];
        // Twice over: the second round is answered from the cache, and must say the same.
        for _ in 0..2 {
            for text in uris {
                let uri: http::Uri = text.parse().unwrap();
                let url = cache.url(&uri).unwrap();
                assert_eq!(url, reqwest::Url::parse(text).unwrap(), "{text}");
            }
        }
        assert_eq!(cache.parsed.read().unwrap().len(), uris.len());
    }

    #[test]
    fn the_url_cache_starts_afresh_when_full_and_stays_right() {
        let cache = UrlCache::default();
        for n in 0..(UrlCache::CAPACITY * 3) {
            let text = format!("https://example.com/{n}");
            let uri: http::Uri = text.parse().unwrap();
            assert_eq!(cache.url(&uri).unwrap().as_str(), text);
            assert!(cache.parsed.read().unwrap().len() <= UrlCache::CAPACITY);
        }
    }
}
