//! [`SqliteTokenStore::import`]: many token sets written in one transaction, a few hundred rows a
//! statement (moving installations in from another system, loading a benchmark).

use oauth_core::{Result, TokenKey, TokenSet};

use super::{SqliteTokenStore, WRITE, now_ms};
use crate::migrate::storage_error;
use crate::rows;

/// Rows a statement: 9 parameters each, well under SQLite's limit of 32,766.
const ROWS_PER_STATEMENT: usize = 500;

fn statement(rows: usize) -> String {
    let values = vec!["(?, ?, ?, 1, ?, ?, ?, ?, NULL, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO oauth_token_sets (provider, installation_key, principal, version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at_ms, expires_at_ms) \
         VALUES {values} \
         ON CONFLICT (provider, installation_key, principal) DO UPDATE SET version = oauth_token_sets.version + 1, \
           access_token = excluded.access_token, refresh_token = excluded.refresh_token, key_id = excluded.key_id, \
           token_meta = excluded.token_meta, needs_reauthorization = NULL, updated_at_ms = excluded.updated_at_ms, \
           expires_at_ms = excluded.expires_at_ms"
    )
}

impl SqliteTokenStore {
    /// Writes every token set of `token_sets` as [`save`](oauth_core::TokenStore::save) would
    /// (inserted, or replacing what is stored and clearing its mark), all in one transaction:
    /// all are written, or none; then the write-ahead log is checkpointed, so that later writes
    /// do not pay for the import's pages. Encrypted with the store's key, if it has one. Give each key
    /// once.
    pub async fn import(&self, token_sets: &[(TokenKey, TokenSet)]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.map_err(storage_error(WRITE))?;
        for chunk in token_sets.chunks(ROWS_PER_STATEMENT) {
            let sql = statement(chunk.len());
            let mut query = sqlx::query(&sql);
            for (key, tokens) in chunk {
                let row = self.encode(key, tokens)?;
                query = query
                    .bind(key.provider().as_str())
                    .bind(key.installation().key())
                    .bind(key.principal().to_string())
                    .bind(row.access_token)
                    .bind(row.refresh_token)
                    .bind(row.key_id)
                    .bind(row.token_meta)
                    .bind(now)
                    .bind(rows::expiry_ms(tokens));
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(storage_error(WRITE))?;
        }
        tx.commit().await.map_err(storage_error(WRITE))?;
        // A large import leaves its pages in the write-ahead log: copy them into the database
        // now, rather than in the middle of later writes.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(storage_error(WRITE))?;
        Ok(())
    }
}
