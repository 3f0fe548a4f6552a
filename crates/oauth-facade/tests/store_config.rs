//! `StoreConfig`: the store URL and the encryption key from the environment, a TOML file or a key
//! file, refused clearly when wrong, and never shown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use oauth_facade::{ErrorKind, StoreConfig};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn lookup(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn keys_parse_with_or_without_an_id_and_bad_ones_are_refused_without_being_quoted() {
    assert_eq!(StoreConfig::parse_key(KEY).unwrap().id(), "k1");
    assert_eq!(
        StoreConfig::parse_key(&format!("k7:{KEY}")).unwrap().id(),
        "k7"
    );
    for bad in ["k1:c2hvcnQ=", "k1:not base64!", &format!(":{KEY}")] {
        let error = StoreConfig::parse_key(bad).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{bad}");
        assert!(!error.to_string().contains(bad), "{error}");
    }
}

#[test]
fn the_environment_names_the_store_and_its_key() {
    let url = ("OAUTH_STORE_URL", "sqlite:/tmp/x.sqlite3".to_owned());
    let config = StoreConfig::from_lookup(lookup(vec![url.clone()])).unwrap();
    assert!(!config.encrypts());
    let config =
        StoreConfig::from_lookup(lookup(vec![url.clone(), ("OAUTH_STORE_KEY", KEY.into())]))
            .unwrap();
    assert!(config.encrypts());
    assert!(!format!("{config:?}").contains("AAECAw"), "{config:?}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, format!("k3:{KEY}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = lookup(vec![
            url.clone(),
            ("OAUTH_STORE_KEY_FILE", file.display().to_string()),
        ]);
        let error = StoreConfig::from_lookup(open).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let by_file = lookup(vec![
        url.clone(),
        ("OAUTH_STORE_KEY_FILE", file.display().to_string()),
    ]);
    assert_eq!(
        StoreConfig::from_lookup(by_file).unwrap().key.unwrap().id(),
        "k3"
    );
    let both = lookup(vec![
        url,
        ("OAUTH_STORE_KEY", KEY.into()),
        ("OAUTH_STORE_KEY_FILE", file.display().to_string()),
    ]);
    assert!(StoreConfig::from_lookup(both).is_err());
    assert!(StoreConfig::from_lookup(lookup(vec![])).is_err());

    let toml = format!(
        "[store]\nurl = \"sqlite:/tmp/y.sqlite3\"\nkey_file = \"{}\"\n",
        file.display()
    );
    let config = StoreConfig::from_toml_str(&toml).unwrap();
    assert_eq!(config.key.unwrap().id(), "k3");
}

#[tokio::test]
async fn an_encrypted_store_opens_and_refuses_an_unknown_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("t.sqlite3").display());
    let store = StoreConfig::new(&url)
        .key(StoreConfig::parse_key(KEY).unwrap())
        .open()
        .await
        .unwrap();
    assert!(store.list(None).await.unwrap().is_empty());
    let error = StoreConfig::new("mysql://user:hunter2@db/x")
        .open()
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
