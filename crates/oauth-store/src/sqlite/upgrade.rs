//! Moves a schema-1 SQLite store (`oauth_installations`) to schema 2, once, when it opens: in one
//! `BEGIN IMMEDIATE` transaction (so two processes opening it at once do not both move it), the
//! rows are read, placed, re-encrypted and written (`crate::legacy`), and the old table is renamed
//! `oauth_installations_v1` and kept.

use sqlx::{Executor as _, SqlitePool};

use oauth_core::{Error, Result};

use crate::codec::{Encryption, Row};
use crate::legacy::{self, LegacyRow};
use crate::migrate::storage_error;
use crate::rows::{from_ms, to_ms};

const WHAT: &str = "cannot move the SQLite token store to schema 2";

pub(crate) async fn schema_one(pool: &SqlitePool, encryption: Option<&Encryption>) -> Result<()> {
    let mut conn = pool.acquire().await.map_err(storage_error(WHAT))?;
    if !has_schema_one(&mut conn).await? {
        return Ok(());
    }
    conn.execute("BEGIN IMMEDIATE")
        .await
        .map_err(storage_error(WHAT))?;
    let moved = move_rows(&mut conn, encryption).await;
    match moved {
        Ok(count) => {
            conn.execute("COMMIT").await.map_err(storage_error(WHAT))?;
            if count > 0 {
                tracing::info!(
                    token_sets = count,
                    "moved the SQLite token store to schema 2 (schema 1 kept as oauth_installations_v1)"
                );
            }
            Ok(())
        }
        Err(error) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(error)
        }
    }
}

async fn has_schema_one(conn: &mut sqlx::SqliteConnection) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'oauth_installations'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(storage_error(WHAT))?;
    Ok(found.is_some())
}

/// Inside the transaction: moves every row; how many token sets were written.
async fn move_rows(
    conn: &mut sqlx::SqliteConnection,
    encryption: Option<&Encryption>,
) -> Result<usize> {
    // Another process may have moved it between the check and the lock.
    if !has_schema_one(conn).await? {
        return Ok(0);
    }
    type Old = (
        String,
        String,
        i64,
        Vec<u8>,
        Option<Vec<u8>>,
        Option<String>,
        String,
        Option<String>,
        i64,
    );
    let old: Vec<Old> = sqlx::query_as(
        "SELECT provider, installation_key, version, access_token, refresh_token, key_id, token_meta, \
           needs_reauthorization, updated_at_ms FROM oauth_installations",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(storage_error(WHAT))?;
    let moved = old
        .into_iter()
        .map(
            |(
                provider,
                key,
                version,
                access_token,
                refresh_token,
                key_id,
                token_meta,
                mark,
                updated,
            )| {
                legacy::move_row(
                    LegacyRow {
                        provider,
                        key,
                        version,
                        row: Row {
                            access_token,
                            refresh_token,
                            key_id,
                            token_meta,
                        },
                        needs_reauthorization: mark,
                        updated_at: from_ms(updated),
                    },
                    encryption,
                )
            },
        )
        .collect::<Result<Vec<_>>>()
        .map_err(|e| match e {
            Error::Configuration(message) => Error::configuration(format!(
                "{message}: open the store once with its encryption key to move it to schema 2"
            )),
            other => other,
        })?;
    let moved = legacy::keep_latest(moved);
    for m in &moved {
        let installation = m.key.installation();
        sqlx::query(
            "INSERT INTO oauth_token_sets (provider, installation_key, principal, version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at_ms, expires_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, json_extract(?8, '$.expires_at.secs_since_epoch') * 1000 + json_extract(?8, '$.expires_at.nanos_since_epoch') / 1000000) ON CONFLICT DO NOTHING",
        )
        .bind(installation.provider().as_str())
        .bind(installation.key())
        .bind(m.key.principal().to_string())
        .bind(m.version)
        .bind(&m.row.access_token)
        .bind(&m.row.refresh_token)
        .bind(&m.row.key_id)
        .bind(&m.row.token_meta)
        .bind(&m.needs_reauthorization)
        .bind(to_ms(m.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(storage_error(WHAT))?;
        sqlx::query(
            "INSERT INTO oauth_installation_records (provider, installation_key, enterprise_id, details, secrets, key_id, installed_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT DO NOTHING",
        )
        .bind(installation.provider().as_str())
        .bind(installation.key())
        .bind(&m.record.enterprise_id)
        .bind(&m.record.details)
        .bind(&m.record.secrets)
        .bind(&m.record.key_id)
        .bind(to_ms(m.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(storage_error(WHAT))?;
    }
    // An empty schema-1 table (a store made by this version: migration 1 still creates it) is
    // dropped; one with rows is kept as the backup.
    let keep = if moved.is_empty() {
        "DROP TABLE oauth_installations"
    } else {
        "ALTER TABLE oauth_installations RENAME TO oauth_installations_v1"
    };
    conn.execute(keep).await.map_err(storage_error(WHAT))?;
    Ok(moved.len())
}
