//! The storage seam. Talaka's server, CLI and workers talk to a `dyn Store`; each backend
//! (`talaka-store-sqlite`, `talaka-store-postgres`) implements it in its own crate with its
//! own migrations. Only backend crates contain SQL.
//!
//! Every method that changes staff-visible state takes the [`NewAudit`] entry describing the
//! change and writes both in one transaction: there is no change without its audit entry and
//! no audit entry for a change that did not happen.

use std::path::Path;

use async_trait::async_trait;
use talaka_core::Secret;
use talaka_core::Timestamp;
use talaka_core::audit::{AuditEntry, NewAudit};
use talaka_core::user::{Role, UserId, Username};

pub mod elections;
pub mod integrations;
pub mod moderation;
pub mod photos;
pub mod safety;
#[cfg(feature = "testing")]
pub mod story;
#[cfg(feature = "testing")]
pub mod story_elections;
#[cfg(feature = "testing")]
pub mod story_integrations;
#[cfg(feature = "testing")]
pub mod story_moderation;
#[cfg(feature = "testing")]
pub mod story_photos;
#[cfg(feature = "testing")]
pub mod story_safety;

pub use elections::{ElectionError, ElectionResult, ElectionStore, Stores};
pub use integrations::{Integration, IntegrationId, IntegrationStore, NewIntegration, TokenScope};
pub use photos::{NewPhoto, PhotoId, PhotoRecord, PhotoStore, PhotoSubject};
pub use safety::SafetyStore;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist (or, for invites, is expired, used or revoked).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the string names the rule, e.g. `username`.
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The backend cannot do this; the message says what to do instead.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Data in the database that does not parse into a domain type.
    #[error("corrupt record in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// The database itself failed (connection, I/O, constraint).
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// Which engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A staff account as stored.
#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub role: Role,
    pub password_hash: Secret<String>,
    pub disabled: bool,
    /// Set for one-time passwords: the next sign-in must choose a new password.
    pub must_change_password: bool,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: Username,
    pub role: Role,
    pub password_hash: Secret<String>,
    pub must_change_password: bool,
    pub created_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub i64);

/// A signed-in session. The token itself is never stored, only its fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end of the session, whatever the activity.
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewSession {
    pub token_fingerprint: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InviteId(pub i64);

/// A link that lets one new staff member create an account with a given role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub id: InviteId,
    pub role: Role,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub redeemed_at: Option<Timestamp>,
    pub redeemed_by: Option<UserId>,
    pub revoked: bool,
}

impl Invite {
    pub fn is_usable(&self, now: Timestamp) -> bool {
        !self.revoked && self.redeemed_at.is_none() && now < self.expires_at
    }
}

#[derive(Clone, Debug)]
pub struct NewInvite {
    pub token_fingerprint: String,
    pub role: Role,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker until its lease runs out.
    Running,
    Done,
    /// Failed `max_attempts` times; staff must look at it.
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Done,
            JobStatus::Dead,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }
}

/// A unit of background work. `payload` is JSON text owned by the job's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub payload: String,
    pub status: JobStatus,
    /// Attempts started so far, including a running one.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: Timestamp,
    /// While running: when the claim lapses and another worker may take the job.
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub run_at: Timestamp,
    pub max_attempts: u32,
}

/// Talaka's storage. Implementations must be safe to share between tasks and, for
/// PostgreSQL, between processes: several `talaka serve` instances may run on one database.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    fn backend(&self) -> Backend;

    /// Apply pending migrations; returns the names of the ones applied now. Safe to call from
    /// several processes at once.
    async fn migrate(&self) -> Result<Vec<String>>;

    /// A cheap round trip, for `/healthz`.
    async fn ping(&self) -> Result<()>;

    // ---- staff accounts ----

    /// Fails with `Conflict("username")` if the name is taken.
    async fn create_user(&self, user: &NewUser, audit: &NewAudit) -> Result<User>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>>;
    /// All accounts, ordered by name.
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn set_role(&self, id: UserId, role: Role, audit: &NewAudit) -> Result<()>;
    /// Disabling also ends every session of the account, in the same transaction.
    async fn set_disabled(&self, id: UserId, disabled: bool, audit: &NewAudit) -> Result<()>;
    /// Replace the password hash and end every session of the account except `keep`.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &Secret<String>,
        must_change: bool,
        keep: Option<SessionId>,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Number of enabled admins, so the last one cannot be demoted or disabled.
    async fn count_active_admins(&self) -> Result<u64>;

    // ---- sessions ----

    async fn create_session(&self, session: &NewSession, audit: &NewAudit) -> Result<Session>;
    /// The session and its user, whatever their state; the caller checks expiry and `disabled`.
    async fn session_by_fingerprint(&self, fingerprint: &str) -> Result<Option<(Session, User)>>;
    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<()>;
    /// Sign-out: delete the session. Returns whether it existed.
    async fn delete_session(&self, id: SessionId, audit: &NewAudit) -> Result<bool>;
    /// Delete one of `user`'s sessions; `false` if no such session belongs to that user.
    async fn delete_user_session(
        &self,
        user: UserId,
        id: SessionId,
        audit: &NewAudit,
    ) -> Result<bool>;
    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>>;
    /// Remove sessions past their absolute expiry or idle since before `idle_cutoff`.
    async fn delete_expired_sessions(&self, now: Timestamp, idle_cutoff: Timestamp) -> Result<u64>;

    // ---- invites ----

    async fn create_invite(&self, invite: &NewInvite, audit: &NewAudit) -> Result<Invite>;
    /// A usable (unexpired, unused, unrevoked) invite with this fingerprint.
    async fn usable_invite(&self, fingerprint: &str, now: Timestamp) -> Result<Option<Invite>>;
    /// Newest first.
    async fn list_invites(&self) -> Result<Vec<Invite>>;
    async fn revoke_invite(&self, id: InviteId, audit: &NewAudit) -> Result<()>;
    /// Atomically: check the invite is usable, create the user with the invite's role (the
    /// role in `user` is ignored), mark the invite redeemed, append `audit`. `NotFound` if the
    /// invite is not usable; `Conflict("username")` if the name is taken (invite stays usable).
    async fn redeem_invite(
        &self,
        fingerprint: &str,
        now: Timestamp,
        user: &NewUser,
        audit: &NewAudit,
    ) -> Result<User>;

    // ---- login throttling (keys are keyed hashes, never raw names or addresses) ----

    async fn record_login_failure(&self, keys: &[String], at: Timestamp) -> Result<()>;
    async fn count_login_failures(&self, key: &str, since: Timestamp) -> Result<u64>;
    async fn clear_login_failures(&self, key: &str) -> Result<()>;
    async fn prune_login_failures(&self, before: Timestamp) -> Result<u64>;

    // ---- audit log (append-only) ----

    async fn append_audit(&self, entry: &NewAudit) -> Result<()>;
    /// Newest first; `before` is an entry id for paging.
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;

    // ---- background jobs ----

    async fn enqueue_job(&self, job: &NewJob) -> Result<JobId>;
    /// Claim one due job: queued with `run_at <= now`, or running with a lapsed lease. The
    /// claim increments `attempts` and sets `locked_until = lease_until`. Two workers never
    /// claim the same job at once (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: an immediate
    /// transaction).
    async fn claim_job(&self, now: Timestamp, lease_until: Timestamp) -> Result<Option<Job>>;
    /// Mark done. `attempt` is the job's `attempts` at claim; a worker whose lease lapsed and
    /// whose job was re-claimed gets `false` and changes nothing.
    async fn complete_job(&self, id: JobId, attempt: u32) -> Result<bool>;
    /// Record a failure: back to queued at `retry_at`, or dead when `retry_at` is `None`.
    async fn fail_job(
        &self,
        id: JobId,
        attempt: u32,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool>;
    async fn job(&self, id: JobId) -> Result<Option<Job>>;
    /// How many jobs are in each status, for `/metrics`.
    async fn job_counts(&self) -> Result<Vec<(JobStatus, u64)>>;

    // ---- operations ----

    /// Write a consistent copy of the whole database to `dest`, which must not exist
    /// (SQLite: `VACUUM INTO`). PostgreSQL answers `Unsupported` with a pointer to `pg_dump`.
    async fn backup_to(&self, dest: &Path) -> Result<()>;
}
