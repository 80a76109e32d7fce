//! The worker against a real SQLite file, with a clock the test controls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use talaka_core::{Clock, ManualClock, Timestamp};
use talaka_jobs::{JobError, JobHandler, Outcome, Registry, Worker, WorkerSettings, enqueue};
use talaka_store::{Job, JobId, JobStatus, Store};
use talaka_store_sqlite::SqliteStore;
use tempfile::TempDir;

const START: Timestamp = Timestamp(1_700_000_000_000);

fn settings() -> WorkerSettings {
    WorkerSettings {
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(300),
        backoff_base: Duration::from_secs(10),
        backoff_cap: Duration::from_secs(3600),
    }
}

struct Env {
    _dir: TempDir,
    store: Arc<dyn Store>,
    clock: ManualClock,
}

impl Env {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("talaka.db"))
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate");
        Self {
            _dir: dir,
            store: Arc::new(store),
            clock: ManualClock::new(START),
        }
    }

    fn worker(&self, registry: Registry) -> Worker {
        self.worker_with(registry, settings())
    }

    fn worker_with(&self, registry: Registry, settings: WorkerSettings) -> Worker {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        Worker::new(Arc::clone(&self.store), Arc::new(registry), clock, settings)
    }

    async fn enqueue(&self, kind: &str, max_attempts: u32) -> JobId {
        enqueue(
            &*self.store,
            kind,
            &json!({ "n": 1 }),
            self.clock.now(),
            max_attempts,
        )
        .await
        .expect("enqueue")
    }

    async fn job(&self, id: JobId) -> Job {
        self.store
            .job(id)
            .await
            .expect("read job")
            .expect("job exists")
    }
}

/// Fails with `Retry` for the first `failures` calls, then succeeds; counts calls.
#[derive(Default)]
struct Flaky {
    failures: u32,
    calls: AtomicU32,
    payloads: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl JobHandler for Flaky {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        self.payloads
            .lock()
            .expect("lock")
            .push(job.payload.clone());
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.failures {
            Err(JobError::retry(format!("transient failure {n}")))
        } else {
            Ok(())
        }
    }
}

struct Permanent;

#[async_trait]
impl JobHandler for Permanent {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        Err(JobError::permanent("record 42 is gone"))
    }
}

struct Panics;

#[async_trait]
impl JobHandler for Panics {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        panic!("handler bug");
    }
}

/// Sleeps (real time) before succeeding.
struct Slow(Duration);

#[async_trait]
impl JobHandler for Slow {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}

fn registry_with(kind: &'static str, handler: Arc<dyn JobHandler>) -> Registry {
    let mut r = Registry::new();
    r.register(kind, handler);
    r
}

#[tokio::test]
async fn a_successful_job_is_done_after_one_run() {
    let env = Env::new().await;
    let flaky = Arc::new(Flaky::default());
    let worker = env.worker(registry_with("ok", flaky.clone()));
    let id = env.enqueue("ok", 3).await;
    assert_eq!(env.job(id).await.status, JobStatus::Queued);

    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Done));

    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.last_error, None);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
    let payloads = flaky.payloads.lock().expect("lock").clone();
    let seen: serde_json::Value = serde_json::from_str(&payloads[0]).expect("payload is JSON");
    assert_eq!(seen, json!({ "n": 1 }));
    // Nothing left to do.
    assert_eq!(worker.run_once().await.expect("run"), None);
}

#[tokio::test]
async fn retries_wait_exactly_the_backoff_then_succeed() {
    let env = Env::new().await;
    let flaky = Arc::new(Flaky {
        failures: 2,
        ..Flaky::default()
    });
    let worker = env.worker(registry_with("flaky", flaky.clone()));
    let id = env.enqueue("flaky", 5).await;

    for attempt in 1..=2u32 {
        let now = env.clock.now();
        let expected_at = now.plus(settings().backoff(attempt));
        assert_eq!(
            worker.run_once().await.expect("run"),
            Some(Outcome::Retrying { at: expected_at })
        );
        let job = env.job(id).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.attempts, attempt);
        assert_eq!(job.run_at, expected_at);
        assert_eq!(
            job.last_error.as_deref(),
            Some(format!("transient failure {attempt}").as_str())
        );

        // Not due yet, not even one millisecond before.
        assert_eq!(worker.run_once().await.expect("run"), None);
        env.clock.set(expected_at.minus(Duration::from_millis(1)));
        assert_eq!(worker.run_once().await.expect("run"), None);
        assert_eq!(
            env.job(id).await.attempts,
            attempt,
            "a job not yet due is not claimed"
        );
        env.clock.set(expected_at);
    }
    assert_eq!(settings().backoff(1), Duration::from_secs(10));
    assert_eq!(settings().backoff(2), Duration::from_secs(20));

    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Done));
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.attempts, 3);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_job_that_uses_up_its_attempts_is_dead_with_its_last_error() {
    let env = Env::new().await;
    let flaky = Arc::new(Flaky {
        failures: u32::MAX,
        ..Flaky::default()
    });
    let worker = env.worker(registry_with("doomed", flaky.clone()));
    let id = env.enqueue("doomed", 2).await;

    let Some(Outcome::Retrying { at }) = worker.run_once().await.expect("run") else {
        panic!("first failure should be retried");
    };
    env.clock.set(at);
    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Dead));

    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Dead);
    assert_eq!(job.attempts, 2);
    assert_eq!(job.last_error.as_deref(), Some("transient failure 2"));
    // A dead job is never claimed again, however long we wait.
    env.clock.advance(Duration::from_secs(86_400));
    assert_eq!(worker.run_once().await.expect("run"), None);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_permanent_failure_is_dead_at_once() {
    let env = Env::new().await;
    let worker = env.worker(registry_with("perm", Arc::new(Permanent)));
    let id = env.enqueue("perm", 5).await;

    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Dead));
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Dead);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.last_error.as_deref(), Some("record 42 is gone"));
    env.clock.advance(Duration::from_secs(86_400));
    assert_eq!(worker.run_once().await.expect("run"), None);
}

#[tokio::test]
async fn a_job_of_unknown_kind_is_dead() {
    let env = Env::new().await;
    let worker = env.worker(registry_with("known", Arc::new(Flaky::default())));
    let id = env.enqueue("mystery", 5).await;

    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Dead));
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Dead);
    let error = job.last_error.expect("an error is recorded");
    assert!(
        error.contains("no handler for kind") && error.contains("mystery"),
        "{error}"
    );
}

#[tokio::test]
async fn a_panicking_handler_leaves_the_worker_alive_and_the_job_queued() {
    let env = Env::new().await;
    let flaky = Arc::new(Flaky::default());
    let mut registry = registry_with("panics", Arc::new(Panics));
    registry.register("ok", flaky.clone());
    let worker = env.worker(registry);
    let bad = env.enqueue("panics", 3).await;

    let expected_at = env.clock.now().plus(settings().backoff(1));
    assert_eq!(
        worker.run_once().await.expect("run"),
        Some(Outcome::Retrying { at: expected_at })
    );
    let job = env.job(bad).await;
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.run_at, expected_at);
    assert_eq!(job.last_error.as_deref(), Some("handler panicked"));

    // The same worker goes on working.
    let good = env.enqueue("ok", 3).await;
    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Done));
    assert_eq!(env.job(good).await.status, JobStatus::Done);
}

#[tokio::test]
async fn a_job_held_by_a_dead_worker_is_taken_again_after_the_lease() {
    let env = Env::new().await;
    let flaky = Arc::new(Flaky::default());
    let worker = env.worker(registry_with("ok", flaky.clone()));
    let id = env.enqueue("ok", 3).await;

    // Another worker claims the job and dies without finishing it.
    let now = env.clock.now();
    let lease_until = now.plus(settings().lease);
    let claimed = env
        .store
        .claim_job(now, lease_until)
        .await
        .expect("claim")
        .expect("a due job");
    assert_eq!((claimed.id, claimed.attempts), (id, 1));
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.locked_until, Some(lease_until));

    // While the lease holds, nobody else takes it.
    env.clock.set(lease_until.minus(Duration::from_millis(1)));
    assert_eq!(worker.run_once().await.expect("run"), None);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 0);

    env.clock.set(lease_until.plus(Duration::from_millis(1)));
    assert_eq!(worker.run_once().await.expect("run"), Some(Outcome::Done));
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.attempts, 2);

    // The first worker's late results change nothing.
    assert!(!env.store.complete_job(id, 1).await.expect("stale complete"));
    assert!(
        !env.store
            .fail_job(id, 1, "late", None)
            .await
            .expect("stale fail")
    );
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.last_error, None);
}

#[tokio::test]
async fn a_handler_overrunning_its_lease_is_cancelled_and_retried() {
    let env = Env::new().await;
    let worker = env.worker_with(
        registry_with("slow", Arc::new(Slow(Duration::from_secs(30)))),
        WorkerSettings {
            lease: Duration::from_millis(100),
            ..settings()
        },
    );
    let id = env.enqueue("slow", 3).await;

    let outcome = tokio::time::timeout(Duration::from_secs(5), worker.run_once())
        .await
        .expect("the worker does not wait for the handler beyond the lease")
        .expect("run");
    assert!(
        matches!(outcome, Some(Outcome::Retrying { .. })),
        "{outcome:?}"
    );
    let job = env.job(id).await;
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(
        job.last_error.as_deref(),
        Some("handler did not finish within the lease")
    );
}

async fn wait_for_status(env: &Env, id: JobId, status: JobStatus) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while env.job(id).await.status != status {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job {id:?} never became {status:?}"));
}

#[tokio::test]
async fn run_picks_up_new_jobs_and_stops_promptly_on_shutdown() {
    let env = Env::new().await;
    let flaky = Arc::new(Flaky::default());
    let worker = env.worker(registry_with("ok", flaky.clone()));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    // Jobs enqueued while the worker is idle are found on a later poll.
    let first = env.enqueue("ok", 3).await;
    wait_for_status(&env, first, JobStatus::Done).await;
    let second = env.enqueue("ok", 3).await;
    wait_for_status(&env, second, JobStatus::Done).await;

    tx.send(true).expect("worker is listening");
    tokio::time::timeout(Duration::from_secs(2), handle)
        .await
        .expect("worker stops promptly")
        .expect("worker did not panic");
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2);

    // After shutdown nothing is claimed any more.
    let third = env.enqueue("ok", 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.job(third).await.status, JobStatus::Queued);
}

#[tokio::test]
async fn shutdown_lets_the_job_in_hand_finish() {
    let env = Env::new().await;
    let worker = env.worker(registry_with(
        "slow",
        Arc::new(Slow(Duration::from_millis(300))),
    ));
    let id = env.enqueue("slow", 3).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    wait_for_status(&env, id, JobStatus::Running).await;
    tx.send(true).expect("worker is listening");
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("worker stops after the job")
        .expect("worker did not panic");
    let job = env.job(id).await;
    assert_eq!(
        job.status,
        JobStatus::Done,
        "the job in hand was finished and recorded"
    );
    assert_eq!(job.attempts, 1);
}

#[tokio::test]
async fn a_worker_whose_shutdown_sender_is_gone_stops() {
    let env = Env::new().await;
    let worker = env.worker(Registry::new());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!handle.is_finished(), "an idle worker keeps polling");
    drop(tx);
    tokio::time::timeout(Duration::from_secs(2), handle)
        .await
        .expect("worker stops when nobody can signal it any more")
        .expect("worker did not panic");
}
