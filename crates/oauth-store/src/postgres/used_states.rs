//! [`UsedStates`] in PostgreSQL: the install flow's used states, shared by every replica.

use std::time::SystemTime;

use async_trait::async_trait;
use oauth_core::{Result, StateId, StateUse, UsedStates};

use super::PostgresTokenStore;
use crate::migrate::storage_error;
use crate::rows::to_ms;

/// At most this many expired records are purged by one call (rows other calls are purging are
/// skipped, not waited for).
const PURGE_BATCH: i64 = 100;

/// Records a state's use in one statement: a bounded batch of expired records is purged, and the
/// record inserted if the state has not expired by the database clock and is not recorded yet.
/// Of concurrent calls with one id, the insert of exactly one succeeds (the others wait for it,
/// then meet the conflict).
#[async_trait]
impl UsedStates for PostgresTokenStore {
    async fn record_use(&self, id: &StateId, expires_at: SystemTime) -> Result<StateUse> {
        let (inserted, live): (i64, bool) = sqlx::query_as(
            "WITH purged AS ( \
                 DELETE FROM oauth_used_states WHERE state_id IN ( \
                     SELECT state_id FROM oauth_used_states \
                     WHERE expires_at <= clock_timestamp() \
                     LIMIT $3 FOR UPDATE SKIP LOCKED)), \
             inserted AS ( \
                 INSERT INTO oauth_used_states (state_id, expires_at) \
                 SELECT $1, to_timestamp($2 / 1000.0) \
                 WHERE to_timestamp($2 / 1000.0) > clock_timestamp() \
                 ON CONFLICT (state_id) DO NOTHING \
                 RETURNING 1) \
             SELECT (SELECT count(*) FROM inserted), to_timestamp($2 / 1000.0) > clock_timestamp()",
        )
        .bind(id.as_bytes().as_slice())
        .bind(to_ms(expires_at))
        .bind(PURGE_BATCH)
        .fetch_one(self.pool())
        .await
        .map_err(storage_error(
            "cannot record a used state in the PostgreSQL store",
        ))?;
        Ok(match (inserted, live) {
            (1, _) => StateUse::First,
            (_, true) => StateUse::Replayed,
            (_, false) => StateUse::Expired,
        })
    }
}
