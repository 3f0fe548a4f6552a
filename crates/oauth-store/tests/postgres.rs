//! PostgresTokenStore against a real server: `cargo xtask test` starts a throwaway cluster (or uses
//! `DATABASE_URL`) and sets `OAUTH_TEST_POSTGRES_URL`. Run directly without it, these tests say
//! loudly that they did not run; under xtask (`OAUTH_REQUIRE_POSTGRES=1`) a missing server fails.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AccessToken, CasOutcome, InstallationKey, ProviderId, RefreshToken, TokenKey, TokenSet,
    TokenStore, TokenType, UsedStates as _,
};
use oauth_store::{Encryption, EncryptionKey, PostgresTokenStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A store in a fresh schema of its own, or `None` (with a loud message) when no server is set.
async fn store(encryption: Option<Encryption>) -> Option<PostgresTokenStore> {
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
    let schema = format!("t_{:016x}", getrandom::u64().unwrap());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .unwrap();
    Some(
        PostgresTokenStore::from_pool(pool, encryption)
            .await
            .unwrap(),
    )
}

fn tokens(access: &str) -> TokenSet {
    let mut t = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new(access))
        .token_type(TokenType::Bot)
        .issued_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build();
    t.refresh_token = Some(RefreshToken::new("xoxe-1-PGREFRESHSECRET"));
    t.set_expires_in(43_200);
    t
}

#[tokio::test]
async fn conforms() {
    let Some(store) = store(None).await else {
        return;
    };
    oauth_core::store::conformance::check_store(Arc::new(store)).await;
}

#[tokio::test]
async fn conforms_with_encryption() {
    let Some(store) = store(Some(Encryption::new(EncryptionKey::new("k1", [5; 32])))).await else {
        return;
    };
    oauth_core::store::conformance::check_store(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_states_conform_and_expired_ones_are_purged() {
    let Some(store) = store(None).await else {
        return;
    };
    let store = Arc::new(store);
    oauth_core::store::conformance::check_used_states(store.clone()).await;
    let rows = |store: Arc<PostgresTokenStore>| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oauth_used_states")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    let before = rows(store.clone()).await;
    assert!(before >= 3, "the conformance run's live records: {before}");
    sqlx::query("UPDATE oauth_used_states SET expires_at = now() - interval '1 minute'")
        .execute(store.pool())
        .await
        .unwrap();
    let id = oauth_core::StateId::of("after the purge");
    let hour = SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        store.record_use(&id, hour).await.unwrap(),
        oauth_core::StateUse::First
    );
    assert_eq!(rows(store.clone()).await, 1, "the expired records are gone");
}

#[tokio::test]
async fn with_encryption_no_plaintext_secret_reaches_the_database() {
    let Some(store) = store(Some(Encryption::new(EncryptionKey::new("k1", [5; 32])))).await else {
        return;
    };
    let key = TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"));
    store
        .save(&key, &tokens("xoxe.xoxb-1-PGACCESSSECRET"))
        .await
        .unwrap();
    type Stored = (Vec<u8>, Option<Vec<u8>>, String, Option<String>);
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT access_token, refresh_token, token_meta, key_id FROM oauth_token_sets",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    let (access, refresh, meta, key_id) = &rows[0];
    let everything = [
        access.clone(),
        refresh.clone().unwrap(),
        meta.as_bytes().to_vec(),
    ]
    .concat();
    for secret in ["PGACCESSSECRET", "PGREFRESHSECRET"] {
        assert!(
            !everything
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "{secret} stored in clear"
        );
    }
    assert_eq!(key_id.as_deref(), Some("k1"));
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().tokens,
        tokens("xoxe.xoxb-1-PGACCESSSECRET")
    );
}

#[tokio::test]
async fn two_connections_pools_race_on_one_installation() {
    // Two stores (two "replicas") on the same schema: exactly one CAS and one lease wins.
    let Some(a) = store(None).await else { return };
    let b = PostgresTokenStore::from_pool(a.pool().clone(), None)
        .await
        .unwrap();
    let key = TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"));
    let version = a.save(&key, &tokens("v1")).await.unwrap();
    let (ta, tb) = (tokens("a"), tokens("b"));
    let (ra, rb) = tokio::join!(
        a.compare_and_swap(&key, version, &ta),
        b.compare_and_swap(&key, version, &tb)
    );
    let wins = [ra.unwrap(), rb.unwrap()]
        .iter()
        .filter(|o| matches!(o, CasOutcome::Swapped { .. }))
        .count();
    assert_eq!(wins, 1);
    let mut leases = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let key = key.clone();
        leases.push(tokio::spawn(async move {
            store
                .try_acquire_lease(&key, &format!("h{i}"), Duration::from_secs(5))
                .await
                .unwrap()
        }));
    }
    let mut granted = 0;
    for lease in leases {
        granted += usize::from(lease.await.unwrap().is_some());
    }
    assert_eq!(granted, 1, "one lease holder among 20 concurrent claimants");
}

/// TLS (feature `postgres-tls`): `sslmode=verify-full` against the throwaway cluster's own
/// certificate authority connects encrypted and works; without that authority (the system's
/// roots only) the server's certificate is refused; `sslmode=disable` stays in clear.
#[cfg(feature = "postgres-tls")]
#[tokio::test]
async fn tls_verify_full_checks_the_server_certificate() {
    let (Ok(url), Ok(ca)) = (
        std::env::var("OAUTH_TEST_POSTGRES_URL"),
        std::env::var("OAUTH_TEST_POSTGRES_CA"),
    ) else {
        eprintln!(
            "!!!! OAUTH_TEST_POSTGRES_URL or OAUTH_TEST_POSTGRES_CA is not set: this PostgreSQL TLS test did NOT run (use `cargo xtask test` without DATABASE_URL) !!!!"
        );
        return;
    };
    let with = |query: &str| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{query}")
    };
    let verified =
        PostgresTokenStore::connect(&with(&format!("sslmode=verify-full&sslrootcert={ca}")))
            .await
            .unwrap();
    assert!(verified.uses_tls().await.unwrap());
    // (The only test in the `public` schema: the others make a schema of their own.)
    let key = TokenKey::bot(InstallationKey::new(
        ProviderId::from_static("slack"),
        format!("T_TLS_{:016x}", getrandom::u64().unwrap()),
    ));
    verified.save(&key, &tokens("xoxb-tls")).await.unwrap();
    assert_eq!(
        verified.get(&key).await.unwrap().unwrap().tokens,
        tokens("xoxb-tls")
    );

    let unknown_authority = PostgresTokenStore::connect(&with("sslmode=verify-full"))
        .await
        .unwrap_err();
    assert_eq!(
        unknown_authority.kind(),
        oauth_core::ErrorKind::Configuration,
        "{unknown_authority:?} / {:?}",
        std::error::Error::source(&unknown_authority)
    );
    let message = unknown_authority.to_string();
    assert!(
        message.contains("TLS") && message.contains("UnknownIssuer"),
        "{message}"
    );

    let plain = PostgresTokenStore::connect(&with("sslmode=disable"))
        .await
        .unwrap();
    assert!(!plain.uses_tls().await.unwrap());
}

#[tokio::test]
async fn import_writes_many_token_sets_in_one_transaction_encrypted() {
    let Some(store) = store(Some(Encryption::new(EncryptionKey::new("k1", [6; 32])))).await else {
        return;
    };
    let numbered = |i: usize| {
        let key = TokenKey::bot(InstallationKey::new(
            ProviderId::from_static("slack"),
            format!("T{i:05}"),
        ));
        let mut tokens = tokens(&format!("xoxe.xoxb-1-PGACCESSSECRET-{i}"));
        tokens.set_expires_in(i as i64);
        (key, tokens)
    };
    let batch: Vec<(TokenKey, TokenSet)> = (0..1_234).map(numbered).collect();
    store.import(&batch).await.unwrap();
    for (key, tokens) in [&batch[0], &batch[777], &batch[1_233]] {
        let stored = store.get(key).await.unwrap().unwrap();
        assert_eq!(&stored.tokens, tokens);
        assert_eq!(stored.version, 1);
    }
    assert_eq!(store.list(None).await.unwrap().len(), 1_234);
    let due = store
        .due_for_refresh(batch[9].1.expires_at.unwrap(), None, 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 10, "the ten earliest expiries");
    store.import(&batch[..3]).await.unwrap();
    assert_eq!(store.get(&batch[0].0).await.unwrap().unwrap().version, 2);
    // A batch PostgreSQL refuses (one key twice) writes nothing.
    let twice = vec![numbered(5_000), numbered(5_000)];
    assert!(store.import(&twice).await.is_err());
    assert!(store.get(&twice[0].0).await.unwrap().is_none());
    let rows: Vec<(Vec<u8>, Option<Vec<u8>>, String)> =
        sqlx::query_as("SELECT access_token, refresh_token, token_meta FROM oauth_token_sets")
            .fetch_all(store.pool())
            .await
            .unwrap();
    for (access, refresh, meta) in rows {
        let everything = [access, refresh.unwrap(), meta.into_bytes()].concat();
        for secret in ["PGACCESSSECRET", "PGREFRESHSECRET"] {
            assert!(
                !everything
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{secret} stored in clear"
            );
        }
    }
}
