//! The safety bot in the server: its own webhook with its own secret (checklist 21), the
//! start-up checks of `[safety]`, and `safety_bot::start` running bot, worker and ticker
//! together: an update in, an alert out to the person's contact through the fake Bot API.

use std::sync::Arc;
use std::time::Duration;

use talaka_core::Secret;
use talaka_core::config::{Config, OrganisationConfig, TelegramMode};
use talaka_safety::bot::SafetyBot;
use talaka_safety::{Address, Keyring, PersonDetails, Reach, Safety};
use talaka_server::safety_bot::{self, SafetySetupError};
use talaka_store::safety::{Channel, NewContact, NewPerson, Trigger};
use talaka_telegram::BotApi;
use talaka_telegram::fake::{FakeTelegram, user};

use crate::support::*;

const TOKEN: &str = "5151:safety-bot-token";
const SECRET: &str = "safety-webhook-secret-0123456789";
const ELECTIONS_SECRET: &str = "elections-webhook-secret-abcdef";
const CONTACT_CHAT: i64 = 777_000_111;

async fn post(app: &TestApp, secret: Option<&str>, body: &str) -> reqwest::StatusCode {
    let mut req = reqwest::Client::new()
        .post(format!("{}/telegram/safety/webhook", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
    }
    req.send().await.expect("post").status()
}

fn update(user_id: i64, text: &str) -> String {
    serde_json::json!({
        "update_id": 1,
        "message": {
            "message_id": 1, "date": 0, "text": text,
            "from": {"id": user_id, "is_bot": false, "first_name": "T", "language_code": "en"},
            "chat": {"id": user_id, "type": "private"},
        }
    })
    .to_string()
}

#[tokio::test]
async fn the_safety_webhook_answers_only_its_own_secret() {
    the_safety_webhook_answers_only_its_own_secret_on(spawn_app().await).await;
}

pub async fn the_safety_webhook_answers_only_its_own_secret_on(app: TestApp) {
    let start = update(4242, "/start");
    // No safety bot: refused whatever the header says.
    assert_eq!(post(&app, Some(SECRET), &start).await, 403);
    assert_eq!(post(&app, None, &start).await, 403);

    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let safety = give_safety(&app, false);
    let api = BotApi::new(&fake.base_url(), Secret::new(TOKEN.into())).expect("api");
    assert!(app.state.set_safety_webhook(
        Arc::new(SafetyBot::new(api, safety)),
        Secret::new(SECRET.into())
    ));
    for wrong in [None, Some(""), Some(ELECTIONS_SECRET), Some(&SECRET[..12])] {
        assert_eq!(post(&app, wrong, &start).await, 403, "{wrong:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(fake.sent().is_empty(), "a refused update was answered");

    // The right secret reaches the bot, which answers through the Bot API; a broken body is
    // accepted and skipped so Telegram does not resend it forever.
    assert_eq!(post(&app, Some(SECRET), &start).await, 200);
    let sent = fake
        .wait_for_sent(1, Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(sent[0].chat_id, 4242);
    assert!(sent[0].text.contains("Notes"), "{}", sent[0].text);
    assert_eq!(post(&app, Some(SECRET), "{not json").await, 200);
    // No CSRF token needed (Telegram has none), but no GET either.
    let res = reqwest::get(format!("{}/telegram/safety/webhook", app.base))
        .await
        .expect("get");
    assert_eq!(res.status(), 405);
}

fn config(mode: TelegramMode, base: &str) -> Config {
    let mut c = Config {
        safety: safety_config(false),
        ..Config::default()
    };
    c.safety.telegram.mode = mode;
    c.safety.telegram.token = Secret::new(TOKEN.into());
    c.safety.telegram.api_base_url = base.into();
    c.safety.telegram.webhook_secret = Secret::new(SECRET.into());
    c.safety.telegram.poll_timeout_seconds = 2;
    c
}

#[test]
fn bad_safety_settings_are_refused_before_anything_starts() {
    let good = config(TelegramMode::Polling, "http://127.0.0.1:9");
    assert!(safety_bot::check_config(&good).is_ok());
    let mut off = good.clone();
    off.safety.enabled = false;
    off.safety.telegram.token = Secret::default();
    assert!(
        safety_bot::check_config(&off).is_ok(),
        "nothing is checked while off"
    );

    let refused = |change: &dyn Fn(&mut Config)| {
        let mut c = good.clone();
        change(&mut c);
        safety_bot::check_config(&c).expect_err("refused")
    };
    assert!(matches!(
        refused(&|c| c.safety.telegram.mode = TelegramMode::Off),
        SafetySetupError::NoBot
    ));
    assert!(matches!(
        refused(&|c| c.safety.telegram.token = Secret::default()),
        SafetySetupError::NoBot
    ));
    assert!(matches!(
        refused(&|c| c.telegram.token = Secret::new(TOKEN.into())),
        SafetySetupError::SameBot
    ));
    assert!(matches!(
        refused(&|c| c.safety.telegram.bot_name = " ".into()),
        SafetySetupError::NoName
    ));
    assert!(matches!(
        refused(&|c| {
            c.safety.telegram.mode = TelegramMode::Webhook;
            c.safety.telegram.webhook_secret = Secret::new("has spaces".into());
        }),
        SafetySetupError::BadWebhookSecret
    ));
    assert!(matches!(
        refused(&|c| c.safety.organisations.clear()),
        SafetySetupError::Organisation(_)
    ));
    assert!(matches!(
        refused(&|c| c.safety.organisations[0].telegram_chat_ids.clear()),
        SafetySetupError::Organisation(_)
    ));
    let e = refused(&|c| c.safety.organisations[0].language = "de".into());
    assert!(e.to_string().contains("language"), "{e}");
    let e = refused(&|c| c.safety.organisations[0].telegram_chat_ids = vec![-1001234567890]);
    assert!(e.to_string().contains("group or channel"), "{e}");
    let e = refused(&|c| c.safety.organisations[0].emails = vec!["duty@example.org".into()]);
    assert!(e.to_string().contains("smtp.host"), "{e}");
    assert!(matches!(
        refused(&|c| c.safety.organisations.push(OrganisationConfig {
            key: "viasna".into(),
            name: "Again".into(),
            telegram_chat_ids: vec![1],
            emails: vec![],
            language: String::new(),
        })),
        SafetySetupError::Organisation(_)
    ));
    assert!(matches!(
        refused(&|c| {
            c.safety.smtp.host = "127.0.0.1".into();
            c.safety.smtp.security = "ssl3".into();
        }),
        SafetySetupError::Smtp(_)
    ));
}

#[tokio::test]
async fn start_runs_the_bot_the_worker_and_the_ticker() {
    start_runs_the_bot_the_worker_and_the_ticker_on(spawn_app().await).await;
}

/// `start` in polling mode: the bot answers, and an alert raised on the dashboard's `Safety`
/// reaches the person's contact and the organisation through the worker; everything stops when
/// told.
pub async fn start_runs_the_bot_the_worker_and_the_ticker_on(app: TestApp) {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let c = config(TelegramMode::Polling, &fake.base_url());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = safety_bot::start(&c, &app.state, Keyring::generate().expect("key"), stopped)
        .expect("start");
    assert_eq!(tasks.len(), 3, "worker, ticker and bot");
    let safety: Safety = app.state.safety().expect("safety on the state").clone();

    fake.send_text(&user(31337, "en"), "/start");
    let sent = fake
        .wait_for_sent(1, Duration::from_secs(15))
        .await
        .expect("the bot answers by polling");
    assert_eq!(sent[0].chat_id, 31337);

    // A registered person with one Telegram contact, reported detained.
    let person_ref = "00112233445566778899aabbccddeeff";
    let person = safety
        .stores
        .save_person(&NewPerson {
            pseudonym: safety.telegram_pseudonym(31338),
            person_ref: person_ref.into(),
            details: PersonDetails {
                full_name: "Maryia Kalesnikava".into(),
                ..PersonDetails::default()
            }
            .seal(&safety.keys, person_ref),
            reach: Reach {
                chat_id: 31338,
                language: "en".into(),
            }
            .seal(&safety.keys, person_ref),
            organisation: "viasna".into(),
            checkin_code_hash: safety.code_hash(person_ref, "1111"),
            duress_code_hash: safety.code_hash(person_ref, "9999"),
            at: safety.clock.now(),
        })
        .await
        .expect("register");
    let contact = Address::Telegram {
        chat_id: CONTACT_CHAT,
        language: "en".into(),
    };
    safety
        .stores
        .add_contact(
            person.id,
            &NewContact {
                channel: Channel::Telegram,
                pseudonym: None,
                address_key: safety.address_key(&contact),
                address: contact.seal(&safety.keys, person_ref),
                at: safety.clock.now(),
            },
        )
        .await
        .expect("contact");
    safety
        .raise(&person, Trigger::Duress, None)
        .await
        .expect("raise");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let delivered = loop {
        let sent = fake.sent();
        let to_contact = sent.iter().any(|m| m.chat_id == CONTACT_CHAT);
        let to_org = sent.iter().any(|m| m.chat_id == ORG_CHAT_ID);
        if to_contact && to_org {
            break sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let alert = delivered
        .iter()
        .find(|m| m.chat_id == CONTACT_CHAT)
        .expect("to the contact");
    assert!(alert.text.contains("Maryia Kalesnikava"), "{}", alert.text);
    // Delivery status is on /metrics for monitoring (escalated above zero pages someone).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", app.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        if metrics.contains("talaka_safety_deliveries{status=\"sent\"} 2") {
            assert!(metrics.contains("talaka_safety_deliveries{status=\"escalated\"} 0"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    stop.send(true).expect("stop");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(15), t)
            .await
            .expect("stops in time")
            .expect("task");
    }
}
