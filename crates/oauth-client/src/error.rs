//! [`ClientError`]: what the middleware says when it cannot send a request with a good token.

use oauth_core::{ErrorKind, TokenKey};

/// Why [`ManagedAuth`](crate::ManagedAuth) could not carry a request with a valid token. It
/// reaches the caller inside `reqwest_middleware::Error::Middleware`; read it back with
/// [`ClientError::of`]. No variant shows a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request names no token set: bind the middleware to one ([`ManagedAuth::new`]) or put
    /// a `TokenKey` in the request's extensions (`RequestBuilder::with_extension(key)`).
    ///
    /// [`ManagedAuth::new`]: crate::ManagedAuth::new
    #[error(
        "the request names no token set: bind the client to one (ManagedAuth::new) or add a TokenKey with RequestBuilder::with_extension"
    )]
    NoTokenSet,
    /// The token manager could not give a valid token for `key` (not installed, marked for
    /// re-authorization, a refresh that failed): its error, which says what to do.
    #[error("no valid token for {key}: {source}")]
    Token {
        /// The token set.
        key: TokenKey,
        /// The manager's error.
        #[source]
        source: oauth_core::Error,
    },
    /// The provider says the token of `key` and its grant are gone (`code`: Slack
    /// `token_revoked`, `account_inactive`). The token set is marked for re-authorization: the
    /// user must install the app again.
    #[error(
        "the provider revoked the token of {key} ({code}): it is marked for re-authorization; the user must install the app again"
    )]
    Revoked {
        /// The token set.
        key: TokenKey,
        /// The provider's code.
        code: String,
    },
}

impl ClientError {
    /// The `ClientError` inside a middleware error, if that is what it is.
    pub fn of(error: &reqwest_middleware::Error) -> Option<&ClientError> {
        match error {
            reqwest_middleware::Error::Middleware(inner) => inner.downcast_ref::<ClientError>(),
            _ => None,
        }
    }

    /// What kind of failure this is, in oauth-core's terms.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::NoTokenSet => ErrorKind::Configuration,
            ClientError::Token { source, .. } => source.kind(),
            ClientError::Revoked { .. } => ErrorKind::ReauthorizationRequired,
        }
    }
}
