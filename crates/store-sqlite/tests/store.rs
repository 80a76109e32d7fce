//! The shared store story on real SQLite files, plus what only SQLite has: the file's settings,
//! the audit triggers, migration checksums, backups and their digest, and job claims from two
//! handles on one file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::{Connection, Row, SqliteConnection};
use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_store::{JobStatus, NewJob, Store, StoreError, story};
use talaka_store_sqlite::SqliteStore;
use tempfile::TempDir;

const T: i64 = 1_700_000_000_000;

fn ts(ms: i64) -> Timestamp {
    Timestamp(ms)
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("talaka.db")
}

/// A fresh, unmigrated store on a new file in a new temporary folder.
async fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&db_path(&dir)).await.expect("open store");
    (dir, store)
}

async fn migrated() -> (TempDir, SqliteStore) {
    let (dir, store) = fresh().await;
    store.migrate().await.expect("migrate");
    (dir, store)
}

/// A plain connection to the file, outside the store, as an attacker with SQL access would have.
async fn raw(path: &Path) -> SqliteConnection {
    let url = format!("sqlite://{}", path.display());
    SqliteConnection::connect(&url)
        .await
        .expect("raw connection")
}

// ---- the shared story, one fresh file per part ----

macro_rules! story_parts {
    ($($part:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $part() {
            let (_dir, store) = fresh().await;
            story::$part(&store).await;
        }
    )*};
}

story_parts!(
    migrations,
    users,
    sessions,
    invites,
    login_failures,
    audit_log,
    jobs,
    jobs_claimed_once,
    audit_log_is_append_only,
);

#[tokio::test]
async fn whole_story_on_one_file() {
    let (_dir, store) = fresh().await;
    story::run_all(&store).await;
    assert_eq!(
        store.integrity_check().await.expect("integrity_check"),
        "ok"
    );
}

// ---- SQLite specifics ----

#[tokio::test]
async fn file_runs_in_wal_with_full_sync_and_foreign_keys() {
    let (dir, store) = migrated().await;
    let s = store.connection_settings().await.expect("settings");
    assert_eq!(s.journal_mode, "wal");
    assert_eq!(s.synchronous, 2, "synchronous must be FULL");
    assert!(s.foreign_keys);
    assert_eq!(s.busy_timeout_ms, 5000);
    assert!(s.secure_delete);

    // WAL is a property of the file, visible to any connection.
    let mut conn = raw(&db_path(&dir)).await;
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma")
        .get(0);
    assert_eq!(mode, "wal");

    // Foreign keys are enforced through the store: no session for a missing user.
    let r = store
        .create_session(
            &talaka_store::NewSession {
                token_fingerprint: "fk-test".into(),
                user_id: talaka_core::user::UserId(424_242),
                created_at: ts(T),
                expires_at: ts(T + 1),
            },
            &NewAudit::new(ts(T), Actor::System, AuditAction::LoginSucceeded),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(store.list_audit(None, 10).await.expect("audit").is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn file_and_folder_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = migrated().await;
    let path = db_path(&dir);
    let file_mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600, "database file mode {file_mode:o}");
    let dir_mode = std::fs::metadata(path.parent().expect("parent"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "database folder mode {dir_mode:o}");
}

#[tokio::test]
async fn audit_log_cannot_be_changed_or_deleted_with_sql() {
    let (dir, store) = migrated().await;
    store
        .append_audit(
            &NewAudit::new(ts(T), Actor::Cli, AuditAction::BackupWritten).detail("original"),
        )
        .await
        .expect("append");
    let mut conn = raw(&db_path(&dir)).await;

    let update = sqlx::query("UPDATE audit_log SET detail = 'forged'")
        .execute(&mut conn)
        .await;
    let err = update.expect_err("UPDATE on audit_log must fail");
    assert!(
        err.to_string().contains("audit_log is append-only"),
        "{err}"
    );

    for sql in [
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ] {
        let err = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect_err("DELETE must fail");
        assert!(
            err.to_string().contains("audit_log is append-only"),
            "{sql}: {err}"
        );
    }
    // Replacing a row is a delete plus an insert, and fires no delete trigger.
    let err = sqlx::query(
        "INSERT OR REPLACE INTO audit_log (id, at, actor_kind, action, detail) VALUES (1, 0, 'cli', 'x', 'forged')",
    )
    .execute(&mut conn)
    .await
    .expect_err("REPLACE on audit_log must fail");
    assert!(
        err.to_string().contains("audit_log is append-only"),
        "{err}"
    );
    let err = sqlx::query("UPDATE OR REPLACE audit_log SET id = 2 WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect_err("UPDATE OR REPLACE must fail");
    assert!(
        err.to_string().contains("audit_log is append-only"),
        "{err}"
    );
    let entries = store.list_audit(None, 10).await.expect("audit");
    assert!(
        entries.iter().any(|e| e.id == 1 && e.detail == "original"),
        "audit row 1 was replaced: {entries:?}"
    );
}

#[tokio::test]
async fn changed_migration_is_detected() {
    let (dir, store) = migrated().await;
    let mut conn = raw(&db_path(&dir)).await;
    sqlx::query("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
        .execute(&mut conn)
        .await
        .expect("tamper");
    let err = store
        .migrate()
        .await
        .expect_err("a changed migration must be refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        msg.contains("0001_init"),
        "the error must name the migration: {msg}"
    );
}

#[tokio::test]
async fn database_from_a_newer_version_is_refused() {
    let (dir, store) = migrated().await;
    let mut conn = raw(&db_path(&dir)).await;
    sqlx::query("INSERT INTO schema_migrations VALUES (9999, '9999_future', 'x', 0)")
        .execute(&mut conn)
        .await
        .expect("insert");
    let err = store
        .migrate()
        .await
        .expect_err("unknown migration must be refused");
    assert!(matches!(err, StoreError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn migrating_from_two_handles_at_once_applies_each_migration_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = SqliteStore::open(&db_path(&dir)).await.expect("open a");
    let b = SqliteStore::open(&db_path(&dir)).await.expect("open b");
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let (ra, rb) = (ra.expect("migrate a"), rb.expect("migrate b"));
    let mut all = ra.clone();
    all.extend(rb.clone());
    all.sort();
    assert_eq!(
        all,
        vec![
            "0001_init".to_owned(),
            "0002_elections".to_owned(),
            "0003_photos".to_owned(),
            "0004_integrations".to_owned(),
            "0005_report_indexes".to_owned(),
            "0006_report_counters".to_owned(),
            "0007_photo_review".to_owned(),
            "0008_safety".to_owned(),
        ],
        "a: {ra:?}, b: {rb:?}"
    );
}

#[tokio::test]
async fn backup_is_an_equal_copy_and_never_overwrites() {
    let (dir, store) = fresh().await;
    story::users(&store).await;
    story::invites(&store).await;
    story::jobs(&store).await;
    talaka_store::story_elections::latest_report_counts(&store).await;

    let dest = dir.path().join("backup.db");
    store.backup_to(&dest).await.expect("backup");
    assert!(dest.is_file());

    let copy = SqliteStore::open(&dest).await.expect("open backup");
    assert!(
        copy.migrate().await.expect("migrate backup").is_empty(),
        "backup lacks migrations"
    );
    assert_eq!(copy.integrity_check().await.expect("integrity"), "ok");
    let original = store.content_digest().await.expect("digest");
    let copied = copy.content_digest().await.expect("digest copy");
    assert_eq!(original, copied);
    let tables: BTreeSet<&str> = original.iter().map(|d| d.table.as_str()).collect();
    for t in [
        "audit_log",
        "invites",
        "jobs",
        "login_failures",
        "schema_migrations",
        "sessions",
        "users",
        "elections",
        "stations",
        "protocol_votes",
        "ballot_reports",
    ] {
        assert!(tables.contains(t), "digest misses {t}");
    }
    assert!(!tables.iter().any(|t| t.starts_with("sqlite_")));
    let users = original
        .iter()
        .find(|d| d.table == "users")
        .expect("users digest");
    assert!(users.rows >= 4);
    assert_eq!(users.sha256.len(), 64);

    // A change shows in the digest.
    store
        .append_audit(&NewAudit::new(
            ts(T),
            Actor::System,
            AuditAction::BackupWritten,
        ))
        .await
        .expect("append");
    assert_ne!(store.content_digest().await.expect("digest"), copied);

    // An existing destination is refused and left alone.
    let before = std::fs::read(&dest).expect("read backup");
    let err = store
        .backup_to(&dest)
        .await
        .expect_err("existing destination must be refused");
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(std::fs::read(&dest).expect("read backup"), before);
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("touch");
    assert!(
        store.backup_to(&empty).await.is_err(),
        "even an empty existing file is refused"
    );
}

#[tokio::test]
async fn digest_sees_the_difference_between_null_and_text() {
    let (_dir, a) = migrated().await;
    let dir_b = tempfile::tempdir().expect("temp dir");
    let b = SqliteStore::open(&db_path(&dir_b)).await.expect("open b");
    b.migrate().await.expect("migrate b");
    for s in [&a, &b] {
        // schema_migrations.applied_at differs between the two files; align it.
        let mut conn = raw(s.path()).await;
        sqlx::query("UPDATE schema_migrations SET applied_at = 0")
            .execute(&mut conn)
            .await
            .expect("align");
    }
    assert_eq!(
        a.content_digest().await.expect("a"),
        b.content_digest().await.expect("b")
    );
    a.append_audit(&NewAudit::new(
        ts(T),
        Actor::Cli,
        AuditAction::BackupWritten,
    ))
    .await
    .expect("append");
    b.append_audit(&NewAudit::new(ts(T), Actor::Cli, AuditAction::BackupWritten).target("NULL"))
        .await
        .expect("append");
    assert_ne!(
        a.content_digest().await.expect("a"),
        b.content_digest().await.expect("b")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_never_claim_the_same_job() {
    let (dir, store) = migrated().await;
    let mut ids = BTreeSet::new();
    for n in 0..50 {
        let id = store
            .enqueue_job(&NewJob {
                kind: "race".into(),
                payload: format!("{{\"n\":{n}}}"),
                run_at: ts(T + n),
                max_attempts: 1,
            })
            .await
            .expect("enqueue");
        ids.insert(id);
    }
    let path = db_path(&dir);
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let handle = SqliteStore::open(&path).await.expect("second handle");
        // Two claimers per handle, so that both the pool and the file lock are contended.
        for _ in 0..2 {
            let handle = handle.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = handle
                    .claim_job(ts(T + 1000), ts(T + 600_000))
                    .await
                    .expect("claim")
                {
                    assert_eq!(job.attempts, 1, "job {:?} claimed twice", job.id);
                    mine.push(job.id);
                    tokio::task::yield_now().await;
                }
                mine
            }));
        }
    }
    let mut all = Vec::new();
    let mut per_task = Vec::new();
    for t in tasks {
        let mine = t.await.expect("claimer task");
        per_task.push(mine.len());
        all.extend(mine);
    }
    let unique: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a job was claimed twice");
    assert_eq!(unique, ids, "not every job was claimed");
    assert_eq!(per_task.iter().sum::<usize>(), 50);
    let running = store
        .job_counts()
        .await
        .expect("counts")
        .into_iter()
        .find(|(s, _)| *s == JobStatus::Running)
        .map_or(0, |(_, n)| n);
    assert_eq!(running, 50);
}

#[tokio::test]
async fn long_job_errors_are_cut_to_1000_characters() {
    let (_dir, store) = migrated().await;
    let id = store
        .enqueue_job(&NewJob {
            kind: "k".into(),
            payload: "{}".into(),
            run_at: ts(T),
            max_attempts: 3,
        })
        .await
        .expect("enqueue");
    let job = store
        .claim_job(ts(T), ts(T + 1000))
        .await
        .expect("claim")
        .expect("due");
    let long = "ў".repeat(5000);
    assert!(
        store
            .fail_job(id, job.attempts, &long, None)
            .await
            .expect("fail")
    );
    let stored = store.job(id).await.expect("job").expect("exists");
    assert_eq!(stored.last_error.expect("error").chars().count(), 1000);
}

#[tokio::test]
async fn corrupt_role_is_reported_not_guessed() {
    let (dir, store) = migrated().await;
    let mut conn = raw(&db_path(&dir)).await;
    // The CHECK constraint stops a bad role; bypass it the way a damaged file might.
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut conn)
        .await
        .expect("pragma");
    sqlx::query("INSERT INTO users (username, role, password_hash, created_at) VALUES ('mallory', 'root', 'x', 0)")
        .execute(&mut conn)
        .await
        .expect("insert bad role");
    let err = store
        .list_users()
        .await
        .expect_err("unknown role must not parse");
    assert!(
        matches!(err, StoreError::Corrupt { table: "users", .. }),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("mallory"),
        "the error must not carry the name: {err}"
    );
}

#[tokio::test]
async fn role_check_constraint_holds() {
    let (dir, _store) = migrated().await;
    let mut conn = raw(&db_path(&dir)).await;
    let r = sqlx::query("INSERT INTO users (username, role, password_hash, created_at) VALUES ('eve', 'root', 'x', 0)")
        .execute(&mut conn)
        .await;
    assert!(
        r.is_err(),
        "a role outside the six must be refused by the schema"
    );
}

#[tokio::test]
async fn integrity_check_says_ok_and_debug_shows_no_secrets() {
    let (_dir, store) = migrated().await;
    assert_eq!(
        store.integrity_check().await.expect("integrity_check"),
        "ok"
    );
    let shown = format!("{store:?}");
    assert!(shown.contains("SqliteStore"), "{shown}");
    assert!(!shown.to_lowercase().contains("password"), "{shown}");
}

// ---- elections: the shared story, one fresh file per part, and SQLite specifics ----

mod elections {
    use std::time::Instant;

    use sqlx::Row;
    use talaka_elections::ExitPollTally;
    use talaka_store::elections::{ElectionError, ElectionStore, StationFilter};
    use talaka_store::story_elections::{self, import_audit, pseudonym, small_dataset};

    use super::{db_path, fresh, migrated, raw};

    macro_rules! election_parts {
        ($($part:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $part() {
                let (_dir, store) = fresh().await;
                story_elections::$part(&store).await;
            }
        )*};
    }

    election_parts!(
        round_trip,
        idempotent_reimport,
        corrections_and_partial_imports,
        bad_rows_write_nothing,
        station_filters,
        station_evidence,
        latest_report_counts,
        crowd_aggregation,
        crowd_counts_match_a_recount,
    );

    #[tokio::test]
    async fn whole_elections_story_on_one_file() {
        let (_dir, store) = fresh().await;
        story_elections::run_all(&store).await;
        assert_eq!(
            store.integrity_check().await.expect("integrity_check"),
            "ok"
        );
    }

    /// Row counts of every elections table, read with plain SQL.
    async fn row_counts(path: &std::path::Path) -> Vec<(String, i64)> {
        let mut conn = raw(path).await;
        let mut out = Vec::new();
        for t in [
            "elections",
            "ballot_options",
            "areas",
            "stations",
            "protocols",
            "protocol_votes",
            "crowd_tallies",
            "exit_poll_tallies",
            "exit_poll_answers",
            "ballot_reports",
            "audit_log",
        ] {
            let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {t}"))
                .fetch_one(&mut conn)
                .await
                .expect("count")
                .get(0);
            out.push((t.to_owned(), n));
        }
        out
    }

    /// A failure in the database itself, after most rows were written, rolls all of them back:
    /// the last table written (exit-poll tallies) refuses one row through a trigger.
    #[tokio::test]
    async fn a_failure_late_in_the_import_rolls_everything_back() {
        let (dir, store) = migrated().await;
        let path = db_path(&dir);
        let mut conn = raw(&path).await;
        sqlx::raw_sql(
            "CREATE TRIGGER boom BEFORE INSERT ON exit_poll_tallies WHEN NEW.time_window = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .execute(&mut conn)
        .await
        .expect("trigger");
        drop(conn);

        let mut d = small_dataset("sqlite-boom");
        d.exit_polls.push(ExitPollTally {
            window: "boom".into(),
            ..d.exit_polls[0].clone()
        });
        let before = row_counts(&path).await;
        let err = store
            .import_dataset(&d, &import_audit(1, "sqlite-boom"))
            .await
            .expect_err("the trigger refuses the import");
        assert!(matches!(err, ElectionError::Store(_)), "{err:?}");
        assert_eq!(
            row_counts(&path).await,
            before,
            "a new election was half-written"
        );

        // The same over an election already stored: its rows stay as they were.
        let good = small_dataset("sqlite-boom");
        store
            .import_dataset(&good, &import_audit(2, "sqlite-boom"))
            .await
            .expect("good import");
        let before = row_counts(&path).await;
        let mut changed = d.clone();
        changed.stations[0].registered = Some(1);
        changed.protocols[0].figures.votes[0].1 = 1;
        store
            .import_dataset(&changed, &import_audit(3, "sqlite-boom"))
            .await
            .expect_err("the trigger refuses the import");
        assert_eq!(row_counts(&path).await, before);
        assert_eq!(
            store.dataset("sqlite-boom").await.expect("dataset"),
            Some(good)
        );
    }

    /// The schema itself refuses what the store would never write: a raw identifier as a
    /// participant, and two counted reports of one participant.
    #[tokio::test]
    async fn schema_refuses_raw_identifiers_and_two_counted_reports() {
        let (dir, store) = migrated().await;
        let d = small_dataset("sqlite-schema");
        store
            .import_dataset(&d, &import_audit(1, "sqlite-schema"))
            .await
            .expect("import");
        let mut conn = raw(&db_path(&dir)).await;
        let insert = |participant: String, fingerprint: &'static str| {
            format!(
                "INSERT INTO ballot_reports (election_id, participant, station_id, option_id, \
                 verification, duplicate_photo, at, receipt_fingerprint, counted) \
                 SELECT e.id, '{participant}', s.id, o.id, 'unverified', 0, 0, '{fingerprint}', 1 \
                 FROM elections e JOIN stations s ON s.election_id = e.id \
                 JOIN ballot_options o ON o.election_id = e.id \
                 WHERE e.code = 'sqlite-schema' LIMIT 1"
            )
        };
        for raw_id in ["375291234567", "@someone", &"A".repeat(64)] {
            let r = sqlx::query(&insert(raw_id.to_owned(), "f0"))
                .execute(&mut conn)
                .await;
            assert!(r.is_err(), "{raw_id} was accepted as a participant");
        }
        let p = pseudonym("someone");
        sqlx::query(&insert(p.clone(), "f1"))
            .execute(&mut conn)
            .await
            .expect("a pseudonym is accepted");
        let r = sqlx::query(&insert(p, "f2")).execute(&mut conn).await;
        assert!(r.is_err(), "a second counted report was accepted");
        let r = sqlx::query("UPDATE protocols SET observer = 'ivan' WHERE observer IS NOT NULL")
            .execute(&mut conn)
            .await;
        assert!(r.is_err(), "an observer name was accepted");
    }

    async fn timed_import(stations: usize) {
        let (_dir, store) = migrated().await;
        let d = story_elections::synthetic_dataset("synthetic", stations);
        let started = Instant::now();
        let s = store
            .import_dataset(&d, &import_audit(1, "synthetic"))
            .await
            .expect("import");
        let first = started.elapsed();
        assert_eq!(s.stations.inserted, stations as u64);
        assert_eq!(s.protocols.inserted, stations as u64);
        let started = Instant::now();
        let again = store
            .import_dataset(&d, &import_audit(2, "synthetic"))
            .await
            .expect("re-import");
        let second = started.elapsed();
        assert!(again.is_unchanged(), "{again}");
        let started = Instant::now();
        let back = store.dataset("synthetic").await.expect("dataset");
        let read = started.elapsed();
        assert_eq!(back.as_ref(), Some(&d));
        let page = store
            .stations(
                "synthetic",
                &StationFilter {
                    area: Some("r7".into()),
                    limit: Some(50),
                    ..StationFilter::default()
                },
            )
            .await
            .expect("stations");
        assert_eq!(page.stations.len(), 50);
        eprintln!(
            "sqlite: {stations} stations: import {first:.2?}, unchanged re-import {second:.2?}, \
             read back {read:.2?}"
        );
    }

    #[tokio::test]
    async fn imports_six_thousand_stations() {
        timed_import(6_000).await;
    }

    /// `cargo test --release -p talaka-store-sqlite -- --ignored --nocapture hundred_thousand`
    #[tokio::test]
    #[ignore = "volume test: run in release"]
    async fn imports_a_hundred_thousand_stations() {
        timed_import(100_000).await;
    }
}

#[tokio::test]
async fn integrations_story() {
    let (_dir, store) = fresh().await;
    talaka_store::story_integrations::integrations(&store).await;
}

#[tokio::test]
async fn photos_story() {
    let (_dir, store) = fresh().await;
    talaka_store::story_photos::photos(&store).await;
    assert_eq!(store.integrity_check().await.expect("integrity"), "ok");
}

/// Each (station, option)'s counters as the triggers keep them, beside a recount of the reports
/// themselves: (station id, option id, reported, verified, duplicates, superseded).
async fn counters_and_recount(path: &Path) -> (Vec<[i64; 6]>, Vec<[i64; 6]>) {
    let mut conn = raw(path).await;
    let read = |sql: &'static str| sqlx::query(sql);
    let six = |r: &sqlx::sqlite::SqliteRow| -> [i64; 6] { std::array::from_fn(|i| r.get(i)) };
    let kept = read(
        "SELECT station_id, option_id, reported, verified, duplicates, superseded \
         FROM crowd_report_counts \
         WHERE reported + verified + duplicates + superseded > 0 \
         ORDER BY station_id, option_id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("counters")
    .iter()
    .map(six)
    .collect();
    let recount = read(
        "SELECT station_id, option_id, SUM(counted), \
                SUM(counted AND verification = 'photo_verified' AND duplicate_photo = 0), \
                SUM(counted AND duplicate_photo = 1), SUM(1 - counted) \
         FROM ballot_reports GROUP BY station_id, option_id ORDER BY station_id, option_id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("recount")
    .iter()
    .map(six)
    .collect();
    (kept, recount)
}

/// The triggers keep every counter equal to a recount (replacements, late reports and copied
/// photos included), and migration 0006 recounts the reports stored before it.
#[tokio::test]
async fn report_counters_equal_a_recount_before_and_after_migration_0006() {
    let (dir, store) = migrated().await;
    talaka_store::story_elections::crowd_counts_match_a_recount(&store).await;
    let path = db_path(&dir);
    let (kept, recount) = counters_and_recount(&path).await;
    assert!(
        recount.iter().any(|c| c[5] > 0),
        "the story replaces reports"
    );
    assert!(recount.iter().any(|c| c[4] > 0), "the story copies photos");
    assert_eq!(kept, recount);

    // Back to the schema before 0006, with counters gone wrong, then forward again.
    let mut conn = raw(&path).await;
    sqlx::raw_sql(
        "DROP TRIGGER ballot_reports_count_insert; \
         DROP TRIGGER ballot_reports_count_update; \
         DROP TRIGGER ballot_reports_count_delete; \
         DROP TABLE crowd_report_counts; \
         CREATE TABLE crowd_report_counts (election_id INTEGER NOT NULL, \
           station_id INTEGER NOT NULL, option_id INTEGER NOT NULL, \
           reported INTEGER NOT NULL, verified INTEGER NOT NULL, \
           PRIMARY KEY (station_id, option_id)) STRICT; \
         INSERT INTO crowd_report_counts SELECT election_id, station_id, option_id, 3, 0 \
           FROM ballot_reports GROUP BY station_id, option_id; \
         CREATE INDEX ballot_reports_station ON ballot_reports (station_id); \
         CREATE INDEX ballot_reports_option ON ballot_reports (option_id); \
         CREATE TRIGGER ballot_reports_count_insert AFTER INSERT ON ballot_reports \
           BEGIN SELECT 1; END; \
         CREATE TRIGGER ballot_reports_count_update AFTER UPDATE ON ballot_reports \
           BEGIN SELECT 1; END; \
         CREATE TRIGGER ballot_reports_count_delete AFTER DELETE ON ballot_reports \
           BEGIN SELECT 1; END; \
         DELETE FROM schema_migrations WHERE version = 6;",
    )
    .execute(&mut conn)
    .await
    .expect("undo 0006");
    drop(conn);
    assert_eq!(
        store.migrate().await.expect("migrate"),
        vec!["0006_report_counters".to_owned()]
    );
    assert_eq!(
        counters_and_recount(&path).await,
        (recount.clone(), recount)
    );
    assert_eq!(store.integrity_check().await.expect("integrity"), "ok");
}

#[tokio::test]
async fn moderation_story() {
    let (_dir, store) = fresh().await;
    talaka_store::story_moderation::moderation(&store).await;
    assert_eq!(store.integrity_check().await.expect("integrity"), "ok");
}

#[tokio::test]
async fn safety_story() {
    let (_dir, store) = fresh().await;
    talaka_store::story_safety::safety(&store).await;
    assert_eq!(store.integrity_check().await.expect("integrity"), "ok");
}
