//! TokenManager behaviour over a counting fake provider and the in-memory store. The same flows
//! against oauth-sandbox (real HTTP, the sandbox's refresh counter as the judge) are in
//! oauth-itest's `manager_sandbox.rs` and `lifecycle.rs`; the invariants of docs/ARCHITECTURE.md
//! are proved in `invariants.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oauth_core::{
    AuthorizationCode, CodeExchange, Error, ErrorKind, InstallationKey, MemoryTokenStore,
    ProviderId, TokenKey,
};
use oauth_manager::TokenEvent;
use support::{Mode, PROVIDER, manager_for, setup};

#[tokio::test]
async fn a_fresh_token_is_served_from_cache_without_refreshing() {
    let s = setup(Duration::ZERO).await;
    assert_eq!(s.key.to_string(), "fake/T1#bot");
    for _ in 0..100 {
        assert_eq!(
            s.manager
                .access_token(&s.key)
                .await
                .unwrap()
                .expose_secret(),
            "at-0"
        );
    }
    assert_eq!(s.fake.refreshes(), 0);
    // A new manager (another process) loads it from the store.
    let other = manager_for(&s.fake, &s.store, &s.clock, "holder-2", &s.events);
    assert_eq!(
        other.access_token(&s.key).await.unwrap().expose_secret(),
        "at-0"
    );
    assert_eq!(s.fake.refreshes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_callers_share_one_refresh() {
    let s = setup(Duration::from_millis(50)).await;
    s.expire();
    let mut tasks = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let manager = s.manager.clone();
        let key = s.key.clone();
        tasks.push(tokio::spawn(
            async move { manager.access_token(&key).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "at-1");
    }
    assert_eq!(s.fake.refreshes(), 1, "exactly one refresh");
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(
        stored.tokens.refresh_token.unwrap().expose_secret(),
        "rt-1",
        "the rotated refresh token is stored"
    );
    assert!(matches!(
        s.events().as_slice(),
        [TokenEvent::Refreshed { .. }]
    ));
}

#[tokio::test]
async fn refresh_happens_within_the_margin_before_expiry() {
    let s = setup(Duration::ZERO).await;
    s.clock.advance(Duration::from_secs(3200));
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0",
        "outside the margin"
    );
    s.clock.advance(Duration::from_secs(200));
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0",
        "within the margin the valid token is served at once; the refresh runs in the background"
    );
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1",
        "proactive refresh"
    );
    let tokens = s.manager.token_set(&s.key).await.unwrap();
    assert_eq!(
        tokens.grantee.workspace_id.as_deref(),
        Some("T1"),
        "the grantee survives a refresh that omits it"
    );
    assert_eq!(s.fake.refreshes(), 1);
}

#[tokio::test]
async fn transient_failure_serves_the_old_token_then_retries_later() {
    let s = setup(Duration::ZERO).await;
    s.expire_soon();
    s.fake.set_mode(Mode::Transient);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
    s.manager.flush().await;
    assert_eq!(
        s.fake.refreshes(),
        1,
        "no second attempt before the backoff"
    );
    assert!(matches!(
        s.events().as_slice(),
        [TokenEvent::RefreshFailed {
            served_old_token: true,
            kind: ErrorKind::Retryable,
            ..
        }]
    ));
    s.fake.set_mode(Mode::Ok);
    s.clock.advance(Duration::from_secs(31));
    s.manager.access_token(&s.key).await.unwrap();
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-2"
    );
    assert_eq!(s.fake.refreshes(), 2);
}

#[tokio::test]
async fn lost_response_is_retried_quickly() {
    let s = setup(Duration::ZERO).await;
    s.expire_soon();
    s.fake.set_mode(Mode::Lost);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
    s.manager.flush().await;
    s.fake.set_mode(Mode::Ok);
    s.clock.advance(Duration::from_secs(2));
    s.manager.access_token(&s.key).await.unwrap();
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-2",
        "retried after 1 s, not 30 s"
    );
}

#[tokio::test]
async fn transient_failure_with_an_expired_token_is_an_error() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::Transient);
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable);
    assert!(matches!(
        s.events().as_slice(),
        [TokenEvent::RefreshFailed {
            served_old_token: false,
            ..
        }]
    ));
    s.fake.set_mode(Mode::Ok);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-2",
        "the next caller tries again at once"
    );
}

#[tokio::test]
async fn refused_grant_marks_the_installation() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::Reauth);
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert!(error.needs_reauthorization());
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(
        stored.needs_reauthorization.as_deref(),
        Some("invalid_refresh_token")
    );
    assert!(
        matches!(s.events().as_slice(), [TokenEvent::ReauthorizationRequired { reason, .. }] if reason == "invalid_refresh_token")
    );
    // Later callers get the typed error without calling the provider.
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert!(
        matches!(error, Error::NeedsReauthorization { ref reason, .. } if reason == "invalid_refresh_token"),
        "{error}"
    );
    assert_eq!(s.fake.refreshes(), 1);
    // A new install clears it.
    s.manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new("again")))
        .await
        .unwrap();
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::NoRefreshToken);
    s.manager.access_token(&s.key).await.unwrap();
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(stored.tokens.refresh_token.unwrap().expose_secret(), "rt-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_once_and_the_other_picks_it_up() {
    let s = setup(Duration::from_millis(100)).await;
    let other = manager_for(&s.fake, &s.store, &s.clock, "holder-2", &s.events);
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
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "at-1");
    }
    assert_eq!(
        s.fake.refreshes(),
        1,
        "the lease elects one refresher across managers"
    );
    let events = s.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TokenEvent::PickedUp { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_dead_holders_lease_lapses_and_another_refreshes() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    let dead = s
        .store
        .try_acquire_lease(&s.key, "dead-process", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for the lease to lapse"
    );
    assert_eq!(s.fake.refreshes(), 1);
    drop(dead);
}

#[tokio::test]
async fn a_cancelled_caller_does_not_abandon_the_refresh() {
    let s = setup(Duration::from_millis(200)).await;
    s.expire();
    let call = s.manager.access_token(&s.key);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err(),
        "the caller gave up"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(
        stored.tokens.access_token.expose_secret(),
        "at-1",
        "the refresh finished and was written anyway"
    );
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
    assert_eq!(s.fake.refreshes(), 1);
}

#[tokio::test]
async fn unknown_and_foreign_installations() {
    let s = setup(Duration::ZERO).await;
    let missing = TokenKey::bot(InstallationKey::new(PROVIDER, "nobody"));
    assert_eq!(
        s.manager.access_token(&missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let foreign = TokenKey::bot(InstallationKey::new(
        ProviderId::from_static("notion"),
        "T1:U1",
    ));
    assert_eq!(
        s.manager.access_token(&foreign).await.unwrap_err().kind(),
        ErrorKind::Configuration
    );
    assert_eq!(s.manager.list().await.unwrap(), vec![s.key.clone()]);
}

#[tokio::test]
async fn revoke_and_delete() {
    let s = setup(Duration::ZERO).await;
    *s.fake.revoke_error.lock().unwrap() = Some(ErrorKind::Transport);
    assert_eq!(
        s.manager
            .revoke_and_delete(&s.key)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Transport
    );
    assert!(
        s.store.get(&s.key).await.unwrap().is_some(),
        "a live token is not forgotten"
    );
    *s.fake.revoke_error.lock().unwrap() = Some(ErrorKind::ReauthorizationRequired);
    s.manager.revoke_and_delete(&s.key).await.unwrap();
    assert!(
        s.store.get(&s.key).await.unwrap().is_none(),
        "an already-invalid token is deleted"
    );
    assert_eq!(
        s.manager.access_token(&s.key).await.unwrap_err().kind(),
        ErrorKind::NotFound,
        "and not served from cache"
    );
    assert_eq!(s.fake.revokes.load(Ordering::SeqCst), 2);
    s.manager.revoke_and_delete(&s.key).await.unwrap();
}

#[tokio::test]
async fn force_refresh() {
    let s = setup(Duration::ZERO).await;
    let tokens = s.manager.force_refresh(&s.key).await.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "at-1");
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
}

#[tokio::test]
async fn the_store_passes_the_conformance_suite() {
    oauth_core::store::conformance::check_store(Arc::new(MemoryTokenStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_refreshed_once_for_every_caller_that_reports_it() {
    let s = setup(Duration::from_millis(50)).await;
    let rejected = s.manager.access_token(&s.key).await.unwrap();
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let (manager, key, rejected) = (s.manager.clone(), s.key.clone(), rejected.clone());
            tokio::spawn(async move {
                // Each caller saw the provider refuse the token (say `token_expired` after a
                // clock skew), says so, and asks again.
                manager.report_rejected_token(&key, &rejected);
                manager.access_token(&key).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "at-1");
    }
    assert_eq!(s.fake.refreshes(), 1, "one refresh for 1,000 rejections");
    // A late report of the old token changes nothing.
    s.manager.report_rejected_token(&s.key, &rejected);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
    assert_eq!(s.fake.refreshes(), 1);
}

#[tokio::test]
async fn a_rejected_token_already_replaced_in_the_store_is_picked_up_without_a_refresh() {
    let s = setup(Duration::ZERO).await;
    let other = manager_for(&s.fake, &s.store, &s.clock, "holder-2", &s.events);
    let rejected = s.manager.access_token(&s.key).await.unwrap();
    // Another replica refreshed; this one still caches the old token, which the provider refuses.
    let refreshed = other.force_refresh(&s.key).await.unwrap();
    s.manager.report_rejected_token(&s.key, &rejected);
    assert_eq!(
        s.manager.access_token(&s.key).await.unwrap(),
        refreshed.access_token
    );
    assert_eq!(s.fake.refreshes(), 1, "picked up from the store");
}
