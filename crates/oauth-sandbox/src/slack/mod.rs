//! Slack Web API methods under `/api/<method>`: the dispatch, the arguments, client and token
//! authentication and the replies here; the handlers in one module per method family, as
//! oauth-slack has them (`oauth`, `oauth_user`, `oauth_access`, `openid`, `auth`, `apps`), and
//! `web_api` for every other method of Slack's families (the token checked, `{"ok":true}`); codes
//! and refresh tokens are spent by the grant state machine (`crate::grants`).

mod apps;
mod auth;
mod oauth;
mod oauth_access;
mod oauth_user;
mod openid;
mod web_api;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::grants::{self, CodeRefusal, Refresh};
use crate::model::{App, Provider};
use crate::state::{
    CodeRec, Flow, Grant, Inner, SLACK_ACCESS_TTL_SECS, Shared, TokenKind, TokenState,
};
use crate::wire::{JSON_UTF8, Reply, Req, s256};

pub(super) type SResult<T> = Result<T, Reply>;

/// `{"ok":false,"error":code}` in HTTP 200.
pub(crate) fn err(code: &str) -> Reply {
    ok_body(&json!({"ok": false, "error": code}), false)
}

pub(super) fn ok_body(v: &Value, ok: bool) -> Reply {
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

pub(super) fn ok(v: &Value) -> Reply {
    ok_body(v, true)
}

/// Method arguments from the query string and the body.
#[derive(Debug, Default)]
pub(super) struct Args {
    pairs: Vec<(String, String)>,
    pub(super) body_token: Option<String>,
    warning: Option<&'static str>,
}

impl Args {
    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn flag(&self, k: &str) -> bool {
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
    "oauth.v2.user.access",
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
            | "oauth.v2.user.access"
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
    let generic = !known && web_api::is_web_api_method(&method);
    if !known && !generic {
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
        _ if generic => web_api::generic(inner, req, &args),
        "oauth.v2.access" => oauth::oauth_v2_access(inner, req, &args),
        "oauth.v2.user.access" => oauth_user::oauth_v2_user_access(inner, req, &args),
        "oauth.v2.exchange" => oauth::oauth_v2_exchange(inner, req, &args),
        "oauth.access" => oauth_access::oauth_access(inner, req, &args),
        "openid.connect.token" => openid::oidc_token(shared, inner, req, &args),
        "openid.connect.userInfo" => openid::user_info(inner, req, &args),
        "auth.test" => auth::auth_test(inner, req, &args),
        "auth.revoke" => auth::auth_revoke(inner, req, &args),
        "auth.teams.list" => auth::teams_list(inner, req, &args),
        "apps.auth.external.get" => apps::external_get(inner, req, &args),
        _ => apps::external_delete(inner, req, &args),
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
pub(super) fn client(inner: &Inner, req: &Req, args: &Args, allow_public: bool) -> SResult<App> {
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

pub(super) fn fix_op(r: Reply, app: Option<&str>, op: &str) -> Reply {
    let mut r = r;
    if r.op.as_deref() == Some("") {
        r.op = None;
    }
    r.classify(app, op)
}

/// The calling token: `Authorization: Bearer` (case-sensitive) or the `token` form field.
pub(super) fn caller(
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
// Codes and refresh tokens, through the grant state machine.

/// Validates and consumes a code for the given flow: the grant state machine's checks, then the
/// redirect URI and PKCE verifier. `reused` is the code for a used code, `pkce_error` the code for
/// a verifier mismatch.
pub(super) fn take_code(
    inner: &mut Inner,
    app: &App,
    args: &Args,
    flow: Flow,
    reused: &'static str,
    pkce_error: &'static str,
) -> SResult<CodeRec> {
    let code = args.get("code").ok_or_else(|| err("invalid_code"))?;
    let rec = grants::check_code(inner, code, &app.client_id, flow).map_err(|refusal| {
        err(match refusal {
            CodeRefusal::OtherFlow => "oauth_authorization_url_mismatch",
            CodeRefusal::Used => reused,
            CodeRefusal::Unknown | CodeRefusal::OtherClient | CodeRefusal::Expired => {
                "invalid_code"
            }
        })
    })?;
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
    // An install flow (not Sign in with Slack) into a workspace of an org the app is installed in
    // org-wide.
    if flow != Flow::SlackOidc && inner.org_installed_conflict(&app.client_id, &rec.identity) {
        return Err(err("cannot_install_an_org_installed_app"));
    }
    grants::spend_code(inner, code);
    Ok(rec)
}

/// Refresh rotation shared by `oauth.v2.access` and `openid.connect.token`:
/// (grant, access, refresh, expires_in).
pub(super) fn rotate(
    inner: &mut Inner,
    app: &App,
    args: &Args,
) -> SResult<(usize, String, String, i64)> {
    let rt = args
        .get("refresh_token")
        .ok_or_else(|| err("invalid_refresh_token"))?
        .to_owned();
    let grant = match grants::check_refresh(inner, &rt, &app.client_id) {
        Ok(Refresh::Rotate { grant }) => grant,
        Ok(Refresh::Replay {
            grant,
            access,
            refresh,
        }) => {
            let now = inner.now();
            let left = inner
                .tokens
                .get(&access)
                .and_then(|t| t.expires_at)
                .map_or(SLACK_ACCESS_TTL_SECS, |e| (e - now).max(0));
            return Ok((grant, access, refresh, left));
        }
        Err(_) => return Err(err("invalid_refresh_token")),
    };
    let (access, new_rt, exp) = grants::mint_slack(inner, grant, true);
    let new_rt = new_rt.unwrap_or_default();
    grants::record_rotation(inner, &rt, &access, &new_rt);
    // The long-lived token migrated by oauth.v2.exchange expires at the first refresh.
    let now = inner.now();
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

/// The `team` and `enterprise` of a v2 answer: `team` is `null` for an org-wide install.
pub(super) fn team_json(g: &Grant) -> (Value, Value) {
    let id = &g.identity;
    let team = if id.org_wide {
        Value::Null
    } else {
        json!({"id": id.team_id, "name": id.team_name})
    };
    let ent = id
        .enterprise
        .as_ref()
        .map_or(Value::Null, |(i, n)| json!({"id": i, "name": n}));
    (team, ent)
}

pub(super) fn domain(team_name: &str) -> String {
    let d: String = team_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if d.is_empty() { "sandbox".into() } else { d }
}
