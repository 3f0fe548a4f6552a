//! What to do after each answer, for every HTTP layer that carries managed tokens (the reqwest
//! middleware and the tower layer): one place for the token, the `Authorization` header, the
//! report of a refused token, the single resend and the marking of a revoked grant. The layers
//! only send requests and read answers.

// `ClientError` carries the manager's error whole, for its advice; it is made only on failures.
#![allow(clippy::result_large_err)]

use http::header::HeaderValue;
use oauth_core::{AccessToken, TokenKey};
use oauth_manager::TokenManager;

use crate::error::ClientError;
use crate::verdict::TokenVerdict;

/// After an answer: hand it to the caller, send the request once more with a fresh token, or
/// fail.
#[derive(Debug)]
pub(crate) enum After {
    /// The answer is the caller's.
    Answer,
    /// Send the request again with this token (only ever after the first answer).
    Resend(AccessToken),
    /// The call fails with this error.
    Fail(ClientError),
}

/// The decisions of a managed-token layer, over one token manager.
#[derive(Clone, Debug)]
pub(crate) struct Decider {
    manager: TokenManager,
}

impl Decider {
    pub(crate) fn new(manager: TokenManager) -> Self {
        Self { manager }
    }

    pub(crate) fn manager(&self) -> &TokenManager {
        &self.manager
    }

    /// A valid token for `key`, from the manager (cached, refreshed first if due).
    pub(crate) async fn token(&self, key: &TokenKey) -> Result<AccessToken, ClientError> {
        self.manager
            .access_token(key)
            .await
            .map_err(|source| ClientError::Token {
                key: key.clone(),
                source,
            })
    }

    /// `Bearer <token>`, marked sensitive so that no HTTP log shows it.
    pub(crate) fn bearer(key: &TokenKey, token: &AccessToken) -> Result<HeaderValue, ClientError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| ClientError::Token {
                key: key.clone(),
                source: oauth_core::Error::Internal(
                    "the stored access token is not a valid header value".into(),
                ),
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// After the first answer, sent with `token`: `can_resend` says whether the request can be
    /// sent again (its body could be copied and it is not marked `NotIdempotent`).
    pub(crate) async fn first(
        &self,
        key: &TokenKey,
        token: &AccessToken,
        verdict: TokenVerdict,
        can_resend: bool,
    ) -> After {
        match verdict {
            TokenVerdict::Accepted => After::Answer,
            TokenVerdict::Revoked(code) => After::Fail(self.revoked(key, token, code).await),
            TokenVerdict::Rejected(code) => {
                tracing::debug!(token_set = %key, code = %code, "the provider refused the token; refreshing");
                self.manager.report_rejected_token(key, token);
                if !can_resend {
                    // Not resendable: the next call carries a fresh token.
                    return After::Answer;
                }
                match self.token(key).await {
                    // Nothing fresher to try: the refused answer is the caller's.
                    Ok(fresh) if fresh == *token => After::Answer,
                    Ok(fresh) => After::Resend(fresh),
                    Err(error) => After::Fail(error),
                }
            }
        }
    }

    /// After the answer to the one resend, sent with `token`: never another resend.
    pub(crate) async fn last(
        &self,
        key: &TokenKey,
        token: &AccessToken,
        verdict: TokenVerdict,
    ) -> After {
        match verdict {
            TokenVerdict::Accepted => After::Answer,
            TokenVerdict::Revoked(code) => After::Fail(self.revoked(key, token, code).await),
            TokenVerdict::Rejected(_) => {
                self.manager.report_rejected_token(key, token);
                After::Answer
            }
        }
    }

    /// Marks `key` for re-authorization after the provider said `code`, and the error to return.
    async fn revoked(&self, key: &TokenKey, token: &AccessToken, code: String) -> ClientError {
        self.manager.report_rejected_token(key, token);
        let store = self.manager.store();
        match store.get(key).await {
            Ok(Some(stored)) if stored.tokens.access_token == *token => {
                if let Err(error) = store
                    .mark_needs_reauthorization(key, stored.version, &code)
                    .await
                {
                    tracing::warn!(token_set = %key, kind = ?error.kind(), "could not mark the token set for re-authorization");
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(token_set = %key, kind = ?error.kind(), "could not read the token set to mark it")
            }
        }
        tracing::info!(token_set = %key, code = %code, "the provider revoked the token");
        ClientError::Revoked {
            key: key.clone(),
            code,
        }
    }
}
