//! [`TokenManager::list_page`]: this manager's token sets, a page at a time.

use oauth_core::{Page, Result, TokenKey};

use crate::manager::TokenManager;

impl TokenManager {
    /// One page of this manager's provider's token sets in the store, ordered by key: at most
    /// `limit` (cut to 1..=10,000), each after `after`; pass the page's `next` as `after` for
    /// the next one (see [`TokenStore::list_page`](oauth_core::TokenStore::list_page)). Prefer it
    /// to [`list`](Self::list), which holds every key at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> oauth_core::Result<()> {
    /// # use std::sync::Arc;
    /// # use oauth_core::{MemoryTokenStore, TokenProvider};
    /// # use oauth_manager::TokenManager;
    /// # let mock = oauth_core::mock::MockTokenProvider::for_provider(oauth_core::ProviderId::from_static("slack"));
    /// # let provider: Arc<dyn TokenProvider> = Arc::new(mock);
    /// # let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new())).build()?;
    /// let mut after = None;
    /// loop {
    ///     let page = manager.list_page(after.as_ref(), 500).await?;
    ///     for key in &page.keys {
    ///         println!("{key}");
    ///     }
    ///     match page.next {
    ///         Some(next) => after = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_page(&self, after: Option<&TokenKey>, limit: usize) -> Result<Page> {
        let provider = self.inner.provider.provider_id();
        self.inner
            .store
            .list_page(Some(&provider), after, limit)
            .await
    }
}
