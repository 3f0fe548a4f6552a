//! Slack installations over plain HTTP: a stable bot user per workspace (or org) across
//! reinstalls, several users authorizing one workspace, org-wide installs, workspace installs
//! inside a Grid org, and the control API's read of the installations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Ctx, Resp, SLACK_REDIRECT};
use oauth_sandbox::{
    Consent, DEFAULT_SLACK_APP_ID, DEFAULT_SLACK_CLIENT_ID as ID,
    DEFAULT_SLACK_CLIENT_SECRET as SECRET, EnterpriseInfo, TeamInfo,
};
use serde_json::{Value, json};
use std::time::Duration;

/// Installs the default app with these bot and user scopes (the next queued consent applies).
async fn install(c: &Ctx, scope: &str, user_scope: &str) -> Resp {
    let code = c.slack_code(&format!("&scope={scope}&user_scope={user_scope}"));
    exchange(c, &code).await
}

async fn exchange(c: &Ctx, code: &str) -> Resp {
    c.slack(
        "oauth.v2.access",
        &[
            ("client_id", ID),
            ("client_secret", SECRET),
            ("code", code),
            ("redirect_uri", SLACK_REDIRECT),
        ],
        None,
    )
    .await
}

async fn auth_test(c: &Ctx, token: &str, extra: &[(&str, &str)]) -> Resp {
    c.slack("auth.test", extra, Some(token)).await
}

fn user_token(r: &Resp) -> String {
    r.json["authed_user"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reinstall_keeps_the_bot_user_and_issues_new_tokens() {
    let c = Ctx::new().await;
    let first = install(&c, "chat:write", "search:read").await;
    assert_eq!(first.slack_code(), "ok", "{}", first.text);
    let bot_user = first.s("bot_user_id").to_owned();
    let before = auth_test(&c, first.s("access_token"), &[]).await;
    let bot_id = before.s("bot_id").to_owned();
    assert!(bot_user.starts_with('U') && bot_id.starts_with('B'));

    // Reinstall in the same workspace with more scopes, an hour later.
    c.ctl().advance_clock(Duration::from_secs(3_600));
    let second = install(&c, "chat:write,users:read", "search:read").await;
    assert_eq!(second.slack_code(), "ok", "{}", second.text);
    assert_eq!(second.s("bot_user_id"), bot_user);
    assert_ne!(second.s("access_token"), first.s("access_token"));
    assert_ne!(second.s("refresh_token"), first.s("refresh_token"));
    assert_ne!(user_token(&second), user_token(&first));
    assert_eq!(second.s("scope"), "chat:write,users:read");
    let after = auth_test(&c, second.s("access_token"), &[]).await;
    assert_eq!(
        (after.s("user_id"), after.s("bot_id")),
        (bot_user.as_str(), bot_id.as_str())
    );
    assert_eq!(
        after.header("x-oauth-scopes"),
        Some("chat:write,users:read")
    );

    // The previous install's tokens are left alone: its access token works until it expires,
    // its refresh token still refreshes, with its scopes.
    let still = auth_test(&c, first.s("access_token"), &[]).await;
    assert_eq!(
        (still.slack_code(), still.header("x-oauth-scopes")),
        ("ok", Some("chat:write"))
    );
    c.ctl().advance_clock(Duration::from_secs(43_200 - 3_600));
    assert_eq!(
        auth_test(&c, first.s("access_token"), &[])
            .await
            .slack_code(),
        "token_expired"
    );
    let old = c.slack_refresh(first.s("refresh_token")).await;
    assert_eq!(old.slack_code(), "ok", "{}", old.text);
    assert_eq!(
        (old.s("bot_user_id"), old.s("scope")),
        (bot_user.as_str(), "chat:write")
    );
    let old_test = auth_test(&c, old.s("access_token"), &[]).await;
    assert_eq!(
        (old_test.s("bot_id"), old_test.header("x-oauth-scopes")),
        (bot_id.as_str(), Some("chat:write"))
    );
    // The new install's lineage is unaffected by that refresh.
    let new = c.slack_refresh(second.s("refresh_token")).await;
    assert_eq!(
        (new.slack_code(), new.s("scope")),
        ("ok", "chat:write,users:read")
    );

    let all = c.ctl().installations();
    assert_eq!(all.len(), 1, "{all:?}");
    let i = &all[0];
    assert_eq!(
        (
            i.client_id.as_str(),
            i.app_id.as_str(),
            i.team.clone(),
            i.enterprise.clone(),
            i.is_enterprise_install,
        ),
        (
            ID,
            DEFAULT_SLACK_APP_ID,
            Some(TeamInfo::new("T0SANDBOX1", "Sandbox Workspace")),
            None,
            false
        )
    );
    assert_eq!(
        (i.bot_user_id.as_deref(), i.bot_id.as_deref()),
        (Some(bot_user.as_str()), Some(bot_id.as_str()))
    );
    assert_eq!(i.bot_scopes, ["chat:write", "users:read"]);
    assert_eq!(i.installer_user_ids, ["U0SANDBOX1"]);
    assert!(i.updated_at - i.installed_at >= 3_600, "{i:?}");
}

#[tokio::test]
async fn users_of_one_workspace_share_its_bot_and_keep_their_own_tokens() {
    let c = Ctx::new().await;
    c.ctl()
        .push_consent(Consent::approve("T0ACME", "Acme", "U0ADA"));
    let ada = install(&c, "chat:write", "search:read").await;
    c.ctl()
        .push_consent(Consent::approve("T0ACME", "Acme", "U0BOB"));
    let bob = install(&c, "chat:write", "search:read,stars:read").await;
    assert_eq!(bob.slack_code(), "ok", "{}", bob.text);
    assert_eq!(bob.s("bot_user_id"), ada.s("bot_user_id"));
    assert_eq!(
        (
            bob.json["authed_user"]["id"].as_str(),
            bob.json["team"].clone()
        ),
        (Some("U0BOB"), json!({"id": "T0ACME", "name": "Acme"}))
    );
    // Each user's token is their own, and Ada's still works after Bob's authorization.
    for (token, user, scopes) in [
        (user_token(&ada), "U0ADA", "search:read"),
        (user_token(&bob), "U0BOB", "search:read,stars:read"),
    ] {
        let t = auth_test(&c, &token, &[]).await;
        assert_eq!((t.slack_code(), t.s("user_id")), ("ok", user), "{}", t.text);
        assert_eq!(t.header("x-oauth-scopes"), Some(scopes));
    }
    // Another workspace gets a bot user of its own.
    c.ctl()
        .push_consent(Consent::approve("T0OTHER", "Other", "U0ADA"));
    let other = install(&c, "chat:write", "").await;
    assert_ne!(other.s("bot_user_id"), ada.s("bot_user_id"));

    let acme = c.ctl().installation(ID, "T0ACME").unwrap();
    assert_eq!(acme.installer_user_ids, ["U0ADA", "U0BOB"]);
    assert_eq!(acme.latest_installer_user_id, "U0BOB");
    assert_eq!(c.ctl().installations().len(), 2);
    assert_eq!(c.ctl().stats().installations, 2);
    assert!(c.ctl().installation(ID, "T0NONE").is_none());
}

#[tokio::test]
async fn an_org_wide_install_serves_every_workspace_of_the_org() {
    let c = Ctx::new().await;
    c.ctl().push_consent(Consent::org_wide(
        "E0GRID",
        "Grid Org",
        "W0ADMIN",
        &["T0EAST", "T0WEST"],
    ));
    let r = install(&c, "chat:write", "search:read").await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert_eq!(
        (
            r.json["team"].clone(),
            r.json["enterprise"].clone(),
            r.json["is_enterprise_install"].clone()
        ),
        (
            Value::Null,
            json!({"id": "E0GRID", "name": "Grid Org"}),
            json!(true)
        )
    );
    assert_eq!(r.json["authed_user"]["id"], "W0ADMIN");
    let bot = r.s("access_token").to_owned();

    // auth.test: the org itself, or one of its workspaces when asked with `team_id`.
    let org = auth_test(&c, &bot, &[]).await;
    assert_eq!(org.slack_code(), "ok", "{}", org.text);
    assert_eq!(
        (
            org.s("team_id"),
            org.s("team"),
            org.s("enterprise_id"),
            org.s("url")
        ),
        (
            "E0GRID",
            "Grid Org",
            "E0GRID",
            "https://gridorg.enterprise.slack.com/"
        )
    );
    assert_eq!(org.json["is_enterprise_install"], true);
    for (team, name) in [
        ("T0EAST", "Sandbox team T0EAST"),
        ("T0WEST", "Sandbox team T0WEST"),
    ] {
        let t = auth_test(&c, &bot, &[("team_id", team)]).await;
        assert_eq!(
            (
                t.slack_code(),
                t.s("team_id"),
                t.s("team"),
                t.s("enterprise_id")
            ),
            ("ok", team, name, "E0GRID"),
            "{}",
            t.text
        );
        assert_eq!(t.json["is_enterprise_install"], true);
    }
    assert_eq!(
        auth_test(&c, &bot, &[("team_id", "T0ELSEWHERE")])
            .await
            .slack_code(),
        "team_access_not_granted"
    );
    // The installing admin's user token is org-wide too.
    let admin = auth_test(&c, &user_token(&r), &[]).await;
    assert_eq!(
        (admin.s("user_id"), admin.s("team_id")),
        ("W0ADMIN", "E0GRID")
    );
    assert_eq!(admin.json["is_enterprise_install"], true);

    // auth.teams.list names the org's workspaces.
    let teams = c.slack("auth.teams.list", &[], Some(&bot)).await;
    let ids: Vec<&str> = teams.json["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["T0EAST", "T0WEST"]);

    // A refresh keeps the org-wide shape.
    let refreshed = c.slack_refresh(r.s("refresh_token")).await;
    assert_eq!(
        (
            refreshed.json["team"].clone(),
            refreshed.json["is_enterprise_install"].clone(),
            refreshed.json["enterprise"]["id"].clone()
        ),
        (Value::Null, json!(true), json!("E0GRID"))
    );

    // A reinstall of the org keeps its bot; the installation is keyed by the enterprise.
    c.ctl().push_consent(Consent::org_wide(
        "E0GRID",
        "Grid Org",
        "W0ADMIN",
        &["T0EAST", "T0WEST", "T0NORTH"],
    ));
    let again = install(&c, "chat:write", "").await;
    assert_eq!(again.s("bot_user_id"), r.s("bot_user_id"));
    let i = c.ctl().installation(ID, "E0GRID").unwrap();
    assert_eq!(
        (
            i.team.clone(),
            i.enterprise.clone(),
            i.is_enterprise_install
        ),
        (
            None,
            Some(EnterpriseInfo {
                id: "E0GRID".into(),
                name: "Grid Org".into()
            }),
            true
        )
    );
    assert_eq!(i.workspaces.len(), 3);
    assert_eq!(i.bot_user_id.as_deref(), Some(r.s("bot_user_id")));
}

#[tokio::test]
async fn an_org_wide_install_with_no_workspace_yet_lists_none() {
    let c = Ctx::new().await;
    c.ctl()
        .push_consent(Consent::org_wide("E0NEW", "New Org", "W0ADMIN", &[]));
    let r = install(&c, "chat:write", "").await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    let teams = c
        .slack("auth.teams.list", &[], Some(r.s("access_token")))
        .await;
    assert_eq!(teams.json["teams"], json!([]));
}

#[tokio::test]
async fn a_workspace_install_inside_an_org() {
    let c = Ctx::new().await;
    c.ctl().push_consent(
        Consent::approve("T0SALES", "Sales", "W0SAM").in_enterprise("E0CORP", "Corp"),
    );
    let r = install(&c, "chat:write", "search:read").await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    assert_eq!(
        (
            r.json["team"].clone(),
            r.json["enterprise"].clone(),
            r.json["is_enterprise_install"].clone()
        ),
        (
            json!({"id": "T0SALES", "name": "Sales"}),
            json!({"id": "E0CORP", "name": "Corp"}),
            json!(false)
        )
    );
    let t = auth_test(&c, r.s("access_token"), &[("team_id", "T0ELSEWHERE")]).await;
    assert_eq!(
        (
            t.slack_code(),
            t.s("team_id"),
            t.s("enterprise_id"),
            t.s("url")
        ),
        ("ok", "T0SALES", "E0CORP", "https://sales.slack.com/"),
        "a workspace token ignores team_id: {}",
        t.text
    );
    assert_eq!(t.json["is_enterprise_install"], false);
    let i = c.ctl().installation(ID, "T0SALES").unwrap();
    assert_eq!(
        (i.team.unwrap().id, i.enterprise.unwrap().id),
        ("T0SALES".to_owned(), "E0CORP".to_owned())
    );
}

#[tokio::test]
async fn a_workspace_install_is_refused_in_an_org_the_app_is_installed_in() {
    let c = Ctx::new().await;
    c.ctl()
        .push_consent(Consent::org_wide("E0CORP", "Corp", "W0ADMIN", &["T0SALES"]));
    assert_eq!(install(&c, "chat:write", "").await.slack_code(), "ok");
    c.ctl().push_consent(
        Consent::approve("T0SALES", "Sales", "W0SAM").in_enterprise("E0CORP", "Corp"),
    );
    let code = c.slack_code("&scope=chat:write");
    for _ in 0..2 {
        // Refused, and the code is not spent: the same answer again, not invalid_code.
        assert_eq!(
            exchange(&c, &code).await.slack_code(),
            "cannot_install_an_org_installed_app"
        );
    }
    assert_eq!(c.ctl().installations().len(), 1);
    // Another org is not affected.
    c.ctl()
        .push_consent(Consent::approve("T0OPS", "Ops", "W0SAM").in_enterprise("E0OTHER", "Other"));
    assert_eq!(install(&c, "chat:write", "").await.slack_code(), "ok");
}

#[tokio::test]
async fn installations_over_http_hold_no_secret() {
    let c = Ctx::new().await;
    // An org-wide consent queued over HTTP, in its JSON form.
    let queued = c
        .send(
            "POST",
            "/_sandbox/consent",
            &[("content-type", "application/json")],
            Some(
                json!({"user_id": "W0ADMIN", "enterprise_id": "E0HTTP", "is_enterprise_install": true,
                       "teams": [{"id": "T0ONE", "name": "One"}]})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(queued.status, 200, "{}", queued.text);
    let r = install(&c, "chat:write", "search:read").await;
    assert_eq!(r.json["team"], Value::Null);
    let listed = c.send("GET", "/_sandbox/installations", &[], None).await;
    assert_eq!(listed.status, 200);
    let rows = listed.json.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", listed.text);
    assert_eq!(
        (
            rows[0]["team"].clone(),
            rows[0]["enterprise"].clone(),
            rows[0]["is_enterprise_install"].clone(),
            rows[0]["workspaces"].clone(),
            rows[0]["installer_user_ids"].clone(),
        ),
        (
            Value::Null,
            json!({"id": "E0HTTP", "name": "Sandbox Enterprise"}),
            json!(true),
            json!([{"id": "T0ONE", "name": "One"}]),
            json!(["W0ADMIN"]),
        )
    );
    assert_eq!(rows[0]["bot_user_id"], r.json["bot_user_id"]);
    // Neither the JSON nor the Debug form carries a token or the client secret.
    let debug = format!("{:?}", c.ctl().installations());
    for text in [listed.text.as_str(), debug.as_str()] {
        for secret in [
            r.s("access_token"),
            r.s("refresh_token"),
            user_token(&r).as_str(),
            SECRET,
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(!text.contains("xox"), "{text}");
    }
    // A reset forgets installations: the next install mints a new bot user.
    c.ctl().reset();
    assert!(c.ctl().installations().is_empty());
    let fresh = install(&c, "chat:write", "").await;
    assert_ne!(fresh.s("bot_user_id"), r.s("bot_user_id"));
}
