//! The elections Telegram bot: the Golos flow.
//!
//! `/start` or `/report` → choose the election (inline keyboard) → send the polling station's
//! code → choose the option (inline keyboard) → send a ballot photo or skip → the report is
//! stored with [`ElectionStore::submit_ballot_report`] and the bot answers with the receipt
//! code. `/receipt CODE` checks a report, `/cancel` starts over, `/help` explains. Every button
//! has a typed equivalent (the number or name of a choice, `skip`).
//!
//! # Privacy
//!
//! The participant is [`participant_pseudonym`]: a keyed hash of `telegram:` + the Telegram
//! user id under the installation key. The id itself is never stored or logged; conversation
//! state is keyed by a keyed hash of the chat id too. Log lines name the step and the kind of
//! problem, never text, ids, station codes typed by people, or receipt codes. Only private
//! chats are served; messages in groups are skipped.
//!
//! # Conversation state
//!
//! Kept in memory, per chat, and forgotten after [`BotSettings::conversation_ttl`] of silence
//! (30 minutes by default) or on a restart: a person then starts again with `/report`. It
//! holds nothing a report needs after it was stored. Several `talaka serve` processes behind one
//! webhook would each hold their own state; run the bot in one process.
//!
//! # Photos
//!
//! The largest size Telegram offers (within [`BotSettings::max_photo_bytes`]) is downloaded
//! and handed to a [`PhotoIntake`], which strips metadata, stores the photo and returns its
//! SHA-256 (the report's `photo_sha256`, used for duplicate detection). A report with an
//! accepted photo is [`Verification::PhotoVerified`], as the Golos "photoVoices" were.
//!
//! # Running
//!
//! [`run_polling`] drives the bot with `getUpdates`; a webhook handler passes each update to
//! [`Bot::handle_raw`] after checking [`webhook_secret_ok`]. Broken updates (that do not
//! parse, messages without text, unknown buttons) are logged without content and skipped.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use talaka_core::crypto::SecretKey;
use talaka_core::{Clock, Secret};
use talaka_elections::{BallotReport, Verification};
use talaka_store::ElectionStore;
use talaka_store::elections::{ReportReceipt, StationFilter};
use talaka_telegram::{
    BotApi, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, SendMessage,
    TelegramError, Update, User,
};

pub mod texts;

use texts::{Lang, fill, text};

/// The pseudonym under which a Telegram user's reports are stored: the keyed hash of
/// `telegram:{user_id}` with purpose `participant` (other channels use the same purpose with
/// their own prefix, e.g. `phone:`).
pub fn participant_pseudonym(key: &SecretKey, telegram_user_id: i64) -> String {
    key.keyed_hash(
        "participant",
        format!("telegram:{telegram_user_id}").as_bytes(),
    )
}

/// Whether a webhook request's `X-Telegram-Bot-Api-Secret-Token` header matches the configured
/// secret, in constant time. An empty configured secret matches nothing.
pub fn webhook_secret_ok(header: Option<&str>, configured: &Secret<String>) -> bool {
    let expected = configured.expose();
    match header {
        Some(given) if !expected.is_empty() => talaka_core::crypto::ct_eq(given, expected),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// photos

/// What a photo is for, so that an intake can record it with its subject (see
/// `talaka_store::photos`: photo record first, then the report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoContext {
    pub election: String,
    pub station: String,
    /// The participant's pseudonym ([`participant_pseudonym`]).
    pub participant: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// A photo that was accepted and stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoAccepted {
    /// What the report keeps in `photo_sha256` for duplicate detection: 64 lowercase hex
    /// characters (the real intake gives the keyed fingerprint of the stripped photo).
    pub photo_sha256: String,
    /// The blob store's id for the encrypted photo.
    pub blob_id: String,
    /// The id of the photo's record in the store, when the intake made one (for
    /// [`PhotoIntake::discard`]).
    pub record: Option<i64>,
}

/// Why a photo was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PhotoRejected {
    #[error("not an image that can be accepted")]
    NotAnImage,
    #[error("the image is too large")]
    TooLarge,
    /// This installation accepts no photos (none configured).
    #[error("photos are not accepted at the moment")]
    Unavailable,
    /// Storing failed; the message is for logs and must not contain personal data.
    #[error("the photo could not be stored: {0}")]
    Storage(String),
}

/// Takes a ballot photo's bytes: strips metadata, stores it (encrypted), records it, and
/// returns its hash. The bot then stores the report; if that fails it calls
/// [`discard`](PhotoIntake::discard) so that no photo is left without its report.
#[async_trait]
pub trait PhotoIntake: Send + Sync {
    async fn intake(
        &self,
        context: &PhotoContext,
        bytes: Vec<u8>,
    ) -> Result<PhotoAccepted, PhotoRejected>;

    /// The report this photo was for could not be stored: remove the photo (best effort).
    async fn discard(&self, context: &PhotoContext, photo: &PhotoAccepted) {
        let _ = (context, photo);
    }
}

/// A [`PhotoIntake`] for installations without photo storage: every photo is refused with
/// [`PhotoRejected::Unavailable`] and the bot offers to report without one.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhotosDisabled;

#[async_trait]
impl PhotoIntake for PhotosDisabled {
    async fn intake(
        &self,
        _context: &PhotoContext,
        _bytes: Vec<u8>,
    ) -> Result<PhotoAccepted, PhotoRejected> {
        Err(PhotoRejected::Unavailable)
    }
}

// ---------------------------------------------------------------------------------------------
// the bot

#[derive(Clone, Debug)]
pub struct BotSettings {
    /// Largest photo downloaded from Telegram.
    pub max_photo_bytes: u64,
    /// Silence after which a chat's unfinished report is forgotten.
    pub conversation_ttl: Duration,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            max_photo_bytes: 10 * 1024 * 1024,
            conversation_ttl: Duration::from_secs(30 * 60),
        }
    }
}

/// Where a chat is in the flow. No entry = not reporting.
#[derive(Clone, Debug)]
enum Step {
    /// The elections offered, by button index.
    ChoosingElection {
        offered: Vec<String>,
    },
    AwaitingStation {
        election: String,
    },
    /// The options offered: `(code, name)` by button index.
    ChoosingOption {
        election: String,
        station: String,
        offered: Vec<(String, String)>,
    },
    AwaitingPhoto {
        election: String,
        station: String,
        option: String,
    },
}

#[derive(Debug)]
struct Conversation {
    step: Step,
    touched: i64,
}

#[derive(Debug, Default)]
struct Chats {
    map: HashMap<String, Conversation>,
    last_purge: i64,
}

/// The elections bot. Share it with `Arc`.
pub struct Bot {
    api: BotApi,
    store: Arc<dyn ElectionStore>,
    key: SecretKey,
    photos: Arc<dyn PhotoIntake>,
    clock: Arc<dyn Clock>,
    settings: BotSettings,
    chats: Mutex<Chats>,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("api", &self.api)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Who wrote and where to answer; the ids stay in this struct and leave only to Telegram.
struct Who {
    chat_id: i64,
    chat_key: String,
    participant: String,
    lang: Lang,
}

const SKIP_WORDS: &[&str] = &["skip", "/skip", "-", "прапусціць", "пропустить"];
const MAX_BUTTONS: usize = 30;

impl Bot {
    pub fn new(
        api: BotApi,
        store: Arc<dyn ElectionStore>,
        key: SecretKey,
        photos: Arc<dyn PhotoIntake>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            api,
            store,
            key,
            photos,
            clock,
            settings: BotSettings::default(),
            chats: Mutex::new(Chats::default()),
        }
    }

    pub fn with_settings(mut self, settings: BotSettings) -> Self {
        self.settings = settings;
        self
    }

    pub fn api(&self) -> &BotApi {
        &self.api
    }

    fn who(&self, from: &User, chat_id: i64) -> Who {
        Who {
            chat_id,
            chat_key: self.key.keyed_hash("telegram-chat", &chat_id.to_be_bytes()),
            participant: participant_pseudonym(&self.key, from.id),
            lang: Lang::from_code(from.language_code.as_deref()),
        }
    }

    fn chats(&self) -> MutexGuard<'_, Chats> {
        self.chats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn step(&self, who: &Who) -> Option<Step> {
        let now = self.clock.now().millis();
        let ttl = i64::try_from(self.settings.conversation_ttl.as_millis()).unwrap_or(i64::MAX);
        let mut chats = self.chats();
        if now - chats.last_purge > 60_000 {
            chats.map.retain(|_, c| now - c.touched <= ttl);
            chats.last_purge = now;
        }
        match chats.map.get(&who.chat_key) {
            Some(c) if now - c.touched <= ttl => Some(c.step.clone()),
            Some(_) => {
                chats.map.remove(&who.chat_key);
                None
            }
            None => None,
        }
    }

    fn set_step(&self, who: &Who, step: Option<Step>) {
        let now = self.clock.now().millis();
        let mut chats = self.chats();
        match step {
            Some(step) => {
                chats
                    .map
                    .insert(who.chat_key.clone(), Conversation { step, touched: now });
            }
            None => {
                chats.map.remove(&who.chat_key);
            }
        }
    }

    async fn say(&self, message: SendMessage) {
        if let Err(e) = self.api.send_message(&message).await {
            tracing::warn!(error = %e, "the bot could not send a message");
        }
    }

    async fn say_text(&self, who: &Who, key: &str, args: &[(&str, &str)]) {
        let body = fill(who.lang, key, args);
        self.say(SendMessage::text(who.chat_id, body)).await;
    }

    async fn say_with_keyboard(&self, who: &Who, body: String, keyboard: InlineKeyboardMarkup) {
        self.say(SendMessage::text(who.chat_id, body).with_keyboard(keyboard))
            .await;
    }

    /// Handle one raw update (as JSON) from a webhook or `getUpdates`. One that does not parse
    /// is logged (without its content) and skipped.
    pub async fn handle_raw(&self, raw: &serde_json::Value) {
        match talaka_telegram::parse_update(raw) {
            Ok(update) => self.handle_update(update).await,
            Err(broken) => tracing::warn!(
                update_id = broken.update_id,
                reason = %broken.reason,
                "skipped an update that does not parse"
            ),
        }
    }

    /// Handle one update. Never fails: problems are answered to the person where that helps,
    /// and logged without personal data.
    pub async fn handle_update(&self, update: Update) {
        if let Some(q) = update.callback_query {
            self.on_callback(q).await;
        } else if let Some(m) = update.message {
            self.on_message(m).await;
        } else {
            tracing::debug!(
                update_id = update.update_id,
                "skipped an update of a kind the bot does not handle"
            );
        }
    }

    async fn on_message(&self, m: Message) {
        let Some(from) = m.from.as_ref().filter(|u| !u.is_bot) else {
            tracing::debug!("skipped a message without a human sender");
            return;
        };
        if !m.chat.is_private() {
            tracing::debug!(chat_type = %m.chat.kind, "skipped a message outside a private chat");
            return;
        }
        let who = self.who(from, m.chat.id);
        let step = self.step(&who);
        if let Some(text) = m.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if text.starts_with('/') {
                self.on_command(&who, text, step).await;
            } else {
                self.on_text(&who, text, step).await;
            }
        } else if m.photo.is_some() {
            match step {
                Some(Step::AwaitingPhoto {
                    election,
                    station,
                    option,
                }) => self.on_photo(&who, &m, election, station, option).await,
                _ => self.say_text(&who, "unknown", &[]).await,
            }
        } else {
            tracing::debug!("skipped a message without text or photo");
            if matches!(step, Some(Step::AwaitingPhoto { .. })) {
                self.say_text(&who, "photo_expected", &[]).await;
            }
        }
    }

    async fn on_command(&self, who: &Who, text: &str, step: Option<Step>) {
        let (command, arg) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        // `/report@talaka_bot` in a client that adds the bot's name.
        let command = command.split('@').next().unwrap_or_default().to_lowercase();
        match command.as_str() {
            "/start" | "/report" => self.begin(who).await,
            "/help" => self.say_text(who, "help", &[]).await,
            "/cancel" => {
                self.set_step(who, None);
                self.say_text(who, "cancelled", &[]).await;
            }
            "/receipt" => self.check_receipt(who, arg.trim()).await,
            "/skip" => match step {
                Some(Step::AwaitingPhoto {
                    election,
                    station,
                    option,
                }) => self.finish(who, &election, &station, &option, None).await,
                _ => self.say_text(who, "unknown", &[]).await,
            },
            _ => self.say_text(who, "unknown", &[]).await,
        }
    }

    async fn on_text(&self, who: &Who, text: &str, step: Option<Step>) {
        match step {
            None => self.say_text(who, "unknown", &[]).await,
            Some(Step::ChoosingElection { offered }) => {
                let mut found = None;
                for (i, code) in offered.iter().enumerate() {
                    let name = match self.store.election(code).await {
                        Ok(Some(info)) => info.name,
                        _ => String::new(),
                    };
                    if pick_matches(text, i, code, &name) {
                        found = Some(code.clone());
                        break;
                    }
                }
                match found {
                    Some(code) => self.choose_election(who, &code).await,
                    None => self.say_text(who, "election_unknown", &[]).await,
                }
            }
            Some(Step::AwaitingStation { election }) => {
                self.find_station(who, &election, text).await
            }
            Some(Step::ChoosingOption {
                election,
                station,
                offered,
            }) => {
                let found = offered
                    .iter()
                    .enumerate()
                    .find(|(i, (code, name))| pick_matches(text, *i, code, name));
                match found {
                    Some((_, (code, name))) => {
                        self.choose_option(who, &election, &station, code, name)
                            .await
                    }
                    None => self.say_text(who, "option_unknown", &[]).await,
                }
            }
            Some(Step::AwaitingPhoto {
                election,
                station,
                option,
            }) => {
                if SKIP_WORDS.contains(&text.to_lowercase().as_str()) {
                    self.finish(who, &election, &station, &option, None).await;
                } else {
                    self.say_text(who, "photo_expected", &[]).await;
                }
            }
        }
    }

    async fn on_callback(&self, q: CallbackQuery) {
        // Stop the button's spinner whatever happens next.
        if let Err(e) = self.api.answer_callback_query(&q.id, None).await {
            tracing::warn!(error = %e, "could not answer a button press");
        }
        if q.from.is_bot {
            return;
        }
        // Buttons are only ever sent in private chats, where the chat id is the user's id.
        let chat_id = match &q.message {
            Some(m) if !m.chat.is_private() => {
                tracing::debug!("skipped a button press outside a private chat");
                return;
            }
            Some(m) => m.chat.id,
            None => q.from.id,
        };
        let who = self.who(&q.from, chat_id);
        let step = self.step(&who);
        let data = q.data.as_deref().unwrap_or_default();
        let (kind, index) = match data.split_once(':') {
            Some((k, i)) => (k, i.parse::<usize>().ok()),
            None => (data, None),
        };
        match (kind, index, step) {
            ("e", Some(i), Some(Step::ChoosingElection { offered })) if i < offered.len() => {
                self.choose_election(&who, &offered[i]).await;
            }
            (
                "o",
                Some(i),
                Some(Step::ChoosingOption {
                    election,
                    station,
                    offered,
                }),
            ) if i < offered.len() => {
                let (code, name) = &offered[i];
                self.choose_option(&who, &election, &station, code, name)
                    .await;
            }
            (
                "skip",
                None,
                Some(Step::AwaitingPhoto {
                    election,
                    station,
                    option,
                }),
            ) => self.finish(&who, &election, &station, &option, None).await,
            ("e" | "o" | "skip", _, _) => self.say_text(&who, "button_stale", &[]).await,
            _ => {
                tracing::warn!("skipped a button press with unknown data");
            }
        }
    }

    async fn begin(&self, who: &Who) {
        let elections = match self.store.elections().await {
            Ok(e) => e,
            Err(e) => return self.failed(who, "list elections", &e).await,
        };
        if elections.is_empty() {
            self.set_step(who, None);
            return self.say_text(who, "no_elections", &[]).await;
        }
        let offered: Vec<_> = elections.into_iter().take(MAX_BUTTONS).collect();
        let keyboard = InlineKeyboardMarkup {
            inline_keyboard: offered
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let label = if e.date.is_empty() {
                        e.name.clone()
                    } else {
                        format!("{} ({})", e.name, e.date)
                    };
                    vec![InlineKeyboardButton::callback(
                        button_label(&label),
                        format!("e:{i}"),
                    )]
                })
                .collect(),
        };
        self.set_step(
            who,
            Some(Step::ChoosingElection {
                offered: offered.into_iter().map(|e| e.code).collect(),
            }),
        );
        self.say_with_keyboard(who, text(who.lang, "choose_election"), keyboard)
            .await;
    }

    async fn choose_election(&self, who: &Who, code: &str) {
        let info = match self.store.election(code).await {
            Ok(Some(info)) => info,
            Ok(None) => return self.say_text(who, "button_stale", &[]).await,
            Err(e) => return self.failed(who, "read election", &e).await,
        };
        let one = StationFilter {
            limit: Some(1),
            ..StationFilter::default()
        };
        let example = match self.store.stations(code, &one).await {
            Ok(page) => page
                .stations
                .first()
                .map(|s| s.station.code.clone())
                .unwrap_or_default(),
            Err(e) => return self.failed(who, "list stations", &e).await,
        };
        self.set_step(
            who,
            Some(Step::AwaitingStation {
                election: info.code.clone(),
            }),
        );
        self.say_text(
            who,
            "send_station",
            &[("election", &info.name), ("example", &example)],
        )
        .await;
    }

    async fn find_station(&self, who: &Who, election: &str, typed: &str) {
        let typed: String = typed.chars().take(64).collect();
        let station = match self.store.station_evidence(election, &typed).await {
            Ok(Some(ev)) => Some(ev.station.code),
            Ok(None) => None,
            Err(e) => return self.failed(who, "find station", &e).await,
        };
        let (station, suggestions) = match station {
            Some(s) => (Some(s), Vec::new()),
            None => {
                let filter = StationFilter {
                    search: Some(typed.clone()),
                    limit: Some(5),
                    ..StationFilter::default()
                };
                let hits = match self.store.stations(election, &filter).await {
                    Ok(page) => page.stations,
                    Err(e) => return self.failed(who, "search stations", &e).await,
                };
                // A code typed in another case is the same station.
                let exact = hits
                    .iter()
                    .find(|h| h.station.code.to_lowercase() == typed.to_lowercase())
                    .map(|h| h.station.code.clone());
                let suggestions = hits.into_iter().map(|h| h.station.code).collect();
                (exact, suggestions)
            }
        };
        let Some(station) = station else {
            let mut body = fill(who.lang, "station_unknown", &[("code", &typed)]);
            if !suggestions.is_empty() {
                body.push_str("\n\n");
                body.push_str(&fill(
                    who.lang,
                    "station_suggest",
                    &[("list", &suggestions.join(", "))],
                ));
            }
            return self.say(SendMessage::text(who.chat_id, body)).await;
        };
        let info = match self.store.election(election).await {
            Ok(Some(info)) => info,
            Ok(None) => return self.say_text(who, "button_stale", &[]).await,
            Err(e) => return self.failed(who, "read election", &e).await,
        };
        let offered: Vec<(String, String)> = info
            .options
            .into_iter()
            .take(MAX_BUTTONS)
            .map(|o| (o.code, o.name))
            .collect();
        let keyboard = InlineKeyboardMarkup {
            inline_keyboard: offered
                .iter()
                .enumerate()
                .map(|(i, (_, name))| {
                    vec![InlineKeyboardButton::callback(
                        button_label(&format!("{}. {name}", i + 1)),
                        format!("o:{i}"),
                    )]
                })
                .collect(),
        };
        let body = fill(who.lang, "choose_option", &[("station", &station)]);
        self.set_step(
            who,
            Some(Step::ChoosingOption {
                election: election.to_owned(),
                station,
                offered,
            }),
        );
        self.say_with_keyboard(who, body, keyboard).await;
    }

    async fn choose_option(
        &self,
        who: &Who,
        election: &str,
        station: &str,
        code: &str,
        name: &str,
    ) {
        self.set_step(
            who,
            Some(Step::AwaitingPhoto {
                election: election.to_owned(),
                station: station.to_owned(),
                option: code.to_owned(),
            }),
        );
        let keyboard = InlineKeyboardMarkup {
            inline_keyboard: vec![vec![InlineKeyboardButton::callback(
                text(who.lang, "skip_button"),
                "skip",
            )]],
        };
        self.say_with_keyboard(
            who,
            fill(who.lang, "send_photo", &[("option", name)]),
            keyboard,
        )
        .await;
    }

    async fn on_photo(
        &self,
        who: &Who,
        m: &Message,
        election: String,
        station: String,
        option: String,
    ) {
        let max = self.settings.max_photo_bytes;
        let Some(photo) = m.best_photo(max) else {
            return self.say_text(who, "photo_too_large", &[]).await;
        };
        let file = match self.api.get_file(&photo.file_id).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a photo");
                return self.say_text(who, "photo_failed", &[]).await;
            }
        };
        let Some(path) = file.file_path.as_deref() else {
            tracing::warn!("Telegram gave no download path for a photo");
            return self.say_text(who, "photo_failed", &[]).await;
        };
        let bytes = match self.api.download_file(path, max).await {
            Ok(b) => b,
            Err(TelegramError::FileTooLarge { .. }) => {
                return self.say_text(who, "photo_too_large", &[]).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not download a photo");
                return self.say_text(who, "photo_failed", &[]).await;
            }
        };
        let context = PhotoContext {
            election: election.clone(),
            station: station.clone(),
            participant: who.participant.clone(),
            at: self.clock.now().millis(),
        };
        match self.photos.intake(&context, bytes).await {
            Ok(accepted) => {
                self.finish(who, &election, &station, &option, Some((context, accepted)))
                    .await
            }
            Err(PhotoRejected::NotAnImage) => self.say_text(who, "photo_rejected", &[]).await,
            Err(PhotoRejected::TooLarge) => self.say_text(who, "photo_too_large", &[]).await,
            Err(PhotoRejected::Unavailable) => self.say_text(who, "photo_unavailable", &[]).await,
            Err(e @ PhotoRejected::Storage(_)) => {
                tracing::error!(error = %e, "a ballot photo could not be stored");
                self.say_text(who, "error", &[]).await;
            }
        }
    }

    async fn finish(
        &self,
        who: &Who,
        election: &str,
        station: &str,
        option: &str,
        photo: Option<(PhotoContext, PhotoAccepted)>,
    ) {
        let report = BallotReport {
            participant: who.participant.clone(),
            station: station.to_owned(),
            option: option.to_owned(),
            verification: if photo.is_some() {
                Verification::PhotoVerified
            } else {
                Verification::Unverified
            },
            photo_sha256: photo.as_ref().map(|(_, p)| p.photo_sha256.clone()),
            at: photo
                .as_ref()
                .map_or_else(|| self.clock.now().millis(), |(c, _)| c.at),
        };
        let receipt: ReportReceipt = match self.store.submit_ballot_report(election, &report).await
        {
            Ok(r) => r,
            Err(e) => {
                if let Some((context, accepted)) = &photo {
                    self.photos.discard(context, accepted).await;
                }
                return self.failed(who, "store report", &e).await;
            }
        };
        self.set_step(who, None);
        tracing::info!(
            verification = ?report.verification,
            replaced_previous = receipt.replaced_previous,
            duplicate_photo = receipt.duplicate_photo,
            "ballot report stored from Telegram"
        );
        let mut body = fill(
            who.lang,
            "saved",
            &[("receipt", receipt.receipt.expose().as_str())],
        );
        if receipt.replaced_previous {
            body.push_str("\n\n");
            body.push_str(&text(who.lang, "saved_replaced"));
        }
        if receipt.duplicate_photo {
            body.push_str("\n\n");
            body.push_str(&text(who.lang, "saved_duplicate_photo"));
        }
        self.say(SendMessage::text(who.chat_id, body)).await;
    }

    async fn check_receipt(&self, who: &Who, code: &str) {
        if code.is_empty() || code.len() > 64 {
            return self.say_text(who, "receipt_usage", &[]).await;
        }
        let elections = match self.store.elections().await {
            Ok(e) => e,
            Err(e) => return self.failed(who, "list elections", &e).await,
        };
        for e in elections {
            let status = match self.store.ballot_report_by_receipt(&e.code, code).await {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(err) => return self.failed(who, "find receipt", &err).await,
            };
            let option = match self.store.election(&e.code).await {
                Ok(Some(info)) => info
                    .options
                    .into_iter()
                    .find(|o| o.code == status.option)
                    .map_or(status.option.clone(), |o| o.name),
                _ => status.option.clone(),
            };
            let mut state = text(
                who.lang,
                if status.counted {
                    "receipt_counted"
                } else {
                    "receipt_superseded"
                },
            );
            if status.verification == Verification::PhotoVerified {
                state.push(' ');
                state.push_str(&text(who.lang, "receipt_with_photo"));
            }
            return self
                .say_text(
                    who,
                    "receipt_found",
                    &[
                        ("election", &e.name),
                        ("station", &status.station),
                        ("option", &option),
                        ("status", &state),
                    ],
                )
                .await;
        }
        self.say_text(who, "receipt_unknown", &[]).await;
    }

    async fn failed(&self, who: &Who, doing: &'static str, e: &talaka_store::ElectionError) {
        // The error names codes of stored rows at most, never the person.
        tracing::error!(doing, error = %e, "the bot could not complete a step");
        self.say_text(who, "error", &[]).await;
    }
}

/// Does a typed `text` pick the choice at `index` (1-based number, code or name, any case)?
fn pick_matches(text: &str, index: usize, code: &str, name: &str) -> bool {
    let t = text.trim().trim_end_matches('.').to_lowercase();
    t == (index + 1).to_string()
        || t == code.to_lowercase()
        || (!name.is_empty() && t == name.to_lowercase())
}

/// Telegram shows long button texts cut; keep them readable and well within limits.
fn button_label(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX - 1).collect();
        out.push('…');
        out
    }
}

// ---------------------------------------------------------------------------------------------
// polling

/// Fetch updates with `getUpdates` and handle them one by one until `shutdown` completes.
/// Errors back off exponentially (1 s to 60 s; flood control waits as long as Telegram asks);
/// a leftover webhook (which makes `getUpdates` fail) is deleted first. Updates are handled one
/// at a time, in order; one being handled when `shutdown` completes is finished first. Updates
/// handled are confirmed on the next request, and once more on shutdown.
pub async fn run_polling(
    bot: Arc<Bot>,
    poll_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let api = bot.api().clone();
    talaka_telegram::polling::poll(&api, "elections", poll_timeout, shutdown, |raw| {
        let bot = bot.clone();
        async move { bot.handle_raw(&raw).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secret_compare() {
        let s = Secret::new("s3cret-Token_1".to_owned());
        assert!(webhook_secret_ok(Some("s3cret-Token_1"), &s));
        assert!(!webhook_secret_ok(Some("s3cret-Token_2"), &s));
        assert!(!webhook_secret_ok(Some(""), &s));
        assert!(!webhook_secret_ok(None, &s));
        let empty = Secret::new(String::new());
        assert!(!webhook_secret_ok(Some(""), &empty));
        assert!(!webhook_secret_ok(None, &empty));
    }

    #[test]
    fn pseudonyms_hide_the_id_and_are_stable() {
        let key = SecretKey::generate().expect("key");
        let p = participant_pseudonym(&key, 123_456_789);
        assert!(talaka_store::elections::is_pseudonym(&p));
        assert!(!p.contains("123456789"));
        assert_eq!(p, participant_pseudonym(&key, 123_456_789));
        assert_ne!(p, participant_pseudonym(&key, 123_456_780));
    }

    #[test]
    fn typed_choices() {
        assert!(pick_matches("2", 1, "b", "Bee"));
        assert!(pick_matches(" bee ", 1, "b", "Bee"));
        assert!(pick_matches("B", 1, "b", "Bee"));
        assert!(!pick_matches("1", 1, "b", "Bee"));
        assert_eq!(button_label(&"x".repeat(100)).chars().count(), 60);
    }
}
