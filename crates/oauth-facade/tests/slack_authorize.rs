//! `slack::authorize` against oauth-sandbox: an org-wide install serves requests from every
//! workspace of its org, a workspace install of an org serves its own, and the acting user's own
//! token is found and no one else's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use oauth_facade::sandbox::{Consent, Sandbox, SandboxHandle};
use oauth_facade::slack::{AuthTeamsListRequest, SlackClient, SlackContext, authorize};
use oauth_facade::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, Error, Grant, MemoryTokenStore,
    ProviderConfig, ProviderKind, Scopes, TokenManager, TokenProvider,
};

struct App {
    slack: Arc<SlackClient>,
    manager: TokenManager,
}

fn app(sandbox: &SandboxHandle) -> App {
    let config = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url());
    let slack = Arc::new(
        SlackClient::builder(config.client_id.clone())
            .client_secret(config.client_secret.clone().unwrap())
            .base_url(config.base_url.clone().unwrap())
            .authorize_base_url(config.authorize_base_url.clone().unwrap())
            .allow_insecure_http(true)
            .build()
            .unwrap(),
    );
    let manager = TokenManager::builder(slack.clone(), Arc::new(MemoryTokenStore::new()))
        .build()
        .unwrap();
    App { slack, manager }
}

async fn install(sandbox: &SandboxHandle, app: &App, consent: Consent, user_scope: bool) -> Grant {
    sandbox.control().push_consent(consent);
    let mut request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("chat:write"));
    if user_scope {
        request = request.param("user_scope", "search:read");
    }
    let url = app.slack.authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    app.manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_org_wide_install_serves_every_workspace_of_its_org() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox);
    let org = Consent::org_wide("E0ORG0001", "Org", "U0ADMIN01", &["T0ORGWS01", "T0ORGWS02"]);
    let grant = install(&sandbox, &app, org, true).await;
    assert_eq!(grant.installation.key.to_string(), "slack/E0ORG0001/*");
    let org_bot = grant
        .tokens_of(&oauth_facade::Principal::Bot)
        .unwrap()
        .access_token
        .clone();

    // Events from both workspaces (authorizations[0].is_enterprise_install), and a request that
    // names the workspace without saying org-wide: each gets the org's bot token.
    for (team, org_wide) in [
        ("T0ORGWS01", true),
        ("T0ORGWS02", true),
        ("T0ORGWS02", false),
    ] {
        let context = SlackContext::new(Some("E0ORG0001"), Some(team), Some("U0SOMEONE"), org_wide);
        let tokens = authorize(&app.manager, &context).await.unwrap();
        let (key, bot) = tokens.bot.expect("the org's bot");
        assert_eq!(
            key.to_string(),
            "slack/E0ORG0001/*#bot",
            "{team} {org_wide}"
        );
        assert_eq!(bot, org_bot);
        assert!(tokens.user.is_none(), "U0SOMEONE never authorized");
    }
    // The admin who installed authorized user scopes: their own token, org-wide.
    let context = SlackContext::new(
        Some("E0ORG0001"),
        Some("T0ORGWS01"),
        Some("U0ADMIN01"),
        true,
    );
    let tokens = authorize(&app.manager, &context).await.unwrap();
    let (key, user) = tokens.user.expect("the admin's token");
    assert_eq!(key.to_string(), "slack/E0ORG0001/*#user:U0ADMIN01");
    assert!(user.expose_secret().starts_with("xoxe.xoxp-"));

    // The token really is the org's: Slack lists both workspaces for it.
    let teams = app
        .slack
        .auth_teams_list(&org_bot, &AuthTeamsListRequest::new())
        .await
        .unwrap();
    let mut ids: Vec<&str> = teams.teams.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["T0ORGWS01", "T0ORGWS02"]);
    let test = app.slack.auth_test(&org_bot).await.unwrap();
    assert!(test.is_enterprise_install);
    assert_eq!(test.enterprise_id.as_deref(), Some("E0ORG0001"));

    // Another org, and a workspace without one: not served by this install.
    for context in [
        SlackContext::new(Some("E0OTHER01"), Some("T0ORGWS01"), None, true),
        SlackContext::new(None, Some("T0ORGWS01"), None, false),
    ] {
        let error = authorize(&app.manager, &context).await.unwrap_err();
        assert!(
            matches!(error, Error::InstallationNotFound { .. }),
            "{error:?}"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_workspace_of_an_org_is_served_by_its_own_install_first() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox);
    let workspace = Consent::approve("T0GRIDWS1", "Grid Workspace", "U0GRIDUS1")
        .in_enterprise("E0GRID001", "Grid Org");
    let grant = install(&sandbox, &app, workspace, false).await;
    assert_eq!(
        grant.installation.key.to_string(),
        "slack/E0GRID001/T0GRIDWS1"
    );
    let own = grant
        .tokens_of(&oauth_facade::Principal::Bot)
        .unwrap()
        .access_token
        .clone();
    let context = SlackContext::new(
        Some("E0GRID001"),
        Some("T0GRIDWS1"),
        Some("U0GRIDUS1"),
        false,
    );
    let tokens = authorize(&app.manager, &context).await.unwrap();
    assert_eq!(tokens.bot.unwrap().1, own);
    assert!(tokens.user.is_none(), "no user scopes were granted");
    // Another workspace of the same org is not installed (and the app is not org-wide there).
    let context = SlackContext::new(Some("E0GRID001"), Some("T0GRIDWS2"), None, false);
    let error = authorize(&app.manager, &context).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("slack/E0GRID001/T0GRIDWS2 or slack/E0GRID001/*"),
        "names what it tried: {error}"
    );
    sandbox.shutdown().await;
}
