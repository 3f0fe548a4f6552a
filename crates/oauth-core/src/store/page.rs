//! Bounded reads of many rows: a page of token keys ([`TokenStore::list_page`]) and a page of
//! token sets due for refresh ([`TokenStore::due_for_refresh`]), both with keyset pagination (the
//! next page starts strictly after the last row of the previous one, never at an offset).
//!
//! [`TokenStore::list_page`]: super::TokenStore::list_page
//! [`TokenStore::due_for_refresh`]: super::TokenStore::due_for_refresh

use std::time::SystemTime;

use crate::installation::TokenKey;

/// The most rows one page holds: a larger `limit` is cut to this.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// `limit` as a store uses it: at least 1 (a page of nothing would never advance), at most
/// [`MAX_PAGE_SIZE`].
pub fn page_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_SIZE)
}

/// One page of token keys, in key order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Page {
    /// The keys of this page, ordered, each greater than the `after` it was asked for.
    pub keys: Vec<TokenKey>,
    /// Where the next page starts (pass it as `after`), or `None` when this page is the last.
    pub next: Option<TokenKey>,
}

impl Page {
    /// A page of `keys` read with `limit`: full, so the next one starts after its last key; or
    /// short, so it is the last.
    pub fn new(keys: Vec<TokenKey>, limit: usize) -> Self {
        let next = if keys.len() >= page_limit(limit) {
            keys.last().cloned()
        } else {
            None
        };
        Self { keys, next }
    }
}

/// A token set whose access token expires soon: what [`TokenStore::due_for_refresh`] returns,
/// ordered by `(expires_at, key)`; pass the last one as `after` for the next page.
///
/// [`TokenStore::due_for_refresh`]: super::TokenStore::due_for_refresh
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct DueToken {
    /// When its access token expires (as stored, to the millisecond).
    pub expires_at: SystemTime,
    /// The token set.
    pub key: TokenKey,
}

impl DueToken {
    /// A token set of `key` expiring at `expires_at`.
    pub fn new(key: TokenKey, expires_at: SystemTime) -> Self {
        Self { expires_at, key }
    }
}
