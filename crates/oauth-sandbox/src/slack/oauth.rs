//! `oauth.v2.access` (code exchange, PKCE, refresh) and `oauth.v2.exchange`.

use serde_json::{Map, Value, json};

use crate::grants;
use crate::model::App;
use crate::state::{Flow, GrantKind, Inner, SLACK_ACCESS_TTL_SECS, TokenKind, TokenState};
use crate::wire::{Reply, Req};

use super::{Args, client, err, fix_op, ok, rotate, take_code, team_json};

pub(super) fn oauth_v2_access(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let grant_type = args
        .get("grant_type")
        .unwrap_or("authorization_code")
        .to_owned();
    let op = match grant_type.as_str() {
        "authorization_code" => "slack.oauth.v2.access.authorization_code",
        "refresh_token" => "slack.oauth.v2.access.refresh_token",
        _ => "slack.oauth.v2.access",
    };
    let app = match client(inner, req, args, true) {
        Ok(a) => a,
        Err(r) => return fix_op(r, None, op),
    };
    let cid = Some(app.client_id.as_str());
    let r = match grant_type.as_str() {
        "authorization_code" => v2_code(inner, &app, args),
        "refresh_token" => match rotate(inner, &app, args) {
            Ok((g, a, r, e)) => refresh_response(inner, &app, g, &a, &r, e),
            Err(r) => r,
        },
        _ => err("invalid_grant_type"),
    };
    r.classify(cid, op)
}

fn v2_code(inner: &mut Inner, app: &App, args: &Args) -> Reply {
    let rec = match take_code(
        inner,
        app,
        args,
        Flow::SlackV2,
        "invalid_code",
        "invalid_code_verifier",
    ) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut body = Map::new();
    body.insert("ok".into(), json!(true));
    body.insert("app_id".into(), json!(app.app_id));
    let mut team_ent = None;
    let mut bot = None;
    if !rec.scopes.is_empty() {
        let g = grants::new_slack_grant(inner, app, GrantKind::SlackBot, &rec, rec.scopes.clone());
        let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
        let (a, r, e) = grants::mint_slack(inner, g, rotating);
        if let Some(gr) = inner.grants.get(g) {
            bot = Some((
                gr.bot_user_id.clone(),
                gr.bot_id.clone(),
                rec.scopes.clone(),
            ));
            body.insert("access_token".into(), json!(a));
            body.insert("token_type".into(), json!("bot"));
            body.insert("scope".into(), json!(rec.scopes.join(",")));
            body.insert("bot_user_id".into(), json!(gr.bot_user_id));
            if let (Some(r), Some(e)) = (r, e) {
                body.insert("expires_in".into(), json!(e));
                body.insert("refresh_token".into(), json!(r));
            }
            team_ent = Some(team_json(gr));
        }
    }
    let mut user = Map::new();
    user.insert("id".into(), json!(rec.identity.user_id));
    if !rec.user_scopes.is_empty() {
        let g = grants::new_slack_grant(
            inner,
            app,
            GrantKind::SlackUser,
            &rec,
            rec.user_scopes.clone(),
        );
        let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
        let (a, r, e) = grants::mint_slack(inner, g, rotating);
        user.insert("scope".into(), json!(rec.user_scopes.join(",")));
        user.insert("access_token".into(), json!(a));
        user.insert("token_type".into(), json!("user"));
        if let (Some(r), Some(e)) = (r, e) {
            user.insert("expires_in".into(), json!(e));
            user.insert("refresh_token".into(), json!(r));
        }
        if team_ent.is_none() {
            team_ent = inner.grants.get(g).map(team_json);
        }
    }
    let (team, ent) = team_ent.unwrap_or((Value::Null, Value::Null));
    body.insert("team".into(), team);
    body.insert("enterprise".into(), ent);
    body.insert("is_enterprise_install".into(), json!(rec.identity.org_wide));
    body.insert("authed_user".into(), Value::Object(user));
    inner.record_install(&app.client_id, &rec.identity, bot);
    ok(&Value::Object(body))
}

fn refresh_response(inner: &Inner, app: &App, g: usize, access: &str, rt: &str, exp: i64) -> Reply {
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error");
    };
    let (team, ent) = team_json(gr);
    let bot = gr.kind == GrantKind::SlackBot;
    let mut body = json!({
        "ok": true,
        "app_id": app.app_id,
        "scope": gr.scopes.join(","),
        "token_type": if bot { "bot" } else { "user" },
        "access_token": access,
        "refresh_token": rt,
        "expires_in": exp,
        "team": team,
        "enterprise": ent,
        "is_enterprise_install": gr.identity.org_wide,
    });
    if let Some(m) = body.as_object_mut() {
        if bot {
            m.insert("bot_user_id".into(), json!(gr.bot_user_id));
        } else {
            m.insert("user_id".into(), json!(gr.identity.user_id));
        }
    }
    ok(&body)
}

pub(super) fn oauth_v2_exchange(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let op = "slack.oauth.v2.exchange";
    let app = match client(inner, req, args, false) {
        Ok(a) => a,
        Err(r) => return fix_op(r, None, op),
    };
    let cid = Some(app.client_id.as_str());
    let token = args
        .body_token
        .clone()
        .or_else(|| req.bearer().map(str::to_owned));
    let Some(token) = token else {
        return err("invalid_token").classify(cid, op);
    };
    let (state, grant) = inner.token_state(&token, TokenKind::Access);
    let Some(g) = grant.filter(|_| state == TokenState::Live) else {
        return err("invalid_token").classify(cid, op);
    };
    let Some(gr) = inner.grants.get(g).cloned() else {
        return err("invalid_token").classify(cid, op);
    };
    if gr.client_id != app.client_id || token.starts_with("xoxe.") {
        return err("invalid_token").classify(cid, op);
    }
    if !app.token_rotation_enabled {
        return err("token_rotation_not_enabled").classify(cid, op);
    }
    if gr.exchanged {
        return err("token_already_exchanged").classify(cid, op);
    }
    if let Some(x) = inner.grants.get_mut(g) {
        x.exchanged = true;
        x.rotating = true;
        x.legacy_token = Some(token);
    }
    let (a, r, e) = grants::mint_slack(inner, g, true);
    let (team, ent) = team_json(&gr);
    let bot = gr.kind == GrantKind::SlackBot;
    let mut body = json!({
        "ok": true,
        "access_token": a,
        "expires_in": e.unwrap_or(SLACK_ACCESS_TTL_SECS),
        "refresh_token": r.unwrap_or_default(),
        "token_type": if bot { "bot" } else { "user" },
        "scope": gr.scopes.join(","),
        "app_id": app.app_id,
        "team": team,
        "enterprise": ent,
        "is_enterprise_install": gr.identity.org_wide,
    });
    if let Some(m) = body.as_object_mut() {
        if bot {
            m.insert("bot_user_id".into(), json!(gr.bot_user_id));
        } else {
            m.insert("user_id".into(), json!(gr.identity.user_id));
        }
    }
    ok(&body).classify(cid, op)
}
