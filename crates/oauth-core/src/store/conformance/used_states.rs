//! The behaviour every [`UsedStates`] store must have.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::used_states::{StateId, StateUse, UsedStates};

/// A fresh random id, so that runs against a shared database never meet.
fn fresh_id(what: &str) -> StateId {
    let mut bytes = [0u8; 16];
    crate::authorize::os_random(&mut bytes).expect("the OS random number generator");
    StateId::of(&format!("{what}/{bytes:?}"))
}

/// Runs every check against `store`. Panics with a description of the first behaviour that
/// differs. Uses the real clock: the store may enforce expiry with its own (a database's).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use oauth_core::MemoryUsedStates;
/// oauth_core::store::conformance::check_used_states(Arc::new(MemoryUsedStates::new())).await;
/// # });
/// ```
pub async fn check_used_states(store: Arc<dyn UsedStates>) {
    let hour = SystemTime::now() + Duration::from_secs(3600);

    // Single use.
    let id = fresh_id("single use");
    assert_eq!(store.record_use(&id, hour).await.unwrap(), StateUse::First);
    for attempt in 0..3 {
        assert_eq!(
            store.record_use(&id, hour).await.unwrap(),
            StateUse::Replayed,
            "a second use (attempt {attempt}) must be refused"
        );
    }
    // Another id is independent.
    let other = fresh_id("other");
    assert_eq!(
        store.record_use(&other, hour).await.unwrap(),
        StateUse::First
    );

    // Expired by the store's clock: refused and not recorded.
    let late = fresh_id("expired");
    let past = SystemTime::now() - Duration::from_secs(5);
    assert_eq!(
        store.record_use(&late, past).await.unwrap(),
        StateUse::Expired,
        "a state whose expiry has passed must be refused"
    );
    assert_eq!(
        store.record_use(&late, past).await.unwrap(),
        StateUse::Expired,
        "an expired state is never recorded, so it stays expired, not replayed"
    );

    // Expired records going does not take a live one with them.
    for n in 0..20 {
        let _ = store
            .record_use(&fresh_id(&format!("expired {n}")), past)
            .await;
    }
    assert_eq!(
        store.record_use(&id, hour).await.unwrap(),
        StateUse::Replayed,
        "a live record survives the purge of expired ones"
    );

    // Concurrent uses of one state: exactly one first.
    let raced = fresh_id("raced");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_use(&raced, hour).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap() == StateUse::First {
            firsts += 1;
        }
    }
    assert_eq!(
        firsts, 1,
        "of 32 concurrent uses of one state, exactly one is first"
    );
}
