//! The Events API endpoint over loopback HTTP, with Slack's requests signed here (an HMAC from the
//! `hmac` and `sha2` crates), installations made through oauth-sandbox's consent and
//! `oauth.v2.access` into a SQLite store, and a second replica on the same file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;

use oauth_facade::slack::events::EventsEndpoint;
use oauth_facade::slack::{Event, SigningSecret};
use oauth_facade::{
    AccessToken, Error, Grant, Installation, InstallationKey, Introspect as _, Principal, TokenKey,
    TokenSet, TokenType,
};
use support::{SECRET, app, callback, now_secs, signature, until_not_served};

fn texts(keys: &[TokenKey]) -> Vec<String> {
    keys.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn url_verification_is_answered_with_its_challenge() {
    let app = app().await;
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let response = app.post_signed(body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
}

#[tokio::test]
async fn requests_refused_for_their_signature_or_body_change_nothing() {
    let app = app().await;
    app.install(None, "T1", "U1").await;
    let before = app.stored().await;
    assert_eq!(before, ["slack/T1#bot", "slack/T1#user:U1"]);
    let body = callback(
        "Ev0REVOKE",
        "T1",
        None,
        false,
        r#"{"type":"tokens_revoked","tokens":{"oauth":["U1"],"bot":["U0001"]}}"#,
    );
    let now = now_secs();
    let fresh = now.to_string();
    let stale = (now - 301).to_string();
    let future = (now + 301).to_string();
    let good = signature(SECRET, &fresh, body.as_bytes());
    let by_another_app = signature("another-apps-signing-secret", &fresh, body.as_bytes());
    let for_stale = signature(SECRET, &stale, body.as_bytes());
    let for_future = signature(SECRET, &future, body.as_bytes());
    let for_other_body = signature(SECRET, &fresh, b"{}");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no headers",
            vec![],
            "no `x-slack-request-timestamp` header",
        ),
        (
            "no signature",
            vec![("x-slack-request-timestamp", &fresh)],
            "no `x-slack-signature` header",
        ),
        (
            "no timestamp",
            vec![("x-slack-signature", &good)],
            "no `x-slack-request-timestamp` header",
        ),
        (
            "another app's secret",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", &by_another_app),
            ],
            "does not match",
        ),
        (
            "another body's signature",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", &for_other_body),
            ],
            "does not match",
        ),
        (
            "signed 301 s ago",
            vec![
                ("x-slack-request-timestamp", &stale),
                ("x-slack-signature", &for_stale),
            ],
            "301 s from now",
        ),
        (
            "signed 301 s ahead",
            vec![
                ("x-slack-request-timestamp", &future),
                ("x-slack-signature", &for_future),
            ],
            "301 s from now",
        ),
        (
            "a timestamp that is not Unix seconds",
            vec![
                ("x-slack-request-timestamp", "yesterday"),
                ("x-slack-signature", &good),
            ],
            "not Unix seconds",
        ),
        (
            "a signature of another scheme",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", "v1=abc"),
            ],
            "not of the `v0=` scheme",
        ),
        (
            "a truncated signature",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", &good[..20]),
            ],
            "not 64 hex digits",
        ),
    ];
    for (name, headers, says) in &cases {
        let response = app.post(&body, headers).await;
        assert_eq!(response.status(), 401, "{name}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{name}: {text}");
        assert!(!text.contains(SECRET), "{name}: {text}");
    }
    // A retry header does not make an unsigned request acceptable.
    let response = app
        .post(
            &body,
            &[
                ("x-slack-retry-num", "1"),
                ("x-slack-retry-reason", "http_timeout"),
            ],
        )
        .await;
    assert_eq!(response.status(), 401);

    // Signed, but over the size limit, or not an Events API body.
    let huge = format!(
        r#"{{"type":"event_callback","pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let response = app.post_signed(&huge).await;
    assert_eq!(response.status(), 413);
    for (bad, says) in [
        ("not json", "not JSON"),
        (r#"{"type":"shortcut"}"#, "unknown type `shortcut`"),
        (
            r#"{"type":"event_callback","event":{"type":"app_uninstalled"}}"#,
            "no `event_id`",
        ),
        (r#"["event_callback"]"#, "not a JSON object"),
    ] {
        let response = app.post_signed(bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{bad}: {text}");
    }

    assert_eq!(app.stored().await, before, "nothing was removed");
    assert!(app.removed().is_empty());
    assert!(
        app.deliveries.lock().unwrap().is_empty(),
        "nothing was handed over"
    );
    // The same request, signed, is accepted: the cases above failed for their signature only.
    let response = app.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored().await, ["slack/T1#bot"]);
}

#[tokio::test]
async fn an_event_is_handed_over_once_whatever_the_retries() {
    let app = app().await;
    let mention = r#"{"type":"app_mention","user":"U1","text":"<@UBOT> hello","channel":"C1"}"#;
    let first = callback("Ev1MENTION", "T1", None, false, mention);
    assert_eq!(app.post_signed(&first).await.status(), 200);
    for (num, reason) in [
        ("1", "http_timeout"),
        ("2", "http_error"),
        ("3", "connection_failed"),
    ] {
        let retry = app
            .post_signed_with(
                &first,
                &[("x-slack-retry-num", num), ("x-slack-retry-reason", reason)],
            )
            .await;
        assert_eq!(retry.status(), 200, "a retry is acknowledged");
    }
    // The retry of an event this process never accepted (say, it went to a replica that died)
    // is handed over, with its retry headers.
    let unseen = callback("Ev2MENTION", "T1", None, false, mention);
    let response = app
        .post_signed_with(
            &unseen,
            &[
                ("x-slack-retry-num", "2"),
                ("x-slack-retry-reason", "http_timeout"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);

    let deliveries = app.deliveries(2).await;
    let mut ids: Vec<&str> = deliveries
        .iter()
        .map(|d| d.callback.event_id.as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["Ev1MENTION", "Ev2MENTION"], "each event once");
    for delivery in &deliveries {
        let Event::Other(event) = &delivery.callback.event else {
            panic!("{delivery:?}");
        };
        assert_eq!(event.event_type, "app_mention");
        assert!(delivery.removed.is_empty());
        let context = delivery.callback.context();
        assert_eq!(context.team_id.as_deref(), Some("T1"));
        match delivery.callback.event_id.as_str() {
            "Ev1MENTION" => assert!(delivery.retry.is_none()),
            _ => {
                let retry = delivery.retry.as_ref().unwrap();
                assert_eq!(
                    (retry.num, retry.reason.as_deref()),
                    (2, Some("http_timeout"))
                );
            }
        }
    }
}

#[tokio::test]
async fn tokens_revoked_removes_exactly_the_listed_token_sets_on_every_replica() {
    let app = app().await;
    let t1 = InstallationKey::workspace(oauth_facade::slack::PROVIDER, None, "T1");
    app.install(None, "T1", "U1").await;
    app.install(None, "T1", "U2").await;
    app.install(None, "T2", "U1").await;
    let all = [
        "slack/T1#bot",
        "slack/T1#user:U1",
        "slack/T1#user:U2",
        "slack/T2#bot",
        "slack/T2#user:U1",
    ];
    assert_eq!(app.stored().await, all);
    let u1 = TokenKey::user(t1.clone(), "U1");
    let bot = TokenKey::bot(t1.clone());
    let replica = app.replica().await;
    assert!(
        replica.access_token(&u1).await.is_ok(),
        "the replica caches U1's token"
    );
    assert!(app.manager.access_token(&u1).await.is_ok());

    let revoke_u1 = |id: &str| {
        callback(
            id,
            "T1",
            None,
            false,
            r#"{"type":"tokens_revoked","tokens":{"oauth":["U1"],"bot":[]}}"#,
        )
    };
    assert_eq!(app.post_signed(&revoke_u1("Ev1REVOKE")).await.status(), 200);
    assert_eq!(
        app.stored().await,
        [
            "slack/T1#bot",
            "slack/T1#user:U2",
            "slack/T2#bot",
            "slack/T2#user:U1"
        ],
        "U1's token set of T1 only: U1's of T2 and U2's stay"
    );
    assert!(
        matches!(
            app.manager.access_token(&u1).await,
            Err(Error::InstallationNotFound { .. })
        ),
        "this replica forgot it at once"
    );
    assert!(matches!(
        until_not_served(&replica, &u1).await,
        Error::InstallationNotFound { .. }
    ));
    assert_eq!(
        app.removed(),
        [("slack/T1#user:U1".to_owned(), "tokens_revoked".to_owned())]
    );
    let deliveries = app.deliveries(1).await;
    assert_eq!(texts(&deliveries[0].removed), ["slack/T1#user:U1"]);

    // The bot keeps working, at Slack too.
    let token = app.manager.access_token(&bot).await.unwrap();
    assert!(
        app.manager
            .provider()
            .introspect(&token)
            .await
            .unwrap()
            .active
    );

    // Slack may tell again (another event id): nothing changes, no error.
    assert_eq!(app.post_signed(&revoke_u1("Ev2REVOKE")).await.status(), 200);
    assert_eq!(app.stored().await.len(), 4);
    assert_eq!(app.removed().len(), 1);

    // A bot list naming another bot user keeps this installation's bot.
    let other_bot = callback(
        "Ev3REVOKE",
        "T1",
        None,
        false,
        r#"{"type":"tokens_revoked","tokens":{"bot":["U0NOTOURBOT"]}}"#,
    );
    assert_eq!(app.post_signed(&other_bot).await.status(), 200);
    assert_eq!(app.stored().await.len(), 4);

    // Its own bot user: the bot token set goes, U2's stays.
    let bot_user = app.bot_user(&t1).await;
    let ours = callback(
        "Ev4REVOKE",
        "T1",
        None,
        false,
        &format!(r#"{{"type":"tokens_revoked","tokens":{{"bot":["{bot_user}"]}}}}"#),
    );
    assert_eq!(app.post_signed(&ours).await.status(), 200);
    assert_eq!(
        app.stored().await,
        ["slack/T1#user:U2", "slack/T2#bot", "slack/T2#user:U1"]
    );
    assert!(matches!(
        app.manager.access_token(&bot).await,
        Err(Error::InstallationNotFound { .. })
    ));
}

#[tokio::test]
async fn app_uninstalled_removes_the_installation_on_every_replica() {
    let app = app().await;
    let t1 = InstallationKey::workspace(oauth_facade::slack::PROVIDER, None, "T1");
    app.install(None, "T1", "U1").await;
    app.install(None, "T2", "U3").await;
    let replica = app.replica().await;
    let bot = TokenKey::bot(t1.clone());
    assert!(replica.access_token(&bot).await.is_ok());

    let uninstall = |id: &str| callback(id, "T1", None, false, r#"{"type":"app_uninstalled"}"#);
    assert_eq!(
        app.post_signed(&uninstall("Ev1UNINSTALL")).await.status(),
        200
    );
    assert_eq!(app.stored().await, ["slack/T2#bot", "slack/T2#user:U3"]);
    assert!(
        app.manager.installation(&t1).await.unwrap().is_none(),
        "the record too"
    );
    assert!(matches!(
        until_not_served(&replica, &bot).await,
        Error::InstallationNotFound { .. }
    ));
    let mut removed = app.removed();
    removed.sort();
    assert_eq!(
        removed,
        [
            ("slack/T1#bot".to_owned(), "app_uninstalled".to_owned()),
            ("slack/T1#user:U1".to_owned(), "app_uninstalled".to_owned()),
        ]
    );
    assert_eq!(
        app.post_signed(&uninstall("Ev2UNINSTALL")).await.status(),
        200
    );
    assert_eq!(app.stored().await.len(), 2, "idempotent");
    assert_eq!(app.removed().len(), 2);
}

#[tokio::test]
async fn an_org_wide_uninstall_removes_every_installation_of_the_org() {
    let app = app().await;
    // A workspace install in the org, through the sandbox…
    app.install(Some("E1"), "T5", "U5").await;
    // …and the org-wide install (the sandbox does not emulate those: saved as Slack answers).
    let org = InstallationKey::organization(oauth_facade::slack::PROVIDER, "E1");
    let mut installation = Installation::new(org.clone(), std::time::SystemTime::now());
    installation.enterprise_id = Some("E1".into());
    let tokens = TokenSet::new(
        oauth_facade::slack::PROVIDER,
        AccessToken::new("xoxb-org-wide-bot-token"),
        TokenType::Bot,
        std::time::SystemTime::now(),
    );
    app.manager
        .save_grant(&Grant::new(installation).with_tokens(Principal::Bot, tokens))
        .await
        .unwrap();
    app.install(None, "T2", "U3").await;
    assert_eq!(
        app.stored().await,
        [
            "slack/E1/*#bot",
            "slack/E1/T5#bot",
            "slack/E1/T5#user:U5",
            "slack/T2#bot",
            "slack/T2#user:U3"
        ]
    );
    let body = callback(
        "Ev1ORG",
        "T5",
        Some("E1"),
        true,
        r#"{"type":"app_uninstalled"}"#,
    );
    assert_eq!(app.post_signed(&body).await.status(), 200);
    assert_eq!(app.stored().await, ["slack/T2#bot", "slack/T2#user:U3"]);
    assert!(app.manager.installation(&org).await.unwrap().is_none());
}

#[tokio::test]
async fn the_builder_refuses_what_cannot_work() {
    let error = EventsEndpoint::builder(SigningSecret::new(""))
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("signing secret is empty"),
        "{error}"
    );
    let notion = oauth_facade::ProviderConfig::sandbox(
        oauth_facade::ProviderKind::Notion,
        "http://127.0.0.1:9",
    )
    .build()
    .unwrap();
    let manager = oauth_facade::TokenManager::builder(
        notion,
        Arc::new(oauth_facade::MemoryTokenStore::new()),
    )
    .build()
    .unwrap();
    let error = EventsEndpoint::builder(SigningSecret::new(SECRET))
        .token_manager(manager)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("not `slack`"), "{error}");
}

#[tokio::test]
async fn the_verifier_guards_other_slack_routes_as_extractor_and_middleware() {
    use axum::routing::post;
    use oauth_facade::slack::events::{SlackVerifier, VerifiedBody, verify_slack_request};

    let verifier = SlackVerifier::new(SigningSecret::new(SECRET)).body_limit(4096);
    let commands: axum::Router = axum::Router::new()
        .route(
            "/slack/commands",
            post(|VerifiedBody { body, .. }: VerifiedBody| async move {
                format!("command: {}", String::from_utf8_lossy(&body))
            }),
        )
        .with_state(verifier.clone());
    let interactions: axum::Router = axum::Router::new()
        .route(
            "/slack/interactions",
            post(|body: String| async move { format!("interaction: {body}") }),
        )
        .layer(axum::middleware::from_fn_with_state(
            verifier,
            verify_slack_request,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, commands.merge(interactions))
            .await
            .unwrap()
    });
    let http = reqwest::Client::new();
    let form = "command=%2Fweather&text=94070&team_id=T1&user_id=U1";
    for (path, answer) in [
        ("/slack/commands", format!("command: {form}")),
        ("/slack/interactions", format!("interaction: {form}")),
    ] {
        let timestamp = now_secs().to_string();
        let signed = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &timestamp)
            .header(
                "x-slack-signature",
                signature(SECRET, &timestamp, form.as_bytes()),
            )
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), 200, "{path}");
        assert_eq!(
            signed.text().await.unwrap(),
            answer,
            "the body passed on unchanged"
        );
        let forged = http
            .post(format!("{base}{path}"))
            .header("x-slack-request-timestamp", &timestamp)
            .header(
                "x-slack-signature",
                signature("guess", &timestamp, form.as_bytes()),
            )
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401, "{path}");
        let large = "x".repeat(4097);
        let too_large = http
            .post(format!("{base}{path}"))
            .header("x-slack-request-timestamp", &timestamp)
            .header(
                "x-slack-signature",
                signature(SECRET, &timestamp, large.as_bytes()),
            )
            .body(large)
            .send()
            .await
            .unwrap();
        assert_eq!(too_large.status(), 413, "{path}");
    }
}

#[tokio::test]
async fn a_store_failure_is_answered_500_and_the_retry_removes_the_tokens() {
    use oauth_facade::mock::{FaultAction, FaultyStore, Gate, StoreFault, StoreOp};

    let faulty: Arc<std::sync::Mutex<Option<Arc<FaultyStore>>>> = Arc::default();
    let keep = faulty.clone();
    let app = support::app_over(move |store| {
        let wrapped = Arc::new(FaultyStore::new(store));
        *keep.lock().unwrap() = Some(wrapped.clone());
        wrapped
    })
    .await;
    let faulty = faulty.lock().unwrap().clone().unwrap();
    app.install(None, "T1", "U1").await;
    let revoke = callback(
        "Ev1FAIL",
        "T1",
        None,
        false,
        r#"{"type":"tokens_revoked","tokens":{"oauth":["U1"]}}"#,
    );

    faulty.inject(StoreFault::new(StoreOp::Delete, FaultAction::Fail));
    let failed = app.post_signed(&revoke).await;
    assert_eq!(failed.status(), 500);
    assert!(
        failed
            .text()
            .await
            .unwrap()
            .contains("Slack will deliver it again")
    );
    assert_eq!(app.stored().await, ["slack/T1#bot", "slack/T1#user:U1"]);
    assert!(app.deliveries.lock().unwrap().is_empty(), "not handed over");

    // Slack's retry is handled.
    let retried = app
        .post_signed_with(
            &revoke,
            &[
                ("x-slack-retry-num", "1"),
                ("x-slack-retry-reason", "http_error"),
            ],
        )
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(app.stored().await, ["slack/T1#bot"]);

    // A retry that arrives while the first delivery is still removing (a stalled store) is not
    // answered 2xx: that delivery may yet fail.
    app.install(None, "T1", "U2").await;
    let gate = Gate::new();
    let deletes_before = faulty.calls(StoreOp::Delete);
    faulty.inject(StoreFault::new(
        StoreOp::Delete,
        FaultAction::Block(gate.clone()),
    ));
    let stalled = callback(
        "Ev2STALL",
        "T1",
        None,
        false,
        r#"{"type":"tokens_revoked","tokens":{"oauth":["U2"]}}"#,
    );
    let first = {
        let (http, url, body) = (app.http.clone(), app.events_url.clone(), stalled.clone());
        let timestamp = now_secs().to_string();
        let signed = signature(SECRET, &timestamp, body.as_bytes());
        tokio::spawn(async move {
            http.post(url)
                .header("x-slack-request-timestamp", timestamp)
                .header("x-slack-signature", signed)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // Wait until the first delivery is blocked in the store (bounded by attempts).
    for _ in 0..500 {
        if faulty.calls(StoreOp::Delete) > deletes_before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let retry = app
        .post_signed_with(
            &stalled,
            &[
                ("x-slack-retry-num", "1"),
                ("x-slack-retry-reason", "http_timeout"),
            ],
        )
        .await;
    assert_eq!(retry.status(), 503);
    gate.open();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), first)
        .await
        .expect("the first delivery ends once the store goes on");
    assert_eq!(first.unwrap(), 200);
    assert_eq!(app.stored().await, ["slack/T1#bot"]);
    let later = app
        .post_signed_with(
            &stalled,
            &[
                ("x-slack-retry-num", "2"),
                ("x-slack-retry-reason", "http_error"),
            ],
        )
        .await;
    assert_eq!(
        later.status(),
        200,
        "accepted by then: answered, not handled again"
    );
}
