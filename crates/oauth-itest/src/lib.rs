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

/// The HTTP client of the tests' provider clients: 2 s per attempt, 2 attempts, at most 500 ms
/// of retry waits, so that one call takes at most 4.5 s
/// ([`HttpClient::call_time_bound`](oauth_core::http::HttpClient::call_time_bound)) and token
/// managers can run with leases of a few seconds.
pub fn http_client() -> oauth_core::Result<oauth_core::http::HttpClient> {
    let transport = oauth_core::http::ReqwestTransport::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let retry = oauth_core::http::RetryPolicy::default()
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(20))
        .max_total_delay(Duration::from_millis(500))
        .max_retry_after(Duration::from_millis(500));
    Ok(oauth_core::http::HttpClient::new(
        Arc::new(transport),
        retry,
    ))
}

/// The Slack client of oauth-sandbox's default app at `base` (the sandbox's root URL), on
/// [`http_client`].
pub fn slack_client(base: &str) -> oauth_core::Result<Arc<dyn TokenProvider>> {
    slack_app_client(
        base,
        oauth_sandbox::DEFAULT_SLACK_CLIENT_ID,
        oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET,
    )
}

/// The Slack client of the sandbox app `client_id` (registered with the default redirect URIs).
pub fn slack_app_client(
    base: &str,
    client_id: &str,
    client_secret: &str,
) -> oauth_core::Result<Arc<dyn TokenProvider>> {
    let base = base.trim_end_matches('/');
    let client = oauth_slack::SlackClient::builder(client_id)
        .client_secret(client_secret)
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .api_base_url(format!("{base}/api/"))
        .authorize_base_url(format!("{base}/"))
        .http_client(http_client()?)
        .build()?;
    Ok(Arc::new(client))
}
