//! One replica for the kill tests (`tests/kills.rs`): a TokenManager over a shared PostgreSQL or
//! SQLite store and a Slack client on the sandbox, with `TASKS` tasks asking for random
//! installations' tokens until the process is killed. The test's sandbox app mints short-lived
//! tokens, so refreshes are constant.
//!
//! It reports what each refresh is doing on stdout, one line per step, so that the test knows
//! where a SIGKILL landed: `lease KEY` (the refresh lease is held: the provider call may be in
//! flight), `answered KEY` (the provider answered; the write is about to start — the store delays
//! it by `CAS_DELAY_MS` to widen that window), `written KEY`, `released KEY`; and what callers and
//! events report: `error KEY KIND`, `event …`.
//!
//! Arguments: `STORE SANDBOX_BASE CLIENT_ID CLIENT_SECRET KEYS TASKS LEASE_MS CAS_DELAY_MS`, where
//! STORE is `sqlite:PATH` or `postgres:URL#SCHEMA` and KEYS is comma-separated.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::store::faults::{FaultAction, FaultyStore, StoreFault, StoreOp};
use oauth_core::{
    CasOutcome, DueToken, Grant, Installation, InstallationKey, Lease, Page, ProviderId, Result,
    StoredTokenSet, TokenKey, TokenSet, TokenStore,
};
use oauth_manager::{EventHook, ManagerConfig, TokenEvent, TokenManager};

/// Prints one line and flushes it at once: the process may be killed right after.
fn say(out: &Mutex<std::io::Stdout>, line: &str) {
    let mut out = out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reports the lease and the write of each refresh.
#[derive(Debug)]
struct Reporting {
    inner: Arc<dyn TokenStore>,
    out: Arc<Mutex<std::io::Stdout>>,
}

#[async_trait]
impl TokenStore for Reporting {
    async fn get(&self, key: &TokenKey) -> Result<Option<StoredTokenSet>> {
        self.inner.get(key).await
    }
    async fn save(&self, key: &TokenKey, tokens: &TokenSet) -> Result<u64> {
        self.inner.save(key, tokens).await
    }
    async fn save_grant(&self, grant: &Grant) -> Result<Vec<(TokenKey, u64)>> {
        self.inner.save_grant(grant).await
    }
    async fn compare_and_swap(
        &self,
        key: &TokenKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        say(&self.out, &format!("answered {}", key.installation().key()));
        self.inner
            .compare_and_swap(key, expected_version, tokens)
            .await
    }
    async fn mark_needs_reauthorization(
        &self,
        key: &TokenKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        self.inner
            .mark_needs_reauthorization(key, expected_version, reason)
            .await
    }
    async fn delete(&self, key: &TokenKey) -> Result<bool> {
        self.inner.delete(key).await
    }
    async fn list_page(
        &self,
        provider: Option<&ProviderId>,
        after: Option<&TokenKey>,
        limit: usize,
    ) -> Result<Page> {
        self.inner.list_page(provider, after, limit).await
    }
    async fn due_for_refresh(
        &self,
        before: SystemTime,
        after: Option<&DueToken>,
        limit: usize,
    ) -> Result<Vec<DueToken>> {
        self.inner.due_for_refresh(before, after, limit).await
    }
    async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>> {
        self.inner.installation(key).await
    }
    async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>> {
        self.inner.token_keys(installation).await
    }
    async fn delete_installation(&self, installation: &InstallationKey) -> Result<bool> {
        self.inner.delete_installation(installation).await
    }
    async fn enterprise_installations(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        self.inner
            .enterprise_installations(provider, enterprise_id)
            .await
    }
    async fn delete_enterprise(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        self.inner.delete_enterprise(provider, enterprise_id).await
    }
    async fn try_acquire_lease(
        &self,
        key: &TokenKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let lease = self.inner.try_acquire_lease(key, holder, ttl).await?;
        if lease.is_some() {
            say(&self.out, &format!("lease {}", key.installation().key()));
        }
        Ok(lease)
    }
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        self.inner.renew_lease(lease, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.inner.release_lease(lease).await?;
        say(
            &self.out,
            &format!("released {}", lease.key.installation().key()),
        );
        Ok(())
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("kill-worker: {message}");
    ExitCode::FAILURE
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        store,
        base,
        client_id,
        secret,
        keys,
        tasks,
        lease,
        cas_delay,
    ] = args.as_slice()
    else {
        return fail(
            "usage: kill-worker STORE SANDBOX_BASE CLIENT_ID CLIENT_SECRET KEYS TASKS LEASE_MS CAS_DELAY_MS",
        );
    };
    let (Ok(tasks), Ok(lease), Ok(cas_delay)) = (
        tasks.parse::<usize>(),
        lease.parse::<u64>(),
        cas_delay.parse::<u64>(),
    ) else {
        return fail("bad numbers");
    };
    let store = match oauth_itest::open_store(store).await {
        Ok(store) => store,
        Err(e) => return fail(e),
    };
    // The write of rotated tokens waits a little: the window a kill must be able to hit.
    let delayed = FaultyStore::new(store);
    delayed.inject(
        StoreFault::new(
            StoreOp::CompareAndSwap,
            FaultAction::Delay(Duration::from_millis(cas_delay)),
        )
        .always(),
    );
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let store = Arc::new(Reporting {
        inner: Arc::new(delayed),
        out: out.clone(),
    });
    let slack = match oauth_itest::fast_slack_client(base, client_id, secret) {
        Ok(slack) => slack,
        Err(e) => return fail(e),
    };
    let written = out.clone();
    let manager = TokenManager::builder(slack, store)
        .config(
            ManagerConfig::default()
                .lease_ttl(Duration::from_millis(lease))
                .recheck_interval(Duration::from_millis(50))
                .poll_interval(Duration::from_millis(10))
                .max_wait(Duration::from_secs(5)),
        )
        .on_event(EventHook::new(move |event| match event {
            TokenEvent::Refreshed { key, .. } => {
                say(&written, &format!("written {}", key.installation().key()))
            }
            TokenEvent::PickedUp { .. } => {}
            other => say(&written, &format!("event {other:?}")),
        }))
        .build();
    let manager = match manager {
        Ok(manager) => manager,
        Err(e) => return fail(e),
    };
    let keys: Vec<TokenKey> = keys
        .split(',')
        .map(|k| TokenKey::bot(InstallationKey::new(oauth_itest::SLACK, k)))
        .collect();
    say(&out, "ready");
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (manager, keys, out) = (manager.clone(), keys.clone(), out.clone());
        handles.push(tokio::spawn(async move {
            let mut next = task;
            loop {
                next = next.wrapping_mul(31).wrapping_add(7);
                let key = &keys[next % keys.len()];
                // Errors (a lockout, a timeout while a dead replica's lease lapses) are the
                // test's to judge from the store and the sandbox; they are reported, and the
                // task keeps asking.
                if let Err(error) = manager.access_token(key).await {
                    say(
                        &out,
                        &format!("error {} {:?}", key.installation().key(), error.kind()),
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for handle in handles {
        let _ = handle.await;
    }
    ExitCode::SUCCESS
}
