//! Slack methods over plain HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments,
    clippy::type_complexity
)]

mod common;

use common::{Ctx, SLACK_REDIRECT, basic, enc};
use oauth_sandbox::{
    App, Consent, DEFAULT_SLACK_CLIENT_ID as ID, DEFAULT_SLACK_CLIENT_SECRET as SECRET,
    ExternalToken, Sandbox, TeamInfo,
};
use serde_json::json;
use std::time::Duration;

const LEGACY_ID: &str = "1111.2222";
const PKCE_ID: &str = "3333.4444";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123";

fn challenge(v: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

async fn ctx() -> Ctx {
    Ctx::with(
        Sandbox::builder()
            .app(App::slack(
                LEGACY_ID,
                "legacysecret",
                "A0LEGACY01",
                &["https://legacy.example/cb", "myapp://cb"],
            ))
            .app(
                App::slack(
                    PKCE_ID,
                    "unused",
                    "A0PKCE0001",
                    &["http://localhost/desktop", "myapp://oauth"],
                )
                .with_pkce(true)
                .without_secret(),
            ),
    )
    .await
}

#[tokio::test]
async fn v2_install_with_rotation() {
    let c = ctx().await;
    let r = c.slack_install().await;
    assert!(r.s("access_token").starts_with("xoxe.xoxb-1-"));
    assert!(r.s("refresh_token").starts_with("xoxe-1-"));
    assert_eq!(
        (
            r.json["expires_in"].as_i64(),
            r.s("token_type"),
            r.s("scope")
        ),
        (Some(43200), "bot", "chat:write,commands")
    );
    assert_eq!(r.s("app_id"), "A0SANDBOX01");
    assert_eq!(
        r.json["team"],
        json!({"id": "T0SANDBOX1", "name": "Sandbox Workspace"})
    );
    assert_eq!(r.json["enterprise"], json!(null));
    let u = &r.json["authed_user"];
    assert_eq!(
        (
            u["id"].as_str(),
            u["token_type"].as_str(),
            u["scope"].as_str()
        ),
        (Some("U0SANDBOX1"), Some("user"), Some("search:read"))
    );
    assert!(
        u["access_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxe.xoxp-1-")
    );
    assert!(
        r.text.contains("\\/") || !r.text.contains('/'),
        "slashes are escaped: {}",
        r.text
    );

    // auth.test with the bot token: fields and x-oauth-scopes.
    let t = c.slack("auth.test", &[], Some(r.s("access_token"))).await;
    assert_eq!(t.slack_code(), "ok", "{}", t.text);
    assert_eq!(t.header("x-oauth-scopes"), Some("chat:write,commands"));
    assert_eq!(
        (t.s("team_id"), t.s("url")),
        ("T0SANDBOX1", "https://sandboxworkspace.slack.com/")
    );
    assert!(t.s("bot_id").starts_with('B'));
    assert_eq!(t.json["expires_in"], 43200);
    // Token in the body works too; JSON body with the header works for auth.test.
    let t = c
        .slack(
            "auth.test",
            &[("token", u["access_token"].as_str().unwrap())],
            None,
        )
        .await;
    assert_eq!((t.slack_code(), t.s("user_id")), ("ok", "U0SANDBOX1"));
    assert_eq!(t.header("x-oauth-scopes"), Some("search:read"));
    let auth = format!("Bearer {}", r.s("access_token"));
    let j = c
        .send(
            "POST",
            "/api/auth.test",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some("{}".into()),
        )
        .await;
    assert_eq!((j.slack_code(), j.s("warning")), ("ok", "missing_charset"));
}

#[tokio::test]
async fn rotation_rules() {
    let c = ctx().await;
    let r = c.slack_install().await;
    let (a0, rt0) = (
        r.s("access_token").to_owned(),
        r.s("refresh_token").to_owned(),
    );
    let r1 = c.slack_refresh(&rt0).await;
    assert_eq!(r1.slack_code(), "ok", "{}", r1.text);
    assert_eq!(
        (r1.s("token_type"), r1.json["expires_in"].as_i64()),
        ("bot", Some(43200))
    );
    assert!(r1.json.get("authed_user").is_none());
    assert!(r1.s("bot_user_id").starts_with('U'));
    let (a1, rt1) = (
        r1.s("access_token").to_owned(),
        r1.s("refresh_token").to_owned(),
    );
    assert!(a1.starts_with("xoxe.xoxb-1-") && rt1.starts_with("xoxe-1-") && a1 != a0 && rt1 != rt0);
    // The old access token still works (two live tokens).
    assert_eq!(
        c.slack("auth.test", &[], Some(&a0)).await.slack_code(),
        "ok"
    );
    // Replay within the grace period: the same pair, expires_in = what is left.
    c.ctl().advance_clock(Duration::from_secs(299));
    let replay = c.slack_refresh(&rt0).await;
    assert_eq!(
        (replay.s("access_token"), replay.s("refresh_token")),
        (a1.as_str(), rt1.as_str())
    );
    assert_eq!(replay.json["expires_in"], 43200 - 299);
    c.ctl().advance_clock(Duration::from_secs(1));
    assert_eq!(
        c.slack_refresh(&rt0).await.slack_code(),
        "invalid_refresh_token"
    );
    // A third token revokes the oldest: at most two live.
    let r2 = c.slack_refresh(&rt1).await;
    let a2 = r2.s("access_token").to_owned();
    assert_eq!(
        c.slack("auth.test", &[], Some(&a0)).await.slack_code(),
        "token_revoked"
    );
    assert_eq!(
        c.slack("auth.test", &[], Some(&a1)).await.slack_code(),
        "ok"
    );
    assert_eq!(
        c.slack("auth.test", &[], Some(&a2)).await.slack_code(),
        "ok"
    );
    // Expiry after 43200 s on the sandbox clock.
    c.ctl().advance_clock(Duration::from_secs(43200));
    assert_eq!(
        c.slack("auth.test", &[], Some(&a2)).await.slack_code(),
        "token_expired"
    );
    // The refresh token does not expire (non-PKCE).
    let r3 = c.slack_refresh(r2.s("refresh_token")).await;
    assert_eq!(r3.slack_code(), "ok");
    // Refresh of the user token: flat shape with token_type user.
    let u = c
        .slack_refresh(r.json["authed_user"]["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!((u.s("token_type"), u.s("user_id")), ("user", "U0SANDBOX1"));
    assert!(u.s("access_token").starts_with("xoxe.xoxp-1-"));
    let n = c.ctl().counters();
    assert_eq!(n.app_op(ID, "slack.oauth.v2.access.refresh_token"), 6);
    assert_eq!(n.refresh_replays[ID], 1);
}

#[tokio::test]
async fn pkce_public_client() {
    let c = ctx().await;
    let ch = challenge(VERIFIER);
    let base = format!(
        "/oauth/v2/authorize?client_id={PKCE_ID}&user_scope=search:read&redirect_uri={}",
        enc("http://localhost:4321/desktop")
    );
    let good = format!("{base}&code_challenge={ch}&code_challenge_method=S256");
    // Authorize rules: challenge required, S256 only.
    for (q, err) in [
        (base.clone(), "invalid_request"),
        (
            format!("{base}&code_challenge={ch}&code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            format!("{base}&code_challenge=short&code_challenge_method=S256"),
            "invalid_request",
        ),
    ] {
        assert_eq!(
            c.ctl().authorize(&q).unwrap().error.as_deref(),
            Some(err),
            "{q}"
        );
    }
    let code = c.code(&good);
    let red = "http://localhost:4321/desktop";
    for (verifier, err) in [
        (None, "invalid_code_verifier"),
        (Some("x".repeat(50)), "invalid_code_verifier"),
    ] {
        let mut f = vec![
            ("client_id", PKCE_ID),
            ("code", code.as_str()),
            ("redirect_uri", red),
        ];
        if let Some(v) = &verifier {
            f.push(("code_verifier", v));
        }
        assert_eq!(c.slack("oauth.v2.access", &f, None).await.slack_code(), err);
    }
    let r = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", PKCE_ID),
                ("code", &code),
                ("redirect_uri", red),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    let rt = r.json["authed_user"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Refresh with only client_id.
    let r1 = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", PKCE_ID),
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
            ],
            None,
        )
        .await;
    assert_eq!(r1.slack_code(), "ok", "{}", r1.text);
    // PKCE refresh tokens expire after 30 days.
    c.ctl().advance_clock(Duration::from_secs(30 * 86400));
    let r2 = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", PKCE_ID),
                ("grant_type", "refresh_token"),
                ("refresh_token", r1.s("refresh_token")),
            ],
            None,
        )
        .await;
    assert_eq!(r2.slack_code(), "invalid_refresh_token");
    // A custom scheme without PKCE is refused.
    let o = c
        .ctl()
        .authorize(&format!(
            "/oauth/v2/authorize?client_id={LEGACY_ID}&scope=chat:write&redirect_uri={}",
            enc("myapp://cb")
        ))
        .unwrap();
    assert_eq!(o.error.as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn code_single_use_expiry_and_errors() {
    let c = ctx().await;
    let code = c.slack_code("&scope=chat:write");
    let expired = c.slack_code("&scope=chat:write");
    let v1 = c.code(&format!(
        "/oauth/authorize?client_id={ID}&scope=identify&redirect_uri={}",
        enc(SLACK_REDIRECT)
    ));
    let creds = [("client_id", ID), ("client_secret", SECRET)];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
        creds
            .iter()
            .chain(extra.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            vec![("client_secret".into(), SECRET.into())],
            "invalid_client_id",
        ),
        (
            vec![
                ("client_id".into(), "9.9".into()),
                ("client_secret".into(), SECRET.into()),
            ],
            "invalid_client_id",
        ),
        (vec![("client_id".into(), ID.into())], "bad_client_secret"),
        (
            vec![
                ("client_id".into(), ID.into()),
                ("client_secret".into(), "nope".into()),
            ],
            "bad_client_secret",
        ),
        (with(&[("grant_type", "password")]), "invalid_grant_type"),
        (with(&[]), "invalid_code"),
        (with(&[("code", "1.2.3")]), "invalid_code"),
        (with(&[("code", &code)]), "bad_redirect_uri"),
        (
            with(&[
                ("code", &code),
                ("redirect_uri", "https://example.com/auth/slack/callback"),
            ]),
            "bad_redirect_uri",
        ),
        (
            with(&[("code", &v1), ("redirect_uri", SLACK_REDIRECT)]),
            "oauth_authorization_url_mismatch",
        ),
        (
            with(&[("grant_type", "refresh_token")]),
            "invalid_refresh_token",
        ),
        (
            with(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "xoxe-1-nope"),
            ]),
            "invalid_refresh_token",
        ),
    ];
    for (pairs, want) in cases {
        let p: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let r = c.slack("oauth.v2.access", &p, None).await;
        assert_eq!((r.status, r.slack_code()), (200, want), "{p:?}");
    }
    // HTTP Basic client credentials.
    let b = basic(ID, SECRET);
    let body = common::form(&[("code", &code), ("redirect_uri", SLACK_REDIRECT)]);
    let h = [
        ("authorization", b.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let r = c
        .send("POST", "/api/oauth.v2.access", &h, Some(body.clone()))
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    // Single use.
    assert_eq!(
        c.send("POST", "/api/oauth.v2.access", &h, Some(body))
            .await
            .slack_code(),
        "invalid_code"
    );
    // Expiry after 10 minutes.
    c.ctl().advance_clock(Duration::from_secs(600));
    let r = c
        .slack(
            "oauth.v2.access",
            &with(&[("code", &expired), ("redirect_uri", SLACK_REDIRECT)])
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect::<Vec<_>>(),
            None,
        )
        .await;
    assert_eq!(r.slack_code(), "invalid_code");
    // JSON body accepted on oauth.v2.access.
    let code = c.slack_code("&scope=chat:write");
    let j = json!({"client_id": ID, "client_secret": SECRET, "code": code, "redirect_uri": SLACK_REDIRECT}).to_string();
    let r = c
        .send(
            "POST",
            "/api/oauth.v2.access",
            &[("content-type", "application/json; charset=utf-8")],
            Some(j),
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
}

#[tokio::test]
async fn transport_and_auth_errors() {
    let c = ctx().await;
    let bot = c.slack_install().await.s("access_token").to_owned();
    let bearer = format!("Bearer {bot}");
    let lower = format!("bearer {bot}");
    let ct_form = ("content-type", "application/x-www-form-urlencoded");
    let ct_json = ("content-type", "application/json");
    let query_token = format!("/api/auth.test?token={bot}");
    let cases: Vec<(&str, &str, Vec<(&str, &str)>, Option<String>, &str)> = vec![
        ("POST", "/api/auth.test", vec![], None, "not_authed"),
        (
            "POST",
            "/api/auth.test",
            vec![("authorization", "Bearer ")],
            None,
            "not_authed",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![("authorization", &lower)],
            None,
            "not_authed",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![("authorization", "Basic eDp5")],
            None,
            "not_authed",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![ct_form],
            Some("token=".into()),
            "not_authed",
        ),
        ("POST", &query_token, vec![], None, "not_authed"),
        (
            "POST",
            "/api/auth.test",
            vec![("authorization", "Bearer xoxb-unknown")],
            None,
            "invalid_auth",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![ct_json],
            Some(format!(r#"{{"token":"{bot}"}}"#)),
            "not_authed",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![ct_json, ("authorization", &bearer)],
            Some("{".into()),
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![ct_json, ("authorization", &bearer)],
            Some("[1]".into()),
            "json_not_object",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![("authorization", &bearer)],
            Some("a=b".into()),
            "missing_post_type",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![("authorization", &bearer), ("content-type", "text/plain")],
            Some("a=b".into()),
            "invalid_post_type",
        ),
        (
            "POST",
            "/api/auth.test",
            vec![
                ("authorization", &bearer),
                ("content-type", "multipart/form-data; boundary=x"),
            ],
            Some("--x--".into()),
            "invalid_form_data",
        ),
        (
            "PUT",
            "/api/auth.test",
            vec![("authorization", &bearer)],
            None,
            "invalid_post_type",
        ),
        (
            "GET",
            "/api/auth.test",
            vec![("authorization", &bearer)],
            None,
            "ok",
        ),
        (
            "POST",
            "/api/sandbox.noSuchMethod",
            vec![("authorization", &bearer)],
            None,
            "unknown_method",
        ),
        // JSON is not accepted by auth.teams.list: the token in the header still works.
        (
            "POST",
            "/api/auth.teams.list",
            vec![ct_json, ("authorization", &bearer)],
            Some("{\"limit\":\"0\"}".into()),
            "ok",
        ),
        (
            "POST",
            "/api/auth.teams.list",
            vec![ct_form, ("authorization", &bearer)],
            Some("limit=0".into()),
            "invalid_limit",
        ),
        (
            "POST",
            "/api/auth.teams.list",
            vec![ct_form, ("authorization", &bearer)],
            Some("limit=x".into()),
            "invalid_limit",
        ),
        (
            "POST",
            "/api/auth.teams.list",
            vec![ct_form, ("authorization", &bearer)],
            Some("cursor=zzz".into()),
            "invalid_cursor",
        ),
        (
            "POST",
            "/api/openid.connect.userInfo",
            vec![("authorization", &bearer)],
            None,
            "not_allowed_token_type",
        ),
        (
            "POST",
            "/api/apps.auth.external.get",
            vec![("authorization", &bearer)],
            None,
            "invalid_arguments",
        ),
        (
            "POST",
            "/api/apps.auth.external.get",
            vec![ct_form, ("authorization", &bearer)],
            Some("external_token_id=Et9".into()),
            "token_not_found",
        ),
        (
            "POST",
            "/api/apps.auth.external.delete",
            vec![("authorization", &bearer)],
            None,
            "invalid_args",
        ),
        (
            "POST",
            "/api/apps.auth.external.delete",
            vec![ct_form, ("authorization", &bearer)],
            Some("app_id=A9".into()),
            "app_not_found",
        ),
        (
            "POST",
            "/api/apps.auth.external.delete",
            vec![ct_form, ("authorization", &bearer)],
            Some("provider_key=github".into()),
            "providers_not_found",
        ),
        (
            "POST",
            "/api/apps.auth.external.delete",
            vec![ct_form, ("authorization", &bearer)],
            Some("external_token_id=Et9".into()),
            "token_not_found",
        ),
        (
            "POST",
            "/api/auth.revoke",
            vec![("authorization", "Bearer nope")],
            None,
            "invalid_auth",
        ),
        (
            "POST",
            "/api/oauth.v2.exchange",
            vec![ct_form],
            Some(format!("client_id={ID}&client_secret={SECRET}")),
            "invalid_token",
        ),
        (
            "POST",
            "/api/oauth.v2.exchange",
            vec![ct_form],
            Some(format!("client_id={ID}&client_secret={SECRET}&token={bot}")),
            "invalid_token",
        ),
        (
            "POST",
            "/api/oauth.v2.exchange",
            vec![ct_form],
            Some(format!("client_id={ID}&client_secret=x&token={bot}")),
            "bad_client_secret",
        ),
        (
            "POST",
            "/api/oauth.access",
            vec![ct_form],
            Some(format!("client_id={ID}&client_secret={SECRET}&code=1.2.3")),
            "invalid_code",
        ),
        (
            "POST",
            "/api/openid.connect.token",
            vec![ct_form],
            Some(format!(
                "client_id={ID}&client_secret={SECRET}&grant_type=implicit"
            )),
            "unsupported_grant_type",
        ),
        (
            "POST",
            "/api/openid.connect.token",
            vec![ct_form],
            Some(format!("client_id={ID}&client_secret={SECRET}&code=1.2.3")),
            "invalid_code",
        ),
        (
            "POST",
            "/api/openid.connect.token",
            vec![ct_form],
            Some("client_id=9.9".into()),
            "invalid_client_id",
        ),
    ];
    for (m, p, h, body, want) in cases {
        let r = c.send(m, p, &h, body.clone()).await;
        assert_eq!(
            (r.status, r.slack_code()),
            (200, want),
            "{m} {p} {h:?} {body:?}: {}",
            r.text
        );
    }
    // missing_scope carries needed/provided.
    let u = c.slack_install().await;
    let r = c
        .slack(
            "openid.connect.userInfo",
            &[],
            u.json["authed_user"]["access_token"].as_str(),
        )
        .await;
    assert_eq!(
        (r.slack_code(), r.s("needed"), r.s("provided")),
        ("missing_scope", "openid", "search:read")
    );
}

#[tokio::test]
async fn revoke_exchange_and_legacy() {
    let c = ctx().await;
    // Non-rotating app: legacy tokens.
    let code = c.code(&format!(
        "/oauth/v2/authorize?client_id={LEGACY_ID}&scope=chat:write&redirect_uri={}",
        enc("https://legacy.example/cb/sub")
    ));
    let r = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", LEGACY_ID),
                ("client_secret", "legacysecret"),
                ("code", &code),
                ("redirect_uri", "https://legacy.example/cb/sub"),
            ],
            None,
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    let legacy = r.s("access_token").to_owned();
    assert!(legacy.starts_with("xoxb-") && r.json.get("refresh_token").is_none());
    let ex = [
        ("client_id", LEGACY_ID),
        ("client_secret", "legacysecret"),
        ("token", legacy.as_str()),
    ];
    assert_eq!(
        c.slack("oauth.v2.exchange", &ex, None).await.slack_code(),
        "token_rotation_not_enabled"
    );
    c.ctl().set_token_rotation(LEGACY_ID, true).unwrap();
    let e = c.slack("oauth.v2.exchange", &ex[..2], Some(&legacy)).await; // token as Bearer only
    assert_eq!(e.slack_code(), "ok", "{}", e.text);
    assert!(e.s("access_token").starts_with("xoxe.xoxb-1-") && e.json["expires_in"] == 43200);
    assert_eq!(
        c.slack("oauth.v2.exchange", &ex, None).await.slack_code(),
        "token_already_exchanged"
    );
    assert_eq!(
        c.slack("auth.test", &[], Some(&legacy)).await.slack_code(),
        "ok"
    );
    let rr = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", LEGACY_ID),
                ("client_secret", "legacysecret"),
                ("grant_type", "refresh_token"),
                ("refresh_token", e.s("refresh_token")),
            ],
            None,
        )
        .await;
    assert_eq!(rr.slack_code(), "ok");
    assert_eq!(
        c.slack("auth.test", &[], Some(&legacy)).await.slack_code(),
        "token_expired"
    );

    // auth.revoke: test mode, then for real (rotating: only that token).
    let i = c.slack_install().await;
    let (a, rt) = (
        i.s("access_token").to_owned(),
        i.s("refresh_token").to_owned(),
    );
    let t = c.slack("auth.revoke", &[("test", "1")], Some(&a)).await;
    assert_eq!(t.json, json!({"ok": true, "revoked": false}));
    let t = c.slack("auth.revoke", &[("token", &a)], None).await;
    assert_eq!(t.json, json!({"ok": true, "revoked": true}));
    assert_eq!(
        c.slack("auth.test", &[], Some(&a)).await.slack_code(),
        "token_revoked"
    );
    assert_eq!(c.slack_refresh(&rt).await.slack_code(), "ok");
    // Revoking the refresh token.
    let i = c.slack_install().await;
    assert_eq!(
        c.slack("auth.revoke", &[], Some(i.s("refresh_token")))
            .await
            .slack_code(),
        "ok"
    );
    assert_eq!(
        c.slack_refresh(i.s("refresh_token")).await.slack_code(),
        "invalid_refresh_token"
    );
    // Non-rotating grant: revoking revokes the grant.
    c.ctl().set_token_rotation(LEGACY_ID, false).unwrap();
    let code = c.code(&format!(
        "/oauth/v2/authorize?client_id={LEGACY_ID}&scope=chat:write"
    ));
    let r = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", LEGACY_ID),
                ("client_secret", "legacysecret"),
                ("code", &code),
            ],
            None,
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert_eq!(
        c.slack("auth.revoke", &[], Some(r.s("access_token")))
            .await
            .slack_code(),
        "ok"
    );
    assert_eq!(
        c.slack("auth.test", &[], Some(r.s("access_token")))
            .await
            .slack_code(),
        "token_revoked"
    );

    // oauth.access (v1 flow).
    let code = c.code(&format!(
        "/oauth/authorize?client_id={ID}&scope=identify,bot&redirect_uri={}",
        enc(SLACK_REDIRECT)
    ));
    let b = basic(ID, SECRET);
    let h = [
        ("authorization", b.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let body = common::form(&[
        ("code", &code),
        ("redirect_uri", SLACK_REDIRECT),
        ("single_channel", "0"),
    ]);
    let r = c
        .send("POST", "/api/oauth.access", &h, Some(body.clone()))
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert!(r.s("access_token").starts_with("xoxp-"));
    assert!(
        r.json["bot"]["bot_access_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxb-")
    );
    assert_eq!(
        (r.s("team_id"), r.json["enterprise_id"].clone()),
        ("T0SANDBOX1", json!(null))
    );
    assert_eq!(
        c.send("POST", "/api/oauth.access", &h, Some(body))
            .await
            .slack_code(),
        "code_already_used"
    );
    let v2 = c.slack_code("&scope=chat:write");
    let r = c
        .send(
            "POST",
            "/api/oauth.access",
            &h,
            Some(common::form(&[
                ("code", &v2),
                ("redirect_uri", SLACK_REDIRECT),
            ])),
        )
        .await;
    assert_eq!(r.slack_code(), "oauth_authorization_url_mismatch");
}

#[tokio::test]
async fn teams_list_pagination_and_external_tokens() {
    let c = ctx().await;
    let teams: Vec<TeamInfo> = (0..5)
        .map(|i| TeamInfo {
            id: format!("T00{i}"),
            name: format!("Team {i}"),
        })
        .collect();
    c.ctl().push_consent(Consent {
        teams: teams.clone(),
        enterprise_id: Some("E001".into()),
        ..Consent::approve("T000", "Team 0", "W001")
    });
    let i = c.slack_install().await;
    assert_eq!(
        i.json["enterprise"],
        json!({"id": "E001", "name": "Sandbox Enterprise"})
    );
    let bot = i.s("access_token").to_owned();
    let mut cursor = String::new();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let mut f = vec![("limit", "2")];
        if !cursor.is_empty() {
            f.push(("cursor", &cursor));
        }
        let r = c.slack("auth.teams.list", &f, Some(&bot)).await;
        assert_eq!(r.slack_code(), "ok", "{}", r.text);
        pages += 1;
        for t in r.json["teams"].as_array().unwrap() {
            seen.push(t["id"].as_str().unwrap().to_owned());
        }
        cursor = r.json["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(
        (pages, seen),
        (3, teams.iter().map(|t| t.id.clone()).collect::<Vec<_>>())
    );
    let r = c
        .slack("auth.teams.list", &[("include_icon", "true")], Some(&bot))
        .await;
    assert_eq!(r.json["teams"][0]["icon"]["image_default"], true);

    // External tokens.
    let g = c
        .slack(
            "apps.auth.external.get",
            &[("external_token_id", "Et0SANDBOX01")],
            Some(&bot),
        )
        .await;
    assert_eq!(g.slack_code(), "ok", "{}", g.text);
    assert!(g.s("external_token").contains('!'));
    let f = c
        .slack(
            "apps.auth.external.get",
            &[
                ("external_token_id", "Et0SANDBOX01"),
                ("force_refresh", "1"),
            ],
            Some(&bot),
        )
        .await;
    assert_ne!(f.s("external_token"), g.s("external_token"));
    let user = i.json["authed_user"]["access_token"].as_str().unwrap();
    assert_eq!(
        c.slack(
            "apps.auth.external.get",
            &[("external_token_id", "Et0SANDBOX01")],
            Some(user)
        )
        .await
        .slack_code(),
        "not_allowed_token_type"
    );
    c.ctl().add_external_token(ExternalToken {
        external_token_id: "Et2".into(),
        client_id: ID.into(),
        provider_key: "github".into(),
        external_token: "gho_x".into(),
    });
    let auth = format!("Bearer {bot}");
    let d = c
        .send(
            "POST",
            "/api/apps.auth.external.delete",
            &[
                ("authorization", &auth),
                ("content-type", "application/json; charset=utf-8"),
            ],
            Some(r#"{"provider_key":"github"}"#.into()),
        )
        .await;
    assert_eq!(d.json, json!({"ok": true}));
    let d = c
        .slack(
            "apps.auth.external.delete",
            &[("app_id", "A0SANDBOX01")],
            Some(&bot),
        )
        .await;
    assert_eq!(d.slack_code(), "ok");
    let d = c
        .slack(
            "apps.auth.external.delete",
            &[("app_id", "A0SANDBOX01")],
            Some(&bot),
        )
        .await;
    assert_eq!(d.slack_code(), "no_tokens_found");
}

#[tokio::test]
async fn openid_connect() {
    let c = ctx().await;
    let disc = c
        .send("GET", "/.well-known/openid-configuration", &[], None)
        .await;
    assert_eq!(disc.s("issuer"), c.sb.base_url());
    assert_eq!(
        disc.s("jwks_uri"),
        format!("{}/openid/connect/keys", c.sb.base_url())
    );
    assert_eq!(disc.json["response_modes_supported"], json!(["query"]));
    let jwks = c.send("GET", "/openid/connect/keys", &[], None).await;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks.json["keys"][0].clone()).unwrap();

    let ch = challenge(VERIFIER);
    let q = format!(
        "/openid/connect/authorize?response_type=code&scope=openid%20email%20profile&client_id={ID}&redirect_uri={}&state=s&nonce=n-1&code_challenge={ch}&code_challenge_method=S256",
        enc(SLACK_REDIRECT)
    );
    let code = c.code_via_http(&q).await;
    let f = |extra: &[(&'static str, &'static str)]| {
        let mut v = vec![
            ("client_id", ID),
            ("client_secret", SECRET),
            ("redirect_uri", SLACK_REDIRECT),
        ];
        v.extend_from_slice(extra);
        v
    };
    let mut bad = f(&[(
        "code_verifier",
        "wrong-verifier-wrong-verifier-wrong-verifier-123",
    )]);
    bad.push(("code", &code));
    assert_eq!(
        c.slack("openid.connect.token", &bad, None)
            .await
            .slack_code(),
        "invalid_grant"
    );
    let mut good = f(&[("code_verifier", VERIFIER)]);
    good.push(("code", &code));
    let t = c.slack("openid.connect.token", &good, None).await;
    assert_eq!(
        (t.slack_code(), t.s("token_type")),
        ("ok", "Bearer"),
        "{}",
        t.text
    );
    assert!(t.s("access_token").starts_with("xoxe.xoxp-1-"));
    assert!(t.s("refresh_token").starts_with("xoxe-1-"));
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    val.set_audience(&[ID]);
    val.set_issuer(&[c.sb.base_url()]);
    let data = jsonwebtoken::decode::<serde_json::Value>(t.s("id_token"), &key, &val).unwrap();
    assert_eq!(
        data.header.kid.as_deref(),
        Some(oauth_sandbox::SANDBOX_KEY_ID)
    );
    assert_eq!(
        (data.claims["sub"].as_str(), data.claims["nonce"].as_str()),
        (Some("U0SANDBOX1"), Some("n-1"))
    );
    assert_eq!(data.claims["https://slack.com/team_id"], "T0SANDBOX1");
    assert_eq!(
        c.slack("openid.connect.token", &good, None)
            .await
            .slack_code(),
        "invalid_code"
    );

    let u = c
        .slack("openid.connect.userInfo", &[], Some(t.s("access_token")))
        .await;
    assert_eq!(u.slack_code(), "ok", "{}", u.text);
    assert_eq!(
        (u.s("sub"), u.s("email")),
        ("U0SANDBOX1", "ada@example.com")
    );
    assert_eq!(u.s("https://slack.com/team_id"), "T0SANDBOX1");
    // Refresh grant on openid.connect.token (client_secret_basic).
    let b = basic(ID, SECRET);
    let body = common::form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", t.s("refresh_token")),
    ]);
    let r = c
        .send(
            "POST",
            "/api/openid.connect.token",
            &[
                ("authorization", &b),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(body),
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert!(r.s("id_token").split('.').count() == 3);
    // A v2 code at the OIDC endpoint, and scope rules.
    let v2 = c.slack_code("&scope=chat:write");
    let mut m = f(&[]);
    m.push(("code", &v2));
    assert_eq!(
        c.slack("openid.connect.token", &m, None).await.slack_code(),
        "oauth_authorization_url_mismatch"
    );
    for (scope, err) in [
        ("email", "invalid_scope"),
        ("openid%20chat:write", "invalid_scope"),
    ] {
        let o = c
            .ctl()
            .authorize(&format!(
                "/openid/connect/authorize?response_type=code&scope={scope}&client_id={ID}"
            ))
            .unwrap();
        assert_eq!(o.error.as_deref(), Some(err));
    }
    let o = c
        .ctl()
        .authorize(&format!(
            "/openid/connect/authorize?response_type=token&scope=openid&client_id={ID}"
        ))
        .unwrap();
    assert_eq!(o.error.as_deref(), Some("unsupported_response_type"));
}

#[tokio::test]
async fn authorize_rules() {
    let c = Ctx::with(
        Sandbox::builder().app(
            App::slack("5555.6666", "s", "A0SCOPED01", &["https://a.example/cb"])
                .with_scopes(&["chat:write"])
                .with_user_scopes(&["search:read"]),
        ),
    )
    .await;
    let cases = [
        (
            "/oauth/v2/authorize?client_id=9.9&scope=x".to_owned(),
            400,
            "invalid_client_id",
        ),
        (
            format!(
                "/oauth/v2/authorize?client_id={ID}&scope=x&redirect_uri={}",
                enc("https://evil.example/cb")
            ),
            400,
            "bad_redirect_uri",
        ),
        (
            format!(
                "/oauth/v2/authorize?client_id={ID}&scope=x&redirect_uri={}",
                enc("https://example.com/auth/slack/callback#frag")
            ),
            400,
            "bad_redirect_uri",
        ),
        (
            format!(
                "/oauth/v2/authorize?client_id={ID}&scope=x&redirect_uri={}",
                enc("https://example.com/auth/slack/callbackX")
            ),
            400,
            "bad_redirect_uri",
        ),
        (
            format!(
                "/oauth/v2/authorize?client_id={ID}&redirect_uri={}",
                enc(SLACK_REDIRECT)
            ),
            302,
            "invalid_scope",
        ),
        (
            "/oauth/v2/authorize?client_id=5555.6666&scope=admin".to_owned(),
            302,
            "invalid_scope",
        ),
        (
            "/oauth/v2/authorize?client_id=5555.6666&scope=chat:write&user_scope=admin".to_owned(),
            302,
            "invalid_scope",
        ),
    ];
    for (q, status, err) in cases {
        let o = c.ctl().authorize(&q).unwrap();
        assert_eq!((o.status, o.error.as_deref()), (status, Some(err)), "{q}");
        let r = c.send("GET", &q, &[], None).await;
        assert_eq!(r.status, status);
        if status == 400 {
            assert_eq!(r.header("x-sandbox-error"), Some(err));
        }
    }
    // Subdirectory and loopback any port; no redirect_uri → first registered.
    let o = c
        .ctl()
        .authorize(&format!(
            "/oauth/v2/authorize?client_id={ID}&scope=chat:write&redirect_uri={}",
            enc("https://example.com/auth/slack/callback/deeper")
        ))
        .unwrap();
    assert_eq!(o.status, 302);
    let o = c
        .ctl()
        .authorize("/oauth/v2/authorize?client_id=5555.6666&scope=chat:write&state=abc")
        .unwrap();
    assert!(
        o.location
            .unwrap()
            .starts_with("https://a.example/cb?code=")
    );
    assert_eq!(o.state.as_deref(), Some("abc"));
    // A consent for another app is skipped; denied consent; the team hint.
    c.ctl().push_consent(Consent::deny().for_client(ID));
    c.ctl().push_consent(Consent::deny());
    let o = c
        .ctl()
        .authorize("/oauth/v2/authorize?client_id=5555.6666&scope=chat:write&state=abc")
        .unwrap();
    assert_eq!(
        o.location.as_deref(),
        Some("https://a.example/cb?error=access_denied&state=abc")
    );
    let o = c
        .ctl()
        .authorize(&format!(
            "/oauth/v2/authorize?client_id={ID}&scope=chat:write"
        ))
        .unwrap();
    assert_eq!(o.error.as_deref(), Some("access_denied"));
    let code = c.code("/oauth/v2/authorize?client_id=5555.6666&scope=chat:write&team=T0HINT");
    let r = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", "5555.6666"),
                ("client_secret", "s"),
                ("code", &code),
            ],
            None,
        )
        .await;
    assert_eq!(r.json["team"]["id"], "T0HINT");
    assert!(r.s("access_token").starts_with("xoxb-"));
    // Control over HTTP: POST /_sandbox/authorize.
    let h = c
        .send(
            "POST",
            "/_sandbox/authorize",
            &[("content-type", "application/json")],
            Some(
                json!({"url": "/oauth/v2/authorize?client_id=5555.6666&scope=chat:write"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(h.json["status"], 302);
    assert!(h.json["code"].is_string());
}
