//! The safety bot through the fake Bot API on 127.0.0.1, against a real SQLite file: updates
//! are handed to the bot one at a time (so every answer is sent when the call returns), and
//! one test runs the polling loop itself.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use talaka_core::Secret;
use talaka_core::config::{OrganisationConfig, SafetyConfig};
use talaka_safety::bot::{SafetyBot, run_polling};
use talaka_safety::{Address, PersonDetails};
use talaka_store::SafetyStore;
use talaka_store::safety::{AlertState, Channel, Person, Trigger};
use talaka_telegram::BotApi;
use talaka_telegram::User;
use talaka_telegram::fake::{FakeTelegram, Sent, user};

use crate::support::{self, World};

const TOKEN: &str = "123456:safety-bot-token";
const NAME: &str = "Zmitser Markerovich";
const DOB: &str = "1990-04-05";
const CITY: &str = "Markertown";
const PHONE: &str = "+375 29 765-43-21";
const HEALTH: &str = "insulin-marker twice a day";
const NOTES: &str = "notes-marker lawyer preferred";
const CODE: &str = "739146";
const DURESS: &str = "582063";

struct Bench {
    w: World,
    fake: FakeTelegram,
    bot: SafetyBot,
    next: AtomicI64,
}

impl Bench {
    async fn new() -> Bench {
        Self::with(support::config()).await
    }

    async fn with(mut config: SafetyConfig) -> Bench {
        config.telegram.bot_name = "Weather notes".into();
        let w = support::world_with(config).await;
        let fake = FakeTelegram::start(TOKEN).await.unwrap();
        let api = BotApi::new(&fake.base_url(), Secret::new(TOKEN.into())).unwrap();
        let bot = SafetyBot::new(api, w.safety.clone());
        Bench {
            w,
            fake,
            bot,
            next: AtomicI64::new(1),
        }
    }

    fn id(&self) -> i64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }

    /// Hand `update` to the bot; what it sent to `to` meanwhile.
    async fn feed(&self, to: i64, update: Value) -> Vec<Sent> {
        let before = self.fake.sent().len();
        self.bot.handle_raw(&update).await;
        self.fake.sent()[before..]
            .iter()
            .filter(|s| s.chat_id == to)
            .cloned()
            .collect()
    }

    fn message(&self, from: &User, chat_type: &str, text: &str) -> Value {
        let id = self.id();
        json!({"update_id": id, "message": {
            "message_id": id, "from": from, "chat": {"id": from.id, "type": chat_type},
            "date": 1, "text": text,
        }})
    }

    /// A text in `from`'s private chat; the bot's last answer.
    async fn say(&self, from: &User, text: &str) -> Sent {
        let update = self.message(from, "private", text);
        let sent = self.feed(from.id, update).await;
        sent.last()
            .cloned()
            .unwrap_or_else(|| panic!("no answer to {text:?}"))
    }

    /// A press on a button with `data`; the bot's last answer.
    async fn press(&self, from: &User, data: &str) -> Sent {
        let id = self.id();
        let update = json!({"update_id": id, "callback_query": {
            "id": format!("q{id}"), "from": from, "data": data,
            "message": {"message_id": 1, "chat": {"id": from.id, "type": "private"}, "date": 1},
        }});
        let sent = self.feed(from.id, update).await;
        sent.last()
            .cloned()
            .unwrap_or_else(|| panic!("no answer to button {data:?}"))
    }

    async fn person(&self, u: &User) -> Option<Person> {
        let p = self.w.safety.telegram_pseudonym(u.id);
        self.w.store.person_by_pseudonym(&p).await.unwrap()
    }

    /// Register `u` by typed answers (one organisation configured: not asked).
    async fn register(&self, u: &User) -> Person {
        for answer in [
            "/register",
            NAME,
            DOB,
            CITY,
            PHONE,
            HEALTH,
            NOTES,
            "yes",
            CODE,
        ] {
            self.say(u, answer).await;
        }
        let done = self.say(u, DURESS).await;
        assert!(done.text.contains("Saved"), "{}", done.text);
        self.person(u).await.expect("registered")
    }
}

fn details(w: &World, p: &Person) -> PersonDetails {
    PersonDetails::open(&w.safety.keys, &p.person_ref, &p.details).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Log hygiene (SECURITY-CHECKLIST item 11): none of the registration's answers (the
/// constants above and `more`), `u`'s chat id, the token, or any text the bot sent `u` is in
/// the captured TRACE logs.
fn assert_nothing_logged(b: &Bench, u: &User, more: &[&str]) {
    let fixed = [
        NAME,
        "Markerovich",
        DOB,
        CITY,
        PHONE,
        "765-43-21",
        "insulin-marker",
        "notes-marker",
        CODE,
        DURESS,
        TOKEN,
        "safety-bot-token",
    ];
    let sent = b.fake.sent().into_iter().filter(|s| s.chat_id == u.id);
    support::assert_not_logged(
        fixed
            .iter()
            .chain(more)
            .map(|m| (*m).to_owned())
            .chain([u.id.to_string()])
            .chain(sent.map(|s| s.text)),
    );
}

#[tokio::test]
async fn registration_by_typed_answers_is_sealed_and_leaves_no_plaintext_in_the_database() {
    let b = Bench::new().await;
    // A long id: as a decimal string it cannot turn up in the logs by chance.
    let anna = user(8_105_000_001, "en");
    let intro = b.say(&anna, "/start").await;
    assert!(intro.text.contains("Weather notes"), "{}", intro.text);
    assert_eq!(intro.button_data("Register").as_deref(), Some("reg"));

    let p = b.register(&anna).await;
    let d = details(&b.w, &p);
    assert_eq!(d.full_name, NAME);
    assert_eq!(d.date_of_birth, DOB);
    assert_eq!(d.city, CITY);
    assert_eq!(d.relative_phone, PHONE);
    assert_eq!(d.health, HEALTH);
    assert_eq!(d.notes, NOTES);
    assert!(d.public_consent);
    assert_eq!(p.organisation, "viasna");
    assert_eq!(
        p.checkin_code_hash,
        b.w.safety.code_hash(&p.person_ref, CODE)
    );
    assert_eq!(
        p.duress_code_hash,
        b.w.safety.code_hash(&p.person_ref, DURESS)
    );
    // After saving: the menu.
    let menu = b.say(&anna, "/start").await;
    assert!(menu.button_data("I am detained").is_some());

    let db = b.w.database_bytes();
    assert!(!db.is_empty());
    for marker in [
        NAME,
        "Markerovich",
        CITY,
        PHONE,
        "765-43-21",
        "insulin-marker",
        "notes-marker",
        CODE,
        DURESS,
    ] {
        assert!(!contains(&db, marker), "{marker} is in the database file");
    }

    // Re-registering replaces the details and keeps the person_ref (contacts are sealed to it).
    b.say(&anna, "/register").await;
    for answer in ["Zmitser New", DOB, CITY, PHONE, "skip", "skip", "no", CODE] {
        b.say(&anna, answer).await;
    }
    b.say(&anna, DURESS).await;
    let again = b.person(&anna).await.unwrap();
    assert_eq!(again.person_ref, p.person_ref);
    assert_eq!(details(&b.w, &again).full_name, "Zmitser New");
    assert!(!details(&b.w, &again).public_consent);
    assert_nothing_logged(&b, &anna, &["Zmitser New"]);
}

#[tokio::test]
async fn registration_by_buttons_asks_for_the_organisation_and_cancel_saves_nothing() {
    let mut config = support::config();
    config.organisations.push(OrganisationConfig {
        key: "legal".into(),
        name: "Legal aid".into(),
        telegram_chat_ids: vec![900_002],
        emails: vec![],
        language: String::new(),
    });
    let b = Bench::with(config).await;
    let ales = user(8_105_000_002, "be");

    // /cancel half-way: nothing is saved.
    b.press(&ales, "reg").await;
    b.say(&ales, NAME).await;
    let stopped = b.say(&ales, "/cancel").await;
    assert!(!stopped.text.is_empty());
    assert!(b.person(&ales).await.is_none());
    // After the cancel, a name is not taken as an answer any more.
    let help = b.say(&ales, NAME).await;
    assert!(help.text.contains("/detained"), "{}", help.text);
    // Half an hour of silence forgets a started registration too.
    b.press(&ales, "reg").await;
    b.w.advance(Duration::from_secs(31 * 60));
    let forgotten = b.say(&ales, NAME).await;
    assert!(forgotten.text.contains("/detained"), "{}", forgotten.text);

    b.press(&ales, "reg").await;
    b.say(&ales, NAME).await;
    b.say(&ales, DOB).await;
    b.say(&ales, CITY).await;
    // Not a phone number: asked again.
    let again = b.say(&ales, "call my mum").await;
    assert!(again.text.contains("тэлефон"), "{}", again.text);
    let health = b.say(&ales, PHONE).await;
    let skip = health.button_data("Прапусціць").unwrap();
    b.press(&ales, &skip).await;
    let consent = b.press(&ales, &skip).await;
    let no = consent.button_data("Не").unwrap();
    let orgs = b.press(&ales, &no).await;
    let legal = orgs.button_data("Legal aid").unwrap();
    b.press(&ales, &legal).await;
    let short = b.say(&ales, "12").await;
    assert!(short.text.contains("4"), "{}", short.text);
    b.say(&ales, CODE).await;
    // The duress code must differ.
    b.say(&ales, CODE).await;
    assert!(b.person(&ales).await.is_none());
    let saved = b.say(&ales, DURESS).await;
    assert!(saved.button_data("Мяне затрымалі").is_some(), "{saved:?}");

    let p = b.person(&ales).await.unwrap();
    assert_eq!(p.organisation, "legal");
    let d = details(&b.w, &p);
    assert_eq!(d.full_name, NAME);
    assert!(d.health.is_empty() && d.notes.is_empty() && !d.public_consent);
    assert_nothing_logged(&b, &ales, &["call my mum"]);
}

#[tokio::test]
async fn detained_then_cancel_inside_the_window_tells_nobody() {
    let b = Bench::new().await;
    let anna = user(5003, "en");
    let p = b.register(&anna).await;

    let pending = b.say(&anna, "/detained").await;
    assert!(pending.text.contains("60 seconds"), "{}", pending.text);
    let cancel = pending.button_data("Cancel").unwrap();
    let alert = b.w.store.open_alert(p.id).await.unwrap().unwrap();
    assert_eq!(alert.trigger, Trigger::SelfReport);

    b.w.advance(Duration::from_secs(20));
    let cancelled = b.press(&anna, &cancel).await;
    assert_eq!(cancelled.text, "Cancelled: nobody was told.");
    assert_eq!(
        b.w.store.alert(alert.id).await.unwrap().unwrap().state,
        AlertState::Cancelled
    );
    let later = support::T0.plus(Duration::from_secs(3600));
    let claimed =
        b.w.store
            .claim_deliveries(later, later.plus(Duration::from_secs(60)), 100)
            .await
            .unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    assert_eq!(
        b.say(&anna, "/safe").await.text,
        "There is no alert to stand down."
    );
}

#[tokio::test]
async fn a_contact_joins_with_the_code_and_reports_the_person() {
    let b = Bench::new().await;
    let anna = user(5004, "en");
    let friend = user(6004, "ru");
    let p = b.register(&anna).await;

    let list = b.say(&anna, "/contacts").await;
    let invite_data = list.button_data("Invite").unwrap();
    let invite = b.press(&anna, &invite_data).await;
    let code = invite
        .text
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        invite.text.contains(&format!("/start {code}")),
        "{}",
        invite.text
    );
    assert!(invite.text.contains("Weather notes"));
    assert!(
        !contains(&b.w.database_bytes(), &code),
        "the invite code is in the database"
    );

    // An unknown code is refused; the deep-link form of the real one works.
    let unknown = b.say(&friend, "/start c_nonsense").await;
    assert!(
        !unknown.text.contains("доверенный контакт"),
        "{}",
        unknown.text
    );
    let joined = b.say(&friend, &format!("/start c_{code}")).await;
    assert!(joined.text.contains("/detained"), "{}", joined.text);
    assert!(!joined.text.contains("Zmitser"), "{}", joined.text);
    // The code works once.
    let again = b.say(&user(7004, "en"), &format!("/start {code}")).await;
    assert!(again.text.contains("unknown"), "{}", again.text);

    let contacts = b.w.store.contacts(p.id).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].channel, Channel::Telegram);
    // Sealed to the person, so the delivery worker can open it with the person's ref.
    match Address::open(&b.w.safety.keys, &p.person_ref, &contacts[0].address).unwrap() {
        Address::Telegram { chat_id, language } => {
            assert_eq!(chat_id, friend.id);
            assert_eq!(language, "ru");
        }
        other => panic!("{other:?}"),
    }
    let shown = b.say(&anna, "/contacts").await;
    assert!(shown.text.contains("1. Telegram"), "{}", shown.text);

    // The friend reports Anna detained.
    let choose = b.say(&friend, "/detained").await;
    let pick = choose.button_data(NAME).unwrap();
    let confirm = b.press(&friend, &pick).await;
    let yes = confirm.button_data("Да").unwrap();
    let told = b.press(&friend, &yes).await;
    assert!(told.text.contains("Организации"), "{}", told.text);
    let alert = b.w.store.open_alert(p.id).await.unwrap().unwrap();
    assert_eq!(alert.trigger, Trigger::Contact);
    assert_eq!(alert.by_contact, Some(contacts[0].id));
    // No cancel window for a contact's report: deliverable now.
    assert_eq!(alert.deliver_at, b.w.clock_now());
}

#[tokio::test]
async fn email_contacts_are_validated_masked_and_removable() {
    let b = Bench::new().await;
    let anna = user(5005, "en");
    let p = b.register(&anna).await;
    b.say(&anna, "/contacts").await;
    b.press(&anna, "email").await;
    let bad = b.say(&anna, "not an address").await;
    assert!(bad.text.contains("not an e-mail"), "{}", bad.text);
    let list = b.say(&anna, "anna.marker@example.org").await;
    assert!(list.text.contains("a***@example.org"), "{}", list.text);
    assert!(!list.text.contains("anna.marker"));
    assert!(!contains(&b.w.database_bytes(), "anna.marker"));
    let remove = list.button_data("Remove 1").unwrap();
    let after = b.press(&anna, &remove).await;
    assert!(after.text.contains("None yet"), "{}", after.text);
    assert!(b.w.store.contacts(p.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn duress_and_ordinary_codes_get_the_same_answer_and_only_duress_raises() {
    let b = Bench::new().await;
    let anna = user(5006, "en");
    let p = b.register(&anna).await;

    let offer = b.say(&anna, "/checkin").await;
    let every24 = offer.button_data("24").unwrap();
    let armed = b.press(&anna, &every24).await;
    assert!(armed.text.contains("24"), "{}", armed.text);
    assert!(b.w.store.schedule(p.id).await.unwrap().is_some());

    let wrong = b.say(&anna, "/checkin 000000").await;
    assert_eq!(wrong.text, "That code is not right.");

    let ask = b.say(&anna, "/checkin").await;
    assert_eq!(ask.text, "Send your code.");
    // The message that carries the code is deleted, so it is not on the phone afterwards.
    let typed = b.message(&anna, "private", CODE);
    let typed_id = typed["message"]["message_id"].as_i64().unwrap();
    let ordinary = b.feed(anna.id, typed).await.last().cloned().unwrap();
    assert!(
        b.fake.deleted().contains(&(anna.id, typed_id)),
        "{:?}",
        b.fake.deleted()
    );
    assert!(
        ordinary.text.starts_with("Checked in. Next check-in by"),
        "{}",
        ordinary.text
    );
    assert!(b.w.store.open_alert(p.id).await.unwrap().is_none());

    let duress = b.say(&anna, &format!("/checkin {DURESS}")).await;
    assert_eq!(duress.text, ordinary.text);
    assert_eq!(duress.reply_markup, ordinary.reply_markup);
    assert_eq!(duress.buttons(), ordinary.buttons());
    let alert = b.w.store.open_alert(p.id).await.unwrap().unwrap();
    assert_eq!(alert.trigger, Trigger::Duress);
}

#[tokio::test]
async fn safe_after_an_alert_went_out_tells_the_recipients() {
    let b = Bench::new().await;
    let anna = user(5007, "en");
    let p = b.register(&anna).await;
    b.say(&anna, "/detained").await;
    b.w.advance(Duration::from_secs(61));
    let now = b.w.clock_now();
    let claimed =
        b.w.store
            .claim_deliveries(now, now.plus(Duration::from_secs(60)), 100)
            .await
            .unwrap();
    assert!(!claimed.is_empty());
    for d in &claimed {
        assert!(b.w.store.delivery_sent(d.id, d.attempt, now).await.unwrap());
    }
    let safe = b.say(&anna, "/safe").await;
    assert_eq!(
        safe.text,
        "Your contacts and the organisation are being told you are safe."
    );
    assert!(b.w.store.open_alert(p.id).await.unwrap().is_none());
    let again = b.say(&anna, "/safe").await;
    assert_eq!(again.text, "There is no alert to stand down.");
}

#[tokio::test]
async fn forget_deletes_the_registration_and_then_the_bot_does_not_know_the_person() {
    let b = Bench::new().await;
    let anna = user(5008, "en");
    b.register(&anna).await;
    let confirm = b.say(&anna, "/forget").await;
    assert!(
        confirm.text.contains("organisation keeps its case file"),
        "{}",
        confirm.text
    );
    let yes = confirm.button_data("Yes").unwrap();
    let done = b.press(&anna, &yes).await;
    assert_eq!(
        done.text,
        "Your registration, contacts and schedule are deleted."
    );
    assert!(b.person(&anna).await.is_none());
    let detained = b.say(&anna, "/detained").await;
    assert_eq!(detained.text, "You are not registered yet.");
    assert!(detained.button_data("Register").is_some());
}

#[tokio::test]
async fn polling_skips_broken_updates_and_group_chats_and_answers_the_rest() {
    let b = Bench::new().await;
    let bot = Arc::new(SafetyBot::new(
        BotApi::new(&b.fake.base_url(), Secret::new(TOKEN.into())).unwrap(),
        b.w.safety.clone(),
    ));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_polling(bot, rx, Duration::from_secs(1)));

    let anna = user(5009, "en");
    b.fake
        .inject_raw(json!({"message": {"chat": "not a chat", "text": 5}}));
    b.fake.inject_raw(json!({"message": {
        "message_id": 1, "from": anna, "chat": {"id": -100_500, "type": "group"},
        "date": 1, "text": "/start",
    }}));
    b.fake.send_text(&anna, "/start");
    let sent = b
        .fake
        .wait_for_sent(1, Duration::from_secs(15))
        .await
        .expect("an answer");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].chat_id, anna.id);
    assert!(sent[0].text.contains("Weather notes"));

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("polling stops")
        .unwrap();
    assert_eq!(b.fake.pending_updates(), 0);
}

trait Now {
    fn clock_now(&self) -> talaka_core::Timestamp;
}

impl Now for World {
    fn clock_now(&self) -> talaka_core::Timestamp {
        use talaka_core::Clock;
        self.clock.now()
    }
}

/// Log hygiene (SECURITY-CHECKLIST item 11) across everything a person and a contact do with
/// the bot, with markers no other test uses: registration, an e-mail contact, an invited
/// contact, check-ins with a wrong, the ordinary and the duress code, a contact's report and
/// "I am safe". None of it, nor any text the bot sent either of them, is in the TRACE logs.
#[tokio::test]
async fn nothing_typed_or_sent_reaches_the_logs() {
    let b = Bench::new().await;
    let hanna = user(8_214_630_571, "en");
    let friend = user(8_214_630_572, "ru");
    let (name, dob, city) = ("Hanna Logmarker-B7", "1987-11-23", "Logcity-B7");
    let (phone, health, notes) = ("+375 44 903-17-58", "lm-health-B7", "lm-notes-B7");
    let (code, duress) = ("8406127395", "5172903846");
    let email = "hanna.lm-b7@example.org";
    let answers = [
        "/register",
        name,
        dob,
        city,
        phone,
        health,
        notes,
        "yes",
        code,
        duress,
    ];
    for answer in answers {
        b.say(&hanna, answer).await;
    }
    let p = b.person(&hanna).await.expect("registered");

    b.say(&hanna, "/contacts").await;
    b.press(&hanna, "email").await;
    b.say(&hanna, email).await;
    let list = b.say(&hanna, "/contacts").await;
    let invite = b.press(&hanna, &list.button_data("Invite").unwrap()).await;
    let invite_code = invite.text.split_whitespace().nth(2).unwrap().to_owned();
    b.say(&friend, &format!("/start {invite_code}")).await;
    assert_eq!(b.w.store.contacts(p.id).await.unwrap().len(), 2);

    let offer = b.say(&hanna, "/checkin").await;
    b.press(&hanna, &offer.button_data("24").unwrap()).await;
    b.say(&hanna, "/checkin 1234509876").await;
    let ok = b.say(&hanna, &format!("/checkin {code}")).await;
    assert!(ok.text.starts_with("Checked in"), "{}", ok.text);

    let choose = b.say(&friend, "/detained").await;
    let confirm = b.press(&friend, &choose.button_data(name).unwrap()).await;
    b.press(&friend, &confirm.button_data("Да").unwrap()).await;
    b.say(&hanna, "/safe").await;
    b.say(&hanna, &format!("/checkin {duress}")).await;
    assert_eq!(
        b.w.store.open_alert(p.id).await.unwrap().unwrap().trigger,
        Trigger::Duress
    );

    let sent = b
        .fake
        .sent()
        .into_iter()
        .filter(|s| s.chat_id == hanna.id || s.chat_id == friend.id)
        .map(|s| s.text);
    let markers = [
        name,
        "Logmarker-B7",
        dob,
        city,
        phone,
        "903-17-58",
        health,
        notes,
        code,
        duress,
        email,
        "lm-b7",
        &invite_code,
    ];
    support::assert_not_logged(
        markers
            .iter()
            .map(|m| (*m).to_owned())
            .chain([hanna.id.to_string(), friend.id.to_string()])
            .chain(sent),
    );
}

/// A name is free text, newlines included. Were it ever logged, a newline in it could start a
/// line that looks like the server's own; it never is logged, not even escaped.
#[tokio::test]
async fn a_name_with_a_newline_cannot_forge_a_log_line() {
    let b = Bench::new().await;
    let u = user(8_214_630_581, "en");
    let forged = "ERROR talaka_server::auth: nlforge-C3 admin password reset";
    let name = format!("Ales Nlname-C3\n{forged}");
    for answer in [
        "/register",
        &name,
        DOB,
        CITY,
        PHONE,
        "skip",
        "skip",
        "yes",
        "60319427",
        "60319428",
    ] {
        b.say(&u, answer).await;
    }
    let p = b.person(&u).await.expect("registered");
    assert_eq!(details(&b.w, &p).full_name, name, "the name is kept whole");
    // The flows that name the person: the alert raised, and stood down.
    b.say(&u, "/detained").await;
    b.w.advance(Duration::from_secs(61));
    b.say(&u, "/safe").await;

    support::assert_not_logged(["Nlname-C3", "nlforge-C3"]);
    assert!(
        !support::logs_text()
            .lines()
            .any(|l| l.starts_with("ERROR talaka_server::auth")),
        "a forged line is in the logs"
    );
}

#[tokio::test]
async fn too_many_wrong_codes_are_refused_with_the_lockout_text_in_every_language() {
    let b = Bench::new().await;
    for (id, lang, text) in [
        (
            8_214_630_591,
            "en",
            "Too many wrong codes. Try again later.",
        ),
        (
            8_214_630_592,
            "be",
            "Занадта шмат няправільных кодаў. Паспрабуйце пазней.",
        ),
        (
            8_214_630_593,
            "ru",
            "Слишком много неверных кодов. Попробуйте позже.",
        ),
    ] {
        // Registered in English; then the phone's language is `lang`.
        let p = b.register(&user(id, "en")).await;
        let u = user(id, lang);
        let offer = b.say(&u, "/checkin").await;
        let every24 = offer.button_data("24").unwrap();
        b.press(&u, &every24).await;
        let mut wrong = Vec::new();
        for _ in 0..5 {
            wrong.push(b.say(&u, "/checkin 000000").await.text);
        }
        assert!(
            wrong.iter().all(|t| t == &wrong[0] && t != text),
            "{wrong:?}"
        );
        let locked = b.say(&u, &format!("/checkin {CODE}")).await;
        assert_eq!(locked.text, text);
        // Asked for the code first, then typed: the same refusal.
        b.say(&u, "/checkin").await;
        assert_eq!(b.say(&u, CODE).await.text, text);
        // The duress code gets the very same answer, and raises the alert.
        let duress = b.say(&u, &format!("/checkin {DURESS}")).await;
        assert_eq!(duress.text, locked.text);
        assert_eq!(duress.buttons(), locked.buttons());
        let alert = b.w.store.open_alert(p.id).await.unwrap().unwrap();
        assert_eq!(alert.trigger, Trigger::Duress);
    }
}
