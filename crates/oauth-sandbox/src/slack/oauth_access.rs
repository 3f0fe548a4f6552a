//! The legacy v1 `oauth.access`.

use serde_json::json;

use crate::grants;
use crate::state::{Flow, GrantKind, Inner};
use crate::wire::{Reply, Req};

use super::{Args, client, fix_op, ok, take_code};

pub(super) fn oauth_access(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let op = "slack.oauth.access";
    let app = match client(inner, req, args, false) {
        Ok(a) => a,
        Err(r) => return fix_op(r, None, op),
    };
    let cid = Some(app.client_id.as_str());
    let rec = match take_code(
        inner,
        &app,
        args,
        Flow::SlackV1,
        "code_already_used",
        "invalid_code",
    ) {
        Ok(r) => r,
        Err(r) => return r.classify(cid, op),
    };
    let mut scopes = rec.scopes.clone();
    scopes.extend(rec.user_scopes.iter().cloned());
    let g = grants::new_slack_grant(inner, &app, GrantKind::SlackUser, &rec, scopes.clone());
    let (a, _, _) = grants::mint_slack(inner, g, false);
    let mut body = json!({
        "ok": true,
        "access_token": a,
        "scope": scopes.join(","),
        "user_id": rec.identity.user_id,
        "team_id": rec.identity.team_id,
        "team_name": rec.identity.team_name,
        "enterprise_id": rec.identity.enterprise.as_ref().map(|e| e.0.clone()),
    });
    let mut bot = None;
    if scopes.iter().any(|s| s == "bot") {
        let bg =
            grants::new_slack_grant(inner, &app, GrantKind::SlackBot, &rec, vec!["bot".into()]);
        let (ba, _, _) = grants::mint_slack(inner, bg, false);
        let (bot_user, bot_id) = inner
            .grants
            .get(bg)
            .map(|x| (x.bot_user_id.clone(), x.bot_id.clone()))
            .unwrap_or_default();
        bot = Some((bot_user.clone(), bot_id, vec!["bot".to_owned()]));
        if let Some(m) = body.as_object_mut() {
            m.insert(
                "bot".into(),
                json!({"bot_user_id": bot_user, "bot_access_token": ba}),
            );
        }
    }
    inner.record_install(&app.client_id, &rec.identity, bot);
    ok(&body).classify(cid, op)
}
