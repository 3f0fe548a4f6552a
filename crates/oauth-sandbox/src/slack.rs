//! Slack Web API methods under `/api/<method>`.

use base64::Engine as _;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::model::{App, Provider};
use crate::state::{
    CODE_TTL_SECS, CodeRec, Flow, Grant, GrantKind, Inner, PKCE_REFRESH_TTL_SECS,
    SLACK_ACCESS_TTL_SECS, Shared, TokenKind, TokenState,
};
use crate::wire::{JSON_UTF8, Reply, Req, s256};

type SResult<T> = Result<T, Reply>;

/// `{"ok":false,"error":code}` in HTTP 200.
pub(crate) fn err(code: &str) -> Reply {
    ok_body(&json!({"ok": false, "error": code}), false)
}

fn ok_body(v: &Value, ok: bool) -> Reply {
    // Slack escapes forward slashes in its JSON.
    let s = ok_first(v).replace('/', "\\/");
    Reply {
        status: StatusCode::OK,
        content_type: JSON_UTF8,
        headers: Vec::new(),
        body: s.into_bytes(),
        app: None,
        op: None,
        ok,
    }
}

/// Serialises with `ok` first, as Slack does (serde_json sorts the other keys).
fn ok_first(v: &Value) -> String {
    let Value::Object(m) = v else {
        return v.to_string();
    };
    let mut s = String::from("{");
    if let Some(ok) = m.get("ok") {
        s.push_str("\"ok\":");
        s.push_str(&ok.to_string());
    }
    for (k, val) in m.iter().filter(|(k, _)| k.as_str() != "ok") {
        if s.len() > 1 {
            s.push(',');
        }
        s.push_str(&Value::String(k.clone()).to_string());
        s.push(':');
        s.push_str(&val.to_string());
    }
    s.push('}');
    s
}

fn ok(v: &Value) -> Reply {
    ok_body(v, true)
}

/// Method arguments from the query string and the body.
#[derive(Debug, Default)]
struct Args {
    pairs: Vec<(String, String)>,
    body_token: Option<String>,
    warning: Option<&'static str>,
}

impl Args {
    fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1" | "true" | "TRUE" | "True"))
    }
}

fn parse_args(req: &Req, json_ok: bool) -> SResult<Args> {
    // Query arguments count, but a token in the query string is refused (ignored).
    let mut args = Args {
        pairs: req
            .query_pairs()
            .into_iter()
            .filter(|(k, _)| k != "token")
            .collect(),
        ..Args::default()
    };
    if req.method != Method::POST && req.method != Method::GET {
        return Err(err("invalid_post_type"));
    }
    if req.body.is_empty() {
        return Ok(args);
    }
    match req.media_type().as_deref() {
        None | Some("") => Err(err("missing_post_type")),
        Some("application/x-www-form-urlencoded") => {
            for (k, v) in url::form_urlencoded::parse(&req.body).into_owned() {
                if k == "token" {
                    args.body_token = Some(v.clone());
                }
                args.pairs.push((k, v));
            }
            Ok(args)
        }
        Some("application/json") => {
            if !json_ok {
                // Not a JSON-capable method: the body's arguments are not seen.
                return Ok(args);
            }
            let v: Value = serde_json::from_slice(&req.body).map_err(|_| err("invalid_json"))?;
            let Value::Object(m) = v else {
                return Err(err("json_not_object"));
            };
            for (k, v) in m {
                if k == "token" {
                    continue;
                }
                let s = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                args.pairs.push((k, s));
            }
            let has_charset = req
                .header("content-type")
                .is_some_and(|c| c.to_ascii_lowercase().contains("charset"));
            if !has_charset {
                args.warning = Some("missing_charset");
            }
            Ok(args)
        }
        Some("multipart/form-data") => Err(err("invalid_form_data")),
        Some(_) => Err(err("invalid_post_type")),
    }
}

const JSON_METHODS: &[&str] = &[
    "oauth.v2.access",
    "oauth.access",
    "openid.connect.token",
    "auth.test",
    "apps.auth.external.get",
    "apps.auth.external.delete",
];

pub(crate) fn handle(shared: &Shared, inner: &mut Inner, req: &Req) -> Reply {
    let method = req.path.strip_prefix("/api/").unwrap_or("").to_owned();
    let op = format!("slack.{method}");
    let known = matches!(
        method.as_str(),
        "oauth.v2.access"
            | "oauth.v2.exchange"
            | "oauth.access"
            | "openid.connect.token"
            | "openid.connect.userInfo"
            | "auth.test"
            | "auth.revoke"
            | "auth.teams.list"
            | "apps.auth.external.get"
            | "apps.auth.external.delete"
    );
    if !known {
        return ok_body(
            &json!({"ok": false, "error": "unknown_method", "req_method": method}),
            false,
        )
        .classify(None, "slack.unknown_method");
    }
    let args = match parse_args(req, JSON_METHODS.contains(&method.as_str())) {
        Ok(a) => a,
        Err(r) => return r.classify(None, &op),
    };
    let warning = args.warning;
    let mut reply = match method.as_str() {
        "oauth.v2.access" => oauth_v2_access(inner, req, &args),
        "oauth.v2.exchange" => oauth_v2_exchange(inner, req, &args),
        "oauth.access" => oauth_access(inner, req, &args),
        "openid.connect.token" => oidc_token(shared, inner, req, &args),
        "openid.connect.userInfo" => user_info(inner, req, &args),
        "auth.test" => auth_test(inner, req, &args),
        "auth.revoke" => auth_revoke(inner, req, &args),
        "auth.teams.list" => teams_list(inner, req, &args),
        "apps.auth.external.get" => external_get(inner, req, &args),
        _ => external_delete(inner, req, &args),
    };
    if reply.op.is_none() {
        reply.op = Some(op);
    }
    if let Some(w) = warning {
        // Re-serialise with the warning added.
        if let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(&reply.body) {
            m.insert("warning".into(), json!(w));
            m.insert("response_metadata".into(), json!({"warnings": [w]}));
            let (app, op, okf, headers) = (
                reply.app.take(),
                reply.op.take(),
                reply.ok,
                std::mem::take(&mut reply.headers),
            );
            reply = ok_body(&Value::Object(m), okf);
            reply.app = app;
            reply.op = op;
            reply.headers = headers;
        }
    }
    reply
}

// ---------------------------------------------------------------------------------------------
// Client and token authentication.

/// Client credentials from HTTP Basic or the arguments. `allow_public`: a PKCE app may omit the
/// secret.
fn client(inner: &Inner, req: &Req, args: &Args, allow_public: bool) -> SResult<App> {
    let (id, secret) = match req.basic_auth() {
        Some((i, s)) => (Some(i), Some(s).filter(|s| !s.is_empty())),
        None => (
            args.get("client_id").map(str::to_owned),
            args.get("client_secret").map(str::to_owned),
        ),
    };
    let app = id
        .and_then(|id| inner.apps.get(&id))
        .filter(|a| a.provider == Provider::Slack)
        .ok_or_else(|| err("invalid_client_id"))?;
    match secret {
        None if allow_public && app.pkce_enabled => Ok(app.clone()),
        None => Err(err("bad_client_secret").classify(Some(&app.client_id), "")),
        Some(s) if app.client_secret.as_deref() == Some(s.as_str()) => Ok(app.clone()),
        Some(_) => Err(err("bad_client_secret").classify(Some(&app.client_id), "")),
    }
}

fn fix_op(r: Reply, app: Option<&str>, op: &str) -> Reply {
    let mut r = r;
    if r.op.as_deref() == Some("") {
        r.op = None;
    }
    r.classify(app, op)
}

/// The calling token: `Authorization: Bearer` (case-sensitive) or the `token` form field.
fn caller(
    inner: &Inner,
    req: &Req,
    args: &Args,
    accept_refresh: bool,
) -> SResult<(String, usize, TokenKind)> {
    let token = req
        .bearer()
        .map(str::to_owned)
        .or_else(|| args.body_token.clone().filter(|t| !t.is_empty()))
        .ok_or_else(|| err("not_authed"))?;
    let mut kinds = vec![TokenKind::Access];
    if accept_refresh {
        kinds.push(TokenKind::Refresh);
    }
    for kind in kinds {
        let (state, grant) = inner.token_state(&token, kind);
        let app = grant
            .and_then(|g| inner.grants.get(g))
            .map(|g| g.client_id.clone());
        match (state, grant) {
            (TokenState::Live, Some(g)) => return Ok((token, g, kind)),
            (TokenState::Revoked, _) => {
                return Err(err("token_revoked").classify(app.as_deref(), ""));
            }
            (TokenState::Expired, _) => {
                return Err(err("token_expired").classify(app.as_deref(), ""));
            }
            _ => {}
        }
    }
    Err(err("invalid_auth"))
}

// ---------------------------------------------------------------------------------------------
// Minting.

fn new_grant(
    inner: &mut Inner,
    app: &App,
    kind: GrantKind,
    rec: &CodeRec,
    scopes: Vec<String>,
) -> usize {
    let bot_user_id = inner.slack_id('U');
    let bot_id = inner.slack_id('B');
    inner.new_grant(Grant {
        client_id: app.client_id.clone(),
        kind,
        identity: rec.identity.clone(),
        scopes,
        rotating: app.token_rotation_enabled || app.pkce_enabled,
        pkce: app.pkce_enabled,
        access: Vec::new(),
        legacy_token: None,
        exchanged: false,
        revoked: false,
        bot_id,
        bot_user_id,
    })
}

/// Mints an access token (and a refresh token when rotating): (access, refresh, expires_in).
fn mint(inner: &mut Inner, grant: usize, rotating: bool) -> (String, Option<String>, Option<i64>) {
    let Some(g) = inner.grants.get(grant) else {
        return (String::new(), None, None);
    };
    let bot = g.kind == GrantKind::SlackBot;
    let pkce = g.pkce;
    let ttl = inner
        .apps
        .get(&g.client_id)
        .and_then(|app| app.access_token_ttl_secs)
        .map_or(SLACK_ACCESS_TTL_SECS, |secs| {
            i64::try_from(secs).unwrap_or(i64::MAX)
        });
    if rotating {
        let access = format!(
            "xoxe.{}-1-{}",
            if bot { "xoxb" } else { "xoxp" },
            inner.alnum(150)
        );
        let refresh = format!("xoxe-1-{}", inner.alnum(140));
        inner.add_token(&access, TokenKind::Access, grant, Some(ttl));
        inner.add_token(
            &refresh,
            TokenKind::Refresh,
            grant,
            pkce.then_some(PKCE_REFRESH_TTL_SECS),
        );
        (access, Some(refresh), Some(ttl))
    } else {
        let access = if bot {
            format!(
                "xoxb-{}-{}-{}",
                inner.digits(11),
                inner.digits(13),
                inner.alnum(24)
            )
        } else {
            format!(
                "xoxp-{}-{}-{}-{}",
                inner.digits(11),
                inner.digits(11),
                inner.digits(13),
                inner.alnum(32)
            )
        };
        inner.add_token(&access, TokenKind::Access, grant, None);
        (access, None, None)
    }
}

/// Validates and consumes a code for the given flow. `pkce_error` is the code for a verifier
/// mismatch.
fn take_code(
    inner: &mut Inner,
    app: &App,
    args: &Args,
    flow: Flow,
    reused: &'static str,
    pkce_error: &'static str,
) -> SResult<CodeRec> {
    let code = args
        .get("code")
        .ok_or_else(|| err("invalid_code"))?
        .to_owned();
    let rec = inner
        .codes
        .get(&code)
        .cloned()
        .ok_or_else(|| err("invalid_code"))?;
    if rec.client_id != app.client_id {
        return Err(err("invalid_code"));
    }
    if rec.flow != flow {
        return Err(err("oauth_authorization_url_mismatch"));
    }
    if rec.used {
        return Err(err(reused));
    }
    if inner.now() - rec.issued_at >= CODE_TTL_SECS {
        return Err(err("invalid_code"));
    }
    match (&rec.redirect_uri, args.get("redirect_uri")) {
        (Some(a), Some(b)) if a == b => {}
        (Some(_), _) => return Err(err("bad_redirect_uri")),
        (None, Some(b)) if b != rec.effective_redirect => return Err(err("bad_redirect_uri")),
        (None, _) => {}
    }
    if let Some(ch) = &rec.challenge {
        match args.get("code_verifier") {
            Some(v) if s256(v) == *ch => {}
            _ => return Err(err(pkce_error)),
        }
    }
    if let Some(c) = inner.codes.get_mut(&code) {
        c.used = true;
    }
    Ok(rec)
}

/// Refresh rotation shared by `oauth.v2.access` and `openid.connect.token`:
/// (grant, access, refresh, expires_in).
fn refresh(inner: &mut Inner, app: &App, args: &Args) -> SResult<(usize, String, String, i64)> {
    let rt = args
        .get("refresh_token")
        .ok_or_else(|| err("invalid_refresh_token"))?
        .to_owned();
    let (state, grant) = inner.token_state(&rt, TokenKind::Refresh);
    let grant = grant
        .filter(|_| state == TokenState::Live)
        .ok_or_else(|| err("invalid_refresh_token"))?;
    if inner
        .grants
        .get(grant)
        .is_none_or(|g| g.client_id != app.client_id)
    {
        return Err(err("invalid_refresh_token"));
    }
    let now = inner.now();
    let rec = inner.tokens.get(&rt).cloned();
    if let Some(used_at) = rec.as_ref().and_then(|r| r.used_at) {
        let grace = i64::try_from(app.refresh_grace_secs).unwrap_or(i64::MAX);
        if now < used_at.saturating_add(grace)
            && let Some((a, r)) = rec.and_then(|r| r.replay)
        {
            *inner
                .counters
                .refresh_replays
                .entry(app.client_id.clone())
                .or_default() += 1;
            let left = inner
                .tokens
                .get(&a)
                .and_then(|t| t.expires_at)
                .map_or(SLACK_ACCESS_TTL_SECS, |e| (e - now).max(0));
            return Ok((grant, a, r, left));
        }
        return Err(err("invalid_refresh_token"));
    }
    let (access, new_rt, exp) = mint(inner, grant, true);
    let new_rt = new_rt.unwrap_or_default();
    if let Some(r) = inner.tokens.get_mut(&rt) {
        r.used_at = Some(now);
        r.replay = Some((access.clone(), new_rt.clone()));
    }
    // The long-lived token migrated by oauth.v2.exchange expires at the first refresh.
    let legacy = inner
        .grants
        .get_mut(grant)
        .and_then(|g| g.legacy_token.take());
    if let Some(l) = legacy
        && let Some(t) = inner.tokens.get_mut(&l)
    {
        t.expires_at = Some(now);
    }
    inner.enforce_live_limit(grant, 2);
    Ok((grant, access, new_rt, exp.unwrap_or(SLACK_ACCESS_TTL_SECS)))
}

fn team_json(g: &Grant) -> (Value, Value) {
    let id = &g.identity;
    let team = json!({"id": id.team_id, "name": id.team_name});
    let ent = id
        .enterprise
        .as_ref()
        .map_or(Value::Null, |(i, n)| json!({"id": i, "name": n}));
    (team, ent)
}

// ---------------------------------------------------------------------------------------------
// oauth.v2.access

fn oauth_v2_access(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
        "refresh_token" => match refresh(inner, &app, args) {
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
    if !rec.scopes.is_empty() {
        let g = new_grant(inner, app, GrantKind::SlackBot, &rec, rec.scopes.clone());
        let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
        let (a, r, e) = mint(inner, g, rotating);
        if let Some(gr) = inner.grants.get(g) {
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
        let g = new_grant(
            inner,
            app,
            GrantKind::SlackUser,
            &rec,
            rec.user_scopes.clone(),
        );
        let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
        let (a, r, e) = mint(inner, g, rotating);
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
    body.insert("is_enterprise_install".into(), json!(false));
    body.insert("authed_user".into(), Value::Object(user));
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
        "is_enterprise_install": false,
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

// ---------------------------------------------------------------------------------------------
// oauth.v2.exchange

fn oauth_v2_exchange(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
    let (a, r, e) = mint(inner, g, true);
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
        "is_enterprise_install": false,
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

// ---------------------------------------------------------------------------------------------
// oauth.access (legacy v1)

fn oauth_access(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
    let g = new_grant(inner, &app, GrantKind::SlackUser, &rec, scopes.clone());
    let (a, _, _) = mint(inner, g, false);
    let mut body = json!({
        "ok": true,
        "access_token": a,
        "scope": scopes.join(","),
        "user_id": rec.identity.user_id,
        "team_id": rec.identity.team_id,
        "team_name": rec.identity.team_name,
        "enterprise_id": rec.identity.enterprise.as_ref().map(|e| e.0.clone()),
    });
    if scopes.iter().any(|s| s == "bot") {
        let bg = new_grant(inner, &app, GrantKind::SlackBot, &rec, vec!["bot".into()]);
        let (ba, _, _) = mint(inner, bg, false);
        let bot_user = inner
            .grants
            .get(bg)
            .map(|x| x.bot_user_id.clone())
            .unwrap_or_default();
        if let Some(m) = body.as_object_mut() {
            m.insert(
                "bot".into(),
                json!({"bot_user_id": bot_user, "bot_access_token": ba}),
            );
        }
    }
    ok(&body).classify(cid, op)
}

// ---------------------------------------------------------------------------------------------
// openid.connect.token / userInfo

fn oidc_token(shared: &Shared, inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
            let g = new_grant(
                inner,
                &app,
                GrantKind::SlackUser,
                &rec,
                rec.user_scopes.clone(),
            );
            let rotating = inner.grants.get(g).is_some_and(|x| x.rotating);
            let (a, r, e) = mint(inner, g, rotating);
            (g, a, r, e, rec.nonce)
        }
        "refresh_token" => match refresh(inner, &app, args) {
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

fn user_info(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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

fn domain(team_name: &str) -> String {
    let d: String = team_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if d.is_empty() { "sandbox".into() } else { d }
}

// ---------------------------------------------------------------------------------------------
// auth.*

fn auth_test(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
    let mut body = json!({
        "ok": true,
        "url": format!("https://{}.slack.com/", domain(&id.team_name)),
        "team": id.team_name,
        "user": if bot { "sandboxbot".to_owned() } else { id.user_name.split(' ').next().unwrap_or("user").to_ascii_lowercase() },
        "team_id": id.team_id,
        "user_id": if bot { gr.bot_user_id.clone() } else { id.user_id.clone() },
        "app_id": app_id,
        "is_enterprise_install": false,
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
        .classify(Some(&gr.client_id), "")
}

fn auth_revoke(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
    ok(&json!({"ok": true, "revoked": true})).classify(Some(&cid), "")
}

fn teams_list(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
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
    let all: Vec<(String, String)> = if gr.identity.teams.is_empty() {
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

// ---------------------------------------------------------------------------------------------
// apps.auth.external.*

fn bot_caller(inner: &Inner, req: &Req, args: &Args) -> SResult<(String, String)> {
    let (_, g, _) = caller(inner, req, args, false)?;
    let gr = inner.grants.get(g).ok_or_else(|| err("internal_error"))?;
    if gr.kind != GrantKind::SlackBot {
        return Err(err("not_allowed_token_type").classify(Some(&gr.client_id), ""));
    }
    let app_id = inner
        .apps
        .get(&gr.client_id)
        .map(|a| a.app_id.clone())
        .unwrap_or_default();
    Ok((gr.client_id.clone(), app_id))
}

fn external_get(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (cid, _) = match bot_caller(inner, req, args) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(id) = args.get("external_token_id").map(str::to_owned) else {
        return err("invalid_arguments").classify(Some(&cid), "");
    };
    let force = args.flag("force_refresh");
    let fresh = if force {
        Some(format!("00D3j00000025Zh!{}", inner.alnum(60)))
    } else {
        None
    };
    let Some(t) = inner
        .external
        .iter_mut()
        .find(|t| t.external_token_id == id && t.client_id == cid)
    else {
        return err("token_not_found").classify(Some(&cid), "");
    };
    if let Some(f) = fresh {
        t.external_token = f;
    }
    let value = t.external_token.clone();
    ok(&json!({"ok": true, "external_token": value, "token_response_extras": null}))
        .classify(Some(&cid), "")
}

fn external_delete(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (cid, app_id) = match bot_caller(inner, req, args) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let c = Some(cid.as_str());
    let sel_app = args.get("app_id");
    let sel_provider = args.get("provider_key");
    let sel_id = args.get("external_token_id");
    if sel_app.is_none() && sel_provider.is_none() && sel_id.is_none() {
        return err("invalid_args").classify(c, "");
    }
    if sel_app.is_some_and(|a| a != app_id) {
        return err("app_not_found").classify(c, "");
    }
    let mine = |t: &crate::model::ExternalToken| t.client_id == cid;
    if let Some(p) = sel_provider
        && !inner
            .external
            .iter()
            .any(|t| mine(t) && t.provider_key == p)
    {
        return err("providers_not_found").classify(c, "");
    }
    if let Some(i) = sel_id
        && !inner
            .external
            .iter()
            .any(|t| mine(t) && t.external_token_id == i)
    {
        return err("token_not_found").classify(c, "");
    }
    let before = inner.external.len();
    inner.external.retain(|t| {
        !(mine(t)
            && sel_provider.is_none_or(|p| t.provider_key == p)
            && sel_id.is_none_or(|i| t.external_token_id == i))
    });
    if inner.external.len() == before {
        return err("no_tokens_found").classify(c, "");
    }
    ok(&json!({"ok": true})).classify(c, "")
}
