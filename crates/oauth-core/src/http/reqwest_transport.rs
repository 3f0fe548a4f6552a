//! The default transport, on reqwest with rustls.

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
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Request,
                RequestSent::No,
                "invalid request URL",
            )
            .with_source(e)
        })?;
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
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| map_error(e).with_status(status))?
        {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut builder = http::Response::builder()
            .status(status)
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        builder.body(Bytes::from(body)).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Io,
                RequestSent::Maybe,
                "invalid response head",
            )
            .with_source(e)
        })
    }
}
