//! The web tier's own background jobs: housekeeping (expired sessions, old login failures,
//! detention cases' personal details past their retention),
//! enqueued every quarter of an hour by each running server and run by whichever worker
//! claims it (the clean-up is idempotent, so several instances may each enqueue one).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use talaka_core::Timestamp;
use talaka_jobs::{JobError, JobHandler, Registry};
use talaka_store::{Job, StoreError};

use crate::AppState;

/// The job kind of the periodic clean-up. Stored in the database: never rename.
pub const HOUSEKEEPING: &str = "housekeeping";

/// How often each server enqueues a clean-up.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15 * 60);

/// Delete expired and idle sessions and login failures older than the throttle window.
/// Returns (sessions, failures) removed.
pub async fn housekeeping(state: &AppState, now: Timestamp) -> Result<(u64, u64), StoreError> {
    let settings = state.settings();
    let sessions = state
        .store()
        .delete_expired_sessions(now, now.minus(settings.session_idle))
        .await?;
    let failures = state
        .store()
        .prune_login_failures(now.minus(settings.login_window))
        .await?;
    Ok((sessions, failures))
}

struct Housekeeping(AppState);

#[async_trait]
impl JobHandler for Housekeeping {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let (sessions, failures) = housekeeping(&self.0, self.0.now())
            .await
            .map_err(|e| JobError::retry(format!("housekeeping: {e}")))?;
        // Retention of detention cases' personal details, when the Safety module is on.
        let cases = match self.0.safety() {
            Some(safety) => crate::cases::purge_expired_cases(safety)
                .await
                .map_err(|e| JobError::retry(format!("case retention: {e}")))?,
            None => 0,
        };
        tracing::info!(sessions, failures, cases, "housekeeping done");
        Ok(())
    }
}

/// Register the server's job handlers with the worker.
pub fn register_jobs(registry: &mut Registry, state: &AppState) {
    registry.register(HOUSEKEEPING, Arc::new(Housekeeping(state.clone())));
}

/// Enqueue a housekeeping job now and then every [`HOUSEKEEPING_EVERY`], until aborted.
pub(crate) async fn schedule_housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tick.tick().await;
        let payload = serde_json::json!({});
        if let Err(e) =
            talaka_jobs::enqueue(state.store(), HOUSEKEEPING, &payload, state.now(), 3).await
        {
            tracing::warn!(error = %e, "could not enqueue housekeeping");
        }
    }
}
