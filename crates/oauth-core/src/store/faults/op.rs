//! [`StoreOp`]: the operations of the [`TokenStore`](crate::TokenStore) trait that a
//! [`FaultyStore`](super::FaultyStore) counts and picks faults by.

#[cfg(doc)]
use crate::store::TokenStore;

/// An operation of the [`TokenStore`](crate::TokenStore) trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreOp {
    /// [`TokenStore::get`].
    Get,
    /// [`TokenStore::save`].
    Save,
    /// [`TokenStore::save_grant`].
    SaveGrant,
    /// [`TokenStore::compare_and_swap`].
    CompareAndSwap,
    /// [`TokenStore::mark_needs_reauthorization`].
    MarkNeedsReauthorization,
    /// [`TokenStore::delete`].
    Delete,
    /// [`TokenStore::list_page`] (and so each page [`TokenStore::list`] reads).
    List,
    /// [`TokenStore::installation`].
    Installation,
    /// [`TokenStore::token_keys`].
    TokenKeys,
    /// [`TokenStore::delete_installation`].
    DeleteInstallation,
    /// [`TokenStore::enterprise_installations`].
    EnterpriseInstallations,
    /// [`TokenStore::delete_enterprise`].
    DeleteEnterprise,
    /// [`TokenStore::try_acquire_lease`].
    TryAcquireLease,
    /// [`TokenStore::renew_lease`].
    RenewLease,
    /// [`TokenStore::release_lease`].
    ReleaseLease,
    /// [`TokenStore::due_for_refresh`].
    DueForRefresh,
}

impl StoreOp {
    /// Every operation.
    pub const ALL: [StoreOp; 16] = [
        StoreOp::Get,
        StoreOp::Save,
        StoreOp::SaveGrant,
        StoreOp::CompareAndSwap,
        StoreOp::MarkNeedsReauthorization,
        StoreOp::Delete,
        StoreOp::List,
        StoreOp::Installation,
        StoreOp::TokenKeys,
        StoreOp::DeleteInstallation,
        StoreOp::EnterpriseInstallations,
        StoreOp::DeleteEnterprise,
        StoreOp::TryAcquireLease,
        StoreOp::RenewLease,
        StoreOp::ReleaseLease,
        StoreOp::DueForRefresh,
    ];

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The trait method's name.
    pub fn name(self) -> &'static str {
        match self {
            StoreOp::Get => "get",
            StoreOp::Save => "save",
            StoreOp::SaveGrant => "save_grant",
            StoreOp::CompareAndSwap => "compare_and_swap",
            StoreOp::MarkNeedsReauthorization => "mark_needs_reauthorization",
            StoreOp::Delete => "delete",
            StoreOp::List => "list_page",
            StoreOp::Installation => "installation",
            StoreOp::TokenKeys => "token_keys",
            StoreOp::DeleteInstallation => "delete_installation",
            StoreOp::EnterpriseInstallations => "enterprise_installations",
            StoreOp::DeleteEnterprise => "delete_enterprise",
            StoreOp::TryAcquireLease => "try_acquire_lease",
            StoreOp::RenewLease => "renew_lease",
            StoreOp::ReleaseLease => "release_lease",
            StoreOp::DueForRefresh => "due_for_refresh",
        }
    }
}
