//! The token manager's hot path against the floor (a bare `ArcSwap` load) and the obvious
//! alternative (a `tokio::sync::RwLock` read), each cloning the access token as the manager does.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use oauth_core::mock::MockTokenProvider;
use oauth_core::{
    AccessToken, InstallationKey, MemoryTokenStore, ProviderId, RefreshToken, TokenKey,
    TokenProvider, TokenSet, TokenType,
};
use oauth_manager::TokenManager;

use crate::report::{Report, median, ops};

const ROUNDS: usize = 7;
const OPS_PER_TASK: u64 = 2_000_000;

fn tokens() -> TokenSet {
    let mut t = TokenSet::builder(
        ProviderId::from_static("slack"),
        AccessToken::new("xoxe.xoxb-1-MS0yLTIyMTY0Njc0NTk0NC0zNjU5NjIxNzE5MzYzLTM3MTQ5NjY0NTY5OTQ"),
    )
    .token_type(TokenType::Bot)
    .issued_at(SystemTime::now())
    .build();
    t.refresh_token = Some(RefreshToken::new("xoxe-1-refresh"));
    t.set_expires_in(43_200);
    t
}

/// Runs `op` `OPS_PER_TASK` times in each of `tasks` tasks; operations per second.
async fn measure<F, Fut>(tasks: usize, op: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..OPS_PER_TASK {
                op().await;
            }
        }));
    }
    for handle in handles {
        let _ = handle.await;
    }
    (OPS_PER_TASK * tasks as u64) as f64 / started.elapsed().as_secs_f64()
}

pub(crate) async fn run(report: &mut Report) {
    let key = TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"));
    let mut mock = MockTokenProvider::new();
    mock.expect_provider_id()
        .return_const(ProviderId::from_static("slack"));
    let provider: Arc<dyn TokenProvider> = Arc::new(mock);
    let store = Arc::new(MemoryTokenStore::new());
    let manager = match TokenManager::builder(provider, store).build() {
        Ok(manager) => manager,
        Err(e) => {
            eprintln!("hot path benchmark skipped: {e}");
            return;
        }
    };
    if let Err(e) = manager.save_tokens(&key, tokens()).await {
        eprintln!("hot path benchmark skipped: {e}");
        return;
    }
    let swap = Arc::new(ArcSwap::from_pointee(tokens()));
    let lock = Arc::new(tokio::sync::RwLock::new(tokens()));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut rows = String::new();
    for tasks in [1, cores] {
        let (mut ours, mut floor, mut rwlock) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (m, k) = (Arc::new(manager.clone()), Arc::new(key.clone()));
            ours.push(
                measure(tasks, move || {
                    let (m, k) = (m.clone(), k.clone());
                    async move {
                        black_box(m.access_token(&k).await.ok());
                    }
                })
                .await,
            );
            let s = swap.clone();
            floor.push(
                measure(tasks, move || {
                    let s = s.clone();
                    async move {
                        let guard = s.load();
                        if !guard.expires_within(Duration::from_secs(300), SystemTime::now()) {
                            black_box(guard.access_token.clone());
                        }
                    }
                })
                .await,
            );
            let l = lock.clone();
            rwlock.push(
                measure(tasks, move || {
                    let l = l.clone();
                    async move {
                        let guard = l.read().await;
                        if !guard.expires_within(Duration::from_secs(300), SystemTime::now()) {
                            black_box(guard.access_token.clone());
                        }
                    }
                })
                .await,
            );
        }
        let (ours, floor, rwlock) = (median(&mut ours), median(&mut floor), median(&mut rwlock));
        rows.push_str(&format!(
            "| {tasks} | {} | {} ({:.2}×) | {} ({:.2}×) |\n",
            ops(floor),
            ops(ours),
            ours / floor,
            ops(rwlock),
            rwlock / floor,
        ));
    }
    report.section(format!(
        "## Token manager hot path\n\n`TokenManager::access_token` on a valid cached token, against a bare \
         `ArcSwap` load of the token set (the floor) and a `tokio::sync::RwLock` read, each checking expiry \
         and cloning the access token; {OPS_PER_TASK} calls per task, {ROUNDS} rounds, medians. Ratios are \
         to the floor (1.00× = as fast as a bare atomic load).\n\n\
         | tasks | bare `ArcSwap` load | `TokenManager::access_token` | `tokio::sync::RwLock` read |\n\
         | --- | --- | --- | --- |\n{rows}"
    ));
}
