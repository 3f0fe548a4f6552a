//! Forgetting token sets the provider already ended (Slack's `tokens_revoked` and
//! `app_uninstalled` events): deleted from the store without calling the provider, and dropped
//! from this manager's cache at once. Other replicas stop serving them within
//! [`ManagerConfig::revalidate_interval`](crate::ManagerConfig::revalidate_interval) (see
//! `revalidate.rs`).

use oauth_core::{InstallationKey, Result, TokenKey};

use crate::events::{TokenEvent, emit};
use crate::manager::TokenManager;

impl TokenManager {
    /// Deletes one token set (the bot's, or one user's) from the store **without** revoking it
    /// at the provider, for a token the provider already ended (a revocation it announced), and
    /// forgets it here at once; the installation and its other token sets stay. Whether it
    /// existed: forgetting it again changes nothing.
    ///
    /// Each removal is a [`TokenEvent::Removed`] with `reason`. A refresh of this process in
    /// flight finishes first; one of another replica finds the row gone and drops its tokens.
    /// Other replicas stop serving it within
    /// [`ManagerConfig::revalidate_interval`](crate::ManagerConfig::revalidate_interval) plus one
    /// store read.
    pub async fn forget(&self, key: &TokenKey, reason: &str) -> Result<bool> {
        self.check_provider(key)?;
        let (slot, work) = self.lock_work(key).await;
        let existed = self.inner.store.delete(key).await?;
        slot.cached.store(None);
        drop(work);
        self.inner.discard(key, slot);
        if existed {
            self.removed(key, reason);
        }
        Ok(existed)
    }

    /// Deletes an installation (its record and every token set) from the store **without**
    /// revoking anything at the provider, for an installation the provider already ended (an
    /// uninstall it announced), and forgets its token sets here at once. The token sets removed
    /// (none if it was already gone), each also a [`TokenEvent::Removed`] with `reason`; other
    /// replicas as for [`forget`](Self::forget).
    pub async fn forget_installation(
        &self,
        installation: &InstallationKey,
        reason: &str,
    ) -> Result<Vec<TokenKey>> {
        let keys = self.inner.store.token_keys(installation).await?;
        for key in &keys {
            self.check_provider(key)?;
        }
        // The work locks in key order (as `save_grant` takes them): no refresh of this process
        // runs across the deletion.
        let mut ordered = keys.clone();
        ordered.sort();
        ordered.dedup();
        let mut locked = Vec::with_capacity(ordered.len());
        for key in &ordered {
            locked.push(self.lock_work(key).await);
        }
        self.inner.store.delete_installation(installation).await?;
        for (key, (slot, work)) in ordered.iter().zip(locked) {
            slot.cached.store(None);
            drop(work);
            self.inner.discard(key, slot);
        }
        for key in &keys {
            self.removed(key, reason);
        }
        Ok(keys)
    }

    fn removed(&self, key: &TokenKey, reason: &str) {
        emit(
            self.inner.hook.as_ref(),
            TokenEvent::Removed {
                key: key.clone(),
                reason: reason.to_owned(),
            },
        );
    }
}
