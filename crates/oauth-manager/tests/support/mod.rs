//! The test kit of the token manager's tests: a counting fake provider on a manual clock, and a
//! manager over a store (the in-memory one unless a test brings its own).
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, Clock, CodeExchange, Error, ErrorKind,
    GenericProviderError, Grant, Grantee, Installation, InstallationKey, Introspect, ManualClock,
    MemoryTokenStore, Principal, ProviderId, RefreshToken, Result, Revoke, TokenGrant, TokenInfo,
    TokenKey, TokenProvider, TokenSet, TokenStore, TokenType,
};
use oauth_manager::{EventHook, ManagerConfig, TokenEvent, TokenManager};

pub const PROVIDER: ProviderId = ProviderId::from_static("fake");

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Ok,
    Transient,
    Lost,
    Reauth,
    NoRefreshToken,
    /// A rate limit asking to come back after this long.
    RateLimited(Duration),
}

#[derive(Debug)]
pub struct Fake {
    clock: Arc<ManualClock>,
    refreshes: AtomicU32,
    pub revokes: AtomicU32,
    delay: Duration,
    mode: Mutex<Mode>,
    pub revoke_error: Mutex<Option<ErrorKind>>,
    /// The `expires_in` of the tokens it mints (3600 s unless set).
    lifetime: AtomicI64,
    /// The one refresh token it accepts (single-use, no grace period, as Notion and Slack with
    /// its grace period spent): spent when a refresh starts, replaced when it answers.
    valid_refresh: Mutex<Option<String>>,
    /// Refreshes refused because the refresh token presented was spent or unknown.
    refusals: AtomicU32,
}

impl Fake {
    pub fn new(clock: Arc<ManualClock>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock,
            refreshes: AtomicU32::new(0),
            revokes: AtomicU32::new(0),
            delay,
            mode: Mutex::new(Mode::Ok),
            revoke_error: Mutex::new(None),
            lifetime: AtomicI64::new(3600),
            valid_refresh: Mutex::new(None),
            refusals: AtomicU32::new(0),
        })
    }

    /// Refreshes refused for a spent or unknown refresh token.
    pub fn refusals(&self) -> u32 {
        self.refusals.load(Ordering::SeqCst)
    }

    pub fn set_lifetime(&self, expires_in_secs: i64) {
        self.lifetime.store(expires_in_secs, Ordering::SeqCst);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn refreshes(&self) -> u32 {
        self.refreshes.load(Ordering::SeqCst)
    }

    pub fn tokens(&self, n: u32) -> TokenSet {
        let mut tokens = TokenSet::builder(PROVIDER, AccessToken::new(format!("at-{n}")))
            .token_type(TokenType::Bot)
            .issued_at(self.clock.now())
            .build();
        tokens.refresh_token = Some(RefreshToken::new(format!("rt-{n}")));
        tokens.set_expires_in(self.lifetime.load(Ordering::SeqCst));
        tokens
    }
}

pub fn error(kind: ErrorKind, code: &str) -> Error {
    Error::provider(GenericProviderError::new(PROVIDER, code, kind))
}

#[async_trait]
impl TokenGrant for Fake {
    async fn exchange_code(&self, _exchange: CodeExchange) -> Result<Grant> {
        *self.valid_refresh.lock().unwrap() = Some("rt-0".into());
        let mut tokens = self.tokens(0);
        let mut grantee = Grantee::new();
        grantee.workspace_id = Some("T1".into());
        grantee.bot_id = Some("U1".into());
        tokens.grantee = grantee;
        let installation = Installation::new(
            InstallationKey::workspace(PROVIDER, None, "T1"),
            self.clock.now(),
        );
        Ok(Grant::new(installation).with_tokens(Principal::Bot, tokens))
    }

    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        let mode = *self.mode.lock().unwrap();
        if mode == Mode::Ok {
            // Processed at once (the token is spent), answered after the delay.
            let spent = {
                let mut valid = self.valid_refresh.lock().unwrap();
                let accepted = valid.as_deref() == Some(refresh_token.expose_secret());
                if accepted {
                    *valid = None;
                }
                !accepted
            };
            if spent {
                self.refusals.fetch_add(1, Ordering::SeqCst);
                return Err(error(
                    ErrorKind::ReauthorizationRequired,
                    "invalid_refresh_token",
                ));
            }
        }
        tokio::time::sleep(self.delay).await;
        match mode {
            Mode::Ok => {
                *self.valid_refresh.lock().unwrap() = Some(format!("rt-{n}"));
                Ok(self.tokens(n))
            }
            Mode::NoRefreshToken => {
                let mut tokens = self.tokens(n);
                tokens.refresh_token = None;
                Ok(tokens)
            }
            Mode::Transient => Err(error(ErrorKind::Retryable, "internal_error")),
            Mode::Lost => Err(Error::Timeout {
                provider: PROVIDER,
                operation: "refresh",
                request_sent: oauth_core::RequestSent::Maybe,
            }),
            Mode::Reauth => Err(error(
                ErrorKind::ReauthorizationRequired,
                "invalid_refresh_token",
            )),
            Mode::RateLimited(after) => Err(Error::provider(
                GenericProviderError::new(PROVIDER, "ratelimited", ErrorKind::RateLimited)
                    .with_retry_after(after),
            )),
        }
    }
}

#[async_trait]
impl Introspect for Fake {
    async fn introspect(&self, _token: &AccessToken) -> Result<TokenInfo> {
        Ok(TokenInfo::active())
    }
}

#[async_trait]
impl Revoke for Fake {
    async fn revoke(&self, _token: &AccessToken) -> Result<()> {
        self.revokes.fetch_add(1, Ordering::SeqCst);
        match *self.revoke_error.lock().unwrap() {
            Some(kind) => Err(error(kind, "x")),
            None => Ok(()),
        }
    }
}

impl TokenProvider for Fake {
    fn provider_id(&self) -> ProviderId {
        PROVIDER
    }
    fn authorization_url(&self, _request: &AuthorizationRequest) -> Result<url::Url> {
        Err(Error::InvalidRequest("not needed".into()))
    }
}

pub struct Setup {
    pub clock: Arc<ManualClock>,
    pub fake: Arc<Fake>,
    pub store: Arc<dyn TokenStore>,
    pub manager: TokenManager,
    pub key: TokenKey,
    pub events: Arc<Mutex<Vec<TokenEvent>>>,
}

pub fn config() -> ManagerConfig {
    ManagerConfig::default()
        .refresh_margin(Duration::from_secs(300))
        .lease_ttl(Duration::from_millis(500))
        .poll_interval(Duration::from_millis(5))
}

pub fn manager_for(
    fake: &Arc<Fake>,
    store: &Arc<dyn TokenStore>,
    clock: &Arc<ManualClock>,
    holder: &str,
    events: &Arc<Mutex<Vec<TokenEvent>>>,
) -> TokenManager {
    manager_with(fake, store, clock, holder, events, config())
}

pub fn manager_with(
    fake: &Arc<Fake>,
    store: &Arc<dyn TokenStore>,
    clock: &Arc<ManualClock>,
    holder: &str,
    events: &Arc<Mutex<Vec<TokenEvent>>>,
    config: ManagerConfig,
) -> TokenManager {
    let sink = events.clone();
    TokenManager::builder(fake.clone(), store.clone())
        .clock(clock.clone())
        .config(config)
        .holder_id(holder)
        .on_event(EventHook::new(move |e| {
            sink.lock().unwrap().push(e.clone())
        }))
        .build()
        .unwrap()
}

pub async fn setup(delay: Duration) -> Setup {
    // Leases expire on real time in the memory store: keep it on the system clock.
    setup_with(delay, Arc::new(MemoryTokenStore::new()), config()).await
}

/// A fake provider, `store`, and a manager configured with `config`, with one installation saved.
pub async fn setup_with(
    delay: Duration,
    store: Arc<dyn TokenStore>,
    config: ManagerConfig,
) -> Setup {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let fake = Fake::new(clock.clone(), delay);
    let events = Arc::default();
    let manager = manager_with(&fake, &store, &clock, "holder-1", &events, config);
    let grant = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new("c")))
        .await
        .unwrap();
    let key = grant.token_key(Principal::Bot);
    Setup {
        clock,
        fake,
        store,
        manager,
        key,
        events,
    }
}

impl Setup {
    pub fn expire_soon(&self) {
        // 3600 s tokens, 300 s margin: 3400 s later the token is within the margin but valid.
        self.clock.advance(Duration::from_secs(3400));
    }
    pub fn expire(&self) {
        self.clock.advance(Duration::from_secs(3700));
    }
    pub fn events(&self) -> Vec<TokenEvent> {
        self.events.lock().unwrap().clone()
    }
}
