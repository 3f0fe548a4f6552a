//! Choosing and configuring a provider at run time: from code, environment variables or a TOML
//! file, into an `Arc<dyn TokenProvider>`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use oauth_core::{ClientSecret, Error, Result, TokenProvider};
use serde::Deserialize;

/// The providers this workspace speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProviderKind {
    /// Notion public integrations.
    Notion,
    /// Slack apps.
    Slack,
}

impl ProviderKind {
    /// `notion` or `slack`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Notion => "notion",
            ProviderKind::Slack => "slack",
        }
    }

    /// The prefix of this provider's environment variables (`NOTION`, `SLACK`).
    pub fn env_prefix(self) -> &'static str {
        match self {
            ProviderKind::Notion => "NOTION",
            ProviderKind::Slack => "SLACK",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "notion" => Ok(ProviderKind::Notion),
            "slack" => Ok(ProviderKind::Slack),
            other => Err(Error::configuration(format!(
                "unknown provider `{other}` (expected `notion` or `slack`)"
            ))),
        }
    }
}

/// How to reach and authenticate to one provider. `Debug` hides the client secret.
///
/// | Field | Environment variable | TOML key (in `[notion]` or `[slack]`) |
/// | --- | --- | --- |
/// | client id | `NOTION_CLIENT_ID` / `SLACK_CLIENT_ID` | `client_id` |
/// | client secret | `…_CLIENT_SECRET` (optional for a Slack PKCE app) | `client_secret` |
/// | redirect URI | `…_REDIRECT_URI` | `redirect_uri` |
/// | API base URL | `…_BASE_URL` (Notion `https://api.notion.com`, Slack `https://slack.com/api/`) | `base_url` |
/// | browser base URL (Slack) | `SLACK_AUTHORIZE_BASE_URL` (`https://slack.com/`) | `authorize_base_url` |
/// | Notion-Version | `NOTION_VERSION` | `notion_version` |
/// | allow a plain-http base URL off loopback | `…_ALLOW_INSECURE_HTTP` (`true`/`false`, `1`/`0`, `yes`/`no`; default false) | `allow_insecure_http` |
///
/// ```
/// use oauth_facade::{ProviderConfig, ProviderKind};
/// let config = ProviderConfig::from_toml_str(
///     r#"
///     [slack]
///     client_id = "2141029472.691202649728"
///     client_secret = "from-a-vault"
///     redirect_uri = "https://example.com/slack/callback"
///     "#,
///     ProviderKind::Slack,
/// )?;
/// assert!(!format!("{config:?}").contains("from-a-vault"));
/// # Ok::<(), oauth_facade::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// Which provider.
    #[serde(skip, default = "default_kind")]
    pub kind: ProviderKind,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret (absent for a Slack public PKCE app).
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// The redirect URI.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The API base URL, to point at oauth-sandbox or a proxy.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Slack's browser base URL.
    #[serde(default)]
    pub authorize_base_url: Option<String>,
    /// Notion's `Notion-Version`.
    #[serde(default)]
    pub notion_version: Option<String>,
    /// Allow a plain-http base URL that is not loopback.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

fn default_kind() -> ProviderKind {
    ProviderKind::Notion
}

impl ProviderConfig {
    /// A configuration with only a client id.
    pub fn new(kind: ProviderKind, client_id: impl Into<String>) -> Self {
        Self {
            kind,
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri: None,
            base_url: None,
            authorize_base_url: None,
            notion_version: None,
            allow_insecure_http: false,
        }
    }

    /// Sets the client secret.
    pub fn client_secret(mut self, secret: impl Into<ClientSecret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets the redirect URI.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Sets the API base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets Slack's browser base URL.
    pub fn authorize_base_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_base_url = Some(url.into());
        self
    }

    /// Reads `{NOTION,SLACK}_CLIENT_ID`, `_CLIENT_SECRET`, `_REDIRECT_URI`, `_BASE_URL`,
    /// `_ALLOW_INSECURE_HTTP`, `SLACK_AUTHORIZE_BASE_URL` and `NOTION_VERSION`. A value of
    /// `_ALLOW_INSECURE_HTTP` other than `true`/`false`, `1`/`0` or `yes`/`no` is a configuration
    /// error (rather than a silent `false`).
    pub fn from_env(kind: ProviderKind) -> Result<Self> {
        Self::from_lookup(kind, |name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), from any lookup (for tests and other sources).
    pub fn from_lookup(
        kind: ProviderKind,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let prefix = kind.env_prefix();
        let var = |suffix: &str| lookup(&format!("{prefix}_{suffix}")).filter(|v| !v.is_empty());
        let client_id = var("CLIENT_ID").ok_or_else(|| {
            Error::configuration(format!(
                "{prefix}_CLIENT_ID is not set (the {kind} app's OAuth client id)"
            ))
        })?;
        let mut config = Self::new(kind, client_id);
        config.client_secret = var("CLIENT_SECRET").map(ClientSecret::new);
        config.redirect_uri = var("REDIRECT_URI");
        config.base_url = var("BASE_URL");
        config.authorize_base_url = var("AUTHORIZE_BASE_URL");
        config.notion_version = var("VERSION");
        if let Some(value) = var("ALLOW_INSECURE_HTTP") {
            config.allow_insecure_http = match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(Error::configuration(format!(
                        "{prefix}_ALLOW_INSECURE_HTTP must be true or false (1/0, yes/no), \
                         not {value:?}"
                    )));
                }
            };
        }
        Ok(config)
    }

    /// Reads the `[notion]` or `[slack]` table of a TOML file.
    pub fn from_file(path: impl AsRef<Path>, kind: ProviderKind) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::configuration(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml_str(&text, kind)
            .map_err(|e| Error::configuration(format!("{}: {e}", path.display())))
    }

    /// Reads the `[notion]` or `[slack]` table of a TOML document.
    pub fn from_toml_str(text: &str, kind: ProviderKind) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            notion: Option<ProviderConfig>,
            slack: Option<ProviderConfig>,
        }
        // The TOML error may quote the document, which may hold a secret: report its position only.
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" at byte {}", s.start))
                .unwrap_or_default();
            Error::configuration(format!("invalid TOML configuration{at}"))
        })?;
        let table = match kind {
            ProviderKind::Notion => file.notion,
            ProviderKind::Slack => file.slack,
        };
        let mut config = table.ok_or_else(|| {
            Error::configuration(format!("the configuration has no [{kind}] table"))
        })?;
        config.kind = kind;
        Ok(config)
    }

    /// The configuration of oauth-sandbox's default app for `kind` at `base` (feature `sandbox`).
    #[cfg(feature = "sandbox")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
    pub fn sandbox(kind: ProviderKind, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        match kind {
            ProviderKind::Notion => Self::new(kind, oauth_sandbox::DEFAULT_NOTION_CLIENT_ID)
                .client_secret(oauth_sandbox::DEFAULT_NOTION_CLIENT_SECRET)
                .redirect_uri(oauth_sandbox::DEFAULT_NOTION_REDIRECT_URIS[0])
                .base_url(base),
            ProviderKind::Slack => Self::new(kind, oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
                .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
                .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
                .base_url(format!("{base}/api/"))
                .authorize_base_url(format!("{base}/")),
        }
    }

    /// Builds the provider, for code generic over providers (the token manager, the install
    /// flow). Fails with a configuration error if this build lacks the provider's feature, or the
    /// configuration is incomplete. For the concrete client (its typed calls, or settings the
    /// configuration has no key for), use [`slack_builder`](Self::slack_builder) or
    /// [`notion_builder`](Self::notion_builder).
    pub fn build(&self) -> Result<Arc<dyn TokenProvider>> {
        match self.kind {
            #[cfg(feature = "notion")]
            ProviderKind::Notion => Ok(Arc::new(self.notion_builder()?.build()?)),
            #[cfg(feature = "slack")]
            ProviderKind::Slack => Ok(Arc::new(self.slack_builder()?.build()?)),
            #[allow(unreachable_patterns)]
            kind => Err(Error::configuration(format!(
                "this build has no {kind} support: enable the `{kind}` feature of oauth-facade"
            ))),
        }
    }

    /// The Notion client's builder with this configuration applied (feature `notion`), to add
    /// what the configuration does not say (an `http_client`, a clock) and `build()` the concrete
    /// [`NotionClient`](oauth_notion::NotionClient). Fails if the configuration is Slack's or has
    /// no client secret.
    ///
    /// ```
    /// use oauth_facade::{ProviderConfig, ProviderKind};
    ///
    /// let config = ProviderConfig::new(ProviderKind::Notion, "client-id")
    ///     .client_secret("secret_from_a_vault")
    ///     .base_url("http://127.0.0.1:8080");
    /// let notion = config.notion_builder()?.build()?;
    /// assert_eq!(notion.base_url().as_str(), "http://127.0.0.1:8080/");
    /// # Ok::<(), oauth_facade::Error>(())
    /// ```
    #[cfg(feature = "notion")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notion")))]
    pub fn notion_builder(&self) -> Result<oauth_notion::NotionClientBuilder> {
        self.expect_kind(ProviderKind::Notion)?;
        let secret = self.client_secret.clone().ok_or_else(|| {
            Error::configuration(
                "NOTION_CLIENT_SECRET is not set (Notion integrations always have one)",
            )
        })?;
        let mut builder = oauth_notion::NotionClient::builder(self.client_id.clone(), secret)
            .allow_insecure_http(self.allow_insecure_http);
        if let Some(uri) = &self.redirect_uri {
            builder = builder.redirect_uri(uri.clone());
        }
        if let Some(url) = &self.base_url {
            builder = builder.base_url(url.clone());
        }
        if let Some(version) = &self.notion_version {
            builder = builder.notion_version(version.clone());
        }
        Ok(builder)
    }

    /// The Slack client's builder with this configuration applied (feature `slack`), to add what
    /// the configuration does not say (`user_only_install`, an `http_client`, a clock) and
    /// `build()` the concrete [`SlackClient`](oauth_slack::SlackClient). Fails if the
    /// configuration is Notion's.
    ///
    /// ```
    /// use oauth_facade::{ProviderConfig, ProviderKind};
    ///
    /// let config = ProviderConfig::new(ProviderKind::Slack, "1234.5678")
    ///     .base_url("http://127.0.0.1:8080/api/");
    /// let slack = config.slack_builder()?.user_only_install(true).build()?;
    /// assert_eq!(slack.base_url().as_str(), "http://127.0.0.1:8080/api/");
    /// # Ok::<(), oauth_facade::Error>(())
    /// ```
    #[cfg(feature = "slack")]
    #[cfg_attr(docsrs, doc(cfg(feature = "slack")))]
    pub fn slack_builder(&self) -> Result<oauth_slack::SlackClientBuilder> {
        self.expect_kind(ProviderKind::Slack)?;
        let mut builder = oauth_slack::SlackClient::builder(self.client_id.clone())
            .allow_insecure_http(self.allow_insecure_http);
        if let Some(secret) = &self.client_secret {
            builder = builder.client_secret(secret.clone());
        }
        if let Some(uri) = &self.redirect_uri {
            builder = builder.redirect_uri(uri.clone());
        }
        if let Some(url) = &self.base_url {
            builder = builder.base_url(url.clone());
        }
        if let Some(url) = &self.authorize_base_url {
            builder = builder.authorize_base_url(url.clone());
        }
        Ok(builder)
    }

    #[cfg(any(feature = "notion", feature = "slack"))]
    fn expect_kind(&self, wanted: ProviderKind) -> Result<()> {
        if self.kind == wanted {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "this configuration is {}'s, not {wanted}'s: load it with ProviderKind::{wanted:?}",
                self.kind
            )))
        }
    }
}

/// Where installations' tokens are kept, and the key that encrypts their secrets (features
/// `sqlite`, `postgres`). `oauthctl` takes the same URL and key.
///
/// | Setting | Environment variable | TOML key (in `[store]`) |
/// | --- | --- | --- |
/// | store URL: `sqlite:PATH` (missing directories are created, owner-only) or `postgres://…` | `OAUTH_STORE_URL` | `url` |
/// | encryption key: `[ID:]BASE64` of 32 random bytes (`head -c 32 /dev/urandom \| base64`; the id, default `k1`, is stored beside each row so keys can rotate) | `OAUTH_STORE_KEY` | — (not in a file with the rest) |
/// | a file holding the key, in the same form, readable by its owner only | `OAUTH_STORE_KEY_FILE` | `key_file` |
///
/// Without a key, the secrets are stored as they are. `Debug` never shows the key.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use oauth_facade::StoreConfig;
/// let key = "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// let config = StoreConfig::from_lookup(|name| match name {
///     "OAUTH_STORE_URL" => Some("sqlite:/var/lib/my-app/tokens.sqlite3".into()),
///     "OAUTH_STORE_KEY" => Some(key.into()),
///     _ => None,
/// })?;
/// assert_eq!(config.key.as_ref().map(|k| k.id()), Some("k2"));
/// assert!(!format!("{config:?}").contains("AAECAw"));
/// # }
/// # Ok::<(), oauth_facade::Error>(())
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `sqlite:PATH` or `postgres://…`.
    pub url: String,
    /// The encryption key, if the secrets are to be encrypted.
    pub key: Option<oauth_store::EncryptionKey>,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl StoreConfig {
    /// A store at `url`, without encryption.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key: None,
        }
    }

    /// Encrypts the secrets with `key`.
    pub fn key(mut self, key: oauth_store::EncryptionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Reads `OAUTH_STORE_URL`, and `OAUTH_STORE_KEY` or `OAUTH_STORE_KEY_FILE` (not both).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), from any lookup.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let url = var("OAUTH_STORE_URL").ok_or_else(|| {
            Error::configuration("OAUTH_STORE_URL is not set (sqlite:PATH or postgres://…)")
        })?;
        let key = match (var("OAUTH_STORE_KEY"), var("OAUTH_STORE_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(Error::configuration(
                    "both OAUTH_STORE_KEY and OAUTH_STORE_KEY_FILE are set: keep one",
                ));
            }
            (Some(key), None) => Some(Self::parse_key(&key)?),
            (None, Some(file)) => Some(Self::read_key_file(file)?),
            (None, None) => None,
        };
        Ok(Self { url, key })
    }

    /// Reads the `[store]` table of a TOML document (`url`, and `key_file`).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            store: Option<Table>,
        }
        #[derive(Deserialize)]
        struct Table {
            url: String,
            key_file: Option<std::path::PathBuf>,
        }
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" at byte {}", s.start))
                .unwrap_or_default();
            Error::configuration(format!("invalid TOML configuration{at}"))
        })?;
        let table = file
            .store
            .ok_or_else(|| Error::configuration("the configuration has no [store] table"))?;
        let key = table.key_file.map(Self::read_key_file).transpose()?;
        Ok(Self {
            url: table.url,
            key,
        })
    }

    /// A key written `[ID:]BASE64` (32 bytes once decoded; the id defaults to `k1`). The errors
    /// never quote the text.
    pub fn parse_key(text: &str) -> Result<oauth_store::EncryptionKey> {
        let text = text.trim();
        let (id, encoded) = match text.split_once(':') {
            Some((id, encoded)) if !id.is_empty() => (id, encoded),
            Some(_) => {
                return Err(Error::configuration(
                    "the encryption key has an empty id before `:` (write ID:BASE64 or BASE64)",
                ));
            }
            None => ("k1", text),
        };
        oauth_store::EncryptionKey::from_base64(id, encoded)
    }

    /// Reads a key file (`[ID:]BASE64`). On Unix the file must be readable by its owner only:
    /// a key others can read protects nothing.
    pub fn read_key_file(path: impl AsRef<Path>) -> Result<oauth_store::EncryptionKey> {
        let path = path.as_ref();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|e| {
                    Error::configuration(format!(
                        "cannot read the key file {}: {e}",
                        path.display()
                    ))
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(Error::configuration(format!(
                    "the key file {} may be read by other users (mode {:o}): chmod 600 it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::configuration(format!("cannot read the key file {}: {e}", path.display()))
        })?;
        Self::parse_key(&text).map_err(|e| match e {
            Error::Configuration(message) => {
                Error::configuration(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Whether the secrets will be encrypted.
    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    /// Opens (creating if needed) the store.
    pub async fn open(&self) -> Result<Arc<dyn oauth_core::TokenStore>> {
        let encryption = self.key.clone().map(oauth_store::Encryption::new);
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            return self.open_postgres(encryption).await;
        }
        let Some(path) = self.url.strip_prefix("sqlite:") else {
            return Err(Error::configuration(format!(
                "unknown store URL scheme in `{}`: use sqlite:PATH or postgres://…",
                store_url_shown(&self.url)
            )));
        };
        self.open_sqlite(path, encryption).await
    }

    #[cfg(feature = "sqlite")]
    async fn open_sqlite(
        &self,
        path: &str,
        encryption: Option<oauth_store::Encryption>,
    ) -> Result<Arc<dyn oauth_core::TokenStore>> {
        Ok(Arc::new(
            oauth_store::SqliteTokenStore::open_with(path, encryption).await?,
        ))
    }

    #[cfg(not(feature = "sqlite"))]
    async fn open_sqlite(
        &self,
        _path: &str,
        _encryption: Option<oauth_store::Encryption>,
    ) -> Result<Arc<dyn oauth_core::TokenStore>> {
        Err(Error::configuration(
            "this build has no SQLite store: enable the `sqlite` feature",
        ))
    }

    #[cfg(feature = "postgres")]
    async fn open_postgres(
        &self,
        encryption: Option<oauth_store::Encryption>,
    ) -> Result<Arc<dyn oauth_core::TokenStore>> {
        Ok(Arc::new(
            oauth_store::PostgresTokenStore::connect_with(&self.url, encryption).await?,
        ))
    }

    #[cfg(not(feature = "postgres"))]
    async fn open_postgres(
        &self,
        _encryption: Option<oauth_store::Encryption>,
    ) -> Result<Arc<dyn oauth_core::TokenStore>> {
        Err(Error::configuration(
            "this build has no PostgreSQL store: enable the `postgres` feature",
        ))
    }
}

/// A store URL as it may be shown: a PostgreSQL URL's password never is.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn store_url_shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_owned(),
        },
        None => url.chars().take(60).collect(),
    }
}
