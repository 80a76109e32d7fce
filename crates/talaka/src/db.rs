//! Choosing and opening the storage backend from the database URL.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use talaka_core::config::DatabaseUrl;
use talaka_store::Stores;
use talaka_store_postgres::PgStore;
use talaka_store_sqlite::SqliteStore;

/// Open the database. A SQLite file that does not exist yet is created, together with its
/// folder, both readable only by this user.
pub async fn open(url: &DatabaseUrl) -> Result<Arc<dyn Stores>> {
    match url {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(open_sqlite(path).await?)),
        DatabaseUrl::Postgres(secret) => {
            let store = PgStore::connect(secret)
                .await
                .with_context(|| format!("cannot connect to {}", url.redacted()))?;
            Ok(Arc::new(store))
        }
    }
}

/// Open a database that must already exist (commands that only read or copy it).
pub async fn open_existing(url: &DatabaseUrl) -> Result<Arc<dyn Stores>> {
    if let DatabaseUrl::Sqlite(path) = url {
        require_sqlite_file(path)?;
    }
    open(url).await
}

pub fn require_sqlite_file(path: &Path) -> Result<()> {
    if !path.is_file() {
        bail!(
            "no database at {}; run `talaka migrate` (or `talaka serve`) first, or check data_dir and DATABASE_URL",
            path.display()
        );
    }
    Ok(())
}

pub async fn open_sqlite(path: &Path) -> Result<SqliteStore> {
    SqliteStore::open(path)
        .await
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))
}

/// Open and bring the schema up to date; returns the store and the migrations applied now.
pub async fn open_migrated(url: &DatabaseUrl) -> Result<(Arc<dyn Stores>, Vec<String>)> {
    let store = open(url).await?;
    let applied = store.migrate().await.context("database migration failed")?;
    Ok((store, applied))
}
