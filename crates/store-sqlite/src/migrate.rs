//! Hand-rolled migrations: the SQL files in `migrations/`, compiled in, applied in order, each
//! in its own transaction, recorded with a SHA-256 checksum so that an edited migration that
//! was already applied is noticed instead of silently diverging.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use talaka_core::crypto::hex;
use talaka_store::StoreError;

use crate::{db, now_sql};

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in the order they apply. Never edit one that has shipped; add a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_elections",
        sql: include_str!("../migrations/0002_elections.sql"),
    },
    Migration {
        version: 3,
        name: "0003_photos",
        sql: include_str!("../migrations/0003_photos.sql"),
    },
    Migration {
        version: 4,
        name: "0004_integrations",
        sql: include_str!("../migrations/0004_integrations.sql"),
    },
    Migration {
        version: 5,
        name: "0005_report_indexes",
        sql: include_str!("../migrations/0005_report_indexes.sql"),
    },
    Migration {
        version: 6,
        name: "0006_report_counters",
        sql: include_str!("../migrations/0006_report_counters.sql"),
    },
    Migration {
        version: 7,
        name: "0007_photo_review",
        sql: include_str!("../migrations/0007_photo_review.sql"),
    },
    Migration {
        version: 8,
        name: "0008_safety",
        sql: include_str!("../migrations/0008_safety.sql"),
    },
];

pub(crate) fn checksum(sql: &str) -> String {
    hex(&Sha256::digest(sql.as_bytes()))
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    checksum   TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT";

pub(crate) async fn run(pool: &SqlitePool) -> Result<Vec<String>, StoreError> {
    sqlx::query(CREATE_TABLE).execute(pool).await.map_err(db)?;

    let known_max = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    let applied_max: Option<i64> = sqlx::query("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db)?;
    if applied_max.is_some_and(|v| v > known_max) {
        return Err(StoreError::Unsupported(
            "the database was migrated by a newer version of Talaka; upgrade Talaka before using it",
        ));
    }

    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let sum = checksum(m.sql);
        // IMMEDIATE: another process migrating at the same time waits here (busy timeout)
        // and then sees the migration recorded.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let existing: Option<String> =
            sqlx::query("SELECT checksum FROM schema_migrations WHERE version = ?")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(db)?;
        match existing {
            Some(stored) if stored == sum => continue,
            Some(_) => {
                return Err(StoreError::Corrupt {
                    table: "schema_migrations",
                    reason: format!(
                        "migration {} was changed after it was applied (checksum mismatch)",
                        m.name
                    ),
                });
            }
            None => {}
        }
        run_script(&mut tx, m.sql).await.map_err(db)?;
        sqlx::query(&format!(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, {})",
            now_sql()
        ))
        .bind(m.version)
        .bind(m.name)
        .bind(&sum)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(migration = m.name, "applied database migration");
        applied.push(m.name.to_owned());
    }
    Ok(applied)
}

/// Run a multi-statement script on the caller's transaction.
async fn run_script(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, sql).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_named_after_their_files() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
            assert!(
                !m.sql.to_ascii_uppercase().contains("COMMIT"),
                "{} manages its own transaction",
                m.name
            );
        }
    }
}
