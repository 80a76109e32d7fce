//! Talaka's storage on an embedded SQLite file, the default backend.
//!
//! The file runs in WAL mode with `synchronous=FULL` (whatever was acknowledged to a person
//! survives a crash or power cut), foreign keys on, `secure_delete` on (deleted rows are
//! overwritten, not left in free pages) and a 5 s busy timeout. Every write that reads before
//! it writes runs in an IMMEDIATE transaction, which takes SQLite's write lock at `BEGIN`, so
//! concurrent writers queue on the busy timeout instead of failing half-way; that is also what
//! makes [`Store::claim_job`] exclusive.
//!
//! The database file (and its folder, when `open` creates them) is readable by its owner only.

mod elections;
mod integrations;
mod migrate;
mod ops;
mod photos;
mod safety;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use talaka_core::audit::{Actor, AuditEntry, NewAudit};
use talaka_core::user::{Role, UserId, Username};
use talaka_core::{Secret, Timestamp};
use talaka_store::{
    Backend, Invite, InviteId, Job, JobId, JobStatus, NewInvite, NewJob, NewSession, NewUser,
    Result, Session, SessionId, Store, StoreError, User,
};

pub use ops::{ConnectionSettings, TableDigest};

/// Connections in the pool. WAL lets readers run beside the one writer; more connections than
/// this only queue on SQLite's write lock.
const POOL_SIZE: u32 = 6;
/// Page cache per reading connection, in KiB when negative (SQLite's convention): 64 MiB.
const CACHE_SIZE: &str = "-65536";
/// Page cache of the writing connection: 256 MiB, the report indexes that every report lands
/// in at random (participant, photo) at 1.26 million reports, with room to spare; at 128 MiB
/// ingest slowed by a tenth past a million reports. A limit, not an allocation.
const WRITER_CACHE_SIZE: &str = "-262144";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A job's stored `last_error` is cut to this many characters.
const MAX_ERROR_CHARS: usize = 1000;

/// [`Store`] on one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection that runs write transactions ([`SqliteStore::write_tx`]). SQLite
    /// writes one transaction at a time anyway; keeping them on one connection keeps its page
    /// cache valid, where a pool hands out connections in turn and each must drop its cache
    /// whenever another has written.
    writer: SqlitePool,
    path: PathBuf,
    /// The background checkpoints ([`checkpoint_loop`]), stopped with the last handle.
    _checkpointer: Arc<AbortOnDrop>,
    /// The WAL's length in frames at the last background checkpoint.
    wal_frames: Arc<AtomicI64>,
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the background checkpoint runs. Each one ends with an fsync of the database
/// file, which the writer's WAL fsyncs queue behind: every 500 ms, requests of 10 reports had
/// p99 62-111 ms; every 2 s, 22 ms (bench/RESULTS.md).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// The writer checkpoints by itself only when the background checkpoints have fallen this many
/// pages (400 MB) behind.
const WRITER_AUTOCHECKPOINT: &str = "100000";

/// Copy the WAL back into the database file every [`CHECKPOINT_EVERY`], on a reading
/// connection, so that the writer does not: with `wal_autocheckpoint` the transaction that
/// crosses the threshold copies thousands of scattered index pages back and fsyncs the file
/// while every report behind it waits. A PASSIVE checkpoint runs beside the writer and never
/// blocks it. Under steady ingest a passive checkpoint never catches up with the last frame,
/// so the WAL would never start over: it reports the WAL's length in `wal_frames`, and when
/// that is long the writer itself runs a RESTART checkpoint before its next transaction
/// ([`SqliteStore::write_tx`]), copying only the few frames written since.
async fn checkpoint_loop(pool: SqlitePool, wal_frames: Arc<AtomicI64>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        // The writer is about to restart the WAL: a passive checkpoint now would only make it
        // wait for this one to finish.
        if wal_frames.load(Ordering::Relaxed) >= RESTART_AFTER_FRAMES {
            continue;
        }
        match checkpoint(&pool, "PASSIVE").await {
            Ok(frames) => wal_frames.store(frames, Ordering::Relaxed),
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "background WAL checkpoint failed"),
        }
    }
}

/// The WAL's length in frames after a checkpoint of `mode`.
async fn checkpoint(pool: &SqlitePool, mode: &str) -> std::result::Result<i64, sqlx::Error> {
    let row = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(pool)
        .await?;
    row.try_get::<i64, _>(1)
}

/// WAL length (in 4 KiB pages) past which the background checkpoint restarts the WAL: 100 MB.
const RESTART_AFTER_FRAMES: i64 = 25_000;

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl SqliteStore {
    /// Open (creating if missing, with its parent folder) the database file at `path`. Does not
    /// migrate; call [`Store::migrate`].
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(StoreError::backend)?;
        }
        match create_private_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::backend(e)),
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("secure_delete", "ON")
            // Reports land all over the participant and photo indexes; with SQLite's default
            // 2 MB page cache nearly every insert would read its index pages back from the OS.
            // A limit, not an allocation: the cache grows only as pages are read.
            .pragma("cache_size", CACHE_SIZE)
            // Checkpoint the WAL every 10,000 pages (40 MB) instead of 1,000: an index page
            // written by several groups of reports is copied back into the database once.
            .pragma("wal_autocheckpoint", "10000");
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                options
                    .pragma("cache_size", WRITER_CACHE_SIZE)
                    .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT),
            )
            .await
            .map_err(db)?;
        let wal_frames = Arc::new(AtomicI64::new(0));
        let checkpointer = tokio::spawn(checkpoint_loop(pool.clone(), wal_frames.clone()));
        Ok(Self {
            pool,
            writer,
            path: path.to_owned(),
            _checkpointer: Arc::new(AbortOnDrop(checkpointer.abort_handle())),
            wal_frames,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close every connection (and checkpoint the WAL), e.g. before copying the file.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        if self.wal_frames.load(Ordering::Relaxed) >= RESTART_AFTER_FRAMES {
            self.wal_frames.store(0, Ordering::Relaxed);
            // Nothing is lost if this fails: the WAL only stays long for a while.
            if let Err(e) = checkpoint(&self.writer, "RESTART").await {
                tracing::warn!(error = %e, "WAL restart checkpoint failed");
            }
        }
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Create an empty file readable by its owner only; `AlreadyExists` if there is one.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// The database's own clock in milliseconds, for bookkeeping columns the trait gives no time
/// for (`jobs.created_at`, `schema_migrations.applied_at`). Logic never depends on it.
pub(crate) fn now_sql() -> &'static str {
    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

fn corrupt(table: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.into(),
    }
}

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(col).map_err(db)
}

fn parse_role(table: &'static str, id: i64, s: &str) -> Result<Role> {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| corrupt(table, format!("row {id} has unknown role {s:?}")))
}

fn to_u32(table: &'static str, id: i64, col: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(table, format!("row {id} has {col} = {v}")))
}

const USER_COLS: &str =
    "id, username, role, password_hash, disabled, must_change_password, created_at";

fn user_from_row(row: &SqliteRow) -> Result<User> {
    let id: i64 = get(row, "id")?;
    let stored: String = get(row, "username")?;
    // The name itself is personal data: the error names the row only.
    let username = Username::parse(&stored)
        .ok()
        .filter(|u| u.as_str() == stored)
        .ok_or_else(|| corrupt("users", format!("row {id} has an invalid username")))?;
    let role: String = get(row, "role")?;
    Ok(User {
        id: UserId(id),
        username,
        role: parse_role("users", id, &role)?,
        password_hash: Secret::new(get(row, "password_hash")?),
        disabled: get(row, "disabled")?,
        must_change_password: get(row, "must_change_password")?,
        created_at: Timestamp(get(row, "created_at")?),
    })
}

const SESSION_COLS: &str = "id, user_id, created_at, last_seen_at, expires_at";

fn session_from_row(row: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: SessionId(get(row, "id")?),
        user_id: UserId(get(row, "user_id")?),
        created_at: Timestamp(get(row, "created_at")?),
        last_seen_at: Timestamp(get(row, "last_seen_at")?),
        expires_at: Timestamp(get(row, "expires_at")?),
    })
}

const INVITE_COLS: &str =
    "id, role, created_by, created_at, expires_at, redeemed_at, redeemed_by, revoked";

fn invite_from_row(row: &SqliteRow) -> Result<Invite> {
    let id: i64 = get(row, "id")?;
    let role: String = get(row, "role")?;
    Ok(Invite {
        id: InviteId(id),
        role: parse_role("invites", id, &role)?,
        created_by: get::<Option<i64>>(row, "created_by")?.map(UserId),
        created_at: Timestamp(get(row, "created_at")?),
        expires_at: Timestamp(get(row, "expires_at")?),
        redeemed_at: get::<Option<i64>>(row, "redeemed_at")?.map(Timestamp),
        redeemed_by: get::<Option<i64>>(row, "redeemed_by")?.map(UserId),
        revoked: get(row, "revoked")?,
    })
}

const JOB_COLS: &str =
    "id, kind, payload, status, attempts, max_attempts, run_at, locked_until, last_error";

fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let id: i64 = get(row, "id")?;
    let status: String = get(row, "status")?;
    Ok(Job {
        id: JobId(id),
        kind: get(row, "kind")?,
        payload: get(row, "payload")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt("jobs", format!("row {id} has unknown status {status:?}")))?,
        attempts: to_u32("jobs", id, "attempts", get(row, "attempts")?)?,
        max_attempts: to_u32("jobs", id, "max_attempts", get(row, "max_attempts")?)?,
        run_at: Timestamp(get(row, "run_at")?),
        locked_until: get::<Option<i64>>(row, "locked_until")?.map(Timestamp),
        last_error: get(row, "last_error")?,
    })
}

fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

async fn insert_audit(conn: &mut SqliteConnection, a: &NewAudit) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_kind, actor_user_id, action, target, detail) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(a.at.0)
    .bind(a.actor.kind())
    .bind(a.actor.user_id().map(|u| u.0))
    .bind(a.action.as_str())
    .bind(a.target.as_deref())
    .bind(&a.detail)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Insert a user (the caller's transaction); `Conflict("username")` if the name is taken.
async fn insert_user(conn: &mut SqliteConnection, u: &NewUser, role: Role) -> Result<User> {
    let row = sqlx::query(&format!(
        "INSERT INTO users (username, role, password_hash, disabled, must_change_password, created_at) \
         VALUES (?, ?, ?, 0, ?, ?) RETURNING {USER_COLS}"
    ))
    .bind(u.username.as_str())
    .bind(role.as_str())
    .bind(u.password_hash.expose())
    .bind(u.must_change_password)
    .bind(u.created_at.0)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("username")
        } else {
            db(e)
        }
    })?;
    user_from_row(&row)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<Vec<String>> {
        migrate::run(&self.pool).await
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
        let mut tx = self.write_tx().await?;
        let created = insert_user(&mut tx, user, user.role).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE username = ?"))
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
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn set_disabled(&self, id: UserId, disabled: bool, audit: &NewAudit) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &Secret<String>,
        must_change: bool,
        keep: Option<SessionId>,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?",
        )
        .bind(password_hash.expose())
        .bind(must_change)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // `id IS NOT NULL` is true for every row: with no session to keep, all go.
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?")
            .bind(id.0)
            .bind(keep.map(|s| s.0))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn count_active_admins(&self) -> Result<u64> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db)?;
        Ok(n.unsigned_abs())
    }

    // ---- sessions ----

    async fn create_session(&self, session: &NewSession, audit: &NewAudit) -> Result<Session> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO sessions (token_fingerprint, user_id, created_at, last_seen_at, expires_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING {SESSION_COLS}"
        ))
        .bind(&session.token_fingerprint)
        .bind(session.user_id.0)
        .bind(session.created_at.0)
        .bind(session.created_at.0)
        .bind(session.expires_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::NotFound
            } else if is_unique_violation(&e) {
                StoreError::Conflict("session token")
            } else {
                db(e)
            }
        })?;
        let created = session_from_row(&row)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn session_by_fingerprint(&self, fingerprint: &str) -> Result<Option<(Session, User)>> {
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.created_at AS session_created_at, s.last_seen_at, \
                    s.expires_at, u.id, u.username, u.role, u.password_hash, u.disabled, \
                    u.must_change_password, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_fingerprint = ?",
        )
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let session = Session {
            id: SessionId(get(&row, "session_id")?),
            user_id: user.id,
            created_at: Timestamp(get(&row, "session_created_at")?),
            last_seen_at: Timestamp(get(&row, "last_seen_at")?),
            expires_at: Timestamp(get(&row, "expires_at")?),
        };
        Ok(Some((session, user)))
    }

    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id = ?")
            .bind(at.0)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_session(&self, id: SessionId, audit: &NewAudit) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn delete_user_session(
        &self,
        user: UserId,
        id: SessionId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id = ? AND user_id = ?")
            .bind(id.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC, id DESC"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(session_from_row)
        .collect()
    }

    async fn delete_expired_sessions(&self, now: Timestamp, idle_cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?")
            .bind(now.0)
            .bind(idle_cutoff.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    // ---- invites ----

    async fn create_invite(&self, invite: &NewInvite, audit: &NewAudit) -> Result<Invite> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO invites (token_fingerprint, role, created_by, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING {INVITE_COLS}"
        ))
        .bind(&invite.token_fingerprint)
        .bind(invite.role.as_str())
        .bind(invite.created_by.map(|u| u.0))
        .bind(invite.created_at.0)
        .bind(invite.expires_at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::NotFound
            } else if is_unique_violation(&e) {
                StoreError::Conflict("invite token")
            } else {
                db(e)
            }
        })?;
        let created = invite_from_row(&row)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn usable_invite(&self, fingerprint: &str, now: Timestamp) -> Result<Option<Invite>> {
        sqlx::query(&format!(
            "SELECT {INVITE_COLS} FROM invites WHERE token_fingerprint = ? \
             AND revoked = 0 AND redeemed_at IS NULL AND expires_at > ?"
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
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE invites SET revoked = 1 WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn redeem_invite(
        &self,
        fingerprint: &str,
        now: Timestamp,
        user: &NewUser,
        audit: &NewAudit,
    ) -> Result<User> {
        // Any early return drops `tx`, which rolls everything back: a taken name leaves the
        // invite usable.
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "SELECT {INVITE_COLS} FROM invites WHERE token_fingerprint = ? \
             AND revoked = 0 AND redeemed_at IS NULL AND expires_at > ?"
        ))
        .bind(fingerprint)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let invite = row
            .as_ref()
            .map(invite_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        let created = insert_user(&mut tx, user, invite.role).await?;
        let done = sqlx::query(
            "UPDATE invites SET redeemed_at = ?, redeemed_by = ? WHERE id = ? AND redeemed_at IS NULL",
        )
        .bind(now.0)
        .bind(created.id.0)
        .bind(invite.id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    // ---- login throttling ----

    async fn record_login_failure(&self, keys: &[String], at: Timestamp) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for key in keys {
            sqlx::query("INSERT INTO login_failures (key, at) VALUES (?, ?)")
                .bind(key)
                .bind(at.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn count_login_failures(&self, key: &str, since: Timestamp) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?")
            .bind(key)
            .bind(since.0)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        Ok(n.unsigned_abs())
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn prune_login_failures(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at < ?")
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
        let rows = sqlx::query(
            "SELECT a.id, a.at, a.actor_kind, a.actor_user_id, u.username AS actor_name, \
                    a.action, a.target, a.detail \
             FROM audit_log a \
             LEFT JOIN users u ON a.actor_kind = 'user' AND u.id = a.actor_user_id \
             WHERE ?1 IS NULL OR a.id < ?1 \
             ORDER BY a.id DESC LIMIT ?2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                let kind: String = get(row, "actor_kind")?;
                Ok(AuditEntry {
                    id: get(row, "id")?,
                    at: Timestamp(get(row, "at")?),
                    actor: Actor::from_parts(&kind, get(row, "actor_user_id")?),
                    actor_name: get(row, "actor_name")?,
                    action: get(row, "action")?,
                    target: get(row, "target")?,
                    detail: get(row, "detail")?,
                })
            })
            .collect()
    }

    // ---- background jobs ----

    async fn enqueue_job(&self, job: &NewJob) -> Result<JobId> {
        let id: i64 = sqlx::query(&format!(
            "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
             VALUES (?, ?, 'queued', 0, ?, ?, {now}, {now}) RETURNING id",
            now = now_sql()
        ))
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(i64::from(job.max_attempts))
        .bind(job.run_at.0)
        .fetch_one(&self.pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db)?;
        Ok(JobId(id))
    }

    async fn claim_job(&self, now: Timestamp, lease_until: Timestamp) -> Result<Option<Job>> {
        // BEGIN IMMEDIATE takes the write lock before the job is chosen, so no other claimer
        // (in this process or another) can choose the same one; the single UPDATE … RETURNING
        // would be atomic on its own as well.
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = ?1, \
                    updated_at = {now} \
             WHERE id = (SELECT id FROM jobs \
                         WHERE (status = 'queued' AND run_at <= ?2) \
                            OR (status = 'running' AND locked_until <= ?2) \
                         ORDER BY run_at, id LIMIT 1) \
             RETURNING {JOB_COLS}",
            now = now_sql()
        ))
        .bind(lease_until.0)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let job = row.as_ref().map(job_from_row).transpose()?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    async fn complete_job(&self, id: JobId, attempt: u32) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = {} \
             WHERE id = ? AND status = 'running' AND attempts = ?",
            now_sql()
        ))
        .bind(id.0)
        .bind(i64::from(attempt))
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
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = CASE WHEN ?1 IS NULL THEN 'dead' ELSE 'queued' END, \
                    run_at = COALESCE(?1, run_at), locked_until = NULL, last_error = ?2, \
                    updated_at = {} \
             WHERE id = ?3 AND status = 'running' AND attempts = ?4",
            now_sql()
        ))
        .bind(retry_at.map(|t| t.0))
        .bind(truncate_chars(error, MAX_ERROR_CHARS))
        .bind(id.0)
        .bind(i64::from(attempt))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn job_counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter()
            .map(|row| {
                let status: String = get(row, "status")?;
                let n: i64 = get(row, "n")?;
                let status = JobStatus::parse(&status)
                    .ok_or_else(|| corrupt("jobs", format!("unknown status {status:?}")))?;
                Ok((status, n.unsigned_abs()))
            })
            .collect()
    }

    // ---- operations ----

    async fn backup_to(&self, dest: &Path) -> Result<()> {
        self.backup_into(dest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_character_boundaries() {
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("abcdef", 3), "abc");
        assert_eq!(truncate_chars("ўўўў", 2), "ўў");
        assert_eq!(truncate_chars("", 0), "");
    }
}
