//! The token store from the command line: which store a command uses, its encryption key, and
//! `oauthctl store-key new`.

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
    let key_file = args
        .store_key_file
        .clone()
        .or_else(|| remembered.store_key_file.clone());
    let key = match (env_var("OAUTHCTL_STORE_KEY"), key_file) {
        (Some(_), Some(file)) if args.store_key_file.is_some() => {
            return Err(Failure::Usage(format!(
                "both OAUTHCTL_STORE_KEY and --store-key-file {} are given: keep one",
                file.display()
            )));
        }
        (Some(key), _) => {
            Some(StoreConfig::parse_key(&key).map_err(|e| key_failure("OAUTHCTL_STORE_KEY", e))?)
        }
        (None, Some(file)) => Some(
            StoreConfig::read_key_file(&file).map_err(|e| key_failure("--store-key-file", e))?,
        ),
        (None, None) => None,
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

/// `oauthctl store-key new`: a random key, printed or written to a new owner-only file.
pub(crate) fn new_store_key(id: &str, file: Option<&Path>) -> Result<(), Failure> {
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
