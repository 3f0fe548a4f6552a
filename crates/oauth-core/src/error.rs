//! The one error type of the workspace, and its classification.
//!
//! Every failure is an [`Error`]; [`Error::kind`] sorts it into an [`ErrorKind`] that tells the caller
//! what to do (retry, wait, send the user through authorization again, fix the configuration).
//! Provider-reported errors keep the provider's own code and details behind [`ProviderError`], which
//! each provider crate implements and which can be downcast to the provider's typed error, in the way
//! sqlx's `DatabaseError` works.
//!
//! No message, `Display` or `Debug` output of any error contains a secret: errors never hold token
//! or code values, and response snippets pass through [`redact_snippet`](crate::redact::redact_snippet).

pub use crate::advice::advice;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::token::ProviderId;

/// What a failure means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A transient failure at the provider (5xx, overload). Retry later with backoff.
    Retryable,
    /// The provider rate-limited the call. Retry after [`Error::retry_after`].
    RateLimited,
    /// The grant is gone (invalid or spent refresh token, revoked or expired authorization).
    /// Retrying cannot help: the user must authorize the app again.
    ReauthorizationRequired,
    /// The provider refused this access token, but the grant may be good (Slack `token_expired`
    /// after a clock skew, or a rotation elsewhere): report it (`TokenManager::report_rejected_token`)
    /// and ask the manager again; the next call refreshes, once. Not a reason to reinstall.
    TokenRejected,
    /// The provider rejected the request as malformed or not allowed. Retrying as is cannot help.
    InvalidRequest,
    /// The client is misconfigured (client id or secret, redirect URI, base URL, scopes).
    Configuration,
    /// The network failed (connection refused or reset, DNS, TLS).
    Transport,
    /// The call did not complete within the configured timeout.
    Timeout,
    /// The response could not be decoded (not JSON, wrong shape, too large), e.g. a proxy's page.
    UndecodableResponse,
    /// The user or provider refused the authorization (`error=access_denied` on the callback).
    AuthorizationDenied,
    /// The authorization callback's `state` was missing, unknown, replayed or expired, or the
    /// callback query was malformed: possible CSRF or a stale browser tab.
    InvalidCallback,
    /// The installation is not in the token store: it was never saved, or was deleted.
    NotFound,
    /// The token store failed (database unreachable, disk full, corrupt row).
    Storage,
    /// A local failure (e.g. the OS random number generator).
    Internal,
}

impl ErrorKind {
    /// Whether the same call may succeed later without any change.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Retryable
                | ErrorKind::RateLimited
                | ErrorKind::Transport
                | ErrorKind::Timeout
        )
    }
}

/// An error reported by a provider, implemented by each provider crate's typed error.
///
/// Downcast through [`Error::provider_error`] and `downcast_ref` to reach the provider's own type.
pub trait ProviderError: std::error::Error + Send + Sync + 'static {
    /// The provider that reported it.
    fn provider(&self) -> ProviderId;
    /// The provider's error code as received (`invalid_grant`, `token_revoked`, …); empty if none.
    fn code(&self) -> &str;
    /// The classification.
    fn kind(&self) -> ErrorKind;
    /// The HTTP status of the response.
    fn http_status(&self) -> Option<StatusCode>;
    /// How long the provider asked to wait (`Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// The provider's request id, to quote to its support.
    fn request_id(&self) -> Option<&str> {
        None
    }
}

impl dyn ProviderError {
    /// Downcasts to the provider crate's concrete error type.
    pub fn downcast_ref<T: ProviderError>(&self) -> Option<&T> {
        let error: &(dyn std::error::Error + 'static) = self;
        error.downcast_ref::<T>()
    }
}

/// A provider error described by its parts, for providers without a typed error of their own and
/// for tests and mocks (e.g. making a `MockTokenProvider` fail with `invalid_grant`).
#[derive(Clone, Debug)]
pub struct GenericProviderError {
    provider: ProviderId,
    code: String,
    kind: ErrorKind,
    description: Option<String>,
    status: Option<StatusCode>,
    retry_after: Option<Duration>,
    request_id: Option<String>,
}

impl GenericProviderError {
    /// An error with a provider, a code and a classification.
    pub fn new(provider: ProviderId, code: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            provider,
            code: code.into(),
            kind,
            description: None,
            status: None,
            retry_after: None,
            request_id: None,
        }
    }

    /// Adds a human-readable description (must not contain secrets).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds the HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a retry delay.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Adds the provider's request id.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
}

impl fmt::Display for GenericProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned `{}`", self.provider, self.code)?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        write!(f, " ({})", advice(self.kind, self.retry_after))
    }
}

impl std::error::Error for GenericProviderError {}

impl ProviderError for GenericProviderError {
    fn provider(&self) -> ProviderId {
        self.provider.clone()
    }
    fn code(&self) -> &str {
        &self.code
    }
    fn kind(&self) -> ErrorKind {
        self.kind
    }
    fn http_status(&self) -> Option<StatusCode> {
        self.status
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

/// Whether a transport failure happened before any byte of the request could reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestSent {
    /// The connection failed before the request was written: resending is always safe.
    No,
    /// The request may have reached the server: resending a single-use grant is unsafe.
    Maybe,
}

/// The category of a transport failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
    /// The timeout elapsed.
    Timeout,
    /// The response body exceeded the size limit.
    BodyTooLarge,
    /// The connection broke while sending or receiving.
    Io,
    /// The request could not be built (bad URL or header).
    Request,
    /// The server answered with a redirect that the HTTP client followed; the answer came from
    /// the redirect's target and is refused (see `ReqwestTransport::from_client`).
    Redirected,
}

/// A failure of an [`HttpTransport`](crate::http::HttpTransport). Cheap to clone (its source is
/// shared).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    kind: TransportErrorKind,
    sent: RequestSent,
    status: Option<StatusCode>,
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A transport error. `message` must not contain secrets (no URLs with credentials, no bodies).
    pub fn new(kind: TransportErrorKind, sent: RequestSent, message: impl Into<String>) -> Self {
        Self {
            kind,
            sent,
            status: None,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error (its `Display` must not contain secrets).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Attaches the HTTP status, when the failure came after the response head (body too large,
    /// connection cut while reading the body).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The category.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether the request may have reached the server.
    pub fn request_sent(&self) -> RequestSent {
        self.sent
    }

    /// The HTTP status, if a response head had arrived.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

/// A response that is not in the provider's format.
#[derive(Clone, Debug)]
pub struct UndecodableResponse {
    /// The provider.
    pub provider: ProviderId,
    /// The operation (`oauth.v2.access`, `token`, …).
    pub operation: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// What was wrong with it.
    pub reason: String,
    /// The start of the body, with anything that looks like a secret masked.
    pub snippet: String,
}

impl fmt::Display for UndecodableResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: undecodable response (HTTP {}, content-type {}): {}; body starts {:?}",
            self.provider,
            self.operation,
            self.status.as_u16(),
            self.content_type.as_deref().unwrap_or("none"),
            self.reason,
            self.snippet,
        )
    }
}

/// Why an authorization callback was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The query string had no `state` parameter, or an empty one.
    #[error("the callback has no `state` parameter, or an empty one")]
    MissingState,
    /// The `state` was never issued here, or belongs to another flow.
    #[error("the callback's `state` is unknown (never issued, or issued by another server)")]
    UnknownState,
    /// The `state` was already used by an earlier callback.
    #[error("the callback's `state` was already used (a replayed or double-submitted callback)")]
    ReplayedState,
    /// The `state` is older than the state store's time to live.
    #[error("the callback's `state` has expired (the authorization took longer than {ttl_secs}s)")]
    ExpiredState {
        /// The store's time to live, in seconds.
        ttl_secs: u64,
    },
    /// No cookie of the browser that started the authorization came: another browser, or cookies off.
    #[error("the callback came without its browser cookie (another browser, or cookies blocked)")]
    MissingBrowserCookie,
    /// The cookie that came belongs to another authorization (another browser's, or a later one).
    #[error("the callback's `state` belongs to another browser: its cookie does not match")]
    BrowserMismatch,
    /// The query string had neither `code` nor `error`.
    #[error("the callback has neither `code` nor `error`")]
    MissingCode,
    /// A parameter appeared more than once. (The message quotes at most
    /// [`MAX_QUOTED_ERROR_CODE`] characters of the name.)
    #[error("the callback repeats the `{}` parameter", clip(.0, MAX_QUOTED_ERROR_CODE))]
    DuplicateParameter(String),
    /// A parameter was not valid percent-encoded UTF-8. (The message quotes at most
    /// [`MAX_QUOTED_ERROR_CODE`] characters of the name.)
    #[error("the callback's `{}` parameter is not valid UTF-8", clip(.0, MAX_QUOTED_ERROR_CODE))]
    NotUtf8(String),
    /// The query string or a parameter exceeded the size limit.
    #[error("the callback query exceeds {limit} bytes")]
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

/// The error type of every operation in this workspace.
///
/// Decide what to do from [`Error::kind`]:
///
/// ```
/// use oauth_core::{Error, ErrorKind};
/// fn next_step(error: &Error) -> &'static str {
///     match error.kind() {
///         ErrorKind::RateLimited | ErrorKind::Retryable | ErrorKind::Transport | ErrorKind::Timeout => "retry later",
///         ErrorKind::ReauthorizationRequired => "send the user through the install flow again",
///         ErrorKind::Configuration => "fix the app's configuration",
///         _ => "report the error",
///     }
/// }
/// assert_eq!(next_step(&Error::configuration("no client secret")), "fix the app's configuration");
/// ```
///
/// Errors are `Clone` (their sources are shared, not copied), so that one failure can be handed to
/// every caller that waited on the same operation: the token manager's single-flight refresh gives
/// each of its callers the refresh's own error, typed provider error included.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider answered with an error.
    #[error("{0}")]
    Provider(Arc<dyn ProviderError>),

    /// The network failed.
    #[error(
        "{provider} {operation}: {source} ({})",
        advice(ErrorKind::Transport, None)
    )]
    Transport {
        /// The provider.
        provider: ProviderId,
        /// The operation.
        operation: &'static str,
        /// The transport failure.
        #[source]
        source: TransportError,
    },

    /// The call did not finish in time.
    #[error(
        "{provider} {operation}: no complete response within the timeout ({})",
        advice(ErrorKind::Timeout, None)
    )]
    Timeout {
        /// The provider.
        provider: ProviderId,
        /// The operation.
        operation: &'static str,
        /// Whether the request may have reached the server.
        request_sent: RequestSent,
    },

    /// The response was not in the provider's format.
    #[error("{response} ({advice})", response = .0, advice = advice(ErrorKind::UndecodableResponse, None))]
    UndecodableResponse(Box<UndecodableResponse>),

    /// The client is misconfigured.
    #[error("configuration error: {message} ({advice})", message = .0, advice = advice(ErrorKind::Configuration, None))]
    Configuration(String),

    /// A request built by the caller is invalid before anything was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The authorization was refused on the consent screen (the callback carried `error=`).
    ///
    /// The message quotes the error code and description as received, cut after
    /// [`MAX_QUOTED_ERROR_CODE`] and [`MAX_QUOTED_DESCRIPTION`] characters (they come from the
    /// callback's query and end up on the page the browser sees).
    #[error("authorization refused: `{}`{} ({})", clip(error, MAX_QUOTED_ERROR_CODE), description.as_deref().map(|d| format!(": {}", clip(d, MAX_QUOTED_DESCRIPTION))).unwrap_or_default(), advice(ErrorKind::AuthorizationDenied, None))]
    AuthorizationDenied {
        /// The OAuth error code (`access_denied`, `invalid_scope`, …).
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },

    /// The callback was malformed or its state did not verify.
    #[error("invalid authorization callback: {reason} ({advice})", reason = .0, advice = advice(ErrorKind::InvalidCallback, None))]
    InvalidCallback(#[from] CallbackError),

    /// The installation is not in the token store.
    #[error("installation {installation} not found ({advice})", advice = advice(ErrorKind::NotFound, None))]
    InstallationNotFound {
        /// The installation key (`provider/key`).
        installation: String,
    },

    /// The installation was marked as needing re-authorization by an earlier refusal.
    #[error("installation {installation} needs re-authorization after `{reason}` ({advice})", advice = advice(ErrorKind::ReauthorizationRequired, None))]
    NeedsReauthorization {
        /// The installation key (`provider/key`).
        installation: String,
        /// The provider's refusal that caused it (`invalid_refresh_token`, …).
        reason: String,
    },

    /// The token store failed.
    #[error("token store error: {message} ({advice})", advice = advice(ErrorKind::Storage, None))]
    Storage {
        /// What failed (no secrets).
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },

    /// A local failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps a provider's typed error.
    pub fn provider(error: impl ProviderError) -> Self {
        Error::Provider(Arc::new(error))
    }

    /// An undecodable-response error.
    pub fn undecodable(response: UndecodableResponse) -> Self {
        Error::UndecodableResponse(Box::new(response))
    }

    /// A token-store error. `message` must not contain secrets.
    pub fn storage(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A configuration error.
    pub fn configuration(message: impl Into<String>) -> Self {
        Error::Configuration(message.into())
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Provider(e) => e.kind(),
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::UndecodableResponse(_) => ErrorKind::UndecodableResponse,
            Error::Configuration(_) => ErrorKind::Configuration,
            Error::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Error::AuthorizationDenied { .. } => ErrorKind::AuthorizationDenied,
            Error::InvalidCallback(_) => ErrorKind::InvalidCallback,
            Error::InstallationNotFound { .. } => ErrorKind::NotFound,
            Error::NeedsReauthorization { .. } => ErrorKind::ReauthorizationRequired,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// How long the provider asked to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Provider(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Whether the same call may succeed later. An undecodable 5xx answer (an outage page) counts.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::UndecodableResponse(r) => r.status.is_server_error(),
            other => other.kind().is_retryable(),
        }
    }

    /// Whether the user must authorize the app again.
    pub fn needs_reauthorization(&self) -> bool {
        self.kind() == ErrorKind::ReauthorizationRequired
    }

    /// The provider error, if the provider reported one.
    pub fn provider_error(&self) -> Option<&dyn ProviderError> {
        match self {
            Error::Provider(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// The HTTP status of the response that caused the error, if there was one.
    pub fn http_status(&self) -> Option<StatusCode> {
        match self {
            Error::Provider(e) => e.http_status(),
            Error::UndecodableResponse(r) => Some(r.status),
            Error::Transport { source, .. } => source.status(),
            _ => None,
        }
    }
}

/// How many characters of a callback's `error` code (or of a parameter name) an error message
/// quotes.
pub const MAX_QUOTED_ERROR_CODE: usize = 64;

/// How many characters of a callback's `error_description` [`Error::AuthorizationDenied`]'s
/// message quotes.
pub const MAX_QUOTED_DESCRIPTION: usize = 300;

/// `text` cut after `max` characters, saying how many were left out.
fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => std::borrow::Cow::Owned(format!(
            "{}… ({} more characters)",
            &text[..end],
            text[end..].chars().count()
        )),
    }
}

/// The result type of this workspace.
pub type Result<T, E = Error> = std::result::Result<T, E>;
