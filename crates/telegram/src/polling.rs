//! Long polling shared by Talaka's bots: [`poll`] fetches updates with `getUpdates` and hands
//! them to the bot one by one until shutdown.

use std::future::Future;
use std::time::Duration;

use crate::client::{BotApi, GetUpdates, TelegramError};

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Fetch updates and `handle` them one by one, in order, until `shutdown` completes. Errors back
/// off exponentially (1 s to 60 s; flood control waits as long as Telegram asks); a leftover
/// webhook (which makes `getUpdates` fail) is deleted first. An update being handled when
/// `shutdown` completes is finished first. Handled updates are confirmed on the next request
/// and once more on shutdown. `bot` names the bot in log lines.
pub async fn poll<F, Fut>(
    api: &BotApi,
    bot: &'static str,
    poll_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    mut handle: F,
) where
    F: FnMut(serde_json::Value) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => return,
        deleted = api.delete_webhook(false) => if let Err(e) = deleted {
            tracing::warn!(bot, error = %e, "could not delete a webhook before polling");
        },
    }
    tracing::info!(bot, "polling for updates");
    let mut offset: Option<i64> = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        let params = GetUpdates {
            offset,
            limit: Some(100),
            timeout: poll_timeout.as_secs(),
            allowed_updates: Some(vec!["message".into(), "callback_query".into()]),
        };
        let got = tokio::select! {
            () = &mut shutdown => break,
            got = api.get_updates(&params) => got,
        };
        let wait = match got {
            Ok(batch) => {
                backoff = MIN_BACKOFF;
                let before = offset;
                let got_any = !batch.is_empty();
                for raw in batch {
                    let id = raw.get("update_id").and_then(serde_json::Value::as_i64);
                    // An update is finished once started (a report stored gets its receipt),
                    // and confirmed only after.
                    handle(raw).await;
                    if let Some(id) = id {
                        offset = Some(offset.map_or(id + 1, |o| o.max(id + 1)));
                    }
                    let stopping = tokio::select! {
                        biased;
                        () = &mut shutdown => true,
                        () = std::future::ready(()) => false,
                    };
                    if stopping {
                        confirm(api, offset).await;
                        tracing::info!(bot, "stopped polling");
                        return;
                    }
                }
                // Updates without any id cannot be confirmed: do not spin on them.
                if got_any && offset == before {
                    tracing::warn!(bot, "getUpdates returned updates without ids; waiting");
                    Some(MAX_BACKOFF)
                } else {
                    None
                }
            }
            Err(e) => {
                let wait = match &e {
                    TelegramError::RateLimited { retry_after } => {
                        Duration::from_secs(*retry_after).max(MIN_BACKOFF)
                    }
                    _ => backoff,
                };
                tracing::warn!(bot, error = %e, wait_seconds = wait.as_secs(), "getUpdates failed");
                if matches!(e, TelegramError::Api { code: 409, .. }) {
                    let _ = api.delete_webhook(false).await;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(wait)
            }
        };
        if let Some(wait) = wait {
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
    confirm(api, offset).await;
    tracing::info!(bot, "stopped polling");
}

/// Tell Telegram the updates before `offset` were handled, so a restart does not repeat them.
async fn confirm(api: &BotApi, offset: Option<i64>) {
    if offset.is_none() {
        return;
    }
    let params = GetUpdates {
        offset,
        limit: Some(1),
        timeout: 0,
        allowed_updates: None,
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), api.get_updates(&params)).await;
}
