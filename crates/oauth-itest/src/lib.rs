//! Shared pieces of the workspace's cross-crate and multi-process tests: the token sets the worker
//! processes write, and how to check that a stored one is whole.

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use oauth_core::{
    AccessToken, InstallationKey, ProviderId, RefreshToken, TokenKey, TokenProvider, TokenSet,
    TokenType,
};

/// The provider id the workers write under.
pub const PROVIDER: ProviderId = ProviderId::from_static("itest");

/// The key of installation `i`'s (bot) token set.
pub fn key(i: usize) -> TokenKey {
    TokenKey::bot(InstallationKey::new(PROVIDER, format!("T{i}")))
}

/// Generation `generation` of installation `i`: every part names the generation, so a token set
/// assembled from two writes is detectable.
pub fn generation(i: usize, generation: u64) -> TokenSet {
    let mut tokens = TokenSet::builder(
        PROVIDER,
        AccessToken::new(format!("at-{i}-{generation}-{}", "a".repeat(64))),
    )
    .token_type(TokenType::Bot)
    .issued_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + generation))
    .build();
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
        .base_url(format!("{base}/api/"))
        .authorize_base_url(format!("{base}/"))
        .http_client(http_client()?)
        .build()?;
    Ok(Arc::new(client))
}

/// A pool on a fresh schema (named after `prefix`) of the test PostgreSQL server
/// (`OAUTH_TEST_POSTGRES_URL`, which `cargo xtask test` sets), or `None` when there is none:
/// then the caller's test does not run, which this says loudly (and which fails when
/// `OAUTH_REQUIRE_POSTGRES` is set, as in CI).
#[allow(
    clippy::panic,
    reason = "test support: an unusable test database fails the test"
)]
pub async fn postgres_schema(prefix: &str) -> Option<sqlx::PgPool> {
    let Ok(url) = std::env::var("OAUTH_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("OAUTH_REQUIRE_POSTGRES").is_none(),
            "OAUTH_REQUIRE_POSTGRES is set but OAUTH_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "!!!! OAUTH_TEST_POSTGRES_URL is not set: this PostgreSQL test did NOT run (use `cargo xtask test`) !!!!"
        );
        return None;
    };
    let schema = format!("{prefix}_{:016x}", getrandom::u64().unwrap_or(0));
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
    let options = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap_or_else(|e| panic!("OAUTH_TEST_POSTGRES_URL is not a PostgreSQL URL: {e}"))
        .options([("search_path", schema.as_str())]);
    Some(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to schema {schema}: {e}")),
    )
}

/// The `postgres:URL#SCHEMA` store spec of the worker binaries for a schema made by
/// [`postgres_schema`]: the schema name is read back from the pool's connection.
#[allow(
    clippy::panic,
    reason = "test support: an unusable test database fails the test"
)]
pub async fn postgres_spec(pool: &sqlx::PgPool) -> String {
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("cannot read the schema: {e}"));
    let url = std::env::var("OAUTH_TEST_POSTGRES_URL").unwrap_or_default();
    format!("postgres:{url}#{schema}")
}

/// A Slack client of the sandbox app `client_id` whose calls cannot take long: 400 ms per attempt,
/// one attempt (its [`refresh_time_bound`](oauth_core::TokenGrant::refresh_time_bound) is 400 ms),
/// so that the kill tests can run leases of a second.
pub fn fast_slack_client(
    base: &str,
    client_id: &str,
    client_secret: &str,
) -> oauth_core::Result<Arc<dyn TokenProvider>> {
    let transport = oauth_core::http::ReqwestTransport::builder()
        .timeout(Duration::from_millis(400))
        .build()?;
    let http = oauth_core::http::HttpClient::new(
        Arc::new(transport),
        oauth_core::http::RetryPolicy::never(),
    );
    let base = base.trim_end_matches('/');
    let client = oauth_slack::SlackClient::builder(client_id)
        .client_secret(client_secret)
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .base_url(format!("{base}/api/"))
        .authorize_base_url(format!("{base}/"))
        .http_client(http)
        .build()?;
    Ok(Arc::new(client))
}

/// The store a worker binary is given: `sqlite:PATH` or `postgres:URL#SCHEMA`.
pub async fn open_store(spec: &str) -> oauth_core::Result<Arc<dyn oauth_core::TokenStore>> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        return Ok(Arc::new(oauth_store::SqliteTokenStore::open(path).await?));
    }
    let spec = spec.strip_prefix("postgres:").unwrap_or(spec);
    let (url, schema) = spec.split_once('#').unwrap_or((spec, "public"));
    let options: sqlx::postgres::PgConnectOptions = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .map_err(|e| oauth_core::Error::configuration(format!("bad postgres URL: {e}")))?
        .options([("search_path", schema)]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|e| oauth_core::Error::storage("cannot connect", e))?;
    Ok(Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool, None).await?,
    ))
}

/// Makes the sandbox's default Slack app mint access tokens that live `ttl_secs` (instead of 12
/// hours), so that a test in real time goes through many expiry cycles: with the manager's rule
/// (never due in the first half of a token's life), they are due after `ttl_secs / 2`.
pub fn short_lived_default_slack_tokens(sandbox: &oauth_sandbox::SandboxHandle, ttl_secs: u64) {
    if let Some(app) = sandbox
        .control()
        .app(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
    {
        sandbox
            .control()
            .register_app(app.with_access_token_ttl_secs(ttl_secs));
    }
}
