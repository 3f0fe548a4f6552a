//! Token stores for [`oauth_manager`](https://docs.rs/oauth-manager): where installations' tokens
//! live between processes and restarts.
//!
//! | Feature | Default | Store |
//! | --- | --- | --- |
//! | `sqlite` | yes | [`SqliteTokenStore`]: one file, WAL, owner-only permissions; processes of one machine. |
//! | `postgres` | no | [`PostgresTokenStore`]: many replicas sharing one database. |
//!
//! Both implement [`oauth_core::TokenStore`] and pass its conformance suite: versioned
//! compare-and-swap writes, the re-authorization mark, and refresh leases with fences that lapse
//! when their holder dies. Migrations are embedded and applied when a store opens.
//!
//! With an [`Encryption`] key, every secret column (access and refresh tokens) is encrypted with
//! XChaCha20-Poly1305, bound to its row and column; the key id is stored with the row so keys can
//! be rotated ([`Encryption::with_previous`]). Without a key, secrets are stored as they are: protect
//! the file or database accordingly.
//!
//! Both also implement [`oauth_core::UsedStates`], what makes the install flow's sealed states
//! single use across replicas: a state's use is one insert, refused once the state has expired by
//! the database's clock (table `oauth_used_states`, migration 3).
//!
//! The schema is in `migrations/` and described in `docs/store-schema.md`.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod legacy;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use codec::{Encryption, EncryptionKey};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresTokenStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteTokenStore;
