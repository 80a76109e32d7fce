//! The one test story every backend must pass, so that SQLite and PostgreSQL keep the same
//! contract. A backend's test suite calls [`run_all`] on a fresh store, or each part on a fresh
//! store of its own, e.g.
//!
//! ```ignore
//! #[tokio::test]
//! async fn users() {
//!     let store = fresh_store().await;
//!     talaka_store::story::users(&store).await;
//! }
//! ```
//!
//! Rules the parts follow, so they can share one store (as in [`run_all`]) or each have their own:
//! - [`migrations`] needs a store that has never been migrated; every other part migrates the
//!   store itself first (a no-op when already done).
//! - Each part creates its own uniquely named users, fingerprints and keys, and uses its own
//!   era of explicit timestamps (never the wall clock), so parts do not disturb one another.
//! - Parts must not run *concurrently* on one store: several check that the newest audit entry
//!   is the one they just caused.
//! - [`jobs`] and [`jobs_claimed_once`] claim whatever is due, so the store must hold no other
//!   due jobs than the ones those parts enqueue (the other parts enqueue none).
//!
//! Failures panic with a message naming what broke. The append-only property of the audit log
//! is checked here only as far as the trait can see (no entry ever changes or disappears, and a
//! failed change leaves no entry); the SQL-level trigger test belongs in each backend's tests.

use std::collections::BTreeSet;

use talaka_core::audit::{Actor, AuditAction, AuditEntry, NewAudit};
use talaka_core::user::{Role, UserId, Username};
use talaka_core::{Secret, Timestamp};

use crate::{
    JobStatus, NewInvite, NewJob, NewSession, NewUser, SessionId, Store, StoreError, User,
};

/// 2023-11-14 22:13 UTC: the story's reference time. Each part works in its own era around it.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

const USERS_ERA: i64 = T0;
const SESSIONS_ERA: i64 = T0 - 30 * DAY;
const INVITES_ERA: i64 = T0 + DAY;
const LOGIN_ERA: i64 = T0 + 2 * DAY;
const JOBS_ERA: i64 = T0 + 3 * DAY;
const JOBS_CONCURRENT_ERA: i64 = T0 + 4 * DAY;
const AUDIT_ERA: i64 = T0 + 5 * DAY;

/// Every part, in order, on one store that has never been migrated.
pub async fn run_all(store: &dyn Store) {
    migrations(store).await;
    users(store).await;
    sessions(store).await;
    invites(store).await;
    login_failures(store).await;
    audit_log(store).await;
    jobs(store).await;
    jobs_claimed_once(store).await;
    audit_log_is_append_only(store).await;
}

// ---------------------------------------------------------------------------------------------
// helpers

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn name(s: &str) -> Username {
    Username::parse(s).unwrap_or_else(|e| panic!("story user name {s:?} is invalid: {e}"))
}

fn new_user(username: &str, role: Role, at: i64) -> NewUser {
    NewUser {
        username: name(username),
        role,
        password_hash: Secret::new(format!("$argon2id$story${username}")),
        must_change_password: false,
        created_at: ts(at),
    }
}

fn cli(at: i64, action: AuditAction) -> NewAudit {
    NewAudit::new(ts(at), Actor::Cli, action)
}

async fn prepare(store: &dyn Store) {
    store.migrate().await.expect("migrate before a story part");
}

async fn create(store: &dyn Store, username: &str, role: Role, at: i64) -> User {
    let audit = cli(at, AuditAction::UserCreated).target(format!("username:{username}"));
    let user = store
        .create_user(&new_user(username, role, at), &audit)
        .await
        .unwrap_or_else(|e| panic!("create_user {username}: {e}"));
    assert_last_audit(store, &audit, "create_user").await;
    user
}

async fn newest_audit(store: &dyn Store) -> Option<AuditEntry> {
    store
        .list_audit(None, 1)
        .await
        .expect("list_audit(None, 1)")
        .into_iter()
        .next()
}

async fn newest_audit_id(store: &dyn Store) -> Option<i64> {
    newest_audit(store).await.map(|e| e.id)
}

/// The newest audit entry is exactly `expected`.
async fn assert_last_audit(store: &dyn Store, expected: &NewAudit, after: &str) {
    let e = newest_audit(store)
        .await
        .unwrap_or_else(|| panic!("{after}: no audit entry was written"));
    assert_eq!(e.at, expected.at, "{after}: audit `at`");
    assert_eq!(e.actor, expected.actor, "{after}: audit actor");
    assert_eq!(e.action, expected.action.as_str(), "{after}: audit action");
    assert_eq!(e.target, expected.target, "{after}: audit target");
    assert_eq!(e.detail, expected.detail, "{after}: audit detail");
}

/// Nothing was appended since the newest entry was `before`.
async fn assert_no_new_audit(store: &dyn Store, before: Option<i64>, after: &str) {
    assert_eq!(
        newest_audit_id(store).await,
        before,
        "{after}: an audit entry was written for a change that did not happen"
    );
}

/// The whole audit log, newest first, read in pages of `page`.
async fn all_audit(store: &dyn Store, page: u32) -> Vec<AuditEntry> {
    let mut all: Vec<AuditEntry> = Vec::new();
    let mut before = None;
    loop {
        let batch = store
            .list_audit(before, page)
            .await
            .expect("list_audit page");
        assert!(
            batch.len() <= page as usize,
            "list_audit returned more than `limit` entries"
        );
        let Some(last) = batch.last() else { break };
        before = Some(last.id);
        let short = batch.len() < page as usize;
        all.extend(batch);
        if short {
            break;
        }
    }
    all
}

fn session_ids(sessions: &[crate::Session]) -> BTreeSet<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

async fn open_session(
    store: &dyn Store,
    user: &User,
    fp: &str,
    at: i64,
    ttl: i64,
) -> crate::Session {
    let audit = NewAudit::new(ts(at), Actor::User(user.id), AuditAction::LoginSucceeded)
        .target(format!("user:{}", user.id));
    let s = store
        .create_session(
            &NewSession {
                token_fingerprint: fp.to_owned(),
                user_id: user.id,
                created_at: ts(at),
                expires_at: ts(at + ttl),
            },
            &audit,
        )
        .await
        .unwrap_or_else(|e| panic!("create_session {fp}: {e}"));
    assert_last_audit(store, &audit, "create_session").await;
    s
}

async fn count_status(store: &dyn Store, status: JobStatus) -> u64 {
    let counts = store.job_counts().await.expect("job_counts");
    let mut seen = BTreeSet::new();
    for (s, _) in &counts {
        assert!(
            seen.insert(s.as_str()),
            "job_counts lists {} twice",
            s.as_str()
        );
    }
    counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

// ---------------------------------------------------------------------------------------------
// parts

/// Migrating a fresh store applies something; migrating again applies nothing. `ping` works.
pub async fn migrations(store: &dyn Store) {
    let first = store.migrate().await.expect("first migrate");
    assert!(
        !first.is_empty(),
        "the first migrate on a fresh store applied no migration"
    );
    let mut sorted = first.clone();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        first.len(),
        "a migration was reported twice: {first:?}"
    );
    let second = store.migrate().await.expect("second migrate");
    assert!(
        second.is_empty(),
        "the second migrate applied {second:?} again"
    );
    store.ping().await.expect("ping after migrate");
    // A fresh store is empty.
    assert!(
        store.list_users().await.expect("list_users").is_empty(),
        "fresh store has users"
    );
    assert_eq!(
        store
            .count_active_admins()
            .await
            .expect("count_active_admins"),
        0
    );
}

/// Staff accounts: create, duplicate names, lookups, ordering, roles, disabling (which ends
/// sessions), passwords (which end every session but the one kept), counting admins.
pub async fn users(store: &dyn Store) {
    prepare(store).await;
    let t = USERS_ERA;
    let admins_before = store
        .count_active_admins()
        .await
        .expect("count_active_admins");

    // Create and read back.
    let zed = create(store, "users-zed", Role::Observer, t).await;
    let amy = create(store, "users-amy", Role::Admin, t + 1).await;
    let bob = create(store, "users-bob", Role::Admin, t + 2).await;
    assert_eq!(zed.username, name("users-zed"));
    assert_eq!(zed.role, Role::Observer);
    assert_eq!(zed.password_hash.expose(), "$argon2id$story$users-zed");
    assert!(!zed.disabled && !zed.must_change_password);
    assert_eq!(zed.created_at, ts(t));
    assert!(amy.id != zed.id && bob.id != amy.id, "user ids must differ");

    // A one-time password account keeps its flag.
    let mut otp = new_user("users-otp", Role::Analyst, t + 3);
    otp.must_change_password = true;
    let otp = store
        .create_user(
            &otp,
            &cli(t + 3, AuditAction::UserCreated).target("username:users-otp"),
        )
        .await
        .expect("create otp user");
    assert!(otp.must_change_password);

    // Duplicate name: Conflict("username"), no audit entry.
    let before = newest_audit_id(store).await;
    let dup = store
        .create_user(
            &new_user("users-amy", Role::Lawyer, t + 4),
            &cli(t + 4, AuditAction::UserCreated)
                .target("username:users-amy")
                .detail("duplicate"),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict("username"))),
        "duplicate user name: expected Conflict(\"username\"), got {dup:?}"
    );
    assert_no_new_audit(store, before, "duplicate create_user").await;
    // Names are case-folded by Username, so this is the same name too.
    let dup2 = store
        .create_user(
            &new_user("USERS-AMY", Role::Lawyer, t + 4),
            &cli(t + 4, AuditAction::UserCreated),
        )
        .await;
    assert!(
        matches!(dup2, Err(StoreError::Conflict("username"))),
        "got {dup2:?}"
    );

    // Lookups.
    let by_name = store
        .user_by_username(&name("users-amy"))
        .await
        .expect("user_by_username");
    let by_name = by_name.expect("users-amy found by name");
    assert_eq!(by_name.id, amy.id);
    assert_eq!(by_name.role, Role::Admin);
    assert_eq!(by_name.created_at, ts(t + 1));
    let by_id = store
        .user_by_id(zed.id)
        .await
        .expect("user_by_id")
        .expect("zed found by id");
    assert_eq!(by_id.username, zed.username);
    assert_eq!(by_id.password_hash, zed.password_hash);
    assert!(
        store
            .user_by_username(&name("users-nobody"))
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .user_by_id(UserId(i64::MAX - 7))
            .await
            .expect("lookup")
            .is_none()
    );

    // Listing is ordered by name.
    let list = store.list_users().await.expect("list_users");
    let names: Vec<&str> = list.iter().map(|u| u.username.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "list_users is not ordered by name");
    for n in ["users-amy", "users-bob", "users-otp", "users-zed"] {
        assert!(names.contains(&n), "list_users misses {n}");
    }

    assert_eq!(
        store.count_active_admins().await.expect("count"),
        admins_before + 2
    );

    // Roles.
    let audit = NewAudit::new(ts(t + 10), Actor::User(amy.id), AuditAction::RoleChanged)
        .target(format!("user:{}", zed.id))
        .detail("observer -> moderator");
    store
        .set_role(zed.id, Role::Moderator, &audit)
        .await
        .expect("set_role");
    assert_last_audit(store, &audit, "set_role").await;
    assert_eq!(
        store
            .user_by_id(zed.id)
            .await
            .expect("lookup")
            .expect("zed")
            .role,
        Role::Moderator
    );
    let before = newest_audit_id(store).await;
    let missing = store
        .set_role(
            UserId(i64::MAX - 7),
            Role::Admin,
            &cli(t + 11, AuditAction::RoleChanged),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound)),
        "set_role of nobody: {missing:?}"
    );
    assert_no_new_audit(store, before, "set_role of a missing user").await;

    // Demoting an admin lowers the admin count.
    store
        .set_role(
            bob.id,
            Role::Coordinator,
            &cli(t + 12, AuditAction::RoleChanged),
        )
        .await
        .expect("demote bob");
    assert_eq!(
        store.count_active_admins().await.expect("count"),
        admins_before + 1
    );

    // Disabling ends every session of the account, and only of that account.
    let z1 = open_session(store, &zed, "users-fp-z1", t + 20, DAY).await;
    let z2 = open_session(store, &zed, "users-fp-z2", t + 21, DAY).await;
    let a1 = open_session(store, &amy, "users-fp-a1", t + 22, DAY).await;
    assert!(a1.id != z1.id && a1.id != z2.id, "session ids must differ");
    assert_eq!(
        session_ids(&store.sessions_for_user(zed.id).await.expect("sessions")),
        BTreeSet::from([z1.id, z2.id])
    );
    let audit = NewAudit::new(ts(t + 30), Actor::User(amy.id), AuditAction::UserDisabled)
        .target(format!("user:{}", zed.id));
    store
        .set_disabled(zed.id, true, &audit)
        .await
        .expect("disable zed");
    assert_last_audit(store, &audit, "set_disabled(true)").await;
    assert!(
        store
            .user_by_id(zed.id)
            .await
            .expect("lookup")
            .expect("zed")
            .disabled
    );
    assert!(
        store
            .sessions_for_user(zed.id)
            .await
            .expect("sessions")
            .is_empty(),
        "disabling left sessions alive"
    );
    assert!(
        store
            .session_by_fingerprint("users-fp-z1")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .session_by_fingerprint("users-fp-a1")
            .await
            .expect("lookup")
            .is_some(),
        "disabling one account ended another's session"
    );
    let before = newest_audit_id(store).await;
    let missing = store
        .set_disabled(
            UserId(i64::MAX - 7),
            true,
            &cli(t + 31, AuditAction::UserDisabled),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound)),
        "set_disabled of nobody: {missing:?}"
    );
    assert_no_new_audit(store, before, "set_disabled of a missing user").await;

    // A disabled admin does not count; enabling again does.
    store
        .set_disabled(amy.id, true, &cli(t + 32, AuditAction::UserDisabled))
        .await
        .expect("disable amy");
    assert_eq!(
        store.count_active_admins().await.expect("count"),
        admins_before
    );
    assert!(
        store
            .sessions_for_user(amy.id)
            .await
            .expect("sessions")
            .is_empty(),
        "disabling amy left her session alive"
    );
    let audit = cli(t + 33, AuditAction::UserEnabled).target(format!("user:{}", amy.id));
    store
        .set_disabled(amy.id, false, &audit)
        .await
        .expect("enable amy");
    assert_last_audit(store, &audit, "set_disabled(false)").await;
    assert!(
        !store
            .user_by_id(amy.id)
            .await
            .expect("lookup")
            .expect("amy")
            .disabled
    );
    assert_eq!(
        store.count_active_admins().await.expect("count"),
        admins_before + 1
    );
    store
        .set_disabled(zed.id, false, &cli(t + 34, AuditAction::UserEnabled))
        .await
        .expect("enable zed");
    assert!(
        !store
            .user_by_id(zed.id)
            .await
            .expect("lookup")
            .expect("zed")
            .disabled
    );

    // A new password ends every session but the one kept.
    let z3 = open_session(store, &zed, "users-fp-z3", t + 39, DAY).await;
    let b1 = open_session(store, &bob, "users-fp-b1", t + 40, DAY).await;
    let b2 = open_session(store, &bob, "users-fp-b2", t + 41, DAY).await;
    let b3 = open_session(store, &bob, "users-fp-b3", t + 42, DAY).await;
    let new_hash = Secret::new("$argon2id$story$bob-new".to_owned());
    let audit = NewAudit::new(
        ts(t + 50),
        Actor::User(bob.id),
        AuditAction::PasswordChanged,
    )
    .target(format!("user:{}", bob.id));
    store
        .set_password(bob.id, &new_hash, false, Some(b2.id), &audit)
        .await
        .expect("set_password keeping b2");
    assert_last_audit(store, &audit, "set_password").await;
    let left = store.sessions_for_user(bob.id).await.expect("sessions");
    assert_eq!(
        session_ids(&left),
        BTreeSet::from([b2.id]),
        "set_password kept the wrong sessions"
    );
    assert!(
        store
            .session_by_fingerprint("users-fp-b1")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .session_by_fingerprint("users-fp-b3")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(b1.id != b3.id);
    let bob_now = store
        .user_by_id(bob.id)
        .await
        .expect("lookup")
        .expect("bob");
    assert_eq!(bob_now.password_hash, new_hash);
    assert!(!bob_now.must_change_password);
    assert!(
        store
            .session_by_fingerprint("users-fp-z3")
            .await
            .expect("lookup")
            .map(|(s, _)| s.id)
            == Some(z3.id),
        "set_password ended another account's session"
    );

    // An admin resetting the password: one-time password, no session kept.
    let otp_hash = Secret::new("$argon2id$story$bob-otp".to_owned());
    store
        .set_password(
            bob.id,
            &otp_hash,
            true,
            None,
            &cli(t + 51, AuditAction::PasswordChanged),
        )
        .await
        .expect("set_password keeping none");
    assert!(
        store
            .sessions_for_user(bob.id)
            .await
            .expect("sessions")
            .is_empty()
    );
    let bob_now = store
        .user_by_id(bob.id)
        .await
        .expect("lookup")
        .expect("bob");
    assert_eq!(bob_now.password_hash, otp_hash);
    assert!(bob_now.must_change_password);
}

/// Sessions: create, look up by fingerprint (with the user), touch, sign out, refuse to delete
/// another user's session, expire by absolute end and by idleness.
pub async fn sessions(store: &dyn Store) {
    prepare(store).await;
    let t = SESSIONS_ERA;
    let ann = create(store, "sessions-ann", Role::Lawyer, t).await;
    let ben = create(store, "sessions-ben", Role::Observer, t).await;

    let s = open_session(store, &ann, "sessions-fp-1", t + MINUTE, 12 * HOUR).await;
    assert_eq!(s.user_id, ann.id);
    assert_eq!(s.created_at, ts(t + MINUTE));
    assert_eq!(
        s.last_seen_at,
        ts(t + MINUTE),
        "a new session was last seen when created"
    );
    assert_eq!(s.expires_at, ts(t + MINUTE + 12 * HOUR));

    let (found, user) = store
        .session_by_fingerprint("sessions-fp-1")
        .await
        .expect("session_by_fingerprint")
        .expect("session found by fingerprint");
    assert_eq!(found, s);
    assert_eq!(user.id, ann.id);
    assert_eq!(user.username, name("sessions-ann"));
    assert_eq!(user.role, Role::Lawyer);
    assert!(
        store
            .session_by_fingerprint("sessions-fp-unknown")
            .await
            .expect("lookup")
            .is_none()
    );

    // Touch moves last_seen_at only.
    let before = newest_audit_id(store).await;
    store
        .touch_session(s.id, ts(t + 30 * MINUTE))
        .await
        .expect("touch_session");
    let (touched, _) = store
        .session_by_fingerprint("sessions-fp-1")
        .await
        .expect("lookup")
        .expect("s");
    assert_eq!(touched.last_seen_at, ts(t + 30 * MINUTE));
    assert_eq!(touched.created_at, s.created_at);
    assert_eq!(touched.expires_at, s.expires_at);
    assert_no_new_audit(store, before, "touch_session").await;

    // A session the user did not create is not theirs to end.
    let before = newest_audit_id(store).await;
    let refused = store
        .delete_user_session(
            ben.id,
            s.id,
            &NewAudit::new(ts(t + HOUR), Actor::User(ben.id), AuditAction::SessionEnded),
        )
        .await
        .expect("delete_user_session");
    assert!(
        !refused,
        "delete_user_session deleted another user's session"
    );
    assert!(
        store
            .session_by_fingerprint("sessions-fp-1")
            .await
            .expect("lookup")
            .is_some()
    );
    assert_no_new_audit(store, before, "refused delete_user_session").await;

    // The owner may end it from the sessions list.
    let s2 = open_session(store, &ann, "sessions-fp-2", t + 2 * MINUTE, 12 * HOUR).await;
    assert_eq!(
        session_ids(&store.sessions_for_user(ann.id).await.expect("sessions")),
        BTreeSet::from([s.id, s2.id])
    );
    assert!(
        store
            .sessions_for_user(ben.id)
            .await
            .expect("sessions")
            .is_empty()
    );
    let audit = NewAudit::new(ts(t + HOUR), Actor::User(ann.id), AuditAction::SessionEnded)
        .target(format!("session:{}", s2.id.0));
    assert!(
        store
            .delete_user_session(ann.id, s2.id, &audit)
            .await
            .expect("delete_user_session")
    );
    assert_last_audit(store, &audit, "delete_user_session").await;
    assert!(
        store
            .session_by_fingerprint("sessions-fp-2")
            .await
            .expect("lookup")
            .is_none()
    );

    // Sign-out.
    let audit = NewAudit::new(ts(t + 2 * HOUR), Actor::User(ann.id), AuditAction::Logout)
        .target(format!("user:{}", ann.id));
    assert!(
        store
            .delete_session(s.id, &audit)
            .await
            .expect("delete_session"),
        "sign-out"
    );
    assert_last_audit(store, &audit, "delete_session").await;
    assert!(
        store
            .session_by_fingerprint("sessions-fp-1")
            .await
            .expect("lookup")
            .is_none()
    );
    let before = newest_audit_id(store).await;
    assert!(
        !store
            .delete_session(s.id, &audit)
            .await
            .expect("delete_session again"),
        "deleting a deleted session reported true"
    );
    assert_no_new_audit(store, before, "delete_session of a missing session").await;

    // Expiry. now = t + 10 days; idle cutoff = now - 1 hour.
    let now = t + 10 * DAY;
    let idle_cutoff = now - HOUR;
    // Past its absolute end although recently active.
    let over = open_session(store, &ann, "sessions-fp-over", now - DAY, DAY - MINUTE).await;
    store
        .touch_session(over.id, ts(now - MINUTE))
        .await
        .expect("touch");
    // Idle for two hours although its absolute end is far away.
    let idle = open_session(store, &ben, "sessions-fp-idle", now - 2 * HOUR, 30 * DAY).await;
    // Active and unexpired.
    let live = open_session(store, &ben, "sessions-fp-live", now - 2 * HOUR, 30 * DAY).await;
    store
        .touch_session(live.id, ts(now - 10 * MINUTE))
        .await
        .expect("touch");
    let removed = store
        .delete_expired_sessions(ts(now), ts(idle_cutoff))
        .await
        .expect("delete_expired_sessions");
    assert_eq!(
        removed, 2,
        "delete_expired_sessions should remove the expired and the idle session"
    );
    assert!(
        store
            .session_by_fingerprint("sessions-fp-over")
            .await
            .expect("lookup")
            .is_none(),
        "expired session kept"
    );
    assert!(
        store
            .session_by_fingerprint("sessions-fp-idle")
            .await
            .expect("lookup")
            .is_none(),
        "idle session kept"
    );
    assert!(
        store
            .session_by_fingerprint("sessions-fp-live")
            .await
            .expect("lookup")
            .is_some(),
        "live session removed"
    );
    assert_eq!(
        session_ids(&store.sessions_for_user(ben.id).await.expect("sessions")),
        BTreeSet::from([live.id])
    );
    assert!(idle.id != live.id);
    assert_eq!(
        store
            .delete_expired_sessions(ts(now), ts(idle_cutoff))
            .await
            .expect("again"),
        0
    );
}

/// Invites: create, usable until (not at) expiry, redeem once with the invite's role, a taken
/// name leaves the invite usable, revoke.
pub async fn invites(store: &dyn Store) {
    prepare(store).await;
    let t = INVITES_ERA;
    let admin = create(store, "invites-admin", Role::Admin, t).await;
    let taken = create(store, "invites-taken", Role::Observer, t).await;

    let new_invite = |fp: &str, role: Role, at: i64, ttl: i64| NewInvite {
        token_fingerprint: fp.to_owned(),
        role,
        created_by: Some(admin.id),
        created_at: ts(at),
        expires_at: ts(at + ttl),
    };
    let created_audit = |at: i64| {
        NewAudit::new(ts(at), Actor::User(admin.id), AuditAction::InviteCreated)
            .detail("story invite")
    };

    let audit = created_audit(t + 1);
    let inv = store
        .create_invite(
            &new_invite("invites-fp-1", Role::Lawyer, t + 1, DAY),
            &audit,
        )
        .await
        .expect("create_invite");
    assert_last_audit(store, &audit, "create_invite").await;
    assert_eq!(inv.role, Role::Lawyer);
    assert_eq!(inv.created_by, Some(admin.id));
    assert_eq!(inv.created_at, ts(t + 1));
    assert_eq!(inv.expires_at, ts(t + 1 + DAY));
    assert_eq!(
        (inv.redeemed_at, inv.redeemed_by, inv.revoked),
        (None, None, false)
    );

    // Usable until, not at, its expiry.
    let usable = store
        .usable_invite("invites-fp-1", ts(t + 2))
        .await
        .expect("usable_invite");
    assert_eq!(usable.as_ref(), Some(&inv));
    assert!(
        store
            .usable_invite("invites-fp-1", ts(t + DAY))
            .await
            .expect("usable")
            .is_some()
    );
    assert!(
        store
            .usable_invite("invites-fp-1", ts(t + 1 + DAY))
            .await
            .expect("usable")
            .is_none(),
        "an invite is not usable at its expiry"
    );
    assert!(
        store
            .usable_invite("invites-fp-nope", ts(t + 2))
            .await
            .expect("usable")
            .is_none()
    );

    // Redeeming creates the user with the invite's role, once.
    let redeem_at = t + HOUR;
    let audit = NewAudit::new(ts(redeem_at), Actor::Anonymous, AuditAction::InviteRedeemed)
        .target(format!("invite:{}", inv.id.0));
    let user = store
        .redeem_invite(
            "invites-fp-1",
            ts(redeem_at),
            &new_user("invites-new", Role::Admin, redeem_at),
            &audit,
        )
        .await
        .expect("redeem_invite");
    assert_last_audit(store, &audit, "redeem_invite").await;
    assert_eq!(
        user.role,
        Role::Lawyer,
        "redeem_invite must use the invite's role, not the one asked for"
    );
    assert_eq!(user.username, name("invites-new"));
    let stored = store
        .user_by_username(&name("invites-new"))
        .await
        .expect("lookup")
        .expect("redeemed user");
    assert_eq!((stored.id, stored.role), (user.id, Role::Lawyer));
    assert!(
        store
            .usable_invite("invites-fp-1", ts(redeem_at + 1))
            .await
            .expect("usable")
            .is_none()
    );
    let listed = store.list_invites().await.expect("list_invites");
    let redeemed = listed
        .iter()
        .find(|i| i.id == inv.id)
        .expect("redeemed invite listed");
    assert_eq!(redeemed.redeemed_at, Some(ts(redeem_at)));
    assert_eq!(redeemed.redeemed_by, Some(user.id));
    assert!(!redeemed.is_usable(ts(redeem_at + 1)));
    let before = newest_audit_id(store).await;
    let again = store
        .redeem_invite(
            "invites-fp-1",
            ts(redeem_at + 2),
            &new_user("invites-again", Role::Lawyer, redeem_at + 2),
            &audit,
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::NotFound)),
        "second redeem: {again:?}"
    );
    assert!(
        store
            .user_by_username(&name("invites-again"))
            .await
            .expect("lookup")
            .is_none()
    );
    assert_no_new_audit(store, before, "second redeem_invite").await;

    // A taken name: Conflict, nothing changes, the invite stays usable.
    let inv2 = store
        .create_invite(
            &new_invite("invites-fp-2", Role::Analyst, t + 2 * HOUR, DAY),
            &created_audit(t + 2 * HOUR),
        )
        .await
        .expect("create second invite");
    let before = newest_audit_id(store).await;
    let at = t + 3 * HOUR;
    let clash = store
        .redeem_invite(
            "invites-fp-2",
            ts(at),
            &new_user("invites-taken", Role::Analyst, at),
            &NewAudit::new(ts(at), Actor::Anonymous, AuditAction::InviteRedeemed),
        )
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("username"))),
        "redeem with a taken name: {clash:?}"
    );
    assert_no_new_audit(store, before, "redeem_invite with a taken name").await;
    assert_eq!(
        store
            .user_by_id(taken.id)
            .await
            .expect("lookup")
            .expect("taken")
            .role,
        Role::Observer,
        "a clashing redeem changed the existing account"
    );
    let still = store
        .usable_invite("invites-fp-2", ts(at + 1))
        .await
        .expect("usable");
    assert_eq!(
        still.as_ref(),
        Some(&inv2),
        "the invite must stay usable after a name clash"
    );
    let user2 = store
        .redeem_invite(
            "invites-fp-2",
            ts(at + 2),
            &new_user("invites-second", Role::Observer, at + 2),
            &NewAudit::new(ts(at + 2), Actor::Anonymous, AuditAction::InviteRedeemed),
        )
        .await
        .expect("redeem with a free name");
    assert_eq!(user2.role, Role::Analyst);

    // Expired invites cannot be redeemed.
    store
        .create_invite(
            &new_invite("invites-fp-old", Role::Coordinator, t + 4 * HOUR, HOUR),
            &created_audit(t + 4 * HOUR),
        )
        .await
        .expect("create short invite");
    let late = t + 6 * HOUR;
    let expired = store
        .redeem_invite(
            "invites-fp-old",
            ts(late),
            &new_user("invites-late", Role::Coordinator, late),
            &NewAudit::new(ts(late), Actor::Anonymous, AuditAction::InviteRedeemed),
        )
        .await;
    assert!(
        matches!(expired, Err(StoreError::NotFound)),
        "redeem an expired invite: {expired:?}"
    );
    assert!(
        store
            .user_by_username(&name("invites-late"))
            .await
            .expect("lookup")
            .is_none()
    );

    // Revoke.
    let inv4 = store
        .create_invite(
            &new_invite("invites-fp-4", Role::Moderator, t + 7 * HOUR, DAY),
            &created_audit(t + 7 * HOUR),
        )
        .await
        .expect("create invite to revoke");
    let audit = NewAudit::new(
        ts(t + 8 * HOUR),
        Actor::User(admin.id),
        AuditAction::InviteRevoked,
    )
    .target(format!("invite:{}", inv4.id.0));
    store
        .revoke_invite(inv4.id, &audit)
        .await
        .expect("revoke_invite");
    assert_last_audit(store, &audit, "revoke_invite").await;
    assert!(
        store
            .usable_invite("invites-fp-4", ts(t + 9 * HOUR))
            .await
            .expect("usable")
            .is_none()
    );
    let revoked = store
        .redeem_invite(
            "invites-fp-4",
            ts(t + 9 * HOUR),
            &new_user("invites-revoked", Role::Moderator, t + 9 * HOUR),
            &NewAudit::new(
                ts(t + 9 * HOUR),
                Actor::Anonymous,
                AuditAction::InviteRedeemed,
            ),
        )
        .await;
    assert!(
        matches!(revoked, Err(StoreError::NotFound)),
        "redeem a revoked invite: {revoked:?}"
    );
    let before = newest_audit_id(store).await;
    let missing = store
        .revoke_invite(
            crate::InviteId(i64::MAX - 7),
            &NewAudit::new(
                ts(t + 9 * HOUR),
                Actor::User(admin.id),
                AuditAction::InviteRevoked,
            ),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound)),
        "revoke a missing invite: {missing:?}"
    );
    assert_no_new_audit(store, before, "revoke of a missing invite").await;

    // Newest first; states as expected.
    let listed = store.list_invites().await.expect("list_invites");
    let ours: Vec<_> = listed
        .iter()
        .filter(|i| i.created_by == Some(admin.id))
        .map(|i| (i.created_at, i.revoked, i.redeemed_by.is_some()))
        .collect();
    assert_eq!(
        ours,
        vec![
            (ts(t + 7 * HOUR), true, false),
            (ts(t + 4 * HOUR), false, false),
            (ts(t + 2 * HOUR), false, true),
            (ts(t + 1), false, true),
        ],
        "list_invites: newest first with revoked/redeemed state"
    );
}

/// Login throttling: record failures under several keys, count since a time, clear, prune.
pub async fn login_failures(store: &dyn Store) {
    prepare(store).await;
    let t = LOGIN_ERA;
    let (k_name, k_addr, k_other) = (
        "login-key-name".to_owned(),
        "login-key-addr".to_owned(),
        "login-key-other".to_owned(),
    );

    store
        .record_login_failure(&[k_name.clone(), k_addr.clone()], ts(t))
        .await
        .expect("record");
    store
        .record_login_failure(&[k_name.clone(), k_addr.clone()], ts(t + MINUTE))
        .await
        .expect("record");
    store
        .record_login_failure(std::slice::from_ref(&k_name), ts(t + 2 * MINUTE))
        .await
        .expect("record");
    store
        .record_login_failure(std::slice::from_ref(&k_other), ts(t + 3 * MINUTE))
        .await
        .expect("record");
    store
        .record_login_failure(&[], ts(t + 4 * MINUTE))
        .await
        .expect("record with no keys");

    let count = |key: &'static str, since: i64| async move {
        store
            .count_login_failures(key, ts(since))
            .await
            .expect("count_login_failures")
    };
    assert_eq!(count("login-key-name", t - 1).await, 3);
    assert_eq!(
        count("login-key-name", t + 30_000).await,
        2,
        "counts only failures since the given time"
    );
    assert_eq!(count("login-key-name", t + 10 * MINUTE).await, 0);
    assert_eq!(count("login-key-addr", t - 1).await, 2);
    assert_eq!(count("login-key-other", t - 1).await, 1);
    assert_eq!(count("login-key-never", t - 1).await, 0);

    // A successful sign-in clears its key only.
    store.clear_login_failures(&k_name).await.expect("clear");
    assert_eq!(
        count("login-key-name", t - 1).await,
        0,
        "clear left failures"
    );
    assert_eq!(
        count("login-key-addr", t - 1).await,
        2,
        "clear removed another key's failures"
    );

    // Pruning removes what is older than the cut-off, whatever the key.
    let pruned = store
        .prune_login_failures(ts(t + 2 * MINUTE))
        .await
        .expect("prune");
    assert_eq!(
        pruned, 2,
        "prune should remove the two addr failures before the cut-off"
    );
    assert_eq!(count("login-key-addr", t - 1).await, 0);
    assert_eq!(
        count("login-key-other", t - 1).await,
        1,
        "prune removed a newer failure"
    );
    assert_eq!(
        store
            .prune_login_failures(ts(t + 2 * MINUTE))
            .await
            .expect("prune again"),
        0
    );
}

/// The audit log: entries round-trip with their actor (and the actor's name), newest first,
/// paged with `before`.
pub async fn audit_log(store: &dyn Store) {
    prepare(store).await;
    let t = AUDIT_ERA;
    let kim = create(store, "audit-kim", Role::Admin, t).await;

    let entries = [
        NewAudit::new(ts(t + 1), Actor::User(kim.id), AuditAction::BackupWritten)
            .target("backup")
            .detail("story backup"),
        NewAudit::new(ts(t + 2), Actor::Cli, AuditAction::UserCreated).target("user:1"),
        NewAudit::new(ts(t + 3), Actor::System, AuditAction::SessionEnded).detail("expired"),
        NewAudit::new(ts(t + 4), Actor::Anonymous, AuditAction::LoginFailed).detail("unknown name"),
        NewAudit::new(ts(t + 5), Actor::User(kim.id), AuditAction::LoginSucceeded)
            .target(format!("user:{}", kim.id))
            .detail("with \"quotes\", 'apostrophes' and ünïcödé"),
    ];
    for e in &entries {
        store.append_audit(e).await.expect("append_audit");
    }

    let newest = store.list_audit(None, 5).await.expect("list_audit");
    assert_eq!(newest.len(), 5, "list_audit honours the limit");
    for (got, want) in newest.iter().zip(entries.iter().rev()) {
        assert_eq!(got.at, want.at);
        assert_eq!(got.actor, want.actor);
        assert_eq!(got.action, want.action.as_str());
        assert_eq!(got.target, want.target);
        assert_eq!(got.detail, want.detail);
        let want_name = want.actor.user_id().map(|_| "audit-kim".to_owned());
        assert_eq!(got.actor_name, want_name, "actor_name of {:?}", want.actor);
    }
    for pair in newest.windows(2) {
        assert!(
            pair[0].id > pair[1].id,
            "list_audit is not newest first: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }

    // Paging with `before`.
    let page1 = store.list_audit(None, 2).await.expect("page 1");
    let page2 = store
        .list_audit(Some(page1[1].id), 2)
        .await
        .expect("page 2");
    let page3 = store
        .list_audit(Some(page2[1].id), 1)
        .await
        .expect("page 3");
    let paged: Vec<i64> = page1
        .iter()
        .chain(&page2)
        .chain(&page3)
        .map(|e| e.id)
        .collect();
    let direct: Vec<i64> = newest.iter().map(|e| e.id).collect();
    assert_eq!(
        paged, direct,
        "paging with `before` must continue exactly where the last page ended"
    );
    assert!(
        store
            .list_audit(Some(page1[0].id), 100)
            .await
            .expect("page")
            .iter()
            .all(|e| e.id < page1[0].id)
    );

    // The whole log pages to the same list as one big read, and the story's entries are there.
    let small_pages = all_audit(store, 3).await;
    let one_read = store.list_audit(None, 100_000).await.expect("list all");
    assert_eq!(small_pages, one_read);
    assert!(one_read.len() >= 6);
    assert!(
        store
            .list_audit(Some(i64::MIN + 1), 10)
            .await
            .expect("empty page")
            .is_empty()
    );
}

/// Background jobs: enqueue, claim only due jobs, a leased job is not claimed again until its
/// lease lapses, a stale worker cannot complete a re-claimed job, retry then dead, counts.
pub async fn jobs(store: &dyn Store) {
    prepare(store).await;
    let t = JOBS_ERA;
    let queued0 = count_status(store, JobStatus::Queued).await;
    let done0 = count_status(store, JobStatus::Done).await;
    let dead0 = count_status(store, JobStatus::Dead).await;

    let a = store
        .enqueue_job(&NewJob {
            kind: "story.a".into(),
            payload: r#"{"n":1}"#.into(),
            run_at: ts(t),
            max_attempts: 3,
        })
        .await
        .expect("enqueue a");
    let b = store
        .enqueue_job(&NewJob {
            kind: "story.b".into(),
            payload: "{}".into(),
            run_at: ts(t + 10 * MINUTE),
            max_attempts: 2,
        })
        .await
        .expect("enqueue b");
    let c = store
        .enqueue_job(&NewJob {
            kind: "story.c".into(),
            payload: "{}".into(),
            run_at: ts(t + 365 * DAY),
            max_attempts: 1,
        })
        .await
        .expect("enqueue c");
    assert!(a != b && b != c);
    let stored = store.job(a).await.expect("job").expect("job a stored");
    assert_eq!(stored.kind, "story.a");
    assert_eq!(stored.payload, r#"{"n":1}"#);
    assert_eq!(stored.status, JobStatus::Queued);
    assert_eq!((stored.attempts, stored.max_attempts), (0, 3));
    assert_eq!(stored.run_at, ts(t));
    assert_eq!(
        (stored.locked_until, stored.last_error.clone()),
        (None, None)
    );
    assert!(
        store
            .job(crate::JobId(i64::MAX - 7))
            .await
            .expect("job")
            .is_none()
    );
    assert_eq!(count_status(store, JobStatus::Queued).await, queued0 + 3);

    // Nothing is due before `run_at`.
    assert!(
        store
            .claim_job(ts(t - 1), ts(t + MINUTE))
            .await
            .expect("claim")
            .is_none(),
        "claimed a job before it was due"
    );

    // Claim a: running, one attempt, leased.
    let lease = t + MINUTE;
    let claimed = store
        .claim_job(ts(t), ts(lease))
        .await
        .expect("claim")
        .expect("a is due");
    assert_eq!(claimed.id, a);
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.locked_until, Some(ts(lease)));
    assert_eq!(
        store.job(a).await.expect("job").expect("a"),
        claimed,
        "claim_job returns the job as stored"
    );

    // While leased, nobody else gets it (and b is not due yet).
    assert!(
        store
            .claim_job(ts(t + 30_000), ts(t + 2 * MINUTE))
            .await
            .expect("claim")
            .is_none(),
        "claimed a leased job"
    );

    // The lease lapses: someone else re-claims it; the first worker's result is refused.
    let reclaimed = store
        .claim_job(ts(lease), ts(t + 5 * MINUTE))
        .await
        .expect("claim")
        .expect("lapsed lease");
    assert_eq!(reclaimed.id, a);
    assert_eq!(reclaimed.attempts, 2);
    assert_eq!(reclaimed.locked_until, Some(ts(t + 5 * MINUTE)));
    assert!(
        !store.complete_job(a, 1).await.expect("complete stale"),
        "a stale attempt completed the job"
    );
    assert!(
        !store
            .fail_job(a, 1, "stale", None)
            .await
            .expect("fail stale"),
        "a stale attempt failed the job"
    );
    assert_eq!(
        store.job(a).await.expect("job").expect("a"),
        reclaimed,
        "a stale attempt changed the job"
    );
    assert!(
        store.complete_job(a, 2).await.expect("complete"),
        "the current attempt could not complete"
    );
    let done = store.job(a).await.expect("job").expect("a");
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.attempts, 2);
    assert!(
        !store.complete_job(a, 2).await.expect("complete twice"),
        "completed a finished job"
    );
    assert!(
        !store.fail_job(a, 2, "late", None).await.expect("fail done"),
        "failed a finished job"
    );
    assert_eq!(
        store.job(a).await.expect("job").expect("a").status,
        JobStatus::Done
    );

    // b fails once and is retried later, then fails for good.
    let now = t + 11 * MINUTE;
    let got = store
        .claim_job(ts(now), ts(now + MINUTE))
        .await
        .expect("claim")
        .expect("b is due");
    assert_eq!((got.id, got.attempts), (b, 1));
    assert!(
        store
            .fail_job(b, 1, "smtp: connection refused", Some(ts(t + 20 * MINUTE)))
            .await
            .expect("fail")
    );
    let retry = store.job(b).await.expect("job").expect("b");
    assert_eq!(retry.status, JobStatus::Queued);
    assert_eq!(retry.run_at, ts(t + 20 * MINUTE));
    assert_eq!(retry.attempts, 1);
    assert_eq!(
        retry.last_error.as_deref(),
        Some("smtp: connection refused")
    );
    assert!(
        store
            .claim_job(ts(t + 15 * MINUTE), ts(t + 16 * MINUTE))
            .await
            .expect("claim")
            .is_none(),
        "claimed before retry time"
    );
    let got = store
        .claim_job(ts(t + 20 * MINUTE), ts(t + 21 * MINUTE))
        .await
        .expect("claim")
        .expect("b retry");
    assert_eq!(
        (got.id, got.attempts, got.status),
        (b, 2, JobStatus::Running)
    );
    assert!(
        store
            .fail_job(b, 2, "smtp: still refused", None)
            .await
            .expect("fail for good")
    );
    let dead = store.job(b).await.expect("job").expect("b");
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.last_error.as_deref(), Some("smtp: still refused"));
    assert!(
        !store
            .fail_job(b, 2, "again", None)
            .await
            .expect("fail dead"),
        "failed a dead job"
    );
    assert!(
        !store.complete_job(b, 2).await.expect("complete dead"),
        "completed a dead job"
    );
    assert!(
        store
            .claim_job(ts(t + DAY), ts(t + DAY + MINUTE))
            .await
            .expect("claim")
            .is_none(),
        "claimed a dead or done job"
    );

    assert_eq!(
        count_status(store, JobStatus::Queued).await,
        queued0 + 1,
        "c is still queued"
    );
    assert_eq!(count_status(store, JobStatus::Done).await, done0 + 1);
    assert_eq!(count_status(store, JobStatus::Dead).await, dead0 + 1);
    assert_eq!(
        store.job(c).await.expect("job").expect("c").status,
        JobStatus::Queued
    );
}

/// Two workers claiming at the same time never get the same job, and between them they get
/// every due job.
pub async fn jobs_claimed_once(store: &dyn Store) {
    prepare(store).await;
    let t = JOBS_CONCURRENT_ERA;
    let mut ids = BTreeSet::new();
    for n in 0..30 {
        let id = store
            .enqueue_job(&NewJob {
                kind: "story.race".into(),
                payload: format!("{{\"n\":{n}}}"),
                run_at: ts(t + n),
                max_attempts: 1,
            })
            .await
            .expect("enqueue");
        ids.insert(id);
    }
    let worker = || async {
        let mut mine = Vec::new();
        while let Some(job) = store
            .claim_job(ts(t + DAY), ts(t + 2 * DAY))
            .await
            .expect("claim")
        {
            assert_eq!(job.attempts, 1, "job {:?} was claimed twice", job.id);
            assert!(
                store
                    .complete_job(job.id, job.attempts)
                    .await
                    .expect("complete")
            );
            mine.push(job.id);
            tokio::task::yield_now().await;
        }
        mine
    };
    let (one, two) = tokio::join!(worker(), worker());
    let mut all: Vec<_> = one.iter().chain(&two).copied().collect();
    all.sort_unstable();
    let unique: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a job was claimed by both workers");
    assert_eq!(
        unique, ids,
        "the workers did not claim exactly the due jobs"
    );
}

/// As far as the trait can tell, the audit log is append-only: later changes (including ones
/// to the acting accounts) never alter or remove an earlier entry, and changes that fail leave
/// no entry.
pub async fn audit_log_is_append_only(store: &dyn Store) {
    prepare(store).await;
    let t = AUDIT_ERA + DAY;
    let lea = create(store, "append-lea", Role::Admin, t).await;
    store
        .append_audit(
            &NewAudit::new(ts(t + 1), Actor::User(lea.id), AuditAction::LoginSucceeded)
                .target(format!("user:{}", lea.id)),
        )
        .await
        .expect("append");
    let snapshot = all_audit(store, 50).await;
    assert!(!snapshot.is_empty());

    // Changes of every kind, some failing.
    store
        .set_role(lea.id, Role::Analyst, &cli(t + 2, AuditAction::RoleChanged))
        .await
        .expect("set_role");
    store
        .set_disabled(lea.id, true, &cli(t + 3, AuditAction::UserDisabled))
        .await
        .expect("disable");
    let _ = store
        .create_user(
            &new_user("append-lea", Role::Admin, t + 4),
            &cli(t + 4, AuditAction::UserCreated),
        )
        .await
        .expect_err("duplicate must fail");
    let _ = store
        .set_role(
            UserId(i64::MAX - 7),
            Role::Admin,
            &cli(t + 5, AuditAction::RoleChanged),
        )
        .await
        .expect_err("missing user must fail");
    store
        .delete_expired_sessions(ts(t + 365 * DAY), ts(t + 365 * DAY))
        .await
        .expect("expire sessions");
    store
        .prune_login_failures(ts(t + 365 * DAY))
        .await
        .expect("prune");

    let after = all_audit(store, 50).await;
    assert_eq!(
        after.len(),
        snapshot.len() + 2,
        "exactly the two successful changes were audited"
    );
    assert_eq!(
        &after[2..],
        &snapshot[..],
        "an earlier audit entry changed or disappeared"
    );
    assert_eq!(after[0].action, AuditAction::UserDisabled.as_str());
    assert_eq!(after[1].action, AuditAction::RoleChanged.as_str());
}
