//! The token manager's invariants (docs/ARCHITECTURE.md, "The lifecycle's invariants"), each with
//! the fault that used to break it, over the single-use fake provider (a refresh token is spent
//! when a refresh starts and refused if presented again) and a fault-injecting store. The same
//! scenarios against oauth-sandbox, over real HTTP and real databases, are in oauth-itest's
//! `lifecycle.rs`; across processes with SIGKILL, in its `kills.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use oauth_core::store::faults::{FaultAction, FaultyStore, Gate, StoreFault, StoreOp};
use oauth_core::{
    AccessToken, Clock, ErrorKind, MemoryTokenStore, RefreshToken, TokenSet, TokenType,
};
use oauth_manager::{MAX_BACKOFF, ManagerConfig, TokenEvent};
use support::{Mode, PROVIDER, Setup, config, manager_with, setup_with};

fn faulty() -> Arc<FaultyStore> {
    Arc::new(FaultyStore::new(Arc::new(MemoryTokenStore::new())))
}

async fn setup_on(store: &Arc<FaultyStore>, delay: Duration) -> Setup {
    setup_with(delay, store.clone(), config()).await
}

fn secret(token: &AccessToken) -> &str {
    token.expose_secret()
}

async fn stored_access(s: &Setup) -> String {
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert!(
        stored.needs_reauthorization.is_none(),
        "locked out: {:?}",
        stored.needs_reauthorization
    );
    stored.tokens.access_token.expose_secret().to_owned()
}

// I1 — a token set obtained from the provider is never discarded.

#[tokio::test]
async fn i1_rotated_tokens_survive_a_failing_store_write() {
    let store = faulty();
    let s = setup_on(&store, Duration::ZERO).await;
    s.expire();
    // The provider rotates (rt-0 is spent), then the store refuses the write three times.
    store.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).times(3));
    let token = s.manager.access_token(&s.key).await.unwrap();
    assert_eq!(
        secret(&token),
        "at-1",
        "the caller gets the new token, not a storage error"
    );
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-1",
        "served from memory while the write is retried"
    );
    s.manager.flush().await;
    assert_eq!(
        stored_access(&s).await,
        "at-1",
        "written once the store recovers"
    );
    assert_eq!(store.calls(StoreOp::CompareAndSwap), 4);
    let events = s.events();
    assert!(
        matches!(
            events.as_slice(),
            [
                TokenEvent::WriteDelayed {
                    kind: ErrorKind::Storage,
                    ..
                },
                TokenEvent::Refreshed { .. }
            ]
        ),
        "{events:?}"
    );
    // The next refresh presents the rotated refresh token: accepted, no lockout.
    s.expire();
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-2"
    );
    assert_eq!(s.fake.refusals(), 0);
    assert_eq!(s.fake.refreshes(), 2);
}

#[tokio::test]
async fn i1_a_write_that_landed_but_reported_a_failure_is_recognised() {
    let store = faulty();
    let s = setup_on(&store, Duration::ZERO).await;
    s.expire();
    store.inject(StoreFault::new(
        StoreOp::CompareAndSwap,
        FaultAction::FailAfterApplying,
    ));
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-1"
    );
    s.manager.flush().await;
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(secret(&stored.tokens.access_token), "at-1");
    assert_eq!(
        stored.version, 2,
        "written once: the retry saw its own write"
    );
    assert_eq!(s.fake.refreshes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i1_a_reauthorization_mark_made_with_the_spent_token_loses_to_the_pair_that_spent_it() {
    let s = setup_with(
        Duration::from_millis(300),
        Arc::new(MemoryTokenStore::new()),
        config(),
    )
    .await;
    s.expire();
    let refresh = {
        let (manager, key) = (s.manager.clone(), s.key.clone());
        tokio::spawn(async move { manager.access_token(&key).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Meanwhile another replica, refused with the same (now spent) refresh token, marks the row.
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    s.store
        .mark_needs_reauthorization(&s.key, stored.version, "invalid_refresh_token")
        .await
        .unwrap();
    assert_eq!(secret(&refresh.await.unwrap().unwrap()), "at-1");
    s.manager.flush().await;
    assert_eq!(
        stored_access(&s).await,
        "at-1",
        "the only valid pair is written over the mark"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i1_a_new_install_during_a_refresh_is_kept() {
    let s = setup_with(
        Duration::from_millis(300),
        Arc::new(MemoryTokenStore::new()),
        config(),
    )
    .await;
    s.expire();
    let refresh = {
        let (manager, key) = (s.manager.clone(), s.key.clone());
        tokio::spawn(async move { manager.access_token(&key).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut reinstall = TokenSet::builder(PROVIDER, AccessToken::new("at-reinstalled"))
        .token_type(TokenType::Bot)
        .issued_at(Clock::now(&*s.clock))
        .build();
    reinstall.refresh_token = Some(RefreshToken::new("rt-reinstalled"));
    reinstall.set_expires_in(3600);
    s.store.save(&s.key, &reinstall).await.unwrap();
    assert_eq!(secret(&refresh.await.unwrap().unwrap()), "at-reinstalled");
    s.manager.flush().await;
    assert_eq!(stored_access(&s).await, "at-reinstalled");
}

// I2 — no second grant with a refresh token while the first may be in flight.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2_a_refresh_slower_than_its_lease_keeps_the_lease() {
    // A 300 ms lease and a provider answering after 1.2 s.
    let s = setup_with(
        Duration::from_millis(1_200),
        Arc::new(MemoryTokenStore::new()),
        config().lease_ttl(Duration::from_millis(300)),
    )
    .await;
    let other = manager_with(
        &s.fake,
        &s.store,
        &s.clock,
        "replica-2",
        &s.events,
        config().lease_ttl(Duration::from_millis(300)),
    );
    other.access_token(&s.key).await.unwrap();
    s.expire();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let manager = if i % 2 == 0 {
            s.manager.clone()
        } else {
            other.clone()
        };
        let key = s.key.clone();
        tasks.push(tokio::spawn(
            async move { manager.access_token(&key).await },
        ));
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for task in tasks {
        assert_eq!(secret(&task.await.unwrap().unwrap()), "at-1");
    }
    assert_eq!(
        s.fake.refreshes(),
        1,
        "the lease was renewed during the call"
    );
    assert_eq!(
        s.fake.refusals(),
        0,
        "the spent refresh token was never sent again"
    );
    assert_eq!(stored_access(&s).await, "at-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2_a_lease_that_cannot_be_renewed_still_ends_with_the_new_pair() {
    // The holder cannot renew (its store fails): the lease lapses, the other replica refreshes
    // with the spent token, is refused and marks the row; the holder's write then wins over the
    // mark (I1), so the installation stays usable.
    let store = faulty();
    let s = setup_with(
        Duration::from_millis(800),
        store.clone(),
        config().lease_ttl(Duration::from_millis(200)),
    )
    .await;
    store.inject(StoreFault::new(StoreOp::RenewLease, FaultAction::Fail).always());
    let other = manager_with(
        &s.fake,
        &s.store,
        &s.clock,
        "replica-2",
        &s.events,
        config().lease_ttl(Duration::from_millis(200)),
    );
    s.expire();
    let first = {
        let (manager, key) = (s.manager.clone(), s.key.clone());
        tokio::spawn(async move { manager.access_token(&key).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = other.access_token(&s.key).await.unwrap_err();
    assert!(refused.needs_reauthorization(), "{refused}");
    assert_eq!(secret(&first.await.unwrap().unwrap()), "at-1");
    s.manager.flush().await;
    assert_eq!(stored_access(&s).await, "at-1");
    assert_eq!(
        secret(&other.access_token(&s.key).await.unwrap()),
        "at-1",
        "the other replica serves the pair that won"
    );
}

// I3 — a caller with a valid cached token never waits.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i3_callers_with_a_valid_token_do_not_wait_for_a_blocked_store_or_a_foreign_lease() {
    let store = faulty();
    let s = setup_on(&store, Duration::ZERO).await;
    s.manager.access_token(&s.key).await.unwrap();
    // Another replica holds the lease; the token is due (inside the margin) but valid; and every
    // store read and lease attempt hangs.
    s.store
        .try_acquire_lease(&s.key, "other-replica", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    s.expire_soon();
    let gate = Gate::new();
    store.inject(StoreFault::new(StoreOp::Get, FaultAction::Block(gate.clone())).always());
    store.inject(
        StoreFault::new(StoreOp::TryAcquireLease, FaultAction::Block(gate.clone())).always(),
    );
    let (gets, leases) = (
        store.calls(StoreOp::Get),
        store.calls(StoreOp::TryAcquireLease),
    );
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let (manager, key) = (s.manager.clone(), s.key.clone());
            tokio::spawn(async move { manager.access_token(&key).await })
        })
        .collect();
    let all = async {
        for task in tasks {
            assert_eq!(secret(&task.await.unwrap().unwrap()), "at-0");
        }
    };
    tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .expect("10,000 callers with a valid token were served while the store hung");
    assert!(
        store.calls(StoreOp::Get) - gets <= 1,
        "one background refresh reads the store, not every caller"
    );
    assert_eq!(store.calls(StoreOp::TryAcquireLease), leases);
    gate.open();
    store.clear();
    s.manager.flush().await;
    assert_eq!(s.fake.refreshes(), 0, "the other replica holds the lease");
}

#[tokio::test]
async fn i3_a_backoff_serves_the_cached_token_without_touching_the_store() {
    let store = faulty();
    let s = setup_on(&store, Duration::ZERO).await;
    s.expire_soon();
    s.fake.set_mode(Mode::Transient);
    s.manager.access_token(&s.key).await.unwrap();
    s.manager.flush().await;
    let ops: Vec<u64> = StoreOp::ALL.iter().map(|op| store.calls(*op)).collect();
    for _ in 0..1_000 {
        assert_eq!(
            secret(&s.manager.access_token(&s.key).await.unwrap()),
            "at-0"
        );
    }
    s.manager.flush().await;
    let after: Vec<u64> = StoreOp::ALL.iter().map(|op| store.calls(*op)).collect();
    assert_eq!(ops, after, "no store call during the backoff");
    assert_eq!(s.fake.refreshes(), 1);
}

// I4 — one grant per token, whatever the lifetime and margin.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i4_a_token_born_inside_the_margin_is_refreshed_once() {
    let s = setup_with(
        Duration::from_millis(20),
        Arc::new(MemoryTokenStore::new()),
        config().refresh_margin(Duration::from_secs(300)),
    )
    .await;
    // Every token the provider mints now lives 60 s: inside the 300 s margin from birth.
    s.fake.set_lifetime(60);
    s.expire();
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let (manager, key) = (s.manager.clone(), s.key.clone());
            tokio::spawn(async move { manager.access_token(&key).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(secret(&task.await.unwrap().unwrap()), "at-1");
    }
    for _ in 0..1_000 {
        assert_eq!(
            secret(&s.manager.access_token(&s.key).await.unwrap()),
            "at-1"
        );
    }
    s.manager.flush().await;
    assert_eq!(s.fake.refreshes(), 1, "one grant for 2,000 callers");
    // Halfway through its 60 s life the token is due: refreshed once more, in the background.
    s.clock.advance(Duration::from_secs(31));
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-1"
    );
    s.manager.flush().await;
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-2"
    );
    assert_eq!(s.fake.refreshes(), 2);
    assert_eq!(s.fake.refusals(), 0);
}

// I5 — time arithmetic saturates.

#[tokio::test]
async fn i5_a_huge_retry_after_backs_off_for_at_most_an_hour() {
    let s = setup_with(Duration::ZERO, Arc::new(MemoryTokenStore::new()), config()).await;
    s.expire_soon();
    s.fake
        .set_mode(Mode::RateLimited(Duration::from_secs(u64::MAX)));
    for _ in 0..200 {
        assert_eq!(
            secret(&s.manager.access_token(&s.key).await.unwrap()),
            "at-0"
        );
        s.manager.flush().await;
    }
    assert_eq!(
        s.fake.refreshes(),
        1,
        "200 calls, one grant: the backoff held"
    );
    // Once the token expired, callers get the rate limit itself, still without a grant.
    s.clock.advance(Duration::from_secs(300));
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(s.fake.refreshes(), 1);
    // The backoff is cut to an hour: then the next caller refreshes.
    s.clock.advance(MAX_BACKOFF);
    s.fake.set_mode(Mode::Ok);
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-2"
    );
}

#[tokio::test]
async fn i5_huge_configured_durations_give_a_bounded_schedule() {
    let huge = ManagerConfig::default()
        .refresh_margin(Duration::MAX)
        .lease_ttl(Duration::MAX)
        .retry_after_failure(Duration::MAX)
        .retry_after_lost_response(Duration::MAX)
        .max_wait(Duration::MAX)
        .recheck_interval(Duration::MAX)
        .poll_interval(Duration::from_millis(5));
    let s = setup_with(Duration::ZERO, Arc::new(MemoryTokenStore::new()), huge).await;
    // A margin longer than any lifetime: due halfway (1,800 s into a 3,600 s token).
    s.clock.advance(Duration::from_secs(1_700));
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-0"
    );
    s.manager.flush().await;
    assert_eq!(s.fake.refreshes(), 0);
    s.clock.advance(Duration::from_secs(200));
    s.fake.set_mode(Mode::Transient);
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-0"
    );
    s.manager.flush().await;
    assert_eq!(s.fake.refreshes(), 1);
    // The failure's backoff (configured as forever) is cut to an hour; the token expired by
    // then, and the next caller refreshes.
    s.clock.advance(MAX_BACKOFF);
    s.fake.set_mode(Mode::Ok);
    assert_eq!(
        secret(&s.manager.access_token(&s.key).await.unwrap()),
        "at-2"
    );
    assert_eq!(s.fake.refreshes(), 2);
}
