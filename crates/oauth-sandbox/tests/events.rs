//! The Events API as the sandbox sends it: signed `event_callback` envelopes for `auth.revoke`,
//! the control API's revocations and uninstalls (workspace and org-wide), Slack's retries and
//! their reasons, `X-Slack-No-Retry`, the bounds of the delivery log and of the deliveries under
//! way, and the control routes over HTTP. The app is a local axum server on loopback that checks
//! each signature with `hmac`/`sha2` here, not with the sandbox's code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::Ctx;
use hmac::{Hmac, Mac as _};
use oauth_sandbox::{
    App, Consent, DEFAULT_SLACK_APP_ID, DEFAULT_SLACK_CLIENT_ID as ID,
    DEFAULT_SLACK_SIGNING_SECRET, DeliveryStatus, Limits, OutgoingEvent, Sandbox,
};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a";

/// How the app answers one delivery.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    NoRetry(u16),
    Sleep(u64),
}

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
    at: Instant,
}

#[derive(Default)]
struct AppState {
    script: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
}

/// The app's events endpoint: records each request, answers as scripted (then 200).
struct Receiver {
    url: String,
    state: Arc<AppState>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> Self {
        let state = Arc::new(AppState::default());
        state.script.lock().unwrap().extend(script.iter().copied());
        let app = axum::Router::new()
            .route("/slack/events", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slack/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    state.received.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        at: Instant::now(),
    });
    let answer = state.script.lock().unwrap().pop_front();
    match answer {
        None => StatusCode::OK.into_response(),
        Some(Answer::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
        Some(Answer::NoRetry(s)) => (
            StatusCode::from_u16(s).unwrap(),
            [("x-slack-no-retry", "1")],
        )
            .into_response(),
        Some(Answer::Sleep(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Slack's signature check, written here with `hmac`/`sha2`.
fn assert_signed(r: &Received, secret: &str) {
    let timestamp = r.headers["x-slack-request-timestamp"].to_str().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts: u64 = timestamp.parse().unwrap();
    assert!(now.abs_diff(ts) <= 5, "real time, not the sandbox clock");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{}", r.body).as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.headers["x-slack-signature"], format!("v0={hex}").as_str());
    assert_eq!(r.headers["content-type"], "application/json");
}

/// Polls the event log until `event_id` is settled (no longer pending), within 10 s.
async fn settled(c: &Ctx, event_id: &str) -> OutgoingEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = c.ctl().event(event_id)
            && e.status != DeliveryStatus::Pending
        {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{event_id} not settled: {:?}",
            c.ctl().event(event_id)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn fast_retries(delays_ms: &[u64]) -> Limits {
    let mut limits = Limits::default();
    limits.event_retry_delays = delays_ms
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .collect();
    limits.event_timeout = Duration::from_millis(300);
    limits
}

async fn ctx_with_app(limits: Limits, url: &str) -> Ctx {
    let c = Ctx::with(Sandbox::builder().limits(limits)).await;
    c.ctl()
        .set_event_subscription(ID, Some(url), Some(SECRET))
        .unwrap();
    c
}

#[tokio::test]
async fn auth_revoke_of_a_user_token_sends_a_signed_tokens_revoked() {
    let app = Receiver::start(&[]).await;
    let c = ctx_with_app(fast_retries(&[0]), &app.url).await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    let install = c.slack_install().await;
    let bot_user = install.s("bot_user_id").to_owned();
    let user_token = install.json["authed_user"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(c.ctl().events().is_empty(), "an install sends nothing");

    let revoked = c.slack("auth.revoke", &[], Some(&user_token)).await;
    assert_eq!(revoked.json["revoked"], true);
    let [event] = c.ctl().events().try_into().unwrap();
    let event = settled(&c, &event.event_id).await;
    assert_eq!(event.status, DeliveryStatus::Delivered);
    assert_eq!(event.event_type, "tokens_revoked");
    assert_eq!(event.attempts.len(), 1);
    assert_eq!(event.attempts[0].status, Some(200));

    let [got] = app.received().try_into().unwrap();
    assert_signed(&got, SECRET);
    assert!(got.headers.get("x-slack-retry-num").is_none());
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(got.body, event.body, "the log keeps the bytes sent");
    assert_eq!(body["type"], "event_callback");
    assert_eq!(body["team_id"], "T1");
    assert!(body.get("enterprise_id").is_none());
    assert_eq!(body["api_app_id"], DEFAULT_SLACK_APP_ID);
    assert_eq!(body["event_id"], event.event_id.as_str());
    assert!(event.event_id.starts_with("Ev"));
    assert_eq!(
        body["event_time"],
        c.ctl().now(),
        "event_time: the sandbox clock"
    );
    assert_eq!(body["is_ext_shared_channel"], false);
    assert!(body["token"].is_string());
    assert_eq!(
        body["event"],
        json!({"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": []}})
    );
    assert_eq!(
        body["authorizations"],
        json!([{"enterprise_id": null, "team_id": "T1", "user_id": bot_user, "is_bot": true, "is_enterprise_install": false}])
    );

    // The token is dead; a second revoke is refused and sends nothing.
    let again = c.slack("auth.revoke", &[], Some(&user_token)).await;
    assert_eq!(again.slack_code(), "token_revoked");
    // `test=true` revokes nothing and sends nothing.
    let bot_token = install.s("access_token").to_owned();
    let test = c
        .slack("auth.revoke", &[("test", "true")], Some(&bot_token))
        .await;
    assert_eq!(test.json["revoked"], false);
    assert_eq!(c.ctl().events().len(), 1);

    // The bot's own revoke lists the bot user.
    c.slack("auth.revoke", &[], Some(&bot_token)).await;
    let events = c.ctl().events();
    let event = settled(&c, &events[1].event_id).await;
    assert_eq!(
        event.envelope()["event"]["tokens"],
        json!({"oauth": [], "bot": [bot_user]})
    );
}

#[tokio::test]
async fn uninstall_sends_tokens_revoked_then_app_uninstalled_and_ends_every_token() {
    let app = Receiver::start(&[]).await;
    let c = ctx_with_app(fast_retries(&[0]), &app.url).await;
    c.ctl()
        .push_consent(Consent::approve("T1", "One", "U1").in_enterprise("E1", "Grid"));
    let first = c.slack_install().await;
    c.ctl()
        .push_consent(Consent::approve("T1", "One", "U2").in_enterprise("E1", "Grid"));
    let second = c.slack_install().await;

    let revocation = c.ctl().uninstall(ID, "T1").unwrap();
    assert_eq!(revocation.oauth, ["U1", "U2"]);
    assert_eq!(revocation.bot, [first.s("bot_user_id")]);
    assert_eq!(revocation.event_ids.len(), 2);
    assert!(c.ctl().installation(ID, "T1").is_none());
    for token in [
        first.s("access_token"),
        second.s("access_token"),
        second.json["authed_user"]["access_token"].as_str().unwrap(),
    ] {
        let r = c.slack("auth.test", &[], Some(token)).await;
        assert_eq!(r.slack_code(), "token_revoked");
    }
    let mut types = Vec::new();
    for id in &revocation.event_ids {
        let event = settled(&c, id).await;
        assert_eq!(event.status, DeliveryStatus::Delivered);
        let body = event.envelope();
        assert_eq!(
            (body["team_id"].as_str(), body["enterprise_id"].as_str()),
            (Some("T1"), Some("E1"))
        );
        assert_eq!(body["authorizations"][0]["enterprise_id"], "E1");
        assert_eq!(body["authorizations"][0]["team_id"], "T1");
        types.push(body["event"].clone());
    }
    assert_eq!(
        types,
        [
            json!({"type": "tokens_revoked", "tokens": {"oauth": ["U1", "U2"], "bot": [first.s("bot_user_id")]}}),
            json!({"type": "app_uninstalled"}),
        ]
    );
    for got in app.received() {
        assert_signed(&got, SECRET);
    }

    // Uninstalled: a second uninstall is refused, and sends nothing.
    assert!(c.ctl().uninstall(ID, "T1").is_err());
    assert_eq!(c.ctl().events().len(), 2);
}

#[tokio::test]
async fn an_org_wide_uninstall_names_the_org_not_a_workspace() {
    let app = Receiver::start(&[]).await;
    let c = ctx_with_app(fast_retries(&[0]), &app.url).await;
    c.ctl()
        .push_consent(Consent::org_wide("E1", "Grid", "UADMIN", &["T1", "T2"]));
    let install = c.slack_install().await;
    assert_eq!(install.json["is_enterprise_install"], true);

    let revocation = c.ctl().uninstall(ID, "E1").unwrap();
    assert_eq!(revocation.oauth, ["UADMIN"]);
    let event = settled(&c, &revocation.event_ids[1]).await;
    let body = event.envelope();
    assert_eq!(body["event"], json!({"type": "app_uninstalled"}));
    assert_eq!(body["enterprise_id"], "E1");
    assert!(
        body.get("team_id").is_none(),
        "org-wide: no team_id, as in Bolt's org-app events"
    );
    assert_eq!(
        body["authorizations"],
        json!([{"enterprise_id": "E1", "team_id": null, "user_id": install.s("bot_user_id"), "is_bot": true, "is_enterprise_install": true}])
    );
    assert!(c.ctl().installation(ID, "E1").is_none());
}

#[tokio::test]
async fn control_revocations_send_tokens_revoked_for_exactly_whom_they_revoke() {
    let app = Receiver::start(&[]).await;
    let c = ctx_with_app(fast_retries(&[0]), &app.url).await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    let first = c.slack_install().await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U2"));
    let second = c.slack_install().await;

    let user = c.ctl().revoke_user_tokens(ID, "T1", "U1").unwrap();
    assert_eq!(
        (user.oauth.as_slice(), user.bot.len()),
        (["U1".to_owned()].as_slice(), 0)
    );
    let u1 = first.json["authed_user"]["access_token"].as_str().unwrap();
    let u2 = second.json["authed_user"]["access_token"].as_str().unwrap();
    assert_eq!(
        c.slack("auth.test", &[], Some(u1)).await.slack_code(),
        "token_revoked"
    );
    assert_eq!(c.slack("auth.test", &[], Some(u2)).await.slack_code(), "ok");
    let event = settled(&c, &user.event_ids[0]).await;
    assert_eq!(
        event.envelope()["event"]["tokens"],
        json!({"oauth": ["U1"], "bot": []})
    );

    let bot = c.ctl().revoke_bot_token(ID, "T1").unwrap();
    assert_eq!(bot.bot, [first.s("bot_user_id")]);
    assert_eq!(
        c.slack("auth.test", &[], Some(second.s("access_token")))
            .await
            .slack_code(),
        "token_revoked"
    );
    assert_eq!(c.slack("auth.test", &[], Some(u2)).await.slack_code(), "ok");

    // Nothing live left to revoke: no event.
    let none = c.ctl().revoke_user_tokens(ID, "T1", "U1").unwrap();
    assert!(none.oauth.is_empty() && none.event_ids.is_empty());
    assert!(c.ctl().revoke_user_tokens(ID, "T9", "U1").is_err());
    assert_eq!(c.ctl().events().len(), 2);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_slacks_headers_until_a_2xx() {
    let app = Receiver::start(&[
        Answer::Status(500),
        Answer::Sleep(1_000),
        Answer::Status(200),
    ])
    .await;
    let c = ctx_with_app(fast_retries(&[0, 50, 100]), &app.url).await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    c.slack_install().await;
    let revocation = c.ctl().revoke_bot_token(ID, "T1").unwrap();
    let event = settled(&c, &revocation.event_ids[0]).await;
    assert_eq!(event.status, DeliveryStatus::Delivered);
    let attempts: Vec<_> = event
        .attempts
        .iter()
        .map(|a| {
            (
                a.retry_num,
                a.retry_reason.as_deref(),
                a.status,
                a.failure.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (0, None, Some(500), Some("http_error")),
            (1, Some("http_error"), None, Some("http_timeout")),
            (2, Some("http_timeout"), Some(200), None),
        ]
    );
    let got = app.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_signed(r, SECRET);
        assert_eq!(
            r.body, got[0].body,
            "every retry carries the same body and event_id"
        );
    }
    assert!(got[0].headers.get("x-slack-retry-num").is_none());
    assert_eq!(got[1].headers["x-slack-retry-num"], "1");
    assert_eq!(got[1].headers["x-slack-retry-reason"], "http_error");
    assert_eq!(got[2].headers["x-slack-retry-num"], "2");
    assert_eq!(got[2].headers["x-slack-retry-reason"], "http_timeout");
    assert!(got[2].at.duration_since(got[1].at) >= Duration::from_millis(50));
}

#[tokio::test]
async fn retries_end_after_the_last_one_or_at_x_slack_no_retry() {
    let app = Receiver::start(&[
        Answer::Status(503),
        Answer::Status(502),
        Answer::Status(500),
        Answer::NoRetry(500),
    ])
    .await;
    let c = ctx_with_app(fast_retries(&[0, 0]), &app.url).await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    c.slack_install().await;
    let failed = c.ctl().revoke_user_tokens(ID, "T1", "U1").unwrap();
    let event = settled(&c, &failed.event_ids[0]).await;
    assert_eq!(event.status, DeliveryStatus::Failed);
    assert_eq!(
        event.attempts.len(),
        3,
        "the first delivery and two retries"
    );

    let no_retry = c.ctl().revoke_bot_token(ID, "T1").unwrap();
    let event = settled(&c, &no_retry.event_ids[0]).await;
    assert_eq!(event.status, DeliveryStatus::NoRetry);
    assert_eq!(event.attempts.len(), 1);
    assert!(event.attempts[0].no_retry);
    assert_eq!(app.received().len(), 4);
}

#[tokio::test]
async fn an_unreachable_request_url_is_retried_as_connection_failed() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slack/events", listener.local_addr().unwrap());
    drop(listener);
    let c = ctx_with_app(fast_retries(&[0]), &url).await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    c.slack_install().await;
    let r = c.ctl().uninstall(ID, "T1").unwrap();
    for id in &r.event_ids {
        let event = settled(&c, id).await;
        assert_eq!(event.status, DeliveryStatus::Failed);
        let reasons: Vec<_> = event
            .attempts
            .iter()
            .map(|a| a.failure.as_deref())
            .collect();
        assert_eq!(
            reasons,
            [Some("connection_failed"), Some("connection_failed")]
        );
        assert_eq!(
            event.attempts[1].retry_reason.as_deref(),
            Some("connection_failed")
        );
    }
}

#[tokio::test]
async fn deliveries_and_the_log_are_bounded() {
    let app = Receiver::start(&[Answer::Sleep(250)]).await;
    let mut limits = fast_retries(&[]);
    limits.max_pending_events = 1;
    limits.event_log_capacity = 2;
    let c = ctx_with_app(limits, &app.url).await;
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    c.slack_install().await;
    // The first delivery takes 250 ms: the second finds no room and is dropped, not queued.
    let slow = c.ctl().revoke_user_tokens(ID, "T1", "U1").unwrap();
    let dropped = c.ctl().revoke_bot_token(ID, "T1").unwrap();
    assert_eq!(c.ctl().stats().events_pending, 1);
    assert_eq!(
        c.ctl().event(&dropped.event_ids[0]).unwrap().status,
        DeliveryStatus::Dropped
    );
    assert_eq!(
        settled(&c, &slow.event_ids[0]).await.status,
        DeliveryStatus::Delivered
    );
    // The log keeps the last two.
    let r = c.ctl().uninstall(ID, "T1").unwrap();
    assert_eq!(r.event_ids.len(), 1, "nothing live: app_uninstalled only");
    settled(&c, &r.event_ids[0]).await;
    let logged: Vec<String> = c.ctl().events().into_iter().map(|e| e.event_id).collect();
    assert_eq!(
        logged,
        [dropped.event_ids[0].clone(), r.event_ids[0].clone()]
    );
    let stats = c.ctl().stats();
    assert_eq!((stats.event_log_entries, stats.events_pending), (2, 0));
}

#[tokio::test]
async fn no_request_url_no_event_and_the_default_app_has_a_default_secret() {
    let c = Ctx::new().await;
    let app = c.ctl().app(ID).unwrap();
    assert_eq!(
        app.signing_secret.as_deref(),
        Some(DEFAULT_SLACK_SIGNING_SECRET)
    );
    assert_eq!(app.event_request_url, None);
    c.slack_install().await;
    let r = c.ctl().uninstall(ID, "T0SANDBOX1").unwrap();
    assert!(r.event_ids.is_empty());
    assert!(c.ctl().events().is_empty());
    assert!(
        c.ctl()
            .set_event_subscription(ID, Some("not a url"), None)
            .is_err()
    );
    assert!(
        c.ctl()
            .set_event_subscription(ID, Some("ftp://x/y"), None)
            .is_err()
    );
    assert!(
        c.ctl()
            .set_event_subscription("nope", Some("http://127.0.0.1:1/"), None)
            .is_err()
    );

    // Neither secret shows in an app's Debug.
    let app = App::slack("c", "client-secret-value", "A1", &[])
        .with_signing_secret("signing-secret-value");
    let debug = format!("{app:?}");
    assert!(
        !debug.contains("client-secret-value") && !debug.contains("signing-secret-value"),
        "{debug}"
    );
}

#[tokio::test]
async fn the_control_routes_over_http() {
    let app = Receiver::start(&[]).await;
    let c = Ctx::with(Sandbox::builder().limits(fast_retries(&[0]))).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let (http, url) = (http.clone(), c.url(path));
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            (status, body)
        }
    };
    let (status, _) = post(
        "/_sandbox/events/subscription",
        json!({"client_id": ID, "request_url": app.url, "signing_secret": SECRET}),
    )
    .await;
    assert_eq!(status, 200);
    c.ctl().push_consent(Consent::approve("T1", "One", "U1"));
    c.slack_install().await;
    let (status, body) = post(
        "/_sandbox/revoke",
        json!({"client_id": ID, "installation": "T1", "user_id": "U1"}),
    )
    .await;
    assert_eq!((status, &body["oauth"]), (200, &json!(["U1"])));
    let (status, _) = post(
        "/_sandbox/revoke",
        json!({"client_id": ID, "installation": "T1"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = post(
        "/_sandbox/uninstall",
        json!({"client_id": ID, "installation": "T1"}),
    )
    .await;
    assert_eq!(status, 200);
    let last = body["event_ids"][1].as_str().unwrap().to_owned();
    settled(&c, &last).await;
    let (status, _) = post(
        "/_sandbox/uninstall",
        json!({"client_id": ID, "installation": "T1"}),
    )
    .await;
    assert_eq!(status, 404);
    let log = http.get(c.url("/_sandbox/events")).send().await.unwrap();
    let log: Value = serde_json::from_slice(&log.bytes().await.unwrap()).unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2]["event_id"], last.as_str());
    assert_eq!(log[2]["status"], "delivered");
    assert_eq!(log[2]["attempts"][0]["status"], 200);
    let text = serde_json::to_string(log).unwrap();
    assert!(!text.contains(SECRET), "the log holds no signing secret");
    assert!(!text.contains("v0="), "nor a signature");
    // Reset empties the log.
    http.post(c.url("/_sandbox/reset")).send().await.unwrap();
    assert!(c.ctl().events().is_empty());
}
