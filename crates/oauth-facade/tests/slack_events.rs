//! The Events API endpoint over loopback HTTP, with Slack's requests signed here (an HMAC from the
//! `hmac` and `sha2` crates), installations made through oauth-sandbox's consent and
//! `oauth.v2.access` into a SQLite store, and a second replica on the same file: deliveries and
//! retries, `tokens_revoked`, `app_uninstalled`, store failures. The refusals of bad requests
//! are in `slack_verification.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;

use oauth_facade::slack::Event;
use oauth_facade::{
    AccessToken, Error, Grant, Installation, InstallationKey, Introspect as _, Principal, TokenKey,
    TokenSet, TokenType,
};
use support::{SECRET, app, callback, now_secs, signature, until_not_served};

fn texts(keys: &[TokenKey]) -> Vec<String> {
    keys.iter().map(ToString::to_string).collect()
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
    let tokens = TokenSet::builder(
        oauth_facade::slack::PROVIDER,
        AccessToken::new("xoxb-org-wide-bot-token"),
    )
    .token_type(TokenType::Bot)
    .issued_at(std::time::SystemTime::now())
    .build();
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
