//! Eviction keeps the lifecycle's invariants (docs/ARCHITECTURE.md): a slot is never evicted
//! while a refresh is in flight, while rotated tokens wait for their write (served from memory),
//! or while a backoff holds; and an evicted token set is read again from the store with its
//! latest rotation, so no refresh token is spent twice. Faults are injected with `FaultyStore`;
//! the manual clock makes every slot idle at will.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use oauth_core::store::faults::{FaultAction, FaultyStore, Gate, StoreFault, StoreOp};
use oauth_core::{ErrorKind, MemoryTokenStore};
use support::{Mode, Setup, config, setup_with};

const IDLE: Duration = Duration::from_secs(60);

async fn setup(delay: Duration) -> (Setup, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryTokenStore::new())));
    let config = config().idle_timeout(IDLE);
    (setup_with(delay, store.clone(), config).await, store)
}

async fn stored_access(s: &Setup) -> String {
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert!(stored.needs_reauthorization.is_none(), "locked out");
    stored.tokens.access_token.expose_secret().to_owned()
}

#[tokio::test]
async fn a_rotated_token_waiting_for_its_write_is_never_evicted() {
    let (s, store) = setup(Duration::ZERO).await;
    s.expire();
    store.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).always());
    let token = s.manager.access_token(&s.key).await.unwrap();
    assert_eq!(token.expose_secret(), "at-1", "served from memory");
    for _ in 0..5 {
        s.clock.advance(IDLE * 2);
        assert_eq!(
            s.manager.evict_idle(),
            0,
            "its write is still being retried"
        );
        assert_eq!(s.manager.cached_len(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.clear();
    s.manager.flush().await;
    assert_eq!(
        stored_access(&s).await,
        "at-1",
        "written once the store recovers"
    );
    s.clock.advance(IDLE * 2);
    assert_eq!(s.manager.evict_idle(), 1, "idle once written");
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1",
        "read again from the store"
    );
    assert_eq!(s.fake.refreshes(), 1);
    assert_eq!(s.fake.refusals(), 0);
}

#[tokio::test]
async fn a_refresh_in_flight_and_its_waiting_callers_keep_their_slot() {
    let (s, store) = setup(Duration::ZERO).await;
    s.expire();
    // The write of the rotation blocks: the refresh holds its lease and callers wait.
    let gate = Gate::new();
    store.inject(StoreFault::new(
        StoreOp::CompareAndSwap,
        FaultAction::Block(gate.clone()),
    ));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (manager, key) = (s.manager.clone(), s.key.clone());
            tokio::spawn(async move { manager.access_token(&key).await })
        })
        .collect();
    for _ in 0..200 {
        if store.calls(StoreOp::CompareAndSwap) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        store.calls(StoreOp::CompareAndSwap),
        1,
        "the write is blocked"
    );
    s.clock.advance(IDLE * 2);
    assert_eq!(s.manager.evict_idle(), 0, "a refresh is in flight");
    gate.open();
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap().expose_secret(), "at-1");
    }
    s.manager.flush().await;
    assert_eq!(stored_access(&s).await, "at-1");
    assert_eq!(s.fake.refreshes(), 1, "one refresh for every caller");
}

#[tokio::test]
async fn a_backoff_is_not_forgotten_by_eviction() {
    let (s, _) = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::RateLimited(Duration::from_secs(600)));
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    s.clock.advance(IDLE * 2);
    assert_eq!(
        s.manager.evict_idle(),
        0,
        "the provider asked to wait 600 s"
    );
    assert!(s.manager.access_token(&s.key).await.is_err());
    assert_eq!(s.fake.refreshes(), 1, "no refresh during the Retry-After");
}

/// Callers of an expiring token set, a sweeper evicting all the time, and a store that fails
/// some writes: every rotation lands, and no refresh token is presented twice (the fake
/// provider refuses a spent one, which would mark the installation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_under_load_never_spends_a_refresh_token_twice_nor_loses_a_rotation() {
    let (s, store) = setup(Duration::from_millis(1)).await;
    let sweeper = {
        let manager = s.manager.clone();
        let clock = s.clock.clone();
        tokio::spawn(async move {
            let mut evicted = 0;
            for _ in 0..2_000 {
                clock.advance(Duration::from_secs(1));
                evicted += manager.evict_idle();
                tokio::task::yield_now().await;
            }
            evicted
        })
    };
    for round in 0..20u32 {
        if round % 3 == 0 {
            store.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).times(2));
        }
        s.expire();
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (manager, key) = (s.manager.clone(), s.key.clone());
                tokio::spawn(async move { manager.access_token(&key).await })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        s.manager.flush().await;
    }
    let evicted = sweeper.await.unwrap();
    assert!(evicted > 0, "the sweeper evicted between the rounds");
    assert_eq!(s.fake.refusals(), 0, "no refresh token was presented twice");
    assert_eq!(s.fake.refreshes(), 20, "one refresh per expiry");
    assert_eq!(stored_access(&s).await, "at-20", "the last rotation landed");
}
