//! The user-token-only install (`/oauth/v2_user/authorize`, `oauth.v2.user.access`) against
//! oauth-sandbox over HTTP: the URL, the code exchange into a grant of the user's token set, its
//! rotation, PKCE, and the refusals of a code or token of the other flow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, ErrorKind, PkceVerifier, Principal,
    RefreshToken, Scopes, TokenGrant as _, TokenProvider as _,
};
use oauth_sandbox::{
    App, DEFAULT_SLACK_CLIENT_ID as CLIENT_ID, DEFAULT_SLACK_CLIENT_SECRET as CLIENT_SECRET,
    Sandbox, SandboxHandle,
};
use oauth_slack::{
    OauthV2AccessRequest, OauthV2RefreshRequest, SlackClient, SlackError, SlackErrorCode,
};

const PKCE_ID: &str = "3333.4444";
const PKCE_REDIRECT: &str = "http://127.0.0.1/callback/slack";

async fn sandbox() -> SandboxHandle {
    Sandbox::builder()
        .app(
            App::slack(PKCE_ID, "unused", "A0PKCE0001", &[PKCE_REDIRECT])
                .with_pkce(true)
                .without_secret(),
        )
        .start()
        .await
        .unwrap()
}

fn client(sandbox: &SandboxHandle, user_only: bool) -> SlackClient {
    SlackClient::builder(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .base_url(format!("{}/api/", sandbox.base_url()))
        .authorize_base_url(sandbox.base_url())
        .retry_policy(oauth_testkit::fast_retry_policy!())
        .user_only_install(user_only)
        .build()
        .unwrap()
}

fn code(sandbox: &SandboxHandle, url: &url::Url) -> AuthorizationCode {
    let outcome = sandbox.control().authorize(url.as_str()).unwrap();
    assert_eq!(outcome.error, None, "{outcome:?}");
    AuthorizationCode::new(outcome.code.unwrap())
}

fn slack_code(error: &oauth_core::Error) -> SlackErrorCode {
    error
        .provider_error()
        .and_then(|e| e.downcast_ref::<SlackError>())
        .map(|e| e.code().clone())
        .unwrap_or_else(|| panic!("not a Slack error: {error:?}"))
}

#[tokio::test]
async fn a_user_only_install_grants_the_users_token_set_which_rotates() {
    let sandbox = sandbox().await;
    let slack = client(&sandbox, true);
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("search:read,users:read"));
    let url = slack.authorization_url(&request).unwrap();
    assert_eq!(url.path(), "/oauth/v2_user/authorize");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(query.contains(&("scope".into(), "search:read,users:read".into())));
    assert!(query.iter().all(|(name, _)| name != "user_scope"));

    let grant = slack
        .exchange_code(CodeExchange::new(code(&sandbox, &url)))
        .await
        .unwrap();
    assert_eq!(grant.installation.key.to_string(), "slack/T0SANDBOX1");
    assert!(!grant.is_install(), "no bot token set");
    assert_eq!(grant.tokens.len(), 1);
    let user = Principal::User("U0SANDBOX1".into());
    let tokens = grant.tokens_of(&user).expect("the user's token set");
    assert!(
        tokens
            .access_token
            .expose_secret()
            .starts_with("xoxe.xoxp-1-")
    );
    assert_eq!(tokens.scopes.join(","), "search:read,users:read");
    assert!(tokens.expires_at.is_some());
    let installer = oauth_slack::SlackInstallation::from_installation(&grant.installation);
    assert_eq!(installer.installer_user_id.as_deref(), Some("U0SANDBOX1"));
    assert_eq!(installer.bot_user_id, None);
    let counters = sandbox.control().counters();
    assert_eq!(
        counters.op("slack.oauth.v2.user.access.authorization_code"),
        1
    );
    assert_eq!(counters.op("slack.oauth.v2.access.authorization_code"), 0);

    // The trait's refresh of a user-only client goes to oauth.v2.user.access.
    let refreshed = slack
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    assert_ne!(refreshed.refresh_token, tokens.refresh_token);
    assert_eq!(refreshed.grantee.user_id.as_deref(), Some("U0SANDBOX1"));
    let counters = sandbox.control().counters();
    assert_eq!(counters.op("slack.oauth.v2.user.access.refresh_token"), 1);
    // The spent refresh token replays the same pair within the grace period, as everywhere.
    let again = slack
        .oauth_v2_user_access_refresh(&OauthV2RefreshRequest::new(
            tokens.refresh_token.clone().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(again.0.tokens.access_token, refreshed.access_token);
    // Nothing secret in the answer's Debug.
    let shown = format!("{again:?}");
    assert!(
        !shown.contains(refreshed.access_token.expose_secret()),
        "{shown}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_public_client_installs_user_only_with_pkce() {
    let sandbox = sandbox().await;
    let slack = SlackClient::builder(PKCE_ID)
        .redirect_uri(PKCE_REDIRECT)
        .base_url(format!("{}/api/", sandbox.base_url()))
        .authorize_base_url(sandbox.base_url())
        .user_only_install(true)
        .build()
        .unwrap();
    let verifier = PkceVerifier::generate().unwrap();
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("search:read"))
        .pkce_verifier(verifier.clone());
    let url = slack.authorization_url(&request).unwrap();
    assert!(url.as_str().contains("code_challenge_method=S256"), "{url}");
    let code = code(&sandbox, &url);
    // Without the verifier: refused, and the code is not spent.
    let error = slack
        .oauth_v2_user_access(&OauthV2AccessRequest::new(code.clone()))
        .await
        .unwrap_err();
    assert!(!error.to_string().contains(code.expose_secret()));
    let grant = slack
        .exchange_code(CodeExchange::new(code).pkce_verifier(verifier))
        .await
        .unwrap();
    let tokens = grant
        .tokens_of(&Principal::User("U0SANDBOX1".into()))
        .unwrap()
        .clone();
    assert!(
        tokens.refresh_token_expires_at.is_some(),
        "a PKCE app's refresh token expires after 30 days"
    );
    slack
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_code_or_a_token_of_the_other_flow_is_refused() {
    let sandbox = sandbox().await;
    let user_only = client(&sandbox, true);
    let v2 = client(&sandbox, false);

    // A user-only code at oauth.v2.access.
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("search:read"));
    let url = user_only.authorization_url(&request).unwrap();
    let error = v2
        .oauth_v2_access(&OauthV2AccessRequest::new(code(&sandbox, &url)))
        .await
        .unwrap_err();
    assert_eq!(
        slack_code(&error),
        SlackErrorCode::OauthAuthorizationUrlMismatch
    );
    assert_eq!(error.kind(), ErrorKind::Configuration);

    // A v2 code at oauth.v2.user.access.
    let url = v2.authorization_url(&request).unwrap();
    assert_eq!(url.path(), "/oauth/v2/authorize");
    let error = user_only
        .exchange_code(CodeExchange::new(code(&sandbox, &url)))
        .await
        .unwrap_err();
    assert_eq!(
        slack_code(&error),
        SlackErrorCode::OauthAuthorizationUrlMismatch
    );

    // A bot's refresh token at oauth.v2.user.access; an unknown one.
    let bot_request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("chat:write"));
    let url = v2.authorization_url(&bot_request).unwrap();
    let grant = v2
        .exchange_code(CodeExchange::new(code(&sandbox, &url)))
        .await
        .unwrap();
    let bot_refresh = grant
        .tokens_of(&Principal::Bot)
        .unwrap()
        .refresh_token
        .clone()
        .unwrap();
    let error = user_only.refresh(&bot_refresh).await.unwrap_err();
    assert_eq!(slack_code(&error), SlackErrorCode::InvalidRefreshToken);
    assert!(!error.to_string().contains(bot_refresh.expose_secret()));
    // The bot's refresh token was not spent by the refusal.
    v2.refresh(&bot_refresh).await.unwrap();
    let error = user_only
        .refresh(&RefreshToken::new("xoxe-1-unknown"))
        .await
        .unwrap_err();
    assert!(error.needs_reauthorization(), "{error:?}");

    // A user-only URL needs scopes.
    let error = user_only
        .authorization_url(&AuthorizationRequest::new().unwrap())
        .unwrap_err();
    assert!(error.to_string().contains("user scopes"), "{error}");
    sandbox.shutdown().await;
}
