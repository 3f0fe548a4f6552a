//! The in-memory token store, held to the conformance suite.

#[cfg(feature = "conformance")]
#[tokio::test]
async fn memory_store_conforms() {
    oauth_core::store::conformance::check_store(std::sync::Arc::new(
        oauth_core::MemoryTokenStore::new(),
    ))
    .await;
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_used_states_conform() {
    oauth_core::store::conformance::check_used_states(std::sync::Arc::new(
        oauth_core::MemoryUsedStates::new(),
    ))
    .await;
}
