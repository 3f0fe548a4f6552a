//! HTTP plumbing shared by every provider: a small transport seam on [`http`] types, the default
//! reqwest transport, the retry policy and the [`HttpClient`] that runs calls with tracing.
//!
//! The seam is `http::Request<Bytes>` → `http::Response<Bytes>` so that a major version of reqwest
//! is not a breaking change of this crate, and so that tests and users can plug in any client.

mod client;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
mod retry;

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use url::Url;

use crate::error::{Error, Result, TransportError, UndecodableResponse};
use crate::redact::redact_snippet;
use crate::secret::{AccessToken, ClientSecret};
use crate::token::ProviderId;

pub use client::{Attempts, Call, HttpClient, Idempotency};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest_transport::{DEFAULT_USER_AGENT, ReqwestTransport, ReqwestTransportBuilder};
pub use retry::{Decision, Outcome, ResponseClass, RetryPolicy, classify_status};

/// A request as handed to a transport.
pub type HttpRequest = http::Request<Bytes>;
/// A response as returned by a transport, body fully read.
pub type HttpResponse = http::Response<Bytes>;

/// The largest response body a transport reads by default: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Sends one HTTP request and reads the whole response.
///
/// Implementations report failures as [`TransportError`]s that say whether the request may have
/// reached the server ([`RequestSent`](crate::RequestSent)), which the retry policy relies on to
/// never resend a single-use grant. They must cap the response body size.
#[async_trait]
pub trait HttpTransport: Send + Sync + fmt::Debug {
    /// Sends `request` and returns the response with its body.
    async fn send(&self, request: HttpRequest)
    -> std::result::Result<HttpResponse, TransportError>;

    /// The longest one attempt can take before it fails with a timeout (connecting, sending and
    /// reading the whole body), if this transport enforces one. `None` (the default) means
    /// unknown: a token manager then cannot check that its refresh lease outlasts a refresh call,
    /// and relies on renewing the lease while the call runs.
    fn attempt_time_bound(&self) -> Option<Duration> {
        None
    }
}

/// Refuses endpoints that would send credentials in clear text: `http://` is allowed only for
/// loopback hosts (`127.0.0.0/8`, `[::1]`, `localhost`) unless `allow_insecure_http` is set.
pub fn check_endpoint(url: &Url, allow_insecure_http: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(Error::configuration(format!(
            "refusing plain-http endpoint {}: credentials would cross the network unencrypted; use https, a loopback address, or allow insecure http explicitly",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(Error::configuration(format!(
            "unsupported URL scheme `{other}` for an OAuth endpoint (expected https)"
        ))),
    }
}

/// Parses the base URL of a provider's API (`what` names it in errors): surrounding whitespace is
/// trimmed and a `/` appended if missing, so that [`endpoint_uri`] puts paths under it; a query or
/// fragment is refused, and so is what [`check_endpoint`] refuses.
///
/// ```
/// use oauth_core::http::{endpoint_uri, parse_base_url};
/// let base = parse_base_url("API base", "https://slack.com/api", false)?;
/// assert_eq!(endpoint_uri(&base, "auth.test")?, "https://slack.com/api/auth.test");
/// assert!(parse_base_url("API base", "http://slack.example/api", false).is_err());
/// # Ok::<(), oauth_core::Error>(())
/// ```
pub fn parse_base_url(what: &str, value: &str, allow_insecure_http: bool) -> Result<Url> {
    let mut text = value.trim().to_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    let url = Url::parse(&text)
        .map_err(|e| Error::configuration(format!("the {what} URL {value:?} is invalid: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::configuration(format!(
            "the {what} URL may not have a query or fragment"
        )));
    }
    check_endpoint(&url, allow_insecure_http)?;
    Ok(url)
}

/// The URI of the endpoint at `path` under `base` (made by [`parse_base_url`]: it ends with `/`
/// and has no query, so appending is joining).
pub fn endpoint_uri(base: &Url, path: &str) -> Result<http::Uri> {
    format!("{}{path}", base.as_str())
        .parse()
        .map_err(|e| Error::configuration(format!("cannot build the URL of {path}: {e}")))
}

/// Whether `url`'s host is loopback: `127.0.0.0/8`, `[::1]` or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The `Retry-After` delay of a response: delay-seconds or an HTTP-date (relative to `now`).
pub fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A header's value as a string, if present and visible ASCII.
pub fn header_str<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

/// An `Authorization: Basic base64(client_id:client_secret)` header value (RFC 7617), marked
/// sensitive so that `http`'s `Debug` and HTTP/2 header compression leave it alone.
pub fn basic_auth(client_id: &str, client_secret: &ClientSecret) -> Result<http::HeaderValue> {
    use base64::Engine as _;
    let credentials = format!("{client_id}:{}", client_secret.expose_secret());
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    sensitive_header(format!("Basic {encoded}"))
}

/// An `Authorization: Bearer <token>` header value, marked sensitive.
pub fn bearer_auth(token: &AccessToken) -> Result<http::HeaderValue> {
    sensitive_header(format!("Bearer {}", token.expose_secret()))
}

fn sensitive_header(value: String) -> Result<http::HeaderValue> {
    let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
        Error::InvalidRequest(
            "a credential contains characters that cannot go in an HTTP header".into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The length of a body snippet quoted in an error.
const SNIPPET_CHARS: usize = 200;

/// An [`UndecodableResponse`] error for `response`, with a redacted snippet of its body.
pub fn undecodable(
    provider: &ProviderId,
    operation: &'static str,
    response: &HttpResponse,
    reason: impl Into<String>,
) -> Error {
    Error::undecodable(UndecodableResponse {
        provider: provider.clone(),
        operation,
        status: response.status(),
        content_type: header_str(response, "content-type").map(str::to_owned),
        reason: reason.into(),
        snippet: redact_snippet(response.body(), SNIPPET_CHARS),
    })
}

/// Describes a JSON decoding failure without quoting any value from the input (serde's own
/// messages may quote a string value, which could be a token).
pub fn json_error_reason(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let message = error.to_string();
    let what = match error.classify() {
        Category::Io => "the body could not be read".to_owned(),
        Category::Eof => "the JSON ends early (truncated body)".to_owned(),
        Category::Syntax => "the body is not JSON".to_owned(),
        Category::Data if message.starts_with("missing field") => message
            .split(" at line")
            .next()
            .unwrap_or("a field is missing")
            .to_owned(),
        Category::Data => "a field has an unexpected type or value".to_owned(),
    };
    format!("{what} (line {}, column {})", error.line(), error.column())
}

/// Decodes a JSON response body as `T`, or returns an undecodable-response error.
pub fn decode_json<T: serde::de::DeserializeOwned>(
    provider: &ProviderId,
    operation: &'static str,
    response: &HttpResponse,
) -> Result<T> {
    if response.body().is_empty() {
        return Err(undecodable(
            provider,
            operation,
            response,
            "the body is empty",
        ));
    }
    serde_json::from_slice(response.body())
        .map_err(|e| undecodable(provider, operation, response, json_error_reason(&e)))
}
