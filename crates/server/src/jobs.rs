//! The web tier's own background jobs: housekeeping (expired sessions, old login failures).

use talaka_core::Timestamp;
use talaka_store::StoreError;

use crate::AppState;

/// The job kind of the periodic clean-up.
pub const HOUSEKEEPING: &str = "housekeeping";

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

/// Register the server's job handlers with the worker.
pub fn register_jobs(_registry: &mut talaka_jobs::Registry, _state: &AppState) {}
