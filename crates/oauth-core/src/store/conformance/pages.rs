//! Bounded reads: `list_page` (keyset pages in key order, limits, a provider filter, and walks
//! that stay exact while rows are inserted and deleted) and `due_for_refresh` (the expiry order,
//! what is never due, and its own keyset pages).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::sample;
use crate::installation::{InstallationKey, TokenKey};
use crate::store::{CasOutcome, DueToken, MAX_PAGE_SIZE, TokenStore};
use crate::token::ProviderId;

/// Installation keys whose byte order differs from a locale's order (upper case before lower
/// case, punctuation, non-ASCII), so a store that sorts by collation rather than by bytes fails.
const NAMES: [&str; 12] = [
    "T0", "T1", "T10", "T2", "a", "B", "b/c", "b#", "b", "é", "E1/T0", "Z",
];

fn keys_of(provider: &ProviderId) -> Vec<TokenKey> {
    let mut keys = Vec::new();
    for name in NAMES {
        let installation = InstallationKey::new(provider.clone(), name);
        keys.push(TokenKey::bot(installation.clone()));
        keys.push(TokenKey::user(installation, "U1"));
    }
    keys.sort();
    keys
}

/// Every page of `provider` with `limit`, checking each page's size and order; the keys in order.
async fn walk(
    store: &dyn TokenStore,
    provider: Option<&ProviderId>,
    limit: usize,
) -> Vec<TokenKey> {
    let mut seen = Vec::new();
    let mut after: Option<TokenKey> = None;
    loop {
        let page = store
            .list_page(provider, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(
            page.keys.len() <= limit.max(1),
            "a page holds at most `limit` keys"
        );
        for key in &page.keys {
            assert!(
                after.as_ref().is_none_or(|a| key > a),
                "pages are in key order, after `after`"
            );
            assert!(
                provider.is_none_or(|p| key.provider() == p),
                "the provider filter holds"
            );
            after = Some(key.clone());
        }
        seen.extend(page.keys.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.keys.last(),
                    Some(&next),
                    "`next` is the page's last key"
                );
                after = Some(next);
            }
            None => return seen,
        }
    }
}

/// Runs the paging checks with providers of its own; leaves the store as it found it.
pub(super) async fn check_pages(store: Arc<dyn TokenStore>) {
    let alpha = ProviderId::from_static("paging-a");
    let beta = ProviderId::from_static("paging-b");
    let expected = keys_of(&alpha);
    for key in expected.iter().chain(&keys_of(&beta)) {
        store.save(key, &sample("p", "p")).await.unwrap();
    }

    // Every limit walks the same keys, in byte order, each once.
    for limit in [
        1,
        2,
        5,
        expected.len() - 1,
        expected.len(),
        expected.len() + 1,
    ] {
        assert_eq!(
            walk(store.as_ref(), Some(&alpha), limit).await,
            expected,
            "a walk with pages of {limit} sees every key once, in byte order"
        );
    }
    let page = store.list_page(Some(&alpha), None, 0).await.unwrap();
    assert_eq!(
        page.keys.len(),
        1,
        "a limit of 0 is read as 1, so a walk advances"
    );
    let page = store
        .list_page(Some(&alpha), None, usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        page.keys, expected,
        "a huge limit is cut to MAX_PAGE_SIZE, not refused"
    );
    assert!(expected.len() < MAX_PAGE_SIZE);
    assert_eq!(page.next, None, "a short page is the last");
    let last = expected.last().unwrap();
    let page = store.list_page(Some(&alpha), Some(last), 10).await.unwrap();
    assert_eq!(
        (page.keys.len(), page.next),
        (0, None),
        "nothing after the last key"
    );
    let before_all = TokenKey::bot(InstallationKey::new(ProviderId::from_static("paging"), "x"));
    let page = store
        .list_page(Some(&beta), Some(&before_all), 3)
        .await
        .unwrap();
    assert_eq!(
        page.keys,
        keys_of(&beta)[..3],
        "`after` of another provider: from the start"
    );
    let all: BTreeSet<TokenKey> = walk(store.as_ref(), None, 7).await.into_iter().collect();
    assert!(
        expected
            .iter()
            .chain(&keys_of(&beta))
            .all(|k| all.contains(k)),
        "a walk over every provider sees both providers' keys"
    );

    // Inserts and deletes during a walk: keys there throughout are seen once, deleted keys not
    // yet reached are not seen, nothing twice, order kept.
    let mut seen = Vec::new();
    let mut after: Option<TokenKey> = None;
    let mut round = 0;
    let deleted: Vec<TokenKey> = expected.iter().skip(3).step_by(4).cloned().collect();
    loop {
        let page = store
            .list_page(Some(&alpha), after.as_ref(), 3)
            .await
            .unwrap();
        seen.extend(page.keys.iter().cloned());
        // Between pages: insert keys before and after the cursor, delete one not yet reached.
        round += 1;
        for name in [format!("0-{round}"), format!("zz-{round}")] {
            let key = TokenKey::bot(InstallationKey::new(alpha.clone(), name));
            store.save(&key, &sample("p", "p")).await.unwrap();
        }
        if let Some(gone) = deleted.get(round - 1) {
            store.delete(gone).await.unwrap();
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted, seen,
        "no key twice, and in order, while rows come and go"
    );
    for key in expected.iter().filter(|k| !deleted.contains(k)) {
        assert!(seen.contains(key), "{key}, there throughout, is seen");
    }
    assert!(
        seen.iter()
            .all(|k| !k.installation().key().starts_with("0-")),
        "keys inserted behind the cursor are not seen"
    );

    // Clean up: every key of both providers, including those inserted during the walk.
    for key in walk(store.as_ref(), Some(&alpha), 50).await {
        store.delete(&key).await.unwrap();
    }
    for key in keys_of(&beta) {
        store.delete(&key).await.unwrap();
    }
    assert!(walk(store.as_ref(), Some(&alpha), 5).await.is_empty());

    check_due(store.as_ref()).await;
}

/// `due_for_refresh`: by expiry then key; before the bound only; never a token set without a
/// refresh token, without an expiry, or marked for re-authorization.
async fn check_due(store: &dyn TokenStore) {
    let provider = ProviderId::from_static("paging-due");
    // Long before anything the other checks store (those expire in 2023).
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let key = |name: &str| TokenKey::bot(InstallationKey::new(provider.clone(), name));
    let mut expected = Vec::new();
    for (i, name) in ["d", "c", "b", "a", "e"].iter().enumerate() {
        let mut tokens = sample("p", "p");
        // "a" and "b" expire together: ordered by key.
        let offset = if i >= 2 { 2 } else { i as u64 };
        tokens.expires_at = Some(base + Duration::from_secs(offset * 60));
        store.save(&key(name), &tokens).await.unwrap();
        expected.push(DueToken::new(
            key(name),
            base + Duration::from_secs(offset * 60),
        ));
    }
    expected.sort();
    let mut later = sample("p", "p");
    later.expires_at = Some(base + Duration::from_secs(3600));
    store.save(&key("later"), &later).await.unwrap();
    let mut no_refresh = sample("p", "p");
    no_refresh.refresh_token = None;
    no_refresh.expires_at = Some(base);
    store.save(&key("no-refresh"), &no_refresh).await.unwrap();
    let mut no_expiry = sample("p", "p");
    no_expiry.expires_at = None;
    store.save(&key("no-expiry"), &no_expiry).await.unwrap();
    let mut marked = sample("p", "p");
    marked.expires_at = Some(base);
    let version = store.save(&key("marked"), &marked).await.unwrap();
    assert!(matches!(
        store
            .mark_needs_reauthorization(&key("marked"), version, "invalid_grant")
            .await
            .unwrap(),
        CasOutcome::Swapped { .. }
    ));

    let bound = base + Duration::from_secs(600);
    let due = store.due_for_refresh(bound, None, 100).await.unwrap();
    assert_eq!(
        due, expected,
        "due: refreshable, expiring by the bound, earliest first, then by key"
    );
    let mut paged = Vec::new();
    let mut after: Option<DueToken> = None;
    loop {
        let page = store
            .due_for_refresh(bound, after.as_ref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last().cloned() else {
            break;
        };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(
        paged, expected,
        "pages of due token sets, each after the last"
    );
    let first = store.due_for_refresh(base, None, 100).await.unwrap();
    assert_eq!(first, expected[..1], "the bound is inclusive");
    // A refresh moves a token set out of the due range.
    let mut refreshed = sample("p2", "p2");
    refreshed.expires_at = Some(base + Duration::from_secs(7200));
    let stored = store.get(&expected[0].key).await.unwrap().unwrap();
    store
        .compare_and_swap(&expected[0].key, stored.version, &refreshed)
        .await
        .unwrap();
    let due = store.due_for_refresh(bound, None, 100).await.unwrap();
    assert_eq!(due, expected[1..], "a refreshed token set is no longer due");

    for name in [
        "a",
        "b",
        "c",
        "d",
        "e",
        "later",
        "no-refresh",
        "no-expiry",
        "marked",
    ] {
        store.delete(&key(name)).await.unwrap();
    }
}
