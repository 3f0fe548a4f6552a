//! Notion endpoints over plain HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments,
    clippy::type_complexity
)]

mod common;

use common::{Ctx, NOTION_REDIRECT, NOTION_VERSION, basic, enc, notion_basic};
use oauth_sandbox::{
    Consent, DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, NotionGrantErrorStyle, Sandbox,
};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn code_exchange_refresh_introspect_revoke() {
    let c = Ctx::new().await;
    let code = c
        .code_via_http(&format!(
            "/v1/oauth/authorize?client_id={DEFAULT_NOTION_CLIENT_ID}&response_type=code&owner=user&redirect_uri={}&state=xyz",
            enc(NOTION_REDIRECT)
        ))
        .await;
    let t = c
        .notion("/v1/oauth/token", json!({"grant_type": "authorization_code", "code": code, "redirect_uri": NOTION_REDIRECT}))
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert!(t.s("access_token").starts_with("ntn_"));
    assert_eq!(t.s("token_type"), "bearer");
    assert_eq!(t.json["owner"]["type"], "user");
    assert_eq!(
        t.json["workspace_id"],
        "6f9c1f44-8d0b-4c1d-9d57-2b8c1d3e4f50"
    );
    assert_eq!(
        t.header("x-notion-request-id"),
        t.json["request_id"].as_str()
    );
    let (a1, r1) = (
        t.s("access_token").to_owned(),
        t.s("refresh_token").to_owned(),
    );

    let i = c.notion("/v1/oauth/introspect", json!({"token": a1})).await;
    assert_eq!(i.status, 200);
    assert_eq!(i.json["active"], true);
    assert!(i.s("scope").contains("read_content"));
    assert!(i.json["iat"].as_i64().unwrap() > 1_700_000_000);

    let r = c
        .notion(
            "/v1/oauth/token",
            json!({"grant_type": "refresh_token", "refresh_token": r1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (a2, r2) = (
        r.s("access_token").to_owned(),
        r.s("refresh_token").to_owned(),
    );
    assert_ne!(a1, a2);
    assert_ne!(r1, r2);
    // Old access token deactivated; old refresh token spent (grace 0).
    let i = c.notion("/v1/oauth/introspect", json!({"token": a1})).await;
    assert_eq!(
        i.json,
        json!({"active": false, "request_id": i.json["request_id"]})
    );
    let again = c
        .notion(
            "/v1/oauth/token",
            json!({"grant_type": "refresh_token", "refresh_token": r1}),
        )
        .await;
    assert_eq!((again.status, again.s("error")), (400, "invalid_grant"));
    assert!(again.json["error_description"].is_string());

    let v = c.notion("/v1/oauth/revoke", json!({"token": a2})).await;
    assert_eq!(v.status, 200);
    assert!(v.json["request_id"].is_string());
    let i = c.notion("/v1/oauth/introspect", json!({"token": a2})).await;
    assert_eq!(i.json["active"], false);
    let r = c
        .notion(
            "/v1/oauth/token",
            json!({"grant_type": "refresh_token", "refresh_token": r2}),
        )
        .await;
    assert_eq!(r.s("error"), "invalid_grant");
    // Revoking again is idempotent.
    assert_eq!(
        c.notion("/v1/oauth/revoke", json!({"token": a2}))
            .await
            .status,
        200
    );

    let n = c.ctl().counters();
    assert_eq!(
        n.app_op(DEFAULT_NOTION_CLIENT_ID, "notion.token.authorization_code"),
        1
    );
    assert_eq!(
        n.app_op(DEFAULT_NOTION_CLIENT_ID, "notion.token.refresh_token"),
        3
    );
    assert_eq!(n.per_operation["notion.token.refresh_token"].succeeded, 1);
    assert_eq!(n.app_op(DEFAULT_NOTION_CLIENT_ID, "notion.introspect"), 3);
    assert_eq!(n.app_op(DEFAULT_NOTION_CLIENT_ID, "notion.revoke"), 2);
    assert_eq!(n.app_op(DEFAULT_NOTION_CLIENT_ID, "notion.authorize"), 1);
}

/// One case: headers and body for POST `path`; expected status and `code` (envelope) or
/// `error` (OAuth style).
async fn case(
    c: &Ctx,
    method: &str,
    path: &str,
    auth: Option<&str>,
    version: Option<&str>,
    ct: Option<&str>,
    body: &str,
    status: u16,
    code: &str,
) {
    let mut h = Vec::new();
    if let Some(a) = auth {
        h.push(("authorization", a));
    }
    if let Some(v) = version {
        h.push(("notion-version", v));
    }
    if let Some(t) = ct {
        h.push(("content-type", t));
    }
    let r = c.send(method, path, &h, Some(body.to_owned())).await;
    let got = r.json["code"]
        .as_str()
        .or(r.json["error"].as_str())
        .unwrap_or("");
    assert_eq!(
        (r.status, got),
        (status, code),
        "{method} {path} {auth:?} {version:?} {body}: {}",
        r.text
    );
    if status == 401 {
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"OAuth\""));
        assert_eq!(r.json.as_object().unwrap().len(), 2, "{}", r.text);
    }
}

#[tokio::test]
async fn documented_errors() {
    let c = Ctx::new().await;
    let ok = notion_basic();
    let bad = basic(DEFAULT_NOTION_CLIENT_ID, "wrong");
    let unknown = basic(
        "00000000-0000-4000-8000-000000000000",
        DEFAULT_NOTION_CLIENT_SECRET,
    );
    let j = Some("application/json");
    let v = Some(NOTION_VERSION);
    let a = Some(ok.as_str());
    let used = c.notion_tokens().await; // spends one code
    let _ = used;
    let code = c.notion_code();
    let cases: Vec<(
        &str,
        &str,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        String,
        u16,
        &str,
    )> = vec![
        (
            "GET",
            "/v1/oauth/token",
            a,
            v,
            j,
            String::new(),
            400,
            "invalid_request_url",
        ),
        (
            "PUT",
            "/v1/oauth/revoke",
            a,
            v,
            j,
            String::new(),
            400,
            "invalid_request_url",
        ),
        (
            "POST",
            "/v1/oauth/nope",
            a,
            v,
            j,
            String::new(),
            400,
            "invalid_request_url",
        ),
        (
            "POST",
            "/v1/oauth/authorize",
            a,
            v,
            j,
            String::new(),
            400,
            "invalid_request_url",
        ),
        (
            "POST",
            "/v1/oauth/token",
            None,
            v,
            j,
            "{}".into(),
            401,
            "invalid_client",
        ),
        (
            "POST",
            "/v1/oauth/token",
            Some(bad.as_str()),
            v,
            j,
            "{}".into(),
            401,
            "invalid_client",
        ),
        (
            "POST",
            "/v1/oauth/introspect",
            Some(unknown.as_str()),
            v,
            j,
            "{}".into(),
            401,
            "invalid_client",
        ),
        (
            "POST",
            "/v1/oauth/revoke",
            Some("Bearer ntn_x"),
            v,
            j,
            "{}".into(),
            401,
            "invalid_client",
        ),
        (
            "POST",
            "/v1/oauth/token",
            Some("Basic !!!"),
            None,
            j,
            "{}".into(),
            401,
            "invalid_client",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            None,
            j,
            "{}".into(),
            400,
            "missing_version",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            Some(""),
            j,
            "{}".into(),
            400,
            "missing_version",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            Some("2024-01-01"),
            j,
            "{}".into(),
            400,
            "missing_version",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            Some("2026-03-11"),
            j,
            "{".into(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            Some("2022-06-28"),
            Some("application/x-www-form-urlencoded"),
            "grant_type=authorization_code".into(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            "[1]".into(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            "{}".into(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            None,
            String::new(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            r#"{"grant_type":5}"#.into(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            r#"{"grant_type":"client_credentials"}"#.into(),
            400,
            "unsupported_grant_type",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            r#"{"grant_type":"authorization_code"}"#.into(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            r#"{"grant_type":"authorization_code","code":"nope"}"#.into(),
            400,
            "invalid_grant",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            format!(
                r#"{{"grant_type":"authorization_code","code":"{code}","redirect_uri":"https://evil.example/cb"}}"#
            ),
            400,
            "invalid_grant",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            format!(r#"{{"grant_type":"authorization_code","code":"{code}"}}"#),
            400,
            "invalid_grant",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            format!(
                r#"{{"grant_type":"authorization_code","code":"{code}","redirect_uri":"{NOTION_REDIRECT}","external_account":5}}"#
            ),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            r#"{"grant_type":"refresh_token"}"#.into(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/token",
            a,
            v,
            j,
            r#"{"grant_type":"refresh_token","refresh_token":"nrt_nope"}"#.into(),
            400,
            "invalid_grant",
        ),
        (
            "POST",
            "/v1/oauth/introspect",
            a,
            v,
            j,
            "{}".into(),
            400,
            "validation_error",
        ),
        (
            "POST",
            "/v1/oauth/revoke",
            a,
            v,
            j,
            r#"{"token":1}"#.into(),
            400,
            "validation_error",
        ),
    ];
    for (m, p, au, ve, ct, body, st, code) in cases {
        case(&c, m, p, au, ve, ct, &body, st, code).await;
    }
    // The failed attempts above did not consume the code.
    let r = c
        .notion("/v1/oauth/token", json!({"grant_type": "authorization_code", "code": code, "redirect_uri": NOTION_REDIRECT, "external_account": {"key": "k", "name": "n"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn code_is_single_use_and_expires() {
    let c = Ctx::new().await;
    let code = c.notion_code();
    let body =
        json!({"grant_type": "authorization_code", "code": code, "redirect_uri": NOTION_REDIRECT});
    assert_eq!(c.notion("/v1/oauth/token", body.clone()).await.status, 200);
    let again = c.notion("/v1/oauth/token", body).await;
    assert_eq!((again.status, again.s("error")), (400, "invalid_grant"));

    let code = c.notion_code();
    c.ctl().advance_clock(Duration::from_secs(599));
    let body =
        json!({"grant_type": "authorization_code", "code": code, "redirect_uri": NOTION_REDIRECT});
    let code2 = c.notion_code();
    assert_eq!(
        c.notion("/v1/oauth/token", body).await.status,
        200,
        "valid at 599 s"
    );
    c.ctl().advance_clock(Duration::from_secs(600));
    let late = c
        .notion("/v1/oauth/token", json!({"grant_type": "authorization_code", "code": code2, "redirect_uri": NOTION_REDIRECT}))
        .await;
    assert_eq!((late.status, late.s("error")), (400, "invalid_grant"));
}

#[tokio::test]
async fn envelope_style_grace_and_other_client() {
    let c = Ctx::with(
        Sandbox::builder()
            .notion_grant_error_style(NotionGrantErrorStyle::Envelope)
            .app(
                oauth_sandbox::App::notion(
                    "11111111-1111-4111-8111-111111111111",
                    "s2",
                    &["https://one.example/cb"],
                )
                .with_refresh_grace_secs(60),
            ),
    )
    .await;
    let r = c
        .notion(
            "/v1/oauth/token",
            json!({"grant_type": "refresh_token", "refresh_token": "x"}),
        )
        .await;
    assert_eq!(r.json["object"], "error");
    assert_eq!((r.status, r.s("code")), (400, "invalid_grant"));

    // Exactly one registered redirect URI: redirect_uri may be omitted (and must then be omitted).
    let o = c.ctl().authorize("/v1/oauth/authorize?client_id=11111111-1111-4111-8111-111111111111&response_type=code&owner=user").unwrap();
    let auth = basic("11111111-1111-4111-8111-111111111111", "s2");
    let h = [
        ("authorization", auth.as_str()),
        ("notion-version", NOTION_VERSION),
        ("content-type", "application/json"),
    ];
    let t = c
        .send(
            "POST",
            "/v1/oauth/token",
            &h,
            Some(json!({"grant_type": "authorization_code", "code": o.code}).to_string()),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    // A grace period replays the same pair.
    let rt = t.s("refresh_token").to_owned();
    let body = json!({"grant_type": "refresh_token", "refresh_token": rt}).to_string();
    let first = c
        .send("POST", "/v1/oauth/token", &h, Some(body.clone()))
        .await;
    let second = c
        .send("POST", "/v1/oauth/token", &h, Some(body.clone()))
        .await;
    assert_eq!(first.s("access_token"), second.s("access_token"));
    assert_eq!(first.s("refresh_token"), second.s("refresh_token"));
    assert_eq!(
        c.ctl().counters().refresh_replays["11111111-1111-4111-8111-111111111111"],
        1
    );
    c.ctl().advance_clock(Duration::from_secs(61));
    assert_eq!(
        c.send("POST", "/v1/oauth/token", &h, Some(body))
            .await
            .s("code"),
        "invalid_grant"
    );
    // Another client's token: inactive for this client.
    let other = c.notion_tokens().await;
    let i = c
        .send(
            "POST",
            "/v1/oauth/introspect",
            &h,
            Some(json!({"token": other.s("access_token")}).to_string()),
        )
        .await;
    assert_eq!(i.json["active"], false);
}

#[tokio::test]
async fn authorize_rules() {
    let c = Ctx::new().await;
    let base = format!(
        "/v1/oauth/authorize?client_id={DEFAULT_NOTION_CLIENT_ID}&response_type=code&owner=user"
    );
    // Loopback: any port matches; the state comes back.
    let o = c
        .ctl()
        .authorize(&format!(
            "{base}&redirect_uri={}&state=s1",
            enc("http://127.0.0.1:61234/callback/notion")
        ))
        .unwrap();
    assert_eq!((o.status, o.state.as_deref()), (302, Some("s1")));
    assert!(
        o.location
            .unwrap()
            .starts_with("http://127.0.0.1:61234/callback/notion?code=")
    );
    // Non-loopback: exact.
    for (q, status, err) in [
        (
            format!(
                "{base}&redirect_uri={}",
                enc("https://example.com:8443/auth/notion/callback")
            ),
            400,
            "invalid_redirect_uri",
        ),
        (
            format!(
                "{base}&redirect_uri={}",
                enc("https://example.com/auth/notion/callback/sub")
            ),
            400,
            "invalid_redirect_uri",
        ),
        (base.clone(), 400, "missing_redirect_uri"),
        (
            format!(
                "/v1/oauth/authorize?client_id=nope&response_type=code&owner=user&redirect_uri={}",
                enc(NOTION_REDIRECT)
            ),
            400,
            "invalid_client",
        ),
        (
            format!(
                "/v1/oauth/authorize?client_id={DEFAULT_NOTION_CLIENT_ID}&owner=user&redirect_uri={}",
                enc(NOTION_REDIRECT)
            ),
            302,
            "unsupported_response_type",
        ),
        (
            format!(
                "/v1/oauth/authorize?client_id={DEFAULT_NOTION_CLIENT_ID}&response_type=code&redirect_uri={}",
                enc(NOTION_REDIRECT)
            ),
            302,
            "invalid_request",
        ),
    ] {
        let o = c.ctl().authorize(&q).unwrap();
        assert_eq!((o.status, o.error.as_deref()), (status, Some(err)), "{q}");
        // Same through HTTP.
        let r = c.send("GET", &q, &[], None).await;
        assert_eq!(r.status, status, "{q}");
    }
    // Consent: deny, then pick the workspace and user.
    c.ctl().push_consent(Consent::deny());
    let q = format!("{base}&redirect_uri={}&state=st", enc(NOTION_REDIRECT));
    let r = c.send("GET", &q, &[], None).await;
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:5555/callback/notion?error=access_denied&state=st")
    );
    c.ctl().push_consent(Consent {
        user_email: Some("bob@example.com".into()),
        ..Consent::approve("ws-2", "Bob's space", "user-2")
    });
    let code = c.code(&q);
    let t = c.notion("/v1/oauth/token", json!({"grant_type": "authorization_code", "code": code, "redirect_uri": NOTION_REDIRECT})).await;
    assert_eq!(
        (t.s("workspace_id"), t.s("workspace_name")),
        ("ws-2", "Bob's space")
    );
    assert_eq!(t.json["owner"]["user"]["id"], "user-2");
    assert_eq!(
        t.json["owner"]["user"]["person"]["email"],
        "bob@example.com"
    );
}
