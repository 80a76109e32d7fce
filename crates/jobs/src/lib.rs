//! Talaka's background worker.
//!
//! Jobs live in the database (see [`talaka_store::Job`]), so several `talaka serve` processes
//! can share the work: a [`Worker`] claims one due job at a time with a lease, runs the
//! [`JobHandler`] registered for the job's kind, and records the result. A retryable failure
//! is tried again after an exponential back-off ([`talaka_core::jobs::backoff`]) until the
//! job's `max_attempts` is used up; then, or at once on a permanent failure, the job is marked
//! dead for staff to look at. A worker that dies mid-job loses its lease and the job is taken
//! by another worker once the lease lapses.
//!
//! # Adding a kind of job
//!
//! A later module (alert delivery, imports, …) defines its kind name, a handler, and a way to
//! enqueue; the server registers the handler at start-up before it starts the worker:
//!
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use talaka_jobs::{JobError, JobHandler, Registry};
//! use talaka_store::Job;
//!
//! /// The kind name is stored in the database: never rename it once released.
//! pub const DELIVER_ALERT: &str = "alert.deliver";
//!
//! /// Delivers one detention alert. The payload carries only the alert's id, never its text.
//! struct DeliverAlert {/* the module's own state: a store, an HTTP client, … */}
//!
//! #[async_trait]
//! impl JobHandler for DeliverAlert {
//!     async fn run(&self, job: &Job) -> Result<(), JobError> {
//!         let payload: serde_json::Value = serde_json::from_str(&job.payload)
//!             .map_err(|_| JobError::permanent("payload is not JSON"))?;
//!         let Some(_alert_id) = payload["alert_id"].as_i64() else {
//!             return Err(JobError::permanent("payload has no alert_id"));
//!         };
//!         // Deliver the alert. A network failure is worth another try:
//!         //     return Err(JobError::retry("relay unreachable"));
//!         Ok(())
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.register(DELIVER_ALERT, Arc::new(DeliverAlert {}));
//! assert!(registry.handler(DELIVER_ALERT).is_some());
//! // Elsewhere, to schedule work:
//! //     talaka_jobs::enqueue(&*store, DELIVER_ALERT, &json!({ "alert_id": 7 }), now, 5).await?;
//! ```
//!
//! Rules for handlers:
//!
//! - **At least once.** A job may run more than once (a worker can die after the work but
//!   before recording it, or overrun its lease), so handlers must be idempotent.
//! - **No personal data in errors or payloads.** A [`JobError`]'s message is stored as the
//!   job's `last_error`, shown to staff and logged. Payloads stay in the jobs table after the
//!   job is done. Put ids in both, never names, phone numbers, message text or tokens.
//! - **Finish within the lease.** A handler still running when the lease ends is cancelled at
//!   its next `.await` and the attempt counts as a retryable failure. Blocking code belongs in
//!   `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use talaka_core::config::JobsConfig;
use talaka_core::{Clock, Timestamp};
use talaka_store::{Job, JobId, NewJob, Store, StoreError};
use tokio::sync::watch;
use tracing::Instrument;

/// Longest `last_error` stored, in characters; longer messages are cut.
const MAX_ERROR_CHARS: usize = 500;

/// Why a handler did not finish its job.
///
/// The message is stored as the job's `last_error`, shown to staff and written to the log:
/// it must **never** contain personal data, secrets or payload contents. Say what failed
/// ("relay unreachable", "alert 17 not found"), using ids, not who or what it was about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A passing failure (network, a busy database): try again after the back-off, as long
    /// as attempts remain.
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (bad payload, the record is gone): mark the job dead now.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retry(message: impl Into<String>) -> Self {
        JobError::Retry(message.into())
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        JobError::Permanent(message.into())
    }

    fn message(&self) -> &str {
        match self {
            JobError::Retry(m) | JobError::Permanent(m) => m,
        }
    }
}

/// The code that does one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Do the job. `job.payload` is the JSON text given to [`enqueue`]; `job.attempts`
    /// counts this attempt. See [`JobError`] for what an error message may contain.
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

/// Which handler runs which kind of job.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register the handler for `kind`.
    ///
    /// # Panics
    ///
    /// If `kind` already has a handler: two modules claiming one kind is a programming error
    /// that must show at start-up, not as jobs silently run by the wrong code.
    pub fn register(&mut self, kind: &'static str, handler: Arc<dyn JobHandler>) -> &mut Self {
        let previous = self.handlers.insert(kind, handler);
        assert!(previous.is_none(), "job kind {kind:?} registered twice");
        self
    }

    pub fn handler(&self, kind: &str) -> Option<&Arc<dyn JobHandler>> {
        self.handlers.get(kind)
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

/// Queue a job of `kind` to run at or after `run_at`, at most `max_attempts` times (at least
/// once, whatever is passed). The payload must not hold personal data: put ids in it.
pub async fn enqueue(
    store: &dyn Store,
    kind: &str,
    payload: &serde_json::Value,
    run_at: Timestamp,
    max_attempts: u32,
) -> Result<JobId, StoreError> {
    let job = NewJob {
        kind: kind.to_owned(),
        payload: payload.to_string(),
        run_at,
        max_attempts: max_attempts.max(1),
    };
    store.enqueue_job(&job).await
}

/// How a worker paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long an idle worker waits before looking for due jobs again.
    pub poll_interval: Duration,
    /// How long a claimed job is the worker's; also the longest a handler may run.
    pub lease: Duration,
    /// The wait before the first retry; doubled for each further attempt.
    pub backoff_base: Duration,
    /// The longest wait between attempts.
    pub backoff_cap: Duration,
}

impl WorkerSettings {
    pub fn from_config(config: &JobsConfig) -> Self {
        Self {
            poll_interval: Duration::from_millis(config.poll_interval_ms),
            lease: Duration::from_secs(config.lease_seconds),
            backoff_base: Duration::from_secs(config.backoff_base_seconds),
            backoff_cap: Duration::from_secs(config.backoff_cap_seconds),
        }
    }

    /// The delay after failed attempt number `attempt` (counting from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        talaka_core::jobs::backoff(attempt, self.backoff_base, self.backoff_cap)
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self::from_config(&JobsConfig::default())
    }
}

/// What became of the job a worker ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The handler succeeded; the job is done.
    Done,
    /// The attempt failed and the job is queued again for `at`.
    Retrying { at: Timestamp },
    /// The job failed for good (permanent error, no handler, or attempts used up).
    Dead,
    /// The lease lapsed and another worker re-claimed the job before this result was
    /// recorded; the result was discarded and the job left to the other worker.
    Stale,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retrying { .. } => "retrying",
            Outcome::Dead => "dead",
            Outcome::Stale => "stale",
        }
    }
}

/// Claims due jobs and runs them, one at a time. Run several (in one process or many) for
/// more throughput; the store guarantees a job is claimed by one worker at a time.
#[derive(Clone, Debug)]
pub struct Worker {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            store,
            registry,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Claim one due job, run it and record the result. `None` when no job is due.
    ///
    /// A store error after the handler ran leaves the job claimed; it runs again once the
    /// lease lapses.
    pub async fn run_once(&self) -> Result<Option<Outcome>, StoreError> {
        let now = self.clock.now();
        let Some(job) = self
            .store
            .claim_job(now, now.plus(self.settings.lease))
            .await?
        else {
            return Ok(None);
        };
        let span = tracing::info_span!(
            "job",
            job.id = job.id.0,
            job.kind = %job.kind,
            job.attempt = job.attempts,
        );
        self.finish(job).instrument(span).await.map(Some)
    }

    async fn finish(&self, job: Job) -> Result<Outcome, StoreError> {
        tracing::debug!("job started");
        let result = self.execute(&job).await;
        let (id, attempt) = (job.id, job.attempts);
        let outcome = match result {
            Ok(()) => {
                if self.store.complete_job(id, attempt).await? {
                    Outcome::Done
                } else {
                    Outcome::Stale
                }
            }
            Err(err) => {
                let retry_at = match err {
                    JobError::Retry(_) if attempt < job.max_attempts => {
                        Some(self.clock.now().plus(self.settings.backoff(attempt)))
                    }
                    _ => None,
                };
                let message = truncate(err.message());
                if !self.store.fail_job(id, attempt, message, retry_at).await? {
                    Outcome::Stale
                } else if let Some(at) = retry_at {
                    tracing::warn!(
                        error = message,
                        retry_at = at.millis(),
                        "job failed, will retry"
                    );
                    Outcome::Retrying { at }
                } else {
                    tracing::error!(error = message, "job failed for good, marked dead");
                    Outcome::Dead
                }
            }
        };
        match outcome {
            Outcome::Done => tracing::info!(outcome = outcome.as_str(), "job finished"),
            Outcome::Stale => tracing::warn!(
                outcome = outcome.as_str(),
                "job was re-claimed after its lease lapsed; result discarded"
            ),
            Outcome::Retrying { .. } | Outcome::Dead => {}
        }
        Ok(outcome)
    }

    /// Run the job's handler in its own task so that a panic or an overrun cannot take the
    /// worker down with it.
    async fn execute(&self, job: &Job) -> Result<(), JobError> {
        let Some(handler) = self.registry.handler(&job.kind) else {
            return Err(JobError::Permanent(format!(
                "no handler for kind {:?}",
                job.kind
            )));
        };
        let handler = Arc::clone(handler);
        let owned = job.clone();
        let mut task = tokio::spawn(
            async move { handler.run(&owned).await }.instrument(tracing::Span::current()),
        );
        match tokio::time::timeout(self.settings.lease, &mut task).await {
            Ok(Ok(result)) => result,
            // The panic message is not recorded: it may quote the data the handler was
            // working on. The panic hook has already printed it to the operator's console.
            Ok(Err(e)) if e.is_panic() => Err(JobError::retry("handler panicked")),
            Ok(Err(_)) => Err(JobError::retry("handler was cancelled")),
            Err(_) => {
                task.abort();
                Err(JobError::retry("handler did not finish within the lease"))
            }
        }
    }

    /// Run jobs until `shutdown` turns `true` (or its sender is dropped). Due jobs run back to
    /// back; when none is due the worker sleeps for the poll interval or until shutdown.
    /// On shutdown the job in hand is finished and recorded before this returns. Store errors
    /// are logged and retried after the poll interval; they never end the loop.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(kinds = ?self.registry.kinds(), "job worker started");
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            match self.run_once().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "job worker: store error, retrying after the poll interval")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!("job worker stopped");
    }
}

/// At most [`MAX_ERROR_CHARS`] characters, cut on a character boundary.
fn truncate(message: &str) -> &str {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        Some((i, _)) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_the_config() {
        let config = JobsConfig {
            poll_interval_ms: 250,
            lease_seconds: 60,
            backoff_base_seconds: 5,
            backoff_cap_seconds: 30,
        };
        let s = WorkerSettings::from_config(&config);
        assert_eq!(s.poll_interval, Duration::from_millis(250));
        assert_eq!(s.lease, Duration::from_secs(60));
        assert_eq!(s.backoff(1), Duration::from_secs(5));
        assert_eq!(s.backoff(3), Duration::from_secs(20));
        assert_eq!(s.backoff(4), Duration::from_secs(30));
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let long = "ж".repeat(MAX_ERROR_CHARS + 10);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert_eq!(truncate("short"), "short");
    }

    struct Nop;

    #[async_trait]
    impl JobHandler for Nop {
        async fn run(&self, _job: &Job) -> Result<(), JobError> {
            Ok(())
        }
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_kind_cannot_be_registered_twice() {
        let mut r = Registry::new();
        r.register("a", Arc::new(Nop));
        r.register("a", Arc::new(Nop));
    }
}
