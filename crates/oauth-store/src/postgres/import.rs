//! [`PostgresTokenStore::import`]: many token sets written in one transaction, a few hundred rows
//! a statement (moving installations in from another system, loading a benchmark).

use oauth_core::{Result, TokenKey, TokenSet};

use super::{PostgresTokenStore, WRITE};
use crate::migrate::storage_error;
use crate::rows;

/// Rows a statement: 8 parameters each, well under PostgreSQL's limit of 65,535.
const ROWS_PER_STATEMENT: usize = 500;

fn statement(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let p = |column: usize| format!("${}", row * 8 + column);
            format!(
                "({}, {}, {}, 1, {}, {}, {}, {}, NULL, now(), {})",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8)
            )
        })
        .collect();
    format!(
        "INSERT INTO oauth_token_sets (provider, installation_key, principal, version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at, expires_at_ms) \
         VALUES {} \
         ON CONFLICT (provider, installation_key, principal) DO UPDATE SET version = oauth_token_sets.version + 1, \
           access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, key_id = EXCLUDED.key_id, \
           token_meta = EXCLUDED.token_meta, needs_reauthorization = NULL, updated_at = now(), \
           expires_at_ms = EXCLUDED.expires_at_ms",
        values.join(", ")
    )
}

impl PostgresTokenStore {
    /// Writes every token set of `token_sets` as [`save`](oauth_core::TokenStore::save) would
    /// (inserted, or replacing what is stored and clearing its mark), all in one transaction:
    /// all are written, or none. Encrypted with the store's key, if it has one. A key may appear
    /// once only (PostgreSQL refuses a statement that would update one row twice).
    pub async fn import(&self, token_sets: &[(TokenKey, TokenSet)]) -> Result<()> {
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
                    .bind(rows::expiry_ms(tokens));
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(storage_error(WRITE))?;
        }
        tx.commit().await.map_err(storage_error(WRITE))?;
        Ok(())
    }
}
