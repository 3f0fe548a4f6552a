//! What `login` remembers per provider (client id, base URL, store, key file or keyring), in a TOML file
//! under the XDG config directory (`$XDG_CONFIG_HOME/oauthctl/config.toml`, or `OAUTHCTL_CONFIG`),
//! for later commands. Secrets are never written there.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::cli::Provider;

/// One provider's remembered settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Remembered {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) store: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) store_key_file: Option<PathBuf>,
    /// The store key is in the OS keyring (the key itself is never written here).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) store_key_keyring: bool,
}

/// The whole file: a table per provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Settings {
    #[serde(flatten)]
    providers: BTreeMap<String, Remembered>,
}

/// The settings file: `OAUTHCTL_CONFIG`, else `oauthctl/config.toml` in the config directory.
pub(crate) fn path() -> Option<PathBuf> {
    match std::env::var_os("OAUTHCTL_CONFIG").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => dirs::config_dir().map(|d| d.join("oauthctl").join("config.toml")),
    }
}

impl Settings {
    /// Reads the settings file; a missing one is empty.
    pub(crate) fn load() -> Result<Self, Failure> {
        let Some(path) = path() else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Failure::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        toml::from_str(&text).map_err(|e| {
            Failure::Config(format!(
                "{} is not a valid oauthctl settings file ({}): fix or delete it",
                path.display(),
                e.message()
            ))
        })
    }

    pub(crate) fn get(&self, provider: Provider) -> Remembered {
        self.providers
            .get(provider.kind().as_str())
            .cloned()
            .unwrap_or_default()
    }

    /// Every provider's remembered settings.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Remembered> {
        self.providers.values()
    }

    /// Remembers `remembered` for `provider` and writes the file (owner-only, replaced at once).
    pub(crate) fn remember(
        mut self,
        provider: Provider,
        remembered: Remembered,
    ) -> Result<PathBuf, Failure> {
        let path = path().ok_or_else(|| {
            Failure::Config(
                "no config directory to remember the settings in: set OAUTHCTL_CONFIG".into(),
            )
        })?;
        self.providers
            .insert(provider.kind().as_str().to_owned(), remembered);
        let text = toml::to_string(&self)
            .map_err(|e| Failure::Config(format!("cannot write the settings: {e}")))?;
        write_private(&path, text.as_bytes())
            .map_err(|e| Failure::Config(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` through a temporary file in its directory, mode 0600 (directories
/// created 0700), so that a reader never sees half a file.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    // tempfile creates its files with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
