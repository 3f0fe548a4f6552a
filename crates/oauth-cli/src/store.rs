//! The token store from the command line: which store a command uses, its encryption key (from
//! `OAUTHCTL_STORE_KEY`, a key file or the OS keyring), and `oauthctl store-key new`.

use std::path::Path;

use oauth_facade::{Error, StoreConfig};

use crate::Failure;
use crate::cli::{StoreArgs, default_store};
use crate::output::show;
use crate::run::env_var;
use crate::settings::Remembered;

/// The store a command uses and its key: flags and the environment, else what `login`
/// remembered, else SQLite in the data directory, without a key.
pub(crate) fn store_config(
    args: &StoreArgs,
    remembered: &Remembered,
) -> Result<StoreConfig, Failure> {
    let url = match args.store.clone().or_else(|| remembered.store.clone()) {
        Some(url) => url,
        None => {
            let path = default_store().ok_or_else(|| {
                Failure::Config(
                    "no data directory for the default store: pass --store sqlite:PATH".into(),
                )
            })?;
            format!("sqlite:{}", path.display())
        }
    };
    let known = url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://");
    if !known {
        let shown: String = url.chars().take(40).collect();
        return Err(Failure::Config(format!(
            "unknown store `{shown}`: use --store sqlite:PATH or --store postgres://…"
        )));
    }
    let from_env = env_var("OAUTHCTL_STORE_KEY");
    let given: Vec<&str> = [
        from_env.as_ref().map(|_| "OAUTHCTL_STORE_KEY"),
        args.store_key_file.as_ref().map(|_| "--store-key-file"),
        args.store_key_keyring.then_some("--store-key-keyring"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        return Err(Failure::Usage(format!(
            "the store key is given {} ways ({}): keep one",
            given.len(),
            given.join(", ")
        )));
    }
    // What the command line says wins over what `login` remembered.
    let (key_file, from_keyring) = if given.is_empty() {
        (
            remembered.store_key_file.clone(),
            remembered.store_key_keyring && remembered.store_key_file.is_none(),
        )
    } else {
        (args.store_key_file.clone(), args.store_key_keyring)
    };
    let key = if let Some(key) = from_env {
        Some(StoreConfig::parse_key(&key).map_err(|e| key_failure("OAUTHCTL_STORE_KEY", e))?)
    } else if let Some(file) = key_file {
        Some(StoreConfig::read_key_file(&file).map_err(|e| key_failure("--store-key-file", e))?)
    } else if from_keyring {
        let key = keyring_read()?;
        Some(
            StoreConfig::parse_key(&key)
                .map_err(|e| key_failure("the OS keyring's store key", e))?,
        )
    } else {
        None
    };
    let mut config = StoreConfig::new(url);
    if let Some(key) = key {
        config = config.key(key);
    }
    Ok(config)
}

/// A key error, said once, naming where the key came from.
fn key_failure(source: &str, error: Error) -> Failure {
    match error {
        Error::Configuration(message) => Failure::Config(format!(
            "{source}: {message} (make a key with `oauthctl store-key new`)"
        )),
        other => Failure::Lib(other),
    }
}

/// The OS keyring entry that holds the store key.
const KEYRING_SERVICE: &str = "oauthctl";
/// The account of that entry.
const KEYRING_ACCOUNT: &str = "store-key";

/// The OS keyring's entry for the store key.
fn keyring_entry() -> Result<keyring::Entry, Failure> {
    keyring::Entry::new(KEYRING_SERVICE, KEYRING_ACCOUNT).map_err(keyring_failure)
}

/// Runs a keyring call, which blocks (D-Bus on Linux, the Security framework on macOS), off the
/// runtime's worker: `block_in_place` keeps the runtime's handle, which the Secret Service client
/// (zbus on tokio) needs. oauthctl runs on the multi-threaded runtime.
fn off_the_runtime<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(call),
        Err(_) => call(),
    }
}

/// The store key kept in the OS keyring.
fn keyring_read() -> Result<String, Failure> {
    let entry = keyring_entry()?;
    off_the_runtime(|| entry.get_password()).map_err(|e| match e {
        keyring::Error::NoEntry => Failure::Config(format!(
            "the OS keyring has no store key ({KEYRING_SERVICE}/{KEYRING_ACCOUNT}): make one with \
             `oauthctl store-key new --keyring`, or pass the key another way"
        )),
        other => keyring_failure(other),
    })
}

/// A keyring error, with what to check. The keyring's own messages never hold the secret.
fn keyring_failure(error: keyring::Error) -> Failure {
    let hint = match &error {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            " (on Linux the keyring is the Secret Service: a keyring daemon such as gnome-keyring or \
             KeePassXC must run, unlocked, on the session D-Bus; without one, use \
             --store-key-file or OAUTHCTL_STORE_KEY)"
        }
        _ => "",
    };
    Failure::Config(format!("the OS keyring: {error}{hint}"))
}

/// Keeps a new store key in the OS keyring; refuses to replace one (the rows it encrypted would
/// become unreadable).
fn keyring_write(key: &str) -> Result<(), Failure> {
    let entry = keyring_entry()?;
    off_the_runtime(|| match entry.get_password() {
        Ok(_) => Err(Failure::Config(format!(
            "the OS keyring already holds a store key ({KEYRING_SERVICE}/{KEYRING_ACCOUNT}); it is \
             not replaced, since the rows it encrypted would become unreadable: rotate with a key \
             file, or delete the entry with your keyring's tool first"
        ))),
        Err(keyring::Error::NoEntry) => entry.set_password(key).map_err(keyring_failure),
        Err(other) => Err(keyring_failure(other)),
    })
}

/// `oauthctl store-key new`: a random key, printed, written to a new owner-only file, or kept in
/// the OS keyring.
pub(crate) fn new_store_key(id: &str, file: Option<&Path>, keyring: bool) -> Result<(), Failure> {
    use base64::Engine as _;
    if id.is_empty() || id.contains(':') || id.chars().any(char::is_whitespace) {
        return Err(Failure::Usage(format!(
            "the key id {id:?} must be non-empty, without `:` or spaces"
        )));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::Lib(Error::Internal(format!("no randomness for the key: {e}"))))?;
    let key = format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    if keyring {
        keyring_write(&key)?;
        eprintln!(
            "kept a new key ({id}) in the OS keyring ({KEYRING_SERVICE}/{KEYRING_ACCOUNT}); pass \
             --store-key-keyring (login remembers it)"
        );
        return Ok(());
    }
    match file {
        None => {
            // A key the user asked for, to put in OAUTHCTL_STORE_KEY or a file.
            show(false, &key, serde_json::Value::Null);
        }
        Some(path) => {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(path).map_err(|e| {
                Failure::Config(format!(
                    "cannot create the key file {}: {e}",
                    path.display()
                ))
            })?;
            out.write_all(format!("{key}\n").as_bytes()).map_err(|e| {
                Failure::Config(format!("cannot write the key file {}: {e}", path.display()))
            })?;
            eprintln!(
                "wrote a new key ({id}) to {}; pass --store-key-file {} (login remembers it)",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}
