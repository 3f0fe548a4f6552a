//! Where installations and their token sets live: the [`TokenStore`] trait, its refresh lease, and
//! the in-memory store.
//!
//! Every write of a token set is versioned. A refresh reads the token set with its version,
//! refreshes, and writes the rotated tokens back with [`TokenStore::compare_and_swap`]: if another
//! task or process wrote first, the swap fails and the caller re-reads instead of overwriting (or
//! refreshing again with a spent single-use refresh token). Across processes, the refresh lease
//! ([`TokenStore::try_acquire_lease`]) lets exactly one holder refresh a token set at a time; a
//! lease whose holder died expires after its time to live.

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "faults")]
#[cfg_attr(docsrs, doc(cfg(feature = "faults")))]
pub mod faults;
mod memory;
mod page;

pub use memory::MemoryTokenStore;
pub use page::{DueToken, MAX_PAGE_SIZE, Page, page_limit};

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::Result;
use crate::installation::{Grant, Installation, InstallationKey, TokenKey};
use crate::token::{ProviderId, TokenSet};

/// A token set as stored, with the version that guards its next write.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredTokenSet {
    /// Its key.
    pub key: TokenKey,
    /// The current tokens.
    pub tokens: TokenSet,
    /// Incremented by every write; pass it to [`TokenStore::compare_and_swap`].
    pub version: u64,
    /// Set when a refresh was refused for good (`invalid_grant`, a spent refresh token…): the
    /// reason, in the provider's words. The user must install again; saving a new token set clears it.
    pub needs_reauthorization: Option<String>,
    /// When it was last written.
    pub updated_at: SystemTime,
}

impl StoredTokenSet {
    /// A stored token set at `version`, not marked, updated now.
    pub fn new(key: TokenKey, tokens: TokenSet, version: u64) -> Self {
        Self {
            key,
            tokens,
            version,
            needs_reauthorization: None,
            updated_at: SystemTime::now(),
        }
    }
}

/// The result of a conditional write.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CasOutcome {
    /// Written; the new version.
    Swapped {
        /// The version after the write.
        version: u64,
    },
    /// Not written: the token set changed (or vanished) since the expected version was read.
    Conflict {
        /// What is stored now, if anything.
        current: Option<Box<StoredTokenSet>>,
    },
}

/// An exclusive right to refresh one token set until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The token set.
    pub key: TokenKey,
    /// Who holds it (a process or task id).
    pub holder: String,
    /// When it lapses if not renewed or released.
    pub expires_at: SystemTime,
    /// A number that grows with every grant of a lease on this token set (a fencing token).
    pub fence: u64,
}

impl Lease {
    /// A lease of `key` held by `holder` until `expires_at`, with its fence.
    pub fn new(key: TokenKey, holder: String, expires_at: SystemTime, fence: u64) -> Self {
        Self {
            key,
            holder,
            expires_at,
            fence,
        }
    }
}

/// Storage of installations and their token sets, shared by every task and process of an
/// application.
///
/// Token sets are keyed by [`TokenKey`] (an installation and a principal); an installation's
/// record ([`Installation`]: who installed it where, with what, its non-token secrets) is kept
/// beside them. A token set may exist without a record (one saved alone with
/// [`save`](Self::save)); [`save_grant`](Self::save_grant) writes a record and its token sets
/// together.
///
/// Implementations: [`MemoryTokenStore`] here; SQLite and PostgreSQL in `oauth-store`. All must
/// pass the same behaviour (`store::conformance`); writes are atomic (a reader sees the old token
/// set or the new one, never a mix).
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// Reads a token set.
    async fn get(&self, key: &TokenKey) -> Result<Option<StoredTokenSet>>;

    /// Writes a token set unconditionally, clearing any re-authorization mark. Returns the new
    /// version.
    async fn save(&self, key: &TokenKey, tokens: &TokenSet) -> Result<u64>;

    /// Writes what one authorization granted, in one transaction: the installation's record
    /// (replacing the previous one when the grant [is an install](Grant::is_install), a
    /// reinstall; else only if the installation has none) and each of its token sets (replacing
    /// that principal's, clearing its mark). The installation's other token sets (other users') are
    /// left as they are. Returns each token set's key and new version, in the grant's order.
    async fn save_grant(&self, grant: &Grant) -> Result<Vec<(TokenKey, u64)>>;

    /// Writes `tokens` only if the stored version is still `expected_version`.
    async fn compare_and_swap(
        &self,
        key: &TokenKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome>;

    /// Marks the token set as needing re-authorization, if still at `expected_version`.
    async fn mark_needs_reauthorization(
        &self,
        key: &TokenKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome>;

    /// Deletes a token set (one user's tokens, or the bot's); whether it existed. The
    /// installation's record and other token sets stay.
    async fn delete(&self, key: &TokenKey) -> Result<bool>;

    /// One page of the token sets of `provider` (or of every provider), ordered by key: at most
    /// `limit` keys (cut to 1..=[`MAX_PAGE_SIZE`], see [`page_limit`]), each strictly greater
    /// than `after`. Pass the page's [`next`](Page::next) as `after` to read the next one; a
    /// walk through every page sees each key that existed for the whole walk exactly once, in
    /// order, whatever is inserted or deleted meanwhile (keyset pagination: one indexed range
    /// read per page, never an offset).
    async fn list_page(
        &self,
        provider: Option<&ProviderId>,
        after: Option<&TokenKey>,
        limit: usize,
    ) -> Result<Page>;

    /// Every token set of `provider` (or of every provider), ordered by key, read page by page
    /// with [`list_page`](Self::list_page) ([`MAX_PAGE_SIZE`] keys a query).
    ///
    /// It holds every key in memory at once: fine for tools and tests; at scale, walk the pages
    /// with [`list_page`](Self::list_page) instead. Stores implement `list_page` only.
    async fn list(&self, provider: Option<&ProviderId>) -> Result<Vec<TokenKey>> {
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .list_page(provider, after.as_ref(), MAX_PAGE_SIZE)
                .await?;
            keys.extend(page.keys);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// The token sets that can be refreshed (they have a refresh token and no
    /// [re-authorization mark](StoredTokenSet::needs_reauthorization)) and whose access token
    /// expires at or before `before`, earliest first, ordered by `(expires_at, key)`: at most
    /// `limit` of them (cut as for [`list_page`](Self::list_page)), each strictly after `after`.
    /// Token sets without an expiry are never due. One indexed range read (database stores: an
    /// index on the expiry column): what a background refresher polls.
    async fn due_for_refresh(
        &self,
        before: SystemTime,
        after: Option<&DueToken>,
        limit: usize,
    ) -> Result<Vec<DueToken>>;

    /// Reads an installation's record.
    async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>>;

    /// The token sets of an installation (record or not), ordered by key.
    async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>>;

    /// Deletes an installation: its record, every token set and their leases; whether anything
    /// existed.
    async fn delete_installation(&self, installation: &InstallationKey) -> Result<bool>;

    /// The installations of `provider` whose record names `enterprise_id` (Slack: an Enterprise
    /// Grid org's workspace installs and its org-wide install), ordered by key.
    async fn enterprise_installations(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>>;

    /// Deletes every installation of `provider` whose record names `enterprise_id` (Slack: all of
    /// an Enterprise Grid org's workspaces and its org-wide install); the installations deleted.
    async fn delete_enterprise(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>>;

    /// Takes the refresh lease of `key` for `ttl` if nobody holds an unexpired one (the same
    /// holder may take it again). `None` if another holder has it.
    async fn try_acquire_lease(
        &self,
        key: &TokenKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>>;

    /// Extends `lease` to `ttl` from now, if it is still this holder's: no other holder has been
    /// granted the token set's lease since (its fence is unchanged) and it was not released. The
    /// fence stays the same. `None` if the lease was lost. The token manager calls it while a
    /// refresh runs, so that a slow refresh keeps its lease.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>>;

    /// Gives the lease back early. Releasing a lease that lapsed and was taken by another holder
    /// does nothing.
    async fn release_lease(&self, lease: &Lease) -> Result<()>;
}

/// The longest lease a store grants: a longer time to live is cut to this (100 years), so that a
/// huge duration neither overflows time arithmetic nor falls back to "already lapsed".
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + ttl`, with `ttl` cut to [`MAX_LEASE_TTL`]: the expiry of a lease granted at `now`.
pub fn lease_expiry(now: SystemTime, ttl: Duration) -> SystemTime {
    let ttl = ttl.min(MAX_LEASE_TTL);
    now.checked_add(ttl)
        .unwrap_or(now + Duration::from_secs(365 * 24 * 3600))
}
