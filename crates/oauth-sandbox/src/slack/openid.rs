//! `openid.connect.token` and `openid.connect.userInfo` (Sign in with Slack).

use base64::Engine as _;
use serde_json::json;

use crate::grants;
use crate::state::{Flow, GrantKind, Inner, Shared};
use crate::wire::{Reply, Req};

use super::{Args, caller, client, domain, err, fix_op, ok, ok_body, rotate, take_code};

pub(super) fn oidc_token(shared: &Shared, inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let grant_type = args
        .get("grant_type")
        .unwrap_or("authorization_code")
        .to_owned();
    let op = match grant_type.as_str() {
        "authorization_code" => "slack.openid.connect.token.authorization_code",
        "refresh_token" => "slack.openid.connect.token.refresh_token",
        _ => "slack.openid.connect.token",
    };
    let app = match client(inner, req, args, true) {
        Ok(a) => a,
        Err(r) => return fix_op(r, None, op),
    };
    let cid = Some(app.client_id.as_str());
    let (g, access, refresh_tok, exp, nonce) = match grant_type.as_str() {
        "authorization_code" => {
            let rec = match take_code(
                inner,
                &app,
                args,
                Flow::SlackOidc,
                "invalid_code",
                "invalid_grant",
            ) {
                Ok(r) => r,
                Err(r) => return r.classify(cid, op),
            };
            let g = grants::new_slack_grant(
                inner,
                &app,
                GrantKind::SlackUser,
                &rec,
                rec.user_scopes.clone(),
            );
            let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
            let (a, r, e) = grants::mint_slack(inner, g, rotating);
            (g, a, r, e, rec.nonce)
        }
        "refresh_token" => match rotate(inner, &app, args) {
            Ok((g, a, r, e)) => (g, a, Some(r), Some(e), None),
            Err(r) => return r.classify(cid, op),
        },
        _ => return err("unsupported_grant_type").classify(cid, op),
    };
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error").classify(cid, op);
    };
    let now = inner.now();
    let id = &gr.identity;
    let mut claims = json!({
        "iss": shared.base_url,
        "sub": id.user_id,
        "aud": app.client_id,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "at_hash": at_hash(&access),
        "https://slack.com/team_id": id.team_id,
        "https://slack.com/user_id": id.user_id,
        "email": id.user_email,
        "email_verified": true,
        "date_email_verified": now - 86_400,
        "locale": "en-US",
        "name": id.user_name,
        "given_name": id.user_name.split(' ').next().unwrap_or(""),
        "family_name": id.user_name.split(' ').nth(1).unwrap_or(""),
        "https://slack.com/team_image_230": "https://a.slack-edge.com/80588/img/avatars-teams/ava_0001-230.png",
        "https://slack.com/team_image_default": true,
    });
    if let (Some(n), Some(m)) = (nonce, claims.as_object_mut()) {
        m.insert("nonce".into(), json!(n));
    }
    let Some(id_token) = crate::oidc::sign(&shared.jwt_key, &claims) else {
        return err("internal_error").classify(cid, op);
    };
    let mut body = json!({
        "ok": true,
        "access_token": access,
        "token_type": "Bearer",
        "id_token": id_token,
    });
    if let (Some(r), Some(e), Some(m)) = (refresh_tok, exp, body.as_object_mut()) {
        m.insert("refresh_token".into(), json!(r));
        m.insert("expires_in".into(), json!(e));
    }
    ok(&body).classify(cid, op)
}

fn at_hash(access: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(access.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
}

pub(super) fn user_info(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (_, g, _) = match caller(inner, req, args, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(gr) = inner.grants.get(g) else {
        return err("internal_error");
    };
    let cid = Some(gr.client_id.as_str());
    if gr.kind != GrantKind::SlackUser {
        return err("not_allowed_token_type").classify(cid, "");
    }
    if !gr.scopes.iter().any(|s| s == "openid") {
        return ok_body(
            &json!({"ok": false, "error": "missing_scope", "needed": "openid", "provided": gr.scopes.join(",")}),
            false,
        )
        .classify(cid, "");
    }
    let id = &gr.identity;
    let mut body = json!({
        "ok": true,
        "sub": id.user_id,
        "https://slack.com/user_id": id.user_id,
        "https://slack.com/team_id": id.team_id,
        "name": id.user_name,
        "given_name": id.user_name.split(' ').next().unwrap_or(""),
        "family_name": id.user_name.split(' ').nth(1).unwrap_or(""),
        "picture": "https://secure.gravatar.com/avatar/sandbox.png",
        "locale": "en-US",
        "https://slack.com/team_name": id.team_name,
        "https://slack.com/team_domain": domain(&id.team_name),
        "https://slack.com/team_image_default": true,
    });
    if gr.scopes.iter().any(|s| s == "email")
        && let Some(m) = body.as_object_mut()
    {
        m.insert("email".into(), json!(id.user_email));
        m.insert("email_verified".into(), json!(true));
        m.insert("date_email_verified".into(), json!(1_622_128_723));
    }
    ok(&body).classify(cid, "")
}
