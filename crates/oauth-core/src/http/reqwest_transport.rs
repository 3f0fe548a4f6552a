//! The default transport, on reqwest with rustls.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
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
}

/// The URLs of recent requests, parsed once: a provider calls the same few endpoints over and
/// over, and parsing a URL costs more than the rest of building a request.
#[derive(Debug, Default)]
struct UrlCache {
    parsed: RwLock<HashMap<http::Uri, reqwest::Url, foldhash::fast::RandomState>>,
}

impl UrlCache {
    /// At most this many URLs are kept; the cache starts afresh when full.
    const CAPACITY: usize = 64;

    fn url(&self, uri: &http::Uri) -> std::result::Result<reqwest::Url, TransportError> {
        if let Some(url) = self.parsed.read().ok().and_then(|p| p.get(uri).cloned()) {
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
            parsed.insert(uri.clone(), url.clone());
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
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
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

    /// Builds the transport.
    pub fn build(self) -> Result<ReqwestTransport> {
        let client = reqwest::Client::builder()
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
        })
    }
}

impl ReqwestTransport {
    /// A transport with the default settings.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A builder to adjust timeouts, size cap and `User-Agent`.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }

    /// Uses the caller's own client (its timeouts, proxy and TLS settings apply; it should not
    /// follow redirects). The 1 MiB size cap still applies.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            urls: Arc::default(),
        }
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
        // Connect failures, including connect timeouts, happen before any byte is written.
        (TransportErrorKind::Connect, RequestSent::No)
    } else if error.is_timeout() {
        (TransportErrorKind::Timeout, RequestSent::Maybe)
    } else {
        (TransportErrorKind::Io, RequestSent::Maybe)
    };
    let message = match kind {
        TransportErrorKind::Connect => "could not connect",
        TransportErrorKind::Timeout => "timed out",
        TransportErrorKind::Request => "could not build the request",
        _ => "the connection failed during the exchange",
    };
    TransportError::new(kind, sent, message).with_source(error)
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let url = self.urls.url(&parts.uri)?;
        let mut response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(map_error)?;
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
