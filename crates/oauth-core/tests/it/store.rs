//! The in-memory token store, held to the conformance suite.

#[cfg(feature = "conformance")]
#[tokio::test]
async fn memory_store_conforms() {
    oauth_core::store::conformance::check_store(std::sync::Arc::new(
        oauth_core::MemoryTokenStore::new(),
    ))
    .await;
}
