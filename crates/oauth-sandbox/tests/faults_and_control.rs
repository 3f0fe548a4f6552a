//! Fault injection, the request log, counters and the HTTP control API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments,
    clippy::type_complexity
)]

mod common;

use common::{Ctx, NOTION_REDIRECT, NOTION_VERSION, notion_basic};
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_SLACK_CLIENT_ID as ID, DEFAULT_SLACK_CLIENT_SECRET as SECRET,
    Fault, FaultKind, Provider,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What the client should observe.
#[derive(Debug)]
enum Expect {
    /// Status, content type prefix, and a check on the body text.
    Answer(u16, &'static str, fn(&str) -> bool),
    /// The connection closes without a response.
    Dropped,
}

fn json_code(body: &str, key: &str, want: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v[key] == want)
}

async fn raw(
    c: &Ctx,
    path: &str,
    slack: bool,
    rt: &str,
) -> Result<(u16, String, String, Option<String>), reqwest::Error> {
    let rb = c.http.post(c.url(path));
    let rb = if slack {
        rb.header("content-type", "application/x-www-form-urlencoded")
            .body(common::form(&[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
            ]))
    } else {
        rb.header("authorization", notion_basic())
            .header("notion-version", NOTION_VERSION)
            .header("content-type", "application/json")
            .body(json!({"grant_type": "refresh_token", "refresh_token": rt}).to_string())
    };
    let r = rb.send().await?;
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let ra = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.text().await?;
    Ok((status, ct, body, ra))
}

#[tokio::test]
async fn every_fault_kind_on_both_providers() {
    use FaultKind::*;
    let cases: Vec<(FaultKind, Expect, Expect, bool)> = vec![
        // kind, Slack expectation, Notion expectation, processed?
        (
            RateLimited {
                retry_after_secs: 7,
            },
            Expect::Answer(429, "application/json", |b| {
                json_code(b, "error", "ratelimited")
            }),
            Expect::Answer(429, "application/json", |b| {
                json_code(b, "code", "rate_limited")
            }),
            false,
        ),
        (
            RateLimitedInBody {
                retry_after_secs: 7,
            },
            Expect::Answer(200, "application/json", |b| {
                json_code(b, "error", "ratelimited")
            }),
            Expect::Answer(429, "application/json", |b| {
                json_code(b, "code", "rate_limited")
            }),
            false,
        ),
        (
            Status { status: 500 },
            Expect::Answer(500, "application/json", |b| {
                json_code(b, "error", "internal_error")
            }),
            Expect::Answer(500, "application/json", |b| {
                json_code(b, "code", "internal_server_error")
            }),
            false,
        ),
        (
            Status { status: 503 },
            Expect::Answer(503, "application/json", |b| {
                json_code(b, "error", "service_unavailable")
            }),
            Expect::Answer(503, "application/json", |b| {
                json_code(b, "code", "service_unavailable")
            }),
            false,
        ),
        (
            Status { status: 504 },
            Expect::Answer(504, "application/json", |b| {
                json_code(b, "error", "internal_error")
            }),
            Expect::Answer(504, "application/json", |b| {
                json_code(b, "code", "gateway_timeout")
            }),
            false,
        ),
        (
            Status { status: 529 },
            Expect::Answer(529, "application/json", |b| {
                json_code(b, "error", "internal_error")
            }),
            Expect::Answer(529, "application/json", |b| {
                json_code(b, "code", "service_overload")
            }),
            false,
        ),
        (
            Delay { millis: 120 },
            Expect::Answer(200, "application/json", |b| {
                json_code(b, "token_type", "bot")
            }),
            Expect::Answer(200, "application/json", |b| {
                json_code(b, "token_type", "bearer")
            }),
            true,
        ),
        (
            DropBeforeProcessing,
            Expect::Dropped,
            Expect::Dropped,
            false,
        ),
        (DropAfterProcessing, Expect::Dropped, Expect::Dropped, true),
        (
            TruncatedJson,
            Expect::Answer(200, "application/json", |b| {
                serde_json::from_str::<Value>(b).is_err() && b.starts_with('{')
            }),
            Expect::Answer(200, "application/json", |b| {
                serde_json::from_str::<Value>(b).is_err() && b.starts_with('{')
            }),
            false,
        ),
        (
            Html502,
            Expect::Answer(502, "text/html", |b| b.contains("502 Bad Gateway")),
            Expect::Answer(502, "text/html", |b| b.contains("502 Bad Gateway")),
            false,
        ),
        (
            Oversized,
            Expect::Answer(200, "application/json", |b| {
                b.len() > 1 << 20 && serde_json::from_str::<Value>(b).is_ok()
            }),
            Expect::Answer(200, "application/json", |b| {
                b.len() > 1 << 20 && serde_json::from_str::<Value>(b).is_ok()
            }),
            false,
        ),
        (
            WrongContentType,
            Expect::Answer(200, "text/html", |b| json_code(b, "token_type", "bot")),
            Expect::Answer(200, "text/html", |b| json_code(b, "token_type", "bearer")),
            true,
        ),
        (
            UnknownErrorCode,
            Expect::Answer(200, "application/json", |b| {
                json_code(b, "error", "sandbox_undocumented_error")
            }),
            Expect::Answer(400, "application/json", |b| {
                json_code(b, "code", "sandbox_undocumented_error")
            }),
            false,
        ),
    ];
    let c = Ctx::new().await;
    for (kind, slack_expect, notion_expect, processed) in cases {
        for (slack, path, expect) in [
            (true, "/api/oauth.v2.access", &slack_expect),
            (false, "/v1/oauth/token", &notion_expect),
        ] {
            let rt = if slack {
                c.slack_install().await.s("refresh_token").to_owned()
            } else {
                c.notion_tokens().await.s("refresh_token").to_owned()
            };
            let app = if slack { ID } else { DEFAULT_NOTION_CLIENT_ID };
            let op = if slack {
                "slack.oauth.v2.access.refresh_token"
            } else {
                "notion.token.refresh_token"
            };
            let before = c.ctl().counters().app_op(app, op);
            c.ctl().inject_fault(Fault::new(path, kind.clone()));
            let start = Instant::now();
            let got = raw(&c, path, slack, &rt).await;
            match expect {
                Expect::Dropped => assert!(got.is_err(), "{kind:?} {path}: {got:?}"),
                Expect::Answer(status, ct, check) => {
                    let (st, got_ct, body, ra) = got.unwrap();
                    assert_eq!(st, *status, "{kind:?} {path}");
                    assert!(got_ct.starts_with(ct), "{kind:?} {path}: {got_ct}");
                    assert!(
                        check(&body),
                        "{kind:?} {path}: {}",
                        &body[..body.len().min(300)]
                    );
                    if let RateLimited { .. } | RateLimitedInBody { .. } = kind {
                        assert_eq!(ra.as_deref(), Some("7"));
                    }
                }
            }
            if let Delay { millis } = kind {
                assert!(start.elapsed() >= Duration::from_millis(millis));
            }
            // Processed or not: the counters and the refresh token's state tell.
            let after = c.ctl().counters().app_op(app, op);
            assert_eq!(after - before, u64::from(processed), "{kind:?} {path}");
            let log = c.ctl().requests_to(path);
            let last = log.last().unwrap();
            assert_eq!(last.fault.as_deref(), Some(kind.name()));
            assert_eq!(last.status.is_none(), matches!(expect, Expect::Dropped));
            let again = raw(&c, path, slack, &rt).await.unwrap();
            let again: Value = serde_json::from_str(&again.2).unwrap();
            if slack {
                // Processed: the spent token replays the same pair within the grace period.
                assert_eq!(again["ok"], true, "{kind:?}: {again}");
            } else {
                let want = if processed { "invalid_grant" } else { "bearer" };
                assert!(
                    again["error"] == want || again["token_type"] == want,
                    "{kind:?}: {again}"
                );
            }
        }
    }
    assert!(c.ctl().faults().is_empty());
    assert_eq!(c.ctl().counters().faults_applied["html502"], 2);
}

#[tokio::test]
async fn lost_refresh_response_is_recoverable_on_slack() {
    let c = Ctx::new().await;
    let rt = c.slack_install().await.s("refresh_token").to_owned();
    c.ctl().inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::DropAfterProcessing,
    ));
    assert!(raw(&c, "/api/oauth.v2.access", true, &rt).await.is_err());
    let a = c.slack_refresh(&rt).await;
    let b = c.slack_refresh(&rt).await;
    assert_eq!(a.s("access_token"), b.s("access_token"));
    assert_eq!(
        c.slack("auth.test", &[], Some(a.s("access_token")))
            .await
            .slack_code(),
        "ok"
    );
    let n = c.ctl().counters();
    assert_eq!(n.app_op(ID, "slack.oauth.v2.access.refresh_token"), 3);
    assert_eq!(n.refresh_replays[ID], 2);
}

#[tokio::test]
async fn fault_count_and_http_control() {
    let c = Ctx::new().await;
    let post = |path: &'static str, body: Value| {
        let c = &c;
        async move {
            c.send(
                "POST",
                path,
                &[("content-type", "application/json")],
                Some(body.to_string()),
            )
            .await
        }
    };
    // A fault for the next 2 requests, injected over HTTP.
    let f = post(
        "/_sandbox/faults",
        json!({"path": "/api/auth.test", "kind": "status", "status": 503, "count": 2}),
    )
    .await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.json[0]["count"], 2);
    for want in [503, 503, 200] {
        assert_eq!(
            c.send("POST", "/api/auth.test", &[], None).await.status,
            want
        );
    }
    post(
        "/_sandbox/faults",
        json!({"path": "/api/auth.test", "kind": "html502"}),
    )
    .await;
    assert_eq!(
        c.send("GET", "/_sandbox/faults", &[], None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        c.send("DELETE", "/_sandbox/faults", &[], None).await.status,
        200
    );
    assert!(c.ctl().faults().is_empty());

    // Register an app, queue a consent, advance the clock, all over HTTP.
    let app = post("/_sandbox/apps", json!({"provider": "slack", "client_id": "77.88", "client_secret": "s", "redirect_uris": ["https://x.example/cb"], "app_id": "A0HTTP", "token_rotation_enabled": true, "refresh_grace_secs": 10})).await;
    assert_eq!(app.status, 200, "{}", app.text);
    assert!(c.ctl().app("77.88").unwrap().token_rotation_enabled);
    let apps = c.send("GET", "/_sandbox/apps", &[], None).await;
    assert_eq!(apps.json.as_array().unwrap().len(), 3);
    post(
        "/_sandbox/consent",
        json!({"team_id": "T0HTTP", "team_name": "Over HTTP", "user_id": "U0HTTP"}),
    )
    .await;
    let o = post("/_sandbox/authorize", json!({"url": format!("{}/oauth/v2/authorize?client_id=77.88&scope=chat:write", c.sb.base_url())})).await;
    let code = o.s("code").to_owned();
    let t = c
        .slack(
            "oauth.v2.access",
            &[
                ("client_id", "77.88"),
                ("client_secret", "s"),
                ("code", &code),
            ],
            None,
        )
        .await;
    assert_eq!(
        (t.slack_code(), t.json["team"]["id"].as_str()),
        ("ok", Some("T0HTTP"))
    );
    post("/_sandbox/consent", json!({"deny": true})).await;
    let o = post(
        "/_sandbox/authorize",
        json!({"url": "/oauth/v2/authorize?client_id=77.88&scope=chat:write"}),
    )
    .await;
    assert_eq!(o.s("error"), "access_denied");
    let bad = post("/_sandbox/authorize", json!({"url": "/api/auth.test"})).await;
    assert_eq!(bad.status, 400);
    let clock = post("/_sandbox/clock/advance", json!({"seconds": 43200})).await;
    assert_eq!(clock.json["offset_secs"], 43200);
    assert_eq!(
        c.send("GET", "/_sandbox/clock", &[], None).await.json["offset_secs"],
        43200
    );
    assert_eq!(
        c.slack("auth.test", &[], Some(t.s("access_token")))
            .await
            .slack_code(),
        "token_expired"
    );

    // Counters and the log over HTTP.
    let n = c.send("GET", "/_sandbox/counters", &[], None).await;
    assert_eq!(
        n.json["per_app"]["77.88"]["slack.oauth.v2.access.authorization_code"]["succeeded"],
        1
    );
    assert_eq!(n.json["per_path"]["/api/auth.test"], 4);
    assert_eq!(
        c.send("DELETE", "/_sandbox/counters", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(c.ctl().counters().total_requests, 0);
    let log = c.send("GET", "/_sandbox/requests", &[], None).await;
    let entries = log.json.as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| !e["path"].as_str().unwrap().starts_with("/_sandbox"))
    );
    assert!(entries.iter().any(|e| e["fault"] == "status"));
    assert_eq!(
        c.send("DELETE", "/_sandbox/requests", &[], None)
            .await
            .status,
        200
    );
    assert!(c.ctl().requests().is_empty());
    // Reset: tokens are forgotten, apps stay.
    let tok = t.s("access_token").to_owned();
    assert_eq!(post("/_sandbox/reset", json!({})).await.status, 200);
    assert_eq!(c.ctl().clock_offset(), 0);
    assert_eq!(
        c.slack("auth.test", &[], Some(&tok)).await.slack_code(),
        "invalid_auth"
    );
    assert!(c.ctl().app("77.88").is_some());
    let h = c.send("GET", "/_sandbox/health", &[], None).await;
    assert_eq!(h.json["base_url"], c.sb.base_url());
    let ext = post("/_sandbox/external-tokens", json!({"external_token_id": "Et5", "client_id": "77.88", "provider_key": "github", "external_token": "gho"})).await;
    assert_eq!(ext.status, 200);
    assert_eq!(
        c.send("GET", "/_sandbox/external-tokens", &[], None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn request_log_captures_the_wire() {
    let c = Ctx::new().await;
    let rt = c.slack_install().await.s("refresh_token").to_owned();
    c.ctl().clear_requests();
    let auth = common::basic(ID, SECRET);
    let body = common::form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
    let r = c
        .send(
            "POST",
            "/api/oauth.v2.access?x=1",
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
                ("user-agent", "test/1"),
            ],
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.slack_code(), "ok");
    let log = c.ctl().requests();
    assert_eq!(log.len(), 1);
    let e = &log[0];
    assert_eq!(
        (e.method.as_str(), e.path.as_str(), e.query.as_deref()),
        ("POST", "/api/oauth.v2.access", Some("x=1"))
    );
    assert_eq!(e.authorization.as_deref(), Some(auth.as_str()));
    assert_eq!(
        e.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(e.header("User-Agent"), Some("test/1"));
    assert_eq!(e.body_text(), Some(body.as_str()));
    assert_eq!(
        e.form(),
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), rt.clone())
        ]
    );
    assert_eq!(
        (
            e.provider,
            e.app.as_deref(),
            e.operation.as_deref(),
            e.status
        ),
        (
            Some(Provider::Slack),
            Some(ID),
            Some("slack.oauth.v2.access.refresh_token"),
            Some(200)
        )
    );
    // JSON form: body base64.
    let j = c.send("GET", "/_sandbox/requests", &[], None).await;
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD
        .decode(j.json[0]["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(b, body.as_bytes());
    let back: Vec<oauth_sandbox::RecordedRequest> = serde_json::from_str(&j.text).unwrap();
    assert_eq!(back[0], *e);

    // Notion JSON body.
    let t = c.notion_tokens().await;
    let last = c.ctl().requests_to("/v1/oauth/token").pop().unwrap();
    assert_eq!(last.json().unwrap()["redirect_uri"], NOTION_REDIRECT);
    assert_eq!(last.header("notion-version"), Some(NOTION_VERSION));
    assert_eq!(last.provider, Some(Provider::Notion));
    assert_eq!(t.status, 200);
}

#[tokio::test]
async fn bad_input_never_crashes() {
    let c = Ctx::new().await;
    let bodies: [&[u8]; 6] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"{\"a\":",
        b"null",
        b"a=%zz&&=&b",
        &[b'{'; 5000],
    ];
    let cts = [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
    ];
    let paths = [
        "/v1/oauth/token",
        "/v1/oauth/introspect",
        "/v1/oauth/revoke",
        "/v1/oauth/authorize",
        "/api/oauth.v2.access",
        "/api/oauth.v2.exchange",
        "/api/oauth.access",
        "/api/openid.connect.token",
        "/api/openid.connect.userInfo",
        "/api/auth.test",
        "/api/auth.revoke",
        "/api/auth.teams.list",
        "/api/apps.auth.external.get",
        "/api/apps.auth.external.delete",
        "/oauth/v2/authorize?client_id=%ff",
        "/openid/connect/authorize",
        "/nowhere",
    ];
    let auth = notion_basic();
    for p in paths {
        for b in bodies {
            for ct in cts {
                let mut rb = c
                    .http
                    .post(c.url(p))
                    .header("authorization", &auth)
                    .header("notion-version", NOTION_VERSION)
                    .body(b.to_vec());
                if !ct.is_empty() {
                    rb = rb.header("content-type", ct);
                }
                let r = rb.send().await.unwrap();
                assert!(r.status().as_u16() < 500, "{p} {ct}");
            }
        }
    }
    assert_eq!(
        c.send("GET", "/_sandbox/health", &[], None).await.status,
        200
    );
}
