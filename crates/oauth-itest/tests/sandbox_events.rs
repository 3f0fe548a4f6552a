//! Slack's events as oauth-sandbox sends them (signed, in the background, retried as Slack
//! retries), received by the facade's events endpoint served by axum on loopback: a user token
//! revoked through `auth.revoke`, an uninstall seen by two replicas sharing PostgreSQL, an
//! org-wide uninstall, a retry of an event already handled, and a wrong signing secret (retries
//! across replicas and secret rotation: `sandbox_events_dedup.rs`). Each delivery's signature is
//! also checked with `hmac`/`sha2` before the endpoint sees it (`events_support`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod events_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use events_support::*;
use oauth_core::{Error, InstallationKey, TokenKey, TokenStore};
use oauth_facade::slack::{SlackContext, authorize};
use oauth_sandbox::{Consent, DEFAULT_SLACK_CLIENT_ID as ID, DeliveryStatus};
use oauth_slack::AuthRevokeRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_revoking_their_token_ends_that_token_set_and_the_bot_keeps_working() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let a = replica(&slack, store.clone(), "a", SECRET).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    let user = TokenKey::user(t("T1"), "U1");
    let bot = TokenKey::bot(t("T1"));
    let user_token = a.manager.access_token(&user).await.unwrap();

    let revoked = slack
        .auth_revoke(&user_token, &AuthRevokeRequest::new())
        .await
        .unwrap();
    assert_eq!(revoked.revoked, Some(true));
    let event = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    assert_eq!(event.attempts.len(), 1);
    assert_eq!(
        event.envelope()["event"]["tokens"]["oauth"],
        serde_json::json!(["U1"])
    );
    assert_eq!(*a.seen.handled.lock().unwrap(), [event.event_id.as_str()]);

    // Gone from the store and from the cache; the bot stays, and works.
    assert_eq!(
        keys(store.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );
    assert!(matches!(
        a.manager.access_token(&user).await,
        Err(Error::InstallationNotFound { .. })
    ));
    let bot_token = a.manager.access_token(&bot).await.unwrap();
    let test = slack.auth_test(&bot_token).await.unwrap();
    assert_eq!(test.team_id.as_deref(), Some("T1"));
    assert!(store.installation(&t("T1")).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_is_gone_on_two_replicas_sharing_postgresql_within_the_bound() {
    let Some(pool) = oauth_itest::postgres_schema("sbx_events").await else {
        return;
    };
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let store_a: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool.clone(), None)
            .await
            .unwrap(),
    );
    let store_b: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool, None)
            .await
            .unwrap(),
    );
    let a = replica(&slack, store_a.clone(), "replica-a", SECRET).await;
    let b = replica(&slack, store_b, "replica-b", SECRET).await;
    // Slack sends to one request URL: the event reaches replica A only.
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T2", "Two", "U2"),
    )
    .await;
    let (t1_bot, t1_user) = (TokenKey::bot(t("T1")), TokenKey::user(t("T1"), "U1"));
    for key in [&t1_bot, &t1_user] {
        assert!(b.manager.access_token(key).await.is_ok(), "B caches {key}");
    }

    let revocation = sandbox.control().uninstall(ID, "T1").unwrap();
    assert_eq!(
        revocation.event_ids.len(),
        2,
        "tokens_revoked, then app_uninstalled"
    );
    let uninstalled = delivered(&sandbox, "app_uninstalled").await;
    let since = Instant::now();
    assert_eq!(
        uninstalled.status,
        DeliveryStatus::Delivered,
        "{uninstalled:?}"
    );
    assert_eq!(
        delivered(&sandbox, "tokens_revoked").await.status,
        DeliveryStatus::Delivered
    );
    assert!(b.seen.requests.lock().unwrap().is_empty());

    assert!(store_a.installation(&t("T1")).await.unwrap().is_none());
    assert!(store_a.token_keys(&t("T1")).await.unwrap().is_empty());
    for key in [&t1_bot, &t1_user] {
        assert!(matches!(
            a.manager.access_token(key).await,
            Err(Error::InstallationNotFound { .. })
        ));
        assert!(matches!(
            until_not_served(&b.manager, key, since).await,
            Error::InstallationNotFound { .. }
        ));
    }
    // T2 is untouched, on both.
    for replica in [&a, &b] {
        assert!(
            replica
                .manager
                .access_token(&TokenKey::bot(t("T2")))
                .await
                .is_ok()
        );
    }
    assert_eq!(
        keys(store_a.list(None).await.unwrap()),
        ["slack/T2#bot", "slack/T2#user:U2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_wide_uninstall_ends_every_workspaces_view_of_it() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let a = replica(&slack, store.clone(), "a", SECRET).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    let org = Consent::org_wide("E1", "Grid", "UADMIN", &["T1", "T2"]);
    install(&sandbox, &slack, &a.manager, org).await;
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T9", "Elsewhere", "U9"),
    )
    .await;
    let view = |team: &str| SlackContext::new(Some("E1"), Some(team), Some("UADMIN"), true);
    for team in ["T1", "T2"] {
        let tokens = authorize(&a.manager, &view(team)).await.unwrap();
        assert!(
            tokens.bot.is_some() && tokens.user.is_some(),
            "{team} is served by the org install"
        );
    }

    sandbox.control().uninstall(ID, "E1").unwrap();
    let event = delivered(&sandbox, "app_uninstalled").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    assert_eq!(event.envelope()["enterprise_id"], "E1");
    delivered(&sandbox, "tokens_revoked").await;

    for team in ["T1", "T2"] {
        assert!(
            matches!(
                authorize(&a.manager, &view(team)).await,
                Err(Error::InstallationNotFound { .. })
            ),
            "{team} is no longer served"
        );
    }
    let org_key = InstallationKey::organization(oauth_slack::PROVIDER, "E1");
    assert!(store.installation(&org_key).await.unwrap().is_none());
    assert_eq!(
        keys(store.list(None).await.unwrap()),
        ["slack/T9#bot", "slack/T9#user:U9"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_an_event_already_handled_is_answered_200_and_not_handled_again() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let a = replica(&slack, store.clone(), "a", SECRET).await;
    a.seen.fail_first.store(1, Ordering::Release);
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;

    sandbox
        .control()
        .revoke_user_tokens(ID, "T1", "U1")
        .unwrap();
    let event = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    let attempts: Vec<_> = event
        .attempts
        .iter()
        .map(|a| (a.retry_num, a.retry_reason.as_deref(), a.status))
        .collect();
    assert_eq!(
        attempts,
        [(0, None, Some(500)), (1, Some("http_error"), Some(200))]
    );
    let requests = a.seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].get("x-slack-retry-num").is_none());
    assert_eq!(requests[1]["x-slack-retry-num"], "1");
    assert_eq!(requests[1]["x-slack-retry-reason"], "http_error");
    // The handler ran once; the tokens went with the first delivery.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*a.seen.handled.lock().unwrap(), [event.event_id.as_str()]);
    assert_eq!(
        keys(store.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_secret_is_refused_401_and_changes_nothing() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    // The app verifies with another secret than the one the sandbox signs with.
    let a = replica(
        &slack,
        store.clone(),
        "a",
        "ffffffffffffffffffffffffffffffff",
    )
    .await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    let before = keys(store.list(None).await.unwrap());

    sandbox.control().uninstall(ID, "T1").unwrap();
    for event_type in ["tokens_revoked", "app_uninstalled"] {
        let event = delivered(&sandbox, event_type).await;
        assert_eq!(event.status, DeliveryStatus::Failed, "{event:?}");
        let statuses: Vec<_> = event
            .attempts
            .iter()
            .map(|a| (a.status, a.failure.as_deref()))
            .collect();
        assert_eq!(
            statuses,
            [(Some(401), Some("http_error")); 3],
            "the first and 2 retries"
        );
    }
    assert!(a.seen.handled.lock().unwrap().is_empty());
    assert_eq!(keys(store.list(None).await.unwrap()), before);
    assert!(store.installation(&t("T1")).await.unwrap().is_some());
    assert!(
        a.manager
            .access_token(&TokenKey::user(t("T1"), "U1"))
            .await
            .is_ok()
    );
}
