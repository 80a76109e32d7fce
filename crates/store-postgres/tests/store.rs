//! The PostgreSQL backend against a real server: the shared story (each part on a fresh schema)
//! and what only PostgreSQL can show (SQL-level triggers, several pools at once, concurrent
//! migrations). Needs `TEST_DATABASE_URL`, e.g.
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p talaka-store-postgres`;
//! without it the tests skip (and fail under `CI=true`).

use std::collections::BTreeSet;
use std::path::Path;

use sqlx::Row;
use talaka_core::Secret;
use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::{Role, Username};
use talaka_store::{JobStatus, NewInvite, NewJob, NewUser, Store, StoreError, story};
use talaka_store_postgres::PgStore;
use talaka_store_postgres::testing::{TestDb, test_store};

// ---- the shared story, one fresh schema per part ----

macro_rules! story_part {
    ($($part:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $part() {
            let Some((store, db)) = test_store().await else { return };
            story::$part(&store).await;
            db.cleanup().await;
        }
    )*};
}

story_part!(
    users,
    sessions,
    invites,
    login_failures,
    audit_log,
    jobs,
    jobs_claimed_once,
    audit_log_is_append_only
);

#[tokio::test]
async fn migrations() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    story::migrations(&db.store().await).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_story_on_one_store() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    story::run_all(&db.store().await).await;
    db.cleanup().await;
}

// ---- PostgreSQL only ----

fn ts(ms: i64) -> Timestamp {
    Timestamp(ms)
}

#[tokio::test]
async fn audit_log_refuses_update_delete_and_truncate_in_sql() {
    let Some((store, db)) = test_store().await else {
        return;
    };
    store
        .append_audit(
            &NewAudit::new(ts(1), Actor::System, AuditAction::BackupWritten).detail("original"),
        )
        .await
        .expect("append");
    let pool = db.pool().await;
    for sql in [
        "UPDATE audit_log SET detail = 'forged'",
        "UPDATE audit_log SET detail = 'forged' WHERE id < 0",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id < 0",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql)
            .execute(&pool)
            .await
            .expect_err(&format!("`{sql}` must be refused"));
        assert!(
            err.to_string().contains("append-only"),
            "`{sql}` failed for another reason: {err}"
        );
    }
    let rows = sqlx::query("SELECT detail FROM audit_log")
        .fetch_all(&pool)
        .await
        .expect("read audit_log");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].try_get::<String, _>("detail").expect("detail"),
        "original"
    );
    // Inserting still works.
    store
        .append_audit(&NewAudit::new(
            ts(2),
            Actor::System,
            AuditAction::BackupWritten,
        ))
        .await
        .expect("append after refused changes");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_claim_every_job_exactly_once() {
    let Some((first, db)) = test_store().await else {
        return;
    };
    let second = db.store().await; // a separate pool, as another `talaka serve` process would have
    let mut ids = BTreeSet::new();
    for n in 0..50 {
        let id = first
            .enqueue_job(&NewJob {
                kind: "race".into(),
                payload: "{}".into(),
                run_at: ts(1000 + n),
                max_attempts: 1,
            })
            .await
            .expect("enqueue");
        ids.insert(id);
    }
    let mut workers = Vec::new();
    for store in [first.clone(), first.clone(), second.clone(), second.clone()] {
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store
                .claim_job(ts(10_000), ts(20_000))
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
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.expect("worker"));
    }
    let unique: BTreeSet<_> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a job was claimed twice");
    assert_eq!(unique, ids, "the workers together must claim every due job");
    let running = first.job_counts().await.expect("counts");
    assert_eq!(running, vec![(JobStatus::Running, 50)]);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    // Four pools, as four processes starting at once would have.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.store().await);
    }
    let tasks: Vec<_> = stores
        .into_iter()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    let mut applied = Vec::new();
    for t in tasks {
        applied.push(
            t.await
                .expect("task")
                .expect("every concurrent migrate succeeds"),
        );
    }
    let non_empty: Vec<_> = applied.iter().filter(|a| !a.is_empty()).collect();
    assert_eq!(
        non_empty,
        vec![&vec![
            "0001_init".to_owned(),
            "0002_elections".to_owned(),
            "0003_photos".to_owned(),
            "0004_integrations".to_owned(),
            "0005_report_counts".to_owned(),
            "0006_photo_review".to_owned(),
            "0007_safety".to_owned(),
        ]],
        "applied: {applied:?}"
    );
    let pool = db.pool().await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations")
        .fetch_one(&pool)
        .await
        .expect("count")
        .try_get("n")
        .expect("n");
    assert_eq!(n, 7);
    db.cleanup().await;
}

#[tokio::test]
async fn a_changed_migration_is_refused_by_name() {
    let Some((store, db)) = test_store().await else {
        return;
    };
    let pool = db.pool().await;
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&pool)
        .await
        .expect("tamper");
    let err = store
        .migrate()
        .await
        .expect_err("a changed migration must be refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("0001_init"), "{err}");
    db.cleanup().await;
}

#[tokio::test]
async fn a_database_from_a_newer_release_is_refused() {
    let Some((store, db)) = test_store().await else {
        return;
    };
    let pool = db.pool().await;
    sqlx::query("INSERT INTO schema_migrations VALUES (9999, '9999_future', 'x', 0)")
        .execute(&pool)
        .await
        .expect("insert");
    let err = store
        .migrate()
        .await
        .expect_err("an unknown applied migration must be refused");
    assert!(err.to_string().contains("9999_future"), "{err}");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_redeemed_concurrently_creates_one_account() {
    let Some((store, db)) = test_store().await else {
        return;
    };
    store
        .create_invite(
            &NewInvite {
                token_fingerprint: "fp".into(),
                role: Role::Lawyer,
                created_by: None,
                created_at: ts(0),
                expires_at: ts(1_000_000),
            },
            &NewAudit::new(ts(0), Actor::Cli, AuditAction::InviteCreated),
        )
        .await
        .expect("invite");
    let other = db.store().await;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let s = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                let user = NewUser {
                    username: Username::parse(&format!("racer-{i}")).expect("name"),
                    role: Role::Admin,
                    password_hash: Secret::new("h".into()),
                    must_change_password: false,
                    created_at: ts(10),
                };
                s.redeem_invite(
                    "fp",
                    ts(10),
                    &user,
                    &NewAudit::new(ts(10), Actor::Anonymous, AuditAction::InviteRedeemed),
                )
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(u) => {
                ok += 1;
                assert_eq!(u.role, Role::Lawyer);
            }
            Err(StoreError::NotFound) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1, "exactly one redemption may succeed");
    assert_eq!(store.list_users().await.expect("users").len(), 1);
    db.cleanup().await;
}

#[tokio::test]
async fn backup_points_to_pg_dump() {
    let Some((store, db)) = test_store().await else {
        return;
    };
    let err = store
        .backup_to(Path::new("/tmp/never-written.db"))
        .await
        .expect_err("unsupported");
    assert!(matches!(err, StoreError::Unsupported(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("pg_dump") && msg.contains("pg_restore") && !msg.contains('\n'),
        "{msg}"
    );
    assert!(!Path::new("/tmp/never-written.db").exists());
    db.cleanup().await;
}

#[tokio::test]
async fn long_job_errors_are_truncated() {
    let Some((store, db)) = test_store().await else {
        return;
    };
    let id = store
        .enqueue_job(&NewJob {
            kind: "k".into(),
            payload: "{}".into(),
            run_at: ts(0),
            max_attempts: 1,
        })
        .await
        .expect("enqueue");
    let job = store
        .claim_job(ts(0), ts(10))
        .await
        .expect("claim")
        .expect("due");
    assert!(
        store
            .fail_job(id, job.attempts, &"é".repeat(5000), None)
            .await
            .expect("fail")
    );
    let stored = store.job(id).await.expect("job").expect("stored");
    assert_eq!(stored.last_error.expect("error kept").chars().count(), 1000);
    db.cleanup().await;
}

#[tokio::test]
async fn connect_never_shows_the_password() {
    // For the skip-or-fail rule only; this test connects by itself.
    let Some(db) = TestDb::new().await else {
        return;
    };
    let shows_no_secret = |err: &StoreError| {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    };
    let err = PgStore::connect(&Secret::new("postgres://u:hunter2@[bad".to_owned()))
        .await
        .expect_err("unparsable URL");
    shows_no_secret(&err);
    let err = PgStore::connect(&Secret::new(
        "postgres://u:hunter2@127.0.0.1:1/test".to_owned(),
    ))
    .await
    .expect_err("nothing listens on port 1");
    shows_no_secret(&err);

    // With a password added (trust authentication ignores it) the store works and its Debug
    // output does not show it.
    let url = std::env::var("TEST_DATABASE_URL").expect("set, since TestDb::new succeeded");
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((user, host)) = rest.split_once('@')
        && !user.contains(':')
    {
        match PgStore::connect(&Secret::new(format!(
            "{scheme}://{user}:hunter2-secret@{host}"
        )))
        .await
        {
            Ok(store) => {
                store.ping().await.expect("ping");
                let shown = format!("{store:?}");
                assert!(!shown.contains("hunter2"), "{shown}");
            }
            // A server that checks passwords refuses this one; the error must not echo it.
            Err(e) => shows_no_secret(&e),
        }
    }
    db.cleanup().await;
}

#[tokio::test]
async fn test_schemas_are_dropped() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let probe = TestDb::new().await.expect("second schema");
    let pool = probe.pool().await;
    let exists = |name: String| {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS e")
                .bind(name)
                .fetch_one(&pool)
                .await
                .expect("query")
                .try_get::<bool, _>("e")
                .expect("e")
        }
    };
    // Explicit cleanup.
    let name = db.schema().to_owned();
    db.store().await.migrate().await.expect("migrate");
    assert!(exists(name.clone()).await);
    db.cleanup().await;
    assert!(!exists(name).await, "cleanup left the schema");
    // The Drop fallback.
    let dropped = TestDb::new().await.expect("third schema");
    let name = dropped.schema().to_owned();
    dropped.store().await.migrate().await.expect("migrate");
    drop(dropped);
    assert!(!exists(name).await, "drop left the schema");
    probe.cleanup().await;
}

// ---- elections: the shared story, one fresh schema per part, and PostgreSQL specifics ----

mod elections {
    use std::time::Instant;

    use sqlx::Row;
    use talaka_elections::ExitPollTally;
    use talaka_store::elections::{ElectionError, ElectionStore, StationFilter};
    use talaka_store::story_elections::{
        self, import_audit, pseudonym, small_dataset, synthetic_dataset,
    };
    use talaka_store_postgres::testing::{TestDb, test_store};

    macro_rules! election_parts {
        ($($part:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $part() {
                let Some((store, db)) = test_store().await else { return };
                story_elections::$part(&store).await;
                db.cleanup().await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whole_elections_story_on_one_store() {
        let Some((store, db)) = test_store().await else {
            return;
        };
        story_elections::run_all(&store).await;
        db.cleanup().await;
    }

    async fn row_counts(db: &TestDb) -> Vec<(String, i64)> {
        let pool = db.pool().await;
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
                .fetch_one(&pool)
                .await
                .expect("count")
                .get(0);
            out.push((t.to_owned(), n));
        }
        pool.close().await;
        out
    }

    /// A failure in the database itself, after most rows were written, rolls all of them back:
    /// the last table written (exit-poll tallies) refuses one row through a trigger.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_late_in_the_import_rolls_everything_back() {
        let Some((store, db)) = test_store().await else {
            return;
        };
        let pool = db.pool().await;
        sqlx::raw_sql(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'boom'; END; $$; \
             CREATE TRIGGER boom BEFORE INSERT ON exit_poll_tallies FOR EACH ROW \
             WHEN (NEW.time_window = 'boom') EXECUTE FUNCTION boom();",
        )
        .execute(&pool)
        .await
        .expect("trigger");

        let mut d = small_dataset("pg-boom");
        d.exit_polls.push(ExitPollTally {
            window: "boom".into(),
            ..d.exit_polls[0].clone()
        });
        let before = row_counts(&db).await;
        let err = store
            .import_dataset(&d, &import_audit(1, "pg-boom"))
            .await
            .expect_err("the trigger refuses the import");
        assert!(matches!(err, ElectionError::Store(_)), "{err:?}");
        assert_eq!(
            row_counts(&db).await,
            before,
            "a new election was half-written"
        );

        let good = small_dataset("pg-boom");
        store
            .import_dataset(&good, &import_audit(2, "pg-boom"))
            .await
            .expect("good import");
        let before = row_counts(&db).await;
        let mut changed = d.clone();
        changed.stations[0].registered = Some(1);
        changed.protocols[0].figures.votes[0].1 = 1;
        store
            .import_dataset(&changed, &import_audit(3, "pg-boom"))
            .await
            .expect_err("the trigger refuses the import");
        assert_eq!(row_counts(&db).await, before);
        assert_eq!(store.dataset("pg-boom").await.expect("dataset"), Some(good));
        db.cleanup().await;
    }

    #[tokio::test]
    async fn schema_refuses_raw_identifiers_and_two_counted_reports() {
        let Some((store, db)) = test_store().await else {
            return;
        };
        store
            .import_dataset(&small_dataset("pg-schema"), &import_audit(1, "pg-schema"))
            .await
            .expect("import");
        let pool = db.pool().await;
        let insert = |participant: String, fingerprint: &'static str| {
            format!(
                "INSERT INTO ballot_reports (election_id, participant, station_id, option_id, \
                 verification, duplicate_photo, at, receipt_fingerprint, counted) \
                 SELECT e.id, '{participant}', s.id, o.id, 'unverified', FALSE, 0, \
                 '{fingerprint}', TRUE \
                 FROM elections e JOIN stations s ON s.election_id = e.id \
                 JOIN ballot_options o ON o.election_id = e.id \
                 WHERE e.code = 'pg-schema' LIMIT 1"
            )
        };
        for raw_id in ["375291234567", "@someone", &"A".repeat(64)] {
            let r = sqlx::query(&insert(raw_id.to_owned(), "f0"))
                .execute(&pool)
                .await;
            assert!(r.is_err(), "{raw_id} was accepted as a participant");
        }
        let p = pseudonym("someone");
        sqlx::query(&insert(p.clone(), "f1"))
            .execute(&pool)
            .await
            .expect("a pseudonym is accepted");
        let r = sqlx::query(&insert(p, "f2")).execute(&pool).await;
        assert!(r.is_err(), "a second counted report was accepted");
        let r = sqlx::query("UPDATE protocols SET observer = 'ivan' WHERE observer IS NOT NULL")
            .execute(&pool)
            .await;
        assert!(r.is_err(), "an observer name was accepted");
        db.cleanup().await;
    }

    /// Two processes importing the same file at once: one writes it, the other finds it
    /// unchanged (the advisory lock queues them); neither fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_imports_of_one_election_queue() {
        let Some((first, db)) = test_store().await else {
            return;
        };
        let second = db.store().await;
        let d = synthetic_dataset("pg-concurrent", 500);
        let (audit_a, audit_b) = (
            import_audit(1, "pg-concurrent"),
            import_audit(2, "pg-concurrent"),
        );
        let (a, b) = tokio::join!(
            first.import_dataset(&d, &audit_a),
            second.import_dataset(&d, &audit_b),
        );
        let (a, b) = (a.expect("first import"), b.expect("second import"));
        assert_eq!(
            [a.is_unchanged(), b.is_unchanged()]
                .iter()
                .filter(|u| **u)
                .count(),
            1,
            "{a} / {b}"
        );
        assert_eq!(
            first.dataset("pg-concurrent").await.expect("dataset"),
            Some(d)
        );
        db.cleanup().await;
    }

    /// One participant reporting from two devices at once: exactly one report counts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reports_of_one_participant_count_once() {
        let Some((first, db)) = test_store().await else {
            return;
        };
        first
            .import_dataset(&small_dataset("pg-race"), &import_audit(1, "pg-race"))
            .await
            .expect("import");
        let second = db.store().await;
        let mut tasks = Vec::new();
        for (i, store) in [first.clone(), second.clone(), first.clone(), second.clone()]
            .into_iter()
            .cycle()
            .take(20)
            .enumerate()
        {
            tasks.push(tokio::spawn(async move {
                let r = talaka_elections::BallotReport {
                    participant: pseudonym("racer"),
                    station: "01-010-0001".into(),
                    option: if i % 2 == 0 {
                        "tihanovkaja"
                    } else {
                        "lukashenko"
                    }
                    .into(),
                    verification: talaka_elections::Verification::Unverified,
                    photo_sha256: None,
                    at: 1000 + i as i64,
                };
                store.submit_ballot_report("pg-race", &r).await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("every report is accepted");
        }
        let counts = first.crowd_counts("pg-race").await.expect("crowd_counts");
        assert_eq!(counts.len(), 1);
        let total: u32 = counts[0].reported.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 1, "{counts:?}");
        // The latest by `at` (i = 19, lukashenko) is the one counted.
        assert_eq!(counts[0].reported, vec![("lukashenko".to_owned(), 1)]);
        db.cleanup().await;
    }

    /// The crowd counts of `code` recounted in plain SQL from the counted reports, flattened
    /// as (station, option, reported, verified) beside what `crowd_counts` says.
    async fn recount(
        store: &talaka_store_postgres::PgStore,
        db: &TestDb,
        code: &str,
    ) -> (
        Vec<(String, String, i64, i64)>,
        Vec<(String, String, i64, i64)>,
    ) {
        let pool = db.pool().await;
        let sql = sqlx::query(
            "SELECT s.code AS station, o.code AS option, COUNT(*) AS n, \
                    COUNT(*) FILTER (WHERE r.verification = 'photo_verified' \
                      AND NOT r.duplicate_photo) AS v \
             FROM ballot_reports r JOIN elections e ON e.id = r.election_id \
             JOIN stations s ON s.id = r.station_id JOIN ballot_options o ON o.id = r.option_id \
             WHERE e.code = $1 AND r.counted \
             GROUP BY s.id, o.id ORDER BY s.id, o.position, o.id",
        )
        .bind(code)
        .fetch_all(&pool)
        .await
        .expect("recount")
        .iter()
        .map(|r| (r.get("station"), r.get("option"), r.get("n"), r.get("v")))
        .collect();
        pool.close().await;
        let counted = store
            .crowd_counts(code)
            .await
            .expect("crowd_counts")
            .into_iter()
            .flat_map(|t| {
                let station = t.station.clone();
                t.reported
                    .into_iter()
                    .zip(t.verified)
                    .map(move |((o, n), (_, v))| (station.clone(), o, i64::from(n), i64::from(v)))
            })
            .collect();
        (counted, sql)
    }

    /// Many batches at once from two pools, reaching the same counters in opposite orders and
    /// replacing each other's participants' reports: none fails (no deadlock) and the counts
    /// equal a recount.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_batches_count_exactly_without_deadlocks() {
        let Some((first, db)) = test_store().await else {
            return;
        };
        let d = small_dataset("pg-crowd");
        first
            .import_dataset(&d, &import_audit(1, "pg-crowd"))
            .await
            .expect("import");
        let second = db.store().await;
        let stations: Vec<String> = d.stations.iter().map(|s| s.code.clone()).collect();
        let options: Vec<String> = d.info.options.iter().map(|o| o.code.clone()).collect();
        let mut tasks = Vec::new();
        for task in 0..8usize {
            let store = if task % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let (stations, options) = (stations.clone(), options.clone());
            tasks.push(tokio::spawn(async move {
                for round in 0..15usize {
                    let mut batch: Vec<talaka_elections::BallotReport> = (0..8usize)
                        .map(|i| {
                            let photo = (task + i) % 3 == 0;
                            talaka_elections::BallotReport {
                                // 30 participants shared by all tasks: reports replace
                                // reports other tasks sent.
                                participant: pseudonym(&format!(
                                    "crowd-{}",
                                    (task * 7 + round * 3 + i) % 30
                                )),
                                station: stations[(i + round) % stations.len()].clone(),
                                option: options[(i + task) % options.len()].clone(),
                                verification: if photo {
                                    talaka_elections::Verification::PhotoVerified
                                } else {
                                    talaka_elections::Verification::Unverified
                                },
                                photo_sha256: photo.then(|| {
                                    pseudonym(&format!("crowd-photo-{}", (task + round + i) % 9))
                                }),
                                at: i64::try_from(1000 + round * 10 + (task + i) % 7)
                                    .expect("small"),
                            }
                        })
                        .collect();
                    if task % 2 == 1 {
                        batch.reverse();
                    }
                    store
                        .submit_ballot_reports("pg-crowd", &batch)
                        .await
                        .unwrap_or_else(|e| panic!("task {task}, round {round}: {e}"));
                }
            }));
        }
        for t in tasks {
            t.await.expect("every batch is accepted");
        }
        let (counted, recounted) = recount(&first, &db, "pg-crowd").await;
        assert!(!recounted.is_empty());
        assert_eq!(counted, recounted);
        db.cleanup().await;
    }

    /// Migration 0005 counts the reports stored before it.
    #[tokio::test]
    async fn the_counter_migration_counts_reports_already_stored() {
        let Some((store, db)) = test_store().await else {
            return;
        };
        story_elections::crowd_aggregation(&store).await;
        let before = recount(&store, &db, "story-crowd").await;
        assert_eq!(before.0, before.1);
        // Back to the schema before 0005, the reports kept, then forward again.
        let pool = db.pool().await;
        sqlx::raw_sql(
            "DROP TABLE crowd_report_counts; \
             DROP FUNCTION crowd_report_counts_follow() CASCADE; \
             DROP FUNCTION crowd_report_counts_clear() CASCADE; \
             DELETE FROM schema_migrations WHERE version = 5;",
        )
        .execute(&pool)
        .await
        .expect("undo 0005");
        pool.close().await;
        assert_eq!(
            talaka_store::Store::migrate(&store).await.expect("migrate"),
            vec!["0005_report_counts".to_owned()]
        );
        assert_eq!(recount(&store, &db, "story-crowd").await, before);
        db.cleanup().await;
    }

    async fn timed_import(stations: usize) {
        let Some((store, db)) = test_store().await else {
            return;
        };
        let d = synthetic_dataset("synthetic", stations);
        let started = Instant::now();
        let s = store
            .import_dataset(&d, &import_audit(1, "synthetic"))
            .await
            .expect("import");
        let first = started.elapsed();
        assert_eq!(s.stations.inserted, stations as u64);
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
            "postgres: {stations} stations: import {first:.2?}, unchanged re-import \
             {second:.2?}, read back {read:.2?}"
        );
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn imports_six_thousand_stations() {
        timed_import(6_000).await;
    }

    /// `cargo test --release -p talaka-store-postgres -- --ignored --nocapture hundred_thousand`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "volume test: run in release"]
    async fn imports_a_hundred_thousand_stations() {
        timed_import(100_000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_story() {
    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    talaka_store::story_integrations::integrations(&store).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_story() {
    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    talaka_store::story_photos::photos(&store).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_story() {
    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    talaka_store::story_moderation::moderation(&store).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_story() {
    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    talaka_store::story_safety::safety(&store).await;
    db.cleanup().await;
}
