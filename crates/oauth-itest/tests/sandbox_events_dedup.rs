//! Slack's retries and signing-secret rotation through oauth-sandbox's deliveries to the facade's
//! events endpoint: a retry that reaches another replica sharing the store of handled events
//! (SQLite, PostgreSQL) is not handed to the app again, and while the signing secret rotates the
//! previous and the new secret are accepted, and no other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod events_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use events_support::*;
use oauth_core::{TokenStore, UsedStates};
use oauth_sandbox::{Consent, DEFAULT_SLACK_CLIENT_ID as ID, DeliveryStatus};

/// The first delivery reaches replica A, which handles it but whose answer is lost (500); the
/// retry reaches replica B, which shares the store of handled events: B answers 200, and the
/// app's handler ran once, on A.
async fn a_retry_on_another_replica_is_not_handled_twice(
    a_store: (Arc<dyn TokenStore>, Arc<dyn UsedStates>),
    b_store: (Arc<dyn TokenStore>, Arc<dyn UsedStates>),
) {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let a = replica_sharing(&slack, a_store.0.clone(), "a", SECRET, Some(a_store.1)).await;
    let b = replica_sharing(&slack, b_store.0, "b", SECRET, Some(b_store.1)).await;
    a.seen.fail_first.store(1, Ordering::Release);
    let url = balancer(vec![a.url.clone(), b.url.clone()]).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&url), Some(SECRET))
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
        .map(|a| (a.retry_num, a.status))
        .collect();
    assert_eq!(attempts, [(0, Some(500)), (1, Some(200))]);
    let b_requests = b.seen.requests.lock().unwrap().clone();
    assert_eq!(b_requests.len(), 1);
    assert_eq!(b_requests[0]["x-slack-retry-num"], "1");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*a.seen.handled.lock().unwrap(), [event.event_id.as_str()]);
    assert!(
        b.seen.handled.lock().unwrap().is_empty(),
        "B did not run the handler again"
    );
    assert_eq!(
        keys(a_store.0.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_replica_sharing_sqlite_is_not_handled_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let open = || async {
        Arc::new(
            oauth_store::SqliteTokenStore::open(path.to_str().unwrap())
                .await
                .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    a_retry_on_another_replica_is_not_handled_twice((a.clone(), a), (b.clone(), b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_replica_sharing_postgresql_is_not_handled_twice() {
    let Some(pool) = oauth_itest::postgres_schema("sbx_dedup").await else {
        return;
    };
    let open = || async {
        Arc::new(
            oauth_store::PostgresTokenStore::from_pool(pool.clone(), None)
                .await
                .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    a_retry_on_another_replica_is_not_handled_twice((a.clone(), a), (b.clone(), b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_signing_secret_rotates_both_secrets_are_accepted_and_no_other() {
    const NEW: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    const OTHER: &str = "00112233445566778899aabbccddeeff";
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    // The app verifies with the new secret and, until the rotation ends, the previous one; the
    // sandbox still signs with the previous one (SECRET).
    let a = replica_with(
        &slack,
        store.clone(),
        "a",
        (NEW, Some(SECRET)),
        None,
        SECRET,
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
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T2", "Two", "U2"),
    )
    .await;
    sandbox
        .control()
        .revoke_user_tokens(ID, "T1", "U1")
        .unwrap();
    let old = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(
        old.status,
        DeliveryStatus::Delivered,
        "the previous secret: {old:?}"
    );
    assert_eq!(
        keys(store.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );

    // Slack now signs with the new secret: accepted too.
    let b = replica_with(&slack, store.clone(), "b", (NEW, Some(SECRET)), None, NEW).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&b.url), Some(NEW))
        .unwrap();
    sandbox.control().clear_events();
    sandbox
        .control()
        .revoke_user_tokens(ID, "T2", "U2")
        .unwrap();
    let new = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(
        new.status,
        DeliveryStatus::Delivered,
        "the new secret: {new:?}"
    );
    assert_eq!(
        keys(store.token_keys(&t("T2")).await.unwrap()),
        ["slack/T2#bot"]
    );

    // A third secret is refused, and changes nothing.
    let c = replica_with(&slack, store.clone(), "c", (NEW, Some(SECRET)), None, OTHER).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&c.url), Some(OTHER))
        .unwrap();
    sandbox.control().clear_events();
    sandbox.control().uninstall(ID, "T2").unwrap();
    let refused = delivered(&sandbox, "app_uninstalled").await;
    assert_eq!(refused.status, DeliveryStatus::Failed, "{refused:?}");
    assert!(refused.attempts.iter().all(|a| a.status == Some(401)));
    assert_eq!(
        keys(store.token_keys(&t("T2")).await.unwrap()),
        ["slack/T2#bot"]
    );
    assert!(c.seen.handled.lock().unwrap().is_empty());
}
