//! `oauthctl demo`: both providers through the whole lifecycle against an embedded sandbox, each
//! step printed with tokens redacted. Needs nothing installed and no network.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_facade::install::InstallFlow;
use oauth_facade::sandbox::{Sandbox, SandboxHandle};
use oauth_facade::slack::SlackClient;
use oauth_facade::store::SqliteTokenStore;
use oauth_facade::{
    Clock, Error, ManualClock, ProviderConfig, ProviderKind, Result, Scopes, TokenManager,
    TokenProvider, TokenStore,
};

use crate::output::{redacted, redacted_refresh};

struct Steps {
    json: bool,
    provider: ProviderKind,
    n: usize,
    log: Vec<serde_json::Value>,
}

impl Steps {
    fn step(&mut self, name: &str, text: String) {
        self.n += 1;
        if !self.json {
            println!("  {:>2}. {name:<11} {text}", self.n);
        }
        self.log.push(serde_json::json!({"provider": self.provider.as_str(), "step": self.n, "name": name, "detail": text}));
    }
}

fn check(ok: bool, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(format!("demo: {what}")))
    }
}

fn refresh_grants(sandbox: &SandboxHandle, kind: ProviderKind) -> u64 {
    let op = match kind {
        ProviderKind::Notion => "notion.token.refresh_token",
        _ => "slack.oauth.v2.access.refresh_token",
    };
    sandbox.control().counters().op(op)
}

pub(crate) async fn run(json: bool) -> Result<()> {
    let sandbox = Sandbox::builder()
        .start()
        .await
        .map_err(|e| Error::Internal(format!("cannot start the embedded sandbox: {e}")))?;
    let dir =
        tempfile::tempdir().map_err(|e| Error::Internal(format!("no temporary directory: {e}")))?;
    let store: Arc<dyn TokenStore> =
        Arc::new(SqliteTokenStore::open(dir.path().join("demo.sqlite3")).await?);
    if !json {
        println!(
            "oauthctl demo: an embedded oauth-sandbox at {} (offline), a SQLite store in {}",
            sandbox.base_url(),
            dir.path().display()
        );
    }
    let mut log = Vec::new();
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let mut steps = Steps {
            json,
            provider: kind,
            n: 0,
            log: Vec::new(),
        };
        if !json {
            println!("\n== {kind} ==");
        }
        lifecycle(&sandbox, store.clone(), kind, &mut steps).await?;
        log.extend(steps.log);
    }
    if json {
        println!("{}", serde_json::Value::Array(log));
    } else {
        println!("\ndemo finished: both providers went through the whole lifecycle");
    }
    sandbox.shutdown().await;
    Ok(())
}

async fn lifecycle(
    sandbox: &SandboxHandle,
    store: Arc<dyn TokenStore>,
    kind: ProviderKind,
    s: &mut Steps,
) -> Result<()> {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let app = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?
    );
    let callback = format!("/callback/{kind}");
    let redirect = format!("{app}{callback}");
    let mut config = ProviderConfig::sandbox(kind, sandbox.base_url());
    config.redirect_uri = Some(redirect.clone());
    let provider: Arc<dyn TokenProvider> = match kind {
        ProviderKind::Slack => {
            // The Slack client stamps tokens with the demo's clock, so that moving it moves expiry.
            let mut builder = SlackClient::builder(config.client_id.clone())
                .redirect_uri(redirect.clone())
                .clock(clock.clone());
            if let Some(secret) = config.client_secret.clone() {
                builder = builder.client_secret(secret);
            }
            if let Some(url) = config.base_url.clone() {
                builder = builder.base_url(url);
            }
            if let Some(url) = config.authorize_base_url.clone() {
                builder = builder.authorize_base_url(url);
            }
            Arc::new(builder.build()?)
        }
        _ => config.build()?,
    };
    let manager = TokenManager::builder(provider.clone(), store.clone())
        .clock(clock.clone())
        .build()?;
    let mut flow = InstallFlow::builder(manager.clone(), redirect.clone());
    if kind == ProviderKind::Slack {
        // Bot scopes and a user scope: the install grants a bot and a user token set.
        flow = flow
            .scopes(Scopes::parse("chat:write,commands"))
            .param("user_scope", "search:read");
    }
    let router = flow.build()?.router("/install", &callback);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // 1–2. authorize (a browser following redirects) and the callback.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .cookie_store(true)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let page = browser
        .get(format!("{app}/install"))
        .send()
        .await
        .map_err(|e| Error::Internal(format!("demo browser: {e}")))?;
    let authorize_path = match kind {
        ProviderKind::Notion => "/v1/oauth/authorize",
        _ => "/oauth/v2/authorize",
    };
    s.step(
        "authorize",
        format!(
            "GET {app}/install → 302 {}{authorize_path} → consent → 302 {redirect}?code=…&state=…",
            sandbox.base_url()
        ),
    );
    check(
        page.status().is_success(),
        "the install flow did not succeed",
    )?;
    let keys = manager.list().await?;
    check(!keys.is_empty(), "nothing was saved")?;
    s.step(
        "callback",
        "state verified (single use, constant-time), code exchanged".into(),
    );
    let mut saved = Vec::with_capacity(keys.len());
    for key in &keys {
        let stored = store
            .get(key)
            .await?
            .ok_or_else(|| Error::Internal("demo: nothing was saved".into()))?;
        let expiry = stored
            .tokens
            .remaining(clock.now())
            .map_or("no expiry (Notion sends none)".to_owned(), |d| {
                format!("expires in {}h", d.as_secs() / 3600)
            });
        s.step(
            "exchange",
            format!(
                "{}: access token {}, refresh token {}, {expiry}",
                key.principal(),
                redacted(&stored.tokens.access_token),
                stored
                    .tokens
                    .refresh_token
                    .as_ref()
                    .map_or("none".into(), redacted_refresh)
            ),
        );
        s.step(
            "store",
            format!("saved as {key} (version {}) in SQLite", stored.version),
        );
        saved.push(stored);
    }
    if kind == ProviderKind::Slack {
        check(
            keys.len() == 2,
            "the install did not save the bot's and the user's token sets",
        )?;
    }

    // 3. the cached tokens.
    for (key, stored) in keys.iter().zip(&saved) {
        let first = manager.access_token(key).await?;
        check(
            first == stored.tokens.access_token && refresh_grants(sandbox, kind) == 0,
            "the cached token was not served",
        )?;
        s.step(
            "token",
            format!(
                "{}: {} from the cache; refresh grants so far: 0",
                key.principal(),
                redacted(&first)
            ),
        );
    }

    // 4–5. expiry and refresh with rotation, of every token set on its own.
    if kind == ProviderKind::Slack {
        let ahead = Duration::from_secs(43_200 - 120);
        sandbox.control().advance_clock(ahead);
        clock.advance(ahead);
        s.step(
            "expiry",
            "clocks moved 11h58m ahead: both tokens expire within the 5-minute refresh margin"
                .into(),
        );
    } else {
        s.step(
            "expiry",
            "Notion tokens carry no expiry: the demo forces a refresh to show the rotation".into(),
        );
    }
    let mut rotated_tokens = Vec::with_capacity(keys.len());
    for (n, (key, stored)) in keys.iter().zip(&saved).enumerate() {
        let rotated = match kind {
            ProviderKind::Slack => {
                // Served at once while it is refreshed in the background; then the new one.
                manager.access_token(key).await?;
                manager.flush().await;
                manager.access_token(key).await?
            }
            _ => manager.force_refresh(key).await?.access_token,
        };
        let after = store
            .get(key)
            .await?
            .ok_or_else(|| Error::Internal("demo: the installation vanished".into()))?;
        check(
            rotated != stored.tokens.access_token,
            "the token did not change",
        )?;
        check(
            after.tokens.refresh_token != stored.tokens.refresh_token,
            "the refresh token did not rotate",
        )?;
        let grants = refresh_grants(sandbox, kind);
        check(
            grants == n as u64 + 1,
            "not exactly one refresh grant per token set",
        )?;
        s.step(
            "refresh",
            format!(
                "{}: rotated: access token {}, refresh token {}; written (version {}) before use; refresh grants: {grants}",
                key.principal(),
                redacted(&rotated),
                after.tokens.refresh_token.as_ref().map_or("none".into(), redacted_refresh),
                after.version
            ),
        );
        rotated_tokens.push(rotated);
    }
    let rotated = rotated_tokens
        .first()
        .cloned()
        .ok_or_else(|| Error::Internal("demo: nothing was refreshed".into()))?;

    // 6–8. introspect, revoke, introspect again.
    let info = provider.introspect(&rotated).await?;
    check(info.active, "the new token is not active")?;
    let scopes = if info.scopes.is_empty() {
        "scopes not reported".to_owned()
    } else {
        format!("scopes {}", info.scopes.join(","))
    };
    s.step("introspect", format!("active; {scopes}"));
    provider.revoke(&rotated).await?;
    s.step("revoke", "revoked at the provider".into());
    let info = provider.introspect(&rotated).await?;
    check(!info.active, "the revoked token is still active")?;
    s.step(
        "introspect",
        format!(
            "inactive ({})",
            info.inactive_reason.as_deref().unwrap_or("no reason given")
        ),
    );
    server.abort();
    Ok(())
}
