//! [`IntegrationStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use talaka_core::Timestamp;
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;
use talaka_store::integrations::{
    Integration, IntegrationId, IntegrationStore, NewIntegration, TokenScope, audit_with_target,
};
use talaka_store::{Result, StoreError};

use crate::{SqliteStore, db, get, insert_audit, is_unique_violation};

const COLS: &str = "id, name, all_elections, created_by, created_at, revoked_at";

async fn load(conn: &mut SqliteConnection, row: &SqliteRow) -> Result<Integration> {
    let id: i64 = get(row, "id")?;
    let all: bool = get(row, "all_elections")?;
    let scope = if all {
        TokenScope::All
    } else {
        let codes = sqlx::query(
            "SELECT election_code FROM integration_elections WHERE integration_id = ? \
             ORDER BY election_code",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db)?;
        TokenScope::Elections(codes)
    };
    Ok(Integration {
        id: IntegrationId(id),
        name: get(row, "name")?,
        scope,
        created_by: get::<Option<i64>>(row, "created_by")?.map(UserId),
        created_at: Timestamp(get(row, "created_at")?),
        revoked_at: get::<Option<i64>>(row, "revoked_at")?.map(Timestamp),
    })
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn create_integration(
        &self,
        new: &NewIntegration,
        audit: &NewAudit,
    ) -> Result<Integration> {
        let scope = new.scope.normalised();
        if matches!(&scope, TokenScope::Elections(c) if c.is_empty()) {
            return Err(StoreError::Conflict("scope"));
        }
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO integrations (name, token_fingerprint, all_elections, created_by, \
             created_at) VALUES (?, ?, ?, ?, ?) RETURNING {COLS}"
        ))
        .bind(new.name.trim())
        .bind(&new.token_fingerprint)
        .bind(scope == TokenScope::All)
        .bind(new.created_by.map(|u| u.0))
        .bind(new.created_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("integration token")
            } else {
                db(e)
            }
        })?;
        let id: i64 = get(&row, "id")?;
        if let TokenScope::Elections(codes) = &scope {
            for code in codes {
                sqlx::query(
                    "INSERT INTO integration_elections (integration_id, election_code) VALUES (?, ?)",
                )
                .bind(id)
                .bind(code)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        let created = load(&mut tx, &row).await?;
        insert_audit(&mut tx, &audit_with_target(audit, created.id)).await?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn integrations(&self) -> Result<Vec<Integration>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM integrations ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(load(&mut conn, row).await?);
        }
        Ok(out)
    }

    async fn integration(&self, id: IntegrationId) -> Result<Option<Integration>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let row = sqlx::query(&format!("SELECT {COLS} FROM integrations WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        match row {
            Some(row) => Ok(Some(load(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }

    async fn integration_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Integration>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM integrations WHERE token_fingerprint = ?"
        ))
        .bind(fingerprint)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        match row {
            Some(row) => Ok(Some(load(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }

    async fn revoke_integration(
        &self,
        id: IntegrationId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE integrations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(at.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit_with_target(audit, id)).await?;
        tx.commit().await.map_err(db)
    }
}
