//! A small Telegram Bot API client: the types Talaka's bots use ([`types`]), and [`BotApi`]
//! over a configurable base URL (long polling, messages with inline keyboards, callback
//! answers, files, webhooks), with typed errors and flood-control handling.
//!
//! The bot token is a secret: it appears in no `Debug` output, no error and no log line (see
//! [`client`]).
//!
//! With the `fake` feature, [`fake::FakeTelegram`] is a Bot API server on `127.0.0.1` for tests:
//! it speaks the real HTTP protocol, queues updates a test injects, records what bots send,
//! serves files, and injects faults (flood control, server errors, hangs).

pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod polling;
pub mod types;

pub use client::{BotApi, GetUpdates, RetryPolicy, TelegramError};
pub use types::*;

/// Why an update was skipped. Holds no content of the update (it may be personal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenUpdate {
    /// The update's id when at least that could be read, so that polling moves past it.
    pub update_id: Option<i64>,
    /// serde's category of the failure (`syntax`, `data`, ...) and position; never its text,
    /// which can quote the update.
    pub reason: String,
}

/// Parse one raw update. A failure reports only where and what kind of error, never the
/// content, so it can be logged.
pub fn parse_update(raw: &serde_json::Value) -> Result<Update, BrokenUpdate> {
    serde_json::from_value::<Update>(raw.clone()).map_err(|e| BrokenUpdate {
        update_id: raw.get("update_id").and_then(serde_json::Value::as_i64),
        reason: format!("{:?} error", e.classify()).to_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_update_keeps_its_id_and_hides_its_content() {
        let raw = serde_json::json!({"update_id": 7, "message": {"chat": "Alena Secret"}});
        let err = parse_update(&raw).expect_err("broken");
        assert_eq!(err.update_id, Some(7));
        assert!(!err.reason.contains("Alena"), "{}", err.reason);
    }
}
