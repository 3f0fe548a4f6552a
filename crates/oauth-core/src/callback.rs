//! Parsing and verifying the redirect back from the provider (`?code=…&state=…` or `?error=…`).

use std::collections::HashMap;
use std::fmt;

use percent_encoding::percent_decode_str;

use crate::error::{CallbackError, Error, Result};
use crate::secret::AuthorizationCode;
use crate::state::{PendingAuthorization, StateStore};

/// The longest callback query accepted, in bytes.
pub const MAX_CALLBACK_QUERY: usize = 8 * 1024;

/// What the provider said on the callback.
#[non_exhaustive]
pub enum CallbackResponse {
    /// The user consented: an authorization code to exchange.
    Code(AuthorizationCode),
    /// The authorization failed (`error=access_denied`, `invalid_scope`, …).
    Error {
        /// The OAuth error code.
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
}

impl fmt::Debug for CallbackResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackResponse::Code(code) => f.debug_tuple("Code").field(code).finish(),
            CallbackResponse::Error { error, description } => f
                .debug_struct("Error")
                .field("error", error)
                .field("description", description)
                .finish(),
        }
    }
}

/// A syntactically valid callback query, before its `state` is checked.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallbackParams {
    /// The `state` parameter, if present and non-empty.
    pub state: Option<String>,
    /// The code or the error.
    pub response: CallbackResponse,
}

impl CallbackParams {
    /// Parses a callback query string (with or without the leading `?`).
    ///
    /// Rejects queries over [`MAX_CALLBACK_QUERY`] bytes, repeated parameters, parameters that are
    /// not percent-encoded UTF-8, and queries with neither `code` nor `error`. When both `code` and
    /// `error` are present the error wins.
    ///
    /// ```
    /// use oauth_core::{CallbackParams, CallbackResponse};
    /// let params = CallbackParams::parse("?code=abc&state=xyz")?;
    /// assert_eq!(params.state.as_deref(), Some("xyz"));
    /// assert!(matches!(params.response, CallbackResponse::Code(_)));
    /// # Ok::<(), oauth_core::Error>(())
    /// ```
    pub fn parse(query: &str) -> Result<Self> {
        let query = query.strip_prefix('?').unwrap_or(query);
        if query.len() > MAX_CALLBACK_QUERY {
            return Err(CallbackError::TooLong {
                limit: MAX_CALLBACK_QUERY,
            }
            .into());
        }
        let mut params: HashMap<String, String> = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name).map_err(|()| {
                CallbackError::NotUtf8(String::from_utf8_lossy(raw_name.as_bytes()).into_owned())
            })?;
            let value = decode(raw_value).map_err(|()| CallbackError::NotUtf8(name.clone()))?;
            if params.contains_key(&name) {
                return Err(CallbackError::DuplicateParameter(name).into());
            }
            params.insert(name, value);
        }
        let state = params.remove("state").filter(|s| !s.is_empty());
        let response = if let Some(error) = params.remove("error").filter(|e| !e.is_empty()) {
            CallbackResponse::Error {
                error,
                description: params.remove("error_description").filter(|d| !d.is_empty()),
            }
        } else if let Some(code) = params.remove("code").filter(|c| !c.is_empty()) {
            CallbackResponse::Code(AuthorizationCode::new(code))
        } else {
            return Err(CallbackError::MissingCode.into());
        };
        Ok(Self { state, response })
    }

    /// Checks the state against `store` (taking it: a second callback with it fails), then returns
    /// the code with what was saved for it, or the provider's error as
    /// [`Error::AuthorizationDenied`].
    pub async fn verify(self, store: &dyn StateStore) -> Result<VerifiedCallback> {
        let state = self.state.ok_or(CallbackError::MissingState)?;
        let pending = store.take(&state).await?;
        match self.response {
            CallbackResponse::Code(code) => Ok(VerifiedCallback { code, pending }),
            CallbackResponse::Error { error, description } => {
                Err(Error::AuthorizationDenied { error, description })
            }
        }
    }
}

/// A callback whose `state` verified: the code to exchange and what was saved with the state.
#[derive(Debug)]
#[non_exhaustive]
pub struct VerifiedCallback {
    /// The authorization code.
    pub code: AuthorizationCode,
    /// The redirect URI, PKCE verifier and data saved when the authorization started.
    pub pending: PendingAuthorization,
}

/// Parses `query` and verifies it against `store`: [`CallbackParams::parse`] then
/// [`CallbackParams::verify`].
pub async fn verify_callback(query: &str, store: &dyn StateStore) -> Result<VerifiedCallback> {
    CallbackParams::parse(query)?.verify(store).await
}

/// Decodes one `application/x-www-form-urlencoded` component, refusing invalid UTF-8.
fn decode(raw: &str) -> std::result::Result<String, ()> {
    let plus_decoded = raw.replace('+', " ");
    percent_decode_str(&plus_decoded)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ())
}
