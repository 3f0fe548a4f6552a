//! [`UsedStates`] in the SQLite file: the install flow's used states, on this machine.

use std::time::SystemTime;

use async_trait::async_trait;
use oauth_core::{Result, StateId, StateUse, UsedStates};

use super::SqliteTokenStore;
use crate::migrate::storage_error;
use crate::rows::to_ms;

/// SQLite's own clock, in milliseconds since the epoch.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// At most this many expired records are purged by one call: the table drains faster than one
/// record a call fills it, and no call does unbounded work.
const PURGE_BATCH: i64 = 100;

/// Records a state's use in one transaction: expired records are purged (a bounded batch), then
/// the record is inserted if the state has not expired by SQLite's clock and is not recorded yet.
/// SQLite runs one writer at a time, so of concurrent uses of one state exactly one inserts.
#[async_trait]
impl UsedStates for SqliteTokenStore {
    async fn record_use(&self, id: &StateId, expires_at: SystemTime) -> Result<StateUse> {
        let what = "cannot record a used state in the SQLite store";
        // One transaction, so one commit (and one sync of the file) per use.
        let mut transaction = self.pool.begin().await.map_err(storage_error(what))?;
        sqlx::query(&format!(
            "DELETE FROM oauth_used_states WHERE state_id IN \
             (SELECT state_id FROM oauth_used_states WHERE expires_at_ms <= {NOW_MS} LIMIT ?1)"
        ))
        .bind(PURGE_BATCH)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error(what))?;
        // (`WHERE` makes the `SELECT` unambiguous before `ON CONFLICT`, as SQLite asks.)
        let inserted = sqlx::query(&format!(
            "INSERT INTO oauth_used_states (state_id, expires_at_ms) \
             SELECT ?1, ?2 WHERE ?2 > {NOW_MS} \
             ON CONFLICT (state_id) DO NOTHING"
        ))
        .bind(id.as_bytes().as_slice())
        .bind(to_ms(expires_at))
        .execute(&mut *transaction)
        .await
        .map_err(storage_error(what))?
        .rows_affected();
        transaction.commit().await.map_err(storage_error(what))?;
        if inserted == 1 {
            return Ok(StateUse::First);
        }
        let recorded: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM oauth_used_states WHERE state_id = ?1)",
        )
        .bind(id.as_bytes().as_slice())
        .fetch_one(&self.pool)
        .await
        .map_err(storage_error(what))?;
        Ok(if recorded {
            StateUse::Replayed
        } else {
            StateUse::Expired
        })
    }
}
