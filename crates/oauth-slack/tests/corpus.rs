//! Every Slack body of the shared decode corpus through the decoder of its method, checked against
//! `expect.json`; then this crate's own fixtures for the corpus's gaps (MANIFEST.md, "Gaps"), a
//! table of one-line cases and one check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use oauth_core::{Error, ErrorKind, TokenType};
use oauth_slack::{
    AppsAuthExternalDeleteResponse, AppsAuthExternalGetResponse, AuthRevokeResponse,
    AuthTeamsListResponse, AuthTestResponse, OauthAccessResponse, OauthV2AccessResponse,
    OauthV2ExchangeResponse, OauthV2RefreshResponse, OpenIdConnectTokenResponse,
    OpenIdConnectUserInfoResponse, SlackError, SlackErrorCode, SlackResponse, SlackTokenExtras,
};
use oauth_testkit::corpus;
use serde_json::Value;

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> http::Response<Bytes> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Bytes::copy_from_slice(body)).unwrap()
}

/// The outcome of a decoder: `Ok(debug output)` or the error.
type Outcome = Result<String, Error>;

fn run<T: SlackResponse + Debug>(response: &http::Response<Bytes>) -> Outcome {
    T::decode(response, SystemTime::UNIX_EPOCH).map(|decoded| format!("{decoded:?}"))
}

/// Runs `body` through the decoder(s) of `method`.
fn decode_as(
    method: &str,
    file: &str,
    success: bool,
    response: &http::Response<Bytes>,
) -> Vec<Outcome> {
    match method {
        "oauth.v2.access" if file.contains("refresh") => {
            vec![run::<OauthV2RefreshResponse>(response)]
        }
        "oauth.v2.access" => vec![run::<OauthV2AccessResponse>(response)],
        "oauth.v2.exchange" => vec![run::<OauthV2ExchangeResponse>(response)],
        // `oauth.token` (retired workspace apps) is the neighbour shape of `oauth.access`.
        "oauth.access" | "oauth.token" => vec![run::<OauthAccessResponse>(response)],
        "openid.connect.token" => vec![run::<OpenIdConnectTokenResponse>(response)],
        "openid.connect.userInfo" => vec![run::<OpenIdConnectUserInfoResponse>(response)],
        "auth.test" => vec![run::<AuthTestResponse>(response)],
        "auth.revoke" => vec![run::<AuthRevokeResponse>(response)],
        "auth.teams.list" => vec![run::<AuthTeamsListResponse>(response)],
        "apps.auth.external.get" => vec![run::<AppsAuthExternalGetResponse>(response)],
        "apps.auth.external.delete" => vec![run::<AppsAuthExternalDeleteResponse>(response)],
        // Envelope bodies: every decoder whose method has no required field must accept a success,
        // and every decoder must classify an error.
        "_envelope" if success => vec![
            run::<AuthRevokeResponse>(response),
            run::<AuthTestResponse>(response),
            run::<AuthTeamsListResponse>(response),
            run::<AppsAuthExternalDeleteResponse>(response),
        ],
        "_envelope" => vec![
            run::<AuthRevokeResponse>(response),
            run::<AuthTestResponse>(response),
            run::<AuthTeamsListResponse>(response),
            run::<AppsAuthExternalDeleteResponse>(response),
            run::<OauthV2AccessResponse>(response),
            run::<OauthV2RefreshResponse>(response),
            run::<OauthV2ExchangeResponse>(response),
            run::<OauthAccessResponse>(response),
            run::<OpenIdConnectTokenResponse>(response),
            run::<OpenIdConnectUserInfoResponse>(response),
            run::<AppsAuthExternalGetResponse>(response),
        ],
        other => panic!("no decoder for {other}"),
    }
}

fn slack_error(error: &Error) -> &SlackError {
    error
        .provider_error()
        .and_then(|e| e.downcast_ref::<SlackError>())
        .unwrap_or_else(|| panic!("not a Slack error: {error}"))
}

/// Every string under a secret key of a JSON body (tokens, webhook URLs), to check `Debug`s.
fn secrets_of(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let secret_key = [
                    "access_token",
                    "refresh_token",
                    "bot_access_token",
                    "id_token",
                    "external_token",
                ]
                .contains(&key.as_str())
                    || (key == "url"
                        && value
                            .as_str()
                            .is_some_and(|u| u.contains("hooks.slack.com")));
                match value {
                    Value::String(s) if secret_key && s.len() > 4 => out.push(s.clone()),
                    other => secrets_of(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| secrets_of(v, out)),
        _ => {}
    }
}

#[test]
fn every_slack_corpus_body_decodes_as_expected() {
    let expect: Vec<Value> = serde_json::from_str(&corpus::read("expect.json")).unwrap();
    let mut listed = Vec::new();
    let mut checked = 0;
    for entry in &expect {
        let file = entry["file"].as_str().unwrap();
        if !file.starts_with("slack/") {
            continue;
        }
        listed.push(file.to_owned());
        let method = file.split('/').nth(1).unwrap();
        let body = corpus::read(file).into_bytes();
        let response = response(
            200,
            &[("content-type", "application/json; charset=utf-8")],
            &body,
        );
        let json: Value = serde_json::from_slice(&body).unwrap();
        let mut secrets = Vec::new();
        secrets_of(&json, &mut secrets);
        let success = entry["kind"] == "success";
        for outcome in decode_as(method, file, success, &response) {
            match (entry["kind"].as_str().unwrap(), outcome) {
                ("success", Ok(debug)) => {
                    for secret in &secrets {
                        assert!(
                            !debug.contains(secret.as_str()),
                            "{file}: Debug shows a secret"
                        );
                    }
                }
                ("success", Err(error)) => panic!("{file}: rejected: {error}"),
                ("error", Ok(_)) => panic!("{file}: accepted an error body"),
                ("error", Err(error)) => {
                    let expected = entry["error_code"].as_str().unwrap();
                    let slack = slack_error(&error);
                    assert_eq!(slack.code().as_str(), expected, "{file}");
                    assert_eq!(error.provider_error().unwrap().code(), expected, "{file}");
                }
                (kind, _) => panic!("{file}: unknown kind {kind}"),
            }
            checked += 1;
        }
    }
    // Every Slack body on disk is listed (a new corpus file must not be skipped silently).
    for path in corpus::json_files("slack") {
        let relative = path
            .strip_prefix(corpus::root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            listed.contains(&relative),
            "{relative} is not in expect.json"
        );
    }
    assert!(listed.len() >= 47, "only {} Slack entries", listed.len());
    assert!(checked > listed.len());
}

fn corpus_response(file: &str) -> http::Response<Bytes> {
    response(200, &[], corpus::read(&format!("slack/{file}")).as_bytes())
}

#[test]
fn corpus_installations_decode_to_the_right_token_sets() {
    let epoch = SystemTime::UNIX_EPOCH;
    // Bot and user, no rotation.
    let install = OauthV2AccessResponse::decode(
        &corpus_response("oauth.v2.access/docs-success-bot-and-user.json"),
        epoch,
    )
    .unwrap();
    let bot = install.bot.as_ref().unwrap();
    assert_eq!(bot.bot_user_id.as_deref(), Some("U0KRQLJ9H"));
    assert_eq!(bot.tokens.token_type, TokenType::Bot);
    assert_eq!(
        bot.tokens.scopes.as_slice(),
        ["commands", "incoming-webhook"]
    );
    assert_eq!(
        bot.tokens.grantee.workspace_id.as_deref(),
        Some("T9TK3CUKW")
    );
    assert_eq!(
        bot.tokens.grantee.enterprise_name.as_deref(),
        Some("slack-sports")
    );
    assert_eq!(bot.tokens.grantee.bot_id.as_deref(), Some("U0KRQLJ9H"));
    assert_eq!(bot.tokens.grantee.user_id.as_deref(), Some("U1234"));
    assert_eq!(bot.tokens.expires_at, None);
    assert!(!install.is_enterprise_install);
    let user = install.user_tokens().unwrap();
    assert_eq!(user.access_token.expose_secret(), "xoxp-1234");
    assert_eq!(user.token_type, TokenType::User);
    assert_eq!(
        install.primary_tokens().unwrap().access_token,
        bot.tokens.access_token
    );
    assert_eq!(
        SlackTokenExtras::from_token_set(&bot.tokens)
            .app_id
            .as_deref(),
        Some("A0KRD7HC3")
    );

    // Rotation: both tokens expire in 12 h and carry refresh tokens.
    let rotated = OauthV2AccessResponse::decode(
        &corpus_response("oauth.v2.access/docs-success-token-rotation.json"),
        epoch,
    )
    .unwrap();
    let bot = &rotated.bot.as_ref().unwrap().tokens;
    assert_eq!(bot.expires_at, Some(epoch + Duration::from_secs(43_200)));
    assert_eq!(
        bot.refresh_token.as_ref().unwrap().expose_secret(),
        "xoxe-1-..."
    );
    assert!(rotated.user_tokens().unwrap().refresh_token.is_some());

    // Sign in with Slack (identity scopes): user token only, team without name, null enterprise.
    let siws = OauthV2AccessResponse::decode(
        &corpus_response("oauth.v2.access/docs-success-sign-in-with-slack.json"),
        epoch,
    )
    .unwrap();
    assert!(siws.bot.is_none());
    assert_eq!(siws.enterprise, None);
    assert_eq!(siws.team.as_ref().unwrap().name, None);
    assert_eq!(siws.primary_tokens().unwrap().token_type, TokenType::User);

    // Org-wide install: null team, enterprise grantee, is_enterprise_install.
    let org = OauthV2AccessResponse::decode(
        &corpus_response("oauth.v2.access/docs-enterprise-org-install.json"),
        epoch,
    )
    .unwrap();
    assert!(org.team.is_none() && org.is_enterprise_install);
    let tokens = org.primary_tokens().unwrap();
    assert_eq!(tokens.grantee.enterprise_id.as_deref(), Some("E1XXX"));
    assert!(SlackTokenExtras::from_token_set(tokens).is_enterprise_install);

    // A user-token refresh puts the user token at the top level.
    let refreshed = OauthV2RefreshResponse::decode(
        &corpus_response("oauth.v2.access/bolt-mock-refresh-grant-user.json"),
        epoch,
    )
    .unwrap();
    assert_eq!(refreshed.0.tokens.token_type, TokenType::User);
    assert_eq!(
        refreshed
            .0
            .tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "xoxe-1-valid-user-refreshed"
    );
    assert_eq!(refreshed.0.tokens.scopes.as_slice(), ["search:read"]);

    // Legacy oauth.access without `ok`, with a bot and a webhook.
    let legacy = OauthAccessResponse::decode(
        &corpus_response("oauth.access/docs-success-bot-and-incoming-webhook.json"),
        epoch,
    )
    .unwrap();
    assert_eq!(legacy.team_id.as_deref(), Some("TXXXXXXXXX"));
    assert_eq!(
        legacy.bot.as_ref().unwrap().tokens.token_type,
        TokenType::Bot
    );
    let webhook = legacy.incoming_webhook.as_ref().unwrap();
    assert_eq!(webhook.channel_id, None);
    assert_eq!(
        webhook.url.expose_secret(),
        "https://hooks.slack.com/TXXXXX/BXXXXX/XXXXXXXXXX"
    );
    assert!(!format!("{legacy:?}").contains("hooks.slack.com"));

    // auth.teams.list: cursor; userInfo: URL-named claims.
    let page = AuthTeamsListResponse::decode(
        &corpus_response("auth.teams.list/docs-success-next-cursor.json"),
        epoch,
    )
    .unwrap();
    assert_eq!(page.teams.len(), 2);
    assert_eq!(
        page.next_cursor.as_deref(),
        Some("dXNlcl9pZDo5MTQyOTI5Mzkz")
    );
    let info = OpenIdConnectUserInfoResponse::decode(
        &corpus_response("openid.connect.userInfo/docs-success.json"),
        epoch,
    )
    .unwrap();
    assert_eq!(info.team_domain.as_deref(), Some("kraneflannel"));
    assert_eq!(info.team_image_default, Some(true));
    assert_eq!(info.date_email_verified, Some(1_622_128_723));
}

/// One of this crate's fixtures: `(name, method, status, headers, body, expected)` where expected is
/// `Ok(())` or the error code and kind.
struct Fixture {
    name: &'static str,
    method: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    expected: Result<(), (&'static str, ErrorKind)>,
}

const fn ok(name: &'static str, method: &'static str, body: &'static str) -> Fixture {
    Fixture {
        name,
        method,
        status: 200,
        headers: &[],
        body,
        expected: Ok(()),
    }
}

const fn err(
    name: &'static str,
    method: &'static str,
    body: &'static str,
    code: &'static str,
    kind: ErrorKind,
) -> Fixture {
    Fixture {
        name,
        method,
        status: 200,
        headers: &[],
        body,
        expected: Err((code, kind)),
    }
}

#[rustfmt::skip]
const FIXTURES: &[Fixture] = &[
    err("reused code", "oauth.v2.access", r#"{"ok":false,"error":"invalid_code"}"#, "invalid_code", ErrorKind::ReauthorizationRequired),
    err("spent refresh token", "oauth.v2.access", r#"{"ok":false,"error":"invalid_refresh_token"}"#, "invalid_refresh_token", ErrorKind::ReauthorizationRequired),
    err("bad secret", "oauth.v2.access", r#"{"ok":false,"error":"bad_client_secret"}"#, "bad_client_secret", ErrorKind::Configuration),
    err("bad grant type", "oauth.v2.access", r#"{"ok":false,"error":"invalid_grant_type"}"#, "invalid_grant_type", ErrorKind::InvalidRequest),
    err("bad redirect", "oauth.v2.access", r#"{"ok":false,"error":"bad_redirect_uri"}"#, "bad_redirect_uri", ErrorKind::Configuration),
    err("verifier", "oauth.v2.access", r#"{"ok":false,"error":"invalid_code_verifier"}"#, "invalid_code_verifier", ErrorKind::InvalidRequest),
    err("v1 code reuse", "oauth.access", r#"{"ok":false,"error":"code_already_used"}"#, "code_already_used", ErrorKind::ReauthorizationRequired),
    err("revoked", "auth.test", r#"{"ok":false,"error":"token_revoked"}"#, "token_revoked", ErrorKind::ReauthorizationRequired),
    err("expired", "auth.test", r#"{"ok":false,"error":"token_expired","warning":"superfluous_charset"}"#, "token_expired", ErrorKind::TokenRejected),
    err("missing scope", "auth.teams.list", r#"{"ok":false,"error":"missing_scope","needed":"admin.teams:read","provided":"chat:write,commands"}"#, "missing_scope", ErrorKind::Configuration),
    err("already exchanged", "oauth.v2.exchange", r#"{"ok":false,"error":"token_already_exchanged"}"#, "token_already_exchanged", ErrorKind::InvalidRequest),
    err("openid grant", "openid.connect.token", r#"{"ok":false,"error":"invalid_grant"}"#, "invalid_grant", ErrorKind::ReauthorizationRequired),
    err("unknown code", "apps.auth.external.delete", r#"{"ok":false,"error":"brand_new_code"}"#, "brand_new_code", ErrorKind::InvalidRequest),
    err("ratelimited in 200", "oauth.access", r#"{"ok":false,"error":"ratelimited"}"#, "ratelimited", ErrorKind::RateLimited),
    err("internal", "auth.revoke", r#"{"ok":false,"error":"internal_error"}"#, "internal_error", ErrorKind::Retryable),
    err("empty error", "auth.test", r#"{"ok":false,"error":""}"#, "", ErrorKind::InvalidRequest),
    Fixture { name: "429 with Retry-After", method: "auth.test", status: 429, headers: &[("retry-after", "30")], body: r#"{"ok":false,"error":"ratelimited"}"#, expected: Err(("ratelimited", ErrorKind::RateLimited)) },
    Fixture { name: "429 without a body", method: "oauth.v2.access", status: 429, headers: &[("retry-after", "2")], body: "rate limited", expected: Err(("ratelimited", ErrorKind::RateLimited)) },
    Fixture { name: "500 with an envelope", method: "auth.test", status: 500, headers: &[], body: r#"{"ok":false,"error":"fatal_error"}"#, expected: Err(("fatal_error", ErrorKind::Retryable)) },
    ok("v2 install with webhook", "oauth.v2.access", r##"{"ok":true,"app_id":"A1","access_token":"xoxb-1-2-webhooksecrettoken","token_type":"bot","scope":"incoming-webhook","bot_user_id":"U2","team":{"id":"T1","name":"Team"},"enterprise":null,"is_enterprise_install":false,"authed_user":{"id":"U3"},"incoming_webhook":{"channel":"#general","channel_id":"C123","configuration_url":"https://team.slack.com/services/B1","url":"https://hooks.slack.com/services/T1/B1/webhooksecretpath"}}"##),
    ok("exchange", "oauth.v2.exchange", r#"{"ok":true,"access_token":"xoxe.xoxb-1-exchanged","expires_in":43200,"refresh_token":"xoxe-1-exchanged","token_type":"bot","scope":"commands","bot_user_id":"U123456","app_id":"A123456","team":{"name":"Softball","id":"T123456"},"enterprise":null}"#),
    ok("user refresh with user_id", "oauth.v2.access", r#"{"ok":true,"app_id":"A1","access_token":"xoxe.xoxp-1-new","expires_in":43200,"refresh_token":"xoxe-1-new","token_type":"user","user_id":"U9","scope":"search:read","team":{"id":"T1","name":"T"},"enterprise":null,"is_enterprise_install":false}"#),
    ok("teams with icons, last page", "auth.teams.list", r#"{"ok":true,"teams":[{"id":"T1","name":"One","icon":{"image_34":"https://a/34.png","image_default":true}}],"response_metadata":{"next_cursor":""}}"#),
    ok("external get with extras", "apps.auth.external.get", r#"{"ok":true,"external_token":"00Dexternalsecret","token_response_extras":{"instance_url":"https://x.my.salesforce.com","id_token":"extra-secret"}}"#),
    ok("external delete", "apps.auth.external.delete", r#"{"ok":true}"#),
    ok("revoke in test mode", "auth.revoke", r#"{"ok":true,"revoked":false}"#),
    ok("auth.test org token", "auth.test", r#"{"ok":true,"url":"https://org.enterprise.slack.com/","team":"Org","user":null,"team_id":"E1","user_id":"W1","bot_id":"B1","enterprise_id":"E1","is_enterprise_install":true,"app_id":"A1","app_name":"app","expires_in":3600}"#),
    ok("openid token with rotation", "openid.connect.token", r#"{"ok":true,"access_token":"xoxe.xoxp-1-oidc","token_type":"Bearer","id_token":"a.b.c","refresh_token":"xoxe-1-oidc","expires_in":43200,"state":"s1"}"#),
    Fixture { name: "429 with a JSON body of another shape", method: "auth.teams.list", status: 429, headers: &[("retry-after", "1")], body: r#"{"message":"slow down"}"#, expected: Err(("ratelimited", ErrorKind::RateLimited)) },
    err("error without ok", "auth.test", r#"{"error":"invalid_auth"}"#, "invalid_auth", ErrorKind::ReauthorizationRequired),
    ok("odd envelope field types are tolerated", "auth.revoke", r#"{"ok":true,"revoked":true,"warning":42,"response_metadata":{"warnings":"x","messages":[1,"[WARN] m"]}}"#),
];

#[rustfmt::skip]
const UNDECODABLE: &[(&str, u16, &str)] = &[
    ("HTML outage page", 503, "<html><body>Slack is down</body></html>"),
    ("empty 200", 200, ""),
    ("truncated JSON", 200, r#"{"ok":true,"access_token":"xoxb-trunc"#),
    ("HTML 200 from a proxy", 200, "<!doctype html><title>Login</title>"),
    ("success missing its token", 200, r#"{"ok":true,"app_id":"A1"}"#),
    ("JSON 502 without envelope", 502, r#"{"message":"bad gateway"}"#),
    ("a JSON array", 200, "[]"),
];

fn decode_method(method: &str, name: &str, response: &http::Response<Bytes>) -> Outcome {
    let mut outcomes = decode_as(method, name, true, response);
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

#[test]
fn own_fixtures_for_the_corpus_gaps() {
    for fixture in FIXTURES {
        let response = response(fixture.status, fixture.headers, fixture.body.as_bytes());
        let outcome = decode_method(fixture.method, fixture.name, &response);
        match (&fixture.expected, outcome) {
            (Ok(()), Ok(debug)) => {
                for secret in [
                    "webhooksecret",
                    "xoxb-1-2",
                    "xoxe.xox",
                    "xoxe-1-",
                    "externalsecret",
                    "extra-secret",
                    "a.b.c",
                ] {
                    assert!(
                        !debug.contains(secret),
                        "{}: Debug shows {secret}",
                        fixture.name
                    );
                }
            }
            (Ok(()), Err(error)) => panic!("{}: rejected: {error}", fixture.name),
            (Err(_), Ok(_)) => panic!("{}: accepted", fixture.name),
            (Err((code, kind)), Err(error)) => {
                assert_eq!(
                    slack_error(&error).code().as_str(),
                    *code,
                    "{}",
                    fixture.name
                );
                assert_eq!(error.kind(), *kind, "{}", fixture.name);
                assert_eq!(
                    error.http_status().map(|s| s.as_u16()),
                    Some(fixture.status),
                    "{}",
                    fixture.name
                );
            }
        }
    }
}

#[test]
fn missing_scope_keeps_needed_and_provided_and_429_keeps_retry_after() {
    let body = br#"{"ok":false,"error":"missing_scope","needed":"admin.teams:read","provided":"chat:write,commands","warning":"missing_charset","response_metadata":{"messages":["[ERROR] a scope is missing"]}}"#;
    let error =
        AuthTeamsListResponse::decode(&response(200, &[], body), SystemTime::now()).unwrap_err();
    let slack = slack_error(&error);
    assert_eq!(slack.code(), &SlackErrorCode::MissingScope);
    assert_eq!(slack.needed(), Some("admin.teams:read"));
    assert_eq!(slack.provided(), Some("chat:write,commands"));
    assert_eq!(slack.warnings(), ["missing_charset"]);
    assert_eq!(slack.messages(), ["[ERROR] a scope is missing"]);
    assert!(
        error
            .to_string()
            .contains("needed scope `admin.teams:read`")
    );

    let limited = response(
        429,
        &[("retry-after", "17")],
        br#"{"ok":false,"error":"ratelimited"}"#,
    );
    let error = AuthTestResponse::decode(&limited, SystemTime::now()).unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(17)));
    assert_eq!(error.kind(), ErrorKind::RateLimited);
}

#[test]
fn non_slack_bodies_are_undecodable_never_a_panic() {
    for (name, status, body) in UNDECODABLE {
        let response = response(*status, &[("content-type", "text/html")], body.as_bytes());
        for method in ["oauth.v2.access", "auth.test", "openid.connect.token"] {
            let outcome = decode_method(method, name, &response);
            if *name == "success missing its token" && method == "auth.test" {
                assert!(outcome.is_ok());
                continue;
            }
            let error = outcome.expect_err(name);
            assert_eq!(
                error.kind(),
                ErrorKind::UndecodableResponse,
                "{name} / {method}: {error}"
            );
            assert!(
                !error.to_string().contains("xoxb-trunc"),
                "{name}: the error quotes a token"
            );
            assert_eq!(error.is_retryable(), *status >= 500, "{name}");
        }
    }
}

fn fixture(name: &str) -> &'static [u8] {
    FIXTURES
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.body.as_bytes())
        .unwrap()
}

#[test]
fn decoded_fixtures_have_the_documented_fields() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let webhook =
        OauthV2AccessResponse::decode(&response(200, &[], fixture("v2 install with webhook")), now)
            .unwrap();
    let hook = webhook.incoming_webhook.as_ref().unwrap();
    assert_eq!(hook.channel_id.as_deref(), Some("C123"));
    let extras = SlackTokenExtras::from_token_set(webhook.primary_tokens().unwrap());
    let channel = extras.incoming_webhook.unwrap();
    assert_eq!(channel.channel_id.as_deref(), Some("C123"));
    assert!(
        !serde_json::to_string(&webhook.primary_tokens().unwrap().extras)
            .unwrap()
            .contains("hooks.slack.com")
    );

    let refreshed = OauthV2RefreshResponse::decode(
        &response(200, &[], fixture("user refresh with user_id")),
        now,
    )
    .unwrap()
    .0;
    assert_eq!(refreshed.user_id.as_deref(), Some("U9"));
    assert_eq!(refreshed.tokens.grantee.user_id.as_deref(), Some("U9"));
    assert_eq!(refreshed.tokens.token_type, TokenType::User);
    assert_eq!(
        refreshed.tokens.expires_at,
        Some(now + Duration::from_secs(43_200))
    );

    let test = AuthTestResponse::decode(
        &response(
            200,
            &[
                ("x-oauth-scopes", "chat:write,commands"),
                ("x-accepted-oauth-scopes", ""),
            ],
            fixture("auth.test org token"),
        ),
        now,
    )
    .unwrap();
    assert_eq!(test.user, None);
    assert!(test.is_enterprise_install);
    assert_eq!(test.expires_at, Some(now + Duration::from_secs(3_600)));
    assert_eq!(test.scopes.unwrap().as_slice(), ["chat:write", "commands"]);

    let page = AuthTeamsListResponse::decode(
        &response(200, &[], fixture("teams with icons, last page")),
        now,
    )
    .unwrap();
    assert_eq!(page.next_cursor, None);
    assert_eq!(
        page.teams[0].icon.as_ref().unwrap().image_default,
        Some(true)
    );

    let external = AppsAuthExternalGetResponse::decode(
        &response(200, &[], fixture("external get with extras")),
        now,
    )
    .unwrap();
    assert_eq!(external.external_token.expose_secret(), "00Dexternalsecret");
    assert!(
        external
            .token_response_extras
            .unwrap()
            .0
            .contains_key("instance_url")
    );

    let oidc = OpenIdConnectTokenResponse::decode(
        &response(200, &[], fixture("openid token with rotation")),
        now,
    )
    .unwrap();
    assert_eq!(oidc.tokens.token_type, TokenType::Bearer);
    assert_eq!(oidc.state.as_deref(), Some("s1"));
    assert_eq!(oidc.id_token.unwrap().expose_secret(), "a.b.c");
}

/// Answers that would store a token that can never work, or read a non-answer as a good token.
#[test]
fn empty_tokens_and_an_auth_test_without_ok_are_undecodable() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let undecodable = |error: Error| {
        assert_eq!(error.kind(), ErrorKind::UndecodableResponse, "{error}");
    };
    let body = br#"{"ok":true,"access_token":"","token_type":"bot","team":{"id":"T1"},"authed_user":{"id":"U1"}}"#;
    undecodable(OauthV2AccessResponse::decode(&response(200, &[], body), now).unwrap_err());
    let body = br#"{"ok":true,"access_token":"xoxb-1-a","token_type":"bot","team":{"id":"T1"},"authed_user":{"id":"U1","access_token":"  ","token_type":"user"}}"#;
    let install = OauthV2AccessResponse::decode(&response(200, &[], body), now).unwrap();
    assert!(install.bot.is_some());
    assert_eq!(
        install.authed_user.unwrap().tokens,
        None,
        "an empty user token is none"
    );
    let body = br#"{"ok":true,"access_token":"","token_type":"bot","refresh_token":"xoxe-1-r"}"#;
    undecodable(OauthV2RefreshResponse::decode(&response(200, &[], body), now).unwrap_err());
    for body in [
        &b"{}"[..],
        br#"{"user_id":"U1","team_id":"T1"}"#,
        br#"{"ok":"yes"}"#,
    ] {
        undecodable(AuthTestResponse::decode(&response(200, &[], body), now).unwrap_err());
    }
    assert!(
        AuthTestResponse::decode(&response(200, &[], br#"{"ok":true,"user_id":"U1"}"#), now)
            .is_ok()
    );
}
