//! Notion's OAuth API endpoints: `/v1/oauth/{token,introspect,revoke}`.

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::grants::{self, CodeRefusal, Refresh, RefreshRefusal};
use crate::model::Provider;
use crate::state::{Flow, Inner, NotionGrantErrorStyle, Shared, TokenKind, TokenState};
use crate::wire::{Reply, Req};

/// Notion-Version values the API accepts.
pub const NOTION_VERSIONS: &[&str] = &[
    "2021-05-11",
    "2021-05-13",
    "2021-08-16",
    "2022-02-22",
    "2022-06-28",
    "2025-09-03",
    "2026-03-11",
];

fn finish(mut r: Reply, request_id: &str) -> Reply {
    r.headers
        .push(("x-notion-request-id", request_id.to_owned()));
    r
}

/// The Notion error envelope.
pub(crate) fn envelope(status: u16, code: &str, message: &str, request_id: &str) -> Reply {
    let st = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    Reply::json(
        st,
        &json!({
            "object": "error",
            "status": status,
            "code": code,
            "message": message,
            "request_id": request_id,
        }),
    )
    .with_header("x-notion-request-id", request_id.to_owned())
}

fn invalid_grant(shared: &Shared, message: &str, request_id: &str) -> Reply {
    match shared.notion_grant_style {
        NotionGrantErrorStyle::OAuth => Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": message, "request_id": request_id}),
        )
        .with_header("x-notion-request-id", request_id.to_owned()),
        NotionGrantErrorStyle::Envelope => envelope(400, "invalid_grant", message, request_id),
    }
}

fn validation(field: &str, rid: &str) -> Reply {
    envelope(
        400,
        "validation_error",
        &format!(
            "body failed validation: body.{field} should be defined, instead was `undefined`."
        ),
        rid,
    )
}

fn type_error(field: &str, v: &Value, rid: &str) -> Reply {
    envelope(
        400,
        "validation_error",
        &format!("body failed validation: body.{field} should be a string, instead was `{v}`."),
        rid,
    )
}

/// Required string field.
fn req_str<'a>(body: &'a Map<String, Value>, field: &str, rid: &str) -> Result<&'a str, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Err(validation(field, rid)),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(type_error(field, v, rid)),
    }
}

pub(crate) fn handle(shared: &Shared, inner: &mut Inner, req: &Req) -> Reply {
    let rid = inner.uuid();
    if req.path == "/v1/users/me" && req.method == Method::GET {
        return users_me(inner, req, &rid);
    }
    let endpoint = match req.path.as_str() {
        "/v1/oauth/token" => "token",
        "/v1/oauth/introspect" => "introspect",
        "/v1/oauth/revoke" => "revoke",
        _ => "",
    };
    // 1. URL / method.
    if endpoint.is_empty() || req.method != Method::POST {
        return envelope(400, "invalid_request_url", "Invalid request URL.", &rid)
            .classify(None, "notion.invalid_request_url");
    }
    let op_base = format!("notion.{endpoint}");
    // 2. Client credentials (HTTP Basic only).
    let client = req.basic_auth().and_then(|(id, secret)| {
        inner
            .apps
            .get(&id)
            .filter(|a| {
                a.provider == Provider::Notion
                    && a.client_secret.as_deref() == Some(secret.as_str())
            })
            .map(|a| a.client_id.clone())
    });
    let Some(client_id) = client else {
        let r = Reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client", "request_id": rid}),
        )
        .with_header("www-authenticate", "Basic realm=\"OAuth\"".to_owned());
        return finish(r, &rid).classify(None, &op_base);
    };
    let app = Some(client_id.as_str());
    // 3. Notion-Version.
    match req.header("notion-version") {
        None => {
            return envelope(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
                &rid,
            )
            .classify(app, &op_base);
        }
        Some(v) if !NOTION_VERSIONS.contains(&v) => {
            let list = NOTION_VERSIONS
                .iter()
                .map(|v| format!("`\"{v}\"`"))
                .collect::<Vec<_>>()
                .join(", ");
            return envelope(
                400,
                "missing_version",
                &format!(
                    "Notion-Version header failed validation: Notion-Version header should be {list}, instead was `\"{v}\"`."
                ),
                &rid,
            )
            .classify(app, &op_base);
        }
        Some(_) => {}
    }
    // 4. Body: JSON object.
    let body: Map<String, Value> = if req.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else if req.media_type().as_deref() != Some("application/json") {
        return envelope(400, "invalid_json", "Error parsing JSON body.", &rid)
            .classify(app, &op_base);
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                return envelope(
                    400,
                    "validation_error",
                    &format!(
                        "body failed validation: body should be an object, instead was `{other}`."
                    ),
                    &rid,
                )
                .classify(app, &op_base);
            }
            Err(_) => {
                return envelope(400, "invalid_json", "Error parsing JSON body.", &rid)
                    .classify(app, &op_base);
            }
        }
    };
    match endpoint {
        "token" => token(shared, inner, &client_id, &body, &rid),
        "introspect" => introspect(inner, &client_id, &body, &rid).classify(app, &op_base),
        _ => revoke(inner, &client_id, &body, &rid).classify(app, &op_base),
    }
}

fn token(
    shared: &Shared,
    inner: &mut Inner,
    client_id: &str,
    body: &Map<String, Value>,
    rid: &str,
) -> Reply {
    let app = Some(client_id);
    let grant_type = match req_str(body, "grant_type", rid) {
        Ok(g) => g,
        Err(r) => return r.classify(app, "notion.token"),
    };
    match grant_type {
        "authorization_code" => code_grant(shared, inner, client_id, body, rid)
            .classify(app, "notion.token.authorization_code"),
        "refresh_token" => refresh_grant(shared, inner, client_id, body, rid)
            .classify(app, "notion.token.refresh_token"),
        other => envelope(
            400,
            "unsupported_grant_type",
            &format!("Unsupported grant_type: {other}."),
            rid,
        )
        .classify(app, "notion.token"),
    }
}

fn code_grant(
    shared: &Shared,
    inner: &mut Inner,
    client_id: &str,
    body: &Map<String, Value>,
    rid: &str,
) -> Reply {
    let code = match req_str(body, "code", rid) {
        Ok(c) => c.to_owned(),
        Err(r) => return r,
    };
    let redirect = match body.get("redirect_uri") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return type_error("redirect_uri", v, rid),
    };
    if let Some(ea) = body.get("external_account") {
        let ok = ea.as_object().is_some_and(|o| {
            o.get("key").is_some_and(Value::is_string)
                && o.get("name").is_some_and(Value::is_string)
        });
        if !ok && !ea.is_null() {
            return envelope(
                400,
                "validation_error",
                "body failed validation: body.external_account should be an object with string `key` and `name`.",
                rid,
            );
        }
    }
    let rec = match grants::check_code(inner, &code, client_id, Flow::Notion) {
        Ok(rec) => rec,
        Err(refusal) => {
            let message = match refusal {
                CodeRefusal::Unknown => "Invalid code: this code is invalid.",
                CodeRefusal::OtherClient | CodeRefusal::OtherFlow => {
                    "Invalid code: this code was issued to another client."
                }
                CodeRefusal::Used => "Invalid code: this code has been revoked.",
                CodeRefusal::Expired => "Invalid code: this code has expired.",
            };
            return invalid_grant(shared, message, rid);
        }
    };
    match (&rec.redirect_uri, &redirect) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => {}
        (Some(_), None) => {
            return invalid_grant(
                shared,
                "Invalid redirect_uri: redirect_uri is required.",
                rid,
            );
        }
        (None, Some(_)) => {
            return invalid_grant(
                shared,
                "Invalid redirect_uri: redirect_uri was not part of the authorization request.",
                rid,
            );
        }
        _ => {
            return invalid_grant(
                shared,
                "Invalid redirect_uri: redirect_uri does not match.",
                rid,
            );
        }
    }
    grants::spend_code(inner, &code);
    let grant = grants::new_notion_grant(inner, client_id, rec);
    let (access, refresh) = grants::mint_notion(inner, grant);
    token_response(inner, grant, &access, &refresh, rid)
}

fn token_response(inner: &Inner, grant: usize, access: &str, refresh: &str, rid: &str) -> Reply {
    let Some(g) = inner.grants.get(grant) else {
        return envelope(500, "internal_server_error", "Unexpected error.", rid);
    };
    let id = &g.identity;
    Reply::json(
        StatusCode::OK,
        &json!({
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "bot_id": g.bot_id,
            "workspace_id": id.team_id,
            "workspace_name": id.team_name,
            "workspace_icon": "https://s3-us-west-2.amazonaws.com/public.notion-static.com/sandbox-icon.png",
            "owner": {
                "type": "user",
                "user": {
                    "object": "user",
                    "id": id.user_id,
                    "type": "person",
                    "name": id.user_name,
                    "avatar_url": null,
                    "person": { "email": id.user_email }
                }
            },
            "duplicated_template_id": null,
            "request_id": rid,
        }),
    )
    .with_header("x-notion-request-id", rid.to_owned())
}

fn refresh_grant(
    shared: &Shared,
    inner: &mut Inner,
    client_id: &str,
    body: &Map<String, Value>,
    rid: &str,
) -> Reply {
    let rt = match req_str(body, "refresh_token", rid) {
        Ok(c) => c.to_owned(),
        Err(r) => return r,
    };
    let grant = match grants::check_refresh(inner, &rt, client_id) {
        Ok(Refresh::Rotate { grant }) => grant,
        Ok(Refresh::Replay {
            grant,
            access,
            refresh,
        }) => return token_response(inner, grant, &access, &refresh, rid),
        Err(refusal) => {
            let message = match refusal {
                RefreshRefusal::Invalid => {
                    "Invalid refresh token: this token is invalid or revoked."
                }
                RefreshRefusal::OtherClient => {
                    "Invalid refresh token: this token was issued to another client."
                }
                RefreshRefusal::Spent => "Invalid refresh token: this token has already been used.",
            };
            return invalid_grant(shared, message, rid);
        }
    };
    // Rotate: the previous access tokens stop working at once.
    let old: Vec<String> = inner
        .grants
        .get(grant)
        .map(|g| g.access.clone())
        .unwrap_or_default();
    for t in &old {
        inner.revoke_token(t);
    }
    if let Some(g) = inner.grants.get_mut(grant) {
        g.access.clear();
    }
    let (access, refresh) = grants::mint_notion(inner, grant);
    grants::record_rotation(inner, &rt, &access, &refresh);
    token_response(inner, grant, &access, &refresh, rid)
}

fn introspect(inner: &mut Inner, client_id: &str, body: &Map<String, Value>, rid: &str) -> Reply {
    let token = match req_str(body, "token", rid) {
        Ok(c) => c.to_owned(),
        Err(r) => return r,
    };
    let mut state = TokenState::Unknown;
    let mut grant = None;
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        let (s, g) = inner.token_state(&token, kind);
        if s != TokenState::Unknown {
            state = s;
            grant = g;
        }
    }
    // A spent refresh token is no longer active.
    let spent = inner
        .tokens
        .get(&token)
        .is_some_and(|r| r.used_at.is_some());
    let g = grant
        .and_then(|g| inner.grants.get(g))
        .filter(|g| g.client_id == client_id);
    match (state, g) {
        (TokenState::Live, Some(g)) if !spent => {
            let iat = inner.tokens.get(&token).map_or(0, |r| r.issued_at);
            Reply::json(
                StatusCode::OK,
                &json!({"active": true, "scope": g.scopes.join(" "), "iat": iat, "request_id": rid}),
            )
        }
        _ => Reply::json(StatusCode::OK, &json!({"active": false, "request_id": rid})),
    }
    .with_header("x-notion-request-id", rid.to_owned())
}

fn revoke(inner: &mut Inner, client_id: &str, body: &Map<String, Value>, rid: &str) -> Reply {
    let token = match req_str(body, "token", rid) {
        Ok(c) => c.to_owned(),
        Err(r) => return r,
    };
    if let Some(rec) = inner.tokens.get(&token) {
        let grant = rec.grant;
        if inner
            .grants
            .get(grant)
            .is_some_and(|g| g.client_id == client_id)
        {
            inner.revoke_grant(grant);
        }
    }
    Reply::json(StatusCode::OK, &json!({"request_id": rid}))
        .with_header("x-notion-request-id", rid.to_owned())
}

/// `GET /v1/users/me` with an integration's access token: its bot user, or `401 unauthorized`
/// (the token is unknown, revoked, or was rotated away), as Notion answers a bad token on every
/// API endpoint. `Notion-Version` is not checked here.
fn users_me(inner: &Inner, req: &Req, rid: &str) -> Reply {
    let unauthorized = || {
        envelope(401, "unauthorized", "API token is invalid.", rid)
            .classify(None, "notion.users.me")
    };
    let Some(token) = req.bearer() else {
        return unauthorized();
    };
    let (crate::state::TokenState::Live, Some(grant)) =
        inner.token_state(token, crate::state::TokenKind::Access)
    else {
        return unauthorized();
    };
    let Some(g) = inner.grants.get(grant) else {
        return unauthorized();
    };
    let id = &g.identity;
    Reply::json(
        StatusCode::OK,
        &json!({
            "object": "user",
            "id": g.bot_id,
            "type": "bot",
            "name": "Sandbox Integration",
            "avatar_url": null,
            "bot": {
                "owner": {"type": "user", "user": {"object": "user", "id": id.user_id}},
                "workspace_name": id.team_name,
            },
            "request_id": rid,
        }),
    )
    .with_header("x-notion-request-id", rid.to_owned())
    .classify(Some(&g.client_id), "notion.users.me")
}
