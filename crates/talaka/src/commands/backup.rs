//! `talaka backup FILE`: a consistent copy of the SQLite database, checked before we say so.

use std::path::Path;

use anyhow::{Context, Result, bail};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::config::{Config, DatabaseUrl};
use talaka_core::{Clock, SystemClock};
use talaka_store::Store;

use crate::db;

pub async fn run(config: &Config, file: &Path) -> Result<()> {
    let url = config.database()?;
    let source_path = match &url {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(_) => {
            // The store answers with what to use instead (pg_dump).
            let store = db::open(&url).await?;
            store.backup_to(file).await?;
            bail!("the PostgreSQL store reported a backup it cannot make");
        }
    };
    if file.exists() {
        bail!("{} already exists; choose a new file name", file.display());
    }
    db::require_sqlite_file(&source_path)?;
    let source = db::open_sqlite(&source_path).await?;

    let before = source
        .content_digest()
        .await
        .context("cannot read the database")?;
    source
        .backup_to(file)
        .await
        .with_context(|| format!("cannot write the backup to {}", file.display()))?;

    let copy = db::open_sqlite(file).await?;
    let integrity = copy
        .integrity_check()
        .await
        .context("cannot check the backup")?;
    if integrity != "ok" {
        bail!(
            "the backup at {} failed its integrity check: {integrity}",
            file.display()
        );
    }
    let written = copy
        .content_digest()
        .await
        .context("cannot read the backup")?;
    copy.close().await;

    let tables = written.len();
    let rows: u64 = written.iter().map(|t| t.rows).sum();
    if written == before {
        println!(
            "Backup written to {} and verified: {tables} tables, {rows} rows.",
            file.display()
        );
    } else {
        println!(
            "Backup written to {} and checked: {tables} tables, {rows} rows. The database changed while it was \
             being copied, so the backup differs from the state read just before; it is a consistent snapshot nonetheless.",
            file.display()
        );
    }

    let audit = NewAudit::new(SystemClock.now(), Actor::Cli, AuditAction::BackupWritten)
        .detail(format!("verified copy of {tables} tables, {rows} rows"));
    source
        .append_audit(&audit)
        .await
        .context("the backup is written, but its audit entry is not")?;
    Ok(())
}
