//! `auth.test`, `auth.revoke` and `auth.teams.list`.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::state::{GrantKind, Inner};
use crate::wire::{Reply, Req};

use super::{Args, caller, domain, err, ok};

pub(super) fn auth_test(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (token, g, _) = match caller(inner, req, args, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error");
    };
    let app_id = inner
        .apps
        .get(&gr.client_id)
        .map(|a| a.app_id.clone())
        .unwrap_or_default();
    let id = &gr.identity;
    let bot = gr.kind == GrantKind::SlackBot;
    let cid = gr.client_id.clone();
    // Where the answer places the token: its workspace; for an org-wide token the org itself, or
    // the workspace named by `team_id` when the app was added to it.
    let (url, team, team_id) = match (&id.enterprise, id.org_wide, args.get("team_id")) {
        (Some(_), true, Some(wanted)) => match id.teams.iter().find(|t| t.id == wanted) {
            Some(t) => (workspace_url(&t.name), t.name.clone(), t.id.clone()),
            None => return err("team_access_not_granted").classify(Some(&cid), ""),
        },
        (Some((eid, ename)), true, None) => (
            format!("https://{}.enterprise.slack.com/", domain(ename)),
            ename.clone(),
            eid.clone(),
        ),
        _ => (
            workspace_url(&id.team_name),
            id.team_name.clone(),
            id.team_id.clone(),
        ),
    };
    let mut body = json!({
        "ok": true,
        "url": url,
        "team": team,
        "user": if bot { "sandboxbot".to_owned() } else { id.user_name.split(' ').next().unwrap_or("user").to_ascii_lowercase() },
        "team_id": team_id,
        "user_id": if bot { gr.bot_user_id.clone() } else { id.user_id.clone() },
        "app_id": app_id,
        "is_enterprise_install": id.org_wide,
    });
    if let Some(m) = body.as_object_mut() {
        if bot {
            m.insert("bot_id".into(), json!(gr.bot_id));
        }
        if let Some((eid, _)) = &id.enterprise {
            m.insert("enterprise_id".into(), json!(eid));
        }
        if let Some(exp) = inner.tokens.get(&token).and_then(|t| t.expires_at) {
            m.insert("expires_in".into(), json!((exp - inner.now()).max(0)));
        }
    }
    let scopes = gr.scopes.join(",");
    ok(&body)
        .with_header("x-oauth-scopes", scopes)
        .with_header("x-accepted-oauth-scopes", String::new())
        .classify(Some(&cid), "")
}

fn workspace_url(team_name: &str) -> String {
    format!("https://{}.slack.com/", domain(team_name))
}

pub(super) fn auth_revoke(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (token, g, _) = match caller(inner, req, args, true) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error");
    };
    let cid = gr.client_id.clone();
    let rotating = gr.rotating;
    if args.flag("test") {
        return ok(&json!({"ok": true, "revoked": false})).classify(Some(&cid), "");
    }
    if rotating {
        inner.revoke_token(&token);
    } else {
        inner.revoke_grant(g);
    }
    inner.token_revoked_by_app(g);
    ok(&json!({"ok": true, "revoked": true})).classify(Some(&cid), "")
}

pub(super) fn teams_list(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (_, g, _) = match caller(inner, req, args, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error");
    };
    let cid = Some(gr.client_id.as_str());
    let limit = match args.get("limit") {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return err("invalid_limit").classify(cid, ""),
        },
    };
    let offset = match args.get("cursor") {
        None => 0,
        Some(c) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match decoded
                .as_deref()
                .and_then(|s| s.strip_prefix("offset:"))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => n,
                None => return err("invalid_cursor").classify(cid, ""),
            }
        }
    };
    // A workspace token lists its workspace (or the consent's teams); an org-wide token the
    // workspaces the app was added to, possibly none.
    let all: Vec<(String, String)> = if gr.identity.teams.is_empty() && !gr.identity.org_wide {
        vec![(gr.identity.team_id.clone(), gr.identity.team_name.clone())]
    } else {
        gr.identity
            .teams
            .iter()
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect()
    };
    if offset > all.len() {
        return err("invalid_cursor").classify(cid, "");
    }
    let icon = args.flag("include_icon");
    let end = (offset + limit).min(all.len());
    let teams: Vec<Value> = all[offset..end]
        .iter()
        .map(|(id, name)| {
            let mut t = json!({"name": name, "id": id});
            if let (true, Some(m)) = (icon, t.as_object_mut()) {
                let mut ic = Map::new();
                for s in [34, 44, 68, 88, 102, 132, 230] {
                    ic.insert(
                        format!("image_{s}"),
                        json!(format!("https://a.slack-edge.com/sandbox/{id}_{s}.png")),
                    );
                }
                ic.insert("image_default".into(), json!(true));
                m.insert("icon".into(), Value::Object(ic));
            }
            t
        })
        .collect();
    let next = if end < all.len() {
        base64::engine::general_purpose::STANDARD.encode(format!("offset:{end}"))
    } else {
        String::new()
    };
    ok(&json!({"ok": true, "teams": teams, "response_metadata": {"next_cursor": next}}))
        .classify(cid, "")
}
