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

oauth_core::error_codes! {
    /// Every error code Notion documents for these endpoints, and the general API codes.
    pub enum NotionErrorCode {
        /// `invalid_grant`: the code or refresh token is invalid, expired, revoked, issued to another
        /// client, or the redirect URI does not match.
        InvalidGrant => "invalid_grant",
        /// `invalid_client`: the client credentials (HTTP Basic) are missing or wrong.
        InvalidClient => "invalid_client",
        /// `unauthorized_client`: the client may not use this grant.
        UnauthorizedClient => "unauthorized_client",
        /// `unsupported_grant_type`.
        UnsupportedGrantType => "unsupported_grant_type",
        /// `invalid_scope`.
        InvalidScope => "invalid_scope",
        /// `invalid_request`: "Unsupported request".
        InvalidRequest => "invalid_request",
        /// `invalid_json`: the body is not JSON.
        InvalidJson => "invalid_json",
        /// `invalid_request_url`: unknown path or method.
        InvalidRequestUrl => "invalid_request_url",
        /// `validation_error`: the body failed validation.
        ValidationError => "validation_error",
        /// `missing_version`: the `Notion-Version` header is absent or unknown.
        MissingVersion => "missing_version",
        /// `unauthorized`: the bearer token is invalid.
        Unauthorized => "unauthorized",
        /// `restricted_resource`: the integration lacks the capability.
        RestrictedResource => "restricted_resource",
        /// `object_not_found`.
        ObjectNotFound => "object_not_found",
        /// `conflict_error`: a data collision; retry.
        ConflictError => "conflict_error",
        /// `rate_limited`: retry after `Retry-After`.
        RateLimited => "rate_limited",
        /// `invalid_beta`.
        InvalidBeta => "invalid_beta",
        /// `test_env_error`.
        TestEnvError => "test_env_error",
        /// `internal_server_error`.
        InternalServerError => "internal_server_error",
        /// `service_unavailable`.
        ServiceUnavailable => "service_unavailable",
        /// `database_connection_unavailable`.
        DatabaseConnectionUnavailable => "database_connection_unavailable",
        /// `gateway_timeout`.
        GatewayTimeout => "gateway_timeout",
        /// `service_overload` (HTTP 529): treat like a rate limit.
        ServiceOverload => "service_overload",
    }
}

impl NotionErrorCode {
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

    /// The typed error code.
    pub fn code(&self) -> &NotionErrorCode {
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
