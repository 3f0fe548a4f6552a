//! A refresh storm: N Notion installations (1,000 and 10,000; `OAUTH_BENCH_STORM_SIZES`, comma
//! separated) whose tokens expire at the same instant, against oauth-sandbox in process, on SQLite
//! and PostgreSQL (when `OAUTH_TEST_POSTGRES_URL` is set):
//! - the baseline: N plain `NotionClient::refresh` calls;
//! - the storm: one caller per installation calls `access_token` once the tokens have expired,
//!   so that every caller waits for its refresh;
//! - the background refresher on: the same fleet, refreshed by `TokenManager::start_refresher`
//!   before the margin, then the same callers; the callers that still waited for a refresh (the
//!   refresh grants the sandbox counted during the callers' phase) are reported.
//!
//! Calls in flight are bounded at 1,000 in all three (the sandbox and the client share this
//! process's 20,000 file descriptors: one connection each side per call); the peak number of
//! refreshes in flight at the provider is counted by a wrapper around the client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, Grant, InstallationKey,
    Introspect, ManualClock, ProviderId, RefreshToken, Result, Revoke, TokenGrant, TokenInfo,
    TokenKey, TokenProvider, TokenSet, TokenStore,
};
use oauth_manager::{ManagerConfig, RefresherConfig, TokenManager};
use oauth_notion::NotionClient;
use oauth_sandbox::{
    Control, DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, Limits, Sandbox, SandboxHandle,
};
use tokio::sync::Semaphore;

use crate::report::Report;

const IN_FLIGHT: usize = 1_000;
const GRANT: &str = "notion.token.refresh_token";

/// The client, counting the refreshes in flight.
#[derive(Debug)]
struct Counting {
    client: Arc<NotionClient>,
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Counting {
    fn take_peak(&self) -> usize {
        self.peak.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenGrant for Counting {
    async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant> {
        self.client.exchange_code(exchange).await
    }
    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let result = self.client.refresh(refresh_token).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }
    fn refresh_time_bound(&self) -> Option<Duration> {
        self.client.refresh_time_bound()
    }
}

#[async_trait]
impl Introspect for Counting {
    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo> {
        self.client.introspect(token).await
    }
}

#[async_trait]
impl Revoke for Counting {
    async fn revoke(&self, token: &AccessToken) -> Result<()> {
        self.client.revoke(token).await
    }
}

impl TokenProvider for Counting {
    fn provider_id(&self) -> ProviderId {
        self.client.provider_id()
    }
    fn authorization_url(&self, request: &AuthorizationRequest) -> Result<url::Url> {
        self.client.authorization_url(request)
    }
}

async fn install(control: &Control, notion: &NotionClient) -> Option<TokenSet> {
    let url = notion
        .authorization_url(&AuthorizationRequest::new().ok()?)
        .ok()?;
    let code = control
        .authorize(&format!("{}?{}", url.path(), url.query()?))
        .ok()?
        .code?;
    let grant = notion
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .ok()?;
    Some(grant.primary()?.tokens.clone())
}

/// `n` fresh installations, all expiring `expires_in` after `issued`.
async fn fleet(
    sandbox: &SandboxHandle,
    notion: &Arc<NotionClient>,
    n: usize,
    issued: SystemTime,
) -> Option<Vec<TokenSet>> {
    let permits = Arc::new(Semaphore::new(64));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (control, notion, permits) =
                (sandbox.control().clone(), notion.clone(), permits.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire().await.ok()?;
                let mut tokens = install(&control, &notion).await?;
                tokens.issued_at = issued;
                tokens.expires_at = Some(issued + Duration::from_secs(3600));
                Some(tokens)
            })
        })
        .collect();
    let mut tokens = Vec::with_capacity(n);
    for handle in handles {
        tokens.push(handle.await.ok()??);
    }
    Some(tokens)
}

fn key(run: &str, i: usize) -> TokenKey {
    TokenKey::bot(InstallationKey::new(
        ProviderId::from_static("notion"),
        format!("{run}-{i:06}"),
    ))
}

/// Calls `access_token` on every key, at most `IN_FLIGHT` at once: wall time, and how many
/// failed.
async fn callers(manager: &TokenManager, keys: &[TokenKey]) -> (Duration, usize) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let handles: Vec<_> = keys
        .iter()
        .map(|key| {
            let (manager, key, permits) = (manager.clone(), key.clone(), permits.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire().await.ok()?;
                manager.access_token(&key).await.ok()
            })
        })
        .collect();
    let mut failed = 0;
    for handle in handles {
        if !matches!(handle.await, Ok(Some(_))) {
            failed += 1;
        }
    }
    (started.elapsed(), failed)
}

struct Figures {
    plain: Duration,
    storm: Duration,
    storm_peak: usize,
    storm_failed: usize,
    refresher: Duration,
    refresher_peak: usize,
    refresher_refreshed: u64,
    waited: u64,
    callers_after: Duration,
}

async fn one(
    sandbox: &SandboxHandle,
    notion: &Arc<NotionClient>,
    store: &Arc<dyn TokenStore>,
    n: usize,
    run: &str,
) -> Option<Figures> {
    let grants = || sandbox.control().counters().op(GRANT);
    let provider = Arc::new(Counting {
        client: notion.clone(),
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let start = SystemTime::now();

    // The baseline: n plain refresh calls.
    let tokens = fleet(sandbox, notion, n, start).await?;
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let handles: Vec<_> = tokens
        .iter()
        .filter_map(|t| t.refresh_token.clone())
        .map(|refresh| {
            let (notion, permits) = (notion.clone(), permits.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire().await.ok()?;
                notion.refresh(&refresh).await.ok()
            })
        })
        .collect();
    for handle in handles {
        handle.await.ok()??;
    }
    let plain = started.elapsed();

    // The storm: every token expired, one caller each.
    let clock = Arc::new(ManualClock::new(start));
    let config = ManagerConfig::default();
    let manager = TokenManager::builder(provider.clone(), store.clone())
        .clock(clock.clone())
        .config(config.clone())
        .build()
        .ok()?;
    let tokens = fleet(sandbox, notion, n, start).await?;
    let keys: Vec<TokenKey> = (0..n).map(|i| key(&format!("{run}-storm"), i)).collect();
    for (key, tokens) in keys.iter().zip(tokens) {
        manager.save_tokens(key, tokens).await.ok()?;
    }
    clock.advance(Duration::from_secs(3600 + 1));
    provider.take_peak();
    let before = grants();
    let (storm, storm_failed) = callers(&manager, &keys).await;
    manager.flush().await;
    let storm_peak = provider.take_peak();
    if grants() - before != n as u64 {
        eprintln!(
            "refresh storm benchmark: {} grants for {n} installations",
            grants() - before
        );
    }

    // The refresher: the same fleet, refreshed ahead of the margin, then the same callers.
    let clock = Arc::new(ManualClock::new(start));
    let manager = TokenManager::builder(provider.clone(), store.clone())
        .clock(clock.clone())
        .config(config)
        .build()
        .ok()?;
    let tokens = fleet(sandbox, notion, n, start).await?;
    let keys: Vec<TokenKey> = (0..n).map(|i| key(&format!("{run}-ahead"), i)).collect();
    for (key, tokens) in keys.iter().zip(tokens) {
        manager.save_tokens(key, tokens).await.ok()?;
    }
    // Two seconds before the 5-minute margin: the refresher spreads the fleet over those two
    // seconds (a real deployment over its 30-minute lead).
    clock.set(start + Duration::from_secs(3600 - 300 - 2));
    let before = grants();
    let started = Instant::now();
    let refresher = manager
        .start_refresher(
            RefresherConfig::default()
                .lead(Duration::from_secs(3))
                .poll_interval(Duration::from_millis(100)),
        )
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while grants() - before < n as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refresher_time = started.elapsed();
    refresher.shutdown().await;
    let refresher_refreshed = grants() - before;
    let refresher_peak = provider.take_peak();
    // The old tokens have expired: callers get the refreshed ones, or wait for a refresh.
    clock.set(start + Duration::from_secs(3600 + 1));
    let before = grants();
    let (callers_after, _) = callers(&manager, &keys).await;
    manager.flush().await;
    let waited = grants() - before;
    Some(Figures {
        plain,
        storm,
        storm_peak,
        storm_failed,
        refresher: refresher_time,
        refresher_peak,
        refresher_refreshed,
        waited,
        callers_after,
    })
}

async fn sqlite() -> Option<(tempfile::TempDir, Arc<dyn TokenStore>)> {
    let dir = tempfile::tempdir().ok()?;
    let store = oauth_store::SqliteTokenStore::open(dir.path().join("storm.sqlite3"))
        .await
        .ok()?;
    Some((dir, Arc::new(store)))
}

pub(crate) async fn run(report: &mut Report) {
    let sizes: Vec<usize> = std::env::var("OAUTH_BENCH_STORM_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let mut limits = Limits::default();
    limits.max_connections = 4 * IN_FLIGHT;
    limits.request_log_capacity = 0;
    let Ok(sandbox) = Sandbox::builder().limits(limits).start().await else {
        eprintln!("refresh storm benchmark skipped: the sandbox did not start");
        return;
    };
    let Ok(notion) = NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
        .base_url(sandbox.base_url())
        .redirect_uri("http://127.0.0.1/callback/notion")
        .build()
    else {
        return;
    };
    let notion = Arc::new(notion);
    let mut stores: Vec<(&str, Arc<dyn TokenStore>)> = Vec::new();
    let sqlite = sqlite().await;
    if let Some((_, store)) = &sqlite {
        stores.push(("SQLite", store.clone()));
    }
    let postgres = crate::store_scale::postgres("storm").await;
    let pg_note = match &postgres {
        Some((store, _)) => {
            stores.push(("PostgreSQL", store.clone()));
            ""
        }
        None => " PostgreSQL was not measured (`OAUTH_TEST_POSTGRES_URL` unset).",
    };
    let run_id = format!("storm{}", std::process::id());
    let mut rows = Vec::new();
    for (name, store) in &stores {
        for &n in &sizes {
            let Some(f) = one(&sandbox, &notion, store, n, &format!("{run_id}-{n}")).await else {
                eprintln!("refresh storm benchmark: {name} with {n} installations failed");
                continue;
            };
            rows.push(format!(
                "| {name} | {n} | {:.0} ms | {:.0} ms ({:.1}×) | {} | {} | {:.0} ms | {} | {} of {n} | {} | {:.0} ms |",
                f.plain.as_secs_f64() * 1e3,
                f.storm.as_secs_f64() * 1e3,
                f.storm.as_secs_f64() / f.plain.as_secs_f64().max(f64::EPSILON),
                f.storm_peak,
                f.storm_failed,
                f.refresher.as_secs_f64() * 1e3,
                f.refresher_peak,
                f.refresher_refreshed,
                f.waited,
                f.callers_after.as_secs_f64() * 1e3,
            ));
        }
    }
    sandbox.shutdown().await;
    if let Some((store, schema)) = &postgres {
        crate::store_scale::drop_schema(store, schema).await;
    }
    if rows.is_empty() {
        return;
    }
    report.section(format!(
        "## Refresh storm\n\n\
         N Notion installations whose tokens expire at the same instant, oauth-sandbox in process \
         (loopback), one round each. *Plain*: N `NotionClient::refresh` calls. *Storm*: one \
         `access_token` caller per installation after expiry (each waits for its refresh); its \
         peak is the refreshes in flight at the provider at once, counted around the client. \
         *Refresher*: the same fleet with `start_refresher` (8 at once, spread over the 2 s left \
         before the margin; a deployment spreads over its 30-minute lead), then the same callers \
         after the old tokens expired: *waited* is the refresh grants the sandbox counted during \
         that phase, each one a caller that waited for a refresh. Calls in flight are bounded at \
         {IN_FLIGHT} in every phase (the sandbox and the client share this process's file \
         descriptors).{pg_note} Sizes: `OAUTH_BENCH_STORM_SIZES`.\n\n\
         | store | N | plain | storm (vs plain) | storm peak in flight | storm callers failed | refresher, all refreshed | refresher peak in flight | refreshed by it | callers that waited | callers afterwards |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    ));
}
