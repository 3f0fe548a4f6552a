//! The cache at scale, by what it holds (`TokenManager::cached_len`): unknown keys never enter
//! it, deleted token sets leave it at once, idle ones are evicted (by `idle_timeout` and
//! `max_cached`) and read again from the store at their next use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use oauth_core::store::faults::{FaultyStore, StoreOp};
use oauth_core::{Error, InstallationKey, MemoryTokenStore, TokenKey};
use support::{PROVIDER, Setup, config, setup_with};

const IDLE: Duration = Duration::from_secs(60);

async fn on_faulty(config: oauth_manager::ManagerConfig) -> (Setup, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryTokenStore::new())));
    (
        setup_with(Duration::ZERO, store.clone(), config).await,
        store,
    )
}

fn workspace(n: usize) -> TokenKey {
    TokenKey::bot(InstallationKey::workspace(
        PROVIDER,
        None,
        &format!("T{n:06}"),
    ))
}

#[tokio::test]
async fn unknown_keys_never_enter_the_cache() {
    let (s, _) = on_faulty(config()).await;
    assert_eq!(s.manager.cached_len(), 1, "the installation saved");
    for n in 0..1_000 {
        let key = workspace(1_000_000 + n);
        assert!(matches!(
            s.manager.access_token(&key).await,
            Err(Error::InstallationNotFound { .. })
        ));
        assert!(s.manager.token_set(&key).await.is_err());
        assert!(s.manager.force_refresh(&key).await.is_err());
    }
    let candidates: Vec<TokenKey> = (0..100).map(|n| workspace(2_000_000 + n)).collect();
    assert!(
        s.manager
            .first_access_token(&candidates)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.manager.cached_len(),
        1,
        "1,000 unknown keys cached nothing"
    );

    // A token set marked for re-authorization answers so, and is not cached either.
    let marked = workspace(7);
    let version = s.store.save(&marked, &s.fake.tokens(0)).await.unwrap();
    s.store
        .mark_needs_reauthorization(&marked, version, "invalid_grant")
        .await
        .unwrap();
    assert!(matches!(
        s.manager.access_token(&marked).await,
        Err(Error::NeedsReauthorization { .. })
    ));
    assert_eq!(s.manager.cached_len(), 1);
}

#[tokio::test]
async fn deleted_token_sets_leave_nothing_behind() {
    let (s, _) = on_faulty(config()).await;
    let keys: Vec<TokenKey> = (0..4).map(workspace).collect();
    for key in &keys {
        s.manager.save_tokens(key, s.fake.tokens(0)).await.unwrap();
        assert!(s.manager.access_token(key).await.is_ok());
    }
    assert_eq!(s.manager.cached_len(), 5);
    assert!(s.manager.forget(&keys[0], "tokens_revoked").await.unwrap());
    s.manager.revoke_and_delete(&keys[1]).await.unwrap();
    s.manager
        .forget_installation(keys[2].installation(), "app_uninstalled")
        .await
        .unwrap();
    s.manager.uninstall(keys[3].installation()).await.unwrap();
    s.manager.uninstall(s.key.installation()).await.unwrap();
    assert_eq!(
        s.manager.cached_len(),
        0,
        "every deleted token set left the cache"
    );
    for key in keys.iter().chain([&s.key]) {
        assert!(matches!(
            s.manager.access_token(key).await,
            Err(Error::InstallationNotFound { .. })
        ));
    }
    // Forgetting what was never there leaves nothing either.
    assert!(
        !s.manager
            .forget(&workspace(99), "tokens_revoked")
            .await
            .unwrap()
    );
    assert_eq!(s.manager.cached_len(), 0);
}

#[tokio::test]
async fn a_token_set_deleted_by_another_replica_leaves_the_cache_at_revalidation() {
    let (s, _) = on_faulty(config().revalidate_interval(Duration::from_secs(10))).await;
    assert!(s.manager.access_token(&s.key).await.is_ok());
    s.store.delete(&s.key).await.unwrap();
    s.clock.advance(Duration::from_secs(10));
    for _ in 0..2_000 {
        if s.manager.access_token(&s.key).await.is_err() && s.manager.cached_len() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("still cached: {}", s.manager.cached_len());
}

#[tokio::test]
async fn idle_token_sets_are_evicted_and_read_again_from_the_store() {
    let (s, store) = on_faulty(config().idle_timeout(IDLE)).await;
    let before = s.manager.access_token(&s.key).await.unwrap();
    s.clock.advance(IDLE - Duration::from_secs(2));
    assert_eq!(s.manager.evict_idle(), 0, "not idle long enough");
    s.clock.advance(Duration::from_secs(3));
    assert_eq!(s.manager.evict_idle(), 1);
    assert_eq!(s.manager.cached_len(), 0);

    let reads = store.calls(StoreOp::Get);
    let after = s.manager.access_token(&s.key).await.unwrap();
    assert_eq!(after.expose_secret(), before.expose_secret());
    assert_eq!(store.calls(StoreOp::Get), reads + 1, "one store read");
    assert_eq!(s.manager.cached_len(), 1);
    s.manager.access_token(&s.key).await.unwrap();
    assert_eq!(
        store.calls(StoreOp::Get),
        reads + 1,
        "then served from the cache"
    );
    assert_eq!(s.fake.refreshes(), 0);
}

#[tokio::test]
async fn beyond_max_cached_the_least_recently_used_are_evicted() {
    let (s, store) = on_faulty(config().max_cached(8)).await;
    let keys: Vec<TokenKey> = (0..20).map(workspace).collect();
    for key in &keys {
        s.clock.advance(Duration::from_secs(1));
        s.store.save(key, &s.fake.tokens(0)).await.unwrap();
        s.manager.access_token(key).await.unwrap();
    }
    // The sweeps run in the background, each started by a call that caches one more.
    for _ in 0..2_000 {
        if s.manager.cached_len() <= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(s.manager.cached_len() <= 8, "{}", s.manager.cached_len());
    s.manager.evict_idle();
    let kept = s.manager.cached_len();
    assert!(kept <= 8, "{kept}");
    // The most recently used are the ones kept: served without a store read.
    let reads = store.calls(StoreOp::Get);
    for key in &keys[keys.len() - kept..] {
        s.manager.access_token(key).await.unwrap();
    }
    assert_eq!(store.calls(StoreOp::Get), reads);
    // The others are read again.
    s.manager.access_token(&keys[0]).await.unwrap();
    assert_eq!(store.calls(StoreOp::Get), reads + 1);
}
