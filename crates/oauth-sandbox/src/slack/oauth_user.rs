//! `oauth.v2.user.access`: the user-only install begun at `/oauth/v2_user/authorize`, its code
//! exchange (PKCE or a client secret) and its refresh grant, answered with the user token at the
//! top level (the crate docs give the exact shape).

use serde_json::json;

use crate::grants;
use crate::model::App;
use crate::state::{Flow, GrantKind, Inner};
use crate::wire::{Reply, Req};

use super::{Args, client, err, fix_op, ok, rotate, take_code, team_json};

pub(super) fn oauth_v2_user_access(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let grant_type = args
        .get("grant_type")
        .unwrap_or("authorization_code")
        .to_owned();
    let op = match grant_type.as_str() {
        "authorization_code" => "slack.oauth.v2.user.access.authorization_code",
        "refresh_token" => "slack.oauth.v2.user.access.refresh_token",
        _ => "slack.oauth.v2.user.access",
    };
    let app = match client(inner, req, args, true) {
        Ok(a) => a,
        Err(r) => return fix_op(r, None, op),
    };
    let reply = match grant_type.as_str() {
        "authorization_code" => exchange(inner, &app, args),
        "refresh_token" => refresh(inner, &app, args),
        _ => err("invalid_grant_type"),
    };
    reply.classify(Some(&app.client_id), op)
}

fn exchange(inner: &mut Inner, app: &App, args: &Args) -> Reply {
    let rec = match take_code(
        inner,
        app,
        args,
        Flow::SlackV2User,
        "invalid_code",
        "invalid_code_verifier",
    ) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let g = grants::new_slack_grant(
        inner,
        app,
        GrantKind::SlackUser,
        &rec,
        rec.user_scopes.clone(),
    );
    let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
    let (access, refresh, expires_in) = grants::mint_slack(inner, g, rotating);
    inner.record_install(&app.client_id, &rec.identity, None);
    answer(inner, app, g, &access, refresh.as_deref(), expires_in)
}

/// Refreshes a user token (of either install flow); a bot's refresh token is refused before
/// anything is spent.
fn refresh(inner: &mut Inner, app: &App, args: &Args) -> Reply {
    let of_a_user = args
        .get("refresh_token")
        .and_then(|t| inner.tokens.get(t))
        .and_then(|t| inner.grants.get(t.grant))
        .is_some_and(|g| g.kind == GrantKind::SlackUser);
    if !of_a_user {
        return err("invalid_refresh_token");
    }
    match rotate(inner, app, args) {
        Ok((g, access, refresh, expires_in)) => {
            answer(inner, app, g, &access, Some(&refresh), Some(expires_in))
        }
        Err(r) => r,
    }
}

/// The answer of both grants: the user token at the top level, and `authed_user {id, scope}` as
/// in Slack's example.
fn answer(
    inner: &Inner,
    app: &App,
    g: usize,
    access: &str,
    refresh: Option<&str>,
    expires_in: Option<i64>,
) -> Reply {
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error");
    };
    let (team, enterprise) = team_json(gr);
    let scope = gr.scopes.join(",");
    let mut body = json!({
        "ok": true,
        "app_id": app.app_id,
        "access_token": access,
        "token_type": "user",
        "scope": scope,
        "user_id": gr.identity.user_id,
        "team": team,
        "enterprise": enterprise,
        "is_enterprise_install": gr.identity.org_wide,
        "authed_user": {"id": gr.identity.user_id, "scope": scope},
    });
    if let (Some(refresh), Some(expires_in), Some(m)) = (refresh, expires_in, body.as_object_mut())
    {
        m.insert("refresh_token".into(), json!(refresh));
        m.insert("expires_in".into(), json!(expires_in));
    }
    ok(&body)
}
