//! Token sets the provider already ended: `forget` and `forget_installation` delete them without
//! a revocation and drop them from this manager's cache at once; another replica sharing the
//! store stops serving them within `revalidate_interval` (on the in-memory store and on SQLite).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oauth_core::{Error, TokenKey, TokenStore};
use oauth_manager::{TokenEvent, TokenManager};
use support::{Setup, config, manager_with, setup, setup_with};

const REVALIDATE: Duration = Duration::from_secs(10);

/// Adds user `U2`'s token set to the installation of `s.key`.
async fn with_user(s: &Setup) -> TokenKey {
    let user = TokenKey::user(s.key.installation().clone(), "U2");
    s.manager
        .save_tokens(&user, s.fake.tokens(0))
        .await
        .unwrap();
    user
}

fn removed(s: &Setup) -> Vec<(String, String)> {
    s.events()
        .into_iter()
        .filter_map(|event| match event {
            TokenEvent::Removed { key, reason } => Some((key.to_string(), reason)),
            _ => None,
        })
        .collect()
}

/// Calls `manager` until it no longer serves `key`, with a bound on the attempts (not on time):
/// the revalidation runs in a task of its own.
async fn until_not_served(manager: &TokenManager, key: &TokenKey) -> Error {
    for _ in 0..2_000 {
        match manager.access_token(key).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(error) => return error,
        }
    }
    panic!("{key} is still served after 2,000 calls");
}

#[tokio::test]
async fn forget_removes_one_token_set_here_at_once_and_twice_changes_nothing() {
    let s = setup(Duration::ZERO).await;
    let user = with_user(&s).await;
    assert!(s.manager.access_token(&user).await.is_ok(), "cached");

    assert!(s.manager.forget(&user, "tokens_revoked").await.unwrap());
    assert!(s.store.get(&user).await.unwrap().is_none());
    assert!(matches!(
        s.manager.access_token(&user).await,
        Err(Error::InstallationNotFound { .. })
    ));
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0",
        "the bot's token set stays"
    );
    assert!(
        s.manager
            .installation(s.key.installation())
            .await
            .unwrap()
            .is_some(),
        "and so does the installation's record"
    );
    assert_eq!(
        removed(&s),
        [("fake/T1#user:U2".to_owned(), "tokens_revoked".to_owned())]
    );

    assert!(!s.manager.forget(&user, "tokens_revoked").await.unwrap());
    assert_eq!(removed(&s).len(), 1, "no second event");
    assert_eq!(
        s.fake.revokes.load(Ordering::SeqCst),
        0,
        "the provider already ended the tokens: no revocation call"
    );
}

#[tokio::test]
async fn forget_installation_removes_the_record_and_every_token_set() {
    let s = setup(Duration::ZERO).await;
    let user = with_user(&s).await;
    let installation = s.key.installation().clone();
    assert!(s.manager.access_token(&s.key).await.is_ok());

    let gone = s
        .manager
        .forget_installation(&installation, "app_uninstalled")
        .await
        .unwrap();
    assert_eq!(gone, [s.key.clone(), user.clone()]);
    assert!(
        s.manager
            .installation(&installation)
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.manager.list().await.unwrap().is_empty());
    for key in [&s.key, &user] {
        assert!(matches!(
            s.manager.access_token(key).await,
            Err(Error::InstallationNotFound { .. })
        ));
    }
    assert_eq!(removed(&s).len(), 2);

    assert!(
        s.manager
            .forget_installation(&installation, "app_uninstalled")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(removed(&s).len(), 2, "idempotent");
    assert_eq!(s.fake.revokes.load(Ordering::SeqCst), 0);
}

/// Replica B caches the bot token; replica A deletes it. B serves it until the revalidation
/// interval has passed (by the shared manual clock), and not after the one read it then starts.
async fn a_replica_stops_serving_what_another_deleted(store: Arc<dyn TokenStore>) {
    let s = setup_with(
        Duration::ZERO,
        store,
        config().revalidate_interval(REVALIDATE),
    )
    .await;
    let b = manager_with(
        &s.fake,
        &s.store,
        &s.clock,
        "holder-2",
        &s.events,
        config().revalidate_interval(REVALIDATE),
    );
    assert_eq!(
        b.access_token(&s.key).await.unwrap().expose_secret(),
        "at-0"
    );

    assert!(s.manager.forget(&s.key, "tokens_revoked").await.unwrap());
    // Within the interval, B's callers are served from its cache without a store read.
    s.clock.advance(REVALIDATE - Duration::from_secs(1));
    for _ in 0..10 {
        assert!(b.access_token(&s.key).await.is_ok());
        tokio::task::yield_now().await;
    }
    s.clock.advance(Duration::from_secs(1));
    let error = until_not_served(&b, &s.key).await;
    assert!(
        matches!(error, Error::InstallationNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(s.fake.refreshes(), 0, "no refresh was attempted for it");
}

#[tokio::test]
async fn a_replica_stops_serving_a_token_set_deleted_elsewhere_in_memory() {
    a_replica_stops_serving_what_another_deleted(Arc::new(oauth_core::MemoryTokenStore::new()))
        .await;
}

#[tokio::test]
async fn a_replica_stops_serving_a_token_set_deleted_elsewhere_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = oauth_store::SqliteTokenStore::open(dir.path().join("tokens.db"))
        .await
        .unwrap();
    a_replica_stops_serving_what_another_deleted(Arc::new(store)).await;
}

#[tokio::test]
async fn a_replica_picks_up_tokens_another_refreshed_at_the_next_revalidation() {
    let s = setup_with(
        Duration::ZERO,
        Arc::new(oauth_core::MemoryTokenStore::new()),
        config().revalidate_interval(REVALIDATE),
    )
    .await;
    let b = manager_with(
        &s.fake,
        &s.store,
        &s.clock,
        "holder-2",
        &s.events,
        config().revalidate_interval(REVALIDATE),
    );
    assert_eq!(
        b.access_token(&s.key).await.unwrap().expose_secret(),
        "at-0"
    );
    s.manager.force_refresh(&s.key).await.unwrap();
    s.clock.advance(REVALIDATE);
    let mut served = String::new();
    for _ in 0..2_000 {
        served = b
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret()
            .to_owned();
        if served == "at-1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(served, "at-1");
    assert_eq!(s.fake.refreshes(), 1, "B refreshed nothing itself");
}
