//! A full install → auth.test → rotate → revoke run (plus Sign in with Slack, external tokens and
//! failures) with tracing at TRACE into a buffer: no token, secret, code, verifier or webhook URL
//! may appear in the logs, in any `Debug`, or in any error message.
//!
//! Its own test binary, with a global subscriber: tracing's callsite cache misses events under
//! thread-local subscribers when other tests run in parallel in the same binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, CsrfState, Introspect as _,
    PkceVerifier, Revoke as _, Scopes, TokenGrant as _,
};
use oauth_slack::{
    AppsAuthExternalGetRequest, ClientAuth, OauthV2AccessRequest, OauthV2ExchangeRequest,
    OpenIdConnectTokenRequest, SlackAuthorizationRequest as _,
};
use oauth_testkit::LogCapture;
use support::{CLIENT_SECRET, FakeSlack, Reply};

const BOT: &str = "xoxe.xoxb-1-MS0yLTIyMTY0Njc0NTk0NC0zNjU5NjQ3ODY3ODQ5LWJvdC1vbmU";
const BOT_REFRESH: &str = "xoxe-1-My0xLTIyMTY0Njc0NTk0NC0zNjU5NjQ3ODY3ODQ5LWJvdC1yZWZyZXNo";
const BOT_2: &str = "xoxe.xoxb-1-MS0yLTIyMTY0Njc0NTk0NC0zNjU5NjQ3ODY3ODQ5LWJvdC10d28";
const BOT_REFRESH_2: &str = "xoxe-1-My0xLTIyMTY0Njc0NTk0NC0zNjU5NjQ3ODY3ODQ5LXJlZnJlc2gtdHdv";
const USER: &str = "xoxe.xoxp-1-MS0yLTIyMTY0Njc0NTk0NC0zNjU5NjQ3ODY3ODQ5LXVzZXI";
const USER_REFRESH: &str = "xoxe-1-My0xLTIyMTY0Njc0NTk0NC0zNjU5NjQ3ODY3ODQ5LXVzZXItcmVmcmVzaA";
const WEBHOOK: &str = "https://hooks.slack.com/services/T9TK3CUKW/B0123/WebhookSecretPath1234";
const CODE: &str = "4724469134.4644010092847.232b4e0fcodesecret";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LEGACY: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJVMSIsImh0dHBzOi8vc2xhY2suY29tL3VzZXJfaWQiOiJVMSJ9.c2lnbmF0dXJlc2VjcmV0";
const OIDC_ACCESS: &str = "xoxp-1234-5678-9012-oidcaccesstokensecretvalue";
const EXTERNAL: &str = "00D3j00000025Zh!AQ4AQMAl46qme3wdZiKo5j3WHcJujZXoB0FtsFuC5JxWZdje2aiecF9vY5KdY5wTPUZIYBekIraDWuw";

#[tokio::test]
async fn no_secret_reaches_logs_debug_or_errors() {
    let capture = LogCapture::install();

    let install = format!(
        r#"{{"ok":true,"app_id":"A0KRD7HC3","access_token":"{BOT}","token_type":"bot","scope":"chat:write,incoming-webhook","bot_user_id":"U0KRQLJ9H","expires_in":43200,"refresh_token":"{BOT_REFRESH}","team":{{"id":"T9TK3CUKW","name":"Softball"}},"enterprise":null,"is_enterprise_install":false,"authed_user":{{"id":"U1234","scope":"search:read","access_token":"{USER}","token_type":"user","expires_in":43200,"refresh_token":"{USER_REFRESH}"}},"incoming_webhook":{{"channel":"general","channel_id":"C1","configuration_url":"https://softball.slack.com/services/B0123","url":"{WEBHOOK}"}},"warning":"superfluous_charset","response_metadata":{{"warnings":["superfluous_charset"],"messages":["[WARN] echoed {BOT_REFRESH}"]}}}}"#
    );
    let refreshed = format!(
        r#"{{"ok":true,"app_id":"A0KRD7HC3","access_token":"{BOT_2}","token_type":"bot","scope":"chat:write","bot_user_id":"U0KRQLJ9H","expires_in":43200,"refresh_token":"{BOT_REFRESH_2}","team":{{"id":"T9TK3CUKW"}}}}"#
    );
    let exchanged = format!(
        r#"{{"ok":true,"access_token":"{BOT_2}","token_type":"bot","scope":"chat:write","expires_in":43200,"refresh_token":"{BOT_REFRESH_2}","app_id":"A1"}}"#
    );
    let oidc = format!(
        r#"{{"ok":true,"access_token":"{OIDC_ACCESS}","token_type":"Bearer","id_token":"{ID_TOKEN}"}}"#
    );
    let external = format!(
        r#"{{"ok":true,"external_token":"{EXTERNAL}","token_response_extras":{{"refresh":"{USER_REFRESH}"}}}}"#
    );
    let server = FakeSlack::start(vec![
        Reply::ok(&install),
        Reply::ok(&install),
        Reply::ok(r#"{"ok":true,"url":"https://softball.slack.com/","team":"Softball","user":"bot","team_id":"T9TK3CUKW","user_id":"U0KRQLJ9H","bot_id":"B1"}"#)
            .with_header("x-oauth-scopes", "chat:write"),
        Reply::status(429, r#"{"ok":false,"error":"ratelimited"}"#).with_header("retry-after", "0"),
        Reply::ok(&refreshed),
        Reply::ok(&format!(
            r#"{{"ok":false,"error":"invalid_refresh_token","warning":"spent {BOT_REFRESH}","response_metadata":{{"messages":["[ERROR] refresh token {BOT_REFRESH} was used"]}}}}"#
        )),
        Reply::ok(&exchanged),
        Reply::ok(&oidc),
        Reply::ok(&external),
        Reply::ok(&format!(r#"{{"ok":true,"access_token":"{BOT}"#)), // truncated: undecodable
        Reply::status(502, &format!("<html>upstream said {BOT_REFRESH}</html>")),
        Reply::ok(r#"{"ok":true,"revoked":true}"#),
        Reply::error("token_revoked"),
    ])
    .await;
    let client = server
        .builder()
        .client_secret(CLIENT_SECRET)
        .client_auth(ClientAuth::Basic)
        .build()
        .unwrap();

    let mut debug = Vec::new();
    let mut errors = Vec::new();
    debug.push(format!("{client:?}"));
    debug.push(format!(
        "{:?}",
        server.builder().client_secret(CLIENT_SECRET)
    ));

    // Install.
    let request = AuthorizationRequest::with_state(CsrfState::new("state-1"))
        .scopes(Scopes::parse("chat:write,incoming-webhook"))
        .user_scopes(&Scopes::parse("search:read"))
        .pkce_verifier(PkceVerifier::new(VERIFIER));
    debug.push(format!("{request:?}"));
    let access = OauthV2AccessRequest::new(AuthorizationCode::new(CODE))
        .code_verifier(PkceVerifier::new(VERIFIER));
    debug.push(format!("{access:?}"));
    let installation = client.oauth_v2_access(&access).await.unwrap();
    debug.push(format!("{installation:?}"));
    let exchange =
        CodeExchange::new(AuthorizationCode::new(CODE)).pkce_verifier(PkceVerifier::new(VERIFIER));
    debug.push(format!("{exchange:?}"));
    let grant = client.exchange_code(exchange).await.unwrap();
    debug.push(format!("{grant:?}"));
    debug.push(serde_json::to_string(&grant.installation.details).unwrap());
    let bot = grant
        .tokens_of(&oauth_core::Principal::Bot)
        .unwrap()
        .clone();
    debug.push(serde_json::to_string(&bot.extras).unwrap());

    // auth.test.
    let info = client.introspect(&bot.access_token).await.unwrap();
    assert!(info.active);
    debug.push(format!("{info:?}"));

    // Rotate (after a rate limit), then reuse the spent refresh token.
    let refresh = bot.refresh_token.clone().unwrap();
    let rotated = client.refresh(&refresh).await.unwrap();
    debug.push(format!("{rotated:?}"));
    let spent = client.refresh(&refresh).await.unwrap_err();
    assert!(spent.needs_reauthorization());
    assert!(
        spent.to_string().contains("[ERROR] refresh token"),
        "{spent}"
    );
    errors.push(spent);

    // The other grants.
    let exchanged = client
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(AccessToken::new(LEGACY)))
        .await
        .unwrap();
    debug.push(format!("{exchanged:?}"));
    let oidc = client
        .openid_connect_token(
            &OpenIdConnectTokenRequest::authorization_code(AuthorizationCode::new(CODE))
                .code_verifier(PkceVerifier::new(VERIFIER)),
        )
        .await
        .unwrap();
    debug.push(format!("{oidc:?}"));
    let external = client
        .apps_auth_external_get(
            &rotated.access_token,
            &AppsAuthExternalGetRequest::new("Et1"),
        )
        .await
        .unwrap();
    debug.push(format!("{external:?}"));

    // Undecodable answers that contain secrets.
    errors.push(client.auth_test(&rotated.access_token).await.unwrap_err());
    errors.push(client.oauth_v2_access(&access).await.unwrap_err());

    // Revoke, then a call with the revoked token.
    client.revoke(&rotated.access_token).await.unwrap();
    let revoked = client.introspect(&rotated.access_token).await.unwrap();
    assert!(!revoked.active);
    debug.push(format!("{revoked:?}"));

    for error in &errors {
        debug.push(format!("{error:?}"));
        debug.push(error.to_string());
        if let Some(provider) = error.provider_error() {
            debug.push(format!("{provider:?}"));
        }
    }

    let logs = capture.contents();
    // The capture works: calls, retries and Slack's warnings are there.
    assert!(logs.contains("oauth_call"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains("slack warning"), "{logs}");
    assert!(logs.contains("superfluous_charset"), "{logs}");
    assert!(logs.contains("slack response message"), "{logs}");

    let secrets = [
        BOT,
        BOT_REFRESH,
        BOT_2,
        BOT_REFRESH_2,
        USER,
        USER_REFRESH,
        WEBHOOK,
        CODE,
        VERIFIER,
        LEGACY,
        ID_TOKEN,
        OIDC_ACCESS,
        EXTERNAL,
        CLIENT_SECRET,
        "WebhookSecretPath1234",
        "codesecret",
        "c2lnbmF0dXJlc2VjcmV0",
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "the logs contain {secret}:\n{logs}");
        for text in &debug {
            assert!(!text.contains(secret), "{secret} appears in: {text}");
        }
    }
    // The requests did carry them (the test is not vacuous).
    let wire: String = server.requests().iter().map(|r| r.raw()).collect();
    for secret in [CODE, VERIFIER, BOT_REFRESH, LEGACY] {
        assert!(wire.contains(secret), "{secret} was never sent");
    }
}
