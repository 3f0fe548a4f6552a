//! API calls with the tokens the sandbox issued, over plain HTTP: Slack's Web API methods it does
//! not otherwise emulate check the bearer token, and Notion's `GET /v1/users/me` answers the bot
//! or `401 unauthorized`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Ctx;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn slack_methods_check_the_bearer_token() {
    let c = Ctx::new().await;
    let install = c.slack_install().await;
    let bot = install.s("access_token").to_owned();
    let user = install.json["authed_user"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (token, scopes) in [(&bot, "chat:write,commands"), (&user, "search:read")] {
        let r = c
            .slack(
                "chat.postMessage",
                &[("channel", "C1"), ("text", "hi")],
                Some(token),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json, json!({"ok": true}), "{}", r.text);
        assert_eq!(r.header("x-oauth-scopes"), Some(scopes));
    }
    // The token in the form body, as some SDKs send it.
    let r = c
        .slack("conversations.list", &[("token", &bot)], None)
        .await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    let cases = [
        (None, "not_authed"),
        (Some("xoxb-not-a-token"), "invalid_auth"),
    ];
    for (token, code) in cases {
        let r = c.slack("users.info", &[("user", "U1")], token).await;
        assert_eq!((r.status, r.slack_code()), (200, code), "{}", r.text);
    }
    // Methods outside Slack's families are still unknown.
    let r = c.slack("sandbox.noSuchMethod", &[], Some(&bot)).await;
    assert_eq!(r.slack_code(), "unknown_method");
    let counters = c.ctl().counters();
    assert_eq!(counters.op("slack.chat.postMessage"), 2);
    assert_eq!(counters.op("slack.users.info"), 2);

    // Past its lifetime a rotating token is `token_expired`; revoked, `token_revoked`.
    c.ctl().advance_clock(Duration::from_secs(43_200 + 1));
    let r = c.slack("chat.postMessage", &[], Some(&bot)).await;
    assert_eq!(r.slack_code(), "token_expired");
    let refreshed = c
        .slack_refresh(install.json["refresh_token"].as_str().unwrap())
        .await;
    let fresh = refreshed.s("access_token").to_owned();
    assert_eq!(
        c.slack("chat.postMessage", &[], Some(&fresh))
            .await
            .slack_code(),
        "ok"
    );
    let revoke = c.slack("auth.revoke", &[], Some(&fresh)).await;
    assert_eq!(revoke.slack_code(), "ok", "{}", revoke.text);
    let r = c.slack("chat.postMessage", &[], Some(&fresh)).await;
    assert_eq!(r.slack_code(), "token_revoked");
}

#[tokio::test]
async fn notion_users_me_answers_the_bot_or_401() {
    let c = Ctx::new().await;
    let tokens = c.notion_tokens().await;
    let access = tokens.s("access_token").to_owned();
    let me = |token: Option<String>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let c = &c;
        async move {
            let mut headers = vec![("notion-version", common::NOTION_VERSION)];
            if let Some(a) = &auth {
                headers.push(("authorization", a.as_str()));
            }
            c.send("GET", "/v1/users/me", &headers, None).await
        }
    };
    let r = me(Some(access.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["object"], "user");
    assert_eq!(r.json["type"], "bot");
    assert_eq!(r.json["id"], tokens.json["bot_id"]);
    assert_eq!(
        r.json["bot"]["workspace_name"],
        tokens.json["workspace_name"]
    );
    for token in [None, Some("ntn_unknown".to_owned())] {
        let r = me(token).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.json["code"], "unauthorized");
    }
    // After a refresh the old access token is deactivated.
    let refreshed = c
        .notion(
            "/v1/oauth/token",
            json!({"grant_type": "refresh_token", "refresh_token": tokens.s("refresh_token")}),
        )
        .await;
    assert_eq!(me(Some(access)).await.status, 401);
    assert_eq!(
        me(Some(refreshed.s("access_token").to_owned()))
            .await
            .status,
        200
    );
    assert_eq!(c.ctl().counters().op("notion.users.me"), 5);
}
