//! Talaka's storage on PostgreSQL: [`PgStore`] implements [`talaka_store::Store`] on a sqlx
//! connection pool. Several `talaka serve` processes may share one database: migrations run
//! under an advisory lock, job claims use `FOR UPDATE SKIP LOCKED`.
//!
//! Timestamps are BIGINT milliseconds read from Talaka's clock and passed in by the caller.
//! The jobs table's `created_at`/`updated_at` and `schema_migrations.applied_at` are
//! bookkeeping only (logic never reads them) and come from the database clock, as in the
//! SQLite backend: the trait passes no time to enqueue, complete or fail.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Postgres, Row, Transaction};
use talaka_core::Secret;
use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditEntry, NewAudit};
use talaka_core::config::DatabaseUrl;
use talaka_core::user::{Role, UserId, Username};
use talaka_store::{
    Backend, Invite, InviteId, Job, JobId, JobStatus, NewInvite, NewJob, NewSession, NewUser,
    Result, Session, SessionId, Store, StoreError, User,
};

mod elections;
mod integrations;
mod photos;
mod safety;
#[cfg(feature = "testing")]
pub mod testing;

/// A migration: version, name, SQL. Append only; never edit a released one (its checksum is
/// recorded and checked on every start).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "0001_init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "0002_elections",
        include_str!("../migrations/0002_elections.sql"),
    ),
    (
        3,
        "0003_photos",
        include_str!("../migrations/0003_photos.sql"),
    ),
    (
        4,
        "0004_integrations",
        include_str!("../migrations/0004_integrations.sql"),
    ),
    (
        5,
        "0005_report_counts",
        include_str!("../migrations/0005_report_counts.sql"),
    ),
    (
        6,
        "0006_photo_review",
        include_str!("../migrations/0006_photo_review.sql"),
    ),
    (
        7,
        "0007_safety",
        include_str!("../migrations/0007_safety.sql"),
    ),
];

/// Key of the transaction-level advisory lock under which migrations run, so that several
/// processes starting at once migrate exactly once. Any fixed number; this is "talaka" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x7461_6c61_6b61;

/// Longest `last_error` kept for a job, in characters.
const MAX_ERROR_CHARS: usize = 1000;

/// The database clock in milliseconds, for bookkeeping columns only.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

const USER_COLS: &str =
    "id, username, role, password_hash, disabled, must_change_password, created_at";
const INVITE_COLS: &str =
    "id, role, created_by, created_at, expires_at, redeemed_at, redeemed_by, revoked";
const JOB_COLS: &str =
    "id, kind, payload, status, attempts, max_attempts, run_at, locked_until, last_error";
const SESSION_COLS: &str = "id, user_id, created_at, last_seen_at, expires_at";

/// Talaka's store on PostgreSQL. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl fmt::Debug for PgStore {
    // The pool's options hold the connection URL's password; show only its state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

/// Why the URL could not be used; never repeats the URL, which may hold a password.
#[derive(Debug)]
struct BadUrl;

impl fmt::Display for BadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the PostgreSQL URL could not be parsed (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB)")
    }
}

impl std::error::Error for BadUrl {}

/// Parse a `postgres://` URL into connect options without ever echoing it.
pub fn connect_options(url: &Secret<String>) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url.expose()).map_err(|_| StoreError::backend(BadUrl))
}

/// The pool Talaka uses: a handful of connections per process (several processes may share
/// one server), and a bounded wait so a saturated or unreachable database fails requests
/// instead of hanging them.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(10)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(600))
}

impl PgStore {
    /// Connect to the database at `url` (opens one connection to check it works).
    pub async fn connect(url: &Secret<String>) -> Result<Self> {
        let options = connect_options(url)?;
        let pool = pool_options().connect_with(options).await.map_err(|e| {
            let shown = DatabaseUrl::Postgres(url.clone()).redacted();
            tracing::error!(database = %shown, error = %e, "cannot connect to PostgreSQL");
            StoreError::backend(e)
        })?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(StoreError::backend)
    }
}

// ---- helpers ----

fn db(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Map a write error: a unique violation becomes `Conflict(rule)`.
fn conflict(rule: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(rule)
        } else {
            db(e)
        }
    }
}

fn corrupt(table: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.into(),
    }
}

fn get<'r, T>(row: &'r PgRow, table: &'static str, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(|e| match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => {
            corrupt(table, format!("column {col}: {e}"))
        }
        other => db(other),
    })
}

fn parse_role(table: &'static str, s: &str) -> Result<Role> {
    Role::parse(s).map_err(|e| corrupt(table, e.to_string()))
}

fn to_u32(table: &'static str, col: &str, v: i32) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(table, format!("{col} is negative: {v}")))
}

fn to_u64(table: &'static str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(table, format!("negative count: {v}")))
}

fn user_from_row(row: &PgRow) -> Result<User> {
    const T: &str = "users";
    let username: String = get(row, T, "username")?;
    let role: String = get(row, T, "role")?;
    Ok(User {
        id: UserId(get(row, T, "id")?),
        username: Username::parse(&username).map_err(|e| corrupt(T, format!("username: {e}")))?,
        role: parse_role(T, &role)?,
        password_hash: Secret::new(get(row, T, "password_hash")?),
        disabled: get(row, T, "disabled")?,
        must_change_password: get(row, T, "must_change_password")?,
        created_at: Timestamp(get(row, T, "created_at")?),
    })
}

fn session_from_row(row: &PgRow, prefix: &str) -> Result<Session> {
    const T: &str = "sessions";
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Session {
        id: SessionId(get(row, T, &col("id"))?),
        user_id: UserId(get(row, T, &col("user_id"))?),
        created_at: Timestamp(get(row, T, &col("created_at"))?),
        last_seen_at: Timestamp(get(row, T, &col("last_seen_at"))?),
        expires_at: Timestamp(get(row, T, &col("expires_at"))?),
    })
}

fn invite_from_row(row: &PgRow) -> Result<Invite> {
    const T: &str = "invites";
    let role: String = get(row, T, "role")?;
    Ok(Invite {
        id: InviteId(get(row, T, "id")?),
        role: parse_role(T, &role)?,
        created_by: get::<Option<i64>>(row, T, "created_by")?.map(UserId),
        created_at: Timestamp(get(row, T, "created_at")?),
        expires_at: Timestamp(get(row, T, "expires_at")?),
        redeemed_at: get::<Option<i64>>(row, T, "redeemed_at")?.map(Timestamp),
        redeemed_by: get::<Option<i64>>(row, T, "redeemed_by")?.map(UserId),
        revoked: get(row, T, "revoked")?,
    })
}

fn job_from_row(row: &PgRow) -> Result<Job> {
    const T: &str = "jobs";
    let status: String = get(row, T, "status")?;
    Ok(Job {
        id: JobId(get(row, T, "id")?),
        kind: get(row, T, "kind")?,
        payload: get(row, T, "payload")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt(T, format!("unknown status {status:?}")))?,
        attempts: to_u32(T, "attempts", get(row, T, "attempts")?)?,
        max_attempts: to_u32(T, "max_attempts", get(row, T, "max_attempts")?)?,
        run_at: Timestamp(get(row, T, "run_at")?),
        locked_until: get::<Option<i64>>(row, T, "locked_until")?.map(Timestamp),
        last_error: get(row, T, "last_error")?,
    })
}

fn audit_from_row(row: &PgRow) -> Result<AuditEntry> {
    const T: &str = "audit_log";
    let kind: String = get(row, T, "actor_kind")?;
    let user: Option<i64> = get(row, T, "actor_user_id")?;
    Ok(AuditEntry {
        id: get(row, T, "id")?,
        at: Timestamp(get(row, T, "at")?),
        actor: Actor::from_parts(&kind, user),
        actor_name: get(row, T, "actor_name")?,
        action: get(row, T, "action")?,
        target: get(row, T, "target")?,
        detail: get(row, T, "detail")?,
    })
}

/// Append an audit entry on `conn` (a transaction, so it commits with the change it records).
async fn insert_audit(conn: &mut sqlx::PgConnection, entry: &NewAudit) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_kind, actor_user_id, action, target, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.at.0)
    .bind(entry.actor.kind())
    .bind(entry.actor.user_id().map(|u| u.0))
    .bind(entry.action.as_str())
    .bind(entry.target.as_deref())
    .bind(&entry.detail)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn commit(tx: Transaction<'static, Postgres>) -> Result<()> {
    tx.commit().await.map_err(db)
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<Vec<String>> {
        const T: &str = "schema_migrations";
        let mut tx = self.begin().await?;
        // Held until commit or rollback: concurrent migrators wait here, then see the
        // migrations already applied.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // `Executor::execute` with `raw_sql` (rather than `RawSql::execute`) keeps the future
        // `Send` for `async_trait`.
        (&mut *tx)
            .execute(sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations (\
                    version BIGINT PRIMARY KEY, \
                    name TEXT NOT NULL, \
                    checksum TEXT NOT NULL, \
                    applied_at BIGINT NOT NULL)",
            ))
            .await
            .map_err(db)?;

        let rows =
            sqlx::query("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let mut applied = Vec::with_capacity(rows.len());
        for row in &rows {
            let version: i64 = get(row, T, "version")?;
            let name: String = get(row, T, "name")?;
            let checksum: String = get(row, T, "checksum")?;
            applied.push((version, name, checksum));
        }
        for (version, name, _) in &applied {
            if !MIGRATIONS.iter().any(|(v, _, _)| v == version) {
                return Err(corrupt(
                    T,
                    format!(
                        "migration {version} ({name}) is applied but unknown to this version of \
                         Talaka; the database was migrated by a newer release"
                    ),
                ));
            }
        }

        let mut now_applied = Vec::new();
        for &(version, name, sql) in MIGRATIONS {
            let checksum = talaka_core::crypto::token_fingerprint(sql);
            if let Some((_, _, stored)) = applied.iter().find(|(v, _, _)| *v == version) {
                if *stored != checksum {
                    return Err(corrupt(
                        T,
                        format!(
                            "migration {name} was changed after it was applied (checksum differs)"
                        ),
                    ));
                }
                continue;
            }
            (&mut *tx).execute(sqlx::raw_sql(sql)).await.map_err(db)?;
            sqlx::query(&format!(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
                 VALUES ($1, $2, $3, {DB_NOW_MS})"
            ))
            .bind(version)
            .bind(name)
            .bind(&checksum)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            now_applied.push(name.to_owned());
        }
        commit(tx).await?;
        for name in &now_applied {
            tracing::info!(migration = %name, "applied database migration");
        }
        Ok(now_applied)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // ---- staff accounts ----

    async fn create_user(&self, user: &NewUser, audit: &NewAudit) -> Result<User> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO users (username, role, password_hash, disabled, must_change_password, created_at) \
             VALUES ($1, $2, $3, FALSE, $4, $5) RETURNING {USER_COLS}"
        ))
        .bind(user.username.as_str())
        .bind(user.role.as_str())
        .bind(user.password_hash.expose())
        .bind(user.must_change_password)
        .bind(user.created_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict("username"))?;
        let created = user_from_row(&row)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(created)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        ))
        .bind(username.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn set_role(&self, id: UserId, role: Role, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(id.0)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn set_disabled(&self, id: UserId, disabled: bool, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
            .bind(id.0)
            .bind(disabled)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &Secret<String>,
        must_change: bool,
        keep: Option<SessionId>,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, must_change_password = $3 WHERE id = $1",
        )
        .bind(id.0)
        .bind(password_hash.expose())
        .bind(must_change)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2::BIGINT IS NULL OR id <> $2)")
            .bind(id.0)
            .bind(keep.map(|s| s.0))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn count_active_admins(&self) -> Result<u64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND NOT disabled")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        to_u64("users", get(&row, "users", "n")?)
    }

    // ---- sessions ----

    async fn create_session(&self, session: &NewSession, audit: &NewAudit) -> Result<Session> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO sessions (token_fingerprint, user_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $3, $4) RETURNING {SESSION_COLS}"
        ))
        .bind(&session.token_fingerprint)
        .bind(session.user_id.0)
        .bind(session.created_at.0)
        .bind(session.expires_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict("session"))?;
        let created = session_from_row(&row, "")?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(created)
    }

    async fn session_by_fingerprint(&self, fingerprint: &str) -> Result<Option<(Session, User)>> {
        let row = sqlx::query(
            "SELECT s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
                    s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, \
                    u.id, u.username, u.role, u.password_hash, u.disabled, \
                    u.must_change_password, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_fingerprint = $1",
        )
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some((session_from_row(&row, "s_")?, user_from_row(&row)?))),
        }
    }

    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<()> {
        // Never moves backwards, whatever order concurrent requests finish in.
        sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1")
            .bind(id.0)
            .bind(at.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_session(&self, id: SessionId, audit: &NewAudit) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn delete_user_session(
        &self,
        user: UserId,
        id: SessionId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| session_from_row(r, ""))
        .collect()
    }

    async fn delete_expired_sessions(&self, now: Timestamp, idle_cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now.0)
            .bind(idle_cutoff.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    // ---- invites ----

    async fn create_invite(&self, invite: &NewInvite, audit: &NewAudit) -> Result<Invite> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO invites (token_fingerprint, role, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {INVITE_COLS}"
        ))
        .bind(&invite.token_fingerprint)
        .bind(invite.role.as_str())
        .bind(invite.created_by.map(|u| u.0))
        .bind(invite.created_at.0)
        .bind(invite.expires_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict("invite"))?;
        let created = invite_from_row(&row)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(created)
    }

    async fn usable_invite(&self, fingerprint: &str, now: Timestamp) -> Result<Option<Invite>> {
        sqlx::query(&format!(
            "SELECT {INVITE_COLS} FROM invites \
             WHERE token_fingerprint = $1 AND NOT revoked AND redeemed_at IS NULL AND expires_at > $2"
        ))
        .bind(fingerprint)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(invite_from_row)
        .transpose()
    }

    async fn list_invites(&self) -> Result<Vec<Invite>> {
        sqlx::query(&format!(
            "SELECT {INVITE_COLS} FROM invites ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(invite_from_row)
        .collect()
    }

    async fn revoke_invite(&self, id: InviteId, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE invites SET revoked = TRUE WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn redeem_invite(
        &self,
        fingerprint: &str,
        now: Timestamp,
        user: &NewUser,
        audit: &NewAudit,
    ) -> Result<User> {
        let mut tx = self.begin().await?;
        // Locks the invite: a concurrent redemption waits, then finds it redeemed.
        let invite = sqlx::query(
            "SELECT id, role FROM invites \
             WHERE token_fingerprint = $1 AND NOT revoked AND redeemed_at IS NULL AND expires_at > $2 \
             FOR UPDATE",
        )
        .bind(fingerprint)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let invite_id: i64 = get(&invite, "invites", "id")?;
        let role: String = get(&invite, "invites", "role")?;
        let role = parse_role("invites", &role)?;

        // On a taken name the transaction is rolled back (dropped) and the invite stays usable.
        let row = sqlx::query(&format!(
            "INSERT INTO users (username, role, password_hash, disabled, must_change_password, created_at) \
             VALUES ($1, $2, $3, FALSE, $4, $5) RETURNING {USER_COLS}"
        ))
        .bind(user.username.as_str())
        .bind(role.as_str())
        .bind(user.password_hash.expose())
        .bind(user.must_change_password)
        .bind(user.created_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict("username"))?;
        let created = user_from_row(&row)?;

        sqlx::query("UPDATE invites SET redeemed_at = $2, redeemed_by = $3 WHERE id = $1")
            .bind(invite_id)
            .bind(now.0)
            .bind(created.id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(created)
    }

    // ---- login throttling ----

    async fn record_login_failure(&self, keys: &[String], at: Timestamp) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO login_failures (key, at) SELECT k, $2 FROM UNNEST($1::TEXT[]) AS k",
        )
        .bind(keys)
        .bind(at.0)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn count_login_failures(&self, key: &str, since: Timestamp) -> Result<u64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE key = $1 AND at >= $2")
                .bind(key)
                .bind(since.0)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        to_u64("login_failures", get(&row, "login_failures", "n")?)
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn prune_login_failures(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(before.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    // ---- audit log ----

    async fn append_audit(&self, entry: &NewAudit) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_audit(&mut conn, entry).await
    }

    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        sqlx::query(
            "SELECT a.id, a.at, a.actor_kind, a.actor_user_id, a.action, a.target, a.detail, \
                    u.username AS actor_name \
             FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id \
             WHERE ($1::BIGINT IS NULL OR a.id < $1) \
             ORDER BY a.id DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(audit_from_row)
        .collect()
    }

    // ---- background jobs ----

    async fn enqueue_job(&self, job: &NewJob) -> Result<JobId> {
        let row = sqlx::query(&format!(
            "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
             VALUES ($1, $2, 'queued', 0, $3, $4, {DB_NOW_MS}, {DB_NOW_MS}) RETURNING id"
        ))
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
        .bind(job.run_at.0)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(JobId(get(&row, "jobs", "id")?))
    }

    async fn claim_job(&self, now: Timestamp, lease_until: Timestamp) -> Result<Option<Job>> {
        // SKIP LOCKED: concurrent claimers (tasks or processes) pass over a row another one is
        // claiming instead of waiting for it, so no job is handed out twice.
        sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, updated_at = {DB_NOW_MS} \
             WHERE id = ( \
                 SELECT id FROM jobs \
                 WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1) \
                 ORDER BY run_at, id \
                 FOR UPDATE SKIP LOCKED \
                 LIMIT 1) \
             RETURNING {JOB_COLS}"
        ))
        .bind(now.0)
        .bind(lease_until.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(job_from_row)
        .transpose()
    }

    async fn complete_job(&self, id: JobId, attempt: u32) -> Result<bool> {
        let Ok(attempt) = i32::try_from(attempt) else {
            return Ok(false);
        };
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = {DB_NOW_MS} \
             WHERE id = $1 AND status = 'running' AND attempts = $2"
        ))
        .bind(id.0)
        .bind(attempt)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &self,
        id: JobId,
        attempt: u32,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool> {
        let Ok(attempt) = i32::try_from(attempt) else {
            return Ok(false);
        };
        let error = truncate_chars(error, MAX_ERROR_CHARS);
        let done = sqlx::query(&format!(
            "UPDATE jobs SET \
                 status = CASE WHEN $4::BIGINT IS NULL THEN 'dead' ELSE 'queued' END, \
                 run_at = COALESCE($4, run_at), \
                 locked_until = NULL, \
                 last_error = $3, \
                 updated_at = {DB_NOW_MS} \
             WHERE id = $1 AND status = 'running' AND attempts = $2"
        ))
        .bind(id.0)
        .bind(attempt)
        .bind(&error)
        .bind(retry_at.map(|t| t.0))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn job_counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = get(row, "jobs", "status")?;
            let status = JobStatus::parse(&status)
                .ok_or_else(|| corrupt("jobs", format!("unknown status {status:?}")))?;
            counts.push((status, to_u64("jobs", get(row, "jobs", "n")?)?));
        }
        counts.sort_by_key(|(s, _)| *s as u8);
        Ok(counts)
    }

    // ---- operations ----

    async fn backup_to(&self, _dest: &Path) -> Result<()> {
        Err(StoreError::Unsupported(
            "PostgreSQL backups are made with pg_dump, e.g. `pg_dump --format=custom --file talaka.dump \"$DATABASE_URL\"`, and restored with pg_restore",
        ))
    }
}
