//! The Telegram webhook: updates for the elections bot, checked against the configured
//! secret token.
//!
//! `POST /telegram/webhook` is public (Telegram has no account here) but answers `403` unless
//! the `X-Telegram-Bot-Api-Secret-Token` header matches `telegram.webhook_secret`, compared in
//! constant time; with no bot configured every request is refused the same way. It is exempt
//! from the CSRF check (see `guard.rs`): Telegram sends no cookie and no `Origin`, and the
//! secret header is what a cross-site form cannot forge. Updates that do not parse are
//! answered `200` and skipped, so that Telegram does not resend them forever.
//!
//! [`StoredPhotos`] is the bot's photo intake for the server: the same path as the web form's
//! photos (strip metadata, encrypt into the blob store, record the photo, then the report).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use talaka_blobs::{BlobId, IntakeError, PhotoError};
use talaka_bot::{Bot, PhotoAccepted, PhotoContext, PhotoIntake, PhotoRejected};
use talaka_core::Secret;
use talaka_core::config::{Config, TelegramConfig, TelegramMode};
use talaka_store::{NewPhoto, PhotoId, PhotoSubject};
use talaka_telegram::{BotApi, TelegramError};

use crate::AppState;
use crate::routes::{Access, RouteSpec, r};

/// Where Telegram posts updates.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

/// The header Telegram puts the webhook's secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[r("POST", WEBHOOK_PATH, Access::Public)];

/// Routes guarded by Telegram's secret header instead of a session: the CSRF check does not
/// apply to them, and without the secret everyone is refused.
pub fn secret_guarded(spec: &RouteSpec) -> bool {
    spec.method == "POST" && spec.path == WEBHOOK_PATH
}

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new().route(WEBHOOK_PATH, post(webhook))
}

/// The bot behind the webhook and the secret Telegram must present.
#[derive(Debug)]
pub struct Webhook {
    bot: Arc<Bot>,
    secret: Secret<String>,
}

impl AppState {
    /// Serve the webhook with `bot`, for requests that carry `secret`. Only the first call
    /// counts; returns `false` if a bot was set before.
    pub fn set_telegram_webhook(&self, bot: Arc<Bot>, secret: Secret<String>) -> bool {
        self.0.telegram.set(Webhook { bot, secret }).is_ok()
    }
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let hook = state.0.telegram.get();
    accept_update(
        "elections",
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

/// A webhook request for one of the bots: `403` unless the secret header matches `secret` (no
/// bot configured: always `403`); otherwise the JSON body goes to `handle` and Telegram gets
/// `200`, also for a body that is not JSON (skipped, so Telegram does not resend it forever).
pub(crate) async fn accept_update<F, Fut>(
    bot: &'static str,
    headers: &HeaderMap,
    body: &Bytes,
    secret: Option<&Secret<String>>,
    handle: F,
) -> Response
where
    F: FnOnce(serde_json::Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let given = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    if !secret.is_some_and(|s| talaka_bot::webhook_secret_ok(given, s)) {
        tracing::warn!(
            bot,
            "refused a Telegram webhook request: missing or wrong secret token"
        );
        return StatusCode::FORBIDDEN.into_response();
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(update) => handle(update).await,
        Err(_) => tracing::warn!(bot, "skipped a Telegram webhook body that is not JSON"),
    }
    StatusCode::OK.into_response()
}

/// A secret Telegram accepts for `setWebhook`: 1-256 characters A-Z, a-z, 0-9, `_` and `-`.
pub(crate) fn webhook_secret_valid(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bot's photos go where the web form's go: stripped of metadata, encrypted into the blob
/// store (`settings.blobs`), recorded as the participant's ballot photo; the report keeps the
/// keyed fingerprint.
#[derive(Clone, Debug)]
pub struct StoredPhotos {
    state: AppState,
}

impl StoredPhotos {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn intake(&self) -> talaka_blobs::PhotoIntake {
        let s = self.state.settings();
        talaka_blobs::PhotoIntake::new(s.blobs.clone(), &s.key, s.max_photo_bytes)
    }
}

#[async_trait]
impl PhotoIntake for StoredPhotos {
    async fn intake(
        &self,
        context: &PhotoContext,
        bytes: Vec<u8>,
    ) -> Result<PhotoAccepted, PhotoRejected> {
        let intake = self.intake();
        let photo = match intake.accept(&bytes).await {
            Ok(p) => p,
            Err(IntakeError::TooLarge { .. }) => return Err(PhotoRejected::TooLarge),
            Err(IntakeError::Photo(PhotoError::UnsupportedFormat | PhotoError::Empty)) => {
                return Err(PhotoRejected::NotAnImage);
            }
            Err(IntakeError::Photo(_)) => return Err(PhotoRejected::NotAnImage),
            Err(IntakeError::Blob(e)) => return Err(PhotoRejected::Storage(e.to_string())),
        };
        let record = NewPhoto {
            election: context.election.clone(),
            station: context.station.clone(),
            subject: PhotoSubject::Ballot {
                participant: context.participant.clone(),
            },
            blob: photo.blob.as_str().to_owned(),
            fingerprint: photo.fingerprint.clone(),
            bytes: u64::try_from(photo.bytes).unwrap_or(u64::MAX),
            at: context.at,
        };
        match self.state.store_arc().record_photo(&record).await {
            Ok(r) => Ok(PhotoAccepted {
                photo_sha256: photo.fingerprint,
                blob_id: photo.blob.as_str().to_owned(),
                record: Some(r.id.0),
            }),
            Err(e) => {
                intake.discard(&photo.blob).await;
                Err(PhotoRejected::Storage(e.to_string()))
            }
        }
    }

    async fn discard(&self, _context: &PhotoContext, photo: &PhotoAccepted) {
        if let Some(id) = photo.record
            && let Err(e) = self.state.store_arc().delete_photo(PhotoId(id)).await
        {
            tracing::error!(error = %e, photo = id, "cannot remove the record of an unused photo");
        }
        match BlobId::parse(&photo.blob_id) {
            Ok(blob) => self.intake().discard(&blob).await,
            Err(e) => tracing::error!(error = %e, "cannot remove an unused photo"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// start-up

/// A `[telegram]` configuration the bot cannot run with. One line each, for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum TelegramSetupError {
    #[error(
        "telegram.mode = \"{0}\" needs telegram.token (TALAKA_TELEGRAM_TOKEN), the bot's token from @BotFather"
    )]
    NoToken(&'static str),
    #[error(
        "telegram.mode = \"webhook\" needs telegram.webhook_secret (TALAKA_TELEGRAM_WEBHOOK_SECRET): 1-256 characters A-Z, a-z, 0-9, _ and -"
    )]
    BadWebhookSecret,
    #[error("telegram settings: {0}")]
    Api(#[from] TelegramError),
}

fn mode_name(mode: TelegramMode) -> &'static str {
    match mode {
        TelegramMode::Off => "off",
        TelegramMode::Polling => "polling",
        TelegramMode::Webhook => "webhook",
    }
}

/// Check `[telegram]` before anything starts: a token for polling and webhook modes, and in
/// webhook mode a secret Telegram accepts (it is what keeps forged updates out).
pub fn check_config(c: &TelegramConfig) -> Result<(), TelegramSetupError> {
    if c.mode == TelegramMode::Off {
        return Ok(());
    }
    if c.token.expose().trim().is_empty() {
        return Err(TelegramSetupError::NoToken(mode_name(c.mode)));
    }
    BotApi::new(&c.api_base_url, c.token.clone())?;
    if c.mode == TelegramMode::Webhook && !webhook_secret_valid(c.webhook_secret.expose()) {
        return Err(TelegramSetupError::BadWebhookSecret);
    }
    Ok(())
}

/// Start the elections bot as configured: in polling mode a task that polls until `stop`
/// completes; in webhook mode the bot behind `/telegram/webhook` and a task that registers
/// the webhook (`server.public_url` + `/telegram/webhook`) with Telegram. `None` when the bot
/// is off. Await the task after `stop` to let it confirm the updates it handled.
pub fn spawn(
    config: &Config,
    state: &AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<tokio::task::JoinHandle<()>>, TelegramSetupError> {
    let c = &config.telegram;
    check_config(c)?;
    if c.mode == TelegramMode::Off {
        return Ok(None);
    }
    let api = BotApi::new(&c.api_base_url, c.token.clone())?;
    let bot = Arc::new(Bot::new(
        api.clone(),
        state.store_arc(),
        state.settings().key.clone(),
        Arc::new(StoredPhotos::new(state.clone())),
        state.clock(),
    ));
    let task = match c.mode {
        TelegramMode::Off => return Ok(None),
        TelegramMode::Polling => {
            let timeout = Duration::from_secs(c.poll_timeout_seconds.clamp(1, 50));
            tokio::spawn(talaka_bot::run_polling(bot, timeout, stop))
        }
        TelegramMode::Webhook => {
            state.set_telegram_webhook(bot, c.webhook_secret.clone());
            let url = format!(
                "{}{WEBHOOK_PATH}",
                config.server.public_url.trim().trim_end_matches('/')
            );
            let secret = c.webhook_secret.clone();
            tokio::spawn(async move {
                let allowed = ["message", "callback_query"];
                match api.set_webhook(&url, Some(&secret), Some(&allowed)).await {
                    Ok(_) => tracing::info!("Telegram webhook registered"),
                    Err(e) => tracing::error!(error = %e, "cannot register the Telegram webhook"),
                }
            })
        }
    };
    tracing::info!(mode = mode_name(c.mode), "Telegram bot started");
    Ok(Some(task))
}
