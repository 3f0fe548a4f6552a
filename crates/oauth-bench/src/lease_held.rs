//! 10,000 callers whose cached token is due for refresh while another replica holds the refresh
//! lease, on SQLite and PostgreSQL: the latency of each call (p50, p99), against the same 10,000
//! callers on a token that is not due (the cached hot path), measured in the same run. Before the
//! manager served due-but-valid tokens from its cache, each of these callers queued for a store
//! read and a lease attempt.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use oauth_core::mock::MockTokenProvider;
use oauth_core::{
    AccessToken, InstallationKey, ProviderId, RefreshToken, TokenKey, TokenProvider, TokenSet,
    TokenStore, TokenType,
};
use oauth_manager::TokenManager;

use crate::report::{Report, median};

const CALLERS: usize = 10_000;
const ROUNDS: usize = 5;

fn tokens(expires_in: i64) -> TokenSet {
    let mut t = TokenSet::builder(
        ProviderId::from_static("slack"),
        AccessToken::new("xoxe.xoxb-1-MS0yLTIyMTY0Njc0NTk0NC0zNjU5NjIxNzE5MzYzLTM3MTQ5NjY0NTY5OTQ"),
    )
    .token_type(TokenType::Bot)
    .issued_at(SystemTime::now())
    .build();
    t.refresh_token = Some(RefreshToken::new("xoxe-1-refresh"));
    t.set_expires_in(expires_in);
    t
}

/// A provider that must not be asked to refresh: another replica holds the lease.
fn provider() -> Arc<dyn TokenProvider> {
    let mut mock = MockTokenProvider::new();
    mock.expect_provider_id()
        .return_const(ProviderId::from_static("slack"));
    mock.expect_refresh().never();
    Arc::new(mock)
}

/// One round: `CALLERS` concurrent first calls after one warm-up call; each call's latency, in
/// microseconds, sorted. `due`: the token is inside the refresh margin and another holder has the
/// lease; else the token is fresh.
async fn round(store: &Arc<dyn TokenStore>, n: usize, due: bool) -> Option<Vec<f64>> {
    let key = TokenKey::bot(InstallationKey::new(
        ProviderId::from_static("slack"),
        format!("bench-{}-{n}", if due { "due" } else { "fresh" }),
    ));
    // 200 s left with the default 300 s margin: due, and valid.
    store
        .save(&key, &tokens(if due { 200 } else { 43_200 }))
        .await
        .ok()?;
    if due {
        store
            .try_acquire_lease(&key, "other-replica", Duration::from_secs(60))
            .await
            .ok()??;
    }
    let manager = TokenManager::builder(provider(), store.clone())
        .build()
        .ok()?;
    manager.access_token(&key).await.ok()?;
    let handles: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (manager, key) = (manager.clone(), key.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let ok = manager.access_token(&key).await.is_ok();
                (ok, started.elapsed().as_secs_f64() * 1e6)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(CALLERS);
    for handle in handles {
        let (ok, micros) = handle.await.ok()?;
        if !ok {
            return None;
        }
        latencies.push(micros);
    }
    manager.flush().await;
    latencies.sort_by(f64::total_cmp);
    Some(latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// Medians over the rounds of (p50, p99) for `due` on `store`.
async fn measure(store: &Arc<dyn TokenStore>, due: bool) -> Option<(f64, f64)> {
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for n in 0..ROUNDS {
        let latencies = round(store, n, due).await?;
        p50.push(percentile(&latencies, 0.50));
        p99.push(percentile(&latencies, 0.99));
    }
    Some((median(&mut p50), median(&mut p99)))
}

async fn sqlite() -> Option<(tempfile::TempDir, Arc<dyn TokenStore>)> {
    let dir = tempfile::tempdir().ok()?;
    let store = oauth_store::SqliteTokenStore::open(dir.path().join("bench.sqlite3"))
        .await
        .ok()?;
    Some((dir, Arc::new(store)))
}

async fn postgres() -> Option<Arc<dyn TokenStore>> {
    let url = std::env::var("OAUTH_TEST_POSTGRES_URL").ok()?;
    let store = oauth_store::PostgresTokenStore::connect(&url).await.ok()?;
    Some(Arc::new(store))
}

pub(crate) async fn run(report: &mut Report) {
    let Some((_dir, sqlite)) = sqlite().await else {
        eprintln!("lease-held benchmark skipped: no SQLite store");
        return;
    };
    let mut stores = vec![("SQLite", sqlite)];
    match postgres().await {
        Some(postgres) => stores.push(("PostgreSQL", postgres)),
        None => eprintln!(
            "lease-held benchmark: no PostgreSQL (OAUTH_TEST_POSTGRES_URL unset): its row is skipped"
        ),
    }
    let mut rows = String::new();
    for (name, store) in &stores {
        let (Some((hot50, hot99)), Some((due50, due99))) =
            (measure(store, false).await, measure(store, true).await)
        else {
            eprintln!("lease-held benchmark invalid on {name}: a call failed");
            return;
        };
        rows.push_str(&format!(
            "| {name} | {hot50:.1} µs | {hot99:.1} µs | {due50:.1} µs | {due99:.1} µs | {:.2}× | {:.2}× |\n",
            due50 / hot50,
            due99 / hot99
        ));
    }
    report.section(format!(
        "## Callers while another replica holds the refresh lease\n\n\
         {CALLERS} concurrent `TokenManager::access_token` calls (one task each) on one installation \
         whose cached token is inside the refresh margin (200 s left, 300 s margin) while another \
         holder has the refresh lease, against the same {CALLERS} calls on a token that is not due \
         (the cached hot path), each right after one warm-up call; latency of each call from its \
         task's start, p50 and p99, medians of {ROUNDS} rounds. The provider is a mock that fails \
         the run if it is asked to refresh.\n\n\
         | store | hot path p50 | hot path p99 | lease held elsewhere p50 | p99 | ratio p50 | ratio p99 |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n{rows}"
    ));
}
