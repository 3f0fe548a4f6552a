//! The staleness bound across two managers, each with its own pool, sharing one PostgreSQL
//! database (`OAUTH_TEST_POSTGRES_URL`; skipped loudly without it, failed under
//! `OAUTH_REQUIRE_POSTGRES`): a token set that one replica deletes or that is marked for
//! re-authorization is served by the other until its `revalidate_interval` has passed (by the
//! shared manual clock), and not after the one store read it then starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_core::{Error, TokenKey, TokenStore};
use oauth_manager::TokenManager;
use oauth_store::PostgresTokenStore;
use support::{config, manager_with, setup_with};

const REVALIDATE: Duration = Duration::from_secs(10);

/// Two stores on a schema of their own, or `None` (said loudly) without a server.
async fn two_stores() -> Option<(Arc<dyn TokenStore>, Arc<dyn TokenStore>)> {
    let Ok(url) = std::env::var("OAUTH_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("OAUTH_REQUIRE_POSTGRES").is_none(),
            "OAUTH_REQUIRE_POSTGRES is set but OAUTH_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "!!!! OAUTH_TEST_POSTGRES_URL is not set: this PostgreSQL test did NOT run (use `cargo xtask test`) !!!!"
        );
        return None;
    };
    let schema = format!("staleness_{:016x}", getrandom::u64().unwrap());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let mut stores = Vec::new();
    for _ in 0..2 {
        let options = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        let store: Arc<dyn TokenStore> =
            Arc::new(PostgresTokenStore::from_pool(pool, None).await.unwrap());
        stores.push(store);
    }
    let b = stores.pop()?;
    Some((stores.pop()?, b))
}

/// Calls `manager` until it no longer serves `key`, bounded in attempts (the revalidation runs
/// in a task of its own).
async fn until_not_served(manager: &TokenManager, key: &TokenKey) -> Error {
    for _ in 0..2_000 {
        match manager.access_token(key).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(error) => return error,
        }
    }
    panic!("{key} is still served after 2,000 calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_on_postgresql_stop_serving_a_deleted_or_marked_token_set_within_the_bound() {
    let Some((store_a, store_b)) = two_stores().await else {
        return;
    };
    let s = setup_with(
        Duration::ZERO,
        store_a.clone(),
        config().revalidate_interval(REVALIDATE),
    )
    .await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = manager_with(
        &s.fake,
        &store_b,
        &s.clock,
        "holder-b",
        &events,
        config().revalidate_interval(REVALIDATE),
    );
    let user = TokenKey::user(s.key.installation().clone(), "U2");
    s.manager
        .save_tokens(&user, s.fake.tokens(0))
        .await
        .unwrap();
    assert!(b.access_token(&s.key).await.is_ok());
    assert!(b.access_token(&user).await.is_ok());
    assert_eq!(b.cached_len(), 2);

    // A deletes the bot's token set; the user's is marked for re-authorization in the store.
    assert!(s.manager.forget(&s.key, "tokens_revoked").await.unwrap());
    let stored = store_a.get(&user).await.unwrap().unwrap();
    store_a
        .mark_needs_reauthorization(&user, stored.version, "invalid_grant")
        .await
        .unwrap();

    // Within the interval, B serves both from its cache, without a store read.
    s.clock.advance(REVALIDATE - Duration::from_secs(1));
    for _ in 0..10 {
        assert!(b.access_token(&s.key).await.is_ok());
        assert!(b.access_token(&user).await.is_ok());
        tokio::task::yield_now().await;
    }
    // Once it has passed, not after one store read.
    s.clock.advance(Duration::from_secs(1));
    let deleted = until_not_served(&b, &s.key).await;
    assert!(
        matches!(deleted, Error::InstallationNotFound { .. }),
        "{deleted:?}"
    );
    let marked = until_not_served(&b, &user).await;
    assert!(
        matches!(marked, Error::NeedsReauthorization { .. }),
        "{marked:?}"
    );
    for _ in 0..500 {
        if b.cached_len() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(b.cached_len(), 0, "nothing of either stays in B's cache");
    assert_eq!(s.fake.refreshes(), 0, "no refresh was attempted for them");
}
