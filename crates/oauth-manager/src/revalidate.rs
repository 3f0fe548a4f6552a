//! How a replica learns, without making a caller wait, that a token set it caches was deleted or
//! marked in the store by another replica (an uninstall, a revocation, a refused refresh), or
//! refreshed there: every [`ManagerConfig::revalidate_interval`], the first caller served from
//! the cache starts one store read in the background.
//!
//! A token set deleted from the store is therefore served by a replica that cached it for at most
//! `revalidate_interval` plus one store read after the deletion; the replica that deleted it
//! through [`TokenManager::forget`](crate::TokenManager::forget) and friends forgets it at once.
//!
//! [`ManagerConfig::revalidate_interval`]: crate::ManagerConfig::revalidate_interval

use std::sync::Arc;

use oauth_core::{TokenKey, TokenSet};

use crate::manager::Inner;
use crate::slot::{Cached, Slot};

impl Inner {
    /// A cache entry for tokens read from (or just written to) the store now.
    pub(crate) fn entry(&self, tokens: TokenSet, version: u64) -> Cached {
        Cached::new(tokens, version, self.config.refresh_margin)
            .revalidate_after(self.clock.now(), self.config.revalidate_interval)
    }

    /// Looks at the store again for `seen`, in a task of its own: drops it from the cache if its
    /// token set was deleted or marked for re-authorization, takes the stored tokens if another
    /// replica wrote newer ones. Skipped while a refresh, save or removal of this process works on
    /// the token set (it reads the store itself).
    pub(crate) fn revalidate(
        self: &Arc<Self>,
        key: &TokenKey,
        slot: &Arc<Slot>,
        seen: Arc<Cached>,
    ) {
        let (inner, key, slot) = (self.clone(), key.clone(), slot.clone());
        tokio::spawn(async move {
            let Ok(work) = slot.work.clone().try_lock_owned() else {
                return;
            };
            if slot.is_evicted() {
                return;
            }
            let still_cached = slot
                .cached
                .load()
                .as_ref()
                .is_some_and(|cached| Arc::ptr_eq(cached, &seen));
            if !still_cached {
                return;
            }
            match inner.store.get(&key).await {
                Ok(None) => {
                    slot.cached.store(None);
                    tracing::info!(token_set = %key, "deleted from the store by another replica: no longer served");
                    drop(work);
                    inner.discard(&key, slot);
                }
                Ok(Some(stored)) if stored.needs_reauthorization.is_some() => {
                    slot.cached.store(None);
                    tracing::info!(token_set = %key, "marked for re-authorization by another replica: no longer served");
                    drop(work);
                    inner.discard(&key, slot);
                }
                Ok(Some(stored)) if stored.version != seen.version => {
                    inner.cache(&slot, &stored);
                }
                Ok(Some(_)) => {}
                Err(error) => {
                    tracing::debug!(token_set = %key, %error, "could not look at the store again; trying at the next interval");
                }
            }
        });
    }
}
