//! The README's example, compiled and run as it is written there (keep the two identical:
//! `xtask/src/tidy.rs` checks it).
#![allow(clippy::unwrap_used, missing_docs)]

use oauth_facade::error::GenericProviderError;
use oauth_facade::{Error, ErrorKind, ProviderId, RefreshToken, TokenProvider, TokenSet};
use std::sync::Arc;

/// Works with Notion, Slack, or a mock: the caller picks with `ProviderConfig::from_env(kind)?.build()?`.
async fn renew(
    provider: Arc<dyn TokenProvider>,
    refresh: &RefreshToken,
) -> Result<TokenSet, Error> {
    let tokens = provider.refresh(refresh).await?; // store `tokens` before using them
    Ok(tokens)
}

#[tokio::test]
async fn a_refused_refresh_asks_for_reauthorization() {
    let mut mock = oauth_facade::mock::MockTokenProvider::new();
    mock.expect_refresh().returning(|_| {
        Err(Error::provider(GenericProviderError::new(
            ProviderId::from_static("slack"),
            "invalid_refresh_token",
            ErrorKind::ReauthorizationRequired,
        )))
    });
    let error = renew(Arc::new(mock), &RefreshToken::new("xoxe-1-spent"))
        .await
        .unwrap_err();
    assert!(error.needs_reauthorization());
}
