//! Notion's errors, typed.
//!
//! Notion answers OAuth errors in two shapes, and this module reads both:
//!
//! - the API envelope `{"object":"error","status":400,"code":"invalid_grant","message":"…",
//!   "request_id":"…","additional_data":{…}}`, where `object`, `status` and `request_id` may be
//!   missing;
//! - the OAuth (RFC 6749 §5.2) body `{"error":"invalid_client","error_description":"…",
//!   "request_id":"…"}`, measured on 401 answers with `WWW-Authenticate: Basic realm="OAuth"`.
//!
//! The request id comes from the body or, failing that, the `x-notion-request-id` header.

use std::fmt;
use std::time::Duration;

use http::StatusCode;
use oauth_core::{ErrorKind, ProviderError, ProviderId};

use crate::PROVIDER;

/// Every error code Notion documents for these endpoints, and the general API codes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotionErrorCode {
    /// `invalid_grant`: the code or refresh token is invalid, expired, revoked, issued to another
    /// client, or the redirect URI does not match.
    InvalidGrant,
    /// `invalid_client`: the client credentials (HTTP Basic) are missing or wrong.
    InvalidClient,
    /// `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `invalid_request`: "Unsupported request".
    InvalidRequest,
    /// `invalid_json`: the body is not JSON.
    InvalidJson,
    /// `invalid_request_url`: unknown path or method.
    InvalidRequestUrl,
    /// `validation_error`: the body failed validation.
    ValidationError,
    /// `missing_version`: the `Notion-Version` header is absent or unknown.
    MissingVersion,
    /// `unauthorized`: the bearer token is invalid.
    Unauthorized,
    /// `restricted_resource`: the integration lacks the capability.
    RestrictedResource,
    /// `object_not_found`.
    ObjectNotFound,
    /// `conflict_error`: a data collision; retry.
    ConflictError,
    /// `rate_limited`: retry after `Retry-After`.
    RateLimited,
    /// `invalid_beta`.
    InvalidBeta,
    /// `test_env_error`.
    TestEnvError,
    /// `internal_server_error`.
    InternalServerError,
    /// `service_unavailable`.
    ServiceUnavailable,
    /// `database_connection_unavailable`.
    DatabaseConnectionUnavailable,
    /// `gateway_timeout`.
    GatewayTimeout,
    /// `service_overload` (HTTP 529): treat like a rate limit.
    ServiceOverload,
    /// A code this crate does not know, as received (empty if the body had none).
    Other(String),
}

impl NotionErrorCode {
    /// Parses a code as Notion spells it.
    pub fn parse(code: &str) -> Self {
        use NotionErrorCode::*;
        match code {
            "invalid_grant" => InvalidGrant,
            "invalid_client" => InvalidClient,
            "unauthorized_client" => UnauthorizedClient,
            "unsupported_grant_type" => UnsupportedGrantType,
            "invalid_scope" => InvalidScope,
            "invalid_request" => InvalidRequest,
            "invalid_json" => InvalidJson,
            "invalid_request_url" => InvalidRequestUrl,
            "validation_error" => ValidationError,
            "missing_version" => MissingVersion,
            "unauthorized" => Unauthorized,
            "restricted_resource" => RestrictedResource,
            "object_not_found" => ObjectNotFound,
            "conflict_error" => ConflictError,
            "rate_limited" => RateLimited,
            "invalid_beta" => InvalidBeta,
            "test_env_error" => TestEnvError,
            "internal_server_error" => InternalServerError,
            "service_unavailable" => ServiceUnavailable,
            "database_connection_unavailable" => DatabaseConnectionUnavailable,
            "gateway_timeout" => GatewayTimeout,
            "service_overload" => ServiceOverload,
            other => Other(other.to_owned()),
        }
    }

    /// The code as Notion spells it.
    pub fn as_str(&self) -> &str {
        use NotionErrorCode::*;
        match self {
            InvalidGrant => "invalid_grant",
            InvalidClient => "invalid_client",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            InvalidScope => "invalid_scope",
            InvalidRequest => "invalid_request",
            InvalidJson => "invalid_json",
            InvalidRequestUrl => "invalid_request_url",
            ValidationError => "validation_error",
            MissingVersion => "missing_version",
            Unauthorized => "unauthorized",
            RestrictedResource => "restricted_resource",
            ObjectNotFound => "object_not_found",
            ConflictError => "conflict_error",
            RateLimited => "rate_limited",
            InvalidBeta => "invalid_beta",
            TestEnvError => "test_env_error",
            InternalServerError => "internal_server_error",
            ServiceUnavailable => "service_unavailable",
            DatabaseConnectionUnavailable => "database_connection_unavailable",
            GatewayTimeout => "gateway_timeout",
            ServiceOverload => "service_overload",
            Other(other) => other,
        }
    }

    /// The classification of this code at HTTP `status`.
    ///
    /// | Codes | Kind |
    /// | --- | --- |
    /// | `invalid_grant`, `unauthorized` | re-authorization required |
    /// | `invalid_client`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `missing_version` | configuration |
    /// | `rate_limited`, `service_overload` | rate-limited |
    /// | `internal_server_error`, `service_unavailable`, `database_connection_unavailable`, `gateway_timeout`, `conflict_error` | retryable |
    /// | the other documented codes | invalid request |
    /// | unknown codes | by status: 429 rate-limited, 5xx retryable, 401 configuration, else invalid request |
    pub fn kind(&self, status: StatusCode) -> ErrorKind {
        use NotionErrorCode::*;
        match self {
            InvalidGrant | Unauthorized => ErrorKind::ReauthorizationRequired,
            InvalidClient | UnauthorizedClient | UnsupportedGrantType | InvalidScope
            | MissingVersion => ErrorKind::Configuration,
            RateLimited | ServiceOverload => ErrorKind::RateLimited,
            InternalServerError
            | ServiceUnavailable
            | DatabaseConnectionUnavailable
            | GatewayTimeout
            | ConflictError => ErrorKind::Retryable,
            InvalidRequest | InvalidJson | InvalidRequestUrl | ValidationError
            | RestrictedResource | ObjectNotFound | InvalidBeta | TestEnvError => {
                ErrorKind::InvalidRequest
            }
            Other(_) => match status.as_u16() {
                429 | 529 => ErrorKind::RateLimited,
                500..=599 => ErrorKind::Retryable,
                401 => ErrorKind::Configuration,
                _ => ErrorKind::InvalidRequest,
            },
        }
    }
}

impl fmt::Display for NotionErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of Notion's two error shapes the body had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorShape {
    /// The API envelope (`"object":"error"`, `code`, `message`).
    Envelope,
    /// The OAuth body (`error`, `error_description`).
    OAuth,
}

/// An error answered by Notion.
#[derive(Clone, Debug)]
pub struct NotionError {
    pub(crate) operation: &'static str,
    pub(crate) code: NotionErrorCode,
    pub(crate) status: StatusCode,
    pub(crate) message: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) shape: ErrorShape,
    pub(crate) additional_data: Option<serde_json::Value>,
    pub(crate) www_authenticate: Option<String>,
}

impl NotionError {
    /// The operation that failed (`oauth/token`, `oauth/introspect`, `oauth/revoke`).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The error code.
    pub fn error_code(&self) -> &NotionErrorCode {
        &self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Notion's `message` or `error_description`.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Which error shape the body had.
    pub fn shape(&self) -> ErrorShape {
        self.shape
    }

    /// The envelope's `additional_data` (e.g. `rate_limit_reason`).
    pub fn additional_data(&self) -> Option<&serde_json::Value> {
        self.additional_data.as_ref()
    }

    /// The `WWW-Authenticate` header of a 401 answer.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate.as_deref()
    }
}

impl fmt::Display for NotionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Notion {} failed with HTTP {} `{}`",
            self.operation,
            self.status.as_u16(),
            self.code
        )?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(request_id) = &self.request_id {
            write!(f, " (request id {request_id})")?;
        }
        let advice = match self.code {
            NotionErrorCode::InvalidClient => {
                "check the integration's OAuth client id and client secret".to_owned()
            }
            NotionErrorCode::MissingVersion => {
                "set a Notion-Version the API accepts (NotionClientBuilder::notion_version)".to_owned()
            }
            NotionErrorCode::InvalidGrant => {
                "the code or refresh token is spent, expired, revoked or for another redirect URI: send the user through authorization again".to_owned()
            }
            _ => oauth_core::advice(self.kind(), self.retry_after),
        };
        write!(f, "; {advice}")
    }
}

impl std::error::Error for NotionError {}

impl ProviderError for NotionError {
    fn provider(&self) -> ProviderId {
        PROVIDER
    }
    fn code(&self) -> &str {
        self.code.as_str()
    }
    fn kind(&self) -> ErrorKind {
        self.code.kind(self.status)
    }
    fn http_status(&self) -> Option<StatusCode> {
        Some(self.status)
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
