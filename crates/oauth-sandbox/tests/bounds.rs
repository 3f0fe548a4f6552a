//! The sandbox stays bounded: each of its `Limits` is proved by what it keeps or answers (the
//! log, `Control::stats`, the replies and closed connections), not by timing it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::Ctx;
use oauth_sandbox::{Limits, Sandbox};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Far longer than any bound under test: only a hung test waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

async fn sandbox(adjust: impl FnOnce(&mut Limits)) -> Ctx {
    let mut limits = Limits::default();
    adjust(&mut limits);
    Ctx::with(Sandbox::builder().limits(limits)).await
}

/// Waits until `done` holds (it is about the sandbox's own accounting, which follows an event
/// on the network by a moment).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads until the server closes the connection; what it sent before.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server never closed the connection")
        .unwrap();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn the_log_keeps_only_the_start_of_each_body() {
    let ctx = sandbox(|l| l.request_log_body_bytes = 16).await;
    let body = "x".repeat(1000);
    let r = ctx
        .send("POST", "/api/unknown.method", &[], Some(body.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let logged = ctx.ctl().requests();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].body, &body.as_bytes()[..16]);
    assert_eq!(logged[0].body_len, 1000);
    assert!(logged[0].body_truncated());
    assert_eq!(ctx.ctl().stats().log_body_bytes, 16);
    // Over HTTP too: the control API serves what the log kept.
    let over_http = ctx.send("GET", "/_sandbox/requests", &[], None).await;
    assert_eq!(over_http.json[0]["body_len"], 1000);
    assert!(over_http.text.len() < 1000, "{}", over_http.text);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_anything_keeps_it() {
    let ctx = sandbox(|l| l.max_request_body_bytes = 1024).await;
    let r = ctx
        .send("POST", "/api/oauth.v2.access", &[], Some("x".repeat(2048)))
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(r.text.contains("max_request_body_bytes"), "{}", r.text);
    assert!(ctx.ctl().requests().is_empty());
    // At the limit, it is served.
    let r = ctx
        .send("POST", "/api/unknown.method", &[], Some("x".repeat(1024)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn dead_codes_tokens_and_grants_are_forgotten_after_the_retention() {
    let ctx = sandbox(|l| l.state_retention = Duration::ZERO).await;
    for _ in 0..50 {
        ctx.slack_code("&scope=chat:write");
    }
    // Live codes are kept, whatever the retention.
    ctx.send("GET", "/api/api.test", &[], None).await;
    assert_eq!(ctx.ctl().stats().codes, 50);
    // Past their lifetime (10 minutes of the sandbox clock) they are dead, and forgotten.
    ctx.ctl().advance_clock(Duration::from_secs(601));
    ctx.send("GET", "/api/api.test", &[], None).await;
    assert_eq!(ctx.ctl().stats().codes, 0);

    let install = ctx.slack_install().await;
    let bot = install.s("access_token").to_owned();
    let user = install.json["authed_user"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let held = ctx.ctl().stats();
    assert_eq!(
        (held.tokens, held.grants),
        (4, 2),
        "bot and user: access and refresh"
    );
    for token in [&bot, &user] {
        let r = ctx.slack("auth.revoke", &[], Some(token)).await;
        assert_eq!(r.slack_code(), "ok", "{}", r.text);
    }
    ctx.send("GET", "/api/api.test", &[], None).await;
    // The revoked access tokens are forgotten; the refresh tokens live on, with their grants.
    let after = ctx.ctl().stats();
    assert_eq!((after.tokens, after.grants), (2, 2), "{after:?}");
    // A forgotten token reads as unknown.
    let r = ctx.slack("auth.test", &[], Some(&bot)).await;
    assert_eq!(r.slack_code(), "invalid_auth", "{}", r.text);

    // Notion's revoke ends the whole connection: its tokens and its grant are forgotten.
    let notion = ctx.notion_tokens().await;
    assert_eq!(ctx.ctl().stats().grants, 3);
    let r = ctx
        .notion(
            "/v1/oauth/revoke",
            serde_json::json!({"token": notion.s("access_token")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    ctx.send("GET", "/api/api.test", &[], None).await;
    let after = ctx.ctl().stats();
    assert_eq!(
        (after.codes, after.tokens, after.grants),
        (0, 2, 2),
        "{after:?}"
    );
}

#[tokio::test]
async fn within_the_retention_dead_state_is_remembered() {
    let ctx = sandbox(|_| {}).await;
    let install = ctx.slack_install().await;
    let bot = install.s("access_token").to_owned();
    let r = ctx.slack("auth.revoke", &[], Some(&bot)).await;
    assert_eq!(r.slack_code(), "ok", "{}", r.text);
    ctx.ctl().advance_clock(Duration::from_secs(601));
    let before = ctx.ctl().stats();
    let r = ctx.slack("auth.test", &[], Some(&bot)).await;
    assert_eq!(r.slack_code(), "token_revoked", "{}", r.text);
    let after = ctx.ctl().stats();
    assert_eq!((after.codes, after.tokens), (before.codes, before.tokens));
}

#[tokio::test]
async fn an_idle_or_half_sent_connection_is_closed() {
    let ctx = sandbox(|l| l.idle_timeout = Duration::from_millis(200)).await;
    let addr = ctx.sb.addr();

    // Nothing sent at all.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut idle).await, "");

    // Half a request head.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST /api/auth.test HTTP/1.1\r\nhost: sandbox\r\n")
        .await
        .unwrap();
    read_to_close(&mut half).await;

    // A kept-alive connection after its answer.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /_sandbox/health HTTP/1.1\r\nhost: sandbox\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    eventually("every connection counted closed", || {
        ctx.ctl().stats().connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_gets_408() {
    let ctx = sandbox(|l| l.body_timeout = Duration::from_millis(200)).await;
    let mut slow = TcpStream::connect(ctx.sb.addr()).await.unwrap();
    slow.write_all(
        b"POST /api/oauth.v2.access HTTP/1.1\r\nhost: sandbox\r\ncontent-length: 100\r\n\r\nclient_id=",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(ctx.ctl().requests().is_empty(), "never processed");
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_and_a_freed_slot_serves_again() {
    let ctx = sandbox(|l| l.max_connections = 2).await;
    let addr = ctx.sb.addr();
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    eventually("two connections open", || {
        ctx.ctl().stats().connections_open == 2
    })
    .await;

    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /_sandbox/health HTTP/1.1\r\nhost: sandbox\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");

    drop(first);
    eventually("a slot freed", || ctx.ctl().stats().connections_open == 1).await;
    let health = ctx.send("GET", "/_sandbox/health", &[], None).await;
    assert_eq!(health.status, 200);
    let stats = ctx.ctl().stats();
    assert_eq!(stats.connections_peak, 2, "{stats:?}");
    assert_eq!(stats.connections_refused, 1, "{stats:?}");
}

#[test]
fn limits_are_set_by_name_as_the_binary_takes_them() {
    let mut limits = Limits::default();
    limits.set("max_connections", "64").unwrap();
    limits.set("idle_timeout_secs", "2.5").unwrap();
    assert_eq!(limits.max_connections, 64);
    assert_eq!(limits.idle_timeout, Duration::from_millis(2500));
    let unknown = limits.set("max_sockets", "1").unwrap_err();
    assert!(unknown.contains("max_connections"), "{unknown}");
    assert!(limits.set("body_timeout_secs", "-1").is_err());
    assert!(limits.set("request_log_capacity", "many").is_err());
}
