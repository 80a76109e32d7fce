//! [`IntegrationStore`] on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use talaka_core::Timestamp;
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;
use talaka_store::integrations::{
    Integration, IntegrationId, IntegrationStore, NewIntegration, TokenScope, audit_with_target,
};
use talaka_store::{Result, StoreError};

use crate::{PgStore, commit, conflict, db, get, insert_audit};

const T: &str = "integrations";
const COLS: &str = "id, name, all_elections, created_by, created_at, revoked_at";

async fn load(conn: &mut PgConnection, row: &PgRow) -> Result<Integration> {
    let id: i64 = get(row, T, "id")?;
    let all: bool = get(row, T, "all_elections")?;
    let scope = if all {
        TokenScope::All
    } else {
        let codes = sqlx::query(
            "SELECT election_code FROM integration_elections WHERE integration_id = $1 \
             ORDER BY election_code COLLATE \"C\"",
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
        name: get(row, T, "name")?,
        scope,
        created_by: get::<Option<i64>>(row, T, "created_by")?.map(UserId),
        created_at: Timestamp(get(row, T, "created_at")?),
        revoked_at: get::<Option<i64>>(row, T, "revoked_at")?.map(Timestamp),
    })
}

#[async_trait]
impl IntegrationStore for PgStore {
    async fn create_integration(
        &self,
        new: &NewIntegration,
        audit: &NewAudit,
    ) -> Result<Integration> {
        let scope = new.scope.normalised();
        if matches!(&scope, TokenScope::Elections(c) if c.is_empty()) {
            return Err(StoreError::Conflict("scope"));
        }
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO integrations (name, token_fingerprint, all_elections, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {COLS}"
        ))
        .bind(new.name.trim())
        .bind(&new.token_fingerprint)
        .bind(scope == TokenScope::All)
        .bind(new.created_by.map(|u| u.0))
        .bind(new.created_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict("integration token"))?;
        let id: i64 = get(&row, T, "id")?;
        if let TokenScope::Elections(codes) = &scope {
            for code in codes {
                sqlx::query(
                    "INSERT INTO integration_elections (integration_id, election_code) \
                     VALUES ($1, $2)",
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
        commit(tx).await?;
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
        let row = sqlx::query(&format!("SELECT {COLS} FROM integrations WHERE id = $1"))
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
            "SELECT {COLS} FROM integrations WHERE token_fingerprint = $1"
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
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE integrations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
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
        commit(tx).await
    }
}
