//! Every method against `oauth-sandbox`, Slack's offline emulator: real flows (install, PKCE,
//! rotation with its grace period, exchange, Sign in with Slack with a signed `id_token`,
//! pagination, external tokens), the exact wire form of each request as the sandbox logged it,
//! the faults it injects, and every error code it can produce for a well-formed client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use futures_util::TryStreamExt as _;
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CsrfState, ErrorKind, Introspect as _,
    PkceVerifier, RefreshToken, Revoke as _, Scopes, TokenGrant as _, TokenType,
};
use oauth_sandbox::{
    App, Consent, DEFAULT_SLACK_APP_ID, DEFAULT_SLACK_CLIENT_ID as CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET as CLIENT_SECRET, Fault, FaultKind, RecordedRequest, Sandbox,
    SandboxHandle, TeamInfo,
};
use oauth_slack::{
    AppsAuthExternalDeleteRequest, AppsAuthExternalGetRequest, AuthRevokeRequest,
    AuthTeamsListRequest, ClientAuth, OauthAccessRequest, OauthV2AccessRequest,
    OauthV2ExchangeRequest, OauthV2RefreshRequest, OpenIdConnectTokenRequest,
    SlackAuthorizationRequest as _, SlackClient, SlackClientBuilder, SlackError,
};
#[cfg(feature = "openid")]
use oauth_slack::{
    IdTokenError, IdTokenExpectations, JwkSet, OpenIdConnectTokenResponse, verify_id_token,
};

const REDIRECT: &str = "https://example.com/auth/slack/callback";
const LEGACY_ID: &str = "1111.2222";
const LEGACY_SECRET: &str = "legacy-client-secret";
const PKCE_ID: &str = "3333.4444";
const PKCE_REDIRECT: &str = "http://127.0.0.1:8765/callback/slack";

async fn sandbox() -> SandboxHandle {
    Sandbox::builder()
        .app(App::slack(
            LEGACY_ID,
            LEGACY_SECRET,
            "A0LEGACY01",
            &[REDIRECT],
        ))
        .app(
            App::slack(
                PKCE_ID,
                "unused",
                "A0PKCE0001",
                &["http://127.0.0.1/callback/slack"],
            )
            .with_pkce(true)
            .without_secret(),
        )
        .start()
        .await
        .unwrap()
}

fn builder(sandbox: &SandboxHandle, client_id: &str) -> SlackClientBuilder {
    SlackClient::builder(client_id)
        .base_url(format!("{}/api/", sandbox.base_url()))
        .authorize_base_url(sandbox.base_url())
        .retry_policy(oauth_testkit::fast_retry_policy!())
}

fn confidential(sandbox: &SandboxHandle, auth: ClientAuth) -> SlackClient {
    builder(sandbox, CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .redirect_uri(REDIRECT)
        .client_auth(auth)
        .build()
        .unwrap()
}

/// Runs an authorize URL through the sandbox's consent and returns the code.
fn consent(sandbox: &SandboxHandle, url: &url::Url) -> AuthorizationCode {
    let outcome = sandbox.control().authorize(url.as_str()).unwrap();
    assert_eq!(outcome.error, None, "{outcome:?}");
    AuthorizationCode::new(outcome.code.unwrap())
}

fn install_request() -> AuthorizationRequest {
    AuthorizationRequest::with_state(CsrfState::new("state-1"))
        .scopes(Scopes::parse("chat:write,commands"))
        .user_scopes(&Scopes::parse("search:read"))
}

/// The last request the sandbox logged on `/api/<method>`.
fn last(sandbox: &SandboxHandle, method: &str) -> RecordedRequest {
    sandbox
        .control()
        .requests_to(&format!("/api/{method}"))
        .pop()
        .unwrap()
}

/// Asserts the exact wire form: POST, the path, no query string, the form content type, the
/// `Authorization` header (or none) and exactly these form parameters, in order.
fn assert_wire(
    request: &RecordedRequest,
    method: &str,
    authorization: Option<&str>,
    form: &[(&str, &str)],
) {
    let raw = format!("{request:?}");
    assert_eq!(request.method, "POST", "{raw}");
    assert_eq!(request.path, format!("/api/{method}"), "{raw}");
    assert_eq!(request.query, None, "{raw}");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded"),
        "{raw}"
    );
    assert_eq!(request.authorization.as_deref(), authorization, "{raw}");
    let expected: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(request.form(), expected, "{raw}");
}

fn basic(id: &str, secret: &str) -> String {
    // RFC 7617 by hand: the test must not share the client's encoder.
    let input = format!("{id}:{secret}");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn slack_code(error: &oauth_core::Error) -> String {
    error
        .provider_error()
        .and_then(|e| e.downcast_ref::<SlackError>())
        .map(|e| e.code().as_str().to_owned())
        .unwrap_or_else(|| panic!("not a Slack error: {error}"))
}

#[tokio::test]
async fn install_test_rotate_reuse_and_revoke_with_form_credentials() {
    let sandbox = sandbox().await;
    let control = sandbox.control();
    let client = confidential(&sandbox, ClientAuth::FormBody);

    // Install: bot and user tokens, rotating.
    let url = client.oauth_v2_authorize_url(&install_request()).unwrap();
    let code = consent(&sandbox, &url);
    let install = client
        .oauth_v2_access(&OauthV2AccessRequest::new(code.clone()))
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "oauth.v2.access"),
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", code.expose_secret()),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(install.app_id.as_deref(), Some(DEFAULT_SLACK_APP_ID));
    let bot = install.bot.clone().unwrap().tokens;
    assert!(bot.access_token.expose_secret().starts_with("xoxe.xoxb-1-"));
    assert_eq!(bot.token_type, TokenType::Bot);
    assert_eq!(bot.scopes.as_slice(), ["chat:write", "commands"]);
    assert_eq!(bot.grantee.workspace_id.as_deref(), Some("T0SANDBOX1"));
    let issued = bot
        .expires_at
        .unwrap()
        .duration_since(bot.issued_at)
        .unwrap();
    assert_eq!(issued, Duration::from_secs(43_200));
    let user = install.user_tokens().unwrap().clone();
    assert_eq!(user.token_type, TokenType::User);
    assert_eq!(user.grantee.user_id.as_deref(), Some("U0SANDBOX1"));

    // The code is single-use.
    let reused = client
        .oauth_v2_access(&OauthV2AccessRequest::new(code))
        .await
        .unwrap_err();
    assert_eq!(slack_code(&reused), "invalid_code");
    assert!(reused.needs_reauthorization());

    // auth.test / introspection: active, scopes from x-oauth-scopes.
    let test = client.auth_test(&bot.access_token).await.unwrap();
    assert_eq!(
        test.scopes.as_ref().unwrap().as_slice(),
        ["chat:write", "commands"]
    );
    assert_wire(
        &last(&sandbox, "auth.test"),
        "auth.test",
        Some(&format!("Bearer {}", bot.access_token.expose_secret())),
        &[],
    );
    let info = client.introspect(&bot.access_token).await.unwrap();
    assert!(info.active);
    assert_eq!(info.token_type, Some(TokenType::Bot));

    // Rotate: a new pair; the old refresh token replays the same pair within the grace period,
    // then fails.
    let old_refresh = bot.refresh_token.clone().unwrap();
    let rotated = client.refresh(&old_refresh).await.unwrap();
    assert_wire(
        &last(&sandbox, "oauth.v2.access"),
        "oauth.v2.access",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh.expose_secret()),
        ],
    );
    assert_ne!(rotated.access_token, bot.access_token);
    assert_eq!(
        rotated.refresh_token_expires_at, None,
        "confidential apps' refresh tokens do not expire"
    );
    assert_ne!(rotated.refresh_token.as_ref(), Some(&old_refresh));
    assert_eq!(rotated.token_type, TokenType::Bot);
    let replay = client.refresh(&old_refresh).await.unwrap();
    assert_eq!(replay.access_token, rotated.access_token);
    control.advance_clock(Duration::from_secs(301));
    let spent = client.refresh(&old_refresh).await.unwrap_err();
    assert_eq!(slack_code(&spent), "invalid_refresh_token");
    assert!(spent.needs_reauthorization());

    // A user token rotates too; the answer is the user token at the top level.
    let user_rotated = client
        .oauth_v2_access_refresh(&OauthV2RefreshRequest::new(
            user.refresh_token.clone().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(user_rotated.0.tokens.token_type, TokenType::User);
    assert_eq!(user_rotated.0.user_id.as_deref(), Some("U0SANDBOX1"));

    // Revoke: test mode revokes nothing; then for real; then the token is inactive.
    let test_mode = client
        .auth_revoke(&rotated.access_token, &AuthRevokeRequest::test())
        .await
        .unwrap();
    assert_eq!(test_mode.revoked, Some(false));
    assert_wire(
        &last(&sandbox, "auth.revoke"),
        "auth.revoke",
        Some(&format!("Bearer {}", rotated.access_token.expose_secret())),
        &[("test", "true")],
    );
    assert!(
        client
            .introspect(&rotated.access_token)
            .await
            .unwrap()
            .active
    );
    client.revoke(&rotated.access_token).await.unwrap();
    assert_wire(
        &last(&sandbox, "auth.revoke"),
        "auth.revoke",
        Some(&format!("Bearer {}", rotated.access_token.expose_secret())),
        &[],
    );
    let gone = client.introspect(&rotated.access_token).await.unwrap();
    assert!(!gone.active);
    assert_eq!(gone.inactive_reason.as_deref(), Some("token_revoked"));

    // The first access token expires after 12 hours.
    control.advance_clock(Duration::from_secs(43_200));
    let expired = client.introspect(&bot.access_token).await.unwrap();
    assert_eq!(expired.inactive_reason.as_deref(), Some("token_expired"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn basic_auth_and_the_trait_code_exchange() {
    let sandbox = sandbox().await;
    let client = confidential(&sandbox, ClientAuth::Basic);
    let code = consent(
        &sandbox,
        &client.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    let grant = client
        .exchange_code(oauth_core::CodeExchange::new(code.clone()).redirect_uri(REDIRECT))
        .await
        .unwrap();
    let tokens = grant
        .tokens_of(&oauth_core::Principal::Bot)
        .unwrap()
        .clone();
    assert_eq!(tokens.token_type, TokenType::Bot);
    assert_eq!(
        grant.installation.key.workspace_id(),
        tokens.grantee.workspace_id.as_deref()
    );
    let expected = basic(CLIENT_ID, CLIENT_SECRET);
    assert_wire(
        &last(&sandbox, "oauth.v2.access"),
        "oauth.v2.access",
        Some(&expected),
        &[("code", code.expose_secret()), ("redirect_uri", REDIRECT)],
    );
    let refresh = tokens.refresh_token.unwrap();
    client.refresh(&refresh).await.unwrap();
    assert_wire(
        &last(&sandbox, "oauth.v2.access"),
        "oauth.v2.access",
        Some(&expected),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
        ],
    );

    // A wrong secret and a wrong redirect URI are configuration errors.
    let wrong = builder(&sandbox, CLIENT_ID)
        .client_secret("wrong")
        .client_auth(ClientAuth::Basic)
        .build()
        .unwrap();
    let code = consent(
        &sandbox,
        &client.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    let error = wrong
        .oauth_v2_access(&OauthV2AccessRequest::new(code.clone()).redirect_uri(REDIRECT))
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&error).as_str(), error.kind()),
        ("bad_client_secret", ErrorKind::Configuration)
    );
    let error = client
        .oauth_v2_access(
            &OauthV2AccessRequest::new(code).redirect_uri("https://example.com/auth/slack/other"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&error).as_str(), error.kind()),
        ("bad_redirect_uri", ErrorKind::Configuration)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn pkce_public_client() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox, PKCE_ID)
        .redirect_uri(PKCE_REDIRECT)
        .build()
        .unwrap();
    let verifier = PkceVerifier::generate().unwrap();
    let request = AuthorizationRequest::with_state(CsrfState::new("s"))
        .user_scopes(&Scopes::parse("search:read"))
        .pkce_verifier(verifier.clone());
    let url = client.oauth_v2_authorize_url(&request).unwrap();
    assert!(url.as_str().contains("code_challenge_method=S256"));
    let code = consent(&sandbox, &url);

    // A wrong verifier is refused; the right one (with a fresh code) works.
    let wrong = client
        .oauth_v2_access(
            &OauthV2AccessRequest::new(code.clone())
                .code_verifier(PkceVerifier::generate().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(slack_code(&wrong), "invalid_code_verifier");
    let code = consent(&sandbox, &url);
    let install = client
        .oauth_v2_access(&OauthV2AccessRequest::new(code.clone()).code_verifier(verifier.clone()))
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "oauth.v2.access"),
        "oauth.v2.access",
        None,
        &[
            ("client_id", PKCE_ID),
            ("code", code.expose_secret()),
            ("redirect_uri", PKCE_REDIRECT),
            ("code_verifier", verifier.expose_secret()),
        ],
    );
    let user = install.primary_tokens().unwrap();
    assert_eq!(user.token_type, TokenType::User);
    let refresh = user.refresh_token.clone().unwrap();
    let rotated = client.refresh(&refresh).await.unwrap();
    assert!(rotated.refresh_token.is_some());
    // PKCE apps' refresh tokens live 30 days.
    assert_eq!(
        rotated.refresh_token_expires_at,
        Some(rotated.issued_at + oauth_slack::PKCE_REFRESH_TOKEN_LIFETIME)
    );
    assert_eq!(
        user.refresh_token_expires_at,
        Some(user.issued_at + Duration::from_secs(30 * 24 * 3600))
    );
    assert_wire(
        &last(&sandbox, "oauth.v2.access"),
        "oauth.v2.access",
        None,
        &[
            ("client_id", PKCE_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
        ],
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn legacy_exchange_and_oauth_access() {
    let sandbox = sandbox().await;
    let control = sandbox.control();
    let client = builder(&sandbox, LEGACY_ID)
        .client_secret(LEGACY_SECRET)
        .redirect_uri(REDIRECT)
        .build()
        .unwrap();

    // A non-rotating install gives a long-lived token…
    let code = consent(
        &sandbox,
        &client.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    let install = client
        .oauth_v2_access(&OauthV2AccessRequest::new(code))
        .await
        .unwrap();
    let legacy = install.bot.unwrap().tokens;
    assert!(legacy.access_token.expose_secret().starts_with("xoxb-"));
    assert_eq!(legacy.expires_at, None);
    let not_yet = client
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(legacy.access_token.clone()))
        .await
        .unwrap_err();
    assert_eq!(slack_code(&not_yet), "token_rotation_not_enabled");

    // …which oauth.v2.exchange migrates once rotation is on.
    control.set_token_rotation(LEGACY_ID, true).unwrap();
    let exchanged = client
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(legacy.access_token.clone()))
        .await
        .unwrap();
    let legacy_value = legacy.access_token.expose_secret();
    assert_wire(
        &last(&sandbox, "oauth.v2.exchange"),
        "oauth.v2.exchange",
        Some(&format!("Bearer {legacy_value}")),
        &[
            ("client_id", LEGACY_ID),
            ("client_secret", LEGACY_SECRET),
            ("token", legacy_value),
        ],
    );
    assert!(exchanged.0.tokens.refresh_token.is_some());
    assert!(exchanged.0.tokens.expires_at.is_some());
    let again = client
        .oauth_v2_exchange(&OauthV2ExchangeRequest::new(legacy.access_token))
        .await
        .unwrap_err();
    assert_eq!(slack_code(&again), "token_already_exchanged");

    // oauth.access with a v1 code; a v1 code reused says code_already_used.
    let v1 = url::Url::parse(&format!(
        "{}/oauth/authorize?client_id={LEGACY_ID}&scope=commands&redirect_uri={}&state=s",
        sandbox.base_url(),
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    ))
    .unwrap();
    let code = consent(&sandbox, &v1);
    #[allow(deprecated)]
    let response = client
        .oauth_access(&OauthAccessRequest::new(code.clone()))
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "oauth.access"),
        "oauth.access",
        None,
        &[
            ("client_id", LEGACY_ID),
            ("client_secret", LEGACY_SECRET),
            ("code", code.expose_secret()),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(response.team_id.as_deref(), Some("T0SANDBOX1"));
    #[allow(deprecated)]
    let reused = client
        .oauth_access(&OauthAccessRequest::new(code))
        .await
        .unwrap_err();
    assert_eq!(slack_code(&reused), "code_already_used");

    // A v2 code at oauth.access, and the reverse.
    let v2_code = consent(
        &sandbox,
        &client.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    #[allow(deprecated)]
    let mismatch = client
        .oauth_access(&OauthAccessRequest::new(v2_code))
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&mismatch).as_str(), mismatch.kind()),
        ("oauth_authorization_url_mismatch", ErrorKind::Configuration)
    );
    sandbox.shutdown().await;
}

/// Verifies the `id_token` of a Sign in with Slack answer against the sandbox's keys, and every way
/// verification must refuse it.
#[cfg(feature = "openid")]
fn assert_id_token_verification(
    sandbox: &SandboxHandle,
    response: &OpenIdConnectTokenResponse,
    keys: &JwkSet,
    nonce: &str,
    now: std::time::SystemTime,
) {
    let expect = IdTokenExpectations::new(CLIENT_ID)
        .issuer(sandbox.base_url())
        .nonce(nonce)
        .now(now);
    let id_token = response.id_token.clone().unwrap();
    let claims = verify_id_token(&id_token, keys, &expect).unwrap();
    assert_eq!(claims.sub, "U0SANDBOX1");
    assert_eq!(claims.nonce.as_deref(), Some(nonce));
    // at_hash binds the id_token to the access token it came with.
    let bound = expect
        .clone()
        .access_token(response.tokens.access_token.clone());
    assert!(verify_id_token(&id_token, keys, &bound).is_ok());
    let other_token = expect
        .clone()
        .access_token(AccessToken::new("xoxp-another-token"));
    assert_eq!(
        verify_id_token(&id_token, keys, &other_token).unwrap_err(),
        IdTokenError::AccessTokenHashMismatch
    );

    // Wrong audience, wrong nonce, expired, wrong issuer, a key set with another key under the same kid.
    let cases = [
        (
            IdTokenExpectations::new("other.client")
                .issuer(sandbox.base_url())
                .nonce(nonce)
                .now(now),
            "WrongAudience",
        ),
        (expect.clone().nonce("another-nonce"), "NonceMismatch"),
        (
            expect.clone().now(now + Duration::from_secs(3600)),
            "Expired",
        ),
        (expect.clone().issuer("https://slack.com"), "WrongIssuer"),
    ];
    for (expectations, expected) in cases {
        let error = verify_id_token(&id_token, keys, &expectations).unwrap_err();
        assert!(
            format!("{error:?}").starts_with(expected),
            "{expected}: {error:?}"
        );
    }
    let mut forged = keys.clone();
    let other = JwkSet::from_json(include_bytes!("fixtures/jwks.json")).unwrap();
    forged.keys[0].n = other.keys[0].n.clone();
    assert_eq!(
        verify_id_token(&id_token, &forged, &expect).unwrap_err(),
        IdTokenError::BadSignature
    );
}

/// The Sign in with Slack calls; with the `openid` feature, the `id_token`s they return are
/// verified too.
#[tokio::test]
async fn sign_in_with_slack_and_id_token_verification() {
    let sandbox = sandbox().await;
    let control = sandbox.control();
    let client = confidential(&sandbox, ClientAuth::FormBody);
    let nonce = oauth_slack::generate_nonce().unwrap();
    let request = AuthorizationRequest::with_state(CsrfState::new("s"))
        .scopes(Scopes::parse("openid email profile"))
        .nonce(nonce.clone());
    let code = consent(
        &sandbox,
        &client.openid_connect_authorize_url(&request).unwrap(),
    );
    let response = client
        .openid_connect_token(&OpenIdConnectTokenRequest::authorization_code(code.clone()))
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "openid.connect.token"),
        "openid.connect.token",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", code.expose_secret()),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(response.tokens.token_type, TokenType::Bearer);

    // The keys come from the sandbox's /openid/connect/keys; its issuer is its base URL.
    let keys = client.openid_connect_keys().await.unwrap();
    let recorded = control.requests_to("/openid/connect/keys").pop().unwrap();
    assert_eq!(
        (recorded.method.as_str(), recorded.authorization.as_deref()),
        ("GET", None)
    );
    assert!(!keys.keys.is_empty());
    #[cfg(feature = "openid")]
    let now = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(control.now()).unwrap());
    #[cfg(feature = "openid")]
    assert_id_token_verification(&sandbox, &response, &keys, &nonce, now);

    // userInfo with the Sign in with Slack token.
    let info = client
        .openid_connect_user_info(&response.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(info.sub, "U0SANDBOX1");
    assert_eq!(info.team_id.as_deref(), Some("T0SANDBOX1"));
    assert_wire(
        &last(&sandbox, "openid.connect.userInfo"),
        "openid.connect.userInfo",
        Some(&format!(
            "Bearer {}",
            response.tokens.access_token.expose_secret()
        )),
        &[],
    );

    // Sign in with Slack tokens rotate too (the default app has rotation on).
    let refresh = response.tokens.refresh_token.clone().unwrap();
    let rotated = client
        .openid_connect_token(&OpenIdConnectTokenRequest::refresh_token(refresh.clone()))
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "openid.connect.token"),
        "openid.connect.token",
        None,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
        ],
    );
    assert_ne!(rotated.tokens.refresh_token.as_ref(), Some(&refresh));
    assert!(rotated.id_token.is_some());
    #[cfg(feature = "openid")]
    assert!(
        verify_id_token(
            rotated.id_token.as_ref().unwrap(),
            &keys,
            &IdTokenExpectations::new(CLIENT_ID)
                .issuer(sandbox.base_url())
                .now(now)
        )
        .is_ok()
    );

    // A PKCE mismatch at openid.connect.token is invalid_grant.
    let verifier = PkceVerifier::generate().unwrap();
    let code = consent(
        &sandbox,
        &client
            .openid_connect_authorize_url(&request.clone().pkce_verifier(verifier))
            .unwrap(),
    );
    let mismatch = client
        .openid_connect_token(
            &OpenIdConnectTokenRequest::authorization_code(code)
                .code_verifier(PkceVerifier::generate().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&mismatch).as_str(), mismatch.kind()),
        ("invalid_grant", ErrorKind::ReauthorizationRequired)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn auth_teams_list_pagination_and_external_tokens() {
    let sandbox = sandbox().await;
    let control = sandbox.control();
    let teams: Vec<TeamInfo> = (1..=5)
        .map(|i| TeamInfo {
            id: format!("T00000000{i}"),
            name: format!("Team {i}"),
        })
        .collect();
    control.push_consent(Consent {
        teams,
        enterprise_id: Some("E0SANDBOX1".into()),
        ..Consent::default()
    });
    let client = confidential(&sandbox, ClientAuth::FormBody);
    let code = consent(
        &sandbox,
        &client.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    let bot = client
        .oauth_v2_access(&OauthV2AccessRequest::new(code))
        .await
        .unwrap()
        .bot
        .unwrap()
        .tokens;
    let bearer = format!("Bearer {}", bot.access_token.expose_secret());

    let first = client
        .auth_teams_list(
            &bot.access_token,
            &AuthTeamsListRequest::new().limit(2).include_icon(true),
        )
        .await
        .unwrap();
    assert_eq!(first.teams.len(), 2);
    assert!(first.teams[0].icon.is_some());
    let cursor = first.next_cursor.clone().unwrap();
    assert_wire(
        &last(&sandbox, "auth.teams.list"),
        "auth.teams.list",
        Some(&bearer),
        &[("limit", "2"), ("include_icon", "true")],
    );
    let all: Vec<_> = client
        .auth_teams_list_stream(
            bot.access_token.clone(),
            AuthTeamsListRequest::new().limit(2),
        )
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "T000000001",
            "T000000002",
            "T000000003",
            "T000000004",
            "T000000005"
        ]
    );
    let pages = control.requests_to("/api/auth.teams.list");
    assert_eq!(pages.len(), 4);
    assert_wire(
        &pages[1],
        "auth.teams.list",
        Some(&bearer),
        &[("limit", "2")],
    );
    assert_wire(
        &pages[2],
        "auth.teams.list",
        Some(&bearer),
        &[("cursor", &cursor), ("limit", "2")],
    );
    let bad_cursor = client
        .auth_teams_list(
            &bot.access_token,
            &AuthTeamsListRequest::new().cursor("garbage"),
        )
        .await
        .unwrap_err();
    assert_eq!(slack_code(&bad_cursor), "invalid_cursor");
    let bad_limit = client
        .auth_teams_list(&bot.access_token, &AuthTeamsListRequest::new().limit(5000))
        .await
        .unwrap_err();
    assert_eq!(slack_code(&bad_limit), "invalid_limit");

    // External tokens: the default app's `Et0SANDBOX01`.
    let got = client
        .apps_auth_external_get(
            &bot.access_token,
            &AppsAuthExternalGetRequest::new("Et0SANDBOX01"),
        )
        .await
        .unwrap();
    assert!(!got.external_token.expose_secret().is_empty());
    client
        .apps_auth_external_get(
            &bot.access_token,
            &AppsAuthExternalGetRequest::new("Et0SANDBOX01").force_refresh(true),
        )
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "apps.auth.external.get"),
        "apps.auth.external.get",
        Some(&bearer),
        &[
            ("external_token_id", "Et0SANDBOX01"),
            ("force_refresh", "true"),
        ],
    );
    let unknown = client
        .apps_auth_external_get(&bot.access_token, &AppsAuthExternalGetRequest::new("Et404"))
        .await
        .unwrap_err();
    assert_eq!(slack_code(&unknown), "token_not_found");
    let no_selector = client
        .apps_auth_external_delete(&bot.access_token, &AppsAuthExternalDeleteRequest::new())
        .await
        .unwrap_err();
    assert_eq!(slack_code(&no_selector), "invalid_args");
    client
        .apps_auth_external_delete(
            &bot.access_token,
            &AppsAuthExternalDeleteRequest::new().external_token_id("Et0SANDBOX01"),
        )
        .await
        .unwrap();
    assert_wire(
        &last(&sandbox, "apps.auth.external.delete"),
        "apps.auth.external.delete",
        Some(&bearer),
        &[("external_token_id", "Et0SANDBOX01")],
    );
    let deleted = client
        .apps_auth_external_get(
            &bot.access_token,
            &AppsAuthExternalGetRequest::new("Et0SANDBOX01"),
        )
        .await
        .unwrap_err();
    assert_eq!(slack_code(&deleted), "token_not_found");
    for (request, expected) in [
        (
            AppsAuthExternalDeleteRequest::new().app_id("A404"),
            "app_not_found",
        ),
        (
            AppsAuthExternalDeleteRequest::new().provider_key("nope"),
            "providers_not_found",
        ),
        (
            AppsAuthExternalDeleteRequest::new().app_id(DEFAULT_SLACK_APP_ID),
            "no_tokens_found",
        ),
    ] {
        let error = client
            .apps_auth_external_delete(&bot.access_token, &request)
            .await
            .unwrap_err();
        assert_eq!(slack_code(&error), expected);
    }
    // A user token may not read external tokens.
    let user = confidential(&sandbox, ClientAuth::FormBody);
    let code = consent(
        &sandbox,
        &user.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    let user_token = user
        .oauth_v2_access(&OauthV2AccessRequest::new(code))
        .await
        .unwrap()
        .user_tokens()
        .unwrap()
        .access_token
        .clone();
    let refused = user
        .apps_auth_external_get(
            &user_token,
            &AppsAuthExternalGetRequest::new("Et0SANDBOX01"),
        )
        .await
        .unwrap_err();
    assert_eq!(slack_code(&refused), "not_allowed_token_type");
    // userInfo needs the `openid` scope: missing_scope keeps needed/provided.
    let missing = user
        .openid_connect_user_info(&user_token)
        .await
        .unwrap_err();
    let slack = missing
        .provider_error()
        .and_then(|e| e.downcast_ref::<SlackError>())
        .unwrap();
    assert_eq!(
        (slack.code().as_str(), slack.needed()),
        ("missing_scope", Some("openid"))
    );
    assert_eq!(slack.provided(), Some("search:read"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn faults_retries_and_single_use_grants() {
    let sandbox = sandbox().await;
    let control = sandbox.control();
    let client = confidential(&sandbox, ClientAuth::FormBody);
    let code = consent(
        &sandbox,
        &client.oauth_v2_authorize_url(&install_request()).unwrap(),
    );
    let bot = client
        .oauth_v2_access(&OauthV2AccessRequest::new(code))
        .await
        .unwrap()
        .bot
        .unwrap()
        .tokens;

    // 429 + Retry-After: retried, even for a refresh (Slack did not process it).
    control.inject_fault(Fault::new(
        "/api/auth.test",
        FaultKind::RateLimited {
            retry_after_secs: 0,
        },
    ));
    client.auth_test(&bot.access_token).await.unwrap();
    assert_eq!(control.requests_to("/api/auth.test").len(), 2);
    control.inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::RateLimited {
            retry_after_secs: 0,
        },
    ));
    let rotated = client
        .refresh(bot.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    // A Retry-After beyond the policy: the rate-limited error, with its delay.
    control.inject_fault(Fault::new(
        "/api/auth.test",
        FaultKind::RateLimited {
            retry_after_secs: 60,
        },
    ));
    let limited = client.auth_test(&bot.access_token).await.unwrap_err();
    assert_eq!(
        (limited.kind(), limited.retry_after()),
        (ErrorKind::RateLimited, Some(Duration::from_secs(60)))
    );

    // A lost answer after the refresh was processed: not resent; the grace period recovers it.
    let refresh = rotated.refresh_token.clone().unwrap();
    let before = control
        .counters()
        .app_op(CLIENT_ID, "slack.oauth.v2.access.refresh_token");
    control.inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::DropAfterProcessing,
    ));
    let lost = client.refresh(&refresh).await.unwrap_err();
    assert!(
        matches!(lost.kind(), ErrorKind::Transport | ErrorKind::Timeout),
        "{lost}"
    );
    assert_eq!(
        control
            .counters()
            .app_op(CLIENT_ID, "slack.oauth.v2.access.refresh_token"),
        before + 1
    );
    let recovered = client.refresh(&refresh).await.unwrap();
    assert!(recovered.refresh_token.is_some());

    // At most two live access tokens per grant: the first one was revoked by the third refresh.
    let first = client.introspect(&bot.access_token).await.unwrap();
    assert_eq!(first.inactive_reason.as_deref(), Some("token_revoked"));
    let live = recovered.access_token.clone();

    // 5xx: a refresh is not resent; auth.test is.
    control.inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::Status { status: 503 },
    ));
    let outage = client
        .refresh(recovered.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&outage).as_str(), outage.kind()),
        ("service_unavailable", ErrorKind::Retryable)
    );
    control.inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::Status { status: 500 },
    ));
    let failure = client
        .refresh(recovered.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&failure).as_str(), failure.kind()),
        ("internal_error", ErrorKind::Retryable)
    );
    assert_eq!(
        control
            .requests_to("/api/oauth.v2.access")
            .iter()
            .filter(|r| r.fault.is_some())
            .count(),
        4,
        "each faulted refresh was sent once (429 retried once, drop, 503, 500)"
    );
    control.inject_fault(Fault::new(
        "/api/auth.test",
        FaultKind::Status { status: 500 },
    ));
    let before = control.requests_to("/api/auth.test").len();
    client.auth_test(&live).await.unwrap();
    assert_eq!(control.requests_to("/api/auth.test").len(), before + 2);

    // Undecodable answers and an unknown code.
    for (kind, expected) in [
        (FaultKind::TruncatedJson, ErrorKind::UndecodableResponse),
        (FaultKind::Oversized, ErrorKind::UndecodableResponse),
    ] {
        control.inject_fault(Fault::new("/api/auth.revoke", kind));
        let error = client
            .auth_revoke(&live, &AuthRevokeRequest::test())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), expected, "{error}");
    }
    control.inject_fault(Fault::new("/api/auth.revoke", FaultKind::Html502).times(3));
    let html = client
        .auth_revoke(&live, &AuthRevokeRequest::test())
        .await
        .unwrap_err();
    assert_eq!(html.kind(), ErrorKind::UndecodableResponse);
    assert!(html.is_retryable());
    control.inject_fault(Fault::new("/api/auth.revoke", FaultKind::UnknownErrorCode));
    let unknown = client
        .auth_revoke(&live, &AuthRevokeRequest::test())
        .await
        .unwrap_err();
    assert_eq!(
        (slack_code(&unknown).as_str(), unknown.kind()),
        ("sandbox_undocumented_error", ErrorKind::InvalidRequest)
    );
    // Served as text/html but Slack's JSON: accepted.
    control.inject_fault(Fault::new("/api/auth.test", FaultKind::WrongContentType));
    client.auth_test(&live).await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn client_side_error_codes_the_sandbox_produces() {
    let sandbox = sandbox().await;
    let client = confidential(&sandbox, ClientAuth::FormBody);
    let unknown_app = builder(&sandbox, "9999.0000")
        .client_secret("x")
        .redirect_uri(REDIRECT)
        .build()
        .unwrap();
    let code = AuthorizationCode::new("0.0.unknown");
    let cases: Vec<(&str, Result<(), oauth_core::Error>, ErrorKind)> = vec![
        (
            "not_authed",
            client.auth_test(&AccessToken::new("")).await.map(drop),
            ErrorKind::InvalidRequest,
        ),
        (
            "invalid_auth",
            client
                .auth_test(&AccessToken::new("xoxb-unknown"))
                .await
                .map(drop),
            ErrorKind::ReauthorizationRequired,
        ),
        (
            "invalid_code",
            client
                .oauth_v2_access(&OauthV2AccessRequest::new(code.clone()))
                .await
                .map(drop),
            ErrorKind::ReauthorizationRequired,
        ),
        (
            "invalid_client_id",
            unknown_app
                .oauth_v2_access(&OauthV2AccessRequest::new(code))
                .await
                .map(drop),
            ErrorKind::Configuration,
        ),
        (
            "invalid_refresh_token",
            client
                .refresh(&RefreshToken::new("xoxe-1-unknown"))
                .await
                .map(drop),
            ErrorKind::ReauthorizationRequired,
        ),
        (
            "invalid_token",
            client
                .oauth_v2_exchange(&OauthV2ExchangeRequest::new(AccessToken::new(
                    "xoxb-unknown",
                )))
                .await
                .map(drop),
            ErrorKind::InvalidRequest,
        ),
        (
            "invalid_auth",
            client
                .auth_revoke(&AccessToken::new("xoxb-unknown"), &AuthRevokeRequest::new())
                .await
                .map(drop),
            ErrorKind::ReauthorizationRequired,
        ),
    ];
    for (expected, outcome, kind) in cases {
        let error = outcome.unwrap_err();
        assert_eq!(slack_code(&error), expected);
        assert_eq!(error.kind(), kind, "{expected}");
    }
    // An empty token introspects as inactive (not_authed), an unknown one too (invalid_auth).
    assert_eq!(
        client
            .introspect(&AccessToken::new(""))
            .await
            .unwrap()
            .inactive_reason
            .as_deref(),
        Some("not_authed")
    );
    sandbox.shutdown().await;
}
