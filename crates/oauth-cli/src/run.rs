//! The commands other than `demo` and `login`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::CommandFactory as _;
use oauth_facade::store::{PostgresTokenStore, SqliteTokenStore};
use oauth_facade::{
    ClientSecret, Error, InstallationKey, ManagerConfig, ProviderConfig, ProviderKind, Result,
    TokenManager, TokenProvider, TokenStore,
};

use crate::cli::{Cli, Command, InstallationArgs, ProviderArgs, default_store};
use crate::output::show;

pub(crate) async fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let store_spec = cli.store.clone();
    match cli.command {
        Command::Demo => crate::demo::run(json).await,
        Command::Sandbox { addr } => sandbox(addr).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "oauthctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Login {
            provider,
            scopes,
            user_scopes,
            redirect_uri,
            pkce,
            no_browser,
            timeout,
        } => {
            let store = open_store(store_spec.as_deref()).await?;
            let options = crate::login::Options {
                scopes,
                user_scopes,
                redirect_uri,
                pkce,
                open_browser: !no_browser,
                timeout: Duration::from_secs(timeout),
            };
            crate::login::run(json, provider_config(&provider)?, store, options).await
        }
        Command::Token {
            installation,
            refresh_margin,
        } => {
            let (manager, key) =
                manager(store_spec.as_deref(), &installation, refresh_margin).await?;
            // A token due for refresh is served at once and refreshed in the background: wait for
            // that refresh (and its write: the process exits next), then print the token it made.
            manager.access_token(&key).await?;
            manager.flush().await;
            let token = manager.access_token(&key).await?;
            // Printing the token is this command's purpose (`$(oauthctl token slack)`).
            show(
                json,
                token.expose_secret(),
                serde_json::json!({"installation": key.to_string(), "access_token": token.expose_secret()}),
            );
            Ok(())
        }
        Command::Introspect { installation } | Command::Test { installation }
            if installation.provider.provider == ProviderKind::Notion =>
        {
            introspect(json, store_spec.as_deref(), &installation).await
        }
        Command::Introspect { installation } => {
            introspect(json, store_spec.as_deref(), &installation).await
        }
        Command::Test { installation } => {
            auth_test(json, store_spec.as_deref(), &installation).await
        }
        Command::Revoke { installation } => {
            let (manager, key) = manager(store_spec.as_deref(), &installation, 300).await?;
            let stored = manager
                .store()
                .get(&key)
                .await?
                .ok_or_else(|| not_found(&key))?;
            manager
                .provider()
                .revoke(&stored.tokens.access_token)
                .await?;
            manager
                .store()
                .mark_needs_reauthorization(&key, stored.version, "revoked with oauthctl")
                .await?;
            show(
                json,
                &format!(
                    "revoked {key}; run `oauthctl login {}` to use it again",
                    key.provider()
                ),
                serde_json::json!({"installation": key.to_string(), "revoked": true}),
            );
            Ok(())
        }
        Command::Logout { installation } => {
            let (manager, key) = manager(store_spec.as_deref(), &installation, 300).await?;
            manager.revoke_and_delete(&key).await?;
            show(
                json,
                &format!("logged out of {key}"),
                serde_json::json!({"installation": key.to_string(), "deleted": true}),
            );
            Ok(())
        }
        Command::List { provider } => list(json, store_spec.as_deref(), provider).await,
    }
}

async fn sandbox(addr: SocketAddr) -> Result<()> {
    let sandbox = oauth_facade::sandbox::Sandbox::builder()
        .addr(addr)
        .start()
        .await
        .map_err(|e| Error::configuration(format!("cannot start the sandbox on {addr}: {e}")))?;
    #[allow(clippy::print_stdout)]
    {
        println!("listening on {}", sandbox.base_url());
        println!(
            "notion: client id {}, redirect {}",
            oauth_facade::sandbox::DEFAULT_NOTION_CLIENT_ID,
            oauth_facade::sandbox::DEFAULT_NOTION_REDIRECT_URIS[0]
        );
        println!(
            "slack:  client id {}, redirect {}",
            oauth_facade::sandbox::DEFAULT_SLACK_CLIENT_ID,
            oauth_facade::sandbox::DEFAULT_SLACK_REDIRECT_URIS[0]
        );
        println!(
            "client secrets: see the oauth-sandbox docs (they are public test values); Ctrl-C stops"
        );
    }
    let _ = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    Ok(())
}

/// The provider's configuration: the environment, overridden by flags.
pub(crate) fn provider_config(args: &ProviderArgs) -> Result<ProviderConfig> {
    let kind = args.provider;
    let mut config = match &args.client_id {
        Some(id) => {
            let mut config = ProviderConfig::new(kind, id.clone());
            config.client_secret = std::env::var(format!("{}_CLIENT_SECRET", kind.env_prefix()))
                .ok()
                .filter(|s| !s.is_empty())
                .map(ClientSecret::new);
            config.redirect_uri = std::env::var(format!("{}_REDIRECT_URI", kind.env_prefix()))
                .ok()
                .filter(|s| !s.is_empty());
            config
        }
        None => ProviderConfig::from_env(kind).map_err(|e| {
            Error::configuration(format!(
                "{e}; pass --client-id or set {}_CLIENT_ID",
                kind.env_prefix()
            ))
        })?,
    };
    if let Some(secret) = &args.client_secret {
        config.client_secret = Some(ClientSecret::new(secret.clone()));
    }
    if let Some(root) = &args.base_url {
        let root = root.trim_end_matches('/');
        match kind {
            ProviderKind::Notion => config.base_url = Some(root.to_owned()),
            _ => {
                config.base_url = Some(format!("{root}/api/"));
                config.authorize_base_url = Some(format!("{root}/"));
            }
        }
    }
    Ok(config)
}

/// Opens the store named by `spec` (`sqlite:PATH`, `postgres://…`), or the default SQLite file.
pub(crate) async fn open_store(spec: Option<&str>) -> Result<Arc<dyn TokenStore>> {
    match spec {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PostgresTokenStore::connect(url).await?))
        }
        Some(spec) => {
            let path = spec.strip_prefix("sqlite:").ok_or_else(|| {
                Error::configuration(format!(
                    "unknown store `{spec}`: use sqlite:PATH or postgres://…"
                ))
            })?;
            Ok(Arc::new(SqliteTokenStore::open(path).await?))
        }
        None => {
            let path = default_store().ok_or_else(|| {
                Error::configuration(
                    "no data directory for the default store: pass --store sqlite:PATH",
                )
            })?;
            Ok(Arc::new(SqliteTokenStore::open(path).await?))
        }
    }
}

fn not_found(key: &InstallationKey) -> Error {
    Error::InstallationNotFound {
        installation: key.to_string(),
    }
}

/// The installation the user means: the one named, or the only one of the provider.
async fn pick(
    store: &dyn TokenStore,
    provider: &dyn TokenProvider,
    wanted: Option<&str>,
) -> Result<InstallationKey> {
    let id = provider.provider_id();
    if let Some(key) = wanted {
        return Ok(InstallationKey::new(id, key));
    }
    let mut keys = store.list(Some(&id)).await?;
    match keys.len() {
        0 => Err(Error::InstallationNotFound {
            installation: format!("{id}/* (run `oauthctl login {id}` first)"),
        }),
        1 => Ok(keys.remove(0)),
        _ => Err(Error::InvalidRequest(format!(
            "several {id} installations ({}): choose one with --installation",
            keys.iter()
                .map(|k| k.key().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn manager(
    store: Option<&str>,
    args: &InstallationArgs,
    margin: u64,
) -> Result<(TokenManager, InstallationKey)> {
    let provider = provider_config(&args.provider)?.build()?;
    let store = open_store(store).await?;
    let key = pick(
        store.as_ref(),
        provider.as_ref(),
        args.installation.as_deref(),
    )
    .await?;
    let manager = TokenManager::builder(provider, store)
        .config(ManagerConfig::default().refresh_margin(Duration::from_secs(margin)))
        .build()?;
    Ok((manager, key))
}

async fn introspect(json: bool, store: Option<&str>, args: &InstallationArgs) -> Result<()> {
    let (manager, key) = manager(store, args, 300).await?;
    let stored = manager
        .store()
        .get(&key)
        .await?
        .ok_or_else(|| not_found(&key))?;
    let info = manager
        .provider()
        .introspect(&stored.tokens.access_token)
        .await?;
    let text = if info.active {
        format!(
            "{key}: active; scopes: {}",
            if info.scopes.is_empty() {
                "(not reported)".to_owned()
            } else {
                info.scopes.join(",")
            }
        )
    } else {
        format!(
            "{key}: inactive ({})",
            info.inactive_reason.as_deref().unwrap_or("no reason given")
        )
    };
    show(
        json,
        &text,
        serde_json::json!({
            "installation": key.to_string(),
            "active": info.active,
            "scopes": info.scopes,
            "inactive_reason": info.inactive_reason,
            "issued_at": info.issued_at.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
        }),
    );
    Ok(())
}

async fn auth_test(json: bool, store: Option<&str>, args: &InstallationArgs) -> Result<()> {
    let config = provider_config(&args.provider)?;
    let store = open_store(store).await?;
    let provider = config.build()?;
    let key = pick(
        store.as_ref(),
        provider.as_ref(),
        args.installation.as_deref(),
    )
    .await?;
    let stored = store.get(&key).await?.ok_or_else(|| not_found(&key))?;
    let mut slack = oauth_slack::SlackClient::builder(config.client_id.clone());
    if let Some(url) = &config.base_url {
        slack = slack.api_base_url(url.clone());
    }
    let response = slack
        .build()?
        .auth_test(&stored.tokens.access_token)
        .await?;
    let text = format!(
        "{key}: ok; team {} ({}), user {} ({}){}",
        response.team.as_deref().unwrap_or("?"),
        response.team_id.as_deref().unwrap_or("?"),
        response.user.as_deref().unwrap_or("?"),
        response.user_id.as_deref().unwrap_or("?"),
        response
            .scopes
            .as_ref()
            .map(|s| format!("; scopes {}", s.join(",")))
            .unwrap_or_default()
    );
    show(
        json,
        &text,
        serde_json::json!({
            "installation": key.to_string(),
            "ok": true,
            "team": response.team, "team_id": response.team_id,
            "user": response.user, "user_id": response.user_id,
            "bot_id": response.bot_id,
            "scopes": response.scopes,
        }),
    );
    Ok(())
}

async fn list(json: bool, store: Option<&str>, provider: Option<ProviderKind>) -> Result<()> {
    let store = open_store(store).await?;
    let id = provider.map(|p| oauth_facade::ProviderId::from_static(p.as_str()));
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for key in store.list(id.as_ref()).await? {
        let Some(stored) = store.get(&key).await? else {
            continue;
        };
        let expires = stored
            .tokens
            .expires_at
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let status = match &stored.needs_reauthorization {
            Some(reason) => format!("needs re-authorization ({reason})"),
            None if stored.tokens.is_expired(SystemTime::now())
                && stored.tokens.refresh_token.is_none() =>
            {
                "expired".to_owned()
            }
            None => "ok".to_owned(),
        };
        lines.push(format!(
            "{key}\t{}\t{status}",
            stored
                .tokens
                .grantee
                .workspace_name
                .as_deref()
                .or(stored.tokens.grantee.workspace_id.as_deref())
                .unwrap_or("-")
        ));
        rows.push(serde_json::json!({
            "installation": key.to_string(),
            "provider": key.provider().as_str(),
            "key": key.key(),
            "workspace_id": stored.tokens.grantee.workspace_id,
            "workspace_name": stored.tokens.grantee.workspace_name,
            "expires_at": expires,
            "needs_reauthorization": stored.needs_reauthorization,
            "status": status,
        }));
    }
    let text = if lines.is_empty() {
        "no installations".to_owned()
    } else {
        lines.join("\n")
    };
    show(json, &text, serde_json::Value::Array(rows));
    Ok(())
}
