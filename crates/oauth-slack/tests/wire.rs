//! Every method against a scripted Slack on 127.0.0.1: the exact wire form of each request
//! (method, path, content type, where credentials and tokens go, every form parameter), every auth
//! mode, rotation, pagination, retries and error classification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use futures_util::TryStreamExt as _;
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, CsrfState, ErrorKind,
    Introspect as _, PkceVerifier, Principal, RefreshToken, Revoke as _, Scopes, TokenGrant as _,
    TokenProvider as _, TokenType,
};
use oauth_slack::{
    AppsAuthExternalDeleteRequest, AppsAuthExternalGetRequest, AuthRevokeRequest,
    AuthTeamsListRequest, ClientAuth, OauthAccessRequest, OauthV2AccessRequest,
    OauthV2ExchangeRequest, OauthV2RefreshRequest, OpenIdConnectTokenRequest,
    SlackAuthorizationRequest as _, SlackClient, SlackError, SlackErrorCode,
};
use support::{BASIC, CLIENT_ID, CLIENT_SECRET, FakeSlack, REDIRECT_URI, Reply, assert_wire};

const CODE: &str = "4724469134.4644010092847.232b4e0f";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

const INSTALL: &str = r#"{"ok":true,"app_id":"A0KRD7HC3","access_token":"xoxe.xoxb-1-bot-one","token_type":"bot","scope":"chat:write,commands","bot_user_id":"U0KRQLJ9H","expires_in":43200,"refresh_token":"xoxe-1-bot-refresh-one","team":{"id":"T9TK3CUKW","name":"Softball"},"enterprise":null,"is_enterprise_install":false,"authed_user":{"id":"U1234","scope":"search:read","access_token":"xoxe.xoxp-1-user-one","token_type":"user","expires_in":43200,"refresh_token":"xoxe-1-user-refresh-one"}}"#;
const USER_ONLY: &str = r#"{"ok":true,"app_id":"A0KRD7HC3","authed_user":{"id":"U1234","scope":"search:read","access_token":"xoxp-user-only","token_type":"user"},"team":{"id":"T9TK3CUKW"},"enterprise":null,"is_enterprise_install":false}"#;
const REFRESHED: &str = r#"{"ok":true,"app_id":"A0KRD7HC3","access_token":"xoxe.xoxb-1-bot-two","expires_in":43200,"refresh_token":"xoxe-1-bot-refresh-two","token_type":"bot","scope":"chat:write,commands","bot_user_id":"U0KRQLJ9H","team":{"id":"T9TK3CUKW","name":"Softball"},"enterprise":null,"is_enterprise_install":false}"#;
const AUTH_TEST: &str = r#"{"ok":true,"url":"https://softball.slack.com/","team":"Softball","user":"bot","team_id":"T9TK3CUKW","user_id":"U0KRQLJ9H","bot_id":"B01","is_enterprise_install":false,"expires_in":40000}"#;
const OIDC: &str = r#"{"ok":true,"access_token":"xoxp-oidc-user","token_type":"Bearer","id_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJVMSJ9.c2ln"}"#;

fn token(value: &str) -> AccessToken {
    AccessToken::new(value)
}

#[tokio::test]
async fn oauth_v2_access_in_every_client_auth_mode() {
    let server = FakeSlack::start(vec![
        Reply::ok(INSTALL),
        Reply::ok(INSTALL),
        Reply::ok(USER_ONLY),
    ])
    .await;
    let request = OauthV2AccessRequest::new(AuthorizationCode::new(CODE));

    // Confidential, credentials in the form body (the default, as @slack/web-api).
    let install = server.client().oauth_v2_access(&request).await.unwrap();
    // Confidential, HTTP Basic.
    let basic = server
        .builder()
        .client_secret(CLIENT_SECRET)
        .client_auth(ClientAuth::Basic)
        .build()
        .unwrap();
    basic
        .oauth_v2_access(&request.clone().redirect_uri("https://example.com/other"))
        .await
        .unwrap();
    // Public PKCE client: no secret anywhere, the verifier in the form.
    let public = server.builder().build().unwrap();
    let pkce = request.clone().code_verifier(PkceVerifier::new(VERIFIER));
    let user_only = public.oauth_v2_access(&pkce).await.unwrap();

    let requests = server.take();
    assert_wire(
        &requests[0],
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", CODE),
            ("redirect_uri", REDIRECT_URI),
        ],
    );
    assert_wire(
        &requests[1],
        "oauth.v2.access",
        Some(BASIC),
        &[
            ("code", CODE),
            ("redirect_uri", "https://example.com/other"),
        ],
    );
    assert_wire(
        &requests[2],
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("code", CODE),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    );

    let bot = install.bot.as_ref().unwrap();
    assert_eq!(
        bot.tokens.access_token.expose_secret(),
        "xoxe.xoxb-1-bot-one"
    );
    assert_eq!(
        bot.tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "xoxe-1-bot-refresh-one"
    );
    assert!(bot.tokens.expires_at.is_some());
    assert_eq!(
        install.user_tokens().unwrap().access_token.expose_secret(),
        "xoxe.xoxp-1-user-one"
    );
    assert_eq!(
        user_only.primary_tokens().unwrap().token_type,
        TokenType::User
    );
}

#[tokio::test]
async fn trait_exchange_code_returns_every_token_set_of_the_install() {
    let server = FakeSlack::start(vec![Reply::ok(INSTALL), Reply::ok(USER_ONLY)]).await;
    let client = server.client();
    let exchange =
        CodeExchange::new(AuthorizationCode::new(CODE)).pkce_verifier(PkceVerifier::new(VERIFIER));
    // Application code holds the provider as `Arc<dyn TokenProvider>`.
    let provider: std::sync::Arc<dyn oauth_core::TokenProvider> =
        std::sync::Arc::new(client.clone());
    assert_eq!(provider.provider_id(), oauth_slack::PROVIDER);
    let grant = provider.exchange_code(exchange).await.unwrap();
    assert_eq!(grant.installation.key.to_string(), "slack/T9TK3CUKW");
    assert_eq!(grant.tokens.len(), 2, "the bot's and the installer's");
    let bot = grant.tokens_of(&Principal::Bot).unwrap();
    assert_eq!(bot.token_type, TokenType::Bot);
    assert_eq!(bot.provider.as_str(), "slack");
    assert_eq!(bot.grantee.bot_id.as_deref(), Some("U0KRQLJ9H"));
    assert_eq!(bot.grantee.user_id.as_deref(), Some("U1234"));
    let installer = grant.tokens_of(&Principal::User("U1234".into())).unwrap();
    assert_eq!(installer.token_type, TokenType::User);
    assert_eq!(
        installer.access_token.expose_secret(),
        "xoxe.xoxp-1-user-one"
    );
    assert_eq!(
        installer.refresh_token.as_ref().unwrap().expose_secret(),
        "xoxe-1-user-refresh-one"
    );
    let user_only = client
        .exchange_code(
            CodeExchange::new(AuthorizationCode::new(CODE)).redirect_uri("https://example.com/cb"),
        )
        .await
        .unwrap();
    assert_eq!(user_only.tokens.len(), 1, "a user-only install has no bot");
    assert!(user_only.tokens_of(&Principal::Bot).is_none());
    let user = &user_only.primary().unwrap();
    assert_eq!(user.principal, Principal::User("U1234".into()));
    assert_eq!(user.tokens.access_token.expose_secret(), "xoxp-user-only");
    let requests = server.take();
    assert_wire(
        &requests[0],
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", CODE),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_wire(
        &requests[1],
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", CODE),
            ("redirect_uri", "https://example.com/cb"),
        ],
    );
}

#[tokio::test]
async fn rotation_gives_a_new_pair_and_a_spent_refresh_token_needs_reauthorization() {
    let server = FakeSlack::start(vec![
        Reply::ok(REFRESHED),
        Reply::ok(REFRESHED),
        Reply::error("invalid_refresh_token"),
    ])
    .await;
    let client = server.client();
    let old = RefreshToken::new("xoxe-1-bot-refresh-one");
    let rotated = client.refresh(&old).await.unwrap();
    assert_eq!(rotated.access_token.expose_secret(), "xoxe.xoxb-1-bot-two");
    assert_eq!(
        rotated.refresh_token.as_ref().unwrap().expose_secret(),
        "xoxe-1-bot-refresh-two"
    );
    assert_eq!(rotated.token_type, TokenType::Bot);
    assert_eq!(rotated.scopes.as_slice(), ["chat:write", "commands"]);

    // A public (PKCE) client refreshes with its client id only.
    let public = server.builder().build().unwrap();
    let typed = public
        .oauth_v2_access_refresh(&OauthV2RefreshRequest::new(old.clone()))
        .await
        .unwrap();
    assert_eq!(typed.0.bot_user_id.as_deref(), Some("U0KRQLJ9H"));

    // Reused after the grace period.
    let error = client.refresh(&old).await.unwrap_err();
    assert!(error.needs_reauthorization());
    let slack = error
        .provider_error()
        .and_then(|e| e.downcast_ref::<SlackError>())
        .unwrap();
    assert_eq!(slack.code(), &SlackErrorCode::InvalidRefreshToken);
    assert_eq!(slack.operation(), "oauth.v2.access");

    let requests = server.take();
    assert_eq!(requests.len(), 3, "a refresh is never resent");
    let form = [
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", "xoxe-1-bot-refresh-one"),
    ];
    assert_wire(&requests[0], "oauth.v2.access", None, &form);
    assert_wire(
        &requests[1],
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", "xoxe-1-bot-refresh-one"),
        ],
    );
    assert_wire(&requests[2], "oauth.v2.access", None, &form);
}

#[tokio::test]
async fn a_refresh_answer_without_refresh_token_keeps_the_old_one() {
    let body = r#"{"ok":true,"app_id":"A1","access_token":"xoxp-new","token_type":"user","user_id":"U9","scope":"search:read"}"#;
    let server = FakeSlack::start(vec![Reply::ok(body)]).await;
    let old = RefreshToken::new("xoxe-1-kept");
    let tokens = server.client().refresh(&old).await.unwrap();
    assert_eq!(tokens.refresh_token, Some(old));
    assert_eq!(tokens.token_type, TokenType::User);
    assert_eq!(tokens.grantee.user_id.as_deref(), Some("U9"));
}

#[tokio::test]
async fn legacy_exchange_and_oauth_access() {
    let exchanged = r#"{"ok":true,"access_token":"xoxe.xoxb-1-ex","expires_in":43200,"refresh_token":"xoxe-1-ex","token_type":"bot","scope":"commands","bot_user_id":"U123456","app_id":"A123456","team":{"name":"S","id":"T123456"},"enterprise":{"name":"E","id":"E12345678"}}"#;
    let legacy = r#"{"access_token":"xoxp-legacy","scope":"incoming-webhook,commands,bot","team_name":"Team","team_id":"TX","enterprise_id":null,"user_id":"UX","bot":{"bot_user_id":"UB","bot_access_token":"xoxb-legacy-bot"}}"#;
    let server = FakeSlack::start(vec![
        Reply::ok(exchanged),
        Reply::ok(exchanged),
        Reply::ok(legacy),
        Reply::ok(legacy),
    ])
    .await;
    let legacy_token = token("xoxb-legacy-long-lived");

    // oauth.v2.exchange: form credentials and token, plus the token as Bearer (as @slack/web-api 8),
    // whatever the client auth mode.
    let response = server
        .client()
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(legacy_token.clone()))
        .await
        .unwrap();
    assert_eq!(
        response
            .0
            .tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "xoxe-1-ex"
    );
    assert_eq!(response.0.enterprise.as_ref().unwrap().id, "E12345678");
    let basic = server
        .builder()
        .client_secret(CLIENT_SECRET)
        .client_auth(ClientAuth::Basic)
        .build()
        .unwrap();
    basic
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(legacy_token))
        .await
        .unwrap();

    #[allow(deprecated)]
    let v1 = server
        .client()
        .oauth_access(&OauthAccessRequest::new(AuthorizationCode::new(CODE)).single_channel(false))
        .await
        .unwrap();
    assert_eq!(v1.tokens.access_token.expose_secret(), "xoxp-legacy");
    assert_eq!(
        v1.bot.as_ref().unwrap().tokens.access_token.expose_secret(),
        "xoxb-legacy-bot"
    );
    #[allow(deprecated)]
    basic
        .oauth_access(
            &OauthAccessRequest::new(AuthorizationCode::new(CODE)).redirect_uri("https://e.com/v1"),
        )
        .await
        .unwrap();

    let requests = server.take();
    let exchange_form = [
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("token", "xoxb-legacy-long-lived"),
    ];
    assert_wire(
        &requests[0],
        "oauth.v2.exchange",
        Some("Bearer xoxb-legacy-long-lived"),
        &exchange_form,
    );
    assert_wire(
        &requests[1],
        "oauth.v2.exchange",
        Some("Bearer xoxb-legacy-long-lived"),
        &exchange_form,
    );
    assert_wire(
        &requests[2],
        "oauth.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", CODE),
            ("redirect_uri", REDIRECT_URI),
            ("single_channel", "false"),
        ],
    );
    assert_wire(
        &requests[3],
        "oauth.access",
        Some(BASIC),
        &[("code", CODE), ("redirect_uri", "https://e.com/v1")],
    );

    // Both need the client secret: a public client is refused before anything is sent.
    let public = server.builder().build().unwrap();
    let refused = public
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(token("xoxb-x")))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Configuration);
    assert!(server.take().is_empty());
}

#[tokio::test]
async fn openid_connect_token_and_user_info() {
    let rotated = r#"{"ok":true,"access_token":"xoxe.xoxp-1-oidc2","token_type":"Bearer","refresh_token":"xoxe-1-oidc2","expires_in":43200}"#;
    let user_info = r#"{"ok":true,"sub":"U0R7JM","https://slack.com/user_id":"U0R7JM","https://slack.com/team_id":"T0R7GR","email":"krane@example.com","email_verified":true,"name":"krane"}"#;
    let server = FakeSlack::start(vec![
        Reply::ok(OIDC),
        Reply::ok(OIDC),
        Reply::ok(rotated),
        Reply::ok(user_info),
    ])
    .await;
    let code = OpenIdConnectTokenRequest::authorization_code(AuthorizationCode::new(CODE));

    let response = server.client().openid_connect_token(&code).await.unwrap();
    assert_eq!(response.tokens.token_type, TokenType::Bearer);
    assert_eq!(response.tokens.grantee.user_id.as_deref(), Some("U1"));
    let public = server.builder().build().unwrap();
    public
        .openid_connect_token(
            &code
                .clone()
                .code_verifier(PkceVerifier::new(VERIFIER))
                .redirect_uri("https://e.com/siws"),
        )
        .await
        .unwrap();
    let basic = server
        .builder()
        .client_secret(CLIENT_SECRET)
        .client_auth(ClientAuth::Basic)
        .build()
        .unwrap();
    let refreshed = basic
        .openid_connect_token(&OpenIdConnectTokenRequest::refresh_token(
            RefreshToken::new("xoxe-1-oidc"),
        ))
        .await
        .unwrap();
    assert_eq!(
        refreshed
            .tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "xoxe-1-oidc2"
    );
    let info = server
        .client()
        .openid_connect_user_info(&token("xoxp-oidc-user"))
        .await
        .unwrap();
    assert_eq!(info.email.as_deref(), Some("krane@example.com"));
    assert_eq!(info.user_id.as_deref(), Some("U0R7JM"));

    let requests = server.take();
    assert_wire(
        &requests[0],
        "openid.connect.token",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", CODE),
            ("redirect_uri", REDIRECT_URI),
        ],
    );
    assert_wire(
        &requests[1],
        "openid.connect.token",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("code", CODE),
            ("redirect_uri", "https://e.com/siws"),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_wire(
        &requests[2],
        "openid.connect.token",
        Some(BASIC),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "xoxe-1-oidc"),
        ],
    );
    assert_wire(
        &requests[3],
        "openid.connect.userInfo",
        Some("Bearer xoxp-oidc-user"),
        &[],
    );
}

#[tokio::test]
async fn auth_test_and_introspection() {
    let server = FakeSlack::start(vec![
        Reply::ok(AUTH_TEST)
            .with_header("x-oauth-scopes", "chat:write,commands")
            .with_header("x-accepted-oauth-scopes", ""),
        Reply::ok(AUTH_TEST).with_header("x-oauth-scopes", "chat:write,commands"),
    ])
    .await;
    let client = server.client();
    let bot = token("xoxe.xoxb-1-bot-one");
    let test = client.auth_test(&bot).await.unwrap();
    assert_eq!(test.bot_id.as_deref(), Some("B01"));
    assert_eq!(
        test.scopes.as_ref().unwrap().as_slice(),
        ["chat:write", "commands"]
    );
    let info = client.introspect(&bot).await.unwrap();
    assert!(info.active);
    assert_eq!(info.scopes.as_slice(), ["chat:write", "commands"]);
    assert_eq!(info.token_type, Some(TokenType::Bot));
    assert_eq!(info.grantee.workspace_id.as_deref(), Some("T9TK3CUKW"));
    assert_eq!(info.grantee.bot_id.as_deref(), Some("U0KRQLJ9H"));
    assert!(info.expires_at.is_some());
    for request in server.take() {
        assert_wire(
            &request,
            "auth.test",
            Some("Bearer xoxe.xoxb-1-bot-one"),
            &[],
        );
    }

    // These codes mean "inactive", not an error.
    for code in [
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
    ] {
        server.push(Reply::error(code));
        let info = client.introspect(&bot).await.unwrap();
        assert!(!info.active, "{code}");
        assert_eq!(info.inactive_reason.as_deref(), Some(code));
    }
    // Anything else is an error.
    server.push(Reply::error("missing_scope"));
    assert_eq!(
        client.introspect(&bot).await.unwrap_err().kind(),
        ErrorKind::Configuration
    );
}

#[tokio::test]
async fn auth_revoke_with_and_without_test() {
    let server = FakeSlack::start(vec![
        Reply::ok(r#"{"ok":true,"revoked":false}"#),
        Reply::ok(r#"{"ok":true,"revoked":true}"#),
        Reply::ok(r#"{"ok":true,"revoked":true}"#),
        Reply::error("token_revoked"),
        Reply::error("invalid_auth"),
        Reply::error("not_authed"),
    ])
    .await;
    let client = server.client();
    let user = token("xoxe.xoxp-1-user-one");
    assert_eq!(
        client
            .auth_revoke(&user, &AuthRevokeRequest::test())
            .await
            .unwrap()
            .revoked,
        Some(false)
    );
    assert_eq!(
        client
            .auth_revoke(&user, &AuthRevokeRequest::new())
            .await
            .unwrap()
            .revoked,
        Some(true)
    );
    client.revoke(&user).await.unwrap();
    // Revoking an already unusable token succeeds through the trait (RFC 7009), not inherently.
    client.revoke(&user).await.unwrap();
    let error = client
        .auth_revoke(&user, &AuthRevokeRequest::new())
        .await
        .unwrap_err();
    assert!(error.needs_reauthorization());
    let empty = client.revoke(&token("")).await.unwrap_err();
    assert_eq!(empty.provider_error().unwrap().code(), "not_authed");
    let requests = server.take();
    assert_wire(
        &requests[0],
        "auth.revoke",
        Some("Bearer xoxe.xoxp-1-user-one"),
        &[("test", "true")],
    );
    assert_eq!(requests.len(), 6);
    for request in &requests[1..5] {
        assert_wire(
            request,
            "auth.revoke",
            Some("Bearer xoxe.xoxp-1-user-one"),
            &[],
        );
    }
    // An empty token is sent as is (Slack answers `not_authed`); the fake server trims the value.
    assert_wire(&requests[5], "auth.revoke", Some("Bearer"), &[]);
}

fn page(teams: &[&str], cursor: &str) -> oauth_testkit::Reply {
    let teams: Vec<String> = teams
        .iter()
        .map(|t| format!(r#"{{"id":"{t}","name":"Team {t}"}}"#))
        .collect();
    Reply::ok(&format!(
        r#"{{"ok":true,"teams":[{}],"response_metadata":{{"next_cursor":"{cursor}"}}}}"#,
        teams.join(",")
    ))
}

#[tokio::test]
async fn auth_teams_list_pages_and_stream() {
    let server = FakeSlack::start(vec![
        page(&["T1"], "c1"),
        page(&["T1", "T2"], "c2"),
        page(&["T3"], "c3"),
        page(&[], "c4"),
        page(&["T4"], ""),
    ])
    .await;
    let client = server.client();
    let org = token("xoxb-org");
    let single = client
        .auth_teams_list(
            &org,
            &AuthTeamsListRequest::new()
                .limit(2)
                .include_icon(true)
                .cursor("c0"),
        )
        .await
        .unwrap();
    assert_eq!(single.next_cursor.as_deref(), Some("c1"));
    let teams: Vec<_> = client
        .auth_teams_list_stream(org.clone(), AuthTeamsListRequest::new().limit(2))
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = teams.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T1", "T2", "T3", "T4"]);

    let requests = server.take();
    assert_eq!(requests.len(), 5);
    let bearer = Some("Bearer xoxb-org");
    assert_wire(
        &requests[0],
        "auth.teams.list",
        bearer,
        &[("cursor", "c0"), ("limit", "2"), ("include_icon", "true")],
    );
    assert_wire(&requests[1], "auth.teams.list", bearer, &[("limit", "2")]);
    assert_wire(
        &requests[2],
        "auth.teams.list",
        bearer,
        &[("cursor", "c2"), ("limit", "2")],
    );
    assert_wire(
        &requests[3],
        "auth.teams.list",
        bearer,
        &[("cursor", "c3"), ("limit", "2")],
    );
    assert_wire(
        &requests[4],
        "auth.teams.list",
        bearer,
        &[("cursor", "c4"), ("limit", "2")],
    );

    // A stream stops at the first error, and on a repeated cursor.
    server.push(page(&["T1"], "again"));
    server.push(Reply::error("invalid_cursor"));
    let failed: Result<Vec<_>, _> = client
        .auth_teams_list_stream(org.clone(), AuthTeamsListRequest::new())
        .try_collect()
        .await;
    assert_eq!(
        failed.unwrap_err().provider_error().unwrap().code(),
        "invalid_cursor"
    );
    server.push(page(&["T1"], "loop"));
    server.push(page(&["T2"], "loop"));
    let looped: Vec<_> = client
        .auth_teams_list_stream(org, AuthTeamsListRequest::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(looped.len(), 2);
}

#[tokio::test]
async fn apps_auth_external_get_and_delete() {
    let server = FakeSlack::start(vec![
        Reply::ok(r#"{"ok":true,"external_token":"00Dexternal","token_response_extras":null}"#),
        Reply::ok(r#"{"ok":true,"external_token":"00Dexternal2"}"#),
        Reply::ok(r#"{"ok":true}"#),
        Reply::ok(r#"{"ok":true}"#),
    ])
    .await;
    let client = server.client();
    let bot = token("xoxb-app");
    let got = client
        .apps_auth_external_get(&bot, &AppsAuthExternalGetRequest::new("Et12345ABCDE"))
        .await
        .unwrap();
    assert_eq!(got.external_token.expose_secret(), "00Dexternal");
    client
        .apps_auth_external_get(
            &bot,
            &AppsAuthExternalGetRequest::new("Et12345ABCDE").force_refresh(true),
        )
        .await
        .unwrap();
    client
        .apps_auth_external_delete(
            &bot,
            &AppsAuthExternalDeleteRequest::new().external_token_id("Et12345ABCDE"),
        )
        .await
        .unwrap();
    client
        .apps_auth_external_delete(
            &bot,
            &AppsAuthExternalDeleteRequest::new()
                .app_id("A12345")
                .provider_key("salesforce"),
        )
        .await
        .unwrap();
    let requests = server.take();
    let bearer = Some("Bearer xoxb-app");
    assert_wire(
        &requests[0],
        "apps.auth.external.get",
        bearer,
        &[("external_token_id", "Et12345ABCDE")],
    );
    assert_wire(
        &requests[1],
        "apps.auth.external.get",
        bearer,
        &[
            ("external_token_id", "Et12345ABCDE"),
            ("force_refresh", "true"),
        ],
    );
    assert_wire(
        &requests[2],
        "apps.auth.external.delete",
        bearer,
        &[("external_token_id", "Et12345ABCDE")],
    );
    assert_wire(
        &requests[3],
        "apps.auth.external.delete",
        bearer,
        &[("app_id", "A12345"), ("provider_key", "salesforce")],
    );
}

#[tokio::test]
async fn rate_limits_are_retried_even_for_single_use_grants_but_5xx_only_for_reads() {
    let server = FakeSlack::start(vec![
        // auth.test: 429 then success → retried after Retry-After.
        Reply::status(429, r#"{"ok":false,"error":"ratelimited"}"#).with_header("retry-after", "0"),
        Reply::ok(AUTH_TEST),
        // oauth.v2.access: HTTP 200 `ratelimited` then success → retried (Slack did not process it).
        Reply::error("ratelimited").with_header("retry-after", "0"),
        Reply::ok(INSTALL),
        // oauth.v2.access: 503 → not resent (the code may be spent).
        Reply::status(503, "<html>down</html>"),
        // auth.test: 503 then success → resent.
        Reply::status(503, "<html>down</html>"),
        Reply::ok(AUTH_TEST),
        // 429 with a Retry-After beyond the policy's limit: fail at once, telling when to come back.
        Reply::status(429, r#"{"ok":false,"error":"ratelimited"}"#)
            .with_header("retry-after", "3600"),
    ])
    .await;
    let client = server.client();
    let bot = token("xoxb-1");
    client.auth_test(&bot).await.unwrap();
    assert_eq!(server.take().len(), 2);
    client
        .oauth_v2_access(&OauthV2AccessRequest::new(AuthorizationCode::new(CODE)))
        .await
        .unwrap();
    assert_eq!(server.take().len(), 2);
    let outage = client
        .oauth_v2_access(&OauthV2AccessRequest::new(AuthorizationCode::new(CODE)))
        .await
        .unwrap_err();
    assert_eq!(outage.kind(), ErrorKind::UndecodableResponse);
    assert!(outage.is_retryable());
    assert_eq!(server.take().len(), 1);
    client.auth_test(&bot).await.unwrap();
    assert_eq!(server.take().len(), 2);
    let limited = client.auth_test(&bot).await.unwrap_err();
    assert_eq!(limited.kind(), ErrorKind::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.take().len(), 1);
}

#[tokio::test]
async fn every_known_error_code_is_typed_and_classified_through_the_client() {
    let server = FakeSlack::start(Vec::new()).await;
    let client = server.client();
    let bot = token("xoxb-1");
    for code in SlackErrorCode::known() {
        if code == &SlackErrorCode::Ratelimited {
            continue; // retried by the policy: covered above
        }
        server.push(Reply::error(code.as_str()));
        let error = client
            .apps_auth_external_delete(&bot, &AppsAuthExternalDeleteRequest::new().app_id("A1"))
            .await
            .unwrap_err();
        let slack = error
            .provider_error()
            .and_then(|e| e.downcast_ref::<SlackError>())
            .unwrap();
        assert_eq!(slack.code(), code);
        assert_eq!(error.kind(), code.kind(http::StatusCode::OK), "{code}");
        assert!(error.to_string().contains(code.as_str()));
    }
    server.push(Reply::ok(r#"{"ok":false}"#));
    let error = client.auth_test(&bot).await.unwrap_err();
    assert_eq!(error.provider_error().unwrap().code(), "");
}

#[tokio::test]
async fn authorization_urls() {
    let server = FakeSlack::start(Vec::new()).await;
    let base = server.base();
    let client = server.client();
    let request = AuthorizationRequest::with_state(CsrfState::new("st"))
        .scopes(Scopes::parse("chat:write commands"))
        .user_scopes(&Scopes::parse("search:read,users:read"))
        .team("T9TK3CUKW")
        .pkce_verifier(PkceVerifier::new(VERIFIER));
    let url = client.oauth_v2_authorize_url(&request).unwrap();
    assert_eq!(
        url.as_str(),
        format!(
            "{base}oauth/v2/authorize?client_id={CLIENT_ID}&scope=chat%3Awrite%2Ccommands&redirect_uri=https%3A%2F%2Fexample.com%2Fslack%2Foauth%2Fcallback&state=st&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&user_scope=search%3Aread%2Cusers%3Aread&team=T9TK3CUKW"
        )
    );
    assert_eq!(client.authorization_url(&request).unwrap(), url);

    let signin = AuthorizationRequest::with_state(CsrfState::new("st"))
        .scopes(Scopes::parse("openid email profile"))
        .redirect_uri("https://example.com/siws")
        .nonce("n-1");
    assert_eq!(
        client
            .openid_connect_authorize_url(&signin)
            .unwrap()
            .as_str(),
        format!(
            "{base}openid/connect/authorize?response_type=code&client_id={CLIENT_ID}&scope=openid+email+profile&redirect_uri=https%3A%2F%2Fexample.com%2Fsiws&state=st&nonce=n-1"
        )
    );

    let no_scopes = AuthorizationRequest::with_state(CsrfState::new("st"));
    assert_eq!(
        client
            .oauth_v2_authorize_url(&no_scopes)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        client
            .openid_connect_authorize_url(&request)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    // Slack takes a custom-scheme redirect URI only with PKCE: refused here without it.
    for redirect in ["myapp://callback", "com.example.app:/oauth"] {
        let custom = AuthorizationRequest::with_state(CsrfState::new("st"))
            .scopes(Scopes::parse("openid chat:write"))
            .redirect_uri(redirect);
        for refused in [
            client.oauth_v2_authorize_url(&custom),
            client.openid_connect_authorize_url(&custom),
        ] {
            let error = refused.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidRequest);
            assert!(error.to_string().contains("PKCE"), "{error}");
        }
        let with_pkce = custom.pkce_verifier(PkceVerifier::new(VERIFIER));
        for url in [
            client.oauth_v2_authorize_url(&with_pkce).unwrap(),
            client.openid_connect_authorize_url(&with_pkce).unwrap(),
        ] {
            let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            assert!(
                query.contains(&("redirect_uri".into(), redirect.into())),
                "{url}"
            );
            assert!(query.iter().any(|(k, _)| k == "code_challenge"), "{url}");
        }
    }
    let user_only = no_scopes.user_scopes(&Scopes::parse("search:read"));
    assert!(
        client
            .oauth_v2_authorize_url(&user_only)
            .unwrap()
            .as_str()
            .contains("user_scope=search%3Aread")
    );
    assert!(server.requests().is_empty());
}

#[test]
fn insecure_base_urls_are_refused() {
    let remote = SlackClient::builder(CLIENT_ID)
        .base_url("http://slack.example/api/")
        .build();
    assert_eq!(remote.unwrap_err().kind(), ErrorKind::Configuration);
    let allowed = SlackClient::builder(CLIENT_ID)
        .base_url("http://slack.example/api/")
        .allow_insecure_http(true)
        .build();
    assert!(allowed.is_ok());
}

#[tokio::test]
async fn openid_connect_keys_is_a_plain_get() {
    let jwks =
        r#"{"keys":[{"e":"AQAB","n":"sXch","kty":"RSA","kid":"k1","alg":"RS256","use":"sig"}]}"#;
    let server = FakeSlack::start(vec![
        Reply::ok(jwks),
        Reply::status(404, "<html>not found</html>").with_header("content-type", "text/html"),
    ])
    .await;
    let client = server.client();
    let keys = client.openid_connect_keys().await.unwrap();
    assert_eq!(keys.keys[0].kid.as_deref(), Some("k1"));
    let missing = client.openid_connect_keys().await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::UndecodableResponse);
    let requests = server.take();
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/openid/connect/keys");
        assert_eq!(request.header("authorization"), None);
        assert!(request.body.is_empty());
    }
    assert_eq!(requests.len(), 2);
}
