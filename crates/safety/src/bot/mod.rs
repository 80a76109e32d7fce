//! The safety bot: a Telegram bot of its own (own token, a neutral configured name) with which
//! people at risk of detention register in advance, and through which they, or their trusted
//! contacts, raise the alarm.
//!
//! # Commands
//!
//! Every button has a command people can type: `/start` (introduction, or the menu), `/start
//! CODE` (join as a trusted contact with an invite code; `/start c_CODE` is the deep-link
//! form), `/register` (give or update the details), `/detained`, `/checkin [code]`, `/safe`,
//! `/contacts`, `/schedule`, `/forget` and `/cancel`.
//!
//! # Registration
//!
//! Full name → date of birth → city → a relative's phone → health needs (optional) → anything
//! else (optional) → consent to be named publicly → organisation (asked only when there are
//! several) → check-in code → duress code. Partial answers live only in memory ([`Step`],
//! redacted in `Debug`) and are dropped on save, `/cancel` or after [`CONVERSATION_TTL`] of
//! silence. What is saved is sealed under the safety key before the store sees it; the codes
//! are stored as keyed hashes only.
//!
//! # Trusted contacts
//!
//! A person makes an invite code; the store keeps only its fingerprint. The contact sends
//! `/start CODE`. Their address must be sealed to the *person's* `person_ref`, which the bot
//! learns only by redeeming the code, so joining takes two store calls (see
//! [`SafetyBot::join`]).
//!
//! # Privacy
//!
//! Users are known by keyed pseudonyms of their Telegram ids, conversations by a keyed hash of
//! the chat id. Log lines name the step and the kind of problem, never texts, ids or codes.
//! Only private chats are served. The bot never shows a person's details to someone who merely
//! holds an invite code; a contact sees the full name of the people they watch over (they
//! know them) when choosing whom to report.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use talaka_core::crypto::{hex, random_bytes, random_token, token_fingerprint};
use talaka_mail::EmailAddress;
use talaka_store::StoreError;
use talaka_store::safety::{
    Channel, NewContact, NewPerson, Person, PersonId, RaiseOutcome, StandDownOutcome, Trigger,
};
use talaka_telegram::{
    BotApi, CallbackQuery, InlineKeyboardMarkup, Message, SendMessage, Update, User,
};
use tokio::sync::watch;

use crate::alerts::{Safety, SafetyError};
use crate::checkins::{self, CheckIn};
use crate::details::{Address, PersonDetails, Reach};

pub mod texts;

use texts::{Lang, fill, text};

/// Silence after which a chat's unfinished dialog (and any partial registration) is forgotten.
pub const CONVERSATION_TTL: Duration = Duration::from_secs(30 * 60);

/// Words that skip an optional question.
const SKIP_WORDS: &[&str] = &["skip", "/skip", "-", "прапусціць", "пропустить"];
const YES_WORDS: &[&str] = &["yes", "y", "так", "да"];
const NO_WORDS: &[&str] = &["no", "n", "не", "нет"];
const STOP_WORDS: &[&str] = &["stop", "off", "стоп", "спыніць", "остановить"];
/// Intervals offered as buttons for the check-in schedule, in hours.
const INTERVALS: [u64; 3] = [12, 24, 48];

/// One question of the registration dialog, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Question {
    Name,
    DateOfBirth,
    City,
    Phone,
    Health,
    Notes,
    Consent,
    Organisation,
    Code,
    Duress,
}

/// The answers so far. Kept in memory only; `Debug` shows nothing of it.
#[derive(Clone, Default)]
struct Draft {
    details: PersonDetails,
    organisation: Option<String>,
    checkin_code: String,
}

impl fmt::Debug for Draft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Draft([redacted])")
    }
}

/// Where a chat is in a dialog. No entry = at the menu.
#[derive(Clone, Debug)]
enum Step {
    Registering {
        draft: Box<Draft>,
        question: Question,
    },
    /// `/checkin` was sent: the next text is the code.
    AwaitingCode,
    /// The schedule menu is open: a typed number of hours arms, `stop` disarms.
    AwaitingInterval,
    AwaitingEmail,
    /// A contact chooses whom to report: the people offered, by button index.
    ChoosingWatched {
        offered: Vec<PersonId>,
    },
    ConfirmingContactAlert {
        person: PersonId,
    },
    ConfirmingForget,
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

/// Who wrote and where to answer; the ids stay in this struct and leave only to Telegram.
struct Who {
    chat_id: i64,
    chat_key: String,
    pseudonym: String,
    lang: Lang,
    /// The message being handled, when it was a text (so a code can be deleted).
    message_id: Option<i64>,
}

/// The safety bot. Share it with `Arc`.
pub struct SafetyBot {
    api: BotApi,
    safety: Safety,
    chats: Mutex<Chats>,
}

impl fmt::Debug for SafetyBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafetyBot")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// A failure in the middle of a step: logged without content, answered with an apology.
#[derive(Debug)]
enum Failed {
    Store(StoreError),
    Safety(SafetyError),
    Random,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failed::Store(e) => write!(f, "{e}"),
            Failed::Safety(e) => write!(f, "{e}"),
            Failed::Random => f.write_str("the random generator failed"),
        }
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Store(e)
    }
}

impl From<SafetyError> for Failed {
    fn from(e: SafetyError) -> Self {
        Failed::Safety(e)
    }
}

type Done = Result<(), Failed>;

fn keyboard(buttons: Vec<(String, String)>) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::column(buttons)
}

/// `anna@example.org` → `a***@example.org`: enough to recognise, not enough to read out.
fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

fn is_code(s: &str) -> bool {
    (4..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_word(text: &str, words: &[&str]) -> bool {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    words.contains(&t.as_str())
}

impl SafetyBot {
    pub fn new(api: BotApi, safety: Safety) -> Self {
        Self {
            api,
            safety,
            chats: Mutex::new(Chats::default()),
        }
    }

    pub fn api(&self) -> &BotApi {
        &self.api
    }

    fn who(&self, from: &User, chat_id: i64, message_id: Option<i64>) -> Who {
        Who {
            chat_id,
            chat_key: self
                .safety
                .hasher
                .keyed_hash("talaka.safety.telegram-chat", &chat_id.to_be_bytes()),
            pseudonym: self.safety.telegram_pseudonym(from.id),
            lang: Lang::from_code(from.language_code.as_deref()),
            message_id,
        }
    }

    fn chats(&self) -> MutexGuard<'_, Chats> {
        self.chats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn step(&self, who: &Who) -> Option<Step> {
        let now = self.safety.clock.now().millis();
        let ttl = i64::try_from(CONVERSATION_TTL.as_millis()).unwrap_or(i64::MAX);
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
        let now = self.safety.clock.now().millis();
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
            tracing::warn!(error = %e, "the safety bot could not send a message");
        }
    }

    async fn say_text(&self, who: &Who, key: &str, args: &[(&str, &str)]) {
        self.say(SendMessage::text(who.chat_id, fill(who.lang, key, args)))
            .await;
    }

    async fn say_with(&self, who: &Who, body: String, buttons: Vec<(String, String)>) {
        let mut m = SendMessage::text(who.chat_id, body);
        if !buttons.is_empty() {
            m = m.with_keyboard(keyboard(buttons));
        }
        self.say(m).await;
    }

    fn button(&self, who: &Who, key: &str, data: impl Into<String>) -> (String, String) {
        (text(who.lang, key), data.into())
    }

    fn menu_buttons(&self, who: &Who) -> Vec<(String, String)> {
        vec![
            self.button(who, "btn_detained", "m:det"),
            self.button(who, "btn_checkin", "m:chk"),
            self.button(who, "btn_safe", "m:safe"),
            self.button(who, "btn_contacts", "m:con"),
            self.button(who, "btn_schedule", "m:sch"),
            self.button(who, "btn_details", "m:reg"),
            self.button(who, "btn_forget", "m:fgt"),
        ]
    }

    async fn show_menu(&self, who: &Who, key: &str, args: &[(&str, &str)]) {
        let buttons = self.menu_buttons(who);
        self.say_with(who, fill(who.lang, key, args), buttons).await;
    }

    /// Delete a message that held a code, so that it is not on the phone afterwards. The Bot
    /// API client has no dedicated method for it; the generic call does. Best effort: a bot
    /// may only delete messages younger than 48 hours, and the person can delete it too.
    async fn delete_typed_code(&self, who: &Who) {
        let Some(message_id) = who.message_id else {
            return;
        };
        let params = serde_json::json!({"chat_id": who.chat_id, "message_id": message_id});
        if let Err(e) = self
            .api
            .call::<_, serde_json::Value>("deleteMessage", &params)
            .await
        {
            tracing::debug!(error = %e, "could not delete a message holding a code");
        }
    }

    async fn failed(&self, who: &Who, doing: &'static str, e: &Failed) {
        // Store and sealing errors name tables and kinds of failure, never a person's data.
        tracing::error!(doing, error = %e, "the safety bot could not complete a step");
        self.say_text(who, "error", &[]).await;
    }

    async fn registered(&self, who: &Who) -> Result<Option<Person>, Failed> {
        Ok(self
            .safety
            .stores
            .person_by_pseudonym(&who.pseudonym)
            .await?)
    }

    // -----------------------------------------------------------------------------------------
    // updates

    /// Handle one raw update (as JSON) from a webhook or `getUpdates`. One that does not parse
    /// is logged (without its content) and skipped.
    pub async fn handle_raw(&self, raw: &serde_json::Value) {
        match talaka_telegram::parse_update(raw) {
            Ok(update) => self.handle_update(update).await,
            Err(broken) => tracing::warn!(
                update_id = broken.update_id,
                reason = %broken.reason,
                "the safety bot skipped an update that does not parse"
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
                "the safety bot skipped an update of a kind it does not handle"
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
        let who = self.who(from, m.chat.id, Some(m.message_id));
        let step = self.step(&who);
        let Some(text) = m.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            tracing::debug!("skipped a message without text");
            return self.say_text(&who, "help", &[]).await;
        };
        let result = if text.starts_with('/') {
            self.on_command(&who, text, step).await
        } else {
            self.on_text(&who, text, step).await
        };
        if let Err(e) = result {
            self.failed(&who, "message", &e).await;
        }
    }

    async fn on_command(&self, who: &Who, text: &str, step: Option<Step>) -> Done {
        let (command, arg) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let command = command.split('@').next().unwrap_or_default().to_lowercase();
        let arg = arg.trim();
        match command.as_str() {
            "/start" if !arg.is_empty() => self.join(who, arg).await,
            "/start" | "/menu" => self.start(who).await,
            "/register" => self.begin_registration(who).await,
            "/detained" => self.detained(who).await,
            "/checkin" => self.checkin(who, arg).await,
            "/safe" => self.safe(who).await,
            "/contacts" => self.contacts(who).await,
            "/schedule" => self.schedule_menu(who).await,
            "/forget" => self.confirm_forget(who).await,
            "/cancel" => {
                self.set_step(who, None);
                let key = match step {
                    Some(Step::Registering { .. }) => "registration_cancelled",
                    _ => "cancelled",
                };
                self.say_text(who, key, &[]).await;
                Ok(())
            }
            "/skip" => self.on_text(who, "skip", step).await,
            _ => {
                self.help(who).await;
                Ok(())
            }
        }
    }

    async fn on_text(&self, who: &Who, text: &str, step: Option<Step>) -> Done {
        match step {
            Some(Step::Registering { draft, question }) => {
                self.answer(who, draft, question, text).await
            }
            Some(Step::AwaitingCode) => {
                self.set_step(who, None);
                let Some(person) = self.registered(who).await? else {
                    return self.not_registered(who).await;
                };
                self.delete_typed_code(who).await;
                self.do_checkin(who, &person, text).await
            }
            Some(Step::AwaitingInterval) => {
                if is_word(text, STOP_WORDS) {
                    self.disarm(who).await
                } else if let Ok(hours) = text.trim().parse::<u64>() {
                    self.arm(who, hours).await
                } else {
                    self.say_interval_range(who).await;
                    Ok(())
                }
            }
            Some(Step::AwaitingEmail) => self.add_email(who, text).await,
            Some(Step::ChoosingWatched { offered }) => {
                match text.trim().trim_end_matches('.').parse::<usize>() {
                    Ok(n) if (1..=offered.len()).contains(&n) => {
                        self.confirm_contact_alert(who, offered[n - 1]).await
                    }
                    _ => {
                        self.say_text(who, "choose_watched_again", &[]).await;
                        Ok(())
                    }
                }
            }
            Some(Step::ConfirmingContactAlert { .. } | Step::ConfirmingForget) => {
                self.say_text(who, "press_a_button", &[]).await;
                Ok(())
            }
            None => {
                self.help(who).await;
                Ok(())
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
        let who = self.who(&q.from, chat_id, None);
        let step = self.step(&who);
        let data = q.data.as_deref().unwrap_or_default();
        if let Err(e) = self.on_button(&who, data, step).await {
            self.failed(&who, "button", &e).await;
        }
    }

    async fn on_button(&self, who: &Who, data: &str, step: Option<Step>) -> Done {
        let (kind, arg) = data.split_once(':').unwrap_or((data, ""));
        match (kind, step) {
            ("reg", _) | ("m", _) if arg == "reg" || kind == "reg" => {
                self.begin_registration(who).await
            }
            ("m", _) => match arg {
                "det" => self.detained(who).await,
                "chk" => self.checkin(who, "").await,
                "safe" => self.safe(who).await,
                "con" => self.contacts(who).await,
                "sch" => self.schedule_menu(who).await,
                "fgt" => self.confirm_forget(who).await,
                _ => {
                    tracing::warn!("skipped a menu button with unknown data");
                    Ok(())
                }
            },
            ("skip", Some(Step::Registering { draft, question })) => {
                self.answer(who, draft, question, "skip").await
            }
            ("consent", Some(Step::Registering { draft, question }))
                if question == Question::Consent =>
            {
                self.answer(who, draft, question, arg).await
            }
            ("org", Some(Step::Registering { draft, question }))
                if question == Question::Organisation =>
            {
                let n = arg.parse::<usize>().map_or(0, |i| i + 1);
                self.answer(who, draft, question, &n.to_string()).await
            }
            ("cancel", _) | ("safe", _) => self.safe(who).await,
            ("arm", _) => match arg.parse::<u64>() {
                Ok(hours) => self.arm(who, hours).await,
                Err(_) => self.disarm(who).await,
            },
            ("inv", _) => self.invite(who).await,
            ("email", _) => {
                let Some(_) = self.registered(who).await? else {
                    return self.not_registered(who).await;
                };
                self.set_step(who, Some(Step::AwaitingEmail));
                self.say_text(who, "ask_email", &[]).await;
                Ok(())
            }
            ("rm", _) => match arg.parse::<i64>() {
                Ok(id) => self.remove_contact(who, id).await,
                Err(_) => Ok(()),
            },
            ("who", _) if arg == "me" => {
                let Some(person) = self.registered(who).await? else {
                    return self.not_registered(who).await;
                };
                self.self_report(who, &person).await
            }
            ("who", _) => self.choose_watched(who).await,
            ("w", Some(Step::ChoosingWatched { offered })) => match arg.parse::<usize>() {
                Ok(i) if i < offered.len() => self.confirm_contact_alert(who, offered[i]).await,
                _ => self.stale(who).await,
            },
            ("wc", Some(Step::ConfirmingContactAlert { person })) => {
                self.contact_alert(who, person).await
            }
            ("fgt", Some(Step::ConfirmingForget)) => self.forget(who).await,
            ("x", _) => {
                self.set_step(who, None);
                self.say_text(who, "nothing_sent", &[]).await;
                Ok(())
            }
            ("skip" | "consent" | "org" | "w" | "wc" | "fgt", _) => self.stale(who).await,
            _ => {
                tracing::warn!("skipped a button press with unknown data");
                Ok(())
            }
        }
    }

    async fn stale(&self, who: &Who) -> Done {
        self.say_text(who, "button_stale", &[]).await;
        Ok(())
    }

    async fn help(&self, who: &Who) {
        self.say_text(who, "help", &[]).await;
    }

    async fn not_registered(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let buttons = vec![self.button(who, "btn_register", "reg")];
        self.say_with(who, text(who.lang, "not_registered"), buttons)
            .await;
        Ok(())
    }

    async fn start(&self, who: &Who) -> Done {
        self.set_step(who, None);
        if self.registered(who).await?.is_some() {
            self.show_menu(who, "menu", &[]).await;
        } else {
            let buttons = vec![self.button(who, "btn_register", "reg")];
            let body = fill(
                who.lang,
                "intro",
                &[("bot_name", &self.safety.config.telegram.bot_name)],
            );
            self.say_with(who, body, buttons).await;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // registration

    async fn begin_registration(&self, who: &Who) -> Done {
        self.ask(who, Box::default(), Question::Name).await;
        Ok(())
    }

    /// Ask `question`, remembering the draft.
    async fn ask(&self, who: &Who, draft: Box<Draft>, question: Question) {
        let (key, buttons) = match question {
            Question::Name => ("ask_name", vec![]),
            Question::DateOfBirth => ("ask_dob", vec![]),
            Question::City => ("ask_city", vec![]),
            Question::Phone => ("ask_phone", vec![]),
            Question::Health => ("ask_health", vec![self.button(who, "btn_skip", "skip")]),
            Question::Notes => ("ask_notes", vec![self.button(who, "btn_skip", "skip")]),
            Question::Consent => (
                "ask_consent",
                vec![
                    self.button(who, "btn_yes", "consent:yes"),
                    self.button(who, "btn_no", "consent:no"),
                ],
            ),
            Question::Organisation => (
                "ask_organisation",
                self.safety
                    .config
                    .organisations
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (format!("{}. {}", i + 1, o.name), format!("org:{i}")))
                    .collect(),
            ),
            Question::Code => ("ask_code", vec![]),
            Question::Duress => ("ask_duress", vec![]),
        };
        self.set_step(who, Some(Step::Registering { draft, question }));
        self.say_with(who, text(who.lang, key), buttons).await;
    }

    /// Take the answer to `question` and ask the next one (or save).
    async fn answer(
        &self,
        who: &Who,
        mut draft: Box<Draft>,
        question: Question,
        answer: &str,
    ) -> Done {
        let answer = answer.trim();
        let skip = is_word(answer, SKIP_WORDS);
        let short = |max: usize| !answer.is_empty() && answer.chars().count() <= max && !skip;
        let next = match question {
            Question::Name if short(200) => {
                draft.details.full_name = answer.to_owned();
                Question::DateOfBirth
            }
            Question::DateOfBirth if short(40) => {
                draft.details.date_of_birth = answer.to_owned();
                Question::City
            }
            Question::City if short(100) => {
                draft.details.city = answer.to_owned();
                Question::Phone
            }
            Question::Phone
                if short(40) && answer.chars().filter(char::is_ascii_digit).count() >= 5 =>
            {
                draft.details.relative_phone = answer.to_owned();
                Question::Health
            }
            Question::Health if skip || short(2000) => {
                draft.details.health = if skip {
                    String::new()
                } else {
                    answer.to_owned()
                };
                Question::Notes
            }
            Question::Notes if skip || short(2000) => {
                draft.details.notes = if skip {
                    String::new()
                } else {
                    answer.to_owned()
                };
                Question::Consent
            }
            Question::Consent if is_word(answer, YES_WORDS) || is_word(answer, NO_WORDS) => {
                draft.details.public_consent = is_word(answer, YES_WORDS);
                match self.safety.config.organisations.as_slice() {
                    [] => Question::Code,
                    [only] => {
                        draft.organisation = Some(only.key.clone());
                        Question::Code
                    }
                    _ => Question::Organisation,
                }
            }
            Question::Organisation => {
                let orgs = &self.safety.config.organisations;
                let t = answer.trim_end_matches('.').to_lowercase();
                let found = orgs.iter().enumerate().find(|(i, o)| {
                    t == (i + 1).to_string()
                        || t == o.key.to_lowercase()
                        || t == o.name.to_lowercase()
                });
                match found {
                    Some((_, o)) => {
                        draft.organisation = Some(o.key.clone());
                        Question::Code
                    }
                    None => return self.reask(who, draft, question).await,
                }
            }
            Question::Code if is_code(answer) => {
                self.delete_typed_code(who).await;
                draft.checkin_code = answer.to_owned();
                Question::Duress
            }
            Question::Duress if is_code(answer) && answer != draft.checkin_code => {
                self.delete_typed_code(who).await;
                return self.save(who, &draft, answer).await;
            }
            Question::Duress if answer == draft.checkin_code => {
                self.delete_typed_code(who).await;
                self.say_text(who, "duress_same", &[]).await;
                return self.reask(who, draft, question).await;
            }
            _ => return self.reask(who, draft, question).await,
        };
        self.ask(who, draft, next).await;
        Ok(())
    }

    async fn reask(&self, who: &Who, draft: Box<Draft>, question: Question) -> Done {
        let key = match question {
            Question::Code | Question::Duress => "invalid_code",
            Question::Phone => "invalid_phone",
            _ => "invalid_answer",
        };
        self.say_text(who, key, &[]).await;
        self.ask(who, draft, question).await;
        Ok(())
    }

    async fn save(&self, who: &Who, draft: &Draft, duress: &str) -> Done {
        // A re-registration keeps its `person_ref`: the contacts' addresses are sealed to it.
        let existing = self.registered(who).await?;
        let person_ref = match existing {
            Some(p) => p.person_ref,
            None => hex(&random_bytes::<16>().map_err(|_| Failed::Random)?),
        };
        let keys = &self.safety.keys;
        let person = NewPerson {
            pseudonym: who.pseudonym.clone(),
            person_ref: person_ref.clone(),
            details: draft.details.seal(keys, &person_ref),
            reach: Reach {
                chat_id: who.chat_id,
                language: who.lang.code().to_owned(),
            }
            .seal(keys, &person_ref),
            organisation: draft.organisation.clone().unwrap_or_default(),
            checkin_code_hash: self.safety.code_hash(&person_ref, &draft.checkin_code),
            duress_code_hash: self.safety.code_hash(&person_ref, duress),
            at: self.safety.clock.now(),
        };
        let saved = self.safety.stores.save_person(&person).await;
        // The partial answers go whatever happened: nothing of them stays in memory.
        self.set_step(who, None);
        saved?;
        tracing::info!("safety registration saved");
        self.show_menu(who, "registered", &[]).await;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // alerts

    async fn detained(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let person = self.registered(who).await?;
        let watches = !self
            .safety
            .stores
            .watched_by(&who.pseudonym)
            .await?
            .is_empty();
        match (person, watches) {
            (Some(p), false) => self.self_report(who, &p).await,
            (Some(_), true) => {
                let buttons = vec![
                    self.button(who, "btn_about_me", "who:me"),
                    self.button(who, "btn_about_other", "who:other"),
                ];
                self.say_with(who, text(who.lang, "ask_who"), buttons).await;
                Ok(())
            }
            (None, true) => self.choose_watched(who).await,
            (None, false) => self.not_registered(who).await,
        }
    }

    async fn self_report(&self, who: &Who, person: &Person) -> Done {
        self.set_step(who, None);
        let outcome = self.safety.raise(person, Trigger::SelfReport, None).await?;
        let window = self.safety.config.cancel_window_seconds;
        match outcome {
            RaiseOutcome::Raised { .. } if window > 0 => {
                let buttons = vec![self.button(who, "btn_cancel_alert", "cancel")];
                let body = fill(
                    who.lang,
                    "alert_pending",
                    &[("seconds", &window.to_string())],
                );
                self.say_with(who, body, buttons).await;
            }
            RaiseOutcome::Raised { .. } => {
                let buttons = vec![self.button(who, "btn_safe", "safe")];
                self.say_with(who, text(who.lang, "alert_sent"), buttons)
                    .await;
            }
            RaiseOutcome::AlreadyRaised { .. } => {
                let buttons = vec![self.button(who, "btn_safe", "safe")];
                self.say_with(who, text(who.lang, "alert_already"), buttons)
                    .await;
            }
        }
        Ok(())
    }

    /// The people this user is a trusted contact of, by the name they registered with.
    async fn choose_watched(&self, who: &Who) -> Done {
        let watched = self.safety.stores.watched_by(&who.pseudonym).await?;
        if watched.is_empty() {
            return self.not_registered(who).await;
        }
        let mut buttons = Vec::new();
        let mut offered = Vec::new();
        for (i, (person, _)) in watched.iter().enumerate().take(30) {
            let name = PersonDetails::open(&self.safety.keys, &person.person_ref, &person.details)
                .map(|d| d.full_name)
                .unwrap_or_else(|_| text(who.lang, "unknown_name"));
            buttons.push((format!("{}. {name}", i + 1), format!("w:{i}")));
            offered.push(person.id);
        }
        self.set_step(who, Some(Step::ChoosingWatched { offered }));
        self.say_with(who, text(who.lang, "choose_watched"), buttons)
            .await;
        Ok(())
    }

    async fn confirm_contact_alert(&self, who: &Who, person: PersonId) -> Done {
        self.set_step(who, Some(Step::ConfirmingContactAlert { person }));
        let buttons = vec![
            self.button(who, "btn_confirm_report", "wc:yes"),
            self.button(who, "btn_no", "x"),
        ];
        self.say_with(who, text(who.lang, "confirm_contact_alert"), buttons)
            .await;
        Ok(())
    }

    async fn contact_alert(&self, who: &Who, person: PersonId) -> Done {
        self.set_step(who, None);
        // Asked again: the person may have removed this contact meanwhile.
        let watched = self.safety.stores.watched_by(&who.pseudonym).await?;
        let Some((p, contact)) = watched.into_iter().find(|(p, _)| p.id == person) else {
            return self.stale(who).await;
        };
        self.safety
            .raise(&p, Trigger::Contact, Some(contact))
            .await?;
        self.say_text(who, "contact_alert_sent", &[]).await;
        Ok(())
    }

    async fn safe(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let key = match self.safety.stand_down(&person).await? {
            StandDownOutcome::Cancelled(_) => "safe_cancelled",
            StandDownOutcome::StoodDown { .. } => "safe_stood_down",
            StandDownOutcome::NothingRaised => "safe_nothing",
        };
        self.say_text(who, key, &[]).await;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // check-ins

    async fn checkin(&self, who: &Who, inline_code: &str) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        if !inline_code.is_empty() {
            self.delete_typed_code(who).await;
            return self.do_checkin(who, &person, inline_code).await;
        }
        if self.safety.stores.schedule(person.id).await?.is_none() {
            return self.offer_arm(who, "checkin_not_armed").await;
        }
        self.set_step(who, Some(Step::AwaitingCode));
        self.say_text(who, "send_code", &[]).await;
        Ok(())
    }

    async fn do_checkin(&self, who: &Who, person: &Person, code: &str) -> Done {
        match checkins::check_in(&self.safety, person, code.trim()).await? {
            // The very same words and buttons for both: whoever holds the phone must not be
            // able to tell a duress check-in from an ordinary one.
            CheckIn::Accepted(s) | CheckIn::Duress(s) => {
                self.say_text(who, "checked_in", &[("deadline", &s.deadline.to_string())])
                    .await;
            }
            CheckIn::WrongCode => self.say_text(who, "wrong_code", &[]).await,
            // The duress code during a lockout gets this very answer too (see `checkins`).
            CheckIn::TooManyAttempts => self.say_text(who, "too_many_codes", &[]).await,
            CheckIn::NotArmed => return self.offer_arm(who, "checkin_not_armed").await,
        }
        Ok(())
    }

    fn interval_buttons(&self, who: &Who, armed: bool) -> Vec<(String, String)> {
        let mut buttons: Vec<(String, String)> = INTERVALS
            .iter()
            .map(|h| {
                (
                    fill(who.lang, "btn_every", &[("hours", &h.to_string())]),
                    format!("arm:{h}"),
                )
            })
            .collect();
        if armed {
            buttons.push(self.button(who, "btn_disarm", "arm:stop"));
        }
        buttons
    }

    async fn offer_arm(&self, who: &Who, key: &str) -> Done {
        self.set_step(who, Some(Step::AwaitingInterval));
        let buttons = self.interval_buttons(who, false);
        self.say_with(who, text(who.lang, key), buttons).await;
        Ok(())
    }

    async fn schedule_menu(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let Some(s) = self.safety.stores.schedule(person.id).await? else {
            return self.offer_arm(who, "schedule_off").await;
        };
        let hours = (s.interval_ms / 3_600_000).to_string();
        let body = fill(
            who.lang,
            "schedule_on",
            &[("hours", &hours), ("deadline", &s.deadline.to_string())],
        );
        self.set_step(who, Some(Step::AwaitingInterval));
        let buttons = self.interval_buttons(who, true);
        self.say_with(who, body, buttons).await;
        Ok(())
    }

    async fn say_interval_range(&self, who: &Who) {
        let c = &self.safety.config;
        self.say_text(
            who,
            "interval_range",
            &[
                ("min", &c.checkin_min_hours.to_string()),
                ("max", &c.checkin_max_hours.to_string()),
            ],
        )
        .await;
    }

    async fn arm(&self, who: &Who, hours: u64) -> Done {
        let c = &self.safety.config;
        if !(c.checkin_min_hours..=c.checkin_max_hours).contains(&hours) {
            self.say_interval_range(who).await;
            return Ok(());
        }
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let s = checkins::arm(&self.safety, &person, hours).await?;
        self.say_text(
            who,
            "armed",
            &[
                ("hours", &hours.to_string()),
                ("deadline", &s.deadline.to_string()),
            ],
        )
        .await;
        Ok(())
    }

    async fn disarm(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        self.safety.stores.disarm_schedule(person.id).await?;
        self.say_text(who, "disarmed", &[]).await;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // trusted contacts

    async fn contacts(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let contacts = self.safety.stores.contacts(person.id).await?;
        let mut body = text(who.lang, "contacts_title");
        let mut remove = Vec::new();
        if contacts.is_empty() {
            body.push_str("\n\n");
            body.push_str(&text(who.lang, "contacts_none"));
        }
        for (i, c) in contacts.iter().enumerate() {
            let n = (i + 1).to_string();
            let line = match Address::open(&self.safety.keys, &person.person_ref, &c.address) {
                Ok(Address::Email { address, .. }) => fill(
                    who.lang,
                    "contact_email",
                    &[("n", &n), ("address", &mask_email(&address))],
                ),
                Ok(Address::Telegram { .. }) => fill(who.lang, "contact_telegram", &[("n", &n)]),
                Err(_) => fill(who.lang, "contact_unreadable", &[("n", &n)]),
            };
            body.push('\n');
            body.push_str(&line);
            remove.push((
                fill(who.lang, "btn_remove", &[("n", &n)]),
                format!("rm:{}", c.id.0),
            ));
        }
        let mut buttons = vec![
            self.button(who, "btn_invite", "inv"),
            self.button(who, "btn_add_email", "email"),
        ];
        buttons.extend(remove);
        self.say_with(who, body, buttons).await;
        Ok(())
    }

    async fn invite(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let code = random_token().map_err(|_| Failed::Random)?;
        let hours = self.safety.config.invite_valid_hours.max(1);
        let expires = self
            .safety
            .clock
            .now()
            .plus(Duration::from_secs(hours.saturating_mul(3600)));
        self.safety
            .stores
            .create_contact_invite(person.id, &token_fingerprint(code.expose()), expires)
            .await?;
        self.say_text(
            who,
            "invite",
            &[
                ("code", code.expose()),
                ("bot_name", &self.safety.config.telegram.bot_name),
                ("hours", &hours.to_string()),
            ],
        )
        .await;
        Ok(())
    }

    async fn add_email(&self, who: &Who, typed: &str) -> Done {
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let Ok(email) = EmailAddress::parse(typed) else {
            // Stay in the step: the next text is another try (or /cancel).
            self.say_text(who, "email_invalid", &[]).await;
            return Ok(());
        };
        self.set_step(who, None);
        let address = Address::Email {
            address: email.as_str().to_owned(),
            language: who.lang.code().to_owned(),
        };
        let contact = NewContact {
            channel: Channel::Email,
            pseudonym: None,
            address_key: self.safety.address_key(&address),
            address: address.seal(&self.safety.keys, &person.person_ref),
            at: self.safety.clock.now(),
        };
        match self.safety.stores.add_contact(person.id, &contact).await {
            Ok(_) => self.say_text(who, "email_added", &[]).await,
            Err(StoreError::Conflict(_)) => self.say_text(who, "contact_exists", &[]).await,
            Err(e) => return Err(e.into()),
        }
        self.contacts(who).await
    }

    async fn remove_contact(&self, who: &Who, id: i64) -> Done {
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        let removed = self
            .safety
            .stores
            .remove_contact(person.id, talaka_store::safety::ContactId(id))
            .await?;
        if removed {
            self.say_text(who, "contact_removed", &[]).await;
        } else {
            self.say_text(who, "button_stale", &[]).await;
        }
        self.contacts(who).await
    }

    /// Join as a trusted contact with an invite code.
    ///
    /// The contact's address is sealed to the inviting person's `person_ref`: look the invite
    /// up first, then redeem it with the address sealed to that person (redeeming is atomic; an
    /// invite used or expired in between is answered as unknown).
    async fn join(&self, who: &Who, code: &str) -> Done {
        self.set_step(who, None);
        let mut candidates = Vec::with_capacity(2);
        if let Some(stripped) = code.strip_prefix("c_") {
            candidates.push(stripped);
        }
        candidates.push(code);
        let address = Address::Telegram {
            chat_id: who.chat_id,
            language: who.lang.code().to_owned(),
        };
        let new_contact = |person_ref: &str| NewContact {
            channel: Channel::Telegram,
            pseudonym: Some(who.pseudonym.clone()),
            address_key: self.safety.address_key(&address),
            address: address.seal(&self.safety.keys, person_ref),
            at: self.safety.clock.now(),
        };
        let now = self.safety.clock.now();
        let stores = &self.safety.stores;
        for c in candidates.into_iter().filter(|c| c.len() <= 128) {
            let fingerprint = token_fingerprint(c);
            let Some(person) = stores.contact_invite_person(&fingerprint, now).await? else {
                continue;
            };
            if person.pseudonym == who.pseudonym {
                self.say_text(who, "invite_own", &[]).await;
                return Ok(());
            }
            match stores
                .redeem_contact_invite(&fingerprint, now, &new_contact(&person.person_ref))
                .await
            {
                Ok(_) => {
                    tracing::info!("a trusted contact joined");
                    self.say_text(who, "joined", &[]).await;
                    return Ok(());
                }
                Err(StoreError::NotFound) => break,
                Err(StoreError::Conflict(_)) => {
                    self.say_text(who, "already_contact", &[]).await;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.say_text(who, "invite_unknown", &[]).await;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // forgetting

    async fn confirm_forget(&self, who: &Who) -> Done {
        self.set_step(who, None);
        if self.registered(who).await?.is_none() {
            return self.not_registered(who).await;
        }
        self.set_step(who, Some(Step::ConfirmingForget));
        let buttons = vec![
            self.button(who, "btn_forget_yes", "fgt:yes"),
            self.button(who, "btn_no", "x"),
        ];
        self.say_with(who, text(who.lang, "forget_confirm"), buttons)
            .await;
        Ok(())
    }

    async fn forget(&self, who: &Who) -> Done {
        self.set_step(who, None);
        let Some(person) = self.registered(who).await? else {
            return self.not_registered(who).await;
        };
        self.safety
            .stores
            .forget_person(person.id, self.safety.clock.now())
            .await?;
        tracing::info!("a safety registration was deleted by its person");
        self.say_text(who, "forgotten", &[]).await;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// polling

/// Fetch updates with `getUpdates` and handle them one by one until `shutdown` turns `true`
/// (or its sender is dropped). Errors back off exponentially (1 s to 60 s; flood control waits
/// as long as Telegram asks); a leftover webhook is deleted first. An update being handled
/// when shutdown comes is finished first; handled updates are confirmed on the next request
/// and once more on shutdown.
pub async fn run_polling(
    bot: Arc<SafetyBot>,
    shutdown: watch::Receiver<bool>,
    poll_timeout: Duration,
) {
    let stop = async move {
        let mut rx = shutdown;
        loop {
            if *rx.borrow_and_update() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    let api = bot.api().clone();
    talaka_telegram::polling::poll(&api, "safety", poll_timeout, stop, |raw| {
        let bot = bot.clone();
        async move { bot.handle_raw(&raw).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked_and_codes_are_digits() {
        assert_eq!(mask_email("anna@example.org"), "a***@example.org");
        assert_eq!(mask_email("broken"), "***");
        assert!(is_code("1234") && is_code("123456789012"));
        assert!(!is_code("123") && !is_code("1234567890123") && !is_code("12a4"));
        assert!(is_word(" Skip ", SKIP_WORDS) && is_word("Так.", YES_WORDS));
    }

    #[test]
    fn a_draft_never_prints() {
        let mut d = Draft::default();
        d.details.full_name = "Ales Bialiatski".into();
        d.checkin_code = "4321".into();
        let step = Step::Registering {
            draft: Box::new(d),
            question: Question::Code,
        };
        let s = format!("{step:?}");
        assert!(!s.contains("Bialiatski") && !s.contains("4321"), "{s}");
    }
}
