//! Which installation and token set a command means (`--installation`, Slack's `--team`,
//! `--enterprise` and `--user`, or the only one), and `oauthctl list`.

use std::time::SystemTime;

use oauth_facade::slack::SlackContext;
use oauth_facade::store::StoredTokenSet;
use oauth_facade::{
    Error, InstallationKey, Principal, ProviderId, StoreConfig, TokenKey, TokenStore,
};

use crate::Failure;
use crate::cli::{InstallationArgs, Provider, StoreArgs};
use crate::output::{redacted, show};
use crate::settings::{Remembered, Settings};
use crate::store::store_config;

/// The installations to try for `args`, in order.
async fn candidates(
    store: &dyn TokenStore,
    id: &ProviderId,
    args: &InstallationArgs,
) -> Result<Vec<InstallationKey>, Failure> {
    if let Some(text) = &args.installation {
        let text = text
            .strip_prefix(&format!("{id}/"))
            .unwrap_or(text)
            .split('#')
            .next()
            .unwrap_or_default();
        if text.is_empty() {
            return Err(Failure::Usage(
                "--installation needs a key, e.g. `T0123`, `E0123/T0123` or `E0123/*` (see `oauthctl list`)"
                    .into(),
            ));
        }
        return Ok(vec![InstallationKey::new(id.clone(), text)]);
    }
    if args.team.is_some() || args.enterprise.is_some() {
        if args.provider.provider != Provider::Slack {
            return Err(Failure::Usage(
                "--team and --enterprise name Slack workspaces and organisations".into(),
            ));
        }
        let context = SlackContext::new(
            args.enterprise.as_deref(),
            args.team.as_deref(),
            args.user.as_deref(),
            false,
        );
        return Ok(context.installations());
    }
    // Read until a second installation shows (or the store ends): none, one, or several.
    let mut installations: Vec<InstallationKey> = Vec::new();
    let mut after: Option<TokenKey> = None;
    loop {
        let page = store.list_page(Some(id), after.as_ref(), LIST_PAGE).await?;
        installations.extend(page.keys.into_iter().map(|key| key.installation().clone()));
        installations.dedup();
        match page.next {
            Some(next) if installations.len() < 2 => after = Some(next),
            _ => break,
        }
    }
    match installations.len() {
        0 => Err(Failure::Lib(Error::InstallationNotFound {
            installation: format!("{id}/* (run `oauthctl login {id}` first)"),
        })),
        1 => Ok(installations),
        _ => Err(Failure::Usage(format!(
            "several {id} installations ({}): choose one with --installation{}",
            installations
                .iter()
                .map(|k| k.key().to_owned())
                .collect::<Vec<_>>()
                .join(", "),
            if id.as_str() == "slack" {
                ", or --team (and --enterprise)"
            } else {
                ""
            }
        ))),
    }
}

/// The token set the user means: of the installation named (or found from `--team` and
/// `--enterprise` by the Slack lookup rules, or the only one), the bot's, or `--user`'s (also
/// `--installation KEY#user:U…`). An installation without a bot token set and with one user's
/// serves that user's.
pub(crate) async fn pick(
    store: &dyn TokenStore,
    id: &ProviderId,
    args: &InstallationArgs,
) -> Result<TokenKey, Failure> {
    let from_key = args
        .installation
        .as_deref()
        .and_then(|text| text.split_once('#'))
        .map(|(_, principal)| principal.parse::<Principal>())
        .transpose()
        .map_err(|e| Failure::Usage(format!("--installation: {e}")))?;
    let principal = match (&args.user, from_key) {
        (Some(user), _) => Principal::User(user.clone()),
        (None, Some(principal)) => principal,
        (None, None) => Principal::Bot,
    };
    let installations = candidates(store, id, args).await?;
    for installation in &installations {
        let keys = store.token_keys(installation).await?;
        let wanted = TokenKey::new(installation.clone(), principal.clone());
        if keys.contains(&wanted) {
            return Ok(wanted);
        }
        // A user-only install: its one user token, unless a principal was asked for.
        if principal == Principal::Bot && args.user.is_none() && keys.len() == 1 {
            return Ok(keys[0].clone());
        }
    }
    Err(Failure::Lib(Error::InstallationNotFound {
        installation: installations
            .iter()
            .map(|i| TokenKey::new(i.clone(), principal.clone()).to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }))
}

/// `oauthctl list`: every installation of the stores the command resolves to (the remembered
/// ones, or `--store`), with its token sets.
pub(crate) async fn list(
    json: bool,
    provider: Option<Provider>,
    args: &StoreArgs,
    settings: &Settings,
) -> Result<(), Failure> {
    let mut stores: Vec<StoreConfig> = Vec::new();
    match provider {
        Some(provider) => stores.push(store_config(args, &settings.get(provider))?),
        None if args.store.is_some() => stores.push(store_config(args, &Remembered::default())?),
        None => {
            for remembered in settings.all() {
                let config = store_config(args, remembered)?;
                if !stores.iter().any(|known| known.url == config.url) {
                    stores.push(config);
                }
            }
            if stores.is_empty() {
                stores.push(store_config(args, &Remembered::default())?);
            }
        }
    }
    let id = provider.map(|p| ProviderId::from_static(p.kind().as_str()));
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for config in &stores {
        let store = config.open().await?;
        list_store(store.as_ref(), id.as_ref(), &mut rows, &mut lines).await?;
    }
    let text = if lines.is_empty() {
        "no installations".to_owned()
    } else {
        lines.join("\n")
    };
    show(json, &text, serde_json::Value::Array(rows));
    Ok(())
}

fn unix_secs(time: Option<SystemTime>) -> Option<u64> {
    time.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// A token set's state, in words.
fn status(stored: &StoredTokenSet) -> String {
    match &stored.needs_reauthorization {
        Some(reason) => format!("needs re-authorization ({reason})"),
        None if stored.tokens.is_expired(SystemTime::now())
            && stored.tokens.refresh_token.is_none() =>
        {
            "expired".to_owned()
        }
        None => "ok".to_owned(),
    }
}

/// When a token set expires, in words.
fn expiry(stored: &StoredTokenSet) -> String {
    match stored.tokens.expires_at {
        None => "no expiry".to_owned(),
        Some(at) => match at.duration_since(SystemTime::now()) {
            Ok(left) => {
                let minutes = left.as_secs() / 60;
                format!("expires in {}h{:02}m", minutes / 60, minutes % 60)
            }
            Err(_) => "expired".to_owned(),
        },
    }
}

/// How many token keys `oauthctl list` reads from a store at a time.
const LIST_PAGE: usize = 500;

/// Lists a store's installations page by page ([`TokenStore::list_page`]): an installation's
/// token sets are adjacent in key order, so each is shown once its last key has been read.
async fn list_store(
    store: &dyn TokenStore,
    id: Option<&ProviderId>,
    rows: &mut Vec<serde_json::Value>,
    lines: &mut Vec<String>,
) -> Result<(), Failure> {
    let mut current: Option<(InstallationKey, Vec<TokenKey>)> = None;
    let mut after: Option<TokenKey> = None;
    loop {
        let page = store.list_page(id, after.as_ref(), LIST_PAGE).await?;
        for key in page.keys {
            if let Some((_, keys)) = current
                .as_mut()
                .filter(|(installation, _)| installation == key.installation())
            {
                keys.push(key);
                continue;
            }
            if let Some((installation, keys)) =
                current.replace((key.installation().clone(), vec![key]))
            {
                show_installation(store, installation, keys, rows, lines).await?;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if let Some((installation, keys)) = current {
        show_installation(store, installation, keys, rows, lines).await?;
    }
    Ok(())
}

/// One installation's lines and JSON row.
async fn show_installation(
    store: &dyn TokenStore,
    installation: InstallationKey,
    keys: Vec<TokenKey>,
    rows: &mut Vec<serde_json::Value>,
    lines: &mut Vec<String>,
) -> Result<(), Failure> {
    let record = store.installation(&installation).await?;
    let mut token_sets = Vec::new();
    let mut workspace = None;
    let mut token_lines = Vec::new();
    for key in keys {
        let Some(stored) = store.get(&key).await? else {
            continue;
        };
        let grantee = &stored.tokens.grantee;
        workspace = workspace.or_else(|| {
            grantee
                .workspace_name
                .clone()
                .or_else(|| grantee.workspace_id.clone())
        });
        let status = status(&stored);
        token_lines.push(format!(
            "  {}\t{}\t{}\t{status}",
            key.principal(),
            redacted(&stored.tokens.access_token),
            expiry(&stored)
        ));
        token_sets.push(serde_json::json!({
            "key": key.to_string(),
            "principal": key.principal().to_string(),
            "access_token": redacted(&stored.tokens.access_token),
            "expires_at": unix_secs(stored.tokens.expires_at),
            "needs_reauthorization": stored.needs_reauthorization,
            "status": status,
        }));
    }
    let installed_at = record.as_ref().map(|r| r.installed_at);
    lines.push(format!(
        "{installation}\t{}",
        workspace.as_deref().unwrap_or("-")
    ));
    lines.extend(token_lines);
    rows.push(serde_json::json!({
        "installation": installation.to_string(),
        "provider": installation.provider().as_str(),
        "key": installation.key(),
        "enterprise_id": record.as_ref().and_then(|r| r.enterprise_id.clone()),
        "workspace": workspace,
        "installed_at": unix_secs(installed_at),
        "token_sets": token_sets,
    }));
    Ok(())
}
