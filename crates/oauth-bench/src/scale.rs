//! The token manager at scale (`OAUTH_BENCH_ONLY=scale`): the first `access_token` of every key
//! at N installations (memory store, SQLite, PostgreSQL where `OAUTH_TEST_POSTGRES_URL` is set)
//! against a plain `HashMap` insert plus `store.get` of the same keys; the hot path on uniformly
//! random warmed keys against a bare map lookup plus token clone; and the heap per cached
//! installation, after evicting and after deleting everything, against the store's own rows.
//!
//! Sizes: memory 1,000 to 1,000,000; SQLite 1,000 to 100,000 (1,000,000 with
//! `OAUTH_BENCH_SCALE_FULL=1`); PostgreSQL 10,000 (100,000 with `OAUTH_BENCH_SCALE_FULL=1`).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use oauth_core::mock::MockTokenProvider;
use oauth_core::{
    AccessToken, Clock, Grant, Installation, InstallationKey, ManualClock, MemoryTokenStore,
    Principal, ProviderId, RefreshToken, TokenKey, TokenProvider, TokenSet, TokenStore, TokenType,
};
use oauth_manager::{ManagerConfig, TokenManager};

use crate::report::{Report, median, ops};

const PROVIDER: ProviderId = ProviderId::from_static("slack");
/// Token sets per installation (one grant, one store transaction, when the rows are made; a
/// grant is built in time quadratic in its token sets, so not many).
const USERS: usize = 50;
const HOT_OPS: u64 = 1_000_000;
const HOT_ROUNDS: usize = 3;

fn full() -> bool {
    std::env::var_os("OAUTH_BENCH_SCALE_FULL").is_some()
}

fn tokens(i: usize, now: SystemTime) -> TokenSet {
    let mut t = TokenSet::builder(
        PROVIDER,
        AccessToken::new(format!("xoxe.xoxp-1-MS0yLTIyMTY0Njc0NTk0NC0{i:010}")),
    )
    .token_type(TokenType::User)
    .issued_at(now)
    .build();
    t.refresh_token = Some(RefreshToken::new(format!("xoxe-1-refresh-{i:010}")));
    t.set_expires_in(43_200);
    t
}

/// `n` token sets, `USERS` per installation; `run` keeps runs on a shared database apart.
fn keys(n: usize, run: u64) -> Vec<TokenKey> {
    (0..n)
        .map(|i| {
            let installation =
                InstallationKey::workspace(PROVIDER, None, &format!("T{run:08x}{:05}", i / USERS));
            TokenKey::user(installation, format!("U{i:07}"))
        })
        .collect()
}

/// Saves `keys`' token sets, one grant per installation.
async fn fill(store: &dyn TokenStore, keys: &[TokenKey], now: SystemTime) -> Result<(), String> {
    for (group, chunk) in keys.chunks(USERS).enumerate() {
        let Some(first) = chunk.first() else { continue };
        let mut grant = Grant::new(Installation::new(first.installation().clone(), now));
        for (i, key) in chunk.iter().enumerate() {
            let principal = Principal::User(key.principal().user_id().unwrap_or("U").to_owned());
            grant = grant.with_tokens(principal, tokens(group * USERS + i, now));
        }
        store.save_grant(&grant).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn empty(store: &dyn TokenStore, keys: &[TokenKey]) {
    for chunk in keys.chunks(USERS) {
        if let Some(first) = chunk.first() {
            let _ = store.delete_installation(first.installation()).await;
        }
    }
}

fn manager(store: Arc<dyn TokenStore>, clock: &Arc<ManualClock>) -> Result<TokenManager, String> {
    let mut mock = MockTokenProvider::new();
    mock.expect_provider_id().return_const(PROVIDER);
    let provider: Arc<dyn TokenProvider> = Arc::new(mock);
    TokenManager::builder(provider, store)
        .clock(clock.clone())
        .config(ManagerConfig::default())
        .build()
        .map_err(|e| e.to_string())
}

/// Nanoseconds per key of the first `access_token` of each of `keys` on a fresh manager.
async fn first_access(manager: &TokenManager, keys: &[TokenKey]) -> f64 {
    let started = Instant::now();
    for key in keys {
        black_box(manager.access_token(key).await.ok());
    }
    started.elapsed().as_nanos() as f64 / keys.len().max(1) as f64
}

/// Nanoseconds per key of a plain `HashMap` insert plus `store.get` of each of `keys`.
async fn baseline(store: &dyn TokenStore, keys: &[TokenKey]) -> f64 {
    let started = Instant::now();
    let mut map = HashMap::new();
    for key in keys {
        if let Ok(Some(stored)) = store.get(key).await {
            map.insert(key.clone(), stored.tokens);
        }
    }
    black_box(&map);
    started.elapsed().as_nanos() as f64 / keys.len().max(1) as f64
}

struct Store {
    name: &'static str,
    store: Arc<dyn TokenStore>,
    sizes: Vec<usize>,
    _dir: Option<tempfile::TempDir>,
}

async fn stores() -> Vec<Store> {
    let mut stores = vec![Store {
        name: "memory",
        store: Arc::new(MemoryTokenStore::new()),
        sizes: vec![1_000, 10_000, 100_000, 1_000_000],
        _dir: None,
    }];
    if let Ok(dir) = tempfile::tempdir()
        && let Ok(store) =
            oauth_store::SqliteTokenStore::open(dir.path().join("scale.sqlite3")).await
    {
        let mut sizes = vec![1_000, 10_000, 100_000];
        if full() {
            sizes.push(1_000_000);
        }
        stores.push(Store {
            name: "SQLite",
            store: Arc::new(store),
            sizes,
            _dir: Some(dir),
        });
    }
    match std::env::var("OAUTH_TEST_POSTGRES_URL") {
        Ok(url) => match oauth_store::PostgresTokenStore::connect(&url).await {
            Ok(store) => stores.push(Store {
                name: "PostgreSQL",
                store: Arc::new(store),
                sizes: vec![1_000, if full() { 100_000 } else { 10_000 }],
                _dir: None,
            }),
            Err(e) => {
                eprintln!("scale benchmark: PostgreSQL unreachable ({e}): its rows are skipped")
            }
        },
        Err(_) => eprintln!(
            "scale benchmark: no PostgreSQL (OAUTH_TEST_POSTGRES_URL unset): its rows are skipped"
        ),
    }
    stores
}

/// Operations per second of `op(i)` for `HOT_OPS` uniformly random `i < n` in each of `tasks`
/// tasks (the same xorshift sequence for every variant).
async fn hot<F>(tasks: usize, n: usize, op: F) -> f64
where
    F: Fn(usize) -> bool + Clone + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1);
                for _ in 0..HOT_OPS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    black_box(op((x % n as u64) as usize));
                }
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.await;
    }
    (HOT_OPS * tasks as u64) as f64 / started.elapsed().as_secs_f64()
}

/// The hot path on a warmed manager of `keys`, against a `HashMap` of the same token sets.
async fn hot_rows(manager: &TokenManager, keys: &Arc<Vec<TokenKey>>, now: SystemTime) -> String {
    let map: Arc<HashMap<TokenKey, TokenSet>> = Arc::new(
        keys.iter()
            .enumerate()
            .map(|(i, key)| (key.clone(), tokens(i, now)))
            .collect(),
    );
    let n = keys.len();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut rows = String::new();
    for tasks in [1, cores.max(2)] {
        let (mut ours, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..HOT_ROUNDS {
            let (m, k) = (manager.clone(), keys.clone());
            ours.push(
                hot(tasks, n, move |i| {
                    // A cached token is served in the first poll (the hot path never awaits).
                    ready(m.access_token(&k[i])).is_some_and(|result| result.is_ok())
                })
                .await,
            );
            let (map, k) = (map.clone(), keys.clone());
            bare.push(
                hot(tasks, n, move |i| {
                    map.get(&k[i])
                        .map(|t| black_box(t.access_token.clone()))
                        .is_some()
                })
                .await,
            );
        }
        let (ours, bare) = (median(&mut ours), median(&mut bare));
        rows.push_str(&format!(
            "| {n} | {tasks} | {} | {} ({:.2}×) |\n",
            ops(bare),
            ops(ours),
            ours / bare
        ));
    }
    rows
}

/// Polls `future` once: its output if it is ready at once (a cached token is).
fn ready<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

fn heap() -> usize {
    crate::ALLOCATOR.allocated()
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

pub(crate) async fn run(report: &mut Report) {
    let started = Instant::now();
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let mut first_rows = String::new();
    let mut summary = String::new();
    let mut hot_table = String::new();
    let mut heap_text = String::new();
    for mut store in stores().await {
        let mut at_1000 = None;
        for n in store.sizes.clone() {
            if store.name == "memory" {
                // A fresh one for each size (its heap is measured at the largest).
                store.store = Arc::new(MemoryTokenStore::new());
            }
            let keys = Arc::new(keys(n, run_id));
            if let Err(e) = fill(store.store.as_ref(), &keys, clock.now()).await {
                eprintln!("scale benchmark: {} at {n} skipped: {e}", store.name);
                continue;
            }
            // Rounds are cheap in memory and cost minutes in a database at 1,000,000.
            let rounds = match (store.name, n >= 100_000) {
                ("memory", false) => 5,
                ("memory", true) | (_, false) => 3,
                (_, true) => 1,
            };
            let (mut ours, mut base) = (Vec::new(), Vec::new());
            let mut warmed = None;
            for _ in 0..rounds {
                let Ok(m) = manager(store.store.clone(), &clock) else {
                    continue;
                };
                ours.push(first_access(&m, &keys).await);
                base.push(baseline(store.store.as_ref(), &keys).await);
                warmed = Some(m);
            }
            let (ours, base) = (median(&mut ours), median(&mut base));
            eprintln!(
                "scale: {} N = {n}: first access {:.2} µs, baseline {:.2} µs ({:.0} s so far)",
                store.name,
                ours / 1e3,
                base / 1e3,
                started.elapsed().as_secs_f64()
            );
            let per_1000 = *at_1000.get_or_insert(ours);
            first_rows.push_str(&format!(
                "| {} | {n} | {:.2} µs | {:.2} µs ({:.2}×) | {:.2}× |\n",
                store.name,
                base / 1e3,
                ours / 1e3,
                ours / base,
                ours / per_1000
            ));
            if n == *store.sizes.last().unwrap_or(&0) {
                summary.push_str(&format!(
                    "- {}: per-key cost at {n} is {:.2}× that at 1,000 (target ≤ 1.5×); {:.2}× a plain `HashMap` insert plus `store.get` (target ≤ 3× for the memory store).\n",
                    store.name,
                    ours / per_1000,
                    ours / base
                ));
            }
            if store.name == "memory"
                && (n == 100_000 || n == 1_000_000)
                && let Some(m) = &warmed
            {
                hot_table.push_str(&hot_rows(m, &keys, clock.now()).await);
            }
            drop(warmed);
            if store.name == "memory" {
                if n == *store.sizes.last().unwrap_or(&0) {
                    heap_text = heap_rows(&keys, &clock).await;
                }
            } else {
                empty(store.store.as_ref(), &keys).await;
            }
        }
    }
    // N = 1, for the hot path.
    let one_store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let one = Arc::new(keys(1, run_id));
    if fill(one_store.as_ref(), &one, clock.now()).await.is_ok()
        && let Ok(m) = manager(one_store, &clock)
    {
        first_access(&m, &one).await;
        hot_table = hot_rows(&m, &one, clock.now()).await + &hot_table;
    }
    let maps = tokio::task::spawn_blocking(crate::scale_maps::run)
        .await
        .unwrap_or_default();
    report.section(format!(
        "## Token manager at scale\n\n\
         `OAUTH_BENCH_ONLY=scale`; measured in {:.0} s. Sizes: memory store to 1,000,000, SQLite to \
         100,000 and PostgreSQL 10,000 (with `OAUTH_BENCH_SCALE_FULL=1`: SQLite 1,000,000, \
         PostgreSQL 100,000). Rows are made 50 token sets per installation, one grant each \
         (not timed).\n\n\
         ### First access per key\n\n\
         The first `access_token` of every key on a fresh manager (one task; memory store 5 \
         rounds below 100,000 keys and 3 from there, databases 3 and 1, medians), against a plain `HashMap` insert plus `store.get` \
         of the same keys on the same store. The last column is the per-key cost against the \
         same store's at 1,000.\n\n\
         | store | N | `HashMap` insert + `store.get` | `access_token`, first call | vs N = 1,000 |\n\
         | --- | --- | --- | --- | --- |\n{first_rows}\n{summary}\n\
         ### Hot path on warmed keys\n\n\
         `access_token` on uniformly random keys among N warmed ones (memory store; {HOT_OPS} \
         calls per task, {HOT_ROUNDS} rounds, medians), against a bare `HashMap<TokenKey, \
         TokenSet>` lookup plus access-token clone of the same keys in the same order (target: \
         at least 0.5×).\n\n\
         | N | tasks | bare map lookup + clone | `access_token` |\n| --- | --- | --- | --- |\n\
         {hot_table}\n{heap_text}\n{maps}",
        started.elapsed().as_secs_f64()
    ));
}

/// Heap of the memory store's rows and of the manager's cache of them, then after evicting
/// every cached token set, and after deleting every installation through the manager.
async fn heap_rows(keys: &[TokenKey], clock: &Arc<ManualClock>) -> String {
    let n = keys.len();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let Ok(m) = manager(store.clone(), clock) else {
        return String::new();
    };
    let before = heap();
    if fill(store.as_ref(), keys, clock.now()).await.is_err() {
        return String::new();
    }
    let with_rows = heap();
    first_access(&m, keys).await;
    let warmed = heap();
    clock.advance(Duration::from_secs(7_200));
    let evicted_count = m.evict_idle();
    let evicted = heap();
    first_access(&m, keys).await;
    let rewarmed = heap();
    for key in keys {
        let _ = m.forget(key, "bench").await;
    }
    let deleted = heap();
    let cached = m.cached_len();
    let row = (with_rows.saturating_sub(before)) as f64 / n as f64;
    let per = (warmed.saturating_sub(with_rows)) as f64 / n as f64;
    format!(
        "### Heap\n\n\
         Counted by a counting global allocator in the bench binary, memory store, N = {n}.\n\n\
         | what | heap |\n| --- | --- |\n\
         | the store's rows | {} ({row:.0} B a row) |\n\
         | the manager's cache, all {n} warmed | {} ({per:.0} B per cached installation, {:.2}× a store row) |\n\
         | the cache after `evict_idle` ({evicted_count} evicted, {} left) | {} |\n\
         | warmed again, then every token set deleted through the manager (`forget`): cache and store | {} above the start ({} cached) |\n",
        mib(with_rows.saturating_sub(before)),
        mib(warmed.saturating_sub(with_rows)),
        per / row,
        m.cached_len(),
        mib(evicted.saturating_sub(with_rows)),
        mib(deleted.saturating_sub(before)),
        cached,
    ) + &format!(
        "\n(Re-warmed cache: {}.)\n",
        mib(rewarmed.saturating_sub(with_rows))
    )
}
