//! Shared pieces of the workspace's cross-crate and multi-process tests: the token sets the worker
//! processes write, and how to check that a stored one is whole.

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use oauth_core::{
    AccessToken, InstallationKey, ProviderId, RefreshToken, TokenProvider, TokenSet, TokenType,
};

/// The provider id the workers write under.
pub const PROVIDER: ProviderId = ProviderId::from_static("itest");

/// The key of installation `i`.
pub fn key(i: usize) -> InstallationKey {
    InstallationKey::new(PROVIDER, format!("T{i}"))
}

/// Generation `generation` of installation `i`: every part names the generation, so a token set
/// assembled from two writes is detectable.
pub fn generation(i: usize, generation: u64) -> TokenSet {
    let mut tokens = TokenSet::new(
        PROVIDER,
        AccessToken::new(format!("at-{i}-{generation}-{}", "a".repeat(64))),
        TokenType::Bot,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + generation),
    );
    tokens.refresh_token = Some(RefreshToken::new(format!(
        "rt-{i}-{generation}-{}",
        "r".repeat(64)
    )));
    tokens.set_expires_in(43_200);
    tokens.extras.insert("generation", generation.into());
    tokens
}

/// The generation of a stored token set, if all of its parts agree; `Err` describes a torn one.
pub fn check_whole(i: usize, tokens: &TokenSet) -> Result<u64, String> {
    let generation: u64 = tokens
        .extras
        .get_as("generation")
        .ok_or_else(|| "no generation in the extras".to_owned())?;
    let expected = generation_of(i, generation);
    if tokens == &expected {
        Ok(generation)
    } else {
        Err(format!(
            "installation {i}: a token set mixing generation {generation} with another write"
        ))
    }
}

fn generation_of(i: usize, g: u64) -> TokenSet {
    generation(i, g)
}

/// Slack's provider id.
pub const SLACK: ProviderId = ProviderId::from_static("slack");

/// The Slack client of oauth-sandbox's default app at `base` (the sandbox's root URL).
pub fn slack_client(base: &str) -> oauth_core::Result<Arc<dyn TokenProvider>> {
    let base = base.trim_end_matches('/');
    let client = oauth_slack::SlackClient::builder(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
        .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .api_base_url(format!("{base}/api/"))
        .authorize_base_url(format!("{base}/"))
        .build()?;
    Ok(Arc::new(client))
}
