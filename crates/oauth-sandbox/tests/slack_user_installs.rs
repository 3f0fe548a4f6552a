//! User-only Slack installs over plain HTTP: `/oauth/v2_user/authorize` and
//! `oauth.v2.user.access` (confidential and PKCE clients, rotating and long-lived tokens, the
//! refresh grant), and the refusals when a code or token belongs to the other flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Ctx, Resp, SLACK_REDIRECT, basic, enc};
use oauth_sandbox::{
    App, Consent, DEFAULT_SLACK_APP_ID, DEFAULT_SLACK_CLIENT_ID as ID,
    DEFAULT_SLACK_CLIENT_SECRET as SECRET, Sandbox,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const PKCE_ID: &str = "3333.4444";
const PKCE_REDIRECT: &str = "http://localhost:4321/desktop";
const PLAIN_ID: &str = "5555.6666";
const PLAIN_SECRET: &str = "plainsecret";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123";

fn challenge(v: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

async fn ctx() -> Ctx {
    Ctx::with(
        Sandbox::builder()
            .app(
                App::slack(
                    PKCE_ID,
                    "unused",
                    "A0PKCE0001",
                    &["http://localhost/desktop"],
                )
                .with_pkce(true)
                .without_secret(),
            )
            .app(
                App::slack(
                    PLAIN_ID,
                    PLAIN_SECRET,
                    "A0PLAIN001",
                    &["https://plain.example/cb"],
                )
                .with_user_scopes(&["search:read"]),
            ),
    )
    .await
}

fn keys(r: &Resp) -> BTreeSet<String> {
    r.json.as_object().unwrap().keys().cloned().collect()
}

/// `oauth.v2.user.access` with the default app's credentials in HTTP Basic.
async fn user_access(c: &Ctx, pairs: &[(&str, &str)]) -> Resp {
    let auth = basic(ID, SECRET);
    c.send(
        "POST",
        "/api/oauth.v2.user.access",
        &[
            ("authorization", &auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Some(common::form(pairs)),
    )
    .await
}

fn user_code(c: &Ctx, query: &str) -> String {
    c.code(&format!(
        "/oauth/v2_user/authorize?client_id={ID}&redirect_uri={}{query}",
        enc(SLACK_REDIRECT)
    ))
}

#[tokio::test]
async fn a_user_only_install_and_its_rotating_refresh() {
    let c = ctx().await;
    // The real browser redirect, with the user scopes in `scope`.
    let code = c
        .code_via_http(&format!(
            "/oauth/v2_user/authorize?client_id={ID}&scope=search:read,chat:write&redirect_uri={}&state=s1",
            enc(SLACK_REDIRECT)
        ))
        .await;
    let r = user_access(&c, &[("code", &code), ("redirect_uri", SLACK_REDIRECT)]).await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    let shape: BTreeSet<String> = [
        "ok",
        "app_id",
        "access_token",
        "token_type",
        "scope",
        "user_id",
        "refresh_token",
        "expires_in",
        "team",
        "enterprise",
        "is_enterprise_install",
        "authed_user",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect();
    assert_eq!(keys(&r), shape, "{}", r.text);
    assert!(r.s("access_token").starts_with("xoxe.xoxp-1-"));
    assert!(r.s("refresh_token").starts_with("xoxe-1-"));
    assert_eq!(
        (
            r.s("app_id"),
            r.s("token_type"),
            r.s("scope"),
            r.s("user_id"),
            r.json["expires_in"].as_i64()
        ),
        (
            DEFAULT_SLACK_APP_ID,
            "user",
            "search:read,chat:write",
            "U0SANDBOX1",
            Some(43_200)
        )
    );
    assert_eq!(
        (
            r.json["team"].clone(),
            r.json["enterprise"].clone(),
            r.json["is_enterprise_install"].clone(),
            r.json["authed_user"].clone()
        ),
        (
            json!({"id": "T0SANDBOX1", "name": "Sandbox Workspace"}),
            Value::Null,
            json!(false),
            json!({"id": "U0SANDBOX1", "scope": "search:read,chat:write"})
        )
    );
    let t = c.slack("auth.test", &[], Some(r.s("access_token"))).await;
    assert_eq!((t.slack_code(), t.s("user_id")), ("ok", "U0SANDBOX1"));
    assert_eq!(t.header("x-oauth-scopes"), Some("search:read,chat:write"));

    // The refresh grant on the same method: the same shape, a new pair.
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r.s("refresh_token")),
    ];
    let r1 = user_access(&c, &refresh).await;
    assert_eq!(r1.slack_code(), "ok", "{}", r1.text);
    assert_eq!(keys(&r1), shape);
    assert_eq!(r1.json["authed_user"], r.json["authed_user"]);
    assert!(r1.s("access_token").starts_with("xoxe.xoxp-1-"));
    assert_ne!(r1.s("access_token"), r.s("access_token"));
    assert_ne!(r1.s("refresh_token"), r.s("refresh_token"));
    // Within the grace period the spent refresh token replays that pair; then it is refused.
    let replay = user_access(&c, &refresh).await;
    assert_eq!(
        (replay.s("access_token"), replay.s("refresh_token")),
        (r1.s("access_token"), r1.s("refresh_token"))
    );
    c.ctl().advance_clock(Duration::from_secs(300));
    assert_eq!(
        user_access(&c, &refresh).await.slack_code(),
        "invalid_refresh_token"
    );

    let n = c.ctl().counters();
    assert_eq!(
        n.app_op(ID, "slack.oauth.v2.user.access.authorization_code"),
        1
    );
    assert_eq!(n.app_op(ID, "slack.oauth.v2.user.access.refresh_token"), 3);
    assert_eq!(n.app_op(ID, "slack.oauth.v2_user.authorize"), 1);
    assert_eq!(n.op("slack.oauth.v2.access.authorization_code"), 0);
    // A user-only installation: no bot, one installer.
    let i = c.ctl().installation(ID, "T0SANDBOX1").unwrap();
    assert_eq!(
        (i.bot_user_id, i.installer_user_ids),
        (None, vec!["U0SANDBOX1".to_owned()])
    );
}

#[tokio::test]
async fn a_user_only_install_with_pkce() {
    let c = ctx().await;
    let base = format!(
        "/oauth/v2_user/authorize?client_id={PKCE_ID}&user_scope=search:read&redirect_uri={}",
        enc(PKCE_REDIRECT)
    );
    // A PKCE app needs the challenge.
    assert_eq!(
        c.ctl().authorize(&base).unwrap().error.as_deref(),
        Some("invalid_request")
    );
    let code = c.code(&format!(
        "{base}&code_challenge={}&code_challenge_method=S256",
        challenge(VERIFIER)
    ));
    let wrong = c
        .slack(
            "oauth.v2.user.access",
            &[
                ("client_id", PKCE_ID),
                ("code", &code),
                ("redirect_uri", PKCE_REDIRECT),
                ("code_verifier", &"x".repeat(50)),
            ],
            None,
        )
        .await;
    assert_eq!(wrong.slack_code(), "invalid_code_verifier");
    // No secret: client_id and the verifier (here in a JSON body, which the method accepts).
    let r = c
        .send(
            "POST",
            "/api/oauth.v2.user.access",
            &[("content-type", "application/json; charset=utf-8")],
            Some(
                json!({"client_id": PKCE_ID, "code": code, "redirect_uri": PKCE_REDIRECT,
                       "code_verifier": VERIFIER})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert!(r.s("access_token").starts_with("xoxe.xoxp-1-"));
    assert_eq!(r.s("app_id"), "A0PKCE0001");
    // Refresh with only client_id.
    let r1 = c
        .slack(
            "oauth.v2.user.access",
            &[
                ("client_id", PKCE_ID),
                ("grant_type", "refresh_token"),
                ("refresh_token", r.s("refresh_token")),
            ],
            None,
        )
        .await;
    assert_eq!(
        (r1.slack_code(), r1.s("token_type")),
        ("ok", "user"),
        "{}",
        r1.text
    );
}

#[tokio::test]
async fn a_user_only_install_without_rotation_and_org_wide() {
    let c = ctx().await;
    // Without rotation: a long-lived xoxp token, no refresh token. (No redirect_uri: the app's
    // first one is used, and the exchange need not name it.)
    let code = c.code(&format!(
        "/oauth/v2_user/authorize?client_id={PLAIN_ID}&scope=search:read"
    ));
    let r = c
        .slack(
            "oauth.v2.user.access",
            &[
                ("client_id", PLAIN_ID),
                ("client_secret", PLAIN_SECRET),
                ("code", &code),
            ],
            None,
        )
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert!(r.s("access_token").starts_with("xoxp-"));
    assert!(r.json.get("refresh_token").is_none() && r.json.get("expires_in").is_none());
    // A user scope the app does not allow, or none at all, is refused at the authorize step.
    for query in ["&scope=chat:write", "&scope=", ""] {
        let o = c
            .ctl()
            .authorize(&format!(
                "/oauth/v2_user/authorize?client_id={PLAIN_ID}{query}"
            ))
            .unwrap();
        assert_eq!(o.error.as_deref(), Some("invalid_scope"), "{query}");
    }

    // Org-wide: team null, the enterprise, is_enterprise_install.
    c.ctl()
        .push_consent(Consent::org_wide("E0GRID", "Grid", "W0ADMIN", &["T0EAST"]));
    let code = user_code(&c, "&scope=search:read");
    let org = user_access(&c, &[("code", &code), ("redirect_uri", SLACK_REDIRECT)]).await;
    assert_eq!(
        (
            org.json["team"].clone(),
            org.json["enterprise"].clone(),
            org.json["is_enterprise_install"].clone(),
            org.s("user_id")
        ),
        (
            Value::Null,
            json!({"id": "E0GRID", "name": "Grid"}),
            json!(true),
            "W0ADMIN"
        )
    );
    let refreshed = user_access(
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", org.s("refresh_token")),
        ],
    )
    .await;
    assert_eq!(
        (
            refreshed.json["team"].clone(),
            refreshed.json["is_enterprise_install"].clone()
        ),
        (Value::Null, json!(true))
    );
    assert!(
        c.ctl()
            .installation(ID, "E0GRID")
            .unwrap()
            .is_enterprise_install
    );
}

#[tokio::test]
async fn codes_and_tokens_of_the_other_flow_are_refused() {
    let c = ctx().await;
    // A user-only code at oauth.v2.access, and a v2 code at oauth.v2.user.access.
    let user_only = user_code(&c, "&scope=search:read");
    let v2 = c.slack_code("&scope=chat:write&user_scope=search:read");
    let at_v2 = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("code", &user_only),
                ("redirect_uri", SLACK_REDIRECT),
            ],
            None,
        )
        .await;
    assert_eq!(at_v2.slack_code(), "oauth_authorization_url_mismatch");
    assert_eq!(
        user_access(&c, &[("code", &v2), ("redirect_uri", SLACK_REDIRECT)])
            .await
            .slack_code(),
        "oauth_authorization_url_mismatch"
    );
    // Neither refusal spent the code: each still works at its own method.
    let user = user_access(
        &c,
        &[("code", &user_only), ("redirect_uri", SLACK_REDIRECT)],
    )
    .await;
    assert_eq!(user.slack_code(), "ok", "{}", user.text);
    let install = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("code", &v2),
                ("redirect_uri", SLACK_REDIRECT),
            ],
            None,
        )
        .await;
    assert_eq!(install.slack_code(), "ok", "{}", install.text);

    // A bot's refresh token is not a user token: refused, and left unspent.
    let bot_refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", install.s("refresh_token")),
    ];
    assert_eq!(
        user_access(&c, &bot_refresh).await.slack_code(),
        "invalid_refresh_token"
    );
    let bot = c.slack_refresh(install.s("refresh_token")).await;
    assert_eq!((bot.slack_code(), bot.s("token_type")), ("ok", "bot"));
    // A user token of the v2 install refreshes at either method, each in its own shape.
    let v2_user_refresh = install.json["authed_user"]["refresh_token"]
        .as_str()
        .unwrap();
    let u = user_access(
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", v2_user_refresh),
        ],
    )
    .await;
    assert_eq!(
        (
            u.slack_code(),
            u.s("user_id"),
            u.json["authed_user"]["id"].clone()
        ),
        ("ok", "U0SANDBOX1", json!("U0SANDBOX1"))
    );
    let flat = c.slack_refresh(u.s("refresh_token")).await;
    assert_eq!((flat.slack_code(), flat.s("token_type")), ("ok", "user"));
    assert!(flat.json.get("authed_user").is_none());
    // Other refusals.
    for (pairs, code) in [
        (vec![("grant_type", "password")], "invalid_grant_type"),
        (vec![("code", "1.2.3")], "invalid_code"),
        (
            vec![("grant_type", "refresh_token")],
            "invalid_refresh_token",
        ),
    ] {
        assert_eq!(user_access(&c, &pairs).await.slack_code(), code);
    }
    let bad_secret = c
        .slack(
            "oauth.v2.user.access",
            &[
                ("client_id", ID),
                ("client_secret", "nope"),
                ("code", "1.2.3"),
            ],
            None,
        )
        .await;
    assert_eq!(bad_secret.slack_code(), "bad_client_secret");
    let n = c.ctl().counters();
    assert_eq!(n.app_op(ID, "slack.oauth.v2.user.access"), 1);
}
