//! SqliteTokenStore: the conformance suite, file permissions, durability across reopen, and
//! encryption at rest (no plaintext secret in the file).
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AccessToken, ErrorKind, InstallationKey, ProviderId, RefreshToken, TokenKey, TokenSet,
    TokenStore, TokenType, UsedStates as _,
};
use oauth_store::{Encryption, EncryptionKey, SqliteTokenStore};

const ACCESS: &str = "xoxe.xoxb-1-PLAINTEXTACCESSSECRET";
const REFRESH: &str = "xoxe-1-PLAINTEXTREFRESHSECRET";

fn tokens() -> TokenSet {
    let mut t = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new(ACCESS))
        .token_type(TokenType::Bot)
        .issued_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build();
    t.refresh_token = Some(RefreshToken::new(REFRESH));
    t.set_expires_in(43_200);
    t
}

fn key() -> TokenKey {
    TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"))
}

/// Every byte of the database and its WAL.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-shm", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTokenStore::open(dir.path().join("tokens.sqlite3"))
        .await
        .unwrap();
    oauth_core::store::conformance::check_store(Arc::new(store)).await;
}

#[tokio::test]
async fn conforms_with_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let encryption = Encryption::new(EncryptionKey::new("k1", [7; 32]));
    let store = SqliteTokenStore::open_with(dir.path().join("tokens.sqlite3"), Some(encryption))
        .await
        .unwrap();
    oauth_core::store::conformance::check_store(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_states_conform_and_expired_ones_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let store = Arc::new(SqliteTokenStore::open(&path).await.unwrap());
    oauth_core::store::conformance::check_used_states(store.clone()).await;
    // A second connection to the file, to look at the table.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows = |pool: sqlx::SqlitePool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oauth_used_states")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = rows(pool.clone()).await;
    assert!(before >= 3, "the conformance run's live records: {before}");
    // As if their time had passed since they were used.
    sqlx::query("UPDATE oauth_used_states SET expires_at_ms = 1000")
        .execute(&pool)
        .await
        .unwrap();
    let id = oauth_core::StateId::of("after the purge");
    let hour = SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        store.record_use(&id, hour).await.unwrap(),
        oauth_core::StateUse::First
    );
    assert_eq!(rows(pool).await, 1, "the expired records are gone");
}

#[cfg(unix)]
fn mode(path: impl AsRef<std::path::Path>) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_and_its_directories_are_created_owner_only_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/tokens.sqlite3");
    let store = SqliteTokenStore::open(&path).await.unwrap();
    store.save(&key(), &tokens()).await.unwrap();
    assert_eq!(mode(&path), 0o600, "owner-only, got {:o}", mode(&path));
    for created in ["nested", "nested/dir"] {
        let got = mode(dir.path().join(created));
        assert_eq!(got, 0o700, "{created}: got {got:o}");
    }
    for journal in ["-wal", "-shm"] {
        let file = format!("{}{journal}", path.display());
        assert!(std::path::Path::new(&file).exists(), "WAL journaling");
        assert_eq!(mode(&file), 0o600, "{journal} follows the database");
    }
}

/// A database, `-wal` and `-shm` that other users may read (made by another tool, or before
/// this check existed) are set to 0600 when the store is opened.
#[cfg(unix)]
#[tokio::test]
async fn an_existing_store_open_to_other_users_is_made_owner_only_on_open() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    // The first store keeps the database open, so that its -wal and -shm stay.
    let first = SqliteTokenStore::open(&path).await.unwrap();
    first.save(&key(), &tokens()).await.unwrap();
    let files: Vec<String> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| format!("{}{suffix}", path.display()))
        .collect();
    for (file, loose) in files.iter().zip([0o644, 0o666, 0o604]) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(loose)).unwrap();
    }

    let second = SqliteTokenStore::open(&path).await.unwrap();

    for file in &files {
        assert_eq!(mode(file), 0o600, "{file}: got {:o}", mode(file));
    }
    // Both still work on the same data.
    assert!(second.get(&key()).await.unwrap().is_some());
    first.save(&key(), &tokens()).await.unwrap();
}

/// An existing directory is the user's: its mode is left as it is.
#[cfg(unix)]
#[tokio::test]
async fn an_existing_directory_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    SqliteTokenStore::open(shared.join("tokens.sqlite3"))
        .await
        .unwrap();
    assert_eq!(mode(&shared), 0o755);
    assert_eq!(mode(shared.join("tokens.sqlite3")), 0o600);
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let store = SqliteTokenStore::open(&path).await.unwrap();
    let version = store.save(&key(), &tokens()).await.unwrap();
    store.close().await;
    let reopened = SqliteTokenStore::open(&path).await.unwrap();
    let stored = reopened.get(&key()).await.unwrap().unwrap();
    assert_eq!(stored.version, version);
    assert_eq!(stored.tokens, tokens());
}

#[tokio::test]
async fn without_encryption_secrets_are_stored_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let store = SqliteTokenStore::open(&path).await.unwrap();
    store.save(&key(), &tokens()).await.unwrap();
    store.close().await;
    assert!(
        contains(&file_bytes(&path), ACCESS),
        "the check below would be meaningless otherwise"
    );
}

#[tokio::test]
async fn with_encryption_no_plaintext_secret_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let encryption = Encryption::new(EncryptionKey::new("k1", [7; 32]));
    let store = SqliteTokenStore::open_with(&path, Some(encryption))
        .await
        .unwrap();
    store.save(&key(), &tokens()).await.unwrap();
    let mut rotated = tokens();
    rotated.access_token = AccessToken::new(format!("{ACCESS}-2"));
    let version = store.get(&key()).await.unwrap().unwrap().version;
    store
        .compare_and_swap(&key(), version, &rotated)
        .await
        .unwrap();
    assert_eq!(store.get(&key()).await.unwrap().unwrap().tokens, rotated);
    store.close().await;
    let bytes = file_bytes(&path);
    for secret in [
        ACCESS,
        REFRESH,
        "PLAINTEXTACCESSSECRET",
        "PLAINTEXTREFRESHSECRET",
    ] {
        assert!(
            !contains(&bytes, secret),
            "{secret} found in the database file"
        );
    }
}

#[tokio::test]
async fn keys_rotate_and_wrong_keys_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let k1 = EncryptionKey::new("k1", [1; 32]);
    let store = SqliteTokenStore::open_with(&path, Some(Encryption::new(k1.clone())))
        .await
        .unwrap();
    store.save(&key(), &tokens()).await.unwrap();
    store.close().await;

    // A new current key, the old one kept for reading.
    let k2 =
        EncryptionKey::from_base64("k2", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=").unwrap();
    let store =
        SqliteTokenStore::open_with(&path, Some(Encryption::new(k2.clone()).with_previous(k1)))
            .await
            .unwrap();
    let stored = store.get(&key()).await.unwrap().unwrap();
    assert_eq!(stored.tokens, tokens(), "rows under the old key still read");
    store
        .compare_and_swap(&key(), stored.version, &stored.tokens)
        .await
        .unwrap();
    store.close().await;

    // Only the new key now: the rewritten row reads.
    let store = SqliteTokenStore::open_with(&path, Some(Encryption::new(k2)))
        .await
        .unwrap();
    assert_eq!(store.get(&key()).await.unwrap().unwrap().tokens, tokens());
    store.close().await;

    // A wrong key, or none: a storage/configuration error that names the key, not a panic.
    let store = SqliteTokenStore::open_with(
        &path,
        Some(Encryption::new(EncryptionKey::new("k2", [9; 32]))),
    )
    .await
    .unwrap();
    let error = store.get(&key()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage, "{error}");
    let store = SqliteTokenStore::open(&path).await.unwrap();
    let error = store.get(&key()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert!(error.to_string().contains("k2"), "{error}");
    assert!(EncryptionKey::from_base64("k", "c2hvcnQ=").is_err());
    assert!(!format!("{:?}", EncryptionKey::new("k", [3; 32])).contains("3, 3"));
}

fn numbered(i: usize) -> (TokenKey, TokenSet) {
    let key = TokenKey::bot(InstallationKey::new(
        ProviderId::from_static("slack"),
        format!("T{i:05}"),
    ));
    let mut tokens = tokens();
    tokens.access_token = AccessToken::new(format!("{ACCESS}-{i}"));
    tokens.set_expires_in(i as i64);
    (key, tokens)
}

#[tokio::test]
async fn import_writes_many_token_sets_in_one_transaction_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let encryption = Encryption::new(EncryptionKey::new("k1", [9; 32]));
    let store = SqliteTokenStore::open_with(&path, Some(encryption))
        .await
        .unwrap();
    // More than two statements' worth.
    let batch: Vec<(TokenKey, TokenSet)> = (0..1_234).map(numbered).collect();
    store.import(&batch).await.unwrap();
    for (key, tokens) in [&batch[0], &batch[777], &batch[1_233]] {
        let stored = store.get(key).await.unwrap().unwrap();
        assert_eq!(&stored.tokens, tokens);
        assert_eq!(stored.version, 1);
    }
    assert_eq!(store.list(None).await.unwrap().len(), 1_234);
    // Their expiries are indexed as a save's are.
    let due = store
        .due_for_refresh(batch[9].1.expires_at.unwrap(), None, 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 10, "the ten earliest expiries");
    // Importing again replaces, as save does.
    store.import(&batch[..3]).await.unwrap();
    assert_eq!(store.get(&batch[0].0).await.unwrap().unwrap().version, 2);
    store.close().await;
    let bytes = file_bytes(&path);
    for secret in ["PLAINTEXTACCESSSECRET", "PLAINTEXTREFRESHSECRET"] {
        assert!(
            !contains(&bytes, secret),
            "{secret} found in the database file"
        );
    }
}
