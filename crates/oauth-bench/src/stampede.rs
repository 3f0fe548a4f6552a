//! A stampede: 10,000 concurrent callers on an expiring token share one refresh. Its wall time is
//! compared with one plain refresh call to the same sandbox, and with a floor that does no
//! refresh at all: 10,000 tasks woken by one shared `tokio::sync::watch` channel, so that the
//! ratio to the floor measures the manager's overhead rather than the scheduler's. All measured
//! in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, ManualClock, MemoryTokenStore,
    TokenGrant, TokenProvider,
};
use oauth_manager::TokenManager;
use oauth_notion::NotionClient;
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, Sandbox, SandboxHandle,
};

use crate::report::{Report, median};

const CALLERS: usize = 10_000;
const ROUNDS: usize = 7;

async fn install(sandbox: &SandboxHandle, notion: &NotionClient) -> Option<oauth_core::TokenSet> {
    let url = notion
        .authorization_url(&AuthorizationRequest::new().ok()?)
        .ok()?;
    let code = sandbox
        .control()
        .authorize(&format!("{}?{}", url.path(), url.query()?))
        .ok()?
        .code?;
    let grant = notion
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .ok()?;
    Some(grant.primary()?.tokens.clone())
}

pub(crate) async fn run(report: &mut Report) {
    let Ok(sandbox) = Sandbox::builder().start().await else {
        eprintln!("stampede benchmark skipped: the sandbox did not start");
        return;
    };
    let Ok(notion) = NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
        .base_url(sandbox.base_url())
        .redirect_uri("http://127.0.0.1/callback/notion")
        .build()
    else {
        return;
    };
    let notion = Arc::new(notion);
    let (mut plain, mut stampede, mut woken) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        // The floor: 10,000 tasks waiting on one notification, spawned, woken and joined.
        let (sender, receiver) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let handles: Vec<_> = (0..CALLERS)
            .map(|_| {
                let mut receiver = receiver.clone();
                tokio::spawn(async move { receiver.wait_for(|ready| *ready).await.is_ok() })
            })
            .collect();
        sender.send_replace(true);
        let mut ok = 0;
        for handle in handles {
            ok += usize::from(matches!(handle.await, Ok(true)));
        }
        woken.push(started.elapsed().as_secs_f64());
        if ok != CALLERS {
            eprintln!("stampede benchmark invalid: {ok} tasks woken");
            return;
        }

        // One plain refresh.
        let Some(tokens) = install(&sandbox, &notion).await else {
            return;
        };
        let Some(refresh) = tokens.refresh_token.clone() else {
            return;
        };
        let started = Instant::now();
        if notion.refresh(&refresh).await.is_err() {
            return;
        }
        plain.push(started.elapsed().as_secs_f64());

        // 10,000 callers on an expiring token.
        let Some(mut tokens) = install(&sandbox, &notion).await else {
            return;
        };
        tokens.expires_at = Some(SystemTime::now() + Duration::from_secs(60));
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let provider: Arc<dyn TokenProvider> = notion.clone();
        let Ok(manager) = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new()))
            .clock(clock.clone())
            .build()
        else {
            return;
        };
        let key = oauth_core::TokenKey::bot(oauth_core::InstallationKey::new(
            oauth_core::ProviderId::from_static("notion"),
            "stampede",
        ));
        let Ok(()) = manager.save_tokens(&key, tokens).await else {
            return;
        };
        clock.advance(Duration::from_secs(120));
        let before = sandbox
            .control()
            .counters()
            .op("notion.token.refresh_token");
        let started = Instant::now();
        let handles: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (manager, key) = (manager.clone(), key.clone());
                tokio::spawn(async move { manager.access_token(&key).await.is_ok() })
            })
            .collect();
        let mut ok = 0;
        for handle in handles {
            ok += usize::from(matches!(handle.await, Ok(true)));
        }
        stampede.push(started.elapsed().as_secs_f64());
        let grants = sandbox
            .control()
            .counters()
            .op("notion.token.refresh_token")
            - before;
        if ok != CALLERS || grants != 1 {
            eprintln!("stampede benchmark invalid: {ok} callers served, {grants} refresh grants");
            return;
        }
    }
    let (plain, stampede, woken) = (
        median(&mut plain),
        median(&mut stampede),
        median(&mut woken),
    );
    report.section(format!(
        "## Refresh stampede\n\n{CALLERS} concurrent `TokenManager::access_token` calls on an expiring Notion token \
         against oauth-sandbox (in process, loopback): every round checked that all callers were served and the \
         sandbox counted exactly one refresh grant. Baselines: one plain `NotionClient::refresh` to the same sandbox; \
         and the floor, {CALLERS} tasks spawned, woken by one shared `tokio::sync::watch` notification (no refresh \
         at all) and joined, so that the ratio to it is the manager's overhead and not the scheduler's. \
         {ROUNDS} rounds, medians.\n\n\
         | one plain refresh | {CALLERS} tasks woken by one notification | {CALLERS} callers, one shared refresh | vs the refresh | vs the floor | vs refresh + floor |\n\
         | --- | --- | --- | --- | --- | --- |\n\
         | {:.2} ms | {:.2} ms | {:.2} ms | {:.1}× | {:.1}× | {:.2}× |\n",
        plain * 1e3,
        woken * 1e3,
        stampede * 1e3,
        stampede / plain,
        stampede / woken,
        stampede / (plain + woken)
    ));
    sandbox.shutdown().await;
}
