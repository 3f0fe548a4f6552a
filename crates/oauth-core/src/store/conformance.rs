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

mod pages;
mod used_states;

pub use used_states::check_used_states;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{CasOutcome, TokenStore};
use crate::installation::{Grant, Installation, InstallationKey, Principal, TokenKey};
use crate::scope::Scopes;
use crate::secret::{AccessToken, InstallationSecret, RefreshToken};
use crate::token::{Grantee, ProviderId, TokenSet, TokenType};

fn sample(access: &str, refresh: &str) -> TokenSet {
    let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut tokens = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new(access))
        .token_type(TokenType::Bot)
        .issued_at(issued)
        .build();
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
    let key = TokenKey::bot(InstallationKey::workspace(slack.clone(), Some("E1"), "T1"));

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
    let missing = TokenKey::bot(InstallationKey::new(slack.clone(), "nobody"));
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
    let other = TokenKey::bot(InstallationKey::workspace(slack.clone(), Some("E1"), "T0"));
    let doc = TokenKey::bot(InstallationKey::new(notion.clone(), "bot-1"));
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

    check_installations(store.as_ref()).await;
    pages::check_pages(store).await;
}

fn installation(key: &InstallationKey, app: &str) -> Installation {
    let mut installation = Installation::new(
        key.clone(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    installation.details.insert("app_id", app.into());
    installation.secrets.insert(
        "incoming_webhook_url",
        InstallationSecret::new(format!("https://hooks.slack.com/services/{app}/s3cr3t")),
    );
    installation
}

/// Installations: a grant's record and token sets written together, reinstalls replacing what
/// they bring and keeping the rest, and deletion by token set, installation and organisation.
async fn check_installations(store: &dyn TokenStore) {
    let slack = ProviderId::from_static("slack");
    let workspace = InstallationKey::workspace(slack.clone(), Some("E7"), "T7");
    let org = InstallationKey::organization(slack.clone(), "E7");
    let elsewhere = InstallationKey::workspace(slack.clone(), Some("E8"), "T8");
    let alice = Principal::User("UALICE".into());
    let bob = Principal::User("UBOB".into());

    // An install with bot and user scopes: the record and both token sets.
    let grant = Grant::new(installation(&workspace, "A1"))
        .with_tokens(Principal::Bot, sample("xoxe.xoxb-1-g1", "xoxe-1-g1"))
        .with_tokens(alice.clone(), sample("xoxe.xoxp-1-alice", "xoxe-1-alice"));
    let written = store.save_grant(&grant).await.unwrap();
    assert_eq!(
        written.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        vec![
            grant.token_key(Principal::Bot),
            grant.token_key(alice.clone())
        ],
        "save_grant reports each token set, in the grant's order"
    );
    let record = store
        .installation(&workspace)
        .await
        .unwrap()
        .expect("the record");
    assert_eq!(
        record, grant.installation,
        "records round-trip, secrets included"
    );
    assert_eq!(
        store.token_keys(&workspace).await.unwrap(),
        vec![
            grant.token_key(Principal::Bot),
            grant.token_key(alice.clone())
        ]
    );
    let bot = store
        .get(&grant.token_key(Principal::Bot))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bot.tokens, sample("xoxe.xoxb-1-g1", "xoxe-1-g1"));

    // A marked bot token set; then a reinstall by another installer: new record, new bot tokens
    // (mark cleared, version up), and alice's token set untouched.
    store
        .mark_needs_reauthorization(&bot.key, bot.version, "invalid_refresh_token")
        .await
        .unwrap();
    let reinstall = Grant::new(installation(&workspace, "A1-again"))
        .with_tokens(Principal::Bot, sample("xoxe.xoxb-1-g2", "xoxe-1-g2"));
    store.save_grant(&reinstall).await.unwrap();
    let bot2 = store.get(&bot.key).await.unwrap().unwrap();
    assert_eq!(bot2.tokens, sample("xoxe.xoxb-1-g2", "xoxe-1-g2"));
    assert!(bot2.version > bot.version);
    assert_eq!(
        bot2.needs_reauthorization, None,
        "a reinstall clears the mark"
    );
    assert_eq!(
        store.installation(&workspace).await.unwrap().unwrap(),
        reinstall.installation,
        "the record is replaced"
    );
    assert_eq!(
        store
            .get(&grant.token_key(alice.clone()))
            .await
            .unwrap()
            .unwrap()
            .tokens,
        sample("xoxe.xoxp-1-alice", "xoxe-1-alice"),
        "other users' token sets stay"
    );
    // A second user authorizes user scopes only: their token set is added, and the record (the
    // bot's details, the webhook) stays as the install left it.
    let second = Grant::new(installation(&workspace, "B-user-only"))
        .with_tokens(bob.clone(), sample("xoxe.xoxp-1-bob", "xoxe-1-bob"));
    assert!(!second.is_install());
    store.save_grant(&second).await.unwrap();
    assert_eq!(store.token_keys(&workspace).await.unwrap().len(), 3);
    assert_eq!(
        store.installation(&workspace).await.unwrap().unwrap(),
        reinstall.installation,
        "a grant without the bot's token set keeps the record"
    );
    // A user-only install where the app was not installed creates the record.
    let user_only = InstallationKey::workspace(slack.clone(), None, "T9");
    let first_user = Grant::new(installation(&user_only, "U-only"))
        .with_tokens(bob.clone(), sample("xoxe.xoxp-1-bob9", "xoxe-1-bob9"));
    store.save_grant(&first_user).await.unwrap();
    assert_eq!(
        store.installation(&user_only).await.unwrap(),
        Some(first_user.installation.clone())
    );
    assert!(store.delete_installation(&user_only).await.unwrap());

    // Leases are per token set: the bot's and a user's do not exclude each other.
    let ttl = Duration::from_secs(5);
    let bot_lease = store
        .try_acquire_lease(&bot.key, "holder-x", ttl)
        .await
        .unwrap()
        .expect("the bot's lease");
    assert!(
        store
            .try_acquire_lease(&grant.token_key(alice.clone()), "holder-y", ttl)
            .await
            .unwrap()
            .is_some(),
        "a user's lease is its own"
    );

    // One user's tokens go; the rest stay.
    assert!(store.delete(&grant.token_key(bob.clone())).await.unwrap());
    assert_eq!(store.token_keys(&workspace).await.unwrap().len(), 2);
    assert!(store.installation(&workspace).await.unwrap().is_some());

    // An organisation: its workspace install and its org-wide install go together; another
    // organisation's stays.
    let org_grant = Grant::new(installation(&org, "A1"))
        .with_tokens(Principal::Bot, sample("xoxe.xoxb-1-org", "xoxe-1-org"));
    store.save_grant(&org_grant).await.unwrap();
    let other_grant = Grant::new(installation(&elsewhere, "A1"))
        .with_tokens(Principal::Bot, sample("xoxe.xoxb-1-e8", "xoxe-1-e8"));
    store.save_grant(&other_grant).await.unwrap();
    let mut expected = vec![workspace.clone(), org.clone()];
    expected.sort();
    assert_eq!(
        store.enterprise_installations(&slack, "E7").await.unwrap(),
        expected,
        "an organisation's installations, in key order"
    );
    let mut deleted = store.delete_enterprise(&slack, "E7").await.unwrap();
    deleted.sort();
    assert_eq!(deleted, expected);
    for key in [&workspace, &org] {
        assert!(store.installation(key).await.unwrap().is_none());
        assert!(store.token_keys(key).await.unwrap().is_empty());
    }
    assert!(
        store
            .try_acquire_lease(&bot.key, "holder-z", ttl)
            .await
            .unwrap()
            .is_some(),
        "a deleted installation's leases go with it"
    );
    drop(bot_lease);
    assert!(store.installation(&elsewhere).await.unwrap().is_some());
    assert!(
        store
            .delete_enterprise(&slack, "E7")
            .await
            .unwrap()
            .is_empty(),
        "deleting again finds nothing"
    );

    // An installation is deleted whole: record and token sets.
    assert!(store.delete_installation(&elsewhere).await.unwrap());
    assert!(!store.delete_installation(&elsewhere).await.unwrap());
    assert!(
        store
            .get(&other_grant.token_key(Principal::Bot))
            .await
            .unwrap()
            .is_none()
    );
}
