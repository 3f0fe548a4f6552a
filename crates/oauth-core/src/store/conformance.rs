//! The behaviour every [`TokenStore`] must have, as one async function that store implementations
//! call from their tests (feature `conformance`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use oauth_core::MemoryTokenStore;
//! oauth_core::store::conformance::check_store(Arc::new(MemoryTokenStore::new())).await;
//! # });
//! ```
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{CasOutcome, InstallationKey, TokenStore};
use crate::scope::Scopes;
use crate::secret::{AccessToken, RefreshToken};
use crate::token::{Grantee, ProviderId, TokenSet, TokenType};

fn sample(access: &str, refresh: &str) -> TokenSet {
    let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut tokens = TokenSet::new(
        ProviderId::from_static("slack"),
        AccessToken::new(access),
        TokenType::Bot,
        issued,
    );
    tokens.refresh_token = Some(RefreshToken::new(refresh));
    tokens.set_expires_in(43_200);
    tokens.scopes = Scopes::parse("chat:write,commands");
    let mut grantee = Grantee::new();
    grantee.workspace_id = Some("T1".into());
    grantee.bot_id = Some("U1".into());
    tokens.grantee = grantee;
    tokens.extras.insert("app_id", "A1".into());
    tokens
}

fn expect_swapped(outcome: CasOutcome, what: &str) -> u64 {
    match outcome {
        CasOutcome::Swapped { version } => version,
        CasOutcome::Conflict { .. } => panic!("{what}: expected a swap, got a conflict"),
    }
}

/// Runs every check against `store`, which must start empty. Panics with a description of the
/// first behaviour that differs. Takes a few hundred milliseconds (lease expiry uses real time).
pub async fn check_store(store: Arc<dyn TokenStore>) {
    let slack = ProviderId::from_static("slack");
    let notion = ProviderId::from_static("notion");
    let key = InstallationKey::new(slack.clone(), "E1:T1:U1");

    // Reads and unconditional saves.
    assert!(
        store.get(&key).await.unwrap().is_none(),
        "an empty store has nothing"
    );
    let v1 = store
        .save(&key, &sample("xoxe.xoxb-1-a", "xoxe-1-a"))
        .await
        .unwrap();
    let stored = store.get(&key).await.unwrap().expect("saved installation");
    assert_eq!(stored.version, v1);
    assert_eq!(stored.key, key);
    assert_eq!(
        stored.tokens,
        sample("xoxe.xoxb-1-a", "xoxe-1-a"),
        "token sets round-trip exactly"
    );
    assert_eq!(stored.needs_reauthorization, None);
    let v2 = store
        .save(&key, &sample("xoxe.xoxb-1-b", "xoxe-1-b"))
        .await
        .unwrap();
    assert!(v2 > v1, "every write raises the version");

    // Compare-and-swap.
    let v3 = expect_swapped(
        store
            .compare_and_swap(&key, v2, &sample("xoxe.xoxb-1-c", "xoxe-1-c"))
            .await
            .unwrap(),
        "CAS at the current version",
    );
    assert!(v3 > v2);
    match store
        .compare_and_swap(&key, v2, &sample("stale", "stale"))
        .await
        .unwrap()
    {
        CasOutcome::Conflict {
            current: Some(current),
        } => {
            assert_eq!(current.version, v3);
            assert_eq!(current.tokens.access_token.expose_secret(), "xoxe.xoxb-1-c");
        }
        other => panic!("CAS at a stale version must conflict with the current row: {other:?}"),
    }
    let missing = InstallationKey::new(slack.clone(), "nobody");
    assert!(
        matches!(
            store
                .compare_and_swap(&missing, 1, &sample("x", "y"))
                .await
                .unwrap(),
            CasOutcome::Conflict { current: None }
        ),
        "CAS on a missing installation conflicts"
    );
    assert!(
        store.get(&missing).await.unwrap().is_none(),
        "and creates nothing"
    );

    // Exactly one of many concurrent writers from the same version wins.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            store
                .compare_and_swap(&key, v3, &sample(&format!("race-{i}"), "r"))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), CasOutcome::Swapped { .. }) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent compare-and-swap wins");
    let v4 = store.get(&key).await.unwrap().unwrap().version;

    // Re-authorization mark.
    let v5 = expect_swapped(
        store
            .mark_needs_reauthorization(&key, v4, "invalid_refresh_token")
            .await
            .unwrap(),
        "mark at the current version",
    );
    let marked = store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        marked.needs_reauthorization.as_deref(),
        Some("invalid_refresh_token")
    );
    assert_eq!(marked.version, v5);
    assert!(matches!(
        store
            .mark_needs_reauthorization(&key, v4, "again")
            .await
            .unwrap(),
        CasOutcome::Conflict { .. }
    ));
    store.save(&key, &sample("fresh", "fresh")).await.unwrap();
    assert_eq!(
        store
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .needs_reauthorization,
        None,
        "a new install clears the mark"
    );

    // Listing.
    let other = InstallationKey::new(slack.clone(), "E1:T0:U9");
    let doc = InstallationKey::new(notion.clone(), "bot-1");
    store.save(&other, &sample("o", "o")).await.unwrap();
    store.save(&doc, &sample("n", "n")).await.unwrap();
    assert_eq!(
        store.list(Some(&slack)).await.unwrap(),
        vec![other.clone(), key.clone()]
    );
    assert_eq!(store.list(Some(&notion)).await.unwrap(), vec![doc.clone()]);
    assert_eq!(store.list(None).await.unwrap().len(), 3);

    // Deletion.
    assert!(store.delete(&other).await.unwrap());
    assert!(
        !store.delete(&other).await.unwrap(),
        "deleting twice reports absence"
    );
    assert!(store.get(&other).await.unwrap().is_none());

    // Leases.
    let ttl = Duration::from_millis(300);
    let a = store
        .try_acquire_lease(&key, "holder-a", ttl)
        .await
        .unwrap()
        .expect("a free lease");
    assert_eq!(a.holder, "holder-a");
    assert!(
        store
            .try_acquire_lease(&key, "holder-b", ttl)
            .await
            .unwrap()
            .is_none(),
        "held by a"
    );
    assert!(
        store
            .try_acquire_lease(&doc, "holder-b", ttl)
            .await
            .unwrap()
            .is_some(),
        "leases are per installation"
    );
    let a2 = store
        .try_acquire_lease(&key, "holder-a", ttl)
        .await
        .unwrap()
        .expect("re-entrant for the holder");
    assert!(a2.fence > a.fence, "every grant raises the fence");
    store.release_lease(&a2).await.unwrap();
    let b = store
        .try_acquire_lease(&key, "holder-b", ttl)
        .await
        .unwrap()
        .expect("free after release");
    store.release_lease(&a).await.unwrap();
    assert!(
        store
            .try_acquire_lease(&key, "holder-c", ttl)
            .await
            .unwrap()
            .is_none(),
        "a stale release frees nothing"
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let c = store
        .try_acquire_lease(&key, "holder-c", ttl)
        .await
        .unwrap()
        .expect("an expired lease can be taken");
    assert!(c.fence > b.fence);
    store.release_lease(&b).await.unwrap();
    assert!(
        store
            .try_acquire_lease(&key, "holder-d", ttl)
            .await
            .unwrap()
            .is_none(),
        "the lapsed holder cannot free the new lease"
    );
    store.release_lease(&c).await.unwrap();

    // Renewal: the holder extends its lease (same fence) while nobody else was granted it.
    let short = Duration::from_millis(300);
    let r = store
        .try_acquire_lease(&key, "holder-r", short)
        .await
        .unwrap()
        .expect("a free lease");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let renewed = store
        .renew_lease(&r, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the holder renews its own lease");
    assert_eq!(renewed.fence, r.fence, "a renewal keeps the fence");
    assert!(
        renewed.expires_at > r.expires_at,
        "a renewal extends the lease"
    );
    tokio::time::sleep(Duration::from_millis(250)).await; // past the first time to live
    assert!(
        store
            .try_acquire_lease(&key, "holder-s", short)
            .await
            .unwrap()
            .is_none(),
        "a renewed lease still holds after its first time to live"
    );
    store.release_lease(&renewed).await.unwrap();
    assert!(
        store
            .renew_lease(&r, Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "a released lease cannot be renewed"
    );
    let lapsed = store
        .try_acquire_lease(&key, "holder-t", Duration::from_millis(100))
        .await
        .unwrap()
        .expect("free after release");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let revived = store
        .renew_lease(&lapsed, Duration::from_millis(300))
        .await
        .unwrap()
        .expect("a lapsed lease nobody took is still the holder's");
    assert_eq!(revived.fence, lapsed.fence);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = store
        .try_acquire_lease(&key, "holder-u", short)
        .await
        .unwrap()
        .expect("a lapsed lease can be taken");
    assert!(
        store
            .renew_lease(&lapsed, Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "a lease taken by another holder cannot be renewed"
    );
    assert!(
        store
            .try_acquire_lease(&key, "holder-t", short)
            .await
            .unwrap()
            .is_none(),
        "and the failed renewal did not take it back"
    );
    store.release_lease(&taken).await.unwrap();

    // Huge times to live saturate: the lease is granted and holds.
    let forever = store
        .try_acquire_lease(&doc, "holder-v", Duration::MAX)
        .await
        .unwrap()
        .expect("a lease with a huge time to live");
    assert!(forever.expires_at > SystemTime::now() + Duration::from_secs(3600));
    assert!(
        store
            .try_acquire_lease(&doc, "holder-w", short)
            .await
            .unwrap()
            .is_none(),
        "a huge time to live does not mean already lapsed"
    );
    assert!(
        store
            .renew_lease(&forever, Duration::MAX)
            .await
            .unwrap()
            .is_some()
    );
    store.release_lease(&forever).await.unwrap();
}
