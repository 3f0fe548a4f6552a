//! [`TokenSetBuilder`]: a [`TokenSet`] made from its parts, with defaults for all but two.

use std::time::SystemTime;

use crate::scope::Scopes;
use crate::secret::RefreshToken;
use crate::token::{Grantee, ProviderExtras, TokenSet, TokenType, expiry_from};

/// Builds a [`TokenSet`]; made by [`TokenSet::builder`].
///
/// Defaults: [`TokenType::Bearer`], no refresh token, issued now (the system clock), no expiry, no
/// scopes, an empty [`Grantee`] and no extras. An [`expires_in`](Self::expires_in) counts from the
/// issue time, whichever order the two are set in.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use oauth_core::{AccessToken, ProviderId, RefreshToken, TokenSet, TokenType};
///
/// let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let tokens = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new("xoxe.xoxb-1-abc"))
///     .token_type(TokenType::Bot)
///     .refresh_token(RefreshToken::new("xoxe-1-def"))
///     .expires_in(43_200)
///     .issued_at(issued)
///     .build();
/// assert_eq!(tokens.expires_at, Some(issued + Duration::from_secs(43_200)));
/// assert!(!format!("{tokens:?}").contains("xoxe-1-def"));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TokenSetBuilder {
    pub(crate) tokens: TokenSet,
    pub(crate) expires_in: Option<i64>,
}

impl TokenSetBuilder {
    /// The access token's type (default [`TokenType::Bearer`]).
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.tokens.token_type = token_type;
        self
    }

    /// The refresh token (default none).
    pub fn refresh_token(mut self, refresh_token: RefreshToken) -> Self {
        self.tokens.refresh_token = Some(refresh_token);
        self
    }

    /// When the answer carrying the tokens was received (default: now, by the system clock).
    pub fn issued_at(mut self, issued_at: SystemTime) -> Self {
        self.tokens.issued_at = issued_at;
        self
    }

    /// When the access token expires (default: never, or unknown). Replaces an
    /// [`expires_in`](Self::expires_in).
    pub fn expires_at(mut self, expires_at: SystemTime) -> Self {
        self.tokens.expires_at = Some(expires_at);
        self.expires_in = None;
        self
    }

    /// The access token's lifetime in seconds from the issue time, as providers send it
    /// (`expires_in`); clamped like [`expiry_from`]. Replaces an [`expires_at`](Self::expires_at).
    pub fn expires_in(mut self, expires_in_secs: i64) -> Self {
        self.expires_in = Some(expires_in_secs);
        self
    }

    /// When the refresh token expires, where the provider documents it (default: unknown).
    pub fn refresh_token_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.tokens.refresh_token_expires_at = Some(expires_at);
        self
    }

    /// The scopes granted (default none).
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.tokens.scopes = scopes;
        self
    }

    /// Who the tokens were granted to (default: nobody known).
    pub fn grantee(mut self, grantee: Grantee) -> Self {
        self.tokens.grantee = grantee;
        self
    }

    /// Provider-specific fields (default none).
    pub fn extras(mut self, extras: ProviderExtras) -> Self {
        self.tokens.extras = extras;
        self
    }

    /// The token set.
    pub fn build(self) -> TokenSet {
        let mut tokens = self.tokens;
        if let Some(expires_in) = self.expires_in {
            tokens.expires_at = expiry_from(tokens.issued_at, expires_in);
        }
        tokens
    }
}
