//! The Safety module's moving parts in the server: the safety bot (its own token, its own
//! webhook `/telegram/safety/webhook` with its own secret), the delivery worker and the
//! check-in ticker. (Retention of closed cases runs in the housekeeping job, `jobs.rs`.)
//!
//! The webhook works like the elections bot's (`telegram.rs`): public, exempt from CSRF, and
//! `403` unless `X-Telegram-Bot-Api-Secret-Token` matches `safety.telegram.webhook_secret`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use talaka_core::config::{Config, TelegramMode};
use talaka_core::{Secret, SystemClock};
use talaka_mail::{EmailAddress, Security, SmtpClient, SmtpSettings};
use talaka_safety::bot::SafetyBot;
use talaka_safety::delivery::{Deliverer, DeliverySettings};
use talaka_safety::{Keyring, Safety};
use talaka_telegram::{BotApi, TelegramError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::routes::{Access, RouteSpec, r};
use crate::telegram::{accept_update, webhook_secret_valid};

/// Where Telegram posts the safety bot's updates.
pub const WEBHOOK_PATH: &str = "/telegram/safety/webhook";

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[r("POST", WEBHOOK_PATH, Access::Public)];

/// How often the check-in ticker looks for due deadlines.
const TICK: Duration = Duration::from_secs(1);

/// Routes guarded by Telegram's secret header instead of a session.
pub fn secret_guarded(spec: &RouteSpec) -> bool {
    spec.method == "POST" && spec.path == WEBHOOK_PATH
}

pub fn router() -> Router<AppState> {
    Router::new().route(WEBHOOK_PATH, post(webhook))
}

/// The safety bot behind the webhook and the secret Telegram must present.
#[derive(Debug)]
pub struct SafetyWebhook {
    bot: Arc<SafetyBot>,
    secret: Secret<String>,
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let hook = state.0.safety_webhook.get();
    accept_update(
        "safety",
        &headers,
        &body,
        hook.map(|h| &h.secret),
        |update| async move {
            if let Some(h) = hook {
                h.bot.handle_raw(&update).await;
            }
        },
    )
    .await
}

/// A `[safety]` configuration the module cannot run with. One line each, for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum SafetySetupError {
    #[error(
        "safety.enabled needs the safety bot: safety.telegram.mode = \"polling\" or \"webhook\" and safety.telegram.token (TALAKA_SAFETY_TELEGRAM_TOKEN)"
    )]
    NoBot,
    #[error(
        "safety.telegram.token is the elections bot's token; the safety bot must be a bot of its own (its own token and a neutral name)"
    )]
    SameBot,
    #[error("safety.telegram.bot_name is empty; give the bot a neutral name")]
    NoName,
    #[error(
        "safety.telegram.mode = \"webhook\" needs safety.telegram.webhook_secret (TALAKA_SAFETY_TELEGRAM_WEBHOOK_SECRET): 1-256 characters A-Z, a-z, 0-9, _ and -"
    )]
    BadWebhookSecret,
    #[error("safety.organisations: {0}")]
    Organisation(String),
    #[error("safety.smtp: {0}")]
    Smtp(String),
    #[error("safety telegram settings: {0}")]
    Api(#[from] TelegramError),
}

/// Check `[safety]` before anything starts. Nothing is checked while the module is off.
pub fn check_config(config: &Config) -> Result<(), SafetySetupError> {
    let c = &config.safety;
    if !c.enabled {
        return Ok(());
    }
    let t = &c.telegram;
    if t.mode == TelegramMode::Off || t.token.expose().trim().is_empty() {
        return Err(SafetySetupError::NoBot);
    }
    if t.token.expose().trim() == config.telegram.token.expose().trim() {
        return Err(SafetySetupError::SameBot);
    }
    if t.bot_name.trim().is_empty() {
        return Err(SafetySetupError::NoName);
    }
    BotApi::new(&t.api_base_url, t.token.clone())?;
    if t.mode == TelegramMode::Webhook && !webhook_secret_valid(t.webhook_secret.expose()) {
        return Err(SafetySetupError::BadWebhookSecret);
    }
    let mut keys = std::collections::HashSet::new();
    for o in &c.organisations {
        let key_ok = !o.key.is_empty()
            && o.key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !key_ok {
            return Err(SafetySetupError::Organisation(format!(
                "key {:?}: use lowercase letters, digits, - and _",
                o.key
            )));
        }
        if !keys.insert(o.key.as_str()) {
            return Err(SafetySetupError::Organisation(format!(
                "key {:?} appears twice",
                o.key
            )));
        }
        if !["", "en", "be", "ru"].contains(&o.language.as_str()) {
            return Err(SafetySetupError::Organisation(format!(
                "{:?}: language must be en, be or ru",
                o.key
            )));
        }
        // Telegram gives groups and channels negative ids: alerts go to named people only.
        if o.telegram_chat_ids.iter().any(|&id| id <= 0) {
            return Err(SafetySetupError::Organisation(format!(
                "{:?} lists a group or channel (a chat id below 1); alerts go only to people's private chats with the bot",
                o.key
            )));
        }
        if o.telegram_chat_ids.is_empty() && o.emails.is_empty() {
            return Err(SafetySetupError::Organisation(format!(
                "{:?} has no recipients (telegram_chat_ids or emails)",
                o.key
            )));
        }
        if o.emails.iter().any(|e| EmailAddress::parse(e).is_err()) {
            return Err(SafetySetupError::Organisation(format!(
                "{:?} has an e-mail address that is not valid",
                o.key
            )));
        }
        if !o.emails.is_empty() && c.smtp.host.trim().is_empty() {
            return Err(SafetySetupError::Organisation(format!(
                "{:?} has e-mail recipients but safety.smtp.host is empty",
                o.key
            )));
        }
    }
    if c.organisations.is_empty() {
        return Err(SafetySetupError::Organisation(
            "at least one organisation must receive alerts".into(),
        ));
    }
    smtp_client(config)?;
    Ok(())
}

/// The SMTP client, or `None` when no relay is configured.
fn smtp_client(config: &Config) -> Result<Option<SmtpClient>, SafetySetupError> {
    let s = &config.safety.smtp;
    if s.host.trim().is_empty() {
        return Ok(None);
    }
    let security = match s.security.as_str() {
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        "plain" => Security::Plain,
        _ => {
            return Err(SafetySetupError::Smtp(
                "security must be starttls, tls or plain".into(),
            ));
        }
    };
    let from = EmailAddress::parse(&s.from)
        .map_err(|_| SafetySetupError::Smtp("from is not a valid e-mail address".into()))?;
    let mut settings = SmtpSettings::new(s.host.trim(), s.port, security, from);
    if !s.username.is_empty() {
        settings.username = Some(s.username.clone());
        settings.password = Some(s.password.clone());
    }
    settings.timeout = Duration::from_secs(s.timeout_seconds.clamp(1, 300));
    SmtpClient::new(settings)
        .map(Some)
        .map_err(|e| SafetySetupError::Smtp(e.to_string()))
}

impl AppState {
    /// Serve the safety bot's webhook with `bot`, for requests that carry `secret`. Only the
    /// first call counts.
    pub fn set_safety_webhook(&self, bot: Arc<SafetyBot>, secret: Secret<String>) -> bool {
        self.0
            .safety_webhook
            .set(SafetyWebhook { bot, secret })
            .is_ok()
    }
}

/// Start the Safety module: the shared [`Safety`] on the app state (the case dashboard), the
/// delivery worker, the check-in ticker and the safety bot (polling, or the webhook and its
/// registration). Returns the tasks; await them after `shutdown` turns `true`. Nothing starts
/// when `safety.enabled` is false.
pub fn start(
    config: &Config,
    state: &AppState,
    keys: Keyring,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, SafetySetupError> {
    check_config(config)?;
    if !config.safety.enabled {
        return Ok(Vec::new());
    }
    let c = &config.safety;
    let safety = Safety::new(
        state.store_arc(),
        keys,
        state.settings().key.clone(),
        c.clone(),
        Arc::new(SystemClock),
    );
    state.set_safety(safety.clone());
    let api = BotApi::new(&c.telegram.api_base_url, c.telegram.token.clone())?;
    let deliverer = Deliverer::new(
        safety.clone(),
        Some(api.clone()),
        smtp_client(config)?,
        DeliverySettings::from_config(c),
    );
    let mut tasks = vec![
        tokio::spawn(deliverer.run(shutdown.clone())),
        tokio::spawn(talaka_safety::checkins::run_ticker(
            safety.clone(),
            TICK,
            shutdown.clone(),
        )),
    ];
    let bot = Arc::new(SafetyBot::new(api.clone(), safety));
    match c.telegram.mode {
        TelegramMode::Off => {}
        TelegramMode::Polling => {
            let timeout = Duration::from_secs(c.telegram.poll_timeout_seconds.clamp(1, 50));
            tasks.push(tokio::spawn(talaka_safety::bot::run_polling(
                bot, shutdown, timeout,
            )));
        }
        TelegramMode::Webhook => {
            state.set_safety_webhook(bot, c.telegram.webhook_secret.clone());
            let url = format!(
                "{}{WEBHOOK_PATH}",
                config.server.public_url.trim().trim_end_matches('/')
            );
            let secret = c.telegram.webhook_secret.clone();
            tasks.push(tokio::spawn(async move {
                let allowed = ["message", "callback_query"];
                match api.set_webhook(&url, Some(&secret), Some(&allowed)).await {
                    Ok(_) => tracing::info!("safety bot webhook registered"),
                    Err(e) => tracing::error!(error = %e, "cannot register the safety bot webhook"),
                }
            }));
        }
    }
    tracing::info!("safety module started");
    Ok(tasks)
}
