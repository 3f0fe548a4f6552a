//! The commands other than `demo` and `login`, and what every command resolves first: the
//! provider's configuration and the store, from flags, the environment and what `login`
//! remembered, in that order.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use clap::CommandFactory as _;
use oauth_facade::{
    Error, ErrorKind, EventHook, ManagerConfig, ProviderConfig, ProviderKind, StoreConfig,
    TokenEvent, TokenKey, TokenManager, TokenProvider,
};

use crate::Failure;
use crate::cli::{Cli, Command, InstallationArgs, Provider, ProviderArgs, StoreKeyCommand};
use crate::installations::pick;
use crate::output::{show, warning};
use crate::settings::{Remembered, Settings};
use crate::store::{new_store_key, store_config};

pub(crate) async fn run(cli: Cli) -> Result<(), Failure> {
    let settings = Settings::load()?;
    match cli.command {
        Command::Demo { output } => Ok(crate::demo::run(output.json).await?),
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
        Command::StoreKey {
            command: StoreKeyCommand::New { id, file, keyring },
        } => new_store_key(&id, file.as_deref(), keyring),
        Command::Login {
            provider,
            scopes,
            user_scopes,
            redirect_uri,
            pkce,
            no_browser,
            timeout,
            output,
        } => {
            let resolved = Resolved::new(&provider, &settings)?;
            let store = resolved.store.open().await?;
            if !resolved.store.encrypts() {
                warning(
                    output.json,
                    &format!(
                        "tokens are stored unencrypted in {}: set OAUTHCTL_STORE_KEY or \
                         --store-key-file (make a key with `oauthctl store-key new`) to encrypt them",
                        resolved.store.url
                    ),
                );
            }
            let options = crate::login::Options {
                scopes,
                user_scopes,
                redirect_uri,
                pkce,
                open_browser: !no_browser,
                timeout: Duration::from_secs(timeout),
            };
            let remembered = resolved.to_remember.clone();
            let kind = provider.provider;
            crate::login::run(output.json, resolved.provider, store, options).await?;
            let path = settings.remember(kind, remembered)?;
            if !output.json {
                eprintln!(
                    "(settings for {} remembered in {})",
                    kind.kind(),
                    path.display()
                );
            }
            Ok(())
        }
        Command::Token {
            installation,
            refresh_margin,
        } => {
            let json = installation.output.json;
            let (manager, key) = manager(&installation, &settings, refresh_margin).await?;
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
        Command::Test { installation } if installation.provider.provider == Provider::Slack => {
            auth_test(&installation, &settings).await
        }
        Command::Introspect { installation } | Command::Test { installation } => {
            introspect(&installation, &settings).await
        }
        Command::Revoke { installation } => {
            let json = installation.output.json;
            let (manager, key) = manager(&installation, &settings, 300).await?;
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
            let json = installation.output.json;
            let (manager, key) = manager(&installation, &settings, 300).await?;
            manager.revoke_and_delete(&key).await?;
            show(
                json,
                &format!("logged out of {key}"),
                serde_json::json!({"installation": key.to_string(), "deleted": true}),
            );
            Ok(())
        }
        Command::List {
            provider,
            store,
            output,
        } => crate::installations::list(output.json, provider, &store, &settings).await,
    }
}

/// A command's provider and store, resolved from flags, the environment and the settings file,
/// and what `login` is to remember of them.
struct Resolved {
    provider: ProviderConfig,
    store: StoreConfig,
    to_remember: Remembered,
}

impl Resolved {
    fn new(args: &ProviderArgs, settings: &Settings) -> Result<Self, Failure> {
        let remembered = settings.get(args.provider);
        let kind = args.provider.kind();
        let prefix = kind.env_prefix();
        let env = |suffix: &str| env_var(&format!("{prefix}_{suffix}"));
        let client_id = args
            .client_id
            .clone()
            .or_else(|| env("CLIENT_ID"))
            .or_else(|| remembered.client_id.clone())
            .ok_or_else(|| {
                Failure::Config(format!(
                    "{prefix}_CLIENT_ID is not set: set it to the {kind} app's OAuth client id, \
                     or pass --client-id"
                ))
            })?;
        let base = args
            .base_url
            .clone()
            .or_else(|| env("BASE_URL"))
            .or_else(|| remembered.base_url.clone());
        let urls = base.as_deref().map(|base| provider_urls(kind, base));
        let secret = args.client_secret.clone().or_else(|| env("CLIENT_SECRET"));
        let provider = ProviderConfig::from_lookup(kind, |name| {
            let suffix = name.strip_prefix(prefix)?.strip_prefix('_')?;
            match suffix {
                "CLIENT_ID" => Some(client_id.clone()),
                "CLIENT_SECRET" => secret.clone(),
                "BASE_URL" => urls.as_ref().map(|(api, _)| api.clone()),
                "AUTHORIZE_BASE_URL" => env(suffix).or_else(|| urls.as_ref()?.1.clone()),
                _ => env(suffix),
            }
        })?;
        let store = store_config(&args.store, &remembered)?;
        let to_remember = Remembered {
            client_id: Some(client_id),
            base_url: base,
            store: args.store.store.clone().or(remembered.store),
            store_key_file: args
                .store
                .store_key_file
                .clone()
                .or(remembered.store_key_file),
            store_key_keyring: args.store.store_key_keyring || remembered.store_key_keyring,
        };
        Ok(Self {
            provider,
            store,
            to_remember,
        })
    }
}

/// An environment variable, if set and not empty.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The API base and (Slack) the browser base for a provider URL given by the user: Slack's root
/// (`https://slack.com`) or API base (`https://slack.com/api/`) alike; Notion's root, with or
/// without `/v1`.
pub(crate) fn provider_urls(kind: ProviderKind, given: &str) -> (String, Option<String>) {
    let trimmed = given.trim().trim_end_matches('/');
    match kind {
        ProviderKind::Slack => {
            let root = trimmed.strip_suffix("/api").unwrap_or(trimmed);
            (format!("{root}/api/"), Some(format!("{root}/")))
        }
        _ => (
            trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_owned(),
            None,
        ),
    }
}

async fn sandbox(addr: SocketAddr) -> Result<(), Failure> {
    use oauth_facade::sandbox::{
        DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_NOTION_REDIRECT_URIS,
        DEFAULT_SLACK_CLIENT_ID, DEFAULT_SLACK_CLIENT_SECRET, DEFAULT_SLACK_REDIRECT_URIS,
    };
    let sandbox = oauth_facade::sandbox::Sandbox::builder()
        .addr(addr)
        .start()
        .await
        .map_err(|e| Failure::Config(format!("cannot start the sandbox on {addr}: {e}")))?;
    let base = sandbox.base_url().to_owned();
    // The sandbox's default apps are public test values: print what a user passes to use them.
    #[allow(clippy::print_stdout)]
    {
        use std::io::Write as _;
        println!("listening on {base}");
        println!(
            "notion: NOTION_CLIENT_ID={DEFAULT_NOTION_CLIENT_ID} NOTION_CLIENT_SECRET={DEFAULT_NOTION_CLIENT_SECRET} (redirect {})",
            DEFAULT_NOTION_REDIRECT_URIS[0]
        );
        println!(
            "slack:  SLACK_CLIENT_ID={DEFAULT_SLACK_CLIENT_ID} SLACK_CLIENT_SECRET={DEFAULT_SLACK_CLIENT_SECRET} (redirect {})",
            DEFAULT_SLACK_REDIRECT_URIS[0]
        );
        println!("then: oauthctl login slack --base-url {base} (Ctrl-C stops the sandbox)");
        let _ = std::io::stdout().flush();
    }
    let _ = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    Ok(())
}

fn not_found(key: &TokenKey) -> Error {
    Error::InstallationNotFound {
        installation: key.to_string(),
    }
}

async fn manager(
    args: &InstallationArgs,
    settings: &Settings,
    margin: u64,
) -> Result<(TokenManager, TokenKey), Failure> {
    let resolved = Resolved::new(&args.provider, settings)?;
    let provider = resolved.provider.build()?;
    let store = resolved.store.open().await?;
    let key = pick(store.as_ref(), &provider.provider_id(), args).await?;
    let json = args.output.json;
    let manager = TokenManager::builder(provider, store)
        .config(ManagerConfig::default().refresh_margin(Duration::from_secs(margin)))
        .on_event(EventHook::new(move |event| {
            if let TokenEvent::RefreshFailed {
                key,
                kind,
                served_old_token: true,
            } = event
            {
                warning(
                    json,
                    &format!(
                        "the refresh of {key} failed ({kind:?}); its current token, still valid, \
                         is used instead (run with -v for details)"
                    ),
                );
            }
        }))
        .build()?;
    Ok((manager, key))
}

async fn introspect(args: &InstallationArgs, settings: &Settings) -> Result<(), Failure> {
    let (manager, key) = manager(args, settings, 300).await?;
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
        args.output.json,
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

/// `oauthctl test slack`: `auth.test` with the token set's token, through the manager (refreshed
/// first if due). A token Slack refuses although it is not due (`token_expired` after a clock
/// skew, a rotation elsewhere) is reported to the manager, refreshed, and tried once more.
async fn auth_test(args: &InstallationArgs, settings: &Settings) -> Result<(), Failure> {
    let resolved = Resolved::new(&args.provider, settings)?;
    let (manager, key) = manager(args, settings, 300).await?;
    let mut slack = oauth_facade::slack::SlackClient::builder(resolved.provider.client_id.clone());
    if let Some(url) = &resolved.provider.base_url {
        slack = slack.base_url(url.clone());
    }
    let slack = slack.build()?;
    let token = manager.access_token(&key).await?;
    let response = match slack.auth_test(&token).await {
        Err(error) if error.kind() == ErrorKind::TokenRejected => {
            manager.report_rejected_token(&key, &token);
            let token = manager.access_token(&key).await?;
            slack.auth_test(&token).await?
        }
        other => other?,
    };
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
        args.output.json,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_root_and_api_base_mean_the_same() {
        for given in [
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/",
            "http://127.0.0.1:8787/api",
            "http://127.0.0.1:8787/api/",
        ] {
            assert_eq!(
                provider_urls(ProviderKind::Slack, given),
                (
                    "http://127.0.0.1:8787/api/".to_owned(),
                    Some("http://127.0.0.1:8787/".to_owned())
                ),
                "{given}"
            );
        }
        for given in ["https://api.notion.com", "https://api.notion.com/v1/"] {
            assert_eq!(
                provider_urls(ProviderKind::Notion, given),
                ("https://api.notion.com".to_owned(), None),
                "{given}"
            );
        }
    }
}
