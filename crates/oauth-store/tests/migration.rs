//! The move from schema 1 to schema 2, on stores written by oauth-store 0.1 (`tests/fixtures/schema1/`,
//! see its README): every token set lands where today's provider crates put it, none is lost, the
//! old table is kept, and opening again changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use oauth_core::{CasOutcome, InstallationKey, ProviderId, TokenKey, TokenStore};
use oauth_store::{Encryption, EncryptionKey};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema1");

fn encryption() -> Encryption {
    Encryption::new(EncryptionKey::new("k1", [7; 32]))
}

/// A schema-1 row as `rows.json` records it.
struct Written {
    schema1_key: String,
    access_token: String,
    refresh_token: Option<String>,
}

fn written() -> Vec<Written> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("rows.json")).unwrap();
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| Written {
            schema1_key: row["schema1_key"].as_str().unwrap().to_owned(),
            access_token: row["access_token"].as_str().unwrap().to_owned(),
            refresh_token: row["refresh_token"].as_str().map(str::to_owned),
        })
        .collect()
}

fn written_row(schema1_key: &str) -> Written {
    written()
        .into_iter()
        .find(|row| row.schema1_key == schema1_key)
        .unwrap_or_else(|| panic!("{schema1_key} is not in rows.json"))
}

/// Where each schema-1 row must land: (schema-1 key, token set), and the reauthorization mark.
fn expected() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    vec![
        // Two rows of one workspace (a reinstall under schema 1): the later one is kept.
        ("T0SANDBOX1:UPRV9O41OK", "slack/T0SANDBOX1#bot", None),
        ("T0SECOND2:UJUEKRDL5T", "slack/T0SECOND2#bot", None),
        (
            "E0GRID001:T0GRIDWS1:UJNDGIMMCP",
            "slack/E0GRID001/T0GRIDWS1#bot",
            None,
        ),
        (
            "T0USERONL:U0USERONL",
            "slack/T0USERONL#user:U0USERONL",
            None,
        ),
        (
            "6f9c1f44-8d0b-4c1d-9d57-2b8c1d3e4f50:7c4ba15d-0122-4139-a9aa-c4a388e9a84f",
            "notion/7c4ba15d-0122-4139-a9aa-c4a388e9a84f#bot",
            Some("invalid_grant"),
        ),
    ]
}

/// The checks both backends share, on a store just opened over a schema-1 database.
async fn check_moved(store: &dyn TokenStore) {
    let keys: Vec<String> = store
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut wanted: Vec<String> = expected().iter().map(|e| e.1.to_owned()).collect();
    wanted.sort();
    assert_eq!(keys, wanted, "every token set, each once");
    // Schema 4's expiry column is filled for moved rows: the refreshable ones are due by their
    // own expiry, to the millisecond.
    let due = store
        .due_for_refresh(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 40),
            None,
            100,
        )
        .await
        .unwrap();
    let mut refreshable = 0;
    for (_, key, _) in expected() {
        let key: TokenKey = key.parse().unwrap();
        let stored = store.get(&key).await.unwrap().expect("moved");
        let listed = due.iter().find(|d| d.key == key);
        match stored.tokens.expires_at {
            Some(at)
                if stored.tokens.refresh_token.is_some()
                    && stored.needs_reauthorization.is_none() =>
            {
                refreshable += 1;
                let listed = listed.unwrap_or_else(|| panic!("{key} is due by its expiry"));
                let ms = |t: std::time::SystemTime| {
                    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                };
                assert_eq!(ms(listed.expires_at), ms(at), "{key}: its expiry, moved");
            }
            _ => assert!(listed.is_none(), "{key} cannot be refreshed: never due"),
        }
    }
    assert!(refreshable > 0, "the fixture has refreshable token sets");
    for (schema1_key, key, mark) in expected() {
        let key: TokenKey = key.parse().unwrap();
        let stored = store.get(&key).await.unwrap().expect("moved");
        let row = written_row(schema1_key);
        assert_eq!(
            stored.tokens.access_token.expose_secret(),
            row.access_token,
            "{key}: the same access token"
        );
        assert_eq!(
            stored
                .tokens
                .refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned()),
            row.refresh_token,
            "{key}: the same refresh token"
        );
        assert_eq!(stored.needs_reauthorization.as_deref(), mark, "{key}");
        let installation = store
            .installation(key.installation())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key}: an installation record"));
        assert_eq!(
            installation.enterprise_id.as_deref(),
            key.installation().enterprise_id(),
            "{key}"
        );
        // A moved row takes writes like any other: a compare-and-swap on its version.
        let mut rotated = stored.tokens.clone();
        rotated.access_token = oauth_core::AccessToken::new("xoxe.xoxb-1-after-the-move");
        assert!(matches!(
            store
                .compare_and_swap(&key, stored.version, &rotated)
                .await
                .unwrap(),
            CasOutcome::Swapped { .. }
        ));
    }
    let slack = ProviderId::from_static("slack");
    let grid = store.enterprise_installations(&slack, "E0GRID001").await;
    assert_eq!(
        grid.unwrap(),
        vec![InstallationKey::workspace(
            ProviderId::from_static("slack"),
            Some("E0GRID001"),
            "T0GRIDWS1"
        )],
        "the org's installations are found by its enterprise id"
    );
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use oauth_store::SqliteTokenStore;

    async fn open_copy(
        fixture: &str,
        encryption: Option<Encryption>,
    ) -> (tempfile::TempDir, std::path::PathBuf, SqliteTokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.sqlite3");
        std::fs::copy(Path::new(FIXTURES).join(fixture), &path).unwrap();
        let store = SqliteTokenStore::open_with(&path, encryption)
            .await
            .unwrap();
        (dir, path, store)
    }

    async fn v1_rows(path: &Path) -> i64 {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM oauth_installations_v1")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }

    #[tokio::test]
    async fn a_plain_schema_one_store_moves_without_losing_a_token() {
        let (_dir, path, store) = open_copy("schema1.sqlite3", None).await;
        check_moved(&store).await;
        store.close().await;
        assert_eq!(
            v1_rows(&path).await,
            6,
            "the schema-1 table is kept as it was"
        );
        // Opening again moves nothing twice.
        let again = SqliteTokenStore::open(&path).await.unwrap();
        assert_eq!(again.list(None).await.unwrap().len(), expected().len());
    }

    #[tokio::test]
    async fn an_encrypted_schema_one_store_moves_with_its_key() {
        let (_dir, path, store) = open_copy("schema1-encrypted.sqlite3", Some(encryption())).await;
        check_moved(&store).await;
        store.close().await;
        assert_eq!(v1_rows(&path).await, 6);
    }

    #[tokio::test]
    async fn without_its_key_an_encrypted_store_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.sqlite3");
        std::fs::copy(Path::new(FIXTURES).join("schema1-encrypted.sqlite3"), &path).unwrap();
        let Err(error) = SqliteTokenStore::open(&path).await else {
            panic!("an encrypted store opened without its key");
        };
        let text = error.to_string();
        assert!(text.contains("k1"), "names the key it needs: {text}");
        // Nothing moved: the store opens with its key afterwards.
        let store = SqliteTokenStore::open_with(&path, Some(encryption()))
            .await
            .unwrap();
        check_moved(&store).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use oauth_store::PostgresTokenStore;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    #[tokio::test]
    async fn a_schema_one_postgres_store_moves_without_losing_a_token() {
        let Ok(url) = std::env::var("OAUTH_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("OAUTH_REQUIRE_POSTGRES").is_none(),
                "OAUTH_REQUIRE_POSTGRES is set but OAUTH_TEST_POSTGRES_URL is not"
            );
            eprintln!(
                "!!!! OAUTH_TEST_POSTGRES_URL is not set: this PostgreSQL test did NOT run (use `cargo xtask test`) !!!!"
            );
            return;
        };
        let schema = format!("m_{:016x}", getrandom::u64().unwrap());
        let dump = std::fs::read_to_string(Path::new(FIXTURES).join("postgres.sql")).unwrap();
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(&dump.replace("__SCHEMA__", &schema))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        let store = PostgresTokenStore::from_pool(pool.clone(), Some(encryption()))
            .await
            .unwrap();
        check_moved(&store).await;
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_installations_v1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(kept, 6, "the schema-1 table is kept as it was");
        let again = PostgresTokenStore::from_pool(pool, Some(encryption()))
            .await
            .unwrap();
        assert_eq!(again.list(None).await.unwrap().len(), expected().len());
    }
}
