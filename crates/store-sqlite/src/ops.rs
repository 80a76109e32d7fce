//! Operations on the file as a whole: backups, a content digest to verify them, the integrity
//! check, and the connection settings in force.

use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::Row;
use talaka_core::crypto::hex;
use talaka_store::StoreError;

use crate::{SqliteStore, db};

/// One table's content, summarised: used to check that a backup equals its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDigest {
    pub table: String,
    pub rows: u64,
    /// SHA-256 (hex) over every row in rowid (or, WITHOUT ROWID, primary-key) order, each column rendered with SQLite's `quote()`.
    pub sha256: String,
}

/// The settings a connection of the store's pool runs with, as SQLite reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `wal` for a store.
    pub journal_mode: String,
    /// 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA; a store runs with 2.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
    pub secure_delete: bool,
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl SqliteStore {
    /// SQLite's `PRAGMA integrity_check`: `"ok"` for a healthy file, otherwise the problems
    /// found, one per line.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(lines.join("\n"))
    }

    /// A digest of every table's content (all tables but SQLite's own `sqlite_*`), ordered by
    /// table name. Two files with equal digests hold the same data.
    pub async fn content_digest(&self) -> Result<Vec<TableDigest>, StoreError> {
        // One read transaction, so that the digest is of one consistent state.
        let mut tx = self.pool.begin().await.map_err(db)?;
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(db)?;

        let mut out = Vec::with_capacity(tables.len());
        for table in tables {
            let info: Vec<(String, i64)> =
                sqlx::query("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid")
                    .bind(&table)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(db)?;
            let columns: Vec<String> = info.iter().map(|(c, _)| c.clone()).collect();
            let without_rowid: bool =
                sqlx::query("SELECT wr FROM pragma_table_list WHERE name = ?")
                    .bind(&table)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?
                    .map(|r| r.try_get::<bool, _>(0))
                    .transpose()
                    .map_err(db)?
                    .unwrap_or(false);
            if columns.is_empty() {
                return Err(StoreError::Corrupt {
                    table: "sqlite_master",
                    reason: format!("table {table} has no columns"),
                });
            }
            let select = columns
                .iter()
                .map(|c| format!("quote({})", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ");
            // A table WITHOUT ROWID is in primary-key order, the others in rowid order.
            let order = if without_rowid {
                let mut pk: Vec<&(String, i64)> = info.iter().filter(|(_, k)| *k > 0).collect();
                pk.sort_by_key(|(_, k)| *k);
                pk.iter()
                    .map(|(c, _)| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                "rowid".to_owned()
            };
            let sql = format!(
                "SELECT {select} FROM {} ORDER BY {order}",
                quote_ident(&table)
            );
            let rows = sqlx::query(&sql).fetch_all(&mut *tx).await.map_err(db)?;
            let mut hasher = Sha256::new();
            for row in &rows {
                for i in 0..columns.len() {
                    // quote() renders NULL as the text NULL.
                    let v: String = row.try_get(i).map_err(db)?;
                    hasher.update(v.as_bytes());
                    hasher.update([0x1f]);
                }
                hasher.update([0x1e]);
            }
            out.push(TableDigest {
                table,
                rows: rows.len() as u64,
                sha256: hex(&hasher.finalize()),
            });
        }
        tx.rollback().await.map_err(db)?;
        Ok(out)
    }

    /// The settings in force on one of the pool's connections.
    pub async fn connection_settings(&self) -> Result<ConnectionSettings, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut one = async |pragma: &str| -> Result<sqlx::sqlite::SqliteRow, StoreError> {
            sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(&mut *conn)
                .await
                .map_err(db)
        };
        let journal_mode: String = one("journal_mode").await?.try_get(0).map_err(db)?;
        let synchronous: i64 = one("synchronous").await?.try_get(0).map_err(db)?;
        let foreign_keys: i64 = one("foreign_keys").await?.try_get(0).map_err(db)?;
        let busy_timeout_ms: i64 = one("busy_timeout").await?.try_get(0).map_err(db)?;
        let secure_delete: i64 = one("secure_delete").await?.try_get(0).map_err(db)?;
        Ok(ConnectionSettings {
            journal_mode,
            synchronous,
            foreign_keys: foreign_keys == 1,
            busy_timeout_ms,
            secure_delete: secure_delete == 1,
        })
    }

    pub(crate) async fn backup_into(&self, dest: &Path) -> Result<(), StoreError> {
        let Some(dest_str) = dest.to_str() else {
            return Err(StoreError::Unsupported(
                "the backup destination's path must be valid UTF-8",
            ));
        };
        // Claim the name first, atomically and readable by the owner only (a backup holds
        // everything the database does); SQLite's VACUUM INTO accepts an empty file.
        match crate::create_private_file(dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Unsupported("backup destination already exists"));
            }
            Err(e) => return Err(StoreError::backend(e)),
        }
        // A consistent snapshot of the whole database, written by SQLite.
        if let Err(e) = sqlx::query("VACUUM INTO ?")
            .bind(dest_str)
            .execute(&self.pool)
            .await
        {
            let _ = std::fs::remove_file(dest);
            return Err(db(e));
        }
        // Make the copy durable before anyone is told it exists.
        std::fs::File::open(dest)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::backend)?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Persist the directory entry too; not every platform can open a directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        tracing::info!("wrote a database backup");
        Ok(())
    }
}
