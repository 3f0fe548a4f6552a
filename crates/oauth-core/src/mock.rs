//! mockall mocks of every trait (feature `mock`), for users' tests.
//!
//! `MockTokenProvider` implements [`TokenProvider`](crate::TokenProvider) (and so
//! [`TokenGrant`](crate::TokenGrant), [`Introspect`](crate::Introspect) and
//! [`Revoke`](crate::Revoke)) and can stand wherever an `Arc<dyn TokenProvider>` is expected. Make it with
//! [`MockTokenProvider::for_provider`] when a token manager or an install flow will use it: they
//! ask for its `provider_id()`, which a bare `MockTokenProvider::new()` does not answer. The mocks of the
//! single traits are `MockTokenGrant`, `MockIntrospect`, `MockRevoke`; `MockStateStore` mocks
//! [`StateStore`](crate::StateStore), `MockHttpTransport` mocks
//! [`HttpTransport`](crate::http::HttpTransport) and `MockClock` mocks [`Clock`](crate::Clock).
//! [`FaultyStore`] (from [`store::faults`](crate::store::faults)) is a real store with faults
//! injected, for tests of what happens when the database fails.
#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

pub use crate::store::faults::{FaultAction, FaultyStore, Gate, StoreFault, StoreOp};
pub use generated::{
    MockClock, MockHttpTransport, MockIntrospect, MockRevoke, MockStateStore, MockTokenGrant,
    MockTokenProvider,
};

/// mockall's expansion, kept private so that only the mocks show (its `__mock_*` helper modules do
/// not reach the docs).
mod generated {
    use async_trait::async_trait;
    use url::Url;

    use crate::authorize::{AuthorizationRequest, CsrfState};
    use crate::clock::Clock;
    use crate::error::{Result, TransportError};
    use crate::http::{HttpRequest, HttpResponse, HttpTransport};
    use crate::installation::Grant;
    use crate::provider::{CodeExchange, Introspect, Revoke, TokenGrant, TokenProvider};
    use crate::secret::{AccessToken, RefreshToken};
    use crate::state::{PendingAuthorization, StateStore};
    use crate::token::{ProviderId, TokenInfo, TokenSet};

    mockall::mock! {
        /// A mock of the whole provider.
        pub TokenProvider {}

        #[async_trait]
        impl TokenGrant for TokenProvider {
            async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant>;
            async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet>;
        }

        #[async_trait]
        impl Introspect for TokenProvider {
            async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo>;
        }

        #[async_trait]
        impl Revoke for TokenProvider {
            async fn revoke(&self, token: &AccessToken) -> Result<()>;
        }

        impl TokenProvider for TokenProvider {
            fn provider_id(&self) -> ProviderId;
            fn authorization_url(&self, request: &AuthorizationRequest) -> Result<Url>;
        }
    }

    impl MockTokenProvider {
        /// A mock whose `provider_id()` answers `provider`, as often as asked (the token manager, the
        /// install flow and the stores ask for it): set the other expectations as usual.
        ///
        /// ```
        /// use oauth_core::{ProviderId, TokenProvider as _};
        /// let mock = oauth_core::mock::MockTokenProvider::for_provider(ProviderId::from_static("slack"));
        /// assert_eq!(mock.provider_id().as_str(), "slack");
        /// assert_eq!(mock.provider_id().as_str(), "slack");
        /// ```
        pub fn for_provider(provider: ProviderId) -> Self {
            let mut mock = Self::new();
            mock.expect_provider_id().return_const(provider);
            mock
        }
    }

    mockall::mock! {
        /// A mock of [`TokenGrant`] alone.
        pub TokenGrant {}

        #[async_trait]
        impl TokenGrant for TokenGrant {
            async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant>;
            async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet>;
        }
    }

    mockall::mock! {
        /// A mock of [`Introspect`] alone.
        pub Introspect {}

        #[async_trait]
        impl Introspect for Introspect {
            async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo>;
        }
    }

    mockall::mock! {
        /// A mock of [`Revoke`] alone.
        pub Revoke {}

        #[async_trait]
        impl Revoke for Revoke {
            async fn revoke(&self, token: &AccessToken) -> Result<()>;
        }
    }

    mockall::mock! {
        /// A mock of [`StateStore`].
        pub StateStore {}

        impl std::fmt::Debug for StateStore {
            fn fmt<'a>(&self, f: &mut std::fmt::Formatter<'a>) -> std::fmt::Result;
        }

        #[async_trait]
        impl StateStore for StateStore {
            async fn save(&self, state: &CsrfState, pending: PendingAuthorization) -> Result<()>;
            async fn take(&self, state: &str) -> Result<PendingAuthorization>;
        }
    }

    mockall::mock! {
        /// A mock of [`HttpTransport`]: script responses and transport failures without a server.
        pub HttpTransport {}

        impl std::fmt::Debug for HttpTransport {
            fn fmt<'a>(&self, f: &mut std::fmt::Formatter<'a>) -> std::fmt::Result;
        }

        #[async_trait]
        impl HttpTransport for HttpTransport {
            async fn send(&self, request: HttpRequest) -> std::result::Result<HttpResponse, TransportError>;
        }
    }

    mockall::mock! {
        /// A mock of [`Clock`] (see also [`ManualClock`](crate::ManualClock)).
        pub Clock {}

        impl std::fmt::Debug for Clock {
            fn fmt<'a>(&self, f: &mut std::fmt::Formatter<'a>) -> std::fmt::Result;
        }

        impl Clock for Clock {
            fn now(&self) -> std::time::SystemTime;
        }
    }

    impl std::fmt::Debug for MockTokenProvider {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("MockTokenProvider")
        }
    }
}
