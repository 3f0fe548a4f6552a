//! Keeping the CSRF `state` (and the PKCE verifier) of authorizations in progress.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::authorize::{AuthorizationRequest, CsrfState};
use crate::clock::{Clock, SystemClock};
use crate::error::{CallbackError, Result};
use crate::secret::PkceVerifier;
use crate::token::ProviderId;

/// What must be remembered between sending the browser to the provider and the callback.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// The provider the authorization was started with.
    pub provider: Option<ProviderId>,
    /// The redirect URI sent in the authorization URL: the code exchange must repeat it.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier, if PKCE is on.
    pub pkce_verifier: Option<PkceVerifier>,
    /// When the authorization started.
    pub created_at: SystemTime,
    /// Application data to carry through (a `nonce`, a page to return to). Not secret.
    pub data: BTreeMap<String, String>,
}

impl PendingAuthorization {
    /// A pending authorization with nothing but its start time.
    pub fn new(created_at: SystemTime) -> Self {
        Self {
            provider: None,
            redirect_uri: None,
            pkce_verifier: None,
            created_at,
            data: BTreeMap::new(),
        }
    }

    /// What `request` needs remembered: its redirect URI and PKCE verifier.
    pub fn from_request(
        request: &AuthorizationRequest,
        provider: ProviderId,
        created_at: SystemTime,
    ) -> Self {
        Self {
            provider: Some(provider),
            redirect_uri: request.redirect_uri_value().map(str::to_owned),
            pkce_verifier: request.verifier().cloned(),
            created_at,
            data: BTreeMap::new(),
        }
    }
}

/// Where `state` values wait for their callback. Each is usable once and expires.
///
/// Implementations must compare states in constant time, refuse a state a second time
/// ([`CallbackError::ReplayedState`] where they can tell, [`CallbackError::UnknownState`] otherwise)
/// and refuse expired ones ([`CallbackError::ExpiredState`]).
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Remembers `pending` under `state`.
    async fn save(&self, state: &CsrfState, pending: PendingAuthorization) -> Result<()>;

    /// Takes the authorization saved under `state`, which can then not be taken again.
    async fn take(&self, state: &str) -> Result<PendingAuthorization>;
}

/// The default time to live of a state: 10 minutes, the lifetime of the providers' codes.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(600);

/// The default bound on states kept in memory.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

struct Entry {
    state: String,
    /// `None` once taken: kept until expiry so that a replay is reported as such.
    pending: Option<PendingAuthorization>,
    expires_at: SystemTime,
}

/// An in-process [`StateStore`] for a single server.
///
/// States are looked up by their SHA-256 and then compared in constant time. A taken state is
/// remembered until it would have expired, so a replay is reported as one. At most `max_pending`
/// states are kept; beyond that the oldest is dropped (its callback will be refused as unknown).
///
/// ```
/// # tokio_test_block_on(async {
/// use oauth_core::{CsrfState, MemoryStateStore, PendingAuthorization, StateStore};
/// let store = MemoryStateStore::new();
/// let state = CsrfState::generate()?;
/// store.save(&state, PendingAuthorization::new(std::time::SystemTime::now())).await?;
/// assert!(store.take(state.as_str()).await.is_ok());
/// assert!(store.take(state.as_str()).await.is_err()); // single use
/// # Ok::<(), oauth_core::Error>(()) });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
/// ```
pub struct MemoryStateStore {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    ttl: Duration,
    max_pending: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStateStore")
            .field("ttl", &self.ttl)
            .field("max_pending", &self.max_pending)
            .field("len", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStateStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStateStore {
    /// A store with the default time to live (10 minutes) and the real clock.
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl: DEFAULT_STATE_TTL,
            max_pending: DEFAULT_MAX_PENDING,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the time to live of states.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the maximum number of states kept.
    pub fn with_max_pending(mut self, max_pending: usize) -> Self {
        self.max_pending = max_pending.max(1);
        self
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn digest(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn save(&self, state: &CsrfState, pending: PendingAuthorization) -> Result<()> {
        let now = self.clock.now();
        let expires_at = now.checked_add(self.ttl).unwrap_or(now);
        let mut entries = self.lock();
        entries.retain(|_, entry| entry.expires_at > now);
        while entries.len() >= self.max_pending {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.expires_at)
                .map(|(key, _)| *key);
            match oldest {
                Some(key) => entries.remove(&key),
                None => break,
            };
        }
        entries.insert(
            digest(state.as_str()),
            Entry {
                state: state.as_str().to_owned(),
                pending: Some(pending),
                expires_at,
            },
        );
        Ok(())
    }

    async fn take(&self, state: &str) -> Result<PendingAuthorization> {
        if state.is_empty() {
            return Err(CallbackError::MissingState.into());
        }
        let now = self.clock.now();
        let key = digest(state);
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&key) else {
            return Err(CallbackError::UnknownState.into());
        };
        if !bool::from(entry.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(CallbackError::UnknownState.into());
        }
        if now >= entry.expires_at {
            entries.remove(&key);
            return Err(CallbackError::ExpiredState {
                ttl_secs: self.ttl.as_secs(),
            }
            .into());
        }
        match entry.pending.take() {
            Some(pending) => Ok(pending),
            None => Err(CallbackError::ReplayedState.into()),
        }
    }
}
